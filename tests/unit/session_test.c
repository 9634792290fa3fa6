// SPDX-License-Identifier: MIT
/* The session state machine's transition table (src/proxy/session.c). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/addr.h>

#include "proxy/session.h"

static void
session_allows_the_connection_path_in_order(void **state)
{
	(void)state;
	assert_true(sl__session_can_transition(SL_SS_ACCEPTED, SL_SS_FILTERED));
	assert_true(sl__session_can_transition(SL_SS_FILTERED, SL_SS_CONNECTING));
	assert_true(sl__session_can_transition(SL_SS_CONNECTING, SL_SS_FORWARDING));
	assert_true(sl__session_can_transition(SL_SS_FORWARDING, SL_SS_DRAINING));
	assert_true(sl__session_can_transition(SL_SS_DRAINING, SL_SS_CLOSED));
}

static void
session_allows_retrying_connect(void **state)
{
	(void)state;
	assert_true(sl__session_can_transition(SL_SS_CONNECTING, SL_SS_CONNECTING));
}

static void
session_may_wait_in_the_queue_between_filtered_and_connecting(void **state)
{
	(void)state;
	assert_true(sl__session_can_transition(SL_SS_FILTERED, SL_SS_QUEUED));
	assert_true(sl__session_can_transition(SL_SS_QUEUED, SL_SS_CONNECTING));
	assert_true(sl__session_can_transition(SL_SS_QUEUED, SL_SS_CLOSED));
}

static void
session_may_queue_again_when_a_retry_finds_every_backend_full(void **state)
{
	(void)state;
	assert_true(sl__session_can_transition(SL_SS_CONNECTING, SL_SS_QUEUED));
}

static void
session_may_wait_for_a_local_fd_on_the_connect_path_only(void **state)
{
	(void)state;
	assert_true(sl__session_can_transition(SL_SS_FILTERED, SL_SS_LOCAL_WAIT));
	assert_true(sl__session_can_transition(SL_SS_QUEUED, SL_SS_LOCAL_WAIT));
	assert_true(sl__session_can_transition(SL_SS_CONNECTING, SL_SS_LOCAL_WAIT));
	assert_true(sl__session_can_transition(SL_SS_LOCAL_WAIT, SL_SS_CONNECTING));
	assert_true(sl__session_can_transition(SL_SS_LOCAL_WAIT, SL_SS_QUEUED));
	assert_false(sl__session_can_transition(SL_SS_ACCEPTED, SL_SS_LOCAL_WAIT));
	assert_false(sl__session_can_transition(SL_SS_LOCAL_WAIT, SL_SS_FORWARDING));
	assert_false(sl__session_can_transition(SL_SS_FORWARDING, SL_SS_LOCAL_WAIT));
	assert_string_equal("local_wait", sl__session_state_name(SL_SS_LOCAL_WAIT));
}

static void
session_refuses_queueing_outside_the_connect_path(void **state)
{
	(void)state;
	assert_false(sl__session_can_transition(SL_SS_ACCEPTED, SL_SS_QUEUED));
	assert_false(sl__session_can_transition(SL_SS_QUEUED, SL_SS_FORWARDING));
	assert_false(sl__session_can_transition(SL_SS_QUEUED, SL_SS_FILTERED));
	assert_false(sl__session_can_transition(SL_SS_FORWARDING, SL_SS_QUEUED));
	assert_false(sl__session_can_transition(SL_SS_DRAINING, SL_SS_QUEUED));
	assert_string_equal("queued", sl__session_state_name(SL_SS_QUEUED));
}

static void
session_may_close_from_every_live_state(void **state)
{
	(void)state;
	for (int s = SL_SS_ACCEPTED; s < SL_SS_CLOSED; s++)
		assert_true(sl__session_can_transition((enum sl_session_state)s, SL_SS_CLOSED));
}

static void
session_refuses_skipping_or_going_back(void **state)
{
	(void)state;
	assert_false(sl__session_can_transition(SL_SS_ACCEPTED, SL_SS_CONNECTING));
	assert_false(sl__session_can_transition(SL_SS_FILTERED, SL_SS_FORWARDING));
	assert_false(sl__session_can_transition(SL_SS_FORWARDING, SL_SS_CONNECTING));
	assert_false(sl__session_can_transition(SL_SS_DRAINING, SL_SS_FORWARDING));
	assert_false(sl__session_can_transition(SL_SS_CONNECTING, SL_SS_DRAINING));
}

static void
session_refuses_leaving_closed(void **state)
{
	(void)state;
	for (int s = SL_SS_ACCEPTED; s < SL_SS_COUNT; s++)
		assert_false(sl__session_can_transition(SL_SS_CLOSED, (enum sl_session_state)s));
}

static void
session_refuses_states_out_of_range(void **state)
{
	(void)state;
	assert_false(sl__session_can_transition(SL_SS_COUNT, SL_SS_CLOSED));
	assert_false(sl__session_can_transition(SL_SS_ACCEPTED, SL_SS_COUNT));
	assert_string_equal("connecting", sl__session_state_name(SL_SS_CONNECTING));
}

static void
session_stays_within_eight_cache_lines(void **state)
{
	(void)state;
	/* pool blocks are cache-line aligned: 512 bytes is eight lines. 576 (nine) with a
	 * struct sl_addr (128-byte sockaddr_storage) for the peer and the queue links */
	print_message("struct sl_session: %zu bytes, peer %zu\n", sizeof(struct sl_session),
	              sizeof(((struct sl_session *)0)->peer));
	assert_true(sizeof(struct sl_session) <= 512);
}

