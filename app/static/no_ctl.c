// SPDX-License-Identifier: MIT
/*
 * The control socket's stand-in for sluice-static (cmake/sluice-static.cmake): the server
 * (src/admin/ctl.c) still renders its answers with cJSON, which has no static build here. A
 * configured control socket refuses to start with -ENOTSUP (the demo goes on without it).
 */
#include <errno.h>

#include <sluice/ctl.h>

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
