// SPDX-License-Identifier: MIT
/*
 * Behaviour of Maglev consistent hashing (src/proxy/lb_maglev.c): tables depend only on the
 * set of backend names, shares are even, removing a backend moves few other keys, fallback
 * for ineligible backends is deterministic. The table is inspected through lb_int.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/lb.h>

#include "lb_fake.h"
#include "proxy/lb_int.h"

enum { KEYS = 100000 };

static struct sl_lb *
make_maglev(const struct sl_lb_target *t, size_t n, uint32_t table_size)
{
	struct sl_lb_opts o = {.maglev_table_size = table_size};
	struct sl_lb *lb = NULL;

	assert_int_equal(0, sl_lb_create(&lb, SL_LB_MAGLEV, t, n, &o));
	return lb;
}

static void
maglev_create_rejects_bad_table_sizes(void **state)
{
	/* not prime: 65541 = 3 * 21847, 65535 = 3 * 5 * 17 * 257 */
	static const uint32_t bad[] = {65536, 65535, 65541, 1000, 1};
	struct fake f;
	struct sl_lb *lb = NULL;

	(void)state;
	fake_init(&f, 10);
	for (size_t k = 0; k < SL_ARRAY_SIZE(bad); k++) {
		struct sl_lb_opts o = {.maglev_table_size = bad[k]};
		assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_MAGLEV, f.t, f.n, &o));
	}
	/* prime but smaller than the number of targets */
	struct sl_lb_opts small = {.maglev_table_size = 7};
	assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_MAGLEV, f.t, f.n, &small));
	/* prime but above the maximum */
	struct sl_lb_opts big = {.maglev_table_size = 16777259};
	assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_MAGLEV, f.t, f.n, &big));
	assert_null(lb);
}

static void
maglev_create_accepts_prime_table_sizes(void **state)
{
	static const uint32_t good[] = {11, 251, 65537, 131071};
	struct fake f;
	uint32_t size = 0;

	(void)state;
	fake_init(&f, 10);
	for (size_t k = 0; k < SL_ARRAY_SIZE(good); k++) {
		struct sl_lb *lb = make_maglev(f.t, f.n, good[k]);
		assert_non_null(sl__lb_maglev_table(lb, &size));
		assert_int_equal(good[k], size);
		sl_lb_destroy(lb);
	}
	struct sl_lb *lb = make_maglev(f.t, f.n, 0);
	sl__lb_maglev_table(lb, &size);
	assert_int_equal(SL_LB_MAGLEV_DEFAULT_SIZE, size);
	sl_lb_destroy(lb);
}

static void
maglev_create_rejects_missing_or_duplicate_names(void **state)
{
	struct fake f;
	struct sl_lb *lb = NULL;

	(void)state;
	fake_init(&f, 5);
	f.t[3].name = f.t[1].name;
	assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_MAGLEV, f.t, f.n, NULL));
	f.t[3].name = NULL;
	assert_int_equal(-EINVAL, sl_lb_create(&lb, SL_LB_MAGLEV, f.t, f.n, NULL));
	assert_null(lb);
}

static void
maglev_builds_identical_tables_independently(void **state)
{
	struct fake f;
	uint32_t ma = 0, mb = 0;

	(void)state;
	fake_init(&f, 37);
	struct sl_lb *a = make_maglev(f.t, f.n, 0), *b = make_maglev(f.t, f.n, 0);
	const uint16_t *ta = sl__lb_maglev_table(a, &ma), *tb = sl__lb_maglev_table(b, &mb);
	assert_int_equal(ma, mb);
	assert_memory_equal(ta, tb, (size_t)ma * sizeof(ta[0]));
	sl_lb_destroy(a);
	sl_lb_destroy(b);
}

