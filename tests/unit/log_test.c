// SPDX-License-Identifier: MIT
/* Behaviour of the log level names and the level filter (src/core/log.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sluice/log.h>

static void
log_level_names_parse_back_to_their_level(void **state)
{
	enum sl_log_level got;

	(void)state;
	for (int i = 0; i < SL_LOG_LEVELS; i++) {
		assert_int_equal(0, sl_log_level_parse(sl_log_level_names[i], &got));
		assert_int_equal(i, got);
	}
}

static void
log_level_parse_refuses_an_unknown_name(void **state)
{
	enum sl_log_level got = SL_LOG_INFO;

	(void)state;
	assert_int_equal(-EINVAL, sl_log_level_parse("loud", &got));
	assert_int_equal(-EINVAL, sl_log_level_parse("", &got));
	assert_int_equal(SL_LOG_INFO, got);
}

static void
log_set_level_is_what_get_level_returns(void **state)
{
	(void)state;
	sl_log_set_level(SL_LOG_DEBUG);
	assert_int_equal(SL_LOG_DEBUG, sl_log_get_level());
	sl_log_set_level(SL_LOG_ERROR);
	assert_int_equal(SL_LOG_ERROR, sl_log_get_level());
	/* past the last level: the last, so get_level names a level */
	sl_log_set_level((enum sl_log_level)99);
	assert_int_equal(SL_LOG_DEBUG, sl_log_get_level());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(log_level_names_parse_back_to_their_level),
	        cmocka_unit_test(log_level_parse_refuses_an_unknown_name),
	        cmocka_unit_test(log_set_level_is_what_get_level_returns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
