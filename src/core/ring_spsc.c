/* SPDX-License-Identifier: MIT */
/*
 * sl_ring SPSC: a single-producer single-consumer ring of pointers (see include/sluice/ring.h).
 * Shared fields and their writers: <tail> producer only; <head> consumer only; <slots[i]>
 * producer only (while i is in [head + cap, ...), i.e. free); <mask> nobody after create.
 * Each side keeps a private copy of the other side's index (<head_cache>, <tail_cache>) and
 * reloads it only when the copy says full/empty, so the steady state touches the other side's
 * line once per wrap of the gap, not once per item. Ordering contract: docs/internals/ring.md.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <sluice/ring.h>

#include "core/ring_int.h"

struct sl_ring_spsc {
	/* producer's lines */
	_Atomic size_t tail SL__RING_ALIGNED; /* next position to write; written by the producer */
	size_t head_cache;                    /* producer's last view of <head>; producer only */
	size_t pmask;                         /* copy of <mask> on the producer's line */

	/* consumer's lines */
	_Atomic size_t head SL__RING_ALIGNED; /* next position to read; written by the consumer */
	size_t tail_cache;                    /* consumer's last view of <tail>; consumer only */
	size_t cmask;                         /* copy of <mask> on the consumer's line */

	size_t mask SL__RING_ALIGNED; /* capacity - 1; read-only after create */
	void *slots[] SL__RING_ALIGNED;
};

int
sl_ring_spsc_create(struct sl_ring_spsc **out, size_t capacity)
{
	struct sl_ring_spsc *r;
	size_t size;

	if (!sl__ring_capacity_ok(capacity, sizeof(void *), sizeof(*r)))
		return -EINVAL;
	size = sl__ring_round_up(sizeof(*r) + capacity * sizeof(void *));
	r = aligned_alloc(SL__RING_PAD, size);
	if (r == NULL)
		return -ENOMEM;
	/* relaxed: the ring is not shared yet; publishing <r> to other threads is the caller's job
	 */
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->head_cache = 0;
	r->tail_cache = 0;
	r->mask = capacity - 1;
	r->pmask = capacity - 1;
	r->cmask = capacity - 1;
	*out = r;
	return 0;
}

void
sl_ring_spsc_destroy(struct sl_ring_spsc *r)
{
	free(r);
}

size_t
sl_ring_spsc_capacity(const struct sl_ring_spsc *r)
{
	return r->mask + 1;
}

/* Producer: free slots from <tail>, refreshing the cached head only when it says "not enough". */
static inline size_t
spsc_room(struct sl_ring_spsc *r, size_t tail, size_t want)
{
	size_t cap = r->pmask + 1;
	size_t room = cap - (tail - r->head_cache);

	if (room >= want)
		return room;
	/* A1: pairs with R2 in spsc_release(); the consumer is done reading slots below head */
	r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	return cap - (tail - r->head_cache);
}

/* Consumer: items ready from <head>, refreshing the cached tail only when it says "not enough". */
static inline size_t
spsc_ready(struct sl_ring_spsc *r, size_t head, size_t want)
{
	size_t ready = r->tail_cache - head;

	if (ready >= want)
		return ready;
	/* A2: pairs with R1 in spsc_publish(); slots in [head, tail) are written */
	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	return r->tail_cache - head;
}

static inline void
spsc_publish(struct sl_ring_spsc *r, size_t tail)
{
	/* R1: publish the slots written below <tail>; pairs with A2 in spsc_ready() */
	atomic_store_explicit(&r->tail, tail, memory_order_release);
}

static inline void
spsc_release(struct sl_ring_spsc *r, size_t head)
{
	/* R2: give the slots below <head> back; pairs with A1 in spsc_room() */
	atomic_store_explicit(&r->head, head, memory_order_release);
}

bool
sl_ring_try_push_spsc(struct sl_ring_spsc *r, void *item)
{
	/* relaxed: only the producer writes tail */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (sl_unlikely(spsc_room(r, tail, 1) == 0))
		return false;
	r->slots[tail & r->pmask] = item;
	spsc_publish(r, tail + 1);
	return true;
}

bool
sl_ring_try_pop_spsc(struct sl_ring_spsc *r, void **item)
{
	/* relaxed: only the consumer writes head */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (spsc_ready(r, head, 1) == 0)
		return false;
	*item = r->slots[head & r->cmask];
	spsc_release(r, head + 1);
	return true;
}

size_t
sl_ring_try_push_bulk_spsc(struct sl_ring_spsc *r, void *const *items, size_t n)
{
	/* relaxed: only the producer writes tail */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t room = spsc_room(r, tail, n);
	size_t i;

	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		r->slots[(tail + i) & r->pmask] = items[i];
	spsc_publish(r, tail + n);
	return n;
}

size_t
sl_ring_try_pop_bulk_spsc(struct sl_ring_spsc *r, void **items, size_t n)
{
	/* relaxed: only the consumer writes head */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t ready = spsc_ready(r, head, n);
	size_t i;

	if (n > ready)
		n = ready;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		items[i] = r->slots[(head + i) & r->cmask];
	spsc_release(r, head + n);
	return n;
}

void
sl_ring_push_spsc(struct sl_ring_spsc *r, void *item)
{
	unsigned spins = 0;

	while (!sl_ring_try_push_spsc(r, item))
		sl__ring_backoff(&spins);
}

void *
sl_ring_pop_spsc(struct sl_ring_spsc *r)
{
	unsigned spins = 0;
	void *item;

	while (!sl_ring_try_pop_spsc(r, &item))
		sl__ring_backoff(&spins);
	return item;
}
