/* SPDX-License-Identifier: MIT */
/*
 * Stress tests of sl_ring: N producer and M consumer threads move a bounded number of numbered
 * items through a small ring. Afterwards every item must have been delivered exactly once (a
 * seen-map) and every consumer must have seen each producer's items in increasing order. Built
 * to run under TSan too, which also checks the ring's memory ordering on the way.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sluice/ring.h>

/* Items per producer: fewer under sanitizers and in debug builds, which run far slower. */
#if defined(SL_SANITIZE_THREAD) || defined(SL_SANITIZE_ADDRESS) || defined(SL_DEBUG)
#define ITEMS_PER_PRODUCER 100000
#else
#define ITEMS_PER_PRODUCER 200000
#endif
#define MAX_THREADS 4
#define BULK_MAX 8
/* Failed attempts in a row before a thread gives up and reports a stall (bounds every loop). */
#define MAX_FAILS_IN_A_ROW 2000000UL

enum stress_mode {
	STRESS_TRY,      /* try_ calls, alternating single and bulk, with spin-then-yield backoff */
	STRESS_BLOCKING, /* the blocking helpers only */
};

struct stress {
	struct sl_ring_spsc *spsc; /* exactly one of spsc, mpmc is set */
	struct sl_ring_mpmc *mpmc;
	enum stress_mode mode;
	unsigned producers;
	unsigned consumers;
	size_t total;                   /* producers * ITEMS_PER_PRODUCER */
	_Atomic size_t consumed;        /* items taken so far, all consumers */
	_Atomic unsigned char *seen;    /* per item id: times delivered (mod 256) */
	_Atomic unsigned duplicates;    /* items delivered more than once */
	_Atomic unsigned out_of_order;  /* items older than one seen before from that producer */
	_Atomic unsigned bad_items;     /* ids outside [0, total) */
	_Atomic unsigned stalls;        /* threads that hit MAX_FAILS_IN_A_ROW */
	_Atomic unsigned consumers_out; /* consumers that have finished */
};

struct worker {
	struct stress *s;
	unsigned index;
	pthread_t thread;
};

/* Item <seq> of producer <p>, as a pointer (item 0 of producer 0 is NULL). */
static void *
item_of(unsigned p, size_t seq)
{
	return (void *)(uintptr_t)(p * (size_t)ITEMS_PER_PRODUCER + seq);
}

/* Spin a little, then yield: with more threads than cores the one we wait for needs the CPU. */
static void
backoff(unsigned long fails)
{
	if (fails < 64)
		return;
	sched_yield();
}

static size_t
push_some(struct stress *s, void *const *items, size_t n)
{
	if (s->spsc != NULL)
		return n == 1 ? sl_ring_try_push_spsc(s->spsc, items[0])
		              : sl_ring_try_push_bulk_spsc(s->spsc, items, n);
	return n == 1 ? sl_ring_try_push_mpmc(s->mpmc, items[0])
	              : sl_ring_try_push_bulk_mpmc(s->mpmc, items, n);
}

static size_t
pop_some(struct stress *s, void **items, size_t n)
{
	if (s->spsc != NULL)
		return n == 1 ? sl_ring_try_pop_spsc(s->spsc, items)
		              : sl_ring_try_pop_bulk_spsc(s->spsc, items, n);
	return n == 1 ? sl_ring_try_pop_mpmc(s->mpmc, items)
	              : sl_ring_try_pop_bulk_mpmc(s->mpmc, items, n);
}

static void *
producer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	void *batch[BULK_MAX];
	unsigned long fails = 0;
	size_t seq = 0, n, k, done;

	while (seq < ITEMS_PER_PRODUCER) {
		if (s->mode == STRESS_BLOCKING) {
			if (s->spsc != NULL)
				sl_ring_push_spsc(s->spsc, item_of(w->index, seq));
			else
				sl_ring_push_mpmc(s->mpmc, item_of(w->index, seq));
			seq++;
			continue;
		}
		/* sizes 1..BULK_MAX in turn, so single and bulk calls interleave */
		n = 1 + seq % BULK_MAX;
		if (n > ITEMS_PER_PRODUCER - seq)
			n = ITEMS_PER_PRODUCER - seq;
		for (k = 0; k < n; k++)
			batch[k] = item_of(w->index, seq + k);
		done = push_some(s, batch, n);
		seq += done;
		if (done != 0) {
			fails = 0;
		} else if (++fails == MAX_FAILS_IN_A_ROW) {
			/* relaxed: read after join */
			atomic_fetch_add_explicit(&s->stalls, 1, memory_order_relaxed);
			break;
		} else {
			backoff(fails);
		}
	}
	return NULL;
}

/* Checks and records one delivered item; <last> holds, per producer, 1 + the last seq seen. */
static void
consume(struct stress *s, void *it, size_t *last)
{
	size_t id = (size_t)(uintptr_t)it;
	size_t p = id / ITEMS_PER_PRODUCER, seq = id % ITEMS_PER_PRODUCER;

	/* relaxed below: counters and the seen-map are only read after every thread is joined */
	if (id >= s->total) {
		atomic_fetch_add_explicit(&s->bad_items, 1, memory_order_relaxed);
		return;
	}
	if (atomic_fetch_add_explicit(&s->seen[id], 1, memory_order_relaxed) != 0)
		atomic_fetch_add_explicit(&s->duplicates, 1, memory_order_relaxed);
	if (seq + 1 <= last[p])
		atomic_fetch_add_explicit(&s->out_of_order, 1, memory_order_relaxed);
	last[p] = seq + 1;
}

