// SPDX-License-Identifier: MIT
/*
 * The pure parts of DNS discovery (src/proxy/discover.c): answers built here byte by byte and
 * parsed with c-ares into backend sets, TTL clamping, SRV priority and weight, and the set's
 * order, deduplication and naming. The resolver thread is tested against a real DNS server by
 * tests/integration/dns_discovery_test.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <sluice/addr.h>
#include <sluice/config.h>

#include "proxy/discover.h"

enum { T_A = 1, T_AAAA = 28, T_SRV = 33 };

/* A DNS response under construction: header, one question, then answer records. */
struct pkt {
	unsigned char b[4096];
	size_t n;
	unsigned ancount;
};

static void
put8(struct pkt *p, unsigned v)
{
	assert_true(p->n < sizeof(p->b));
	p->b[p->n++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* "a.b.c" as labels, uncompressed; "." is the root. */
static void
put_name(struct pkt *p, const char *name)
{
	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)len);
		for (size_t i = 0; i < len; i++)
			put8(p, (unsigned char)name[i]);
		name += len + (dot != NULL);
	}
	put8(p, 0);
}

static void
pkt_begin(struct pkt *p, const char *qname, unsigned qtype)
{
	memset(p, 0, sizeof(*p));
	put16(p, 0x1234); /* id */
	put16(p, 0x8180); /* response, recursion desired and available, NOERROR */
	put16(p, 1);      /* one question */
	put16(p, 0);      /* answers: patched by pkt_end() */
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, qtype);
	put16(p, 1); /* IN */
}

static void
rr_head(struct pkt *p, const char *name, unsigned type, uint32_t ttl, unsigned rdlen)
{
	put_name(p, name);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, rdlen);
	p->ancount++;
}

static void
rr_a(struct pkt *p, const char *name, uint32_t ttl, const char *ip)
{
	struct in_addr a;

	assert_int_equal(1, inet_pton(AF_INET, ip, &a));
	rr_head(p, name, T_A, ttl, 4);
	for (int i = 0; i < 4; i++)
		put8(p, ((unsigned char *)&a)[i]);
}

static void
rr_aaaa(struct pkt *p, const char *name, uint32_t ttl, const char *ip)
{
	struct in6_addr a;

	assert_int_equal(1, inet_pton(AF_INET6, ip, &a));
	rr_head(p, name, T_AAAA, ttl, 16);
	for (int i = 0; i < 16; i++)
		put8(p, a.s6_addr[i]);
}

static void
rr_srv(struct pkt *p, const char *name, uint32_t ttl, unsigned prio, unsigned weight, unsigned port,
       const char *target)
{
	size_t len = strcmp(target, ".") == 0 ? 1 : strlen(target) + 2;

	rr_head(p, name, T_SRV, ttl, (unsigned)(6 + len));
	put16(p, prio);
	put16(p, weight);
	put16(p, port);
	put_name(p, target);
}

static int
pkt_end(struct pkt *p)
{
	p->b[6] = (unsigned char)(p->ancount >> 8);
	p->b[7] = (unsigned char)(p->ancount & 0xff);
	return (int)p->n;
}

static const char *
fmt(const struct sl_backend_spec *b, char buf[SL_ADDR_STRLEN])
{
	return sl_addr_format(&b->addr, buf, SL_ADDR_STRLEN);
}

static struct sl_config_discover
discover_cfg(uint32_t ttl_min_ms, uint32_t ttl_max_ms)
{
	struct sl_config_group g;

	sl_config_group_defaults(&g);
	g.discover.ttl_min_ms = ttl_min_ms;
	g.discover.ttl_max_ms = ttl_max_ms;
	return g.discover;
}

static void
interval_is_the_ttl_within_the_bounds(void **state)
{
	struct sl_config_discover d = discover_cfg(1000, 300000);

	(void)state;
	assert_int_equal(30000, sl__discover_interval_ms(&d, 30));
}

static void
interval_is_raised_to_ttl_min(void **state)
{
	struct sl_config_discover d = discover_cfg(1000, 300000);

	(void)state;
	assert_int_equal(1000, sl__discover_interval_ms(&d, 0));
}

static void
interval_is_cut_to_ttl_max(void **state)
{
	struct sl_config_discover d = discover_cfg(1000, 300000);

	(void)state;
	assert_int_equal(300000, sl__discover_interval_ms(&d, 86400));
	assert_int_equal(300000, sl__discover_interval_ms(&d, UINT32_MAX));
}

