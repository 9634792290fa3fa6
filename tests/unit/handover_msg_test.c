// SPDX-License-Identifier: MIT
/*
 * The binary-upgrade conversation's message parser and writer (src/proxy/handover_msg.c):
 * every message either process sends, and the refusals for what a broken or hostile peer could
 * send instead. The conversation itself is driven by tests/integration/upgrade_test.py.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>

#include "proxy/handover_msg.h"

struct parsed {
	int rc;
	struct sl__handover_msg m;
	char why[256];
};

/* <len> bytes of <buf> that came with <nfds> descriptors; heap: the message is large. */
static struct parsed *
parse_n(const char *buf, size_t len, size_t nfds)
{
	struct parsed *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->rc = sl__handover_msg_parse(buf, len, nfds, &p->m, p->why, sizeof(p->why));
	return p;
}

static struct parsed *
parse(const char *text, size_t nfds)
{
	return parse_n(text, strlen(text), nfds);
}

/* Asserts that <text> with <nfds> descriptors is refused with <err>, saying <why>. */
static void
assert_refused(int err, const char *why, const char *text, size_t len, size_t nfds)
{
	struct parsed *p = parse_n(text, len, nfds);

	if (p->rc != err || strstr(p->why, why) == NULL)
		fail_msg("\"%.*s\" (%zu descriptors): want %d \"%s\", got %d \"%s\"", (int)len,
		         text, nfds, err, why, p->rc, p->why);
	free(p);
}

#define REFUSED(err, why, text, nfds) assert_refused(err, why, text, sizeof(text) - 1, nfds)

/* A moved session's message with the numbers <nums>. */
static struct parsed *
parse_moved(const char *nums)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "M\nweb\nb1\n127.0.0.1:40000\n%s", nums);
	return parse(buf, 2);
}

static void
handover_msg_parse_reads_the_take_request(void **state)
{
	struct parsed *p = parse(SL__HANDOVER_REQUEST, 0);

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_TAKE, p->m.kind);
	assert_int_equal(1, p->m.version);
	assert_string_equal("", p->why);
	free(p);
	p = parse(SL__HANDOVER_REQUEST_BANS, 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_TAKE, p->m.kind);
	assert_int_equal(2, p->m.version);
	free(p);
	p = parse("sluice-upgrade 3 take", 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_TAKE, p->m.kind);
	assert_int_equal(3, p->m.version);
	assert_int_equal(SL__HANDOVER_VERSION, p->m.version);
	free(p);
	REFUSED(-EPROTO, "unknown message", "sluice-upgrade 1 take ", 0);
	REFUSED(-EPROTO, "unknown message", "sluice-upgrade 4 take", 0);
	REFUSED(-EPROTO, "unknown message", "sluice-upgrade 0 take", 0);
	REFUSED(-EPROTO, "unknown message", "sluice-upgrade 3 tak", 0);
	REFUSED(-EPROTO, "take request with 1 descriptors", SL__HANDOVER_REQUEST_CONFIRM, 1);
	REFUSED(-EPROTO, "take request with 1 descriptors", SL__HANDOVER_REQUEST_BANS, 1);
	REFUSED(-EPROTO, "unknown message", "sluice-upgrade 1 take\0x", 0);
	REFUSED(-EPROTO, "unknown message", "hello?", 0);
	REFUSED(-EPROTO, "take request with 1 descriptors", SL__HANDOVER_REQUEST, 1);
}

static void
handover_msg_parse_reads_ready_and_end_with_their_pid(void **state)
{
	struct parsed *p = parse("R 4242", 0);

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_READY, p->m.kind);
	assert_int_equal(4242, p->m.pid);
	free(p);
	p = parse("E 2147483647", 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_END, p->m.kind);
	assert_int_equal(INT_MAX, p->m.pid);
	free(p);
	p = parse("E 1", 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(1, p->m.pid);
	free(p);
}

