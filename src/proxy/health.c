/* SPDX-License-Identifier: MIT */
/*
 * sl_health: the active health checker (include/sluice/health.h). One thread runs one sl_loop;
 * each target has one socket at most, one timer (next check while idle, timeout while a check
 * is in flight) and one io. Per check:
 *
 *   IDLE --timer--> CONNECTING --writable, SO_ERROR 0--> [TCP: pass]
 *                               [SEND_EXPECT] --> SENDING --all sent--> READING --prefix--> pass
 *   any state but IDLE --timeout, error, EOF, mismatch--> fail;  pass/fail --> IDLE
 *
 * Shared fields: *target.up (written only here, R1 release store on a transition) and the stats
 * counters (written only by the checker thread, relaxed). Everything else belongs to the
 * checker thread between start and stop, and to the controlling thread otherwise
 * (pthread_create/pthread_join order the hand-overs). Docs: docs/internals/health.md.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/health.h>
#include <sluice/log.h>
#include <sluice/loop.h>
#include <sluice/proxyproto.h>
#include <sluice/sock.h>

enum hc_phase {
	HC_IDLE,
	HC_CONNECTING,
	HC_SENDING,
	HC_READING,
};

struct hc {
	struct sl_health *h;
	struct sl_health_target t;
	size_t idx;
	struct sl_io io;
	struct sl_timer timer; /* IDLE: next check; otherwise: the check's timeout */
	int fd;                /* -1 while IDLE */
	bool registered;       /* io is registered with the loop */
	enum hc_phase phase;
	bool up;           /* the state last published (or the initial one) */
	bool been_down;    /* for the log line: "up again" vs "up" */
	uint32_t ok_run;   /* consecutive successes */
	uint32_t fail_run; /* consecutive failures */
	size_t off;        /* SENDING: bytes sent; READING: reply bytes matched */
	uint64_t started_ms;
	char why[128];                 /* the last failure */
	bool paused;                   /* not checked (sl_health_set_target()) */
	char name[SL_CONFIG_NAME_MAX]; /* t.name points here */
	/* a change from sl_health_set_target() for the checker thread: under h->mu */
	struct {
		bool set, active, reset, addr_set;
		struct sl_addr addr;
		char name[SL_CONFIG_NAME_MAX];
		bool cfg_set; /* sl_health_set_config(): the next two replace t.cfg, t.send_proxy */
		const struct sl_config_health *cfg;
		unsigned send_proxy;
	} pend;
};

struct sl_health {
	struct sl_loop *loop;
	struct hc *t;
	size_t n;
	struct sl_health_opts opts;
	uint64_t rng;
	pthread_t thread;
	/* guards started, joined, stopping, dirty and every target's pend */
	pthread_mutex_t mu;
	bool started;
	bool joined;
	bool stopping; /* the wake-up stops the loop */
	bool dirty;    /* some target's pend is set */

	/* written by the checker thread only (relaxed); read by anyone */
	struct {
		_Atomic uint64_t checks;
		_Atomic uint64_t failures;
		_Atomic uint64_t ups;
		_Atomic uint64_t downs;
		_Atomic uint64_t local_errors;
	} st SL_CACHELINE_ALIGNED;
};

/* ---- helpers ---- */

/* Adds one to <c>; returns the value before. */
static uint64_t
stat_inc(_Atomic uint64_t *c)
{
	/* relaxed: the checker thread is the only writer; readers want a torn-free value only */
	uint64_t v = atomic_load_explicit(c, memory_order_relaxed);

	/* relaxed: as above */
	atomic_store_explicit(c, v + 1, memory_order_relaxed);
	return v;
}

