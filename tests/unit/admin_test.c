/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for the admin renderers over a small registry: the Prometheus text (names,
 * HELP/TYPE, labels and their escaping, histogram buckets, sum and count), the /stats JSON
 * (parsed back) and the readiness verdict. The HTTP side runs in tests/integration/admin_test.py.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/stats.h>

#include "admin/admin_int.h"

enum { C_ACCEPTED, G_LISTENING, C_UP0, C_UP1, NCTR };

static const struct sl_counter_def cdefs[NCTR] = {
        {"accepted", SL_COUNTER_MONOTONIC},
        {"listening", SL_COUNTER_GAUGE},
        {"up0", SL_COUNTER_GAUGE},
        {"up1", SL_COUNTER_GAUGE},
};

struct fixture {
	struct sl_counter_set *ctr;
	struct sl_stats *r;
	char *out;
	size_t len;
};

static int
samples(void *arg, size_t inst, unsigned idx, struct sl_hist *dst)
{
	(void)arg;
	(void)inst;
	(void)idx;
	sl_hist_record(dst, 200);     /* 0.0002 s */
	sl_hist_record(dst, 3000);    /* 0.003 s */
	sl_hist_record(dst, 2000000); /* 2 s */
	return 0;
}

static int
setup(void **state)
{
	static struct fixture f;
	static const char *const group[] = {"group"}, *const backend[] = {"backend"};
	const struct sl_stats_def process[] = {
	        {.name = "accepted", .kind = SL_STATS_COUNTER, .help = "Clients.", .offset = 0},
	        {.name = "listening", .kind = SL_STATS_GAUGE, .offset = G_LISTENING},
	};
	const struct sl_stats_def up = {
	        .name = "group_backends_serving", .kind = SL_STATS_GAUGE, .offset = 0};
	const struct sl_stats_def sessions = {.name = "backend_sessions",
	                                      .kind = SL_STATS_COUNTER,
	                                      .help = "line one\nback\\slash",
	                                      .offset = 0};
	const struct sl_stats_def lat = {.name = "session_duration_seconds",
	                                 .kind = SL_STATS_HIST,
	                                 .help = "Durations.",
	                                 .hist = {.lowest = 1, .highest = 3600000000, .sigfigs = 2},
	                                 .scale = 1e-6};
	struct sl_stats_set *s;

	memset(&f, 0, sizeof(f));
	assert_int_equal(0,
	                 sl_counter_create(&f.ctr, &(struct sl_counter_opts){
	                                                   .defs = cdefs, .n = NCTR, .slots = 2}));
	assert_int_equal(0, sl_stats_create(&f.r));
	assert_int_equal(0, sl_stats_add_set(f.r,
	                                     &(struct sl_stats_set_opts){.name = "process",
	                                                                 .defs = process,
	                                                                 .ndefs = 2,
	                                                                 .ctr = f.ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, NULL, 0));
	assert_int_equal(0, sl_stats_add_set(f.r,
	                                     &(struct sl_stats_set_opts){.name = "group",
	                                                                 .labels = group,
	                                                                 .nlabels = 1,
	                                                                 .defs = &up,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f.ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"web"}, C_UP0));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"db"}, C_UP1));
	assert_int_equal(0, sl_stats_add_set(f.r,
	                                     &(struct sl_stats_set_opts){.name = "backend",
	                                                                 .labels = backend,
	                                                                 .nlabels = 1,
	                                                                 .defs = &sessions,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f.ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"a\"b"}, 0));
	assert_int_equal(0, sl_stats_add_set(f.r,
	                                     &(struct sl_stats_set_opts){.name = "latency",
	                                                                 .defs = &lat,
	                                                                 .ndefs = 1,
	                                                                 .hist = samples},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, NULL, 0));
	sl_counter_add(f.ctr, 0, C_ACCEPTED, 3);
	sl_counter_add(f.ctr, 1, C_ACCEPTED, 4);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	free(f->out);
	sl_stats_destroy(f->r);
	sl_counter_destroy(f->ctr);
	return 0;
}

/* Runs <render> into f->out. */
static int
render(struct fixture *f, int (*fn)(const struct sl_stats *, FILE *))
{
	FILE *m = open_memstream(&f->out, &f->len);
	int err;

	assert_non_null(m);
	err = fn(f->r, m);
	fclose(m);
	return err;
}

