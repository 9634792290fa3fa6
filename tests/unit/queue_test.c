/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_queue (include/sluice/queue.h) on one thread, which is participant 0
 * of the queue's epoch domain: argument checks, empty, FIFO order, segment rollover, retiring
 * consumed segments through the domain (and waiting when it is full), reuse of segments in a
 * steady state, destroy with items left and with segments still retired. The threaded test is
 * queue_stress_test.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/epoch.h>
#include <sluice/queue.h>

/* Item <i> as a pointer (never NULL). */
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))

struct fix {
	struct sl_epoch *epoch;
	struct sl_queue *q;
};

/* A domain of one participant (this thread, online) with <max_retired> slots, and a queue of
 * <slots>-item segments on it. */
static void
fix_open(struct fix *f, size_t slots, unsigned max_retired)
{
	struct sl_queue_opts qo = {.segment_slots = slots};

	assert_int_equal(0, sl_epoch_create(&f->epoch, &(struct sl_epoch_opts){
	                                                       .participants = 1,
	                                                       .max_retired = max_retired,
	                                               }));
	qo.epoch = f->epoch;
	assert_int_equal(0, sl_queue_create(&f->q, &qo));
	sl_epoch_online(f->epoch, 0);
}

static void
fix_close(struct fix *f)
{
	sl_epoch_offline(f->epoch, 0);
	sl_queue_destroy(f->q);
	sl_epoch_destroy(f->epoch);
}

static struct sl_queue_stats
stats_of(struct sl_queue *q)
{
	struct sl_queue_stats st;

	sl_queue_stats(q, &st);
	return st;
}

static void
queue_create_refuses_missing_epoch(void **state)
{
	struct sl_queue *q = (void *)1;

	(void)state;
	assert_int_equal(-EINVAL, sl_queue_create(&q, &(struct sl_queue_opts){0}));
	assert_null(q);
}

static void
queue_create_refuses_segment_of_one_slot(void **state)
{
	struct sl_epoch *d;
	struct sl_queue *q = (void *)1;

	(void)state;
	assert_int_equal(0, sl_epoch_create(&d, &(struct sl_epoch_opts){.participants = 1}));
	assert_int_equal(-EINVAL, sl_queue_create(&q, &(struct sl_queue_opts){.epoch = d,
	                                                                      .segment_slots = 1}));
	assert_null(q);
	sl_epoch_destroy(d);
}

static void
queue_dequeue_on_empty_queue_returns_false(void **state)
{
	struct fix f;
	void *it = ITEM(7);

	(void)state;
	fix_open(&f, 4, 0);
	assert_false(sl_queue_dequeue(f.q, &it));
	assert_ptr_equal(ITEM(7), it);
	fix_close(&f);
}

static void
queue_enqueue_refuses_null_item(void **state)
{
	struct fix f;
	void *it;

	(void)state;
	fix_open(&f, 4, 0);
	assert_int_equal(-EINVAL, sl_queue_enqueue(f.q, NULL));
	assert_false(sl_queue_dequeue(f.q, &it));
	fix_close(&f);
}

static void
queue_returns_items_in_enqueue_order(void **state)
{
	struct fix f;
	void *it;

	(void)state;
	fix_open(&f, 0, 0);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	for (unsigned i = 0; i < 100; i++) {
		assert_true(sl_queue_dequeue(f.q, &it));
		assert_ptr_equal(ITEM(i), it);
	}
	assert_false(sl_queue_dequeue(f.q, &it));
	fix_close(&f);
}

static void
queue_dequeue_batch_takes_the_oldest_items_in_order_up_to_max(void **state)
{
	struct fix f;
	void *it[8];

	(void)state;
	fix_open(&f, 16, 0);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	assert_int_equal(3, sl_queue_dequeue_batch(f.q, it, 3));
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(ITEM(i), it[i]);
	assert_true(sl_queue_dequeue(f.q, &it[0]));
	assert_ptr_equal(ITEM(3), it[0]);
	/* fewer queued than asked for: takes what there is */
	assert_int_equal(6, sl_queue_dequeue_batch(f.q, it, 8));
	for (unsigned i = 0; i < 6; i++)
		assert_ptr_equal(ITEM(4 + i), it[i]);
	assert_int_equal(0, sl_queue_dequeue_batch(f.q, it, 8));
	fix_close(&f);
}

static void
queue_dequeue_batch_of_zero_takes_nothing(void **state)
{
	struct fix f;
	void *it = ITEM(9);

	(void)state;
	fix_open(&f, 4, 0);
	assert_int_equal(0, sl_queue_dequeue_batch(f.q, &it, 0));
	assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(1)));
	assert_int_equal(0, sl_queue_dequeue_batch(f.q, &it, 0));
	assert_ptr_equal(ITEM(9), it);
	assert_true(sl_queue_dequeue(f.q, &it));
	assert_ptr_equal(ITEM(1), it);
	fix_close(&f);
}

