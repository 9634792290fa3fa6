// SPDX-License-Identifier: MIT
/* Behaviour of the longest-prefix match table (src/net/lpm.c), checked against a brute-force
 * scan of the same prefixes on seeded random sets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/cidr.h>
#include <sluice/lpm.h>

#include "net/lpm_int.h"

struct pfx {
	struct sl_cidr c;
	uint32_t value;
};

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: deterministic per seed, good enough to spread prefixes */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static struct sl_cidr
cidr(const char *text)
{
	struct sl_cidr c;

	assert_int_equal(0, sl_cidr_parse(&c, text, 0, NULL));
	return c;
}

static uint32_t
v4(const char *text)
{
	struct in_addr a;

	assert_int_equal(1, inet_pton(AF_INET, text, &a));
	return ntohl(a.s_addr);
}

static uint32_t
look6(const struct sl_lpm *t, const char *text)
{
	struct in6_addr a;

	assert_int_equal(1, inet_pton(AF_INET6, text, &a));
	return sl_lpm_lookup6(t, a.s6_addr);
}

static struct sl_lpm *
build(const struct pfx *p, size_t n)
{
	struct sl_lpm_builder *b;
	struct sl_lpm *t;
	size_t i;

	assert_int_equal(0, sl_lpm_builder_create(&b));
	for (i = 0; i < n; i++)
		assert_int_equal(0, sl_lpm_builder_add(b, &p[i].c, p[i].value));
	assert_int_equal(0, sl_lpm_build(&t, b));
	sl_lpm_builder_destroy(b);
	return t;
}

/* the reference: scan every prefix, keep the longest that contains <a> */
static uint32_t
brute(const struct pfx *p, size_t n, int family, const uint8_t *a)
{
	uint32_t v = SL_LPM_NONE;
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (sl_cidr_contains(&p[i].c, family, a) && (int)p[i].c.len > best) {
			best = p[i].c.len;
			v = p[i].value;
		}
	return v;
}

/* A random prefix set whose addresses come from a few bases, so prefixes nest and overlap
 * (or, if <spread>, from anywhere, so most stand alone); lengths cover 0 .. max (32 or 128),
 * or max/2 .. max if <spread>.
 * Duplicates are skipped. Returns the count. */
static size_t
random_prefixes_from(struct pfx *p, size_t n, int family, uint64_t seed, bool spread)
{
	unsigned max = family == AF_INET ? 32 : 128, nb = max / 8, len, i, k;
	uint8_t bases[8][16];
	size_t m = 0, j;

	for (k = 0; k < 8; k++)
		for (i = 0; i < 16; i++)
			bases[k][i] = (uint8_t)rnd(&seed);
	while (m < n) {
		struct sl_cidr c = {.family = (uint8_t)family};
		uint64_t r = rnd(&seed);

		/* spread sets keep to the longer half, so few prefixes cover the others */
		len = spread ? max / 2 + (unsigned)(r % (max / 2 + 1)) : (unsigned)(r % (max + 1));
		memcpy(c.addr, bases[(r >> 8) % 8], nb);
		for (i = 0; spread && i < nb; i++)
			c.addr[i] = (uint8_t)rnd(&seed);
		/* perturb some bits so siblings appear below the shared bases */
		for (i = 0; i < 3; i++) {
			k = (unsigned)(rnd(&seed) % max);
			c.addr[k / 8] ^= (uint8_t)(0x80u >> (k % 8));
		}
		for (i = len; i < max; i++)
			c.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
		c.len = (uint8_t)len;
		for (j = 0; j < m && memcmp(&p[j].c, &c, sizeof(c)); j++)
			;
		if (j < m)
			continue;
		p[m].c = c;
		p[m].value = (uint32_t)(rnd(&seed) % SL_LPM_NONE);
		m++;
	}
	return m;
}

static size_t
random_prefixes(struct pfx *p, size_t n, int family, uint64_t seed)
{
	return random_prefixes_from(p, n, family, seed, false);
}

