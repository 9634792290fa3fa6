// SPDX-License-Identifier: MIT
/*
 * Behaviour tests for sl_pool: options, statistics, bounded and growing modes, trim, NUMA
 * placement, huge pages, thread caches and the depot (cross-thread frees, thread exit), debug
 * poisoning and abort diagnostics, and steady state without malloc or system calls.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <numa.h>
#include <numaif.h>

#include "sluice/pool.h"

#if defined(SL_SANITIZE_ADDRESS) || defined(SL_SANITIZE_THREAD)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* ---- a malloc-counting interposer (the sanitizers own malloc, so not there) ---- */

static _Atomic unsigned long malloc_calls;

#if !SANITIZED
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *ptr);

static void
count_call(void)
{
	/* relaxed: a counter read after the threads that bump it are joined */
	atomic_fetch_add_explicit(&malloc_calls, 1, memory_order_relaxed);
}

void *
malloc(size_t n)
{
	count_call();
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	count_call();
	return __libc_calloc(n, size);
}

void *
realloc(void *ptr, size_t n)
{
	count_call();
	return __libc_realloc(ptr, n);
}

void *
aligned_alloc(size_t align, size_t n)
{
	count_call();
	return __libc_memalign(align, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	count_call();
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void
free(void *ptr)
{
	if (ptr)
		count_call();
	__libc_free(ptr);
}
#endif

/* ---- helpers ---- */

static struct sl_pool *
pool_new(size_t block_size, size_t per_chunk, size_t max_bytes, unsigned mag)
{
	struct sl_pool_opts o = {
	        .name = "test",
	        .block_size = block_size,
	        .blocks_per_chunk = per_chunk,
	        .max_bytes = max_bytes,
	        .magazine_size = mag,
	};
	struct sl_pool *p = NULL;

	assert_int_equal(0, sl_pool_create(&p, &o));
	return p;
}

static struct sl_pool_stats
pool_stats(struct sl_pool *p)
{
	struct sl_pool_stats st;

	sl_pool_stats(p, &st);
	return st;
}

/* Runs <fn>(<p>) in a child with stderr captured; returns the wait status, fills <msg>. */
static int
run_in_child(void (*fn)(struct sl_pool *), struct sl_pool *p, char *msg, size_t len)
{
	int fds[2], status = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(0, pipe(fds));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		fn(p);
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < len && (n = read(fds[0], msg + got, len - 1 - got)) > 0)
		got += (size_t)n;
	msg[got] = '\0';
	close(fds[0]);
	assert_int_equal(pid, waitpid(pid, &status, 0));
	return status;
}

/* ---- options and basics ---- */

static void
pool_create_rejects_zero_block_size(void **state)
{
	struct sl_pool_opts o = {.block_size = 0};
	struct sl_pool *p = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_pool_create(&p, &o));
}

static void
pool_create_rejects_alignment_not_power_of_two(void **state)
{
	struct sl_pool_opts o = {.block_size = 64, .align = 24};
	struct sl_pool *p = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_pool_create(&p, &o));
}

/* A prealloc larger than the machine's memory fails at once (it mapped chunks until the OOM
 * killer or swap stopped it), whether the product overflows or not. */
static void
pool_create_refuses_a_prealloc_larger_than_memory(void **state)
{
	size_t ram = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	struct sl_pool_opts o = {.block_size = 8u << 20};
	struct sl_pool *p = NULL;

	(void)state;
	o.prealloc_blocks = ram / o.block_size + 1;
	assert_int_equal(-ENOMEM, sl_pool_create(&p, &o));
	o.prealloc_blocks = (size_t)1 << 60;
	assert_int_equal(-ENOMEM, sl_pool_create(&p, &o));
	assert_null(p);
}

static void
pool_blocks_are_rounded_and_aligned(void **state)
{
	struct sl_pool_opts o = {.block_size = 24, .align = 64};
	struct sl_pool *p = NULL;
	void *b[100];
	size_t i;

	(void)state;
	assert_int_equal(0, sl_pool_create(&p, &o));
	for (i = 0; i < SL_ARRAY_SIZE(b); i++) {
		b[i] = sl_pool_alloc(p);
		assert_non_null(b[i]);
		assert_int_equal(0, (uintptr_t)b[i] % 64);
	}
	assert_int_equal(64, pool_stats(p).block_size);
	for (i = 0; i < SL_ARRAY_SIZE(b); i++)
		sl_pool_free(p, b[i]);
	sl_pool_destroy(p);
}

