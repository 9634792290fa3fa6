// SPDX-License-Identifier: MIT
/*
 * Behaviour tests of sl_srctab: concurrent and rate limits per source, prefix aggregation,
 * eviction (never an entry with live connections; among idle ones the least rate debt), failing
 * closed when a set is all pinned, that an attacker cycling through 100k addresses cannot
 * take the entries of sources holding connections, and bans after repeated strikes. Threads:
 * tests/unit/srctab_stress_test.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include <sluice/srctab.h>

#define SEC 1000000000ULL
#define T0 (1000 * SEC)

static struct sl_addr
addr(const char *text)
{
	struct sl_addr a;

	assert_int_equal(0, sl_addr_parse(&a, text, true, NULL));
	return a;
}

/* IPv4 <ip> (host order), port 1234 */
static struct sl_addr
addr4(uint32_t ip)
{
	struct sl_addr a = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(1234);
	sin->sin_addr.s_addr = htonl(ip);
	return a;
}

static struct sl_srctab *
table(size_t capacity, unsigned prefix4, unsigned prefix6)
{
	struct sl_srctab_opts o = {.capacity = capacity,
	                           .prefix4 = prefix4,
	                           .prefix6 = prefix6,
	                           .seed = {0x5eed, 0xc0ffee}};
	struct sl_srctab *t;

	assert_int_equal(0, sl_srctab_create(&t, &o));
	return t;
}

static struct sl_srctab_limits
limits(uint32_t max_conns, uint32_t rate, uint32_t burst)
{
	struct sl_srctab_limits l = {.max_conns = max_conns};

	assert_int_equal(0, sl_tbucket_rate_init(&l.rate, rate, burst));
	return l;
}

static int
acquire(struct sl_srctab *t, const char *src, const struct sl_srctab_limits *l, uint64_t now,
        struct sl_srctab_slot *slot)
{
	struct sl_addr a = addr(src);

	return sl_srctab_acquire(t, &a, l, now, slot);
}

static void
srctab_create_refuses_zero_capacity_and_bad_prefixes(void **state)
{
	struct sl_srctab_opts o = {.capacity = 0};
	struct sl_srctab *t = (void *)1;

	(void)state;
	assert_int_equal(-EINVAL, sl_srctab_create(&t, &o));
	assert_null(t);
	o.capacity = 10;
	o.prefix4 = 33;
	assert_int_equal(-EINVAL, sl_srctab_create(&t, &o));
	o.prefix4 = 0;
	o.prefix6 = 129;
	assert_int_equal(-EINVAL, sl_srctab_create(&t, &o));
	o.prefix6 = 0;
	o.capacity = SL_SRCTAB_MAX_CAPACITY + 1;
	assert_int_equal(-EINVAL, sl_srctab_create(&t, &o));
}

static void
srctab_rounds_capacity_up_to_whole_sets(void **state)
{
	struct sl_srctab *t = table(SL_SRCTAB_WAYS + 1, 0, 0);
	struct sl_srctab_stats st;

	(void)state;
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(2 * SL_SRCTAB_WAYS, st.capacity);
	assert_int_equal(0, st.in_use);
	sl_srctab_destroy(t);
}

static void
srctab_allows_max_conns_then_refuses_over_conns(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(3, 0, 0);
	struct sl_srctab_slot s[4];

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s[i]));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "10.0.0.1:1", &l, T0, &s[3]));
	/* another source is not affected */
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.2:1", &l, T0, &s[3]));
	sl_srctab_destroy(t);
}

static void
srctab_release_lets_the_source_connect_again(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(1, 0, 0);
	struct sl_srctab_slot s, s2;
	struct sl_srctab_stats st;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "10.0.0.1:2", &l, T0, &s2));
	sl_srctab_release(t, s);
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:3", &l, T0, &s2));
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(1, st.conns);
	sl_srctab_destroy(t);
}

static void
srctab_refuses_over_rate_after_the_burst_until_a_token_refills(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(0, 10, 3); /* a token per 100 ms */
	struct sl_srctab_slot s;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8::1]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, acquire(t, "[2001:db8::1]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE,
	                 acquire(t, "[2001:db8::1]:1", &l, T0 + SEC / 10 - 1, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8::1]:1", &l, T0 + SEC / 10, &s));
	sl_srctab_destroy(t);
}

static void
srctab_refused_connection_holds_no_slot(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(5, 1, 1);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, acquire(t, "10.0.0.1:1", &l, T0, &s));
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(1, st.conns);
	sl_srctab_destroy(t);
}

static void
srctab_zero_limits_are_unlimited(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(0, 0, 0);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;

	(void)state;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(10000, st.conns);
	assert_int_equal(1, st.pinned);
	sl_srctab_destroy(t);
}

static void
srctab_ipv4_sources_in_one_prefix_share_an_entry(void **state)
{
	struct sl_srctab *t = table(100, 24, 0);
	struct sl_srctab_limits l = limits(2, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "198.51.100.1:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "198.51.100.200:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "198.51.100.77:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "198.51.101.1:1", &l, T0, &s));
	sl_srctab_destroy(t);
}

static void
srctab_ipv6_sources_in_one_64_share_an_entry_by_default(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(2, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8:0:1::1]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8:0:1:ffff::9]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "[2001:db8:0:1::2]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8:0:2::1]:1", &l, T0, &s));
	sl_srctab_destroy(t);
}

