// SPDX-License-Identifier: MIT
/*
 * Behaviour tests of sl_tbucket: burst then refusal, refill one token per step, exact counts
 * over long runs with rates that do not divide a second, large gaps, clock steps backwards,
 * multi-token takes and the edges of the value ranges.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/tbucket.h>

#define SEC 1000000000ULL

/* Takes single tokens at <now> until refused; returns how many were taken. */
static unsigned
drain(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now)
{
	unsigned n = 0;

	while (n < 100000 && sl_tbucket_try_take(b, r, now, 1))
		n++;
	return n;
}

/* takes up to <n> tokens at <now>, one at a time: how many it got */
static unsigned
drain_n(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now, unsigned n)
{
	unsigned k = 0;

	while (k < n && sl_tbucket_try_take(b, r, now, 1))
		k++;
	return k;
}

static void
tbucket_rate_init_refuses_zero_burst_with_a_rate(void **state)
{
	struct sl_tbucket_rate r;

	(void)state;
	assert_int_equal(-EINVAL, sl_tbucket_rate_init(&r, 10, 0));
	assert_int_equal(0, sl_tbucket_rate_init(&r, 0, 0));
}

static void
tbucket_full_bucket_gives_its_burst_then_refuses(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 10, 5));
	sl_tbucket_init(&b);
	assert_int_equal(5, drain(&b, &r, 1000 * SEC));
	assert_false(sl_tbucket_try_take(&b, &r, 1000 * SEC, 1));
}

static void
tbucket_refills_one_token_per_step_and_not_sooner(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = 50 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 4, 2)); /* one token per 250 ms */
	sl_tbucket_init(&b);
	assert_int_equal(2, drain(&b, &r, t));
	assert_false(sl_tbucket_try_take(&b, &r, t + 250000000 - 1, 1));
	assert_true(sl_tbucket_try_take(&b, &r, t + 250000000, 1));
	assert_false(sl_tbucket_try_take(&b, &r, t + 250000000, 1));
}

/*
 * A bucket emptied under a slow rate, then a faster one (a reload): unfitted, the old debt reads
 * as a clock skew and every take is refused until the clock reaches it; fitted, it holds the
 * share of its burst it held (none) and refills at the new rate.
 */
static void
tbucket_fit_to_a_faster_rate_refills_at_it(void **state)
{
	struct sl_tbucket_rate slow, fast;
	struct sl_tbucket b, unfitted;
	uint64_t t = 100 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&slow, 1, 2)); /* a window of 2 s */
	assert_int_equal(0, sl_tbucket_rate_init(&fast, 1000, 1000));
	sl_tbucket_init(&b);
	assert_int_equal(2, drain(&b, &slow, t));
	unfitted = b;
	assert_false(sl_tbucket_try_take(&unfitted, &fast, t + SEC / 2, 1));
	sl_tbucket_fit(&b, &slow, &fast, t);
	assert_false(sl_tbucket_try_take(&b, &fast, t, 1)); /* nothing given */
	assert_int_equal(500, drain(&b, &fast, t + SEC / 2));
	/* a bucket within the window is left alone */
	sl_tbucket_init(&b);
	assert_int_equal(1, sl_tbucket_try_take(&b, &fast, t, 1));
	unfitted = b;
	sl_tbucket_fit(&b, &fast, &fast, t);
	assert_memory_equal(&unfitted, &b, sizeof(b));
	/* half empty under one rate, half empty under the next */
	sl_tbucket_init(&b);
	assert_int_equal(1, drain_n(&b, &slow, t, 1));
	sl_tbucket_fit(&b, &slow, &fast, t);
	assert_int_equal(500, drain(&b, &fast, t));
}