static int
ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

static void
pool_alloc_returns_distinct_non_overlapping_blocks(void **state)
{
	enum { N = 3000 };
	struct sl_pool *p = pool_new(48, 100, 0, 8);
	void **b = calloc(N, sizeof(*b));
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		b[i] = sl_pool_alloc(p);
		assert_non_null(b[i]);
		memset(b[i], (int)i, 48);
	}
	qsort(b, N, sizeof(*b), ptr_cmp);
	for (i = 1; i < N; i++)
		assert_true((char *)b[i - 1] + 48 <= (char *)b[i]);
	for (i = 0; i < N; i++)
		sl_pool_free(p, b[i]);
	free(b);
	sl_pool_destroy(p);
}

static void
pool_stats_count_live_blocks_and_cache_refills(void **state)
{
	struct sl_pool *p = pool_new(64, 64, 0, 8);
	struct sl_pool_stats st;
	void *b[10];
	size_t i;

	(void)state;
	for (i = 0; i < 10; i++)
		b[i] = sl_pool_alloc(p);
	sl_pool_free(p, b[0]);
	st = pool_stats(p);
	assert_int_equal(9, st.blocks_live);
	assert_int_equal(2, st.cache_refills); /* a new chunk's first 8, then one magazine */
	assert_int_equal(0, st.cache_flushes);
	assert_int_equal(1, st.chunks);
	assert_true(st.bytes_reserved >= 64 * 64);
	assert_true(st.blocks_free >= 1);
	for (i = 1; i < 10; i++)
		sl_pool_free(p, b[i]);
	assert_int_equal(0, pool_stats(p).blocks_live);
	sl_pool_destroy(p);
}

static void
pool_prealloc_reserves_blocks_at_create(void **state)
{
	struct sl_pool_opts o = {
	        .block_size = 64, .blocks_per_chunk = 100, .prealloc_blocks = 1000};
	struct sl_pool *p = NULL;
	struct sl_pool_stats st;

	(void)state;
	assert_int_equal(0, sl_pool_create(&p, &o));
	st = pool_stats(p);
	assert_true(st.blocks_free >= 1000);
	assert_int_equal(0, st.blocks_live);
	assert_int_equal(0, st.cache_refills);
	sl_pool_destroy(p);
}

static void
pool_prealloc_over_max_bytes_is_rejected(void **state)
{
	struct sl_pool_opts o = {.block_size = 64, .max_bytes = 8192, .prealloc_blocks = 1000};
	struct sl_pool *p = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_pool_create(&p, &o));
}

/* ---- bounded mode ---- */

static void
pool_bounded_alloc_fails_at_cap_and_counts_failure(void **state)
{
	struct sl_pool *p = pool_new(64, 64, 3 * 4096, 8);
	struct sl_pool_stats st;
	void *b[1000];
	size_t n = 0, i;

	(void)state;
	while (n < SL_ARRAY_SIZE(b) && (b[n] = sl_pool_alloc(p)) != NULL)
		n++;
	st = pool_stats(p);
	assert_true(n > 0 && n < SL_ARRAY_SIZE(b));
	assert_true(st.bytes_reserved <= 3 * 4096);
	assert_int_equal(n, st.blocks_live);
	assert_int_equal(1, st.alloc_failures);
	assert_null(sl_pool_alloc(p));
	assert_int_equal(2, pool_stats(p).alloc_failures);
	for (i = 0; i < n; i++)
		sl_pool_free(p, b[i]);
	sl_pool_destroy(p);
}

static void
pool_bounded_alloc_succeeds_again_after_free(void **state)
{
	struct sl_pool *p = pool_new(64, 64, 4096, 8);
	void *b[200];
	size_t n = 0, i;

	(void)state;
	while (n < SL_ARRAY_SIZE(b) && (b[n] = sl_pool_alloc(p)) != NULL)
		n++;
	sl_pool_free(p, b[n - 1]);
	b[n - 1] = sl_pool_alloc(p);
	assert_non_null(b[n - 1]);
	for (i = 0; i < n; i++)
		sl_pool_free(p, b[i]);
	sl_pool_destroy(p);
}

