// SPDX-License-Identifier: MIT
/*
 * Behaviour of the forwarders (src/net/fwd*.c), every test run against each variant over
 * loopback TCP: test client <-> [pc  forwarder  ps] <-> test server, driven by an edge-triggered
 * epoll set the way the session drives it (the uring variant: by an io_uring sl_loop, with ios
 * for the four sockets, as the session drives it there; the sockmap variant: by an epoll
 * sl_loop the same way, its wait timer needing one, with the kernel's maps loaded once for the
 * whole run).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/fwd.h>
#include <sluice/loop.h>
#include <sluice/pool.h>
#include <sluice/sock.h>
#include <sluice/worker.h>

#include "proxy/sockmap.h"
#include "sl_test_net.h"

#define PIPE_SIZE 65536u
#define BUF_SIZE 16384u
#define MAX_STEPS 20000

struct rig {
	int tc, pc, ps, ts; /* test client, proxy client side, proxy server side, test server */
	int ep;
	struct sl_pipe_cache *pipes;
	struct sl_pool *pool;
	struct sl_fwd_env env;
	struct sl_fwd f;
	int status; /* last sl_fwd_on_events() result */
	/* uring: the loop that runs the ops; ios for pc, ps, tc, ts */
	struct sl_loop *loop;
	struct sl_io io[4];
	struct sl_timer stop;
	struct sl_defer stop_now;
	int events; /* io callbacks in the current step */
};

static bool
is_uring(const void *ops)
{
	return ops == &sl_fwd_uring_ops;
}

static bool
is_sockmap(const void *ops)
{
	return ops == &sl_fwd_sockmap_ops;
}

/* sockmap: the kernel's maps and the slots of the one "worker" the tests are */
static struct sl_sockmap *sockmap_kernel;
static struct sl_fwd_sockmap sockmap_share;

/* uring rig: pc and ps feed the forwarder (as a session does), tc and ts only end a step. */
static void
rig_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct rig *r = io->data;
	unsigned side = io == &r->io[0] ? SL_FWD_CLIENT : SL_FWD_SERVER;

	r->events++;
	sl_loop_stop(l);
	if (io != &r->io[0] && io != &r->io[1])
		return;
	r->status = sl_fwd_on_events(&r->f, side, events);
	if ((r->status == SL_FWD_DONE || r->status < 0) && r->pc >= 0) {
		sl_loop_io_forget(l, &r->io[0]);
		sl_loop_io_forget(l, &r->io[1]);
	}
	if (r->status == SL_FWD_DONE && r->pc >= 0) {
		close(r->pc);
		close(r->ps);
		r->pc = r->ps = -1;
	}
}

static void
rig_stop_timer(struct sl_loop *l, struct sl_timer *t)
{
	(void)t;
	sl_loop_stop(l);
}

static void
rig_stop_defer(struct sl_loop *l, struct sl_defer *d)
{
	(void)d;
	sl_loop_stop(l);
}

/*
 * Buffers of the rigs' loops' provided-buffer group (sl_loop_opts.bufs): 0, the default, runs
 * uring's multishot recvs; the "uring_single_shot" group sets -1 (no group), which runs the
 * same tests on the single-shot recvs uring falls back to.
 */
static int rig_bufs;

static void
rig_open_loop(struct rig *r, const struct sl_fwd_ops *ops)
{
	struct sl_loop_opts lo = {.runtime = is_uring(ops) ? SL_LOOP_IO_URING : SL_LOOP_EPOLL,
	                          .bufs = rig_bufs};
	int fds[4] = {r->pc, r->ps, r->tc, r->ts};

	assert_int_equal(0, sl_loop_create(&r->loop, &lo));
	sl_timer_init(&r->stop, rig_stop_timer, r);
	sl_defer_init(&r->stop_now, rig_stop_defer, r);
	for (int i = 0; i < 4; i++) {
		sl_io_init(&r->io[i], fds[i], rig_io, r);
		assert_int_equal(0, sl_loop_io_add(r->loop, &r->io[i], SL_IO_READ | SL_IO_WRITE));
	}
	sl_fwd_set_owner(&r->f, r->loop, &r->io[0]);
}

/* The rig up to the forwarder's start: what a test does with the sockets first, then rig_start().
 */
static void
rig_make(struct rig *r, const struct sl_fwd_ops *ops)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};

	if (is_sockmap(ops) && sockmap_kernel == NULL)
		skip(); /* said why once, in sockmap_setup() */
	memset(r, 0, sizeof(*r));
	assert_int_equal(0, sl_test_tcp_pair(&r->tc, &r->pc));
	assert_int_equal(0, sl_test_tcp_pair(&r->ps, &r->ts));
	assert_int_equal(0, sl_pipe_cache_create(&r->pipes, 8, 2, PIPE_SIZE));
	assert_int_equal(0, sl_pool_create(&r->pool, &po));
	r->env =
	        (struct sl_fwd_env){.pipes = r->pipes, .buffers = r->pool, .buffer_size = BUF_SIZE};
	if (is_sockmap(ops))
		r->env.sockmap = &sockmap_share;
	sl_fwd_init(&r->f, ops, &r->env, r->pc, r->ps);
	if (is_uring(ops) || is_sockmap(ops))
		rig_open_loop(r, ops);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(r->ep >= 0);
	ev.data.u32 = SL_FWD_CLIENT;
	assert_int_equal(0, epoll_ctl(r->ep, EPOLL_CTL_ADD, r->pc, &ev));
	ev.data.u32 = SL_FWD_SERVER;
	assert_int_equal(0, epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ps, &ev));
}

static void
rig_start(struct rig *r)
{
	r->status = sl_fwd_start(&r->f);
	assert_true(r->status >= 0);
}

static void
rig_open(struct rig *r, const struct sl_fwd_ops *ops)
{
	rig_make(r, ops);
	rig_start(r);
}

static int rig_step(struct rig *r, int timeout_ms);

static size_t
rig_buffers_live(const struct rig *r)
{
	struct sl_pool_stats st;

	sl_pool_stats(r->pool, &st);
	return st.blocks_live;
}

static void
rig_close(struct rig *r)
{
	if (r->loop != NULL && r->pc >= 0) {
		sl_loop_io_forget(r->loop, &r->io[0]);
		sl_loop_io_forget(r->loop, &r->io[1]);
	}
	sl_fwd_fini(&r->f);
	if (r->loop != NULL) {
		/* the cancelled ops' completions give their blocks back */
		for (int i = 0; i < 100 && r->env.orphans != 0; i++)
			rig_step(r, 100);
		assert_int_equal(0, r->env.orphans);
		assert_int_equal(0, rig_buffers_live(r));
		sl_loop_io_del(r->loop, &r->io[2]);
		sl_loop_io_del(r->loop, &r->io[3]);
		sl_loop_destroy(r->loop);
	}
	close(r->ep);
	if (r->pc >= 0)
		close(r->pc);
	if (r->ps >= 0)
		close(r->ps);
	close(r->tc);
	close(r->ts);
	sl_pipe_cache_destroy(r->pipes);
	sl_pool_destroy(r->pool);
}

/* One epoll_wait of up to <timeout_ms>; feeds the forwarder. Returns the number of events. */
static int
rig_step(struct rig *r, int timeout_ms)
{
	struct epoll_event evs[4];

	if (r->loop != NULL) {
		/* one run of the loop up to the first io callback, or <timeout_ms> */
		r->events = 0;
		if (timeout_ms == 0)
			sl_loop_defer(r->loop, &r->stop_now);
		else
			sl_loop_timer_add(r->loop, &r->stop, (uint64_t)timeout_ms);
		assert_int_equal(0, sl_loop_run(r->loop));
		sl_loop_timer_cancel(r->loop, &r->stop);
		sl_loop_defer_cancel(r->loop, &r->stop_now);
		return r->events;
	}
	int n = epoll_wait(r->ep, evs, 4, timeout_ms);

	for (int i = 0; i < n; i++) {
		unsigned e = 0;

		if (evs[i].events & EPOLLIN)
			e |= SL_IO_READ;
		if (evs[i].events & EPOLLOUT)
			e |= SL_IO_WRITE;
		if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			e |= SL_IO_HUP | SL_IO_READ;
		r->status = sl_fwd_on_events(&r->f, evs[i].data.u32, e);
		if (r->status == SL_FWD_DONE && r->pc >= 0) {
			/* as a session does: close both, which sends the last FIN */
			close(r->pc);
			close(r->ps);
			r->pc = r->ps = -1;
			break;
		}
	}
	return n < 0 ? 0 : n;
}

/* Reads <n> bytes (or to EOF) from test end <fd>, running the forwarder meanwhile. */
static ssize_t
rig_read(struct rig *r, int fd, void *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < MAX_STEPS && got < n; i++) {
		ssize_t k = recv(fd, (char *)buf + got, n - got, 0);

		if (k == 0)
			break;
		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (errno != EAGAIN)
			return -errno;
		rig_step(r, 100);
	}
	return (ssize_t)got;
}

/* true once test end <fd> reads EOF (or an error, stored in <*err>). */
static bool
rig_wait_eof(struct rig *r, int fd, int *err)
{
	char c;

	*err = 0;
	for (int i = 0; i < MAX_STEPS; i++) {
		ssize_t k = recv(fd, &c, 1, 0);

		if (k == 0)
			return true;
		if (k == -1 && errno != EAGAIN) {
			*err = -errno;
			return true;
		}
		if (k > 0)
			return false;
		rig_step(r, 100);
	}
	return false;
}

