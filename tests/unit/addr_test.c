// SPDX-License-Identifier: MIT
/* Behaviour of address parsing and formatting (src/net/addr.c). */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/addr.h>

static void
addr_parses_ipv4_and_formats_back(void **state)
{
	struct sl_addr a;
	char buf[SL_ADDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "127.0.0.1:8080", false, NULL));
	assert_int_equal(AF_INET, a.ss.ss_family);
	assert_int_equal(8080, sl_addr_port(&a));
	assert_string_equal("127.0.0.1:8080", sl_addr_format(&a, buf, sizeof(buf)));
}

static void
addr_parses_bracketed_ipv6(void **state)
{
	struct sl_addr a;
	char buf[SL_ADDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "[::1]:9000", false, NULL));
	assert_int_equal(AF_INET6, a.ss.ss_family);
	assert_string_equal("[::1]:9000", sl_addr_format(&a, buf, sizeof(buf)));
}

static void
addr_set_port_changes_the_port_alone(void **state)
{
	struct sl_addr a = {0};
	char buf[SL_ADDR_STRLEN];

	(void)state;
	sl_addr_set_port(&a, 80); /* unset: stays unset */
	assert_int_equal(0, a.len);
	assert_int_equal(0, sl_addr_parse(&a, "10.1.2.3:8080", false, NULL));
	sl_addr_set_port(&a, 8081);
	assert_string_equal("10.1.2.3:8081", sl_addr_format(&a, buf, sizeof(buf)));
	assert_int_equal(0, sl_addr_parse(&a, "[2001:db8::1]:9000", false, NULL));
	sl_addr_set_port(&a, 0);
	assert_string_equal("[2001:db8::1]:0", sl_addr_format(&a, buf, sizeof(buf)));
}

static void
addr_accepts_localhost_as_loopback(void **state)
{
	struct sl_addr a, b;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "localhost:80", false, NULL));
	assert_int_equal(0, sl_addr_parse(&b, "127.0.0.1:80", false, NULL));
	assert_true(sl_addr_equal(&a, &b));
}

/* true if <x> and <y> (parsed) would take one port */
static bool
overlap(const char *x, const char *y)
{
	struct sl_addr a, b;

	assert_int_equal(0, sl_addr_parse(&a, x, false, NULL));
	assert_int_equal(0, sl_addr_parse(&b, y, false, NULL));
	assert_int_equal(sl_addr_overlap(&a, &b), sl_addr_overlap(&b, &a));
	return sl_addr_overlap(&a, &b);
}

static void
addr_overlap_is_one_port_on_one_address_or_a_wildcard(void **state)
{
	(void)state;
	assert_true(overlap("127.0.0.1:80", "127.0.0.1:80"));
	assert_true(overlap("0.0.0.0:80", "127.0.0.1:80"));
	assert_true(overlap("0.0.0.0:80", "0.0.0.0:80"));
	assert_true(overlap("[::]:80", "[::1]:80"));
	assert_false(overlap("127.0.0.1:80", "127.0.0.2:80"));
	assert_false(overlap("0.0.0.0:80", "0.0.0.0:81"));
	assert_false(overlap("[::]:80", "0.0.0.0:80")); /* IPv6 listeners are V6ONLY */
	assert_false(overlap("[::]:80", "127.0.0.1:80"));
}

/* true if a connect to <to> reaches a listener on <listener> (both parsed) */
static bool
reaches(const char *to, const char *listener)
{
	struct sl_addr a, b;

	assert_int_equal(0, sl_addr_parse(&a, to, false, NULL));
	assert_int_equal(0, sl_addr_parse(&b, listener, false, NULL));
	return sl_addr_reaches(&a, &b);
}

static void
addr_reaches_a_listener_on_its_address_or_a_wildcard_on_loopback(void **state)
{
	(void)state;
	assert_true(reaches("127.0.0.1:80", "127.0.0.1:80"));
	assert_true(reaches("10.0.0.5:80", "10.0.0.5:80"));
	assert_true(reaches("127.0.0.1:80", "0.0.0.0:80"));
	assert_true(reaches("127.9.9.9:80", "0.0.0.0:80")); /* all of 127.0.0.0/8 is loopback */
	assert_true(reaches("[::1]:80", "[::]:80"));
	assert_true(reaches("[2001:db8::5]:80", "[2001:db8::5]:80"));
	/* a connect to the unspecified address goes to the loopback one */
	assert_true(reaches("0.0.0.0:80", "127.0.0.1:80"));
	assert_true(reaches("0.0.0.0:80", "0.0.0.0:80"));
	assert_true(reaches("[::]:80", "[::1]:80"));
	assert_false(reaches("0.0.0.0:80", "127.0.0.2:80"));
	assert_false(reaches("127.0.0.1:80", "127.0.0.2:80"));
	assert_false(reaches("127.0.0.1:81", "127.0.0.1:80"));
	assert_false(reaches("127.0.0.1:80", "[::]:80")); /* IPv6 listeners are V6ONLY */
	assert_false(reaches("[::1]:80", "0.0.0.0:80"));
	/* whether another address is this host's, only the host can tell */
	assert_false(reaches("10.0.0.5:80", "0.0.0.0:80"));
}

