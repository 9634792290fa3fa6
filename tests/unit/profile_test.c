// SPDX-License-Identifier: MIT
/*
 * Unit tests for the trace_pipe line parser of the tcp events (src/proxy/profile.c): lines as
 * this project's development kernel (6.18) prints the three tcp tracepoints, IPv4 and IPv6,
 * and lines that are not ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/proxy_int.h"

static void
parse_line_takes_the_remote_end_of_a_received_reset(void **state)
{
	char remote[64];
	unsigned kind = 99;

	(void)state;
	assert_true(sl__profile_parse_line(
	        "  python3-3548    [001] ..s2. 13699.630475: tcp_receive_reset: family=AF_INET "
	        "sport=42806 dport=60533 saddr=127.0.0.1 daddr=127.0.0.2 saddrv6=::ffff:127.0.0.1 "
	        "daddrv6=::ffff:127.0.0.2 sock_cookie=1261c",
	        &kind, remote, sizeof(remote)));
	assert_int_equal(SL__PROFILE_RESET_RECEIVED, kind);
	assert_string_equal("127.0.0.2:60533", remote);
}

static void
parse_line_brackets_an_ipv6_remote_end(void **state)
{
	char remote[64];
	unsigned kind = 99;

	(void)state;
	assert_true(sl__profile_parse_line(
	        "  python3-3548    [001] ..s2. 13699.686393: tcp_receive_reset: family=AF_INET6 "
	        "sport=46764 dport=57607 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 "
	        "sock_cookie=1261d",
	        &kind, remote, sizeof(remote)));
	assert_string_equal("[::1]:57607", remote);
}

static void
parse_line_takes_dest_of_a_sent_reset(void **state)
{
	char remote[64];
	unsigned kind = 99;

	(void)state;
	assert_true(sl__profile_parse_line(
	        "  python3-3548    [001] ..... 13699.630479: tcp_send_reset: "
	        "skbaddr=0000000000000000 skaddr=00000000da82fbc9 src=127.0.0.1:60533 "
	        "dest=127.0.0.1:42806 state=TCP_CLOSE reason=TCP_STATE",
	        &kind, remote, sizeof(remote)));
	assert_int_equal(SL__PROFILE_RESET_SENT, kind);
	assert_string_equal("127.0.0.1:42806", remote);
}

/* before Linux 6.10 a sent reset's line has the socket's fields, as the other events do */
static void
parse_line_takes_daddr_of_a_sent_reset_in_the_older_layout(void **state)
{
	char remote[64];
	unsigned kind = 99;

	(void)state;
	assert_true(sl__profile_parse_line(
	        "  python3-3548    [001] ..... 13699.630479: tcp_send_reset: "
	        "skbaddr=0000000000000000 skaddr=00000000da82fbc9 family=AF_INET sport=60533 "
	        "dport=42806 saddr=127.0.0.1 daddr=127.0.0.3 saddrv6=::ffff:127.0.0.1 "
	        "daddrv6=::ffff:127.0.0.3 state=TCP_ESTABLISHED",
	        &kind, remote, sizeof(remote)));
	assert_int_equal(SL__PROFILE_RESET_SENT, kind);
	assert_string_equal("127.0.0.3:42806", remote);
}

static void
parse_line_reads_a_retransmission(void **state)
{
	char remote[64];
	unsigned kind = 99;

	(void)state;
	assert_true(sl__profile_parse_line(
	        "  <idle>-0       [000] ..s1. 100.000001: tcp_retransmit_skb: skbaddr=00000000aa "
	        "skaddr=00000000bb family=AF_INET sport=40000 dport=9001 saddr=10.0.0.1 "
	        "daddr=10.0.0.9 saddrv6=::ffff:10.0.0.1 daddrv6=::ffff:10.0.0.9 "
	        "state=TCP_ESTABLISHED err=0",
	        &kind, remote, sizeof(remote)));
	assert_int_equal(SL__PROFILE_RETRANSMIT, kind);
	assert_string_equal("10.0.0.9:9001", remote);
}

static void
parse_line_refuses_other_events_and_truncated_lines(void **state)
{
	char remote[64], tiny[8];
	unsigned kind = 99;

	(void)state;
	assert_false(sl__profile_parse_line("  a-1 [000] ..... 1.0: tcp_probe: family=AF_INET "
	                                    "sport=1 dport=2 saddr=1.2.3.4 daddr=1.2.3.5",
	                                    &kind, remote, sizeof(remote)));
	assert_false(sl__profile_parse_line("  a-1 [000] ..... 1.0: tcp_receive_reset: "
	                                    "family=AF_INET sport=1",
	                                    &kind, remote, sizeof(remote)));
	assert_false(sl__profile_parse_line("  a-1 [000] ..... 1.0: tcp_send_reset: "
	                                    "src=127.0.0.1:1 dest=127.0.0.1:42806",
	                                    &kind, tiny, sizeof(tiny)));
	assert_false(sl__profile_parse_line("", &kind, remote, sizeof(remote)));
	assert_int_equal(99, kind);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_line_takes_the_remote_end_of_a_received_reset),
	        cmocka_unit_test(parse_line_brackets_an_ipv6_remote_end),
	        cmocka_unit_test(parse_line_takes_dest_of_a_sent_reset),
	        cmocka_unit_test(parse_line_takes_daddr_of_a_sent_reset_in_the_older_layout),
	        cmocka_unit_test(parse_line_reads_a_retransmission),
	        cmocka_unit_test(parse_line_refuses_other_events_and_truncated_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
