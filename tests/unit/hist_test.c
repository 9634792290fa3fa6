/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_hist: percentiles against the exact sorted samples within the error
 * bound derived from the bucket width, merge, exact min/max/mean, clamping, iteration.
 * The bound is computed here from the documented layout, not from the library's helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sluice/hist.h>

#define NSAMPLES 100000

static uint64_t rng_state;

/* xorshift64*: deterministic across runs */
static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: ceil(p / 100 * n) within [1, n], as the header documents. */
static size_t
nearest_rank(double p, size_t n)
{
	double x = p / 100.0 * (double)n;
	size_t k = (size_t)x;

	if ((double)k < x)
		k++;
	if (k < 1)
		k = 1;
	return k > n ? n : k;
}

/* m = log2(half the sub-bucket count): the smallest power of two 2^(m+1) >= 2 * 10^sigfigs. */
static unsigned
half_magnitude(unsigned sigfigs)
{
	uint64_t need = 2, have = 1;
	unsigned mag = 0, i;

	for (i = 0; i < sigfigs; i++)
		need *= 10;
	while (have < need) {
		have <<= 1;
		mag++;
	}
	return mag - 1;
}

/* u = floor(log2(lowest)) */
static unsigned
unit_magnitude(uint64_t lowest)
{
	unsigned u = 0;

	while ((lowest >> (u + 1)) != 0)
		u++;
	return u;
}

/*
 * Checks sl_hist_percentile() against the exact nearest-rank sample for many percentiles:
 * never below it, above it by less than max(v / 2^m, 2^u), and, where the relative bound
 * applies (v >= 2^(m+u)), within 10^-sigfigs of it.
 */
static void
check_percentiles(const struct sl_hist *h, uint64_t *sorted, size_t n, uint64_t lowest,
                  unsigned sigfigs, unsigned step_tenths)
{
	unsigned m = half_magnitude(sigfigs), u = unit_magnitude(lowest);
	uint64_t pow10 = 1, exact, got, bound;
	double p;
	unsigned i, t;

	for (i = 0; i < sigfigs; i++)
		pow10 *= 10;
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	for (t = 0; t <= 1000; t += step_tenths) {
		p = t / 10.0;
		exact = sorted[nearest_rank(p, n) - 1];
		got = sl_hist_percentile(h, p);
		bound = exact >> m > (UINT64_C(1) << u) ? exact >> m : UINT64_C(1) << u;
		assert_true(got >= exact);
		assert_true(got - exact < bound);
		if (exact >= UINT64_C(1) << (m + u))
			assert_true((got - exact) * pow10 < exact);
	}
	for (i = 0; i < 3; i++) {
		static const double tail[] = {99.9, 99.99, 99.999};

		exact = sorted[nearest_rank(tail[i], n) - 1];
		got = sl_hist_percentile(h, tail[i]);
		bound = exact >> m > (UINT64_C(1) << u) ? exact >> m : UINT64_C(1) << u;
		assert_true(got >= exact);
		assert_true(got - exact < bound);
	}
}

/* Value whose decade (1..10^12) is uniform and whose place within the decade is uniform. */
static uint64_t
log_uniform(void)
{
	uint64_t lo = 1;
	unsigned d = (unsigned)(rng_next() % 12), i;

	for (i = 0; i < d; i++)
		lo *= 10;
	return lo + rng_next() % (9 * lo);
}

static void
hist_init_rejects_bad_options(void **state)
{
	struct sl_hist h;
	const struct sl_hist_opts bad[] = {
	        {.sigfigs = 6},
	        {.lowest = 1000, .highest = 1999},
	        {.highest = (uint64_t)INT64_MAX + 1},
	        {.lowest = UINT64_C(1) << 50, .highest = UINT64_C(1) << 60, .sigfigs = 5},
	};
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++)
		assert_int_equal(-EINVAL, sl_hist_init(&h, &bad[i]));
}

static void
hist_init_accepts_null_options_as_defaults(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	sl_hist_record(&h, UINT64_C(3600000000000));
	assert_int_equal(0, sl_hist_count_above(&h));
	assert_int_equal(1, sl_hist_count(&h));
	sl_hist_fini(&h);
}

static void
hist_empty_reports_zero(void **state)
{
	struct sl_hist h;
	size_t cursor = 0;
	struct sl_hist_bucket b;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	assert_int_equal(0, sl_hist_count(&h));
	assert_int_equal(0, sl_hist_min(&h));
	assert_int_equal(0, sl_hist_max(&h));
	assert_true(sl_hist_mean(&h) == 0.0);
	assert_int_equal(0, sl_hist_percentile(&h, 50.0));
	assert_int_equal(0, sl_hist_count_at_or_below(&h, 1000));
	assert_false(sl_hist_next_bucket(&h, &cursor, &b));
	sl_hist_fini(&h);
}

