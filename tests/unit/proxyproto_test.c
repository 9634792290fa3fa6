// SPDX-License-Identifier: MIT
/*
 * Behaviour of the PROXY protocol codec (src/net/proxyproto.c): every valid form round-trips,
 * every prefix of a valid header asks for more without overshooting, and each class of
 * malformed header is refused with its reason.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/proxyproto.h>

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* bytes of a string literal, without its NUL (v2 headers hold NULs, so no strlen) */
#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

static struct sl_addr
addr(const char *text)
{
	struct sl_addr a;

	if (sl_addr_parse(&a, text, true, NULL) != 0)
		fail_msg("bad test address %s", text);
	return a;
}

static struct sl_pp_hdr
proxy_hdr(const char *src, const char *dst)
{
	struct sl_pp_hdr h = {.cmd = SL_PP_CMD_PROXY};

	if (src)
		h.src = addr(src);
	if (dst)
		h.dst = addr(dst);
	return h;
}

static void
assert_refused(const uint8_t *buf, size_t len, const struct sl_pp_opts *o, int want_err,
               const char *want_why)
{
	struct sl_pp_hdr h;
	const char *why = NULL;

	assert_int_equal(want_err, sl_pp_parse(&h, buf, len, o, &why));
	assert_non_null(why);
	assert_string_equal(want_why, why);
}

static void
assert_same_addr(const struct sl_addr *want, const struct sl_addr *got)
{
	char w[SL_ADDR_STRLEN], g[SL_ADDR_STRLEN];

	if (!sl_addr_equal(want, got) || want->len != got->len)
		fail_msg("want %s, got %s", sl_addr_format(want, w, sizeof(w)),
		         sl_addr_format(got, g, sizeof(g)));
}

/* Every valid form both builders can write. */
static const uint8_t tlv_bytes[] = {0x01, 0x00, 0x02, 'h', '2', /* ALPN "h2" */
                                    0x04, 0x00, 0x00,           /* empty NOOP */
                                    0x05, 0x00, 0x03, 1,   2,   3};
static const struct form {
	enum sl_pp_cmd cmd;
	const char *src, *dst;
	bool tlv;
} forms[] = {
        {SL_PP_CMD_PROXY, "192.168.0.1:56324", "192.168.0.11:443", false},
        {SL_PP_CMD_PROXY, "0.0.0.0:0", "255.255.255.255:65535", false},
        {SL_PP_CMD_PROXY, "[2001:db8::1]:1", "[::1]:8080", false},
        {SL_PP_CMD_PROXY, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
         "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535", false},
        {SL_PP_CMD_PROXY, "[::ffff:10.0.0.1]:1234", "[::ffff:10.0.0.2]:80", false},
        {SL_PP_CMD_PROXY, "10.1.2.3:40000", "10.3.2.1:443", true},
        {SL_PP_CMD_PROXY, "[fe80::1]:40000", "[fe80::2]:443", true},
        {SL_PP_CMD_UNKNOWN, NULL, NULL, false},
        {SL_PP_CMD_UNKNOWN, NULL, NULL, true},
        {SL_PP_CMD_LOCAL, NULL, NULL, false},
        {SL_PP_CMD_LOCAL, NULL, NULL, true},
};

static struct sl_pp_hdr
form_hdr(const struct form *f)
{
	struct sl_pp_hdr h = proxy_hdr(f->src, f->dst);

	h.cmd = f->cmd;
	if (f->tlv) {
		h.tlv = tlv_bytes;
		h.tlv_len = sizeof(tlv_bytes);
	}
	return h;
}

