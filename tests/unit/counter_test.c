/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_counter: sums over writer threads (run under TSan too), sums that
 * never decrease while writers run, gauges going up and down, slot isolation and layout.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/counter.h>

#define NTHREADS 4
#define NADDS 200000

enum { C_REQUESTS, C_BYTES, G_OPEN, C_ERRORS, NDEFS };

static const struct sl_counter_def defs[NDEFS] = {
        [C_REQUESTS] = {"requests", SL_COUNTER_MONOTONIC},
        [C_BYTES] = {"bytes", SL_COUNTER_MONOTONIC},
        [G_OPEN] = {"open", SL_COUNTER_GAUGE},
        [C_ERRORS] = {"errors", SL_COUNTER_MONOTONIC},
};

struct writer {
	pthread_t tid;
	struct sl_counter_set *set;
	unsigned slot;
	atomic_uint *running; /* writers still running */
};

static struct sl_counter_set *
make_set(unsigned slots)
{
	struct sl_counter_set *s;

	assert_int_equal(0,
	                 sl_counter_create(&s, &(struct sl_counter_opts){
	                                               .defs = defs, .n = NDEFS, .slots = slots}));
	return s;
}

/* Slot k adds 1 to requests and k + 1 to bytes, NADDS times; raises then lowers the gauge. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned i;

	for (i = 0; i < NADDS; i++) {
		sl_counter_add(w->set, w->slot, C_REQUESTS, 1);
		sl_counter_add(w->set, w->slot, C_BYTES, w->slot + 1);
		sl_counter_gauge_add(w->set, w->slot, G_OPEN, w->slot % 2 ? 1 : -1);
	}
	if (w->running) {
		/* R1: the writes above happen before the reader's A1 sees the decrement */
		atomic_fetch_sub_explicit(w->running, 1, memory_order_release);
	}
	return NULL;
}

static void
start_writers(struct writer *w, struct sl_counter_set *s, atomic_uint *running)
{
	unsigned i;

	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct writer){.set = s, .slot = i, .running = running};
		assert_int_equal(0, pthread_create(&w[i].tid, NULL, writer_main, &w[i]));
	}
}

static void
join_writers(struct writer *w)
{
	unsigned i;

	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(0, pthread_join(w[i].tid, NULL));
}

static void
counter_create_rejects_bad_options(void **state)
{
	static const struct sl_counter_def no_name[] = {{NULL, SL_COUNTER_MONOTONIC}};
	static const struct sl_counter_def bad_kind[] = {{"x", (enum sl_counter_kind)7}};
	const struct sl_counter_opts bad[] = {
	        {.defs = NULL, .n = 1, .slots = 1},     {.defs = defs, .n = 0, .slots = 1},
	        {.defs = defs, .n = NDEFS, .slots = 0}, {.defs = no_name, .n = 1, .slots = 1},
	        {.defs = bad_kind, .n = 1, .slots = 1},
	};
	struct sl_counter_set *s;
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		assert_int_equal(-EINVAL, sl_counter_create(&s, &bad[i]));
		assert_null(s);
	}
}

static void
counter_sum_adds_every_thread_slot(void **state)
{
	struct writer w[NTHREADS];
	struct sl_counter_set *s = make_set(NTHREADS);
	uint64_t want_bytes = 0;
	unsigned i;

	(void)state;
	start_writers(w, s, NULL);
	join_writers(w);
	for (i = 0; i < NTHREADS; i++)
		want_bytes += (uint64_t)NADDS * (i + 1);
	assert_int_equal((uint64_t)NADDS * NTHREADS, sl_counter_sum(s, C_REQUESTS));
	assert_int_equal(want_bytes, sl_counter_sum(s, C_BYTES));
	assert_int_equal(0, sl_counter_sum(s, C_ERRORS));
	sl_counter_destroy(s);
}