static void
srctab_ipv6_prefix_above_64_separates_addresses(void **state)
{
	struct sl_srctab *t = table(100, 0, 128);
	struct sl_srctab_limits l = limits(1, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8::1]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8::2]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "[2001:db8::1]:2", &l, T0, &s));
	sl_srctab_destroy(t);
}

static void
srctab_ignores_the_port(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(1, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.9.9.9:1000", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "10.9.9.9:2000", &l, T0, &s));
	sl_srctab_destroy(t);
}

static void
srctab_counts_ipv4_mapped_ipv6_as_the_ipv4_source(void **state)
{
	struct sl_srctab *t = table(100, 24, 0);
	struct sl_srctab_limits l = limits(2, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "203.0.113.5:1", &l, T0, &s));
	/* same /24, through a dual-stack socket: the IPv4 prefix applies */
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[::ffff:203.0.113.99]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "203.0.113.6:1", &l, T0, &s));
	sl_srctab_destroy(t);
}

static void
srctab_refuses_a_non_ip_address(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits l = limits(0, 0, 0);
	struct sl_srctab_slot s;
	struct sl_addr a = {.len = sizeof(struct sockaddr_un)};

	(void)state;
	a.ss.ss_family = AF_UNIX;
	assert_int_equal(-EAFNOSUPPORT, sl_srctab_acquire(t, &a, &l, T0, &s));
	a = (struct sl_addr){0};
	assert_int_equal(-EAFNOSUPPORT, sl_srctab_acquire(t, &a, &l, T0, &s));
	sl_srctab_destroy(t);
}

/* one set: any SL_SRCTAB_WAYS + 1 distinct sources compete for the same entries */
static void
srctab_fails_closed_when_every_entry_of_a_set_holds_connections(void **state)
{
	struct sl_srctab *t = table(SL_SRCTAB_WAYS, 0, 0);
	struct sl_srctab_limits l = limits(2, 0, 0);
	struct sl_srctab_slot s[SL_SRCTAB_WAYS], extra;
	struct sl_srctab_stats st;
	struct sl_addr a;

	(void)state;
	for (uint32_t i = 0; i < SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s[i]));
	}
	a = addr4(0x0b000001);
	assert_int_equal(SL_SRCTAB_TABLE_FULL, sl_srctab_acquire(t, &a, &l, T0, &extra));
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(1, st.table_full);
	assert_int_equal(SL_SRCTAB_WAYS, st.pinned);
	/* the holders keep their counts: one more each, then over the limit */
	for (uint32_t i = 0; i < SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &extra));
		assert_int_equal(SL_SRCTAB_OVER_CONNS, sl_srctab_acquire(t, &a, &l, T0, &extra));
	}
	/* a holder leaving (both its connections) makes room for the newcomer */
	sl_srctab_release(t, s[3]);
	sl_srctab_release(t, s[3]);
	a = addr4(0x0b000001);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &extra));
	sl_srctab_destroy(t);
}

static void
srctab_reuses_an_idle_entry_with_a_full_bucket_without_an_eviction(void **state)
{
	struct sl_srctab *t = table(SL_SRCTAB_WAYS, 0, 0);
	struct sl_srctab_limits l = limits(1, 0, 0);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;
	struct sl_addr a;

	(void)state;
	for (uint32_t i = 0; i < 3 * SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
		sl_srctab_release(t, s);
	}
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(3 * SL_SRCTAB_WAYS, st.inserts);
	assert_int_equal(0, st.evictions);
	assert_int_equal(0, st.in_use);
	sl_srctab_destroy(t);
}

static void
srctab_evicts_the_idle_entry_with_the_least_rate_debt(void **state)
{
	struct sl_srctab *t = table(SL_SRCTAB_WAYS, 0, 0);
	struct sl_srctab_limits l = limits(0, 1, 10);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;
	struct sl_addr a;
	uint32_t i, k;

	(void)state;
	/* source i takes i + 2 tokens and closes them all: every entry idle, debts 2..8 */
	for (i = 0; i < SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		for (k = 0; k < i + 2; k++) {
			assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
			sl_srctab_release(t, s);
		}
	}
	/* a newcomer takes source 0's entry (least debt) and keeps its connection */
	a = addr4(0x0b000001);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(1, st.evictions);
	/* source 6 kept its debt: 10 - 8 = 2 tokens left */
	a = addr4(0x0a000001 + 6);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, sl_srctab_acquire(t, &a, &l, T0, &s));
	/* source 0 comes back fresh (its state was the one dropped), taking source 1's entry */
	a = addr4(0x0a000001);
	for (k = 0; k < 10; k++)
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, sl_srctab_acquire(t, &a, &l, T0, &s));
	/* source 2 (debt 4) is still there */
	a = addr4(0x0a000001 + 2);
	for (k = 0; k < 6; k++)
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_RATE, sl_srctab_acquire(t, &a, &l, T0, &s));
	sl_srctab_destroy(t);
}

static struct sl_srctab *
ban_table(size_t capacity)
{
	struct sl_srctab_opts o = {.capacity = capacity, .seed = {0x5eed, 0xc0ffee}, .ban = true};
	struct sl_srctab *t;

	assert_int_equal(0, sl_srctab_create(&t, &o));
	return t;
}

/* <l> with a ban of <strikes> strikes within <within_s> s, for <for_s> s */
static struct sl_srctab_limits
with_ban(struct sl_srctab_limits l, uint32_t strikes, uint64_t within_s, uint64_t for_s)
{
	l.ban = (struct sl_srctab_ban){
	        .strikes = strikes, .within_ns = within_s * SEC, .duration_ns = for_s * SEC};
	return l;
}

