// SPDX-License-Identifier: MIT
/*
 * The proxy runtime (include/sluice/proxy.h): builds the shared backend state and balancer
 * prototypes, gives every worker its listeners, pools, pipe caches, group views and warm
 * pools, runs the health checker (one thread for all checked backends), accepts in batches,
 * runs drain and stop through the workers' mailboxes, and publishes configuration snapshots
 * (each worker's loop is a participant of the proxy's epoch domain). Sessions: session.c.
 * Threads: the controlling thread runs create/start/drain/stop/destroy and publish; everything
 * in a struct sl_pworker is then touched only by its worker, except counters and warm-pool
 * stats (relaxed, summed here), health_pending (set by the checker thread, cleared by the
 * worker) and idle_workers (under mu); cur is written by the controlling thread only.
 * Wiring of health, warm pools and snapshots: docs/internals/proxy.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/pool.h>
#include <sluice/sock.h>

#include "proxy/session.h"

/* Spare pipe pairs each worker keeps per splice listener: at most, and once idle (two
 * sessions' worth; under load the cache also keeps as many spares as pairs are in use). */
#define PIPE_CACHE_PAIRS 1024
#define PIPE_CACHE_KEEP 4
/* Sessions (and copy buffers) each worker reserves up front. */
#define SESSION_PREALLOC 256
/* Retry delay after accept ran out of fds or memory. */
#define ACCEPT_RETRY_MS 100
/* Reports in a row that used the whole accept batch before the batch doubles: the fewest,
 * and the most after growing has ended in EAGAIN again and again. */
#define ACCEPT_GROW_MIN 4
#define ACCEPT_GROW_MAX 64
/* Replaced snapshots that may wait for a worker's quiescent point before a publish is refused. */
#define CONFIG_MAX_RETIRED 8

static const struct sl_counter_def counter_defs[SL_CTR_COUNT] = {
        [SL_CTR_ACCEPTED] = {"accepted", SL_COUNTER_MONOTONIC},
        [SL_CTR_ACTIVE] = {"active", SL_COUNTER_GAUGE},
        [SL_CTR_CLOSED] = {"closed", SL_COUNTER_MONOTONIC},
        [SL_CTR_BYTES_IN] = {"bytes_in", SL_COUNTER_MONOTONIC},
        [SL_CTR_BYTES_OUT] = {"bytes_out", SL_COUNTER_MONOTONIC},
        [SL_CTR_CONNECT_FAILURES] = {"connect_failures", SL_COUNTER_MONOTONIC},
        [SL_CTR_RETRIES] = {"retries", SL_COUNTER_MONOTONIC},
        [SL_CTR_NO_BACKEND] = {"no_backend", SL_COUNTER_MONOTONIC},
        [SL_CTR_FILTERED] = {"filtered", SL_COUNTER_MONOTONIC},
        [SL_CTR_RESETS] = {"resets", SL_COUNTER_MONOTONIC},
        [SL_CTR_ACCEPT_ERRORS] = {"accept_errors", SL_COUNTER_MONOTONIC},
        [SL_CTR_EJECTIONS] = {"ejections", SL_COUNTER_MONOTONIC},
        [SL_CTR_SPLICE_FALLBACKS] = {"splice_fallbacks", SL_COUNTER_MONOTONIC},
        [SL_CTR_WARM_FAILED] = {"warm_failed", SL_COUNTER_MONOTONIC},
        [SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_CONNECT] = {"timeouts_connect", SL_COUNTER_MONOTONIC},
        [SL_CTR_TIMEOUT_FIRST +
                SL_TIMEOUT_CLIENT_IDLE] = {"timeouts_client_idle", SL_COUNTER_MONOTONIC},
        [SL_CTR_TIMEOUT_FIRST +
                SL_TIMEOUT_SERVER_IDLE] = {"timeouts_server_idle", SL_COUNTER_MONOTONIC},
        [SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_SESSION] = {"timeouts_session", SL_COUNTER_MONOTONIC},
        [SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_DRAIN] = {"timeouts_drain", SL_COUNTER_MONOTONIC},
};