static void
hist_percentile_is_within_bound_for_uniform_values(void **state)
{
	static uint64_t v[NSAMPLES];
	struct sl_hist h;
	size_t i;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15u;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.sigfigs = 3}));
	for (i = 0; i < NSAMPLES; i++) {
		v[i] = rng_next() % 10000000;
		sl_hist_record(&h, v[i]);
	}
	check_percentiles(&h, v, NSAMPLES, 1, 3, 1);
	sl_hist_fini(&h);
}

static void
hist_percentile_is_within_bound_for_log_uniform_values(void **state)
{
	static uint64_t v[NSAMPLES];
	struct sl_hist h;
	size_t i;

	(void)state;
	rng_state = 0x1234567887654321u;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.sigfigs = 3}));
	for (i = 0; i < NSAMPLES; i++) {
		v[i] = log_uniform();
		sl_hist_record(&h, v[i]);
	}
	check_percentiles(&h, v, NSAMPLES, 1, 3, 1);
	sl_hist_fini(&h);
}

static void
hist_percentile_of_constant_values_is_exact(void **state)
{
	struct sl_hist h;
	int i;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	for (i = 0; i < 1000; i++)
		sl_hist_record(&h, 123456789);
	for (i = 0; i <= 200; i++)
		assert_int_equal(123456789, sl_hist_percentile(&h, i / 2.0));
	sl_hist_fini(&h);
}

static void
hist_percentile_is_within_bound_for_every_sigfigs_and_lowest(void **state)
{
	static uint64_t v[20000];
	static const uint64_t lowests[] = {1, 1000, 1u << 20};
	struct sl_hist h;
	unsigned d, l;
	size_t i;

	(void)state;
	for (d = 1; d <= 5; d++) {
		for (l = 0; l < SL_ARRAY_SIZE(lowests); l++) {
			struct sl_hist_opts o = {
			        .lowest = lowests[l], .highest = UINT64_C(1) << 40, .sigfigs = d};

			rng_state = 0xdeadbeefcafef00du + (uint64_t)d * 7 + l;
			assert_int_equal(0, sl_hist_init(&h, &o));
			for (i = 0; i < SL_ARRAY_SIZE(v); i++) {
				v[i] = log_uniform() % (UINT64_C(1) << 40);
				sl_hist_record(&h, v[i]);
			}
			check_percentiles(&h, v, SL_ARRAY_SIZE(v), o.lowest, d, 50);
			sl_hist_fini(&h);
		}
	}
}

static void
hist_min_max_mean_are_exact(void **state)
{
	static const uint64_t v[] = {1000003, 7, 999999999, 65537, 123};
	const size_t n = SL_ARRAY_SIZE(v);
	struct sl_hist h;
	uint64_t sum = 0;
	size_t i;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	for (i = 0; i < n; i++) {
		sl_hist_record(&h, v[i]);
		sum += v[i];
	}
	assert_int_equal(7, sl_hist_min(&h));
	assert_int_equal(999999999, sl_hist_max(&h));
	assert_true(sl_hist_mean(&h) == (double)sum / (double)n);
	assert_int_equal(n, sl_hist_count(&h));
	sl_hist_fini(&h);
}

static void
hist_record_n_counts_n_samples(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	sl_hist_record_n(&h, 500, 40);
	sl_hist_record_n(&h, 100, 60);
	assert_int_equal(100, sl_hist_count(&h));
	assert_int_equal(100, sl_hist_percentile(&h, 60.0));
	assert_int_equal(500, sl_hist_percentile(&h, 60.5));
	assert_true(sl_hist_mean(&h) == 260.0);
	sl_hist_fini(&h);
}

static void
hist_clamps_values_above_highest_into_top_bucket(void **state)
{
	const uint64_t highest = 1000000;
	struct sl_hist h;
	struct sl_hist_bucket b, last = {0};
	size_t cursor = 0;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.highest = highest}));
	sl_hist_record(&h, 10);
	sl_hist_record(&h, 5 * highest);
	sl_hist_record(&h, UINT64_MAX);
	while (sl_hist_next_bucket(&h, &cursor, &b))
		last = b;
	assert_int_equal(2, sl_hist_count_above(&h));
	assert_int_equal(3, sl_hist_count(&h));
	assert_int_equal(UINT64_MAX, sl_hist_max(&h));
	assert_int_equal(2, last.count);
	assert_true(last.lowest <= highest && highest <= last.highest);
	assert_int_equal(3, sl_hist_count_at_or_below(&h, highest));
	sl_hist_fini(&h);
}