static void
pp_every_valid_form_round_trips_through_build_and_parse(void **state)
{
	uint8_t buf[SL_PP_BUF_LEN];
	struct sl_pp_hdr in, out;
	unsigned v;
	size_t i;
	ssize_t n;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(forms); i++) {
		for (v = 1; v <= 2; v++) {
			in = form_hdr(&forms[i]);
			n = sl_pp_build(buf, sizeof(buf), v, &in);
			assert_true(n > 0);
			assert_int_equal(n, sl_pp_parse(&out, buf, (size_t)n, NULL, NULL));
			assert_int_equal(v, out.version);
			/* v1 has no LOCAL: it says UNKNOWN, which also means "use the real ends" */
			assert_int_equal(v == 1 && in.cmd == SL_PP_CMD_LOCAL ? SL_PP_CMD_UNKNOWN
			                                                     : in.cmd,
			                 out.cmd);
			if (in.cmd == SL_PP_CMD_PROXY) {
				assert_same_addr(&in.src, &out.src);
				assert_same_addr(&in.dst, &out.dst);
			} else {
				assert_int_equal(0, out.src.len);
				assert_int_equal(0, out.dst.len);
			}
			if (v == 2 && in.tlv_len) {
				assert_int_equal(in.tlv_len, out.tlv_len);
				assert_memory_equal(in.tlv, out.tlv, in.tlv_len);
			} else {
				assert_int_equal(0, out.tlv_len);
			}
		}
	}
}

