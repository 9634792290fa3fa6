// SPDX-License-Identifier: MIT
/*
 * The proxy end to end, in process: sl_proxy on 127.0.0.1 (port 0) in front of echo servers
 * on threads; clients exchange random payloads and compare checksums. Failover (refused and
 * black-holed backends), passive ejection, idle timeout, drain, and configuration snapshots
 * published while traffic flows (freed only once every worker passed a quiescent point).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/proxy.h>

#include "proxy/proxy_int.h"
#include "sl_test_echo.h"
#include "sl_test_net.h"
#include "sl_test_proxy.h"

#define POLL_MS 10000

struct rig {
	struct sl_config cfg;
	struct sl_config_listener listeners[2];
	struct sl_config_group group;
	struct sl_config_backend backends[4];
	struct sl_proxy *p;
	struct sl_addr addr[2]; /* the listeners' bound addresses */
};

static void
rig_config(struct rig *r, unsigned workers, size_t nlisteners)
{
	memset(r, 0, sizeof(*r));
	r->cfg.workers = workers;
	r->cfg.drain_timeout_ms = 30000;
	r->cfg.listeners = r->listeners;
	r->cfg.nlisteners = nlisteners;
	r->cfg.groups = &r->group;
	r->cfg.ngroups = 1;
	for (size_t i = 0; i < nlisteners; i++)
		sl_test_proxy_listener(&r->listeners[i], i == 0 ? SL_FWD_SPLICE : SL_FWD_COPY);
	strcpy(r->group.name, "g");
	r->group.balance = SL_LB_ROUND_ROBIN;
	r->group.retries = 2;
	r->group.passive = (struct sl_config_passive){
	        .failures = 0, .backoff_ms = 60000, .max_backoff_ms = 60000};
	r->group.backends = r->backends;
}

static void
rig_backend(struct rig *r, const struct sl_addr *a)
{
	sl_test_proxy_backend(&r->backends[r->group.nbackends++], a);
}

static void
rig_start(struct rig *r)
{
	sl_test_proxy_start(&r->p, &r->cfg, r->addr);
}

static int
client_connect(const struct sl_addr *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		close(fd);
		return -errno;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/*
 * Sends <n> bytes of seed <seed> through <fd>, then EOF, while reading the echo to EOF.
 * Returns the number of bytes echoed (and whether their checksum matched in <*ok>), or a
 * negative errno.
 */
static ssize_t
exchange(int fd, size_t n, uint64_t seed, bool *ok)
{
	char *out = malloc(n + 1), in[16384];
	uint64_t want = SL_TEST_FNV_INIT, got = SL_TEST_FNV_INIT;
	size_t sent = 0, recvd = 0;
	bool shut = false;
	ssize_t ret = 0;

	sl_test_fill(out, n, seed);
	want = sl_test_fnv(want, out, n);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (sent < n)
			pfd.events |= POLLOUT;
		else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (poll(&pfd, 1, POLL_MS) <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		if (sent < n && (k = send(fd, out + sent, n - sent, MSG_NOSIGNAL)) > 0)
			sent += (size_t)k;
		k = recv(fd, in, sizeof(in), 0);
		if (k > 0) {
			got = sl_test_fnv(got, in, (size_t)k);
			recvd += (size_t)k;
		} else if (k == 0) {
			ret = (ssize_t)recvd;
			break;
		} else if (errno != EAGAIN) {
			ret = -errno;
			break;
		}
	}
	free(out);
	*ok = recvd == n && got == want;
	return ret;
}

/* One exchange on a new connection to <a>: true if the echo came back intact. */
static bool
ask(const struct sl_addr *a, size_t n, uint64_t seed)
{
	int fd = client_connect(a);
	bool ok = false;

	if (fd < 0)
		return false;
	exchange(fd, n, seed, &ok);
	close(fd);
	return ok;
}

struct client_job {
	const struct sl_addr *addr;
	unsigned id, conns;
	unsigned ok;
	uint64_t bytes;
};

static void *
client_main(void *arg)
{
	struct client_job *j = arg;

	for (unsigned i = 0; i < j->conns; i++) {
		uint64_t seed = (uint64_t)j->id * 1000 + i;
		size_t n = (size_t)(seed * 2654435761u % (96 * 1024));

		if (ask(j->addr, n, seed)) {
			j->ok++;
			j->bytes += n;
		}
	}
	return NULL;
}

static void
proxy_forwards_concurrent_connections_intact(void **state)
{
	enum { THREADS = 8, CONNS = 12 };
	struct sl_test_echo e1, e2;
	struct client_job jobs[THREADS];
	pthread_t t[THREADS];
	struct sl_proxy_stats st;
	uint64_t bytes = 0;
	unsigned ok = 0;
	struct rig r;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e1));
	rig_config(&r, 2, 2);
	rig_backend(&r, &e1.addr);
	rig_start(&r);
	for (unsigned i = 0; i < THREADS; i++) {
		/* half the clients through the splice listener, half through the copy one */
		jobs[i] = (struct client_job){.addr = &r.addr[i % 2], .id = i, .conns = CONNS};
		assert_int_equal(0, pthread_create(&t[i], NULL, client_main, &jobs[i]));
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += jobs[i].ok;
		bytes += jobs[i].bytes;
	}
	sl_proxy_drain(r.p, 5000);
	sl_proxy_stats(r.p, &st);

	assert_int_equal(THREADS * CONNS, ok);
	assert_int_equal(THREADS * CONNS, st.accepted);
	assert_int_equal(THREADS * CONNS, st.closed);
	assert_int_equal(0, st.active);
	assert_int_equal(bytes, st.bytes_in);
	assert_int_equal(bytes, st.bytes_out);
	assert_int_equal(0, st.resets);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e1);
	(void)e2;
}