static void
fwd_moves_bytes_both_ways_intact(void **state)
{
	const size_t n = 1u << 20;
	char *out_c = malloc(n), *out_s = malloc(n), *in_c = malloc(n), *in_s = malloc(n);
	size_t sent_c = 0, sent_s = 0, got_c = 0, got_s = 0;
	struct rig r;

	rig_open(&r, *state);
	sl_test_fill(out_c, n, 1);
	sl_test_fill(out_s, n, 2);
	for (int i = 0; i < 200000 && (got_c < n || got_s < n); i++) {
		size_t chunk = 1 + (size_t)(i * 7919) % 40000;
		ssize_t k;
		bool moved = false;

		if (sent_c < n &&
		    (k = send(r.tc, out_c + sent_c, chunk < n - sent_c ? chunk : n - sent_c,
		              MSG_NOSIGNAL)) > 0)
			sent_c += (size_t)k, moved = true;
		if (sent_s < n &&
		    (k = send(r.ts, out_s + sent_s, chunk < n - sent_s ? chunk : n - sent_s,
		              MSG_NOSIGNAL)) > 0)
			sent_s += (size_t)k, moved = true;
		if (rig_step(&r, 0) > 0)
			moved = true;
		if ((k = recv(r.ts, in_s + got_s, n - got_s, 0)) > 0)
			got_s += (size_t)k, moved = true;
		if ((k = recv(r.tc, in_c + got_c, n - got_c, 0)) > 0)
			got_c += (size_t)k, moved = true;
		if (!moved)
			rig_step(&r, 100);
	}

	assert_int_equal(n, got_s);
	assert_int_equal(n, got_c);
	assert_int_equal(sl_test_fnv(SL_TEST_FNV_INIT, out_c, n),
	                 sl_test_fnv(SL_TEST_FNV_INIT, in_s, n));
	assert_int_equal(sl_test_fnv(SL_TEST_FNV_INIT, out_s, n),
	                 sl_test_fnv(SL_TEST_FNV_INIT, in_c, n));
	/* uring counts a send when the recv linked to it completes: a hold settles that */
	if (is_uring(*state)) {
		sl_fwd_hold(&r.f, true);
		for (int i = 0; i < 100 && sl_fwd_in_flight(&r.f) != 0; i++)
			rig_step(&r, 100);
	}
	assert_int_equal(0, sl_fwd_in_flight(&r.f));
	sl_fwd_sync(&r.f); /* sockmap: the counts are the kernel's */
	assert_int_equal(n, sl_fwd_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(n, sl_fwd_bytes(&r.f, SL_FWD_SERVER));
	assert_int_equal(SL_FWD_RUNNING, r.status);
	rig_close(&r);
	free(out_c);
	free(out_s);
	free(in_c);
	free(in_s);
}

static void
fwd_passes_client_half_close_and_keeps_reverse_flowing(void **state)
{
	char buf[16];
	struct rig r;
	int err;

	rig_open(&r, *state);
	assert_int_equal(0, sl_test_write_all(r.tc, "hello", 5, 1000));
	assert_int_equal(0, shutdown(r.tc, SHUT_WR));

	assert_int_equal(5, rig_read(&r, r.ts, buf, 5));
	assert_true(rig_wait_eof(&r, r.ts, &err));
	assert_int_equal(0, err);
	assert_int_equal(SL_FWD_HALF_DONE, r.status);

	assert_int_equal(0, sl_test_write_all(r.ts, "world!", 6, 1000));
	assert_int_equal(6, rig_read(&r, r.tc, buf, 6));
	assert_memory_equal("world!", buf, 6);
	assert_int_equal(0, shutdown(r.ts, SHUT_WR));
	assert_true(rig_wait_eof(&r, r.tc, &err));
	assert_int_equal(0, err);
	assert_int_equal(SL_FWD_DONE, r.status);
	rig_close(&r);
}

static void
fwd_passes_server_half_close_and_keeps_forward_flowing(void **state)
{
	char buf[16];
	struct rig r;
	int err;

	rig_open(&r, *state);
	assert_int_equal(0, sl_test_write_all(r.ts, "banner", 6, 1000));
	assert_int_equal(0, shutdown(r.ts, SHUT_WR));
	assert_int_equal(6, rig_read(&r, r.tc, buf, 6));
	assert_true(rig_wait_eof(&r, r.tc, &err));
	assert_int_equal(0, err);
	assert_int_equal(SL_FWD_HALF_DONE, r.status);

	assert_int_equal(0, sl_test_write_all(r.tc, "quit", 4, 1000));
	assert_int_equal(4, rig_read(&r, r.ts, buf, 4));
	assert_memory_equal("quit", buf, 4);
	rig_close(&r);
}

static void
fwd_reports_server_reset_so_client_gets_reset(void **state)
{
	char buf[4];
	struct rig r;

	rig_open(&r, *state);
	sl_sock_close_reset(r.ts);
	r.ts = socket(AF_INET, SOCK_STREAM, 0); /* keeps rig_close simple */
	for (int i = 0; i < MAX_STEPS && r.status >= 0; i++)
		rig_step(&r, 100);

	assert_true(r.status < 0);
	assert_int_equal(SL_FWD_SERVER, r.f.err_side);
	/* what the session does with the other side: */
	sl_sock_close_reset(r.pc);
	r.pc = -1;
	/* and then (uring: the recv in flight holds the socket until this cancels it) */
	sl_fwd_fini(&r.f);
	assert_int_equal(-ECONNRESET, sl_test_read_full(r.tc, buf, sizeof(buf), 5000));
	rig_close(&r);
}

/* Caps the kernel's socket buffers (no autotuning) so that stalling is quick and certain. */
static void
small_buffers(struct rig *r)
{
	const int sz = 65536;
	int fds[4] = {r->tc, r->pc, r->ps, r->ts};

	for (int i = 0; i < 4; i++) {
		assert_int_equal(0, setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)));
		assert_int_equal(0, setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)));
	}
}

/* Sends <out> (<n> bytes) at the test client until the chain is stuck; returns bytes sent. */
static size_t
rig_stall(struct rig *r, const char *out, size_t n)
{
	size_t sent = 0;
	int quiet = 0;

	small_buffers(r);
	/* the test server reads nothing: push until the whole chain is stuck */
	for (int i = 0; i < 100000 && quiet < 3 && sent < n; i++) {
		ssize_t k = send(r->tc, out + sent, n - sent, MSG_NOSIGNAL);

		if (k > 0)
			sent += (size_t)k;
		quiet = (k <= 0 && rig_step(r, 0) == 0) ? quiet + 1 : 0;
	}
	return sent;
}

static void
fwd_holds_at_most_its_capacity_when_reader_stalls(void **state)
{
	const size_t n = 8u << 20;
	char *out = malloc(n), *in = malloc(n);
	size_t sent;
	struct rig r;

	rig_open(&r, *state);
	sl_test_fill(out, n, 3);
	sent = rig_stall(&r, out, n);

	assert_true(sent < n);
	assert_true(r.f.d[SL_FWD_CLIENT].pending <= r.f.d[SL_FWD_CLIENT].capacity);
	assert_true(r.f.d[SL_FWD_CLIENT].capacity <=
	            (*state == &sl_fwd_copy_ops ? BUF_SIZE : PIPE_SIZE));
	/* sockmap: the kernel's own queue has no bound; past its lag the process copies */
	if (is_sockmap(*state))
		assert_int_equal(0, r.f.kernel & (1u << SL_FWD_CLIENT));
	/* once the reader reads, everything arrives intact */
	shutdown(r.tc, SHUT_WR);
	assert_int_equal(sent, rig_read(&r, r.ts, in, n));
	assert_int_equal(sl_test_fnv(SL_TEST_FNV_INIT, out, sent),
	                 sl_test_fnv(SL_TEST_FNV_INIT, in, sent));
	rig_close(&r);
	free(out);
	free(in);
}

static void
pipe_cache_closes_pipe_returned_with_data(void **state)
{
	struct sl_pipe_cache *c;
	struct sl_pipe_cache_stats st;
	int fds[2];

	(void)state;
	assert_int_equal(0, sl_pipe_cache_create(&c, 4, 1, 0));
	assert_int_equal(0, sl_pipe_cache_get(c, fds));
	assert_int_equal(1, write(fds[1], "x", 1));
	sl_pipe_cache_put(c, fds, false);
	sl_pipe_cache_stats(c, &st);

	assert_int_equal(0, st.cached);
	assert_int_equal(-1, fds[0]);
	sl_pipe_cache_destroy(c);
}

/* Open descriptors of this process (the directory's own fd counted every time alike). */
static int
count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(dir);
	while (readdir(dir) != NULL)
		n++;
	closedir(dir);
	return n;
}

static void
pipe_cache_opens_no_pipe_until_a_session_needs_one(void **state)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_pipe_cache_stats st;
	struct sl_fwd_env env = {.buffer_size = BUF_SIZE};
	int before, after;

	(void)state;
	before = count_fds();
	assert_int_equal(0, sl_pipe_cache_create(&env.pipes, 1024, 4, PIPE_SIZE));
	assert_int_equal(0, sl_pool_create(&env.buffers, &po));
	after = count_fds();
	sl_pipe_cache_stats(env.pipes, &st);

	assert_int_equal(before, after);
	assert_int_equal(0, st.cached);
	assert_true(sl_pipe_cache_pipe_size(env.pipes) >= PIPE_SIZE);
	sl_pipe_cache_destroy(env.pipes);
	sl_pool_destroy(env.buffers);
}

static void
pipe_cache_trims_to_its_bound_once_pairs_come_back(void **state)
{
	enum { SESSIONS = 150, KEEP = 4 };
	int(*pairs)[2] = calloc(2 * SESSIONS, sizeof(*pairs));
	struct sl_pipe_cache *c;
	struct sl_pipe_cache_stats st;
	int base, busy;

	(void)state;
	assert_non_null(pairs);
	base = count_fds();
	assert_int_equal(0, sl_pipe_cache_create(&c, 1024, KEEP, PIPE_SIZE));
	/* what 150 splice sessions with bytes in flight both ways hold */
	for (int i = 0; i < 2 * SESSIONS; i++)
		assert_int_equal(0, sl_pipe_cache_get(c, pairs[i]));
	busy = count_fds();
	for (int i = 0; i < 2 * SESSIONS; i++)
		sl_pipe_cache_put(c, pairs[i], true);
	sl_pipe_cache_stats(c, &st);

	assert_int_equal(base + 4 * SESSIONS, busy);
	assert_true(st.cached <= KEEP);
	assert_true(count_fds() <= base + 2 * KEEP);
	sl_pipe_cache_destroy(c);
	free(pairs);
}

/* A closed listener's cache: its spares close at once, and pairs its open sessions give back
 * later close too, so nothing outlives the last session. */
static void
pipe_cache_of_a_closed_listener_keeps_no_spare(void **state)
{
	struct sl_pipe_cache *c;
	struct sl_pipe_cache_stats st;
	int pairs[3][2], base;

	(void)state;
	base = count_fds();
	assert_int_equal(0, sl_pipe_cache_create(&c, 1024, 4, PIPE_SIZE));
	for (int i = 0; i < 3; i++)
		assert_int_equal(0, sl_pipe_cache_get(c, pairs[i]));
	sl_pipe_cache_put(c, pairs[0], true);
	sl_pipe_cache_put(c, pairs[1], true);
	sl_pipe_cache_stats(c, &st);
	assert_int_equal(2, st.cached);
	sl_pipe_cache_close_spares(c);
	sl_pipe_cache_stats(c, &st);
	assert_int_equal(0, st.cached);
	assert_int_equal(base + 2, count_fds()); /* the pair still out */
	sl_pipe_cache_put(c, pairs[2], true);
	sl_pipe_cache_stats(c, &st);
	assert_int_equal(0, st.cached);
	assert_int_equal(base, count_fds());
	sl_pipe_cache_destroy(c);
}

