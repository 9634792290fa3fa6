// SPDX-License-Identifier: MIT
/*
 * Behaviour of the load balancers (src/core/lb*.c): properties over many picks with fixed
 * seeds, never the exact sequence of an implementation. Maglev has its own file,
 * lb_maglev_test.c; the common contract tests here run against every algorithm.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/lb.h>

#include "lb_fake.h"

static const enum sl_lb_algo all_algos[] = {SL_LB_ROUND_ROBIN, SL_LB_WEIGHTED, SL_LB_LEAST_CONN,
                                            SL_LB_P2C, SL_LB_MAGLEV};

static struct sl_lb *
make(enum sl_lb_algo algo, struct fake *f, uint64_t seed)
{
	struct sl_lb_opts o = {.seed = seed};
	struct sl_lb *lb = NULL;

	assert_int_equal(0, sl_lb_create(&lb, algo, f->t, f->n, &o));
	return lb;
}

/* ---- names and creation ---- */

static void
lb_algo_name_and_parse_round_trip(void **state)
{
	(void)state;
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++) {
		enum sl_lb_algo got = (enum sl_lb_algo) - 1;
		const char *name = sl_lb_algo_name(all_algos[k]);

		assert_non_null(name);
		assert_int_equal(0, sl_lb_algo_parse(name, &got));
		assert_int_equal(all_algos[k], got);
	}
	assert_string_equal("round_robin", sl_lb_algo_name(SL_LB_ROUND_ROBIN));
	assert_string_equal("weighted", sl_lb_algo_name(SL_LB_WEIGHTED));
	assert_string_equal("least_conn", sl_lb_algo_name(SL_LB_LEAST_CONN));
	assert_string_equal("p2c", sl_lb_algo_name(SL_LB_P2C));
	assert_string_equal("maglev", sl_lb_algo_name(SL_LB_MAGLEV));
}

static void
lb_algo_parse_rejects_unknown_names(void **state)
{
	static const char *const bad[] = {"", "rr", "Maglev", "round-robin", "p2c ", "least"};
	enum sl_lb_algo got = SL_LB_P2C;

	(void)state;
	for (size_t k = 0; k < SL_ARRAY_SIZE(bad); k++)
		assert_int_equal(-EINVAL, sl_lb_algo_parse(bad[k], &got));
	assert_int_equal(-EINVAL, sl_lb_algo_parse(NULL, &got));
	assert_int_equal(SL_LB_P2C, got);
	assert_null(sl_lb_algo_name((enum sl_lb_algo)99));
}

static void
lb_create_rejects_zero_targets(void **state)
{
	struct fake f;
	struct sl_lb *lb = NULL;

	(void)state;
	fake_init(&f, 1);
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++)
		assert_int_equal(-EINVAL, sl_lb_create(&lb, all_algos[k], f.t, 0, NULL));
	assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_ROUND_ROBIN, NULL, 3, NULL));
	assert_null(lb);
}

static void
lb_create_rejects_zero_weight(void **state)
{
	struct fake f;
	struct sl_lb *lb = NULL;

	(void)state;
	fake_init(&f, 3);
	f.t[1].weight = 0;
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++)
		assert_int_equal(-EINVAL, sl_lb_create(&lb, all_algos[k], f.t, f.n, NULL));
	assert_null(lb);
}

static void
lb_create_rejects_too_many_targets_and_unknown_algo(void **state)
{
	struct fake f;
	struct sl_lb *lb = NULL;

	(void)state;
	fake_init(&f, 3);
	/* the count is checked before the array is read */
	assert_int_equal(-EINVAL,
	                 sl_lb_create(&lb, SL_LB_ROUND_ROBIN, f.t, SL_LB_MAX_TARGETS + 1, NULL));
	assert_int_equal(-EINVAL, sl_lb_create(&lb, (enum sl_lb_algo)99, f.t, f.n, NULL));
	assert_null(lb);
}

/* ---- the common contract, for every algorithm ---- */

