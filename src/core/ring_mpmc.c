/* SPDX-License-Identifier: MIT */
/*
 * sl_ring MPMC: a bounded multi-producer multi-consumer queue of pointers after Dmitry Vyukov's
 * sequence-numbered cells (see include/sluice/ring.h, docs/internals/ring.md).
 * Shared fields and their writers: <enq> producers (CAS); <deq> consumers (CAS); a cell's
 * <data> only by the producer that claimed its position; a cell's <seq> by that producer
 * (pos + 1: "full") and then by the consumer that claimed it (pos + cap: "free for the next
 * lap"); <mask> nobody after create.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <sluice/ring.h>

#include "core/ring_int.h"

struct sl_ring_mpmc_cell {
	_Atomic size_t seq; /* == pos: free for position pos; == pos + 1: holds position pos */
	void *data;
};

struct sl_ring_mpmc {
	size_t mask;                         /* capacity - 1; read-only after create */
	_Atomic size_t enq SL__RING_ALIGNED; /* next position to claim for a push; producers */
	_Atomic size_t deq SL__RING_ALIGNED; /* next position to claim for a pop; consumers */
	struct sl_ring_mpmc_cell cells[] SL__RING_ALIGNED;
};

/* The cell of position <pos>. */
static inline struct sl_ring_mpmc_cell *
cell_of(struct sl_ring_mpmc *r, size_t pos)
{
	return &r->cells[pos & r->mask];
}

int
sl_ring_mpmc_create(struct sl_ring_mpmc **out, size_t capacity)
{
	struct sl_ring_mpmc *r;
	size_t size, i;

	if (!sl__ring_capacity_ok(capacity, sizeof(r->cells[0]), sizeof(*r)))
		return -EINVAL;
	size = sl__ring_round_up(sizeof(*r) + capacity * sizeof(r->cells[0]));
	r = aligned_alloc(SL__RING_PAD, size);
	if (r == NULL)
		return -ENOMEM;
	r->mask = capacity - 1;
	/* relaxed: the ring is not shared yet; publishing <r> to other threads is the caller's job
	 */
	atomic_init(&r->enq, 0);
	atomic_init(&r->deq, 0);
	for (i = 0; i < capacity; i++) {
		atomic_init(&r->cells[i].seq, i);
		r->cells[i].data = NULL;
	}
	*out = r;
	return 0;
}

void
sl_ring_mpmc_destroy(struct sl_ring_mpmc *r)
{
	free(r);
}

size_t
sl_ring_mpmc_capacity(const struct sl_ring_mpmc *r)
{
	return r->mask + 1;
}

/* Signed distance <a> - <b> of two positions (positions may wrap a size_t). */
static inline intptr_t
pos_diff(size_t a, size_t b)
{
	return (intptr_t)(a - b);
}

