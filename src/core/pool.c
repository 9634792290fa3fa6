// SPDX-License-Identifier: MIT
/*
 * sl_pool: fixed-size block pool. Fast path: the calling thread's cache for the pool (an array
 * of up to 2 * magazine_size blocks) found through a TLS table indexed by the pool's id. Slow
 * path: magazines of blocks exchanged with a lock-free depot (two index+generation stacks of
 * magazines, "full" and "empty"), growth by mmap under the pool lock. Read
 * docs/internals/pool.md next (invariants, ABA argument, ordering contract).
 *
 * Writers: sl__pool_cache.{count,refills,flushes} by the owner thread only (relaxed, read by
 * stats);
 * depot heads by any thread (CAS); chunk list, magazine slabs, nchunks, bytes_reserved and
 * blocks_total under p->lock; pool ids, cache lists and TLS slots under sl_pool_registry_lock.
 */
#include "sluice/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <numa.h>
#include <numaif.h>

#define SL_POOL_NIL UINT32_MAX           /* "no magazine" in a depot stack */
#define SL_POOL_SLABS 32                 /* magazine slabs; slab s holds mag_base << s */
#define SL_POOL_HUGE_BYTES (2u << 20)    /* huge page size we round to */
#define SL_POOL_CHUNK_BYTES (256u << 10) /* default chunk size */
#define SL_POOL_MAG_DEFAULT 64u
#define SL_POOL_MAG_MAX 65536u
#define SL_POOL_MAG_SPARE 4u                /* magazines beyond ceil(blocks / magazine_size) */
#define SL_POOL_CHUNK_BLOCKS_MAX (1u << 24) /* blocks_per_chunk limit */
#define SL_POOL_BLOCK_MAX ((size_t)1 << 30)
#define SL_POOL_ALIGN_MAX 4096u

/* A magazine: a batch of free blocks parked in the depot. Lives in a slab; never freed. */
struct sl_pool_mag {
	_Atomic uint32_t next; /* index of the next magazine in its stack; written before a push */
	uint32_t count;        /* blocks in slots; owned by whoever popped the magazine */
	void *slots[];
};

/* A Treiber stack of magazine indexes whose head carries a generation: ABA-safe. */
struct sl_pool_stack {
	_Atomic uint64_t head; /* generation << 32 | index of the top magazine, or SL_POOL_NIL */
} SL_CACHELINE_ALIGNED;

/* Header at the start of each chunk mapping; blocks follow at <blocks>. */
struct sl_pool_chunk {
	struct sl_pool_chunk *next; /* pool's chunk list, under p->lock */
	char *blocks;               /* first block */
	size_t nblocks;
	size_t map_bytes;             /* bytes mapped, header included */
	size_t trim_count;            /* scratch for sl_pool_trim(), under p->lock */
	int node;                     /* NUMA node the chunk is bound to; -1 = not bound */
	bool huge;                    /* backed by MAP_HUGETLB pages */
	_Atomic uint64_t live_bits[]; /* debug builds: one bit per block, set while allocated */
};

struct sl_pool {
	/* read-only after sl_pool_create() */
	struct sl__pool_head hd; /* first: the inline fast paths in pool.h read it */
	uint32_t mag_size;
	size_t block_size;
	size_t chunk_blocks; /* blocks per full chunk (before rounding slack) */
	size_t bits_max;     /* debug: bits in each chunk's live_bits */
	size_t hdr_bytes;    /* chunk header, rounded up to the alignment */
	size_t max_bytes;
	size_t mag_stride; /* bytes per magazine in a slab */
	uint32_t mag_base; /* magazines in slab 0, a power of two */
	uint32_t mag_base_log;
	unsigned flags;
	char name[48];

	/* the depot: any thread */
	struct sl_pool_stack full;
	struct sl_pool_stack empty;
	_Atomic size_t depot_blocks SL_CACHELINE_ALIGNED; /* blocks in full magazines */
	_Atomic uint64_t alloc_failures;
	_Atomic long fail_after; /* debug hook; < 0 = off */

	/* under lock (readers of the atomics use relaxed loads for statistics) */
	pthread_mutex_t lock SL_CACHELINE_ALIGNED;
	struct sl_pool_chunk *chunks;
	/* slab pointers are written under lock before any of their magazines is pushed, and read
	 * without lock by depot pops, which are ordered after that push (see stack_pop) */
	void *mag_slabs[SL_POOL_SLABS];
	uint32_t mags_made; /* magazines initialised and handed to the depot */
	uint32_t mags_cap;  /* magazines the slabs can hold */
	_Atomic size_t nchunks;
	_Atomic size_t bytes_reserved;
	_Atomic size_t blocks_total;

	/* under sl_pool_registry_lock */
	struct sl__pool_cache *caches;
	uint64_t retired_refills; /* refills of caches already freed */
	uint64_t retired_flushes; /* flushes of caches already freed */
};