/* Sends one byte on <fd> and waits up to <ms> for its echo. */
static bool
echoes_within(int fd, char c, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char got;

	if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 || poll(&pfd, 1, ms) != 1)
		return false;
	return recv(fd, &got, 1, 0) == 1 && got == c;
}

static void
proxy_holds_connections_over_max_until_a_session_closes(void **state)
{
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	struct pollfd pfd = {.events = POLLIN};
	struct rig r;
	char got = 0;
	int a, b, c;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	rig_config(&r, 1, 1);
	r.listeners[0].max_connections = 1;
	rig_backend(&r, &e.addr);
	rig_start(&r);
	a = client_connect(&r.addr[0]);
	assert_true(a >= 0);
	assert_true(echoes_within(a, 'a', POLL_MS));
	b = client_connect(&r.addr[0]); /* completes in the kernel's accept queue */
	assert_true(b >= 0);

	/* paused: b is not accepted while a is open */
	assert_false(echoes_within(b, 'b', 200));
	close(a);
	/* resumed by a's close: b's byte is forwarded now */
	pfd.fd = b;
	assert_int_equal(1, poll(&pfd, 1, POLL_MS));
	assert_int_equal(1, recv(b, &got, 1, 0));
	assert_int_equal('b', got);
	close(b);
	/* and the listener is live again for a later client */
	c = client_connect(&r.addr[0]);
	assert_true(c >= 0);
	assert_true(echoes_within(c, 'c', POLL_MS));
	close(c);
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);
	assert_int_equal(3, st.accepted);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

static void
proxy_fails_over_from_refused_backend(void **state)
{
	struct sl_test_echo e;
	struct sl_addr dead;
	struct sl_proxy_stats st;
	struct rig r;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	sl_test_refused_addr(&dead);
	rig_config(&r, 1, 1);
	rig_backend(&r, &dead);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	for (int i = 0; i < 6; i++)
		assert_true(ask(&r.addr[0], 1000, (uint64_t)i));
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);

	assert_int_equal(6, atomic_load(&e.accepted));
	/* every failed connect was retried on the other backend */
	assert_true(st.connect_failures >= 1);
	assert_int_equal(st.connect_failures, st.retries);
	assert_int_equal(0, st.no_backend);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

/* A listener whose accept queue is full and never drained: further SYNs are dropped. */
static int
black_hole(struct sl_addr *a, int fillers[2])
{
	int lfd = sl_test_listen(a, 0);

	for (int i = 0; i < 2; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		(void)connect(fillers[i], (const struct sockaddr *)&a->ss, a->len);
	}
	return lfd;
}