static void
handover_msg_parse_reads_how_many_sessions_the_new_process_read(void **state)
{
	struct parsed *p = parse("T 812", 0);

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_TAKEN, p->m.kind);
	assert_int_equal(812, p->m.taken);
	free(p);
	p = parse("T 0", 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(0, p->m.taken);
	free(p);
	p = parse("T 4294967295", 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(UINT32_MAX, p->m.taken);
	free(p);
	REFUSED(-EPROTO, "expected \"T <sessions read>\"", "T", 0);
	REFUSED(-EPROTO, "expected \"T <sessions read>\"", "T12", 0);
	REFUSED(-EPROTO, "missing sessions read", "T ", 0);
	REFUSED(-EPROTO, "sessions read is not a decimal number", "T -1", 0);
	REFUSED(-EPROTO, "sessions read is not a decimal number", "T 3 ", 0);
	REFUSED(-ERANGE, "sessions read out of range (at most 4294967295)", "T 4294967296", 0);
	REFUSED(-EPROTO, "\"T\" message with 2 descriptors", "T 3", 2);
}

static void
handover_msg_parse_refuses_a_pid_that_is_missing_not_numeric_or_out_of_range(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "expected \"E <pid>\"", "E", 0);
	REFUSED(-EPROTO, "expected \"R <pid>\"", "R4242", 0);
	REFUSED(-EPROTO, "missing pid", "E ", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "E abc", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "E -1", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "E +1", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "E  12", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "E 12 ", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "R 12x", 0);
	REFUSED(-EPROTO, "pid is not a decimal number", "R 12\n", 0);
	REFUSED(-ERANGE, "pid out of range (1 ..", "E 0", 0);
	REFUSED(-ERANGE, "pid out of range (at most 2147483647)", "E 2147483648", 0);
	REFUSED(-ERANGE, "pid out of range", "R 99999999999999999999999", 0);
	REFUSED(-EPROTO, "\"E\" message with 1 descriptors", "E 12", 1);
}

static void
handover_msg_parse_reads_listener_names_one_per_descriptor(void **state)
{
	struct parsed *p = parse("L\nweb\nweb\nadmin-api", 3);

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_LISTENERS, p->m.kind);
	assert_int_equal(3, p->m.nnames);
	assert_string_equal("web", p->m.names[0]);
	assert_string_equal("web", p->m.names[1]);
	assert_string_equal("admin-api", p->m.names[2]);
	free(p);
	p = parse("L", 0); /* none: harmless */
	assert_int_equal(0, p->rc);
	assert_int_equal(0, p->m.nnames);
	free(p);
}

static void
handover_msg_parse_reads_the_most_listener_names_a_message_carries(void **state)
{
	char buf[SL__HANDOVER_MSG_MAX];
	size_t len = 1;
	struct parsed *p;

	(void)state;
	buf[0] = 'L';
	for (size_t i = 0; i < SL_FDPASS_MAX; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n%zu", i);
	p = parse_n(buf, len, SL_FDPASS_MAX);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL_FDPASS_MAX, p->m.nnames);
	assert_string_equal("249", p->m.names[SL_FDPASS_MAX - 1]);
	free(p);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\nx");
	assert_refused(-ERANGE, "more than 250 listener names", buf, len, SL_FDPASS_MAX + 1);
}

static void
handover_msg_parse_refuses_listener_names_that_do_not_match_the_descriptors(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "2 listener names for 1 descriptors", "L\nweb\nweb", 1);
	REFUSED(-EPROTO, "1 listener names for 2 descriptors", "L\nweb", 2);
	REFUSED(-EPROTO, "0 listener names for 1 descriptors", "L", 1);
}

