// SPDX-License-Identifier: MIT
/*
 * The proxy runtime's life cycle (include/sluice/proxy.h): create builds the shared backend
 * state, balancer prototypes, health checker, workers, counters and epoch domain; start sets up
 * every worker (pworker.c, listener.c) and starts the threads; drain and stop go through the
 * workers' mailboxes. Snapshots: snapshot.c; counters: stats.c; sessions: session.c.
 * Threads: the controlling thread runs create/start/drain/stop/destroy and publish; everything
 * in a struct sl_pworker is then touched only by its worker, except counters and warm-pool
 * stats (relaxed, summed here), health_pending (set by the checker thread, cleared by the
 * worker) and idle_workers (under mu); cur is written by the controlling thread only.
 * Wiring of health, warm pools and snapshots: docs/internals/proxy.md.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/loop.h>
#include <sluice/pool.h>
#include <sluice/sock.h>

#include "proxy/accesslog.h"
#include "proxy/discover.h"
#include "proxy/session.h"
#include "proxy/sockmap.h"
#include "proxy/steer.h"

/*
 * Whether to pin the workers one per CPU for steering: cpu: some listener asks for it and
 * there is exactly one worker per CPU this process may run on (the default workers: 0).
 * Otherwise says, once per such listener, that it steers by hash.
 */
static bool
steer_pin(const struct sl_config *cfg)
{
	uint32_t nworkers = sl_config_workers(cfg);
	bool want = false;
	cpu_set_t set;
	int ncpus = 0;

	for (size_t i = 0; i < cfg->nlisteners; i++)
		want |= cfg->listeners[i].steering == SL_STEER_CPU;
	if (!want)
		return false;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		ncpus = CPU_COUNT(&set);
	if (ncpus > 0 && nworkers == (uint32_t)ncpus)
		return true;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].steering == SL_STEER_CPU)
			sl_log_warn(
			        "listener %s: steering: cpu needs one worker per CPU (%u workers, "
			        "%d CPUs to run on): steering by hash",
			        cfg->listeners[i].name, nworkers, ncpus);
	return false;
}

void
sl__proxy_steer(struct sl_proxy *p, size_t i, bool inherited, bool carried_cpu)
{
	const struct sl_config_listener *c = &p->lslots[i].cfg;
	size_t nl = p->lcap;
	int *fds, *cpus;
	char why[256];
	int err;

	p->lslots[i].steered = false;
	if (c->steering == SL_STEER_CPU && !p->steer_cpu && p->running)
		sl_log_warn("listener %s: steering: cpu needs the workers pinned one per CPU, "
		            "which is decided at start: steering by hash",
		            c->name);
	if (c->steering != SL_STEER_CPU || !p->steer_cpu) {
		/* steer_pin() said why a cpu listener steers by hash at start */
		if (inherited && (err = sl__steer_detach(p->lfds[i])) != 0)
			sl_log_warn("listener %s: cannot remove the steering program its sockets "
			            "carried: %s",
			            c->name, strerror(-err));
		return;
	}
	if (p->nworkers == 0)
		return;
	fds = calloc(p->nworkers, sizeof(*fds));
	cpus = calloc(p->nworkers, sizeof(*cpus));
	if (fds == NULL || cpus == NULL) {
		sl_log_warn("listener %s: steering: cpu: out of memory: steering by hash", c->name);
		goto out_free;
	}
	for (unsigned w = 0; w < p->nworkers; w++) {
		fds[w] = p->lfds[(size_t)w * nl + i];
		cpus[w] = sl_worker_cpu(sl_worker_at(p->wg, w));
	}
	err = sl__steer_attach(fds, cpus, p->nworkers, why, sizeof(why));
	p->lslots[i].steered = err == 0;
	if (err == 0) {
		sl_log_info("listener %s: steering by CPU: %u workers, one per CPU", c->name,
		            p->nworkers);
		goto out_free;
	}
	if (carried_cpu) {
		/* the program the sockets came with maps them to the same workers' CPUs */
		p->lslots[i].steered = true;
		sl_log_warn("listener %s: steering: cpu: %s: the sockets keep the steering program "
		            "they had",
		            c->name, why);
		goto out_free;
	}
	sl_log_warn("listener %s: steering: cpu: %s: steering by hash", c->name, why);
	/* nor by the map of the program they came with, if it is still there */
	if (inherited && (err = sl__steer_detach(p->lfds[i])) != 0)
		sl_log_warn(
		        "listener %s: cannot remove the steering program its sockets carried: %s",
		        c->name, strerror(-err));
out_free:
	free(fds);
	free(cpus);
}