static void *
consumer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	size_t last[MAX_THREADS] = {0};
	void *batch[BULK_MAX];
	unsigned long fails = 0;
	size_t quota, taken = 0, round = 0, n, k;

	if (s->mode == STRESS_BLOCKING) {
		/* a blocking pop waits for ever, so each consumer takes an exact share */
		quota = s->total / s->consumers + (w->index < s->total % s->consumers);
		for (k = 0; k < quota; k++)
			consume(s,
			        s->spsc != NULL ? sl_ring_pop_spsc(s->spsc)
			                        : sl_ring_pop_mpmc(s->mpmc),
			        last);
		goto out;
	}
	/* relaxed: only decides when to stop; the items themselves come through the ring */
	while (atomic_load_explicit(&s->consumed, memory_order_relaxed) < s->total) {
		n = 1 + round++ % BULK_MAX;
		taken = pop_some(s, batch, n);
		for (k = 0; k < taken; k++)
			consume(s, batch[k], last);
		if (taken != 0) {
			fails = 0;
			/* relaxed: a counter, see above */
			atomic_fetch_add_explicit(&s->consumed, taken, memory_order_relaxed);
		} else if (++fails == MAX_FAILS_IN_A_ROW) {
			/* relaxed: read after join */
			atomic_fetch_add_explicit(&s->stalls, 1, memory_order_relaxed);
			break;
		} else {
			backoff(fails);
		}
	}
out:
	/* relaxed: read after join */
	atomic_fetch_add_explicit(&s->consumers_out, 1, memory_order_relaxed);
	return NULL;
}

static void
run_stress(struct stress *s, unsigned producers, unsigned consumers, enum stress_mode mode)
{
	struct worker w[2 * MAX_THREADS];
	unsigned i, n = producers + consumers;
	size_t id, never = 0, twice = 0;

	assert_true(producers <= MAX_THREADS && consumers <= MAX_THREADS);
	s->mode = mode;
	s->producers = producers;
	s->consumers = consumers;
	s->total = (size_t)producers * ITEMS_PER_PRODUCER;
	s->seen = calloc(s->total, sizeof(s->seen[0]));
	assert_non_null(s->seen);
	for (i = 0; i < n; i++) {
		w[i].s = s;
		w[i].index = i < producers ? i : i - producers;
		assert_int_equal(0, pthread_create(&w[i].thread, NULL,
		                                   i < producers ? producer_main : consumer_main,
		                                   &w[i]));
	}
	for (i = 0; i < n; i++)
		assert_int_equal(0, pthread_join(w[i].thread, NULL));

	for (id = 0; id < s->total; id++) {
		/* relaxed: every writer has been joined */
		unsigned char v = atomic_load_explicit(&s->seen[id], memory_order_relaxed);
		never += v == 0;
		twice += v > 1;
	}
	free((void *)s->seen);
	assert_int_equal(0, atomic_load(&s->stalls));
	assert_int_equal(0, atomic_load(&s->bad_items));
	assert_int_equal(0, atomic_load(&s->duplicates));
	assert_int_equal(0, atomic_load(&s->out_of_order));
	assert_int_equal(0, never);
	assert_int_equal(0, twice);
	assert_int_equal(consumers, atomic_load(&s->consumers_out));
}

static void
ring_spsc_delivers_each_item_once_in_order_1x1(void **state)
{
	struct stress s = {0};

	(void)state;
	assert_int_equal(0, sl_ring_spsc_create(&s.spsc, 16));
	run_stress(&s, 1, 1, STRESS_TRY);
	sl_ring_spsc_destroy(s.spsc);
}

static void
ring_spsc_blocking_helpers_deliver_each_item_once_in_order_1x1(void **state)
{
	struct stress s = {0};

	(void)state;
	assert_int_equal(0, sl_ring_spsc_create(&s.spsc, 4));
	run_stress(&s, 1, 1, STRESS_BLOCKING);
	sl_ring_spsc_destroy(s.spsc);
}

static void
ring_mpmc_delivers_each_item_once_in_producer_order_3x3(void **state)
{
	struct stress s = {0};

	(void)state;
	assert_int_equal(0, sl_ring_mpmc_create(&s.mpmc, 16));
	run_stress(&s, 3, 3, STRESS_TRY);
	sl_ring_mpmc_destroy(s.mpmc);
}

static void
ring_mpmc_delivers_each_item_once_through_tiny_ring_2x3(void **state)
{
	struct stress s = {0};

	(void)state;
	assert_int_equal(0, sl_ring_mpmc_create(&s.mpmc, 2));
	run_stress(&s, 2, 3, STRESS_TRY);
	sl_ring_mpmc_destroy(s.mpmc);
}

static void
ring_mpmc_blocking_helpers_deliver_each_item_once_2x2(void **state)
{
	struct stress s = {0};

	(void)state;
	assert_int_equal(0, sl_ring_mpmc_create(&s.mpmc, 8));
	run_stress(&s, 2, 2, STRESS_BLOCKING);
	sl_ring_mpmc_destroy(s.mpmc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ring_spsc_delivers_each_item_once_in_order_1x1),
	        cmocka_unit_test(ring_spsc_blocking_helpers_deliver_each_item_once_in_order_1x1),
	        cmocka_unit_test(ring_mpmc_delivers_each_item_once_in_producer_order_3x3),
	        cmocka_unit_test(ring_mpmc_delivers_each_item_once_through_tiny_ring_2x3),
	        cmocka_unit_test(ring_mpmc_blocking_helpers_deliver_each_item_once_2x2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