/* the same names in reverse and in a shuffled order give the same name in every slot */
static void
maglev_table_does_not_depend_on_target_order(void **state)
{
	struct fake f;
	struct sl_lb_target rev[FAKE_MAX], shuf[FAKE_MAX];
	uint64_t s = 17;
	unsigned mismatches = 0, key_mismatches = 0;
	uint32_t m = 0, m2 = 0, m3 = 0;

	(void)state;
	fake_init(&f, 23);
	for (size_t i = 0; i < f.n; i++)
		rev[i] = shuf[i] = f.t[f.n - 1 - i];
	for (size_t i = f.n - 1; i > 0; i--) {
		size_t j = test_rand_below(&s, i + 1);
		struct sl_lb_target t = shuf[i];
		shuf[i] = shuf[j];
		shuf[j] = t;
	}
	struct sl_lb *a = make_maglev(f.t, f.n, 0), *b = make_maglev(rev, f.n, 0);
	struct sl_lb *c = make_maglev(shuf, f.n, 0);
	const uint16_t *ta = sl__lb_maglev_table(a, &m), *tb = sl__lb_maglev_table(b, &m2);
	const uint16_t *tc = sl__lb_maglev_table(c, &m3);
	for (uint32_t slot = 0; slot < m; slot++) {
		mismatches += strcmp(f.t[ta[slot]].name, rev[tb[slot]].name) != 0;
		mismatches += strcmp(f.t[ta[slot]].name, shuf[tc[slot]].name) != 0;
	}
	for (int k = 0; k < KEYS; k++) {
		struct sl_lb_ctx ctx = {.key = test_rand(&s)};
		int x = sl_lb_pick(a, &ctx), y = sl_lb_pick(b, &ctx), z = sl_lb_pick(c, &ctx);
		key_mismatches += strcmp(f.t[x].name, rev[y].name) != 0;
		key_mismatches += strcmp(f.t[x].name, shuf[z].name) != 0;
	}
	assert_int_equal(0, mismatches);
	assert_int_equal(0, key_mismatches);
	sl_lb_destroy(a);
	sl_lb_destroy(b);
	sl_lb_destroy(c);
}

/*
 * Every backend owns floor(M/N) or ceil(M/N) slots (turns are round robin until full), which
 * is within 1% of M/N whenever N <= M/100.
 */
static void
maglev_gives_every_backend_an_even_share_of_the_table(void **state)
{
	static const size_t ns[] = {1, 2, 3, 10, 64, 128};
	struct fake f;

	(void)state;
	for (size_t k = 0; k < SL_ARRAY_SIZE(ns); k++) {
		unsigned count[FAKE_MAX] = {0};
		uint32_t m = 0;
		fake_init(&f, ns[k]);
		struct sl_lb *lb = make_maglev(f.t, f.n, 0);
		const uint16_t *t = sl__lb_maglev_table(lb, &m);
		for (uint32_t slot = 0; slot < m; slot++)
			count[t[slot]]++;
		for (size_t i = 0; i < f.n; i++) {
			assert_in_range(count[i], m / f.n, (m + f.n - 1) / f.n);
			double share = (double)count[i] * (double)f.n / m;
			assert_true(share > 0.99 && share < 1.01);
		}
		sl_lb_destroy(lb);
	}
}

/* keys spread over backends like the table: each of 10 gets 10% of 100k keys within 5% */
static void
maglev_spreads_random_keys_evenly(void **state)
{
	struct fake f;
	unsigned count[FAKE_MAX] = {0};
	uint64_t s = 23;

	(void)state;
	fake_init(&f, 10);
	struct sl_lb *lb = make_maglev(f.t, f.n, 0);
	for (int k = 0; k < KEYS; k++) {
		struct sl_lb_ctx c = {.key = test_rand(&s)};
		count[sl_lb_pick(lb, &c)]++;
	}
	for (size_t i = 0; i < f.n; i++)
		assert_in_range(count[i], KEYS / 10 * 95 / 100, KEYS / 10 * 105 / 100);
	sl_lb_destroy(lb);
}