/* A variant the kernel refuses for every fd, as splice does with EINVAL on some sockets. */
static int
refuse_attach(struct sl_fwd *f)
{
	(void)f;
	return 0;
}

static void
refuse_detach(struct sl_fwd *f)
{
	(void)f;
}

static int
refuse_pump(struct sl_fwd *f, unsigned d)
{
	(void)d;
	if (!f->readable[0] && !f->readable[1])
		return 0;
	return -EINVAL;
}

static const struct sl_fwd_ops refuse_ops = {
        .name = "refuse",
        .attach = refuse_attach,
        .detach = refuse_detach,
        .pump = refuse_pump,
};

static void
fwd_falls_back_to_copy_when_variant_is_refused(void **state)
{
	char buf[8];
	struct rig r;

	(void)state;
	rig_open(&r, &refuse_ops);
	assert_int_equal(0, sl_test_write_all(r.tc, "ping", 4, 1000));

	assert_int_equal(4, rig_read(&r, r.ts, buf, 4));
	assert_memory_equal("ping", buf, 4);
	assert_ptr_equal(&sl_fwd_copy_ops, r.f.ops);
	assert_int_equal(1, r.env.fallbacks);
	rig_close(&r);
}

/* ---- auto: per-direction switching ---- */

/*
 * Sends <n> bytes made from <seed> from test end <from> and reads them at <to>, running the
 * forwarder. Returns the bytes read, or 0 if any differs from what was sent.
 */
static size_t
rig_one_way_seed(struct rig *r, int from, int to, size_t n, unsigned seed)
{
	char *out = malloc(n), *in = malloc(n);
	size_t sent = 0, got = 0;

	sl_test_fill(out, n, seed);
	for (int i = 0; i < 200000 && got < n; i++) {
		ssize_t k;
		bool moved = false;

		if (sent < n && (k = send(from, out + sent, n - sent, MSG_NOSIGNAL)) > 0)
			sent += (size_t)k, moved = true;
		if (rig_step(r, 0) > 0)
			moved = true;
		if ((k = recv(to, in + got, n - got, 0)) > 0)
			got += (size_t)k, moved = true;
		if (!moved)
			rig_step(r, 100);
	}
	if (got == n && memcmp(out, in, n) != 0)
		got = 0;
	free(out);
	free(in);
	return got;
}

static size_t
rig_one_way(struct rig *r, int from, int to, size_t n)
{
	return rig_one_way_seed(r, from, to, n, 5);
}

/* <n> request/response pairs of <size> bytes: client -> server, then server -> client. */
static void
rig_exchanges(struct rig *r, int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(size, rig_one_way(r, r->tc, r->ts, size));
		assert_int_equal(size, rig_one_way(r, r->ts, r->tc, size));
	}
}

/* Blocks of the rig's buffer pool in use (live), by the forwarder or anyone. */
static size_t
rig_buffers_held(const struct rig *r)
{
	struct sl_pool_stats st;

	sl_pool_stats(r->pool, &st);
	return st.blocks_live;
}

/* Pipe pairs the rig's forwarder holds. */
static int
rig_pipes_held(const struct rig *r)
{
	return (r->f.d[0].pipe[0] >= 0) + (r->f.d[1].pipe[0] >= 0);
}

static void
fwd_idle_session_holds_no_buffer(void **state)
{
	struct rig r;

	rig_open(&r, *state);
	rig_exchanges(&r, 3, 64);

	assert_int_equal(0, rig_buffers_held(&r));
	assert_int_equal(0, rig_pipes_held(&r));
	rig_close(&r);
}

static void
fwd_holds_no_buffer_once_a_bulk_transfer_is_delivered(void **state)
{
	struct rig r;

	rig_open(&r, *state);
	assert_int_equal(1u << 20, rig_one_way(&r, r.tc, r.ts, 1u << 20));
	assert_int_equal(1u << 20, rig_one_way(&r, r.ts, r.tc, 1u << 20));

	assert_int_equal(0, rig_buffers_held(&r));
	/* auto: a direction still splicing keeps its pipe until small exchanges bring it back */
	if (*state != &sl_fwd_auto_ops)
		assert_int_equal(0, rig_pipes_held(&r));
	rig_close(&r);
}

static void
fwd_keeps_bytes_in_order_as_buffers_come_and_go(void **state)
{
	struct rig r;

	rig_open(&r, *state);
	/* sizes from 1 byte to 3 buffers, each message its own content, both directions in turn;
	 * between messages the session is idle and holds nothing */
	for (unsigned i = 0; i < 60; i++) {
		size_t n = 1 + (i * 7919u) % (3 * BUF_SIZE);
		int from = i % 2 ? r.ts : r.tc, to = i % 2 ? r.tc : r.ts;

		assert_int_equal(n, rig_one_way_seed(&r, from, to, n, 100 + i));
		/* uring: one block per direction, its recv in flight, from the first turn on */
		assert_int_equal(is_uring(*state) ? 2 : 0, rig_buffers_held(&r));
	}
	rig_close(&r);
}

static void
fwd_stalled_direction_holds_one_buffer_and_idle_one_none(void **state)
{
	const size_t n = 8u << 20;
	char *out = malloc(n), *in = malloc(n);
	size_t sent;
	struct rig r;

	rig_open(&r, *state);
	sl_test_fill(out, n, 9);
	sent = rig_stall(&r, out, n);

	assert_true(sent < n);
	assert_true(r.f.d[SL_FWD_CLIENT].pending > 0);
	/* the stuck direction holds one buffer or one pipe; the silent one holds nothing */
	assert_int_equal(1, (int)rig_buffers_held(&r) + rig_pipes_held(&r));
	assert_null(r.f.d[SL_FWD_SERVER].buf);
	assert_int_equal(-1, r.f.d[SL_FWD_SERVER].pipe[0]);
	shutdown(r.tc, SHUT_WR);
	assert_int_equal(sent, rig_read(&r, r.ts, in, n));
	assert_int_equal(sl_test_fnv(SL_TEST_FNV_INIT, out, sent),
	                 sl_test_fnv(SL_TEST_FNV_INIT, in, sent));
	assert_int_equal(0, rig_buffers_held(&r));
	rig_close(&r);
	free(out);
	free(in);
}

static void
fwd_reuses_cached_pipes_after_warm_up(void **state)
{
	struct sl_pipe_cache_stats before, after;
	struct rig r;

	(void)state;
	rig_open(&r, (void *)&sl_fwd_splice_ops);
	rig_exchanges(&r, 1, 64);
	sl_fwd_fini(&r.f);
	sl_pipe_cache_stats(r.pipes, &before);
	/* ten sessions, each taking and returning its pipes on every message */
	for (int i = 0; i < 10; i++) {
		sl_fwd_init(&r.f, &sl_fwd_splice_ops, &r.env, r.pc, r.ps);
		assert_true(sl_fwd_start(&r.f) >= 0);
		rig_exchanges(&r, 5, 64);
		sl_fwd_fini(&r.f);
	}
	sl_pipe_cache_stats(r.pipes, &after);

	assert_true(before.created >= 1);
	assert_int_equal(before.created, after.created);
	assert_int_equal(before.discarded, after.discarded);
	assert_true(after.reused >= before.reused + 10 * 5 * 2);
	rig_close(&r);
}

static void
auto_splices_a_direction_that_carries_bulk(void **state)
{
	const size_t n = 4u << 20;
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_auto_ops);

	assert_int_equal(n, rig_one_way(&r, r.tc, r.ts, n));

	assert_true(r.env.to_splice >= 1);
	assert_int_equal(n, sl_fwd_bytes(&r.f, SL_FWD_CLIENT));
	/* the quiet direction never filled a buffer: still copying, and holding none */
	assert_int_equal(-1, r.f.d[SL_FWD_SERVER].pipe[0]);
	assert_null(r.f.d[SL_FWD_SERVER].buf);
	assert_int_equal(BUF_SIZE, r.f.d[SL_FWD_SERVER].capacity);
	rig_close(&r);
}

static void
auto_keeps_small_exchanges_on_copy(void **state)
{
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_auto_ops);

	rig_exchanges(&r, 50, 64);

	assert_int_equal(0, r.env.to_splice);
	assert_int_equal(-1, r.f.d[SL_FWD_CLIENT].pipe[0]);
	assert_int_equal(-1, r.f.d[SL_FWD_SERVER].pipe[0]);
	assert_int_equal(50 * 64, sl_fwd_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(50 * 64, sl_fwd_bytes(&r.f, SL_FWD_SERVER));
	rig_close(&r);
}

static void
auto_returns_to_copy_when_bulk_gives_way_to_small_exchanges(void **state)
{
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_auto_ops);
	assert_int_equal(1u << 20, rig_one_way(&r, r.tc, r.ts, 1u << 20));
	assert_true(r.env.to_splice >= 1);

	rig_exchanges(&r, 10, 64);

	assert_int_equal(r.env.to_splice, r.env.to_copy);
	assert_int_equal(-1, r.f.d[SL_FWD_CLIENT].pipe[0]);
	assert_null(r.f.d[SL_FWD_CLIENT].buf); /* copying, with nothing in flight */
	assert_int_equal(BUF_SIZE, r.f.d[SL_FWD_CLIENT].capacity);
	rig_close(&r);
}

/* ---- progress, for idle timeouts ---- */

