/* SPDX-License-Identifier: MIT */
/*
 * sl_pool against general allocators: (a) alloc/free pairs on one thread, (b) 1000 allocs then
 * 1000 frees, (c) one thread allocates, an sl_ring SPSC carries the blocks to a second thread
 * which frees them. Allocators that replace malloc cannot share a process, so this file builds
 * once per anchor (bench/pool_bench.cmake: SL_BENCH_JEMALLOC, _MIMALLOC, _TCMALLOC; default
 * glibc); sl_pool and an empty "noop" allocator are in every build. bench/run-toolkit runs them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/pool.h>
#include <sluice/ring.h>

#include "bench_util.h"

#if defined(SL_BENCH_MIMALLOC)
#include <mimalloc.h>
#define ANCHOR_NAME "mimalloc"
#define ANCHOR_LIB "mimalloc"
#define anchor_malloc mi_malloc
#define anchor_free mi_free
#elif defined(SL_BENCH_TCMALLOC)
#include <gperftools/tcmalloc.h>
#define ANCHOR_NAME "tcmalloc"
#define ANCHOR_LIB "tcmalloc"
#define anchor_malloc tc_malloc
#define anchor_free tc_free
#elif defined(SL_BENCH_JEMALLOC)
/* Debian's jemalloc is built without a prefix: linking it replaces malloc and free. */
#define ANCHOR_NAME "jemalloc"
#define ANCHOR_LIB "jemalloc"
#define anchor_malloc malloc
#define anchor_free free
#else
#define ANCHOR_NAME "glibc"
#define ANCHOR_LIB "libc.so"
#define anchor_malloc malloc
#define anchor_free free
#endif

#define BATCH 64       /* ops per timed batch in the pairs and cross-thread tests */
#define ROUND 1000     /* allocs (then frees) per round in the batch test */
#define XRING_CAP 1024 /* SPSC ring between the allocating and the freeing thread */

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);

static struct sl_pool *g_pool;
static unsigned char g_noop_block[256] __attribute__((aligned(64)));

static inline void *
slpool_alloc(size_t sz)
{
	(void)sz;
	return sl_pool_alloc(g_pool);
}

static inline void
slpool_free(void *p)
{
	sl_pool_free(g_pool, p);
}

static inline void *
anchor_alloc(size_t sz)
{
	return anchor_malloc(sz);
}

static inline void
anchor_release(void *p)
{
	anchor_free(p);
}

static inline void *
noop_alloc(size_t sz)
{
	(void)sz;
	return g_noop_block;
}

static inline void
noop_free(void *p)
{
	(void)p;
}

/* Writes one word of a fresh block so the allocation has an observable use. */
static BU_ALWAYS_INLINE void
touch(void *p, uintptr_t v)
{
	bu_opaque(p);
	*(volatile uintptr_t *)p = v;
}

/* (a) <nb> timed batches of BATCH alloc/free pairs; <out>[i] = ns per pair of batch i.
 * Returns the mean ns per pair. */
static BU_ALWAYS_INLINE double
run_pairs(alloc_fn a, free_fn f, size_t sz, size_t nb, double *out)
{
	uint64_t total = 0;

	for (size_t b = 0; b < nb; b++) {
		uint64_t t0 = bu_ticks();
		for (unsigned i = 0; i < BATCH; i++) {
			void *p = a(sz);
			touch(p, i);
			f(p);
		}
		uint64_t t = bu_ticks() - t0;
		total += t;
		out[b] = bu_ticks_to_ns(t) / BATCH;
	}
	return bu_ticks_to_ns(total) / (double)(nb * BATCH);
}

/* (b) <nr> rounds of ROUND allocs then ROUND frees (in allocation order); <out>[i] = ns per
 * pair of round i. Returns the mean ns per pair. */
