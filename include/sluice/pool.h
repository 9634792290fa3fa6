/* SPDX-License-Identifier: MIT */
/*
 * sl_pool: a fixed-size block allocator for real-time code. Every block of a pool has the same
 * size and alignment. Each thread allocates from and frees into its own cache (magazine); full
 * and empty magazines are exchanged with a lock-free, ABA-safe global depot, so a block may be
 * freed on any thread. After warm-up, alloc and free make no system call and no call to malloc.
 *
 * Thread safety: sl_pool_alloc, sl_pool_free, sl_pool_stats and sl_pool_thread_flush may be
 * called from any thread at any time. sl_pool_create and sl_pool_destroy are not concurrent with
 * anything else on the same pool. sl_pool_trim may run concurrently with alloc and free.
 * Errors: negative errno values, as everywhere in sluice.
 */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>
#include <sluice/pool-t.h>

struct sl_pool;

enum sl_pool_flags {
	/* Back chunks with huge pages: MAP_HUGETLB when pages are reserved, else
	 * madvise(MADV_HUGEPAGE); falls back to normal pages silently. */
	SL_POOL_HUGEPAGES = 1u << 0,
};

struct sl_pool_opts {
	const char *name;        /* for statistics and diagnostics; copied; NULL = "pool" */
	size_t block_size;       /* bytes; > 0; rounded up to a multiple of <align> */
	size_t align;            /* power of two; 0 = 16 */
	size_t blocks_per_chunk; /* blocks reserved per growth step; 0 = about 256 KiB worth */
	size_t max_bytes;        /* bounded mode: cap on reserved bytes, each chunk's header
	                          * (a cache line or so) counted too; 0 = growing mode */
	size_t prealloc_blocks;  /* blocks reserved by create (fails if they and their chunks'
	                          * headers are over max_bytes) */
	unsigned magazine_size;  /* blocks per thread cache; 0 = 64 */
	unsigned flags;          /* enum sl_pool_flags */
};

struct sl_pool_stats {
	size_t block_size;     /* bytes per block, after rounding */
	size_t blocks_live;    /* allocated and not yet freed */
	size_t blocks_free;    /* reserved and not allocated (caches + depot) */
	size_t chunks;         /* chunks currently mapped */
	size_t bytes_reserved; /* bytes currently mapped for chunks */
	/* Allocation traffic at magazine granularity (the fast paths count nothing): times a
	 * thread cache was refilled (one magazine from the depot, or the first blocks of a new
	 * chunk) and flushed (blocks given back to the depot: cache full, sl_pool_thread_flush,
	 * thread exit), ever. A thread that allocates and frees within its cache adds nothing. */
	uint64_t cache_refills;
	uint64_t cache_flushes;
	uint64_t alloc_failures; /* sl_pool_alloc calls that returned NULL */
};

/*
 * Creates a pool. Returns 0 and stores it in <*out>, or -EINVAL (bad options: block_size 0 or
 * over 1 GiB, align not a power of two or over 4096, magazine_size over 65536, blocks_per_chunk
 * over 2^24, unknown flags, prealloc_blocks and their chunk headers over max_bytes), -ENOMEM (at
 * once if prealloc_blocks blocks are more than the machine's physical memory), or -ENOSPC when
 * SL__POOL_MAX (4096) pools are already live (ids are recycled by sl_pool_destroy). max_bytes
 * caps the chunk mappings only; per-thread caches (one malloc per thread and pool, on first use)
 * and magazine slabs are metadata outside it. The caller owns the pool and releases it with
 * sl_pool_destroy().
 */
SL_API int sl_pool_create(struct sl_pool **out, const struct sl_pool_opts *o);

/*
 * Unmaps every chunk and frees every thread's cache of <p>. Blocks still live become invalid.
 * NULL is ignored. No other call on <p> may run concurrently, on any thread.
 */
SL_API void sl_pool_destroy(struct sl_pool *p);

/*
 * The calling thread's cache of each pool, by pool id; a shared dummy with count == cap == 0
 * where the thread has none (and always in debug builds of the library, so that every call
 * takes the checked slow path). Initial-exec TLS: one %fs-relative load, no call.
 */
extern SL_API __thread struct sl__pool_cache *sl__pool_tls[SL__POOL_MAX]
        __attribute__((tls_model("initial-exec")));

/* Slow paths of sl_pool_alloc() and sl_pool_free(); same contracts. Call those instead. */
SL_API void *sl__pool_alloc_slow(struct sl_pool *p);
SL_API void sl__pool_free_slow(struct sl_pool *p, void *block);

/*
 * Returns a block of the pool's size and alignment, or NULL when the pool is bounded and full
 * or the system is out of memory (stats.alloc_failures counts both). Never blocks; grows the
 * pool (one mmap) only when the caller's cache and the depot are both empty.
 * Inline fast path: take the top block of the calling thread's cache.
 */
static inline void *
sl_pool_alloc(struct sl_pool *p)
{
	struct sl__pool_cache *c = sl__pool_tls[((const struct sl__pool_head *)(void *)p)->id];
	/* relaxed: only this thread writes its count; sl_pool_stats only reads it */
	uint32_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	if (sl_unlikely(n == 0))
		return sl__pool_alloc_slow(p);
	/* relaxed: as above */
	atomic_store_explicit(&c->count, n - 1, memory_order_relaxed);
	return c->slots[n - 1];
}

/*
 * Returns <block> to the pool; any thread may free any block of the pool. NULL is ignored.
 * Debug builds abort with a message naming the pool on a double free or a pointer that does
 * not belong to the pool, and poison freed blocks with 0x55.
 * Inline fast path: push the block on the calling thread's cache if it has room.
 */
static inline void
sl_pool_free(struct sl_pool *p, void *block)
{
	struct sl__pool_cache *c;
	uint32_t n;

	if (sl_unlikely(!block))
		return;
	c = sl__pool_tls[((const struct sl__pool_head *)(void *)p)->id];
	/* relaxed: only this thread writes its count; sl_pool_stats only reads it */
	n = atomic_load_explicit(&c->count, memory_order_relaxed);
	if (sl_unlikely(n >= c->cap)) {
		sl__pool_free_slow(p, block);
		return;
	}
	c->slots[n] = block;
	/* relaxed: as above */
	atomic_store_explicit(&c->count, n + 1, memory_order_relaxed);
}

/* Moves the calling thread's cached blocks of <p> back to the depot (also done at thread exit). */
SL_API void sl_pool_thread_flush(struct sl_pool *p);

/*
 * Unmaps chunks whose blocks are all in the depot (blocks cached by threads keep their chunk:
 * call sl_pool_thread_flush() first where it matters). Returns the number of bytes released.
 * Takes the pool lock: allocations that find the depot empty wait for it to finish.
 */
SL_API size_t sl_pool_trim(struct sl_pool *p);

/* Fills <*st> with a snapshot; counters are summed over threads and may be slightly stale. */
SL_API void sl_pool_stats(const struct sl_pool *p, struct sl_pool_stats *st);

/*
 * Debug builds only (no-op otherwise): after <n> more successful allocations, every
 * sl_pool_alloc on <p> fails as if the pool were full; n < 0 turns the hook off. For walking
 * allocation-failure paths in tests.
 */
SL_API void sl_pool_fail_after(struct sl_pool *p, long n);

#endif /* SLUICE_POOL_H */