static void
tbucket_follow_fits_a_bucket_to_a_changed_rate_once(void **state)
{
	struct sl_tbucket_rate slow, fast;
	struct sl_tbucket_as as = {0};
	struct sl_tbucket b, before;
	uint64_t t = 100 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&slow, 1, 2)); /* a window of 2 s */
	assert_int_equal(0, sl_tbucket_rate_init(&fast, 1000, 1000));
	sl_tbucket_init(&b);
	/* the first use records the rate: a fresh bucket stays full */
	sl_tbucket_follow(&b, &as, &slow, t);
	assert_int_equal(1, as.rate);
	assert_int_equal(2, as.burst);
	assert_int_equal(2, drain(&b, &slow, t));
	/* the same rate again changes nothing (the debt stays) */
	before = b;
	sl_tbucket_follow(&b, &as, &slow, t);
	assert_memory_equal(&before, &b, sizeof(b));
	/* raised: emptied under the slow rate, empty under the fast one, refilling at it at
	 * once rather than after the slow rate's 2 s */
	sl_tbucket_follow(&b, &as, &fast, t);
	assert_int_equal(1000, as.rate);
	assert_int_equal(500, drain(&b, &fast, t + SEC / 2));
}

/* a clock half a second behind the last take's (within the skew): the wait says when the take
 * succeeds by that clock, not a window's worth */
static void
tbucket_wait_by_a_clock_behind_the_last_take_is_the_takes(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b, probe;
	uint64_t t0 = 100 * SEC, t1 = t0 - SEC / 2, wait;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1000, 10));
	sl_tbucket_init(&b);
	assert_true(sl_tbucket_try_take(&b, &r, t0, 10));
	wait = sl_tbucket_wait_ns(&b, &r, t1, 1);
	assert_true(wait > SEC / 2);
	probe = b;
	assert_false(sl_tbucket_try_take(&probe, &r, t1 + wait - 1, 1));
	probe = b;
	assert_true(sl_tbucket_try_take(&probe, &r, t1 + wait, 1));
}

/* one clock, a faster rate: the debt the slower one ran up is cut to the new window */
static void
tbucket_clamp_cuts_a_debt_past_the_window_only(void **state)
{
	struct sl_tbucket_rate slow, fast;
	struct sl_tbucket b, before;
	uint64_t t = 100 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&slow, 1, 2)); /* a window of 2 s */
	assert_int_equal(0, sl_tbucket_rate_init(&fast, 1000, 1000));
	sl_tbucket_init(&b);
	assert_int_equal(2, drain(&b, &slow, t));
	before = b;
	sl_tbucket_clamp(&b, &slow, t); /* within its own window: left alone */
	assert_memory_equal(&before, &b, sizeof(b));
	sl_tbucket_clamp(&b, &fast, t);
	assert_false(sl_tbucket_try_take(&b, &fast, t, 1)); /* empty now */
	assert_int_equal(500, drain(&b, &fast, t + SEC / 2));
	/* a full bucket stays full */
	sl_tbucket_init(&b);
	sl_tbucket_clamp(&b, &fast, t);
	assert_int_equal(1000, drain(&b, &fast, t));
}

static void
tbucket_refused_take_changes_nothing(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b, before;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 3, 1));
	sl_tbucket_init(&b);
	assert_true(sl_tbucket_try_take(&b, &r, SEC, 1));
	before = b;
	assert_false(sl_tbucket_try_take(&b, &r, SEC + 1, 1));
	assert_true(before.tat == b.tat);
	assert_int_equal(before.frac, b.frac);
}

/* Random spacing below window - step (so the bucket is never full when drained), draining at
 * each step: with exact arithmetic the total is burst + floor(elapsed * rate / 1e9) at every
 * step, for a rate that does not divide 1e9. */
static void
tbucket_counts_exactly_over_a_long_run_with_an_inexact_rate(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t0 = 123456789, t = t0, x = 88172645463325252ULL, total = 0, want;
	unsigned i, bad = 0;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 7, 5)); /* step 142.86 ms, window 714.29 */
	sl_tbucket_init(&b);
	for (i = 0; i < 500000; i++) {
		total += drain(&b, &r, t);
		want = 5 + (t - t0) * 7 / SEC;
		bad += total != want;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t += 1 + x % 400000000; /* < window - step: never full when drained */
	}
	assert_int_equal(0, bad);
	/* most of a day of simulated time */
	assert_true(t - t0 > 20 * 3600 * SEC);
}

