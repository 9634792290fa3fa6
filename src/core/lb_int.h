/* SPDX-License-Identifier: MIT */
/*
 * Internals of sl_lb shared by lb.c and the algorithm files lb_*.c: the ops table each
 * algorithm fills, the instance and shared-data layouts, and small inline helpers. Not
 * public; the proxy's backend table and tests include it to inspect the Maglev table.
 */
#ifndef SLUICE_CORE_LB_INT_H
#define SLUICE_CORE_LB_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>
#include <sluice/lb.h>

/*
 * Immutable after sl_lb_create() returns; shared read-only by every clone. <refs> is the only
 * field written afterwards (by sl_lb_clone and sl_lb_destroy, on any thread).
 */
struct sl_lb_shared {
	atomic_uint refs;
	size_t n;
	uint32_t *weight; /* n entries, each >= 1 */
	/* Maglev only */
	uint32_t table_size; /* M, prime, >= n */
	uint16_t *table;     /* M entries: backend index (caller's order) */
	uint16_t *by_name;   /* n entries: backend indices sorted by name (last-resort walk) */
};

/* One instance per worker and backend group: owned and written by one thread. */
struct sl_lb {
	const struct sl_lb_ops *ops;
	enum sl_lb_algo algo;
	struct sl_lb_shared *sh;
	size_t n;               /* == sh->n, cached for the hot path */
	const uint32_t *weight; /* == sh->weight */
	size_t cursor;          /* rr, least_conn: where the next scan starts */
	uint64_t rng;           /* p2c: PRNG state */
	int64_t cur[];          /* weighted: current weight per backend (ops->state_n entries) */
};

struct sl_lb_ops {
	/* number of int64_t elements of per-instance state in sl_lb.cur[] for <n> targets */
	size_t (*state_n)(size_t n);
	/* builds algorithm-specific shared data into <sh> (NULL = none); 0 or negative errno */
	int (*build)(struct sl_lb_shared *sh, const struct sl_lb_target *t,
	             const struct sl_lb_opts *o);
	/* see sl_lb_pick() */
	int (*pick)(struct sl_lb *lb, const struct sl_lb_ctx *c);
};

extern const struct sl_lb_ops sl__lb_rr_ops;
extern const struct sl_lb_ops sl__lb_wrr_ops;
extern const struct sl_lb_ops sl__lb_lc_ops;
extern const struct sl_lb_ops sl__lb_p2c_ops;
extern const struct sl_lb_ops sl__lb_maglev_ops;

/* Maglev table of <lb> (NULL for other algorithms) and its size in <*size>. Tests and stats. */
const uint16_t *sl__lb_maglev_table(const struct sl_lb *lb, uint32_t *size);

static inline bool
sl__lb_eligible(const struct sl_lb_ctx *c, size_t i)
{
	return c->eligible == NULL || c->eligible(c->arg, i);
}

static inline uint32_t
sl__lb_load(const struct sl_lb_ctx *c, size_t i)
{
	return c->load == NULL ? 0 : c->load(c->arg, i);
}

/* splitmix64 finalizer: a bijection on 64 bits with full avalanche. */
static inline uint64_t
sl__lb_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif /* SLUICE_CORE_LB_INT_H */
