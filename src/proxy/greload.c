// SPDX-License-Identifier: MIT
/*
 * Group slots at run time (struct sl_gslot, proxy_int.h): a reload matches the file's groups
 * with the slots by name. A new name fills a free slot, built whole before anything is
 * published (its backends are then added by the backend reload, backends.c). A group the file
 * leaves out retires: no listener of the new file reaches it, its health checks stop, its
 * sessions go on reading the slot's own copy of its live fields, and statistics show it until
 * the last of them ends. A later file that names it again brings it back with its state. With
 * no free slot left, a new name takes the slot of an added group retired earlier once nothing
 * holds it (slot_is_held()): every worker lets go of its view through its mailbox, then the
 * slot is reset whole. Read lreload.c for the listeners' half, greload_health.c for the checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/proxy_int.h"

/* How long a reclaim waits for every worker to let go of the slot. */
#define RECLAIM_TIMEOUT_MS 5000

/* Fills slot <g>'s fixed copy from <cg>; an added group's backend list is left out. */
static void
slot_copy(struct sl_gslot *slot, const struct sl_config_group *cg, bool added)
{
	slot->hproxy = cg->send_proxy;
	slot->warm_size = cg->warm_pool.size;
	slot->warm_idle_ms = cg->warm_pool.idle_ms;
	slot->cfg = *cg;
	if (added) {
		slot->cfg.backends = NULL;
		slot->cfg.nbackends = 0;
	}
}

int
sl__gslots_create(struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;

	p->gcap = cfg->ngroups + SL_GSLOTS_SPARE;
	p->gslots = calloc(p->gcap, sizeof(p->gslots[0]));
	if (p->gslots == NULL)
		return -ENOMEM;
	for (size_t g = 0; g < p->gcap; g++) {
		struct sl_gslot *slot = &p->gslots[g];

		atomic_init(&slot->live, &slot->cfg);
		atomic_init(&slot->state, SL_GSLOT_FREE);
		if (g >= cfg->ngroups)
			continue;
		slot_copy(slot, &cfg->groups[g], false);
		/* the layout is never freed while the proxy lives */
		atomic_init(&slot->live, &cfg->groups[g]);
		atomic_init(&slot->state, SL_GSLOT_LIVE);
	}
	return 0;
}

void
sl__gslots_stop(struct sl_proxy *p)
{
	for (size_t g = 0; p->gslots != NULL && g < p->gcap; g++)
		if (p->gslots[g].health != NULL)
			sl_health_stop(p->gslots[g].health);
}

void
sl__gslots_destroy(struct sl_proxy *p)
{
	sl__gslots_stop(p);
	for (size_t g = 0; p->gslots != NULL && g < p->gcap; g++) {
		sl_health_destroy(p->gslots[g].health);
		sl__gslot_health_free(&p->gslots[g]);
	}
	free(p->gslots);
	p->gslots = NULL;
}

static uint8_t
slot_state(const struct sl_gslot *slot)
{
	/* relaxed: the state alone is read; it publishes nothing */
	return atomic_load_explicit(&slot->state, memory_order_relaxed);
}

int
sl__group_slot(const struct sl_proxy *p, const char *name)
{
	for (size_t g = 0; g < p->gcap; g++)
		if (slot_state(&p->gslots[g]) != SL_GSLOT_FREE && !p->gslots[g].dropping &&
		    strcmp(p->gslots[g].cfg.name, name) == 0)
			return (int)g;
	return -ENOENT;
}

int
sl__group_slot_of(const struct sl_proxy *p, const struct sl_config *c, size_t k)
{
	return k < c->ngroups ? sl__group_slot(p, c->groups[k].name) : -ENOENT;
}

bool
sl__group_is_live(const struct sl_proxy *p, size_t g)
{
	return slot_state(&p->gslots[g]) == SL_GSLOT_LIVE;
}

static bool slot_is_held(const struct sl_proxy *p, size_t g);

bool
sl__group_is_shown_locked(const struct sl_proxy *p, size_t g)
{
	/* the rule a reclaim follows, so a group gone from statistics has given its slot up */
	return sl__group_is_live(p, g) ||
	       (slot_state(&p->gslots[g]) == SL_GSLOT_RETIRED && slot_is_held(p, g));
}