static void
lb_pick_returns_enoent_when_none_eligible(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, 7);
	for (size_t i = 0; i < f.n; i++)
		f.up[i] = false;
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++) {
		struct sl_lb *lb = make(all_algos[k], &f, 1);
		struct sl_lb_ctx c = fake_ctx(&f, 42);

		for (int r = 0; r < 3; r++)
			assert_int_equal(-ENOENT, sl_lb_pick(lb, &c));
		sl_lb_destroy(lb);
	}
}

static void
lb_pick_returns_the_only_eligible_backend(void **state)
{
	struct fake f;
	uint64_t s = 7;

	(void)state;
	fake_init(&f, 9);
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++) {
		struct sl_lb *lb = make(all_algos[k], &f, 2);

		for (size_t only = 0; only < f.n; only++) {
			for (size_t i = 0; i < f.n; i++)
				f.up[i] = i == only;
			for (int r = 0; r < 20; r++) {
				struct sl_lb_ctx c = fake_ctx(&f, test_rand(&s));
				assert_int_equal((int)only, sl_lb_pick(lb, &c));
			}
		}
		sl_lb_destroy(lb);
	}
}

/* 20k picks per algorithm, each under a fresh random up-set with 1..n backends up */
static void
lb_pick_never_returns_an_ineligible_backend(void **state)
{
	struct fake f;
	uint64_t s = 11;

	(void)state;
	fake_init(&f, 24);
	for (size_t k = 0; k < SL_ARRAY_SIZE(all_algos); k++) {
		struct sl_lb *lb = make(all_algos[k], &f, 3);
		unsigned bad = 0;

		for (int r = 0; r < 20000; r++) {
			/* mostly sparse up-sets, to reach p2c's and Maglev's fallback paths */
			unsigned pct = (unsigned)test_rand_below(&s, 100);
			size_t n_up = 0;
			for (size_t i = 0; i < f.n; i++) {
				f.up[i] = test_rand_below(&s, 100) < pct;
				f.load[i] = (uint32_t)test_rand_below(&s, 8);
				n_up += f.up[i];
			}
			if (n_up == 0)
				f.up[test_rand_below(&s, f.n)] = true;
			struct sl_lb_ctx c = fake_ctx(&f, test_rand(&s));
			int got = sl_lb_pick(lb, &c);
			bad += got < 0 || (size_t)got >= f.n || !f.up[got];
		}
		assert_int_equal(0, bad);
		sl_lb_destroy(lb);
	}
}

/* ---- round robin ---- */

static void
lb_rr_gives_equal_counts_over_whole_rounds(void **state)
{
	struct fake f;
	unsigned count[FAKE_MAX] = {0};

	(void)state;
	fake_init(&f, 7);
	f.t[0].weight = 9; /* ignored by round robin */
	struct sl_lb *lb = make(SL_LB_ROUND_ROBIN, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 7 * 14286; r++)
		count[sl_lb_pick(lb, &c)]++;
	for (size_t i = 0; i < f.n; i++)
		assert_int_equal(14286, count[i]);
	sl_lb_destroy(lb);
}

static void
lb_rr_skips_ineligible_backend(void **state)
{
	struct fake f;
	unsigned count[FAKE_MAX] = {0};
	int prev = -1, repeats = 0;

	(void)state;
	fake_init(&f, 5);
	struct sl_lb *lb = make(SL_LB_ROUND_ROBIN, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 3; r++) /* move the cursor off the start */
		sl_lb_pick(lb, &c);
	f.up[2] = false;
	for (int r = 0; r < 4 * 25000; r++) {
		int got = sl_lb_pick(lb, &c);
		count[got]++;
		repeats += got == prev;
		prev = got;
	}
	assert_int_equal(0, count[2]);
	for (size_t i = 0; i < f.n; i++)
		if (i != 2)
			assert_int_equal(25000, count[i]);
	assert_int_equal(0, repeats);
	sl_lb_destroy(lb);
}

/* ---- smooth weighted round robin ---- */

static const uint32_t wrr_weights[] = {5, 1, 1, 3, 7, 2};
#define WRR_TOTAL 19u

