// SPDX-License-Identifier: MIT
/*
 * Backends at run time (include/sluice/backends.h). Placeholder bodies until the runtime
 * backend set lands: every change returns -ENOSYS.
 */
#include <errno.h>
#include <stddef.h>

#include <sluice/backends.h>

int
sl_proxy_backend_add(struct sl_proxy *p, const char *group, const struct sl_backend_spec *spec)
{
	(void)p, (void)group, (void)spec;
	return -ENOSYS;
}

int
sl_proxy_backend_remove(struct sl_proxy *p, const char *group, const char *name)
{
	(void)p, (void)group, (void)name;
	return -ENOSYS;
}

int
sl_proxy_backend_set_weight(struct sl_proxy *p, const char *group, const char *name,
                            uint32_t weight)
{
	(void)p, (void)group, (void)name, (void)weight;
	return -ENOSYS;
}

int
sl_proxy_backend_set_admin(struct sl_proxy *p, const char *group, const char *name,
                           enum sl_backend_admin admin)
{
	(void)p, (void)group, (void)name, (void)admin;
	return -ENOSYS;
}

int
sl_proxy_group_set_discovered(struct sl_proxy *p, const char *group,
                              const struct sl_backend_spec *set, size_t n)
{
	(void)p, (void)group, (void)set, (void)n;
	return -ENOSYS;
}

int
sl_proxy_backends(struct sl_proxy *p, struct sl_backend_info *out, size_t max, size_t *n)
{
	(void)p, (void)out, (void)max;
	*n = 0;
	return -ENOSYS;
}

const char *
sl_backend_admin_name(enum sl_backend_admin a)
{
	static const char *const names[SL_BACKEND_ADMIN_KINDS] = {"enabled", "draining",
	                                                          "disabled"};

	return (unsigned)a < SL_BACKEND_ADMIN_KINDS ? names[a] : NULL;
}
