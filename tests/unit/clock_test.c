/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_clock: it reads CLOCK_MONOTONIC in nanoseconds and never goes
 * backwards. No assertion depends on how fast anything runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include <sluice/clock.h>

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	assert_int_equal(0, clock_gettime(CLOCK_MONOTONIC, &ts));
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
clock_ns_lies_between_surrounding_monotonic_readings(void **state)
{
	uint64_t before, got, after;

	(void)state;
	before = monotonic_ns();
	got = sl_clock_ns();
	after = monotonic_ns();
	assert_true(before <= got);
	assert_true(got <= after);
}

static void
clock_ns_never_goes_backwards(void **state)
{
	uint64_t prev = sl_clock_ns(), now;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		now = sl_clock_ns();
		assert_true(now >= prev);
		prev = now;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(clock_ns_lies_between_surrounding_monotonic_readings),
	        cmocka_unit_test(clock_ns_never_goes_backwards),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
