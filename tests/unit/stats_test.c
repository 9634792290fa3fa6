/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_stats: sets read from counter sets at each instance's base, from read
 * and hist callbacks, collect hooks, labels, lookups, copies of every string, and what the
 * registry refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/stats.h>

/* A counter set laid out as two instances of {sessions, open, bytes}. */
enum { C_SESSIONS, G_OPEN, C_BYTES, PER_INST, NCTR = 2 * PER_INST };

static const struct sl_counter_def cdefs[NCTR] = {
        {"a_sessions", SL_COUNTER_MONOTONIC}, {"a_open", SL_COUNTER_GAUGE},
        {"a_bytes", SL_COUNTER_MONOTONIC},    {"b_sessions", SL_COUNTER_MONOTONIC},
        {"b_open", SL_COUNTER_GAUGE},         {"b_bytes", SL_COUNTER_MONOTONIC},
};

static const struct sl_stats_def defs[] = {
        {.name = "sessions", .kind = SL_STATS_COUNTER, .help = "sessions", .offset = C_SESSIONS},
        {.name = "open", .kind = SL_STATS_GAUGE, .offset = G_OPEN},
        {.name = "bytes", .kind = SL_STATS_COUNTER, .offset = C_BYTES},
};

struct fixture {
	struct sl_counter_set *ctr;
	struct sl_stats *r;
};

static int
setup(void **state)
{
	static struct fixture f;

	assert_int_equal(0,
	                 sl_counter_create(&f.ctr, &(struct sl_counter_opts){
	                                                   .defs = cdefs, .n = NCTR, .slots = 3}));
	assert_int_equal(0, sl_stats_create(&f.r));
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sl_stats_destroy(f->r);
	sl_counter_destroy(f->ctr);
	return 0;
}

static struct sl_stats_set *
add_backend_set(struct fixture *f)
{
	static const char *const labels[] = {"backend"};
	struct sl_stats_set *s = NULL;

	assert_int_equal(0,
	                 sl_stats_add_set(f->r,
	                                  &(struct sl_stats_set_opts){.name = "backend",
	                                                              .labels = labels,
	                                                              .nlabels = 1,
	                                                              .defs = defs,
	                                                              .ndefs = SL_ARRAY_SIZE(defs),
	                                                              .ctr = f->ctr},
	                                  &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"a"}, 0));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"b"}, PER_INST));
	return s;
}

static void
stats_read_sums_each_instance_over_every_slot(void **state)
{
	struct fixture *f = *state;
	struct sl_stats_set *s = add_backend_set(f);

	sl_counter_add(f->ctr, 0, C_SESSIONS, 2);
	sl_counter_add(f->ctr, 2, C_SESSIONS, 3);
	sl_counter_add(f->ctr, 1, PER_INST + C_SESSIONS, 7);
	sl_counter_add(f->ctr, 2, PER_INST + C_BYTES, 100);

	assert_int_equal(5, sl_stats_read(s, 0, 0));
	assert_int_equal(7, sl_stats_read(s, 1, 0));
	assert_int_equal(0, sl_stats_read(s, 0, 2));
	assert_int_equal(100, sl_stats_read(s, 1, 2));
}

static void
stats_read_gauge_is_signed_sum(void **state)
{
	struct fixture *f = *state;
	struct sl_stats_set *s = add_backend_set(f);

	sl_counter_gauge_add(f->ctr, 0, PER_INST + G_OPEN, 2);
	sl_counter_gauge_add(f->ctr, 1, PER_INST + G_OPEN, -5);

	assert_int_equal(-3, sl_stats_read_gauge(s, 1, 1));
	assert_int_equal(0, sl_stats_read_gauge(s, 0, 1));
}

static void
stats_instance_labels_and_definitions_are_copied(void **state)
{
	struct fixture *f = *state;
	static const char *const labels[] = {"group", "backend"};
	struct sl_stats_def d = {.name = "sessions", .kind = SL_STATS_COUNTER, .offset = 0};
	char group[8] = "web", name[8] = "b1";
	struct sl_stats_set *s;

	assert_int_equal(0, sl_stats_add_set(f->r,
	                                     &(struct sl_stats_set_opts){.name = "backend",
	                                                                 .labels = labels,
	                                                                 .nlabels = 2,
	                                                                 .defs = &d,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f->ctr},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){group, name}, 0));
	strcpy(group, "xxx");
	strcpy(name, "yy");
	d.name = "changed";

	assert_string_equal("web", sl_stats_instance_label(s, 0, 0));
	assert_string_equal("b1", sl_stats_instance_label(s, 0, 1));
	assert_string_equal("group", sl_stats_set_label(s, 0));
	assert_string_equal("sessions", sl_stats_set_def(s, 0)->name);
	assert_null(sl_stats_instance_label(s, 1, 0));
}

/* present: instance 1 only; label: "now-<inst>" for label 1, the stored value otherwise */
static bool
only_one_present(void *arg, size_t inst)
{
	(void)arg;
	return inst == 1;
}

