// SPDX-License-Identifier: MIT
/* Behaviour of CIDR prefix parsing and formatting (src/net/cidr.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/cidr.h>

/* parses <text> (must succeed) and returns its formatted form in <buf> */
static const char *
roundtrip(const char *text, unsigned flags, char *buf)
{
	struct sl_cidr c;

	assert_int_equal(0, sl_cidr_parse(&c, text, flags, NULL));
	assert_non_null(sl_cidr_format(&c, buf, SL_CIDR_STRLEN));
	return buf;
}

static void
cidr_parses_ipv4_prefix_and_formats_back(void **state)
{
	struct sl_cidr c;
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "10.0.0.0/8", 0, NULL));
	assert_int_equal(AF_INET, c.family);
	assert_int_equal(8, c.len);
	assert_int_equal(10, c.addr[0]);
	assert_string_equal("10.0.0.0/8", sl_cidr_format(&c, buf, sizeof(buf)));
}

static void
cidr_reads_bare_ipv4_address_as_host_prefix(void **state)
{
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_string_equal("192.168.1.7/32", roundtrip("192.168.1.7", 0, buf));
}

static void
cidr_parses_ipv6_prefix_and_bare_address(void **state)
{
	struct sl_cidr c;
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "2001:db8::/32", 0, NULL));
	assert_int_equal(AF_INET6, c.family);
	assert_int_equal(32, c.len);
	assert_string_equal("2001:db8::/32", sl_cidr_format(&c, buf, sizeof(buf)));
	assert_string_equal("::1/128", roundtrip("::1", 0, buf));
}

static void
cidr_accepts_zero_and_full_lengths(void **state)
{
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_string_equal("0.0.0.0/0", roundtrip("0.0.0.0/0", 0, buf));
	assert_string_equal("::/0", roundtrip("::/0", 0, buf));
	assert_string_equal("255.255.255.255/32", roundtrip("255.255.255.255/32", 0, buf));
	assert_string_equal("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	                    roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 0, buf));
}

static void
cidr_refuses_host_bits_beyond_prefix(void **state)
{
	struct sl_cidr c;
	const char *why = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "10.0.0.1/8", 0, &why));
	assert_string_equal("host bits set beyond the prefix length", why);
	why = NULL;
	assert_int_equal(0, sl_cidr_parse(&c, "10.128.0.0/9", 0, &why));
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "10.192.0.0/9", 0, &why));
	assert_string_equal("host bits set beyond the prefix length", why);
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "2001:db8::1/64", 0, &why));
	assert_string_equal("host bits set beyond the prefix length", why);
}

static void
cidr_masks_host_bits_when_asked(void **state)
{
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_string_equal("10.0.0.0/8", roundtrip("10.1.2.3/8", SL_CIDR_MASK_HOST_BITS, buf));
	assert_string_equal("10.128.0.0/9", roundtrip("10.255.2.3/9", SL_CIDR_MASK_HOST_BITS, buf));
	assert_string_equal("2001:db8::/32",
	                    roundtrip("2001:db8:1:2::5/32", SL_CIDR_MASK_HOST_BITS, buf));
	assert_string_equal("0.0.0.0/0", roundtrip("1.2.3.4/0", SL_CIDR_MASK_HOST_BITS, buf));
}

static void
cidr_refuses_prefix_length_out_of_range(void **state)
{
	struct sl_cidr c;
	const char *why = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "10.0.0.0/33", 0, &why));
	assert_string_equal("prefix length out of range (0-32 for IPv4)", why);
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "::/129", 0, &why));
	assert_string_equal("prefix length out of range (0-128 for IPv6)", why);
	/* however long, the range is named; a leading zero is called that before its length */
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "::/1000", 0, &why));
	assert_string_equal("prefix length out of range (0-128 for IPv6)", why);
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "10.0.0.0/99999999999999999999", 0, &why));
	assert_string_equal("prefix length out of range (0-32 for IPv4)", why);
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "::/0128", 0, &why));
	assert_string_equal("prefix length has a leading zero", why);
	assert_int_equal(0, sl_cidr_parse(&c, "::/128", 0, &why));
}

static void
cidr_refuses_malformed_prefix_length(void **state)
{
	static const char *const bad[] = {"10.0.0.0/",    "10.0.0.0/-1", "10.0.0.0/+8",
	                                  "10.0.0.0/08",  "10.0.0.0/ 8", "10.0.0.0/8 ",
	                                  "10.0.0.0/8/8", "10.0.0.0/0x8"};
	struct sl_cidr c;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		why = NULL;
		assert_int_equal(-EINVAL, sl_cidr_parse(&c, bad[i], 0, &why));
		assert_non_null(why);
	}
}

static void
cidr_refuses_non_numeric_addresses(void **state)
{
	static const char *const bad[] = {
	        "",          "/8",       "localhost",    "1.2.3",   "1.2.3.4.5", "01.2.3.4",
	        "256.0.0.0", " 1.2.3.4", "fe80::1%eth0", "1::2::3", "[::1]",     "::1 /128"};
	struct sl_cidr c;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		why = NULL;
		assert_int_equal(-EINVAL, sl_cidr_parse(&c, bad[i], 0, &why));
		assert_non_null(why);
	}
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, "fe80::1%eth0/64", 0, &why));
	assert_string_equal("an IPv6 address with a zone (%eth0), which a prefix cannot have", why);
}