static void
srctab_bans_a_source_at_its_nth_strike_within_the_window_until_the_ban_ends(void **state)
{
	struct sl_srctab *t = ban_table(64);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 3, 10, 60);
	struct sl_srctab_slot s, other;
	struct sl_srctab_stats st;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 4 * SEC));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:2", &l, T0 + 5 * SEC, &other));
	sl_srctab_release(t, other);
	assert_true(sl_srctab_strike(t, s, &l.ban, T0 + 9 * SEC)); /* the 3rd within 10 s */
	/* refused for 60 s from the strike, whatever the port; others are not */
	assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "10.0.0.1:3", &l, T0 + 9 * SEC, &other));
	assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "10.0.0.1:3", &l, T0 + 68 * SEC, &other));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.2:1", &l, T0 + 9 * SEC, &other));
	sl_srctab_release(t, other);
	sl_srctab_stats_get(t, T0 + 10 * SEC, &st);
	assert_int_equal(1, st.bans);
	assert_int_equal(1, st.banned);
	/* strikes while banned neither extend the ban nor count towards the next */
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 50 * SEC));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 51 * SEC));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 52 * SEC));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:4", &l, T0 + 69 * SEC, &other));
	sl_srctab_release(t, other);
	sl_srctab_stats_get(t, T0 + 69 * SEC, &st);
	assert_int_equal(1, st.bans);
	assert_int_equal(0, st.banned);
	/* the count starts again after a ban */
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 70 * SEC));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0 + 71 * SEC));
	assert_true(sl_srctab_strike(t, s, &l.ban, T0 + 72 * SEC));
	sl_srctab_release(t, s);
	sl_srctab_destroy(t);
}

static void
srctab_strikes_further_apart_than_the_window_never_ban(void **state)
{
	struct sl_srctab *t = ban_table(64);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 2, 10, 60);
	struct sl_srctab_slot s, other;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	for (uint64_t i = 0; i < 20; i++) /* one strike each 10 s: the count is never 2 */
		assert_false(sl_srctab_strike(t, s, &l.ban, T0 + i * 10 * SEC));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:2", &l, T0 + 200 * SEC, &other));
	/* two 9.9 s apart do */
	assert_false(sl_srctab_strike(t, other, &l.ban, T0 + 200 * SEC));
	assert_true(sl_srctab_strike(t, other, &l.ban, T0 + 200 * SEC + 9900000000ull));
	sl_srctab_release(t, other);
	sl_srctab_release(t, s);
	sl_srctab_destroy(t);
}

static void
srctab_a_banned_source_spends_no_token_and_no_ban_without_ban_limits(void **state)
{
	struct sl_srctab *t = ban_table(64);
	struct sl_srctab_limits l = with_ban(limits(0, 1, 2), 1, 10, 5);
	struct sl_srctab_limits off = limits(0, 1, 2);
	struct sl_srctab_slot s, other;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_true(sl_srctab_strike(t, s, &l.ban, T0));
	for (int i = 0; i < 10; i++)
		assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "10.0.0.1:2", &l, T0, &other));
	/* limits without a ban (an adopted session's) pass a banned source; a strike under them
	 * does nothing */
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:2", &off, T0, &other));
	assert_false(sl_srctab_strike(t, other, &off.ban, T0));
	sl_srctab_release(t, other);
	/* after the ban the one token left (burst 2, one taken, 5 s of refill capped at 2) is
	 * there: the refusals took none */
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:3", &l, T0 + 5 * SEC, &other));
	sl_srctab_release(t, other);
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:3", &l, T0 + 5 * SEC, &other));
	sl_srctab_release(t, other);
	assert_int_equal(SL_SRCTAB_OVER_RATE, acquire(t, "10.0.0.1:3", &l, T0 + 5 * SEC, &other));
	sl_srctab_release(t, s);
	sl_srctab_destroy(t);
}

static void
srctab_strike_does_nothing_on_a_table_without_bans(void **state)
{
	struct sl_srctab *t = table(64, 0, 0);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 1, 10, 60);
	struct sl_srctab_slot s, other;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_false(sl_srctab_strike(t, s, &l.ban, T0));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:2", &l, T0, &other));
	sl_srctab_release(t, other);
	sl_srctab_release(t, s);
	sl_srctab_destroy(t);
}

/*
 * A one-set table: a banned idle source keeps its entry while newcomers cycle through the other
 * six, so fresh addresses cannot flush a ban, although the newcomers' entries owe more rate
 * (1/s) than the banned one; once every idle entry is banned, the ban ending first goes.
 */
