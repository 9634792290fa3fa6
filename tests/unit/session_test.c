// SPDX-License-Identifier: MIT
/* The session state machine's transition table (src/proxy/session.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(session_allows_the_connection_path_in_order),
	        cmocka_unit_test(session_allows_retrying_connect),
	        cmocka_unit_test(session_may_wait_in_the_queue_between_filtered_and_connecting),
	        cmocka_unit_test(session_may_queue_again_when_a_retry_finds_every_backend_full),
	        cmocka_unit_test(session_refuses_queueing_outside_the_connect_path),
	        cmocka_unit_test(session_may_close_from_every_live_state),
	        cmocka_unit_test(session_refuses_skipping_or_going_back),
	        cmocka_unit_test(session_refuses_leaving_closed),
	        cmocka_unit_test(session_refuses_states_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