static void
metrics_counters_carry_total_help_and_type(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(0, render(f, sl__admin_render_metrics));

	assert_non_null(strstr(f->out, "# HELP sluice_accepted_total Clients.\n"
	                               "# TYPE sluice_accepted_total counter\n"
	                               "sluice_accepted_total 7\n"));
	assert_non_null(strstr(f->out, "# TYPE sluice_listening gauge\nsluice_listening 0\n"));
}

static void
metrics_labels_and_help_are_escaped(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(0, render(f, sl__admin_render_metrics));

	assert_non_null(
	        strstr(f->out, "# HELP sluice_backend_sessions_total line one\\nback\\\\slash\n"));
	assert_non_null(strstr(f->out, "sluice_backend_sessions_total{backend=\"a\\\"b\"} 7\n"));
	assert_non_null(strstr(f->out, "sluice_group_backends_serving{group=\"db\"} 0\n"));
}

static void
metrics_histogram_buckets_are_cumulative_in_seconds(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(0, render(f, sl__admin_render_metrics));

	assert_non_null(strstr(f->out, "# TYPE sluice_session_duration_seconds histogram\n"));
	assert_non_null(
	        strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"0.0001\"} 0\n"));
	assert_non_null(
	        strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"0.005\"} 2\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"1\"} 2\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"2.5\"} 3\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_sum 2.0032\n"));
	assert_non_null(strstr(f->out, "sluice_session_duration_seconds_count 3\n"));
}

/* /stats without extras. */
static int
render_stats_plain(const struct sl_stats *r, FILE *f)
{
	return sl__admin_render_stats(r, NULL, f);
}

static int
fake_backend_addr(void *arg, size_t inst, const char *group, const char *backend, char *buf,
                  size_t size)
{
	(void)arg;
	(void)inst;
	if (strcmp(group, "web") != 0 || strcmp(backend, "b1") != 0)
		return -ENOENT;
	snprintf(buf, size, "127.0.0.1:8080");
	return 0;
}

/* /stats with the endpoint's extras: an uptime and the fake addresses above. */
static int
render_stats_extras(const struct sl_stats *r, FILE *f)
{
	const struct sl_admin_extras x = {
	        .uptime_seconds = 12.5, .backend_addr = fake_backend_addr, .arg = NULL};

	return sl__admin_render_stats(r, &x, f);
}

static void
stats_json_leaves_out_uptime_and_addresses_without_extras(void **state)
{
	struct fixture *f = *state;
	json_t *doc;

	assert_int_equal(0, render(f, render_stats_plain));
	doc = json_loads(f->out, 0, NULL);

	assert_non_null(doc);
	assert_null(json_object_get(json_object_get(doc, "process"), "uptime_seconds"));
	assert_null(json_object_get(json_array_get(json_object_get(doc, "backend"), 0), "address"));
	json_decref(doc);
}

static void
stats_json_gives_uptime_and_the_addresses_the_extras_know(void **state)
{
	struct fixture *f = *state;
	static const char *const labels[] = {"group", "backend"};
	const struct sl_stats_def sessions = {
	        .name = "backend_sessions", .kind = SL_STATS_COUNTER, .offset = 0};
	struct sl_stats *r;
	struct sl_stats_set *s;
	json_t *doc, *backends, *b0, *b1;
	FILE *m;

	assert_int_equal(0, sl_stats_create(&r));
	assert_int_equal(0, sl_stats_add_set(r,
	                                     &(struct sl_stats_set_opts){.name = "process",
	                                                                 .defs = &sessions,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f->ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, NULL, 0));
	assert_int_equal(0, sl_stats_add_set(r,
	                                     &(struct sl_stats_set_opts){.name = "backend",
	                                                                 .labels = labels,
	                                                                 .nlabels = 2,
	                                                                 .defs = &sessions,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f->ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"web", "b1"}, 0));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"web", "b2"}, 0));
	m = open_memstream(&f->out, &f->len);
	assert_non_null(m);
	assert_int_equal(0, render_stats_extras(r, m));
	fclose(m);
	doc = json_loads(f->out, 0, NULL);

	assert_non_null(doc);
	assert_true(12.5 == json_real_value(json_object_get(json_object_get(doc, "process"),
	                                                    "uptime_seconds")));
	backends = json_object_get(doc, "backend");
	b0 = json_array_get(backends, 0);
	b1 = json_array_get(backends, 1);
	assert_string_equal("127.0.0.1:8080", json_string_value(json_object_get(b0, "address")));
	assert_string_equal("up", json_string_value(json_object_get(b0, "state")));
	assert_null(json_object_get(b1, "address")); /* the extras do not know b2 */
	json_decref(doc);
	sl_stats_destroy(r);
}