static void
srctab_fresh_sources_take_a_banned_entry_only_when_every_idle_entry_is_banned(void **state)
{
	struct sl_srctab *t = ban_table(SL_SRCTAB_WAYS);
	struct sl_srctab_limits l = with_ban(limits(0, 1, 10), 1, 10, 60);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;
	struct sl_addr a;
	uint32_t i;

	(void)state;
	/* source 0 is banned (then its connection closes) */
	a = addr4(0x0a000001);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	assert_true(sl_srctab_strike(t, s, &l.ban, T0));
	sl_srctab_release(t, s);
	for (i = 0; i < 1000; i++) {
		a = addr4(0x0b000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0 + SEC, &s));
		sl_srctab_release(t, s);
	}
	a = addr4(0x0a000001);
	assert_int_equal(SL_SRCTAB_BANNED, sl_srctab_acquire(t, &a, &l, T0 + SEC, &s));
	/* sources 1..6 banned too, one second apart, each after source 0 */
	for (i = 1; i < SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED,
		                 sl_srctab_acquire(t, &a, &l, T0 + (1 + i) * SEC, &s));
		assert_true(sl_srctab_strike(t, s, &l.ban, T0 + (1 + i) * SEC));
		sl_srctab_release(t, s);
	}
	sl_srctab_stats_get(t, T0 + 10 * SEC, &st);
	assert_int_equal(SL_SRCTAB_WAYS, st.banned);
	/* a newcomer takes source 0's entry (its ban ends first); source 0 comes back fresh into
	 * the newcomer's idle entry, an unbanned one, so source 1 stays banned */
	a = addr4(0x0c000001);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0 + 10 * SEC, &s));
	sl_srctab_release(t, s);
	a = addr4(0x0a000001 + 2);
	assert_int_equal(SL_SRCTAB_BANNED, sl_srctab_acquire(t, &a, &l, T0 + 10 * SEC, &s));
	a = addr4(0x0a000001);
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0 + 10 * SEC, &s));
	sl_srctab_release(t, s);
	a = addr4(0x0a000001 + 1);
	assert_int_equal(SL_SRCTAB_BANNED, sl_srctab_acquire(t, &a, &l, T0 + 10 * SEC, &s));
	sl_srctab_stats_get(t, T0 + 10 * SEC, &st);
	assert_int_equal(SL_SRCTAB_WAYS - 1, st.banned);
	sl_srctab_destroy(t);
}

static void
srctab_lists_bans_by_prefix_and_lifts_one(void **state)
{
	struct sl_srctab_opts o = {
	        .capacity = 64, .prefix4 = 24, .prefix6 = 48, .seed = {1, 2}, .ban = true};
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 1, 10, 60);
	struct sl_srctab_banned b[4];
	struct sl_srctab_slot s4, s6;
	struct sl_srctab *t;
	struct sl_addr a;
	char text[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_srctab_create(&t, &o));
	assert_int_equal(0, sl_srctab_bans(t, T0, b, 4));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.1.2.3:1", &l, T0, &s4));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8:1:2::5]:1", &l, T0, &s6));
	assert_true(sl_srctab_strike(t, s4, &l.ban, T0));
	assert_true(sl_srctab_strike(t, s6, &l.ban, T0 + SEC));
	assert_int_equal(2, sl_srctab_bans(t, T0 + SEC, b, 4));
	assert_int_equal(2, sl_srctab_bans(t, T0 + SEC, b, 1)); /* all counted, one listed */
	assert_int_equal(2, sl_srctab_bans(t, T0 + SEC, b, 4));
	if (b[0].source.family == AF_INET6) { /* sets are in hash order: put v4 first */
		struct sl_srctab_banned x = b[0];

		b[0] = b[1];
		b[1] = x;
	}
	assert_string_equal("10.1.2.0/24", sl_cidr_format(&b[0].source, text, sizeof(text)));
	assert_int_equal(24, b[0].source.len);
	assert_true(b[0].until_ns == T0 + 60 * SEC);
	assert_string_equal("2001:db8:1::/48", sl_cidr_format(&b[1].source, text, sizeof(text)));
	assert_int_equal(48, b[1].source.len);
	assert_true(b[1].until_ns == T0 + 61 * SEC);
	/* any address of the prefix lifts it, once */
	a = addr("10.1.2.200:9");
	assert_true(sl_srctab_unban(t, &a, T0 + 2 * SEC));
	assert_false(sl_srctab_unban(t, &a, T0 + 2 * SEC));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.1.2.7:1", &l, T0 + 2 * SEC, &s4));
	assert_int_equal(SL_SRCTAB_BANNED,
	                 acquire(t, "[2001:db8:1:3::9]:1", &l, T0 + 2 * SEC, &s6));
	assert_int_equal(1, sl_srctab_bans(t, T0 + 2 * SEC, b, 4));
	/* an ended ban is not listed, nor lifted */
	a = addr("[2001:db8:1::1]:1");
	assert_int_equal(0, sl_srctab_bans(t, T0 + 61 * SEC, b, 4));
	assert_false(sl_srctab_unban(t, &a, T0 + 61 * SEC));
	sl_srctab_destroy(t);
}

/* <text> as a prefix */
static struct sl_cidr
cidr(const char *text)
{
	struct sl_cidr c;

	assert_int_equal(0, sl_cidr_parse(&c, text, 0, NULL));
	return c;
}

static struct sl_srctab *
ban_table_prefix(size_t capacity, unsigned prefix4, unsigned prefix6, uint64_t seed)
{
	struct sl_srctab_opts o = {.capacity = capacity,
	                           .prefix4 = prefix4,
	                           .prefix6 = prefix6,
	                           .seed = {seed, 0xc0ffee},
	                           .ban = true};
	struct sl_srctab *t;

	assert_int_equal(0, sl_srctab_create(&t, &o));
	return t;
}

/* What a re-opened listener does: every ban listed in the old table goes into the new one (other
 * hash key, so other sets), with its end, not a fresh duration. */