static void
proxy_fails_over_when_connect_times_out(void **state)
{
	struct sl_test_echo e;
	struct sl_addr hole;
	struct sl_proxy_stats st;
	int lfd, fillers[2];
	struct rig r;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	lfd = black_hole(&hole, fillers);
	rig_config(&r, 1, 1);
	r.listeners[0].timeouts.connect_ms = 100;
	rig_backend(&r, &hole);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	for (int i = 0; i < 2; i++)
		assert_true(ask(&r.addr[0], 100, (uint64_t)i));
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);

	assert_true(st.timeouts[SL_TIMEOUT_CONNECT] >= 1);
	assert_int_equal(st.timeouts[SL_TIMEOUT_CONNECT], st.connect_failures);
	assert_int_equal(st.connect_failures, st.retries);
	assert_int_equal(2, atomic_load(&e.accepted));
	sl_proxy_destroy(r.p);
	close(fillers[0]);
	close(fillers[1]);
	close(lfd);
	sl_test_echo_stop(&e);
}

static void
proxy_closes_client_when_every_backend_fails(void **state)
{
	struct sl_addr dead1, dead2;
	struct sl_proxy_stats st;
	char buf[8];
	struct rig r;
	int fd;

	(void)state;
	sl_test_refused_addr(&dead1);
	sl_test_refused_addr(&dead2);
	rig_config(&r, 1, 1);
	rig_backend(&r, &dead1);
	rig_backend(&r, &dead2);
	rig_start(&r);
	fd = client_connect(&r.addr[0]);
	assert_true(fd >= 0);

	assert_true(sl_test_read_full(fd, buf, sizeof(buf), POLL_MS) <= 0);
	close(fd);
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);
	assert_int_equal(1, st.no_backend);
	assert_int_equal(2, st.connect_failures);
	sl_proxy_destroy(r.p);
}

static void
proxy_ejects_backend_after_consecutive_failures(void **state)
{
	struct sl_test_echo e;
	struct sl_addr dead;
	struct sl_proxy_stats st;
	unsigned ok = 0;
	struct rig r;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	sl_test_refused_addr(&dead);
	rig_config(&r, 1, 1);
	r.group.retries = 0;
	r.group.passive.failures = 2;
	rig_backend(&r, &dead);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	/* round robin: dead, live, dead (ejected now), then live only */
	for (int i = 0; i < 10; i++)
		ok += ask(&r.addr[0], 100, (uint64_t)i);
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);

	assert_int_equal(8, ok);
	assert_int_equal(1, st.ejections);
	assert_int_equal(2, st.connect_failures);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