/* Writes <item> into the claimed cell <c> of position <pos> and hands it to consumers. */
static inline void
cell_publish(struct sl_ring_mpmc_cell *c, size_t pos, void *item)
{
	c->data = item;
	/* R1: the data is written; pairs with A2 (try_pop) and A4 (try_pop_bulk) */
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

/* Reads the claimed cell <c> of position <pos> and hands it back to producers (next lap). */
static inline void *
cell_consume(struct sl_ring_mpmc *r, struct sl_ring_mpmc_cell *c, size_t pos)
{
	void *item = c->data;

	/* R2: our read of data is done; pairs with A1 (try_push) and A3 (try_push_bulk) */
	atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
	return item;
}

bool
sl_ring_try_push_mpmc(struct sl_ring_mpmc *r, void *item)
{
	struct sl_ring_mpmc_cell *c;
	size_t pos, seq;
	intptr_t dif;

	/* relaxed: only a hint; the cell's seq (A1) and the CAS decide */
	pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
	for (;;) {
		c = cell_of(r, pos);
		/* A1: pairs with R2 in cell_consume(); the previous lap's reader is done */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		dif = pos_diff(seq, pos);
		if (dif == 0) {
			/* relaxed: the CAS only hands out positions; the cell seq carries the data
			 */
			if (atomic_compare_exchange_weak_explicit(&r->enq, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed))
				break;
		} else if (dif < 0) {
			/* the cell still holds the previous lap's item: full (or its consumer is
			 * between claim and release) */
			return false;
		} else {
			/* another producer took pos; relaxed: a hint, as above */
			pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
		}
	}
	cell_publish(c, pos, item);
	return true;
}

bool
sl_ring_try_pop_mpmc(struct sl_ring_mpmc *r, void **item)
{
	struct sl_ring_mpmc_cell *c;
	size_t pos, seq;
	intptr_t dif;

	/* relaxed: only a hint; the cell's seq (A2) and the CAS decide */
	pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
	for (;;) {
		c = cell_of(r, pos);
		/* A2: pairs with R1 in cell_publish(); the item in data is written */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		dif = pos_diff(seq, pos + 1);
		if (dif == 0) {
			/* relaxed: the CAS only hands out positions; the cell seq carries the data
			 */
			if (atomic_compare_exchange_weak_explicit(&r->deq, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed))
				break;
		} else if (dif < 0) {
			/* empty, or the producer of pos has claimed but not yet published it: say
			 * so rather than wait for a thread that may be preempted */
			return false;
		} else {
			/* another consumer took pos; relaxed: a hint, as above */
			pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
		}
	}
	*item = cell_consume(r, c, pos);
	return true;
}

size_t
sl_ring_try_push_bulk_mpmc(struct sl_ring_mpmc *r, void *const *items, size_t n)
{
	size_t pos, seq = 0, m, i;

	if (n == 0)
		return 0;
	/* relaxed: only a hint; the cell seqs (A3) and the CAS decide */
	pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
	for (;;) {
		/*
		 * Count the free cells from pos. A cell seen free for position pos + m stays
		 * free until position pos + m is claimed, and the CAS below fails if anyone
		 * claimed pos or beyond: one CAS claims all m cells.
		 */
		for (m = 0; m < n; m++) {
			/* A3: pairs with R2 in cell_consume(); the previous lap's reader is done */
			seq = atomic_load_explicit(&cell_of(r, pos + m)->seq, memory_order_acquire);
			if (seq != pos + m)
				break;
		}
		if (m == 0) {
			if (pos_diff(seq, pos) < 0)
				return 0; /* full, as in sl_ring_try_push_mpmc() */
			/* relaxed: a hint, as above */
			pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
			continue;
		}
		/* relaxed: the CAS only hands out positions; the cell seqs carry the data */
		if (atomic_compare_exchange_weak_explicit(
		            &r->enq, &pos, pos + m, memory_order_relaxed, memory_order_relaxed))
			break;
	}
	for (i = 0; i < m; i++)
		cell_publish(cell_of(r, pos + i), pos + i, items[i]);
	return m;
}

size_t
sl_ring_try_pop_bulk_mpmc(struct sl_ring_mpmc *r, void **items, size_t n)
{
	size_t pos, seq = 0, m, i;

	if (n == 0)
		return 0;
	/* relaxed: only a hint; the cell seqs (A4) and the CAS decide */
	pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
	for (;;) {
		/* count the published cells from pos; one CAS claims them (as in push_bulk) */
		for (m = 0; m < n; m++) {
			/* A4: pairs with R1 in cell_publish(); the item in data is written */
			seq = atomic_load_explicit(&cell_of(r, pos + m)->seq, memory_order_acquire);
			if (seq != pos + m + 1)
				break;
		}
		if (m == 0) {
			if (pos_diff(seq, pos + 1) < 0)
				return 0; /* empty or unpublished, as in sl_ring_try_pop_mpmc() */
			/* relaxed: a hint, as above */
			pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
			continue;
		}
		/* relaxed: the CAS only hands out positions; the cell seqs carry the data */
		if (atomic_compare_exchange_weak_explicit(
		            &r->deq, &pos, pos + m, memory_order_relaxed, memory_order_relaxed))
			break;
	}
	for (i = 0; i < m; i++)
		items[i] = cell_consume(r, cell_of(r, pos + i), pos + i);
	return m;
}

void
sl_ring_push_mpmc(struct sl_ring_mpmc *r, void *item)
{
	unsigned spins = 0;

	while (!sl_ring_try_push_mpmc(r, item))
		sl__ring_backoff(&spins);
}

void *
sl_ring_pop_mpmc(struct sl_ring_mpmc *r)
{
	unsigned spins = 0;
	void *item;

	while (!sl_ring_try_pop_mpmc(r, &item))
		sl__ring_backoff(&spins);
	return item;
}