static pthread_mutex_t sl_pool_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_pool *sl_pool_by_id[SL__POOL_MAX]; /* under the registry lock */
static pthread_once_t sl_pool_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t sl_pool_exit_key;
static bool sl_pool_key_ok;
static pthread_once_t sl_pool_numa_once = PTHREAD_ONCE_INIT;
static bool sl_pool_numa_ok;

/* Never written: count 0 makes alloc go slow, cap 0 makes free go slow. */
static struct sl__pool_cache sl_pool_no_cache;

/* The table the inline fast paths in pool.h read (see there). */
SL_API __thread struct sl__pool_cache *sl__pool_tls[SL__POOL_MAX]
        __attribute__((tls_model("initial-exec"))) = {[0 ... SL__POOL_MAX - 1] = &sl_pool_no_cache};

/*
 * Where this file finds the calling thread's caches. Release: the same table. Debug builds keep
 * the caches in a private table and leave sl__pool_tls all dummy, so every sl_pool_alloc and
 * sl_pool_free goes through the checked slow paths, whatever flags the caller was built with.
 */
#ifdef SL_DEBUG
static __thread struct sl__pool_cache *sl_pool_tls[SL__POOL_MAX]
        __attribute__((tls_model("initial-exec"))) = {[0 ... SL__POOL_MAX - 1] = &sl_pool_no_cache};
#else
#define sl_pool_tls sl__pool_tls
#endif
static __thread bool sl_pool_exit_armed __attribute__((tls_model("initial-exec")));

static size_t
round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* Adds one to a statistics counter of the calling thread's cache. */
static inline void
cache_count(_Atomic uint64_t *ctr)
{
	/* relaxed: a statistics counter with a single writer (the owner); stats only read it */
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

static __attribute__((noreturn, cold)) void
pool_die(const struct sl_pool *p, const char *what, const void *b)
{
	fprintf(stderr, "sl_pool \"%s\": %s %p\n", p->name, what, b);
	abort();
}

/* ---- the depot ---- */

static inline struct sl_pool_mag *
mag_at(const struct sl_pool *p, uint32_t i)
{
	uint32_t x = i + p->mag_base;
	unsigned s = 31u - (unsigned)__builtin_clz(x) - p->mag_base_log;

	return (struct sl_pool_mag *)((char *)p->mag_slabs[s] +
	                              (size_t)(x - (p->mag_base << s)) * p->mag_stride);
}

static void
stack_push(struct sl_pool *p, struct sl_pool_stack *st, uint32_t i)
{
	struct sl_pool_mag *m = mag_at(p, i);
	uint64_t old, new;

	/* relaxed: the CAS below validates the value, and publishes m with R1 */
	old = atomic_load_explicit(&st->head, memory_order_relaxed);
	do {
		/* relaxed: published by the release CAS below (R1) */
		atomic_store_explicit(&m->next, (uint32_t)old, memory_order_relaxed);
		new = ((old >> 32) + 1) << 32 | i;
		/* R1: publishes m->next, m->count, m->slots; pairs with A1/A2 in stack_pop() */
	} while (!atomic_compare_exchange_weak_explicit(&st->head, &old, new, memory_order_release,
	                                                memory_order_relaxed));
}

static uint32_t
stack_pop(struct sl_pool *p, struct sl_pool_stack *st)
{
	uint64_t old, new;
	uint32_t i, next;

	/* A1: pairs with R1 in stack_push(): m->next of the top magazine is visible */
	old = atomic_load_explicit(&st->head, memory_order_acquire);
	do {
		i = (uint32_t)old;
		if (i == SL_POOL_NIL)
			return SL_POOL_NIL;
		/* relaxed: may be stale if the top changed meanwhile, but then the generation has
		 * changed too and the CAS fails */
		next = atomic_load_explicit(&mag_at(p, i)->next, memory_order_relaxed);
		new = ((old >> 32) + 1) << 32 | next;
		/* A2: pairs with R1 in stack_push(); success: we own the magazine and see its
		 * contents; failure: the new top's next is visible for the retry */
	} while (!atomic_compare_exchange_weak_explicit(&st->head, &old, new, memory_order_acquire,
	                                                memory_order_acquire));
	return i;
}

static void depot_put(struct sl_pool *p, void **blocks, size_t n, bool locked);

/*
 * No empty magazine was found: top up partial magazines, holding aside the full ones. There is
 * always a magazine with room (mags_made >= ceil(blocks_total / mag_size) + spare and the caller
 * holds at least one block outside all magazines); one may be in transit in another thread, so
 * retry until it is back. Called with p->lock held, which keeps trim out.
 */
static void
depot_put_slow_locked(struct sl_pool *p, void ***blocks, size_t *n)
{
	uint32_t aside = SL_POOL_NIL, i;
	struct sl_pool_mag *m;
	size_t k;

	for (;;) {
		i = stack_pop(p, &p->empty);
		if (i != SL_POOL_NIL) {
			stack_push(p, &p->empty, i);
			break;
		}
		i = stack_pop(p, &p->full);
		if (i == SL_POOL_NIL) {
			/* everything is in transit or aside: give the aside ones back and retry */
			while (aside != SL_POOL_NIL) {
				m = mag_at(p, aside);
				/* relaxed: we own the aside list */
				i = atomic_load_explicit(&m->next, memory_order_relaxed);
				stack_push(p, &p->full, aside);
				aside = i;
			}
			sched_yield();
			continue;
		}
		m = mag_at(p, i);
		if (m->count == p->mag_size) {
			/* relaxed: private list until pushed */
			atomic_store_explicit(&m->next, aside, memory_order_relaxed);
			aside = i;
			continue;
		}
		k = p->mag_size - m->count;
		if (k > *n)
			k = *n;
		memcpy(&m->slots[m->count], *blocks, k * sizeof(void *));
		m->count += (uint32_t)k;
		*blocks += k;
		*n -= k;
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&p->depot_blocks, k, memory_order_relaxed);
		stack_push(p, &p->full, i);
		if (*n == 0)
			break;
	}
	while (aside != SL_POOL_NIL) {
		m = mag_at(p, aside);
		/* relaxed: we own the aside list */
		i = atomic_load_explicit(&m->next, memory_order_relaxed);
		stack_push(p, &p->full, aside);
		aside = i;
	}
}