/*
 * Removing one of N = 10 backends (a rebuild with 9 names): the removed backend's keys (~1/N)
 * must move; of the other keys at most 2% may move (observed 0.27% with M = 65537), so the
 * total moved stays <= 1/N * 1.3.
 */
static void
maglev_removing_one_of_ten_backends_moves_few_other_keys(void **state)
{
	struct fake f;
	uint64_t s = 29;
	unsigned on_removed = 0, others_moved = 0;

	(void)state;
	fake_init(&f, 10);
	const size_t gone = 6;
	struct sl_lb_target rest[FAKE_MAX];
	size_t nr = 0;
	for (size_t i = 0; i < f.n; i++)
		if (i != gone)
			rest[nr++] = f.t[i];
	struct sl_lb *before = make_maglev(f.t, f.n, 0), *after = make_maglev(rest, nr, 0);
	for (int k = 0; k < KEYS; k++) {
		struct sl_lb_ctx c = {.key = test_rand(&s)};
		int x = sl_lb_pick(before, &c), y = sl_lb_pick(after, &c);
		if ((size_t)x == gone)
			on_removed++;
		else
			others_moved += strcmp(f.t[x].name, rest[y].name) != 0;
	}
	double moved_other = (double)others_moved / KEYS;
	double moved_total = (double)(others_moved + on_removed) / KEYS;
	print_message("maglev N=10 remove 1: removed backend held %.4f, other keys moved %.4f, "
	              "total moved %.4f (bound 0.13)\n",
	              (double)on_removed / KEYS, moved_other, moved_total);
	assert_true(moved_other <= 0.02);
	assert_true(moved_total <= 0.1 * 1.3);
	sl_lb_destroy(before);
	sl_lb_destroy(after);
}

/* adding an 11th backend takes about 1/11 of the keys, nearly all of them moving to it */
static void
maglev_adding_a_backend_moves_keys_mostly_to_it(void **state)
{
	struct fake f;
	uint64_t s = 31;
	unsigned to_new = 0, elsewhere = 0;

	(void)state;
	fake_init(&f, 11);
	struct sl_lb *before = make_maglev(f.t, 10, 0), *after = make_maglev(f.t, 11, 0);
	for (int k = 0; k < KEYS; k++) {
		struct sl_lb_ctx c = {.key = test_rand(&s)};
		int x = sl_lb_pick(before, &c), y = sl_lb_pick(after, &c);
		to_new += y == 10;
		elsewhere += y != 10 && x != y;
	}
	print_message("maglev N=10 add 1: to new %.4f, between old %.4f\n", (double)to_new / KEYS,
	              (double)elsewhere / KEYS);
	assert_in_range(to_new, KEYS / 11 * 95 / 100, KEYS / 11 * 105 / 100);
	assert_true(elsewhere <= KEYS * 2 / 100);
	sl_lb_destroy(before);
	sl_lb_destroy(after);
}

/*
 * One backend down: keys of the up backends keep their backend, and the down backend's keys
 * are spread over the other 9, each getting its 1/9 within 15% (~11k keys in all).
 */
static void
maglev_down_backend_moves_only_its_own_keys_and_spreads_them(void **state)
{
	struct fake f;
	uint64_t s = 37;
	unsigned stayed_wrong = 0, spread[FAKE_MAX] = {0}, moved = 0;
	const size_t down = 3;

	(void)state;
	fake_init(&f, 10);
	struct sl_lb *lb = make_maglev(f.t, f.n, 0);
	for (int k = 0; k < KEYS; k++) {
		struct sl_lb_ctx c = fake_ctx(&f, test_rand(&s));
		f.up[down] = true;
		int x = sl_lb_pick(lb, &c);
		f.up[down] = false;
		int y = sl_lb_pick(lb, &c);
		if ((size_t)x != down) {
			stayed_wrong += x != y;
		} else {
			spread[y]++;
			moved++;
		}
	}
	assert_int_equal(0, stayed_wrong);
	assert_int_equal(0, spread[down]);
	for (size_t i = 0; i < f.n; i++)
		if (i != down)
			assert_in_range(spread[i], moved / 9 * 85 / 100, moved / 9 * 115 / 100);
	sl_lb_destroy(lb);
}

