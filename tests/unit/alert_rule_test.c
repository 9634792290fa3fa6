// SPDX-License-Identifier: MIT
/*
 * Unit tests for one alert rule's window and hysteresis (src/admin/alert_rule.c): readings are
 * made up and fed at made-up times, one per interval, and each test checks the edges returned
 * and the value computed. The JSON notification body is checked last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/alerts_int.h"

static const struct sl_hist_opts ho = {.lowest = 1, .highest = 3600000000, .sigfigs = 2};

static struct sl_config_alert_rule
rule(enum sl_alert_metric m, double above, double clear, uint32_t window_ms)
{
	struct sl_config_alert_rule c = {
	        .metric = m, .above = above, .clear_below = clear, .window_ms = window_ms};

	strcpy(c.name, "r");
	return c;
}

static void
level_rule_fires_once_while_above_and_resolves_once_at_the_clear_value(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_BACKEND_DOWN, 0, 0, 0);
	struct sl__alert_rule r;
	const double in[] = {0, 1, 1, 2, 1, 0, 0, 1};
	const enum sl__alert_edge want[] = {SL__ALERT_NONE, SL__ALERT_FIRE, SL__ALERT_NONE,
	                                    SL__ALERT_NONE, SL__ALERT_NONE, SL__ALERT_RESOLVE,
	                                    SL__ALERT_NONE, SL__ALERT_FIRE};

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(want[i], sl__alert_rule_feed(&r, i * 1000, in[i], NULL));
	sl__alert_rule_fini(&r);
}

static void
hysteresis_keeps_firing_between_clear_below_and_above(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_RSS, 100, 50, 0);
	struct sl__alert_rule r;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 0, 101, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 1000, 99, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 2000, 51, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 3000, 150, NULL));
	assert_int_equal(SL__ALERT_RESOLVE, sl__alert_rule_feed(&r, 4000, 50, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 5000, 100, NULL));
	sl__alert_rule_fini(&r);
}

static void
level_rule_fires_only_after_a_whole_window_above(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_BACKEND_DOWN, 0, 0, 3000);
	struct sl__alert_rule r;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	/* the first reading above starts the window, which is whole 3 s later */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 0, 1, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 1000, 1, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 2000, 1, NULL));
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 3000, 1, NULL));
	/* a dip to 0 resolves at once: the lowest of the window is 0 */
	assert_int_equal(SL__ALERT_RESOLVE, sl__alert_rule_feed(&r, 4000, 0, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 5000, 1, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 6000, 1, NULL));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 7000, 1, NULL));
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 8000, 1, NULL));
	sl__alert_rule_fini(&r);
}

static void
rate_rule_is_the_counter_increase_per_second_over_the_window(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_REJECT_RATE, 10, 10, 2000);
	struct sl__alert_rule r;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 0, 100, NULL));
	assert_false(r.known); /* one reading: no rate yet */
	/* half the window: no rate yet (a burst just after the start is no rate over the
	 * window: the rate of the part seen so far fired) */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 1000, 110, NULL));
	assert_false(r.known);
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 2000, 150, NULL));
	assert_true(r.known);
	assert_true(r.value == 25.0); /* (150 - 100) / 2 s */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 3000, 170, NULL));
	assert_true(r.value == 30.0); /* the window slid: (170 - 110) / 2 s */
	/* (170 - 150) / 2 s = 10: at the clear value, which resolves */
	assert_int_equal(SL__ALERT_RESOLVE, sl__alert_rule_feed(&r, 4000, 170, NULL));
	assert_true(r.value == 10.0);
	sl__alert_rule_fini(&r);
}