static void
stats_json_has_one_member_per_set(void **state)
{
	struct fixture *f = *state;
	json_t *doc, *groups, *lat;

	assert_int_equal(0, render(f, render_stats_plain));
	doc = json_loads(f->out, 0, NULL);

	assert_non_null(doc);
	assert_int_equal(7, json_integer_value(
	                            json_object_get(json_object_get(doc, "process"), "accepted")));
	groups = json_object_get(doc, "group");
	assert_int_equal(2, json_array_size(groups));
	assert_string_equal("db",
	                    json_string_value(json_object_get(json_array_get(groups, 1), "group")));
	/* "group_backends_serving" in set "group" is keyed "backends_serving" */
	assert_non_null(json_object_get(json_array_get(groups, 1), "backends_serving"));
	lat = json_object_get(json_object_get(doc, "latency"), "session_duration_seconds");
	assert_int_equal(3, json_integer_value(json_object_get(lat, "count")));
	json_decref(doc);
}

static void
stats_json_prints_whole_numbers_as_integers_and_fractions_in_short(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(0, render(f, render_stats_plain));

	assert_non_null(strstr(f->out, "{\"process\":{\"accepted\":7,\"listening\":0},"));
	assert_non_null(strstr(f->out, "\"session_duration_seconds\":{\"count\":3,"
	                               "\"sum\":2.0032,\"min\":0.0002,"));
	assert_null(strstr(f->out, ".0,"));
	assert_null(strstr(f->out, " "));
}

static void
ready_is_false_while_not_listening(void **state)
{
	struct fixture *f = *state;
	bool ready = true;
	FILE *m = open_memstream(&f->out, &f->len);

	sl_counter_gauge_add(f->ctr, 0, C_UP0, 1);
	sl_counter_gauge_add(f->ctr, 1, C_UP1, 1);
	assert_int_equal(0, sl__admin_render_ready(f->r, m, &ready));
	fclose(m);

	assert_false(ready);
	assert_string_equal("{\"ready\":false,\"reason\":\"not listening\"}\n", f->out);
}

static void
ready_names_the_group_without_a_backend_up(void **state)
{
	struct fixture *f = *state;
	bool ready = true;
	FILE *m = open_memstream(&f->out, &f->len);

	sl_counter_gauge_add(f->ctr, 0, G_LISTENING, 1);
	sl_counter_gauge_add(f->ctr, 0, C_UP0, 1);
	assert_int_equal(0, sl__admin_render_ready(f->r, m, &ready));
	fclose(m);

	assert_false(ready);
	assert_string_equal("{\"ready\":false,\"reason\":\"group db has no backend that takes "
	                    "sessions (up, enabled, not ejected)\"}\n",
	                    f->out);
}

static void
ready_is_true_when_listening_with_a_backend_up_per_group(void **state)
{
	struct fixture *f = *state;
	bool ready = false;
	FILE *m = open_memstream(&f->out, &f->len);

	sl_counter_gauge_add(f->ctr, 0, G_LISTENING, 1);
	sl_counter_gauge_add(f->ctr, 0, C_UP0, 1);
	sl_counter_gauge_add(f->ctr, 1, C_UP1, 2);
	assert_int_equal(0, sl__admin_render_ready(f->r, m, &ready));
	fclose(m);

	assert_true(ready);
	assert_string_equal("{\"ready\":true}\n", f->out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(metrics_counters_carry_total_help_and_type, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(metrics_labels_and_help_are_escaped, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(metrics_histogram_buckets_are_cumulative_in_seconds,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(stats_json_has_one_member_per_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_json_prints_whole_numbers_as_integers_and_fractions_in_short, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_json_leaves_out_uptime_and_addresses_without_extras, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_json_gives_uptime_and_the_addresses_the_extras_know, setup, teardown),
	        cmocka_unit_test_setup_teardown(ready_is_false_while_not_listening, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(ready_names_the_group_without_a_backend_up, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                ready_is_true_when_listening_with_a_backend_up_per_group, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
