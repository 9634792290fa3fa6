// SPDX-License-Identifier: MIT
/*
 * Stress tests of sl_srctab: 4 threads share one table, each doing a bounded number of acquires
 * over a few sources (or, with churn, thousands through a tiny table), holding a few slots and
 * releasing the oldest. Afterwards the counts must add up: no source ever held more than its
 * limit, with time frozen each source got exactly its burst, every acquire was released, and the
 * table is back to zero connections. Built to run under TSan too, which checks the set locks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sluice/srctab.h>

/* Operations per thread: fewer under sanitizers and in debug builds, which run far slower. */
#if defined(SL_SANITIZE_THREAD) || defined(SL_SANITIZE_ADDRESS) || defined(SL_DEBUG)
#define OPS 50000
#else
#define OPS 200000
#endif
#define THREADS 4
#define HOLD 8 /* slots a thread holds at most; it releases the oldest to take another */
#define SEC 1000000000ULL
#define T0 (1000 * SEC)

struct stress {
	struct sl_srctab *t;
	struct sl_srctab_limits lim;
	uint32_t sources;       /* distinct source addresses used */
	bool advance_clock;     /* now from a shared counter stepping STEP_NS; else frozen at T0 */
	_Atomic uint64_t now;   /* the shared clock */
	_Atomic uint32_t *held; /* per source: slots held right now, by the threads' account */
	_Atomic uint64_t *allowed;   /* per source */
	_Atomic uint64_t over_limit; /* times a source's held count went above max_conns */
	_Atomic uint64_t verdicts[4];
	_Atomic uint64_t bad_verdicts; /* neither a verdict nor expected */
	_Atomic uint64_t releases;
	_Atomic uint64_t max_now;
};

/* The shared clock moves 1 us per operation, so over a whole run (THREADS * OPS us, < 1 s) no
 * thread's reading can lag by more than SL_TBUCKET_MAX_SKEW_NS: lags are all skew. */
#define STEP_NS 1000
static_assert((uint64_t)THREADS * OPS * STEP_NS < SL_TBUCKET_MAX_SKEW_NS, "a run spans < 1 s");

struct worker {
	struct stress *s;
	unsigned index;
	pthread_t thread;
};

static struct sl_addr
source(uint32_t i)
{
	struct sl_addr a = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)(1000 + i));
	sin->sin_addr.s_addr = htonl(0x0a000000 + i * 3);
	return a;
}

static void
release_one(struct stress *s, struct sl_srctab_slot slot, uint32_t src)
{
	/* relaxed: a tally compared after join; the table's own lock orders the slot itself */
	atomic_fetch_sub_explicit(&s->held[src], 1, memory_order_relaxed);
	sl_srctab_release(s->t, slot);
	/* relaxed: read after join */
	atomic_fetch_add_explicit(&s->releases, 1, memory_order_relaxed);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct sl_srctab_slot slot[HOLD];
	uint32_t src_of[HOLD], n = 0, first = 0, src;
	uint64_t x = 0x9e3779b97f4a7c15ULL * (w->index + 1), now = T0, prev;
	struct sl_addr a;
	int v;

	for (unsigned op = 0; op < OPS; op++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		src = (uint32_t)(x % s->sources);
		a = source(src);
		if (s->advance_clock) {
			/* relaxed: the clock value is data; the table's set locks do the ordering
			 */
			now = atomic_fetch_add_explicit(&s->now, STEP_NS, memory_order_relaxed);
		}
		if (n == HOLD) {
			release_one(s, slot[first], src_of[first]);
			first = (first + 1) % HOLD;
			n--;
		}
		v = sl_srctab_acquire(s->t, &a, &s->lim, now, &slot[(first + n) % HOLD]);
		/* relaxed below: tallies, read after join */
		if (v < 0 || v > SL_SRCTAB_TABLE_FULL) {
			atomic_fetch_add_explicit(&s->bad_verdicts, 1, memory_order_relaxed);
			continue;
		}
		atomic_fetch_add_explicit(&s->verdicts[v], 1, memory_order_relaxed);
		if (v != SL_SRCTAB_ALLOWED)
			continue;
		atomic_fetch_add_explicit(&s->allowed[src], 1, memory_order_relaxed);
		prev = atomic_fetch_add_explicit(&s->held[src], 1, memory_order_relaxed);
		/* our tally rises after the table's count and falls before it, so it can never
		 * be above the table's, which must never be above the limit */
		if (s->lim.max_conns != 0 && prev + 1 > s->lim.max_conns)
			atomic_fetch_add_explicit(&s->over_limit, 1, memory_order_relaxed);
		src_of[(first + n) % HOLD] = src;
		n++;
		if (s->advance_clock) {
			/* relaxed: a running maximum, read after join */
			prev = atomic_load_explicit(&s->max_now, memory_order_relaxed);
			while (prev < now && !atomic_compare_exchange_weak_explicit(
			                             &s->max_now, &prev, now, memory_order_relaxed,
			                             memory_order_relaxed))
				;
		}
	}
	while (n > 0) {
		release_one(s, slot[first], src_of[first]);
		first = (first + 1) % HOLD;
		n--;
	}
	return NULL;
}