/* ---- trim ---- */

static void
pool_trim_unmaps_chunks_whose_blocks_are_all_free(void **state)
{
	enum { N = 1000 };
	struct sl_pool *p = pool_new(64, 64, 0, 8);
	size_t before, released, page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec;
	void *b[N], *first;
	size_t i;

	(void)state;
	for (i = 0; i < N; i++)
		b[i] = sl_pool_alloc(p);
	first = b[0];
	for (i = 0; i < N; i++)
		sl_pool_free(p, b[i]);
	sl_pool_thread_flush(p);
	before = pool_stats(p).bytes_reserved;

	released = sl_pool_trim(p);

	assert_int_equal(before, released);
	assert_int_equal(0, pool_stats(p).bytes_reserved);
	assert_int_equal(0, pool_stats(p).chunks);
	/* really unmapped: mincore() refuses the page */
	assert_int_equal(-1, mincore((void *)((uintptr_t)first / page * page), page, &vec));
	assert_int_equal(ENOMEM, errno);
	first = sl_pool_alloc(p);
	assert_non_null(first);
	memset(first, 1, 64);
	assert_int_equal(1, pool_stats(p).chunks);
	sl_pool_free(p, first);
	sl_pool_destroy(p);
}

static void
pool_trim_keeps_chunks_with_live_blocks(void **state)
{
	enum { N = 1000 };
	struct sl_pool *p = pool_new(64, 64, 0, 8);
	struct sl_pool_stats st;
	void *b[N];
	size_t i;

	(void)state;
	for (i = 0; i < N; i++)
		b[i] = sl_pool_alloc(p);
	for (i = 1; i < N; i++)
		sl_pool_free(p, b[i]);
	sl_pool_thread_flush(p);

	assert_true(sl_pool_trim(p) > 0);

	st = pool_stats(p);
	assert_int_equal(1, st.chunks);
	assert_int_equal(1, st.blocks_live);
	memset(b[0], 7, 64); /* still mapped */
	for (i = 0; i < N; i++) {
		b[i] = sl_pool_alloc(p);
		assert_non_null(b[i]);
	}
	for (i = 0; i < N; i++)
		sl_pool_free(p, b[i]);
	sl_pool_destroy(p);
}

/* ---- threads ---- */

static void *
alloc_free_and_exit(void *arg)
{
	struct sl_pool *p = arg;
	void *b[10];
	size_t i;

	for (i = 0; i < 10; i++)
		b[i] = sl_pool_alloc(p);
	for (i = 0; i < 10; i++)
		sl_pool_free(p, b[i]);
	return NULL;
}

static void
pool_thread_exit_returns_cached_blocks_to_depot(void **state)
{
	struct sl_pool *p = pool_new(64, 64, 0, 16);
	pthread_t t;

	(void)state;
	assert_int_equal(0, pthread_create(&t, NULL, alloc_free_and_exit, p));
	assert_int_equal(0, pthread_join(t, NULL));

	/* trim only releases chunks whose blocks are all in the depot */
	assert_true(sl_pool_trim(p) > 0);
	assert_int_equal(0, pool_stats(p).chunks);
	assert_int_equal(1, pool_stats(p).cache_flushes); /* at thread exit */
	sl_pool_destroy(p);
}

enum { HANDOFF_Q = 16, HANDOFF_N = 20000 };

struct handoff {
	struct sl_pool *p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *q[HANDOFF_Q];
	size_t head, tail; /* under mu */
	size_t failures;   /* producer only */
};

static void *
handoff_consumer(void *arg)
{
	struct handoff *h = arg;
	size_t i;
	void *b;

	for (i = 0; i < HANDOFF_N; i++) {
		pthread_mutex_lock(&h->mu);
		while (h->head == h->tail)
			pthread_cond_wait(&h->cv, &h->mu);
		b = h->q[h->head++ % HANDOFF_Q];
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		sl_pool_free(h->p, b);
	}
	return NULL;
}

