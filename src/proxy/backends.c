// SPDX-License-Identifier: MIT
/*
 * Backends at run time (include/sluice/backends.h): add, remove, weight, admin state, the
 * discovered set of a group, and closing a backend's open sessions, serialised by p->bk_mu. A
 * change edits the group's slot table (struct sl_backend, proxy_int.h), rebuilds the prototype
 * balancer over the members, and posts every worker a clone and the slot map (worker_apply()); the
 * call waits, bounded, until every worker took it. A removed slot is reused only once every worker
 * has dropped it from its balancer (retired) and no session holds it (conns at 0, A4/R4).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/backends.h>
#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/session.h"

/* How long a change waits for every worker to take it before it returns anyway. */
#define APPLY_TIMEOUT_MS 5000

/* One worker's part of a change: its balancer clone and slot map (NULL: keep the balancer). */
struct bk_part {
	struct sl_lb *lb;
	uint16_t *map;
	size_t nmap;
	struct sl_warm_room *room; /* a warm pool resize: the new slots, then the old ones */
};

/* A change on its way to the workers; freed with the job that carries it (wjob.c). */
struct bk_change {
	size_t group;
	bool rebuild;  /* the members, weights or algorithm changed: the workers swap balancers */
	bool hash_key; /* rebuild: the new balancer is maglev (the flow key hashes the client) */
	bool warm;     /* the warm pools are resized to <wcfg> (rooms made here) */
	struct sl_config_warm_pool wcfg;
	unsigned n;
	struct bk_part part[]; /* [n]: by worker index */
};

static void
change_free(void *arg)
{
	struct bk_change *c = arg;

	for (unsigned i = 0; i < c->n; i++) {
		sl_lb_destroy(c->part[i].lb);
		free(c->part[i].map);
		sl_warm_room_free(c->part[i].room);
	}
	free(c);
}

/*
 * On the worker: takes the new balancer and map, or brings the warm pool in line. The worker
 * runs one callback at a time, so no pick is under way: the old balancer is freed here and no
 * session keeps a pointer into it (a session holds slot indexes, and the per-slot active counts
 * stay with the group view, so least_conn and p2c go on from the real counts).
 */
static void
worker_apply(struct sl_pworker *w, void *arg)
{
	struct bk_change *c = arg;
	struct bk_part *part = &c->part[w->index];
	struct sl_wgroup *g = &w->groups[c->group];

	/* the view is this worker's from its first change on (an added group's pool too) */
	w->gpooled[c->group] = g->warm != NULL;
	if (c->rebuild) {
		sl__wgroup_set_members(g, part->lb, part->map, part->nmap, w->draining);
		g->hash_key = c->hash_key;
		part->lb = NULL;
		part->map = NULL;
	} else {
		sl__wgroup_warm_sync(g, w->draining);
	}
	if (c->warm && g->warm != NULL) {
		/* no allocation here: the room was made by the controlling thread, and takes the
		 * old slots back to it (change_free()) */
		if (sl_warm_resize(g->warm, part->room, &c->wcfg) == 0)
			sl__wgroup_warm_sync(g, w->draining);
	}
}

static struct bk_change *
change_new(struct sl_proxy *p, size_t group, bool rebuild, const struct sl_config_warm_pool *warm)
{
	const struct sl_bset *bs = &p->bsets[group];
	struct bk_change *c = calloc(1, sizeof(*c) + p->nworkers * sizeof(c->part[0]));

	if (c == NULL)
		return NULL;
	c->group = group;
	c->rebuild = rebuild;
	c->hash_key = sl__group_cfg(p, group)->balance == SL_LB_MAGLEV;
	c->warm = warm != NULL;
	if (warm != NULL)
		c->wcfg = *warm;
	c->n = p->nworkers;
	for (unsigned i = 0; i < c->n; i++) {
		struct bk_part *part = &c->part[i];

		if (warm != NULL && (part->room = sl_warm_room_new(bs->cap, warm->size)) == NULL) {
			change_free(c);
			return NULL;
		}
		if (!rebuild || bs->nmap == 0)
			continue;
		part->map = malloc(bs->nmap * sizeof(part->map[0]));
		if (part->map == NULL || sl_lb_clone(&part->lb, p->lbs[group],
		                                     &(struct sl_lb_opts){.seed = i + 1}) != 0) {
			change_free(c);
			return NULL;
		}
		memcpy(part->map, bs->map, bs->nmap * sizeof(part->map[0]));
		part->nmap = bs->nmap;
	}
	return c;
}

/* Every removed slot of group <g> has left every worker's balancer: it may be reused. */
static void
retire_removed(struct sl_proxy *p, size_t g)
{
	for (uint32_t i = 0; i < p->bsets[g].cap; i++) {
		struct sl_backend *b = &p->backends[g][i];

		/* relaxed: under bk_mu, the only writer */
		if (atomic_load_explicit(&b->state, memory_order_relaxed) == SL_SLOT_REMOVED)
			b->retired = true;
	}
}

/*
 * Brings every worker in line with group <g>'s slot table: rebuilds the prototype balancer if
 * <rebuild> (the members or weights changed), then posts the change and waits for the workers.
 * 0, or -ENOMEM / -EINVAL from the build (nothing changed: the caller undoes its edit).
 */
static int
publish(struct sl_proxy *p, size_t g, bool rebuild, const struct sl_config_warm_pool *warm)
{
	struct sl_bset *bs = &p->bsets[g];
	struct bk_change *c;
	ssize_t done = -ENOMEM;
	char who[96];

	if (rebuild) {
		struct sl_lb *lb;
		uint16_t *map;
		size_t nmap;
		int err = sl__group_lb_build(&lb, &map, &nmap, sl__group_cfg(p, g), p->backends[g],
		                             bs->cap);

		if (err != 0)
			return err;
		sl_lb_destroy(p->lbs[g]);
		free(bs->map);
		p->lbs[g] = lb;
		bs->map = map;
		bs->nmap = nmap;
	}
	if (!p->bk_live) {
		/* no worker runs: sl__pworker_init() clones the new prototype */
		retire_removed(p, g);
		return 0;
	}
	snprintf(who, sizeof(who), "group %s", sl__group_cfg(p, g)->name);
	c = change_new(p, g, rebuild, warm);
	if (c != NULL) {
		done = sl__wjob_post_all(p, worker_apply, c, change_free, APPLY_TIMEOUT_MS, who,
		                         "backend");
		if (done < 0)
			change_free(c);
	}
	if (done < 0) {
		/* the table changed but the workers keep their balancers: say so, loudly */
		sl_log_error("group %s: out of memory passing a backend change to the workers",
		             sl__group_cfg(p, g)->name);
		return 0;
	}
	if (done == p->nworkers)
		retire_removed(p, g);
	return 0;
}

/* ---- the slot table (under bk_mu) ---- */

static int
find_group(const struct sl_proxy *p, const char *name)
{
	int g = name != NULL ? sl__group_slot(p, name) : -ENOENT;

	/* a group a reload retired takes no change: the file no longer names it */
	return g >= 0 && !sl__group_is_live(p, (size_t)g) ? -ENOENT : g;
}

static uint8_t
slot_state(const struct sl_backend *b)
{
	/* relaxed: under bk_mu, the only writer */
	return atomic_load_explicit(&b->state, memory_order_relaxed);
}

