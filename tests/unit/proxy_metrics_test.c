// SPDX-License-Identifier: MIT
/*
 * The proxy's statistics registry with real sessions, in process: sl_proxy on 127.0.0.1 in
 * front of echo servers on threads. Per-backend sessions, bytes and connect failures, bytes of
 * sessions still open counted at a collection, latency histograms merged from the workers, the
 * group's backends up, and a help text of its own for every metric.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/proxy.h>
#include <sluice/stats.h>

#include "sl_test_echo.h"
#include "sl_test_net.h"
#include "sl_test_proxy.h"
#include "sl_test_time.h"

#define IO_MS 10000

struct rig {
	struct sl_config cfg;
	struct sl_config_listener listener;
	struct sl_config_group group;
	struct sl_config_backend backends[2];
	struct sl_proxy *p;
	struct sl_addr addr;
	struct sl_test_echo echo; /* one: the support server keeps its connections in a global */
};

/*
 * A proxy with <workers> workers over <n> backends, all the same echo server but counted apart;
 * <refused>: the last one refuses instead.
 */
static void
rig_start(struct rig *r, unsigned workers, size_t n, bool refused)
{
	memset(r, 0, sizeof(*r));
	r->cfg.workers = workers;
	r->cfg.drain_timeout_ms = 5000;
	r->cfg.listeners = &r->listener;
	r->cfg.nlisteners = 1;
	r->cfg.groups = &r->group;
	r->cfg.ngroups = 1;
	sl_test_proxy_listener(&r->listener, SL_FWD_AUTO);
	strcpy(r->group.name, "g");
	r->group.balance = SL_LB_ROUND_ROBIN;
	r->group.retries = 1;
	r->group.passive = (struct sl_config_passive){
	        .failures = 0, .backoff_ms = 60000, .max_backoff_ms = 60000};
	r->group.backends = r->backends;
	assert_int_equal(0, sl_test_echo_start(&r->echo));
	for (size_t i = 0; i < n; i++) {
		struct sl_addr a = r->echo.addr;

		if (refused && i == n - 1)
			sl_test_refused_addr(&a);
		sl_test_proxy_backend(&r->backends[r->group.nbackends++], &a);
	}
	sl_test_proxy_start(&r->p, &r->cfg, &r->addr);
}

static void
rig_stop(struct rig *r)
{
	sl_proxy_destroy(r->p);
	sl_test_echo_stop(&r->echo);
}

static int
client_open(const struct sl_addr *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(0, connect(fd, (const struct sockaddr *)&a->ss, a->len));
	return fd;
}

/* Sends <n> bytes through <fd> and reads their echo back. */
static void
echo_through(int fd, size_t n)
{
	char out[4096], in[4096];

	assert_true(n <= sizeof(out));
	sl_test_fill(out, n, n);
	assert_int_equal(0, sl_test_write_all(fd, out, n, IO_MS));
	assert_int_equal((ssize_t)n, sl_test_read_full(fd, in, n, IO_MS));
	assert_memory_equal(out, in, n);
}

/* One whole session: <n> bytes each way, then close. */
static void
session(const struct sl_addr *a, size_t n)
{
	int fd = client_open(a);

	echo_through(fd, n);
	close(fd);
}

static uint64_t
value(struct sl_proxy *p, const char *set, size_t inst, const char *name)
{
	const struct sl_stats_set *s = sl_stats_find(sl_proxy_stats_registry(p), set);
	int idx;

	assert_non_null(s);
	idx = sl_stats_set_def_index(s, name);
	assert_true(idx >= 0);
	return sl_stats_read(s, inst, (unsigned)idx);
}

/* Waits (bounded) until the process counter <name> reaches <want>. */
static void
wait_for(struct sl_proxy *p, const char *name, uint64_t want)
{
	for (int i = 0; i < IO_MS && value(p, "process", 0, name) < want; i++)
		sl_test_pause_1ms();
	assert_int_equal(want, value(p, "process", 0, name));
}

static uint64_t
hist_count(struct sl_proxy *p, const char *name)
{
	const struct sl_stats_set *s = sl_stats_find(sl_proxy_stats_registry(p), "latency");
	struct sl_hist h;
	uint64_t n;

	assert_non_null(s);
	assert_int_equal(0,
	                 sl_stats_read_hist(s, 0, (unsigned)sl_stats_set_def_index(s, name), &h));
	n = sl_hist_count(&h);
	sl_hist_fini(&h);
	return n;
}