/* Runs THREADS workers over <s>, then checks what holds for every configuration. */
static void
run(struct stress *s, size_t capacity)
{
	struct sl_srctab_opts o = {.capacity = capacity};
	struct worker w[THREADS];
	struct sl_srctab_stats st;
	uint64_t total = 0;

	assert_int_equal(0, sl_srctab_create(&s->t, &o));
	s->held = calloc(s->sources, sizeof(s->held[0]));
	s->allowed = calloc(s->sources, sizeof(s->allowed[0]));
	assert_non_null(s->held);
	assert_non_null(s->allowed);
	atomic_init(&s->now, T0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i].s = s;
		w[i].index = i;
		assert_int_equal(0, pthread_create(&w[i].thread, NULL, worker_main, &w[i]));
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(0, pthread_join(w[i].thread, NULL));

	assert_int_equal(0, atomic_load(&s->bad_verdicts));
	for (unsigned v = 0; v < 4; v++)
		total += atomic_load(&s->verdicts[v]);
	assert_int_equal((uint64_t)THREADS * OPS, total);
	assert_int_equal(0, atomic_load(&s->over_limit));
	assert_int_equal(atomic_load(&s->verdicts[SL_SRCTAB_ALLOWED]), atomic_load(&s->releases));
	sl_srctab_stats_get(s->t, atomic_load(&s->now), &st);
	assert_int_equal(0, st.conns);
	assert_int_equal(0, st.pinned);
	assert_int_equal(atomic_load(&s->verdicts[SL_SRCTAB_TABLE_FULL]), st.table_full);
}

static void
finish(struct stress *s)
{
	sl_srctab_destroy(s->t);
	free((void *)s->held);
	free((void *)s->allowed);
}

static void
srctab_concurrent_limit_holds_across_threads(void **state)
{
	struct stress s = {.sources = 3};
	struct sl_srctab_slot slot;
	struct sl_addr a;

	(void)state;
	s.lim.max_conns = 3;
	assert_int_equal(0, sl_tbucket_rate_init(&s.lim.rate, 0, 0));
	run(&s, 64);
	assert_true(atomic_load(&s.verdicts[SL_SRCTAB_OVER_CONNS]) > 0);
	/* every count went back to zero: each source can open exactly 3 again */
	for (uint32_t i = 0; i < s.sources; i++) {
		a = source(i);
		for (int k = 0; k < 3; k++)
			assert_int_equal(SL_SRCTAB_ALLOWED,
			                 sl_srctab_acquire(s.t, &a, &s.lim, T0, &slot));
		assert_int_equal(SL_SRCTAB_OVER_CONNS,
		                 sl_srctab_acquire(s.t, &a, &s.lim, T0, &slot));
	}
	finish(&s);
}

static void
srctab_each_source_gets_exactly_its_burst_across_threads_with_time_frozen(void **state)
{
	struct stress s = {.sources = 5};

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&s.lim.rate, 10, 1000));
	run(&s, 64);
	for (uint32_t i = 0; i < s.sources; i++)
		assert_int_equal(1000, atomic_load(&s.allowed[i]));
	assert_int_equal(5 * 1000, atomic_load(&s.verdicts[SL_SRCTAB_ALLOWED]));
	finish(&s);
}

static void
srctab_rate_limit_holds_across_threads_with_a_moving_clock(void **state)
{
	struct stress s = {.sources = 4, .advance_clock = true};
	uint64_t bound;

	(void)state;
	/* 20000/s, burst 50: about one token per 5 shared-clock steps, per source */
	assert_int_equal(0, sl_tbucket_rate_init(&s.lim.rate, 20000, 50));
	run(&s, 64);
	/* no source beats the bucket: burst + rate * (latest now used - start) */
	bound = 50 + (atomic_load(&s.max_now) - T0) * 20000 / SEC;
	for (uint32_t i = 0; i < s.sources; i++)
		assert_true(atomic_load(&s.allowed[i]) <= bound);
	assert_true(atomic_load(&s.verdicts[SL_SRCTAB_OVER_RATE]) > 0);
	finish(&s);
}

