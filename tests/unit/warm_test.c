/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_warm (include/sluice/warm.h) with real sockets on 127.0.0.1. The pool
 * and a test server (listener + accepted connections) share one sl_loop, driven from the test
 * thread until a condition holds or a bound on the loop clock passes. No wall-clock asserts.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/loop.h>
#include <sluice/warm.h>

#include "sl_test_net.h"

#define DRIVE_LIMIT_MS 10000
#define SRV_CONNS 64

/* ---- a test server on the loop ---- */

struct conn {
	struct sl_io io;
	struct tsrv *s;
	int fd;        /* -1 once closed */
	unsigned peer; /* the client's port */
	char rx[64];   /* first bytes received */
	size_t nrx;
	bool eof;
};

struct tsrv {
	struct sl_loop *loop;
	struct sl_io io;
	int lfd;
	unsigned port;
	struct conn c[SRV_CONNS];
	unsigned accepted;
	unsigned eofs;
};

static void
conn_close(struct conn *c)
{
	if (c->fd == -1)
		return;
	sl_loop_io_del(c->s->loop, &c->io);
	close(c->fd);
	c->fd = -1;
}

static void
conn_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct conn *c = io->data;
	char buf[256];
	ssize_t r;

	(void)l;
	(void)events;
	while ((r = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		size_t room = sizeof(c->rx) - c->nrx, k = (size_t)r < room ? (size_t)r : room;

		memcpy(c->rx + c->nrx, buf, k);
		c->nrx += k;
	}
	if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		c->eof = true;
		c->s->eofs++;
		conn_close(c);
	}
}

static void
srv_accept(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct tsrv *s = io->data;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	(void)events;
	while ((fd = accept4(s->lfd, (struct sockaddr *)&sin, &len,
	                     SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		struct conn *c;

		len = sizeof(sin);
		if (s->accepted >= SRV_CONNS) {
			close(fd);
			continue;
		}
		c = &s->c[s->accepted++];
		c->s = s;
		c->fd = fd;
		c->peer = ntohs(sin.sin_port);
		sl_io_init(&c->io, fd, conn_io, c);
		assert_int_equal(0, sl_loop_io_add(l, &c->io, SL_IO_READ));
	}
}

static void
srv_open(struct tsrv *s, struct sl_loop *l)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->loop = l;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(0, bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)));
	assert_int_equal(0, listen(s->lfd, 128));
	assert_int_equal(0, getsockname(s->lfd, (struct sockaddr *)&sin, &len));
	s->port = ntohs(sin.sin_port);
	sl_io_init(&s->io, s->lfd, srv_accept, s);
	assert_int_equal(0, sl_loop_io_add(l, &s->io, SL_IO_READ));
}

static void
srv_close(struct tsrv *s)
{
	for (unsigned i = 0; i < s->accepted; i++)
		conn_close(&s->c[i]);
	sl_loop_io_del(s->loop, &s->io);
	close(s->lfd);
}

static struct sl_addr
addr_of(unsigned port)
{
	struct sl_addr a;
	char text[32];

	snprintf(text, sizeof(text), "127.0.0.1:%u", port);
	assert_int_equal(0, sl_addr_parse(&a, text, false, NULL));
	return a;
}

/* ---- driving the loop ---- */

struct drive {
	struct sl_timer tick;
	bool (*pred)(void *arg);
	void *arg;
	uint64_t until_ms;
	bool met;
};

static void
drive_tick(struct sl_loop *l, struct sl_timer *t)
{
	struct drive *d = t->data;

	if (d->pred != NULL && d->pred(d->arg)) {
		d->met = true;
		sl_loop_stop(l);
		return;
	}
	if (sl_loop_now_ms(l) >= d->until_ms) {
		sl_loop_stop(l);
		return;
	}
	sl_loop_timer_add(l, t, 1);
}