static void
handover_msg_parse_refuses_empty_long_or_unprintable_listener_names(void **state)
{
	char buf[SL_CONFIG_NAME_MAX + 8];
	struct parsed *p;

	(void)state;
	REFUSED(-EPROTO, "empty listener name", "L\n", 1);
	REFUSED(-EPROTO, "empty listener name", "L\n\nweb", 1);
	REFUSED(-EPROTO, "empty listener name", "L\nweb\n", 1);
	REFUSED(-EPROTO, "expected \"L\" and a name per line", "Lweb", 1);
	REFUSED(-EPROTO, "listener name has a control or non-ASCII byte (0x00)", "L\nw\0b", 1);
	REFUSED(-EPROTO, "listener name has a control or non-ASCII byte (0x1b)", "L\nw\x1b[0m", 1);
	REFUSED(-EPROTO, "listener name has a control or non-ASCII byte (0xc3)", "L\nw\xc3\xa9", 1);
	/* the longest name fits, one byte more does not */
	buf[0] = 'L';
	buf[1] = '\n';
	memset(buf + 2, 'n', SL_CONFIG_NAME_MAX - 1);
	p = parse_n(buf, SL_CONFIG_NAME_MAX + 1, 1);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL_CONFIG_NAME_MAX - 1, strlen(p->m.names[0]));
	free(p);
	buf[SL_CONFIG_NAME_MAX + 1] = 'n';
	assert_refused(-ERANGE, "listener name too long (64 bytes, at most 63)", buf,
	               SL_CONFIG_NAME_MAX + 2, 1);
}

static void
handover_msg_parse_reads_the_admin_control_and_upgrade_sockets_and_the_goodbye(void **state)
{
	static const struct {
		const char *text;
		size_t nfds;
		enum sl__handover_kind kind;
	} ok[] = {
	        {"A", 1, SL__HANDOVER_ADMIN},
	        {"C", 1, SL__HANDOVER_CTL},
	        {"U", 1, SL__HANDOVER_UPGRADE},
	        {"B", 0, SL__HANDOVER_BYE},
	};

	(void)state;
	for (size_t i = 0; i < SL_ARRAY_SIZE(ok); i++) {
		struct parsed *p = parse(ok[i].text, ok[i].nfds);

		assert_int_equal(0, p->rc);
		assert_int_equal(ok[i].kind, p->m.kind);
		free(p);
	}
	REFUSED(-EPROTO, "\"A\" message with 0 descriptors, not 1", "A", 0);
	REFUSED(-EPROTO, "\"U\" message with 2 descriptors, not 1", "U", 2);
	REFUSED(-EPROTO, "\"B\" message with 1 descriptors, not 0", "B", 1);
	REFUSED(-EPROTO, "\"C\" message with 1 more bytes", "C\n", 1);
	REFUSED(-EPROTO, "\"B\" message with 2 more bytes", "Bye", 0);
}

static void
handover_msg_parse_reads_a_refusal_with_its_reason_made_printable(void **state)
{
	struct parsed *p = parse("X unknown request: expected \"" SL__HANDOVER_REQUEST "\"", 0);
	char long_reason[600];

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_REFUSED, p->m.kind);
	assert_string_equal("unknown request: expected \"" SL__HANDOVER_REQUEST "\"", p->m.reason);
	free(p);
	p = parse_n("X\x1b[2Jgone\n\0!", 12, 0);
	assert_int_equal(0, p->rc);
	assert_string_equal("?[2Jgone?\?!", p->m.reason); /* "\?": no trigraph */
	free(p);
	p = parse("X", 0);
	assert_int_equal(0, p->rc);
	assert_string_equal("", p->m.reason);
	free(p);
	long_reason[0] = 'X';
	memset(long_reason + 1, 'r', sizeof(long_reason) - 1);
	p = parse_n(long_reason, sizeof(long_reason), 0);
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_REASON_MAX - 1, strlen(p->m.reason));
	free(p);
	REFUSED(-EPROTO, "refusal with 1 descriptors", "X no", 1);
}

