// SPDX-License-Identifier: MIT
/*
 * A backend group as one worker sees it (struct sl_wgroup): its own balancer instance over the
 * group's members (cloned from the proxy's prototype, so Maglev tables are shared; replaced
 * whole when the backend set changes, backends.c), the map from balancer index to slot,
 * per-worker active-session counts for least_conn and p2c, the pick that skips backends a
 * session already tried or the operator drains or disables, and the worker's warm pool for the
 * group (sluice/warm.h), kept in step with membership, admin state and health. Its queue of
 * sessions waiting for a backend slot lives in session.c; a freed slot wakes it here.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/sock.h>

#include "proxy/session.h"

uint32_t
sl__group_capacity(const struct sl_config_group *cfg)
{
	uint64_t cap = cfg->max_backends;

	if (cap == 0) {
		cap = (uint64_t)cfg->nbackends + 16;
		if (cap > SL_CONFIG_BACKENDS_MAX)
			cap = SL_CONFIG_BACKENDS_MAX;
		if (cfg->balance == SL_LB_MAGLEV && cap >= cfg->maglev_table_size)
			cap = cfg->maglev_table_size - 1;
	}
	return (uint32_t)(cap < cfg->nbackends ? cfg->nbackends : cap);
}

int
sl__group_lb_build(struct sl_lb **out, uint16_t **map, size_t *nmap,
                   const struct sl_config_group *cfg, const struct sl_backend *slots, uint32_t cap)
{
	struct sl_lb_opts o = {.maglev_table_size = cfg->maglev_table_size};
	struct sl_lb_target *t;
	uint16_t *m;
	size_t n = 0;
	int err;

	*out = NULL;
	*map = NULL;
	*nmap = 0;
	if (sl_lb_algo_name(cfg->balance) == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < cap; i++)
		/* relaxed: under p->bk_mu, the only writer */
		n += atomic_load_explicit(&slots[i].state, memory_order_relaxed) == SL_SLOT_LIVE;
	if (n == 0)
		return 0;
	t = calloc(n, sizeof(*t));
	m = calloc(n, sizeof(*m));
	if (t == NULL || m == NULL) {
		err = -ENOMEM;
		goto out_free_targets;
	}
	n = 0;
	for (uint32_t i = 0; i < cap; i++) {
		/* relaxed: as above */
		if (atomic_load_explicit(&slots[i].state, memory_order_relaxed) != SL_SLOT_LIVE)
			continue;
		t[n].name = slots[i].name;
		/* relaxed: as above */
		t[n].weight = atomic_load_explicit(&slots[i].weight, memory_order_relaxed);
		m[n++] = (uint16_t)i;
	}
	err = sl_lb_create(out, cfg->balance, t, n, &o);
	if (err == 0) {
		*map = m;
		*nmap = n;
		m = NULL;
	}

out_free_targets:
	free(m);
	free(t);
	return err;
}