static void
hist_values_below_lowest_go_to_first_bucket(void **state)
{
	struct sl_hist h;
	struct sl_hist_bucket b;
	size_t cursor = 0;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.lowest = 1000}));
	sl_hist_record(&h, 0);
	sl_hist_record(&h, 5);
	sl_hist_record(&h, 511);
	assert_true(sl_hist_next_bucket(&h, &cursor, &b));
	assert_int_equal(0, b.lowest);
	assert_int_equal(3, b.count);
	assert_int_equal(0, sl_hist_count_above(&h));
	sl_hist_fini(&h);
}

static void
hist_tracks_values_up_to_int64_max(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.highest = INT64_MAX}));
	sl_hist_record(&h, INT64_MAX);
	sl_hist_record(&h, 1);
	assert_int_equal(0, sl_hist_count_above(&h));
	assert_int_equal(INT64_MAX, sl_hist_percentile(&h, 99.0));
	assert_int_equal(INT64_MAX, sl_hist_highest_equivalent(&h, INT64_MAX));
	sl_hist_fini(&h);
}

static void
hist_merge_equals_recording_everything_in_one(void **state)
{
	struct sl_hist a, b, all;
	struct sl_hist_bucket ba, bb;
	size_t ca = 0, cb = 0, i;
	uint64_t v;
	int p;

	(void)state;
	rng_state = 42;
	assert_int_equal(0, sl_hist_init(&a, NULL));
	assert_int_equal(0, sl_hist_init(&b, NULL));
	assert_int_equal(0, sl_hist_init(&all, NULL));
	for (i = 0; i < NSAMPLES; i++) {
		v = i % 3 ? log_uniform() : rng_next() % 1000000;
		sl_hist_record(i % 2 ? &a : &b, v);
		sl_hist_record(&all, v);
	}
	assert_int_equal(0, sl_hist_merge(&a, &b));
	assert_int_equal(sl_hist_count(&all), sl_hist_count(&a));
	assert_int_equal(sl_hist_min(&all), sl_hist_min(&a));
	assert_int_equal(sl_hist_max(&all), sl_hist_max(&a));
	assert_true(sl_hist_mean(&all) == sl_hist_mean(&a));
	for (p = 0; p <= 100; p++)
		assert_int_equal(sl_hist_percentile(&all, p), sl_hist_percentile(&a, p));
	while (sl_hist_next_bucket(&all, &ca, &ba)) {
		assert_true(sl_hist_next_bucket(&a, &cb, &bb));
		assert_int_equal(ba.lowest, bb.lowest);
		assert_int_equal(ba.count, bb.count);
	}
	assert_false(sl_hist_next_bucket(&a, &cb, &bb));
	sl_hist_fini(&a);
	sl_hist_fini(&b);
	sl_hist_fini(&all);
}

static void
hist_merge_rejects_different_parameters(void **state)
{
	struct sl_hist a, b;

	(void)state;
	assert_int_equal(0, sl_hist_init(&a, &(struct sl_hist_opts){.sigfigs = 3}));
	assert_int_equal(0, sl_hist_init(&b, &(struct sl_hist_opts){.sigfigs = 2}));
	sl_hist_record(&b, 77);
	assert_int_equal(-EINVAL, sl_hist_merge(&a, &b));
	assert_int_equal(0, sl_hist_count(&a));
	sl_hist_fini(&a);
	sl_hist_fini(&b);
}

static void
hist_subtract_leaves_the_samples_recorded_since_the_copy(void **state)
{
	struct sl_hist h, copy, later;
	int p;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	assert_int_equal(0, sl_hist_init(&copy, NULL));
	assert_int_equal(0, sl_hist_init(&later, NULL));
	for (uint64_t v = 1; v <= 1000; v++)
		sl_hist_record(&h, v * 1000);
	assert_int_equal(0, sl_hist_merge(&copy, &h));
	for (uint64_t v = 1; v <= 100; v++) {
		sl_hist_record(&h, v * 7);
		sl_hist_record(&later, v * 7);
	}
	assert_int_equal(0, sl_hist_subtract(&h, &copy));
	assert_int_equal(100, sl_hist_count(&h));
	for (p = 1; p < 100; p++)
		assert_int_equal(sl_hist_percentile(&later, p), sl_hist_percentile(&h, p));
	assert_int_equal(0, sl_hist_subtract(&h, &later));
	assert_int_equal(0, sl_hist_count(&h));
	assert_int_equal(0, sl_hist_percentile(&h, 99));
	assert_int_equal(-ERANGE, sl_hist_subtract(&later, &copy));
	sl_hist_fini(&h);
	sl_hist_fini(&copy);
	sl_hist_fini(&later);
}