static void
counter_sum_never_decreases_while_threads_add(void **state)
{
	struct writer w[NTHREADS];
	struct sl_counter_set *s = make_set(NTHREADS);
	atomic_uint running = NTHREADS;
	uint64_t prev = 0, now;
	unsigned reads;

	(void)state;
	start_writers(w, s, &running);
	/* bounded: the writers finish on their own; the cap only guards a hang */
	for (reads = 0; reads < 100000000; reads++) {
		/* A1: pairs with R1 in writer_main(); once 0, every add is visible */
		if (atomic_load_explicit(&running, memory_order_acquire) == 0)
			break;
		now = sl_counter_sum(s, C_REQUESTS);
		assert_true(now >= prev);
		assert_true(now <= (uint64_t)NADDS * NTHREADS);
		prev = now;
	}
	join_writers(w);
	assert_int_equal((uint64_t)NADDS * NTHREADS, sl_counter_sum(s, C_REQUESTS));
	sl_counter_destroy(s);
}

static void
counter_gauge_goes_up_and_down(void **state)
{
	struct sl_counter_set *s = make_set(1);

	(void)state;
	sl_counter_gauge_add(s, 0, G_OPEN, 5);
	assert_int_equal(5, sl_counter_gauge_sum(s, G_OPEN));
	sl_counter_gauge_add(s, 0, G_OPEN, -3);
	assert_int_equal(2, sl_counter_gauge_sum(s, G_OPEN));
	sl_counter_gauge_add(s, 0, G_OPEN, -4);
	assert_int_equal(-2, sl_counter_gauge_sum(s, G_OPEN));
	sl_counter_destroy(s);
}

static void
counter_gauge_sums_opposite_slots_across_threads(void **state)
{
	struct writer w[NTHREADS];
	struct sl_counter_set *s = make_set(NTHREADS);
	unsigned i;

	(void)state;
	start_writers(w, s, NULL);
	join_writers(w);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(i % 2 ? NADDS : -NADDS, sl_counter_gauge_read(s, i, G_OPEN));
	assert_int_equal(0, sl_counter_gauge_sum(s, G_OPEN));
	sl_counter_destroy(s);
}

static void
counter_add_changes_only_its_slot_and_index(void **state)
{
	struct sl_counter_set *s = make_set(3);
	unsigned slot, idx;

	(void)state;
	sl_counter_add(s, 1, C_BYTES, 42);
	for (slot = 0; slot < 3; slot++) {
		for (idx = 0; idx < NDEFS; idx++) {
			uint64_t want = slot == 1 && idx == C_BYTES ? 42 : 0;

			assert_int_equal(want, sl_counter_read(s, slot, idx));
		}
	}
	assert_int_equal(42, sl_counter_sum(s, C_BYTES));
	sl_counter_destroy(s);
}

static void
counter_slots_start_on_separate_cache_line_pairs(void **state)
{
	struct sl_counter_set *s = make_set(3);
	uintptr_t first, last_prev;
	unsigned slot;

	(void)state;
	for (slot = 0; slot < 3; slot++) {
		first = (uintptr_t)sl__counter_cell(s, slot, 0);
		assert_int_equal(0, first % (2 * (uintptr_t)SL_CACHELINE));
		if (slot > 0) {
			last_prev = (uintptr_t)sl__counter_cell(s, slot - 1, NDEFS - 1);
			assert_true(last_prev / (2 * (uintptr_t)SL_CACHELINE) <
			            first / (2 * (uintptr_t)SL_CACHELINE));
		}
	}
	sl_counter_destroy(s);
}

static void
counter_def_names_each_value(void **state)
{
	struct sl_counter_set *s = make_set(2);

	(void)state;
	assert_int_equal(NDEFS, sl_counter_len(s));
	assert_int_equal(2, sl_counter_slots(s));
	assert_string_equal("open", sl_counter_def(s, G_OPEN)->name);
	assert_int_equal(SL_COUNTER_GAUGE, sl_counter_def(s, G_OPEN)->kind);
	assert_null(sl_counter_def(s, NDEFS));
	sl_counter_destroy(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(counter_create_rejects_bad_options),
	        cmocka_unit_test(counter_sum_adds_every_thread_slot),
	        cmocka_unit_test(counter_sum_never_decreases_while_threads_add),
	        cmocka_unit_test(counter_gauge_goes_up_and_down),
	        cmocka_unit_test(counter_gauge_sums_opposite_slots_across_threads),
	        cmocka_unit_test(counter_add_changes_only_its_slot_and_index),
	        cmocka_unit_test(counter_slots_start_on_separate_cache_line_pairs),
	        cmocka_unit_test(counter_def_names_each_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