static void
srctab_import_ban_carries_every_listed_ban_with_its_end(void **state)
{
	struct sl_srctab *from = ban_table_prefix(64, 24, 48, 1);
	struct sl_srctab *to = ban_table_prefix(64, 24, 48, 2);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 1, 10, 60);
	struct sl_srctab_banned b[4], c[4];
	struct sl_srctab_slot s4, s6;
	struct sl_srctab_stats st;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(from, "10.1.2.3:1", &l, T0, &s4));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(from, "[2001:db8:1:2::5]:1", &l, T0, &s6));
	assert_true(sl_srctab_strike(from, s4, &l.ban, T0));
	assert_true(sl_srctab_strike(from, s6, &l.ban, T0 + SEC));
	assert_int_equal(2, sl_srctab_bans(from, T0 + 10 * SEC, b, 4));
	for (int i = 0; i < 2; i++)
		assert_int_equal(0, sl_srctab_import_ban(to, &b[i].source, b[i].until_ns,
		                                         T0 + 10 * SEC, true));
	assert_int_equal(2, sl_srctab_bans(to, T0 + 10 * SEC, c, 4));
	for (int i = 0; i < 2; i++) {
		int k = memcmp(&c[i].source, &b[0].source, sizeof(b[0].source)) == 0 ? 0 : 1;

		assert_memory_equal(&b[k].source, &c[i].source, sizeof(b[k].source));
		assert_true(b[k].until_ns == c[i].until_ns);
	}
	/* refused as the old table refused them, until the same end; others pass */
	assert_int_equal(SL_SRCTAB_BANNED, acquire(to, "10.1.2.200:1", &l, T0 + 59 * SEC, &s4));
	assert_int_equal(SL_SRCTAB_BANNED,
	                 acquire(to, "[2001:db8:1:7::1]:1", &l, T0 + 60 * SEC, &s6));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(to, "10.1.3.1:1", &l, T0 + 59 * SEC, &s4));
	sl_srctab_release(to, s4);
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(to, "10.1.2.200:1", &l, T0 + 60 * SEC, &s4));
	sl_srctab_release(to, s4);
	assert_int_equal(SL_SRCTAB_ALLOWED,
	                 acquire(to, "[2001:db8:1:7::1]:1", &l, T0 + 61 * SEC, &s6));
	sl_srctab_release(to, s6);
	/* a ban carried is not a ban started */
	sl_srctab_stats_get(to, T0 + 10 * SEC, &st);
	assert_int_equal(0, st.bans);
	assert_int_equal(2, st.banned);
	sl_srctab_destroy(to);
	sl_srctab_destroy(from);
}

/* The new table's keys are wider (/24 for /32): the ban covers the source's whole /24 there. Or
 * narrower (/32 for a /16): one entry would ban less, so it is refused. */
static void
srctab_import_ban_masks_a_narrower_source_and_refuses_a_wider_one(void **state)
{
	struct sl_srctab *t = ban_table_prefix(64, 24, 64, 3);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 1, 10, 60);
	struct sl_cidr c32 = cidr("10.1.2.3/32"), c16 = cidr("10.2.0.0/16");
	struct sl_cidr c128 = cidr("2001:db8:0:1::1/128"), c48 = cidr("2001:db8::/48");
	struct sl_cidr mapped = cidr("::ffff:10.3.3.3/128");
	struct sl_srctab_banned b[4];
	struct sl_srctab_slot s;
	char text[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_srctab_import_ban(t, &c32, T0 + 60 * SEC, T0, true));
	assert_int_equal(-ERANGE, sl_srctab_import_ban(t, &c16, T0 + 60 * SEC, T0, true));
	assert_int_equal(0, sl_srctab_import_ban(t, &c128, T0 + 60 * SEC, T0, true));
	assert_int_equal(-ERANGE, sl_srctab_import_ban(t, &c48, T0 + 60 * SEC, T0, true));
	assert_int_equal(0, sl_srctab_import_ban(t, &mapped, T0 + 60 * SEC, T0, true));
	assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "10.1.2.99:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "[2001:db8:0:1::77]:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_BANNED, acquire(t, "10.3.3.9:1", &l, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.2.0.1:1", &l, T0, &s));
	sl_srctab_release(t, s);
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "[2001:db8:0:2::1]:1", &l, T0, &s));
	sl_srctab_release(t, s);
	assert_int_equal(3, sl_srctab_bans(t, T0, b, 4));
	for (int i = 0; i < 3; i++)
		if (b[i].source.addr[0] == 10 && b[i].source.addr[2] == 2)
			assert_string_equal("10.1.2.0/24",
			                    sl_cidr_format(&b[i].source, text, sizeof(text)));
	sl_srctab_destroy(t);
}

