// SPDX-License-Identifier: MIT
/*
 * The proxy's side of active health checks: one checker (sl_health, its own thread) with a
 * target for every slot of the backend table of every group with a health: key (empty slots
 * paused), writing each backend's up flag directly; run-time changes pause, resume or reset
 * targets (sl__proxy_health_sync()); and a transition hook that asks every worker to bring its
 * warm pools in line (worker_health() in pworker.c). docs/internals/proxy.md draws the wiring.
 */
#include <errno.h>
#include <stdlib.h>

#include "proxy/session.h"

/*
 * sl_health on_change, on the checker thread, after the new state was stored: posts one
 * health_msg to every worker that has none queued. Only warm pools react (the balancers read
 * the flags directly), so a post lost to a full mailbox costs efficiency only, until the next
 * transition: a down backend keeps its idle connections, or an up one refills no pool. Posted
 * whether or not a pool exists now: a reload may add a group with one (the worker looks at
 * the pools it has).
 */
void
sl__proxy_health_changed(void *arg, const struct sl_health_event *ev)
{
	struct sl_proxy *p = arg;

	(void)ev;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sl_pworker *w = &p->workers[i];

		/* R2: pairs with A2 in worker_health() (pworker.c): if the worker's clear comes
		 * after this in the flag's order, it sees the state the checker stored before
		 * calling us */
		if (atomic_exchange_explicit(&w->health_pending, true, memory_order_acq_rel))
			continue;
		if (sl_worker_post(w->w, &w->health_msg) != 0)
			/* relaxed: nothing queued, so nothing to order; the next transition retries
			 */
			atomic_store_explicit(&w->health_pending, false, memory_order_relaxed);
	}
}

/* Builds the checker for every backend of every group with active checks (none: NULL). */
int
sl__proxy_health_create(struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;
	const struct sl_health_opts o = {
	        .on_change = sl__proxy_health_changed, .arg = p, .runtime = p->cfg->runtime};
	struct sl_health_target *t;
	size_t n = 0, k = 0;
	int err;

	for (size_t g = 0; g < cfg->ngroups; g++)
		if (cfg->groups[g].health.kind != SL_HEALTH_NONE)
			n += p->bsets[g].cap;
	if (n == 0)
		return 0;
	t = calloc(n, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		const struct sl_config_group *cg = &cfg->groups[g];

		if (cg->health.kind == SL_HEALTH_NONE)
			continue;
		p->bsets[g].health_base = k;
		for (size_t i = 0; i < p->bsets[g].cap; i++) {
			const struct sl_backend *b = &p->backends[g][i];

			t[k++] = (struct sl_health_target){.group = cg->name,
			                                   .name = b->name,
			                                   .addr = b->addr,
			                                   .source = cg->source,
			                                   .cfg = &cg->health,
			                                   .up = &p->backends[g][i].up,
			                                   .up_at_ms = &p->backends[g][i].up_at_ms,
			                                   .send_proxy = cg->send_proxy,
			                                   .paused = i >= cg->nbackends};
		}
	}
	err = sl_health_create(&p->health, t, n, &o);
	free(t);
	return err;
}

void
sl__proxy_health_sync(struct sl_proxy *p, size_t g, uint32_t i, bool reset)
{
	const struct sl_backend *b = &p->backends[g][i];
	/* a group with its own checker (added, or its checks turned on by a reload) uses it;
	 * otherwise a start file's group is in the shared one */
	struct sl_health *h = p->gslots[g].health != NULL ? p->gslots[g].health
	                      : g < p->cfg->ngroups       ? p->health
	                                                  : NULL;
	bool active;

	if (h == NULL || p->bsets[g].health_base == SIZE_MAX)
		return;
	/* relaxed, both: under p->bk_mu, their only writer */
	active = sl__group_is_live(p, g) &&
	         atomic_load_explicit(&b->state, memory_order_relaxed) == SL_SLOT_LIVE &&
	         atomic_load_explicit(&b->admin, memory_order_relaxed) != SL_BACKEND_DISABLED;
	sl_health_set_target(h, p->bsets[g].health_base + i, reset ? &b->addr : NULL,
	                     reset ? b->name : NULL, active, reset);
}