static void
lb_weighted_is_exact_over_every_cycle(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, SL_ARRAY_SIZE(wrr_weights));
	for (size_t i = 0; i < f.n; i++)
		f.t[i].weight = wrr_weights[i];
	struct sl_lb *lb = make(SL_LB_WEIGHTED, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int cycle = 0; cycle < 100000 / (int)WRR_TOTAL; cycle++) {
		unsigned count[FAKE_MAX] = {0};
		for (unsigned r = 0; r < WRR_TOTAL; r++)
			count[sl_lb_pick(lb, &c)]++;
		for (size_t i = 0; i < f.n; i++)
			assert_int_equal(wrr_weights[i], count[i]);
	}
	sl_lb_destroy(lb);
}

/*
 * Smoothness: in every window of L consecutive picks (L = 1..2*total, all positions over
 * 40 cycles), backend i appears within [floor(w_i*L/W) - 1, ceil(w_i*L/W) + 1] times.
 */
static void
lb_weighted_spreads_each_backend_evenly_in_every_window(void **state)
{
	enum { PICKS = 40 * WRR_TOTAL };
	struct fake f;
	int seq[PICKS];
	unsigned violations = 0;

	(void)state;
	fake_init(&f, SL_ARRAY_SIZE(wrr_weights));
	for (size_t i = 0; i < f.n; i++)
		f.t[i].weight = wrr_weights[i];
	struct sl_lb *lb = make(SL_LB_WEIGHTED, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < PICKS; r++)
		seq[r] = sl_lb_pick(lb, &c);
	for (unsigned len = 1; len <= 2 * WRR_TOTAL; len++) {
		for (unsigned start = 0; start + len <= PICKS; start++) {
			unsigned count[FAKE_MAX] = {0};
			for (unsigned r = start; r < start + len; r++)
				count[seq[r]]++;
			for (size_t i = 0; i < f.n; i++) {
				unsigned lo = wrr_weights[i] * len / WRR_TOTAL;
				unsigned hi = (wrr_weights[i] * len + WRR_TOTAL - 1) / WRR_TOTAL;
				violations += count[i] + 1 < lo || count[i] > hi + 1;
			}
		}
	}
	assert_int_equal(0, violations);
	sl_lb_destroy(lb);
}

/*
 * With the heaviest backend down, the others keep their ratio: over 100k picks each is within
 * 2 picks of its share of the remaining weight (the transition can skew one cycle by one).
 */
static void
lb_weighted_keeps_ratio_among_eligible_backends(void **state)
{
	struct fake f;
	unsigned count[FAKE_MAX] = {0};
	const unsigned picks = 12 * 8000; /* remaining weight: 5+1+1+3+2 = 12 */

	(void)state;
	fake_init(&f, SL_ARRAY_SIZE(wrr_weights));
	for (size_t i = 0; i < f.n; i++)
		f.t[i].weight = wrr_weights[i];
	struct sl_lb *lb = make(SL_LB_WEIGHTED, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 10; r++) /* leave the current weights mid-cycle */
		sl_lb_pick(lb, &c);
	f.up[4] = false;
	for (unsigned r = 0; r < picks; r++)
		count[sl_lb_pick(lb, &c)]++;
	assert_int_equal(0, count[4]);
	for (size_t i = 0; i < f.n; i++) {
		if (i == 4)
			continue;
		long want = (long)(wrr_weights[i] * (picks / 12));
		assert_in_range(count[i], want - 2, want + 2);
	}
	sl_lb_destroy(lb);
}

/* ---- least connections ---- */