static uint32_t
look(const struct sl_lpm *t, int family, const uint8_t *a)
{
	if (family == AF_INET)
		return sl_lpm_lookup4(t, (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
		                                 (uint32_t)a[2] << 8 | a[3]);
	return sl_lpm_lookup6(t, a);
}

/* Checks random addresses, and for each prefix its first and last address, the one just past
 * it and a random one inside, against the brute-force answer. */
static void
check_against_brute(const struct pfx *p, size_t n, int family, uint64_t seed, unsigned queries)
{
	unsigned nb = family == AF_INET ? 4 : 16, i, k, b;
	struct sl_lpm *t = build(p, n);
	uint8_t a[16] = {0};
	size_t j;

	for (i = 0; i < queries; i++) {
		for (k = 0; k < nb; k++)
			a[k] = (uint8_t)rnd(&seed);
		assert_int_equal(brute(p, n, family, a), look(t, family, a));
	}
	for (j = 0; j < n; j++) {
		/* first address, a random one inside, the last, and the one after the last */
		for (k = 0; k < 4; k++) {
			memcpy(a, p[j].c.addr, nb);
			for (b = p[j].c.len; b < nb * 8; b++) {
				int set = k == 2 || k == 3 || (k == 1 && (rnd(&seed) & 1));

				if (set)
					a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
			}
			if (k ==
			    3) /* add one with carry: leaves the prefix unless it ends the space */
				for (b = nb; b-- > 0 && ++a[b] == 0;)
					;
			assert_int_equal(brute(p, n, family, a), look(t, family, a));
		}
	}
	sl_lpm_destroy(t);
}

static void
lpm_ipv4_matches_brute_force_on_random_sets(void **state)
{
	static struct pfx p[1500];
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 6; seed++) {
		size_t n = random_prefixes(p, 1 + (seed * 271) % SL_ARRAY_SIZE(p), AF_INET, seed);

		check_against_brute(p, n, AF_INET, seed * 7919, 4000);
	}
}

static void
lpm_ipv4_matches_brute_force_on_spread_random_sets(void **state)
{
	static struct pfx p[3000];
	uint64_t seed;

	(void)state;
	/* unclustered, so many prefixes sit alone below the first level */
	for (seed = 1; seed <= 4; seed++) {
		size_t n = random_prefixes_from(p, 1 + (seed * 977) % SL_ARRAY_SIZE(p), AF_INET,
		                                seed, true);

		check_against_brute(p, n, AF_INET, seed * 104729, 4000);
	}
}

static void
lpm_ipv6_matches_brute_force_on_random_sets(void **state)
{
	static struct pfx p[1500];
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 6; seed++) {
		size_t n = random_prefixes(p, 1 + (seed * 271) % SL_ARRAY_SIZE(p), AF_INET6, seed);

		check_against_brute(p, n, AF_INET6, seed * 7919, 4000);
	}
}

static void
lpm_empty_table_matches_nothing(void **state)
{
	struct sl_lpm *t = build(NULL, 0);

	(void)state;
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("10.1.2.3")));
	assert_int_equal(SL_LPM_NONE, look6(t, "::1"));
	sl_lpm_destroy(t);
}

