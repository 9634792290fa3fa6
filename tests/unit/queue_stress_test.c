/* SPDX-License-Identifier: MIT */
/*
 * Stress tests of sl_queue: N producer and M consumer threads, each a participant of the
 * queue's epoch domain (online for the run, a quiescent point every few operations), move a
 * bounded number of numbered items through a queue of tiny segments, so that segments are
 * linked, retired, made to wait for a small domain and reused all the time. Afterwards every
 * item must have been delivered exactly once and every consumer must have seen each producer's
 * items in increasing order. Some runs have consumers that take batches
 * (sl_queue_dequeue_batch) next to ones that take single items. Built to run under TSan too,
 * which also checks the orderings.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sluice/epoch.h>
#include <sluice/queue.h>

/* Items per producer: fewer under sanitizers and in debug builds, which run far slower. */
#if defined(SL_SANITIZE_THREAD) || defined(SL_SANITIZE_ADDRESS) || defined(SL_DEBUG)
#define ITEMS_PER_PRODUCER 100000
#else
#define ITEMS_PER_PRODUCER 200000
#endif
#define MAX_THREADS 4
#define MAX_BATCH 16     /* items a batch consumer takes at most */
#define QUIESCE_EVERY 16 /* operations between a thread's quiescent points */
/* Failed dequeues in a row before a consumer gives up and reports a stall (bounds the loop). */
#define MAX_FAILS_IN_A_ROW 20000000UL

struct stress {
	struct sl_epoch *epoch;
	struct sl_queue *q;
	unsigned producers;
	unsigned consumers;
	size_t batch;                  /* 0, or odd-numbered consumers take up to this many */
	size_t total;                  /* producers * ITEMS_PER_PRODUCER */
	_Atomic size_t consumed;       /* items taken so far, all consumers */
	_Atomic unsigned char *seen;   /* per item id: times delivered (mod 256) */
	_Atomic unsigned duplicates;   /* items delivered more than once */
	_Atomic unsigned out_of_order; /* items older than one seen before from that producer */
	_Atomic unsigned bad_items;    /* ids outside [0, total) */
	_Atomic unsigned stalls;       /* consumers that hit MAX_FAILS_IN_A_ROW */
	_Atomic unsigned enqueue_errors;
};

struct worker {
	struct stress *s;
	unsigned index; /* producer or consumer number */
	unsigned slot;  /* epoch participant */
	pthread_t thread;
};

/* Item <seq> of producer <p>, as a pointer (never NULL). */
static void *
item_of(unsigned p, size_t seq)
{
	return (void *)(uintptr_t)(p * (size_t)ITEMS_PER_PRODUCER + seq + 1);
}

static void
tick(struct worker *w, size_t n)
{
	if (n % QUIESCE_EVERY == 0)
		sl_epoch_quiescent(w->s->epoch, w->slot);
}

static void *
producer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;

	sl_epoch_online(s->epoch, w->slot);
	for (size_t seq = 0; seq < ITEMS_PER_PRODUCER; seq++) {
		if (sl_queue_enqueue(s->q, item_of(w->index, seq)) != 0)
			/* relaxed: read after join */
			atomic_fetch_add_explicit(&s->enqueue_errors, 1, memory_order_relaxed);
		tick(w, seq);
		/* now and then go offline for a moment, as a loop does before it blocks */
		if (seq % 4096 == 4095) {
			sl_epoch_offline(s->epoch, w->slot);
			sched_yield();
			sl_epoch_online(s->epoch, w->slot);
		}
	}
	sl_epoch_offline(s->epoch, w->slot);
	return NULL;
}

/* Checks and records one delivered item; <last> holds, per producer, 1 + the last seq seen. */
static void
consume(struct stress *s, void *it, size_t *last)
{
	size_t id = (size_t)(uintptr_t)it - 1;
	size_t p = id / ITEMS_PER_PRODUCER, seq = id % ITEMS_PER_PRODUCER;

	/* relaxed below: counters and the seen-map are only read after every thread is joined */
	if (it == NULL || id >= s->total) {
		atomic_fetch_add_explicit(&s->bad_items, 1, memory_order_relaxed);
		return;
	}
	if (atomic_fetch_add_explicit(&s->seen[id], 1, memory_order_relaxed) != 0)
		atomic_fetch_add_explicit(&s->duplicates, 1, memory_order_relaxed);
	if (seq + 1 <= last[p])
		/* relaxed: as above */
		atomic_fetch_add_explicit(&s->out_of_order, 1, memory_order_relaxed);
	last[p] = seq + 1;
}

