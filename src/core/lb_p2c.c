/* SPDX-License-Identifier: MIT */
/*
 * Power of two choices: draw two distinct eligible backends uniformly at random and take the
 * one with the smaller load/weight (the first drawn on a tie). Draws are rejection-sampled a few
 * times; when that fails (most backends ineligible) one pass of reservoir sampling picks the
 * pair, so the pair stays uniform over eligible pairs and the cost stays O(n) worst case.
 * PRNG: wyrand, per instance (sl_lb.rng), seeded from sl_lb_opts.seed.
 */
#include <errno.h>

#include "core/lb_int.h"

/* rejection-sampling attempts per draw before the reservoir pass */
#define SL_LB_P2C_TRIES 8

static inline uint64_t
sl_lb_wyrand(uint64_t *s)
{
	*s += 0xa0761d6478bd642fULL;
	unsigned __int128 t = (unsigned __int128)*s * (*s ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* uniform in [0, n) up to a bias of n / 2^64 (Lemire's multiply-shift, no division) */
static inline size_t
sl_lb_rand_below(uint64_t *s, size_t n)
{
	return (size_t)(((unsigned __int128)sl_lb_wyrand(s) * n) >> 64);
}

/* true when a is strictly less loaded than b, relative to their weights */
static inline bool
sl_lb_p2c_less(const struct sl_lb *lb, const struct sl_lb_ctx *c, size_t a, size_t b)
{
	uint64_t la = sl__lb_load(c, a), lb_ = sl__lb_load(c, b);

	return la * lb->weight[b] < lb_ * lb->weight[a];
}

/* one pass: reservoir sample of two distinct eligible backends into <*a>, <*b>; returns count */
static size_t
sl_lb_p2c_scan(struct sl_lb *lb, const struct sl_lb_ctx *c, size_t *a, size_t *b)
{
	size_t seen = 0;

	for (size_t i = 0; i < lb->n; i++) {
		if (!sl__lb_eligible(c, i))
			continue;
		seen++;
		if (seen == 1) {
			*a = i;
		} else if (seen == 2) {
			*b = i;
		} else {
			size_t r = sl_lb_rand_below(&lb->rng, seen);
			if (r == 0)
				*a = i;
			else if (r == 1)
				*b = i;
		}
	}
	return seen;
}

static int
sl_lb_p2c_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	size_t n = lb->n, a = SIZE_MAX, b = SIZE_MAX;

	if (n == 1)
		return sl__lb_eligible(c, 0) ? 0 : -ENOENT;
	for (int k = 0; k < SL_LB_P2C_TRIES && a == SIZE_MAX; k++) {
		size_t i = sl_lb_rand_below(&lb->rng, n);
		if (sl__lb_eligible(c, i))
			a = i;
	}
	for (int k = 0; k < SL_LB_P2C_TRIES && a != SIZE_MAX && b == SIZE_MAX; k++) {
		size_t j = sl_lb_rand_below(&lb->rng, n - 1);
		j += j >= a; /* uniform over [0, n) without a */
		if (sl__lb_eligible(c, j))
			b = j;
	}
	if (b == SIZE_MAX) {
		size_t seen = sl_lb_p2c_scan(lb, c, &a, &b);
		if (seen == 0)
			return -ENOENT;
		if (seen == 1)
			return (int)a;
		/* the reservoir's slot order is not uniform: randomise which one wins ties */
		if (sl_lb_wyrand(&lb->rng) & 1) {
			size_t t = a;
			a = b;
			b = t;
		}
	}
	return (int)(sl_lb_p2c_less(lb, c, b, a) ? b : a);
}

const struct sl_lb_ops sl__lb_p2c_ops = {
        .pick = sl_lb_p2c_pick,
};