/* sl_addr_reaches_here() of <to> and <listener> (both parsed) with this host's addresses <h> */
static bool
reaches_here(const char *to, const char *listener, const struct sl_host_addrs *h)
{
	struct sl_addr a, b;

	assert_int_equal(0, sl_addr_parse(&a, to, false, NULL));
	assert_int_equal(0, sl_addr_parse(&b, listener, false, NULL));
	return sl_addr_reaches_here(&a, &b, h);
}

static void
addr_host_addresses_reach_a_wildcard_listener_on_its_port(void **state)
{
	struct sl_host_addrs *h = sl_host_addrs_load();
	struct sl_addr lo, doc;

	(void)state;
	assert_non_null(h);
	assert_int_equal(0, sl_addr_parse(&lo, "127.0.0.1:80", false, NULL));
	assert_int_equal(0, sl_addr_parse(&doc, "192.0.2.1:80", false, NULL)); /* TEST-NET-1 */
	assert_true(sl_host_addrs_has(h, &lo)); /* lo is up wherever the tests run */
	assert_false(sl_host_addrs_has(h, &doc));
	assert_false(sl_host_addrs_has(NULL, &lo));
	/* the loopback answers come from sl_addr_reaches(), with or without the host's list */
	assert_true(reaches_here("127.0.0.1:80", "0.0.0.0:80", NULL));
	assert_true(reaches_here("127.0.0.1:80", "0.0.0.0:80", h));
	/* an address of the host: only on a wildcard listener of its family and port */
	assert_false(reaches_here("192.0.2.1:80", "0.0.0.0:80", h));
	assert_false(reaches_here("127.0.0.1:80", "127.0.0.2:80", h));
	assert_false(reaches_here("127.0.0.1:81", "0.0.0.0:80", h));
	assert_false(reaches_here("127.0.0.1:80", "[::]:80", h));
	assert_false(sl_addr_is_any(&(struct sl_addr){0})); /* unset: no IP at all */
	assert_false(sl_addr_is_any(&doc));
	assert_int_equal(0, sl_addr_parse(&doc, "[::]:80", false, NULL));
	assert_true(sl_addr_is_any(&doc));
	sl_host_addrs_free(h);
	sl_host_addrs_free(NULL);
}

static void
addr_refuses_port_out_of_range(void **state)
{
	struct sl_addr a;
	const char *why = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "127.0.0.1:65536", false, &why));
	assert_string_equal("port out of range (1-65535)", why);
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "127.0.0.1:0", false, &why));
	assert_int_equal(0, sl_addr_parse(&a, "127.0.0.1:0", true, &why));
}

static void
addr_refuses_unbracketed_ipv6(void **state)
{
	struct sl_addr a;
	const char *why = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "::1:80", false, &why));
	assert_string_equal("IPv6 addresses must be written in brackets: [::1]:PORT", why);
}

static void
addr_refuses_host_names_and_garbage(void **state)
{
	struct sl_addr a;
	const char *why = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "example.com:80", false, &why));
	assert_string_equal("not a valid IPv4 address (host names are not resolved)", why);
	/* numbers written another way are not taken for a name */
	for (size_t i = 0; i < 3; i++) {
		static const char *const odd[] = {"127.0.0.050:80", "127.1:80", "0x7f000001:80"};

		assert_int_equal(-EINVAL, sl_addr_parse(&a, odd[i], false, &why));
		assert_string_equal("not a valid IPv4 address (four decimal numbers 0-255 with no "
		                    "leading zeros, as 127.0.0.1)",
		                    why);
	}
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "127.0.0.1", false, &why));
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "127.0.0.1:80x", false, &why));
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "[::1:80", false, &why));
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "", false, &why));
	/* a zone is named as such */
	assert_int_equal(-EINVAL, sl_addr_parse(&a, "[fe80::1%eth0]:80", false, &why));
	assert_string_equal("an IPv6 address with a zone (%eth0), which sluice does not take: use "
	                    "a global or unique-local address",
	                    why);
}

/* what a file, a flag or sluicectl takes: no mapped form, nothing TCP cannot use, no
 * link-local address (it needs a zone) */
