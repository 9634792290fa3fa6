/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests of sl_ring, single-threaded. Every test body runs twice, once against the SPSC
 * ring and once against the MPMC queue, through the small ops table below. Concurrency is
 * tested in ring_stress_test.c and the MPMC algorithm is model-checked in tests/model/.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/ring.h>

struct ring_ops {
	int (*create)(void **out, size_t capacity);
	void (*destroy)(void *r);
	bool (*try_push)(void *r, void *item);
	bool (*try_pop)(void *r, void **item);
	size_t (*push_bulk)(void *r, void *const *items, size_t n);
	size_t (*pop_bulk)(void *r, void **items, size_t n);
	void (*push)(void *r, void *item);
	void *(*pop)(void *r);
	size_t (*capacity)(void *r);
};

static int
spsc_create(void **out, size_t capacity)
{
	struct sl_ring_spsc *r = NULL;
	int err = sl_ring_spsc_create(&r, capacity);

	*out = r;
	return err;
}

static void
spsc_destroy(void *r)
{
	sl_ring_spsc_destroy(r);
}

static bool
spsc_try_push(void *r, void *item)
{
	return sl_ring_try_push_spsc(r, item);
}

static bool
spsc_try_pop(void *r, void **item)
{
	return sl_ring_try_pop_spsc(r, item);
}

static size_t
spsc_push_bulk(void *r, void *const *items, size_t n)
{
	return sl_ring_try_push_bulk_spsc(r, items, n);
}

static size_t
spsc_pop_bulk(void *r, void **items, size_t n)
{
	return sl_ring_try_pop_bulk_spsc(r, items, n);
}

static void
spsc_push(void *r, void *item)
{
	sl_ring_push_spsc(r, item);
}

static void *
spsc_pop(void *r)
{
	return sl_ring_pop_spsc(r);
}

static size_t
spsc_capacity(void *r)
{
	return sl_ring_spsc_capacity(r);
}

static int
mpmc_create(void **out, size_t capacity)
{
	struct sl_ring_mpmc *r = NULL;
	int err = sl_ring_mpmc_create(&r, capacity);

	*out = r;
	return err;
}

static void
mpmc_destroy(void *r)
{
	sl_ring_mpmc_destroy(r);
}

static bool
mpmc_try_push(void *r, void *item)
{
	return sl_ring_try_push_mpmc(r, item);
}

static bool
mpmc_try_pop(void *r, void **item)
{
	return sl_ring_try_pop_mpmc(r, item);
}

static size_t
mpmc_push_bulk(void *r, void *const *items, size_t n)
{
	return sl_ring_try_push_bulk_mpmc(r, items, n);
}

static size_t
mpmc_pop_bulk(void *r, void **items, size_t n)
{
	return sl_ring_try_pop_bulk_mpmc(r, items, n);
}

static void
mpmc_push(void *r, void *item)
{
	sl_ring_push_mpmc(r, item);
}

static void *
mpmc_pop(void *r)
{
	return sl_ring_pop_mpmc(r);
}

static size_t
mpmc_capacity(void *r)
{
	return sl_ring_mpmc_capacity(r);
}

static const struct ring_ops spsc_ops = {
        spsc_create,   spsc_destroy, spsc_try_push, spsc_try_pop,  spsc_push_bulk,
        spsc_pop_bulk, spsc_push,    spsc_pop,      spsc_capacity,
};

static const struct ring_ops mpmc_ops = {
        mpmc_create,   mpmc_destroy, mpmc_try_push, mpmc_try_pop,  mpmc_push_bulk,
        mpmc_pop_bulk, mpmc_push,    mpmc_pop,      mpmc_capacity,
};

/* The variant under test; set by each group's setup. */
static const struct ring_ops *ops;

static int
use_spsc(void **state)
{
	(void)state;
	ops = &spsc_ops;
	return 0;
}

static int
use_mpmc(void **state)
{
	(void)state;
	ops = &mpmc_ops;
	return 0;
}

/* Item number <i> as an opaque pointer (0 is NULL). */
static void *
item(uintptr_t i)
{
	return (void *)i;
}

static void *
new_ring(size_t capacity)
{
	void *r = NULL;

	assert_int_equal(0, ops->create(&r, capacity));
	assert_non_null(r);
	return r;
}

static void
ring_create_rejects_capacity_not_power_of_two(void **state)
{
	static const size_t bad[] = {3, 5, 6, 7, 12, 100, 1000};
	void *r = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++)
		assert_int_equal(-EINVAL, ops->create(&r, bad[i]));
}