static BU_ALWAYS_INLINE double
run_batch(alloc_fn a, free_fn f, size_t sz, size_t nr, double *out)
{
	static void *blk[ROUND];
	uint64_t total = 0;

	for (size_t r = 0; r < nr; r++) {
		uint64_t t0 = bu_ticks();
		for (unsigned i = 0; i < ROUND; i++) {
			blk[i] = a(sz);
			touch(blk[i], i);
		}
		for (unsigned i = 0; i < ROUND; i++)
			f(blk[i]);
		uint64_t t = bu_ticks() - t0;
		total += t;
		if (out)
			out[r] = bu_ticks_to_ns(t) / ROUND;
	}
	return bu_ticks_to_ns(total) / (double)(nr * ROUND);
}

/* The untimed loops callgrind counts: <n> pairs, or <n>/ROUND rounds. */
static BU_ALWAYS_INLINE void
plain_pairs(alloc_fn a, free_fn f, size_t sz, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *p = a(sz);
		touch(p, i);
		f(p);
	}
}

static BU_ALWAYS_INLINE void
plain_batch(alloc_fn a, free_fn f, size_t sz, size_t n)
{
	static void *blk[ROUND];

	for (size_t r = 0; r < n / ROUND; r++) {
		for (unsigned i = 0; i < ROUND; i++) {
			blk[i] = a(sz);
			touch(blk[i], i);
		}
		for (unsigned i = 0; i < ROUND; i++)
			f(blk[i]);
	}
}

/* (c) Producer: allocates BATCH blocks (timed), then pushes them (untimed, waiting when full).
 * <out>[i] = ns per alloc of batch i. */
static BU_ALWAYS_INLINE void
run_xprod(alloc_fn a, size_t sz, size_t n, struct sl_ring_spsc *r, double *out)
{
	void *blk[BATCH];
	unsigned spins = 0;

	for (size_t done = 0, b = 0; done < n; done += BATCH, b++) {
		uint64_t t0 = bu_ticks();
		for (unsigned i = 0; i < BATCH; i++) {
			blk[i] = a(sz);
			touch(blk[i], done + i);
		}
		out[b] = bu_ticks_to_ns(bu_ticks() - t0) / BATCH;
		for (size_t k = 0; k < BATCH;) {
			size_t m = sl_ring_try_push_bulk_spsc(r, blk + k, BATCH - k);
			if (m == 0) {
				bu_wait(&spins);
			} else {
				k += m;
				spins = 0;
			}
		}
	}
}

/* (c) Consumer: pops BATCH blocks and reads a word of each (untimed, waiting when empty), then
 * frees them (timed). <out>[i] = ns per free of batch i. Returns the sum of the words read. */
static BU_ALWAYS_INLINE uintptr_t
run_xcons(free_fn f, size_t n, struct sl_ring_spsc *r, double *out)
{
	void *blk[BATCH];
	unsigned spins = 0;
	uintptr_t sum = 0;

	for (size_t done = 0, b = 0; done < n; done += BATCH, b++) {
		for (size_t k = 0; k < BATCH;) {
			size_t m = sl_ring_try_pop_bulk_spsc(r, blk + k, BATCH - k);
			if (m == 0) {
				bu_wait(&spins);
				continue;
			}
			for (size_t i = k; i < k + m; i++)
				sum += *(volatile uintptr_t *)blk[i];
			k += m;
			spins = 0;
		}
		uint64_t t0 = bu_ticks();
		for (unsigned i = 0; i < BATCH; i++)
			f(blk[i]);
		out[b] = bu_ticks_to_ns(bu_ticks() - t0) / BATCH;
	}
	return sum;
}

struct impl {
	const char *name;
	double (*pairs)(size_t sz, size_t nb, double *out);
	double (*batch)(size_t sz, size_t nr, double *out);
	void (*plain_pairs)(size_t sz, size_t n);
	void (*plain_batch)(size_t sz, size_t n);
	void (*xprod)(size_t sz, size_t n, struct sl_ring_spsc *r, double *out);
	uintptr_t (*xcons)(size_t n, struct sl_ring_spsc *r, double *out);
	int (*setup)(size_t sz);
	void (*teardown)(void);
};