static const char *const timeout_names[SL_TIMEOUT_KINDS] = {
        [SL_TIMEOUT_CONNECT] = "connect",
        [SL_TIMEOUT_CLIENT_IDLE] = "client_idle",
        [SL_TIMEOUT_SERVER_IDLE] = "server_idle",
        [SL_TIMEOUT_SESSION] = "session",
        [SL_TIMEOUT_DRAIN] = "drain",
};

const char *
sl_timeout_kind_name(enum sl_timeout_kind k)
{
	return (unsigned)k < SL_TIMEOUT_KINDS ? timeout_names[k] : NULL;
}

/* ---- accepting ---- */

/*
 * Listeners are level-triggered: a report means "a connection is waiting", so accepting stops
 * after the batch without the accept4() that only says EAGAIN; what is left is reported again
 * on the next wait. The batch starts at 1 (one connection per report, the common case), and
 * doubles after l->grow reports in a row used it all; EAGAIN halves it. A doubling that ends
 * in EAGAIN doubles l->grow (connections arriving one at a time: EAGAIN ever more rarely), one
 * that is used up resets it (a real backlog).
 */

/* Stops or resumes level-triggered reports while accepting is paused or retrying. */
static void
listener_mute(struct sl_plistener *l, bool mute)
{
	if (l->muted == mute)
		return;
	/* on failure the listener stays as it was: at worst it is reported once per wait */
	if (sl_loop_io_mod(l->w->loop, &l->io, mute ? SL_IO_LEVEL : SL_IO_READ | SL_IO_LEVEL) == 0)
		l->muted = mute;
}

static void
listener_accept(struct sl_plistener *l)
{
	struct sl_pworker *w = l->w;
	uint32_t max = l->cfg->max_connections;
	struct sl_addr peer;
	int fd;

	for (unsigned i = 0; i < l->batch; i++) {
		if (max != 0 && l->active >= max) {
			l->paused = true; /* sl__pworker_session_closed() resumes */
			listener_mute(l, true);
			return;
		}
		fd = sl_sock_accept(l->fd, &peer);
		if (sl_likely(fd >= 0)) {
			sl__session_open(l, fd, &peer);
			continue;
		}
		if (fd == -EAGAIN) {
			if (l->grown && l->grow < ACCEPT_GROW_MAX)
				l->grow *= 2;
			l->grown = false;
			l->streak = 0;
			l->batch = l->batch > 1 ? l->batch / 2 : 1;
			return;
		}
		if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO)
			continue;
		/* out of fds or memory: the queue keeps its clients; look again shortly */
		sl__ctr_add(w, SL_CTR_ACCEPT_ERRORS, 1);
		listener_mute(l, true);
		sl_loop_timer_add(w->loop, &l->retry, ACCEPT_RETRY_MS);
		return;
	}
	/* the whole batch went: more may be waiting (the next wait reports them) */
	if (l->grown)
		l->grow = ACCEPT_GROW_MIN;
	l->grown = false;
	if (++l->streak >= l->grow && l->batch < SL_ACCEPT_BATCH) {
		l->batch *= 2;
		l->streak = 0;
		l->grown = true;
	}
}

static void
listener_io(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	(void)loop;
	(void)events;
	listener_accept(io->data);
}

static void
listener_more(struct sl_loop *loop, struct sl_defer *d)
{
	struct sl_plistener *l = d->data;

	(void)loop;
	if (l->fd < 0)
		return;
	listener_mute(l, false);
	listener_accept(l);
}

static void
listener_retry(struct sl_loop *loop, struct sl_timer *t)
{
	listener_more(loop, &((struct sl_plistener *)t->data)->more);
}

static void
listener_close(struct sl_plistener *l)
{
	struct sl_loop *loop = l->w->loop;

	if (l->fd < 0)
		return;
	sl_loop_io_del(loop, &l->io);
	sl_loop_defer_cancel(loop, &l->more);
	sl_loop_timer_cancel(loop, &l->retry);
	close(l->fd);
	l->fd = -1;
}

/* ---- drain and stop, on the worker ---- */