static bool
label_now(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	(void)arg;
	if (j != 1)
		return false;
	snprintf(buf, size, "now-%zu", inst);
	return true;
}

static void
stats_instances_may_come_and_go_and_change_their_labels(void **state)
{
	struct fixture *f = *state;
	static const char *const labels[] = {"group", "backend"};
	const struct sl_stats_def d = {.name = "sessions", .kind = SL_STATS_COUNTER, .offset = 0};
	char buf[SL_STATS_LABEL_MAX];
	struct sl_stats_set *s, *plain;

	assert_int_equal(0,
	                 sl_stats_add_set(f->r,
	                                  &(struct sl_stats_set_opts){.name = "slots",
	                                                              .labels = labels,
	                                                              .nlabels = 2,
	                                                              .defs = &d,
	                                                              .ndefs = 1,
	                                                              .ctr = f->ctr,
	                                                              .present = only_one_present,
	                                                              .label = label_now},
	                                  &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"web", "b0"}, 0));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"web", "b1"}, 0));
	assert_false(sl_stats_instance_present(s, 0));
	assert_true(sl_stats_instance_present(s, 1));
	assert_false(sl_stats_instance_present(s, 2));
	assert_string_equal("web", sl_stats_instance_label_now(s, 1, 0, buf, sizeof(buf)));
	assert_string_equal("now-1", sl_stats_instance_label_now(s, 1, 1, buf, sizeof(buf)));
	assert_string_equal("b1", sl_stats_instance_label(s, 1, 1));
	assert_null(sl_stats_instance_label_now(s, 2, 1, buf, sizeof(buf)));

	/* without callbacks: always present, labels as given */
	assert_int_equal(0, sl_stats_add_set(f->r,
	                                     &(struct sl_stats_set_opts){.name = "plain",
	                                                                 .labels = labels,
	                                                                 .nlabels = 2,
	                                                                 .defs = &d,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f->ctr},
	                                     &plain));
	assert_int_equal(0, sl_stats_add_instance(plain, (const char *const[]){"web", "b0"}, 0));
	assert_true(sl_stats_instance_present(plain, 0));
	assert_string_equal("b0", sl_stats_instance_label_now(plain, 0, 1, buf, sizeof(buf)));
}

static uint64_t
read_square(void *arg, size_t inst, unsigned idx)
{
	(void)arg;
	return (uint64_t)(inst + 1) * (inst + 1) + idx;
}

static void
stats_read_callback_supplies_values_without_counter_set(void **state)
{
	struct fixture *f = *state;
	static const char *const labels[] = {"checker"};
	const struct sl_stats_def d[] = {
	        {.name = "x", .kind = SL_STATS_COUNTER, .offset = SL_STATS_READ},
	        {.name = "y", .kind = SL_STATS_COUNTER, .offset = SL_STATS_READ},
	};
	struct sl_stats_set *s;

	assert_int_equal(0, sl_stats_add_set(f->r,
	                                     &(struct sl_stats_set_opts){.name = "health",
	                                                                 .labels = labels,
	                                                                 .nlabels = 1,
	                                                                 .defs = d,
	                                                                 .ndefs = 2,
	                                                                 .read = read_square},
	                                     &s));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"one"}, 0));
	assert_int_equal(0, sl_stats_add_instance(s, (const char *const[]){"two"}, 0));

	assert_int_equal(1, sl_stats_read(s, 0, 0));
	assert_int_equal(5, sl_stats_read(s, 1, 1));
}

static int
hist_fill(void *arg, size_t inst, unsigned idx, struct sl_hist *dst)
{
	(void)arg;
	(void)idx;
	sl_hist_record_n(dst, 1000, inst + 1);
	return 0;
}

static int collects;

static int
count_collect(void *arg)
{
	(void)arg;
	collects++;
	return 0;
}

static void
stats_read_hist_merges_samples_into_an_initialised_histogram(void **state)
{
	struct fixture *f = *state;
	const struct sl_stats_def d = {.name = "latency_seconds",
	                               .kind = SL_STATS_HIST,
	                               .hist = {.lowest = 1, .highest = 1000000, .sigfigs = 2},
	                               .scale = 1e-6};
	struct sl_stats_set *s;
	struct sl_hist h;

	assert_int_equal(
	        0,
	        sl_stats_add_set(f->r,
	                         &(struct sl_stats_set_opts){
	                                 .name = "lat", .defs = &d, .ndefs = 1, .hist = hist_fill},
	                         &s));
	assert_int_equal(0, sl_stats_add_instance(s, NULL, 0));
	assert_int_equal(0, sl_stats_add_instance(s, NULL, 0));

	assert_int_equal(0, sl_stats_read_hist(s, 1, 0, &h));
	assert_int_equal(2, sl_hist_count(&h));
	assert_int_equal(1000, sl_hist_max(&h));
	sl_hist_fini(&h);
	assert_int_equal(-EINVAL, sl_stats_read_hist(s, 2, 0, &h));
}

