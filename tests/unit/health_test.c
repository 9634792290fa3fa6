/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_health (include/sluice/health.h) with real sockets on 127.0.0.1: TCP
 * and send/expect checks against small test servers (each a thread), rise/fall transitions,
 * timeouts, and stop with checks in flight. Tests wait for events (a state change, a count)
 * with bounded polling; nothing asserts wall-clock durations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/health.h>

#include "sl_test_net.h"
#include "sl_test_time.h"

#define WAIT_LIMIT_MS 10000

/* ---- bounded waiting ---- */

static bool
up_is(_Atomic uint8_t *up, uint8_t want)
{
	/* A1: pairs with R1 in publish() (src/proxy/health.c): the counters are at least as new */
	return atomic_load_explicit(up, memory_order_acquire) == want;
}

/* Polls until *up == want or the limit passes; returns whether it got there. */
static bool
wait_up_is(_Atomic uint8_t *up, uint8_t want)
{
	uint64_t deadline = sl_test_mono_ms() + WAIT_LIMIT_MS;

	while (!up_is(up, want)) {
		if (sl_test_mono_ms() > deadline)
			return false;
		sl_test_pause_1ms();
	}
	return true;
}

/* Polls until at least <n> checks completed or the limit passes. */
static bool
wait_checks(struct sl_health *h, uint64_t n)
{
	uint64_t deadline = sl_test_mono_ms() + WAIT_LIMIT_MS;
	struct sl_health_stats st;

	for (;;) {
		sl_health_stats(h, &st);
		if (st.checks >= n)
			return true;
		if (sl_test_mono_ms() > deadline)
			return false;
		sl_test_pause_1ms();
	}
}

/* ---- test servers ---- */

enum srv_mode {
	SRV_ACCEPT_CLOSE, /* accept and close at once */
	SRV_REPLY,        /* read one request, write <reply>, close */
	SRV_SILENT,       /* accept and hold the connection, never write */
};

#define SRV_HELD_MAX 64

struct srv {
	int lfd;
	int stop[2]; /* a pipe: the test writes to stop the thread */
	unsigned port;
	enum srv_mode mode;
	const char *reply;
	pthread_t thread;
	_Atomic unsigned accepted;
	int held[SRV_HELD_MAX]; /* SILENT: accepted fds; read by the test only after join */
	unsigned nheld;
};

static void
srv_serve(struct srv *s, int fd)
{
	struct timeval tv = {2, 0};
	char buf[256];

	switch (s->mode) {
	case SRV_ACCEPT_CLOSE:
		close(fd);
		return;
	case SRV_REPLY:
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			(void)send(fd, s->reply, strlen(s->reply), MSG_NOSIGNAL);
		close(fd);
		return;
	case SRV_SILENT:
		if (s->nheld < SRV_HELD_MAX)
			s->held[s->nheld++] = fd;
		else
			close(fd);
		return;
	}
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
		int fd;

		if (poll(p, 2, -1) == -1)
			continue;
		if (p[1].revents != 0)
			return NULL;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1)
			continue;
		/* relaxed: a statistic for the test's bounded polling; orders nothing */
		atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
		srv_serve(s, fd);
	}
}

/* A listener on 127.0.0.1:<port> (0 = any) served by a thread in <mode>. */
static void
srv_start(struct srv *s, unsigned port, enum srv_mode mode, const char *reply)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sin);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->reply = reply;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(0, setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	assert_int_equal(0, bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)));
	assert_int_equal(0, listen(s->lfd, 128));
	assert_int_equal(0, getsockname(s->lfd, (struct sockaddr *)&sin, &len));
	s->port = ntohs(sin.sin_port);
	assert_int_equal(0, pipe2(s->stop, O_CLOEXEC));
	assert_int_equal(0, pthread_create(&s->thread, NULL, srv_main, s));
}