static void
lpm_default_route_matches_every_address_of_its_family(void **state)
{
	struct pfx p[] = {{cidr("0.0.0.0/0"), 4}, {cidr("::/0"), 6}};
	struct sl_lpm *t = build(p, 2);

	(void)state;
	assert_int_equal(4, sl_lpm_lookup4(t, 0));
	assert_int_equal(4, sl_lpm_lookup4(t, UINT32_MAX));
	assert_int_equal(6, look6(t, "::"));
	assert_int_equal(6, look6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	sl_lpm_destroy(t);
}

static void
lpm_host_prefix_matches_only_its_address(void **state)
{
	struct pfx p[] = {{cidr("192.168.1.7"), 1}, {cidr("2001:db8::7"), 2}};
	struct sl_lpm *t = build(p, 2);

	(void)state;
	assert_int_equal(1, sl_lpm_lookup4(t, v4("192.168.1.7")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("192.168.1.6")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("192.168.1.8")));
	assert_int_equal(2, look6(t, "2001:db8::7"));
	assert_int_equal(SL_LPM_NONE, look6(t, "2001:db8::6"));
	assert_int_equal(SL_LPM_NONE, look6(t, "2001:db8::8"));
	sl_lpm_destroy(t);
}

static void
lpm_longest_overlapping_prefix_wins(void **state)
{
	struct pfx p[] = {
	        {cidr("10.0.0.0/8"), 1},  {cidr("10.1.0.0/16"), 2},   {cidr("10.1.2.0/24"), 3},
	        {cidr("10.1.2.3/32"), 4}, {cidr("10.1.2.128/25"), 5}, {cidr("10.1.0.0/17"), 6},
	};
	struct sl_lpm *t = build(p, SL_ARRAY_SIZE(p));

	(void)state;
	assert_int_equal(1, sl_lpm_lookup4(t, v4("10.200.0.1")));
	assert_int_equal(6, sl_lpm_lookup4(t, v4("10.1.1.1")));
	assert_int_equal(2, sl_lpm_lookup4(t, v4("10.1.200.1")));
	assert_int_equal(3, sl_lpm_lookup4(t, v4("10.1.2.2")));
	assert_int_equal(4, sl_lpm_lookup4(t, v4("10.1.2.3")));
	assert_int_equal(5, sl_lpm_lookup4(t, v4("10.1.2.200")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("11.0.0.0")));
	sl_lpm_destroy(t);
}

static void
lpm_keeps_ipv4_and_ipv6_apart(void **state)
{
	struct pfx p[] = {{cidr("0.0.0.0/1"), 4}, {cidr("8000::/1"), 6}};
	struct sl_lpm *t = build(p, 2);

	(void)state;
	/* each family's half of the space that the other family's prefix would cover */
	assert_int_equal(SL_LPM_NONE, look6(t, "::1"));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("200.0.0.1")));
	assert_int_equal(4, sl_lpm_lookup4(t, v4("1.2.3.4")));
	assert_int_equal(6, look6(t, "8000::1"));
	sl_lpm_destroy(t);
}

static void
lpm_lookup_sa_unmaps_ipv4_mapped_addresses(void **state)
{
	struct pfx p[] = {{cidr("::ffff:10.0.0.0/104"), 4}, {cidr("::/0"), 6}};
	struct sl_lpm *t = build(p, 2);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr su = {.sa_family = AF_UNIX};

	(void)state;
	assert_int_equal(1, inet_pton(AF_INET6, "::ffff:10.9.8.7", &s6.sin6_addr));
	assert_int_equal(4, sl_lpm_lookup_sa(t, (struct sockaddr *)&s6));
	assert_int_equal(1, inet_pton(AF_INET6, "::ffff:11.9.8.7", &s6.sin6_addr));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup_sa(t, (struct sockaddr *)&s6));
	assert_int_equal(1, inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr));
	assert_int_equal(6, sl_lpm_lookup_sa(t, (struct sockaddr *)&s6));
	assert_int_equal(1, inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr));
	assert_int_equal(4, sl_lpm_lookup_sa(t, (struct sockaddr *)&s4));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup_sa(t, &su));
	sl_lpm_destroy(t);
}

static void
lpm_build_refuses_duplicate_prefix(void **state)
{
	struct sl_lpm_builder *b;
	struct sl_cidr c = cidr("10.0.0.0/8");
	struct sl_lpm *t = NULL;

	(void)state;
	assert_int_equal(0, sl_lpm_builder_create(&b));
	assert_int_equal(0, sl_lpm_builder_add(b, &c, 1));
	assert_int_equal(0, sl_lpm_builder_add(b, &c, 2));
	assert_int_equal(-EEXIST, sl_lpm_build(&t, b));
	assert_null(t);
	sl_lpm_builder_destroy(b);
}

static void
lpm_add_refuses_invalid_prefix_and_value(void **state)
{
	struct sl_lpm_builder *b;
	struct sl_cidr c = cidr("10.0.0.0/8");

	(void)state;
	assert_int_equal(0, sl_lpm_builder_create(&b));
	assert_int_equal(-ERANGE, sl_lpm_builder_add(b, &c, SL_LPM_NONE));
	assert_int_equal(0, sl_lpm_builder_add(b, &c, SL_LPM_NONE - 1));
	c.addr[3] = 1;
	assert_int_equal(-EINVAL, sl_lpm_builder_add(b, &c, 1));
	c = cidr("::/0");
	c.len = 129;
	assert_int_equal(-EINVAL, sl_lpm_builder_add(b, &c, 1));
	sl_lpm_builder_destroy(b);
}