static void
addr_configured_refuses_mapped_multicast_and_broadcast_addresses(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	        {"224.0.0.1:80", "a multicast address, which TCP cannot use"},
	        {"239.255.255.250:1900", "a multicast address, which TCP cannot use"},
	        {"[ff02::1]:80", "a multicast address, which TCP cannot use"},
	        {"255.255.255.255:80", "the broadcast address, which TCP cannot use"},
	        {"[::ffff:10.0.0.5]:80", "an IPv4 address in IPv6 form (IPv4-mapped): write the "
	                                 "IPv4 address, 10.0.0.5:80"},
	        {"127.0.0.1:0", "port out of range (1-65535)"},
	        {"[fe80::1]:80",
	         "a link-local address (fe80::/10), which needs an interface sluice "
	         "cannot name: use a global or unique-local one"},
	        {"[febf::1]:80",
	         "a link-local address (fe80::/10), which needs an interface sluice "
	         "cannot name: use a global or unique-local one"},
	};
	struct sl_addr a;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(why, "?");
		assert_int_equal(-EINVAL, sl_addr_parse_configured(&a, bad[i].text, false, why,
		                                                   sizeof(why)));
		assert_string_equal(bad[i].why, why);
	}
	/* the last unicast addresses before and after them are taken */
	assert_int_equal(0, sl_addr_parse_configured(&a, "223.255.255.255:80", false, why, 128));
	assert_int_equal(0, sl_addr_parse_configured(&a, "240.0.0.1:80", false, why, 128));
	assert_int_equal(0, sl_addr_parse_configured(&a, "255.255.255.254:80", false, why, 128));
	assert_int_equal(0, sl_addr_parse_configured(&a, "[fec0::1]:80", false, why, 128));
	assert_int_equal(0, sl_addr_parse_configured(&a, "[fd00::1]:80", false, why, 128));
	assert_int_equal(0, sl_addr_parse_configured(&a, "0.0.0.0:0", true, why, 128));
}

static void
addr_names_the_ipv4_form_of_an_ipv4_mapped_address(void **state)
{
	struct sl_addr a;
	char why[128] = "";

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "[::ffff:127.0.0.1]:21006", false, NULL));
	assert_true(sl_addr_is_v4_mapped(&a, why, sizeof(why)));
	assert_string_equal("an IPv4 address in IPv6 form (IPv4-mapped): write the IPv4 address, "
	                    "127.0.0.1:21006",
	                    why);
	assert_true(sl_addr_is_v4_mapped(&a, NULL, 0));
	assert_int_equal(0, sl_addr_parse(&a, "[::ffff:10.0.0.5]:0", true, NULL));
	assert_true(sl_addr_is_v4_mapped(&a, why, sizeof(why)));
	assert_string_equal("an IPv4 address in IPv6 form (IPv4-mapped): write the IPv4 address, "
	                    "10.0.0.5",
	                    why);
	/* IPv6 addresses of other forms, and IPv4 ones, are not */
	assert_int_equal(0, sl_addr_parse(&a, "[::1]:80", false, NULL));
	assert_false(sl_addr_is_v4_mapped(&a, why, sizeof(why)));
	assert_int_equal(0, sl_addr_parse(&a, "[::127.0.0.1]:80", false, NULL));
	assert_false(sl_addr_is_v4_mapped(&a, why, sizeof(why)));
	assert_int_equal(0, sl_addr_parse(&a, "127.0.0.1:80", false, NULL));
	assert_false(sl_addr_is_v4_mapped(&a, why, sizeof(why)));
}

/* the client of a PROXY header in IPv4-mapped form becomes the IPv4 client, port kept */
static void
addr_unmaps_an_ipv4_mapped_address_and_no_other(void **state)
{
	struct sl_addr a, want;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "[::ffff:198.51.100.7]:40000", false, NULL));
	assert_true(sl_addr_unmap(&a));
	assert_int_equal(0, sl_addr_parse(&want, "198.51.100.7:40000", false, NULL));
	assert_true(sl_addr_equal(&want, &a));
	assert_int_equal(sizeof(struct sockaddr_in), a.len);
	assert_false(sl_addr_unmap(&a)); /* IPv4 already */
	assert_int_equal(0, sl_addr_parse(&a, "[::127.0.0.1]:80", false, NULL));
	assert_false(sl_addr_unmap(&a)); /* IPv4-compatible, not mapped */
	assert_int_equal(AF_INET6, a.ss.ss_family);
	assert_int_equal(0, sl_addr_parse(&a, "[2001:db8::ffff:1:2]:80", false, NULL));
	assert_false(sl_addr_unmap(&a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(addr_parses_ipv4_and_formats_back),
	        cmocka_unit_test(addr_overlap_is_one_port_on_one_address_or_a_wildcard),
	        cmocka_unit_test(addr_parses_bracketed_ipv6),
	        cmocka_unit_test(addr_set_port_changes_the_port_alone),
	        cmocka_unit_test(addr_accepts_localhost_as_loopback),
	        cmocka_unit_test(addr_refuses_port_out_of_range),
	        cmocka_unit_test(addr_refuses_unbracketed_ipv6),
	        cmocka_unit_test(addr_refuses_host_names_and_garbage),
	        cmocka_unit_test(addr_configured_refuses_mapped_multicast_and_broadcast_addresses),
	        cmocka_unit_test(addr_names_the_ipv4_form_of_an_ipv4_mapped_address),
	        cmocka_unit_test(addr_unmaps_an_ipv4_mapped_address_and_no_other),
	        cmocka_unit_test(addr_reaches_a_listener_on_its_address_or_a_wildcard_on_loopback),
	        cmocka_unit_test(addr_host_addresses_reach_a_wildcard_listener_on_its_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
