// SPDX-License-Identifier: MIT
/*
 * A reload's health checks for the group slots (greload.c): each slot's owned copies of its
 * check (struct sl__health_cfg, slot->hcur), kept while a checker may still read one, a
 * group's own checker, and sl__groups_health_reload(), which gives each group the checks the
 * published file names. Read health.c for the checker's side (pend, sl_health_set_config()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/log.h>

#include "proxy/proxy_int.h"

/* ---- a slot's checks ---- */

/* A group's health check, owned: the strings follow it (struct sl_gslot.hcur). */
struct sl__health_cfg {
	struct sl_config_health h;
	struct sl__health_cfg *older; /* the one it replaced, kept while a checker may read it */
	char data[];                  /* h.send, then h.expect */
};

/* An owned copy of <h> that keeps <older>; NULL when out of memory. */
static struct sl__health_cfg *
health_dup(const struct sl_config_health *h, struct sl__health_cfg *older)
{
	size_t ns = h->send != NULL ? h->send_len : 0, ne = h->expect != NULL ? h->expect_len : 0;
	struct sl__health_cfg *c = malloc(sizeof(*c) + ns + ne + 1);

	if (c == NULL)
		return NULL;
	c->h = *h;
	c->older = older;
	if (ns > 0)
		memcpy(c->data, h->send, ns);
	if (ne > 0)
		memcpy(c->data + ns, h->expect, ne);
	c->h.send = h->send != NULL ? c->data : NULL;
	c->h.expect = h->expect != NULL ? c->data + ns : NULL;
	return c;
}

void
sl__gslot_health_free(struct sl_gslot *slot)
{
	while (slot->hcur != NULL) {
		struct sl__health_cfg *c = slot->hcur;

		slot->hcur = c->older;
		free(c);
	}
}

static void
stats_add(struct sl_health_stats *to, const struct sl_health_stats *from)
{
	to->checks += from->checks;
	to->failures += from->failures;
	to->transitions_up += from->transitions_up;
	to->transitions_down += from->transitions_down;
	to->local_errors += from->local_errors;
}

void
sl__gslot_health_close(struct sl_proxy *p, size_t g)
{
	struct sl_gslot *slot = &p->gslots[g];
	struct sl_health_stats hs;

	if (slot->health == NULL)
		return;
	sl_health_stop(slot->health);
	sl_health_stats(slot->health, &hs);
	stats_add(&p->health_retired, &hs);
	sl_health_destroy(slot->health);
	slot->health = NULL;
}

void
sl__health_stats_sum(struct sl_proxy *p, struct sl_health_stats *out)
{
	struct sl_health_stats hs;

	*out = (struct sl_health_stats){0};
	if (p->health != NULL)
		sl_health_stats(p->health, out);
	pthread_mutex_lock(&p->bk_mu);
	stats_add(out, &p->health_retired);
	for (size_t g = 0; p->gslots != NULL && g < p->gcap; g++)
		if (p->gslots[g].health != NULL) {
			sl_health_stats(p->gslots[g].health, &hs);
			stats_add(out, &hs);
		}
	pthread_mutex_unlock(&p->bk_mu);
}

bool
sl__gslot_checked(const struct sl_proxy *p, size_t g)
{
	const struct sl_gslot *slot = &p->gslots[g];

	return (slot->hcur != NULL ? slot->hcur->h.kind : slot->cfg.health.kind) != SL_HEALTH_NONE;
}