static void
lb_least_conn_picks_min_load_per_weight(void **state)
{
	static const struct {
		uint32_t load[4], weight[4];
		int want;
	} cases[] = {
	        {{10, 4, 6, 9}, {1, 1, 1, 1}, 1},       /* plain min */
	        {{10, 4, 6, 9}, {1, 1, 2, 1}, 2},       /* 6/2 = 3 < 4/1 */
	        {{10, 4, 6, 9}, {5, 1, 2, 1}, 0},       /* 10/5 = 2 */
	        {{0, 0, 0, 1}, {1, 1, 1, 9}, 0},        /* 0 beats 1/9; first of the zero ties */
	        {{100, 100, 100, 30}, {4, 4, 5, 1}, 2}, /* 20 < 25 = 25 < 30 */
	};
	struct fake f;

	(void)state;
	fake_init(&f, 4);
	for (size_t k = 0; k < SL_ARRAY_SIZE(cases); k++) {
		for (size_t i = 0; i < f.n; i++) {
			f.load[i] = cases[k].load[i];
			f.t[i].weight = cases[k].weight[i];
		}
		struct sl_lb *lb = make(SL_LB_LEAST_CONN, &f, 0);
		struct sl_lb_ctx c = fake_ctx(&f, 0);
		assert_int_equal(cases[k].want, sl_lb_pick(lb, &c));
		sl_lb_destroy(lb);
	}
}

static void
lb_least_conn_rotates_among_ties(void **state)
{
	struct fake f;
	unsigned count[FAKE_MAX] = {0};
	int prev = -1, repeats = 0;

	(void)state;
	fake_init(&f, 6);
	for (size_t i = 0; i < f.n; i++)
		f.load[i] = 3;
	f.load[4] = 4; /* never the minimum */
	struct sl_lb *lb = make(SL_LB_LEAST_CONN, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 5 * 20000; r++) {
		int got = sl_lb_pick(lb, &c);
		count[got]++;
		repeats += got == prev;
		prev = got;
	}
	assert_int_equal(0, count[4]);
	for (size_t i = 0; i < f.n; i++)
		if (i != 4)
			assert_int_equal(20000, count[i]);
	assert_int_equal(0, repeats);
	sl_lb_destroy(lb);
}

/* when every pick adds one session, the loads of equal-weight backends never differ by > 1 */
static void
lb_least_conn_keeps_loads_level_as_sessions_open(void **state)
{
	struct fake f;
	uint32_t worst = 0;
	uint64_t s = 5;

	(void)state;
	fake_init(&f, 8);
	struct sl_lb *lb = make(SL_LB_LEAST_CONN, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 100000; r++) {
		f.load[sl_lb_pick(lb, &c)]++;
		/* a session ends somewhere, half the time */
		size_t j = test_rand_below(&s, f.n);
		if (test_rand(&s) & 1 && f.load[j] > 0)
			f.load[j]--;
		uint32_t lo = UINT32_MAX, hi = 0;
		for (size_t i = 0; i < f.n; i++) {
			lo = f.load[i] < lo ? f.load[i] : lo;
			hi = f.load[i] > hi ? f.load[i] : hi;
		}
		worst = hi - lo > worst ? hi - lo : worst;
	}
	print_message("least_conn: worst max-min load spread %u (random closes)\n", worst);
	/* a close can drop one backend below the others; the next picks refill it first */
	assert_true(worst <= 2);
	sl_lb_destroy(lb);
}

/* ---- power of two choices ---- */

/*
 * Simulated system: 16 backends, ~1600 concurrent sessions; each step opens one session on the
 * picked backend and closes one uniformly random live session when over 1600. Bound asserted:
 * max - min load <= 24 (a quarter of the mean) at every step after warm-up, and under half the
 * worst spread of uniform random placement run on the same closes (p2c 14..19 over seeds 1..10,
 * random 60..78).
 */