static void *
consumer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	size_t last[MAX_THREADS] = {0}, ops = 0, got, max = w->index % 2 ? s->batch : 0;
	unsigned long fails = 0;
	void *it[MAX_BATCH];

	sl_epoch_online(s->epoch, w->slot);
	/* relaxed: only decides when to stop; the items themselves come through the queue */
	while (atomic_load_explicit(&s->consumed, memory_order_relaxed) < s->total) {
		tick(w, ++ops);
		/* batches of 1 .. max items, so runs end at every position of a segment */
		got = max != 0 ? sl_queue_dequeue_batch(s->q, it, 1 + ops % max)
		               : sl_queue_dequeue(s->q, &it[0]);
		if (got != 0) {
			for (size_t k = 0; k < got; k++)
				consume(s, it[k], last);
			fails = 0;
			/* relaxed: a counter, see above */
			atomic_fetch_add_explicit(&s->consumed, got, memory_order_relaxed);
		} else if (++fails == MAX_FAILS_IN_A_ROW) {
			/* relaxed: read after join */
			atomic_fetch_add_explicit(&s->stalls, 1, memory_order_relaxed);
			break;
		} else if (fails > 64) {
			/* with more threads than cores, the producers need the CPU */
			sl_epoch_offline(s->epoch, w->slot);
			sched_yield();
			sl_epoch_online(s->epoch, w->slot);
		}
	}
	sl_epoch_offline(s->epoch, w->slot);
	return NULL;
}

static void
run_stress(unsigned producers, unsigned consumers, size_t segment_slots, unsigned max_retired,
           size_t batch)
{
	struct stress s = {.producers = producers, .consumers = consumers, .batch = batch};
	struct worker w[2 * MAX_THREADS];
	struct sl_queue_stats st;
	unsigned i, n = producers + consumers;
	size_t id, never = 0, twice = 0;
	void *it;

	assert_true(producers <= MAX_THREADS && consumers <= MAX_THREADS && batch <= MAX_BATCH);
	assert_int_equal(0, sl_epoch_create(&s.epoch, &(struct sl_epoch_opts){
	                                                      .participants = n,
	                                                      .max_retired = max_retired,
	                                              }));
	assert_int_equal(0, sl_queue_create(&s.q, &(struct sl_queue_opts){
	                                                  .epoch = s.epoch,
	                                                  .segment_slots = segment_slots,
	                                          }));
	s.total = (size_t)producers * ITEMS_PER_PRODUCER;
	s.seen = calloc(s.total, sizeof(s.seen[0]));
	assert_non_null(s.seen);
	for (i = 0; i < n; i++) {
		w[i].s = &s;
		w[i].slot = i;
		w[i].index = i < producers ? i : i - producers;
		assert_int_equal(0, pthread_create(&w[i].thread, NULL,
		                                   i < producers ? producer_main : consumer_main,
		                                   &w[i]));
	}
	for (i = 0; i < n; i++)
		assert_int_equal(0, pthread_join(w[i].thread, NULL));

	for (id = 0; id < s.total; id++) {
		/* relaxed: every writer has been joined */
		unsigned char v = atomic_load_explicit(&s.seen[id], memory_order_relaxed);
		never += v == 0;
		twice += v > 1;
	}
	free((void *)s.seen);
	assert_int_equal(0, atomic_load(&s.enqueue_errors));
	assert_int_equal(0, atomic_load(&s.stalls));
	assert_int_equal(0, atomic_load(&s.bad_items));
	assert_int_equal(0, atomic_load(&s.duplicates));
	assert_int_equal(0, atomic_load(&s.out_of_order));
	assert_int_equal(0, never);
	assert_int_equal(0, twice);
	/* nothing left over, and segments went round: linked many times what the run needed */
	sl_epoch_online(s.epoch, 0);
	assert_false(sl_queue_dequeue(s.q, &it));
	sl_epoch_offline(s.epoch, 0);
	sl_queue_stats(s.q, &st);
	assert_true(st.segments_linked >= s.total / segment_slots);
	sl_queue_destroy(s.q);
	sl_epoch_destroy(s.epoch);
}

static void
queue_delivers_each_item_once_in_producer_order_3x3(void **state)
{
	(void)state;
	run_stress(3, 3, 8, 0, 0);
}

static void
queue_delivers_each_item_once_through_two_slot_segments_4x2(void **state)
{
	(void)state;
	run_stress(4, 2, 2, 4, 0);
}

static void
queue_delivers_each_item_once_to_many_consumers_1x4(void **state)
{
	(void)state;
	run_stress(1, 4, 4, 2, 0);
}

static void
queue_delivers_each_item_once_with_more_threads_than_cores_4x4(void **state)
{
	(void)state;
	run_stress(4, 4, 16, 8, 0);
}

static void
queue_delivers_each_item_once_to_batch_and_single_consumers_3x4(void **state)
{
	(void)state;
	run_stress(3, 4, 8, 4, 7);
}

static void
queue_delivers_each_item_once_to_a_batch_consumer_through_long_segments_2x2(void **state)
{
	(void)state;
	run_stress(2, 2, 64, 4, MAX_BATCH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(queue_delivers_each_item_once_in_producer_order_3x3),
	        cmocka_unit_test(queue_delivers_each_item_once_through_two_slot_segments_4x2),
	        cmocka_unit_test(queue_delivers_each_item_once_to_many_consumers_1x4),
	        cmocka_unit_test(queue_delivers_each_item_once_with_more_threads_than_cores_4x4),
	        cmocka_unit_test(queue_delivers_each_item_once_to_batch_and_single_consumers_3x4),
	        cmocka_unit_test(
	                queue_delivers_each_item_once_to_a_batch_consumer_through_long_segments_2x2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