static void
a_answer_gives_one_backend_per_record_with_port_and_weight(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	char a[SL_ADDR_STRLEN];
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_A);
	rr_a(&p, "web.test", 30, "127.0.0.2");
	rr_a(&p, "web.test", 30, "127.0.0.3");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_addrs(p.b, len, AF_INET, 8080, 5, NULL, &set, &ttl));
	assert_int_equal(2, set.n);
	assert_string_equal("127.0.0.2:8080", fmt(&set.v[0], a));
	assert_string_equal("127.0.0.2:8080", set.v[0].name);
	assert_string_equal("127.0.0.3:8080", fmt(&set.v[1], a));
	assert_int_equal(5, set.v[1].weight);
	assert_int_equal(0, set.v[1].max_connections);
	sl__dset_fini(&set);
}

static void
a_answer_lowers_the_ttl_to_its_smallest_record(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = 600;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_A);
	rr_a(&p, "web.test", 45, "127.0.0.2");
	rr_a(&p, "web.test", 7, "127.0.0.3");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_addrs(p.b, len, AF_INET, 80, 1, NULL, &set, &ttl));
	assert_int_equal(7, ttl);
	sl__dset_fini(&set);
}

/* RFC 2181, section 8: a TTL with its top bit set is read as 0, not skipped */
static void
a_answer_reads_a_ttl_with_the_top_bit_as_zero(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = 600;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_A);
	rr_a(&p, "web.test", 45, "127.0.0.2");
	rr_a(&p, "web.test", 0x80000001u, "127.0.0.3");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_addrs(p.b, len, AF_INET, 80, 1, NULL, &set, &ttl));
	assert_int_equal(2, set.n);
	assert_int_equal(0, ttl);
	sl__dset_fini(&set);
}

static void
aaaa_answer_gives_ipv6_backends(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	char a[SL_ADDR_STRLEN];
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_AAAA);
	rr_aaaa(&p, "web.test", 30, "::1");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_addrs(p.b, len, AF_INET6, 443, 1, NULL, &set, &ttl));
	assert_int_equal(1, set.n);
	assert_string_equal("[::1]:443", fmt(&set.v[0], a));
	assert_int_equal(30, ttl);
	sl__dset_fini(&set);
}

static void
answer_without_records_is_no_data(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_A);
	len = pkt_end(&p);

	assert_int_equal(-ENODATA,
	                 sl__discover_parse_addrs(p.b, len, AF_INET, 80, 1, NULL, &set, &ttl));
	assert_int_equal(0, set.n);
	assert_int_equal(UINT32_MAX, ttl);
}

static void
a_cut_short_answer_is_a_bad_message(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "web.test", T_A);
	rr_a(&p, "web.test", 30, "127.0.0.2");
	len = pkt_end(&p);

	assert_int_equal(-EBADMSG,
	                 sl__discover_parse_addrs(p.b, len - 3, AF_INET, 80, 1, NULL, &set, &ttl));
	assert_int_equal(-EBADMSG,
	                 sl__discover_parse_addrs(p.b, 5, AF_INET, 80, 1, NULL, &set, &ttl));
	assert_int_equal(0, set.n);
}

static void
addresses_of_an_srv_target_take_its_name(void **state)
{
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "t1.test", T_A);
	rr_a(&p, "t1.test", 30, "127.0.0.9");
	rr_a(&p, "t1.test", 30, "127.0.0.5");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_addrs(p.b, len, AF_INET, 9000, 3, "t1.test:9000",
	                                             &set, &ttl));
	sl__dset_normalize(&set);
	assert_int_equal(2, set.n);
	/* in address order: the lower address keeps the plain name */
	assert_string_equal("t1.test:9000", set.v[0].name);
	assert_string_equal("t1.test:9000#2", set.v[1].name);
	sl__dset_fini(&set);
}

static void
srv_answer_keeps_only_the_lowest_priority(void **state)
{
	struct sl__srv_target t[8];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 20, 1, 9003, "backup.test");
	rr_srv(&p, "_echo._tcp.test", 30, 10, 5, 9001, "t1.test");
	rr_srv(&p, "_echo._tcp.test", 30, 10, 15, 9002, "t2.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_srv(p.b, len, t, 8, &n));
	assert_int_equal(2, n);
	assert_string_equal("t1.test", t[0].host);
	assert_int_equal(9001, t[0].port);
	assert_int_equal(5, t[0].weight);
	assert_string_equal("t2.test", t[1].host);
	assert_int_equal(9002, t[1].port);
	assert_int_equal(15, t[1].weight);
}