static int
proxy_validate(const struct sl_config *cfg)
{
	if (cfg->nlisteners == 0 || cfg->ngroups == 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].group >= cfg->ngroups || cfg->listeners[i].addr.len == 0)
			return -EINVAL;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		if (cfg->groups[g].nbackends > 0)
			continue;
		if (cfg->groups[g].discover.type != SL_DISCOVER_NONE)
			continue; /* its backends come from DNS, at run time (sluice/backends.h) */
		return -EINVAL;
	}
	return 0;
}

/* An explicit io_uring this kernel cannot run stops the start here, saying why. */
static int
runtime_check(const struct sl_config *cfg)
{
	const char *why = NULL;
	int err;

	if (cfg->runtime != SL_LOOP_IO_URING)
		return 0;
	err = sl_loop_probe_io_uring(&why);
	if (err != 0)
		sl_log_error("runtime: io_uring cannot start: %s: %s", why, strerror(-err));
	return err;
}

/*
 * Loads the sockmap forwarder's program when a listener of the start file asks for it, with a
 * slot pair for every session the cap allows. Where it cannot (no privilege, no BPF in this
 * build), those listeners splice: one line says why.
 */
static void
sockmap_open(struct sl_proxy *p)
{
	/* relaxed: set by sl__budget_apply() on this thread just now */
	uint32_t pairs = atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	char why[200];
	int err;

	if (!sl__listeners_want(p->cfg, SL_FWD_SOCKMAP))
		return;
	err = sl__sockmap_open(&p->sockmap, pairs, why, sizeof(why));
	p->sockmap_refused = err != 0;
	if (err != 0) {
		char names[256] = "";
		size_t len = 0;

		/* one line for every listener it concerns, naming them */
		for (size_t i = 0; i < p->cfg->nlisteners && len < sizeof(names); i++)
			if (p->cfg->listeners[i].forward == SL_FWD_SOCKMAP)
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
				                        len == 0 ? "" : ", ",
				                        p->cfg->listeners[i].name);
		sl_log_warn("forward: sockmap runs as splice on listener%s %s: %s",
		            strchr(names, ',') != NULL ? "s" : "", names, why);
	} else
		sl_log_info("forward: sockmap: verdict attached, %u sessions' slots", pairs);
	if (err == 0 && pairs < p->nworkers)
		sl_log_warn("forward: sockmap: %u sessions' slots for %u workers (max_connections "
		            "is below the worker count): the workers past the first %u copy every "
		            "session",
		            pairs, p->nworkers, pairs);
}

/* Says once which runtime the loops run on (worker 0's: every loop was given the same; under
 * auto a worker whose ring did not fit where the first ones did runs on epoll, said too). */
static void
runtime_log(struct sl_proxy *p)
{
	const char *name = sl_loop_backend_name(sl_worker_loop(sl_worker_at(p->wg, 0)));
	const char *why = NULL;
	unsigned on_epoll = 0;
	int err;

	for (unsigned i = 0; i < p->nworkers; i++)
		on_epoll += strcmp(sl_loop_backend_name(sl_worker_loop(sl_worker_at(p->wg, i))),
		                   "epoll") == 0;
	if (on_epoll != 0 && on_epoll != p->nworkers) {
		err = sl_loop_probe_io_uring(&why);
		sl_log_warn("runtime: io_uring on %u of %u workers, epoll on the rest (their rings "
		            "did not fit%s%s)",
		            p->nworkers - on_epoll, p->nworkers, err != 0 ? ": " : "",
		            err != 0 ? why : "");
		return;
	}
	if (p->cfg->runtime != SL_LOOP_AUTO || strcmp(name, "epoll") != 0) {
		sl_log_info("runtime: %s", name);
		return;
	}
	err = sl_loop_probe_io_uring(&why);
	if (err != 0)
		sl_log_info("runtime: epoll (io_uring unavailable: %s: %s)", why, strerror(-err));
	else
		sl_log_info("runtime: epoll (io_uring unavailable: its ring setup failed)");
}