int
sl__gslot_health_open(struct sl_proxy *p, size_t g)
{
	struct sl_gslot *slot = &p->gslots[g];
	const struct sl_health_opts o = {
	        .on_change = sl__proxy_health_changed, .arg = p, .runtime = p->cfg->runtime};
	uint32_t cap = p->bsets[g].cap;
	struct sl_health_target *t;
	int err;

	if (slot->hcur == NULL && (slot->hcur = health_dup(&slot->cfg.health, NULL)) == NULL)
		return -ENOMEM;
	if (slot->hcur->h.kind == SL_HEALTH_NONE)
		return 0;
	t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		t[i] = (struct sl_health_target){.group = slot->cfg.name,
		                                 .name = p->backends[g][i].name,
		                                 .addr = p->backends[g][i].addr,
		                                 .source = slot->cfg.source,
		                                 .cfg = &slot->hcur->h,
		                                 .up = &p->backends[g][i].up,
		                                 .up_at_ms = &p->backends[g][i].up_at_ms,
		                                 .send_proxy = slot->hproxy,
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

void
sl__gslot_health_sync(struct sl_proxy *p, size_t g)
{
	for (uint32_t i = 0; i < p->bsets[g].cap; i++)
		sl__proxy_health_sync(p, g, i, false);
}

/* ---- a reload's health checks ---- */

static bool
same_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* true if checks by <a> and <b> are the same (two without checks are) */
static bool
same_health(const struct sl_config_health *a, const struct sl_config_health *b)
{
	if (a->kind == SL_HEALTH_NONE || b->kind == SL_HEALTH_NONE)
		return a->kind == b->kind;
	return a->kind == b->kind && a->interval_ms == b->interval_ms &&
	       a->timeout_ms == b->timeout_ms && a->rise == b->rise && a->fall == b->fall &&
	       a->port == b->port && same_bytes(a->send, a->send_len, b->send, b->send_len) &&
	       same_bytes(a->expect, a->expect_len, b->expect, b->expect_len);
}

/* The checker of group slot <g>'s backends, their first target in it at <*base>; NULL: none. */
static struct sl_health *
slot_checker(struct sl_proxy *p, size_t g, size_t *base)
{
	*base = 0;
	if (p->gslots[g].health != NULL)
		return p->gslots[g].health;
	if (g < p->cfg->ngroups && p->bsets[g].health_base != SIZE_MAX) {
		*base = p->bsets[g].health_base; /* a start file's group, in the shared checker */
		return p->health;
	}
	return NULL;
}

/* Whether a target of group slot <g> may still read copy <c>. Under bk_mu. */
static bool
health_is_read(struct sl_proxy *p, size_t g, const struct sl__health_cfg *c)
{
	size_t base;
	struct sl_health *h = slot_checker(p, g, &base);

	for (uint32_t i = 0; h != NULL && i < p->bsets[g].cap; i++)
		if (sl_health_is_reading(h, base + i, &c->h))
			return true;
	return false;
}

/*
 * Frees the earlier copies of group slot <g>'s health checks that no checker reads any more:
 * each target reads one copy and has at most one more to take, always the newest, so what
 * stays is hcur and the copies some target has not yet let go of (usually none or one). A
 * copy the checker no longer reads it never reads again: it takes only hcur from now on.
 * Under bk_mu.
 */
static void
health_trim(struct sl_proxy *p, size_t g)
{
	struct sl_gslot *slot = &p->gslots[g];
	struct sl__health_cfg **pc = slot->hcur != NULL ? &slot->hcur->older : NULL;

	while (pc != NULL && *pc != NULL) {
		struct sl__health_cfg *c = *pc;

		if (health_is_read(p, g, c)) {
			pc = &c->older;
			continue;
		}
		*pc = c->older;
		free(c);
	}
}

size_t
sl__gslot_health_copies(struct sl_proxy *p, size_t g)
{
	size_t n = 0;

	pthread_mutex_lock(&p->bk_mu);
	for (const struct sl__health_cfg *c = p->gslots[g].hcur; c != NULL; c = c->older)
		n++;
	pthread_mutex_unlock(&p->bk_mu);
	return n;
}

/* Group slot <g>'s checks as <cg> says. Under bk_mu. */
static void
health_change(struct sl_proxy *p, size_t g, const struct sl_config_group *cg)
{
	struct sl_gslot *slot = &p->gslots[g];
	struct sl_health *h;
	size_t base;
	struct sl__health_cfg *nc;
	bool was_proxy = slot->hproxy;
	char port[24] = "";
	int err = 0;

	h = slot_checker(p, g, &base);
	nc = health_dup(&cg->health, slot->hcur);
	if (nc == NULL) {
		sl_log_error("group %s: out of memory changing its health checks: they go on as "
		             "they were",
		             cg->name);
		return;
	}
	slot->hcur = nc;
	slot->hproxy = cg->send_proxy;
	if (h != NULL) {
		/* the checker reads the earlier copy until it takes this: health_trim() frees it
		 * at a later reload once it has */
		for (uint32_t i = 0; i < p->bsets[g].cap && err == 0; i++)
			err = sl_health_set_config(h, base + i, &nc->h, slot->hproxy);
	} else if (nc->h.kind != SL_HEALTH_NONE) {
		err = sl__gslot_health_open(p, g);
		if (err == 0) {
			sl__gslot_health_sync(p, g);
		} else {
			/* no checker to read the copy: the group stays unchecked (and shown so),
			 * and the next reload asking for checks tries again */
			slot->hcur = nc->older;
			slot->hproxy = was_proxy;
			free(nc);
			sl_log_error("group %s: cannot start its health checks: %s; it stays "
			             "unchecked until a reload that asks for them again",
			             cg->name, strerror(-err));
			return;
		}
	}
	health_trim(p, g);
	if (err != 0) {
		sl_log_error("group %s: cannot change its health checks: %s", cg->name,
		             strerror(-err));
		return;
	}
	if (nc->h.kind == SL_HEALTH_NONE) {
		sl_log_info("group %s: health checks off (reload)", cg->name);
		return;
	}
	if (nc->h.port != 0)
		snprintf(port, sizeof(port), ", on port %u", nc->h.port);
	sl_log_info("group %s: health checks every %u ms, timeout %u ms, rise %u, fall %u%s "
	            "(reload)",
	            cg->name, nc->h.interval_ms, nc->h.timeout_ms, nc->h.rise, nc->h.fall, port);
}

void
sl__groups_health_reload(struct sl_proxy *p, const struct sl_config *next)
{
	pthread_mutex_lock(&p->bk_mu);
	for (size_t k = 0; k < next->ngroups; k++) {
		const struct sl_config_group *cg = &next->groups[k];
		int g = sl__group_slot(p, cg->name);
		const struct sl_gslot *slot;

		if (g < 0)
			continue;
		slot = &p->gslots[g];
		if (same_health(slot->hcur != NULL ? &slot->hcur->h : &slot->cfg.health,
		                &cg->health) &&
		    (cg->health.kind == SL_HEALTH_NONE || slot->hproxy == cg->send_proxy))
			continue;
		health_change(p, (size_t)g, cg);
	}
	/* the fds the checks hold now, as check() counted them */
	p->hextra = p->hextra_next;
	if (p->health_cap != 0 &&
	    /* relaxed: this thread is the only writer */
	    p->health_cap < atomic_load_explicit(&p->max_conns, memory_order_relaxed)) {
		sl_log_info("max_connections %u: what the file descriptors allow with the health "
		            "checks",
		            p->health_cap);
		/* relaxed: a bound, publishing nothing (proxy_int.h) */
		atomic_store_explicit(&p->max_conns, p->health_cap, memory_order_relaxed);
	}
	p->health_cap = 0;
	/* a group added with a warm pool: its cap is not the backend reload's to apply (no
	 * resize there), so it is applied here; lower only, so a resize's is not undone */
	if (p->warm_cap != 0 &&
	    /* relaxed: this thread is the only writer */
	    p->warm_cap < atomic_load_explicit(&p->max_conns, memory_order_relaxed)) {
		sl_log_info("max_connections %u: what the file descriptors allow with the warm "
		            "pools",
		            p->warm_cap);
		/* relaxed: a bound, publishing nothing (proxy_int.h) */
		atomic_store_explicit(&p->max_conns, p->warm_cap, memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->bk_mu);
}