static void
fwd_counts_a_one_way_stream_as_progress_on_both_sides(void **state)
{
	const size_t n = 65536; /* below the budget: the owner's io is never called back */
	struct sl_loop *loop;
	struct sl_io io;
	struct rig r;

	rig_open(&r, *state);
	assert_int_equal(0, sl_loop_create(&loop, NULL));
	sl_io_init(&io, r.pc, NULL, NULL);
	sl_fwd_set_owner(&r.f, loop, &io);

	assert_int_equal(n, rig_one_way(&r, r.tc, r.ts, n));

	assert_int_equal(n, sl_fwd_side_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(n, sl_fwd_side_bytes(&r.f, SL_FWD_SERVER));
	assert_int_equal(sl_loop_now_ms(loop), sl_fwd_moved_ms(&r.f, SL_FWD_CLIENT));
	assert_int_equal(sl_loop_now_ms(loop), sl_fwd_moved_ms(&r.f, SL_FWD_SERVER));
	rig_close(&r);
	sl_loop_destroy(loop);
}

static void
fwd_readiness_that_moves_no_byte_is_no_progress(void **state)
{
	struct sl_loop *loop;
	struct sl_io io;
	struct rig r;

	rig_open(&r, *state);
	assert_int_equal(0, sl_loop_create(&loop, NULL));
	sl_io_init(&io, r.pc, NULL, NULL);
	sl_fwd_set_owner(&r.f, loop, &io);

	/* what a session sees on an idle connection: writable edges, a read that finds nothing */
	assert_int_equal(SL_FWD_RUNNING, sl_fwd_on_events(&r.f, SL_FWD_CLIENT, SL_IO_WRITE));
	assert_int_equal(SL_FWD_RUNNING, sl_fwd_on_events(&r.f, SL_FWD_SERVER, SL_IO_WRITE));
	assert_int_equal(SL_FWD_RUNNING,
	                 sl_fwd_on_events(&r.f, SL_FWD_CLIENT, SL_IO_READ | SL_IO_WRITE));

	assert_int_equal(0, sl_fwd_side_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(0, sl_fwd_side_bytes(&r.f, SL_FWD_SERVER));
	assert_int_equal(0, sl_fwd_moved_ms(&r.f, SL_FWD_CLIENT));
	assert_int_equal(0, sl_fwd_moved_ms(&r.f, SL_FWD_SERVER));
	rig_close(&r);
	sl_loop_destroy(loop);
}

/* ---- budget and fairness: forwarders owned by an sl_loop, as sessions are ---- */

#define BULK_BYTES (64u << 20)
#define SMALL_SIZE 64
#define SMALL_ROUNDS 16

/* One forwarder and its four sockets, driven by <loop> through its two ios. */
struct lsess {
	int tc, pc, ps, ts;
	struct sl_io io[2];  /* pc, ps: handed to the forwarder */
	struct sl_io tio[2]; /* tc, ts: the test's ends */
	struct sl_fwd f;
	int status;
	unsigned calls;   /* forwarder calls, resumes included */
	unsigned resumes; /* calls with no events: the forwarder's own resume */
};

/* The fairness scene: a bulk session and a small request/response session on one loop. */
struct scene {
	struct sl_loop *loop;
	struct sl_fwd_env env;
	struct lsess bulk, small;
	char *src;        /* BULK_BYTES sent by bulk.tc */
	size_t sent, got; /* bulk bytes written at tc, read at ts */
	bool bulk_bad;    /* a byte arrived out of order or changed */
	bool bulk_eof;    /* bulk.ts read EOF */
	char req[SMALL_SIZE], resp[SMALL_SIZE];
	size_t req_got, resp_got;
	int rounds;             /* small round trips completed */
	int rounds_during_bulk; /* ... of which while bulk bytes were still on their way */
	bool small_bad;
	struct sl_timer guard;
};

static void
lsess_io(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct lsess *s = io->data;
	unsigned side = io == &s->io[SL_FWD_CLIENT] ? SL_FWD_CLIENT : SL_FWD_SERVER;

	sl_fwd_set_owner(&s->f, loop, io);
	s->calls++;
	s->resumes += events == 0;
	s->status = sl_fwd_on_events(&s->f, side, events);
	if (s->status == SL_FWD_DONE || s->status < 0) {
		sl_loop_io_del(loop, &s->io[0]);
		sl_loop_io_del(loop, &s->io[1]);
		sl_fwd_fini(&s->f);
		close(s->pc);
		close(s->ps);
		s->pc = s->ps = -1;
	}
}

static void
lsess_open(struct lsess *s, struct sl_loop *loop, struct sl_fwd_env *env,
           const struct sl_fwd_ops *ops)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(0, sl_test_tcp_pair(&s->tc, &s->pc));
	assert_int_equal(0, sl_test_tcp_pair(&s->ps, &s->ts));
	sl_fwd_init(&s->f, ops, env, s->pc, s->ps);
	sl_io_init(&s->io[0], s->pc, lsess_io, s);
	sl_io_init(&s->io[1], s->ps, lsess_io, s);
	assert_int_equal(0, sl_loop_io_add(loop, &s->io[0], SL_IO_READ | SL_IO_WRITE));
	assert_int_equal(0, sl_loop_io_add(loop, &s->io[1], SL_IO_READ | SL_IO_WRITE));
	sl_fwd_set_owner(&s->f, loop, &s->io[0]); /* uring: the loop that runs its ops */
	s->status = sl_fwd_start(&s->f);
	assert_true(s->status >= 0);
	/* uring copies a session whose fds the loop's file table cannot both take */
	if (s->f.ops != &sl_fwd_copy_ops || ops != &sl_fwd_uring_ops)
		assert_ptr_equal(ops, s->f.ops);
}

static void
lsess_close(struct lsess *s, struct sl_loop *loop)
{
	if (s->pc >= 0) {
		sl_loop_io_del(loop, &s->io[0]);
		sl_loop_io_del(loop, &s->io[1]);
		sl_fwd_fini(&s->f);
		close(s->pc);
		close(s->ps);
	}
	sl_loop_io_del(loop, &s->tio[0]);
	sl_loop_io_del(loop, &s->tio[1]);
	close(s->tc);
	close(s->ts);
}

static void
scene_check_done(struct scene *sc)
{
	if (sc->bulk_eof && sc->rounds == SMALL_ROUNDS)
		sl_loop_stop(sc->loop);
}

/* bulk.tc writable: send the stream until the socket is full, then the FIN. */
static void
bulk_send(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct scene *sc = io->data;

	(void)loop;
	(void)events;
	while (sc->sent < BULK_BYTES) {
		ssize_t k =
		        send(sc->bulk.tc, sc->src + sc->sent, BULK_BYTES - sc->sent, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		sc->sent += (size_t)k;
	}
	shutdown(sc->bulk.tc, SHUT_WR);
	sl_loop_io_del(sc->loop, io);
}

/* bulk.ts readable: read all there is, checking order and content. */
static void
bulk_recv(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct scene *sc = io->data;
	static char buf[256u << 10];

	(void)loop;
	(void)events;
	for (;;) {
		ssize_t k = recv(sc->bulk.ts, buf, sizeof(buf), 0);

		if (k == 0) {
			sc->bulk_eof = true;
			sl_loop_io_del(sc->loop, io);
			scene_check_done(sc);
			return;
		}
		if (k < 0)
			return;
		if (sc->got + (size_t)k > BULK_BYTES ||
		    memcmp(sc->src + sc->got, buf, (size_t)k) != 0)
			sc->bulk_bad = true;
		sc->got += (size_t)k;
	}
}

static void
small_request(struct scene *sc)
{
	memset(sc->req, 'a' + sc->rounds % 26, sizeof(sc->req));
	assert_int_equal(SMALL_SIZE, send(sc->small.tc, sc->req, SMALL_SIZE, MSG_NOSIGNAL));
}

/* small.ts readable: answer each whole request with its bytes reversed. */
static void
small_serve(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct scene *sc = io->data;
	char out[SMALL_SIZE];
	ssize_t k;

	(void)loop;
	(void)events;
	while ((k = recv(sc->small.ts, sc->resp + sc->req_got, SMALL_SIZE - sc->req_got, 0)) > 0) {
		sc->req_got += (size_t)k;
		if (sc->req_got < SMALL_SIZE)
			continue;
		for (int i = 0; i < SMALL_SIZE; i++)
			out[i] = (char)(sc->resp[SMALL_SIZE - 1 - i] ^ 0x20);
		assert_int_equal(SMALL_SIZE, send(sc->small.ts, out, SMALL_SIZE, MSG_NOSIGNAL));
		sc->req_got = 0;
	}
}

/* small.tc readable: check the answer, count the round trip, ask again. */
static void
small_answer(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct scene *sc = io->data;
	char buf[SMALL_SIZE];
	ssize_t k;

	(void)loop;
	(void)events;
	while ((k = recv(sc->small.tc, buf + sc->resp_got, SMALL_SIZE - sc->resp_got, 0)) > 0) {
		sc->resp_got += (size_t)k;
		if (sc->resp_got < SMALL_SIZE)
			continue;
		sc->resp_got = 0;
		for (int i = 0; i < SMALL_SIZE; i++)
			if (buf[i] != (char)(sc->req[SMALL_SIZE - 1 - i] ^ 0x20))
				sc->small_bad = true;
		sc->rounds++;
		if (sc->got < BULK_BYTES)
			sc->rounds_during_bulk++;
		if (sc->rounds < SMALL_ROUNDS)
			small_request(sc);
		else
			scene_check_done(sc);
	}
}

static void
scene_guard(struct sl_loop *loop, struct sl_timer *t)
{
	(void)t;
	sl_loop_stop(loop); /* bounds the test: the assertions report what did not finish */
}

/* Runs the scene with <ops> and a budget of <budget> bytes (0 = the default) to its end. */
static void
scene_run(struct scene *sc, const struct sl_fwd_ops *ops, uint32_t budget)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_loop_opts lo = {.runtime = is_uring(ops) ? SL_LOOP_IO_URING : SL_LOOP_AUTO,
	                          .bufs = rig_bufs};

	memset(sc, 0, sizeof(*sc));
	sc->src = malloc(BULK_BYTES);
	assert_non_null(sc->src);
	sl_test_fill(sc->src, BULK_BYTES, 11);
	assert_int_equal(0, sl_loop_create(&sc->loop, &lo));
	assert_int_equal(0, sl_pipe_cache_create(&sc->env.pipes, 8, 4, 0));
	assert_int_equal(0, sl_pool_create(&sc->env.buffers, &po));
	sc->env.buffer_size = BUF_SIZE;
	sc->env.budget = budget;
	lsess_open(&sc->bulk, sc->loop, &sc->env, ops);
	lsess_open(&sc->small, sc->loop, &sc->env, ops);
	sl_io_init(&sc->bulk.tio[0], sc->bulk.tc, bulk_send, sc);
	sl_io_init(&sc->bulk.tio[1], sc->bulk.ts, bulk_recv, sc);
	sl_io_init(&sc->small.tio[0], sc->small.tc, small_answer, sc);
	sl_io_init(&sc->small.tio[1], sc->small.ts, small_serve, sc);
	assert_int_equal(0, sl_loop_io_add(sc->loop, &sc->bulk.tio[0], SL_IO_WRITE));
	assert_int_equal(0, sl_loop_io_add(sc->loop, &sc->bulk.tio[1], SL_IO_READ));
	assert_int_equal(0, sl_loop_io_add(sc->loop, &sc->small.tio[0], SL_IO_READ));
	assert_int_equal(0, sl_loop_io_add(sc->loop, &sc->small.tio[1], SL_IO_READ));
	small_request(sc);
	sl_timer_init(&sc->guard, scene_guard, sc);
	sl_loop_timer_add(sc->loop, &sc->guard, 120000);
	assert_int_equal(0, sl_loop_run(sc->loop));
}

static void
scene_close(struct scene *sc)
{
	lsess_close(&sc->bulk, sc->loop);
	lsess_close(&sc->small, sc->loop);
	sl_loop_destroy(sc->loop);
	sl_pipe_cache_destroy(sc->env.pipes);
	sl_pool_destroy(sc->env.buffers);
	free(sc->src);
}

static void
fwd_serves_small_session_while_bulk_one_flows_on_same_loop(void **state)
{
	struct scene sc;

	/* a budget of one buffer: every full read ends a call, so the bulk session must go on
	 * through resumes whatever the socket buffers hold on a loaded machine */
	scene_run(&sc, *state, BUF_SIZE);

	print_message("%s: %d of %d round trips during the bulk transfer\n",
	              ((const struct sl_fwd_ops *)*state)->name, sc.rounds_during_bulk,
	              SMALL_ROUNDS);
	assert_true(sc.bulk_eof);
	assert_false(sc.bulk_bad);
	assert_int_equal(BULK_BYTES, sc.got);
	assert_int_equal(SMALL_ROUNDS, sc.rounds);
	assert_false(sc.small_bad);
	/*
	 * every round trip completed while the bulk session still had bytes to deliver (without a
	 * budget, each call moving what the socket buffers hold, 8 of 16 did)
	 */
	assert_int_equal(SMALL_ROUNDS, sc.rounds_during_bulk);
	/* the bulk session went on through its own resumes, not only on new edges */
	assert_true(sc.bulk.resumes > 0);
	scene_close(&sc);
}

/* ---- bandwidth limits: a limiter that grants what a test allows ---- */

struct grants {
	uint32_t allow;  /* bytes the limiter may still grant */
	unsigned pauses; /* pause() calls */
};
static struct grants grants;

static uint32_t
grant_take(struct sl_fwd *f, unsigned d, uint32_t want)
{
	uint32_t n = want < grants.allow ? want : grants.allow;

	(void)f;
	assert_int_equal(SL_FWD_CLIENT, d);
	grants.allow -= n;
	return n;
}

static void
grant_put(struct sl_fwd *f, unsigned d, uint32_t unused)
{
	(void)f;
	(void)d;
	grants.allow += unused;
}

static void
grant_pause(struct sl_fwd *f, unsigned d)
{
	(void)f;
	(void)d;
	grants.pauses++;
}

static const struct sl_fwd_limiter grant_limiter = {grant_take, grant_put, grant_pause};

/* Runs the rig until it has no event for 20 ms; returns what the test server received. */
static size_t
rig_settle_and_drain(struct rig *r)
{
	char buf[65536];
	size_t got = 0;
	ssize_t k;

	for (int i = 0; i < MAX_STEPS; i++) {
		int n = rig_step(r, 20);

		while ((k = recv(r->ts, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			got += (size_t)k;
		if (n == 0)
			break;
	}
	return got;
}

static void
fwd_limited_direction_reads_only_what_is_granted_then_pauses(void **state)
{
	static char data[200000];
	struct rig r;
	size_t sent = 0;
	ssize_t k;

	rig_open(&r, *state);
	grants = (struct grants){.allow = 10000};
	r.env.limiter = &grant_limiter;
	sl_fwd_set_limited(&r.f, 1u << SL_FWD_CLIENT);
	while (sent < sizeof(data) &&
	       (k = send(r.tc, data + sent, sizeof(data) - sent, MSG_DONTWAIT)) > 0)
		sent += (size_t)k;
	assert_true(sent > 40000);

	assert_int_equal(10000, rig_settle_and_drain(&r));
	assert_int_equal(0, grants.allow);
	assert_true(grants.pauses >= 1);
	assert_true(sl_fwd_is_paused(&r.f));
	/* paused, not buffered: nothing read is held back */
	assert_int_equal(0, r.f.d[SL_FWD_CLIENT].pending);

	/* the limit lets 30000 more through */
	grants.allow = 30000;
	assert_true(sl_fwd_resume(&r.f) >= 0);
	assert_int_equal(30000, rig_settle_and_drain(&r));
	assert_true(sl_fwd_is_paused(&r.f));

	/* lifted: the rest flows, and the other direction never asked the limiter */
	sl_fwd_set_limited(&r.f, 0);
	assert_true(sl_fwd_resume(&r.f) >= 0);
	assert_int_equal(sent - 40000, rig_settle_and_drain(&r));
	assert_int_equal(4096, rig_one_way(&r, r.ts, r.tc, 4096));
	rig_close(&r);
}

static void
fwd_limited_direction_gives_back_what_it_did_not_read(void **state)
{
	struct rig r;

	rig_open(&r, *state);
	grants = (struct grants){.allow = 1u << 30};
	r.env.limiter = &grant_limiter;
	sl_fwd_set_limited(&r.f, 1u << SL_FWD_CLIENT);
	assert_int_equal(5000, rig_one_way(&r, r.tc, r.ts, 5000));
	/* each call took a budget's worth and put back all but the bytes it read */
	assert_int_equal((1u << 30) - 5000, grants.allow);
	assert_int_equal(0, grants.pauses);
	assert_false(sl_fwd_is_paused(&r.f));
	rig_close(&r);
}

/* ---- the uring variant: many sessions on one loop, detach with ops in flight ---- */

#define MANY 32
#define MANY_BYTES 200000u

static void
loop_stop_defer(struct sl_loop *l, struct sl_defer *d)
{
	(void)d;
	sl_loop_stop(l);
}

static void
loop_stop_timer(struct sl_loop *l, struct sl_timer *t)
{
	(void)t;
	sl_loop_stop(l);
}

/* One iteration of <l> (<block>: up to 10 ms for something to happen). */
static void
loop_step(struct sl_loop *l, bool block)
{
	struct sl_defer d;
	struct sl_timer t;

	sl_defer_init(&d, loop_stop_defer, NULL);
	sl_timer_init(&t, loop_stop_timer, NULL);
	if (block)
		sl_loop_timer_add(l, &t, 10);
	else
		sl_loop_defer(l, &d);
	assert_int_equal(0, sl_loop_run(l));
	sl_loop_timer_cancel(l, &t);
	sl_loop_defer_cancel(l, &d);
}

static void
count_defer(struct sl_loop *l, struct sl_defer *d)
{
	(void)l;
	(*(int *)d->data)++;
}

struct many_end {
	size_t sent, got;
};

/*
 * MANY sessions on one uring loop whose registered-file table has <max_files> slots and whose
 * provided-buffer group has <bufs> buffers (sl_loop_opts); the group's figures in *<st>. A
 * session whose two fds the table cannot both take (no table: max_files -1; a full one) copies
 * instead, counted as a fallback: its ops would name its sockets by fd number, which another
 * socket may take once the session closes them.
 */
static void
many_sessions_run_bufs(int max_files, int bufs, struct sl_loop_bufs_stats *bst)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_loop_opts lo = {
	        .runtime = SL_LOOP_IO_URING, .max_files = max_files, .bufs = bufs};
	char *out = malloc(MANY_BYTES), *in = malloc((size_t)MANY * 2 * MANY_BYTES);
	struct lsess *s = calloc(MANY, sizeof(*s));
	struct many_end e[MANY][2] = {{{0}}};
	struct sl_pool_stats st;
	struct sl_fwd_env env = {.buffer_size = BUF_SIZE};
	struct sl_loop *loop;
	int done = 0, nuring = 0;
	int want = max_files < 0                            ? 0
	           : max_files == 0 || max_files / 2 > MANY ? MANY
	                                                    : max_files / 2;

	sl_test_fill(out, MANY_BYTES, 21);
	assert_int_equal(0, sl_loop_create(&loop, &lo));
	assert_int_equal(0, sl_pool_create(&env.buffers, &po));
	for (int i = 0; i < MANY; i++)
		lsess_open(&s[i], loop, &env, &sl_fwd_uring_ops);
	/* a run that stops moving fails after 1000 idle steps (10 s), not after the bound */
	for (int it = 0, idle = 0; it < 200000 && idle < 1000 && done < 2 * MANY; it++) {
		bool moved = false;

		done = 0;
		for (int i = 0; i < MANY; i++) {
			for (int d = 0; d < 2; d++) {
				struct many_end *x = &e[i][d];
				int from = d == 0 ? s[i].tc : s[i].ts,
				    to = d == 0 ? s[i].ts : s[i].tc;
				char *dst = in + ((size_t)i * 2 + (size_t)d) * MANY_BYTES;
				ssize_t k;

				if (x->sent < MANY_BYTES &&
				    (k = send(from, out + x->sent, MANY_BYTES - x->sent,
				              MSG_NOSIGNAL)) > 0)
					x->sent += (size_t)k, moved = true;
				if (x->got < MANY_BYTES &&
				    (k = recv(to, dst + x->got, MANY_BYTES - x->got, 0)) > 0)
					x->got += (size_t)k, moved = true;
				done += x->got == MANY_BYTES;
			}
		}
		idle = moved ? 0 : idle + 1;
		loop_step(loop, !moved);
	}

	assert_int_equal(2 * MANY, done);
	for (int i = 0; i < MANY; i++) {
		for (int d = 0; d < 2; d++)
			assert_memory_equal(out, in + ((size_t)i * 2 + (size_t)d) * MANY_BYTES,
			                    MANY_BYTES);
		assert_int_equal(SL_FWD_RUNNING, s[i].status);
		nuring += s[i].f.ops == &sl_fwd_uring_ops;
	}
	assert_int_equal(want, nuring);
	assert_int_equal(MANY - nuring, env.fallbacks);
	/* each send is counted when the recv linked to it completes; a hold settles them */
	for (int i = 0; i < MANY; i++)
		sl_fwd_hold(&s[i].f, true);
	for (int it = 0; it < 100; it++) {
		uint64_t left = 0;

		for (int i = 0; i < MANY; i++)
			left += sl_fwd_in_flight(&s[i].f);
		if (left == 0)
			break;
		loop_step(loop, true);
	}
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(0, sl_fwd_in_flight(&s[i].f));
		assert_int_equal(MANY_BYTES, sl_fwd_bytes(&s[i].f, SL_FWD_CLIENT));
		assert_int_equal(MANY_BYTES, sl_fwd_bytes(&s[i].f, SL_FWD_SERVER));
	}
	/* released: each open uring session holds its two blocks, a recv in flight on each (a
	 * copying one, idle, none) */
	for (int i = 0; i < MANY; i++)
		sl_fwd_hold(&s[i].f, false);
	sl_pool_stats(env.buffers, &st);
	assert_int_equal(2 * nuring, st.blocks_live);

	sl_loop_bufs_stats(loop, bst);
	/* detached with the recvs in flight: the blocks come back from their completions */
	for (int i = 0; i < MANY; i++)
		lsess_close(&s[i], loop);
	assert_int_equal(2 * nuring, env.orphans);
	for (int i = 0; i < 100 && env.orphans != 0; i++)
		loop_step(loop, true);
	assert_int_equal(0, env.orphans);
	sl_pool_stats(env.buffers, &st);
	assert_int_equal(0, st.blocks_live);
	sl_loop_bufs_stats(loop, &bst[1]);
	assert_int_equal(0, bst[1].lent); /* every buffer is back in the group */
	sl_loop_destroy(loop);
	sl_pool_destroy(env.buffers);
	free(s);
	free(out);
	free(in);
}

static void
many_sessions_run(int max_files)
{
	struct sl_loop_bufs_stats st[2];

	many_sessions_run_bufs(max_files, 0, st);
}

/* 8 buffers for 64 directions pushing at once: recvs find the group empty, use their own blocks */
static void
uring_forwards_many_sessions_intact_when_the_buffer_group_runs_dry(void **state)
{
	struct sl_loop_bufs_stats st[2];

	(void)state;
	many_sessions_run_bufs(0, 8, st);

	assert_int_equal(8, st[0].count);
	assert_true(st[0].nobufs > 0);
	assert_int_equal(0, st[0].parked); /* every recv that waited got its buffer */
}

/* no group (as on a kernel before 6.0): the single-shot recvs into the blocks carry it all */
static void
uring_forwards_many_sessions_intact_on_single_shot_recvs(void **state)
{
	struct sl_loop_bufs_stats st[2];

	(void)state;
	many_sessions_run_bufs(0, -1, st);

	assert_int_equal(0, st[0].count);
	assert_int_equal(0, st[0].nobufs);
}

/*
 * A stalled reader: the direction stops its recv at its bound, so it holds no more of the
 * group than its capacity's worth while the sender pushes on; once the reader reads, the bytes
 * arrive intact and the buffers go back.
 */
static void
uring_stalled_reader_holds_at_most_its_bound_of_the_group(void **state)
{
	const size_t n = 8u << 20;
	char *out = malloc(n), *in = malloc(n);
	struct sl_loop_bufs_stats st;
	size_t sent;
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_uring_ops);
	sl_test_fill(out, n, 5);
	sent = rig_stall(&r, out, n);
	sl_loop_bufs_stats(r.loop, &st);

	assert_true(sent < n);
	assert_int_equal(BUF_SIZE, st.size);
	assert_true(st.lent > 0);
	assert_true(st.lent * BUF_SIZE <= r.f.d[SL_FWD_CLIENT].capacity + BUF_SIZE);
	assert_true(r.f.d[SL_FWD_CLIENT].pending <= r.f.d[SL_FWD_CLIENT].capacity);
	shutdown(r.tc, SHUT_WR);
	assert_int_equal(sent, rig_read(&r, r.ts, in, n));
	assert_int_equal(sl_test_fnv(SL_TEST_FNV_INIT, out, sent),
	                 sl_test_fnv(SL_TEST_FNV_INIT, in, sent));
	sl_loop_bufs_stats(r.loop, &st);
	assert_int_equal(0, st.lent);
	rig_close(&r);
	free(out);
	free(in);
}

/*
 * Two sessions whose readers read nothing hold the whole group (8 buffers, 4 a direction). A
 * third session's recv finds it empty and takes its block's own buffer instead of waiting for
 * one, so its stream flows, intact, while the stalled ones keep theirs.
 */
static void
uring_peers_holding_the_whole_group_do_not_stall_another_session(void **state)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_loop_opts lo = {.runtime = SL_LOOP_IO_URING, .bufs = 8};
	struct sl_fwd_env env = {.buffer_size = BUF_SIZE};
	const size_t n = 1u << 20;
	char *out = malloc(n), *in = malloc(n);
	struct sl_loop_bufs_stats st;
	struct sl_loop *loop;
	struct lsess s[3];
	size_t sent = 0, got = 0;
	const int sz = 65536;

	(void)state;
	sl_test_fill(out, n, 9);
	assert_int_equal(0, sl_loop_create(&loop, &lo));
	assert_int_equal(0, sl_pool_create(&env.buffers, &po));
	for (int i = 0; i < 3; i++) {
		lsess_open(&s[i], loop, &env, &sl_fwd_uring_ops);
		for (int k = 0; k < 4; k++) {
			int fd = (int[]){s[i].tc, s[i].pc, s[i].ps, s[i].ts}[k];

			assert_int_equal(0, setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)));
			assert_int_equal(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)));
		}
	}
	sl_loop_bufs_stats(loop, &st);
	if (st.count == 0)
		skip(); /* a kernel without buffer rings or multishot recv (before Linux 6.0) */
	/* the stalled two push until the whole chain is stuck, holding every buffer (bounded) */
	for (int it = 0, quiet = 0; it < 5000 && quiet < 20; it++) {
		uint64_t before = s[0].f.d[0].bytes + s[1].f.d[0].bytes;
		bool moved = false;

		for (int i = 0; i < 2; i++)
			moved |= send(s[i].tc, out, n, MSG_NOSIGNAL) > 0;
		loop_step(loop, !moved);
		moved |= s[0].f.d[0].bytes + s[1].f.d[0].bytes != before;
		quiet = moved ? 0 : quiet + 1;
	}
	sl_loop_bufs_stats(loop, &st);
	assert_int_equal(st.count, st.lent);

	/* the third one's stream; a run that stops moving fails after 1000 idle steps */
	for (int it = 0, idle = 0; it < 200000 && idle < 1000 && got < n; it++) {
		ssize_t k;
		bool moved = false;

		if (sent < n && (k = send(s[2].tc, out + sent, n - sent, MSG_NOSIGNAL)) > 0)
			sent += (size_t)k, moved = true;
		if ((k = recv(s[2].ts, in + got, n - got, 0)) > 0)
			got += (size_t)k, moved = true;
		idle = moved ? 0 : idle + 1;
		loop_step(loop, !moved);
	}
	sl_loop_bufs_stats(loop, &st);

	assert_int_equal(n, got);
	assert_memory_equal(out, in, n);
	assert_true(st.nobufs > 0); /* it did find the group empty */
	assert_int_equal(0, st.parked);
	assert_int_equal(st.count, st.lent); /* the stalled ones still hold theirs */
	for (int i = 0; i < 3; i++)
		lsess_close(&s[i], loop);
	for (int it = 0; it < 100 && env.orphans != 0; it++)
		loop_step(loop, true);
	sl_loop_bufs_stats(loop, &st);
	assert_int_equal(0, st.lent);
	sl_loop_destroy(loop);
	sl_pool_destroy(env.buffers);
	free(out);
	free(in);
}

