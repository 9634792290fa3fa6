// SPDX-License-Identifier: MIT
/*
 * The proxy with its health checker and warm pools wired in, in process: sl_proxy on
 * 127.0.0.1 (port 0) in front of an echo server and small test listeners. A backend that stops
 * listening, or answers a send/expect probe wrongly, is marked down and gets no sessions; one
 * that listens again comes back; with a warm pool, sessions run over connections the backend
 * accepted before any client connected, and a backend marked down gets them closed. Waits poll the
 * proxy's stats, bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/proxy.h>

#include "sl_test_echo.h"
#include "sl_test_net.h"
#include "sl_test_proxy.h"
#include "sl_test_time.h"

#define POLL_MS 10000
#define WAIT_LIMIT_MS 20000

struct rig {
	struct sl_config cfg;
	struct sl_config_listener listener;
	struct sl_config_group group;
	struct sl_config_backend backends[2];
	struct sl_proxy *p;
	struct sl_addr addr; /* the listener's bound address */
};

static void
rig_config(struct rig *r)
{
	struct sl_config_listener *l = &r->listener;

	memset(r, 0, sizeof(*r));
	r->cfg.workers = 1;
	r->cfg.drain_timeout_ms = 30000;
	r->cfg.listeners = l;
	r->cfg.nlisteners = 1;
	r->cfg.groups = &r->group;
	r->cfg.ngroups = 1;
	sl_test_proxy_listener(l, SL_FWD_SPLICE);
	strcpy(r->group.name, "g");
	r->group.balance = SL_LB_ROUND_ROBIN;
	r->group.retries = 2;
	r->group.backends = r->backends;
}

/* Active TCP checks every 20 ms, one failure marks down, one success up. */
static void
rig_health_tcp(struct rig *r)
{
	r->group.health = (struct sl_config_health){
	        .kind = SL_HEALTH_TCP, .interval_ms = 20, .timeout_ms = 20, .rise = 1, .fall = 1};
}

static void
rig_backend(struct rig *r, const struct sl_addr *a)
{
	sl_test_proxy_backend(&r->backends[r->group.nbackends++], a);
}

static void
rig_start(struct rig *r)
{
	sl_test_proxy_start(&r->p, &r->cfg, &r->addr); /* nlisteners is 1 */
}

static struct sl_proxy_stats
stats_of(const struct rig *r)
{
	struct sl_proxy_stats st;

	sl_proxy_stats(r->p, &st);
	return st;
}

/* ---- bounded waiting ---- */

/* Polls the stats until field <off> reaches <n> or the limit passes. */
static bool
wait_stat(const struct rig *r, size_t off, uint64_t n)
{
	uint64_t deadline = sl_test_mono_ms() + WAIT_LIMIT_MS;

	for (;;) {
		struct sl_proxy_stats st = stats_of(r);
		uint64_t v;

		memcpy(&v, (const char *)&st + off, sizeof(v));
		if (v >= n)
			return true;
		if (sl_test_mono_ms() > deadline)
			return false;
		sl_test_pause_1ms();
	}
}

#define WAIT_STAT(r, field, n) wait_stat((r), offsetof(struct sl_proxy_stats, field), (n))

/* ---- clients ---- */

/* One exchange of <n> bytes of seed <seed> on a new connection: true if the echo is intact. */
static bool
ask(const struct sl_addr *a, size_t n, uint64_t seed)
{
	char *out = malloc(n), *in = malloc(n + 1);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = false;

	assert_true(fd >= 0);
	sl_test_fill(out, n, seed);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 &&
	    sl_test_write_all(fd, out, n, POLL_MS) == 0 && shutdown(fd, SHUT_WR) == 0)
		ok = sl_test_read_full(fd, in, n + 1, POLL_MS) == (ssize_t)n &&
		     memcmp(in, out, n) == 0;
	close(fd);
	free(out);
	free(in);
	return ok;
}

/* ---- backends under test control ---- */