/* Moves <n> blocks into full magazines of the depot. <locked>: caller holds p->lock. */
static void
depot_put(struct sl_pool *p, void **blocks, size_t n, bool locked)
{
	struct sl_pool_mag *m;
	uint32_t i;
	size_t k;

	while (n > 0) {
		i = stack_pop(p, &p->empty);
		if (sl_unlikely(i == SL_POOL_NIL)) {
			if (!locked)
				pthread_mutex_lock(&p->lock);
			depot_put_slow_locked(p, &blocks, &n);
			if (!locked)
				pthread_mutex_unlock(&p->lock);
			continue;
		}
		m = mag_at(p, i);
		k = n < p->mag_size ? n : p->mag_size;
		memcpy(m->slots, blocks, k * sizeof(void *));
		m->count = (uint32_t)k;
		stack_push(p, &p->full, i);
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&p->depot_blocks, k, memory_order_relaxed);
		blocks += k;
		n -= k;
	}
}

/* Refills an empty cache with one magazine from the depot. Returns false if the depot is empty. */
static bool
cache_refill(struct sl_pool *p, struct sl__pool_cache *c)
{
	struct sl_pool_mag *m;
	uint32_t i, n;

	i = stack_pop(p, &p->full);
	if (i == SL_POOL_NIL)
		return false;
	m = mag_at(p, i);
	n = m->count;
	memcpy(c->slots, m->slots, n * sizeof(void *));
	m->count = 0;
	stack_push(p, &p->empty, i);
	/* relaxed: statistics */
	atomic_fetch_sub_explicit(&p->depot_blocks, n, memory_order_relaxed);
	/* relaxed: only this thread writes its count */
	atomic_store_explicit(&c->count, n, memory_order_relaxed);
	return true;
}

/* ---- growth ---- */

static void
pool_numa_init(void)
{
	sl_pool_numa_ok = numa_available() >= 0;
}

/* Binds [addr, addr + len) to the calling thread's node before it is touched. */
static int
chunk_place(void *addr, size_t len)
{
	unsigned long mask[16] = {0};
	int cpu, node;

	pthread_once(&sl_pool_numa_once, pool_numa_init);
	if (!sl_pool_numa_ok)
		return -1;
	cpu = sched_getcpu();
	if (cpu < 0)
		return -1;
	node = numa_node_of_cpu(cpu);
	if (node < 0 || (size_t)node >= sizeof(mask) * 8)
		return -1;
	mask[node / (8 * sizeof(long))] |= 1ul << (node % (8 * sizeof(long)));
	if (mbind(addr, len, MPOL_PREFERRED, mask, sizeof(mask) * 8, 0) == -1)
		return -1;
	return node;
}

/* Maps one chunk. Returns 0, -ENOSPC (bounded pool is full) or -ENOMEM. Under p->lock. */
static int
chunk_map_locked(struct sl_pool *p, struct sl_pool_chunk **out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), want, map, left, nblocks;
	bool huge = p->flags & SL_POOL_HUGEPAGES;
	struct sl_pool_chunk *ch;
	void *mem = MAP_FAILED;

	want = p->hdr_bytes + p->chunk_blocks * p->block_size;
	map = round_up(want, huge ? SL_POOL_HUGE_BYTES : page);
	if (p->max_bytes) {
		/* relaxed: written under p->lock, which we hold */
		left = p->max_bytes -
		       atomic_load_explicit(&p->bytes_reserved, memory_order_relaxed);
		if (map > left) {
			huge = false;
			map = round_up(want, page);
		}
		if (map > left) {
			map = left / page * page;
			if (map < p->hdr_bytes + p->block_size)
				return -ENOSPC;
		}
	}
	nblocks = (map - p->hdr_bytes) / p->block_size;
	if (nblocks > p->bits_max)
		nblocks = p->bits_max;
	/* no MAP_NORESERVE: with no huge pages reserved the mmap must fail here, not SIGBUS later
	 */
	if (huge)
		mem = mmap(NULL, map, PROT_READ | PROT_WRITE,
		           MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (mem == MAP_FAILED) {
		huge = false;
		mem = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return -ENOMEM;
		if (p->flags & SL_POOL_HUGEPAGES)
			(void)madvise(mem, map, MADV_HUGEPAGE); /* best effort */
	}
	ch = mem;
	ch->node = chunk_place(mem, map);
	ch->next = NULL;
	ch->blocks = (char *)mem + p->hdr_bytes;
	ch->nblocks = nblocks;
	ch->map_bytes = map;
	ch->trim_count = 0;
	ch->huge = huge;
	*out = ch; /* live_bits are zero: fresh anonymous memory */
	return 0;
}

