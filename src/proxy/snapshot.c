// SPDX-License-Identifier: MIT
/*
 * Configuration snapshots at run time: the layout compare (which fields a running proxy can
 * take live and which it was built from) and the publish that swaps the current snapshot and
 * retires the old one through the proxy's epoch domain. Controlling thread only. Workers read
 * the snapshot through sl__proxy_config() (proxy_int.h).
 */
#include <errno.h>
#include <string.h>

#include <sluice/log.h>

#include "proxy/proxy_int.h"

static bool
same_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static bool
same_health(const struct sl_config_health *a, const struct sl_config_health *b)
{
	return a->kind == b->kind && same_bytes(a->send, a->send_len, b->send, b->send_len) &&
	       same_bytes(a->expect, a->expect_len, b->expect, b->expect_len) &&
	       a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	       a->rise == b->rise && a->fall == b->fall;
}

static bool
same_listener(const struct sl_config_listener *a, const struct sl_config_listener *b)
{
	/* everything but timeouts, the allow/deny table, the PROXY trust list and timeout, the
	 * listener rate and the per-source limits themselves: sockets, forwarders, pools, caps,
	 * the PROXY buffers and the source table were built from the rest */
	return strcmp(a->name, b->name) == 0 && sl_addr_equal(&a->addr, &b->addr) &&
	       a->backlog == b->backlog && a->group == b->group && a->forward == b->forward &&
	       a->tcp_nodelay == b->tcp_nodelay && a->keepalive == b->keepalive &&
	       a->pipe_size == b->pipe_size && a->buffer_size == b->buffer_size &&
	       a->max_connections == b->max_connections &&
	       a->proxy_in.versions == b->proxy_in.versions &&
	       a->proxy_in.max_size == b->proxy_in.max_size && a->source.on == b->source.on &&
	       a->source.prefix4 == b->source.prefix4 && a->source.prefix6 == b->source.prefix6 &&
	       a->source.table_size == b->source.table_size;
}

static bool
same_group(const struct sl_config_group *a, const struct sl_config_group *b)
{
	/* everything but retries and passive: balancers, the checker, warm pools and the
	 * shared backend state were built from them */
	if (strcmp(a->name, b->name) != 0 || strcmp(a->balance, b->balance) != 0 ||
	    a->maglev_table_size != b->maglev_table_size || !same_health(&a->health, &b->health) ||
	    a->warm_pool.size != b->warm_pool.size ||
	    a->warm_pool.idle_ms != b->warm_pool.idle_ms || a->send_proxy != b->send_proxy ||
	    a->nbackends != b->nbackends)
		return false;
	for (size_t i = 0; i < a->nbackends; i++) {
		const struct sl_config_backend *x = &a->backends[i], *y = &b->backends[i];

		if (strcmp(x->name, y->name) != 0 || !sl_addr_equal(&x->addr, &y->addr) ||
		    x->weight != y->weight || x->max_connections != y->max_connections)
			return false;
	}
	return true;
}

/*
 * true if <b> differs from <a> in live fields only (sl__proxy_config()). The file name, the
 * drain deadline and the log level are not the proxy's (the application reads them).
 */
static bool
same_layout(const struct sl_config *a, const struct sl_config *b)
{
	if (a->workers != b->workers || a->nlisteners != b->nlisteners || a->ngroups != b->ngroups)
		return false;
	for (size_t i = 0; i < a->nlisteners; i++)
		if (!same_listener(&a->listeners[i], &b->listeners[i]))
			return false;
	for (size_t g = 0; g < a->ngroups; g++)
		if (!same_group(&a->groups[g], &b->groups[g]))
			return false;
	return true;
}

static void
config_free(void *c)
{
	sl_config_free(c);
}

int
sl__proxy_publish_config(struct sl_proxy *p, struct sl_config *next)
{
	const struct sl_config *old;
	int err;

	/* relaxed: this thread is the only writer of cur */
	old = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (next == old || !same_layout(p->cfg, next))
		return -EINVAL;
	/* once <next> is visible the retire must not fail: make room first (we are the only
	 * thread that retires into this domain, so the room stays) */
	if (old != p->cfg && sl_epoch_reclaim(p->epoch) >= SL_CONFIG_MAX_RETIRED)
		return -EBUSY;
	/* R3: pairs with A1 in sl__proxy_config(): a worker that loads <next> sees its contents.
	 * The retire below steps the epoch after this store (R1 in epoch.c): a worker that has
	 * seen that step loads <next> or newer, never <old>. */
	atomic_store_explicit(&p->cur, next, memory_order_release);
	if (old == p->cfg)
		return 0; /* the layout is the caller's, and the runtime objects point into it */
	err = sl_epoch_retire(p->epoch, (void *)old, config_free);
	SL_ASSERT(err == 0);
	(void)err;
	return 0;
}

size_t
sl__proxy_reclaim_configs(struct sl_proxy *p)
{
	return sl_epoch_reclaim(p->epoch);
}