static void
handover_msg_parse_reads_a_moved_session(void **state)
{
	struct parsed *p = parse("M\nweb\nb1\n127.0.0.1:40000\n123456789 17 1024 2048 1 0", 2);
	struct sl_addr want;

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_MOVED, p->m.kind);
	assert_string_equal("web", p->m.moved.listener);
	assert_string_equal("b1", p->m.moved.backend);
	assert_int_equal(0, sl_addr_parse(&want, "127.0.0.1:40000", false, NULL));
	assert_true(sl_addr_equal(&want, &p->m.moved.client));
	assert_int_equal(123456789, p->m.moved.start_ms);
	assert_int_equal(17, p->m.moved.conn_ms);
	assert_int_equal(1024, p->m.moved.bytes[0]);
	assert_int_equal(2048, p->m.moved.bytes[1]);
	assert_true(p->m.moved.shut[0]);
	assert_false(p->m.moved.shut[1]);
	assert_int_equal(-1, p->m.moved.cfd);
	assert_int_equal(-1, p->m.moved.sfd);
	free(p);
}

static void
handover_msg_parse_reads_a_moved_session_without_backend_over_ipv6_at_the_limits(void **state)
{
	struct parsed *p = parse("M\nweb\n\n[::1]:65535\n18446744073709551615 4294967295 "
	                         "18446744073709551615 0 0 1",
	                         2);
	struct sl_addr want;

	(void)state;
	assert_int_equal(0, p->rc);
	assert_string_equal("", p->m.moved.backend);
	assert_int_equal(0, sl_addr_parse(&want, "[::1]:65535", false, NULL));
	assert_true(sl_addr_equal(&want, &p->m.moved.client));
	assert_true(p->m.moved.start_ms == UINT64_MAX);
	assert_true(p->m.moved.conn_ms == UINT32_MAX);
	assert_true(p->m.moved.bytes[0] == UINT64_MAX);
	assert_int_equal(0, p->m.moved.bytes[1]);
	assert_false(p->m.moved.shut[0]);
	assert_true(p->m.moved.shut[1]);
	free(p);
}