static void
srctab_import_ban_keeps_the_later_end_and_refuses_what_is_no_ban(void **state)
{
	struct sl_srctab *t = ban_table_prefix(64, 32, 64, 4);
	struct sl_srctab *plain = table(64, 0, 0);
	struct sl_srctab_limits l = with_ban(limits(0, 0, 0), 1, 10, 60);
	struct sl_cidr c = cidr("10.0.0.1/32"), bad = cidr("10.0.0.1/32");
	struct sl_srctab_banned b[2];
	struct sl_srctab_slot s;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &l, T0, &s));
	assert_true(sl_srctab_strike(t, s, &l.ban, T0)); /* until T0 + 60 s */
	sl_srctab_release(t, s);
	assert_int_equal(0, sl_srctab_import_ban(t, &c, T0 + 30 * SEC, T0 + SEC, true));
	assert_int_equal(1, sl_srctab_bans(t, T0 + SEC, b, 2));
	assert_true(b[0].until_ns == T0 + 60 * SEC);
	assert_int_equal(0, sl_srctab_import_ban(t, &c, T0 + 90 * SEC, T0 + SEC, true));
	assert_int_equal(1, sl_srctab_bans(t, T0 + SEC, b, 2));
	assert_true(b[0].until_ns == T0 + 90 * SEC);
	/* ended, no ban table, not a prefix */
	assert_int_equal(-EINVAL, sl_srctab_import_ban(t, &c, T0 + SEC, T0 + SEC, true));
	assert_int_equal(-EINVAL, sl_srctab_import_ban(plain, &c, T0 + 90 * SEC, T0, true));
	bad.len = 33;
	assert_int_equal(-EINVAL, sl_srctab_import_ban(t, &bad, T0 + 90 * SEC, T0, true));
	bad = c;
	bad.family = AF_UNIX;
	assert_int_equal(-EINVAL, sl_srctab_import_ban(t, &bad, T0 + 90 * SEC, T0, true));
	sl_srctab_destroy(plain);
	sl_srctab_destroy(t);
}

/* A one-set table: an import takes an idle entry like a new source, never one with live
 * connections, and of banned ones only a ban that ends before its own. */
static void
srctab_import_ban_into_a_full_set_follows_the_eviction_rules(void **state)
{
	struct sl_srctab *t = ban_table(SL_SRCTAB_WAYS);
	struct sl_srctab_limits l = with_ban(limits(0, 1, 10), 1, 10, 60);
	struct sl_srctab_slot held[SL_SRCTAB_WAYS], s;
	struct sl_srctab_stats st;
	struct sl_cidr c = cidr("10.9.9.9/32"), d = cidr("10.9.9.10/32");
	struct sl_addr a;
	uint32_t i;

	(void)state;
	for (i = 0; i < SL_SRCTAB_WAYS; i++) {
		a = addr4(0x0a000001 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &held[i]));
	}
	/* every entry holds a connection */
	assert_int_equal(-ENOSPC, sl_srctab_import_ban(t, &c, T0 + 100 * SEC, T0, true));
	/* one idle (rate debt, no ban): taken */
	sl_srctab_release(t, held[0]);
	assert_int_equal(0, sl_srctab_import_ban(t, &c, T0 + 100 * SEC, T0, true));
	a = addr("10.9.9.9:1");
	assert_int_equal(SL_SRCTAB_BANNED, sl_srctab_acquire(t, &a, &l, T0, &s));
	/* the others banned (each until T0 + 61 s) and idle: every idle entry is banned */
	for (i = 1; i < SL_SRCTAB_WAYS; i++) {
		assert_true(sl_srctab_strike(t, held[i], &l.ban, T0 + SEC));
		sl_srctab_release(t, held[i]);
	}
	/* a ban ending sooner than all of them finds no room */
	assert_int_equal(-ENOSPC, sl_srctab_import_ban(t, &d, T0 + 50 * SEC, T0 + SEC, true));
	/* an operator's ban takes no running ban's entry, however long it is */
	assert_int_equal(-ENOSPC, sl_srctab_import_ban(t, &d, T0 + 80 * SEC, T0 + 2 * SEC, false));
	/* one ending later takes a ban ending first (T0 + 61 s), and says so: that one is gone */
	assert_int_equal(1, sl_srctab_import_ban(t, &d, T0 + 80 * SEC, T0 + 2 * SEC, true));
	sl_srctab_stats_get(t, T0 + 2 * SEC, &st);
	assert_int_equal(SL_SRCTAB_WAYS, st.banned);
	a = addr("10.9.9.10:1");
	assert_int_equal(SL_SRCTAB_BANNED, sl_srctab_acquire(t, &a, &l, T0 + 70 * SEC, &s));
	sl_srctab_destroy(t);
}

#define LEGIT 50
#define ATTACK 100000

/*
 * 50 legitimate sources connected 10 s ago and hold 3 connections each (their limit); 5 ms ago
 * each replaced one, so its bucket (5, 100/s) holds 4.5 tokens and owes less than any attacker's
 * will. An attacker then opens and closes one connection from each of 100k addresses, at one
 * instant, through a table of about 1000 entries. Every legitimate source keeps its count and its
 * bucket: a 4th connection is over the limit, and after closing all 3 exactly 4 more fit the rate.
 */