static void
lpm_stats_account_for_every_array(void **state)
{
	/* one /24 in a one-prefix table: a 2^8-entry first level per family (8-byte entries for
	 * IPv4, 4-byte for IPv6), then one 6-bit node
	 * at bit 20 whose skip path folds the one-child levels at bits 8 and 14; it holds the /24
	 * in slots 8-11 between two runs of misses. */
	struct pfx p[] = {{cidr("10.1.2.0/24"), 1}};
	struct sl_lpm *t = build(p, 1);
	struct sl_lpm_stats s;

	(void)state;
	sl_lpm_stats(t, &s);
	assert_int_equal(1, s.prefixes4);
	assert_int_equal(0, s.prefixes6);
	assert_int_equal(8, s.root_bits4);
	assert_int_equal(8, s.root_bits6);
	assert_int_equal(1, s.nodes4);
	assert_int_equal(3, s.leaves4);
	assert_int_equal(0, s.nodes6);
	assert_int_equal(256 * 8 + 32 + 3 * 4, s.bytes4);
	assert_int_equal(256 * 4, s.bytes6);
	assert_true(s.bytes > s.bytes4 + s.bytes6);
	assert_true(s.bytes < s.bytes4 + s.bytes6 + 1024);
	sl_lpm_destroy(t);
}

static void
lpm_lone_prefix_is_answered_by_the_first_level(void **state)
{
	/* a /20 alone in a one-prefix table: 12 bits below the 8-bit first level, no node */
	struct pfx p[] = {{cidr("10.1.16.0/20"), 7}};
	struct sl_lpm *t = build(p, 1);
	struct sl_lpm_stats s;

	(void)state;
	sl_lpm_stats(t, &s);
	assert_int_equal(0, s.nodes4);
	assert_int_equal(0, s.leaves4);
	assert_int_equal(7, sl_lpm_lookup4(t, v4("10.1.16.0")));
	assert_int_equal(7, sl_lpm_lookup4(t, v4("10.1.31.255")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("10.1.32.0")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("10.1.15.255")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("10.0.16.0")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("11.1.16.0")));
	sl_lpm_destroy(t);
}

static void
lpm_lone_prefix_in_the_first_level_falls_back_to_its_cover(void **state)
{
	struct pfx p[] = {{cidr("10.0.0.0/8"), 3}, {cidr("10.1.16.0/20"), 7}};
	struct sl_lpm *t = build(p, 2);
	struct sl_lpm_stats s;

	(void)state;
	sl_lpm_stats(t, &s);
	assert_int_equal(0, s.nodes4);
	assert_int_equal(7, sl_lpm_lookup4(t, v4("10.1.16.1")));
	assert_int_equal(3, sl_lpm_lookup4(t, v4("10.1.32.0")));
	assert_int_equal(3, sl_lpm_lookup4(t, v4("10.255.255.255")));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("11.1.16.1")));
	sl_lpm_destroy(t);
}

static void
lpm_first_level_grows_with_the_prefix_count(void **state)
{
	static struct pfx p[5000];
	size_t n = random_prefixes(p, SL_ARRAY_SIZE(p), AF_INET, 3);
	struct sl_lpm *t = build(p, n);
	struct sl_lpm_stats s;

	(void)state;
	sl_lpm_stats(t, &s);
	assert_int_equal(17, s.root_bits4); /* 2^12 <= 5000 < 2^13: 16 entries a prefix or more */
	assert_int_equal(8, s.root_bits6);
	assert_int_equal(((size_t)8 << 17) + s.nodes4 * 32 + s.leaves4 * 4, s.bytes4);
	sl_lpm_destroy(t);
}

static void
lpm_build_fails_cleanly_when_any_allocation_fails(void **state)
{
	static struct pfx p[300];
	size_t n4 = random_prefixes(p, 150, AF_INET, 11);
	size_t n6 = random_prefixes(p + n4, 150, AF_INET6, 12);
	struct sl_lpm_builder *b;
	struct sl_lpm *t = NULL;
	long fails = 0, after;
	size_t i;
	int err = -1;

	(void)state;
	/* the n-th allocation fails, for every n until the build needs fewer than n */
	for (after = 0; after < 10000 && err != 0; after++) {
		assert_int_equal(0, sl_lpm_builder_create(&b));
		for (i = 0; i < n4 + n6; i++)
			assert_int_equal(0, sl_lpm_builder_add(b, &p[i].c, p[i].value));
		sl__lpm_builder_fail_after(b, after);
		err = sl_lpm_build(&t, b);
		if (err) {
			assert_int_equal(-ENOMEM, err);
			fails++;
		}
		sl_lpm_builder_destroy(b);
	}
	assert_int_equal(0, err);
	assert_true(fails >= 4); /* table, two first levels, nodes and leaves at least */
	for (i = 0; i < n4 + n6; i++)
		assert_int_equal(brute(p, n4 + n6, p[i].c.family, p[i].c.addr),
		                 look(t, p[i].c.family, p[i].c.addr));
	sl_lpm_destroy(t);
}