static void
srv_weight_zero_counts_as_one(void **state)
{
	struct sl__srv_target t[4];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 0, 0, 9001, "t1.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_srv(p.b, len, t, 4, &n));
	assert_int_equal(1, n);
	assert_int_equal(1, t[0].weight);
}

static void
srv_target_dot_means_no_service(void **state)
{
	struct sl__srv_target t[4];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 0, 0, 0, ".");
	len = pkt_end(&p);

	assert_int_equal(-ENODATA, sl__discover_parse_srv(p.b, len, t, 4, &n));
	assert_int_equal(0, n);
}

static void
srv_dot_target_does_not_hide_a_real_one_of_lower_rank(void **state)
{
	struct sl__srv_target t[4];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 0, 0, 0, ".");
	rr_srv(&p, "_echo._tcp.test", 30, 5, 2, 9005, "t5.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_srv(p.b, len, t, 4, &n));
	assert_int_equal(1, n);
	assert_string_equal("t5.test", t[0].host);
}

static void
srv_parse_stops_at_max(void **state)
{
	struct sl__srv_target t[2];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 0, 1, 1, "a.test");
	rr_srv(&p, "_echo._tcp.test", 30, 0, 1, 2, "b.test");
	rr_srv(&p, "_echo._tcp.test", 30, 0, 1, 3, "c.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_parse_srv(p.b, len, t, 2, &n));
	assert_int_equal(2, n);
}

static void
srv_answer_cut_short_is_a_bad_message(void **state)
{
	struct sl__srv_target t[2];
	struct pkt p;
	size_t n;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 30, 0, 1, 1, "a.test");
	len = pkt_end(&p);

	assert_int_equal(-EBADMSG, sl__discover_parse_srv(p.b, len - 4, t, 2, &n));
}

static void
answer_ttl_is_the_smallest_of_the_type(void **state)
{
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 40, 0, 1, 1, "a.test");
	rr_a(&p, "a.test", 3, "127.0.0.2"); /* another type: not counted */
	rr_srv(&p, "_echo._tcp.test", 25, 0, 1, 2, "b.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_answer_ttl(p.b, len, T_SRV, &ttl));
	assert_int_equal(25, ttl);
}

static void
answer_ttl_reads_a_compressed_owner_name(void **state)
{
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	put16(&p, 0xc00c); /* a pointer to the question's name */
	put16(&p, T_SRV);
	put16(&p, 1);
	put32(&p, 17);
	put16(&p, 6 + 8);
	put16(&p, 0);
	put16(&p, 1);
	put16(&p, 9000);
	put_name(&p, "a.test");
	p.ancount++;
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_answer_ttl(p.b, len, T_SRV, &ttl));
	assert_int_equal(17, ttl);
}

static void
answer_ttl_with_the_top_bit_set_counts_as_zero(void **state)
{
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 0x80000000u, 0, 1, 1, "a.test");
	len = pkt_end(&p);

	assert_int_equal(0, sl__discover_answer_ttl(p.b, len, T_SRV, &ttl));
	assert_int_equal(0, ttl);
}

static void
answer_ttl_refuses_a_message_cut_short(void **state)
{
	uint32_t ttl = UINT32_MAX;
	struct pkt p;
	int len;

	(void)state;
	pkt_begin(&p, "_echo._tcp.test", T_SRV);
	rr_srv(&p, "_echo._tcp.test", 40, 0, 1, 1, "a.test");
	len = pkt_end(&p);

	assert_int_equal(-EBADMSG, sl__discover_answer_ttl(p.b, len - 1, T_SRV, &ttl));
	assert_int_equal(-EBADMSG, sl__discover_answer_ttl(p.b, 11, T_SRV, &ttl));
	/* one answer promised, none there: header (12) and question (17 + 4) only */
	assert_int_equal(-EBADMSG, sl__discover_answer_ttl(p.b, 12 + 17 + 4, T_SRV, &ttl));
}

static void
push(struct sl__dset *s, const char *addr, const char *name, uint32_t weight)
{
	struct sl_backend_spec b = {.weight = weight};

	assert_int_equal(0, sl_addr_parse(&b.addr, addr, false, NULL));
	strcpy(b.name, name != NULL ? name : addr);
	assert_int_equal(0, sl__dset_push(s, &b));
}