static void
ring_create_rejects_capacity_below_two(void **state)
{
	void *r = NULL;

	(void)state;
	assert_int_equal(-EINVAL, ops->create(&r, 0));
	assert_int_equal(-EINVAL, ops->create(&r, 1));
}

static void
ring_create_rejects_capacity_too_large_to_address(void **state)
{
	void *r = NULL;

	(void)state;
	assert_int_equal(-EINVAL, ops->create(&r, (SIZE_MAX >> 1) + 1));
}

static void
ring_capacity_reports_created_capacity(void **state)
{
	void *r = new_ring(64);

	(void)state;
	assert_int_equal(64, ops->capacity(r));
	ops->destroy(r);
}

static void
ring_pop_fails_when_empty(void **state)
{
	void *r = new_ring(4);
	void *got = item(7);

	(void)state;
	assert_false(ops->try_pop(r, &got));
	assert_ptr_equal(item(7), got);
	ops->destroy(r);
}

static void
ring_pop_fails_after_draining(void **state)
{
	void *r = new_ring(4);
	void *got;

	(void)state;
	assert_true(ops->try_push(r, item(1)));
	assert_true(ops->try_pop(r, &got));
	assert_false(ops->try_pop(r, &got));
	ops->destroy(r);
}

static void
ring_push_fails_when_full(void **state)
{
	void *r = new_ring(4);
	uintptr_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_true(ops->try_push(r, item(i)));
	assert_false(ops->try_push(r, item(99)));
	ops->destroy(r);
}

static void
ring_push_succeeds_again_after_one_pop_from_full(void **state)
{
	void *r = new_ring(2);
	void *got;

	(void)state;
	assert_true(ops->try_push(r, item(1)));
	assert_true(ops->try_push(r, item(2)));
	assert_true(ops->try_pop(r, &got));
	assert_true(ops->try_push(r, item(3)));
	assert_false(ops->try_push(r, item(4)));
	ops->destroy(r);
}

static void
ring_pops_items_in_push_order(void **state)
{
	void *r = new_ring(8);
	void *got;
	uintptr_t i;

	(void)state;
	for (i = 1; i <= 8; i++)
		assert_true(ops->try_push(r, item(i)));
	for (i = 1; i <= 8; i++) {
		assert_true(ops->try_pop(r, &got));
		assert_ptr_equal(item(i), got);
	}
	ops->destroy(r);
}

static void
ring_accepts_null_item(void **state)
{
	void *r = new_ring(2);
	void *got = item(5);

	(void)state;
	assert_true(ops->try_push(r, NULL));
	assert_true(ops->try_pop(r, &got));
	assert_null(got);
	ops->destroy(r);
}

static void
ring_push_bulk_queues_only_what_fits(void **state)
{
	void *in[6] = {item(1), item(2), item(3), item(4), item(5), item(6)};
	void *r = new_ring(4);

	(void)state;
	assert_true(ops->try_push(r, item(0)));
	assert_int_equal(3, ops->push_bulk(r, in, 6));
	assert_int_equal(0, ops->push_bulk(r, in + 3, 3));
	ops->destroy(r);
}

static void
ring_pop_bulk_takes_only_what_is_queued(void **state)
{
	void *out[8] = {0};
	void *r = new_ring(8);

	(void)state;
	assert_true(ops->try_push(r, item(1)));
	assert_true(ops->try_push(r, item(2)));
	assert_true(ops->try_push(r, item(3)));
	assert_int_equal(3, ops->pop_bulk(r, out, 8));
	assert_ptr_equal(item(1), out[0]);
	assert_ptr_equal(item(2), out[1]);
	assert_ptr_equal(item(3), out[2]);
	assert_null(out[3]);
	assert_int_equal(0, ops->pop_bulk(r, out, 8));
	ops->destroy(r);
}

static void
ring_bulk_with_zero_items_does_nothing(void **state)
{
	void *buf[1] = {item(1)};
	void *r = new_ring(2);
	void *got;

	(void)state;
	assert_int_equal(0, ops->push_bulk(r, buf, 0));
	assert_false(ops->try_pop(r, &got));
	assert_true(ops->try_push(r, item(2)));
	assert_int_equal(0, ops->pop_bulk(r, buf, 0));
	assert_ptr_equal(item(1), buf[0]);
	ops->destroy(r);
}