static void
proxy_closes_idle_client_and_counts_it(void **state)
{
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	char buf[8];
	struct rig r;
	int fd;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	rig_config(&r, 1, 1);
	r.listeners[0].timeouts.client_idle_ms = 100;
	r.listeners[0].timeouts.server_idle_ms = 0;
	rig_backend(&r, &e.addr);
	rig_start(&r);
	fd = client_connect(&r.addr[0]);
	assert_true(fd >= 0);

	assert_int_equal(0, sl_test_read_full(fd, buf, sizeof(buf), POLL_MS));
	close(fd);
	sl_proxy_stop(r.p);
	sl_proxy_stats(r.p, &st);
	assert_int_equal(1, st.timeouts[SL_TIMEOUT_CLIENT_IDLE]);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

struct drain_job {
	struct sl_proxy *p;
	uint32_t deadline_ms;
	int rc;
};

static void *
drain_main(void *arg)
{
	struct drain_job *j = arg;

	j->rc = sl_proxy_drain(j->p, j->deadline_ms);
	return NULL;
}

static void
proxy_drain_lets_live_session_finish(void **state)
{
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	struct drain_job j;
	pthread_t t;
	bool ok = false, refused = false;
	struct rig r;
	int fd;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	rig_config(&r, 2, 1);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	fd = client_connect(&r.addr[0]);
	assert_true(fd >= 0);
	assert_int_equal(0, sl_test_write_all(fd, "x", 1, POLL_MS)); /* session is live */
	assert_int_equal(1, sl_test_read_full(fd, (char[1]){0}, 1, POLL_MS));

	j = (struct drain_job){.p = r.p, .deadline_ms = 30000};
	assert_int_equal(0, pthread_create(&t, NULL, drain_main, &j));
	for (int i = 0; i < 100000 && !refused; i++) {
		int c = client_connect(&r.addr[0]);

		refused = c == -ECONNREFUSED;
		if (c >= 0)
			close(c);
	}
	assert_true(refused);
	assert_true(exchange(fd, 200000, 7, &ok) > 0);
	assert_true(ok);
	close(fd);
	pthread_join(t, NULL);
	sl_proxy_stats(r.p, &st);

	assert_int_equal(0, j.rc);
	assert_int_equal(0, st.timeouts[SL_TIMEOUT_DRAIN]);
	assert_int_equal(0, st.active);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

static void
proxy_drain_deadline_closes_unfinished_session(void **state)
{
	struct sl_test_echo e;
	struct sl_proxy_stats st;
	char buf[8];
	struct rig r;
	int fd;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	rig_config(&r, 1, 1);
	rig_backend(&r, &e.addr);
	rig_start(&r);
	fd = client_connect(&r.addr[0]);
	assert_true(fd >= 0);
	assert_int_equal(0, sl_test_write_all(fd, "x", 1, POLL_MS));
	assert_int_equal(1, sl_test_read_full(fd, buf, 1, POLL_MS));

	assert_int_equal(0, sl_proxy_drain(r.p, 50));
	sl_proxy_stats(r.p, &st);
	assert_int_equal(1, st.timeouts[SL_TIMEOUT_DRAIN]);
	assert_int_equal(0, sl_test_read_full(fd, buf, sizeof(buf), POLL_MS));
	close(fd);
	sl_proxy_destroy(r.p);
	sl_test_echo_stop(&e);
}

/* ---- configuration snapshots ---- */

/*
 * A heap snapshot (freed with sl_config_free()): <workers> workers, one copy listener on
 * 127.0.0.1 port 0 in front of the backend at <a>, client idle timeout <client_idle_ms>.
 */
static struct sl_config *
snapshot(unsigned workers, const struct sl_addr *a, uint32_t client_idle_ms)
{
	struct sl_config *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	sl_config_defaults(c);
	c->workers = workers;
	c->listeners = calloc(1, sizeof(c->listeners[0]));
	c->groups = calloc(1, sizeof(c->groups[0]));
	assert_non_null(c->listeners);
	assert_non_null(c->groups);
	c->nlisteners = 1;
	c->ngroups = 1;
	sl_config_listener_defaults(&c->listeners[0]);
	sl_test_proxy_listener(&c->listeners[0], SL_FWD_COPY);
	c->listeners[0].timeouts.client_idle_ms = client_idle_ms;
	sl_config_group_defaults(&c->groups[0]);
	strcpy(c->groups[0].name, "g");
	c->groups[0].backends = calloc(1, sizeof(c->groups[0].backends[0]));
	assert_non_null(c->groups[0].backends);
	c->groups[0].nbackends = 1;
	sl_config_backend_defaults(&c->groups[0].backends[0]);
	sl_test_proxy_backend(&c->groups[0].backends[0], a);
	return c;
}

/* Waits up to POLL_MS for <*flag>. */
static bool
flag_within(atomic_bool *flag)
{
	const struct timespec pause = {.tv_nsec = 1000000};

	for (int i = 0; i < POLL_MS && !atomic_load(flag); i++)
		nanosleep(&pause, NULL);
	return atomic_load(flag);
}

/*
 * Holds one worker inside a loop callback (so it passes no quiescent point) until a byte
 * arrives on <release>, then reports once its loop has passed one: the message queues <d1>,
 * which runs in the same iteration and queues <d2>, which runs only in the next iteration,
 * after the loop's quiescent point.
 */
struct hold {
	struct sl_msg msg;
	struct sl_defer d1, d2;
	int release[2]; /* pipe */
	atomic_bool entered, passed;
};

static void
hold_passed(struct sl_loop *l, struct sl_defer *d)
{
	struct hold *h = d->data;

	(void)l;
	atomic_store(&h->passed, true);
}

static void
hold_next_iteration(struct sl_loop *l, struct sl_defer *d)
{
	struct hold *h = d->data;

	sl_loop_defer(l, &h->d2);
}

static void
hold_fn(struct sl_worker *w, struct sl_msg *m)
{
	struct hold *h = m->data;
	struct pollfd pfd = {.fd = h->release[0], .events = POLLIN};
	char c;

	atomic_store(&h->entered, true);
	if (poll(&pfd, 1, 3 * POLL_MS) == 1)
		assert_int_equal(1, read(h->release[0], &c, 1));
	sl_loop_defer(sl_worker_loop(w), &h->d1);
}

static void
hold_init(struct hold *h)
{
	memset(h, 0, sizeof(*h));
	h->msg = (struct sl_msg){.fn = hold_fn, .data = h};
	sl_defer_init(&h->d1, hold_next_iteration, h);
	sl_defer_init(&h->d2, hold_passed, h);
	assert_int_equal(0, pipe(h->release));
	atomic_init(&h->entered, false);
	atomic_init(&h->passed, false);
}

static void
hold_fini(struct hold *h)
{
	close(h->release[0]);
	close(h->release[1]);
}

/* Clients that connect, exchange and close, one after another, until told to stop. */
struct traffic {
	const struct sl_addr *addr;
	unsigned id;
	atomic_bool stop;
	atomic_uint done; /* exchanges finished */
	unsigned ok;      /* of those, intact */
	pthread_t thread;
};

static void *
traffic_main(void *arg)
{
	struct traffic *t = arg;

	/* bounded: the test stops it long before */
	for (unsigned i = 0; i < 100000 && !atomic_load(&t->stop); i++) {
		uint64_t seed = (uint64_t)t->id * 100000 + i;

		if (ask(t->addr, (size_t)(seed * 2654435761u % (32 * 1024)), seed))
			t->ok++;
		atomic_fetch_add(&t->done, 1);
	}
	return NULL;
}

static size_t
configs_freed(struct sl_proxy *p)
{
	struct sl_epoch_stats st;

	sl_epoch_stats(p->epoch, &st);
	return st.freed;
}

static void
proxy_frees_replaced_config_only_after_every_worker_passed_quiescence(void **state)
{
	const struct timespec pause = {.tv_nsec = 1000000};
	struct traffic tr[2];
	struct hold holds[2];
	struct sl_config *base, *s1, *s2;
	struct sl_epoch_stats es;
	struct sl_proxy_stats st;
	struct sl_test_echo e;
	struct sl_addr addr;
	struct sl_proxy *p;
	unsigned ok = 0, done = 0;
	bool intact = false;
	int live;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	base = snapshot(2, &e.addr, 60000);
	sl_test_proxy_start(&p, base, &addr);
	live = client_connect(&addr);
	assert_true(live >= 0);
	assert_true(echoes_within(live, 'a', POLL_MS)); /* a session that spans the publishes */
	for (unsigned i = 0; i < 2; i++) {
		tr[i] = (struct traffic){.addr = &addr, .id = i};
		atomic_init(&tr[i].stop, false);
		atomic_init(&tr[i].done, 0);
		assert_int_equal(0, pthread_create(&tr[i].thread, NULL, traffic_main, &tr[i]));
	}
	for (int i = 0;
	     i < POLL_MS && (atomic_load(&tr[0].done) == 0 || atomic_load(&tr[1].done) == 0); i++)
		nanosleep(&pause, NULL); /* clients are running before the first publish */

	/* the layout snapshot is the caller's: replacing it retires nothing */
	s1 = snapshot(2, &e.addr, 50000);
	assert_int_equal(0, sl__proxy_publish_config(p, s1));
	sl_epoch_stats(p->epoch, &es);
	assert_int_equal(0, es.retired);

	/* both workers held inside a callback: s1 may still be in use on either */
	for (unsigned i = 0; i < 2; i++) {
		hold_init(&holds[i]);
		assert_int_equal(0, sl_worker_post(p->workers[i].w, &holds[i].msg));
		assert_true(flag_within(&holds[i].entered));
	}
	s2 = snapshot(2, &e.addr, 40000);
	assert_int_equal(0, sl__proxy_publish_config(p, s2));
	assert_int_equal(1, sl__proxy_reclaim_configs(p));
	assert_int_equal(0, configs_freed(p));

	/* worker 0 passes a quiescent point; worker 1 is still inside its callback */
	assert_int_equal(1, write(holds[0].release[1], "x", 1));
	assert_true(flag_within(&holds[0].passed));
	assert_int_equal(1, sl__proxy_reclaim_configs(p));
	assert_int_equal(0, configs_freed(p));

	/* and now worker 1 */
	assert_int_equal(1, write(holds[1].release[1], "x", 1));
	assert_true(flag_within(&holds[1].passed));
	assert_int_equal(0, sl__proxy_reclaim_configs(p));
	assert_int_equal(1, configs_freed(p));

	/* traffic kept flowing: the clients across the publishes, the old session, a new one */
	for (unsigned i = 0; i < 2; i++) {
		unsigned before = atomic_load(&tr[i].done);

		for (int k = 0; k < POLL_MS && atomic_load(&tr[i].done) == before; k++)
			nanosleep(&pause, NULL); /* one more exchange after the free */
		atomic_store(&tr[i].stop, true);
		pthread_join(tr[i].thread, NULL);
		assert_true(atomic_load(&tr[i].done) > before);
		ok += tr[i].ok;
		done += atomic_load(&tr[i].done);
	}
	assert_int_equal(done, ok);
	assert_true(exchange(live, 100000, 9, &intact) > 0);
	assert_true(intact);
	close(live);
	assert_true(ask(&addr, 5000, 11));
	sl_proxy_stop(p);
	sl_proxy_stats(p, &st);
	assert_int_equal(done + 2, st.accepted);
	assert_int_equal(0, st.resets);
	for (unsigned i = 0; i < 2; i++)
		hold_fini(&holds[i]);
	sl_proxy_destroy(p); /* frees s2, the current snapshot */
	sl_config_free(base);
	sl_test_echo_stop(&e);
}

static void
proxy_applies_published_timeouts_to_new_sessions(void **state)
{
	struct sl_config *base, *next;
	struct sl_proxy_stats st;
	struct sl_test_echo e;
	struct sl_addr addr;
	struct sl_proxy *p;
	char buf[8];
	int fd;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	base = snapshot(1, &e.addr, 60000);
	sl_test_proxy_start(&p, base, &addr);
	next = snapshot(1, &e.addr, 100);

	assert_int_equal(0, sl__proxy_publish_config(p, next));
	fd = client_connect(&addr);
	assert_true(fd >= 0);
	assert_true(echoes_within(fd, 'a', POLL_MS));
	/* silent from here: the published 100 ms client idle timeout closes it */
	assert_int_equal(0, sl_test_read_full(fd, buf, sizeof(buf), POLL_MS));
	close(fd);
	sl_proxy_stop(p);
	sl_proxy_stats(p, &st);

	assert_int_equal(1, st.timeouts[SL_TIMEOUT_CLIENT_IDLE]);
	sl_proxy_destroy(p);
	sl_config_free(base);
	sl_test_echo_stop(&e);
}

static void
proxy_refuses_to_publish_config_of_another_layout(void **state)
{
	struct sl_config *base, *more;
	struct sl_test_echo e;
	struct sl_addr addr;
	struct sl_proxy *p;

	(void)state;
	assert_int_equal(0, sl_test_echo_start(&e));
	base = snapshot(1, &e.addr, 60000);
	sl_test_proxy_start(&p, base, &addr);
	more = snapshot(2, &e.addr, 60000); /* another worker count (backend lists are the
	                                     * reload's to apply: backends_test.c) */

	assert_int_equal(-EINVAL, sl__proxy_publish_config(p, more));
	assert_ptr_equal(base, sl__proxy_config(p));
	assert_true(ask(&addr, 5000, 3));
	sl_proxy_destroy(p);
	/* refused snapshots stay the caller's */
	sl_config_free(more);
	sl_config_free(base);
	sl_test_echo_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(proxy_forwards_concurrent_connections_intact),
	        cmocka_unit_test(proxy_holds_connections_over_max_until_a_session_closes),
	        cmocka_unit_test(proxy_fails_over_from_refused_backend),
	        cmocka_unit_test(proxy_fails_over_when_connect_times_out),
	        cmocka_unit_test(proxy_closes_client_when_every_backend_fails),
	        cmocka_unit_test(proxy_ejects_backend_after_consecutive_failures),
	        cmocka_unit_test(proxy_closes_idle_client_and_counts_it),
	        cmocka_unit_test(proxy_drain_lets_live_session_finish),
	        cmocka_unit_test(proxy_drain_deadline_closes_unfinished_session),
	        cmocka_unit_test(
	                proxy_frees_replaced_config_only_after_every_worker_passed_quiescence),
	        cmocka_unit_test(proxy_applies_published_timeouts_to_new_sessions),
	        cmocka_unit_test(proxy_refuses_to_publish_config_of_another_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
