/* SPDX-License-Identifier: MIT */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4), weighted as in Envoy.
 * Each backend's permutation of the M slots comes from two hashes of its name: offset = h1 % M,
 * skip = h2 % (M - 1) + 1, slot_j = (offset + j * skip) % M, a full cycle because M is prime.
 * The fill runs in rounds: in round k, in name order, each backend holding fewer than
 * k * w / w_max slots claims its next free preferred slot. Shares follow the weights within n
 * slots, every backend gets one slot at least, equal weights give the paper's unweighted table,
 * and the table depends only on the (name, weight) pairs. A pick looks up the key's slot, then
 * re-hashes (SL_LB_MAGLEV_PROBES slots), then walks backends in name order from a key-derived
 * start: deterministic, so every process falls back alike. Bounds: docs/internals/lb.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/lb_int.h"

#define SL_LB_MAGLEV_EMPTY UINT16_MAX /* free table slot; indices are < SL_LB_MAX_TARGETS */
#define SL_LB_MAGLEV_PROBES 16        /* table slots tried before the name-order walk */
#define SL_LB_MAGLEV_SEED_OFFSET 0x6d61676c65762d31ULL /* h1 of the paper */
#define SL_LB_MAGLEV_SEED_SKIP 0x6d61676c65762d32ULL   /* h2 of the paper */
#define SL_LB_MAGLEV_RANK_BITS 16 /* a turn key is round << 16 | name rank (rank < 65535) */

/* one backend during the build, kept in name order */
struct sl_lb_maglev_backend {
	const char *name;
	uint32_t weight;
	uint32_t pos;     /* next slot of its permutation to try */
	uint32_t skip;    /* permutation step, 1..M-1 */
	uint32_t claimed; /* slots taken so far */
	uint16_t idx;     /* index in the caller's target array */
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
	const struct sl_lb_maglev_backend *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* gives <b> its next free preferred slot; the table has one (callers stop when it is full) */
static void
sl_lb_maglev_claim(struct sl_lb_shared *sh, struct sl_lb_maglev_backend *b)
{
	uint32_t m = sh->table_size, c = b->pos;

	/* terminates: the permutation visits every slot, and a free one exists */
	while (sh->table[c] != SL_LB_MAGLEV_EMPTY) {
		c += b->skip;
		c = c >= m ? c - m : c;
	}
	sh->table[c] = b->idx;
	c += b->skip;
	b->pos = c >= m ? c - m : c;
	b->claimed++;
}

/* restores the min-heap order of <heap> (<n> keys) after its root grew */
static void
sl_lb_maglev_sift_down(uint64_t *heap, size_t n)
{
	uint64_t key = heap[0];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap[c + 1] < heap[c])
			c++;
		if (key <= heap[c])
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = key;
}

/*
 * Fills sh->table from the backends <b> (n, sorted by name). Backend j's c-th claim
 * (c = 0, 1, ...) falls in round floor(c * w_max / w_j) + 1, the first round k where it holds
 * fewer than k * w_j / w_max slots (w_j <= w_max, so at most one claim per round). Backends of
 * the largest weight claim in every round and are taken straight from <full> (their ranks,
 * ascending); the others wait in <heap>, a min-heap of turn keys (round << 16 | rank), so a
 * round's claims come out in rank order by merging the two. Each round claims at least one
 * slot (a largest-weight backend), so there are at most M rounds; the turn bookkeeping is O(1)
 * per slot for largest-weight backends and O(log n) for the others. Probing for free slots
 * costs what it does unweighted. <full> and <heap> are n-entry scratch arrays.
 */
static void
sl_lb_maglev_populate(struct sl_lb_shared *sh, struct sl_lb_maglev_backend *b, uint16_t *full,
                      uint64_t *heap)
{
	uint32_t m = sh->table_size, filled = 0, w_max = 0;
	size_t n = sh->n, nfull = 0, nheap = 0;

	for (size_t j = 0; j < n; j++) {
		size_t len = strlen(b[j].name);
		b[j].pos =
		        (uint32_t)(sl_lb_hash_bytes(b[j].name, len, SL_LB_MAGLEV_SEED_OFFSET) % m);
		/* m is prime, so m >= 2 and the modulus is >= 1 */
		b[j].skip = (uint32_t)(sl_lb_hash_bytes(b[j].name, len, SL_LB_MAGLEV_SEED_SKIP) %
		                       (m - 1)) +
		            1;
		b[j].claimed = 0;
		w_max = b[j].weight > w_max ? b[j].weight : w_max;
	}
	/* every backend's first turn is round 1; ascending keys already form a heap */
	for (size_t j = 0; j < n; j++) {
		if (b[j].weight == w_max)
			full[nfull++] = (uint16_t)j;
		else
			heap[nheap++] = (uint64_t)1 << SL_LB_MAGLEV_RANK_BITS | j;
	}
	memset(sh->table, 0xff, (size_t)m * sizeof(sh->table[0]));
	for (uint64_t k = 1;; k++) {
		size_t a = 0;
		for (;;) {
			bool due = nheap > 0 && heap[0] >> SL_LB_MAGLEV_RANK_BITS == k;
			if (!due && a == nfull)
				break; /* round k is over */
			size_t rank =
			        due ? (size_t)(heap[0] & ((1u << SL_LB_MAGLEV_RANK_BITS) - 1)) : 0;
			if (due && (a == nfull || rank < full[a])) {
				struct sl_lb_maglev_backend *x = &b[rank];
				sl_lb_maglev_claim(sh, x);
				/* turn c = claimed is in round floor(c * w_max / w) + 1; no
				 * overflow: c <= M < 2^24, w_max < 2^32. Rounds past M never come,
				 * so cap there to keep the shift in range. */
				uint64_t next = (uint64_t)x->claimed * w_max / x->weight + 1;
				next = next > m ? (uint64_t)m + 1 : next;
				heap[0] = next << SL_LB_MAGLEV_RANK_BITS | rank;
				sl_lb_maglev_sift_down(heap, nheap);
			} else {
				sl_lb_maglev_claim(sh, &b[full[a++]]);
			}
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
	struct sl_lb_maglev_backend *by;
	uint16_t *full;
	uint64_t *heap;
	size_t n = sh->n;
	int err;

	/* n == 0 is refused by sl_lb_create() already; said again here for the analyzer */
	if (n == 0 || m < n || m > SL_LB_MAGLEV_MAX_SIZE || !sl_lb_is_prime(m))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (t[i].name == NULL)
			return -EINVAL;

	by = malloc(n * sizeof(*by));
	full = malloc(n * sizeof(*full));
	heap = malloc(n * sizeof(*heap));
	sh->by_name = malloc(n * sizeof(sh->by_name[0]));
	sh->table = malloc((size_t)m * sizeof(sh->table[0]));
	if (by == NULL || full == NULL || heap == NULL || sh->by_name == NULL ||
	    sh->table == NULL) {
		err = -ENOMEM; /* sh->table and sh->by_name are freed with sh */
		goto out_free_scratch;
	}
	for (size_t i = 0; i < n; i++) {
		by[i].name = t[i].name;
		by[i].weight = t[i].weight;
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
	sl_lb_maglev_populate(sh, by, full, heap);
	err = 0;

out_free_scratch:
	free(heap);
	free(full);
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
        .build = sl_lb_maglev_build,
        .pick = sl_lb_maglev_pick,
};