/* Stops and joins the thread; held connections stay open until srv_free(). */
static void
srv_stop(struct srv *s)
{
	assert_int_equal(1, write(s->stop[1], "x", 1));
	assert_int_equal(0, pthread_join(s->thread, NULL));
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
}

static void
srv_free(struct srv *s)
{
	for (unsigned i = 0; i < s->nheld; i++)
		close(s->held[i]);
}

static unsigned
srv_accepted(struct srv *s)
{
	/* relaxed: see srv_main() */
	return atomic_load_explicit(&s->accepted, memory_order_relaxed);
}

/* ---- fixtures ---- */

/* Records every transition the checker reports (on its thread). */
struct rec {
	pthread_mutex_t mu;
	unsigned ups, downs;
	uint32_t up_count, down_count;
	char reason[128];
};

static void
rec_on_change(void *arg, const struct sl_health_event *ev)
{
	struct rec *r = arg;

	pthread_mutex_lock(&r->mu);
	if (ev->up) {
		r->ups++;
		r->up_count = ev->count;
	} else {
		r->downs++;
		r->down_count = ev->count;
		snprintf(r->reason, sizeof(r->reason), "%s", ev->reason);
	}
	pthread_mutex_unlock(&r->mu);
}

/* Polls until the recorder saw <ups> and <downs> transitions (on_change runs after R1). */
static bool
wait_rec(struct rec *r, unsigned ups, unsigned downs)
{
	uint64_t deadline = sl_test_mono_ms() + WAIT_LIMIT_MS;

	for (;;) {
		bool met;

		pthread_mutex_lock(&r->mu);
		met = r->ups >= ups && r->downs >= downs;
		pthread_mutex_unlock(&r->mu);
		if (met)
			return true;
		if (sl_test_mono_ms() > deadline)
			return false;
		sl_test_pause_1ms();
	}
}

struct fix {
	struct sl_config_health cfg;
	struct sl_health_target t;
	_Atomic uint8_t up;
	_Atomic uint64_t up_at_ms;
	struct rec rec;
	struct sl_health *h;
};

static void
fix_init(struct fix *f, enum sl_health_kind kind, unsigned port)
{
	char text[32];

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->rec.mu, NULL);
	f->cfg.kind = kind;
	f->cfg.interval_ms = 20;
	f->cfg.timeout_ms = 1000;
	f->cfg.rise = 2;
	f->cfg.fall = 3;
	atomic_init(&f->up, 1);
	atomic_init(&f->up_at_ms, 0);
	snprintf(text, sizeof(text), "127.0.0.1:%u", port);
	assert_int_equal(0, sl_addr_parse(&f->t.addr, text, false, NULL));
	f->t.group = "g";
	f->t.name = "b";
	f->t.cfg = &f->cfg;
	f->t.up = &f->up;
	f->t.up_at_ms = &f->up_at_ms;
}

static void
fix_set_probe(struct fix *f, const char *send, const char *expect)
{
	f->cfg.send = (char *)send;
	f->cfg.send_len = strlen(send);
	f->cfg.expect = (char *)expect;
	f->cfg.expect_len = strlen(expect);
}

static void
fix_start(struct fix *f)
{
	struct sl_health_opts o = {.on_change = rec_on_change, .arg = &f->rec};

	assert_int_equal(0, sl_health_create(&f->h, &f->t, 1, &o));
	assert_int_equal(0, sl_health_start(f->h));
}

static void
fix_fini(struct fix *f)
{
	sl_health_destroy(f->h);
	pthread_mutex_destroy(&f->rec.mu);
}

static struct sl_health_stats
stats_of(struct sl_health *h)
{
	struct sl_health_stats st;

	sl_health_stats(h, &st);
	return st;
}

/* ---- tests ---- */