static void
metrics_count_sessions_and_bytes_per_backend(void **state)
{
	struct rig r;

	(void)state;
	rig_start(&r, 1, 2, false);
	for (int i = 0; i < 4; i++)
		session(&r.addr, 100 + (size_t)i);
	wait_for(r.p, "closed", 4);

	/* round robin on one worker: sessions 0 and 2 on the first backend, 1 and 3 on the other */
	assert_int_equal(2, value(r.p, "backend", 0, "backend_sessions"));
	assert_int_equal(2, value(r.p, "backend", 1, "backend_sessions"));
	assert_int_equal(100 + 102, value(r.p, "backend_bytes", 0, "backend_bytes"));
	assert_int_equal(100 + 102, value(r.p, "backend_bytes", 1, "backend_bytes"));
	assert_int_equal(101 + 103, value(r.p, "backend_bytes", 2, "backend_bytes"));
	assert_int_equal(4, value(r.p, "listener", 0, "listener_connections"));
	assert_int_equal(406, value(r.p, "listener_bytes", 1, "listener_bytes"));
	assert_int_equal(406, value(r.p, "bytes", 0, "bytes"));
	assert_int_equal(0, value(r.p, "backend", 0, "backend_active"));
	rig_stop(&r);
}

static void
metrics_collect_counts_bytes_of_open_sessions(void **state)
{
	struct rig r;
	int fd;

	(void)state;
	rig_start(&r, 2, 1, false);
	fd = client_open(&r.addr);
	echo_through(fd, 1000);
	assert_int_equal(0, value(r.p, "bytes", 0, "bytes"));

	assert_int_equal(0, sl_stats_collect(sl_proxy_stats_registry(r.p)));

	assert_int_equal(1000, value(r.p, "bytes", 0, "bytes"));
	assert_int_equal(1000, value(r.p, "bytes", 1, "bytes"));
	assert_int_equal(1000, value(r.p, "backend_bytes", 1, "backend_bytes"));
	assert_int_equal(1, value(r.p, "backend", 0, "backend_active"));
	echo_through(fd, 500);
	close(fd);
	wait_for(r.p, "closed", 1);
	/* counted once: the close adds only what the collection had not */
	assert_int_equal(1500, value(r.p, "bytes", 0, "bytes"));
	rig_stop(&r);
}

static void
metrics_histograms_hold_one_sample_per_session(void **state)
{
	struct rig r;

	(void)state;
	rig_start(&r, 2, 1, false);
	for (int i = 0; i < 5; i++)
		session(&r.addr, 10);
	wait_for(r.p, "closed", 5);

	assert_int_equal(0, sl_stats_collect(sl_proxy_stats_registry(r.p)));

	assert_int_equal(5, hist_count(r.p, "backend_connect_seconds"));
	assert_int_equal(5, hist_count(r.p, "backend_first_byte_seconds"));
	assert_int_equal(5, hist_count(r.p, "session_duration_seconds"));
	rig_stop(&r);
}

static void
metrics_count_connect_failures_on_the_refusing_backend(void **state)
{
	struct rig r;

	(void)state;
	rig_start(&r, 1, 2, true);
	for (int i = 0; i < 4; i++)
		session(&r.addr, 10);
	wait_for(r.p, "closed", 4);

	assert_int_equal(0, value(r.p, "backend", 0, "backend_connect_failures"));
	assert_true(value(r.p, "backend", 1, "backend_connect_failures") >= 1);
	assert_int_equal(value(r.p, "process", 0, "connect_failures"),
	                 value(r.p, "backend", 1, "backend_connect_failures"));
	assert_int_equal(0, value(r.p, "backend", 1, "backend_sessions"));
	assert_int_equal(4, value(r.p, "backend", 0, "backend_sessions"));
	assert_int_equal(2, value(r.p, "group", 0, "group_backends"));
	assert_int_equal(2, value(r.p, "group", 0, "group_backends_up"));
	rig_stop(&r);
}

static void
metrics_each_have_a_help_text_of_their_own(void **state)
{
	const struct sl_stats *reg;
	struct rig r;

	(void)state;
	rig_start(&r, 1, 1, false);
	reg = sl_proxy_stats_registry(r.p);
	for (size_t i = 0; i < sl_stats_len(reg); i++) {
		const struct sl_stats_set *s = sl_stats_at(reg, i);

		for (unsigned k = 0; k < sl_stats_set_ndefs(s); k++) {
			const struct sl_stats_def *d = sl_stats_set_def(s, k);

			/* the exposition falls back on the name, which tells a reader nothing */
			if (d->help == NULL || d->help[0] == '\0' || strcmp(d->help, d->name) == 0)
				fail_msg("%s: %s has no help text of its own", sl_stats_set_name(s),
				         d->name);
		}
	}
	rig_stop(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(metrics_count_sessions_and_bytes_per_backend),
	        cmocka_unit_test(metrics_collect_counts_bytes_of_open_sessions),
	        cmocka_unit_test(metrics_histograms_hold_one_sample_per_session),
	        cmocka_unit_test(metrics_count_connect_failures_on_the_refusing_backend),
	        cmocka_unit_test(metrics_each_have_a_help_text_of_their_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