static void
srctab_attacker_cycling_100k_addresses_keeps_holders_counts_and_limits(void **state)
{
	struct sl_srctab *t = table(1000, 0, 0);
	struct sl_srctab_limits l = limits(3, 100, 5);
	struct sl_srctab_slot held[LEGIT][3], s;
	struct sl_srctab_stats st;
	struct sl_addr a;
	uint32_t i, k, allowed = 0;

	(void)state;
	for (i = 0; i < LEGIT; i++) {
		a = addr4(0x0a010000 + i * 7);
		for (k = 0; k < 3; k++)
			assert_int_equal(SL_SRCTAB_ALLOWED,
			                 sl_srctab_acquire(t, &a, &l, T0 - 10 * SEC, &held[i][k]));
		sl_srctab_release(t, held[i][2]);
		assert_int_equal(SL_SRCTAB_ALLOWED,
		                 sl_srctab_acquire(t, &a, &l, T0 - SEC / 200, &held[i][2]));
	}
	for (i = 0; i < ATTACK; i++) {
		a = addr4(0xac100000 + i);
		if (sl_srctab_acquire(t, &a, &l, T0, &s) == SL_SRCTAB_ALLOWED) {
			allowed++;
			sl_srctab_release(t, s);
		}
	}
	sl_srctab_stats_get(t, T0, &st);
	/* the attack did churn the table: idle entries with debt were evicted */
	assert_true(st.evictions > ATTACK / 2);
	assert_int_equal(ATTACK, allowed);
	assert_int_equal(LEGIT, st.pinned);
	assert_int_equal(3 * LEGIT, st.conns);
	for (i = 0; i < LEGIT; i++) {
		a = addr4(0x0a010000 + i * 7);
		assert_int_equal(SL_SRCTAB_OVER_CONNS, sl_srctab_acquire(t, &a, &l, T0, &s));
		for (k = 0; k < 3; k++)
			sl_srctab_release(t, held[i][k]);
		for (k = 0; k < 4; k++) {
			assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
			sl_srctab_release(t, s);
		}
		assert_int_equal(SL_SRCTAB_OVER_RATE, sl_srctab_acquire(t, &a, &l, T0, &s));
	}
	sl_srctab_destroy(t);
}

/*
 * The attacker keeps every connection it gets, from 100k addresses, until the table is full of
 * them: it is then refused (TABLE_FULL), and the 20 sources that held connections before are
 * still found with their counts.
 */
static void
srctab_attacker_holding_connections_cannot_evict_holders(void **state)
{
	struct sl_srctab *t = table(10 * SL_SRCTAB_WAYS, 0, 0);
	struct sl_srctab_limits l = limits(1, 0, 0);
	struct sl_srctab_slot held[20], s;
	struct sl_srctab_stats st;
	struct sl_addr a;
	uint32_t i, allowed = 0, full = 0;

	(void)state;
	for (i = 0; i < 20; i++) {
		a = addr4(0x0a020000 + i);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &held[i]));
	}
	for (i = 0; i < ATTACK; i++) {
		a = addr4(0xac200000 + i);
		int v = sl_srctab_acquire(t, &a, &l, T0 + i, &s);

		allowed += v == SL_SRCTAB_ALLOWED;
		full += v == SL_SRCTAB_TABLE_FULL;
	}
	assert_int_equal(10 * SL_SRCTAB_WAYS - 20, allowed);
	assert_int_equal(ATTACK - allowed, full);
	sl_srctab_stats_get(t, T0 + ATTACK, &st);
	assert_int_equal(10 * SL_SRCTAB_WAYS, st.pinned);
	assert_int_equal(full, st.table_full);
	for (i = 0; i < 20; i++) {
		a = addr4(0x0a020000 + i);
		assert_int_equal(SL_SRCTAB_OVER_CONNS, sl_srctab_acquire(t, &a, &l, T0, &s));
		sl_srctab_release(t, held[i]);
		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &a, &l, T0, &s));
	}
	sl_srctab_destroy(t);
}

static void
srctab_stats_count_entries_in_use_pinned_and_conns(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits rated = limits(0, 10, 5), free_ = limits(0, 0, 0);
	struct sl_srctab_slot s;
	struct sl_srctab_stats st;

	(void)state;
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &rated, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &rated, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.2:1", &rated, T0, &s));
	sl_srctab_release(t, s); /* idle, owes 100 ms */
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.3:1", &free_, T0, &s));
	sl_srctab_release(t, s); /* idle, owes nothing */
	sl_srctab_stats_get(t, T0, &st);
	assert_int_equal(3, st.inserts);
	assert_int_equal(2, st.in_use);
	assert_int_equal(1, st.pinned);
	assert_int_equal(2, st.conns);
	sl_srctab_stats_get(t, T0 + SEC / 10, &st);
	assert_int_equal(1, st.in_use);
	sl_srctab_destroy(t);
}

static void
srctab_new_limits_apply_to_sources_already_in_the_table(void **state)
{
	struct sl_srctab *t = table(100, 0, 0);
	struct sl_srctab_limits loose = limits(5, 0, 0), tight = limits(2, 0, 0);
	struct sl_srctab_slot s;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &loose, T0, &s));
	assert_int_equal(SL_SRCTAB_OVER_CONNS, acquire(t, "10.0.0.1:1", &tight, T0, &s));
	assert_int_equal(SL_SRCTAB_ALLOWED, acquire(t, "10.0.0.1:1", &loose, T0, &s));
	sl_srctab_destroy(t);
}

static struct sl_srctab *
bw_table(void)
{
	struct sl_srctab_opts o = {.capacity = 64, .seed = {0x5eed, 0xc0ffee}, .bandwidth = true};
	struct sl_srctab *t;

	assert_int_equal(0, sl_srctab_create(&t, &o));
	return t;
}