static void
cidr_refuses_overlong_text_without_reading_past_it(void **state)
{
	char text[200];
	struct sl_cidr c;
	const char *why = NULL;

	(void)state;
	memset(text, '1', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(-EINVAL, sl_cidr_parse(&c, text, 0, &why));
	assert_string_equal("address too long", why);
}

static void
cidr_files_ipv4_mapped_prefix_as_ipv4(void **state)
{
	struct sl_cidr c;
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "::ffff:10.0.0.0/104", 0, NULL));
	assert_int_equal(AF_INET, c.family);
	assert_int_equal(8, c.len);
	assert_string_equal("10.0.0.0/8", sl_cidr_format(&c, buf, sizeof(buf)));
	assert_string_equal("192.0.2.1/32", roundtrip("::ffff:192.0.2.1", 0, buf));
	assert_string_equal("0.0.0.0/0", roundtrip("::ffff:0:0/96", 0, buf));
}

static void
cidr_keeps_short_prefix_over_mapped_space_ipv6(void **state)
{
	struct sl_cidr c;

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "::ffff:0:0/95", SL_CIDR_MASK_HOST_BITS, NULL));
	assert_int_equal(AF_INET6, c.family);
	assert_int_equal(95, c.len);
}

static void
cidr_format_refuses_small_buffer(void **state)
{
	struct sl_cidr c;
	char buf[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "10.0.0.0/8", 0, NULL));
	assert_null(sl_cidr_format(&c, buf, strlen("10.0.0.0/8")));
	assert_non_null(sl_cidr_format(&c, buf, strlen("10.0.0.0/8") + 1));
}

static void
cidr_format_refuses_invalid_prefix(void **state)
{
	struct sl_cidr c;
	char buf[SL_CIDR_STRLEN];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.family = AF_UNIX;
	assert_null(sl_cidr_format(&c, buf, sizeof(buf)));
	c.family = AF_INET;
	c.len = 33;
	assert_null(sl_cidr_format(&c, buf, sizeof(buf)));
	c.len = 8;
	c.addr[3] = 1;
	assert_null(sl_cidr_format(&c, buf, sizeof(buf)));
	assert_false(sl_cidr_is_valid(&c));
}

static void
cidr_contains_checks_family_and_prefix_bits(void **state)
{
	static const uint8_t in[4] = {10, 129, 0, 1}, out[4] = {10, 127, 255, 255};
	uint8_t a6[16] = {0};
	struct sl_cidr c;

	(void)state;
	assert_int_equal(0, sl_cidr_parse(&c, "10.128.0.0/9", 0, NULL));
	assert_true(sl_cidr_contains(&c, AF_INET, in));
	assert_false(sl_cidr_contains(&c, AF_INET, out));
	memcpy(a6, in, 4);
	assert_false(sl_cidr_contains(&c, AF_INET6, a6));
}

static void
cidr_unmaps_only_ipv4_mapped_addresses(void **state)
{
	struct in6_addr mapped, plain;
	uint8_t a4[4] = {0};

	(void)state;
	assert_int_equal(1, inet_pton(AF_INET6, "::ffff:192.0.2.9", &mapped));
	assert_int_equal(1, inet_pton(AF_INET6, "::192.0.2.9", &plain));
	assert_true(sl_cidr_unmap(mapped.s6_addr, a4));
	assert_int_equal(192, a4[0]);
	assert_int_equal(9, a4[3]);
	assert_false(sl_cidr_unmap(plain.s6_addr, a4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cidr_parses_ipv4_prefix_and_formats_back),
	        cmocka_unit_test(cidr_reads_bare_ipv4_address_as_host_prefix),
	        cmocka_unit_test(cidr_parses_ipv6_prefix_and_bare_address),
	        cmocka_unit_test(cidr_accepts_zero_and_full_lengths),
	        cmocka_unit_test(cidr_refuses_host_bits_beyond_prefix),
	        cmocka_unit_test(cidr_masks_host_bits_when_asked),
	        cmocka_unit_test(cidr_refuses_prefix_length_out_of_range),
	        cmocka_unit_test(cidr_refuses_malformed_prefix_length),
	        cmocka_unit_test(cidr_refuses_non_numeric_addresses),
	        cmocka_unit_test(cidr_refuses_overlong_text_without_reading_past_it),
	        cmocka_unit_test(cidr_files_ipv4_mapped_prefix_as_ipv4),
	        cmocka_unit_test(cidr_keeps_short_prefix_over_mapped_space_ipv6),
	        cmocka_unit_test(cidr_format_refuses_small_buffer),
	        cmocka_unit_test(cidr_format_refuses_invalid_prefix),
	        cmocka_unit_test(cidr_contains_checks_family_and_prefix_bits),
	        cmocka_unit_test(cidr_unmaps_only_ipv4_mapped_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