static void
tbucket_large_gap_refills_to_burst_and_no_more(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1000, 10));
	sl_tbucket_init(&b);
	assert_int_equal(10, drain(&b, &r, SEC));
	assert_int_equal(10, sl_tbucket_tokens(&b, &r, (1ULL << 62)));
	assert_int_equal(10, drain(&b, &r, (1ULL << 62)));
}

static void
tbucket_zero_rate_is_unlimited_and_writes_nothing(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 0, 0));
	sl_tbucket_init(&b);
	for (unsigned i = 0; i < 1000; i++)
		assert_true(sl_tbucket_try_take(&b, &r, SEC, UINT32_MAX));
	assert_true(0 == b.tat);
	assert_int_equal(UINT32_MAX, sl_tbucket_tokens(&b, &r, SEC));
	assert_true(0 == sl_tbucket_wait_ns(&b, &r, SEC, 5));
}

static void
tbucket_small_clock_step_back_refuses_without_refilling(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = 100 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 10, 2));
	sl_tbucket_init(&b);
	assert_int_equal(2, drain(&b, &r, t));
	/* a thread that read the clock 1 ms earlier gets nothing, and nothing moves */
	assert_int_equal(0, drain(&b, &r, t - 1000000));
	assert_false(sl_tbucket_try_take(&b, &r, t + 100000000 - 1, 1));
	assert_true(sl_tbucket_try_take(&b, &r, t + 100000000, 1));
}

static void
tbucket_large_clock_step_back_restarts_empty_at_the_new_clock(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = 1000 * SEC, back = t - 500 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 10, 2));
	sl_tbucket_init(&b);
	assert_int_equal(2, drain(&b, &r, t));
	/* empty at the new clock, not a free refill ... */
	assert_int_equal(0, drain(&b, &r, back));
	/* ... and no freeze until the clock is back at <t>: one step later there is a token */
	assert_false(sl_tbucket_try_take(&b, &r, back + 100000000 - 1, 1));
	assert_true(sl_tbucket_try_take(&b, &r, back + 100000000, 1));
}

static void
tbucket_takes_many_tokens_at_once_like_bytes(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = 7 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1000000, 64000)); /* 1 MB/s, 64 kB burst */
	sl_tbucket_init(&b);
	for (unsigned i = 0; i < 42; i++)
		assert_true(sl_tbucket_try_take(&b, &r, t, 1500));
	assert_int_equal(64000 - 42 * 1500, sl_tbucket_tokens(&b, &r, t));
	assert_false(sl_tbucket_try_take(&b, &r, t, 1500));
	/* 1500 - 1000 bytes missing: 500 us at 1 byte/us */
	assert_true(500000 == sl_tbucket_wait_ns(&b, &r, t, 1500));
	assert_true(sl_tbucket_try_take(&b, &r, t + 500000, 1500));
}

static void
tbucket_refuses_more_than_burst_in_one_take(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 100, 8));
	sl_tbucket_init(&b);
	assert_false(sl_tbucket_try_take(&b, &r, SEC, 9));
	assert_true(UINT64_MAX == sl_tbucket_wait_ns(&b, &r, SEC, 9));
	assert_true(sl_tbucket_try_take(&b, &r, SEC, 8));
}

static void
tbucket_wait_ns_says_when_a_take_succeeds(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = 3 * SEC, w;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 3, 1)); /* 333333333.33 ns per token */
	sl_tbucket_init(&b);
	assert_true(0 == sl_tbucket_wait_ns(&b, &r, t, 1));
	assert_true(sl_tbucket_try_take(&b, &r, t, 1));
	w = sl_tbucket_wait_ns(&b, &r, t, 1);
	assert_true(333333334 == w);
	assert_false(sl_tbucket_try_take(&b, &r, t + w - 1, 1));
	assert_true(sl_tbucket_try_take(&b, &r, t + w, 1));
}

