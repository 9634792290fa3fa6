// SPDX-License-Identifier: MIT
/*
 * Configuration snapshots at run time: the layout compare (which fields a running proxy can
 * take live and which it was built from) and the publish that swaps the current snapshot and
 * retires the old one through the proxy's epoch domain. Controlling thread only. Workers read
 * the snapshot through sl__proxy_config() (proxy_int.h).
 */
#include <errno.h>
#include <stdio.h>
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

/*
 * The first field of listener <b> that differs from <a> where the running proxy was built from
 * it (sockets, forwarders, pools, caps, the PROXY buffers, the source table), or NULL. Timeouts,
 * allow/deny, the PROXY trust list and timeout, the rate, the source limits and the bandwidth
 * rates are live.
 */
static const char *
listener_diff(const struct sl_config_listener *a, const struct sl_config_listener *b)
{
	if (strcmp(a->name, b->name) != 0)
		return "name";
	if (!sl_addr_equal(&a->addr, &b->addr))
		return "address";
	if (a->backlog != b->backlog)
		return "backlog";
	if (a->group != b->group)
		return "group";
	if (a->forward != b->forward)
		return "forward";
	if (a->tcp_nodelay != b->tcp_nodelay || a->keepalive != b->keepalive)
		return "tcp_nodelay or keepalive";
	if (a->pipe_size != b->pipe_size || a->buffer_size != b->buffer_size)
		return "pipe_size or buffer_size";
	if (a->max_connections != b->max_connections)
		return "max_connections";
	if (a->proxy_in.versions != b->proxy_in.versions ||
	    a->proxy_in.max_size != b->proxy_in.max_size)
		return "proxy_protocol version or max_size";
	if (a->source.on != b->source.on || a->source.prefix4 != b->source.prefix4 ||
	    a->source.prefix6 != b->source.prefix6 || a->source.table_size != b->source.table_size)
		return "source_limits being set, prefix4, prefix6 or table_size";
	if (sl_config_bandwidth_per_source(a) != sl_config_bandwidth_per_source(b))
		return "bandwidth.source being set";
	return NULL;
}

static bool
same_discover(const struct sl_config_discover *a, const struct sl_config_discover *b)
{
	if (a->type != b->type || strcmp(a->name, b->name) != 0 || a->port != b->port ||
	    a->nresolvers != b->nresolvers || a->ttl_min_ms != b->ttl_min_ms ||
	    a->ttl_max_ms != b->ttl_max_ms || a->timeout_ms != b->timeout_ms ||
	    a->weight != b->weight)
		return false;
	for (size_t i = 0; i < a->nresolvers; i++)
		if (!sl_addr_equal(&a->resolvers[i], &b->resolvers[i]))
			return false;
	return true;
}

/*
 * The first field of group <b> that differs from <a> where balancers, the checker, warm pools
 * and the shared backend state were built from it, or NULL. Retries, passive ejection and
 * max_queue are live; the backend list is the reload's to apply (sl__proxy_backends_reload()).
 */
static const char *
group_diff(const struct sl_config_group *a, const struct sl_config_group *b)
{
	if (strcmp(a->name, b->name) != 0)
		return "name";
	if (strcmp(a->balance, b->balance) != 0 || a->maglev_table_size != b->maglev_table_size)
		return "balance or maglev_table_size";
	if (!same_health(&a->health, &b->health))
		return "health";
	if (a->warm_pool.size != b->warm_pool.size || a->warm_pool.idle_ms != b->warm_pool.idle_ms)
		return "warm_pool";
	if (a->send_proxy != b->send_proxy)
		return "send_proxy";
	if (a->max_backends != b->max_backends)
		return "max_backends";
	if (!same_discover(&a->discover, &b->discover))
		return "discover"; /* the resolver thread was built from it */
	return NULL;
}

/*
 * true if <b> differs from <a> in live fields only (sl__proxy_config()); else false, with what
 * differs in <why> (<size> bytes). The file name, the drain deadline, the log level and the
 * admin endpoint are not the proxy's (the application reads them).
 */
static bool
same_layout(const struct sl_config *a, const struct sl_config *b, char *why, size_t size)
{
	const char *d;

	if (a->workers != b->workers) {
		snprintf(why, size, "workers changed");
		return false;
	}
	if (a->max_connections != b->max_connections) {
		snprintf(why, size, "max_connections changed (the fd budget is set at start)");
		return false;
	}
	if (a->nlisteners != b->nlisteners || a->ngroups != b->ngroups) {
		snprintf(why, size, "listeners or groups were added or removed");
		return false;
	}
	for (size_t i = 0; i < a->nlisteners; i++) {
		if ((d = listener_diff(&a->listeners[i], &b->listeners[i])) != NULL) {
			snprintf(why, size, "listener %s: %s changed", a->listeners[i].name, d);
			return false;
		}
	}
	for (size_t g = 0; g < a->ngroups; g++) {
		if ((d = group_diff(&a->groups[g], &b->groups[g])) != NULL) {
			snprintf(why, size, "group %s: %s changed", a->groups[g].name, d);
			return false;
		}
	}
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
	char why[160];
	int err;

	/* relaxed: this thread is the only writer of cur */
	old = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (next == old || !same_layout(p->cfg, next, why, sizeof(why)))
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

int
sl_proxy_reload(struct sl_proxy *p, struct sl_config *next, char *why, size_t size)
{
	const struct sl_config *prev;
	int err;

	/* relaxed: this thread is the only writer of cur */
	prev = atomic_load_explicit(&p->cur, memory_order_relaxed);
	if (next == prev) {
		snprintf(why, size, "this snapshot is the running one");
		return -EINVAL;
	}
	if (!same_layout(p->cfg, next, why, size))
		return -EINVAL;
	/* the publish below must not fail once backends changed: make room first (we are the
	 * only thread that retires into this domain, so the room stays) */
	if (prev != p->cfg && sl_epoch_reclaim(p->epoch) >= SL_CONFIG_MAX_RETIRED) {
		snprintf(why, size, "the workers still hold %d earlier snapshots; try again",
		         SL_CONFIG_MAX_RETIRED);
		return -EBUSY;
	}
	/* the previous file, not the start file: run-time changes stay while a group's list
	 * in the file stays */
	err = sl__proxy_backends_reload(p, prev, next, why, size);
	if (err != 0)
		return -ENOSPC; /* not a layout change: the file's backends cannot be applied now */
	err = sl__proxy_publish_config(p, next);
	if (err == -EBUSY)
		snprintf(why, size, "the workers still hold %d earlier snapshots; try again",
		         SL_CONFIG_MAX_RETIRED);
	else if (err != 0)
		snprintf(why, size, "%s", strerror(-err));
	return err;
}