static void
queue_dequeue_batch_stops_at_a_segment_end_and_continues_in_the_next(void **state)
{
	struct fix f;
	void *it[8];

	(void)state;
	fix_open(&f, 4, 0);
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	assert_int_equal(1, sl_queue_dequeue_batch(f.q, it, 1));
	assert_ptr_equal(ITEM(0), it[0]);
	/* the rest of the first segment only */
	assert_int_equal(3, sl_queue_dequeue_batch(f.q, it, 8));
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(ITEM(1 + i), it[i]);
	assert_int_equal(3, sl_queue_dequeue_batch(f.q, it, 8));
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(ITEM(4 + i), it[i]);
	assert_int_equal(0, sl_queue_dequeue_batch(f.q, it, 8));
	assert_int_equal(1, (int)stats_of(f.q).segments_retired);
	fix_close(&f);
}

static void
queue_is_empty_again_after_the_last_item_of_a_full_segment(void **state)
{
	struct fix f;
	void *it;

	(void)state;
	fix_open(&f, 4, 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	for (unsigned i = 0; i < 4; i++)
		assert_true(sl_queue_dequeue(f.q, &it));
	assert_false(sl_queue_dequeue(f.q, &it));
	assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(4)));
	assert_true(sl_queue_dequeue(f.q, &it));
	assert_ptr_equal(ITEM(4), it);
	fix_close(&f);
}

static void
queue_rolls_over_into_new_segments_in_order(void **state)
{
	struct fix f;
	void *it;

	(void)state;
	fix_open(&f, 4, 0);
	for (unsigned i = 0; i < 30; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	/* 30 items in 4-slot segments: the first and 7 more */
	assert_int_equal(8, stats_of(f.q).segments_linked);
	for (unsigned i = 0; i < 30; i++) {
		assert_true(sl_queue_dequeue(f.q, &it));
		assert_ptr_equal(ITEM(i), it);
	}
	assert_false(sl_queue_dequeue(f.q, &it));
	fix_close(&f);
}

static void
queue_interleaved_enqueue_and_dequeue_cross_segments_in_order(void **state)
{
	struct fix f;
	unsigned in = 0, out = 0;
	void *it;

	(void)state;
	fix_open(&f, 2, 0);
	/* two in, one out, for a while: the head chases the tail across segments */
	while (in < 200) {
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(in++)));
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(in++)));
		assert_true(sl_queue_dequeue(f.q, &it));
		assert_ptr_equal(ITEM(out), it);
		out++;
	}
	while (sl_queue_dequeue(f.q, &it)) {
		assert_ptr_equal(ITEM(out), it);
		out++;
	}
	assert_int_equal(in, out);
	fix_close(&f);
}

static void
queue_retires_consumed_segments_and_the_domain_frees_them(void **state)
{
	struct fix f;
	struct sl_queue_stats st;
	void *it;

	(void)state;
	fix_open(&f, 4, 0);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	for (unsigned i = 0; i < 12; i++)
		assert_true(sl_queue_dequeue(f.q, &it));
	/* the third segment is exhausted but has no successor: it stays the head */
	assert_false(sl_queue_dequeue(f.q, &it));
	st = stats_of(f.q);
	assert_int_equal(2, st.segments_retired);
	/* this thread has not passed a quiescent point since: nothing may be freed yet */
	assert_int_equal(0, st.segments_freed);
	sl_epoch_quiescent(f.epoch, 0);
	sl_epoch_reclaim(f.epoch);
	assert_int_equal(2, stats_of(f.q).segments_freed);
	fix_close(&f);
}