static void
report_idle(struct sl_pworker *w)
{
	struct sl_proxy *p = w->p;

	if (w->idle_reported)
		return;
	w->idle_reported = true;
	pthread_mutex_lock(&p->mu);
	p->idle_workers++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
sl__pworker_session_closed(struct sl_pworker *w, struct sl_plistener *l)
{
	if (sl_unlikely(l->paused) && l->fd >= 0) {
		l->paused = false;
		sl_loop_defer(w->loop, &l->more);
	}
	if (sl_unlikely(w->draining) && w->nlive == 0)
		report_idle(w);
}

static void
worker_drain(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;
	struct sl_proxy *p = w->p;

	(void)wk;
	for (size_t i = 0; i < p->cfg->nlisteners; i++)
		listener_close(&w->listeners[i]);
	/* no new sessions: give the warm connections back to the backends now */
	for (size_t g = 0; g < p->cfg->ngroups; g++)
		sl__wgroup_warm_sync(&w->groups[g], true);
	w->draining = true;
	if (w->nlive == 0)
		report_idle(w);
}

static void
worker_kill(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;

	worker_drain(wk, &w->drain_msg);
	while (w->live != NULL)
		sl__session_abort(w->live, SL_TIMEOUT_DRAIN);
}

/* ---- health transitions ---- */

/*
 * On the worker: a health transition happened somewhere; bring every warm pool in line with
 * the up flags (idempotent, so one message covers any number of transitions).
 */
static void
worker_health(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;

	(void)wk;
	/* A2: pairs with R2 in health_changed(); clear first, then read the flags, so a transition
	 * stored after this read posts a new message */
	atomic_exchange_explicit(&w->health_pending, false, memory_order_acquire);
	for (size_t g = 0; g < w->p->cfg->ngroups; g++)
		sl__wgroup_warm_sync(&w->groups[g], w->draining);
}

/*
 * sl_health on_change, on the checker thread, after the new state was stored: posts one
 * health_msg to every worker that has none queued. Only warm pools react (the balancers read
 * the flags directly), so a post lost to a full mailbox costs efficiency only, until the next
 * transition: a down backend keeps its idle connections, or an up one refills no pool.
 */
static void
health_changed(void *arg, const struct sl_health_event *ev)
{
	struct sl_proxy *p = arg;

	(void)ev;
	if (!p->has_warm)
		return;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sl_pworker *w = &p->workers[i];

		/* R2: pairs with A2 in worker_health(): if the worker's clear comes after this in
		 * the flag's order, it sees the state the checker stored before calling us */
		if (atomic_exchange_explicit(&w->health_pending, true, memory_order_acq_rel))
			continue;
		if (sl_worker_post(w->w, &w->health_msg) != 0)
			/* relaxed: nothing queued, so nothing to order; the next transition retries
			 */
			atomic_store_explicit(&w->health_pending, false, memory_order_relaxed);
	}
}

/* Builds the checker for every backend of every group with active checks (none: NULL). */
static int
health_create(struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;
	const struct sl_health_opts o = {.on_change = health_changed, .arg = p};
	struct sl_health_target *t;
	size_t n = 0, k = 0;
	int err;

	for (size_t g = 0; g < cfg->ngroups; g++)
		if (cfg->groups[g].health.kind != SL_HEALTH_NONE)
			n += cfg->groups[g].nbackends;
	if (n == 0)
		return 0;
	t = calloc(n, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		const struct sl_config_group *cg = &cfg->groups[g];

		if (cg->health.kind == SL_HEALTH_NONE)
			continue;
		for (size_t i = 0; i < cg->nbackends; i++)
			t[k++] = (struct sl_health_target){.group = cg->name,
			                                   .name = cg->backends[i].name,
			                                   .addr = cg->backends[i].addr,
			                                   .cfg = &cg->health,
			                                   .up = &p->backends[g][i].up};
	}
	err = sl_health_create(&p->health, t, n, &o);
	free(t);
	return err;
}

/* ---- per-worker setup ---- */

static const struct sl_fwd_ops *const fwd_ops[] = {
        [SL_FWD_SPLICE] = &sl_fwd_splice_ops,
        [SL_FWD_COPY] = &sl_fwd_copy_ops,
        [SL_FWD_AUTO] = &sl_fwd_auto_ops,
};

