// SPDX-License-Identifier: MIT
/*
 * The admin endpoint's and control socket's stand-in for sluice-static
 * (cmake/sluice-static.cmake): libmicrohttpd and cJSON have no static builds to link here, so
 * the static binary has neither. A configured one refuses to start with -ENOTSUP (the demo
 * goes on without it); the statistics registry and the exit summary are the same as in the
 * dynamic binary.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sluice/admin.h>
#include <sluice/ctl.h>

int
sl_admin_start(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr)
{
	(void)p;
	(void)addr;
	*out = NULL;
	return -ENOTSUP;
}

int
sl_admin_open(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr)
{
	return sl_admin_start(out, p, addr);
}

int
sl_admin_serve(struct sl_admin *a)
{
	(void)a;
	return -ENOTSUP;
}

int
sl_admin_open_fd(struct sl_admin **out, struct sl_proxy *p, int fd)
{
	(void)p;
	close(fd);
	*out = NULL;
	return -ENOTSUP;
}

int
sl_admin_listen_fd(const struct sl_admin *a)
{
	(void)a;
	return -1;
}

void
sl_admin_stop(struct sl_admin *a)
{
	(void)a;
}

void
sl_admin_addr(const struct sl_admin *a, struct sl_addr *out)
{
	(void)a;
	memset(out, 0, sizeof(*out));
}

int
sl_ctl_start(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o)
{
	(void)p;
	(void)o;
	*out = NULL;
	return -ENOTSUP;
}

int
sl_ctl_open(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o)
{
	return sl_ctl_start(out, p, o);
}

int
sl_ctl_serve(struct sl_ctl *c)
{
	(void)c;
	return -ENOTSUP;
}

void
sl_ctl_stop(struct sl_ctl *c)
{
	(void)c;
}