static void
handover_msg_parse_refuses_a_moved_session_with_a_missing_field(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "expected \"M\" and a field per line", "M", 2);
	REFUSED(-EPROTO, "missing backend name", "M\nweb", 2);
	REFUSED(-EPROTO, "missing client address", "M\nweb\nb1", 2);
	REFUSED(-EPROTO, "missing numbers", "M\nweb\nb1\n127.0.0.1:1", 2);
	REFUSED(-EPROTO, "missing start_ms", "M\nweb\nb1\n127.0.0.1:1\n", 2);
	REFUSED(-EPROTO, "missing out_ended", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0", 2);
	REFUSED(-EPROTO, "missing bytes_in", "M\nweb\nb1\n127.0.0.1:1\n1 2", 2);
	REFUSED(-EPROTO, "missing out_ended", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 ", 2);
	REFUSED(-EPROTO, "missing conn_ms", "M\nweb\nb1\n127.0.0.1:1\n1  2 3 4 0 0", 2);
	REFUSED(-EPROTO, "empty listener name", "M\n\nb1\n127.0.0.1:1\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "missing client address", "M\nweb\nb1\n\n1 2 3 4 0 0", 2);
}

static void
handover_msg_parse_refuses_a_moved_session_with_an_extra_field_or_byte(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "a line after the numbers", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0\n", 2);
	REFUSED(-EPROTO, "a line after the numbers", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0\nx", 2);
	REFUSED(-EPROTO, "more than 6 numbers", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0 ", 2);
	REFUSED(-EPROTO, "more than 6 numbers", "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0 7", 2);
	REFUSED(-EPROTO, "expected \"M\" and a field per line",
	        "Mweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0", 2);
}

static void
handover_msg_parse_refuses_moved_numbers_that_are_not_decimal(void **state)
{
	static const char *const bad[] = {
	        "x 2 3 4 0 0", "1 -2 3 4 0 0", "1 2 +3 4 0 0",  "1 2 3 0x4 0 0",
	        "1 2 3 4 0 y", "1 2 3 4\t0 0", "1 2 3 4 0 0\r", "1 2 3 4 0 \0",
	};

	(void)state;
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		char buf[128];
		int n = snprintf(buf, sizeof(buf), "M\nweb\nb1\n127.0.0.1:1\n%s", bad[i]);

		/* the one with a NUL goes whole: the NUL is one of its bytes */
		assert_refused(-EPROTO, "is not a decimal number", buf,
		               i + 1 == SL_ARRAY_SIZE(bad) ? (size_t)n + 1 : (size_t)n, 2);
	}
}

static void
handover_msg_parse_refuses_moved_numbers_out_of_range(void **state)
{
	struct parsed *p;

	(void)state;
	p = parse_moved("18446744073709551616 2 3 4 0 0");
	assert_int_equal(-ERANGE, p->rc);
	assert_string_equal("start_ms out of range (at most 18446744073709551615)", p->why);
	free(p);
	p = parse_moved("1 4294967296 3 4 0 0");
	assert_int_equal(-ERANGE, p->rc);
	assert_string_equal("conn_ms out of range (at most 4294967295)", p->why);
	free(p);
	p = parse_moved("1 2 3 99999999999999999999999999 0 0");
	assert_int_equal(-ERANGE, p->rc);
	assert_string_equal("bytes_out out of range (at most 18446744073709551615)", p->why);
	free(p);
	p = parse_moved("1 2 3 4 2 0");
	assert_int_equal(-ERANGE, p->rc);
	assert_string_equal("in_ended out of range (at most 1)", p->why);
	free(p);
	p = parse_moved("1 2 3 4 0 10");
	assert_int_equal(-ERANGE, p->rc);
	assert_string_equal("out_ended out of range (at most 1)", p->why);
	free(p);
	p = parse_moved("0001 0 0 0 00 01"); /* leading zeros: still the number */
	assert_int_equal(0, p->rc);
	assert_int_equal(1, p->m.moved.start_ms);
	assert_true(p->m.moved.shut[1]);
	free(p);
}

static void
handover_msg_parse_refuses_a_moved_session_with_a_bad_name_or_client(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "client address \"localhost\": expected HOST:PORT",
	        "M\nweb\nb1\nlocalhost\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "client address \"(unset)\"", "M\nweb\nb1\n(unset)\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "client address \"1.2.3.4:65536\": port out of range",
	        "M\nweb\nb1\n1.2.3.4:65536\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "client address \"[::1:80\"", "M\nweb\nb1\n[::1:80\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "client address has a space, control or non-ASCII byte (0x20)",
	        "M\nweb\nb1\n1.2.3.4 :80\n1 2 3 4 0 0", 2);
	REFUSED(-EPROTO, "client address has a space, control or non-ASCII byte (0x00)",
	        "M\nweb\nb1\n1.2.3.4:80\0\n1 2 3 4 0 0", 2);
	REFUSED(-ERANGE, "client address too long (56 bytes, at most 55)",
	        "M\nweb\nb1\n[1111:2222:3333:4444:5555:6666:7777:8888]:12345678901234\n1 2 3 4 0 0",
	        2);
	REFUSED(-EPROTO, "backend name has a control or non-ASCII byte (0x7f)",
	        "M\nweb\nb\x7f\n1.2.3.4:80\n1 2 3 4 0 0", 2);
	REFUSED(-ERANGE, "backend name too long",
	        "M\nweb\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n1.2.3.4:"
	        "80\n"
	        "1 2 3 4 0 0",
	        2);
}

static void
handover_msg_parse_refuses_a_moved_session_without_its_two_descriptors(void **state)
{
	(void)state;
	REFUSED(-EPROTO, "a moved session with 1 descriptors, not 2",
	        "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0", 1);
	REFUSED(-EPROTO, "a moved session with 0 descriptors, not 2",
	        "M\nweb\nb1\n127.0.0.1:1\n1 2 3 4 0 0", 0);
}

static void
handover_msg_parse_refuses_an_empty_oversized_or_unknown_message(void **state)
{
	char *big = malloc(SL__HANDOVER_MSG_MAX + 1);
	struct parsed *p;

	(void)state;
	assert_non_null(big);
	REFUSED(-EMSGSIZE, "empty message", "", 0);
	memset(big, 'r', SL__HANDOVER_MSG_MAX + 1);
	big[0] = 'X';
	p = parse_n(big, SL__HANDOVER_MSG_MAX, 0); /* the longest one is taken */
	assert_int_equal(0, p->rc);
	free(p);
	assert_refused(-EMSGSIZE, "message too long (4097 bytes, at most 4096)", big,
	               SL__HANDOVER_MSG_MAX + 1, 0);
	free(big);
	REFUSED(-EPROTO, "unknown message (first byte 0x51)", "Q", 0);
	REFUSED(-EPROTO, "unknown message (first byte 0x00)", "\0", 0);
	REFUSED(-EPROTO, "unknown message (first byte 0x6c)", "l\nweb", 1);
}

static void
handover_msg_parse_takes_no_reason_buffer(void **state)
{
	struct sl__handover_msg *m = malloc(sizeof(*m));

	(void)state;
	assert_non_null(m);
	assert_int_equal(-EPROTO, sl__handover_msg_parse("Q", 1, 0, m, NULL, 0));
	assert_int_equal(0, sl__handover_msg_parse("B", 1, 0, m, NULL, 0));
	free(m);
}

static void
handover_msg_format_moved_writes_what_parse_reads(void **state)
{
	struct sl_proxy_moved mv = {.listener = "web",
	                            .backend = "b#2",
	                            .start_ms = UINT64_MAX,
	                            .conn_ms = 250,
	                            .bytes = {1, UINT64_MAX},
	                            .shut = {false, true}};
	char buf[512];
	struct parsed *p;
	int n;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&mv.client, "[2001:db8::7]:5555", false, NULL));
	n = sl__handover_msg_format_moved(&mv, buf, sizeof(buf));
	assert_int_equal(strlen("M\nweb\nb#2\n[2001:db8::7]:5555\n18446744073709551615 250 1 "
	                        "18446744073709551615 0 1"),
	                 n);
	assert_string_equal("M\nweb\nb#2\n[2001:db8::7]:5555\n18446744073709551615 250 1 "
	                    "18446744073709551615 0 1",
	                    buf);
	p = parse_n(buf, (size_t)n, 2);
	assert_int_equal(0, p->rc);
	assert_string_equal(mv.listener, p->m.moved.listener);
	assert_string_equal(mv.backend, p->m.moved.backend);
	assert_true(sl_addr_equal(&mv.client, &p->m.moved.client));
	assert_true(p->m.moved.start_ms == mv.start_ms);
	assert_int_equal(mv.conn_ms, p->m.moved.conn_ms);
	assert_true(p->m.moved.bytes[0] == mv.bytes[0] && p->m.moved.bytes[1] == mv.bytes[1]);
	assert_true(p->m.moved.shut[0] == mv.shut[0] && p->m.moved.shut[1] == mv.shut[1]);
	free(p);
}