/* The uring rig tests again with no buffer group: the single-shot path. */
static int
use_single_shot(void **state)
{
	(void)state;
	rig_bufs = -1;
	return 0;
}

static void
uring_forwards_many_sessions_on_one_loop_intact(void **state)
{
	(void)state;
	many_sessions_run(0);
}

/* no table: every session copies, intact */
static void
uring_copies_every_session_intact_without_a_file_table(void **state)
{
	(void)state;
	many_sessions_run(-1);
}

/* one session's fds get slots, the others find the table full and copy */
static void
uring_copies_the_sessions_a_full_file_table_cannot_take(void **state)
{
	(void)state;
	many_sessions_run(3);
}

static void
uring_drained_defer_runs_once_the_last_block_is_back(void **state)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_loop_opts lo = {.runtime = SL_LOOP_IO_URING};
	struct sl_fwd_env env = {.buffer_size = BUF_SIZE};
	struct sl_defer drained;
	struct sl_loop *loop;
	struct lsess s;
	int ran = 0;

	(void)state;
	assert_int_equal(0, sl_loop_create(&loop, &lo));
	assert_int_equal(0, sl_pool_create(&env.buffers, &po));
	lsess_open(&s, loop, &env, &sl_fwd_uring_ops);
	loop_step(loop, false); /* the recvs go in */
	sl_defer_init(&drained, count_defer, &ran);
	lsess_close(&s, loop);
	assert_int_equal(2, env.orphans);
	env.drained = &drained;
	for (int i = 0; i < 100 && ran == 0; i++)
		loop_step(loop, true);

	assert_int_equal(1, ran);
	assert_int_equal(0, env.orphans);
	assert_null(env.drained);
	sl_loop_destroy(loop);
	sl_pool_destroy(env.buffers);
}