static void
tbucket_largest_rate_and_burst_do_not_overflow(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t t = (1ULL << 63) - 10 * SEC;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, UINT32_MAX, UINT32_MAX));
	sl_tbucket_init(&b);
	assert_int_equal(UINT32_MAX, sl_tbucket_tokens(&b, &r, t));
	assert_true(sl_tbucket_try_take(&b, &r, t, UINT32_MAX));
	assert_int_equal(0, sl_tbucket_tokens(&b, &r, t));
	assert_false(sl_tbucket_try_take(&b, &r, t, 1));
	/* one second later: exactly one second's worth again */
	assert_int_equal(UINT32_MAX, sl_tbucket_tokens(&b, &r, t + SEC));
	assert_true(sl_tbucket_try_take(&b, &r, t + SEC, UINT32_MAX));
}

static void
tbucket_is_full_only_when_it_owes_nothing(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 3, 2));
	sl_tbucket_init(&b);
	assert_true(sl_tbucket_is_full(&b, SEC));
	assert_true(sl_tbucket_try_take(&b, &r, SEC, 1));
	assert_false(sl_tbucket_is_full(&b, SEC + 333333333));
	assert_true(sl_tbucket_is_full(&b, SEC + 333333334));
}

static void
tbucket_take_upto_grants_what_it_holds_then_nothing(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	/* 1 MiB/s, 64 KiB burst: bytes */
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1048576, 65536));
	sl_tbucket_init(&b);
	assert_int_equal(16384, sl_tbucket_take_upto(&b, &r, 10 * SEC, 16384));
	assert_int_equal(49152, sl_tbucket_take_upto(&b, &r, 10 * SEC, 100000));
	assert_int_equal(0, sl_tbucket_take_upto(&b, &r, 10 * SEC, 100000));
	/* 1 ms later: 1048.576 bytes have come back, of which 1048 whole */
	assert_int_equal(1048, sl_tbucket_take_upto(&b, &r, 10 * SEC + 1000000, 100000));
}

static void
tbucket_take_upto_moves_exactly_rate_bytes_per_second_over_a_long_run(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;
	uint64_t got = 0, t = 5 * SEC;

	(void)state;
	/* an inexact rate, odd read sizes and odd spacing: no byte lost or made by rounding */
	assert_int_equal(0, sl_tbucket_rate_init(&r, 999983, 4099));
	sl_tbucket_init(&b);
	got += sl_tbucket_take_upto(&b, &r, t, UINT32_MAX); /* the burst */
	for (unsigned i = 0; i < 100000; i++) {
		t += 1337 + (i % 7) * 101;
		got += sl_tbucket_take_upto(&b, &r, t, 1 + i % 3001);
	}
	/* the burst, then every whole byte the elapsed time earned (the reads asked for more) */
	assert_int_equal(4099 + (t - 5 * SEC) * 999983 / SEC, got);
	/* and a full bucket again after a long pause, no more */
	assert_int_equal(4099, sl_tbucket_take_upto(&b, &r, t + 10 * SEC, UINT32_MAX));
}

static void
tbucket_put_gives_back_exactly_what_was_not_used(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b, before;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 333333, 100000));
	sl_tbucket_init(&b);
	assert_true(sl_tbucket_try_take(&b, &r, SEC, 50000));
	before = b;
	assert_int_equal(30000, sl_tbucket_take_upto(&b, &r, SEC, 30000));
	sl_tbucket_put(&b, &r, 12345);
	sl_tbucket_put(&b, &r, 30000 - 12345);
	assert_int_equal(before.tat, b.tat);
	assert_int_equal(before.frac, b.frac);
	assert_int_equal(50000, sl_tbucket_tokens(&b, &r, SEC));
}