/* A setting the group's balancer ignores is said once, not left to seem to apply. */
static void
settings_ignored_log(const struct sl_config *cfg)
{
	for (size_t g = 0; g < cfg->ngroups; g++) {
		const struct sl_config_group *cg = &cfg->groups[g];

		if (cg->slowstart_ms != 0 && cg->balance != SL_LB_LEAST_CONN &&
		    cg->balance != SL_LB_P2C)
			sl_log_warn("group %s: slowstart does nothing with balance: %s (only "
			            "least_conn and p2c ramp a backend up)",
			            cg->name, sl_lb_algo_name(cg->balance));
	}
}

int
sl_proxy_create(struct sl_proxy **out, const struct sl_config *cfg)
{
	struct sl_worker_opts wo = {.nthreads = cfg->workers, .loop.runtime = cfg->runtime};
	struct sl_counter_opts co = {.defs = sl__ctr_defs, .n = SL_CTR_COUNT};
	pthread_condattr_t ca;
	struct sl_proxy *p;
	char why[SL_CONFIG_NAME_MAX + 128]; /* a group's source that cannot be used */
	int err;

	err = proxy_validate(cfg);
	if (err != 0)
		return err;
	err = runtime_check(cfg);
	if (err != 0)
		return err;
	/* splice() into a socket the peer reset raises SIGPIPE (no MSG_NOSIGNAL for splice) */
	signal(SIGPIPE, SIG_IGN);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->cfg = cfg;
	wo.pin_cpus = p->steer_cpu = steer_pin(cfg);
	atomic_init(&p->cur, cfg);
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->bk_mu, NULL);
	pthread_mutex_init(&p->reload_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);

	/* first: the group slots decide how many groups every per-group array holds */
	err = sl__gslots_create(p);
	if (err != 0)
		goto err_destroy;
	err = -ENOMEM;
	p->backends =
	        calloc(p->gcap, sizeof(p->backends[0])); /* NOLINT(bugprone-sizeof-expression):
	                                                    an array of pointers */
	p->lbs = calloc(p->gcap,
	                /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	                sizeof(p->lbs[0]));
	p->bsets = calloc(p->gcap, sizeof(p->bsets[0]));
	if (p->backends == NULL || p->lbs == NULL || p->bsets == NULL)
		goto err_destroy;
	for (size_t g = 0; g < p->gcap; g++) {
		/* a free slot: the table a reload's group gets (greload.c), empty until then */
		const struct sl_config_group *cg = g < cfg->ngroups ? &cfg->groups[g] : NULL;
		uint32_t cap = cg != NULL ? sl__group_capacity(cg) : SL_GSLOT_BACKENDS;

		p->bsets[g].cap = cap;
		p->bsets[g].health_base = SIZE_MAX;
		p->backends[g] = aligned_alloc(SL_CACHELINE, cap * sizeof(struct sl_backend));
		if (p->backends[g] == NULL)
			goto err_destroy;
		memset(p->backends[g], 0, cap * sizeof(struct sl_backend));
		for (size_t i = 0; i < cap; i++) {
			struct sl_backend *b = &p->backends[g][i];

			atomic_init(&b->state, SL_SLOT_EMPTY);
			atomic_init(&b->admin, SL_BACKEND_ENABLED);
			atomic_init(&b->weight, 1);
			atomic_init(&b->backup, 0);
			atomic_init(&b->up, 1); /* traffic flows before the first verdict */
			atomic_init(&b->ejected_until_ms, 0);
			atomic_init(&b->up_at_ms, 0); /* up from the start: no ramp */
			atomic_init(&b->fails, 0);
			atomic_init(&b->backoff_ms, 0);
			atomic_init(&b->conns, 0);
			if (cg != NULL && i < cg->nbackends)
				sl__backend_fill(b, cg->backends[i].name, &cg->backends[i].addr,
				                 cg->backends[i].weight,
				                 cg->backends[i].max_connections,
				                 cg->backends[i].backup, false);
		}
		if (cg == NULL)
			continue;
		err = sl__group_source_check(cg, why, sizeof(why));
		if (err != 0) {
			sl_log_error("%s", why);
			goto err_destroy;
		}
		err = sl__group_lb_build(&p->lbs[g], &p->bsets[g].map, &p->bsets[g].nmap, cg,
		                         p->backends[g], cap);
		if (err != 0) {
			sl_log_error("group %s: cannot build balancer '%s': %s", cg->name,
			             sl_lb_algo_name(cg->balance), strerror(-err));
			goto err_destroy;
		}
	}
	err = sl__proxy_health_create(p);
	if (err != 0) {
		sl_log_error("cannot create the health checker: %s", strerror(-err));
		goto err_destroy;
	}
	/* a file table costs kernel memory in every ring: only for forward: uring */
	wo.loop.max_files = sl__listeners_want(cfg, SL_FWD_URING) ? 0 : -1;
	err = sl_worker_group_create(&p->wg, &wo);
	if (err != 0)
		goto err_destroy;
	p->nworkers = sl_worker_group_size(p->wg);
	co.slots = p->nworkers;
	err = sl_counter_create(&p->ctr, &co);
	if (err != 0)
		goto err_destroy;
	/* after the workers are counted: the pool table bounds the slots */
	err = sl__lslots_create(p);
	if (err != 0)
		goto err_destroy;
	/* before the registry: it has a set for the discovering groups */
	err = sl__discover_create(&p->disc, p);
	if (err != 0)
		goto err_destroy;
	err = sl__metrics_create(p);
	if (err != 0)
		goto err_destroy;
	err = sl_epoch_create(&p->epoch,
	                      &(struct sl_epoch_opts){.participants = p->nworkers,
	                                              .max_retired = SL_CONFIG_MAX_RETIRED});
	if (err != 0)
		goto err_destroy;
	err = sl__budget_apply(p);
	if (err != 0)
		goto err_destroy;
	sockmap_open(p);
	p->workers = calloc(p->nworkers, sizeof(p->workers[0]));
	p->lfds = malloc((size_t)p->nworkers * p->lcap * sizeof(p->lfds[0]));
	p->conns = aligned_alloc(SL_CACHELINE, sizeof(*p->conns));
	p->fd_shortage = aligned_alloc(SL_CACHELINE, sizeof(*p->fd_shortage));
	p->queued = aligned_alloc(SL_CACHELINE, p->gcap * sizeof(p->queued[0]));
	if (p->workers == NULL || p->lfds == NULL || p->conns == NULL || p->fd_shortage == NULL ||
	    p->queued == NULL) {
		err = -ENOMEM;
		goto err_destroy;
	}
	for (size_t k = 0; k < (size_t)p->nworkers * p->lcap; k++)
		p->lfds[k] = -1;
	atomic_init(&p->conns->n, 0);
	atomic_init(&p->cap_said_ms, 0);
	atomic_init(&p->fd_shortage->listeners, 0);
	atomic_init(&p->fd_shortage->since_ms, 0);
	atomic_init(&p->fd_shortage->failures, 0);
	p->fd_shortage->file_max = sl__budget_file_max();
	for (size_t g = 0; g < p->gcap; g++)
		atomic_init(&p->queued[g].n, 0);
	err = sl__lshared_create(p);
	if (err != 0)
		goto err_destroy;
	if (cfg->access_log.path != NULL) {
		err = sl__accesslog_create(&p->alog, cfg, p->nworkers);
		if (err != 0)
			goto err_destroy;
	}
	/* last, after the session cap's line: what the loops made above run on */
	runtime_log(p);
	settings_ignored_log(cfg);
	*out = p;
	return 0;