/* ---- the uring variant: a worker's stop ends what its loop has in flight ---- */

#define STOPPED 16

struct stopped {
	struct lsess s[STOPPED];
	struct sl_loop *loop;
	struct sl_fwd_env env;
	struct sl_msg close_half;
};

/* On the worker: half the sessions close, their ops still in flight (orphaned blocks). */
static void
stopped_close_half(struct sl_worker *w, struct sl_msg *m)
{
	struct stopped *x = m->data;

	(void)w;
	for (int i = 0; i < STOPPED / 2; i++)
		lsess_close(&x->s[i], x->loop);
}

static void
uring_worker_stop_ends_every_op_before_the_pool_may_go(void **state)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_worker_opts wo = {.nthreads = 1, .loop = {.runtime = SL_LOOP_IO_URING}};
	struct stopped *x = calloc(1, sizeof(*x));
	struct sl_worker_group *g;
	struct sl_pool_stats st;
	char bytes[4096];

	(void)state;
	assert_non_null(x);
	sl_test_fill(bytes, sizeof(bytes), 5);
	assert_int_equal(0, sl_worker_group_create(&g, &wo));
	x->loop = sl_worker_loop(sl_worker_at(g, 0));
	x->env.buffer_size = BUF_SIZE;
	assert_int_equal(0, sl_pool_create(&x->env.buffers, &po));
	/* before the start (the worker's first wait submits): recvs, and bytes on their way */
	for (int i = 0; i < STOPPED; i++) {
		lsess_open(&x->s[i], x->loop, &x->env, &sl_fwd_uring_ops);
		assert_int_equal(0, sl_test_write_all(x->s[i].tc, bytes, sizeof(bytes), 1000));
		assert_int_equal(0, sl_test_write_all(x->s[i].ts, bytes, sizeof(bytes), 1000));
	}
	x->close_half = (struct sl_msg){.fn = stopped_close_half, .data = x};
	assert_int_equal(0, sl_worker_group_start(g));
	assert_int_equal(0, sl_worker_post(sl_worker_at(g, 0), &x->close_half));

	/* the worker runs the message, stops, and settles its loop before it returns */
	assert_int_equal(0, sl_worker_group_stop(g));

	/* the closed half's blocks came back from their completions ... */
	assert_int_equal(0, x->env.orphans);
	/* ... and the open half has no op in flight: closed now, each block goes at once */
	for (int i = STOPPED / 2; i < STOPPED; i++) {
		assert_ptr_equal(&sl_fwd_uring_ops, x->s[i].f.ops);
		assert_false(sl_fwd_uring_ops.busy(&x->s[i].f));
		lsess_close(&x->s[i], x->loop);
	}
	assert_int_equal(0, x->env.orphans);
	sl_pool_stats(x->env.buffers, &st);
	assert_int_equal(0, st.blocks_live);
	sl_pool_destroy(x->env.buffers);
	sl_worker_group_destroy(g);
	free(x);
}