static void
tbucket_put_never_fills_past_the_burst(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1000, 2000));
	sl_tbucket_init(&b);
	assert_int_equal(10, sl_tbucket_take_upto(&b, &r, 100 * SEC, 10));
	sl_tbucket_put(&b, &r, 1000000);
	assert_int_equal(2000, sl_tbucket_tokens(&b, &r, 100 * SEC));
	assert_int_equal(2000, sl_tbucket_take_upto(&b, &r, 100 * SEC, 5000));
}

static void
tbucket_take_upto_unlimited_grants_everything_asked(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 0, 0));
	sl_tbucket_init(&b);
	b.tat = 77;
	assert_int_equal(262144, sl_tbucket_take_upto(&b, &r, SEC, 262144));
	sl_tbucket_put(&b, &r, 5);
	assert_int_equal(77, b.tat);
}

static void
tbucket_take_upto_at_the_largest_byte_rate_does_not_overflow(void **state)
{
	struct sl_tbucket_rate r;
	struct sl_tbucket b;

	(void)state;
	/* 2 GiB/s with a 1 GiB burst: a step is under a ns, all in the remainder */
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1u << 31, 1u << 30));
	sl_tbucket_init(&b);
	assert_int_equal(1u << 30, sl_tbucket_take_upto(&b, &r, SEC, UINT32_MAX));
	assert_int_equal(0, sl_tbucket_take_upto(&b, &r, SEC, UINT32_MAX));
	/* 1 ms: 2147483.648 bytes */
	assert_int_equal(2147483, sl_tbucket_take_upto(&b, &r, SEC + 1000000, UINT32_MAX));
	sl_tbucket_put(&b, &r, 2147483);
	assert_int_equal(2147483, sl_tbucket_tokens(&b, &r, SEC + 1000000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tbucket_rate_init_refuses_zero_burst_with_a_rate),
	        cmocka_unit_test(tbucket_full_bucket_gives_its_burst_then_refuses),
	        cmocka_unit_test(tbucket_refills_one_token_per_step_and_not_sooner),
	        cmocka_unit_test(tbucket_refused_take_changes_nothing),
	        cmocka_unit_test(tbucket_counts_exactly_over_a_long_run_with_an_inexact_rate),
	        cmocka_unit_test(tbucket_large_gap_refills_to_burst_and_no_more),
	        cmocka_unit_test(tbucket_zero_rate_is_unlimited_and_writes_nothing),
	        cmocka_unit_test(tbucket_small_clock_step_back_refuses_without_refilling),
	        cmocka_unit_test(tbucket_large_clock_step_back_restarts_empty_at_the_new_clock),
	        cmocka_unit_test(tbucket_takes_many_tokens_at_once_like_bytes),
	        cmocka_unit_test(tbucket_refuses_more_than_burst_in_one_take),
	        cmocka_unit_test(tbucket_wait_ns_says_when_a_take_succeeds),
	        cmocka_unit_test(tbucket_largest_rate_and_burst_do_not_overflow),
	        cmocka_unit_test(tbucket_is_full_only_when_it_owes_nothing),
	        cmocka_unit_test(tbucket_take_upto_grants_what_it_holds_then_nothing),
	        cmocka_unit_test(
	                tbucket_take_upto_moves_exactly_rate_bytes_per_second_over_a_long_run),
	        cmocka_unit_test(tbucket_put_gives_back_exactly_what_was_not_used),
	        cmocka_unit_test(tbucket_fit_to_a_faster_rate_refills_at_it),
	        cmocka_unit_test(tbucket_put_never_fills_past_the_burst),
	        cmocka_unit_test(tbucket_take_upto_unlimited_grants_everything_asked),
	        cmocka_unit_test(tbucket_take_upto_at_the_largest_byte_rate_does_not_overflow),
	        cmocka_unit_test(tbucket_follow_fits_a_bucket_to_a_changed_rate_once),
	        cmocka_unit_test(tbucket_clamp_cuts_a_debt_past_the_window_only),
	        cmocka_unit_test(tbucket_wait_by_a_clock_behind_the_last_take_is_the_takes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