static void
lb_p2c_keeps_load_spread_small_in_simulation(void **state)
{
	enum { N = 16, LIVE = 1600, STEPS = 100000 };
	struct fake f;
	uint32_t worst = 0, worst_random = 0;
	uint64_t s = 99;
	uint32_t random_load[N] = {0};

	(void)state;
	fake_init(&f, N);
	struct sl_lb *lb = make(SL_LB_P2C, &f, 12345);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < STEPS; r++) {
		f.load[sl_lb_pick(lb, &c)]++;
		random_load[test_rand_below(&s, N)]++;
		if (r >= LIVE) {
			/* close a uniformly random live session: backend i with prob load_i/LIVE */
			for (int which = 0; which < 2; which++) {
				uint32_t *load = which == 0 ? f.load : random_load;
				size_t k = test_rand_below(&s, LIVE), i = 0;
				while (k >= load[i])
					k -= load[i++];
				load[i]--;
			}
		}
		if (r < 2 * LIVE)
			continue;
		uint32_t lo = UINT32_MAX, hi = 0, rlo = UINT32_MAX, rhi = 0;
		for (size_t i = 0; i < N; i++) {
			lo = f.load[i] < lo ? f.load[i] : lo;
			hi = f.load[i] > hi ? f.load[i] : hi;
			rlo = random_load[i] < rlo ? random_load[i] : rlo;
			rhi = random_load[i] > rhi ? random_load[i] : rhi;
		}
		worst = hi - lo > worst ? hi - lo : worst;
		worst_random = rhi - rlo > worst_random ? rhi - rlo : worst_random;
	}
	print_message("p2c: worst max-min spread %u over %d steps (uniform random: %u)\n", worst,
	              STEPS, worst_random);
	assert_true(worst <= 24);
	assert_true(worst_random > 2 * worst); /* the simulation can tell p2c from random */
	sl_lb_destroy(lb);
}

/*
 * Equal loads: each of 10 backends should get 1/10 of 100k picks. Chi-square statistic with
 * 9 degrees of freedom must stay below 27.88 (p = 0.001), and every count within 5% of 10000.
 */
static void
lb_p2c_is_uniform_when_loads_are_equal(void **state)
{
	enum { N = 10, PICKS = 100000 };
	struct fake f;
	unsigned count[FAKE_MAX] = {0};
	double chi2 = 0;

	(void)state;
	fake_init(&f, N);
	struct sl_lb *lb = make(SL_LB_P2C, &f, 777);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < PICKS; r++)
		count[sl_lb_pick(lb, &c)]++;
	for (size_t i = 0; i < N; i++) {
		double d = (double)count[i] - PICKS / N;
		chi2 += d * d / (PICKS / N);
		assert_in_range(count[i], PICKS / N * 95 / 100, PICKS / N * 105 / 100);
	}
	print_message("p2c: chi-square %.2f (df 9, bound 27.88)\n", chi2);
	assert_true(chi2 < 27.88);
	sl_lb_destroy(lb);
}

/* the two choices are distinct: a unique most-loaded backend is never chosen, even with n = 2 */
static void
lb_p2c_never_picks_the_unique_most_loaded_backend(void **state)
{
	struct fake f;
	uint64_t s = 3;

	(void)state;
	for (size_t n = 2; n <= 6; n++) {
		fake_init(&f, n);
		struct sl_lb *lb = make(SL_LB_P2C, &f, n);
		unsigned hits = 0;
		for (int r = 0; r < 20000; r++) {
			size_t heavy = test_rand_below(&s, n);
			for (size_t i = 0; i < n; i++)
				f.load[i] = i == heavy ? 50 : (uint32_t)test_rand_below(&s, 50);
			struct sl_lb_ctx c = fake_ctx(&f, 0);
			hits += (size_t)sl_lb_pick(lb, &c) == heavy;
		}
		assert_int_equal(0, hits);
		sl_lb_destroy(lb);
	}
}

/* with only 2 of 40 eligible (the reservoir path), the less loaded of the two always wins */
static void
lb_p2c_picks_less_loaded_of_two_eligible_among_many_down(void **state)
{
	struct fake f;
	uint64_t s = 4;
	unsigned wrong = 0;

	(void)state;
	fake_init(&f, 40);
	struct sl_lb *lb = make(SL_LB_P2C, &f, 8);
	for (int r = 0; r < 20000; r++) {
		size_t a = test_rand_below(&s, f.n),
		       b = (a + 1 + test_rand_below(&s, f.n - 1)) % f.n;
		for (size_t i = 0; i < f.n; i++) {
			f.up[i] = i == a || i == b;
			f.load[i] = (uint32_t)test_rand_below(&s, 1000);
		}
		f.load[b] = f.load[a] + 1;
		struct sl_lb_ctx c = fake_ctx(&f, 0);
		wrong += sl_lb_pick(lb, &c) != (int)a;
	}
	assert_int_equal(0, wrong);
	sl_lb_destroy(lb);
}

