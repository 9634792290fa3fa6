/* SPDX-License-Identifier: MIT */
/*
 * The sockmap forwarder's kernel side (forward: sockmap): loads the verdict program
 * (src/bpf/sockmap_fwd.bpf.c) with its maps, once per process, and gives each worker its share
 * of the direction slots (struct sl_fwd_sockmap). src/proxy/sockmap.c with libbpf;
 * app/static/no_sockmap.c where sluice is built without it.
 */
#ifndef SLUICE_PROXY_SOCKMAP_H
#define SLUICE_PROXY_SOCKMAP_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/fwd.h>

struct sl_sockmap;

/*
 * Loads the program and maps for <pairs> sessions at once (all workers together) and attaches
 * the verdict to the sockhash: 0 with *out set, or a negative errno with <why> (<size> bytes)
 * saying what failed in one line.
 */
int sl__sockmap_open(struct sl_sockmap **out, uint32_t pairs, char *why, size_t size);
/*
 * Fills <w> with worker <index>'s share of the slots (1 / <nworkers> of them, the remainder one
 * each to the first workers) and the maps' fds: 0, or -ENOMEM. sl__sockmap_worker_fini() frees
 * what it allocated.
 */
int sl__sockmap_worker(const struct sl_sockmap *k, unsigned index, unsigned nworkers,
                       struct sl_fwd_sockmap *w);
void sl__sockmap_worker_fini(struct sl_fwd_sockmap *w);
/* Detaches and frees; NULL is ignored. After every worker's forwarders are gone. */
void sl__sockmap_close(struct sl_sockmap *k);

#endif /* SLUICE_PROXY_SOCKMAP_H */