/* Runs <l> until pred(arg) holds (checked every ms) or <limit_ms> of loop time pass. */
static bool
drive(struct sl_loop *l, bool (*pred)(void *arg), void *arg, uint64_t limit_ms)
{
	struct drive d = {.pred = pred, .arg = arg};

	sl_timer_init(&d.tick, drive_tick, &d);
	sl_loop_timer_add(l, &d.tick, 0);
	d.until_ms = sl_loop_now_ms(l) + limit_ms;
	assert_int_equal(0, sl_loop_run(l));
	sl_loop_timer_cancel(l, &d.tick);
	return d.met;
}

/* ---- fixture ---- */

struct fix {
	struct sl_loop *loop;
	struct tsrv srv;
	struct sl_warm *w;
	struct sl_config_warm_pool cfg;
	size_t want_ready;    /* for the predicates below */
	unsigned want_accept; /* idem */
};

static void
fix_open(struct fix *f, uint32_t size, uint32_t idle_ms)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(0, sl_loop_create(&f->loop, NULL));
	srv_open(&f->srv, f->loop);
	f->cfg.size = size;
	f->cfg.idle_ms = idle_ms;
}

static void
fix_pool(struct fix *f, unsigned port)
{
	struct sl_addr a = addr_of(port);

	assert_int_equal(0, sl_warm_create(&f->w, f->loop, &a, 1, &f->cfg));
}

static void
fix_close(struct fix *f)
{
	sl_warm_destroy(f->w);
	srv_close(&f->srv);
	sl_loop_destroy(f->loop);
}

static struct sl_warm_stats
stats_of(struct sl_warm *w)
{
	struct sl_warm_stats st;

	sl_warm_stats(w, &st);
	return st;
}

static bool
filled(void *arg)
{
	struct fix *f = arg;

	return sl_warm_ready(f->w, 0) == f->want_ready && f->srv.accepted >= f->want_accept;
}

/* Drives until backend 0 has <ready> idle connections and the server accepted <accepted>. */
static bool
wait_filled(struct fix *f, size_t ready, unsigned accepted)
{
	f->want_ready = ready;
	f->want_accept = accepted;
	return drive(f->loop, filled, f, DRIVE_LIMIT_MS);
}

static unsigned
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* The fd in this process whose local address is 127.0.0.1:<port>, or -1. */
static int
fd_with_local_port(unsigned port)
{
	for (int fd = 3; fd < 4096; fd++) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);

		if (getsockname(fd, (struct sockaddr *)&sin, &len) == 0 &&
		    sin.sin_family == AF_INET && ntohs(sin.sin_port) == port)
			return fd;
	}
	return -1;
}

/* ---- tests ---- */

struct two {
	struct fix *f;
	struct tsrv *other;
};

static bool
both_filled(void *arg)
{
	struct two *t = arg;

	return sl_warm_ready(t->f->w, 0) == 3 && sl_warm_ready(t->f->w, 1) == 3 &&
	       t->f->srv.accepted == 3 && t->other->accepted == 3;
}

static void
warm_fills_to_size_for_each_backend(void **state)
{
	struct sl_addr a[2];
	struct tsrv other;
	struct fix f;
	struct two t = {&f, &other};

	(void)state;
	fix_open(&f, 3, 0);
	srv_open(&other, f.loop);
	a[0] = addr_of(f.srv.port);
	a[1] = addr_of(other.port);
	assert_int_equal(0, sl_warm_create(&f.w, f.loop, a, 2, &f.cfg));

	assert_true(drive(f.loop, both_filled, &t, DRIVE_LIMIT_MS));

	assert_int_equal(6, stats_of(f.w).connects);
	assert_int_equal(0, stats_of(f.w).connect_failures);
	sl_warm_destroy(f.w);
	f.w = NULL;
	srv_close(&other);
	fix_close(&f);
}