static int
plistener_open(struct sl_proxy *p, struct sl_pworker *w, size_t i)
{
	struct sl_plistener *l = &w->listeners[i];
	const struct sl_config_listener *c = &p->cfg->listeners[i];
	const struct sl_sock_opts opts = {.nodelay = c->tcp_nodelay, .keepalive = c->keepalive};
	struct sl_pool_opts po = {.name = "copy-buffers", .block_size = c->buffer_size};
	char text[SL_ADDR_STRLEN];
	int err;

	l->w = w;
	l->cfg = c;
	l->index = i;
	l->fd = -1;
	l->group = &w->groups[c->group];
	if ((unsigned)c->forward >= SL_ARRAY_SIZE(fwd_ops))
		return -EINVAL;
	l->fwd_ops = fwd_ops[c->forward];
	l->env.buffer_size = c->buffer_size;
	sl_defer_init(&l->more, listener_more, l);
	sl_timer_init(&l->retry, listener_retry, l);
	if (c->buffer_size == 0)
		return -EINVAL;
	if (c->forward != SL_FWD_SPLICE)
		po.prealloc_blocks = (size_t)2 * SESSION_PREALLOC;
	err = sl_pool_create(&l->env.buffers, &po);
	if (err != 0)
		return err;
	if (c->forward != SL_FWD_COPY) {
		err = sl_pipe_cache_create(&l->env.pipes, PIPE_CACHE_PAIRS, PIPE_CACHE_KEEP,
		                           c->pipe_size);
		if (err != 0)
			return err;
	}
	/* the first worker resolves a port 0; the others join its port (SO_REUSEPORT) */
	err = sl_sock_listen(&p->bound[i], c->backlog, true, &opts);
	if (err < 0) {
		sl_log_error("listener %s: cannot listen on %s: %s", c->name,
		             sl_addr_format(&p->bound[i], text, sizeof(text)), strerror(-err));
		return err;
	}
	l->fd = err;
	if (sl_addr_port(&p->bound[i]) == 0 && (err = sl_sock_local_addr(l->fd, &p->bound[i])) != 0)
		return err;
	sl_io_init(&l->io, l->fd, listener_io, l);
	l->batch = 1;
	l->grow = ACCEPT_GROW_MIN;
	return sl_loop_io_add(w->loop, &l->io, SL_IO_READ | SL_IO_LEVEL);
}