static int
find_backend(const struct sl_proxy *p, size_t g, const char *name)
{
	if (name == NULL)
		return -ENOENT;
	for (uint32_t i = 0; i < p->bsets[g].cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];

		if (slot_state(b) == SL_SLOT_LIVE && strcmp(b->name, name) == 0)
			return (int)i;
	}
	return -ENOENT;
}

/* The live backend of group <g> at <addr>: its slot, or -ENOENT. */
static int
find_backend_at(const struct sl_proxy *p, size_t g, const struct sl_addr *addr)
{
	for (uint32_t i = 0; i < p->bsets[g].cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];

		if (slot_state(b) == SL_SLOT_LIVE && sl_addr_equal(&b->addr, addr))
			return (int)i;
	}
	return -ENOENT;
}

/* This host's addresses, read again when a second old (they change rarely); NULL if unknown. */
static const struct sl_host_addrs *
host_addrs_locked(struct sl_proxy *p)
{
	uint64_t now = sl_clock_ns();

	if (p->host_addrs == NULL || now - p->host_addrs_ns >= 1000000000ULL) {
		struct sl_host_addrs *h = sl_host_addrs_load();

		if (h != NULL) {
			sl_host_addrs_free(p->host_addrs);
			p->host_addrs = h;
			p->host_addrs_ns = now;
		}
	}
	return p->host_addrs;
}

/*
 * The live listener slot a connect to <addr> would reach (sl_addr_reaches_here()), by its
 * configured address or, once bound, the address it got (port 0 resolved): its index, or
 * -ENOENT. bk_mu held: a reload fills and retires slots under it. This host's addresses are
 * read only for a wildcard listener on <addr>'s port.
 */
static int
listener_reached_locked(struct sl_proxy *p, const struct sl_addr *addr)
{
	for (size_t i = 0; p->lslots != NULL && i < p->lcap; i++) {
		const struct sl_lslot *s = &p->lslots[i];
		const struct sl_addr *l = s->bound.len != 0 ? &s->bound : &s->cfg.addr;
		const struct sl_host_addrs *h = NULL;

		/* relaxed: under bk_mu, which its writer holds */
		if (atomic_load_explicit(&s->state, memory_order_relaxed) != SL_LSLOT_LIVE)
			continue;
		if (sl_addr_is_any(l) && sl_addr_port(l) == sl_addr_port(addr))
			h = host_addrs_locked(p);
		if (sl_addr_reaches(addr, &s->cfg.addr) || sl_addr_reaches_here(addr, l, h))
			return (int)i;
	}
	return -ENOENT;
}

/* Whether a connect to <addr> reaches the admin endpoint, which speaks HTTP about sluice: no
 * service to balance. Under bk_mu. */
static bool
admin_reached_locked(struct sl_proxy *p, const struct sl_addr *addr)
{
	const struct sl_addr *a = &p->cfg->admin.addr;
	const struct sl_host_addrs *h = NULL;

	if (a->len == 0)
		return false;
	if (sl_addr_is_any(a) && sl_addr_port(a) == sl_addr_port(addr))
		h = host_addrs_locked(p);
	return sl_addr_reaches(addr, a) || sl_addr_reaches_here(addr, a, h);
}

static bool
slot_reusable(const struct sl_backend *b)
{
	if (slot_state(b) == SL_SLOT_EMPTY)
		return true;
	/* A4: pairs with R4 in sl__backend_release(): every access of the last session holding
	 * the slot happened before the fill that follows */
	return slot_state(b) == SL_SLOT_REMOVED && b->retired &&
	       atomic_load_explicit(&b->conns, memory_order_acquire) == 0;
}

/* A free slot of group <g>, not in <skip> (may be NULL), empty ones first; -ENOSPC. */
static int
free_slot(const struct sl_proxy *p, size_t g, const bool *skip)
{
	int reuse = -ENOSPC;

	for (uint32_t i = 0; i < p->bsets[g].cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];

		if (skip != NULL && skip[i])
			continue;
		if (slot_state(b) == SL_SLOT_EMPTY)
			return (int)i;
		if (reuse < 0 && slot_reusable(b))
			reuse = (int)i;
	}
	return reuse;
}

/*
 * free_slot(p, g, taken) for one call after another that each mark the slot they got in
 * <taken>: the empty slots in order, then the reusable ones, without rescanning from slot 0
 * each time (<*cursor>, 0 at first: where the scan goes on; past cap: the reusable ones).
 */
static int
free_slot_from(const struct sl_proxy *p, size_t g, const bool *taken, uint32_t *cursor)
{
	uint32_t cap = p->bsets[g].cap;

	for (; *cursor < cap; (*cursor)++)
		if (!taken[*cursor] && slot_state(&p->backends[g][*cursor]) == SL_SLOT_EMPTY)
			return (int)*cursor;
	for (; *cursor < 2 * cap; (*cursor)++)
		if (!taken[*cursor - cap] && slot_reusable(&p->backends[g][*cursor - cap]))
			return (int)(*cursor - cap);
	return -ENOSPC;
}

/* A name as the config file allows one (sl_config_name_ok()), NUL-terminated in <size>. */
static bool
name_is_valid(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	return end != NULL && sl_config_name_ok(s, (size_t)(end - s));
}

static int
spec_check(const struct sl_backend_spec *spec)
{
	if (spec == NULL || spec->addr.len == 0 || sl_addr_port(&spec->addr) == 0 ||
	    spec->weight == 0 || spec->weight > SL_CONFIG_WEIGHT_MAX ||
	    !name_is_valid(spec->name, sizeof(spec->name)))
		return -EINVAL;
	return 0;
}

static void
spec_name(const struct sl_backend_spec *spec, char *out)
{
	if (spec->name[0] != '\0')
		memcpy(out, spec->name, SL_CONFIG_NAME_MAX);
	else
		sl_addr_format(&spec->addr, out, SL_CONFIG_NAME_MAX);
}

/* Counter <k> of slot <i> of group <g> alone: its sum less its base. Under bk_mu. */
static uint64_t
slot_counted(const struct sl_proxy *p, size_t g, uint32_t i, unsigned k)
{
	size_t flat = p->mx.bbase[g] + i;

	return sl_counter_sum(p->mx.bctr, (unsigned)(flat * SL_BCTR_COUNT + k)) -
	       p->backends[g][i].ctr_base[k];
}

uint64_t
sl__backend_counted(const struct sl_proxy *p, size_t g, uint32_t i, unsigned k)
{
	uint64_t v = slot_counted(p, g, i, k);

	/* down the chain of the slots it took the series over from: what each counted since
	 * (a chain has no loop: a slot filled again hands its part on first, slot_hand_on()) */
	for (uint32_t q1 = p->backends[g][i].pred1; q1 != 0 && k != SL_BCTR_ACTIVE;
	     q1 = p->backends[g][q1 - 1].pred1)
		v += slot_counted(p, g, q1 - 1, k) - p->backends[g][q1 - 1].handed[k];
	return v;
}

/*
 * Slot <i> of group <g> is filled again: what it counted since a successor took its series
 * over goes into that successor's own counts, and the successor follows the slot <i> took the
 * series from, if any, from here. Whether it had one. Under bk_mu.
 */
