// SPDX-License-Identifier: MIT
/*
 * A backend group as one worker sees it (struct sl_wgroup): its own balancer instance (cloned
 * from the proxy's prototype, so Maglev tables are shared), per-worker active-session counts
 * for least_conn and p2c, the pick that skips backends a session already tried, and the
 * worker's warm pool for the group (sluice/warm.h), kept in step with the health flags. Its
 * queue of sessions waiting for a backend slot lives in session.c; a freed slot wakes it here.
 */
#include <errno.h>
#include <stdlib.h>

#include "proxy/session.h"

int
sl__group_lb_create(struct sl_lb **out, const struct sl_config_group *cfg)
{
	struct sl_lb_target *t;
	struct sl_lb_opts o = {.maglev_table_size = cfg->maglev_table_size};
	enum sl_lb_algo algo = SL_LB_ROUND_ROBIN;
	int err;

	if (cfg->nbackends == 0)
		return -EINVAL;
	if (cfg->balance[0] != '\0' && sl_lb_algo_parse(cfg->balance, &algo) != 0)
		return -EINVAL;
	t = calloc(cfg->nbackends, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nbackends; i++) {
		t[i].name = cfg->backends[i].name;
		t[i].weight = cfg->backends[i].weight == 0 ? 1 : cfg->backends[i].weight;
	}
	err = sl_lb_create(out, algo, t, cfg->nbackends, &o);
	free(t);
	return err;
}

int
sl__wgroup_init(struct sl_wgroup *g, const struct sl_config_group *cfg, struct sl_backend *backends,
                const struct sl_lb *proto, unsigned seed)
{
	struct sl_lb_opts o = {.seed = seed};
	int err;

	g->cfg = cfg;
	g->backends = backends;
	g->n = cfg->nbackends;
	g->hash_key = sl_lb_algo_of(proto) == SL_LB_MAGLEV;
	g->active = calloc(g->n, sizeof(g->active[0]));
	if (g->active == NULL)
		return -ENOMEM;
	err = sl_lb_clone(&g->lb, proto, &o);
	if (err != 0) {
		free(g->active);
		g->active = NULL;
	}
	return err;
}

int
sl__wgroup_warm_open(struct sl_wgroup *g, struct sl_loop *loop)
{
	struct sl_addr *addrs;
	int err;

	if (g->cfg->warm_pool.size == 0)
		return 0;
	addrs = calloc(g->n, sizeof(addrs[0]));
	if (addrs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++)
		addrs[i] = g->backends[i].cfg->addr;
	err = sl_warm_create(&g->warm, loop, addrs, g->n, &g->cfg->warm_pool);
	free(addrs);
	return err;
}

void
sl__wgroup_warm_sync(struct sl_wgroup *g, bool off)
{
	if (g->warm == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		sl_warm_set_enabled(g->warm, i,
		                    !off && sl_health_backend_is_up(&g->backends[i].up));
}

void
sl__wgroup_fini(struct sl_wgroup *g)
{
	sl_warm_destroy(g->warm);
	g->warm = NULL;
	sl_lb_destroy(g->lb);
	free(g->active);
	g->lb = NULL;
	g->active = NULL;
}

struct pick_arg {
	struct sl_wgroup *g;
	const struct sl_session *s;
	uint64_t now_ms;
};

static bool
pick_eligible(void *arg, size_t i)
{
	const struct pick_arg *a = arg;

	for (unsigned k = 0; k < a->s->ntried; k++)
		if (a->s->tried[k] == i)
			return false;
	return sl__backend_is_eligible(&a->g->backends[i], a->now_ms);
}

static uint32_t
pick_load(void *arg, size_t i)
{
	const struct pick_arg *a = arg;

	return a->g->active[i];
}

int
sl__wgroup_pick(struct sl_wgroup *g, struct sl_session *s, uint64_t now_ms)
{
	struct pick_arg a = {.g = g, .s = s, .now_ms = now_ms};
	struct sl_lb_ctx c = {.eligible = pick_eligible, .load = pick_load, .arg = &a};
	const void *ip;
	size_t n;
	int i;

	if (g->hash_key) {
		ip = sl__session_peer_ip(&s->peer, &n);
		c.key = sl_lb_hash_bytes(ip, n, 0);
	}
	/* bounded by the rounds: a backend that filled up between eligible() and the acquire
	 * (another worker took its last slot) is not marked tried, so a session may wait for it
	 * in the queue, and eligible() skips it in the next round unless a slot freed again */
	for (unsigned round = 0; round < SL_SESSION_MAX_TRIES && s->ntried < SL_SESSION_MAX_TRIES;
	     round++) {
		i = sl_lb_pick(g->lb, &c);
		if (i < 0)
			return -ENOENT;
		if (!sl__backend_try_acquire(&g->backends[i]))
			continue;
		s->tried[s->ntried++] = (uint16_t)i;
		g->active[i]++;
		return i;
	}
	return -ENOENT;
}

bool
sl__wgroup_has_full(const struct sl_wgroup *g, const struct sl_session *s, uint64_t now_ms)
{
	for (size_t i = 0; i < g->n; i++) {
		bool tried = false;

		for (unsigned k = 0; k < s->ntried && !tried; k++)
			tried = s->tried[k] == i;
		if (!tried && sl__backend_is_full(&g->backends[i], now_ms))
			return true;
	}
	return false;
}

void
sl__wgroup_adopt(struct sl_wgroup *g, int i)
{
	struct sl_backend *b = &g->backends[i];

	g->active[i]++;
	if (b->cfg->max_connections != 0)
		/* relaxed: a counter (sl__backend_try_acquire()); it may pass the cap here */
		atomic_fetch_add_explicit(&b->conns, 1, memory_order_relaxed);
}

void
sl__wgroup_put(struct sl_wgroup *g, int i)
{
	SL_ASSERT(i >= 0 && (size_t)i < g->n && g->active[i] > 0);
	g->active[i]--;
	sl__backend_release(&g->backends[i]);
	/* from inside a close or a failed connect: the queue moves on in a defer, never here */
	if (g->nqueued != 0 && g->backends[i].cfg->max_connections != 0)
		sl_loop_defer(g->loop, &g->qwake);
}