static int
pworker_init(struct sl_proxy *p, struct sl_pworker *w, unsigned index)
{
	const struct sl_config *cfg = p->cfg;
	struct sl_pool_opts po = {.name = "sessions",
	                          .block_size = sizeof(struct sl_session),
	                          .align = SL_CACHELINE,
	                          .prealloc_blocks = SESSION_PREALLOC};
	int err;

	w->p = p;
	w->index = index;
	w->w = sl_worker_at(p->wg, index);
	w->loop = sl_worker_loop(w->w);
	/* quiescent between iterations, offline in epoll_wait: snapshots are read per event */
	sl_loop_set_epoch(w->loop, p->epoch, index);
	w->drain_msg = (struct sl_msg){.fn = worker_drain, .data = w};
	w->kill_msg = (struct sl_msg){.fn = worker_kill, .data = w};
	w->health_msg = (struct sl_msg){.fn = worker_health, .data = w};
	atomic_init(&w->health_pending, false);
	w->groups = calloc(cfg->ngroups, sizeof(w->groups[0]));
	w->listeners = calloc(cfg->nlisteners, sizeof(w->listeners[0]));
	if (w->groups == NULL || w->listeners == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		w->listeners[i].fd = -1;
	err = sl_pool_create(&w->sessions, &po);
	if (err != 0)
		return err;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		err = sl__wgroup_init(&w->groups[g], &cfg->groups[g], p->backends[g], p->lbs[g],
		                      index + 1);
		if (err != 0)
			return err;
		err = sl__wgroup_warm_open(&w->groups[g], w->loop);
		if (err != 0) {
			sl_log_error("group %s: cannot create the warm pool: %s",
			             cfg->groups[g].name, strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		err = plistener_open(p, w, i);
		if (err != 0)
			return err;
	}
	return 0;
}

static void
pworker_fini(struct sl_proxy *p, struct sl_pworker *w)
{
	if (w->listeners != NULL) {
		for (size_t i = 0; i < p->cfg->nlisteners; i++) {
			struct sl_plistener *l = &w->listeners[i];

			if (l->fd >= 0 && w->loop != NULL)
				listener_close(l);
			sl_pipe_cache_destroy(l->env.pipes);
			sl_pool_destroy(l->env.buffers);
		}
	}
	if (w->groups != NULL)
		for (size_t g = 0; g < p->cfg->ngroups; g++)
			sl__wgroup_fini(&w->groups[g]);
	sl_pool_destroy(w->sessions);
	free(w->listeners);
	free(w->groups);
	if (w->loop != NULL)
		sl_loop_set_epoch(w->loop, NULL, 0);
	memset(w, 0, sizeof(*w));
}

/* ---- configuration snapshots ---- */

static bool
same_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static bool
same_health(const struct sl_config_health *a, const struct sl_config_health *b)
{
	return a->kind == b->kind && same_bytes(a->send, a->send_len, b->send, b->send_len) &&
	       same_bytes(a->expect, a->expect_len, b->expect, b->expect_len) &&
	       a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	       a->rise == b->rise && a->fall == b->fall;
}

static bool
same_listener(const struct sl_config_listener *a, const struct sl_config_listener *b)
{
	/* everything but timeouts: sockets, forwarders, pools and caps were built from them */
	return strcmp(a->name, b->name) == 0 && sl_addr_equal(&a->addr, &b->addr) &&
	       a->backlog == b->backlog && a->group == b->group && a->forward == b->forward &&
	       a->tcp_nodelay == b->tcp_nodelay && a->keepalive == b->keepalive &&
	       a->pipe_size == b->pipe_size && a->buffer_size == b->buffer_size &&
	       a->max_connections == b->max_connections;
}

static bool
same_group(const struct sl_config_group *a, const struct sl_config_group *b)
{
	/* everything but retries and passive: balancers, the checker, warm pools and the
	 * shared backend state were built from them */
	if (strcmp(a->name, b->name) != 0 || strcmp(a->balance, b->balance) != 0 ||
	    a->maglev_table_size != b->maglev_table_size || !same_health(&a->health, &b->health) ||
	    a->warm_pool.size != b->warm_pool.size ||
	    a->warm_pool.idle_ms != b->warm_pool.idle_ms || a->nbackends != b->nbackends)
		return false;
	for (size_t i = 0; i < a->nbackends; i++) {
		const struct sl_config_backend *x = &a->backends[i], *y = &b->backends[i];

		if (strcmp(x->name, y->name) != 0 || !sl_addr_equal(&x->addr, &y->addr) ||
		    x->weight != y->weight || x->max_connections != y->max_connections)
			return false;
	}
	return true;
}

/*
 * true if <b> differs from <a> in live fields only (sl__proxy_config()). The file name, the
 * drain deadline and the log level are not the proxy's (the application reads them).
 */
static bool
same_layout(const struct sl_config *a, const struct sl_config *b)
{
	if (a->workers != b->workers || a->nlisteners != b->nlisteners || a->ngroups != b->ngroups)
		return false;
	for (size_t i = 0; i < a->nlisteners; i++)
		if (!same_listener(&a->listeners[i], &b->listeners[i]))
			return false;
	for (size_t g = 0; g < a->ngroups; g++)
		if (!same_group(&a->groups[g], &b->groups[g]))
			return false;
	return true;
}

static void
config_free(void *c)
{
	sl_config_free(c);
}

int
sl__proxy_publish_config(struct sl_proxy *p, struct sl_config *next)
{
	const struct sl_config *old;
	int err;

	/* relaxed: this thread is the only writer of cur */
	old = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (next == old || !same_layout(p->cfg, next))
		return -EINVAL;
	/* once <next> is visible the retire must not fail: make room first (we are the only
	 * thread that retires into this domain, so the room stays) */
	if (old != p->cfg && sl_epoch_reclaim(p->epoch) >= CONFIG_MAX_RETIRED)
		return -EBUSY;
	/* R3: pairs with A1 in sl__proxy_config(): a worker that loads <next> sees its contents.
	 * The retire below steps the epoch after this store (R1 in epoch.c): a worker that has
	 * seen that step loads <next> or newer, never <old>. */
	atomic_store_explicit(&p->cur, next, memory_order_release);
	if (old == p->cfg)
		return 0; /* the layout is the caller's, and the runtime objects point into it */
	err = sl_epoch_retire(p->epoch, (void *)old, config_free);
	SL_ASSERT(err == 0);
	(void)err;
	return 0;
}

size_t
sl__proxy_reclaim_configs(struct sl_proxy *p)
{
	return sl_epoch_reclaim(p->epoch);
}

/* ---- public API ---- */

static int
proxy_validate(const struct sl_config *cfg)
{
	if (cfg->nlisteners == 0 || cfg->ngroups == 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].group >= cfg->ngroups || cfg->listeners[i].addr.len == 0)
			return -EINVAL;
	for (size_t g = 0; g < cfg->ngroups; g++)
		if (cfg->groups[g].nbackends == 0)
			return -EINVAL;
	return 0;
}

int
sl_proxy_create(struct sl_proxy **out, const struct sl_config *cfg)
{
	struct sl_worker_opts wo = {.nthreads = cfg->workers};
	struct sl_counter_opts co = {.defs = counter_defs, .n = SL_CTR_COUNT};
	pthread_condattr_t ca;
	struct sl_proxy *p;
	int err;

	err = proxy_validate(cfg);
	if (err != 0)
		return err;
	/* splice() into a socket the peer reset raises SIGPIPE (no MSG_NOSIGNAL for splice) */
	signal(SIGPIPE, SIG_IGN);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->cfg = cfg;
	atomic_init(&p->cur, cfg);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);

	err = -ENOMEM;
	p->backends =
	        calloc(cfg->ngroups, sizeof(p->backends[0])); /* NOLINT(bugprone-sizeof-expression):
	                                                         an array of pointers */
	p->lbs = calloc(cfg->ngroups,
	                /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	                sizeof(p->lbs[0]));
	p->bound = calloc(cfg->nlisteners, sizeof(p->bound[0]));
	if (p->backends == NULL || p->lbs == NULL || p->bound == NULL)
		goto err_destroy;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		p->bound[i] = cfg->listeners[i].addr;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		const struct sl_config_group *cg = &cfg->groups[g];
		size_t n = cg->nbackends;

		p->backends[g] = aligned_alloc(SL_CACHELINE, n * sizeof(struct sl_backend));
		if (p->backends[g] == NULL)
			goto err_destroy;
		memset(p->backends[g], 0, n * sizeof(struct sl_backend));
		for (size_t i = 0; i < n; i++) {
			struct sl_backend *b = &p->backends[g][i];

			b->cfg = &cg->backends[i];
			atomic_init(&b->up, 1); /* traffic flows before the first verdict */
			atomic_init(&b->ejected_until_ms, 0);
			atomic_init(&b->fails, 0);
			atomic_init(&b->backoff_ms, 0);
			atomic_init(&b->conns, 0);
		}
		if (cg->warm_pool.size > 0)
			p->has_warm = true;
		err = sl__group_lb_create(&p->lbs[g], cg);
		if (err != 0) {
			sl_log_error("group %s: cannot build balancer '%s': %s", cg->name,
			             cg->balance, strerror(-err));
			goto err_destroy;
		}
	}
	err = health_create(p);
	if (err != 0) {
		sl_log_error("cannot create the health checker: %s", strerror(-err));
		goto err_destroy;
	}
	err = sl_worker_group_create(&p->wg, &wo);
	if (err != 0)
		goto err_destroy;
	p->nworkers = sl_worker_group_size(p->wg);
	co.slots = p->nworkers;
	err = sl_counter_create(&p->ctr, &co);
	if (err != 0)
		goto err_destroy;
	err = sl_epoch_create(&p->epoch,
	                      &(struct sl_epoch_opts){.participants = p->nworkers,
	                                              .max_retired = CONFIG_MAX_RETIRED});
	if (err != 0)
		goto err_destroy;
	p->workers = calloc(p->nworkers, sizeof(p->workers[0]));
	if (p->workers == NULL) {
		err = -ENOMEM;
		goto err_destroy;
	}
	*out = p;
	return 0;