err_destroy:
	sl_proxy_destroy(p);
	return err;
}

int
sl_proxy_listen(struct sl_proxy *p)
{
	int err;

	if (p->listening || p->running)
		return -EALREADY;
	for (unsigned i = 0; i < p->nworkers; i++) {
		err = sl__pworker_init(p, &p->workers[i], i);
		if (err != 0)
			goto err_fini;
	}
	/* every worker's socket is in its listener's group now: the map can name them */
	for (size_t i = 0; i < p->cfg->nlisteners; i++)
		sl__proxy_steer(p, i, p->ninherited > 0, false);
	p->listening = true;
	return 0;

err_fini:
	for (unsigned i = 0; i < p->nworkers; i++)
		sl__pworker_fini(p, &p->workers[i]);
	return err;
}

void
sl_proxy_use_xdp(struct sl_proxy *p, struct sl_xdp *x)
{
	p->xdp = x;
}

int
sl_proxy_start(struct sl_proxy *p)
{
	int err;

	if (p->running)
		return -EALREADY;
	if (!p->listening && (err = sl_proxy_listen(p)) != 0)
		return err;
	/* before the workers: their first records find it running (it stops at destroy) */
	if (p->alog != NULL && (err = sl__accesslog_start(p->alog)) != 0 && err != -EALREADY) {
		sl_log_error("cannot start the access log thread: %s", strerror(-err));
		goto err_fini;
	}
	/* the backend set stays as it is until the workers run and take changes (backends.c) */
	pthread_mutex_lock(&p->bk_mu);
	sl__handover_close_rest(p, true);
	p->idle_workers = 0;
	err = sl_worker_group_start(p->wg);
	if (err != 0) {
		sl_log_error("cannot start workers: %s%s", strerror(-err),
		             err == -EAGAIN ? " (this user's process and thread limit, ulimit -u "
		                              "or systemd's TasksMax=, or the host's "
		                              "kernel.threads-max: raise it or use fewer workers)"
		                            : "");
		goto err_fini_unlock;
	}
	p->bk_live = true;
	pthread_mutex_unlock(&p->bk_mu);
	/* after the workers: on_change may post to their mailboxes from the first transition */
	if (p->health != NULL && (err = sl_health_start(p->health)) != 0) {
		sl_log_error("cannot start the health checker: %s", strerror(-err));
		pthread_mutex_lock(&p->bk_mu);
		p->bk_live = false;
		pthread_mutex_unlock(&p->bk_mu);
		sl_worker_group_stop(p->wg);
		goto err_fini;
	}
	/* after the workers: a discovered set reaches them through their mailboxes */
	if ((err = sl__discover_start(p->disc)) != 0) {
		sl_log_error("cannot start the DNS discovery thread: %s", strerror(-err));
		if (p->health != NULL)
			sl_health_stop(p->health);
		sl_worker_group_stop(p->wg);
		goto err_fini;
	}
	p->running = true;
	sl__metrics_set_listening(p, true);
	for (size_t i = 0; i < p->cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &p->cfg->listeners[i];
		const struct sl_config_group *g = &p->cfg->groups[l->group];
		char a[SL_ADDR_STRLEN];
		struct sl_addr bound;

		if (sl_proxy_listener_addr(p, i, &bound) != 0)
			bound = l->addr;
		sl_log_info("listening on %s: %u worker%s, group %s (%s, %zu backend%s)",
		            sl_addr_format(&bound, a, sizeof(a)), p->nworkers,
		            p->nworkers == 1 ? "" : "s", g->name, sl_lb_algo_name(g->balance),
		            g->nbackends, g->nbackends == 1 ? "" : "s");
	}
	/* the workers run: each opens its own counters (a profile that is unavailable is not) */
	if ((err = sl__profile_start(p)) != 0)
		sl_log_warn("profiling: cannot start: %s", strerror(-err));
	return 0;

err_fini_unlock:
	pthread_mutex_unlock(&p->bk_mu);
err_fini:
	for (unsigned i = 0; i < p->nworkers; i++)
		sl__pworker_fini(p, &p->workers[i]);
	p->listening = false;
	return err;
}