static void
pool_cross_thread_frees_recycle_blocks_through_depot(void **state)
{
	/* one page: about 60 blocks, far fewer than the HANDOFF_N that pass through; in flight at
	 * most HANDOFF_Q + 2 * 8 (consumer cache) + 8 (producer cache) */
	struct handoff h = {.p = pool_new(64, 32, 4096, 8)};
	struct sl_pool_stats st;
	pthread_t t;
	size_t i;
	void *b;

	(void)state;
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	assert_int_equal(0, pthread_create(&t, NULL, handoff_consumer, &h));
	for (i = 0; i < HANDOFF_N; i++) {
		b = sl_pool_alloc(h.p);
		h.failures += b == NULL; /* a NULL still goes through: freeing it is a no-op */
		pthread_mutex_lock(&h.mu);
		while (h.tail - h.head == HANDOFF_Q)
			pthread_cond_wait(&h.cv, &h.mu);
		h.q[h.tail++ % HANDOFF_Q] = b;
		pthread_cond_broadcast(&h.cv);
		pthread_mutex_unlock(&h.mu);
	}
	assert_int_equal(0, pthread_join(t, NULL));
	st = pool_stats(h.p);
	assert_int_equal(0, h.failures);
	assert_int_equal(1, st.chunks);
	assert_int_equal(0, st.blocks_live);
	/* each refill hands the producer at most one magazine (8) */
	assert_true(st.cache_refills >= HANDOFF_N / 8);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
	sl_pool_destroy(h.p);
}

enum { STRESS_THREADS = 4, STRESS_OPS = 40000, STRESS_HELD = 64, STRESS_SHARED = 32 };
#define STAMP_LIVE 0x4c4956454c495645ull

struct stamp {
	uint64_t magic, owner, seq;
};

struct stress {
	struct sl_pool *p;
	pthread_mutex_t mu;
	void *shared[STRESS_SHARED]; /* under mu; a block handed from one thread to another */
	_Atomic unsigned long bad;   /* blocks found with another holder's stamp */
	_Atomic unsigned long allocs;
};

struct stress_arg {
	struct stress *s;
	uint64_t id;
};

static void
stamp_check_and_clear(struct stress *s, void *b, uint64_t owner)
{
	struct stamp *st = b;

	if (st->magic != STAMP_LIVE || (owner != UINT64_MAX && st->owner != owner))
		/* relaxed: a counter read after join */
		atomic_fetch_add_explicit(&s->bad, 1, memory_order_relaxed);
	st->magic = 0;
}

static void *
stress_thread(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;
	void *held[STRESS_HELD], *b;
	unsigned long allocs = 0;
	size_t n = 0, i, k;
	uint32_t rnd = (uint32_t)a->id * 2654435761u + 1;

	for (i = 0; i < STRESS_OPS; i++) {
		rnd = rnd * 1664525u + 1013904223u;
		switch ((rnd >> 24) % 4) {
		case 0:
		case 1:
			if (n == STRESS_HELD)
				break;
			b = sl_pool_alloc(s->p);
			if (!b)
				break;
			allocs++;
			*(struct stamp *)b = (struct stamp){STAMP_LIVE, a->id, i};
			held[n++] = b;
			break;
		case 2:
			if (n == 0)
				break;
			k = (rnd >> 8) % n;
			stamp_check_and_clear(s, held[k], a->id);
			sl_pool_free(s->p, held[k]);
			held[k] = held[--n];
			break;
		default:
			/* swap a held block with the shared slot: cross-thread frees */
			k = (rnd >> 8) % STRESS_SHARED;
			pthread_mutex_lock(&s->mu);
			b = s->shared[k];
			s->shared[k] = n ? held[n - 1] : NULL;
			pthread_mutex_unlock(&s->mu);
			if (n)
				n--;
			if (b) {
				stamp_check_and_clear(s, b, UINT64_MAX);
				sl_pool_free(s->p, b);
			}
			break;
		}
	}
	while (n > 0) {
		stamp_check_and_clear(s, held[--n], a->id);
		sl_pool_free(s->p, held[n]);
	}
	/* relaxed: read after join */
	atomic_fetch_add_explicit(&s->allocs, allocs, memory_order_relaxed);
	return NULL;
}