static void
normalize_sorts_by_address_and_keeps_the_first_of_a_repeat(void **state)
{
	struct sl__dset s = {0};
	char a[SL_ADDR_STRLEN];

	(void)state;
	push(&s, "127.0.0.3:80", "x:80", 7);
	push(&s, "127.0.0.2:80", NULL, 1);
	push(&s, "127.0.0.3:80", "y:80", 9);
	push(&s, "[::1]:80", NULL, 1);
	sl__dset_normalize(&s);

	assert_int_equal(3, s.n);
	assert_string_equal("127.0.0.2:80", fmt(&s.v[0], a));
	assert_string_equal("127.0.0.3:80", fmt(&s.v[1], a));
	assert_string_equal("x:80", s.v[1].name);
	assert_int_equal(7, s.v[1].weight);
	assert_string_equal("[::1]:80", fmt(&s.v[2], a));
	assert_int_equal(0, s.v[1].max_connections);
	sl__dset_fini(&s);
}

static void
normalized_sets_of_one_answer_in_two_orders_are_equal(void **state)
{
	struct sl__dset a = {0}, b = {0};

	(void)state;
	push(&a, "127.0.0.2:9000", "t:9000", 1);
	push(&a, "127.0.0.3:9000", "t:9000", 1);
	push(&a, "127.0.0.4:9001", "u:9001", 2);
	push(&b, "127.0.0.4:9001", "u:9001", 2);
	push(&b, "127.0.0.3:9000", "t:9000", 1);
	push(&b, "127.0.0.2:9000", "t:9000", 1);
	sl__dset_normalize(&a);
	sl__dset_normalize(&b);

	assert_true(sl__dset_equal(&a, &b));
	assert_string_equal("t:9000#2", b.v[1].name);
	sl__dset_fini(&a);
	sl__dset_fini(&b);
}

static void
sets_differing_in_a_weight_are_not_equal(void **state)
{
	struct sl__dset a = {0}, b = {0};

	(void)state;
	push(&a, "127.0.0.2:9000", NULL, 1);
	push(&b, "127.0.0.2:9000", NULL, 2);

	assert_false(sl__dset_equal(&a, &b));
	sl__dset_fini(&a);
	sl__dset_fini(&b);
}

static void
sets_differing_in_an_address_are_not_equal(void **state)
{
	struct sl__dset a = {0}, b = {0};

	(void)state;
	push(&a, "127.0.0.2:9000", "n", 1);
	push(&b, "127.0.0.2:9001", "n", 1);

	assert_false(sl__dset_equal(&a, &b));
	sl__dset_fini(&a);
	sl__dset_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(interval_is_the_ttl_within_the_bounds),
	        cmocka_unit_test(interval_is_raised_to_ttl_min),
	        cmocka_unit_test(interval_is_cut_to_ttl_max),
	        cmocka_unit_test(a_answer_gives_one_backend_per_record_with_port_and_weight),
	        cmocka_unit_test(a_answer_lowers_the_ttl_to_its_smallest_record),
	        cmocka_unit_test(a_answer_reads_a_ttl_with_the_top_bit_as_zero),
	        cmocka_unit_test(aaaa_answer_gives_ipv6_backends),
	        cmocka_unit_test(answer_without_records_is_no_data),
	        cmocka_unit_test(a_cut_short_answer_is_a_bad_message),
	        cmocka_unit_test(addresses_of_an_srv_target_take_its_name),
	        cmocka_unit_test(srv_answer_keeps_only_the_lowest_priority),
	        cmocka_unit_test(srv_weight_zero_counts_as_one),
	        cmocka_unit_test(srv_target_dot_means_no_service),
	        cmocka_unit_test(srv_dot_target_does_not_hide_a_real_one_of_lower_rank),
	        cmocka_unit_test(srv_parse_stops_at_max),
	        cmocka_unit_test(srv_answer_cut_short_is_a_bad_message),
	        cmocka_unit_test(answer_ttl_is_the_smallest_of_the_type),
	        cmocka_unit_test(answer_ttl_reads_a_compressed_owner_name),
	        cmocka_unit_test(answer_ttl_with_the_top_bit_set_counts_as_zero),
	        cmocka_unit_test(answer_ttl_refuses_a_message_cut_short),
	        cmocka_unit_test(normalize_sorts_by_address_and_keeps_the_first_of_a_repeat),
	        cmocka_unit_test(normalized_sets_of_one_answer_in_two_orders_are_equal),
	        cmocka_unit_test(sets_differing_in_a_weight_are_not_equal),
	        cmocka_unit_test(sets_differing_in_an_address_are_not_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