bool
sl__group_is_shown(struct sl_proxy *p, size_t g)
{
	bool held;

	if (sl__group_is_live(p, g))
		return true;
	if (slot_state(&p->gslots[g]) != SL_GSLOT_RETIRED)
		return false;
	pthread_mutex_lock(&p->bk_mu);
	held = sl__group_is_shown_locked(p, g);
	pthread_mutex_unlock(&p->bk_mu);
	return held;
}

size_t
sl__group_index(const struct sl_config *c, const char *name)
{
	for (size_t k = 0; k < c->ngroups; k++)
		if (strcmp(c->groups[k].name, name) == 0)
			return k;
	return SIZE_MAX;
}

/* The index in <next> of the group slot <g> holds, or SIZE_MAX: a dropping slot's group is
 * never the one a name brings back. */
static size_t
slot_named_in(const struct sl_proxy *p, size_t g, const struct sl_config *next)
{
	return p->gslots[g].dropping ? SIZE_MAX : sl__group_index(next, p->gslots[g].cfg.name);
}

/* A free slot, or SIZE_MAX. */
static size_t
find_free(const struct sl_proxy *p)
{
	for (size_t g = p->cfg->ngroups; g < p->gcap; g++)
		if (slot_state(&p->gslots[g]) == SL_GSLOT_FREE)
			return g;
	return SIZE_MAX;
}

/*
 * Whether retired group slot <g> is still held on some worker. A worker reaches a group's view
 * (w->groups[g]) only through a listener naming it (a session's s->l->group, the listener's
 * accepts) and through a backend change's message, so the group is held while a listener slot
 * naming it is live, or retired and not yet given back by every worker (its holders: each
 * worker gives it back once its socket is closed and its last session has ended, after the
 * close that touched the group last, listener_gone()). Queued clients and sessions on a
 * backend are counted too, which covers a group no listener names. The messages are
 * slot_reclaim()'s part. Under bk_mu.
 */
static bool
slot_is_held(const struct sl_proxy *p, size_t g)
{
	for (size_t i = 0; p->lslots != NULL && i < p->lcap; i++) {
		const struct sl_lslot *l = &p->lslots[i];
		/* relaxed: under bk_mu, which the listener slots' writer holds */
		uint8_t st = atomic_load_explicit(&l->state, memory_order_relaxed);

		if (st == SL_LSLOT_FREE || l->cfg.group != g)
			continue;
		if (st == SL_LSLOT_LIVE ||
		    /* A4: pairs with R2 in listener_gone() (listener.c): every worker's last
		     * touch of the group through this listener happened before the reset */
		    atomic_load_explicit(&l->holders, memory_order_acquire) != 0)
			return true;
	}
	/* relaxed: a count; no session is left to publish anything through it once it is 0 */
	if (p->queued != NULL && atomic_load_explicit(&p->queued[g].n, memory_order_relaxed) != 0)
		return true;
	for (uint32_t i = 0; i < p->bsets[g].cap; i++)
		/* A5: pairs with R4 in sl__backend_release(): the last session's reads of the
		 * backend slot happened before the reset */
		if (atomic_load_explicit(&p->backends[g][i].conns, memory_order_acquire) != 0)
			return true;
	return false;
}

/* Whether slot <g> may be reclaimed for a group of <next>: an added group's, retired, not
 * named by <next> (it would come back) and held by nothing. Under bk_mu. */
static bool
slot_is_reclaimable(const struct sl_proxy *p, size_t g, const struct sl_config *next)
{
	return g >= p->cfg->ngroups && slot_state(&p->gslots[g]) == SL_GSLOT_RETIRED &&
	       slot_named_in(p, g, next) == SIZE_MAX && !slot_is_held(p, g);
}

/* The reclaimable slot retired longest ago, or SIZE_MAX. Under bk_mu. */
static size_t
find_reclaimable(const struct sl_proxy *p, const struct sl_config *next)
{
	size_t best = SIZE_MAX;

	for (size_t g = p->cfg->ngroups; g < p->gcap; g++)
		if (slot_is_reclaimable(p, g, next) &&
		    (best == SIZE_MAX || p->gslots[g].retired_ms < p->gslots[best].retired_ms))
			best = g;
	return best;
}