int
sl__group_source_check(const struct sl_config_group *cg, char *why, size_t size)
{
	char ip[SL_ADDR_STRLEN];
	int fd, err;

	if (cg->source.len == 0)
		return 0;
	fd = socket(cg->source.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	err = fd == -1 ? -errno : sl_sock_bind_source(fd, &cg->source);
	if (fd != -1)
		close(fd);
	if (err != 0)
		snprintf(why, size, "group %s: cannot connect from its source %s: %s%s", cg->name,
		         sl_addr_format_ip(&cg->source, ip, sizeof(ip)), strerror(-err),
		         err == -EADDRNOTAVAIL ? " (not an address of this host)" : "");
	return err;
}

/* true if slot <b> is a backup. Relaxed: the flag alone is communicated (proxy_int.h). */
static bool
is_backup(const struct sl_backend *b)
{
	return atomic_load_explicit(&b->backup, memory_order_relaxed) != 0;
}

int
sl__wgroup_init(struct sl_wgroup *g, const struct sl_config_group *cfg, struct sl_backend *backends,
                uint32_t cap, const struct sl_lb *proto, const uint16_t *map, size_t nmap,
                unsigned seed)
{
	struct sl_lb_opts o = {.seed = seed};
	int err;

	g->cfg = cfg;
	g->backends = backends;
	g->n = cap;
	/* the prototype's algorithm: a reload may have changed the group's since <cfg> */
	g->hash_key = (proto != NULL ? sl_lb_algo_of(proto) : cfg->balance) == SL_LB_MAGLEV;
	g->active = calloc(g->n, sizeof(g->active[0]));
	g->member = calloc(g->n, sizeof(g->member[0]));
	if (g->active == NULL || g->member == NULL)
		return -ENOMEM; /* sl__wgroup_fini() frees what there is */
	if (nmap == 0)
		return 0;
	g->map = malloc(nmap * sizeof(g->map[0]));
	if (g->map == NULL)
		return -ENOMEM;
	memcpy(g->map, map, nmap * sizeof(g->map[0]));
	g->nmap = nmap;
	for (size_t k = 0; k < nmap; k++) {
		g->member[map[k]] = true;
		g->has_backup |= is_backup(&backends[map[k]]);
	}
	err = sl_lb_clone(&g->lb, proto, &o);
	return err;
}

/* true if the worker's warm pool should keep connections to slot <i>. */
static bool
warm_wanted(const struct sl_wgroup *g, size_t i)
{
	const struct sl_backend *b = &g->backends[i];

	/* relaxed: admin alone is communicated (proxy_int.h) */
	return g->member[i] &&
	       atomic_load_explicit(&b->admin, memory_order_relaxed) == SL_BACKEND_ENABLED &&
	       sl_health_backend_is_up(&b->up);
}

int
sl__wgroup_warm_open(struct sl_wgroup *g, struct sl_loop *loop, bool off,
                     struct sl_warm_counters *counts)
{
	struct sl_addr none;
	struct sl_addr *addrs;
	int err;

	if (g->cfg->warm_pool.size == 0)
		return 0;
	err = sl_addr_parse(&none, "127.0.0.1:9", false, NULL); /* never connected to */
	if (err != 0)
		return err;
	addrs = calloc(g->n, sizeof(addrs[0]));
	if (addrs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++)
		addrs[i] = !off && g->member[i] ? g->backends[i].addr : none;
	if (off) {
		/* an added group's, made on the controlling thread: its first member change on
		 * the worker (sl__wgroup_set_members()) enables what it wants */
		err = sl_warm_create_disabled(&g->warm, loop, addrs, g->n, &g->cfg->warm_pool);
		if (err == 0)
			sl_warm_set_source(g->warm, &g->cfg->source);
	} else {
		/* every slot gets a pool entry; those that are no member start disabled below,
		 * before the loop runs, so they never connect (sl__wgroup_set_members() gives
		 * them theirs) */
		err = sl_warm_create(&g->warm, loop, addrs, g->n, &g->cfg->warm_pool);
		if (err == 0)
			sl_warm_set_source(g->warm, &g->cfg->source);
		for (size_t i = 0; err == 0 && i < g->n; i++)
			if (!warm_wanted(g, i))
				sl_warm_set_enabled(g->warm, i, false);
	}
	free(addrs);
	if (err == 0)
		sl_warm_count_into(g->warm, counts);
	return err;
}

void
sl__wgroup_warm_sync(struct sl_wgroup *g, bool off)
{
	if (g->warm == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		sl_warm_set_enabled(g->warm, i, !off && warm_wanted(g, i));
}

void
sl__wgroup_set_members(struct sl_wgroup *g, struct sl_lb *lb, uint16_t *map, size_t nmap, bool off)
{
	sl_lb_destroy(g->lb);
	free(g->map);
	g->lb = lb;
	g->map = map;
	g->nmap = nmap;
	memset(g->member, 0, g->n * sizeof(g->member[0]));
	g->has_backup = false;
	for (size_t k = 0; k < nmap; k++) {
		size_t i = map[k];

		g->has_backup |= is_backup(&g->backends[i]);
		/* a slot that joins gets its (maybe new) address in the warm pool, which closes
		 * what the pool held for the slot's previous occupant */
		if (g->warm != NULL && !g->member[i])
			sl_warm_set_addr(g->warm, i, &g->backends[i].addr);
		g->member[i] = true;
	}
	sl__wgroup_warm_sync(g, off);
}

void
sl__wgroup_fini(struct sl_wgroup *g)
{
	sl_warm_destroy(g->warm);
	g->warm = NULL;
	sl_lb_destroy(g->lb);
	free(g->active);
	free(g->member);
	free(g->map);
	g->lb = NULL;
	g->active = NULL;
	g->member = NULL;
	g->map = NULL;
	g->nmap = 0;
}

struct pick_arg {
	struct sl_wgroup *g;
	const struct sl_session *s;
	uint64_t now_ms;
	uint32_t slowstart_ms; /* the group's, live */
	bool backups;          /* pick among the backups (no primary serves), not the primaries */
};

static bool
pick_eligible(void *arg, size_t i)
{
	const struct pick_arg *a = arg;
	size_t slot = a->g->map[i];
	const struct sl_backend *b = &a->g->backends[slot];

	for (unsigned k = 0; k < a->s->ntried; k++)
		if (a->s->tried[k] == slot)
			return false;
	/* relaxed: admin alone is communicated (proxy_int.h) */
	if (atomic_load_explicit(&b->admin, memory_order_relaxed) != SL_BACKEND_ENABLED ||
	    is_backup(b) != a->backups)
		return false;
	return sl__backend_is_eligible(b, a->now_ms);
}

/*
 * true if group <g> falls back to its backups: it has some, and none of its primaries serves
 * (sl__backend_serves(): a primary that is only full, or tried by this session, keeps the
 * backups out). Scans the members: asked only when no primary could be picked.
 */
static bool
backups_serve(const struct sl_wgroup *g, uint64_t now_ms)
{
	bool any = false;

	if (!g->has_backup)
		return false;
	for (size_t k = 0; k < g->nmap; k++) {
		const struct sl_backend *b = &g->backends[g->map[k]];

		if (is_backup(b))
			any = true;
		else if (sl__backend_serves(b, now_ms))
			return false;
	}
	return any;
}

/*
 * The load least_conn and p2c compare against the weight, during slowstart: (n + 1) / ramp, in
 * 1/256 units, the ramp going from 1/16 to 1 over <slowstart_ms> after <b> came up: its health
 * check, enable or run-time add, or the end of its passive ejection, whichever was last. The
 * + 1 (HAProxy's leastconn has it too) is what lets a smaller share count for a backend that
 * has no session yet; every backend of the group is counted so, ramping or not.
 */
static uint32_t
slowstart_load(const struct sl_backend *b, uint32_t n, uint64_t now_ms, uint32_t slowstart_ms)
{
	/* relaxed, both: the values alone (proxy_int.h); an ejection's end is in the past here
	 * (eligible() passed it), and 0 if it was never ejected */
	uint64_t up = atomic_load_explicit(&b->up_at_ms, memory_order_relaxed), ramp = 16;
	uint64_t back = atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed);
	uint64_t load;

	if (back > up)
		up = back;
	if (up != 0 && now_ms < up + slowstart_ms)
		ramp = now_ms > up ? (now_ms - up) * 16 / slowstart_ms : 0;
	load = ((uint64_t)n + 1) * 256 / (ramp < 1 ? 1 : ramp);
	return load > UINT32_MAX ? UINT32_MAX : (uint32_t)load;
}

/*
 * The load least_conn and p2c weigh: n + 1 for a backend with n sessions, as at the end of a
 * slowstart ramp (slowstart_load()) and as HAProxy's leastconn counts; with n alone, idle
 * backends would all tie at 0 whatever their weights, and a group with slowstart set would
 * share differently from one without.
 */
static uint32_t
pick_load(void *arg, size_t i)
{
	const struct pick_arg *a = arg;
	size_t slot = a->g->map[i];

	if (a->slowstart_ms == 0)
		return a->g->active[slot] < UINT32_MAX ? a->g->active[slot] + 1 : UINT32_MAX;
	return slowstart_load(&a->g->backends[slot], a->g->active[slot], a->now_ms,
	                      a->slowstart_ms);
}

/* The slot <g>'s balancer picks for <s> as <c> says, acquired and marked tried; -ENOENT. */
static int
pick_acquire(struct sl_wgroup *g, struct sl_session *s, const struct sl_lb_ctx *c)
{
	int i;

	/* bounded by the rounds: a backend that filled up between eligible() and the acquire
	 * (another worker took its last slot) is not marked tried, so a session may wait for it
	 * in the queue, and eligible() skips it in the next round unless a slot freed again */
	for (unsigned round = 0; round < SL_SESSION_MAX_TRIES && s->ntried < SL_SESSION_MAX_TRIES;
	     round++) {
		i = sl_lb_pick(g->lb, c);
		if (i < 0)
			return -ENOENT;
		i = g->map[i];
		if (!sl__backend_try_acquire(&g->backends[i]))
			continue;
		s->tried[s->ntried++] = (uint16_t)i;
		g->active[i]++;
		return i;
	}
	return -ENOENT;
}

int
sl__wgroup_pick(struct sl_wgroup *g, struct sl_session *s, uint64_t now_ms)
{
	struct pick_arg a = {.g = g,
	                     .s = s,
	                     .now_ms = now_ms,
	                     .slowstart_ms =
	                             sl__group_live(s->l->w->p, s->l->cfg->group)->slowstart_ms};
	struct sl_lb_ctx c = {.eligible = pick_eligible, .load = pick_load, .arg = &a};
	const void *ip;
	size_t n;
	int i;

	if (g->lb == NULL)
		return -ENOENT;
	if (g->hash_key) {
		ip = sl__session_peer_ip(&s->peer, &n);
		/* an IPv4 client written as ::ffff:a.b.c.d (a dual-stack listener, a PROXY header
		 * from one) hashes as a.b.c.d: one client, one backend, however it is written */
		if (n == 16 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)ip)) {
			ip = (const uint8_t *)ip + 12;
			n = 4;
		}
		c.key = sl_lb_hash_bytes(ip, n, 0);
	}
	i = pick_acquire(g, s, &c);
	if (i == -ENOENT && backups_serve(g, now_ms)) {
		a.backups = true;
		i = pick_acquire(g, s, &c);
	}
	return i;
}