int
sl__proxy_post(struct sl_pworker *w, struct sl_msg *m)
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
	while (p->idle_workers < p->nworkers && (deadline == NULL || !p->drain_cut)) {
		if (deadline == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		else if (pthread_cond_timedwait(&p->cv, &p->mu, deadline) == ETIMEDOUT)
			break;
	}
	idle = p->idle_workers == p->nworkers;
	pthread_mutex_unlock(&p->mu);
	return idle;
}

void
sl_proxy_drain_cut(struct sl_proxy *p)
{
	pthread_mutex_lock(&p->mu);
	p->drain_cut = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int
sl_proxy_drain(struct sl_proxy *p, uint32_t deadline_ms)
{
	struct timespec dl;
	int err = 0, e;

	if (!p->running)
		return 0;
	sl__metrics_set_listening(p, false);
	/* first: a discovered set waits for every worker to take it, so no change may be in
	 * flight when they stop */
	sl__discover_stop(p->disc);
	/* no backend change reaches the workers from here on (one under way completes first) */
	pthread_mutex_lock(&p->bk_mu);
	p->bk_live = false;
	pthread_mutex_unlock(&p->bk_mu);
	/* no transition (and no health_msg post) may race with the workers' stop */
	if (p->health != NULL)
		sl_health_stop(p->health);
	sl__gslots_stop(p);
	sl_clock_deadline(&dl, (uint64_t)deadline_ms * 1000);
	for (unsigned i = 0; i < p->nworkers; i++)
		if ((e = sl__proxy_post(&p->workers[i], &p->workers[i].drain_msg)) != 0 && err == 0)
			err = e;
	if (err == 0 && !wait_idle(p, &dl)) {
		for (unsigned i = 0; i < p->nworkers; i++)
			if ((e = sl__proxy_post(&p->workers[i], &p->workers[i].kill_msg)) != 0 &&
			    err == 0)
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
	/* every session has queued its record: the last lines are written (or counted) now,
	 * before the exit summary reads the counts */
	sl__accesslog_stop(p->alog);
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
	sl__profile_stop(p);
	/* every session is closed: the logger writes what they queued, then stops */
	sl__accesslog_destroy(p->alog);
	sl_health_destroy(p->health);
	sl__gslots_stop(p); /* added groups' checkers post to the workers */
	if (p->workers != NULL)
		for (unsigned i = 0; i < p->nworkers; i++)
			sl__pworker_fini(p, &p->workers[i]);
	sl_worker_group_destroy(p->wg);
	sl__sockmap_close(p->sockmap); /* no forwarder is left */
	/* no worker runs: every replaced snapshot goes now, and the current one if published */
	sl_epoch_destroy(p->epoch);
	/* relaxed: only this thread writes cur, and no worker runs */
	cur = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (cur != p->cfg)
		sl_config_free((struct sl_config *)cur);
	sl__metrics_destroy(p);
	sl__discover_destroy(p->disc);
	sl__profile_destroy(p); /* after the registry that reads it, and the workers */
	sl_counter_destroy(p->ctr);
	if (p->lbs != NULL)
		for (size_t g = 0; g < p->gcap; g++)
			sl_lb_destroy(p->lbs[g]);
	if (p->backends != NULL)
		for (size_t g = 0; g < p->gcap; g++)
			free(p->backends[g]);
	sl__handover_close_rest(p, false); /* no start came, or it failed before taking them */
	free(p->inherited);
	free(p->lfds);
	free(p->workers);
	free(p->conns);
	free(p->fd_shortage);
	free(p->queued);
	sl__lshared_destroy(p);
	free(p->lbs);
	if (p->bsets != NULL)
		for (size_t g = 0; g < p->gcap; g++)
			free(p->bsets[g].map);
	free(p->bsets);
	free(p->backends);
	sl__lslots_destroy(p);
	sl__gslots_destroy(p);
	sl_host_addrs_free(p->host_addrs);
	pthread_mutex_destroy(&p->bk_mu);
	pthread_mutex_destroy(&p->reload_mu);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int
sl_proxy_listener_addr(const struct sl_proxy *p, size_t i, struct sl_addr *out)
{
	if (p->lslots == NULL || i >= p->lcap)
		return -EINVAL;
	/* relaxed: a snapshot of a slot a reload may change (any thread may ask) */
	if (atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) != SL_LSLOT_LIVE ||
	    sl_addr_port(&p->lslots[i].bound) == 0)
		return -ENOENT;
	*out = p->lslots[i].bound;
	return 0;
}

int
sl_proxy_group_name(struct sl_proxy *p, size_t g, char *name, size_t size)
{
	int err = 0;

	if (p->gslots == NULL || g >= p->gcap)
		return -ENOENT;
	pthread_mutex_lock(&p->bk_mu); /* a reload fills slots under it */
	/* relaxed: under bk_mu, which its writer holds */
	if (atomic_load_explicit(&p->gslots[g].state, memory_order_relaxed) == SL_GSLOT_FREE)
		err = -ENOENT;
	else
		snprintf(name, size, "%s", p->gslots[g].cfg.name);
	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

size_t
sl_proxy_listener_slots(const struct sl_proxy *p)
{
	return p->lcap;
}

int
sl_proxy_listener_name(struct sl_proxy *p, size_t i, char *name, size_t size, size_t *group)
{
	int err = 0;

	if (p->lslots == NULL || i >= p->lcap)
		return -EINVAL;
	pthread_mutex_lock(&p->bk_mu); /* a reload fills slots under it */
	/* relaxed: under bk_mu, which its writer holds */
	if (atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) != SL_LSLOT_LIVE) {
		err = -ENOENT;
	} else {
		snprintf(name, size, "%s", p->lslots[i].cfg.name);
		*group = p->lslots[i].cfg.group;
	}
	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

int
sl_proxy_access_log_chown(struct sl_proxy *p, uid_t uid, gid_t gid)
{
	return p->alog != NULL ? sl__accesslog_chown(p->alog, uid, gid) : 0;
}

int
sl_proxy_reopen_logs(struct sl_proxy *p)
{
	if (p->alog == NULL)
		return -ENOENT;
	sl__accesslog_reopen(p->alog);
	return 0;
}