/* The backend slots group <cg>, new to the process, gets: its capacity as at a start, within
 * the SL_GSLOT_BACKENDS its group slot has (check_new() refused more that was asked for). */
static uint32_t
added_capacity(const struct sl_config_group *cg)
{
	uint32_t cap = sl__group_capacity(cg);

	return cap < SL_GSLOT_BACKENDS ? cap : SL_GSLOT_BACKENDS;
}

/* Whether group <cg>, new to the process, may be added: 0 or -EINVAL with <why>. */
static int
check_new(const struct sl_config_group *cg, char *why, size_t size)
{
	if (cg->discover.type != SL_DISCOVER_NONE) {
		snprintf(why, size,
		         "group %s: a group added by a reload cannot have discover: "
		         "(needs a restart)",
		         cg->name);
		return -EINVAL;
	}
	/* its slot has SL_GSLOT_BACKENDS backend slots: the default room above the listed
	 * backends shrinks to fit; only a list or a max_backends: that asks more is refused */
	if (cg->nbackends > SL_GSLOT_BACKENDS) {
		snprintf(why, size,
		         "group %s: a group added by a reload has at most %u backend slots, it "
		         "lists %zu backends (needs a restart)",
		         cg->name, SL_GSLOT_BACKENDS, cg->nbackends);
		return -EINVAL;
	}
	if (cg->max_backends > SL_GSLOT_BACKENDS) {
		snprintf(why, size,
		         "group %s: a group added by a reload has at most %u backend slots, "
		         "max_backends asks %u (set it to %u at most, or restart)",
		         cg->name, SL_GSLOT_BACKENDS, cg->max_backends, SL_GSLOT_BACKENDS);
		return -EINVAL;
	}
	return 0;
}

/* true if group slot <g>'s workers have a warm pool object: its group started, or was added,
 * with one (the slot's fixed copy says which) */
static bool
has_pool(const struct sl_proxy *p, size_t g)
{
	return p->gslots[g].cfg.warm_pool.size > 0;
}

/*
 * Whether the warm pools of <next>'s kept groups fit: a group started without one gets none,
 * and what they hold more must fit the fd limit (the cap that leaves in p->warm_cap). Under
 * bk_mu.
 */
static int
check_warm(struct sl_proxy *p, const struct sl_config *next, char *why, size_t size)
{
	int64_t extra = 0;
	uint32_t cap;
	int err;

	p->warm_cap = 0;
	for (size_t k = 0; k < next->ngroups; k++) {
		const struct sl_config_group *cg = &next->groups[k];
		int g = sl__group_slot(p, cg->name);

		if (g < 0) {
			/* a group added with a pool: all of it is more */
			extra += (int64_t)cg->warm_pool.size * added_capacity(cg) * p->nworkers;
			continue;
		}
		if (cg->warm_pool.size == p->gslots[g].warm_size)
			continue;
		if (cg->warm_pool.size > 0 && !has_pool(p, (size_t)g)) {
			snprintf(why, size,
			         "group %s: warm_pool: a group that started without a warm pool "
			         "gets one by a restart",
			         cg->name);
			return -EINVAL;
		}
		extra += ((int64_t)cg->warm_pool.size - p->gslots[g].warm_size) * p->bsets[g].cap *
		         p->nworkers;
	}
	err = sl__budget_check_warm(p, extra, &cap, why, size);
	if (err == 0 && extra > 0)
		p->warm_cap = cap;
	return err;
}