static void
rate_rule_resolves_when_the_counter_stops_for_a_window(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_ERROR_RATE, 5, 1, 2000);
	struct sl__alert_rule r;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	sl__alert_rule_feed(&r, 0, 0, NULL);
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 1000, 100, NULL));
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 2000, 100, NULL)); /* 50/s */
	/* nothing since 1000: a whole window at 0/s */
	assert_int_equal(SL__ALERT_RESOLVE, sl__alert_rule_feed(&r, 3000, 100, NULL));
	assert_true(r.value == 0.0);
	sl__alert_rule_fini(&r);
}

/* Records <n> samples of <us> microseconds into the cumulative <h>. */
static void
record(struct sl_hist *h, uint64_t us, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sl_hist_record(h, us);
}

static void
p99_rule_sees_only_the_samples_of_its_window(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_CONNECT_P99, 0.1, 0.1, 2000);
	struct sl__alert_rule r;
	struct sl_hist h;

	(void)state;
	assert_int_equal(0, sl_hist_init(&h, &ho));
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1e-6));
	record(&h, 500000, 1000); /* 0.5 s, before the first reading */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 0, 0, &h));
	assert_false(r.known);
	record(&h, 1000, 100); /* 1 ms: the window's only samples */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 1000, 0, &h));
	assert_true(r.known);
	assert_true(r.value < 0.0011 && r.value >= 0.00099);
	record(&h, 300000, 100); /* 0.3 s: half the window's samples now */
	assert_int_equal(SL__ALERT_FIRE, sl__alert_rule_feed(&r, 2000, 0, &h));
	assert_true(r.value > 0.29 && r.value < 0.31);
	/* nothing new for a whole window: no samples, p99 0, resolved */
	assert_int_equal(SL__ALERT_NONE, sl__alert_rule_feed(&r, 3000, 0, &h));
	assert_int_equal(SL__ALERT_RESOLVE, sl__alert_rule_feed(&r, 4000, 0, &h));
	assert_true(r.value == 0.0);
	sl__alert_rule_fini(&r);
	sl_hist_fini(&h);
}

static void
p99_rule_of_a_long_window_keeps_a_bounded_number_of_copies(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_FIRST_BYTE_P99, 1, 1, 3600000);
	struct sl__alert_rule r;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 100, &ho, 1e-6));
	assert_true(r.cap <= SL__ALERT_HISTS_MAX + 1);
	assert_true((r.cap - 1) * r.stride >= r.ticks);
	sl__alert_rule_fini(&r);
}

static void
notification_is_json_with_every_field(void **state)
{
	struct sl_config_alert_rule c = rule(SL_ALERT_BACKEND_DOWN, 0, 0, 0);
	struct sl__alert_rule r;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(0, sl__alert_rule_init(&r, &c, 1000, &ho, 1));
	sl__alert_rule_feed(&r, 0, 2, NULL);
	f = open_memstream(&body, &len);
	assert_non_null(f);
	assert_int_equal(0, sl__alert_render(f, &r, SL__ALERT_FIRE, 1700000000123, "h\"1"));
	fclose(f);
	assert_string_equal("{\"alert\":\"r\",\"state\":\"firing\",\"metric\":\"backend_down\","
	                    "\"value\":2,\"threshold\":0,\"time\":\"2023-11-14T22:13:20.123Z\","
	                    "\"instance\":\"h\\\"1\"}",
	                    body);
	free(body);
	sl__alert_rule_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(
	                level_rule_fires_once_while_above_and_resolves_once_at_the_clear_value),
	        cmocka_unit_test(hysteresis_keeps_firing_between_clear_below_and_above),
	        cmocka_unit_test(level_rule_fires_only_after_a_whole_window_above),
	        cmocka_unit_test(rate_rule_is_the_counter_increase_per_second_over_the_window),
	        cmocka_unit_test(rate_rule_resolves_when_the_counter_stops_for_a_window),
	        cmocka_unit_test(p99_rule_sees_only_the_samples_of_its_window),
	        cmocka_unit_test(p99_rule_of_a_long_window_keeps_a_bounded_number_of_copies),
	        cmocka_unit_test(notification_is_json_with_every_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