static void
lb_p2c_same_seed_gives_same_sequence(void **state)
{
	struct fake f;
	unsigned same_seed_diffs = 0, other_seed_diffs = 0;

	(void)state;
	fake_init(&f, 10);
	struct sl_lb *a = make(SL_LB_P2C, &f, 1), *b = make(SL_LB_P2C, &f, 1);
	struct sl_lb *other = make(SL_LB_P2C, &f, 2);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	for (int r = 0; r < 1000; r++) {
		int x = sl_lb_pick(a, &c), y = sl_lb_pick(b, &c), z = sl_lb_pick(other, &c);
		same_seed_diffs += x != y;
		other_seed_diffs += x != z;
	}
	assert_int_equal(0, same_seed_diffs);
	assert_true(other_seed_diffs > 500); /* ~900 expected for unrelated streams */
	sl_lb_destroy(a);
	sl_lb_destroy(b);
	sl_lb_destroy(other);
}

/* ---- clones ---- */

static void
lb_clone_has_its_own_state_and_outlives_the_original(void **state)
{
	struct fake f;
	struct sl_lb *orig, *clone = NULL;

	(void)state;
	fake_init(&f, 4);
	orig = make(SL_LB_ROUND_ROBIN, &f, 0);
	struct sl_lb_ctx c = fake_ctx(&f, 0);
	assert_int_equal(0, sl_lb_pick(orig, &c));
	assert_int_equal(1, sl_lb_pick(orig, &c));
	assert_int_equal(0, sl_lb_clone(&clone, orig, NULL));
	assert_int_equal(SL_LB_ROUND_ROBIN, sl_lb_algo_of(clone));
	assert_int_equal(4, sl_lb_size(clone));
	sl_lb_destroy(orig);
	assert_int_equal(0, sl_lb_pick(clone, &c));
	assert_int_equal(1, sl_lb_pick(clone, &c));
	sl_lb_destroy(clone);
}

struct clone_arg {
	struct sl_lb *proto;
	struct fake f;
	int picks_ok;
};

static void *
clone_worker(void *p)
{
	struct clone_arg *a = p;

	for (int r = 0; r < 200; r++) {
		struct sl_lb *lb = NULL;
		struct sl_lb_opts o = {.seed = (uint64_t)r};
		if (sl_lb_clone(&lb, a->proto, &o) != 0)
			return NULL;
		struct sl_lb_ctx c = fake_ctx(&a->f, (uint64_t)r);
		a->picks_ok += sl_lb_pick(lb, &c) >= 0;
		sl_lb_destroy(lb);
	}
	return NULL;
}

/* workers clone and destroy concurrently while the creator drops its own reference (TSan) */
static void
lb_clones_may_be_made_and_destroyed_on_any_thread(void **state)
{
	struct clone_arg arg[2];
	pthread_t th[2];
	struct sl_lb *proto;
	struct fake f;
	struct sl_lb_opts o = {.maglev_table_size = 1009};

	(void)state;
	fake_init(&f, 5);
	assert_int_equal(0, sl_lb_create(&proto, SL_LB_MAGLEV, f.t, f.n, &o));
	for (int k = 0; k < 2; k++) {
		arg[k].proto = NULL;
		arg[k].f = f;
		arg[k].picks_ok = 0;
		assert_int_equal(0, sl_lb_clone(&arg[k].proto, proto, NULL));
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(0, pthread_create(&th[k], NULL, clone_worker, &arg[k]));
	sl_lb_destroy(proto);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(0, pthread_join(th[k], NULL));
		assert_int_equal(200, arg[k].picks_ok);
		sl_lb_destroy(arg[k].proto);
	}
}

/* ---- flow key hash ---- */