static bool
slot_hand_on(struct sl_proxy *p, size_t g, uint32_t i)
{
	struct sl_backend *b = &p->backends[g][i], *heir;

	if (b->succ1 == 0)
		return false;
	heir = &p->backends[g][b->succ1 - 1];
	for (unsigned k = 0; k < SL_BCTR_COUNT; k++)
		if (k != SL_BCTR_ACTIVE)
			heir->ctr_base[k] -= slot_counted(p, g, i, k) - b->handed[k];
	heir->pred1 = b->pred1;
	if (b->pred1 != 0)
		p->backends[g][b->pred1 - 1].succ1 = b->succ1;
	b->pred1 = b->succ1 = 0;
	return true;
}

/* Whether slot <r> of group <g> is REMOVED, named <name>, and no slot goes on with its series
 * yet. Under bk_mu. */
static bool
slot_may_lead(const struct sl_proxy *p, size_t g, uint32_t r, const char *name)
{
	const struct sl_backend *b = &p->backends[g][r];

	/* relaxed: under bk_mu, the only writer */
	return atomic_load_explicit(&b->state, memory_order_relaxed) == SL_SLOT_REMOVED &&
	       b->succ1 == 0 && strcmp(b->name, name) == 0;
}

#define SLOT_SEARCH (-2) /* slot_fill()'s <lead>: look for the slot it goes on from */

/* Which slot of group <g> slot <i>, filled as <name>, goes on from: 1 + <hint> if it may
 * (slot_may_lead()), else, with <hint> SLOT_SEARCH, the first that may; 0: none. */
static uint32_t
slot_leader(const struct sl_proxy *p, size_t g, uint32_t i, const char *name, int hint)
{
	if (hint >= 0)
		return (uint32_t)hint != i && slot_may_lead(p, g, (uint32_t)hint, name)
		               ? (uint32_t)hint + 1
		               : 0;
	for (uint32_t r = 0; hint == SLOT_SEARCH && r < p->bsets[g].cap; r++)
		if (r != i && slot_may_lead(p, g, r, name))
			return r + 1;
	return 0;
}

/*
 * Fills slot <i> of group <g> from <spec>. Counters start from what is there now, except for
 * a backend whose name a removed one had (a reload replaced it, with another address or
 * max_connections, or it was removed and is added again): its series goes on, with what that
 * one still counts added in (sl__backend_counted()), so it never goes back. <lead>: the slot
 * it replaces (a reload's plan knows it), -1 none, SLOT_SEARCH: look for one.
 */
static void
slot_fill(struct sl_proxy *p, size_t g, uint32_t i, const struct sl_backend_spec *spec,
          bool discovered, int lead)
{
	struct sl_backend *b = &p->backends[g][i];
	size_t flat = p->mx.bbase[g] + i;
	char name[SL_CONFIG_NAME_MAX];
	/* relaxed: under bk_mu, the only writer */
	bool same = atomic_load_explicit(&b->state, memory_order_relaxed) == SL_SLOT_REMOVED;
	uint32_t pred1;

	spec_name(spec, name);
	/* the same name in its own slot again, with nobody going on from it: its series and
	 * its chain go on as they were */
	same = !slot_hand_on(p, g, i) && same && strcmp(b->name, name) == 0;
	if (!same && b->pred1 != 0) { /* its old series is gone: its predecessor leads none */
		p->backends[g][b->pred1 - 1].succ1 = 0;
		b->pred1 = 0;
	}
	pred1 = same ? b->pred1 : slot_leader(p, g, i, name, lead);
	for (unsigned k = 0; k < SL_BCTR_COUNT && !same; k++) {
		b->ctr_base[k] = sl_counter_sum(p->mx.bctr, (unsigned)(flat * SL_BCTR_COUNT + k));
		if (pred1 != 0 && k != SL_BCTR_ACTIVE) {
			/* from what the removed one's series shows now; what its chain counts from
			 * here on is added in while it holds sessions, then handed on */
			b->ctr_base[k] -= sl__backend_counted(p, g, pred1 - 1, k);
			for (uint32_t q1 = pred1; q1 != 0; q1 = p->backends[g][q1 - 1].pred1)
				p->backends[g][q1 - 1].handed[k] = slot_counted(p, g, q1 - 1, k);
		}
	}
	b->pred1 = pred1;
	if (pred1 != 0)
		p->backends[g][pred1 - 1].succ1 = i + 1;
	b->retired = false;
	/* relaxed: no worker reaches the slot (proxy_int.h); the checker resets it (health) */
	atomic_store_explicit(&b->up, 1, memory_order_relaxed);
	sl__backend_came_up(b); /* a backend added while running ramps up (slowstart) */
	sl__backend_fill(b, name, &spec->addr, spec->weight, spec->max_connections, spec->backup,
	                 discovered);
	sl__proxy_health_sync(p, g, i, true);
}

static void
slot_remove(struct sl_proxy *p, size_t g, uint32_t i)
{
	struct sl_backend *b = &p->backends[g][i];

	/* relaxed: under bk_mu; the workers learn it from the change's post */
	atomic_store_explicit(&b->state, SL_SLOT_REMOVED, memory_order_relaxed);
	b->retired = false;
	sl__proxy_health_sync(p, g, i, false);
}

/* ---- the API ---- */

/*
 * Locks bk_mu and finds <group>; -EDEADLK on a worker (it would wait for itself), -EAGAIN
 * between sl_proxy_listen() and sl_proxy_start() (the workers' views are built and not yet
 * running to take a change).
 */
static int
enter(struct sl_proxy *p, const char *group)
{
	int g;

	if (sl_worker_current() != NULL)
		return -EDEADLK;
	pthread_mutex_lock(&p->bk_mu);
	if (p->listening && !p->bk_live) {
		pthread_mutex_unlock(&p->bk_mu);
		return -EAGAIN;
	}
	g = find_group(p, group);
	if (g < 0)
		pthread_mutex_unlock(&p->bk_mu);
	return g;
}

/* enter() and backend <name> of the group: its slot, bk_mu held; or a negative errno, not held. */
static int
enter_backend(struct sl_proxy *p, const char *group, const char *name, int *g)
{
	int i;

	if ((*g = enter(p, group)) < 0)
		return *g;
	i = find_backend(p, (size_t)*g, name);
	if (i < 0)
		pthread_mutex_unlock(&p->bk_mu);
	return i;
}