static void
srctab_connections_of_one_source_share_its_byte_bucket(void **state)
{
	struct sl_srctab *t = bw_table();
	struct sl_srctab_limits lim = {0};
	struct sl_tbucket_rate r;
	struct sl_srctab_slot a, b, c;
	struct sl_addr x = addr4(0x0a000001), y = addr4(0x0a000002);

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 100000, 50000));
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &x, &lim, T0, &a));
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &x, &lim, T0, &b));
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &y, &lim, T0, &c));
	assert_int_equal(30000, sl_srctab_bytes_take(t, a, 0, &r, T0, 30000));
	assert_int_equal(20000, sl_srctab_bytes_take(t, b, 0, &r, T0, 30000));
	assert_int_equal(0, sl_srctab_bytes_take(t, a, 0, &r, T0, 30000));
	/* the other direction and the other source have their own buckets */
	assert_int_equal(50000, sl_srctab_bytes_take(t, a, 1, &r, T0, 60000));
	assert_int_equal(50000, sl_srctab_bytes_take(t, c, 0, &r, T0, 60000));
	/* 10 ms: 1000 bytes; given back: 5000 more */
	assert_int_equal(10000000, sl_srctab_bytes_wait_ns(t, b, 0, &r, T0, 1000));
	sl_srctab_bytes_put(t, a, 0, &r, 5000);
	assert_int_equal(6000, sl_srctab_bytes_take(t, b, 0, &r, T0 + 10000000, 60000));
	sl_srctab_destroy(t);
}

static void
srctab_new_source_in_a_reused_entry_starts_with_full_byte_buckets(void **state)
{
	struct sl_srctab *t = bw_table();
	struct sl_srctab_limits lim = {.rate = {0}};
	struct sl_tbucket_rate r;
	struct sl_srctab_slot a, b;
	uint32_t ip = 0x0a000001;
	struct sl_addr x = addr4(ip);

	(void)state;
	assert_int_equal(0, sl_tbucket_rate_init(&r, 1000, 1000));
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &x, &lim, T0, &a));
	assert_int_equal(1000, sl_srctab_bytes_take(t, a, 0, &r, T0, 5000));
	sl_srctab_release(t, a);
	/* other sources take over every idle entry of the set, this one's too */
	for (uint32_t i = 1; i < 100000; i++) {
		struct sl_addr z = addr4(ip + i);

		assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &z, &lim, T0, &b));
		sl_srctab_release(t, b);
		if (b.index == a.index)
			break;
	}
	assert_int_equal(a.index, b.index);
	/* back in the same entry, at the same instant: without the reset it would be empty */
	assert_int_equal(SL_SRCTAB_ALLOWED, sl_srctab_acquire(t, &x, &lim, T0, &b));
	assert_int_equal(1000, sl_srctab_bytes_take(t, b, 0, &r, T0, 5000));
	sl_srctab_destroy(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(srctab_create_refuses_zero_capacity_and_bad_prefixes),
	        cmocka_unit_test(srctab_rounds_capacity_up_to_whole_sets),
	        cmocka_unit_test(srctab_allows_max_conns_then_refuses_over_conns),
	        cmocka_unit_test(srctab_release_lets_the_source_connect_again),
	        cmocka_unit_test(srctab_refuses_over_rate_after_the_burst_until_a_token_refills),
	        cmocka_unit_test(srctab_refused_connection_holds_no_slot),
	        cmocka_unit_test(srctab_zero_limits_are_unlimited),
	        cmocka_unit_test(srctab_ipv4_sources_in_one_prefix_share_an_entry),
	        cmocka_unit_test(srctab_ipv6_sources_in_one_64_share_an_entry_by_default),
	        cmocka_unit_test(srctab_ipv6_prefix_above_64_separates_addresses),
	        cmocka_unit_test(srctab_ignores_the_port),
	        cmocka_unit_test(srctab_counts_ipv4_mapped_ipv6_as_the_ipv4_source),
	        cmocka_unit_test(srctab_refuses_a_non_ip_address),
	        cmocka_unit_test(srctab_fails_closed_when_every_entry_of_a_set_holds_connections),
	        cmocka_unit_test(
	                srctab_reuses_an_idle_entry_with_a_full_bucket_without_an_eviction),
	        cmocka_unit_test(srctab_evicts_the_idle_entry_with_the_least_rate_debt),
	        cmocka_unit_test(
	                srctab_attacker_cycling_100k_addresses_keeps_holders_counts_and_limits),
	        cmocka_unit_test(srctab_attacker_holding_connections_cannot_evict_holders),
	        cmocka_unit_test(srctab_stats_count_entries_in_use_pinned_and_conns),
	        cmocka_unit_test(srctab_new_limits_apply_to_sources_already_in_the_table),
	        cmocka_unit_test(srctab_connections_of_one_source_share_its_byte_bucket),
	        cmocka_unit_test(srctab_new_source_in_a_reused_entry_starts_with_full_byte_buckets),
	        cmocka_unit_test(
	                srctab_bans_a_source_at_its_nth_strike_within_the_window_until_the_ban_ends),
	        cmocka_unit_test(srctab_strikes_further_apart_than_the_window_never_ban),
	        cmocka_unit_test(
	                srctab_a_banned_source_spends_no_token_and_no_ban_without_ban_limits),
	        cmocka_unit_test(srctab_strike_does_nothing_on_a_table_without_bans),
	        cmocka_unit_test(srctab_lists_bans_by_prefix_and_lifts_one),
	        cmocka_unit_test(srctab_import_ban_carries_every_listed_ban_with_its_end),
	        cmocka_unit_test(srctab_import_ban_masks_a_narrower_source_and_refuses_a_wider_one),
	        cmocka_unit_test(srctab_import_ban_keeps_the_later_end_and_refuses_what_is_no_ban),
	        cmocka_unit_test(srctab_import_ban_into_a_full_set_follows_the_eviction_rules),
	        cmocka_unit_test(
	                srctab_fresh_sources_take_a_banned_entry_only_when_every_idle_entry_is_banned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
