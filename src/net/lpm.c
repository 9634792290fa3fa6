// SPDX-License-Identifier: MIT
/*
 * Longest-prefix match table (include/sluice/lpm.h): per family, a 2^16-entry first level and
 * below it 256-way nodes, leaf-pushed and compressed with two 256-bit maps (which slots lead to
 * a child, where a new run of leaf values starts) so a node costs 80 bytes plus one 4-byte leaf
 * per run, not 256 entries. Built once from a sorted prefix list, then read-only: lookups share
 * the table between threads with no synchronisation. Read docs/internals/lpm.md first.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/lpm_int.h"

/* A first-level entry with this bit set holds a node index; otherwise it is a value. */
#define CHILD 0x80000000u
#define ROOT_BITS 16
#define ROOT_SLOTS (1u << ROOT_BITS)
#define MAX_NODES 0x7fffffffu

/* The rank popcounts are the lookup's inner loop, and baseline x86-64 has no popcnt
 * instruction: each lookup body is compiled twice and the table picks one when it is built. */
#if defined(__x86_64__)
#define TARGET_POPCNT __attribute__((target("popcnt")))
#define cpu_has_popcnt() __builtin_cpu_supports("popcnt")
#else
#define TARGET_POPCNT
#define cpu_has_popcnt() 0
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

struct node {
	uint64_t vec[4];        /* bit s: slot s leads to a child node */
	uint64_t leafvec[4];    /* bit s: leaf slot s starts a new run (child slots never set it) */
	uint32_t child_base;    /* nodes[] index of the child of the lowest child slot */
	uint32_t leaf_base;     /* leaves[] index of this node's first run */
	uint8_t vec_before[4];  /* popcount of vec[0 .. w) */
	uint8_t leaf_before[4]; /* popcount of leafvec[0 .. w) */
};

static_assert(sizeof(struct node) == 80, "docs/internals/lpm.md and lpm_test count 80 bytes");

struct fam {
	uint32_t *root; /* ROOT_SLOTS entries: a value, or CHILD | index into nodes[] */
	struct node *nodes;
	uint32_t *leaves; /* leaf values, each node's runs contiguous from its leaf_base */
	size_t nnodes, cap_nodes, nleaves, cap_leaves;
	size_t prefixes;
};

struct sl_lpm {
	struct fam f[2]; /* [0] IPv4, [1] IPv6 */
	bool popcnt;     /* the CPU has popcnt: take the lookup bodies built for it */
};

struct ent {
	uint8_t a[16]; /* network order; IPv4 in a[0..3] */
	uint8_t len;
	uint8_t family;
	uint32_t value;
};

struct sl_lpm_builder {
	struct ent *e;
	size_t n, cap;
	long fail_after; /* allocations left before they fail; < 0 = never */
};

static void *
b_realloc(struct sl_lpm_builder *b, void *p, size_t n)
{
	if (b->fail_after == 0)
		return NULL;
	if (b->fail_after > 0)
		b->fail_after--;
	return realloc(p, n);
}

void
sl__lpm_builder_fail_after(struct sl_lpm_builder *b, long n)
{
	b->fail_after = n < 0 ? -1 : n;
}

int
sl_lpm_builder_create(struct sl_lpm_builder **out)
{
	struct sl_lpm_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->fail_after = -1;
	*out = b;
	return 0;
}

void
sl_lpm_builder_destroy(struct sl_lpm_builder *b)
{
	if (!b)
		return;
	free(b->e);
	free(b);
}

int
sl_lpm_builder_add(struct sl_lpm_builder *b, const struct sl_cidr *c, uint32_t value)
{
	struct ent *e;

	if (!sl_cidr_is_valid(c))
		return -EINVAL;
	if (value >= SL_LPM_NONE)
		return -ERANGE;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;

		e = b_realloc(b, b->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		b->e = e;
		b->cap = cap;
	}
	e = &b->e[b->n++];
	memcpy(e->a, c->addr, sizeof(e->a));
	e->len = c->len;
	e->family = c->family;
	e->value = value;
	return 0;
}

/* family, then address, then length: a prefix sorts before every prefix it contains */
static int
cmp_ent(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;
	int d;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	d = memcmp(a->a, b->a, sizeof(a->a));
	if (d)
		return d;
	return (int)a->len - (int)b->len;
}