err_destroy:
	sl_proxy_destroy(p);
	return err;
}

int
sl_proxy_start(struct sl_proxy *p)
{
	int err;

	if (p->running)
		return -EALREADY;
	for (unsigned i = 0; i < p->nworkers; i++) {
		err = pworker_init(p, &p->workers[i], i);
		if (err != 0)
			goto err_fini;
	}
	p->idle_workers = 0;
	err = sl_worker_group_start(p->wg);
	if (err != 0) {
		sl_log_error("cannot start workers: %s", strerror(-err));
		goto err_fini;
	}
	/* after the workers: on_change may post to their mailboxes from the first transition */
	if (p->health != NULL && (err = sl_health_start(p->health)) != 0) {
		sl_log_error("cannot start the health checker: %s", strerror(-err));
		sl_worker_group_stop(p->wg);
		goto err_fini;
	}
	p->running = true;
	for (size_t i = 0; i < p->cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &p->cfg->listeners[i];
		const struct sl_config_group *g = &p->cfg->groups[l->group];
		char a[SL_ADDR_STRLEN];
		struct sl_addr bound;

		if (sl_proxy_listener_addr(p, i, &bound) != 0)
			bound = l->addr;
		sl_log_info("listening on %s: %u worker%s, group %s (%s, %zu backend%s)",
		            sl_addr_format(&bound, a, sizeof(a)), p->nworkers,
		            p->nworkers == 1 ? "" : "s", g->name, g->balance, g->nbackends,
		            g->nbackends == 1 ? "" : "s");
	}
	return 0;

err_fini:
	for (unsigned i = 0; i < p->nworkers; i++)
		pworker_fini(p, &p->workers[i]);
	return err;
}

