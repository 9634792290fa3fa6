// SPDX-License-Identifier: MIT
/*
 * A worker of the proxy (struct sl_pworker): its setup and teardown (session pool, group
 * views, warm pools, listeners) and the messages it runs from its mailbox: drain, kill and
 * health transitions (backend changes: worker_apply() in backends.c). Everything here runs on
 * the worker's thread, except init and fini, which the controlling thread runs (init under
 * p->bk_mu) while the worker is stopped. Listeners: listener.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/log.h>
#include <sluice/pool.h>

#include "proxy/session.h"
#include "proxy/sockmap.h"

/* ---- drain and stop ---- */

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
	sl__listener_session_closed(l);
	if (sl_unlikely(w->draining) && w->nlive == 0)
		report_idle(w);
}

void
sl__pworker_listeners_close(struct sl_pworker *w)
{
	for (size_t i = 0; i < w->p->lcap; i++)
		if (w->lstarted[i])
			sl__listener_close(&w->listeners[i]);
}

static void
worker_drain(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;
	struct sl_proxy *p = w->p;

	(void)wk;
	/* the listeners in this loop; a slot a reload is filling is its (it sees the drain) */
	sl__pworker_listeners_close(w);
	/* no new sessions: give the warm connections back to the backends now */
	for (size_t g = 0; g < p->gcap; g++)
		if (w->gpooled[g])
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

/*
 * On the worker: a health transition happened somewhere; bring every warm pool in line with
 * the up flags (idempotent, so one message covers any number of transitions).
 */
static void
worker_health(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;

	(void)wk;
	/* A2: pairs with R2 in health_changed() (proxy_health.c); clear first, then read the flags,
	 * so a transition stored after this read posts a new message */
	atomic_exchange_explicit(&w->health_pending, false, memory_order_acquire);
	for (size_t g = 0; g < w->p->gcap; g++)
		if (w->gpooled[g])
			sl__wgroup_warm_sync(&w->groups[g], w->draining);
}

/* ---- setup ---- */

int
sl__pworker_init(struct sl_proxy *p, struct sl_pworker *w, unsigned index)
{
	const struct sl_config *cfg = p->cfg;
	struct sl_pool_opts po = {.name = "sessions",
	                          .block_size = sizeof(struct sl_session),
	                          .align = SL_CACHELINE,
	                          .prealloc_blocks = SL_SESSION_PREALLOC};
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
	sl__handover_worker_init(w);
	atomic_init(&w->health_pending, false);
	sl_warm_counters_init(&w->warm_counts);
	err = sl__metrics_worker_init(w);
	if (err != 0)
		return err;
	w->groups = calloc(p->gcap, sizeof(w->groups[0])); /* a reload fills the free slots' */
	w->listeners = calloc(p->lcap, sizeof(w->listeners[0]));
	w->lstarted = calloc(p->lcap, sizeof(w->lstarted[0]));
	w->gpooled = calloc(p->gcap, sizeof(w->gpooled[0]));
	if (w->groups == NULL || w->listeners == NULL || w->lstarted == NULL || w->gpooled == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->lcap; i++)
		w->listeners[i].fd = -1;
	err = sl_pool_create(&w->sessions, &po);
	if (err != 0)
		return err;
	err = sl__pp_worker_init(w);
	if (err != 0)
		return err;
	if (p->sockmap != NULL) {
		err = sl__sockmap_worker(p->sockmap, index, p->nworkers, &w->sockmap);
		if (err != 0)
			return err;
	}
	for (size_t g = 0; g < cfg->ngroups; g++) {
		err = sl__wgroup_init(&w->groups[g], &cfg->groups[g], p->backends[g],
		                      p->bsets[g].cap, p->lbs[g], p->bsets[g].map, p->bsets[g].nmap,
		                      index + 1);
		if (err != 0)
			return err;
		sl__wgroup_queue_init(&w->groups[g], w->loop, &p->queued[g]);
		err = sl__wgroup_warm_open(&w->groups[g], w->loop, false, &w->warm_counts);
		if (err != 0) {
			sl_log_error("group %s: cannot create the warm pool: %s",
			             cfg->groups[g].name, strerror(-err));
			return err;
		}
		w->gpooled[g] = w->groups[g].warm != NULL;
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		err = sl__listener_open(&w->listeners[i], w, i, -1);
		if (err == 0)
			err = sl__listener_start(&w->listeners[i]);
		if (err != 0)
			return err;
	}
	return 0;
}

void
sl__pworker_fini(struct sl_proxy *p, struct sl_pworker *w)
{
	if (w->listeners != NULL) {
		for (size_t i = 0; w->lstarted != NULL && i < p->lcap; i++)
			sl__listener_fini(&w->listeners[i]);
	}
	if (w->groups != NULL)
		for (size_t g = 0; g < p->gcap; g++)
			sl__wgroup_fini(&w->groups[g]);
	sl_pool_destroy(w->sessions);
	sl__sockmap_worker_fini(&w->sockmap);
	sl__metrics_worker_fini(w);
	sl__pp_worker_fini(w);
	free(w->listeners);
	free(w->lstarted);
	free(w->gpooled);
	free(w->groups);
	if (w->loop != NULL)
		sl_loop_set_epoch(w->loop, NULL, 0);
	memset(w, 0, sizeof(*w));
}
