// SPDX-License-Identifier: MIT
/*
 * The XDP program's stand-in where libbpf cannot be linked statically (sluice-static without
 * libbpf.a, libelf.a and libz.a; see cmake/sluice-static.cmake): a configuration with xdp:
 * refuses to start (sl_xdp_is_built_in() is false), and main.c says why. One without xdp: runs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <sluice/xdp.h>

bool
sl_xdp_is_built_in(void)
{
	return false;
}

int
sl_xdp_create(struct sl_xdp **out, const struct sl_config *cfg, char *why, size_t size)
{
	(void)cfg;
	*out = NULL;
	snprintf(why, size, "this sluice was built without XDP");
	return -EOPNOTSUPP;
}

int
sl_xdp_update(struct sl_xdp *x, const struct sl_config *cfg)
{
	(void)x;
	(void)cfg;
	return 0;
}

bool
sl_xdp_unban(struct sl_xdp *x, const struct sl_config_listener *l, const struct sl_addr *peer,
             uint64_t now_ns)
{
	(void)x;
	(void)l;
	(void)peer;
	(void)now_ns;
	return false;
}

int
sl_xdp_ban(struct sl_xdp *x, const struct sl_config_listener *l, const struct sl_addr *peer,
           uint64_t until_ns)
{
	(void)x;
	(void)l;
	(void)peer;
	(void)until_ns;
	return 0;
}

int
sl_xdp_add_stats(struct sl_xdp *x, struct sl_proxy *p)
{
	(void)x;
	(void)p;
	return 0;
}

uint64_t
sl_xdp_dropped(const struct sl_xdp *x, enum sl_xdp_reason reason)
{
	(void)x;
	(void)reason;
	return 0;
}

const char *
sl_xdp_mode_name(const struct sl_xdp *x)
{
	(void)x;
	return "none";
}

void
sl_xdp_destroy(struct sl_xdp *x)
{
	(void)x;
}