static void
pool_stress_threads_never_share_a_block(void **state)
{
	struct stress s = {.p = pool_new(64, 128, 0, 4)};
	struct stress_arg args[STRESS_THREADS];
	pthread_t t[STRESS_THREADS];
	struct sl_pool_stats st;
	size_t i;

	(void)state;
	pthread_mutex_init(&s.mu, NULL);
	for (i = 0; i < STRESS_THREADS; i++) {
		args[i] = (struct stress_arg){&s, i};
		assert_int_equal(0, pthread_create(&t[i], NULL, stress_thread, &args[i]));
	}
	for (i = 0; i < STRESS_THREADS; i++)
		assert_int_equal(0, pthread_join(t[i], NULL));
	for (i = 0; i < STRESS_SHARED; i++) {
		if (s.shared[i]) {
			stamp_check_and_clear(&s, s.shared[i], UINT64_MAX);
			sl_pool_free(s.p, s.shared[i]);
		}
	}
	st = pool_stats(s.p);
	assert_int_equal(0, s.bad);
	assert_true(s.allocs > STRESS_THREADS * STRESS_OPS / 4); /* about half the ops allocate */
	assert_int_equal(0, st.blocks_live);
	sl_pool_thread_flush(s.p);
	sl_pool_trim(s.p);
	assert_int_equal(0, pool_stats(s.p).chunks); /* every block came back to the depot */
	pthread_mutex_destroy(&s.mu);
	sl_pool_destroy(s.p);
}

/* ---- pool ids ---- */

static void
pool_id_of_destroyed_pool_is_reused_with_a_fresh_cache(void **state)
{
	struct sl_pool *p1 = pool_new(64, 64, 0, 8), *p2;
	struct sl_pool_stats st;
	void *b;

	(void)state;
	sl_pool_free(p1, sl_pool_alloc(p1)); /* this thread now has a cache for p1's id */
	sl_pool_destroy(p1);
	p2 = pool_new(128, 64, 0, 8);

	b = sl_pool_alloc(p2);
	memset(b, 3, 128);

	st = pool_stats(p2);
	assert_int_equal(1, st.cache_refills); /* a fresh cache, not p1's */
	assert_int_equal(1, st.blocks_live);
	sl_pool_free(p2, b);
	sl_pool_destroy(p2);
}

static void
pool_create_fails_when_4096_pools_are_live(void **state)
{
	struct sl_pool_opts o = {.block_size = 64};
	static struct sl_pool *p[SL__POOL_MAX + 10];
	size_t n = 0, i;
	int err = 0;

	(void)state;
	while (n < SL_ARRAY_SIZE(p) && (err = sl_pool_create(&p[n], &o)) == 0)
		n++;
	assert_int_equal(-ENOSPC, err);
	assert_int_equal(4096, n);
	for (i = 0; i < n; i++)
		sl_pool_destroy(p[i]);
}

/* ---- placement ---- */

static void
pool_chunk_is_bound_to_the_growing_threads_node(void **state)
{
	struct sl_pool *p;
	unsigned long mask[16] = {0};
	int node = -1, mode = -1, want;
	void *b;

	(void)state;
	if (numa_available() < 0)
		skip();
	p = pool_new(64, 64, 0, 8);
	want = numa_node_of_cpu(sched_getcpu());
	b = sl_pool_alloc(p);
	memset(b, 1, 64); /* fault the page in */

	assert_int_equal(0, get_mempolicy(&node, NULL, 0, b, MPOL_F_NODE | MPOL_F_ADDR));
	assert_int_equal(0, get_mempolicy(&mode, mask, sizeof(mask) * 8, b, MPOL_F_ADDR));

	assert_int_equal(want, node);
	assert_int_equal(MPOL_PREFERRED, mode);
	assert_true(mask[want / 64] & (1ul << (want % 64)));
	sl_pool_free(p, b);
	sl_pool_destroy(p);
}

static void
pool_hugepages_flag_gives_a_working_pool(void **state)
{
	struct sl_pool_opts o = {.block_size = 64, .flags = SL_POOL_HUGEPAGES};
	struct sl_pool *p = NULL;
	void *b[1000];
	size_t i;

	(void)state;
	assert_int_equal(0, sl_pool_create(&p, &o));
	for (i = 0; i < SL_ARRAY_SIZE(b); i++) {
		b[i] = sl_pool_alloc(p);
		assert_non_null(b[i]);
		memset(b[i], 9, 64);
	}
	assert_int_equal(0, pool_stats(p).bytes_reserved % (2u << 20));
	for (i = 0; i < SL_ARRAY_SIZE(b); i++)
		sl_pool_free(p, b[i]);
	sl_pool_destroy(p);
}