static void
warm_resize_keeps_idle_connections_up_to_the_new_size_and_refills(void **state)
{
	struct sl_config_warm_pool c;
	struct sl_warm_room *r;
	unsigned fds;
	struct fix f;

	(void)state;
	fix_open(&f, 2, 0);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 2, 2));

	/* up: the two stay, three more are connected */
	c = (struct sl_config_warm_pool){.size = 5, .idle_ms = 0};
	r = sl_warm_room_new(1, 6);
	assert_int_equal(-EINVAL, sl_warm_resize(f.w, r, &c)); /* another shape */
	sl_warm_room_free(r);
	r = sl_warm_room_new(1, 5);
	assert_non_null(r);
	assert_int_equal(0, sl_warm_resize(f.w, r, &c));
	sl_warm_room_free(r);
	assert_int_equal(2, sl_warm_ready(f.w, 0));
	assert_true(wait_filled(&f, 5, 5));
	assert_int_equal(5, stats_of(f.w).connects);

	/* down: three are closed at once, none is made */
	fds = open_fds();
	c.size = 2;
	r = sl_warm_room_new(1, 2);
	assert_int_equal(0, sl_warm_resize(f.w, r, &c));
	sl_warm_room_free(r);
	assert_int_equal(2, sl_warm_ready(f.w, 0));
	assert_int_equal(fds - 3, open_fds());

	/* off: every one closed, a take misses without counting, and back on */
	c.size = 0;
	r = sl_warm_room_new(1, 0);
	assert_int_equal(0, sl_warm_resize(f.w, r, &c));
	sl_warm_room_free(r);
	assert_int_equal(0, sl_warm_ready(f.w, 0));
	assert_int_equal(fds - 5, open_fds());
	assert_int_equal(-EAGAIN, sl_warm_take(f.w, 0));
	assert_int_equal(0, stats_of(f.w).misses);
	c.size = 1;
	r = sl_warm_room_new(1, 1);
	assert_int_equal(0, sl_warm_resize(f.w, r, &c));
	sl_warm_room_free(r);
	assert_true(wait_filled(&f, 1, 6));
	assert_int_equal(6, stats_of(f.w).connects);
	fix_close(&f);
}

/* The server side of the client socket <fd>, or NULL. */
static struct conn *
peer_of(struct tsrv *s, int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(0, getsockname(fd, (struct sockaddr *)&sin, &len));
	for (unsigned i = 0; i < s->accepted; i++)
		if (s->c[i].peer == ntohs(sin.sin_port))
			return &s->c[i];
	return NULL;
}

static bool
got_five(void *arg)
{
	return ((struct conn *)arg)->nrx >= 5;
}

static void
warm_take_returns_connected_fd_and_pool_refills(void **state)
{
	struct conn *c;
	struct fix f;
	int fd;

	(void)state;
	fix_open(&f, 2, 0);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 2, 2));

	fd = sl_warm_take(f.w, 0);

	assert_true(fd >= 0);
	assert_int_equal(5, send(fd, "hello", 5, MSG_NOSIGNAL));
	c = peer_of(&f.srv, fd);
	assert_non_null(c);
	assert_true(drive(f.loop, got_five, c, DRIVE_LIMIT_MS));
	assert_memory_equal("hello", c->rx, 5);
	assert_true(wait_filled(&f, 2, 3));
	assert_int_equal(1, stats_of(f.w).hits);
	close(fd);
	fix_close(&f);
}

static void
warm_take_on_empty_pool_is_a_counted_miss(void **state)
{
	struct fix f;

	(void)state;
	fix_open(&f, 2, 0);
	fix_pool(&f, f.srv.port);

	assert_int_equal(-EAGAIN, sl_warm_take(f.w, 0));

	assert_int_equal(1, stats_of(f.w).misses);
	assert_int_equal(0, stats_of(f.w).hits);
	fix_close(&f);
}

static bool
expired_and_replaced(void *arg)
{
	struct fix *f = arg;

	return stats_of(f->w).expired >= 2 && f->srv.eofs >= 2 && sl_warm_ready(f->w, 0) == 2;
}