/* bits [depth, depth + stride) of <e>'s address; depth is a multiple of 8, stride 8 or 16 */
static unsigned
slot_of(const struct ent *e, unsigned depth, unsigned stride)
{
	const uint8_t *p = e->a + depth / 8;

	return stride == 16 ? (unsigned)p[0] << 8 | p[1] : p[0];
}

/* Sets every slot of a level to <def>, then paints each prefix ending within the level over
 * the slots it covers. Sorted order paints a prefix before the longer ones inside it. */
static void
paint(uint32_t *slot, const struct ent *e, size_t n, unsigned depth, unsigned stride, uint32_t def)
{
	size_t i, k, cnt;
	unsigned s;

	for (k = 0; k < (1u << stride); k++)
		slot[k] = def;
	for (i = 0; i < n; i++) {
		if (e[i].len > depth + stride)
			continue;
		s = slot_of(&e[i], depth, stride);
		cnt = (size_t)1 << (depth + stride - e[i].len);
		for (k = 0; k < cnt; k++)
			slot[s + k] = e[i].value;
	}
}

/* End of the run of prefixes from e[i] (longer than the level) that share its slot. */
static size_t
group_end(const struct ent *e, size_t n, size_t i, unsigned depth, unsigned stride)
{
	unsigned s = slot_of(&e[i], depth, stride);
	size_t j;

	for (j = i + 1; j < n && slot_of(&e[j], depth, stride) == s; j++)
		SL_ASSERT(e[j].len > depth + stride);
	return j;
}