static void
session_peer_keeps_ipv6_address_and_port(void **state)
{
	struct sl_addr a, back;
	struct sl_session_peer p;
	const void *ip;
	size_t n;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "[2001:db8::7]:4433", false, NULL));
	sl__session_peer_set(&p, &a);
	sl__session_peer_get(&p, &back);
	ip = sl__session_peer_ip(&p, &n);

	assert_true(sl_addr_equal(&a, &back));
	assert_int_equal(a.len, back.len);
	assert_int_equal(16, n);
	assert_memory_equal(&((const struct sockaddr_in6 *)&a.ss)->sin6_addr, ip, 16);
}

static void
session_peer_keeps_ipv4_address_and_port(void **state)
{
	struct sl_addr a, back;
	struct sl_session_peer p;
	size_t n;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "192.0.2.9:80", false, NULL));
	sl__session_peer_set(&p, &a);
	sl__session_peer_get(&p, &back);

	assert_true(sl_addr_equal(&a, &back));
	assert_int_equal(4, (sl__session_peer_ip(&p, &n), n));
}

static void
session_peer_of_another_family_is_unset(void **state)
{
	struct sl_addr a = {.len = sizeof(struct sockaddr_storage)};
	struct sl_session_peer p;

	(void)state;
	a.ss.ss_family = AF_UNIX;
	sl__session_peer_set(&p, &a);

	assert_int_equal(0, p.len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(session_allows_the_connection_path_in_order),
	        cmocka_unit_test(session_allows_retrying_connect),
	        cmocka_unit_test(session_may_wait_in_the_queue_between_filtered_and_connecting),
	        cmocka_unit_test(session_may_queue_again_when_a_retry_finds_every_backend_full),
	        cmocka_unit_test(session_may_wait_for_a_local_fd_on_the_connect_path_only),
	        cmocka_unit_test(session_refuses_queueing_outside_the_connect_path),
	        cmocka_unit_test(session_may_close_from_every_live_state),
	        cmocka_unit_test(session_refuses_skipping_or_going_back),
	        cmocka_unit_test(session_refuses_leaving_closed),
	        cmocka_unit_test(session_refuses_states_out_of_range),
	        cmocka_unit_test(session_stays_within_eight_cache_lines),
	        cmocka_unit_test(session_peer_keeps_ipv6_address_and_port),
	        cmocka_unit_test(session_peer_keeps_ipv4_address_and_port),
	        cmocka_unit_test(session_peer_of_another_family_is_unset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