/* ---- steady state ---- */

enum { CYCLE = 3 * 8 };

/* Allocates and frees CYCLE blocks: with magazines of 8 this crosses the depot both ways. */
static void
cycle_blocks(struct sl_pool *p, size_t rounds)
{
	void *b[CYCLE];
	size_t r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < CYCLE; i++)
			b[i] = sl_pool_alloc(p);
		for (i = 0; i < CYCLE; i++)
			sl_pool_free(p, b[i]);
	}
}

static void
pool_steady_state_calls_no_malloc(void **state)
{
	struct sl_pool *p;
	unsigned long before;

	(void)state;
	if (SANITIZED)
		skip(); /* the sanitizers own malloc: the counting interposer is not built */
	p = pool_new(64, 64, 0, 8);
	cycle_blocks(p, 10);
	/* relaxed: single-threaded here */
	before = atomic_load_explicit(&malloc_calls, memory_order_relaxed);

	cycle_blocks(p, 1000);

	assert_int_equal(before, atomic_load_explicit(&malloc_calls, memory_order_relaxed));
	assert_true(before > 0); /* the interposer is live: creation and warm-up malloc'd */
	sl_pool_destroy(p);
}

static void
steady_state_under_seccomp(struct sl_pool *p)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = SL_ARRAY_SIZE(f), .filter = f};

	cycle_blocks(p, 10);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		syscall(SYS_exit_group, 2);
	cycle_blocks(p, 1000);
	syscall(SYS_exit_group, 0); /* any other system call would have killed us */
}

static void
pool_steady_state_makes_no_system_call(void **state)
{
	struct sl_pool *p = pool_new(64, 64, 0, 8);
	char msg[256];
	int status;

	(void)state;
	status = run_in_child(steady_state_under_seccomp, p, msg, sizeof(msg));

	assert_true(WIFEXITED(status));
	assert_int_equal(0, WEXITSTATUS(status));
	sl_pool_destroy(p);
}

/* ---- debug builds: poisoning, fail-after, aborts ---- */