static void
ring_mixes_single_and_bulk_in_one_order(void **state)
{
	void *in[3] = {item(2), item(3), item(4)};
	void *out[4];
	void *r = new_ring(8);
	void *got;

	(void)state;
	assert_true(ops->try_push(r, item(1)));
	assert_int_equal(3, ops->push_bulk(r, in, 3));
	assert_true(ops->try_push(r, item(5)));
	assert_true(ops->try_pop(r, &got));
	assert_ptr_equal(item(1), got);
	assert_int_equal(4, ops->pop_bulk(r, out, 4));
	assert_ptr_equal(item(2), out[0]);
	assert_ptr_equal(item(3), out[1]);
	assert_ptr_equal(item(4), out[2]);
	assert_ptr_equal(item(5), out[3]);
	ops->destroy(r);
}

/*
 * Pushes and pops varying amounts through a ring of <cap> (<= 64) items for <laps> laps, bulk
 * calls sometimes partial, checking that items come out in sequence.
 */
static void
check_wraparound(size_t cap, size_t laps)
{
	void *buf[65];
	void *r = new_ring(cap);
	uintptr_t next_in = 0, next_out = 0;
	size_t lap, k, n, got;
	void *one;

	for (lap = 0; lap < laps; lap++) {
		n = lap % (cap + 2);
		for (k = 0; k < n && k < SL_ARRAY_SIZE(buf); k++)
			buf[k] = item(next_in + k);
		got = ops->push_bulk(r, buf, k);
		next_in += got;
		if (lap % 3 == 0 && ops->try_push(r, item(next_in)))
			next_in++;
		if (lap % 2 == 0 && ops->try_pop(r, &one))
			assert_ptr_equal(item(next_out++), one);
		got = ops->pop_bulk(r, buf, (lap % cap) + 1);
		for (k = 0; k < got; k++)
			assert_ptr_equal(item(next_out++), buf[k]);
	}
	assert_true(next_in > laps);
	while (ops->try_pop(r, &one))
		assert_ptr_equal(item(next_out++), one);
	assert_int_equal(next_in, next_out);
	ops->destroy(r);
}

static void
ring_wraps_around_small_ring_many_times_in_order(void **state)
{
	(void)state;
	check_wraparound(4, 20000);
}

static void
ring_wraps_around_large_ring_many_times_in_order(void **state)
{
	(void)state;
	check_wraparound(64, 20000);
}

static void
ring_blocking_pop_returns_queued_item(void **state)
{
	void *r = new_ring(2);

	(void)state;
	ops->push(r, item(42));
	ops->push(r, item(43));
	assert_ptr_equal(item(42), ops->pop(r));
	assert_ptr_equal(item(43), ops->pop(r));
	ops->destroy(r);
}

static void
ring_destroy_ignores_null(void **state)
{
	(void)state;
	ops->destroy(NULL);
}

#define RING_TESTS                                                                                 \
	cmocka_unit_test(ring_create_rejects_capacity_not_power_of_two),                           \
	        cmocka_unit_test(ring_create_rejects_capacity_below_two),                          \
	        cmocka_unit_test(ring_create_rejects_capacity_too_large_to_address),               \
	        cmocka_unit_test(ring_capacity_reports_created_capacity),                          \
	        cmocka_unit_test(ring_pop_fails_when_empty),                                       \
	        cmocka_unit_test(ring_pop_fails_after_draining),                                   \
	        cmocka_unit_test(ring_push_fails_when_full),                                       \
	        cmocka_unit_test(ring_push_succeeds_again_after_one_pop_from_full),                \
	        cmocka_unit_test(ring_pops_items_in_push_order),                                   \
	        cmocka_unit_test(ring_accepts_null_item),                                          \
	        cmocka_unit_test(ring_push_bulk_queues_only_what_fits),                            \
	        cmocka_unit_test(ring_pop_bulk_takes_only_what_is_queued),                         \
	        cmocka_unit_test(ring_bulk_with_zero_items_does_nothing),                          \
	        cmocka_unit_test(ring_mixes_single_and_bulk_in_one_order),                         \
	        cmocka_unit_test(ring_wraps_around_small_ring_many_times_in_order),                \
	        cmocka_unit_test(ring_wraps_around_large_ring_many_times_in_order),                \
	        cmocka_unit_test(ring_blocking_pop_returns_queued_item),                           \
	        cmocka_unit_test(ring_destroy_ignores_null)

int
main(void)
{
	const struct CMUnitTest tests[] = {RING_TESTS};
	int failed = 0;

	failed += cmocka_run_group_tests_name("ring_spsc", tests, use_spsc, NULL);
	failed += cmocka_run_group_tests_name("ring_mpmc", tests, use_mpmc, NULL);
	return failed != 0;
}
