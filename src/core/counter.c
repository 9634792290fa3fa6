/* SPDX-License-Identifier: MIT */
/*
 * sl_counter: creation and the read side of per-thread counters and gauges. The write side
 * (sl_counter_add, sl_counter_gauge_add) is inline in include/sluice/counter.h.
 * Shared fields: values[slot * stride + i] is written only by the thread owning <slot>, with
 * relaxed stores; any thread reads it with relaxed loads. Everything else is written only by
 * sl_counter_create(), before the set is shared.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/counter.h>

/* Slot alignment: two cache lines, since adjacent-line prefetchers fetch lines in pairs. */
#define SL_COUNTER_SLOT_ALIGN ((size_t)2 * SL_CACHELINE)

int
sl_counter_create(struct sl_counter_set **out, const struct sl_counter_opts *o)
{
	const size_t per_line = SL_COUNTER_SLOT_ALIGN / sizeof(uint64_t);
	struct sl_counter_set *s;
	size_t stride, total, i;

	*out = NULL;
	if (!o || !o->defs || o->n == 0 || o->slots == 0)
		return -EINVAL;
	for (i = 0; i < o->n; i++) {
		if (!o->defs[i].name || (o->defs[i].kind != SL_COUNTER_MONOTONIC &&
		                         o->defs[i].kind != SL_COUNTER_GAUGE))
			return -EINVAL;
	}
	stride = (o->n + per_line - 1) / per_line * per_line;
	if (stride > SIZE_MAX / sizeof(uint64_t) / o->slots)
		return -ENOMEM;
	total = stride * o->slots;

	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->values = aligned_alloc(SL_COUNTER_SLOT_ALIGN, total * sizeof(uint64_t));
	if (!s->values)
		goto err_free_set;
	for (i = 0; i < total; i++)
		atomic_init(&s->values[i], 0);
	s->stride = stride;
	s->n = o->n;
	s->slots = o->slots;
	s->defs = o->defs;
	*out = s;
	return 0;

err_free_set:
	free(s);
	return -ENOMEM;
}

void
sl_counter_destroy(struct sl_counter_set *s)
{
	if (!s)
		return;
	free((void *)s->values);
	free(s);
}

/* The sum of value <idx> over every slot, modulo 2^64. */
static uint64_t
counter_sum(const struct sl_counter_set *s, unsigned idx)
{
	uint64_t sum = 0;
	unsigned slot;

	SL_ASSERT(idx < s->n);
	for (slot = 0; slot < s->slots; slot++) {
		/* relaxed: a statistic; each slot's value is torn-free and, per slot, never
		 * older than what this thread read before, which is all a sum promises */
		sum += atomic_load_explicit(&s->values[(size_t)slot * s->stride + idx],
		                            memory_order_relaxed);
	}
	return sum;
}

/* Two's complement reading of <v>, without relying on implementation-defined conversion. */
static int64_t
counter_signed(uint64_t v)
{
	int64_t r;

	memcpy(&r, &v, sizeof(r));
	return r;
}

uint64_t
sl_counter_sum(const struct sl_counter_set *s, unsigned idx)
{
	return counter_sum(s, idx);
}

int64_t
sl_counter_gauge_sum(const struct sl_counter_set *s, unsigned idx)
{
	return counter_signed(counter_sum(s, idx));
}

uint64_t
sl_counter_read(const struct sl_counter_set *s, unsigned slot, unsigned idx)
{
	SL_ASSERT(slot < s->slots && idx < s->n);
	/* relaxed: a statistic, read torn-free; orders nothing else */
	return atomic_load_explicit(&s->values[(size_t)slot * s->stride + idx],
	                            memory_order_relaxed);
}

int64_t
sl_counter_gauge_read(const struct sl_counter_set *s, unsigned slot, unsigned idx)
{
	return counter_signed(sl_counter_read(s, slot, idx));
}

unsigned
sl_counter_len(const struct sl_counter_set *s)
{
	return s->n;
}

unsigned
sl_counter_slots(const struct sl_counter_set *s)
{
	return s->slots;
}

const struct sl_counter_def *
sl_counter_def(const struct sl_counter_set *s, unsigned idx)
{
	return idx < s->n ? &s->defs[idx] : NULL;
}
