/* SPDX-License-Identifier: MIT */
/*
 * sl_lb front end: validates targets, builds the shared immutable data, dispatches picks to
 * the algorithm's struct sl_lb_ops (lb_rr.c, lb_wrr.c, lb_lc.c, lb_p2c.c, lb_maglev.c), and
 * maps algorithm names to the enum. Shared data is reference counted: sh->refs is written by
 * every thread that clones or destroys an instance; everything else in it is immutable.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/lb.h>

#include "core/lb_int.h"

static const struct sl_lb_ops *const sl_lb_ops_by_algo[] = {
        [SL_LB_ROUND_ROBIN] = &sl__lb_rr_ops, [SL_LB_WEIGHTED] = &sl__lb_wrr_ops,
        [SL_LB_LEAST_CONN] = &sl__lb_lc_ops,  [SL_LB_P2C] = &sl__lb_p2c_ops,
        [SL_LB_MAGLEV] = &sl__lb_maglev_ops,
};
_Static_assert(SL_ARRAY_SIZE(sl_lb_ops_by_algo) == SL_LB_ALGOS, "one ops table per algorithm");

const char *const sl_lb_algo_names[SL_LB_ALGOS] = {
        [SL_LB_ROUND_ROBIN] = "round_robin", [SL_LB_WEIGHTED] = "weighted",
        [SL_LB_LEAST_CONN] = "least_conn",   [SL_LB_P2C] = "p2c",
        [SL_LB_MAGLEV] = "maglev",
};

static void
sl_lb_shared_put(struct sl_lb_shared *sh)
{
	/* R1/A1: acq_rel, pairs with the same in every other put: our last uses of *sh happen
	 * before the final put, and the final put (the acquire half) sees every other one's, so
	 * they precede the free. One read-modify-write rather than a release and a fence: workers
	 * drop clones at run time (backends.c), and ThreadSanitizer does not model fences */
	if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(sh->table);
	free(sh->by_name);
	free(sh->weight);
	free(sh);
}

static struct sl_lb *
sl_lb_instance_new(enum sl_lb_algo algo, struct sl_lb_shared *sh, uint64_t seed)
{
	const struct sl_lb_ops *ops = sl_lb_ops_by_algo[algo];
	size_t extra = ops->state_n ? ops->state_n(sh->n) : 0;
	struct sl_lb *lb = calloc(1, sizeof(*lb) + extra * sizeof(lb->cur[0]));

	if (lb == NULL)
		return NULL;
	lb->ops = ops;
	lb->algo = algo;
	lb->sh = sh;
	lb->n = sh->n;
	lb->weight = sh->weight;
	/* distinct seeds give unrelated streams: wyrand's state is only ever incremented */
	lb->rng = sl__lb_mix64(seed ^ 0x2545f4914f6cdd1dULL);
	return lb;
}

int
sl_lb_create(struct sl_lb **out, enum sl_lb_algo algo, const struct sl_lb_target *t, size_t n,
             const struct sl_lb_opts *o)
{
	static const struct sl_lb_opts defaults;
	const struct sl_lb_ops *ops;
	struct sl_lb_shared *sh;
	struct sl_lb *lb;
	int err;

	if (o == NULL)
		o = &defaults;
	if ((unsigned)algo >= SL_ARRAY_SIZE(sl_lb_ops_by_algo) || t == NULL || n == 0 ||
	    n > SL_LB_MAX_TARGETS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (t[i].weight == 0)
			return -EINVAL;
	ops = sl_lb_ops_by_algo[algo];

	sh = calloc(1, sizeof(*sh));
	if (sh == NULL)
		return -ENOMEM;
	/* relaxed: *sh is not yet visible to any other thread */
	atomic_init(&sh->refs, 1);
	sh->n = n;
	sh->weight = malloc(n * sizeof(sh->weight[0]));
	if (sh->weight == NULL) {
		err = -ENOMEM;
		goto err_put_shared;
	}
	for (size_t i = 0; i < n; i++)
		sh->weight[i] = t[i].weight;
	if (ops->build != NULL) {
		err = ops->build(sh, t, o);
		if (err != 0)
			goto err_put_shared;
	}
	lb = sl_lb_instance_new(algo, sh, o->seed);
	if (lb == NULL) {
		err = -ENOMEM;
		goto err_put_shared;
	}
	*out = lb;
	return 0;

err_put_shared:
	sl_lb_shared_put(sh);
	return err;
}

int
sl_lb_clone(struct sl_lb **out, const struct sl_lb *lb, const struct sl_lb_opts *o)
{
	struct sl_lb *c;

	/* relaxed: the caller holds a reference through <lb>, so *sh cannot be freed meanwhile,
	 * and the increment publishes nothing (the shared data was published with <lb>) */
	atomic_fetch_add_explicit(&lb->sh->refs, 1, memory_order_relaxed);
	c = sl_lb_instance_new(lb->algo, lb->sh, o != NULL ? o->seed : 0);
	if (c == NULL) {
		sl_lb_shared_put(lb->sh);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void
sl_lb_destroy(struct sl_lb *lb)
{
	if (lb == NULL)
		return;
	sl_lb_shared_put(lb->sh);
	free(lb);
}

int
sl_lb_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	return lb->ops->pick(lb, c);
}

size_t
sl_lb_size(const struct sl_lb *lb)
{
	return lb->n;
}

enum sl_lb_algo
sl_lb_algo_of(const struct sl_lb *lb)
{
	return lb->algo;
}

int
sl_lb_algo_parse(const char *name, enum sl_lb_algo *out)
{
	if (name == NULL)
		return -EINVAL;
	for (size_t a = 0; a < SL_ARRAY_SIZE(sl_lb_ops_by_algo); a++) {
		if (strcmp(name, sl_lb_algo_names[a]) == 0) {
			*out = (enum sl_lb_algo)a;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
sl_lb_algo_name(enum sl_lb_algo a)
{
	if ((unsigned)a >= SL_ARRAY_SIZE(sl_lb_ops_by_algo))
		return NULL;
	return sl_lb_algo_names[a];
}

/* little-endian load, so the hash is the same on every byte order */
static inline uint64_t
sl_lb_load_le(const unsigned char *b, size_t n)
{
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)b[i] << (8 * i);
	return w;
}

uint64_t
sl_lb_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = sl__lb_mix64(seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)));

	for (; n >= 8; n -= 8, b += 8) {
		h ^= sl__lb_mix64(sl_lb_load_le(b, 8) + 0x632be59bd9b4e019ULL);
		h = (h << 29 | h >> 35) * 0x9fb21c651e98df25ULL;
	}
	if (n > 0) {
		h ^= sl__lb_mix64(sl_lb_load_le(b, n) + 0x8ebc6af09c88c6e3ULL);
		h = (h << 29 | h >> 35) * 0x9fb21c651e98df25ULL;
	}
	return sl__lb_mix64(h);
}