/* flipping any one input bit flips each output bit with probability close to 1/2 */
static void
lb_hash_bytes_avalanches(void **state)
{
	enum { LEN = 16, SAMPLES = 400 };
	unsigned flips[64] = {0};
	unsigned total = 0;
	uint64_t s = 21;

	(void)state;
	for (int r = 0; r < SAMPLES; r++) {
		unsigned char in[LEN];
		for (size_t i = 0; i < LEN; i++)
			in[i] = (unsigned char)test_rand(&s);
		uint64_t h = sl_lb_hash_bytes(in, LEN, 0);
		for (size_t bit = 0; bit < LEN * 8; bit++) {
			in[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			uint64_t d = h ^ sl_lb_hash_bytes(in, LEN, 0);
			in[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			for (int o = 0; o < 64; o++)
				flips[o] += (d >> o) & 1;
			total++;
		}
	}
	/* per output bit: 51200 trials, sigma ~ 113; 0.47..0.53 is over 13 sigma wide */
	for (int o = 0; o < 64; o++)
		assert_in_range(flips[o], total * 47 / 100, total * 53 / 100);
}

static void
lb_hash_bytes_depends_on_seed_length_and_content(void **state)
{
	const char ip[] = {10, 0, 0, 1, 0, 0, 0, 0};

	(void)state;
	assert_true(sl_lb_hash_bytes(ip, 4, 0) == sl_lb_hash_bytes(ip, 4, 0));
	assert_true(sl_lb_hash_bytes(ip, 4, 0) != sl_lb_hash_bytes(ip, 4, 1));
	assert_true(sl_lb_hash_bytes(ip, 4, 0) != sl_lb_hash_bytes(ip, 5, 0));
	assert_true(sl_lb_hash_bytes(ip, 8, 0) != sl_lb_hash_bytes(ip, 7, 0));
	assert_true(sl_lb_hash_bytes(ip, 0, 0) != sl_lb_hash_bytes(ip, 0, 1));
	assert_true(sl_lb_hash_bytes("abc", 3, 0) != sl_lb_hash_bytes("abd", 3, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lb_algo_name_and_parse_round_trip),
	        cmocka_unit_test(lb_algo_parse_rejects_unknown_names),
	        cmocka_unit_test(lb_create_rejects_zero_targets),
	        cmocka_unit_test(lb_create_rejects_zero_weight),
	        cmocka_unit_test(lb_create_rejects_too_many_targets_and_unknown_algo),
	        cmocka_unit_test(lb_pick_returns_enoent_when_none_eligible),
	        cmocka_unit_test(lb_pick_returns_the_only_eligible_backend),
	        cmocka_unit_test(lb_pick_never_returns_an_ineligible_backend),
	        cmocka_unit_test(lb_rr_gives_equal_counts_over_whole_rounds),
	        cmocka_unit_test(lb_rr_skips_ineligible_backend),
	        cmocka_unit_test(lb_weighted_is_exact_over_every_cycle),
	        cmocka_unit_test(lb_weighted_spreads_each_backend_evenly_in_every_window),
	        cmocka_unit_test(lb_weighted_keeps_ratio_among_eligible_backends),
	        cmocka_unit_test(lb_least_conn_picks_min_load_per_weight),
	        cmocka_unit_test(lb_least_conn_rotates_among_ties),
	        cmocka_unit_test(lb_least_conn_keeps_loads_level_as_sessions_open),
	        cmocka_unit_test(lb_p2c_keeps_load_spread_small_in_simulation),
	        cmocka_unit_test(lb_p2c_is_uniform_when_loads_are_equal),
	        cmocka_unit_test(lb_p2c_never_picks_the_unique_most_loaded_backend),
	        cmocka_unit_test(lb_p2c_picks_less_loaded_of_two_eligible_among_many_down),
	        cmocka_unit_test(lb_p2c_same_seed_gives_same_sequence),
	        cmocka_unit_test(lb_clone_has_its_own_state_and_outlives_the_original),
	        cmocka_unit_test(lb_clones_may_be_made_and_destroyed_on_any_thread),
	        cmocka_unit_test(lb_hash_bytes_avalanches),
	        cmocka_unit_test(lb_hash_bytes_depends_on_seed_length_and_content),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