static void
handover_msg_format_moved_refuses_what_parse_would_refuse_or_what_does_not_fit(void **state)
{
	struct sl_proxy_moved mv = {.listener = "web", .backend = "b1"};
	char buf[512];

	(void)state;
	/* no client address */
	assert_int_equal(-EINVAL, sl__handover_msg_format_moved(&mv, buf, sizeof(buf)));
	assert_int_equal(0, sl_addr_parse(&mv.client, "127.0.0.1:9", false, NULL));
	assert_int_equal(-EMSGSIZE, sl__handover_msg_format_moved(&mv, buf, 20));
	assert_true(sl__handover_msg_format_moved(&mv, buf, sizeof(buf)) > 0);
	mv.listener[0] = '\0';
	assert_int_equal(-EINVAL, sl__handover_msg_format_moved(&mv, buf, sizeof(buf)));
	snprintf(mv.listener, sizeof(mv.listener), "w\neb");
	assert_int_equal(-EINVAL, sl__handover_msg_format_moved(&mv, buf, sizeof(buf)));
	snprintf(mv.listener, sizeof(mv.listener), "web");
	memset(mv.backend, 'b', sizeof(mv.backend)); /* no NUL */
	assert_int_equal(-EINVAL, sl__handover_msg_format_moved(&mv, buf, sizeof(buf)));
}