/* Whether each group of <next> fits, and each it leaves out may retire. Under bk_mu. */
static int
check(struct sl_proxy *p, const struct sl_config *next, char *why, size_t size)
{
	size_t nnew = 0, nfree = 0, nheld = 0, nleaving = 0;
	char reason[200];
	uint32_t cap;
	int err;

	/* the checks first: the warm pools' and the listeners' budgets count them too */
	p->hextra_next = sl__budget_health_extra(p, next);
	p->health_cap = 0;
	if ((err = sl__budget_check_health(p, &cap, why, size)) != 0)
		return err;
	if (p->hextra_next > p->hextra)
		p->health_cap = cap;
	if ((err = check_warm(p, next, why, size)) != 0)
		return err;

	for (size_t k = 0; k < next->ngroups; k++) {
		const struct sl_config_group *cg = &next->groups[k];
		int g = sl__group_slot(p, cg->name);

		if (g < 0) {
			if ((err = check_new(cg, why, size)) != 0)
				return err;
			nnew++;
			continue;
		}
		if (sl_config_group_needs_restart(sl__group_cfg(p, (size_t)g), cg, reason,
		                                  sizeof(reason))) {
			snprintf(why, size, "%s (needs a restart)", reason);
			return -EINVAL;
		}
		/* a balance change is the backend reload's (backends.c); its table of backend
		 * slots stays, and maglev needs a larger lookup table than that */
		if (cg->balance == SL_LB_MAGLEV && p->bsets[g].cap >= cg->maglev_table_size) {
			snprintf(why, size,
			         "group %s: maglev_table_size %u must be larger than the group's "
			         "%u backend slots (max_backends)",
			         cg->name, cg->maglev_table_size, p->bsets[g].cap);
			return -EINVAL;
		}
	}
	/* any group may retire: a start file's with a warm pool or discovery too, whose pools
	 * empty (backends.c) and whose discovery pauses (discover.c) until it is named again */
	for (size_t g = 0; g < p->gcap; g++) {
		nfree += g >= p->cfg->ngroups && slot_state(&p->gslots[g]) == SL_GSLOT_FREE;
		if (slot_is_reclaimable(p, g, next))
			nfree++;
		else if (g >= p->cfg->ngroups && slot_state(&p->gslots[g]) == SL_GSLOT_RETIRED &&
		         slot_named_in(p, g, next) == SIZE_MAX)
			nheld++;
		/* a group this file removes frees its slot only once this reload retired it */
		else if (g >= p->cfg->ngroups && slot_state(&p->gslots[g]) == SL_GSLOT_LIVE &&
		         slot_named_in(p, g, next) == SIZE_MAX)
			nleaving++;
	}
	if (nnew > nfree && nleaving > 0 && nnew <= nfree + nheld + nleaving) {
		snprintf(why, size,
		         "%zu group(s) to add but %zu free of the %d group slots a "
		         "process keeps for them (%zu held by removed groups whose sessions "
		         "are still open, %zu by groups this file removes, which give theirs up "
		         "only after this reload: reload once without those, then with the new "
		         "ones)",
		         nnew, nfree, SL_GSLOTS_SPARE, nheld, nleaving);
		return -ENOSPC;
	}
	if (nnew > nfree) {
		snprintf(why, size,
		         "%zu group(s) to add but %zu free of the %d group slots a "
		         "process keeps for them (%zu held by removed groups whose sessions "
		         "are still open: try again once they end; more needs a restart)",
		         nnew, nfree, SL_GSLOTS_SPARE, nheld);
		return -ENOSPC;
	}
	return 0;
}

/* Empties ADDING slot <g>: its workers' views, its checker, its table. Under bk_mu. */
static void
slot_empty(struct sl_proxy *p, size_t g)
{
	struct sl_gslot *slot = &p->gslots[g];

	for (unsigned w = 0; p->workers != NULL && w < p->nworkers; w++)
		sl__wgroup_fini(&p->workers[w].groups[g]);
	sl__gslot_health_close(p, g);
	sl__gslot_health_free(slot);
	sl_lb_destroy(p->lbs[g]);
	p->lbs[g] = NULL;
	free(p->bsets[g].map);
	p->bsets[g].map = NULL;
	p->bsets[g].nmap = 0;
	p->bsets[g].cap = SL_GSLOT_BACKENDS;
	p->bsets[g].health_base = SIZE_MAX;
	memset(&slot->cfg, 0, sizeof(slot->cfg));
	slot->warm_size = slot->warm_idle_ms = 0;
	slot->dropping = false;
	/* relaxed: under bk_mu, the only writer */
	atomic_store_explicit(&slot->state, SL_GSLOT_FREE, memory_order_relaxed);
}