int
sl_proxy_backend_add(struct sl_proxy *p, const char *group, const struct sl_backend_spec *spec)
{
	char name[SL_CONFIG_NAME_MAX];
	int g, i, err;

	if ((err = spec_check(spec)) != 0)
		return err;
	if ((g = enter(p, group)) < 0)
		return g;
	spec_name(spec, name);
	/* two backends at one address would be one server counted, checked and weighted twice,
	 * which the config file refuses too */
	if (find_backend(p, (size_t)g, name) >= 0 ||
	    find_backend_at(p, (size_t)g, &spec->addr) >= 0) {
		err = -EEXIST;
		goto out_unlock;
	}
	/* each session would open another through the proxy, as the config file refuses too;
	 * nor is the admin endpoint a service */
	if (listener_reached_locked(p, &spec->addr) >= 0 || admin_reached_locked(p, &spec->addr)) {
		err = -ELOOP;
		goto out_unlock;
	}
	/* a socket bound to the group's source connects to its family only */
	if (sl__group_cfg(p, (size_t)g)->source.len != 0 &&
	    sl__group_cfg(p, (size_t)g)->source.ss.ss_family != spec->addr.ss.ss_family) {
		err = -EAFNOSUPPORT;
		goto out_unlock;
	}
	i = free_slot(p, (size_t)g, NULL);
	if (i < 0) {
		err = i;
		goto out_unlock;
	}
	slot_fill(p, (size_t)g, (uint32_t)i, spec, false, SLOT_SEARCH);
	err = publish(p, (size_t)g, true, NULL);
	if (err != 0) {
		slot_remove(p, (size_t)g, (uint32_t)i);
		p->backends[g][i].retired = true; /* never reached a worker */
	} else {
		char a[SL_ADDR_STRLEN];

		sl_log_info("group %s: backend %s (%s) added", group, name,
		            sl_addr_format(&spec->addr, a, sizeof(a)));
	}

out_unlock:
	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

int
sl_proxy_backend_remove(struct sl_proxy *p, const char *group, const char *name)
{
	int g, i, err;

	if ((i = enter_backend(p, group, name, &g)) < 0)
		return i;
	slot_remove(p, (size_t)g, (uint32_t)i);
	err = publish(p, (size_t)g, true, NULL);
	if (err != 0) {
		/* relaxed: under bk_mu, nothing was published */
		atomic_store_explicit(&p->backends[g][i].state, SL_SLOT_LIVE, memory_order_relaxed);
		sl__proxy_health_sync(p, (size_t)g, (uint32_t)i, false);
	} else {
		sl_log_info("group %s: backend %s removed", group, name);
	}

	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

/* ---- closing a backend's open sessions ---- */

/* A close-sessions request: what each worker closes, and how many it did. The caller and the
 * job hold a reference each (refs); the last one out frees it. */
struct close_req {
	_Atomic unsigned refs;
	_Atomic uint64_t closed;
	const struct sl_backend *table; /* the group's slot table */
	bool *slots;                    /* which of its slots: the live one and removed ones */
};

static void
close_req_put(void *arg)
{
	struct close_req *r = arg;

	/* R9: the holder's reads of the request happen before the free by the last one out
	 * (which acquires every earlier holder's release: acq_rel) */
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
		free(r->slots);
		free(r);
	}
}

/*
 * Marks in <slots> (NULL: none) the slots of group <g> named <name>: the live backend, and
 * removed ones that sessions still hold (the name removed, or its address changed, while they
 * ran). 0, or -ENOENT when there is none. bk_mu held.
 */
static int
named_slots(const struct sl_proxy *p, size_t g, const char *name, bool *slots)
{
	int err = -ENOENT;

	for (uint32_t i = 0; name != NULL && i < p->bsets[g].cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];

		/* relaxed: a count read once; a session it misses ends on its own */
		if (strcmp(b->name, name) != 0 ||
		    !(slot_state(b) == SL_SLOT_LIVE ||
		      (slot_state(b) == SL_SLOT_REMOVED &&
		       atomic_load_explicit(&b->conns, memory_order_relaxed) != 0)))
			continue;
		if (slots != NULL)
			slots[i] = true;
		err = 0;
	}
	return err;
}

/* On a worker: closes its sessions on the requested backend. */
static void
worker_close(struct sl_pworker *w, void *arg)
{
	struct close_req *r = arg;
	struct sl_session *s, *next;
	uint64_t n = 0;

	for (s = w->live; s != NULL; s = next) {
		next = s->next;
		if (s->backend >= 0 && s->l->group->backends == r->table && r->slots[s->backend]) {
			sl__session_close_admin(s);
			n++;
		}
	}
	/* relaxed: a count; the job's completion, under its mutex, orders it before the caller's
	 * read (a worker that answers late adds to a count nobody reads) */
	atomic_fetch_add_explicit(&r->closed, n, memory_order_relaxed);
}

int
sl_proxy_backend_close_sessions(struct sl_proxy *p, const char *group, const char *name,
                                uint64_t *closed)
{
	struct close_req *r;
	ssize_t done;
	char who[96];
	int g, err;

	*closed = 0;
	if ((g = enter(p, group)) < 0)
		return g;
	/* no worker runs before the start (nor a session); none can take a job after the stop */
	if ((err = named_slots(p, (size_t)g, name, NULL)) != 0 || !p->bk_live) {
		pthread_mutex_unlock(&p->bk_mu);
		return err;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->slots = calloc(p->bsets[g].cap, sizeof(bool))) == NULL) {
		free(r);
		pthread_mutex_unlock(&p->bk_mu);
		return -ENOMEM;
	}
	(void)named_slots(p, (size_t)g, name, r->slots);
	atomic_init(&r->refs, 2);
	atomic_init(&r->closed, 0);
	r->table = p->backends[g];
	snprintf(who, sizeof(who), "group %s", group);
	done = sl__wjob_post_all(p, worker_close, r, close_req_put, APPLY_TIMEOUT_MS, who,
	                         "session close");
	if (done < 0) {
		free(r->slots);
		free(r); /* never posted: nobody else holds it */
		pthread_mutex_unlock(&p->bk_mu);
		return (int)done;
	}
	/* relaxed: see worker_close() */
	*closed = atomic_load_explicit(&r->closed, memory_order_relaxed);
	close_req_put(r);
	sl_log_info("group %s: backend %s: %" PRIu64 " open session%s closed", group, name, *closed,
	            *closed == 1 ? "" : "s");
	pthread_mutex_unlock(&p->bk_mu);
	return (size_t)done != p->nworkers ? -ETIMEDOUT : 0;
}

