// SPDX-License-Identifier: MIT
/*
 * Configuration snapshots at run time: the layout check (through the key table's compare,
 * sl_config_needs_restart()), the reload (listeners: lreload.c; groups: greload.c; backends:
 * backends.c) and the publish that swaps the current snapshot and retires the old one through
 * the proxy's epoch domain. Controlling thread only. Workers read the snapshot through
 * sl__proxy_config() (proxy_int.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sluice/log.h>

#include "proxy/proxy_int.h"

/*
 * true if <b> differs from <a> in live fields only (sl__proxy_config()); else false, with what
 * differs in <why> (<size> bytes). The key table decides (sl_config_needs_restart()).
 */
static bool
same_layout(const struct sl_config *a, const struct sl_config *b, char *why, size_t size)
{
	return !sl_config_needs_restart(a, b, why, size);
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
	if (next == old || !same_layout(p->cfg, next, why, sizeof(why)) ||
	    !sl__groups_match(p, next))
		return -EINVAL;
	/* the listeners are the live slots' (a reload opened and retired them first) */
	if (!sl__listeners_match(p, next))
		return -EINVAL;
	/* once <next> is visible the retire must not fail: make room first (we are the only
	 * thread that retires into this domain, so the room stays) */
	if (old != p->cfg && sl_epoch_reclaim(p->epoch) >= SL_CONFIG_MAX_RETIRED)
		return -EBUSY;
	/* every listener and group reads its live fields in <next> (or, retired, in the start
	 * file) before <old> can be freed */
	sl__groups_point(p, next);
	sl__listeners_point(p, next);
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

static int
reload_held(struct sl_proxy *p, struct sl_config *next, char *why, size_t size)
{
	const struct sl_config *prev;
	struct sl_lplan *plan;
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
	/* every new group built, then every new listener's socket: a failure changes nothing */
	err = sl__groups_prepare(p, next, why, size);
	if (err != 0)
		return err;
	err = sl__listeners_prepare(p, next, &plan, why, size);
	if (err != 0) {
		sl__groups_abandon(p);
		return err;
	}
	/* the previous file, not the start file: run-time changes stay while a group's list
	 * in the file stays */
	err = sl__proxy_backends_reload(p, prev, next, why, size);
	if (err != 0) {
		sl__listeners_abandon(p, plan);
		sl__groups_abandon(p); /* nothing reached their tables: the check came first */
		return -ENOSPC; /* not a layout change: the file's backends cannot be applied now */
	}
	if (sl__listeners_apply(p, plan, next) != 0) {
		snprintf(why, size, "the proxy drains: it takes no listener change now");
		return -EAGAIN;
	}
	err = sl__proxy_publish_config(p, next);
	/* cannot fail: the room was made above (only this thread retires), the layout and the
	 * listeners are <next>'s; a new listener already reads <next> */
	SL_ASSERT(err == 0);
	if (err == 0)
		sl__groups_health_reload(p, next); /* copies what it keeps: <next> may go later */
	if (err == -EBUSY)
		snprintf(why, size, "the workers still hold %d earlier snapshots; try again",
		         SL_CONFIG_MAX_RETIRED);
	else if (err != 0)
		snprintf(why, size, "%s", strerror(-err));
	return err;
}

int
sl_proxy_reload(struct sl_proxy *p, struct sl_config *next, char *why, size_t size)
{
	int err;

	/* held throughout: a hold of the sockets waits for a reload under way, never mid-way */
	pthread_mutex_lock(&p->reload_mu);
	if (p->sockets_held) {
		snprintf(why, size,
		         "the listening sockets are being handed to a new process (binary "
		         "upgrade): no listener may change until it ends; try again then");
		err = -EBUSY;
	} else {
		err = reload_held(p, next, why, size);
	}
	pthread_mutex_unlock(&p->reload_mu);
	return err;
}

void
sl_proxy_hold_sockets(struct sl_proxy *p, bool hold)
{
	pthread_mutex_lock(&p->reload_mu);
	p->sockets_held = hold;
	pthread_mutex_unlock(&p->reload_mu);
}
