// SPDX-License-Identifier: MIT
/*
 * Backend runtime state shared by every worker (struct sl_backend in proxy_int.h): health flag,
 * passive ejection with doubling backoff, and the process-wide session count (the optional
 * connection cap, and what tells a removed slot may be reused).
 * Writers: the health checker (up); any worker (fails, backoff_ms, ejected_until_ms, conns).
 * Every access but the release of conns is relaxed: each field stands alone, none publishes
 * other memory, and a worker acting on a slightly stale value only makes one more or one fewer
 * attempt.
 */
#include <stdio.h>

#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/proxy_int.h"

bool
sl__backend_is_eligible(const struct sl_backend *b, uint64_t now_ms)
{
	/* relaxed: see the file header */
	if (!sl_health_backend_is_up(&b->up))
		return false;
	if (atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) > now_ms)
		return false;
	if (b->max_connections != 0 &&
	    atomic_load_explicit(&b->conns, memory_order_relaxed) >= b->max_connections)
		return false;
	return true;
}

bool
sl__backend_is_full(const struct sl_backend *b, uint64_t now_ms)
{
	/* relaxed: see the file header; a stale count makes a session wait, or be refused, once */
	return b->max_connections != 0 && sl_health_backend_is_up(&b->up) &&
	       atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) <= now_ms &&
	       atomic_load_explicit(&b->conns, memory_order_relaxed) >= b->max_connections;
}

bool
sl__backend_try_acquire(struct sl_backend *b)
{
	uint32_t max = b->max_connections;

	/* relaxed: a counter; the cap may be overshot by nothing, since the add is atomic. A
	 * removed slot is never acquired (no balancer has it), so reuse needs no order here */
	if (atomic_fetch_add_explicit(&b->conns, 1, memory_order_relaxed) < max || max == 0)
		return true;
	/* relaxed: as above */
	atomic_fetch_sub_explicit(&b->conns, 1, memory_order_relaxed);
	return false;
}

void
sl__backend_release(struct sl_backend *b)
{
	/* R4: pairs with A4 in slot_reusable() (backends.c) and A5 in slot_is_held()
	 * (greload.c): the session's reads of the slot happen before the slot is filled again */
	atomic_fetch_sub_explicit(&b->conns, 1, memory_order_release);
}

bool
sl__backend_connect_failed(struct sl_backend *b, const struct sl_config_group *g, uint64_t now_ms)
{
	const struct sl_config_passive *passive = &g->passive;
	uint32_t limit = passive->failures, n, backoff, max;

	if (limit == 0)
		return false;
	/* relaxed: see the file header. Ejected now: the connect was under way when the backend
	 * was ejected (none starts meanwhile), one of the failures that ejected it: counting it
	 * would eject it again, the backoff doubled, once per <limit> of a burst */
	if (atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) > now_ms)
		return false;
	/* relaxed: see the file header; fetch_add hands each failure a distinct count */
	n = atomic_fetch_add_explicit(&b->fails, 1, memory_order_relaxed) + 1;
	/* at or past the limit: past it when a reload lowered the limit during a streak. The
	 * worker whose count is still the latest resets it and ejects, so exactly one does;
	 * relaxed: as above, the CAS only picks that worker */
	if (n < limit || !atomic_compare_exchange_strong_explicit(
	                         &b->fails, &n, 0, memory_order_relaxed, memory_order_relaxed))
		return false;
	backoff = atomic_load_explicit(&b->backoff_ms, memory_order_relaxed);
	if (backoff == 0)
		backoff = passive->backoff_ms;
	max = passive->max_backoff_ms;
	/* the doubled value was stored under the limits then: a reload may have lowered them */
	if (backoff > max)
		backoff = max;
	/* relaxed: each field stands alone (file header); readers tolerate a stale value */
	atomic_store_explicit(&b->ejected_until_ms, now_ms + backoff, memory_order_relaxed);
	atomic_store_explicit(&b->backoff_ms, backoff > max / 2 ? max : backoff * 2,
	                      memory_order_relaxed); /* relaxed: as above */
	sl_log_warn("backend %s/%s ejected for %u ms after %u consecutive connect failures",
	            g->name, b->name, backoff, n);
	return true;
}

void
sl__backend_connect_succeeded(struct sl_backend *b)
{
	/* relaxed: see the file header. Load first: the common case writes no shared line. */
	if (atomic_load_explicit(&b->fails, memory_order_relaxed) != 0)
		atomic_store_explicit(&b->fails, 0, memory_order_relaxed);
	if (atomic_load_explicit(&b->backoff_ms, memory_order_relaxed) != 0)
		atomic_store_explicit(&b->backoff_ms, 0, memory_order_relaxed);
}

bool
sl__backend_serves(const struct sl_backend *b, uint64_t now_ms)
{
	/* relaxed, all: see the file header */
	return atomic_load_explicit(&b->admin, memory_order_relaxed) == SL_BACKEND_ENABLED &&
	       sl_health_backend_is_up(&b->up) &&
	       atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) <= now_ms;
}

void
sl__backend_fill(struct sl_backend *b, const char *name, const struct sl_addr *addr,
                 uint32_t weight, uint32_t max_connections, bool backup, bool discovered)
{
	snprintf(b->name, sizeof(b->name), "%s", name);
	if (b->name[0] == '\0')
		sl_addr_format(addr, b->name, sizeof(b->name));
	b->addr = *addr;
	b->max_connections = max_connections;
	b->discovered = discovered;
	/* relaxed, all: the fill runs while no worker reaches the slot; the change's mailbox post
	 * publishes it to the workers, and statistics want the values alone */
	atomic_store_explicit(&b->weight, weight == 0 ? 1 : weight, memory_order_relaxed);
	atomic_store_explicit(&b->admin, SL_BACKEND_ENABLED, memory_order_relaxed);
	atomic_store_explicit(&b->ejected_until_ms, 0, memory_order_relaxed);
	atomic_store_explicit(&b->fails, 0, memory_order_relaxed);
	atomic_store_explicit(&b->backoff_ms, 0, memory_order_relaxed);
	/* relaxed: as above */
	atomic_store_explicit(&b->backup, backup ? 1 : 0, memory_order_relaxed);
	atomic_store_explicit(&b->state, SL_SLOT_LIVE, memory_order_relaxed);
}

void
sl__backend_came_up(struct sl_backend *b)
{
	/* relaxed: the value alone (proxy_int.h) */
	atomic_store_explicit(&b->up_at_ms, sl_clock_ns() / 1000000, memory_order_relaxed);
}

void
sl__backend_set_up(struct sl_backend *b, bool up)
{
	/* relaxed: see the file header */
	atomic_store_explicit(&b->up, up ? 1 : 0, memory_order_relaxed);
}