static void
handover_msg_parse_reads_a_listeners_source_bans(void **state)
{
	struct parsed *p = parse("K\nweb front\n10.1.2.0/24 5000\n2001:db8::/48 4294967295", 0);
	char text[SL_CIDR_STRLEN];

	(void)state;
	assert_int_equal(0, p->rc);
	assert_int_equal(SL__HANDOVER_BANS, p->m.kind);
	assert_string_equal("web front", p->m.listener);
	assert_int_equal(2, p->m.nbans);
	assert_string_equal("10.1.2.0/24",
	                    sl_cidr_format(&p->m.bans[0].source, text, sizeof(text)));
	assert_int_equal(5000, p->m.bans[0].remaining_ms);
	assert_string_equal("2001:db8::/48",
	                    sl_cidr_format(&p->m.bans[1].source, text, sizeof(text)));
	assert_int_equal(UINT32_MAX, p->m.bans[1].remaining_ms);
	free(p);
}

static void
handover_msg_parse_refuses_bad_source_bans(void **state)
{
	char buf[SL__HANDOVER_MSG_MAX];
	size_t len;

	(void)state;
	REFUSED(-EPROTO, "with 1 descriptors", "K\nweb\n10.0.0.0/8 1", 1);
	REFUSED(-EPROTO, "without bans", "K\nweb", 0);
	REFUSED(-EPROTO, "expected \"K\"", "Kweb\n10.0.0.0/8 1", 0);
	REFUSED(-EPROTO, "empty listener name", "K\n\n10.0.0.0/8 1", 0);
	REFUSED(-EPROTO, "without its remaining time", "K\nweb\n10.0.0.0/8", 0);
	REFUSED(-EPROTO, "without its remaining time", "K\nweb\n10.0.0.0/8 1\n", 0);
	REFUSED(-EPROTO, "host bits", "K\nweb\n10.0.0.1/8 1", 0);
	REFUSED(-EPROTO, "no /length", "K\nweb\n10.0.0.1 1", 0);
	REFUSED(-EPROTO, "ban prefix", "K\nweb\nweb/8 1", 0);
	REFUSED(-EPROTO, "not a decimal number", "K\nweb\n10.0.0.0/8 1 2", 0);
	REFUSED(-EPROTO, "missing remaining_ms", "K\nweb\n10.0.0.0/8 ", 0);
	REFUSED(-ERANGE, "remaining_ms out of range", "K\nweb\n10.0.0.0/8 0", 0);
	REFUSED(-ERANGE, "remaining_ms out of range", "K\nweb\n10.0.0.0/8 4294967296", 0);
	/* one more than a message carries */
	len = (size_t)snprintf(buf, sizeof(buf), "K\nweb");
	for (int i = 0; i <= SL__HANDOVER_BANS_PER_MSG; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n10.0.%d.0/24 9", i);
	assert_refused(-ERANGE, "more than 64 bans", buf, len, 0);
}

static void
handover_msg_format_bans_writes_what_parse_reads_up_to_a_full_message(void **state)
{
	struct sl__handover_ban b[SL__HANDOVER_BANS_PER_MSG];
	char buf[SL__HANDOVER_MSG_MAX + 1], name[SL_CONFIG_NAME_MAX];
	struct parsed *p;
	int n;

	(void)state;
	/* the longest lines and name */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < SL__HANDOVER_BANS_PER_MSG; i++) {
		assert_int_equal(0, sl_cidr_parse(&b[i].source,
		                                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/128", 0,
		                                  NULL));
		b[i].source.addr[15] = (uint8_t)i;
		b[i].remaining_ms = UINT32_MAX - (uint32_t)i;
	}
	n = sl__handover_msg_format_bans(name, b, SL__HANDOVER_BANS_PER_MSG, buf,
	                                 SL__HANDOVER_MSG_MAX + 1);
	assert_true(n > 0 && n <= SL__HANDOVER_MSG_MAX);
	p = parse_n(buf, (size_t)n, 0);
	assert_int_equal(0, p->rc);
	assert_string_equal(name, p->m.listener);
	assert_int_equal(SL__HANDOVER_BANS_PER_MSG, p->m.nbans);
	for (int i = 0; i < SL__HANDOVER_BANS_PER_MSG; i++) {
		assert_memory_equal(&b[i].source, &p->m.bans[i].source, sizeof(b[i].source));
		assert_int_equal(b[i].remaining_ms, p->m.bans[i].remaining_ms);
	}
	free(p);
	/* what parse would refuse, or what does not fit */
	assert_int_equal(-EINVAL, sl__handover_msg_format_bans("web", b, 0, buf, sizeof(buf)));
	assert_int_equal(-EINVAL,
	                 sl__handover_msg_format_bans("web", b, SL__HANDOVER_BANS_PER_MSG + 1, buf,
	                                              sizeof(buf)));
	assert_int_equal(-EINVAL, sl__handover_msg_format_bans("w\neb", b, 1, buf, sizeof(buf)));
	assert_int_equal(-EMSGSIZE, sl__handover_msg_format_bans("web", b, 1, buf, 20));
	b[0].remaining_ms = 0;
	assert_int_equal(-EINVAL, sl__handover_msg_format_bans("web", b, 1, buf, sizeof(buf)));
	b[0].remaining_ms = 1;
	b[0].source.addr[15] = 1;
	b[0].source.len = 120; /* host bits set */
	assert_int_equal(-EINVAL, sl__handover_msg_format_bans("web", b, 1, buf, sizeof(buf)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(handover_msg_parse_reads_the_take_request),
	        cmocka_unit_test(handover_msg_parse_reads_a_listeners_source_bans),
	        cmocka_unit_test(handover_msg_parse_refuses_bad_source_bans),
	        cmocka_unit_test(
	                handover_msg_format_bans_writes_what_parse_reads_up_to_a_full_message),
	        cmocka_unit_test(handover_msg_parse_reads_ready_and_end_with_their_pid),
	        cmocka_unit_test(handover_msg_parse_reads_how_many_sessions_the_new_process_read),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_a_pid_that_is_missing_not_numeric_or_out_of_range),
	        cmocka_unit_test(handover_msg_parse_reads_listener_names_one_per_descriptor),
	        cmocka_unit_test(
	                handover_msg_parse_reads_the_most_listener_names_a_message_carries),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_listener_names_that_do_not_match_the_descriptors),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_empty_long_or_unprintable_listener_names),
	        cmocka_unit_test(
	                handover_msg_parse_reads_the_admin_control_and_upgrade_sockets_and_the_goodbye),
	        cmocka_unit_test(handover_msg_parse_reads_a_refusal_with_its_reason_made_printable),
	        cmocka_unit_test(handover_msg_parse_reads_a_moved_session),
	        cmocka_unit_test(
	                handover_msg_parse_reads_a_moved_session_without_backend_over_ipv6_at_the_limits),
	        cmocka_unit_test(handover_msg_parse_refuses_a_moved_session_with_a_missing_field),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_a_moved_session_with_an_extra_field_or_byte),
	        cmocka_unit_test(handover_msg_parse_refuses_moved_numbers_that_are_not_decimal),
	        cmocka_unit_test(handover_msg_parse_refuses_moved_numbers_out_of_range),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_a_moved_session_with_a_bad_name_or_client),
	        cmocka_unit_test(
	                handover_msg_parse_refuses_a_moved_session_without_its_two_descriptors),
	        cmocka_unit_test(handover_msg_parse_refuses_an_empty_oversized_or_unknown_message),
	        cmocka_unit_test(handover_msg_parse_takes_no_reason_buffer),
	        cmocka_unit_test(handover_msg_format_moved_writes_what_parse_reads),
	        cmocka_unit_test(
	                handover_msg_format_moved_refuses_what_parse_would_refuse_or_what_does_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