static void
queue_keeps_segments_waiting_while_the_domain_is_full(void **state)
{
	struct fix f;
	struct sl_queue_stats st;
	unsigned out = 0;
	void *it;

	(void)state;
	fix_open(&f, 2, 2); /* a domain with room for two retired objects */
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	/* 9 items out: four 2-slot segments unlinked, with no quiescent point in between */
	for (; out < 9; out++) {
		assert_true(sl_queue_dequeue(f.q, &it));
		assert_ptr_equal(ITEM(out), it);
	}
	st = stats_of(f.q);
	assert_int_equal(2, st.segments_retired);
	assert_int_equal(2, st.segments_waiting);
	/* from now on a quiescent point after every item: each unlink frees the domain and
	 * retires two, so the waiting ones drain, oldest first */
	for (unsigned i = 10; i < 30; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	while (sl_epoch_quiescent(f.epoch, 0), sl_queue_dequeue(f.q, &it)) {
		assert_ptr_equal(ITEM(out), it);
		out++;
	}
	assert_int_equal(30, out);
	st = stats_of(f.q);
	assert_int_equal(0, st.segments_waiting);
	/* every segment but the head */
	assert_int_equal(st.segments_linked - 1, st.segments_retired);
	fix_close(&f);
}

/* Segments that waited for a full domain do not stay held once the traffic stops: a dequeue
 * that finds the queue empty retires them when the domain has room again. */
static void
queue_retires_waiting_segments_when_a_dequeue_finds_it_empty(void **state)
{
	struct fix f;
	struct sl_queue_stats st;
	void *it;

	(void)state;
	fix_open(&f, 2, 2);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	for (unsigned i = 0; i < 10; i++)
		assert_true(sl_queue_dequeue(f.q, &it));
	st = stats_of(f.q);
	assert_int_equal(2, st.segments_retired);
	assert_int_equal(2, st.segments_waiting);
	/* empty, but the domain is still full (no quiescent point yet): they keep waiting */
	assert_false(sl_queue_dequeue(f.q, &it));
	assert_int_equal(2, stats_of(f.q).segments_waiting);
	/* the traffic has stopped; the reader passes a quiescent point and the domain frees the
	 * two it holds: the next empty dequeue retires the waiting two */
	sl_epoch_quiescent(f.epoch, 0);
	sl_epoch_reclaim(f.epoch);
	assert_int_equal(2, stats_of(f.q).segments_freed);
	assert_false(sl_queue_dequeue(f.q, &it));
	st = stats_of(f.q);
	assert_int_equal(0, st.segments_waiting);
	assert_int_equal(4, st.segments_retired);
	fix_close(&f);
}

static void
queue_reuses_segments_in_a_steady_state(void **state)
{
	struct fix f;
	size_t bytes;
	void *it;

	(void)state;
	fix_open(&f, 16, 0);
	/* a bounded backlog with a quiescent point per round, as an event loop would pass */
	for (unsigned round = 0; round < 10; round++) {
		for (unsigned i = 0; i < 40; i++)
			assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
		for (unsigned i = 0; i < 40; i++)
			assert_true(sl_queue_dequeue(f.q, &it));
		sl_epoch_quiescent(f.epoch, 0);
	}
	bytes = stats_of(f.q).pool_bytes;
	for (unsigned round = 0; round < 1000; round++) {
		for (unsigned i = 0; i < 40; i++)
			assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
		for (unsigned i = 0; i < 40; i++)
			assert_true(sl_queue_dequeue(f.q, &it));
		sl_epoch_quiescent(f.epoch, 0);
	}
	/* 2500 more segments went through, in the memory the pool had */
	assert_true(stats_of(f.q).segments_linked > 2500);
	assert_int_equal(bytes, stats_of(f.q).pool_bytes);
	fix_close(&f);
}

static void
queue_destroy_with_items_left_frees_its_segments(void **state)
{
	struct fix f;

	(void)state;
	fix_open(&f, 4, 0);
	/* items in three segments, none taken: destroy must free all three (ASan: no leak) */
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	assert_int_equal(3, stats_of(f.q).segments_linked);
	fix_close(&f);
}

static void
queue_destroy_leaves_retired_segments_to_the_domain(void **state)
{
	struct fix f;
	void *it;

	(void)state;
	fix_open(&f, 2, 0);
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(0, sl_queue_enqueue(f.q, ITEM(i)));
	for (unsigned i = 0; i < 7; i++)
		assert_true(sl_queue_dequeue(f.q, &it));
	assert_int_equal(3, stats_of(f.q).segments_retired);
	assert_int_equal(0, stats_of(f.q).segments_freed);
	/* the queue goes first; the domain frees the 3 segments (and the queue's memory) when
	 * this thread is offline (ASan: no leak, no use after free) */
	sl_queue_destroy(f.q);
	sl_epoch_offline(f.epoch, 0);
	assert_int_equal(0, sl_epoch_reclaim(f.epoch));
	sl_epoch_destroy(f.epoch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(queue_create_refuses_missing_epoch),
	        cmocka_unit_test(queue_create_refuses_segment_of_one_slot),
	        cmocka_unit_test(queue_dequeue_on_empty_queue_returns_false),
	        cmocka_unit_test(queue_enqueue_refuses_null_item),
	        cmocka_unit_test(queue_returns_items_in_enqueue_order),
	        cmocka_unit_test(queue_dequeue_batch_takes_the_oldest_items_in_order_up_to_max),
	        cmocka_unit_test(queue_dequeue_batch_of_zero_takes_nothing),
	        cmocka_unit_test(
	                queue_dequeue_batch_stops_at_a_segment_end_and_continues_in_the_next),
	        cmocka_unit_test(queue_is_empty_again_after_the_last_item_of_a_full_segment),
	        cmocka_unit_test(queue_rolls_over_into_new_segments_in_order),
	        cmocka_unit_test(queue_interleaved_enqueue_and_dequeue_cross_segments_in_order),
	        cmocka_unit_test(queue_retires_consumed_segments_and_the_domain_frees_them),
	        cmocka_unit_test(queue_keeps_segments_waiting_while_the_domain_is_full),
	        cmocka_unit_test(queue_retires_waiting_segments_when_a_dequeue_finds_it_empty),
	        cmocka_unit_test(queue_reuses_segments_in_a_steady_state),
	        cmocka_unit_test(queue_destroy_with_items_left_frees_its_segments),
	        cmocka_unit_test(queue_destroy_leaves_retired_segments_to_the_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