static void
pp_v1_parses_the_spec_example(void **state)
{
	static const char line[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	struct sl_addr src = addr("192.168.0.1:56324"), dst = addr("192.168.0.11:443");
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(sizeof(line) - 1, sl_pp_parse(&h, LIT(line), NULL, NULL));
	assert_int_equal(1, h.version);
	assert_int_equal(SL_PP_CMD_PROXY, h.cmd);
	assert_same_addr(&src, &h.src);
	assert_same_addr(&dst, &h.dst);
	assert_null(h.tlv);
}

static void
pp_v1_unknown_ignores_the_rest_of_the_line(void **state)
{
	static const char line[] = "PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n";
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(sizeof(line) - 1, sl_pp_parse(&h, LIT(line), NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);
	assert_int_equal(0, h.src.len);
	assert_int_equal(15, sl_pp_parse(&h, LIT("PROXY UNKNOWN\r\n"), NULL, NULL));
}

static void
pp_v2_parses_handmade_tcp6_header_with_tlvs(void **state)
{
	static const char hdr[] = SIG "\x21\x21\x00\x2a"
	                              "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" /* 2001:db8::1 */
	                              "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"         /* ::1 */
	                              "\x1f\x90\x01\xbb"                           /* 8080, 443 */
	                              "\x02\x00\x03"
	                              "abc"; /* AUTHORITY "abc" */
	struct sl_addr src = addr("[2001:db8::1]:8080"), dst = addr("[::1]:443");
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(16 + 42, sl_pp_parse(&h, LIT(hdr), NULL, NULL));
	assert_int_equal(2, h.version);
	assert_int_equal(SL_PP_CMD_PROXY, h.cmd);
	assert_same_addr(&src, &h.src);
	assert_same_addr(&dst, &h.dst);
	assert_int_equal(6, h.tlv_len);
	assert_memory_equal("\x02\x00\x03"
	                    "abc",
	                    h.tlv, 6);
	assert_ptr_equal((const uint8_t *)hdr + 16 + 36, h.tlv);
}

static void
pp_v2_local_ignores_addresses_and_keeps_tlvs(void **state)
{
	static const char hdr[] = SIG "\x20\x11\x00\x0f"
	                              "\x7f\0\0\x01\x7f\0\0\x02\0\x50\0\x51"
	                              "\x04\x00\x00";
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(16 + 15, sl_pp_parse(&h, LIT(hdr), NULL, NULL));
	assert_int_equal(SL_PP_CMD_LOCAL, h.cmd);
	assert_int_equal(0, h.src.len);
	assert_int_equal(0, h.dst.len);
	assert_int_equal(3, h.tlv_len);
}

static void
pp_v2_udp_unix_and_unspec_families_parse_as_unknown(void **state)
{
	static const char udp4[] = SIG "\x21\x12\x00\x0c"
	                               "\x7f\0\0\x01\x7f\0\0\x02\0\x50\0\x51";
	static const char unspec[] = SIG "\x21\x00\x00\x00";
	static const char af_only[] = SIG "\x21\x10\x00\x0c"
	                                  "\x7f\0\0\x01\x7f\0\0\x02\0\x50\0\x51";
	uint8_t unix_stream[16 + 216 + 3] = {0};
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(28, sl_pp_parse(&h, LIT(udp4), NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);
	assert_int_equal(0, h.src.len);
	assert_int_equal(16, sl_pp_parse(&h, LIT(unspec), NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);
	assert_int_equal(28, sl_pp_parse(&h, LIT(af_only), NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);

	memcpy(unix_stream, SIG "\x21\x31\x00\xdb", 16); /* 219 = 216 + an empty NOOP TLV */
	unix_stream[16 + 216] = 0x04;
	assert_int_equal(sizeof(unix_stream),
	                 sl_pp_parse(&h, unix_stream, sizeof(unix_stream), NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);
	assert_int_equal(3, h.tlv_len);
}

static void
pp_every_truncated_prefix_needs_more_and_need_never_overshoots(void **state)
{
	uint8_t buf[SL_PP_BUF_LEN];
	struct sl_pp_hdr h;
	size_t i, k, need;
	unsigned v;
	ssize_t n;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(forms); i++) {
		for (v = 1; v <= 2; v++) {
			h = form_hdr(&forms[i]);
			n = sl_pp_build(buf, sizeof(buf), v, &h);
			assert_true(n > 0);
			for (k = 0; k < (size_t)n; k++) {
				assert_int_equal(-EAGAIN, sl_pp_parse(&h, buf, k, NULL, NULL));
				need = sl_pp_need(buf, k);
				assert_true(need > k);
				assert_true(need <= (size_t)n);
			}
			assert_true(sl_pp_need(buf, (size_t)n) <= (size_t)n);
		}
	}
}

static void
pp_reading_exactly_what_need_says_reaches_the_header_end(void **state)
{
	uint8_t buf[SL_PP_BUF_LEN];
	struct sl_pp_hdr h = proxy_hdr("[2001:db8::7]:4242", "[2001:db8::8]:443");
	unsigned v, reads;
	size_t have;
	ssize_t n, r;

	(void)state;
	for (v = 1; v <= 2; v++) {
		n = sl_pp_build(buf, sizeof(buf), v, &h);
		assert_true(n > 0);
		have = 0;
		reads = 0;
		/* what a reader without MSG_PEEK does: each step reads need - have bytes */
		while ((r = sl_pp_parse(&h, buf, have, NULL, NULL)) == -EAGAIN) {
			have = sl_pp_need(buf, have);
			reads++;
			assert_true(reads <= (size_t)n);
		}
		assert_int_equal(n, r);
		assert_int_equal(n, have);
		/* v2: 15 bytes (the shortest header of either version), 1 to complete the fixed
		 * part, then the rest */
		if (v == 2)
			assert_int_equal(3, reads);
	}
}

static void
pp_header_followed_by_payload_consumes_exactly_the_header(void **state)
{
	static const char v1[] =
	        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n";
	static const char v2[] = SIG "\x21\x11\x00\x0c"
	                             "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"
	                             "GET / HTTP/1.1\r\n\r\n";
	static const char unknown[] = "PROXY UNKNOWN\r\n\r\nmore\r\n";
	struct sl_addr src = addr("1.2.3.4:1");
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(32, sl_pp_parse(&h, LIT(v1), NULL, NULL));
	assert_same_addr(&src, &h.src);
	assert_int_equal(28, sl_pp_parse(&h, LIT(v2), NULL, NULL));
	assert_same_addr(&src, &h.src);
	assert_int_equal(0, h.tlv_len);
	assert_int_equal(15, sl_pp_parse(&h, LIT(unknown), NULL, NULL));
}

static void
pp_refuses_other_protocols_at_the_first_byte(void **state)
{
	(void)state;
	assert_refused(LIT("G"), NULL, -EPROTO, "not a PROXY protocol header");
	assert_refused(LIT("\x16\x03\x01"), NULL, -EPROTO, "not a PROXY protocol header");
	assert_refused(LIT("PRI * HTTP/2.0\r\n"), NULL, -EPROTO, "not a PROXY protocol header");
}

static void
pp_v1_refuses_lowercase_proxy(void **state)
{
	(void)state;
	assert_refused(LIT("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), NULL, -EPROTO,
	               "not a PROXY protocol header");
	assert_refused(LIT("PROXy"), NULL, -EPROTO, "not a PROXY protocol header");
	assert_refused(LIT("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: protocol is not TCP4, TCP6 or UNKNOWN");
}

static void
pp_v1_refuses_unknown_protocol(void **state)
{
	(void)state;
	assert_refused(LIT("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	assert_refused(LIT("PROXY UNKNOWNX\r\n"), NULL, -EINVAL,
	               "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	assert_refused(LIT("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: expected a space after PROXY");
}

static void
pp_v1_refuses_line_without_crlf_within_107_bytes(void **state)
{
	char line[200];
	struct sl_pp_hdr h;

	(void)state;
	/* "PROXY UNKNOWN " and padding: a 107-byte line is accepted, 108 is not */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	assert_int_equal(107, sl_pp_parse(&h, line, sizeof(line), NULL, NULL));
	line[105] = 'x';
	memcpy(line + 106, "\r\n", 2);
	assert_refused((const uint8_t *)line, 108, NULL, -EINVAL, "v1: no CRLF within 107 bytes");
	/* 106 bytes with no CRLF yet may still end well; 107 cannot */
	assert_int_equal(-EAGAIN, sl_pp_parse(&h, line, 106, NULL, NULL));
	assert_refused((const uint8_t *)line, 107, NULL, -EINVAL, "v1: no CRLF within 107 bytes");
	/* a bound under 107 (a listener's max_size) ends the wait there */
	assert_int_equal(-EAGAIN,
	                 sl_pp_parse(&h, line, 63, &(struct sl_pp_opts){.max_len = 64}, NULL));
	assert_refused((const uint8_t *)line, 64, &(struct sl_pp_opts){.max_len = 64}, -EINVAL,
	               "v1: no CRLF within the longest header taken");
	memcpy(line + 62, "\r\n", 2);
	assert_int_equal(64, sl_pp_parse(&h, line, 64, &(struct sl_pp_opts){.max_len = 64}, NULL));
}

static void
pp_v1_refuses_bare_lf_lone_cr_and_control_bytes(void **state)
{
	(void)state;
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), NULL, -EINVAL, "v1: LF without CR");
	assert_refused(LIT("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: CR not followed by LF");
	assert_refused(LIT("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: control or non-ASCII byte in the line");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n"), NULL, -EINVAL,
	               "v1: control or non-ASCII byte in the line");
}

static void
pp_v1_refuses_invalid_ip_addresses(void **state)
{
	(void)state;
	assert_refused(LIT("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid IP address");
	assert_refused(LIT("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid IP address");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 ::1 1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid IP address");
	assert_refused(LIT("PROXY TCP6 ::1 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid IP address");
	assert_refused(LIT("PROXY TCP6 ::1 ::g 1 2\r\n"), NULL, -EINVAL, "v1: invalid IP address");
	assert_refused(LIT("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid IP address");
}

static void
pp_v1_refuses_port_65536_and_malformed_ports(void **state)
{
	struct sl_pp_hdr h;

	(void)state;
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n"), NULL, -EINVAL,
	               "v1: invalid port");
	assert_int_equal(
	        36, sl_pp_parse(&h, LIT("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"), NULL, NULL));
}

static void
pp_v1_refuses_missing_fields(void **state)
{
	(void)state;
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), NULL, -EINVAL, "v1: missing field");
	assert_refused(LIT("PROXY TCP4 1.2.3.4\r\n"), NULL, -EINVAL, "v1: missing field");
	assert_refused(LIT("PROXY TCP4\r\n"), NULL, -EINVAL, "v1: missing field");
	assert_refused(LIT("PROXY \r\n"), NULL, -EINVAL, "v1: missing field");
}

static void
pp_v1_refuses_extra_spaces_and_fields(void **state)
{
	(void)state;
	assert_refused(LIT("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: extra space");
	assert_refused(LIT("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), NULL, -EINVAL,
	               "v1: extra space");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), NULL, -EINVAL,
	               "v1: extra field or trailing space");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), NULL, -EINVAL,
	               "v1: extra field or trailing space");
	assert_refused(LIT("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n"), NULL, -EINVAL,
	               "v1: missing field");
}

static void
pp_v2_refuses_bad_signature(void **state)
{
	(void)state;
	assert_refused(LIT("\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00"), NULL, -EPROTO,
	               "v2: bad signature");
	/* refused as soon as a byte differs, before the rest arrives */
	assert_refused(LIT("\r\n\r\nX"), NULL, -EPROTO, "v2: bad signature");
	assert_refused(LIT("\r\r"), NULL, -EPROTO, "v2: bad signature");
}

static void
pp_v2_refuses_version_other_than_2(void **state)
{
	(void)state;
	assert_refused(LIT(SIG "\x11\x11\x00\x0c"), NULL, -EINVAL, "v2: version is not 2");
	assert_refused(LIT(SIG "\x31"), NULL, -EINVAL, "v2: version is not 2");
}

static void
pp_v2_refuses_unknown_command(void **state)
{
	(void)state;
	assert_refused(LIT(SIG "\x22\x11\x00\x0c"), NULL, -EINVAL, "v2: unknown command");
	assert_refused(LIT(SIG "\x2f"), NULL, -EINVAL, "v2: unknown command");
}

static void
pp_v2_refuses_unknown_family_or_protocol(void **state)
{
	(void)state;
	assert_refused(LIT(SIG "\x21\x41\x00\x0c"), NULL, -EINVAL,
	               "v2: unknown address family or protocol");
	assert_refused(LIT(SIG "\x21\x13"), NULL, -EINVAL,
	               "v2: unknown address family or protocol");
}

static void
pp_v2_refuses_length_over_the_bound(void **state)
{
	uint8_t buf[SL_PP_MAX_LEN_DEFAULT + 1] = {0};
	struct sl_pp_opts small = {.max_len = 64};
	struct sl_pp_hdr h;
	size_t blen;

	(void)state;
	/* a header of exactly the default bound is accepted: 216-byte block, then one NOOP TLV */
	blen = SL_PP_MAX_LEN_DEFAULT - 16;
	memcpy(buf, SIG "\x21\x31", 14);
	buf[14] = (uint8_t)(blen >> 8);
	buf[15] = (uint8_t)blen;
	buf[16 + 216] = 0x04;
	buf[16 + 216 + 1] = (uint8_t)((blen - 216 - 3) >> 8);
	buf[16 + 216 + 2] = (uint8_t)(blen - 216 - 3);
	assert_int_equal(SL_PP_MAX_LEN_DEFAULT,
	                 sl_pp_parse(&h, buf, SL_PP_MAX_LEN_DEFAULT, NULL, NULL));
	/* one more byte is refused, and already at 16 bytes, before the rest is read */
	blen++;
	buf[14] = (uint8_t)(blen >> 8);
	buf[15] = (uint8_t)blen;
	assert_refused(buf, 16, NULL, -EINVAL, "v2: header longer than the configured bound");
	/* the bound is the caller's: 64 refuses a 65-byte header and takes a 64-byte one */
	assert_refused(LIT(SIG "\x21\x11\x00\x31"), &small, -EINVAL,
	               "v2: header longer than the configured bound");
	assert_int_equal(-EAGAIN, sl_pp_parse(&h, LIT(SIG "\x21\x11\x00\x30"), &small, NULL));
}

static void
pp_v2_refuses_address_block_too_short_for_the_family(void **state)
{
	(void)state;
	assert_refused(LIT(SIG "\x21\x11\x00\x0b"), NULL, -EINVAL,
	               "v2: address block too short for the family");
	assert_refused(LIT(SIG "\x21\x21\x00\x0c"), NULL, -EINVAL,
	               "v2: address block too short for the family");
}

/* LOCAL: the receiver ignores the family and protocol and discards the block (the spec, as
 * HAProxy does), keeping the TLVs after addresses the block holds */
static void
pp_v2_local_ignores_the_family(void **state)
{
	uint8_t unix_short[16 + 36] = {0}, tcp4_tlv[16 + 12 + 4] = {0};
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(16, sl_pp_parse(&h, LIT(SIG "\x20\x11\x00\x00"), NULL, NULL));
	assert_int_equal(SL_PP_CMD_LOCAL, h.cmd);
	assert_int_equal(0, h.tlv_len);
	assert_int_equal(16, sl_pp_parse(&h, LIT(SIG "\x20\xff\x00\x00"), NULL, NULL));
	assert_int_equal(SL_PP_CMD_LOCAL, h.cmd);
	memcpy(unix_short, SIG "\x20\x31\x00\x24", 16); /* AF_UNIX needs 216 */
	assert_int_equal(sizeof(unix_short),
	                 sl_pp_parse(&h, unix_short, sizeof(unix_short), NULL, NULL));
	assert_int_equal(SL_PP_CMD_LOCAL, h.cmd);
	assert_int_equal(0, h.tlv_len);
	memcpy(tcp4_tlv, SIG "\x20\x11\x00\x10", 16);
	memcpy(tcp4_tlv + 28, "\x04\x00\x01x", 4); /* a NOOP TLV after the TCP4 addresses */
	assert_int_equal(sizeof(tcp4_tlv), sl_pp_parse(&h, tcp4_tlv, sizeof(tcp4_tlv), NULL, NULL));
	assert_int_equal(SL_PP_CMD_LOCAL, h.cmd);
	assert_int_equal(4, h.tlv_len);
	/* PROXY still needs a known family, and a block that holds its addresses */
	assert_refused(LIT(SIG "\x21\xff\x00\x00"), NULL, -EINVAL,
	               "v2: unknown address family or protocol");
}

/* A CRC32C TLV carried into a rebuilt header holds that header's checksum (computed with the
 * value zeroed: the spec), whatever it held before. */
static void
pp_build_v2_seals_a_crc32c_tlv(void **state)
{
	static const uint8_t crc_tlv[] = {0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef};
	struct sl_pp_hdr h = proxy_hdr("1.2.3.4:1", "5.6.7.8:2");
	uint8_t buf[SL_PP_BUF_LEN];

	(void)state;
	h.tlv = crc_tlv;
	h.tlv_len = sizeof(crc_tlv);
	assert_int_equal(16 + 12 + 7, sl_pp_build(buf, sizeof(buf), 2, &h));
	/* the CRC32C of this header with its value zeroed, by an independent implementation */
	assert_memory_equal("\x03\x00\x04\x65\xa6\x0e\x1e", buf + 28, 7);
}

static void
pp_v2_refuses_tlv_overrunning_the_header(void **state)
{
	(void)state;
	/* a value 4 bytes long with 3 in the block */
	assert_refused(LIT(SIG "\x21\x11\x00\x12"
	                       "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"
	                       "\x01\x00\x04"
	                       "abc"),
	               NULL, -EINVAL, "v2: TLV value overruns the header");
	/* two stray bytes after a whole TLV */
	assert_refused(LIT(SIG "\x20\x00\x00\x05"
	                       "\x04\x00\x00"
	                       "\x01\x00"),
	               NULL, -EINVAL, "v2: TLV header overruns the header");
}

static void
pp_opts_restrict_the_accepted_version(void **state)
{
	static const char v1[] = "PROXY UNKNOWN\r\n";
	static const char v2[] = SIG "\x20\x00\x00\x00";
	struct sl_pp_opts only1 = {.versions = SL_PP_V1}, only2 = {.versions = SL_PP_V2};
	struct sl_pp_hdr h;

	(void)state;
	assert_int_equal(15, sl_pp_parse(&h, LIT(v1), &only1, NULL));
	assert_refused(LIT(v2), &only1, -EPROTO, "not a PROXY v1 header");
	assert_int_equal(16, sl_pp_parse(&h, LIT(v2), &only2, NULL));
	assert_refused(LIT(v1), &only2, -EPROTO, "not a PROXY v2 header");
}

static void
pp_build_writes_a_mixed_family_pair_as_v4_mapped_tcp6(void **state)
{
	struct sl_pp_hdr in = proxy_hdr("192.0.2.1:5000", "[2001:db8::1]:443"), out;
	struct sl_addr mapped = addr("[::ffff:192.0.2.1]:5000");
	static const char want[] = "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 5000 443\r\n";
	uint8_t buf[SL_PP_BUF_LEN];
	ssize_t n;

	(void)state;
	n = sl_pp_build(buf, sizeof(buf), 1, &in);
	assert_int_equal(sizeof(want) - 1, n);
	assert_memory_equal(want, buf, (size_t)n);
	n = sl_pp_build(buf, sizeof(buf), 2, &in);
	assert_int_equal(16 + 36, n);
	assert_int_equal(0x21, buf[13]);
	assert_int_equal(n, sl_pp_parse(&out, buf, (size_t)n, NULL, NULL));
	assert_same_addr(&mapped, &out.src);
	assert_same_addr(&in.dst, &out.dst);
}

static void
pp_build_without_both_addresses_writes_unknown(void **state)
{
	struct sl_pp_hdr only_src = proxy_hdr("192.0.2.1:5000", NULL), local = {0};
	uint8_t buf[SL_PP_BUF_LEN];

	(void)state;
	assert_int_equal(15, sl_pp_build(buf, sizeof(buf), 1, &only_src));
	assert_memory_equal("PROXY UNKNOWN\r\n", buf, 15);
	assert_int_equal(16, sl_pp_build(buf, sizeof(buf), 2, &only_src));
	assert_memory_equal(SIG "\x21\x00\x00\x00", buf, 16);
	local.cmd = SL_PP_CMD_LOCAL;
	assert_int_equal(16, sl_pp_build(buf, sizeof(buf), 2, &local));
	assert_memory_equal(SIG "\x20\x00\x00\x00", buf, 16);
}

static void
pp_build_refuses_a_buffer_too_small(void **state)
{
	struct sl_pp_hdr h = proxy_hdr("1.2.3.4:1", "5.6.7.8:2");
	uint8_t buf[SL_PP_BUF_LEN];

	(void)state;
	assert_int_equal(-ENOSPC, sl_pp_build(buf, 31, 1, &h));
	assert_int_equal(32, sl_pp_build(buf, 32, 1, &h));
	assert_int_equal(-ENOSPC, sl_pp_build(buf, 27, 2, &h));
	assert_int_equal(28, sl_pp_build(buf, 28, 2, &h));
}

static void
pp_build_refuses_malformed_tlvs_and_bad_arguments(void **state)
{
	static const uint8_t bad[] = {0x01, 0x00, 0x05, 'a'};
	struct sl_pp_hdr h = proxy_hdr("1.2.3.4:1", "5.6.7.8:2");
	uint8_t buf[SL_PP_BUF_LEN];

	(void)state;
	h.tlv = bad;
	h.tlv_len = sizeof(bad);
	assert_int_equal(-EINVAL, sl_pp_build(buf, sizeof(buf), 2, &h));
	h.tlv_len = 0;
	assert_int_equal(-EINVAL, sl_pp_build(buf, sizeof(buf), 3, &h));
	h.cmd = (enum sl_pp_cmd)7;
	assert_int_equal(-EINVAL, sl_pp_build(buf, sizeof(buf), 2, &h));
}

static void
pp_build_v2_can_reencode_a_parsed_header_in_place(void **state)
{
	/* AF_UNIX (216-byte block) with a TLV: rebuilt as UNKNOWN, the TLV moves down to 16 */
	uint8_t buf[16 + 216 + 5] = {0};
	struct sl_pp_hdr h;

	(void)state;
	memcpy(buf, SIG "\x21\x31\x00\xdd", 16);
	memcpy(buf + 16 + 216, "\x02\x00\x02ok", 5);
	assert_int_equal(sizeof(buf), sl_pp_parse(&h, buf, sizeof(buf), NULL, NULL));
	assert_int_equal(21, sl_pp_build(buf, sizeof(buf), 2, &h));
	assert_int_equal(21, sl_pp_parse(&h, buf, 21, NULL, NULL));
	assert_int_equal(SL_PP_CMD_UNKNOWN, h.cmd);
	assert_int_equal(5, h.tlv_len);
	assert_memory_equal("\x02\x00\x02ok", h.tlv, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pp_every_valid_form_round_trips_through_build_and_parse),
	        cmocka_unit_test(pp_v1_parses_the_spec_example),
	        cmocka_unit_test(pp_v1_unknown_ignores_the_rest_of_the_line),
	        cmocka_unit_test(pp_v2_parses_handmade_tcp6_header_with_tlvs),
	        cmocka_unit_test(pp_v2_local_ignores_addresses_and_keeps_tlvs),
	        cmocka_unit_test(pp_v2_udp_unix_and_unspec_families_parse_as_unknown),
	        cmocka_unit_test(pp_every_truncated_prefix_needs_more_and_need_never_overshoots),
	        cmocka_unit_test(pp_reading_exactly_what_need_says_reaches_the_header_end),
	        cmocka_unit_test(pp_header_followed_by_payload_consumes_exactly_the_header),
	        cmocka_unit_test(pp_refuses_other_protocols_at_the_first_byte),
	        cmocka_unit_test(pp_v1_refuses_lowercase_proxy),
	        cmocka_unit_test(pp_v1_refuses_unknown_protocol),
	        cmocka_unit_test(pp_v1_refuses_line_without_crlf_within_107_bytes),
	        cmocka_unit_test(pp_v1_refuses_bare_lf_lone_cr_and_control_bytes),
	        cmocka_unit_test(pp_v1_refuses_invalid_ip_addresses),
	        cmocka_unit_test(pp_v1_refuses_port_65536_and_malformed_ports),
	        cmocka_unit_test(pp_v1_refuses_missing_fields),
	        cmocka_unit_test(pp_v1_refuses_extra_spaces_and_fields),
	        cmocka_unit_test(pp_v2_refuses_bad_signature),
	        cmocka_unit_test(pp_v2_refuses_version_other_than_2),
	        cmocka_unit_test(pp_v2_refuses_unknown_command),
	        cmocka_unit_test(pp_v2_refuses_unknown_family_or_protocol),
	        cmocka_unit_test(pp_v2_refuses_length_over_the_bound),
	        cmocka_unit_test(pp_v2_refuses_address_block_too_short_for_the_family),
	        cmocka_unit_test(pp_v2_local_ignores_the_family),
	        cmocka_unit_test(pp_build_v2_seals_a_crc32c_tlv),
	        cmocka_unit_test(pp_v2_refuses_tlv_overrunning_the_header),
	        cmocka_unit_test(pp_opts_restrict_the_accepted_version),
	        cmocka_unit_test(pp_build_writes_a_mixed_family_pair_as_v4_mapped_tcp6),
	        cmocka_unit_test(pp_build_without_both_addresses_writes_unknown),
	        cmocka_unit_test(pp_build_refuses_a_buffer_too_small),
	        cmocka_unit_test(pp_build_refuses_malformed_tlvs_and_bad_arguments),
	        cmocka_unit_test(pp_build_v2_can_reencode_a_parsed_header_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