static void
health_paused_target_is_checked_only_once_given_an_address(void **state)
{
	struct srv s, other;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_ACCEPT_CLOSE, NULL);
	srv_start(&other, 0, SRV_ACCEPT_CLOSE, NULL);
	fix_init(&f, SL_HEALTH_TCP, s.port);
	memset(&f.t.addr, 0, sizeof(f.t.addr)); /* a paused target needs none */
	f.t.paused = true;
	fix_start(&f);
	/* no address: it cannot be made active without one */
	assert_int_equal(-EINVAL, sl_health_set_target(f.h, 0, NULL, NULL, true, false));
	assert_int_equal(-EINVAL, sl_health_set_target(f.h, 1, NULL, NULL, false, false));
	{
		struct sl_addr a;
		char text[32];

		snprintf(text, sizeof(text), "127.0.0.1:%u", s.port);
		assert_int_equal(0, sl_addr_parse(&a, text, false, NULL));
		assert_int_equal(0, sl_health_set_target(f.h, 0, &a, "new", true, true));
	}
	assert_true(wait_checks(f.h, 3));
	assert_true(srv_accepted(&s) >= 1);
	/* paused: no check reaches the server any more (one in flight may finish) */
	assert_int_equal(0, sl_health_set_target(f.h, 0, NULL, NULL, false, false));
	{
		uint64_t checks = stats_of(f.h).checks;

		/* moved while paused, then resumed: checks go to the new address */
		struct sl_addr a;
		char text[32];

		snprintf(text, sizeof(text), "127.0.0.1:%u", other.port);
		assert_int_equal(0, sl_addr_parse(&a, text, false, NULL));
		assert_int_equal(0, sl_health_set_target(f.h, 0, &a, NULL, false, false));
		assert_int_equal(0, sl_health_set_target(f.h, 0, NULL, NULL, true, false));
		assert_true(wait_checks(f.h, checks + 3));
	}
	assert_true(srv_accepted(&other) >= 2);
	assert_true(sl_health_backend_is_up(&f.up));
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
	srv_stop(&other);
	srv_free(&other);
}

static void
health_reset_target_starts_up_again(void **state)
{
	struct fix f;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, sl_test_closed_port());
	f.cfg.fall = 1;
	fix_start(&f);
	assert_true(wait_up_is(&f.up, 0));
	/* paused: the verdict stays */
	assert_int_equal(0, sl_health_set_target(f.h, 0, NULL, NULL, false, false));
	assert_false(sl_health_backend_is_up(&f.up));
	/* reset (a new backend in the slot): up until its own verdict */
	assert_int_equal(0, sl_health_set_target(f.h, 0, NULL, "again", false, true));
	assert_true(wait_up_is(&f.up, 1));
	fix_fini(&f);
}

static void
health_listening_backend_stays_up(void **state)
{
	struct srv s;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_ACCEPT_CLOSE, NULL);
	fix_init(&f, SL_HEALTH_TCP, s.port);
	fix_start(&f);

	assert_true(wait_checks(f.h, 2 * f.cfg.fall + 2));

	assert_true(sl_health_backend_is_up(&f.up));
	assert_int_equal(0, stats_of(f.h).failures);
	assert_int_equal(0, stats_of(f.h).transitions_down);
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_closed_port_goes_down_after_fall_failures(void **state)
{
	struct fix f;
	uint64_t seen;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, sl_test_closed_port());
	fix_start(&f);

	assert_true(wait_up_is(&f.up, 0));
	assert_true(wait_rec(&f.rec, 0, 1));
	seen = stats_of(f.h).checks;
	assert_true(wait_checks(f.h, seen + 3));

	pthread_mutex_lock(&f.rec.mu);
	assert_int_equal(1, f.rec.downs);
	assert_int_equal(f.cfg.fall, f.rec.down_count);
	assert_non_null(strstr(f.rec.reason, "connect"));
	pthread_mutex_unlock(&f.rec.mu);
	assert_int_equal(1, stats_of(f.h).transitions_down);
	assert_true(up_is(&f.up, 0));
	fix_fini(&f);
}