static void
uring_runs_as_copy_on_an_epoll_loop(void **state)
{
	struct sl_pool_opts po = {.name = "fwd-test", .block_size = BUF_SIZE};
	struct sl_loop_opts lo = {.runtime = SL_LOOP_EPOLL};
	struct sl_fwd_env env = {.buffer_size = BUF_SIZE};
	struct sl_loop *loop;
	struct lsess s;
	char buf[5];

	(void)state;
	assert_int_equal(0, sl_loop_create(&loop, &lo));
	assert_int_equal(0, sl_pool_create(&env.buffers, &po));
	memset(&s, 0, sizeof(s));
	assert_int_equal(0, sl_test_tcp_pair(&s.tc, &s.pc));
	assert_int_equal(0, sl_test_tcp_pair(&s.ps, &s.ts));
	sl_fwd_init(&s.f, &sl_fwd_uring_ops, &env, s.pc, s.ps);
	sl_io_init(&s.io[0], s.pc, lsess_io, &s);
	sl_io_init(&s.io[1], s.ps, lsess_io, &s);
	assert_int_equal(0, sl_loop_io_add(loop, &s.io[0], SL_IO_READ | SL_IO_WRITE));
	assert_int_equal(0, sl_loop_io_add(loop, &s.io[1], SL_IO_READ | SL_IO_WRITE));
	sl_fwd_set_owner(&s.f, loop, &s.io[0]);
	assert_true(sl_fwd_start(&s.f) >= 0);

	assert_ptr_equal(&sl_fwd_copy_ops, s.f.ops);
	assert_int_equal(0, sl_test_write_all(s.tc, "hello", 5, 1000));
	for (int i = 0; i < 100 && recv(s.ts, buf, 5, MSG_PEEK) < 5; i++)
		loop_step(loop, true);
	assert_int_equal(5, recv(s.ts, buf, 5, 0));
	assert_memory_equal("hello", buf, 5);
	sl_loop_io_del(loop, &s.io[0]);
	sl_loop_io_del(loop, &s.io[1]);
	sl_fwd_fini(&s.f);
	close(s.tc);
	close(s.pc);
	close(s.ps);
	close(s.ts);
	sl_loop_destroy(loop);
	sl_pool_destroy(env.buffers);
}

/* ---- sockmap: the kernel moves the bytes ---- */

/* the slots the tests' maps have: few, so that a test can take them all */
#define SOCKMAP_PAIRS 4u

static int
sockmap_setup(void **state)
{
	char why[256];
	int err;

	(void)state;
	err = sl__sockmap_open(&sockmap_kernel, SOCKMAP_PAIRS, why, sizeof(why));
	if (err == 0)
		err = sl__sockmap_worker(sockmap_kernel, 0, 1, &sockmap_share);
	if (err != 0) {
		/* not root, or built without BPF: the sockmap tests skip, saying so */
		print_message("sockmap tests skipped: %s\n", why);
		sl__sockmap_close(sockmap_kernel);
		sockmap_kernel = NULL;
	}
	return 0;
}

static int
sockmap_teardown(void **state)
{
	(void)state;
	if (sockmap_kernel != NULL) {
		assert_int_equal(SOCKMAP_PAIRS, sockmap_share.nfree); /* every rig gave its back */
		sl__sockmap_worker_fini(&sockmap_share);
		sl__sockmap_close(sockmap_kernel);
		sockmap_kernel = NULL;
	}
	return 0;
}

static void
sockmap_redirects_bytes_that_came_before_the_start(void **state)
{
	const size_t n = 100000;
	char *out_c = malloc(n), *out_s = malloc(n), *in = malloc(n);
	uint64_t sessions = sockmap_share.sessions;
	struct rig r;
	int err;

	(void)state;
	sl_test_fill(out_c, n, 21);
	sl_test_fill(out_s, n, 22);
	rig_make(&r, &sl_fwd_sockmap_ops);
	/* both sides' bytes are in the sockets' queues before the attach */
	assert_int_equal(0, sl_test_write_all(r.tc, out_c, n, 1000));
	assert_int_equal(0, sl_test_write_all(r.ts, out_s, n, 1000));
	rig_start(&r);
	assert_int_equal(0, shutdown(r.tc, SHUT_WR));
	assert_int_equal(n, rig_read(&r, r.ts, in, n));
	assert_memory_equal(out_c, in, n);
	assert_true(rig_wait_eof(&r, r.ts, &err));
	assert_int_equal(0, err);
	assert_int_equal(n, rig_read(&r, r.tc, in, n));
	assert_memory_equal(out_s, in, n);

	/* through the kernel, both ways, and counted there */
	assert_ptr_equal(&sl_fwd_sockmap_ops, r.f.ops);
	assert_int_equal(sessions + 1, sockmap_share.sessions);
	assert_int_equal(3, r.f.kernel); /* both directions */
	sl_fwd_sync(&r.f);
	assert_int_equal(n, sl_fwd_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(n, sl_fwd_bytes(&r.f, SL_FWD_SERVER));
	assert_int_equal(0, rig_buffers_held(&r));
	rig_close(&r);
	free(out_c);
	free(out_s);
	free(in);
}

static void
sockmap_sync_stamps_the_sides_the_kernel_moved_bytes_through(void **state)
{
	const size_t n = 65536;
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_sockmap_ops);
	assert_int_equal(n, rig_one_way(&r, r.tc, r.ts, n));

	assert_int_equal(0, sl_fwd_moved_ms(&r.f, SL_FWD_CLIENT)); /* the process saw none */
	sl_fwd_sync(&r.f);
	assert_int_equal(n, sl_fwd_side_bytes(&r.f, SL_FWD_CLIENT));
	assert_int_equal(n, sl_fwd_side_bytes(&r.f, SL_FWD_SERVER));
	assert_int_equal(sl_loop_now_ms(r.loop), sl_fwd_moved_ms(&r.f, SL_FWD_CLIENT));
	assert_int_equal(sl_loop_now_ms(r.loop), sl_fwd_moved_ms(&r.f, SL_FWD_SERVER));
	rig_close(&r);
}

static void
sockmap_session_past_the_last_slot_runs_as_copy(void **state)
{
	struct rig full[SOCKMAP_PAIRS], r;
	uint64_t refused = sockmap_share.refused;

	(void)state;
	for (unsigned i = 0; i < SOCKMAP_PAIRS; i++)
		rig_open(&full[i], &sl_fwd_sockmap_ops);
	assert_int_equal(0, sockmap_share.nfree);
	rig_open(&r, &sl_fwd_sockmap_ops);
	rig_exchanges(&r, 3, 64);

	assert_ptr_equal(&sl_fwd_copy_ops, r.f.ops);
	assert_int_equal(refused + 1, sockmap_share.refused);
	rig_close(&r);
	/* the first rig's loop runs the worker's sweep (one loop per worker in sluice): last */
	for (unsigned i = SOCKMAP_PAIRS; i-- > 0;) {
		rig_exchanges(&full[i], 1, 64); /* the others still go through the kernel */
		assert_ptr_equal(&sl_fwd_sockmap_ops, full[i].f.ops);
		rig_close(&full[i]);
	}
	assert_int_equal(SOCKMAP_PAIRS, sockmap_share.nfree);
}

static void
sockmap_without_the_maps_runs_as_copy(void **state)
{
	struct rig r;

	(void)state;
	rig_open(&r, &sl_fwd_sockmap_ops);
	rig_close(&r);
	/* the same rig with no maps: a worker whose load failed */
	rig_make(&r, &sl_fwd_sockmap_ops);
	r.env.sockmap = NULL;
	rig_start(&r);
	rig_exchanges(&r, 3, 64);

	assert_ptr_equal(&sl_fwd_copy_ops, r.f.ops);
	assert_int_equal(1, r.env.fallbacks);
	rig_close(&r);
}

static void
sockmap_copies_both_ways_when_the_server_had_ended_first(void **state)
{
	char buf[16];
	struct rig r;
	int err;

	(void)state;
	rig_make(&r, &sl_fwd_sockmap_ops);
	/* a server that says its banner and half-closes at once: its socket has the FIN before
	 * the attach, and the kernel takes only established sockets into the sockhash */
	assert_int_equal(0, sl_test_write_all(r.ts, "banner", 6, 1000));
	assert_int_equal(0, shutdown(r.ts, SHUT_WR));
	for (int i = 0; i < 100 && recv(r.ps, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) != 6; i++)
		usleep(1000);
	rig_start(&r);
	assert_int_equal(6, rig_read(&r, r.tc, buf, 6));
	assert_true(rig_wait_eof(&r, r.tc, &err));
	assert_int_equal(0, err);

	/* the client's socket went in, its peer did not: its bytes are copied, never redirected
	 * to a socket that is not there (nor handed back to the kernel once copied) */
	assert_int_equal(0, sl_test_write_all(r.tc, "still here", 10, 1000));
	assert_int_equal(0, shutdown(r.tc, SHUT_WR));
	assert_int_equal(10, rig_read(&r, r.ts, buf, 10));
	assert_memory_equal("still here", buf, 10);
	assert_true(rig_wait_eof(&r, r.ts, &err));
	assert_int_equal(0, err);
	assert_ptr_equal(&sl_fwd_sockmap_ops, r.f.ops);
	assert_int_equal(0, r.f.kernel);
	rig_close(&r);
}