/* Makes sure the depot has enough magazines for <blocks> blocks. Under p->lock. */
static int
mags_provide_locked(struct sl_pool *p, size_t blocks)
{
	size_t need = (blocks + p->mag_size - 1) / p->mag_size + SL_POOL_MAG_SPARE;
	struct sl_pool_mag *m;
	unsigned s;
	void *mem;

	if (need >= SL_POOL_NIL - p->mag_base)
		return -ENOMEM;
	while (p->mags_made < need) {
		if (p->mags_made == p->mags_cap) {
			s = 31u - (unsigned)__builtin_clz(p->mags_cap + p->mag_base) -
			    p->mag_base_log;
			if (s >= SL_POOL_SLABS)
				return -ENOMEM;
			mem = mmap(NULL, ((size_t)p->mag_base << s) * p->mag_stride,
			           PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				return -ENOMEM;
			p->mag_slabs[s] = mem;
			p->mags_cap += p->mag_base << s;
		}
		m = mag_at(p, p->mags_made);
		m->count = 0;
		stack_push(p, &p->empty, p->mags_made);
		p->mags_made++;
	}
	return 0;
}

/*
 * Adds one chunk: up to one magazine of its blocks goes to <c> (if not NULL), the rest to the
 * depot. Returns 0, -ENOSPC or -ENOMEM. Under p->lock.
 */
static int
pool_grow_locked(struct sl_pool *p, struct sl__pool_cache *c)
{
	struct sl_pool_chunk *ch;
	void *batch[256];
	size_t total, i, k, n, done = 0;
	int err;

	err = chunk_map_locked(p, &ch);
	if (err)
		return err;
	/* relaxed: written under p->lock, which we hold */
	total = atomic_load_explicit(&p->blocks_total, memory_order_relaxed) + ch->nblocks;
	err = mags_provide_locked(p, total);
	if (err) {
		munmap(ch, ch->map_bytes);
		return err;
	}
	ch->next = p->chunks;
	p->chunks = ch;
	/* relaxed: statistics, written under p->lock */
	atomic_store_explicit(&p->blocks_total, total, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->nchunks, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->bytes_reserved, ch->map_bytes, memory_order_relaxed);

	n = ch->nblocks;
	if (c) {
		/* hand out in address order: the cache pops from the top */
		k = n < p->mag_size ? n : p->mag_size;
		for (i = 0; i < k; i++)
			c->slots[i] = ch->blocks + (k - 1 - i) * p->block_size;
		/* relaxed: only this thread writes its count */
		atomic_store_explicit(&c->count, (uint32_t)k, memory_order_relaxed);
		done = k;
	}
	while (done < n) {
		k = n - done < SL_ARRAY_SIZE(batch) ? n - done : SL_ARRAY_SIZE(batch);
		for (i = 0; i < k; i++)
			batch[i] = ch->blocks + (done + i) * p->block_size;
		depot_put(p, batch, k, true);
		done += k;
	}
	return 0;
}

/* ---- thread caches ---- */

static void
cache_retire_locked(struct sl__pool_cache *c)
{
	struct sl_pool *p = c->pool;

	/* relaxed: the owner is this thread, or gone (destroy) */
	uint32_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	if (n > 0) {
		depot_put(p, c->slots, n, false);
		cache_count(&c->flushes);
	}
	/* relaxed: as above */
	p->retired_refills += atomic_load_explicit(&c->refills, memory_order_relaxed);
	p->retired_flushes += atomic_load_explicit(&c->flushes, memory_order_relaxed);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	*c->slot = &sl_pool_no_cache;
	free(c);
}

/* pthread key destructor: gives the exiting thread's cached blocks back to the depots. */
static void
pool_thread_exit(void *arg)
{
	struct sl__pool_cache *c;
	size_t i;

	(void)arg;
	pthread_mutex_lock(&sl_pool_registry_lock);
	for (i = 0; i < SL__POOL_MAX; i++) {
		c = sl_pool_tls[i];
		if (c != &sl_pool_no_cache)
			cache_retire_locked(c);
	}
	sl_pool_exit_armed = false;
	pthread_mutex_unlock(&sl_pool_registry_lock);
}

static void
pool_key_init(void)
{
	sl_pool_key_ok = pthread_key_create(&sl_pool_exit_key, pool_thread_exit) == 0;
}

/* Creates the calling thread's cache for <p>. Returns NULL when out of memory. */
static struct sl__pool_cache *
cache_create(struct sl_pool *p)
{
	size_t bytes =
	        round_up(sizeof(struct sl__pool_cache) + 2 * (size_t)p->mag_size * sizeof(void *),
	                 SL_CACHELINE);
	struct sl__pool_cache *c;

	pthread_once(&sl_pool_key_once, pool_key_init);
	c = aligned_alloc(SL_CACHELINE, bytes);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->cap = 2 * p->mag_size;
	c->pool = p;
	c->slot = &sl_pool_tls[p->hd.id];
	pthread_mutex_lock(&sl_pool_registry_lock);
	c->next = p->caches;
	if (c->next)
		c->next->prev = c;
	p->caches = c;
	*c->slot = c;
	if (!sl_pool_exit_armed && sl_pool_key_ok)
		sl_pool_exit_armed = pthread_setspecific(sl_pool_exit_key, (void *)1) == 0;
	pthread_mutex_unlock(&sl_pool_registry_lock);
	return c;
}

/* ---- alloc and free ---- */

static __attribute__((noinline)) void *
pool_alloc_slow(struct sl_pool *p)
{
	struct sl__pool_cache *c = sl_pool_tls[p->hd.id];
	uint32_t n;

	if (c == &sl_pool_no_cache) {
		c = cache_create(p);
		if (!c)
			goto fail;
	}
	if (!cache_refill(p, c)) {
		pthread_mutex_lock(&p->lock);
		/* someone may have grown the pool, or a trim may have put magazines back */
		if (!cache_refill(p, c) && pool_grow_locked(p, c) != 0) {
			pthread_mutex_unlock(&p->lock);
			goto fail;
		}
		pthread_mutex_unlock(&p->lock);
	}
	cache_count(&c->refills);
	/* relaxed: only this thread writes its count */
	n = atomic_load_explicit(&c->count, memory_order_relaxed) - 1;
	atomic_store_explicit(&c->count, n, memory_order_relaxed);
	return c->slots[n];

fail:
	/* relaxed: statistics */
	atomic_fetch_add_explicit(&p->alloc_failures, 1, memory_order_relaxed);
	return NULL;
}

static __attribute__((noinline)) void
pool_free_slow(struct sl_pool *p, void *block)
{
	struct sl__pool_cache *c = sl_pool_tls[p->hd.id];
	uint32_t m = p->mag_size, n;

	if (c == &sl_pool_no_cache) {
		c = cache_create(p);
		if (!c) {
			depot_put(p, &block, 1, false);
			return;
		}
	} else {
		/* full: the most recently freed magazine's worth goes to the depot */
		depot_put(p, &c->slots[m], m, false);
		/* relaxed: only this thread writes its count */
		atomic_store_explicit(&c->count, m, memory_order_relaxed);
		cache_count(&c->flushes);
	}
	/* relaxed: only this thread writes its count */
	n = atomic_load_explicit(&c->count, memory_order_relaxed);
	c->slots[n] = block;
	atomic_store_explicit(&c->count, n + 1, memory_order_relaxed);
}

static inline void *
cache_alloc(struct sl_pool *p)
{
	struct sl__pool_cache *c = sl_pool_tls[p->hd.id];
	/* relaxed: only this thread writes its count; stats only read it */
	uint32_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	if (sl_unlikely(n == 0))
		return pool_alloc_slow(p);
	/* relaxed: as above */
	atomic_store_explicit(&c->count, n - 1, memory_order_relaxed);
	return c->slots[n - 1];
}

static inline void
cache_free(struct sl_pool *p, void *block)
{
	struct sl__pool_cache *c = sl_pool_tls[p->hd.id];
	/* relaxed: only this thread writes its count; stats only read it */
	uint32_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	if (sl_unlikely(n >= c->cap)) {
		pool_free_slow(p, block);
		return;
	}
	c->slots[n] = block;
	/* relaxed: as above */
	atomic_store_explicit(&c->count, n + 1, memory_order_relaxed);
}

/* Debug: the chunk holding <b> and its block index, or NULL. Under p->lock. */
static struct sl_pool_chunk *
chunk_find_locked(struct sl_pool *p, const void *b, size_t *idx)
{
	struct sl_pool_chunk *ch;
	size_t off;

	for (ch = p->chunks; ch; ch = ch->next) {
		if ((const char *)b < ch->blocks ||
		    (const char *)b >= ch->blocks + ch->nblocks * p->block_size)
			continue;
		off = (size_t)((const char *)b - ch->blocks);
		if (off % p->block_size)
			return NULL;
		*idx = off / p->block_size;
		return ch;
	}
	return NULL;
}

/* Debug builds: fail-after hook, ownership bit, poisoning with 0xAA. */
static void *
pool_alloc_checked(struct sl_pool *p)
{
	struct sl_pool_chunk *ch;
	uint64_t bit, old;
	size_t i = 0;
	void *b;
	/* relaxed: a test hook; the CAS only keeps concurrent decrements exact */
	long left = atomic_load_explicit(&p->fail_after, memory_order_relaxed);

	while (left > 0 &&
	       !atomic_compare_exchange_weak_explicit(&p->fail_after, &left, left - 1,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
	if (left == 0) {
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&p->alloc_failures, 1, memory_order_relaxed);
		return NULL;
	}
	b = cache_alloc(p);
	if (!b)
		return NULL;
	pthread_mutex_lock(&p->lock);
	ch = chunk_find_locked(p, b, &i);
	if (!ch)
		pool_die(p, "internal error: cached block outside every chunk:", b);
	bit = 1ull << (i % 64);
	/* relaxed: the bit is only touched under p->lock */
	old = atomic_fetch_or_explicit(&ch->live_bits[i / 64], bit, memory_order_relaxed);
	if (old & bit)
		pool_die(p, "internal error: block handed out twice:", b);
	pthread_mutex_unlock(&p->lock);
	memset(b, 0xAA, p->block_size);
	return b;
}

/* Debug builds: foreign pointer and double free detection, poisoning with 0x55. */
static void
pool_free_checked(struct sl_pool *p, void *b)
{
	struct sl_pool_chunk *ch;
	uint64_t bit, old;
	size_t i = 0;

	pthread_mutex_lock(&p->lock);
	ch = chunk_find_locked(p, b, &i);
	if (!ch)
		pool_die(p, "free of foreign pointer", b);
	bit = 1ull << (i % 64);
	/* relaxed: the bit is only touched under p->lock */
	old = atomic_fetch_and_explicit(&ch->live_bits[i / 64], ~bit, memory_order_relaxed);
	if (!(old & bit))
		pool_die(p, "double free of", b);
	pthread_mutex_unlock(&p->lock);
	memset(b, 0x55, p->block_size);
	cache_free(p, b);
}

SL_API void *
sl__pool_alloc_slow(struct sl_pool *p)
{
	if (SL_DEBUG_ENABLED)
		return pool_alloc_checked(p);
	return pool_alloc_slow(p);
}

SL_API void
sl__pool_free_slow(struct sl_pool *p, void *block)
{
	if (SL_DEBUG_ENABLED) {
		pool_free_checked(p, block);
		return;
	}
	pool_free_slow(p, block);
}

/* ---- lifecycle ---- */

/*
 * true if <blocks> blocks of <size> bytes are more than this machine's memory: creating the pool
 * would map chunks for a long time and end in swap or the OOM killer instead of failing.
 */
static bool
prealloc_over_ram(size_t blocks, size_t size)
{
	long pages, page;
	size_t bytes;

	if (blocks == 0) /* the common case asks the system nothing */
		return false;
	pages = sysconf(_SC_PHYS_PAGES);
	page = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || page <= 0)
		return false;
	if (__builtin_mul_overflow(blocks, size, &bytes))
		return true;
	return bytes / (size_t)page > (size_t)pages;
}

static int
pool_opts_check(const struct sl_pool_opts *o, size_t *align)
{
	*align = o->align ? o->align : 16;
	if (o->block_size == 0 || o->block_size > SL_POOL_BLOCK_MAX)
		return -EINVAL;
	if ((*align & (*align - 1)) || *align > SL_POOL_ALIGN_MAX)
		return -EINVAL;
	if (o->magazine_size > SL_POOL_MAG_MAX || o->blocks_per_chunk > SL_POOL_CHUNK_BLOCKS_MAX)
		return -EINVAL;
	if (o->flags & ~(unsigned)SL_POOL_HUGEPAGES)
		return -EINVAL;
	if (prealloc_over_ram(o->prealloc_blocks, o->block_size))
		return -ENOMEM;
	return 0;
}

SL_API int
sl_pool_create(struct sl_pool **out, const struct sl_pool_opts *o)
{
	struct sl_pool *p;
	size_t align, per_chunk, slack;
	uint32_t id;
	int err;

	err = pool_opts_check(o, &align);
	if (err)
		return err;
	p = aligned_alloc(SL_CACHELINE, round_up(sizeof(*p), SL_CACHELINE));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", o->name ? o->name : "pool");
	p->block_size = round_up(o->block_size, align);
	p->chunk_blocks = o->blocks_per_chunk;
	if (!p->chunk_blocks)
		p->chunk_blocks = p->block_size < SL_POOL_CHUNK_BYTES
		                          ? SL_POOL_CHUNK_BYTES / p->block_size
		                          : 1;
	p->mag_size = o->magazine_size ? o->magazine_size : SL_POOL_MAG_DEFAULT;
	p->max_bytes = o->max_bytes;
	p->flags = o->flags;
	/* the rounding slack of a (huge) page may add blocks to a chunk */
	slack = (p->flags & SL_POOL_HUGEPAGES) ? SL_POOL_HUGE_BYTES : (size_t)sysconf(_SC_PAGESIZE);
	p->bits_max = p->chunk_blocks + slack / p->block_size + 1;
	p->hdr_bytes = sizeof(struct sl_pool_chunk);
	if (SL_DEBUG_ENABLED)
		p->hdr_bytes += (p->bits_max + 63) / 64 * sizeof(uint64_t);
	p->hdr_bytes = round_up(p->hdr_bytes, align);
	p->mag_stride = round_up(sizeof(struct sl_pool_mag) + (size_t)p->mag_size * sizeof(void *),
	                         SL_CACHELINE);
	per_chunk = (p->bits_max + p->mag_size - 1) / p->mag_size + SL_POOL_MAG_SPARE;
	p->mag_base_log = 4;
	while (((size_t)1 << p->mag_base_log) < per_chunk)
		p->mag_base_log++;
	p->mag_base = 1u << p->mag_base_log;
	atomic_init(&p->full.head, SL_POOL_NIL);
	atomic_init(&p->empty.head, SL_POOL_NIL);
	atomic_init(&p->fail_after, -1);
	pthread_mutex_init(&p->lock, NULL);

	pthread_mutex_lock(&sl_pool_registry_lock);
	for (id = 0; id < SL__POOL_MAX && sl_pool_by_id[id]; id++)
		;
	if (id < SL__POOL_MAX)
		sl_pool_by_id[id] = p;
	pthread_mutex_unlock(&sl_pool_registry_lock);
	if (id == SL__POOL_MAX) {
		err = -ENOSPC;
		goto err_free_pool;
	}
	p->hd.id = id;

	pthread_mutex_lock(&p->lock);
	/* relaxed: nothing else runs on a pool being created */
	while (atomic_load_explicit(&p->blocks_total, memory_order_relaxed) < o->prealloc_blocks) {
		err = pool_grow_locked(p, NULL);
		if (err)
			break;
	}
	pthread_mutex_unlock(&p->lock);
	if (err) {
		sl_pool_destroy(p);
		return err == -ENOSPC ? -EINVAL : err;
	}
	*out = p;
	return 0;

err_free_pool:
	pthread_mutex_destroy(&p->lock);
	free(p);
	return err;
}

SL_API void
sl_pool_destroy(struct sl_pool *p)
{
	struct sl_pool_chunk *ch, *next;
	struct sl__pool_cache *c, *cn;
	unsigned s;

	if (!p)
		return;
	pthread_mutex_lock(&sl_pool_registry_lock);
	for (c = p->caches; c; c = cn) {
		cn = c->next;
		*c->slot = &sl_pool_no_cache;
		free(c);
	}
	sl_pool_by_id[p->hd.id] = NULL;
	pthread_mutex_unlock(&sl_pool_registry_lock);
	for (ch = p->chunks; ch; ch = next) {
		next = ch->next;
		munmap(ch, ch->map_bytes);
	}
	for (s = 0; s < SL_POOL_SLABS; s++)
		if (p->mag_slabs[s])
			munmap(p->mag_slabs[s], ((size_t)p->mag_base << s) * p->mag_stride);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

SL_API void
sl_pool_thread_flush(struct sl_pool *p)
{
	struct sl__pool_cache *c = sl_pool_tls[p->hd.id];
	/* relaxed: only this thread writes its count */
	uint32_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	if (c == &sl_pool_no_cache || n == 0)
		return;
	depot_put(p, c->slots, n, false);
	/* relaxed: as above */
	atomic_store_explicit(&c->count, 0, memory_order_relaxed);
	cache_count(&c->flushes);
}

static int
chunk_cmp(const void *a, const void *b)
{
	const struct sl_pool_chunk *x = *(struct sl_pool_chunk *const *)a;
	const struct sl_pool_chunk *y = *(struct sl_pool_chunk *const *)b;

	return x < y ? -1 : x > y;
}

/* The chunk of <sorted> (n entries, by address) that holds <b>. */
static struct sl_pool_chunk *
chunk_search(struct sl_pool_chunk **sorted, size_t n, const char *b)
{
	size_t lo = 0, hi = n, mid;

	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if ((const char *)sorted[mid] <= b)
			lo = mid;
		else
			hi = mid;
	}
	return sorted[lo];
}

static bool
chunk_is_released(struct sl_pool_chunk **sorted, size_t n, const void *b)
{
	struct sl_pool_chunk *ch = chunk_search(sorted, n, b);

	return ch->trim_count == ch->nblocks;
}

/*
 * Takes every full magazine off the depot, counts blocks per chunk, keeps the blocks of chunks
 * that are not entirely in the depot (compacted into magazines again) and unmaps the others.
 */
SL_API size_t
sl_pool_trim(struct sl_pool *p)
{
	struct sl_pool_chunk **sorted = NULL, *ch, **link;
	uint32_t drained = SL_POOL_NIL, i, next, out, oc, cnt, j;
	struct sl_pool_mag *m, *om;
	size_t n = 0, k, freed = 0, released = 0, removed = 0;
	bool full;

	pthread_mutex_lock(&p->lock);
	for (ch = p->chunks; ch; ch = ch->next)
		n++;
	if (n == 0)
		goto out_unlock;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		goto out_unlock;
	n = 0;
	for (ch = p->chunks; ch; ch = ch->next) {
		ch->trim_count = 0;
		sorted[n++] = ch;
	}
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	qsort(sorted, n, sizeof(*sorted), chunk_cmp);
	while ((i = stack_pop(p, &p->full)) != SL_POOL_NIL) {
		m = mag_at(p, i);
		for (j = 0; j < m->count; j++)
			chunk_search(sorted, n, m->slots[j])->trim_count++;
		/* relaxed: a private list until pushed back */
		atomic_store_explicit(&m->next, drained, memory_order_relaxed);
		drained = i;
	}
	for (k = 0; k < n; k++)
		released += sorted[k]->trim_count == sorted[k]->nblocks;

	/*
	 * Compact the kept blocks in place along the drained list: the write cursor never passes
	 * the read cursor, as every magazine holds at most mag_size blocks.
	 */
	out = drained;
	oc = 0;
	for (i = drained; i != SL_POOL_NIL; i = next) {
		m = mag_at(p, i);
		/* relaxed: private list */
		next = atomic_load_explicit(&m->next, memory_order_relaxed);
		cnt = m->count;
		for (j = 0; j < cnt; j++) {
			if (released && chunk_is_released(sorted, n, m->slots[j])) {
				removed++;
				continue;
			}
			om = mag_at(p, out);
			om->slots[oc++] = m->slots[j];
			if (oc == p->mag_size) {
				/* relaxed: private list */
				out = atomic_load_explicit(&om->next, memory_order_relaxed);
				oc = 0;
			}
		}
	}
	/* magazines before <out> are full, <out> holds <oc>, the rest are empty */
	for (i = drained, full = true; i != SL_POOL_NIL; i = next) {
		m = mag_at(p, i);
		/* relaxed: private list */
		next = atomic_load_explicit(&m->next, memory_order_relaxed);
		if (i == out) {
			m->count = oc;
			full = false;
		} else {
			m->count = full ? p->mag_size : 0;
		}
		stack_push(p, m->count ? &p->full : &p->empty, i);
	}
	/* relaxed: statistics */
	atomic_fetch_sub_explicit(&p->depot_blocks, removed, memory_order_relaxed);

	for (link = &p->chunks; (ch = *link);) {
		if (ch->trim_count != ch->nblocks) {
			link = &ch->next;
			continue;
		}
		*link = ch->next;
		freed += ch->map_bytes;
		/* relaxed: statistics, written under p->lock */
		atomic_fetch_sub_explicit(&p->blocks_total, ch->nblocks, memory_order_relaxed);
		atomic_fetch_sub_explicit(&p->nchunks, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&p->bytes_reserved, ch->map_bytes, memory_order_relaxed);
		munmap(ch, ch->map_bytes);
	}

out_unlock:
	pthread_mutex_unlock(&p->lock);
	free(sorted);
	return freed;
}

SL_API void
sl_pool_stats(const struct sl_pool *cp, struct sl_pool_stats *st)
{
	/* the atomics are only read; C11 atomic loads want a non-const object */
	struct sl_pool *p = (struct sl_pool *)cp;
	struct sl__pool_cache *c;
	size_t cached = 0, depot, total;
	uint64_t refills, flushes;

	pthread_mutex_lock(&sl_pool_registry_lock);
	refills = p->retired_refills;
	flushes = p->retired_flushes;
	for (c = p->caches; c; c = c->next) {
		/* relaxed: statistics; owners write these without synchronisation */
		cached += atomic_load_explicit(&c->count, memory_order_relaxed);
		refills += atomic_load_explicit(&c->refills, memory_order_relaxed);
		flushes += atomic_load_explicit(&c->flushes, memory_order_relaxed);
	}
	pthread_mutex_unlock(&sl_pool_registry_lock);
	/* relaxed: statistics */
	depot = atomic_load_explicit(&p->depot_blocks, memory_order_relaxed);
	total = atomic_load_explicit(&p->blocks_total, memory_order_relaxed);
	memset(st, 0, sizeof(*st));
	st->block_size = p->block_size;
	st->blocks_free = cached + depot;
	st->blocks_live = total > st->blocks_free ? total - st->blocks_free : 0;
	/* relaxed: statistics, a snapshot that may be slightly stale */
	st->chunks = atomic_load_explicit(&p->nchunks, memory_order_relaxed);
	st->bytes_reserved = atomic_load_explicit(&p->bytes_reserved, memory_order_relaxed);
	st->cache_refills = refills;
	st->cache_flushes = flushes;
	/* relaxed: statistics */
	st->alloc_failures = atomic_load_explicit(&p->alloc_failures, memory_order_relaxed);
}

SL_API void
sl_pool_fail_after(struct sl_pool *p, long n)
{
	if (!SL_DEBUG_ENABLED)
		return;
	/* relaxed: a test hook, set before the allocations it governs */
	atomic_store_explicit(&p->fail_after, n < 0 ? -1 : n, memory_order_relaxed);
}