static void
health_backend_that_comes_back_goes_up_after_rise_successes(void **state)
{
	unsigned port = sl_test_closed_port();
	struct srv s;
	struct fix f;
	uint64_t before;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, port);
	f.cfg.rise = 3;
	fix_start(&f);
	assert_true(wait_up_is(&f.up, 0));
	/* relaxed: only this thread reads it; a going-down stores no time */
	assert_int_equal(0, atomic_load_explicit(&f.up_at_ms, memory_order_relaxed));

	before = sl_test_mono_ms();
	srv_start(&s, port, SRV_ACCEPT_CLOSE, NULL);
	assert_true(wait_up_is(&f.up, 1));
	assert_true(wait_rec(&f.rec, 1, 1));
	/* relaxed: stored before the up flag this thread saw (health.h); the loop's clock */
	assert_in_range(atomic_load_explicit(&f.up_at_ms, memory_order_relaxed), before,
	                sl_test_mono_ms());

	pthread_mutex_lock(&f.rec.mu);
	assert_int_equal(1, f.rec.ups);
	assert_int_equal(f.cfg.rise, f.rec.up_count);
	pthread_mutex_unlock(&f.rec.mu);
	assert_int_equal(1, stats_of(f.h).transitions_up);
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_initially_down_backend_goes_up_after_rise_successes(void **state)
{
	struct srv s;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_ACCEPT_CLOSE, NULL);
	fix_init(&f, SL_HEALTH_TCP, s.port);
	atomic_store_explicit(&f.up, 0, memory_order_relaxed); /* relaxed: before create */
	fix_start(&f);

	assert_true(wait_up_is(&f.up, 1));
	assert_true(wait_rec(&f.rec, 1, 0));

	pthread_mutex_lock(&f.rec.mu);
	assert_int_equal(f.cfg.rise, f.rec.up_count);
	pthread_mutex_unlock(&f.rec.mu);
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_send_expect_passes_with_matching_reply(void **state)
{
	struct srv s;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_REPLY, "+PONG\r\n");
	fix_init(&f, SL_HEALTH_SEND_EXPECT, s.port);
	fix_set_probe(&f, "PING\r\n", "+PONG");
	fix_start(&f);

	assert_true(wait_checks(f.h, 2 * f.cfg.fall + 2));

	assert_int_equal(0, stats_of(f.h).failures);
	assert_true(up_is(&f.up, 1));
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_send_expect_fails_with_wrong_reply(void **state)
{
	struct srv s;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_REPLY, "-ERR\r\n");
	fix_init(&f, SL_HEALTH_SEND_EXPECT, s.port);
	fix_set_probe(&f, "PING\r\n", "+PONG");
	fix_start(&f);

	assert_true(wait_up_is(&f.up, 0));
	assert_true(wait_rec(&f.rec, 0, 1));

	pthread_mutex_lock(&f.rec.mu);
	assert_int_equal(f.cfg.fall, f.rec.down_count);
	assert_non_null(strstr(f.rec.reason, "unexpected reply"));
	pthread_mutex_unlock(&f.rec.mu);
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_send_expect_fails_by_timeout_when_backend_never_answers(void **state)
{
	struct srv s;
	struct fix f;

	(void)state;
	srv_start(&s, 0, SRV_SILENT, NULL);
	fix_init(&f, SL_HEALTH_SEND_EXPECT, s.port);
	fix_set_probe(&f, "PING\r\n", "+PONG");
	f.cfg.timeout_ms = 30;
	f.cfg.fall = 2;
	fix_start(&f);

	assert_true(wait_up_is(&f.up, 0));
	assert_true(wait_rec(&f.rec, 0, 1));

	pthread_mutex_lock(&f.rec.mu);
	assert_non_null(strstr(f.rec.reason, "timeout"));
	assert_non_null(strstr(f.rec.reason, "reply"));
	pthread_mutex_unlock(&f.rec.mu);
	fix_fini(&f);
	srv_stop(&s);
	srv_free(&s);
}