/* splitmix64: a small PRNG for the first-check jitter (not security-relevant) */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void set_why(struct hc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_why(struct hc *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static void
set_why_errno(struct hc *c, const char *what, int err)
{
	char buf[64];

	set_why(c, "%s: %s", what, strerror_r(err, buf, sizeof(buf)));
}

/* Closes the check's socket, if any, and returns the target to IDLE. */
static void
check_close(struct sl_health *h, struct hc *c)
{
	if (c->registered) {
		sl_loop_io_del(h->loop, &c->io);
		c->registered = false;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->phase = HC_IDLE;
}

/* Publishes a transition: counters first, then R1, then the log line and the callback. */
static void
publish(struct sl_health *h, struct hc *c, bool up)
{
	struct sl_health_event ev = {
	        .target = c->idx,
	        .up = up,
	        .count = up ? c->ok_run : c->fail_run,
	        .reason = up ? "" : c->why,
	};

	c->up = up;
	stat_inc(up ? &h->st.ups : &h->st.downs);
	if (up && c->t.up_at_ms != NULL)
		/* relaxed: the value alone (health.h) */
		atomic_store_explicit(c->t.up_at_ms, sl_loop_now_ms(h->loop), memory_order_relaxed);
	/*
	 * R1: the state, for the workers. Pairs with a relaxed load in sl_health_backend_is_up()
	 * (enough: the byte carries no payload), or with an acquire load (A1 in the unit tests)
	 * by a reader that wants the counters above to be at least as new as the state it saw.
	 */
	atomic_store_explicit(c->t.up, up ? 1 : 0, memory_order_release);
	if (up)
		sl_log_warn("backend %s/%s is up%s (%u consecutive successes)", c->t.group,
		            c->t.name, c->been_down ? " again" : "", c->ok_run);
	else
		sl_log_warn("backend %s/%s is down: %s (%u consecutive failures)", c->t.group,
		            c->t.name, c->why, c->fail_run);
	if (!up)
		c->been_down = true;
	if (h->opts.on_change != NULL)
		h->opts.on_change(h->opts.arg, &ev);
}

/* Ends the check in flight: counts it, applies rise/fall, schedules the next one. */
static void
check_done(struct sl_health *h, struct hc *c, bool ok)
{
	const struct sl_config_health *cfg = c->t.cfg;
	uint64_t elapsed = sl_loop_now_ms(h->loop) - c->started_ms;

	check_close(h, c);
	stat_inc(&h->st.checks);
	if (ok) {
		c->fail_run = 0;
		if (c->ok_run < UINT32_MAX)
			c->ok_run++;
		if (!c->up && c->ok_run >= cfg->rise)
			publish(h, c, true);
	} else {
		stat_inc(&h->st.failures);
		c->ok_run = 0;
		if (c->fail_run < UINT32_MAX)
			c->fail_run++;
		if (c->up && c->fail_run >= cfg->fall)
			publish(h, c, false);
	}
	/* checks start every interval, never overlapping: a slow check delays the next one */
	sl_loop_timer_add(h->loop, &c->timer,
	                  elapsed >= cfg->interval_ms ? 0 : cfg->interval_ms - elapsed);
}

/*
 * The check could not start for want of something on this host (fds, memory, local ports): no
 * verdict on the backend, which keeps its state; the next check starts an interval later.
 */
static void
check_skip_local(struct sl_health *h, struct hc *c, const char *what, int err)
{
	char buf[64];

	check_close(h, c);
	if (stat_inc(&h->st.local_errors) == 0)
		sl_log_warn("health check of %s/%s not run: %s: %s (this host's shortage, not the "
		            "backend's; counted, logged once)",
		            c->t.group, c->t.name, what, strerror_r(err, buf, sizeof(buf)));
	sl_loop_timer_add(h->loop, &c->timer, c->t.cfg->interval_ms);
}

static void
check_fail_errno(struct sl_health *h, struct hc *c, const char *what, int err)
{
	if (sl_sock_error_is_local(-err)) {
		check_skip_local(h, c, what, err);
		return;
	}
	set_why_errno(c, what, err);
	check_done(h, c, false);
}

/* ---- the check's io ---- */

/* READING: matches reply bytes against the expected prefix as they arrive. */
static void
check_read(struct sl_health *h, struct hc *c)
{
	const struct sl_config_health *cfg = c->t.cfg;
	char buf[256];

	while (c->off < cfg->expect_len) {
		size_t want = cfg->expect_len - c->off;
		ssize_t r = recv(c->fd, buf, want < sizeof(buf) ? want : sizeof(buf), 0);

		if (r > 0) {
			if (memcmp(buf, cfg->expect + c->off, (size_t)r) != 0) {
				size_t i = 0;

				while (buf[i] == cfg->expect[c->off + i])
					i++;
				set_why(c,
				        "unexpected reply (byte %zu of the expected %zu differs)",
				        c->off + i + 1, cfg->expect_len);
				check_done(h, c, false);
				return;
			}
			c->off += (size_t)r;
		} else if (r == 0) {
			set_why(c, "closed by the backend after %zu of %zu reply bytes", c->off,
			        cfg->expect_len);
			check_done(h, c, false);
			return;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			check_fail_errno(h, c, "recv", errno);
			return;
		}
	}
	check_done(h, c, true);
}

/* SENDING: writes the probe; partial writes wait for the next writable edge. */
static void
check_send(struct sl_health *h, struct hc *c)
{
	const struct sl_config_health *cfg = c->t.cfg;

	while (c->off < cfg->send_len) {
		ssize_t r = send(c->fd, cfg->send + c->off, cfg->send_len - c->off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r >= 0) {
			c->off += (size_t)r;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			check_fail_errno(h, c, "send", errno);
			return;
		}
	}
	c->phase = HC_READING;
	c->off = 0;
	check_read(h, c);
}

static void
check_connected(struct sl_health *h, struct hc *c)
{
	if (c->t.send_proxy != 0) {
		/* no client: v1 "PROXY UNKNOWN", v2 LOCAL; a fresh socket takes it whole */
		const struct sl_pp_hdr local = {.cmd = SL_PP_CMD_LOCAL};
		uint8_t buf[SL_PP_V2_FIXED_LEN];
		ssize_t n = sl_pp_build(buf, sizeof(buf), c->t.send_proxy, &local);

		if (n < 0 || send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
			check_fail_errno(h, c, "send PROXY header", n < 0 ? (int)-n : errno);
			return;
		}
	}
	if (c->t.cfg->kind == SL_HEALTH_TCP) {
		check_done(h, c, true);
		return;
	}
	c->phase = HC_SENDING;
	c->off = 0;
	check_send(h, c);
}

/* What a failed connect of <c> is called in its "down" line: with the port when the checks go
 * to another one than the backend's (health port), which may well still serve traffic. */
static const char *
connect_what(const struct hc *c, char *buf, size_t size)
{
	if (c->t.cfg->port == 0)
		return "connect";
	snprintf(buf, size, "connect to health port %u", c->t.cfg->port);
	return buf;
}

static void
check_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct hc *c = io->data;
	struct sl_health *h = c->h;
	char what[48];
	int err = 0;
	socklen_t len = sizeof(err);

	(void)l;
	switch (c->phase) {
	case HC_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			check_fail_errno(h, c, connect_what(c, what, sizeof(what)), err);
		else if (events & SL_IO_WRITE)
			check_connected(h, c);
		else if (events & SL_IO_HUP)
			check_fail_errno(h, c, connect_what(c, what, sizeof(what)), ECONNRESET);
		return;
	case HC_SENDING:
		check_send(h, c);
		return;
	case HC_READING:
		check_read(h, c);
		return;
	case HC_IDLE:
		break;
	}
	SL_ASSERT(!"io event on an idle target");
}

/* ---- scheduling ---- */

static void
check_start(struct sl_health *h, struct hc *c)
{
	const struct sl_config_health *cfg = c->t.cfg;
	struct sl_addr to = c->t.addr;
	char what[48];
	int fd, err;

	c->started_ms = sl_loop_now_ms(h->loop);
	c->off = 0;
	c->phase = HC_CONNECTING;
	/* the timeout covers the whole check: connect, send and reply */
	sl_loop_timer_add(h->loop, &c->timer, cfg->timeout_ms);
	if (cfg->port != 0)
		sl_addr_set_port(&to, cfg->port);
	fd = socket(to.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		check_fail_errno(h, c, "socket", errno);
		return;
	}
	c->fd = fd;
	sl_io_init(&c->io, fd, check_io, c);
	err = sl_sock_bind_source(fd, &c->t.source);
	if (err != 0) {
		check_fail_errno(h, c, "bind to the group's source", -err);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&to.ss, to.len) == 0) {
		err = sl_loop_io_add(h->loop, &c->io, SL_IO_READ | SL_IO_WRITE);
		if (err != 0) {
			check_fail_errno(h, c, "epoll", -err);
			return;
		}
		c->registered = true;
		check_connected(h, c);
		return;
	}
	if (errno != EINPROGRESS) {
		err = errno;
		check_fail_errno(h, c, connect_what(c, what, sizeof(what)), err);
		return;
	}
	err = sl_loop_io_add(h->loop, &c->io, SL_IO_READ | SL_IO_WRITE);
	if (err != 0) {
		check_fail_errno(h, c, "epoll", -err);
		return;
	}
	c->registered = true;
}

static void
check_timer(struct sl_loop *l, struct sl_timer *t)
{
	struct hc *c = t->data;
	struct sl_health *h = c->h;

	(void)l;
	switch (c->phase) {
	case HC_IDLE:
		check_start(h, c);
		return;
	case HC_CONNECTING:
		set_why(c, "timeout after %u ms connecting", c->t.cfg->timeout_ms);
		break;
	case HC_SENDING:
		set_why(c, "timeout after %u ms sending the probe", c->t.cfg->timeout_ms);
		break;
	case HC_READING:
		set_why(c, "timeout after %u ms waiting for the reply (%zu of %zu bytes)",
		        c->t.cfg->timeout_ms, c->off, c->t.cfg->expect_len);
		break;
	}
	check_done(h, c, false);
}

/*
 * Target <c>, down, is checked no more (its kind became SL_HEALTH_NONE): up, as a backend without
 * checks is, published like a transition.
 */
static void
up_unchecked(struct sl_health *h, struct hc *c)
{
	struct sl_health_event ev = {.target = c->idx, .up = true, .count = 0, .reason = ""};

	c->up = true;
	stat_inc(&h->st.ups);
	/* R1: as in publish() */
	atomic_store_explicit(c->t.up, 1, memory_order_release);
	sl_log_warn("backend %s/%s is up: no more health checks", c->t.group, c->t.name);
	if (h->opts.on_change != NULL)
		h->opts.on_change(h->opts.arg, &ev);
}

/*
 * Applies a change of target <c> (from pend): on the checker thread while it runs (<running>),
 * else on the caller's, under h->mu either way.
 */
static void
target_apply(struct sl_health *h, struct hc *c, bool running)
{
	bool was_paused = c->paused;

	c->pend.set = false;
	if (c->pend.addr_set)
		c->t.addr = c->pend.addr;
	if (c->pend.name[0] != '\0') {
		memcpy(c->name, c->pend.name, sizeof(c->name));
		c->t.name = c->name;
	}
	c->paused = !c->pend.active;
	if (c->pend.reset || c->paused || c->pend.addr_set || c->pend.cfg_set) {
		check_close(h, c);
		sl_loop_timer_cancel(h->loop, &c->timer);
	}
	if (c->pend.cfg_set) {
		/* a new check: the runs start again, the state stays */
		c->t.cfg = c->pend.cfg;
		c->t.send_proxy = c->pend.send_proxy;
		c->ok_run = c->fail_run = 0;
		if (c->t.cfg->kind == SL_HEALTH_NONE && !c->up)
			up_unchecked(h, c);
	}
	if (c->pend.reset) {
		c->ok_run = c->fail_run = 0;
		c->been_down = false;
		c->up = true;
		/* R1: as in publish() */
		atomic_store_explicit(c->t.up, 1, memory_order_release);
	}
	if (running && !c->paused && c->t.cfg->kind != SL_HEALTH_NONE &&
	    (was_paused || c->pend.reset || c->pend.addr_set || c->pend.cfg_set))
		sl_loop_timer_add(h->loop, &c->timer, rng_next(&h->rng) % c->t.cfg->interval_ms);
}

/* The loop's wake-up, on the checker thread: target changes, then the stop if asked. */
static void
wake(struct sl_loop *l, void *arg)
{
	struct sl_health *h = arg;

	pthread_mutex_lock(&h->mu);
	if (h->dirty) {
		h->dirty = false;
		for (size_t i = 0; i < h->n; i++)
			if (h->t[i].pend.set)
				target_apply(h, &h->t[i], true);
	}
	if (h->stopping)
		sl_loop_stop(l);
	pthread_mutex_unlock(&h->mu);
}

static void *
checker_main(void *arg)
{
	struct sl_health *h = arg;
	int err;

	for (size_t i = 0; i < h->n; i++) {
		struct hc *c = &h->t[i];

		if (c->t.cfg->kind == SL_HEALTH_NONE || c->paused)
			continue;
		/* jitter: spread the first checks uniformly over one interval */
		sl_loop_timer_add(h->loop, &c->timer, rng_next(&h->rng) % c->t.cfg->interval_ms);
	}
	err = sl_loop_run(h->loop);
	if (err != 0) {
		char buf[64];

		sl_log_error("health checker: event loop failed: %s",
		             strerror_r(-err, buf, sizeof(buf)));
	}
	/* abandon checks in flight: not counted, no state change */
	for (size_t i = 0; i < h->n; i++) {
		check_close(h, &h->t[i]);
		sl_loop_timer_cancel(h->loop, &h->t[i].timer);
	}
	return NULL;
}

/* ---- public ---- */

static bool
target_is_valid(const struct sl_health_target *t)
{
	const struct sl_config_health *cfg = t->cfg;

	if (t->up == NULL || cfg == NULL || (t->addr.len == 0 && !t->paused))
		return false;
	if (cfg->kind == SL_HEALTH_NONE)
		return true;
	if (cfg->kind != SL_HEALTH_TCP && cfg->kind != SL_HEALTH_SEND_EXPECT)
		return false;
	if (cfg->interval_ms == 0 || cfg->timeout_ms == 0 || cfg->rise == 0 || cfg->fall == 0)
		return false;
	if (cfg->kind == SL_HEALTH_SEND_EXPECT && ((cfg->send_len > 0 && cfg->send == NULL) ||
	                                           (cfg->expect_len > 0 && cfg->expect == NULL)))
		return false;
	return true;
}

int
sl_health_create(struct sl_health **out, const struct sl_health_target *t, size_t n,
                 const struct sl_health_opts *o)
{
	struct sl_health *h;
	int err;

	for (size_t i = 0; i < n; i++)
		if (!target_is_valid(&t[i]))
			return -EINVAL;
	h = aligned_alloc(SL_CACHELINE,
	                  (sizeof(*h) + SL_CACHELINE - 1) / SL_CACHELINE * SL_CACHELINE);
	if (h == NULL)
		return -ENOMEM;
	memset(h, 0, sizeof(*h));
	h->t = calloc(n != 0 ? n : 1, sizeof(h->t[0]));
	if (h->t == NULL) {
		err = -ENOMEM;
		goto err_free_h;
	}
	/* checks make no ops on registered files: no table (its kernel memory) */
	err = sl_loop_create(
	        &h->loop, &(struct sl_loop_opts){.runtime = o != NULL ? o->runtime : SL_LOOP_AUTO,
	                                         .max_files = -1});
	if (err != 0)
		goto err_free_targets;
	sl_loop_set_wake_fn(h->loop, wake, h);
	pthread_mutex_init(&h->mu, NULL);
	h->n = n;
	if (o != NULL)
		h->opts = *o;
	h->rng = h->opts.seed != 0 ? h->opts.seed : sl_clock_ns() ^ (uint64_t)(uintptr_t)h;
	atomic_init(&h->st.checks, 0);
	atomic_init(&h->st.failures, 0);
	atomic_init(&h->st.ups, 0);
	atomic_init(&h->st.downs, 0);
	atomic_init(&h->st.local_errors, 0);
	for (size_t i = 0; i < n; i++) {
		struct hc *c = &h->t[i];

		c->h = h;
		c->t = t[i];
		/* a copy: the caller may reuse its name for another backend once the target is
		 * paused, while a check finishing here still logs the old one */
		snprintf(c->name, sizeof(c->name), "%s", t[i].name != NULL ? t[i].name : "");
		c->t.name = c->name;
		c->idx = i;
		c->fd = -1;
		c->phase = HC_IDLE;
		/* relaxed: the caller set the initial state before this call, on this thread or
		 * published to it; the checker never reads *up again */
		c->up = atomic_load_explicit(t[i].up, memory_order_relaxed) != 0;
		c->been_down = false;
		c->paused = t[i].paused;
		sl_timer_init(&c->timer, check_timer, c);
		sl_io_init(&c->io, -1, check_io, c);
	}
	*out = h;
	return 0;

err_free_targets:
	free(h->t);
err_free_h:
	free(h);
	return err;
}

int
sl_health_start(struct sl_health *h)
{
	sigset_t all, old;
	int err;

	pthread_mutex_lock(&h->mu);
	if (h->started) {
		pthread_mutex_unlock(&h->mu);
		return -EALREADY;
	}
	/* the thread inherits the mask: signals belong to the process's main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&h->thread, NULL, checker_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0) {
		pthread_setname_np(h->thread, "sl-health");
		h->started = true;
	}
	pthread_mutex_unlock(&h->mu);
	return -err;
}

void
sl_health_stop(struct sl_health *h)
{
	pthread_mutex_lock(&h->mu);
	if (!h->started || h->joined) {
		pthread_mutex_unlock(&h->mu);
		return;
	}
	h->stopping = true;
	pthread_mutex_unlock(&h->mu);
	/*
	 * The wake fn stops the loop; a wake before the loop runs stays pending in the eventfd.
	 * sl_loop_wake() fails only if the eventfd itself is broken (never on a live loop).
	 */
	if (sl_loop_wake(h->loop) != 0)
		SL_ASSERT(!"health checker wake-up failed");
	pthread_join(h->thread, NULL);
	pthread_mutex_lock(&h->mu);
	h->joined = true;
	/* changes the thread did not take: applied here, for a later reader of the state */
	for (size_t i = 0; i < h->n; i++)
		if (h->t[i].pend.set)
			target_apply(h, &h->t[i], false);
	pthread_mutex_unlock(&h->mu);
}

void
sl_health_destroy(struct sl_health *h)
{
	if (h == NULL)
		return;
	sl_health_stop(h);
	sl_loop_destroy(h->loop);
	pthread_mutex_destroy(&h->mu);
	free(h->t);
	free(h);
}

/* Wakes the checker for a pend just set on <c>, or applies it at once when none runs. Under mu. */
static void
pend_post(struct sl_health *h, struct hc *c)
{
	c->pend.set = true;
	if (!h->started || h->joined) {
		target_apply(h, c, false);
	} else {
		h->dirty = true;
		if (sl_loop_wake(h->loop) != 0)
			SL_ASSERT(!"health checker wake-up failed");
	}
}

int
sl_health_set_target(struct sl_health *h, size_t i, const struct sl_addr *addr, const char *name,
                     bool active, bool reset)
{
	struct hc *c;
	int err = 0;

	if (i >= h->n)
		return -EINVAL;
	c = &h->t[i];
	pthread_mutex_lock(&h->mu);
	if (addr != NULL) {
		c->pend.addr = *addr;
		c->pend.addr_set = true;
	} else if (!c->pend.set) {
		c->pend.addr_set = false;
	}
	if (name != NULL)
		snprintf(c->pend.name, sizeof(c->pend.name), "%s", name);
	else if (!c->pend.set)
		c->pend.name[0] = '\0';
	if (!c->pend.set)
		c->pend.cfg_set = false;
	c->pend.reset = reset || (c->pend.set && c->pend.reset);
	c->pend.active = active;
	if (active && c->t.addr.len == 0 && !c->pend.addr_set) {
		err = -EINVAL; /* nothing to check */
		c->pend.active = false;
	}
	pend_post(h, c);
	pthread_mutex_unlock(&h->mu);
	return err;
}

int
sl_health_set_config(struct sl_health *h, size_t i, const struct sl_config_health *cfg,
                     unsigned send_proxy)
{
	struct hc *c;

	if (i >= h->n || cfg == NULL || send_proxy > 2 ||
	    (cfg->kind != SL_HEALTH_NONE &&
	     (cfg->interval_ms == 0 || cfg->timeout_ms == 0 || cfg->rise == 0 || cfg->fall == 0)) ||
	    (cfg->kind == SL_HEALTH_SEND_EXPECT && ((cfg->send_len > 0 && cfg->send == NULL) ||
	                                            (cfg->expect_len > 0 && cfg->expect == NULL))))
		return -EINVAL;
	c = &h->t[i];
	pthread_mutex_lock(&h->mu);
	if (!c->pend.set) {
		/* nothing else pending: the target keeps its address, name and pause */
		c->pend.addr_set = false;
		c->pend.name[0] = '\0';
		c->pend.reset = false;
		c->pend.active = !c->paused;
	}
	c->pend.cfg_set = true;
	c->pend.cfg = cfg;
	c->pend.send_proxy = send_proxy;
	pend_post(h, c);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

bool
sl_health_is_reading(struct sl_health *h, size_t i, const struct sl_config_health *cfg)
{
	const struct hc *c;
	bool reading;

	if (i >= h->n)
		return false;
	c = &h->t[i];
	/* under mu, which target_apply() holds while it replaces t.cfg: every read of the old one
	 * on the checker thread came before that, so before our unlock */
	pthread_mutex_lock(&h->mu);
	reading = c->t.cfg == cfg || (c->pend.set && c->pend.cfg_set && c->pend.cfg == cfg);
	pthread_mutex_unlock(&h->mu);
	return reading;
}

void
sl_health_stats(const struct sl_health *h, struct sl_health_stats *st)
{
	/* relaxed: independent monotonic counters; no snapshot across fields is promised */
	st->checks = atomic_load_explicit(&h->st.checks, memory_order_relaxed);
	st->failures = atomic_load_explicit(&h->st.failures, memory_order_relaxed);
	st->transitions_up = atomic_load_explicit(&h->st.ups, memory_order_relaxed);
	st->local_errors = atomic_load_explicit(&h->st.local_errors, memory_order_relaxed);
	st->transitions_down = atomic_load_explicit(&h->st.downs, memory_order_relaxed);
}
