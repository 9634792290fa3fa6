/* SPDX-License-Identifier: MIT */
/*
 * sl_counter: named statistics counters and gauges, written per thread and summed on read.
 * A set holds <n> values for each of <slots> slots; a slot (usually one per worker thread)
 * lives on its own 128-byte-aligned run of cache lines, so writers never share a line.
 * Counters only go up; gauges go up and down (signed). Both are 64-bit and wrap.
 *
 * Thread safety: each slot has one writer at a time, its owning thread; handing a slot to
 * another thread needs other synchronisation (thread join, a mailbox). Writes are relaxed
 * atomic stores, so any thread may read or sum at any time, race-free, without stopping the
 * writers. A sum is not a snapshot across slots or across counters; a counter's sums seen by
 * one reader never decrease (until the 64-bit wrap). Create and destroy are not concurrent
 * with anything else on the set.
 */
#ifndef SLUICE_COUNTER_H
#define SLUICE_COUNTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

enum sl_counter_kind {
	SL_COUNTER_MONOTONIC = 0, /* only sl_counter_add() */
	SL_COUNTER_GAUGE = 1,     /* only sl_counter_gauge_add() */
};

struct sl_counter_def {
	const char *name; /* not copied: must outlive the set */
	enum sl_counter_kind kind;
};

struct sl_counter_opts {
	const struct sl_counter_def *defs; /* <n> definitions; not copied: must outlive the set */
	unsigned n;                        /* values per slot, >= 1 */
	unsigned slots;                    /* writer slots, >= 1 */
};

/* Fields are private and read-only after creation. */
struct sl_counter_set {
	_Atomic uint64_t *values;          /* slots * stride; slot s starts at s * stride */
	size_t stride;                     /* values per slot, n rounded up to 128 bytes */
	unsigned n;                        /* values per slot in use */
	unsigned slots;                    /* number of slots */
	const struct sl_counter_def *defs; /* the caller's */
};

/*
 * Creates a set with every value 0. Returns 0 and stores it in <*out>, or -EINVAL (no defs,
 * n or slots 0, a NULL name, an unknown kind) or -ENOMEM. Release with sl_counter_destroy().
 * Any thread; allocates, never blocks otherwise.
 */
SL_API int sl_counter_create(struct sl_counter_set **out, const struct sl_counter_opts *o);

/* Frees the set. NULL is ignored. No other call on the set may run concurrently or later. */
SL_API void sl_counter_destroy(struct sl_counter_set *s);

/* Internal: the value <idx> of slot <slot>. */
static inline _Atomic uint64_t *
sl__counter_cell(struct sl_counter_set *s, unsigned slot, unsigned idx)
{
	SL_ASSERT(slot < s->slots && idx < s->n);
	return &s->values[(size_t)slot * s->stride + idx];
}

/*
 * Adds <n> to counter <idx> in slot <slot>. Only the slot's owning thread may call this. No
 * read-modify-write instruction: a load and a store, both relaxed. Never fails.
 */
static inline void
sl_counter_add(struct sl_counter_set *s, unsigned slot, unsigned idx, uint64_t n)
{
	_Atomic uint64_t *c = sl__counter_cell(s, slot, idx);

	SL_ASSERT(s->defs[idx].kind == SL_COUNTER_MONOTONIC);
	/* relaxed: this thread is the slot's only writer, so its own load sees the latest
	 * value; readers only need a torn-free value, which orders nothing else */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* Adds <delta> (may be negative) to gauge <idx> in slot <slot>. Owning thread of the slot only. */
static inline void
sl_counter_gauge_add(struct sl_counter_set *s, unsigned slot, unsigned idx, int64_t delta)
{
	_Atomic uint64_t *c = sl__counter_cell(s, slot, idx);

	SL_ASSERT(s->defs[idx].kind == SL_COUNTER_GAUGE);
	/* relaxed: as in sl_counter_add(); two's complement wrap makes the unsigned add signed */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)delta,
	                      memory_order_relaxed);
}

/* Sum of counter <idx> over every slot (modulo 2^64). Any thread, any time. */
SL_API uint64_t sl_counter_sum(const struct sl_counter_set *s, unsigned idx);
/* Sum of gauge <idx> over every slot. Any thread, any time. */
SL_API int64_t sl_counter_gauge_sum(const struct sl_counter_set *s, unsigned idx);

/* Value of counter <idx> in slot <slot> alone. Any thread, any time. */
SL_API uint64_t sl_counter_read(const struct sl_counter_set *s, unsigned slot, unsigned idx);
/* Value of gauge <idx> in slot <slot> alone (this slot's net contribution). Any thread. */
SL_API int64_t sl_counter_gauge_read(const struct sl_counter_set *s, unsigned slot, unsigned idx);

/* Number of values per slot, number of slots, and the definition of value <idx>. */
SL_API unsigned sl_counter_len(const struct sl_counter_set *s);
SL_API unsigned sl_counter_slots(const struct sl_counter_set *s);
SL_API const struct sl_counter_def *sl_counter_def(const struct sl_counter_set *s, unsigned idx);

#endif /* SLUICE_COUNTER_H */