/* Builds added group <cg> in free slot <g>: unseen by the workers until published. */
static int
slot_fill(struct sl_proxy *p, size_t g, const struct sl_config_group *cg, char *why, size_t size)
{
	struct sl_gslot *slot = &p->gslots[g];
	int err = 0;

	if (p->workers == NULL || p->workers[0].groups == NULL) {
		snprintf(why, size, "group %s: the workers are not set up yet", cg->name);
		return -EAGAIN;
	}
	err = sl__group_source_check(cg, why, size);
	if (err != 0)
		return err;
	slot_copy(slot, cg, true);
	/* relaxed: under bk_mu, the only writer; no worker looks at an ADDING slot */
	atomic_store_explicit(&slot->state, SL_GSLOT_ADDING, memory_order_relaxed);
	p->bsets[g].cap = added_capacity(cg);
	for (uint32_t i = 0; i < SL_GSLOT_BACKENDS; i++) {
		struct sl_backend *b = &p->backends[g][i];

		/* relaxed: a slot never filled, emptied by an abandoned add, or reclaimed: no
		 * session holds it (slot_is_held() acquired every count), no worker reads it */
		SL_ASSERT(atomic_load_explicit(&b->conns, memory_order_relaxed) == 0);
		/* relaxed: under bk_mu, unseen by workers; the backend reload's post orders it */
		atomic_store_explicit(&b->state, SL_SLOT_EMPTY, memory_order_relaxed);
		/* relaxed: as above; traffic flows before the first verdict */
		atomic_store_explicit(&b->up, 1, memory_order_relaxed);
	}
	for (unsigned w = 0; w < p->nworkers && err == 0; w++) {
		struct sl_wgroup *wg = &p->workers[w].groups[g];

		err = sl__wgroup_init(wg, &slot->cfg, p->backends[g], p->bsets[g].cap, NULL, NULL,
		                      0, w + 1);
		if (err == 0)
			sl__wgroup_queue_init(wg, p->workers[w].loop, &p->queued[g]);
		/* its pool, all of it disabled: the worker's loop is not touched here (the
		 * backend reload's member change enables it there) */
		if (err == 0)
			err = sl__wgroup_warm_open(wg, p->workers[w].loop, true,
			                           &p->workers[w].warm_counts);
	}
	if (err == 0)
		err = sl__gslot_health_open(p, g);
	if (err != 0)
		snprintf(why, size, "group %s: cannot build it: %s", cg->name, strerror(-err));
	return err;
}

/* ---- reclaiming a retired slot ---- */

/*
 * On the worker: lets go of its view of group slot <arg>. A worker takes its messages in the
 * order they were posted, so every earlier one about the group (a backend change the wait gave
 * up on) has run; no session of this worker is in the group (slot_is_held()).
 */
static void
worker_drop(struct sl_pworker *w, void *arg)
{
	size_t gi = (size_t)((struct sl_gslot *)arg - w->p->gslots);
	struct sl_wgroup *g = &w->groups[gi];

	/* the last queued session's leave stopped the queue's timer and wake-up (queue_leave()) */
	SL_ASSERT(g->nqueued == 0 && !sl_timer_is_pending(&g->qpoll));
	w->gpooled[gi] = false;
	sl__wgroup_fini(g);
}

/*
 * Resets reclaimable slot <g> (slot_is_reclaimable()) to FREE for group <name>: every worker
 * lets go of its view first (waited for, bounded), then the checker, the balancer and the
 * table go as for an abandoned add (each backend slot is refilled from EMPTY, its counters
 * from what is there now: from zero as shown). 0, or -EAGAIN with <why> when a worker did not
 * answer in time (the slot stays retired: a later reclaim's message comes after this one) or
 * the workers take no change now. Under bk_mu.
 */
static int
slot_reclaim(struct sl_proxy *p, size_t g, const char *name, char *why, size_t size)
{
	struct sl_gslot *slot = &p->gslots[g];
	char who[96];

	if (p->listening) {
		ssize_t done;

		if (!p->bk_live) {
			snprintf(why, size,
			         "group %s: the workers take no group change now (starting or "
			         "draining)",
			         name);
			return -EAGAIN;
		}
		snprintf(who, sizeof(who), "group %s", slot->cfg.name);
		/* the slots stay where they are (p->gslots): the payload needs no freeing */
		done = sl__wjob_post_all(p, worker_drop, slot, NULL, RECLAIM_TIMEOUT_MS, who,
		                         "group slot");
		if (done < 0) {
			snprintf(why, size, "out of memory");
			return -ENOMEM;
		}
		if (done != p->nworkers) {
			/* the workers that answered, and the late ones once they do, have no view
			 * of the group left: its name must not bring the slot back */
			slot->dropping = true;
			snprintf(
			        why, size,
			        "group %s: a worker did not let go of the slot of removed group %s "
			        "in time; try again",
			        name, slot->cfg.name);
			return -EAGAIN;
		}
	}
	/* before sl_proxy_listen() no worker runs: slot_empty() finishes the views itself */
	sl_log_info("group %s: takes the slot of removed group %s, which nothing holds (reload)",
	            name, slot->cfg.name);
	slot_empty(p, g);
	return 0;
}