/* One set of non-inlined loops per allocator, each calling the allocator directly. */
#define BENCH_IMPL(id, A, F)                                                                       \
	static BU_NOINLINE double id##_pairs(size_t sz, size_t nb, double *out)                    \
	{                                                                                          \
		return run_pairs(A, F, sz, nb, out);                                               \
	}                                                                                          \
	static BU_NOINLINE double id##_batch(size_t sz, size_t nr, double *out)                    \
	{                                                                                          \
		return run_batch(A, F, sz, nr, out);                                               \
	}                                                                                          \
	static BU_NOINLINE void id##_plain_pairs(size_t sz, size_t n)                              \
	{                                                                                          \
		plain_pairs(A, F, sz, n);                                                          \
	}                                                                                          \
	static BU_NOINLINE void id##_plain_batch(size_t sz, size_t n)                              \
	{                                                                                          \
		plain_batch(A, F, sz, n);                                                          \
	}                                                                                          \
	static BU_NOINLINE void id##_xprod(size_t sz, size_t n, struct sl_ring_spsc *r,            \
	                                   double *out)                                            \
	{                                                                                          \
		run_xprod(A, sz, n, r, out);                                                       \
	}                                                                                          \
	static BU_NOINLINE uintptr_t id##_xcons(size_t n, struct sl_ring_spsc *r, double *out)     \
	{                                                                                          \
		return run_xcons(F, n, r, out);                                                    \
	}

BENCH_IMPL(slpool, slpool_alloc, slpool_free)
BENCH_IMPL(anchor, anchor_alloc, anchor_release)
BENCH_IMPL(noop, noop_alloc, noop_free)

static int
slpool_setup(size_t sz)
{
	struct sl_pool_opts o = {.name = "bench", .block_size = sz};

	return sl_pool_create(&g_pool, &o);
}

static void
slpool_teardown(void)
{
	sl_pool_destroy(g_pool);
	g_pool = NULL;
}

static int
nothing_setup(size_t sz)
{
	(void)sz;
	return 0;
}

static void
nothing_teardown(void)
{
}

#define IMPL_ROW(label, id, su, td)                                                                \
	{                                                                                          \
		label, id##_pairs, id##_batch, id##_plain_pairs, id##_plain_batch, id##_xprod,     \
		        id##_xcons, su, td                                                         \
	}

static const struct impl g_impls[] = {
        IMPL_ROW("sl_pool", slpool, slpool_setup, slpool_teardown),
        IMPL_ROW(ANCHOR_NAME, anchor, nothing_setup, nothing_teardown),
        IMPL_ROW("noop", noop, nothing_setup, nothing_teardown),
};

struct xarg {
	const struct impl *im;
	struct sl_ring_spsc *ring;
	pthread_barrier_t *start;
	size_t sz, n;
	double *out;
	uintptr_t sum;
	uint64_t t_start, t_end; /* CLOCK_MONOTONIC_RAW ns */
};

static void *
xprod_main(void *arg)
{
	struct xarg *x = arg;

	bu_pin(0);
	pthread_barrier_wait(x->start);
	x->t_start = bu_mono_ns();
	x->im->xprod(x->sz, x->n, x->ring, x->out);
	x->t_end = bu_mono_ns();
	return NULL;
}

static void *
xcons_main(void *arg)
{
	struct xarg *x = arg;

	bu_pin(1);
	pthread_barrier_wait(x->start);
	x->t_start = bu_mono_ns();
	x->sum = x->im->xcons(x->n, x->ring, x->out);
	x->t_end = bu_mono_ns();
	return NULL;
}