static void
warm_idle_connections_expire_and_are_replaced(void **state)
{
	struct fix f;

	(void)state;
	fix_open(&f, 2, 30);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 2, 2));

	assert_true(drive(f.loop, expired_and_replaced, &f, DRIVE_LIMIT_MS));

	assert_true(f.srv.accepted >= 4);
	assert_int_equal(0, stats_of(f.w).dead);
	fix_close(&f);
}

static bool
one_dead(void *arg)
{
	return stats_of(((struct fix *)arg)->w).dead == 1;
}

static void
warm_detects_idle_connection_closed_by_server(void **state)
{
	struct fix f;

	(void)state;
	fix_open(&f, 1, 0);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 1, 1));

	conn_close(&f.srv.c[0]);

	assert_true(drive(f.loop, one_dead, &f, DRIVE_LIMIT_MS));
	assert_int_equal(0, sl_warm_ready(f.w, 0));
	/* and it is replaced once the backoff has passed */
	assert_true(wait_filled(&f, 1, 2));
	fix_close(&f);
}

static void
warm_take_skips_connection_closed_before_loop_noticed(void **state)
{
	struct pollfd p;
	struct fix f;

	(void)state;
	fix_open(&f, 1, 0);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 1, 1));
	p.fd = fd_with_local_port(f.srv.c[0].peer);
	p.events = POLLIN | POLLRDHUP;
	assert_true(p.fd >= 0);
	conn_close(&f.srv.c[0]);
	/* wait (bounded) until the FIN reached the pool's socket; the loop does not run */
	assert_int_equal(1, poll(&p, 1, DRIVE_LIMIT_MS));

	assert_int_equal(-EAGAIN, sl_warm_take(f.w, 0));

	assert_int_equal(1, stats_of(f.w).dead);
	assert_int_equal(1, stats_of(f.w).misses);
	fix_close(&f);
}

static void
warm_refused_backend_counts_failures_and_backs_off(void **state)
{
	struct sl_warm_stats st;
	struct fix f;

	(void)state;
	fix_open(&f, 4, 0);
	fix_pool(&f, sl_test_closed_port());

	/* 1000 ms of loop time: retries at most at +100, +300, +700 (100 ms doubling) */
	drive(f.loop, NULL, NULL, 1000);

	st = stats_of(f.w);
	assert_int_equal(st.connects, st.connect_failures);
	assert_true(st.connects >= 2);
	assert_true(st.connects <= f.cfg.size + 3);
	assert_int_equal(0, sl_warm_ready(f.w, 0));
	fix_close(&f);
}

static bool
all_eof(void *arg)
{
	struct fix *f = arg;

	return f->srv.eofs == f->srv.accepted;
}

static void
warm_disabled_backend_closes_idle_connections_and_misses(void **state)
{
	struct fix f;

	(void)state;
	fix_open(&f, 2, 0);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 2, 2));

	sl_warm_set_enabled(f.w, 0, false);

	assert_int_equal(0, sl_warm_ready(f.w, 0));
	assert_int_equal(-EAGAIN, sl_warm_take(f.w, 0));
	assert_true(drive(f.loop, all_eof, &f, DRIVE_LIMIT_MS));
	assert_int_equal(2, f.srv.accepted);
	sl_warm_set_enabled(f.w, 0, true);
	assert_true(wait_filled(&f, 2, 4));
	fix_close(&f);
}

static bool
never(void *arg)
{
	(void)arg;
	return false;
}

static void
warm_created_disabled_connects_nothing_until_enabled(void **state)
{
	struct sl_addr a;
	struct fix f;

	(void)state;
	fix_open(&f, 2, 0);
	a = addr_of(f.srv.port);
	assert_int_equal(0, sl_warm_create_disabled(&f.w, f.loop, &a, 1, &f.cfg));
	/* the loop runs a while: no refill was queued (an absence, so a bounded run) */
	assert_false(drive(f.loop, never, NULL, 200));
	assert_int_equal(0, f.srv.accepted);
	assert_int_equal(0, sl_warm_ready(f.w, 0));
	assert_int_equal(-EAGAIN, sl_warm_take(f.w, 0));
	sl_warm_set_enabled(f.w, 0, true);
	assert_true(wait_filled(&f, 2, 2));
	fix_close(&f);
}