int
sl__groups_prepare(struct sl_proxy *p, const struct sl_config *next, char *why, size_t size)
{
	int err;

	pthread_mutex_lock(&p->bk_mu);
	err = check(p, next, why, size);
	for (size_t k = 0; k < next->ngroups && err == 0; k++) {
		size_t g;

		if (sl__group_slot(p, next->groups[k].name) >= 0)
			continue;
		g = find_free(p);
		if (g == SIZE_MAX) {
			g = find_reclaimable(p, next);
			SL_ASSERT(g != SIZE_MAX); /* counted above; a held slot only frees */
			if ((err = slot_reclaim(p, g, next->groups[k].name, why, size)) != 0)
				break;
		}
		err = slot_fill(p, g, &next->groups[k], why, size);
		if (err != 0)
			slot_empty(p, g);
	}
	pthread_mutex_unlock(&p->bk_mu);
	if (err != 0)
		sl__groups_abandon(p);
	return err;
}

void
sl__groups_abandon(struct sl_proxy *p)
{
	pthread_mutex_lock(&p->bk_mu);
	for (size_t g = p->cfg->ngroups; g < p->gcap; g++)
		if (slot_state(&p->gslots[g]) == SL_GSLOT_ADDING)
			slot_empty(p, g);
	pthread_mutex_unlock(&p->bk_mu);
}

void
sl__groups_point(struct sl_proxy *p, const struct sl_config *next)
{
	pthread_mutex_lock(&p->bk_mu);
	for (size_t g = 0; g < p->gcap; g++) {
		struct sl_gslot *slot = &p->gslots[g];
		uint8_t was = slot_state(slot);
		size_t k;
		enum sl_gslot_state st;

		if (was == SL_GSLOT_FREE)
			continue;
		k = slot_named_in(p, g, next);
		st = k != SIZE_MAX ? SL_GSLOT_LIVE : SL_GSLOT_RETIRED;
		/* R1: pairs with A3 in sl__group_live(): the group's fields are visible. A retired
		 * slot reads its own copy, which outlives every snapshot */
		atomic_store_explicit(&slot->live, k != SIZE_MAX ? &next->groups[k] : &slot->cfg,
		                      memory_order_release);
		/* relaxed: under bk_mu, the only writer; readers take the state alone */
		atomic_store_explicit(&slot->state, (uint8_t)st, memory_order_relaxed);
		if (was == SL_GSLOT_ADDING)
			sl_log_info("group %s: added (reload)", slot->cfg.name);
		else if (st == SL_GSLOT_RETIRED && was == SL_GSLOT_LIVE)
			sl_log_info("group %s: removed; its sessions run to their end (reload)",
			            slot->cfg.name);
		else if (st == SL_GSLOT_LIVE && was == SL_GSLOT_RETIRED)
			sl_log_info("group %s: back (reload)", slot->cfg.name);
		if (st == SL_GSLOT_RETIRED && was != SL_GSLOT_RETIRED)
			slot->retired_ms = sl_clock_ns() / 1000000;
		if ((was == SL_GSLOT_LIVE) != (st == SL_GSLOT_LIVE))
			sl__gslot_health_sync(p, g);
	}
	pthread_mutex_unlock(&p->bk_mu);
}

bool
sl__groups_match(const struct sl_proxy *p, const struct sl_config *next)
{
	for (size_t k = 0; k < next->ngroups; k++) {
		int g = sl__group_slot(p, next->groups[k].name);

		if (g < 0 || slot_state(&p->gslots[g]) == SL_GSLOT_FREE)
			return false;
	}
	return true;
}