/* One cross-thread run of <n> blocks. Returns wall ns per block, fills both sample arrays. */
static double
xthread_once(const struct impl *im, size_t sz, size_t n, double *prod_out, double *cons_out)
{
	pthread_barrier_t start;
	pthread_t tp, tc;
	struct sl_ring_spsc *r;
	struct xarg p = {0}, c = {0};

	if (sl_ring_spsc_create(&r, XRING_CAP) != 0) {
		fprintf(stderr, "sl_ring_spsc_create failed\n");
		exit(1);
	}
	pthread_barrier_init(&start, NULL, 2);
	p = (struct xarg){.im = im, .ring = r, .start = &start, .sz = sz, .n = n, .out = prod_out};
	c = (struct xarg){.im = im, .ring = r, .start = &start, .sz = sz, .n = n, .out = cons_out};
	if (pthread_create(&tp, NULL, xprod_main, &p) != 0 ||
	    pthread_create(&tc, NULL, xcons_main, &c) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	pthread_barrier_destroy(&start);
	sl_ring_spsc_destroy(r);
	/* every block carried the index it was allocated with, except noop's shared block */
	if (im->xcons != noop_xcons && c.sum != (uintptr_t)(n * (n - 1) / 2)) {
		fprintf(stderr, "%s: cross-thread checksum mismatch\n", im->name);
		exit(1);
	}
	uint64_t t0 = p.t_start < c.t_start ? p.t_start : c.t_start;
	uint64_t t1 = p.t_end > c.t_end ? p.t_end : c.t_end;
	return (double)(t1 - t0) / (double)n;
}

static const struct impl *
impl_find(const char *name)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(g_impls); i++)
		if (strcmp(g_impls[i].name, name) == 0)
			return &g_impls[i];
	return NULL;
}

/* Refuses to run if the anchor's malloc does not come from the library this build measures
 * (jemalloc only replaces malloc when the link order is right). */