struct moved {
	struct fix *f;
	struct tsrv *other;
};

static bool
moved_over(void *arg)
{
	struct moved *m = arg;

	/* the first server saw its connections close, the other one holds the pool's */
	return m->f->srv.eofs == m->f->srv.accepted && m->other->accepted == 2 &&
	       sl_warm_ready(m->f->w, 0) == 2;
}

static void
warm_new_address_closes_the_old_connections_and_fills_anew(void **state)
{
	struct tsrv other;
	struct sl_addr a;
	struct fix f;
	struct moved m = {&f, &other};

	(void)state;
	fix_open(&f, 2, 0);
	srv_open(&other, f.loop);
	fix_pool(&f, f.srv.port);
	assert_true(wait_filled(&f, 2, 2));

	a = addr_of(other.port);
	sl_warm_set_addr(f.w, 0, &a);
	assert_int_equal(0, sl_warm_ready(f.w, 0));
	assert_true(drive(f.loop, moved_over, &m, DRIVE_LIMIT_MS));
	assert_int_equal(2, f.srv.accepted);
	/* the same address again: nothing happens */
	sl_warm_set_addr(f.w, 0, &a);
	assert_int_equal(2, sl_warm_ready(f.w, 0));
	sl_warm_destroy(f.w);
	f.w = NULL;
	srv_close(&other);
	fix_close(&f);
}

static void
warm_destroy_closes_every_fd(void **state)
{
	struct sl_addr a[2];
	unsigned before;
	struct fix f;

	(void)state;
	fix_open(&f, 3, 0);
	a[0] = addr_of(f.srv.port);
	a[1] = addr_of(sl_test_closed_port());
	before = open_fds();
	assert_int_equal(0, sl_warm_create(&f.w, f.loop, a, 2, &f.cfg));
	assert_true(wait_filled(&f, 3, 3));

	sl_warm_destroy(f.w);
	f.w = NULL;

	assert_int_equal(before + f.srv.accepted, open_fds());
	srv_close(&f.srv);
	sl_loop_destroy(f.loop);
}

static void
warm_create_rejects_size_zero(void **state)
{
	struct sl_warm *w = NULL;
	struct sl_addr a;
	struct fix f;

	(void)state;
	fix_open(&f, 0, 0);
	a = addr_of(f.srv.port);

	assert_int_equal(-EINVAL, sl_warm_create(&w, f.loop, &a, 1, &f.cfg));
	assert_null(w);
	fix_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(warm_fills_to_size_for_each_backend),
	        cmocka_unit_test(warm_take_returns_connected_fd_and_pool_refills),
	        cmocka_unit_test(warm_take_on_empty_pool_is_a_counted_miss),
	        cmocka_unit_test(warm_resize_keeps_idle_connections_up_to_the_new_size_and_refills),
	        cmocka_unit_test(warm_idle_connections_expire_and_are_replaced),
	        cmocka_unit_test(warm_detects_idle_connection_closed_by_server),
	        cmocka_unit_test(warm_take_skips_connection_closed_before_loop_noticed),
	        cmocka_unit_test(warm_refused_backend_counts_failures_and_backs_off),
	        cmocka_unit_test(warm_disabled_backend_closes_idle_connections_and_misses),
	        cmocka_unit_test(warm_created_disabled_connects_nothing_until_enabled),
	        cmocka_unit_test(warm_new_address_closes_the_old_connections_and_fills_anew),
	        cmocka_unit_test(warm_destroy_closes_every_fd),
	        cmocka_unit_test(warm_create_rejects_size_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