/* Posts <m> to worker <w>, retrying while its mailbox is full (bounded). */
static int
post(struct sl_pworker *w, struct sl_msg *m)
{
	const struct timespec pause = {.tv_nsec = 1000000};
	int err = -EAGAIN;

	for (int i = 0; i < 10000 && err == -EAGAIN; i++) {
		err = sl_worker_post(w->w, m);
		if (err == -EAGAIN)
			nanosleep(&pause, NULL);
	}
	return err;
}

/* Waits until every worker reported idle, or <deadline> (CLOCK_MONOTONIC) if not NULL. */
static bool
wait_idle(struct sl_proxy *p, const struct timespec *deadline)
{
	bool idle;

	pthread_mutex_lock(&p->mu);
	while (p->idle_workers < p->nworkers) {
		if (deadline == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		else if (pthread_cond_timedwait(&p->cv, &p->mu, deadline) == ETIMEDOUT)
			break;
	}
	idle = p->idle_workers == p->nworkers;
	pthread_mutex_unlock(&p->mu);
	return idle;
}

int
sl_proxy_drain(struct sl_proxy *p, uint32_t deadline_ms)
{
	struct timespec dl;
	int err = 0, e;

	if (!p->running)
		return 0;
	/* first: no transition (and no health_msg post) may race with the workers' stop */
	if (p->health != NULL)
		sl_health_stop(p->health);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += deadline_ms / 1000;
	dl.tv_nsec += (long)(deadline_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	for (unsigned i = 0; i < p->nworkers; i++)
		if ((e = post(&p->workers[i], &p->workers[i].drain_msg)) != 0 && err == 0)
			err = e;
	if (err == 0 && !wait_idle(p, &dl)) {
		for (unsigned i = 0; i < p->nworkers; i++)
			if ((e = post(&p->workers[i], &p->workers[i].kill_msg)) != 0 && err == 0)
				err = e;
		if (err == 0)
			wait_idle(p, NULL);
	}
	/* the stop closes whatever a failed post left behind: the workers drain their mailbox */
	sl_worker_group_stop(p->wg);
	p->running = false;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sl_pworker *w = &p->workers[i];

		while (w->live != NULL)
			sl__session_abort(w->live, SL_TIMEOUT_DRAIN);
	}
	return err;
}

void
sl_proxy_stop(struct sl_proxy *p)
{
	sl_proxy_drain(p, 0);
}

void
sl_proxy_destroy(struct sl_proxy *p)
{
	const struct sl_config *cur;

	if (p == NULL)
		return;
	sl_proxy_stop(p);
	sl_health_destroy(p->health);
	if (p->workers != NULL)
		for (unsigned i = 0; i < p->nworkers; i++)
			pworker_fini(p, &p->workers[i]);
	sl_worker_group_destroy(p->wg);
	/* no worker runs: every replaced snapshot goes now, and the current one if published */
	sl_epoch_destroy(p->epoch);
	/* relaxed: only this thread writes cur, and no worker runs */
	cur = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (cur != p->cfg)
		sl_config_free((struct sl_config *)cur);
	sl_counter_destroy(p->ctr);
	if (p->lbs != NULL)
		for (size_t g = 0; g < p->cfg->ngroups; g++)
			sl_lb_destroy(p->lbs[g]);
	if (p->backends != NULL)
		for (size_t g = 0; g < p->cfg->ngroups; g++)
			free(p->backends[g]);
	free(p->workers);
	free(p->lbs);
	free(p->backends);
	free(p->bound);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void
sl_proxy_stats(const struct sl_proxy *p, struct sl_proxy_stats *st)
{
	const struct sl_counter_set *c = p->ctr;
	int64_t active;

	memset(st, 0, sizeof(*st));
	if (c == NULL)
		return;
	st->accepted = sl_counter_sum(c, SL_CTR_ACCEPTED);
	active = sl_counter_gauge_sum(c, SL_CTR_ACTIVE);
	st->active = active > 0 ? (uint64_t)active : 0;
	st->closed = sl_counter_sum(c, SL_CTR_CLOSED);
	st->bytes_in = sl_counter_sum(c, SL_CTR_BYTES_IN);
	st->bytes_out = sl_counter_sum(c, SL_CTR_BYTES_OUT);
	st->connect_failures = sl_counter_sum(c, SL_CTR_CONNECT_FAILURES);
	st->retries = sl_counter_sum(c, SL_CTR_RETRIES);
	st->no_backend = sl_counter_sum(c, SL_CTR_NO_BACKEND);
	st->filtered = sl_counter_sum(c, SL_CTR_FILTERED);
	st->resets = sl_counter_sum(c, SL_CTR_RESETS);
	st->accept_errors = sl_counter_sum(c, SL_CTR_ACCEPT_ERRORS);
	st->ejections = sl_counter_sum(c, SL_CTR_EJECTIONS);
	st->splice_fallbacks = sl_counter_sum(c, SL_CTR_SPLICE_FALLBACKS);
	st->warm_failed = sl_counter_sum(c, SL_CTR_WARM_FAILED);
	for (unsigned k = 0; k < SL_TIMEOUT_KINDS; k++)
		st->timeouts[k] = sl_counter_sum(c, SL_CTR_TIMEOUT_FIRST + k);
	if (p->health != NULL) {
		struct sl_health_stats hs;

		sl_health_stats(p->health, &hs);
		st->health_checks = hs.checks;
		st->health_failures = hs.failures;
		st->health_ups = hs.transitions_up;
		st->health_downs = hs.transitions_down;
	}
	for (unsigned i = 0; i < p->nworkers && p->workers != NULL; i++) {
		const struct sl_pworker *w = &p->workers[i];

		for (size_t g = 0; w->groups != NULL && g < p->cfg->ngroups; g++) {
			struct sl_warm_stats ws;

			if (w->groups[g].warm == NULL)
				continue;
			sl_warm_stats(w->groups[g].warm, &ws);
			st->warm_hits += ws.hits;
			st->warm_misses += ws.misses;
			st->warm_expired += ws.expired;
			st->warm_dead += ws.dead;
		}
	}
}

int
sl_proxy_listener_addr(const struct sl_proxy *p, size_t i, struct sl_addr *out)
{
	if (i >= p->cfg->nlisteners)
		return -EINVAL;
	if (sl_addr_port(&p->bound[i]) == 0)
		return -ENOENT;
	*out = p->bound[i];
	return 0;
}