static void
check_anchor_linked(void)
{
	Dl_info info;
	void *(*m)(size_t) = anchor_malloc;

	if (dladdr((void *)m, &info) == 0 || info.dli_fname == NULL ||
	    strstr(info.dli_fname, ANCHOR_LIB) == NULL) {
		fprintf(stderr, "%s: the allocation function is not from %s\n", ANCHOR_NAME,
		        ANCHOR_LIB);
		exit(1);
	}
	printf("# %s build: allocation function resolves to %s\n", ANCHOR_NAME, info.dli_fname);
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: pool_bench [--impl NAME]... [--sizes 64,256] [--tests "
	        "pairs,batch,xthread]\n"
	        "                  [--reps N] [--ops N] [--xops N] [--callgrind]\n"
	        "impls in this build: sl_pool " ANCHOR_NAME " noop\n"
	        "--callgrind: run the untimed loop of the first test and size once, with "
	        "callgrind\n"
	        "collection toggled around it (valgrind --tool=callgrind --collect-atstart=no)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const struct impl *sel[8];
	size_t nsel = 0, sizes[8], nsizes = 0, ops = 1000000, xops = 1000000;
	unsigned reps = 5;
	bool callgrind = false;
	char tests[64] = "pairs,batch,xthread";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--callgrind") == 0) {
			callgrind = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--impl") == 0) {
			if (nsel == SL_ARRAY_SIZE(sel) || (sel[nsel++] = impl_find(v)) == NULL)
				usage();
		} else if (strcmp(a, "--sizes") == 0) {
			for (char *s = (char *)v; *s && nsizes < SL_ARRAY_SIZE(sizes);) {
				sizes[nsizes++] = strtoul(s, &s, 10);
				s += *s == ',';
			}
		} else if (strcmp(a, "--tests") == 0) {
			snprintf(tests, sizeof(tests), "%s", v);
		} else if (strcmp(a, "--reps") == 0) {
			reps = (unsigned)strtoul(v, NULL, 10);
		} else if (strcmp(a, "--ops") == 0) {
			ops = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--xops") == 0) {
			xops = strtoul(v, NULL, 10);
		} else {
			usage();
		}
	}
	if (nsel == 0)
		for (size_t i = 0; i < SL_ARRAY_SIZE(g_impls); i++)
			sel[nsel++] = &g_impls[i];
	if (nsizes == 0) {
		sizes[0] = 64;
		sizes[1] = 256;
		nsizes = 2;
	}
	if (reps == 0 || reps > BU_MAX_REPS || ops < ROUND || xops < BATCH)
		usage();
	ops = ops / ROUND * ROUND;
	xops = xops / BATCH * BATCH;
	check_anchor_linked();

	if (callgrind) {
		const struct impl *im = sel[0];
		bool batch = strncmp(tests, "batch", 5) == 0;
		if (im->setup(sizes[0]) != 0)
			return 1;
		/* warm-up outside the collected region: grow the pool, fill the caches */
		(batch ? im->plain_batch : im->plain_pairs)(sizes[0], ops / 10 / ROUND * ROUND);
		bu_collect_toggle();
		(batch ? im->plain_batch : im->plain_pairs)(sizes[0], ops);
		bu_collect_toggle();
		im->teardown();
		printf("C\tpool\t%s/%zu\t%s\t%zu\n", batch ? "batch" : "pairs", sizes[0], im->name,
		       ops);
		return 0;
	}

	bu_calibrate();
	bu_pin(0);
	size_t nb = ops / BATCH, nr = ops / ROUND, xb = xops / BATCH;
	double *s1 = malloc(sizeof(double) * (nb > xb ? nb : xb));
	double *s2 = malloc(sizeof(double) * xb);
	if (s1 == NULL || s2 == NULL)
		return 1;
	printf("# method: rdtsc around batches of %d pairs (pairs), rounds of %d allocs + %d frees "
	       "(batch), batches of %d allocs / %d frees (xthread); per-op = batch time / ops in "
	       "it; "
	       "%u repetition(s) in this process after one warm-up; tsc %.4f ns/tick\n",
	       BATCH, ROUND, ROUND, BATCH, BATCH, reps, bu_ns_per_tick);

	for (size_t si = 0; si < nsizes; si++) {
		for (size_t k = 0; k < nsel; k++) {
			const struct impl *im = sel[k];
			size_t sz = sizes[si];
			char kase[32];
			if (im->setup(sz) != 0) {
				fprintf(stderr, "%s: setup failed for %zu bytes\n", im->name, sz);
				return 1;
			}
			if (strstr(tests, "pairs")) {
				struct bu_series s = {0};
				im->pairs(sz, nb / 10 + 1, s1);
				for (unsigned r = 0; r < reps; r++) {
					double mean = im->pairs(sz, nb, s1);
					bu_series_add(&s, mean, s1, nb);
				}
				snprintf(kase, sizeof(kase), "pairs/%zu", sz);
				bu_series_print("pool", kase, im->name, &s);
			}
			if (strstr(tests, "batch")) {
				struct bu_series s = {0};
				im->batch(sz, nr / 10 + 1, s1);
				for (unsigned r = 0; r < reps; r++) {
					double mean = im->batch(sz, nr, s1);
					bu_series_add(&s, mean, s1, nr);
				}
				snprintf(kase, sizeof(kase), "batch/%zu", sz);
				bu_series_print("pool", kase, im->name, &s);
			}
			if (strstr(tests, "xthread")) {
				struct bu_series sw = {0}, sf = {0}, sa = {0};
				xthread_once(im, sz, xops / 10 / BATCH * BATCH + BATCH, s1, s2);
				for (unsigned r = 0; r < reps; r++) {
					double wall = xthread_once(im, sz, xops, s1, s2);
					double ma = 0, mf = 0;
					for (size_t b = 0; b < xb; b++) {
						ma += s1[b];
						mf += s2[b];
					}
					bu_series_add(&sw, wall, NULL, 0);
					bu_series_add(&sf, mf / (double)xb, s2, xb);
					bu_series_add(&sa, ma / (double)xb, s1, xb);
				}
				snprintf(kase, sizeof(kase), "xwall/%zu", sz);
				bu_series_print("pool", kase, im->name, &sw);
				snprintf(kase, sizeof(kase), "xfree/%zu", sz);
				bu_series_print("pool", kase, im->name, &sf);
				snprintf(kase, sizeof(kase), "xalloc/%zu", sz);
				bu_series_print("pool", kase, im->name, &sa);
			}
			im->teardown();
		}
	}
	free(s1);
	free(s2);
	return 0;
}