bool
sl__wgroup_has_full(const struct sl_wgroup *g, const struct sl_session *s, uint64_t now_ms)
{
	bool backups = backups_serve(g, now_ms);

	for (size_t k = 0; k < g->nmap; k++) {
		size_t i = g->map[k];
		const struct sl_backend *b = &g->backends[i];
		bool tried = false;

		for (unsigned t = 0; t < s->ntried && !tried; t++)
			tried = s->tried[t] == i;
		/* relaxed: admin alone is communicated (proxy_int.h) */
		if (!tried &&
		    atomic_load_explicit(&b->admin, memory_order_relaxed) == SL_BACKEND_ENABLED &&
		    is_backup(b) == backups && sl__backend_is_full(b, now_ms))
			return true;
	}
	return false;
}

void
sl__wgroup_adopt(struct sl_wgroup *g, int i)
{
	g->active[i]++; /* the slot's process-wide count was taken by sl_proxy_adopt() */
}

void
sl__wgroup_put(struct sl_wgroup *g, int i)
{
	bool capped;

	SL_ASSERT(i >= 0 && (size_t)i < g->n && g->active[i] > 0);
	capped = g->backends[i].max_connections != 0;
	g->active[i]--;
	/* the last touch of the slot for this session: it may be reused from here on */
	sl__backend_release(&g->backends[i]);
	/* from inside a close or a failed connect: the queue moves on in a defer, never here */
	if (g->nqueued != 0 && capped)
		sl_loop_defer(g->loop, &g->qwake);
}
