/* SPDX-License-Identifier: MIT */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4). Each backend's
 * permutation of the M table slots comes from two hashes of its name: offset = h1 % M,
 * skip = h2 % (M - 1) + 1, slot_j = (offset + j * skip) % M, a full cycle because M is prime.
 * Backends take turns, in name order, claiming their next free preferred slot until the table
 * is full, so every backend owns floor(M/n) or ceil(M/n) slots, and the table depends only on
 * the set of names (not on config order). A pick looks up the key's slot; if that backend is
 * ineligible it re-hashes the key (SL_LB_MAGLEV_PROBES slots in all), then walks backends in
 * name order from a key-derived start: deterministic, so every process falls back alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/lb_int.h"

#define SL_LB_MAGLEV_EMPTY UINT16_MAX /* free table slot; indices are < SL_LB_MAX_TARGETS */
#define SL_LB_MAGLEV_PROBES 16        /* table slots tried before the name-order walk */
#define SL_LB_MAGLEV_SEED_OFFSET 0x6d61676c65762d31ULL /* h1 of the paper */
#define SL_LB_MAGLEV_SEED_SKIP 0x6d61676c65762d32ULL   /* h2 of the paper */

struct sl_lb_maglev_name {
	const char *name;
	uint16_t idx;
};

static bool
sl_lb_is_prime(uint32_t m)
{
	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (uint32_t d = 3; d <= m / d; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

static int
sl_lb_maglev_name_cmp(const void *a, const void *b)
{
	const struct sl_lb_maglev_name *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* fills sh->table from names sorted in <by>; <pos> and <skip> are n-entry scratch arrays */
static void
sl_lb_maglev_populate(struct sl_lb_shared *sh, const struct sl_lb_maglev_name *by, uint32_t *pos,
                      uint32_t *skip)
{
	uint32_t m = sh->table_size, filled = 0;
	size_t n = sh->n;

	for (size_t j = 0; j < n; j++) {
		size_t len = strlen(by[j].name);
		pos[j] =
		        (uint32_t)(sl_lb_hash_bytes(by[j].name, len, SL_LB_MAGLEV_SEED_OFFSET) % m);
		/* m is prime, so m >= 2 and the modulus is >= 1 */
		skip[j] = (uint32_t)(sl_lb_hash_bytes(by[j].name, len, SL_LB_MAGLEV_SEED_SKIP) %
		                     (m - 1)) +
		          1;
	}
	memset(sh->table, 0xff, (size_t)m * sizeof(sh->table[0]));
	/* terminates: each turn fills one slot, and a backend's permutation visits every slot */
	for (;;) {
		for (size_t j = 0; j < n; j++) {
			uint32_t c = pos[j];
			while (sh->table[c] != SL_LB_MAGLEV_EMPTY) {
				c += skip[j];
				c = c >= m ? c - m : c;
			}
			sh->table[c] = by[j].idx;
			c += skip[j];
			pos[j] = c >= m ? c - m : c;
			if (++filled == m)
				return;
		}
	}
}

static int
sl_lb_maglev_build(struct sl_lb_shared *sh, const struct sl_lb_target *t,
                   const struct sl_lb_opts *o)
{
	uint32_t m = o->maglev_table_size ? o->maglev_table_size : SL_LB_MAGLEV_DEFAULT_SIZE;
	struct sl_lb_maglev_name *by;
	uint32_t *scratch;
	size_t n = sh->n;
	int err;

	if (m < n || m > SL_LB_MAGLEV_MAX_SIZE || !sl_lb_is_prime(m))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (t[i].name == NULL)
			return -EINVAL;

	by = malloc(n * sizeof(*by));
	scratch = malloc(2 * n * sizeof(*scratch));
	sh->by_name = malloc(n * sizeof(sh->by_name[0]));
	sh->table = malloc((size_t)m * sizeof(sh->table[0]));
	if (by == NULL || scratch == NULL || sh->by_name == NULL || sh->table == NULL) {
		err = -ENOMEM; /* sh->table and sh->by_name are freed with sh */
		goto out_free_scratch;
	}
	for (size_t i = 0; i < n; i++) {
		by[i].name = t[i].name;
		by[i].idx = (uint16_t)i;
	}
	qsort(by, n, sizeof(*by), sl_lb_maglev_name_cmp);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(by[i].name, by[i + 1].name) == 0) {
			err = -EINVAL; /* two targets with one identity */
			goto out_free_scratch;
		}
	}
	for (size_t i = 0; i < n; i++)
		sh->by_name[i] = by[i].idx;
	sh->table_size = m;
	sl_lb_maglev_populate(sh, by, scratch, scratch + n);
	err = 0;

out_free_scratch:
	free(scratch);
	free(by);
	return err;
}

/* maps a 64-bit hash onto [0, m) by multiply-shift: no division on the hot path */
static inline uint32_t
sl_lb_maglev_slot(uint64_t h, uint32_t m)
{
	return (uint32_t)(((unsigned __int128)h * m) >> 64);
}

static int
sl_lb_maglev_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	const struct sl_lb_shared *sh = lb->sh;
	/* mix again: callers may pass a raw address as the key */
	uint64_t h = sl__lb_mix64(c->key);
	size_t start;

	for (int k = 0; k < SL_LB_MAGLEV_PROBES; k++) {
		size_t i = sh->table[sl_lb_maglev_slot(h, sh->table_size)];
		if (sl__lb_eligible(c, i))
			return (int)i;
		h = sl__lb_mix64(h + 0x9e3779b97f4a7c15ULL);
	}
	start = (size_t)(((unsigned __int128)h * sh->n) >> 64);
	for (size_t k = 0, j = start; k < sh->n; k++, j = j + 1 == sh->n ? 0 : j + 1) {
		size_t i = sh->by_name[j];
		if (sl__lb_eligible(c, i))
			return (int)i;
	}
	return -ENOENT;
}

const uint16_t *
sl__lb_maglev_table(const struct sl_lb *lb, uint32_t *size)
{
	*size = lb->sh->table_size;
	return lb->sh->table;
}

const struct sl_lb_ops sl__lb_maglev_ops = {
        .name = "maglev",
        .build = sl_lb_maglev_build,
        .pick = sl_lb_maglev_pick,
};