static void
hist_reset_forgets_samples(void **state)
{
	struct sl_hist h;
	struct sl_hist_bucket b;
	size_t cursor = 0;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, &(struct sl_hist_opts){.highest = 1000}));
	sl_hist_record(&h, 5);
	sl_hist_record(&h, 5000);
	sl_hist_reset(&h);
	sl_hist_record(&h, 9);
	assert_int_equal(1, sl_hist_count(&h));
	assert_int_equal(0, sl_hist_count_above(&h));
	assert_int_equal(9, sl_hist_min(&h));
	assert_int_equal(9, sl_hist_max(&h));
	assert_true(sl_hist_next_bucket(&h, &cursor, &b));
	assert_int_equal(1, b.count);
	assert_false(sl_hist_next_bucket(&h, &cursor, &b));
	sl_hist_fini(&h);
}

static void
hist_count_at_or_below_is_exact_at_bucket_boundaries(void **state)
{
	static uint64_t v[NSAMPLES];
	struct sl_hist h;
	uint64_t le, want;
	size_t i, j;

	(void)state;
	rng_state = 7;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	for (i = 0; i < NSAMPLES; i++) {
		v[i] = log_uniform() % 100000000;
		sl_hist_record(&h, v[i]);
	}
	for (le = 1; le < 1000000000; le *= 3) {
		uint64_t boundary = sl_hist_highest_equivalent(&h, le);

		want = 0;
		for (j = 0; j < NSAMPLES; j++)
			want += v[j] <= boundary;
		assert_int_equal(want, sl_hist_count_at_or_below(&h, boundary));
	}
	sl_hist_fini(&h);
}

static void
hist_next_bucket_visits_nonempty_buckets_in_order(void **state)
{
	static uint64_t v[NSAMPLES];
	struct sl_hist h;
	struct sl_hist_bucket b;
	uint64_t total = 0, prev_highest = 0, want;
	size_t cursor = 0, j;
	bool first = true;

	(void)state;
	rng_state = 99;
	assert_int_equal(0, sl_hist_init(&h, NULL));
	for (j = 0; j < NSAMPLES; j++) {
		v[j] = log_uniform() % 10000000;
		sl_hist_record(&h, v[j]);
	}
	qsort(v, NSAMPLES, sizeof(*v), cmp_u64);
	while (sl_hist_next_bucket(&h, &cursor, &b)) {
		assert_true(first || b.lowest > prev_highest);
		assert_true(b.count > 0);
		want = 0;
		for (j = total; j < NSAMPLES && v[j] <= b.highest; j++)
			want += v[j] >= b.lowest;
		assert_int_equal(want, b.count);
		total += b.count;
		prev_highest = b.highest;
		first = false;
	}
	assert_int_equal(NSAMPLES, total);
	sl_hist_fini(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(hist_init_rejects_bad_options),
	        cmocka_unit_test(hist_init_accepts_null_options_as_defaults),
	        cmocka_unit_test(hist_empty_reports_zero),
	        cmocka_unit_test(hist_percentile_is_within_bound_for_uniform_values),
	        cmocka_unit_test(hist_percentile_is_within_bound_for_log_uniform_values),
	        cmocka_unit_test(hist_percentile_of_constant_values_is_exact),
	        cmocka_unit_test(hist_percentile_is_within_bound_for_every_sigfigs_and_lowest),
	        cmocka_unit_test(hist_min_max_mean_are_exact),
	        cmocka_unit_test(hist_record_n_counts_n_samples),
	        cmocka_unit_test(hist_clamps_values_above_highest_into_top_bucket),
	        cmocka_unit_test(hist_values_below_lowest_go_to_first_bucket),
	        cmocka_unit_test(hist_tracks_values_up_to_int64_max),
	        cmocka_unit_test(hist_merge_equals_recording_everything_in_one),
	        cmocka_unit_test(hist_merge_rejects_different_parameters),
	        cmocka_unit_test(hist_subtract_leaves_the_samples_recorded_since_the_copy),
	        cmocka_unit_test(hist_reset_forgets_samples),
	        cmocka_unit_test(hist_count_at_or_below_is_exact_at_bucket_boundaries),
	        cmocka_unit_test(hist_next_bucket_visits_nonempty_buckets_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
