/* SPDX-License-Identifier: MIT */
/*
 * sl_pool types that the inline fast paths of sluice/pool.h need. Not API: everything here is
 * named sl__ and may change with any release; include sluice/pool.h instead. The fields and
 * their writers are described in docs/internals/pool.md.
 */
#ifndef SLUICE_POOL_T_H
#define SLUICE_POOL_T_H

#include <stdint.h>

struct sl_pool;

/*
 * Live pools per process; a pool's id indexes the per-thread cache table (8 bytes per entry of
 * initial-exec TLS in every thread). The proxy holds listeners + 1 pools per worker, so this
 * bounds workers x (listeners + 1) (SL_CONFIG_POOLS_MAX in sluice/config.h).
 */
#define SL__POOL_MAX 4096

/* The first member of every struct sl_pool: what the inline fast paths read of it. */
struct sl__pool_head {
	uint32_t id; /* in [0, SL__POOL_MAX); read-only while the pool lives */
};

/* One thread's cache for one pool. */
struct sl__pool_cache {
	_Atomic uint32_t count; /* blocks in slots[0, count); written by the owner thread only */
	uint32_t cap;           /* 2 * magazine size; 0 in the shared dummy, which forces slow */
	struct sl_pool *pool;
	struct sl__pool_cache **slot;       /* the owner's TLS slot, reset when the pool dies */
	struct sl__pool_cache *next, *prev; /* the pool's cache list, under the registry lock */
	_Atomic uint64_t
	        refills; /* slow path: the cache took blocks from the depot or a new chunk */
	_Atomic uint64_t flushes; /* slow path: the cache gave blocks back to the depot */
	void *slots[];
};

#endif /* SLUICE_POOL_T_H */