/* A blocking listener on <a> exactly (SO_REUSEADDR): the fd. */
static int
listen_at(const struct sl_addr *a)
{
	static const int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(0, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	assert_int_equal(0, bind(fd, (const struct sockaddr *)&a->ss, a->len));
	assert_int_equal(0, listen(fd, 1024));
	return fd;
}

/*
 * Accepts from <lfd> until a connection carries the byte 'x' (a proxied session; the
 * checker's connections bring EOF instead). true if one did within <max> connections.
 */
static bool
accept_session(int lfd, unsigned max)
{
	for (unsigned i = 0; i < max; i++) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		char c = 0;
		int fd;

		if (poll(&pfd, 1, POLL_MS) != 1)
			return false;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return false;
		(void)sl_test_read_full(fd, &c, 1, POLL_MS);
		close(fd);
		if (c == 'x')
			return true;
	}
	return false;
}

/* A server answering every connection with "BAD\n" at once, then closing it; on a thread. */
struct liar {
	struct sl_addr addr;
	int lfd;
	int stop[2];
	pthread_t thread;
};

static void *
liar_main(void *arg)
{
	struct liar *s = arg;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = s->stop[0], .events = POLLIN},
		                        {.fd = s->lfd, .events = POLLIN}};
		int fd;

		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (!(pfd[1].revents & POLLIN))
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		(void)!send(fd, "BAD\n", 4, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static void
liar_start(struct liar *s)
{
	s->lfd = sl_test_listen(&s->addr, 128);
	assert_true(s->lfd >= 0);
	assert_int_equal(0, pipe2(s->stop, O_CLOEXEC));
	assert_int_equal(0, pthread_create(&s->thread, NULL, liar_main, s));
}

static void
liar_stop(struct liar *s)
{
	(void)!write(s->stop[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
}

/* ---- tests ---- */

static void
proxy_sends_nothing_to_backend_marked_down_by_tcp_check(void **state)
{
	enum { ASKS = 6 };
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	struct sl_addr gone;
	unsigned ok = 0;
	struct rig r;
	int lfd;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	lfd = sl_test_listen(&gone, 128);
	rig_config(&r);
	rig_health_tcp(&r);
	rig_backend(&r, &gone);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	assert_true(WAIT_STAT(&r, health_checks, 2));
	close(lfd); /* stops listening */
	assert_true(WAIT_STAT(&r, health_downs, 1));

	for (int i = 0; i < ASKS; i++)
		ok += ask(&r.addr, 1000, (uint64_t)i);
	st = stats_of(&r);
	assert_int_equal(ASKS, ok);
	/* round robin would have tried the closed port for half of them: it was never picked */
	assert_int_equal(0, st.connect_failures);
	assert_int_equal(0, st.retries);
	assert_int_equal(1, st.health_downs);
	assert_true(st.health_failures >= 1);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

static void
proxy_sends_again_to_backend_that_listens_again(void **state)
{
	struct sl_test_echo e;
	struct sl_addr a;
	struct rig r;
	int lfd, c[2];

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	lfd = sl_test_listen(&a, 128);
	rig_config(&r);
	rig_health_tcp(&r);
	rig_backend(&r, &a);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	close(lfd);
	assert_true(WAIT_STAT(&r, health_downs, 1));
	lfd = listen_at(&a);
	assert_true(WAIT_STAT(&r, health_ups, 1));

	/* round robin: of two sessions, one goes to the backend that came back */
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(0, connect(c[i], (const struct sockaddr *)&r.addr.ss, r.addr.len));
		assert_int_equal(0, sl_test_write_all(c[i], "x", 1, POLL_MS));
	}
	assert_true(accept_session(lfd, 1000));
	assert_int_equal(1, stats_of(&r).health_ups);
	close(c[0]);
	close(c[1]);
	sl_proxy_destroy(r.p);
	close(lfd);
	sl_test_echo_stop(&e);
}

static void
proxy_sends_nothing_to_backend_failing_send_expect(void **state)
{
	enum { ASKS = 6 };
	struct sl_test_echo e;
	struct liar bad;
	unsigned ok = 0;
	struct rig r;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	liar_start(&bad);
	rig_config(&r);
	/* the echo server passes (it echoes the probe); the liar answers "BAD" */
	r.group.health = (struct sl_config_health){.kind = SL_HEALTH_SEND_EXPECT,
	                                           .send = "PING\n",
	                                           .send_len = 5,
	                                           .expect = "PING",
	                                           .expect_len = 4,
	                                           .interval_ms = 20,
	                                           .timeout_ms = 20,
	                                           .rise = 1,
	                                           .fall = 1};
	rig_backend(&r, &bad.addr);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	assert_true(WAIT_STAT(&r, health_downs, 1));

	/* a session sent to the liar would read "BAD\n", not its echo */
	for (int i = 0; i < ASKS; i++)
		ok += ask(&r.addr, 1000, (uint64_t)i);
	assert_int_equal(ASKS, ok);
	assert_int_equal(1, stats_of(&r).health_downs);
	sl_proxy_destroy(r.p);
	liar_stop(&bad);
	sl_test_echo_stop(&e);
}

static void
proxy_serves_sessions_over_warm_connections(void **state)
{
	enum { K = 3, ASKS = 8 };
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	uint64_t bytes = 0;
	unsigned ok = 0;
	struct rig r;
	int i;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	rig_config(&r);
	r.group.warm_pool = (struct sl_config_warm_pool){.size = K, .idle_ms = 60000};
	rig_backend(&r, &e.addr);
	rig_start(&r);
	/* the backend accepts the pool's connections before any client exists */
	for (i = 0; i < WAIT_LIMIT_MS && atomic_load(&e.accepted) < K; i++)
		sl_test_pause_1ms();
	assert_int_equal(K, atomic_load(&e.accepted));

	for (i = 0; i < ASKS; i++) {
		size_t n = 1000 + (size_t)i * 7919;

		if (ask(&r.addr, n, (uint64_t)i)) {
			ok++;
			bytes += n;
		}
	}
	sl_proxy_stop(r.p);
	st = stats_of(&r);
	assert_int_equal(ASKS, ok);
	assert_true(st.warm_hits >= 1);
	assert_int_equal(ASKS, st.warm_hits + st.warm_misses);
	assert_int_equal(bytes, st.bytes_in);
	assert_int_equal(bytes, st.bytes_out);
	assert_int_equal(0, st.connect_failures);
	assert_int_equal(0, st.warm_failed);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

static void
proxy_closes_warm_connections_of_backend_marked_down(void **state)
{
	enum { K = 2, WORKERS = 2 };
	struct sl_addr a;
	unsigned closed = 0;
	struct rig r;
	int lfd;

	(void)state;
	lfd = sl_test_listen(&a, 1024);
	rig_config(&r);
	r.cfg.workers = WORKERS;
	r.group.warm_pool = (struct sl_config_warm_pool){.size = K, .idle_ms = 60000};
	/* the backend never answers the probe: down after one timeout */
	r.group.health = (struct sl_config_health){.kind = SL_HEALTH_SEND_EXPECT,
	                                           .send = "PING\n",
	                                           .send_len = 5,
	                                           .expect = "PONG",
	                                           .expect_len = 4,
	                                           .interval_ms = 50,
	                                           .timeout_ms = 20,
	                                           .rise = 1,
	                                           .fall = 1};
	rig_backend(&r, &a);
	rig_start(&r);

	/* probes bring "PING\n"; each worker's idle warm connections must be closed (EOF) */
	for (int i = 0; i < 200 && closed < K * WORKERS; i++) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		char buf[5];
		int fd;

		assert_int_equal(1, poll(&pfd, 1, POLL_MS));
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(fd >= 0);
		if (sl_test_read_full(fd, buf, sizeof(buf), POLL_MS) == 0)
			closed++;
		close(fd);
	}
	assert_int_equal(K * WORKERS, closed);
	assert_true(stats_of(&r).health_downs >= 1);
	assert_int_equal(0, stats_of(&r).warm_hits);
	sl_proxy_destroy(r.p);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(proxy_sends_nothing_to_backend_marked_down_by_tcp_check),
	        cmocka_unit_test(proxy_sends_again_to_backend_that_listens_again),
	        cmocka_unit_test(proxy_sends_nothing_to_backend_failing_send_expect),
	        cmocka_unit_test(proxy_serves_sessions_over_warm_connections),
	        cmocka_unit_test(proxy_closes_warm_connections_of_backend_marked_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