static bool
all_bytes_are(const unsigned char *b, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

static void
pool_alloc_poisons_new_blocks_with_0xaa(void **state)
{
	struct sl_pool *p;
	unsigned char *b;

	(void)state;
	if (!SL_DEBUG_ENABLED)
		skip(); /* poisoning is a debug-build feature */
	p = pool_new(64, 64, 0, 8);
	b = sl_pool_alloc(p);
	assert_true(all_bytes_are(b, 64, 0xAA));
	sl_pool_free(p, b);
	sl_pool_destroy(p);
}

static void
pool_free_poisons_the_whole_block_with_0x55(void **state)
{
	struct sl_pool *p;
	unsigned char *b;

	(void)state;
	if (!SL_DEBUG_ENABLED)
		skip(); /* poisoning is a debug-build feature */
	p = pool_new(64, 64, 0, 8);
	b = sl_pool_alloc(p);
	memset(b, 0, 64);
	sl_pool_free(p, b);
	/* no link word lives in a free block: all 64 bytes are poisoned */
	assert_true(all_bytes_are(b, 64, 0x55));
	sl_pool_destroy(p);
}

static void
pool_fail_after_fails_allocations_past_n(void **state)
{
	struct sl_pool *p;
	void *b[3];

	(void)state;
	if (!SL_DEBUG_ENABLED)
		skip(); /* the hook is compiled out of release builds */
	p = pool_new(64, 64, 0, 8);
	sl_pool_fail_after(p, 2);
	b[0] = sl_pool_alloc(p);
	b[1] = sl_pool_alloc(p);
	b[2] = sl_pool_alloc(p);
	assert_non_null(b[0]);
	assert_non_null(b[1]);
	assert_null(b[2]);
	assert_int_equal(1, pool_stats(p).alloc_failures);
	sl_pool_fail_after(p, -1);
	b[2] = sl_pool_alloc(p);
	assert_non_null(b[2]);
	sl_pool_free(p, b[0]);
	sl_pool_free(p, b[1]);
	sl_pool_free(p, b[2]);
	sl_pool_destroy(p);
}

static void
double_free(struct sl_pool *p)
{
	void *b = sl_pool_alloc(p);

	sl_pool_free(p, b);
	sl_pool_free(p, b);
}

static void
pool_double_free_aborts_naming_the_pool(void **state)
{
	struct sl_pool_opts o = {.name = "sessions", .block_size = 64};
	struct sl_pool *p = NULL;
	char msg[512];
	int status;

	(void)state;
	if (!SL_DEBUG_ENABLED)
		skip(); /* detection is a debug-build feature */
	assert_int_equal(0, sl_pool_create(&p, &o));
	status = run_in_child(double_free, p, msg, sizeof(msg));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(SIGABRT, WTERMSIG(status));
	assert_non_null(strstr(msg, "sl_pool \"sessions\": double free of 0x"));
	sl_pool_destroy(p);
}

static void
foreign_free(struct sl_pool *p)
{
	static char not_ours[64];

	sl_pool_free(p, sl_pool_alloc(p)); /* the pool has a chunk */
	sl_pool_free(p, not_ours);
}

static void
pool_free_of_foreign_pointer_aborts_naming_the_pool(void **state)
{
	struct sl_pool_opts o = {.name = "sessions", .block_size = 64};
	struct sl_pool *p = NULL;
	char msg[512];
	int status;

	(void)state;
	if (!SL_DEBUG_ENABLED)
		skip(); /* detection is a debug-build feature */
	assert_int_equal(0, sl_pool_create(&p, &o));
	status = run_in_child(foreign_free, p, msg, sizeof(msg));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(SIGABRT, WTERMSIG(status));
	assert_non_null(strstr(msg, "sl_pool \"sessions\": free of foreign pointer 0x"));
	sl_pool_destroy(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pool_create_rejects_zero_block_size),
	        cmocka_unit_test(pool_create_rejects_alignment_not_power_of_two),
	        cmocka_unit_test(pool_create_refuses_a_prealloc_larger_than_memory),
	        cmocka_unit_test(pool_blocks_are_rounded_and_aligned),
	        cmocka_unit_test(pool_alloc_returns_distinct_non_overlapping_blocks),
	        cmocka_unit_test(pool_stats_count_live_blocks_and_cache_refills),
	        cmocka_unit_test(pool_prealloc_reserves_blocks_at_create),
	        cmocka_unit_test(pool_prealloc_over_max_bytes_is_rejected),
	        cmocka_unit_test(pool_bounded_alloc_fails_at_cap_and_counts_failure),
	        cmocka_unit_test(pool_bounded_alloc_succeeds_again_after_free),
	        cmocka_unit_test(pool_trim_unmaps_chunks_whose_blocks_are_all_free),
	        cmocka_unit_test(pool_trim_keeps_chunks_with_live_blocks),
	        cmocka_unit_test(pool_thread_exit_returns_cached_blocks_to_depot),
	        cmocka_unit_test(pool_cross_thread_frees_recycle_blocks_through_depot),
	        cmocka_unit_test(pool_stress_threads_never_share_a_block),
	        cmocka_unit_test(pool_id_of_destroyed_pool_is_reused_with_a_fresh_cache),
	        cmocka_unit_test(pool_create_fails_when_4096_pools_are_live),
	        cmocka_unit_test(pool_chunk_is_bound_to_the_growing_threads_node),
	        cmocka_unit_test(pool_hugepages_flag_gives_a_working_pool),
	        cmocka_unit_test(pool_steady_state_calls_no_malloc),
	        cmocka_unit_test(pool_steady_state_makes_no_system_call),
	        cmocka_unit_test(pool_alloc_poisons_new_blocks_with_0xaa),
	        cmocka_unit_test(pool_free_poisons_the_whole_block_with_0x55),
	        cmocka_unit_test(pool_fail_after_fails_allocations_past_n),
	        cmocka_unit_test(pool_double_free_aborts_naming_the_pool),
	        cmocka_unit_test(pool_free_of_foreign_pointer_aborts_naming_the_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