static void
srctab_counts_add_up_with_thousands_of_sources_churning_a_tiny_table(void **state)
{
	struct stress s = {.sources = 5000, .advance_clock = true};

	(void)state;
	s.lim.max_conns = 2;
	assert_int_equal(0, sl_tbucket_rate_init(&s.lim.rate, 1000, 3));
	/* one set of 7: a thread holding 8 slots of distinct sources fills it even alone, so
	 * entries change hands and TABLE_FULL happens whatever the scheduling */
	run(&s, SL_SRCTAB_WAYS);
	assert_true(atomic_load(&s.verdicts[SL_SRCTAB_TABLE_FULL]) > 0);
	finish(&s);
}

/* ---- bandwidth: one source's byte bucket shared by every thread ---- */

struct bytes_stress {
	struct sl_srctab *t;
	struct sl_tbucket_rate r;
	struct sl_srctab_slot slot[THREADS];
	_Atomic uint64_t now;   /* the shared clock, STEP_NS per operation */
	_Atomic uint64_t net;   /* bytes taken less bytes given back, all threads */
	_Atomic uint64_t taken; /* bytes taken */
};

struct bytes_worker {
	struct bytes_stress *s;
	unsigned index;
	pthread_t thread;
};

static void *
bytes_worker_main(void *arg)
{
	struct bytes_worker *w = arg;
	struct bytes_stress *s = w->s;
	unsigned seed = w->index * 7919u + 1;

	for (unsigned i = 0; i < OPS; i++) {
		/* relaxed: a clock value; the set lock orders the bucket */
		uint64_t now =
		        T0 + atomic_fetch_add_explicit(&s->now, STEP_NS, memory_order_relaxed);
		uint32_t want = 1 + rand_r(&seed) % 65536;
		uint32_t n = sl_srctab_bytes_take(s->t, s->slot[w->index], 0, &s->r, now, want);
		uint32_t back = n == 0 ? 0 : (uint32_t)rand_r(&seed) % (n + 1);

		/* give back part of it, as a forwarder that read less than its grant */
		if (back > 0)
			sl_srctab_bytes_put(s->t, s->slot[w->index], 0, &s->r, back);
		/* relaxed: totals read after the joins */
		atomic_fetch_add_explicit(&s->taken, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->net, n - back, memory_order_relaxed);
	}
	return NULL;
}

static void
srctab_byte_bucket_of_one_source_holds_its_rate_across_threads(void **state)
{
	struct sl_srctab_opts o = {.capacity = 64, .seed = {1, 2}, .bandwidth = true};
	struct sl_srctab_limits lim = {0};
	struct sl_addr a = source(7);
	static struct bytes_stress s;
	struct bytes_worker w[THREADS];
	uint64_t elapsed;

	(void)state;
	assert_int_equal(0, sl_srctab_create(&s.t, &o));
	/* 100 MB/s with a 1 MB burst: the takers ask for far more than that */
	assert_int_equal(0, sl_tbucket_rate_init(&s.r, 100000000, 1000000));
	atomic_init(&s.now, 0);
	atomic_init(&s.net, 0);
	atomic_init(&s.taken, 0);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(SL_SRCTAB_ALLOWED,
		                 sl_srctab_acquire(s.t, &a, &lim, T0, &s.slot[i]));
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct bytes_worker){.s = &s, .index = i};
		assert_int_equal(0, pthread_create(&w[i].thread, NULL, bytes_worker_main, &w[i]));
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(0, pthread_join(w[i].thread, NULL));
	/* relaxed: after the joins */
	elapsed = atomic_load_explicit(&s.now, memory_order_relaxed);
	/* no race made bytes: what was kept is at most the burst and what the time earned ... */
	assert_true(atomic_load_explicit(&s.net, memory_order_relaxed) <=
	            1000000 + elapsed * 100000000 / SEC);
	/* ... and the bucket was used: far more than the burst went through */
	assert_true(atomic_load_explicit(&s.taken, memory_order_relaxed) > 2000000);
	for (unsigned i = 0; i < THREADS; i++)
		sl_srctab_release(s.t, s.slot[i]);
	sl_srctab_destroy(s.t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(srctab_concurrent_limit_holds_across_threads),
	        cmocka_unit_test(
	                srctab_each_source_gets_exactly_its_burst_across_threads_with_time_frozen),
	        cmocka_unit_test(srctab_rate_limit_holds_across_threads_with_a_moving_clock),
	        cmocka_unit_test(
	                srctab_counts_add_up_with_thousands_of_sources_churning_a_tiny_table),
	        cmocka_unit_test(srctab_byte_bucket_of_one_source_holds_its_rate_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