int
sl_proxy_backend_set_weight(struct sl_proxy *p, const char *group, const char *name,
                            uint32_t weight)
{
	struct sl_backend *b;
	uint32_t old;
	int g, i, err;

	if (weight == 0 || weight > SL_CONFIG_WEIGHT_MAX)
		return -EINVAL;
	if ((i = enter_backend(p, group, name, &g)) < 0)
		return i;
	b = &p->backends[g][i];
	/* relaxed: under bk_mu, the only writer; statistics read the value alone */
	old = atomic_exchange_explicit(&b->weight, weight, memory_order_relaxed);
	err = old == weight ? 0 : publish(p, (size_t)g, true, NULL);
	if (err != 0)
		/* relaxed: as above */
		atomic_store_explicit(&b->weight, old, memory_order_relaxed);
	else if (old != weight)
		sl_log_info("group %s: backend %s weight %u -> %u", group, name, old, weight);

	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

int
sl_proxy_backend_set_admin(struct sl_proxy *p, const char *group, const char *name,
                           enum sl_backend_admin admin)
{
	struct sl_backend *b;
	uint8_t old;
	int g, i, err = 0;

	if ((unsigned)admin >= SL_BACKEND_ADMIN_KINDS)
		return -EINVAL;
	if ((i = enter_backend(p, group, name, &g)) < 0)
		return i;
	b = &p->backends[g][i];
	/* relaxed: workers read the value alone per pick; the post below orders the warm pools */
	old = atomic_exchange_explicit(&b->admin, (uint8_t)admin, memory_order_relaxed);
	if (old == (uint8_t)admin)
		goto out_unlock;
	if (old == SL_BACKEND_DISABLED || admin == SL_BACKEND_DISABLED)
		sl__proxy_health_sync(p, (size_t)g, (uint32_t)i, false);
	if (admin == SL_BACKEND_ENABLED)
		sl__backend_came_up(b); /* an enabled backend ramps up (slowstart) */
	/* no new balancer: the picks read admin; the workers still settle their warm pools */
	err = publish(p, (size_t)g, false, NULL);
	sl_log_info("group %s: backend %s %s -> %s", group, name,
	            sl_backend_admin_name((enum sl_backend_admin)old),
	            sl_backend_admin_name(admin));

out_unlock:
	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

/* A discovered set being applied to group <g> (<cap> slots), as the name checks see it. */
struct dset_apply {
	const struct sl_proxy *p;
	size_t g;
	uint32_t cap;
	const size_t *match;               /* per slot: the entry that keeps it, or SIZE_MAX */
	const bool *add;                   /* per entry: it is added */
	char (*names)[SL_CONFIG_NAME_MAX]; /* per entry added: its name */
};

/*
 * true if <name> is taken in <a>'s group: by a live backend the set keeps or that the file has
 * (*<by_file> set then), or by one of the first <k> entries the set adds. Under bk_mu.
 */
static bool
name_taken(const struct dset_apply *a, const char *name, size_t k, bool *by_file)
{
	for (uint32_t i = 0; i < a->cap; i++) {
		const struct sl_backend *b = &a->p->backends[a->g][i];

		if (slot_state(b) == SL_SLOT_LIVE && (a->match[i] != SIZE_MAX || !b->discovered) &&
		    strcmp(b->name, name) == 0) {
			*by_file = !b->discovered;
			return true;
		}
	}
	for (size_t j = 0; j < k; j++)
		if (a->add[j] && strcmp(a->names[j], name) == 0)
			return true;
	return false;
}

/*
 * Names new entry <k> of discovered set <set> (into a->names[k]) so that no backend the group
 * keeps and no earlier new entry has its name. Discovery numbers the addresses of one SRV target
 * NAME, NAME#2, ... in address order, so a new lower address takes a name a kept backend holds:
 * the new one then takes the first NAME#m free (or its address text). 0, or -EEXIST when the
 * name is a file backend's (the set is refused) or no name is free.
 */
static int
name_new_entry(const struct dset_apply *a, const struct sl_backend_spec *set, size_t k)
{
	char base[SL_CONFIG_NAME_MAX], cand[SL_CONFIG_NAME_MAX];
	bool by_file = false;
	char *hash;

	spec_name(&set[k], a->names[k]);
	if (!name_taken(a, a->names[k], k, &by_file))
		return 0;
	if (by_file)
		return -EEXIST;
	memcpy(base, a->names[k], sizeof(base));
	hash = strrchr(base, '#');
	if (hash != NULL && hash[1] != '\0' && strspn(hash + 1, "0123456789") == strlen(hash + 1))
		*hash = '\0';
	for (size_t m = 2; m <= a->cap + k + 1; m++) {
		int w = snprintf(cand, sizeof(cand), "%s#%zu", base, m);

		if (w <= 0 || (size_t)w >= sizeof(cand))
			break;
		if (!name_taken(a, cand, k, &by_file)) {
			memcpy(a->names[k], cand, sizeof(cand));
			return 0;
		}
	}
	sl_addr_format(&set[k].addr, cand, sizeof(cand));
	if (name_taken(a, cand, k, &by_file))
		return -EEXIST;
	memcpy(a->names[k], cand, sizeof(cand));
	return 0;
}

/* publish() of a discovery change to group <g>; a failure is logged. Under bk_mu. */
static int
discovered_publish(struct sl_proxy *p, size_t g)
{
	int err = publish(p, g, true, NULL);

	if (err != 0)
		/* only a failed build (out of memory) gets here; the table holds the new set, the
		 * workers the old one, until the next change publishes */
		sl_log_error("group %s: cannot rebuild the balancer: %s", sl__group_cfg(p, g)->name,
		             strerror(-err));
	return err;
}

/*
 * Fills the slots of group <g> that are free now with the entries of <set> marked in <waits>
 * (new ones that found no slot before the removals were published), named <names>, in order,
 * and publishes them; adds how many to <*fit>. 0, or publish()'s error. Under bk_mu.
 */
static int
fill_waiting(struct sl_proxy *p, size_t g, const struct sl_backend_spec *set, size_t n,
             const bool *waits, const char (*names)[SL_CONFIG_NAME_MAX], size_t *fit)
{
	size_t more = 0;
	int i, err;

	for (size_t k = 0; k < n; k++) {
		struct sl_backend_spec spec = set[k];

		if (!waits[k])
			continue;
		if ((i = free_slot(p, g, NULL)) < 0)
			break;
		memcpy(spec.name, names[k], sizeof(spec.name));
		slot_fill(p, g, (uint32_t)i, &spec, true, SLOT_SEARCH);
		more++;
	}
	if (more == 0)
		return 0;
	if ((err = discovered_publish(p, g)) != 0)
		return err;
	sl_log_info("group %s: discovery added %zu more backend(s), in the slots of those removed",
	            sl__group_cfg(p, g)->name, more);
	*fit += more;
	return 0;
}

int
sl_proxy_group_set_discovered(struct sl_proxy *p, const char *group,
                              const struct sl_backend_spec *set, size_t n)
{
	char(*names)[SL_CONFIG_NAME_MAX] = NULL; /* per entry: the name it is added under */
	struct dset_apply apply;
	bool *add = NULL, *taken = NULL, *waits = NULL; /* waits: new, found no slot */
	size_t *match = NULL; /* per slot: the entry that keeps it, or SIZE_MAX */
	size_t need = 0, fit = 0, nremoved = 0, nreweighted = 0;
	uint32_t cap;
	int g, err;

	for (size_t k = 0; k < n; k++)
		if ((err = spec_check(&set[k])) != 0)
			return err;
	if ((g = enter(p, group)) < 0)
		return g;
	cap = p->bsets[g].cap;
	match = malloc(cap * sizeof(*match));
	taken = calloc(cap, sizeof(*taken)); /* slots given to new entries */
	add = calloc(n + 1, sizeof(*add));   /* entries to add */
	names = calloc(n + 1, sizeof(*names));
	waits = calloc(n + 1, sizeof(*waits));
	if (match == NULL || taken == NULL || add == NULL || names == NULL || waits == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (uint32_t i = 0; i < cap; i++)
		match[i] = SIZE_MAX;
	/* which entries are there already (by address, any live backend), which are new */
	for (size_t k = 0; k < n; k++) {
		bool found = false;

		for (uint32_t i = 0; i < cap && !found; i++) {
			const struct sl_backend *b = &p->backends[g][i];

			if (slot_state(b) == SL_SLOT_LIVE &&
			    sl_addr_equal(&b->addr, &set[k].addr)) {
				found = true;
				match[i] = k;
			}
		}
		for (size_t j = 0; j < k && !found; j++)
			found = sl_addr_equal(&set[j].addr, &set[k].addr); /* listed twice */
		add[k] = !found;
		need += !found;
		/* each session would open another through the proxy, as for add */
		if (!found && (listener_reached_locked(p, &set[k].addr) >= 0 ||
		               admin_reached_locked(p, &set[k].addr))) {
			err = -ELOOP;
			goto out_free;
		}
	}
	/* new names must be free among the backends that stay and the other new ones */
	apply = (struct dset_apply){
	        .p = p, .g = (size_t)g, .cap = cap, .match = match, .add = add, .names = names};
	for (size_t k = 0; k < n; k++)
		if (add[k] && (err = name_new_entry(&apply, set, k)) != 0)
			goto out_free;
	/* room: slots free now (a slot removed below is reused once the workers dropped it and
	 * no session holds it: fill_waiting()); the new entries that find none wait */
	for (size_t k = 0; k < need; k++) {
		int i = free_slot(p, (size_t)g, taken);

		if (i < 0)
			break;
		taken[i] = true;
		fit++;
	}
	for (size_t k = n, left = need - fit; k-- > 0 && left > 0;) /* the last ones wait */
		if (add[k]) {
			add[k] = false;
			waits[k] = true;
			left--;
		}
	/* commit: remove the discovered backends that left, reweigh those that stay (a file's
	 * backend is left alone), fill the new ones */
	for (uint32_t i = 0; i < cap; i++) {
		struct sl_backend *b = &p->backends[g][i];

		if (slot_state(b) != SL_SLOT_LIVE || !b->discovered)
			continue;
		if (match[i] == SIZE_MAX) {
			slot_remove(p, (size_t)g, i);
			nremoved++;
			continue;
		}
		/* relaxed: under bk_mu, the only writer; statistics and the balancer's build
		 * (published below) read the value alone */
		if (atomic_exchange_explicit(&b->weight, set[match[i]].weight,
		                             memory_order_relaxed) != set[match[i]].weight)
			nreweighted++;
	}
	for (size_t k = 0; k < n; k++) {
		if (!add[k])
			continue;
		for (uint32_t i = 0; i < cap; i++) {
			if (!taken[i])
				continue;
			struct sl_backend_spec spec = set[k];

			taken[i] = false;
			memcpy(spec.name, names[k], sizeof(spec.name));
			slot_fill(p, (size_t)g, i, &spec, true, SLOT_SEARCH);
			break;
		}
	}
	err = 0;
	if (fit + nremoved + nreweighted > 0) {
		err = discovered_publish(p, (size_t)g);
		if (err == 0)
			sl_log_info("group %s: discovery added %zu backend(s), removed %zu, "
			            "reweighed %zu",
			            group, fit, nremoved, nreweighted);
	}
	/* a set that replaces a full group: its removed backends' slots take the rest once the
	 * workers dropped them, unless sessions hold them (else the group went without backends
	 * until the next resolution) */
	if (err == 0 && fit < need && nremoved > 0)
		err = fill_waiting(p, (size_t)g, set, n, waits, names, &fit);
	if (err == 0 && fit < need)
		err = -ENOSPC;

out_free:
	pthread_mutex_unlock(&p->bk_mu);
	free(match);
	free(taken);
	free(add);
	free(names);
	free(waits);
	return err;
}

/* ---- a reload's backend lists ---- */

static bool
same_backend_list(const struct sl_config_group *a, const struct sl_config_group *b)
{
	if (a->nbackends != b->nbackends)
		return false;
	for (size_t i = 0; i < a->nbackends; i++) {
		const struct sl_config_backend *x = &a->backends[i], *y = &b->backends[i];

		if (strcmp(x->name, y->name) != 0 || !sl_addr_equal(&x->addr, &y->addr) ||
		    x->weight != y->weight || x->max_connections != y->max_connections ||
		    x->backup != y->backup)
			return false;
	}
	return true;
}

static void
spec_of(struct sl_backend_spec *spec, const struct sl_config_backend *cb)
{
	memset(spec, 0, sizeof(*spec));
	memcpy(spec->name, cb->name, sizeof(spec->name));
	spec->addr = cb->addr;
	spec->weight = cb->weight == 0 ? 1 : cb->weight;
	spec->max_connections = cb->max_connections;
	spec->backup = cb->backup;
}

/*
 * Group <g>'s live backends by name, for the lookups of a plan (one per backend of the file:
 * find_backend() for each would be quadratic in a group of thousands): open addressing over
 * a power of two of at least twice the slots, each entry a slot index + 1 (0: empty). Slots
 * go in in index order, so a lookup finds what find_backend() would.
 */
struct name_index {
	uint32_t mask;
	uint32_t *entry;
};

/* FNV-1a */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int
name_index_build(struct name_index *x, const struct sl_proxy *p, size_t g)
{
	uint32_t cap = p->bsets[g].cap, n = 2;

	while (n < 2 * (uint64_t)cap)
		n <<= 1;
	x->mask = n - 1;
	x->entry = calloc(n, sizeof(*x->entry));
	if (x->entry == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];
		uint32_t h;

		if (slot_state(b) != SL_SLOT_LIVE)
			continue;
		for (h = name_hash(b->name) & x->mask; x->entry[h] != 0; h = (h + 1) & x->mask)
			;
		x->entry[h] = i + 1;
	}
	return 0;
}

/* The live backend of group <g> named <name>, as find_backend(), through <x>. */
static int
name_index_find(const struct name_index *x, const struct sl_proxy *p, size_t g, const char *name)
{
	for (uint32_t h = name_hash(name) & x->mask; x->entry[h] != 0; h = (h + 1) & x->mask) {
		uint32_t i = x->entry[h] - 1;

		if (strcmp(p->backends[g][i].name, name) == 0)
			return (int)i;
	}
	return -ENOENT;
}

/* One group's part of a reload, worked out before anything changes. */
struct bk_plan {
	const struct sl_config_group *cg; /* the new file's group; NULL: nothing changes */
	bool algo;  /* balance or maglev_table_size changed: the balancer is rebuilt */
	bool warm;  /* warm_pool changed: the workers resize their pools */
	bool *drop; /* [cap] live slots to remove; NULL: the backend list is unchanged */
	int *from;  /* [nbackends] the slot that stays, or -1 */
	int *to;    /* [nbackends] the slot to fill, or -1 */
	int *was;   /* [nbackends] the slot of its name it replaces (dropped), or -1 */
	/* a group with a pool the new file leaves out: its warm pools go to size 0 (cg) */
	struct sl_config_group gone;
};

/* Works out group <g>'s plan against its slot table; -EINVAL with the reason in <why>. */
static int
plan_group(struct sl_proxy *p, size_t g, struct bk_plan *pl, char *why, size_t size)
{
	const struct sl_config_group *cg = pl->cg;
	uint32_t cap = p->bsets[g].cap;
	size_t need = 0, nfree = 0;
	bool *taken = calloc(cap, sizeof(*taken));
	bool *stays = calloc(cap, sizeof(*stays));
	struct name_index names = {.entry = NULL};
	uint32_t next_free = 0;
	int err = 0;

	if (taken == NULL || stays == NULL || name_index_build(&names, p, g) != 0) {
		err = -ENOMEM;
		snprintf(why, size, "group %s: out of memory", cg->name);
		goto out_free;
	}
	for (size_t k = 0; k < cg->nbackends; k++) {
		struct sl_backend_spec spec;
		char name[SL_CONFIG_NAME_MAX];
		int i;

		spec_of(&spec, &cg->backends[k]);
		spec_name(&spec, name);
		if (spec_check(&spec) != 0) {
			snprintf(why, size, "group %s: backend %s: bad name, address or weight",
			         cg->name, name);
			err = -EINVAL;
			goto out_free;
		}
		pl->from[k] = pl->to[k] = pl->was[k] = -1;
		i = name_index_find(&names, p, g, name);
		if (i >= 0 && p->backends[g][i].discovered) {
			snprintf(why, size,
			         "group %s: backend %s: the name is a discovered backend's",
			         cg->name, name);
			err = -EINVAL;
			goto out_free;
		}
		if (i >= 0 && stays[i]) {
			snprintf(why, size, "group %s: backend %s is listed twice", cg->name, name);
			err = -EINVAL;
			goto out_free;
		}
		if (i >= 0 && sl_addr_equal(&p->backends[g][i].addr, &spec.addr) &&
		    p->backends[g][i].max_connections == spec.max_connections) {
			pl->from[k] = i;
			stays[i] = true;
		} else {
			need++; /* new, or replaced (its old slot is dropped below) */
			pl->was[k] = i;
		}
	}
	for (uint32_t i = 0; i < cap; i++) {
		const struct sl_backend *b = &p->backends[g][i];

		pl->drop[i] = slot_state(b) == SL_SLOT_LIVE && !b->discovered && !stays[i];
	}
	/* room: slots free now; a slot dropped here is reused by a later change only */
	for (size_t k = 0; k < cg->nbackends; k++) {
		int i;

		if (pl->from[k] >= 0)
			continue;
		i = free_slot_from(p, g, taken, &next_free);
		if (i < 0)
			break;
		taken[i] = true;
		pl->to[k] = i;
		nfree++;
	}
	if (nfree < need) {
		uint32_t held = 0;

		for (uint32_t i = 0; i < cap; i++)
			held += slot_state(&p->backends[g][i]) == SL_SLOT_REMOVED &&
			        !slot_reusable(&p->backends[g][i]);
		snprintf(why, size,
		         "group %s: %zu backend(s) to add but %zu free of max_backends %" PRIu32
		         " (%" PRIu32 " held by removed backends' open sessions)",
		         cg->name, need, nfree, cap, held);
		err = -EINVAL;
	}

out_free:
	free(names.entry);
	free(taken);
	free(stays);
	return err;
}

/* Carries out group <g>'s plan and publishes it; logs each change. */
static void
apply_group(struct sl_proxy *p, size_t g, const struct bk_plan *pl)
{
	const struct sl_config_group *cg = pl->cg;
	struct sl_config_group *sc = &p->gslots[g].cfg;
	enum sl_lb_algo was_algo = sc->balance;
	uint32_t was_size = sc->maglev_table_size;
	unsigned changes = 0;
	int err;

	if (pl->algo) {
		/* the slot's copy is what every later build reads (publish()); no worker reads
		 * these two fields: the job below carries the balancer and its hash_key */
		sc->balance = cg->balance;
		sc->maglev_table_size = cg->maglev_table_size;
		sl_log_info("group %s: balance %s -> %s, maglev_table_size %u -> %u (reload)",
		            cg->name, sl_lb_algo_name(was_algo), sl_lb_algo_name(cg->balance),
		            was_size, cg->maglev_table_size);
		changes++;
	}
	for (uint32_t i = 0; pl->drop != NULL && i < p->bsets[g].cap; i++) {
		if (!pl->drop[i])
			continue;
		slot_remove(p, g, i);
		sl_log_info("group %s: backend %s removed (reload)", cg->name,
		            p->backends[g][i].name);
		changes++;
	}
	for (size_t k = 0; pl->drop != NULL && k < cg->nbackends; k++) {
		struct sl_backend_spec spec;
		char a[SL_ADDR_STRLEN];

		spec_of(&spec, &cg->backends[k]);
		if (pl->from[k] >= 0) {
			struct sl_backend *b = &p->backends[g][pl->from[k]];
			/* relaxed: under bk_mu, the only writer; statistics read the value alone */
			uint32_t old = atomic_exchange_explicit(&b->weight, spec.weight,
			                                        memory_order_relaxed);

			if (old != spec.weight) {
				sl_log_info("group %s: backend %s weight %u -> %u (reload)",
				            cg->name, b->name, old, spec.weight);
				changes++;
			}
			/* relaxed: as the weight; the change's post orders it for the workers */
			if (atomic_exchange_explicit(&b->backup, spec.backup ? 1 : 0,
			                             memory_order_relaxed) != spec.backup) {
				sl_log_info("group %s: backend %s is %s (reload)", cg->name,
				            b->name,
				            spec.backup ? "a backup now" : "no longer a backup");
				changes++;
			}
			continue;
		}
		slot_fill(p, g, (uint32_t)pl->to[k], &spec, false, pl->was[k]);
		sl_log_info("group %s: backend %s (%s) added (reload)", cg->name,
		            p->backends[g][pl->to[k]].name,
		            sl_addr_format(&spec.addr, a, sizeof(a)));
		changes++;
	}
	if (pl->warm) {
		struct sl_gslot *slot = &p->gslots[g];

		sl_log_info("group %s: warm_pool size %u -> %u, idle %u ms -> %u ms (reload)",
		            cg->name, slot->warm_size, cg->warm_pool.size, slot->warm_idle_ms,
		            cg->warm_pool.idle_ms);
		slot->warm_size = cg->warm_pool.size;
		slot->warm_idle_ms = cg->warm_pool.idle_ms;
		if (p->warm_cap != 0 &&
		    /* relaxed: this thread is the only writer */
		    p->warm_cap < atomic_load_explicit(&p->max_conns, memory_order_relaxed)) {
			sl_log_info("max_connections %u: what the file descriptors allow with the "
			            "larger warm pool",
			            p->warm_cap);
			/* relaxed: a bound, publishing nothing (proxy_int.h) */
			atomic_store_explicit(&p->max_conns, p->warm_cap, memory_order_relaxed);
		}
	}
	if (changes == 0 && !pl->warm)
		return;
	err = publish(p, g, changes != 0, pl->warm ? &cg->warm_pool : NULL);
	if (err != 0) {
		/* only a failed build (out of memory) gets here; the table holds the new set, the
		 * workers the old one (and the old algorithm), until the next change publishes */
		sc->balance = was_algo;
		sc->maglev_table_size = was_size;
		sl_log_error("group %s: cannot rebuild the balancer: %s", cg->name, strerror(-err));
	}
}

int
sl__proxy_backends_reload(struct sl_proxy *p, const struct sl_config *prev,
                          const struct sl_config *next, char *why, size_t size)
{
	struct bk_plan *plans;
	int err = 0;

	if (sl_worker_current() != NULL)
		return -EDEADLK;
	plans = calloc(p->gcap, sizeof(*plans)); /* by group slot */
	if (plans == NULL) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->bk_mu);
	if (p->listening && !p->bk_live) {
		snprintf(why, size,
		         "the workers take no backend change now (starting or draining)");
		err = -EAGAIN;
		goto out_unlock;
	}
	for (size_t k = 0; k < next->ngroups && err == 0; k++) {
		const struct sl_config_group *cg = &next->groups[k];
		size_t n = cg->nbackends, kp = sl__group_index(prev, cg->name);
		int gs = sl__group_slot(p, cg->name);
		struct bk_plan *pl;
		size_t g;

		if (gs < 0) { /* sl__groups_prepare() filled a slot for it first */
			snprintf(why, size, "group %s has no slot", cg->name);
			err = -EINVAL;
			break;
		}
		g = (size_t)gs;
		pl = &plans[g];
		/* against the slot's copy: the algorithm the balancers were built with */
		pl->algo = sl__group_cfg(p, g)->balance != cg->balance ||
		           sl__group_cfg(p, g)->maglev_table_size != cg->maglev_table_size;
		/* only a pool the workers have changes (greload.c refused the rest) */
		pl->warm = p->gslots[g].warm_size != cg->warm_pool.size ||
		           p->gslots[g].warm_idle_ms != cg->warm_pool.idle_ms;
		pl->cg = pl->algo || pl->warm ? cg : NULL;
		/* a group the previous file left out (retired) takes the whole list */
		if (kp != SIZE_MAX && same_backend_list(&prev->groups[kp], cg))
			continue;
		pl->cg = cg;
		pl->drop = calloc(p->bsets[g].cap, sizeof(pl->drop[0]));
		pl->from = calloc(n + 1, sizeof(pl->from[0]));
		pl->to = calloc(n + 1, sizeof(pl->to[0]));
		pl->was = calloc(n + 1, sizeof(pl->was[0]));
		if (pl->drop == NULL || pl->from == NULL || pl->to == NULL || pl->was == NULL) {
			snprintf(why, size, "out of memory");
			err = -ENOMEM;
			break;
		}
		err = plan_group(p, g, pl, why, size);
	}
	/* a group with a warm pool that retires closes its pools' idle connections on every
	 * worker; named again, the warm_pool its file gives refills them (greload.c) */
	for (size_t g = 0; g < p->gcap && err == 0; g++) {
		struct bk_plan *pl = &plans[g];

		if (!sl__group_is_live(p, g) || p->gslots[g].warm_size == 0 ||
		    sl__group_index(next, sl__group_cfg(p, g)->name) != SIZE_MAX)
			continue;
		pl->gone = *sl__group_cfg(p, g);
		pl->gone.warm_pool.size = 0;
		pl->gone.warm_pool.idle_ms = p->gslots[g].warm_idle_ms;
		pl->cg = &pl->gone;
		pl->warm = true;
	}
	if (err != 0)
		goto out_unlock;
	for (size_t g = 0; g < p->gcap; g++)
		if (plans[g].cg != NULL)
			apply_group(p, g, &plans[g]);

out_unlock:
	pthread_mutex_unlock(&p->bk_mu);
	for (size_t g = 0; g < p->gcap; g++) {
		free(plans[g].drop);
		free(plans[g].from);
		free(plans[g].to);
		free(plans[g].was);
	}
	free(plans);
	return err;
}

int
sl_proxy_backends(struct sl_proxy *p, struct sl_backend_info *out, size_t max, size_t *n)
{
	uint64_t now_ms = sl_clock_ns() / 1000000;
	size_t k = 0;

	pthread_mutex_lock(&p->bk_mu);
	for (size_t g = 0; g < p->gcap; g++) {
		for (uint32_t i = 0; i < p->bsets[g].cap; i++) {
			const struct sl_backend *b = &p->backends[g][i];
			struct sl_backend_info *x;

			/* a retired group's while its sessions run, as the metrics show it */
			if (slot_state(b) != SL_SLOT_LIVE || !sl__group_is_shown_locked(p, g))
				continue;
			if (k++ >= max)
				continue;
			x = &out[k - 1];
			memset(x, 0, sizeof(*x));
			memcpy(x->group, sl__group_cfg(p, g)->name, sizeof(x->group));
			memcpy(x->name, b->name, sizeof(x->name));
			x->addr = b->addr;
			x->max_connections = b->max_connections;
			x->discovered = b->discovered;
			/* relaxed, all: a snapshot for people; each value stands alone */
			x->weight = atomic_load_explicit(&b->weight, memory_order_relaxed);
			x->admin = (enum sl_backend_admin)atomic_load_explicit(
			        &b->admin, memory_order_relaxed);
			x->up = sl_health_backend_is_up(&b->up);
			x->ejected = atomic_load_explicit(&b->ejected_until_ms,
			                                  memory_order_relaxed) > now_ms;
			x->checked = sl__gslot_checked(p, g);
			/* relaxed: as above */
			x->backup = atomic_load_explicit(&b->backup, memory_order_relaxed) != 0;
			/* relaxed: a count, as above */
			x->active = atomic_load_explicit(&b->conns, memory_order_relaxed);
			x->sessions = sl__backend_counted(p, g, i, SL_BCTR_SESSIONS);
			x->connect_failures =
			        sl__backend_counted(p, g, i, SL_BCTR_CONNECT_FAILURES);
		}
	}
	pthread_mutex_unlock(&p->bk_mu);
	*n = k;
	return 0;
}

const char *
sl_backend_admin_name(enum sl_backend_admin a)
{
	static const char *const names[SL_BACKEND_ADMIN_KINDS] = {"enabled", "draining",
	                                                          "disabled"};

	return (unsigned)a < SL_BACKEND_ADMIN_KINDS ? names[a] : NULL;
}

int
sl_proxy_backend_name(struct sl_proxy *p, const char *group, const struct sl_addr *addr, char *out,
                      size_t size)
{
	int g, i;

	if (addr == NULL || out == NULL || size == 0)
		return -EINVAL;
	pthread_mutex_lock(&p->bk_mu);
	g = find_group(p, group);
	i = g < 0 ? g : find_backend_at(p, (size_t)g, addr);
	if (i >= 0)
		snprintf(out, size, "%s", p->backends[g][i].name);
	pthread_mutex_unlock(&p->bk_mu);
	return i < 0 ? i : 0;
}

int
sl_proxy_listener_reached(struct sl_proxy *p, const struct sl_addr *addr, char *name, size_t size,
                          struct sl_addr *at)
{
	int i;

	if (addr == NULL || name == NULL || size == 0 || at == NULL)
		return -EINVAL;
	pthread_mutex_lock(&p->bk_mu);
	i = listener_reached_locked(p, addr);
	if (i >= 0) {
		const struct sl_lslot *s = &p->lslots[i];

		snprintf(name, size, "%s", s->cfg.name);
		*at = sl_addr_port(&s->bound) != 0 ? s->bound : s->cfg.addr;
	}
	pthread_mutex_unlock(&p->bk_mu);
	return i < 0 ? i : 0;
}

bool
sl_proxy_admin_reached(struct sl_proxy *p, const struct sl_addr *addr)
{
	bool r;

	pthread_mutex_lock(&p->bk_mu);
	r = admin_reached_locked(p, addr);
	pthread_mutex_unlock(&p->bk_mu);
	return r;
}

int
sl__backend_hold_by_name(struct sl_proxy *p, size_t g, const char *name)
{
	int i;

	pthread_mutex_lock(&p->bk_mu);
	i = find_backend(p, g, name);
	if (i >= 0)
		/* relaxed: a count; the session's release (R4) orders its later reads */
		atomic_fetch_add_explicit(&p->backends[g][i].conns, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->bk_mu);
	return i;
}