static void
health_stop_joins_and_closes_sockets_with_checks_in_flight(void **state)
{
	uint64_t deadline = sl_test_mono_ms() + WAIT_LIMIT_MS;
	struct timeval tv = {5, 0};
	struct srv s;
	struct fix f;
	char b;

	(void)state;
	srv_start(&s, 0, SRV_SILENT, NULL);
	fix_init(&f, SL_HEALTH_SEND_EXPECT, s.port);
	fix_set_probe(&f, "PING\r\n", "+PONG");
	f.cfg.timeout_ms = 60000; /* the first check stays in flight until stop */
	fix_start(&f);
	while (srv_accepted(&s) < 1 && sl_test_mono_ms() < deadline)
		sl_test_pause_1ms();
	assert_int_equal(1, srv_accepted(&s));

	sl_health_stop(f.h);
	srv_stop(&s);

	/* the checker's socket is closed: the server reads the probe, then EOF */
	assert_int_equal(1, s.nheld);
	setsockopt(s.held[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (recv(s.held[0], &b, 1, 0) == 1)
		;
	assert_int_equal(0, recv(s.held[0], &b, 1, 0));
	assert_int_equal(0, stats_of(f.h).checks);
	assert_true(up_is(&f.up, 1));
	fix_fini(&f);
	srv_free(&s);
}

static void
health_none_kind_leaves_backend_up_and_unchecked(void **state)
{
	unsigned port = sl_test_closed_port();
	struct sl_health_target t[2];
	struct sl_health *h = NULL;
	struct fix none, tcp;

	(void)state;
	fix_init(&none, SL_HEALTH_NONE, port);
	fix_init(&tcp, SL_HEALTH_TCP, port);
	tcp.cfg.fall = 1;
	t[0] = none.t;
	t[1] = tcp.t;
	assert_int_equal(0, sl_health_create(&h, t, 2, NULL));
	assert_int_equal(0, sl_health_start(h));

	assert_true(wait_up_is(&tcp.up, 0));
	assert_true(wait_checks(h, 5));

	assert_true(up_is(&none.up, 1));
	assert_int_equal(1, stats_of(h).transitions_down);
	sl_health_destroy(h);
	pthread_mutex_destroy(&none.rec.mu);
	pthread_mutex_destroy(&tcp.rec.mu);
}

static void
health_set_config_keeps_the_state_and_checks_anew(void **state)
{
	struct sl_config_health slow, fast, none;
	struct fix f;
	uint64_t seen;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, sl_test_closed_port());
	f.cfg.interval_ms = 3600000; /* the first check comes within the hour */
	f.cfg.fall = 1000;
	fix_start(&f);
	assert_true(up_is(&f.up, 1));

	/* a short interval and fall 2: down soon, from the new runs */
	fast = f.cfg;
	fast.interval_ms = 10;
	fast.fall = 2;
	assert_int_equal(0, sl_health_set_config(f.h, 0, &fast, 0));
	assert_true(wait_up_is(&f.up, 0));
	assert_true(wait_rec(&f.rec, 0, 1));
	pthread_mutex_lock(&f.rec.mu);
	assert_int_equal(2, f.rec.down_count);
	pthread_mutex_unlock(&f.rec.mu);

	/* a long interval again: the state stays down, and (the first check being up to an hour
	 * away) no check completes for a while */
	slow = f.cfg;
	assert_int_equal(0, sl_health_set_config(f.h, 0, &slow, 0));
	sl_test_pause_1ms();
	seen = stats_of(f.h).checks;
	for (unsigned i = 0; i < 50; i++)
		sl_test_pause_1ms();
	assert_true(stats_of(f.h).checks <= seen + 1);
	assert_true(up_is(&f.up, 0));

	/* no checks: up at once, as a backend without checks is */
	none = f.cfg;
	none.kind = SL_HEALTH_NONE;
	assert_int_equal(0, sl_health_set_config(f.h, 0, &none, 0));
	assert_true(wait_up_is(&f.up, 1));
	assert_true(wait_rec(&f.rec, 1, 1));

	/* a bad one is refused */
	fast.rise = 0;
	assert_int_equal(-EINVAL, sl_health_set_config(f.h, 0, &fast, 0));
	assert_int_equal(-EINVAL, sl_health_set_config(f.h, 1, &slow, 0));
	fix_fini(&f);
}

static void
health_is_reading_lets_go_of_a_config_once_the_checker_took_the_next(void **state)
{
	struct sl_config_health next, later;
	struct fix f;
	unsigned i;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, sl_test_closed_port());
	fix_start(&f);
	assert_true(sl_health_is_reading(f.h, 0, &f.cfg));
	next = f.cfg;
	later = f.cfg;
	assert_false(sl_health_is_reading(f.h, 0, &next));

	/* set: read until the checker takes it, then the earlier one no more */
	assert_int_equal(0, sl_health_set_config(f.h, 0, &next, 0));
	assert_true(sl_health_is_reading(f.h, 0, &next));
	for (i = 0; i < 5000 && sl_health_is_reading(f.h, 0, &f.cfg); i++)
		sl_test_pause_1ms();
	assert_false(sl_health_is_reading(f.h, 0, &f.cfg));
	assert_true(sl_health_is_reading(f.h, 0, &next));

	/* stopped: a change is taken at once */
	sl_health_stop(f.h);
	assert_int_equal(0, sl_health_set_config(f.h, 0, &later, 0));
	assert_false(sl_health_is_reading(f.h, 0, &next));
	assert_true(sl_health_is_reading(f.h, 0, &later));
	assert_false(sl_health_is_reading(f.h, 1, &later)); /* no such target */
	fix_fini(&f);
}

