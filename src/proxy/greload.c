// SPDX-License-Identifier: MIT
/*
 * Group slots at run time: a reload matches the file's groups with the start file's by name
 * (struct sl_gslot, proxy_int.h). A group the file leaves out retires: no listener of the new
 * file reaches it, its health checks stop, its sessions go on reading the start file's copy of
 * its live fields, and statistics show it until the last of them ends. A later file that names
 * it again brings it back with its state. Adding a group is refused before the proxy is asked
 * (sl_config_needs_restart()). Read lreload.c for the listeners' half.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_int.h"

int
sl__gslots_create(struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;

	p->gslots = calloc(cfg->ngroups + 1, sizeof(p->gslots[0]));
	if (p->gslots == NULL)
		return -ENOMEM;
	for (size_t g = 0; g < cfg->ngroups; g++) {
		/* the layout is never freed while the proxy lives */
		atomic_init(&p->gslots[g].live, &cfg->groups[g]);
		atomic_init(&p->gslots[g].state, SL_GSLOT_LIVE);
	}
	return 0;
}

void
sl__gslots_destroy(struct sl_proxy *p)
{
	free(p->gslots);
	p->gslots = NULL;
}

int
sl__group_slot(const struct sl_proxy *p, const char *name)
{
	for (size_t g = 0; g < p->cfg->ngroups; g++)
		if (strcmp(p->cfg->groups[g].name, name) == 0)
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
	/* relaxed: the state alone is read; it publishes nothing */
	return atomic_load_explicit(&p->gslots[g].state, memory_order_relaxed) == SL_GSLOT_LIVE;
}

bool
sl__group_is_shown(const struct sl_proxy *p, size_t g)
{
	if (sl__group_is_live(p, g))
		return true;
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

int
sl__groups_check(const struct sl_proxy *p, const struct sl_config *next, char *why, size_t size)
{
	for (size_t k = 0; k < next->ngroups; k++)
		if (sl__group_slot(p, next->groups[k].name) < 0) {
			snprintf(why, size,
			         "group %s is not in the start file (adding a group needs "
			         "a restart)",
			         next->groups[k].name);
			return -EINVAL;
		}
	for (size_t g = 0; g < p->cfg->ngroups; g++) {
		const struct sl_config_group *cg = &p->cfg->groups[g];

		if (!sl__group_is_live(p, g) || find_in(next, cg->name) != SIZE_MAX)
			continue;
		if (cg->discover.type != SL_DISCOVER_NONE) {
			snprintf(why, size,
			         "group %s was removed, but it has discover: (removing it "
			         "needs a restart)",
			         cg->name);
			return -EINVAL;
		}
		if (cg->warm_pool.size > 0) {
			snprintf(why, size,
			         "group %s was removed, but it has warm_pool: (removing "
			         "it needs a restart)",
			         cg->name);
			return -EINVAL;
		}
	}
	return 0;
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
	for (size_t g = 0; g < p->cfg->ngroups; g++) {
		struct sl_gslot *slot = &p->gslots[g];
		size_t k = find_in(next, p->cfg->groups[g].name);
		enum sl_gslot_state st = k != SIZE_MAX ? SL_GSLOT_LIVE : SL_GSLOT_RETIRED;
		bool changed = sl__group_is_live(p, g) != (st == SL_GSLOT_LIVE);

		/* R1: pairs with A3 in sl__group_live(): the group's fields are visible. A retired
		 * slot reads the start file's group, which outlives every snapshot */
		atomic_store_explicit(&slot->live,
		                      k != SIZE_MAX ? &next->groups[k] : &p->cfg->groups[g],
		                      memory_order_release);
		/* relaxed: under bk_mu, the only writer; readers take the state alone */
		atomic_store_explicit(&slot->state, (uint8_t)st, memory_order_relaxed);
		if (changed)
			sync_health(p, g);
	}
	pthread_mutex_unlock(&p->bk_mu);
}