/*
 * Two instances built from differently ordered configs (two proxies behind ECMP) agree on
 * every key under the same random down-sets, including sets where the 16 table probes all
 * miss and the name-order walk decides.
 */
static void
maglev_fallback_is_the_same_across_instances(void **state)
{
	struct fake f, g;
	uint64_t s = 41;
	unsigned disagree = 0, errors = 0;

	(void)state;
	fake_init(&f, 30);
	g = f;
	for (size_t i = 0; i < f.n; i++) { /* g lists the names in reverse */
		g.t[i] = f.t[f.n - 1 - i];
	}
	struct sl_lb *a = make_maglev(f.t, f.n, 1009), *b = make_maglev(g.t, g.n, 1009);
	for (int k = 0; k < 20000; k++) {
		unsigned pct = 1 + (unsigned)test_rand_below(&s, 60);
		for (size_t i = 0; i < f.n; i++) {
			f.up[i] = test_rand_below(&s, 100) < pct;
			g.up[f.n - 1 - i] = f.up[i];
		}
		uint64_t key = test_rand(&s);
		struct sl_lb_ctx cf = fake_ctx(&f, key), cg = fake_ctx(&g, key);
		int x = sl_lb_pick(a, &cf), y = sl_lb_pick(b, &cg);
		if (x < 0 || y < 0)
			errors += (x < 0) != (y < 0);
		else
			disagree += strcmp(f.t[x].name, g.t[y].name) != 0;
	}
	assert_int_equal(0, errors);
	assert_int_equal(0, disagree);
	sl_lb_destroy(a);
	sl_lb_destroy(b);
}

static void
maglev_never_picks_a_down_backend_while_one_is_up(void **state)
{
	struct fake f;
	uint64_t s = 43;
	unsigned bad = 0, enoent = 0;

	(void)state;
	fake_init(&f, 50);
	struct sl_lb *lb = make_maglev(f.t, f.n, 0);
	for (int k = 0; k < KEYS; k++) {
		size_t n_up = 0;
		for (size_t i = 0; i < f.n; i++) {
			f.up[i] = test_rand_below(&s, 100) < 5; /* mostly 0..5 up: the walk path */
			n_up += f.up[i];
		}
		struct sl_lb_ctx c = fake_ctx(&f, test_rand(&s));
		int got = sl_lb_pick(lb, &c);
		if (n_up == 0)
			enoent += got != -ENOENT;
		else
			bad += got < 0 || !f.up[got];
	}
	assert_int_equal(0, enoent);
	assert_int_equal(0, bad);
	sl_lb_destroy(lb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(maglev_create_rejects_bad_table_sizes),
	        cmocka_unit_test(maglev_create_accepts_prime_table_sizes),
	        cmocka_unit_test(maglev_create_rejects_missing_or_duplicate_names),
	        cmocka_unit_test(maglev_builds_identical_tables_independently),
	        cmocka_unit_test(maglev_table_does_not_depend_on_target_order),
	        cmocka_unit_test(maglev_gives_every_backend_an_even_share_of_the_table),
	        cmocka_unit_test(maglev_spreads_random_keys_evenly),
	        cmocka_unit_test(maglev_removing_one_of_ten_backends_moves_few_other_keys),
	        cmocka_unit_test(maglev_adding_a_backend_moves_keys_mostly_to_it),
	        cmocka_unit_test(maglev_down_backend_moves_only_its_own_keys_and_spreads_them),
	        cmocka_unit_test(maglev_fallback_is_the_same_across_instances),
	        cmocka_unit_test(maglev_never_picks_a_down_backend_while_one_is_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