static void
lpm_add_leaves_builder_unchanged_when_growth_fails(void **state)
{
	struct sl_lpm_builder *b;
	struct sl_cidr c = cidr("10.0.0.0/8"), d = cidr("11.0.0.0/8");
	struct sl_lpm *t;

	(void)state;
	assert_int_equal(0, sl_lpm_builder_create(&b));
	sl__lpm_builder_fail_after(b, 0);
	assert_int_equal(-ENOMEM, sl_lpm_builder_add(b, &c, 1));
	sl__lpm_builder_fail_after(b, -1);
	assert_int_equal(0, sl_lpm_builder_add(b, &d, 2));
	assert_int_equal(0, sl_lpm_build(&t, b));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(t, v4("10.0.0.1")));
	assert_int_equal(2, sl_lpm_lookup4(t, v4("11.0.0.1")));
	sl_lpm_destroy(t);
	sl_lpm_builder_destroy(b);
}

struct reader {
	const struct sl_lpm *t;
	const struct pfx *p;
	size_t n;
	uint64_t seed;
	unsigned wrong;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t a[4];
	unsigned i, k;

	for (i = 0; i < 20000; i++) {
		for (k = 0; k < 4; k++)
			a[k] = (uint8_t)rnd(&r->seed);
		if (look(r->t, AF_INET, a) != brute(r->p, r->n, AF_INET, a))
			r->wrong++;
	}
	return NULL;
}

static void
lpm_concurrent_readers_get_the_same_answers(void **state)
{
	static struct pfx p[200];
	size_t n = random_prefixes(p, SL_ARRAY_SIZE(p), AF_INET, 5);
	struct sl_lpm *t = build(p, n);
	struct reader r[4];
	pthread_t th[4];
	unsigned i;

	(void)state;
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){.t = t, .p = p, .n = n, .seed = 100 + i};
		assert_int_equal(0, pthread_create(&th[i], NULL, reader_main, &r[i]));
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(0, pthread_join(th[i], NULL));
		assert_int_equal(0, r[i].wrong);
	}
	sl_lpm_destroy(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lpm_ipv4_matches_brute_force_on_random_sets),
	        cmocka_unit_test(lpm_ipv4_matches_brute_force_on_spread_random_sets),
	        cmocka_unit_test(lpm_ipv6_matches_brute_force_on_random_sets),
	        cmocka_unit_test(lpm_empty_table_matches_nothing),
	        cmocka_unit_test(lpm_default_route_matches_every_address_of_its_family),
	        cmocka_unit_test(lpm_host_prefix_matches_only_its_address),
	        cmocka_unit_test(lpm_longest_overlapping_prefix_wins),
	        cmocka_unit_test(lpm_keeps_ipv4_and_ipv6_apart),
	        cmocka_unit_test(lpm_lookup_sa_unmaps_ipv4_mapped_addresses),
	        cmocka_unit_test(lpm_build_refuses_duplicate_prefix),
	        cmocka_unit_test(lpm_add_refuses_invalid_prefix_and_value),
	        cmocka_unit_test(lpm_stats_account_for_every_array),
	        cmocka_unit_test(lpm_lone_prefix_is_answered_by_the_first_level),
	        cmocka_unit_test(lpm_lone_prefix_in_the_first_level_falls_back_to_its_cover),
	        cmocka_unit_test(lpm_first_level_grows_with_the_prefix_count),
	        cmocka_unit_test(lpm_build_fails_cleanly_when_any_allocation_fails),
	        cmocka_unit_test(lpm_add_leaves_builder_unchanged_when_growth_fails),
	        cmocka_unit_test(lpm_concurrent_readers_get_the_same_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