static int
reserve_nodes(struct sl_lpm_builder *b, struct fam *f, size_t k, uint32_t *first)
{
	struct node *p;
	size_t cap;

	if (f->nnodes + k > MAX_NODES)
		return -E2BIG;
	if (f->nnodes + k > f->cap_nodes) {
		cap = f->cap_nodes ? 2 * f->cap_nodes : 64;
		while (cap < f->nnodes + k)
			cap *= 2;
		p = b_realloc(b, f->nodes, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->nodes = p;
		f->cap_nodes = cap;
	}
	memset(&f->nodes[f->nnodes], 0, k * sizeof(*f->nodes));
	*first = (uint32_t)f->nnodes;
	f->nnodes += k;
	return 0;
}

static int
push_leaf(struct sl_lpm_builder *b, struct fam *f, uint32_t v)
{
	uint32_t *p;
	size_t cap;

	if (f->nleaves == UINT32_MAX)
		return -E2BIG;
	if (f->nleaves == f->cap_leaves) {
		cap = f->cap_leaves ? 2 * f->cap_leaves : 256;
		p = b_realloc(b, f->leaves, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->leaves = p;
		f->cap_leaves = cap;
	}
	f->leaves[f->nleaves++] = v;
	return 0;
}

/* Fills node <idx> at bit <depth> from the prefixes <e>[0 .. n), all inside it and longer
 * than <depth>; <def> is the value its slots inherit. Recursion depth <= 14 (IPv6). */
static int
build_node(struct sl_lpm_builder *b, struct fam *f, uint32_t idx, const struct ent *e, size_t n,
           unsigned depth, uint32_t def)
{
	uint64_t vec[4] = {0}, leafvec[4] = {0};
	uint32_t slot[256], child_base = 0, leaf_base = (uint32_t)f->nleaves, prev = 0;
	unsigned nchild = 0, s, w;
	bool first = true;
	struct node *nd;
	size_t i, j;
	int err;

	paint(slot, e, n, depth, 8, def);
	for (i = 0; i < n; i++) {
		if (e[i].len <= depth + 8)
			continue;
		s = slot_of(&e[i], depth, 8);
		if (!(vec[s / 64] >> (s % 64) & 1))
			nchild++;
		vec[s / 64] |= (uint64_t)1 << (s % 64);
	}
	for (s = 0; s < 256; s++) {
		if (vec[s / 64] >> (s % 64) & 1)
			continue;
		if (first || slot[s] != prev) {
			leafvec[s / 64] |= (uint64_t)1 << (s % 64);
			if ((err = push_leaf(b, f, slot[s])) < 0)
				return err;
			prev = slot[s];
			first = false;
		}
	}
	if (nchild && (err = reserve_nodes(b, f, nchild, &child_base)) < 0)
		return err;
	nd = &f->nodes[idx];
	for (w = 0; w < 4; w++) {
		nd->vec[w] = vec[w];
		nd->leafvec[w] = leafvec[w];
		nd->vec_before[w] =
		        (uint8_t)(w ? nd->vec_before[w - 1] + __builtin_popcountll(vec[w - 1]) : 0);
		nd->leaf_before[w] =
		        (uint8_t)(w ? nd->leaf_before[w - 1] + __builtin_popcountll(leafvec[w - 1])
		                    : 0);
	}
	nd->child_base = child_base;
	nd->leaf_base = leaf_base;
	/* children in slot order, so the k-th child slot's node is child_base + k */
	for (i = 0; i < n; i = j) {
		if (e[i].len <= depth + 8) {
			j = i + 1;
			continue;
		}
		j = group_end(e, n, i, depth, 8);
		s = slot_of(&e[i], depth, 8);
		err = build_node(b, f, child_base++, e + i, j - i, depth + 8, slot[s]);
		if (err < 0)
			return err;
	}
	return 0;
}

static int
build_fam(struct sl_lpm_builder *b, struct fam *f, const struct ent *e, size_t n)
{
	uint32_t idx;
	size_t i, j;
	unsigned s;
	int err;

	f->prefixes = n;
	f->root = b_realloc(b, NULL, ROOT_SLOTS * sizeof(*f->root));
	if (!f->root)
		return -ENOMEM;
	paint(f->root, e, n, 0, ROOT_BITS, SL_LPM_NONE);
	for (i = 0; i < n; i = j) {
		if (e[i].len <= ROOT_BITS) {
			j = i + 1;
			continue;
		}
		j = group_end(e, n, i, 0, ROOT_BITS);
		s = slot_of(&e[i], 0, ROOT_BITS);
		if ((err = reserve_nodes(b, f, 1, &idx)) < 0)
			return err;
		if ((err = build_node(b, f, idx, e + i, j - i, ROOT_BITS, f->root[s])) < 0)
			return err;
		f->root[s] = CHILD | idx;
	}
	return 0;
}

/* Gives back the slack of the growth doubling; keeps the larger block if realloc refuses. */
static void
shrink(struct sl_lpm_builder *b, struct fam *f)
{
	void *p;

	if (f->nnodes && f->nnodes < f->cap_nodes &&
	    (p = b_realloc(b, f->nodes, f->nnodes * sizeof(*f->nodes)))) {
		f->nodes = p;
		f->cap_nodes = f->nnodes;
	}
	if (f->nleaves && f->nleaves < f->cap_leaves &&
	    (p = b_realloc(b, f->leaves, f->nleaves * sizeof(*f->leaves)))) {
		f->leaves = p;
		f->cap_leaves = f->nleaves;
	}
}

static void
fam_fini(struct fam *f)
{
	free(f->root);
	free(f->nodes);
	free(f->leaves);
}

int
sl_lpm_build(struct sl_lpm **out, struct sl_lpm_builder *b)
{
	struct sl_lpm *t;
	size_t i, n4;
	int err;

	if (b->n)
		qsort(b->e, b->n, sizeof(*b->e), cmp_ent);
	for (i = 1; i < b->n; i++)
		if (!cmp_ent(&b->e[i - 1], &b->e[i]))
			return -EEXIST;
	for (n4 = 0; n4 < b->n && b->e[n4].family == AF_INET; n4++)
		;
	t = b_realloc(b, NULL, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->popcnt = cpu_has_popcnt();
	if ((err = build_fam(b, &t->f[0], b->e, n4)) < 0)
		goto err_free_table;
	if ((err = build_fam(b, &t->f[1], b->e + n4, b->n - n4)) < 0)
		goto err_free_table;
	shrink(b, &t->f[0]);
	shrink(b, &t->f[1]);
	*out = t;
	return 0;

err_free_table:
	fam_fini(&t->f[0]);
	fam_fini(&t->f[1]);
	free(t);
	return err;
}

void
sl_lpm_destroy(struct sl_lpm *t)
{
	if (!t)
		return;
	fam_fini(&t->f[0]);
	fam_fini(&t->f[1]);
	free(t);
}

/* number of set bits of <v> (four words) at or below bit <s> */
static ALWAYS_INLINE unsigned
rank(const uint64_t *v, const uint8_t *before, unsigned s)
{
	/* 2 << 63 wraps to 0, so bit 63 gives the all-ones mask */
	uint64_t below = ((uint64_t)2 << (s & 63)) - 1;

	return before[s >> 6] + (unsigned)__builtin_popcountll(v[s >> 6] & below);
}

static ALWAYS_INLINE bool
has_child(const struct node *nd, unsigned s)
{
	return nd->vec[s >> 6] >> (s & 63) & 1;
}

static ALWAYS_INLINE const struct node *
child_of(const struct fam *f, const struct node *nd, unsigned s)
{
	return &f->nodes[nd->child_base + rank(nd->vec, nd->vec_before, s) - 1];
}

static ALWAYS_INLINE uint32_t
leaf_of(const struct fam *f, const struct node *nd, unsigned s)
{
	return f->leaves[nd->leaf_base + rank(nd->leafvec, nd->leaf_before, s) - 1];
}

static ALWAYS_INLINE uint32_t
lookup4(const struct sl_lpm *t, uint32_t addr)
{
	const struct fam *f = &t->f[0];
	uint32_t e = f->root[addr >> 16];
	const struct node *nd;
	unsigned s;

	if (!(e & CHILD))
		return e;
	nd = &f->nodes[e & ~CHILD];
	s = (addr >> 8) & 0xff;
	if (has_child(nd, s)) {
		/* a node at bit 24 covers the last 8 bits: it has no children */
		nd = child_of(f, nd, s);
		s = addr & 0xff;
	}
	return leaf_of(f, nd, s);
}

static ALWAYS_INLINE uint32_t
lookup6(const struct sl_lpm *t, const uint8_t addr[16])
{
	const struct fam *f = &t->f[1];
	uint32_t e = f->root[(unsigned)addr[0] << 8 | addr[1]];
	const struct node *nd;
	unsigned i;

	if (!(e & CHILD))
		return e;
	nd = &f->nodes[e & ~CHILD];
	/* a node at bit 120 covers the last 8 bits and has no children, so this ends by i == 15 */
	for (i = 2; i < 15 && has_child(nd, addr[i]); i++)
		nd = child_of(f, nd, addr[i]);
	return leaf_of(f, nd, addr[i]);
}

static TARGET_POPCNT uint32_t
lookup4_popcnt(const struct sl_lpm *t, uint32_t addr)
{
	return lookup4(t, addr);
}

static TARGET_POPCNT uint32_t
lookup6_popcnt(const struct sl_lpm *t, const uint8_t addr[16])
{
	return lookup6(t, addr);
}

uint32_t
sl_lpm_lookup4(const struct sl_lpm *t, uint32_t addr)
{
	return t->popcnt ? lookup4_popcnt(t, addr) : lookup4(t, addr);
}

uint32_t
sl_lpm_lookup6(const struct sl_lpm *t, const uint8_t addr[16])
{
	return t->popcnt ? lookup6_popcnt(t, addr) : lookup6(t, addr);
}

uint32_t
sl_lpm_lookup_sa(const struct sl_lpm *t, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;
	uint8_t a4[4];

	if (sa->sa_family == AF_INET)
		return sl_lpm_lookup4(
		        t, ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return SL_LPM_NONE;
	s6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (sl_cidr_unmap(s6->sin6_addr.s6_addr, a4))
		return sl_lpm_lookup4(t, (uint32_t)a4[0] << 24 | (uint32_t)a4[1] << 16 |
		                                 (uint32_t)a4[2] << 8 | a4[3]);
	return sl_lpm_lookup6(t, s6->sin6_addr.s6_addr);
}

static size_t
fam_bytes(const struct fam *f)
{
	return (f->root ? ROOT_SLOTS * sizeof(*f->root) : 0) + f->cap_nodes * sizeof(*f->nodes) +
	       f->cap_leaves * sizeof(*f->leaves);
}

void
sl_lpm_stats(const struct sl_lpm *t, struct sl_lpm_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->bytes4 = fam_bytes(&t->f[0]);
	s->bytes6 = fam_bytes(&t->f[1]);
	s->bytes = sizeof(*t) + s->bytes4 + s->bytes6;
	s->prefixes4 = t->f[0].prefixes;
	s->prefixes6 = t->f[1].prefixes;
	s->nodes4 = t->f[0].nnodes;
	s->nodes6 = t->f[1].nnodes;
	s->leaves4 = t->f[0].nleaves;
	s->leaves6 = t->f[1].nleaves;
}