/*
 * Sends "HDR!" and <n> bytes of a pattern from the test client as one write, waits until the
 * proxy's client socket holds them all, and reads the 4 header bytes off it, as a PROXY header
 * is read: the rest of the first segment stays queued, behind the part read.
 */
static void
rig_send_after_header(struct rig *r, size_t n)
{
	char *out = malloc(4 + n), hdr[4];
	int queued = 0;

	assert_non_null(out);
	memcpy(out, "HDR!", 4);
	for (size_t i = 0; i < n; i++)
		out[4 + i] = (char)('a' + i % 26);
	assert_int_equal(0, sl_test_write_all(r->tc, out, 4 + n, 1000));
	for (int i = 0; i < 1000 && (size_t)queued < 4 + n; i++) {
		assert_int_equal(0, ioctl(r->pc, FIONREAD, &queued));
		usleep(1000);
	}
	assert_int_equal(4 + n, queued);
	assert_int_equal(4, recv(r->pc, hdr, 4, 0));
	sl_fwd_note_consumed(&r->f, SL_FWD_CLIENT);
	free(out);
}

/* Reads <n> bytes at the test server: the pattern rig_send_after_header() sent. */
static void
rig_expect_after_header(struct rig *r, size_t n)
{
	char *in = malloc(n);

	assert_non_null(in);
	assert_int_equal(n, rig_read(r, r->ts, in, n));
	for (size_t i = 0; i < n; i++)
		if (in[i] != (char)('a' + i % 26))
			fail_msg("byte %zu is '%c'", i, in[i]);
	free(in);
}

static void
sockmap_bytes_after_a_header_read_from_their_segment_pass_once(void **state)
{
	struct rig r;

	(void)state;
	rig_make(&r, &sl_fwd_sockmap_ops);
	/* the kernel would hand the verdict the whole first segment, header and all */
	rig_send_after_header(&r, 1000);
	rig_start(&r);
	rig_expect_after_header(&r, 1000);
	rig_exchanges(&r, 3, 64);
	/* the process delivered the rest of the segment, then handed the direction to the
	 * kernel, which moved every exchange both ways */
	assert_ptr_equal(&sl_fwd_sockmap_ops, r.f.ops);
	assert_int_equal(1u << SL_FWD_SERVER, r.f.kernel); /* the client's was copied a while */
	sl_fwd_sync(&r.f);
	assert_int_equal(2 * 3 * 64, sl_fwd_sockmap_redirected(&r.f));
	assert_int_equal(1000 + 3 * 64, sl_fwd_bytes(&r.f, SL_FWD_CLIENT));
	rig_close(&r);
}

static void
sockmap_more_than_a_buffer_after_a_header_runs_as_copy(void **state)
{
	struct rig r;

	(void)state;
	rig_make(&r, &sl_fwd_sockmap_ops);
	rig_send_after_header(&r, 3 * BUF_SIZE);
	rig_start(&r);
	/* a buffer of it read: the socket may not go in, and the copy keeps those bytes */
	assert_ptr_equal(&sl_fwd_copy_ops, r.f.ops);
	assert_int_equal(1, r.env.fallbacks);
	rig_expect_after_header(&r, 3 * BUF_SIZE);
	rig_exchanges(&r, 3, 64);
	rig_close(&r);
}

static void
sockmap_workers_share_every_slot_once(void **state)
{
	struct sl_fwd_sockmap w[3];
	unsigned seen[SOCKMAP_PAIRS] = {0};

	(void)state;
	if (sockmap_kernel == NULL)
		skip();
	/* 4 pairs over 3 workers: 2, 1 and 1, the remainder to the first */
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(0, sl__sockmap_worker(sockmap_kernel, i, 3, &w[i]));
		assert_int_equal(i == 0 ? 2 : 1, w[i].cap);
		for (uint32_t k = 0; k < w[i].nfree; k++) {
			assert_true(w[i].free[k] >= w[i].first &&
			            w[i].free[k] < w[i].first + w[i].cap);
			assert_true(w[i].free[k] < SOCKMAP_PAIRS);
			seen[w[i].free[k]]++;
		}
	}
	for (unsigned p = 0; p < SOCKMAP_PAIRS; p++)
		assert_int_equal(1, seen[p]);
	for (unsigned i = 0; i < 3; i++)
		sl__sockmap_worker_fini(&w[i]);
}

/* One test body per variant. */
#define ON(variant, fn)                                                                            \
	((struct CMUnitTest){#variant ": " #fn, fn, NULL, NULL, (void *)&sl_fwd_##variant##_ops})
#define ALL(fn) ON(splice, fn), ON(copy, fn), ON(auto, fn)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        ALL(fwd_moves_bytes_both_ways_intact),
	        ALL(fwd_passes_client_half_close_and_keeps_reverse_flowing),
	        ALL(fwd_passes_server_half_close_and_keeps_forward_flowing),
	        ALL(fwd_reports_server_reset_so_client_gets_reset),
	        ALL(fwd_holds_at_most_its_capacity_when_reader_stalls),
	        ALL(fwd_idle_session_holds_no_buffer),
	        ALL(fwd_holds_no_buffer_once_a_bulk_transfer_is_delivered),
	        ALL(fwd_keeps_bytes_in_order_as_buffers_come_and_go),
	        ALL(fwd_stalled_direction_holds_one_buffer_and_idle_one_none),
	        ALL(fwd_limited_direction_reads_only_what_is_granted_then_pauses),
	        ALL(fwd_limited_direction_gives_back_what_it_did_not_read),
	        cmocka_unit_test(fwd_reuses_cached_pipes_after_warm_up),
	        cmocka_unit_test(pipe_cache_closes_pipe_returned_with_data),
	        cmocka_unit_test(pipe_cache_opens_no_pipe_until_a_session_needs_one),
	        cmocka_unit_test(pipe_cache_trims_to_its_bound_once_pairs_come_back),
	        cmocka_unit_test(pipe_cache_of_a_closed_listener_keeps_no_spare),
	        cmocka_unit_test(fwd_falls_back_to_copy_when_variant_is_refused),
	        cmocka_unit_test(auto_splices_a_direction_that_carries_bulk),
	        cmocka_unit_test(auto_keeps_small_exchanges_on_copy),
	        cmocka_unit_test(auto_returns_to_copy_when_bulk_gives_way_to_small_exchanges),
	        ALL(fwd_counts_a_one_way_stream_as_progress_on_both_sides),
	        ALL(fwd_readiness_that_moves_no_byte_is_no_progress),
	        ALL(fwd_serves_small_session_while_bulk_one_flows_on_same_loop),
	        ON(uring, fwd_moves_bytes_both_ways_intact),
	        ON(uring, fwd_passes_client_half_close_and_keeps_reverse_flowing),
	        ON(uring, fwd_passes_server_half_close_and_keeps_forward_flowing),
	        ON(uring, fwd_reports_server_reset_so_client_gets_reset),
	        ON(uring, fwd_holds_at_most_its_capacity_when_reader_stalls),
	        ON(uring, fwd_keeps_bytes_in_order_as_buffers_come_and_go),
	        ON(uring, fwd_serves_small_session_while_bulk_one_flows_on_same_loop),
	        cmocka_unit_test(uring_forwards_many_sessions_on_one_loop_intact),
	        cmocka_unit_test(uring_copies_every_session_intact_without_a_file_table),
	        cmocka_unit_test(uring_copies_the_sessions_a_full_file_table_cannot_take),
	        cmocka_unit_test(uring_drained_defer_runs_once_the_last_block_is_back),
	        cmocka_unit_test(uring_worker_stop_ends_every_op_before_the_pool_may_go),
	        cmocka_unit_test(uring_runs_as_copy_on_an_epoll_loop),
	        cmocka_unit_test(
	                uring_forwards_many_sessions_intact_when_the_buffer_group_runs_dry),
	        cmocka_unit_test(uring_forwards_many_sessions_intact_on_single_shot_recvs),
	        cmocka_unit_test(uring_stalled_reader_holds_at_most_its_bound_of_the_group),
	        cmocka_unit_test(uring_peers_holding_the_whole_group_do_not_stall_another_session),
	};
	const struct CMUnitTest sockmap[] = {
	        ON(sockmap, fwd_moves_bytes_both_ways_intact),
	        ON(sockmap, fwd_passes_client_half_close_and_keeps_reverse_flowing),
	        ON(sockmap, fwd_passes_server_half_close_and_keeps_forward_flowing),
	        ON(sockmap, fwd_reports_server_reset_so_client_gets_reset),
	        ON(sockmap, fwd_holds_at_most_its_capacity_when_reader_stalls),
	        ON(sockmap, fwd_idle_session_holds_no_buffer),
	        ON(sockmap, fwd_holds_no_buffer_once_a_bulk_transfer_is_delivered),
	        ON(sockmap, fwd_keeps_bytes_in_order_as_buffers_come_and_go),
	        cmocka_unit_test(sockmap_redirects_bytes_that_came_before_the_start),
	        cmocka_unit_test(sockmap_sync_stamps_the_sides_the_kernel_moved_bytes_through),
	        cmocka_unit_test(sockmap_session_past_the_last_slot_runs_as_copy),
	        cmocka_unit_test(sockmap_without_the_maps_runs_as_copy),
	        cmocka_unit_test(sockmap_copies_both_ways_when_the_server_had_ended_first),
	        cmocka_unit_test(sockmap_workers_share_every_slot_once),
	        cmocka_unit_test(sockmap_bytes_after_a_header_read_from_their_segment_pass_once),
	        cmocka_unit_test(sockmap_more_than_a_buffer_after_a_header_runs_as_copy),
	};
	const struct CMUnitTest single_shot[] = {
	        ON(uring, fwd_moves_bytes_both_ways_intact),
	        ON(uring, fwd_passes_client_half_close_and_keeps_reverse_flowing),
	        ON(uring, fwd_passes_server_half_close_and_keeps_forward_flowing),
	        ON(uring, fwd_reports_server_reset_so_client_gets_reset),
	        ON(uring, fwd_holds_at_most_its_capacity_when_reader_stalls),
	        ON(uring, fwd_keeps_bytes_in_order_as_buffers_come_and_go),
	        ON(uring, fwd_serves_small_session_while_bulk_one_flows_on_same_loop),
	};
	int fails;

	fails = cmocka_run_group_tests_name("fwd", tests, NULL, NULL);
	fails += cmocka_run_group_tests_name("uring_single_shot", single_shot, use_single_shot,
	                                     NULL);
	fails += cmocka_run_group_tests_name("sockmap", sockmap, sockmap_setup, sockmap_teardown);
	return fails;
}
