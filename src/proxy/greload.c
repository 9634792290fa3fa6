// SPDX-License-Identifier: MIT
/*
 * Group slots at run time (struct sl_gslot, proxy_int.h): a reload matches the file's groups
 * with the slots by name. A new name fills a free slot, built whole before anything is
 * published (its backends are then added by the backend reload, backends.c). A group the file
 * leaves out retires: no listener of the new file reaches it, its health checks stop, its
 * sessions go on reading the slot's own copy of its live fields, and statistics show it until
 * the last of them ends. A later file that names it again brings it back with its state. Read
 * lreload.c for the listeners' half.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/log.h>

#include "proxy/proxy_int.h"

/* Fills slot <g>'s fixed copy from <cg>; an added group's backend list is left out. */
static void
slot_copy(struct sl_gslot *slot, const struct sl_config_group *cg, bool added)
{
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
	for (size_t g = 0; p->gslots != NULL && g < p->gcap; g++)
		sl_health_destroy(p->gslots[g].health);
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
		if (slot_state(&p->gslots[g]) != SL_GSLOT_FREE &&
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

bool
sl__group_is_shown(const struct sl_proxy *p, size_t g)
{
	if (sl__group_is_live(p, g))
		return true;
	if (slot_state(&p->gslots[g]) != SL_GSLOT_RETIRED)
		return false;
	/* relaxed, all: counts, read for a snapshot */
	if (p->queued != NULL && atomic_load_explicit(&p->queued[g].n, memory_order_relaxed) > 0)
		return true;
	for (uint32_t i = 0; i < p->bsets[g].cap; i++)
		if (atomic_load_explicit(&p->backends[g][i].conns, memory_order_relaxed) > 0)
			return true;
	return false;
}

/* The index of group <name> in <c>, or SIZE_MAX. */
static size_t
find_in(const struct sl_config *c, const char *name)
{
	for (size_t k = 0; k < c->ngroups; k++)
		if (strcmp(c->groups[k].name, name) == 0)
			return k;
	return SIZE_MAX;
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
	if (cg->warm_pool.size > 0) {
		snprintf(why, size,
		         "group %s: a group added by a reload cannot have warm_pool: "
		         "(needs a restart)",
		         cg->name);
		return -EINVAL;
	}
	if (sl__group_capacity(cg) > SL_GSLOT_BACKENDS) {
		snprintf(why, size,
		         "group %s: a group added by a reload has at most %u backend "
		         "slots, max_backends asks %u (needs a restart)",
		         cg->name, SL_GSLOT_BACKENDS, sl__group_capacity(cg));
		return -EINVAL;
	}
	return 0;
}

/* Whether each group of <next> fits, and each it leaves out may retire. Under bk_mu. */
static int
check(const struct sl_proxy *p, const struct sl_config *next, char *why, size_t size)
{
	size_t nnew = 0, nfree = 0;
	char reason[200];
	int err;

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
	}
	for (size_t g = 0; g < p->gcap; g++) {
		const struct sl_config_group *cg = sl__group_cfg(p, g);

		nfree += g >= p->cfg->ngroups && slot_state(&p->gslots[g]) == SL_GSLOT_FREE;
		if (!sl__group_is_live(p, g) || find_in(next, cg->name) != SIZE_MAX)
			continue;
		if (cg->discover.type != SL_DISCOVER_NONE || cg->warm_pool.size > 0) {
			snprintf(why, size,
			         "group %s was removed, but it has %s (removing it needs a "
			         "restart)",
			         cg->name,
			         cg->discover.type != SL_DISCOVER_NONE ? "discover:"
			                                               : "warm_pool:");
			return -EINVAL;
		}
	}
	if (nnew > nfree) {
		snprintf(why, size,
		         "%zu group(s) to add but %zu free of the %d group slots a "
		         "process keeps for them (a removed group keeps its slot; needs "
		         "a restart)",
		         nnew, nfree, SL_GSLOTS_SPARE);
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
	if (slot->health != NULL) {
		sl_health_stop(slot->health);
		sl_health_destroy(slot->health);
		slot->health = NULL;
	}
	sl_lb_destroy(p->lbs[g]);
	p->lbs[g] = NULL;
	free(p->bsets[g].map);
	p->bsets[g].map = NULL;
	p->bsets[g].nmap = 0;
	p->bsets[g].cap = SL_GSLOT_BACKENDS;
	p->bsets[g].health_base = SIZE_MAX;
	memset(&slot->cfg, 0, sizeof(slot->cfg));
	/* relaxed: under bk_mu, the only writer */
	atomic_store_explicit(&slot->state, SL_GSLOT_FREE, memory_order_relaxed);
}

/* Starts a checker for every backend slot of added group <g> (all paused: the backend reload
 * resumes the ones it fills). 0 or -errno. */
static int
health_open(struct sl_proxy *p, size_t g)
{
	struct sl_gslot *slot = &p->gslots[g];
	const struct sl_health_opts o = {
	        .on_change = sl__proxy_health_changed, .arg = p, .runtime = p->cfg->runtime};
	uint32_t cap = p->bsets[g].cap;
	struct sl_health_target *t;
	int err;

	if (slot->cfg.health.kind == SL_HEALTH_NONE)
		return 0;
	t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		t[i] = (struct sl_health_target){.group = slot->cfg.name,
		                                 .name = p->backends[g][i].name,
		                                 .addr = p->backends[g][i].addr,
		                                 .cfg = &slot->cfg.health,
		                                 .up = &p->backends[g][i].up,
		                                 .send_proxy = slot->cfg.send_proxy,
		                                 .paused = true};
	err = sl_health_create(&slot->health, t, cap, &o);
	free(t);
	if (err != 0)
		return err;
	p->bsets[g].health_base = 0;
	if (p->running && (err = sl_health_start(slot->health)) != 0) {
		sl_health_destroy(slot->health);
		slot->health = NULL;
		p->bsets[g].health_base = SIZE_MAX;
	}
	return err;
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
	slot_copy(slot, cg, true);
	/* relaxed: under bk_mu, the only writer; no worker looks at an ADDING slot */
	atomic_store_explicit(&slot->state, SL_GSLOT_ADDING, memory_order_relaxed);
	p->bsets[g].cap = sl__group_capacity(cg);
	for (uint32_t i = 0; i < SL_GSLOT_BACKENDS; i++) {
		struct sl_backend *b = &p->backends[g][i];

		/* relaxed: a slot never filled, or emptied by an abandoned add: no session ever
		 * held it, no worker reads it */
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
	}
	if (err == 0)
		err = health_open(p, g);
	if (err != 0)
		snprintf(why, size, "group %s: cannot build it: %s", cg->name, strerror(-err));
	return err;
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
		SL_ASSERT(g != SIZE_MAX); /* counted above */
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

/* Brings the checker's targets of group slot <g> in line with its state. Under bk_mu. */
static void
sync_health(struct sl_proxy *p, size_t g)
{
	for (uint32_t i = 0; i < p->bsets[g].cap; i++)
		sl__proxy_health_sync(p, g, i, false);
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
		k = find_in(next, slot->cfg.name);
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
		if ((was == SL_GSLOT_LIVE) != (st == SL_GSLOT_LIVE))
			sync_health(p, g);
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