static void
stats_collect_runs_each_sets_collect_once(void **state)
{
	struct fixture *f = *state;
	const struct sl_stats_def d = {.name = "x", .kind = SL_STATS_COUNTER, .offset = 0};

	collects = 0;
	assert_int_equal(0, sl_stats_add_set(f->r,
	                                     &(struct sl_stats_set_opts){.name = "one",
	                                                                 .defs = &d,
	                                                                 .ndefs = 1,
	                                                                 .ctr = f->ctr,
	                                                                 .collect = count_collect},
	                                     NULL));
	assert_int_equal(
	        0, sl_stats_add_set(f->r,
	                            &(struct sl_stats_set_opts){
	                                    .name = "two", .defs = &d, .ndefs = 1, .ctr = f->ctr},
	                            NULL));

	assert_int_equal(0, sl_stats_collect(f->r));
	assert_int_equal(1, collects);
}

static void
stats_find_returns_sets_in_order_and_by_name(void **state)
{
	struct fixture *f = *state;
	const struct sl_stats_def d = {.name = "x", .kind = SL_STATS_COUNTER, .offset = 0};

	assert_int_equal(
	        0, sl_stats_add_set(f->r,
	                            &(struct sl_stats_set_opts){
	                                    .name = "", .defs = &d, .ndefs = 1, .ctr = f->ctr},
	                            NULL));
	add_backend_set(f);

	assert_int_equal(2, sl_stats_len(f->r));
	assert_string_equal("", sl_stats_set_name(sl_stats_at(f->r, 0)));
	assert_ptr_equal(sl_stats_at(f->r, 1), sl_stats_find(f->r, "backend"));
	assert_null(sl_stats_find(f->r, "nope"));
	assert_null(sl_stats_at(f->r, 2));
	assert_int_equal(2, sl_stats_set_def_index(sl_stats_find(f->r, "backend"), "bytes"));
	assert_int_equal(-ENOENT, sl_stats_set_def_index(sl_stats_find(f->r, "backend"), "nope"));
}

static void
stats_add_set_refuses_a_name_in_use(void **state)
{
	struct fixture *f = *state;

	add_backend_set(f);
	assert_int_equal(-EINVAL, sl_stats_add_set(f->r,
	                                           &(struct sl_stats_set_opts){.name = "backend",
	                                                                       .defs = defs,
	                                                                       .ndefs = 1,
	                                                                       .ctr = f->ctr},
	                                           NULL));
}

static void
stats_add_set_refuses_bad_definitions(void **state)
{
	struct fixture *f = *state;
	const struct sl_stats_def beyond = {.name = "x", .kind = SL_STATS_COUNTER, .offset = NCTR};
	const struct sl_stats_def bad_name = {.name = "X-1", .kind = SL_STATS_COUNTER};
	const struct sl_stats_def no_read = {
	        .name = "x", .kind = SL_STATS_COUNTER, .offset = SL_STATS_READ};
	const struct sl_stats_def no_hist = {.name = "x", .kind = SL_STATS_HIST};
	const struct sl_stats_def *bad[] = {&beyond, &bad_name, &no_read, &no_hist};

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		assert_int_equal(-EINVAL,
		                 sl_stats_add_set(f->r,
		                                  &(struct sl_stats_set_opts){.name = "s",
		                                                              .defs = bad[i],
		                                                              .ndefs = 1,
		                                                              .ctr = f->ctr},
		                                  NULL));
	assert_int_equal(0, sl_stats_len(f->r));
}

static void
stats_add_instance_refuses_a_base_past_the_counter_set(void **state)
{
	struct fixture *f = *state;
	struct sl_stats_set *s = add_backend_set(f);

	assert_int_equal(-EINVAL, sl_stats_add_instance(s, (const char *const[]){"c"}, NCTR - 1));
	assert_int_equal(-EINVAL, sl_stats_add_instance(s, (const char *const[]){NULL}, 0));
	/* base 1 would read the gauge a_open as a counter */
	assert_int_equal(-EINVAL, sl_stats_add_instance(s, (const char *const[]){"c"}, 1));
	assert_int_equal(2, sl_stats_set_ninstances(s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(stats_read_sums_each_instance_over_every_slot,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(stats_read_gauge_is_signed_sum, setup, teardown),
	        cmocka_unit_test_setup_teardown(stats_instance_labels_and_definitions_are_copied,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_read_callback_supplies_values_without_counter_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_read_hist_merges_samples_into_an_initialised_histogram, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(stats_collect_runs_each_sets_collect_once, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(stats_find_returns_sets_in_order_and_by_name, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(stats_add_set_refuses_a_name_in_use, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(stats_add_set_refuses_bad_definitions, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_add_instance_refuses_a_base_past_the_counter_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                stats_instances_may_come_and_go_and_change_their_labels, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
