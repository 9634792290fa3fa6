// SPDX-License-Identifier: MIT
/*
 * The sockmap loader's stand-in where libbpf is not linked (no libbpf-dev or clang at build
 * time, or sluice-static without libbpf.a; see CMakeLists.txt): a listener with
 * forward: sockmap says why and splices instead (proxy.c).
 */
#include <errno.h>
#include <stdio.h>

#include "proxy/sockmap.h"

int
sl__sockmap_open(struct sl_sockmap **out, uint32_t pairs, char *why, size_t size)
{
	(void)pairs;
	*out = NULL;
	snprintf(why, size, "this sluice was built without BPF");
	return -ENOTSUP;
}

int
sl__sockmap_worker(const struct sl_sockmap *k, unsigned index, unsigned nworkers,
                   struct sl_fwd_sockmap *w)
{
	(void)k;
	(void)index;
	(void)nworkers;
	(void)w;
	return -ENOTSUP;
}

void
sl__sockmap_worker_fini(struct sl_fwd_sockmap *w)
{
	(void)w;
}

void
sl__sockmap_close(struct sl_sockmap *k)
{
	(void)k;
}