static void
health_create_rejects_zero_fall(void **state)
{
	struct sl_health *h = NULL;
	struct fix f;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, 9);
	f.cfg.fall = 0;

	assert_int_equal(-EINVAL, sl_health_create(&h, &f.t, 1, NULL));
	assert_null(h);
	pthread_mutex_destroy(&f.rec.mu);
}

static void
health_start_twice_is_refused(void **state)
{
	struct fix f;

	(void)state;
	fix_init(&f, SL_HEALTH_TCP, sl_test_closed_port());
	fix_start(&f);

	assert_int_equal(-EALREADY, sl_health_start(f.h));
	fix_fini(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(health_listening_backend_stays_up),
	        cmocka_unit_test(health_closed_port_goes_down_after_fall_failures),
	        cmocka_unit_test(health_backend_that_comes_back_goes_up_after_rise_successes),
	        cmocka_unit_test(health_initially_down_backend_goes_up_after_rise_successes),
	        cmocka_unit_test(health_send_expect_passes_with_matching_reply),
	        cmocka_unit_test(health_send_expect_fails_with_wrong_reply),
	        cmocka_unit_test(health_send_expect_fails_by_timeout_when_backend_never_answers),
	        cmocka_unit_test(health_stop_joins_and_closes_sockets_with_checks_in_flight),
	        cmocka_unit_test(health_none_kind_leaves_backend_up_and_unchecked),
	        cmocka_unit_test(health_set_config_keeps_the_state_and_checks_anew),
	        cmocka_unit_test(
	                health_is_reading_lets_go_of_a_config_once_the_checker_took_the_next),
	        cmocka_unit_test(health_create_rejects_zero_fall),
	        cmocka_unit_test(health_start_twice_is_refused),
	        cmocka_unit_test(health_paused_target_is_checked_only_once_given_an_address),
	        cmocka_unit_test(health_reset_target_starts_up_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
