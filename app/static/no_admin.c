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

void
sl_ctl_stop(struct sl_ctl *c)
{
	(void)c;
}
