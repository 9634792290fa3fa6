// SPDX-License-Identifier: MIT
/*
 * Longest-prefix match table (include/sluice/lpm.h), a Poptrie-style compressed multibit trie:
 * per family a first level of 2^8 .. 2^18 entries, below it 64-way nodes of 32 bytes whose two
 * bitmaps say which slots lead to a child and where a new run of leaf-pushed values starts;
 * popcounts turn a slot into an index. IPv4 first-level entries can hold one lone prefix, nodes
 * fold one-child levels into a skip path or hold up to three runs inline. Built once, then
 * read-only: threads share a table with no synchronisation. Read docs/internals/lpm.md first.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/lpm_int.h"

/* A first-level entry with this bit set holds a node index; otherwise it is a value. */
#define CHILD 0x80000000u
#define STRIDE 6 /* bits per node: 64 slots, one 64-bit map each */
#define ROOT_BITS_MIN 8
#define ROOT_BITS_MAX4 18 /* 1 MiB */
#define ROOT_BITS_MAX6 18 /* 1 MiB */
#define MAX_NODES 0x7fffffffu
/*
 * An IPv4 first-level entry is 8 bytes: ROOT64_NODE | index into nodes[], or a slot with at
 * most one prefix below the first level: its next 14 bits (bits 32-45) and the mask of those
 * it fixes (bits 46-59). An address that matches them gets that prefix's value (bits 0-15),
 * any other the slot's value (bits 16-31). A plain slot has a mask of 0 and the same value
 * twice. Most slots of a large table then answer in this one load.
 */
#define ROOT64_NODE ((uint64_t)1 << 63)
#define ROOT64_BITS 14
#define ROOT64_MASK ((1u << ROOT64_BITS) - 1)
#define SKIP_MAX 5 /* levels one node can fold: 5 x 6 bits of path in node.skip */

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

/* 32 bytes, 32-aligned: a lookup step touches one cache line. The last 16 bytes are in one of
 * three modes: plain (skip == 0: child_base, leaf_base index leaves[]), folded path (skip's top
 * three bits count the folded levels), or inline runs (run[3] == INLINE: up to three run values
 * in run[], from run[1] when the node has children, saving the lookup its leaves[] load). */
struct node {
	uint64_t vec;     /* bit s: slot s leads to a child node */
	uint64_t leafvec; /* bit s: leaf slot s starts a new run (child slots never set it) */
	union {
		struct {
			uint32_t child_base; /* nodes[] index of the child of the lowest child slot
			                      */
			uint32_t leaf_base;  /* leaves[] index of this node's first run */
			uint64_t skip; /* folded levels (bits 61-63), the value for an address that
			                * leaves the path (bits 30-60), the path's slots (bits 0-29)
			                */
		};
		uint32_t run[4];
	};
};

#define INLINE 1u /* run[3] of a node in inline mode: skip's top bits are 0, so it is no path */

static_assert(sizeof(struct node) == 32, "docs/internals/lpm.md and lpm_test count 32 bytes");
/* run[2..3] overlay skip's low and high halves; INLINE must land in the high one */
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "node.run[] overlay assumes little endian");

struct fam {
	uint32_t *root;     /* IPv6: 2^root_bits entries, a value or CHILD | index into nodes[] */
	uint64_t *root64;   /* IPv4: 2^root_bits entries, see ROOT64_* */
	struct node *nodes; /* 32-byte aligned */
	uint32_t *leaves;   /* leaf values, each node's runs contiguous from its leaf_base */
	size_t nnodes, cap_nodes, nleaves, cap_leaves;
	size_t prefixes;
	unsigned root_bits; /* 8 .. 18, grows with the prefix count */
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

/* a new <n>-byte block aligned to <align>, holding the first <old> bytes of <p>, which is
 * freed; NULL (and <p> untouched) on failure */
static void *
b_realloc_aligned(struct sl_lpm_builder *b, void *p, size_t old, size_t n, size_t align)
{
	void *q;

	if (b->fail_after == 0)
		return NULL;
	if (b->fail_after > 0)
		b->fail_after--;
	if (posix_memalign(&q, align, n))
		return NULL;
	if (p)
		memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
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

/* bits [depth, depth + stride) of <e>'s address, bits past the end of the address read as 0 */
static unsigned
slot_of(const struct ent *e, unsigned depth, unsigned stride)
{
	unsigned v = 0, i;

	for (i = depth; i < depth + stride; i++)
		v = v << 1 | (i < 128 ? (e->a[i / 8] >> (7 - i % 8) & 1u) : 0);
	return v;
}

/* Sets every slot of a level to <def>, then paints each prefix ending within the level over
 * the slots it covers. Sorted order paints a prefix before the longer ones inside it. */
static void
paint(uint32_t *slot, const struct ent *e, size_t n, unsigned depth, unsigned stride, uint32_t def)
{
	size_t i, k, cnt;
	unsigned s;

	for (k = 0; k < ((size_t)1 << stride); k++)
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
		p = b_realloc_aligned(b, f->nodes, f->nnodes * sizeof(*p), cap * sizeof(*p),
		                      sizeof(*p));
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
 * than <depth>; <def> is the value its slots inherit. Recursion depth <= 20 (IPv6). */
static int
build_node(struct sl_lpm_builder *b, struct fam *f, uint32_t idx, const struct ent *e, size_t n,
           unsigned depth, uint32_t def)
{
	uint32_t slot[1u << STRIDE], child_base = 0, leaf_base = (uint32_t)f->nleaves, prev = 0;
	uint64_t vec = 0, leafvec = 0, path = 0;
	unsigned nchild = 0, nskip = 0, nruns, k, s;
	bool first = true, inl;
	struct node *nd;
	size_t i, j;
	int err;

	/* a level where every prefix runs on through one slot would be a node with one child in
	 * a sea of <def>: fold such levels into this node's skip path instead */
	while (nskip < SKIP_MAX) {
		for (i = 0; i < n && e[i].len > depth + STRIDE; i++)
			;
		if (i < n || group_end(e, n, 0, depth, STRIDE) != n)
			break;
		path = path << STRIDE | slot_of(&e[0], depth, STRIDE);
		depth += STRIDE;
		nskip++;
	}
	paint(slot, e, n, depth, STRIDE, def);
	for (i = 0; i < n; i++) {
		if (e[i].len <= depth + STRIDE)
			continue;
		s = slot_of(&e[i], depth, STRIDE);
		if (!(vec >> s & 1))
			nchild++;
		vec |= (uint64_t)1 << s;
	}
	for (s = 0; s < (1u << STRIDE); s++) {
		if (vec >> s & 1)
			continue;
		if (first || slot[s] != prev) {
			leafvec |= (uint64_t)1 << s;
			prev = slot[s];
			first = false;
		}
	}
	nruns = (unsigned)__builtin_popcountll(leafvec);
	inl = !nskip && nruns <= (nchild ? 2u : 3u);
	if (!inl)
		for (s = 0; s < (1u << STRIDE); s++)
			if (leafvec >> s & 1 && (err = push_leaf(b, f, slot[s])) < 0)
				return err;
	if (nchild && (err = reserve_nodes(b, f, nchild, &child_base)) < 0)
		return err;
	nd = &f->nodes[idx];
	nd->vec = vec;
	nd->leafvec = leafvec;
	nd->child_base = child_base;
	nd->leaf_base = leaf_base;
	nd->skip = nskip ? (uint64_t)nskip << 61 | (uint64_t)def << 30 | path : 0;
	if (inl) {
		k = nchild ? 1 : 0;
		for (s = 0; s < (1u << STRIDE); s++)
			if (leafvec >> s & 1)
				nd->run[k++] = slot[s];
		nd->run[3] = INLINE;
	}
	/* children in slot order, so the k-th child slot's node is child_base + k */
	for (i = 0; i < n; i = j) {
		if (e[i].len <= depth + STRIDE) {
			j = i + 1;
			continue;
		}
		j = group_end(e, n, i, depth, STRIDE);
		s = slot_of(&e[i], depth, STRIDE);
		err = build_node(b, f, child_base++, e + i, j - i, depth + STRIDE, slot[s]);
		if (err < 0)
			return err;
	}
	return 0;
}

/* first-level bits for <n> prefixes: about 16 entries per prefix, 2^8 .. 2^<max> entries */
static unsigned
root_bits_for(size_t n, unsigned max)
{
	unsigned bits = 4;

	while (bits < max && ((size_t)1 << (bits - 4)) <= n)
		bits++;
	return bits < ROOT_BITS_MIN ? ROOT_BITS_MIN : bits;
}

static int
build_fam(struct sl_lpm_builder *b, struct fam *f, const struct ent *e, size_t n, unsigned max,
          bool wide)
{
	unsigned s, k, rb = root_bits_for(n, max);
	size_t i, j, nslots = (size_t)1 << rb;
	uint32_t idx;
	int err;

	f->prefixes = n;
	f->root_bits = rb;
	f->root = b_realloc(b, NULL, nslots * sizeof(*f->root));
	if (!f->root)
		return -ENOMEM;
	paint(f->root, e, n, 0, rb, SL_LPM_NONE);
	if (wide) {
		f->root64 = b_realloc(b, NULL, nslots * sizeof(*f->root64));
		if (!f->root64)
			return -ENOMEM;
		for (i = 0; i < nslots; i++)
			f->root64[i] = (uint64_t)f->root[i] << 16 | f->root[i];
	}
	for (i = 0; i < n; i = j) {
		if (e[i].len <= rb) {
			j = i + 1;
			continue;
		}
		j = group_end(e, n, i, 0, rb);
		s = slot_of(&e[i], 0, rb);
		k = e[i].len - rb;
		if (wide && j - i == 1 && k <= ROOT64_BITS) {
			f->root64[s] = (uint64_t)(ROOT64_MASK & ~(ROOT64_MASK >> k)) << 46 |
			               (uint64_t)slot_of(&e[i], rb, ROOT64_BITS) << 32 |
			               (uint64_t)f->root[s] << 16 | e[i].value;
			continue;
		}
		if ((err = reserve_nodes(b, f, 1, &idx)) < 0)
			return err;
		if ((err = build_node(b, f, idx, e + i, j - i, rb, f->root[s])) < 0)
			return err;
		f->root[s] = CHILD | idx;
		if (wide)
			f->root64[s] = ROOT64_NODE | idx;
	}
	if (wide) { /* the 4-byte level was only the painting canvas */
		free(f->root);
		f->root = NULL;
	}
	return 0;
}

/* Gives back the slack of the growth doubling; keeps the larger block if realloc refuses. */
static void
shrink(struct sl_lpm_builder *b, struct fam *f)
{
	void *p;

	if (f->nnodes && f->nnodes < f->cap_nodes &&
	    (p = b_realloc_aligned(b, f->nodes, f->nnodes * sizeof(*f->nodes),
	                           f->nnodes * sizeof(*f->nodes), sizeof(*f->nodes)))) {
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
	free(f->root64);
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
	if ((err = build_fam(b, &t->f[0], b->e, n4, ROOT_BITS_MAX4, true)) < 0)
		goto err_free_table;
	if ((err = build_fam(b, &t->f[1], b->e + n4, b->n - n4, ROOT_BITS_MAX6, false)) < 0)
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

#define SKIP_LEVELS(k) ((unsigned)((k) >> 61))
#define SKIP_VALUE(k) ((uint32_t)((k) >> 30 & 0x7fffffffu))
#define SKIP_PATH(k) ((k)&0x3fffffffu)

/* the value of leaf slot <s> of <nd> */
static ALWAYS_INLINE uint32_t
leaf_of(const struct fam *f, const struct node *nd, unsigned s)
{
	/* 2 << 63 wraps to 0, so slot 63 gives the all-ones mask */
	uint64_t upto = ((uint64_t)2 << s) - 1;
	unsigned r = (unsigned)__builtin_popcountll(nd->leafvec & upto) - 1;
	/* a select by mask, not a branch: which mode a node is in predicts badly, and compilers
	 * turn the plain ?: into a branch */
	uintptr_t in = (uintptr_t)(nd->run + (nd->vec != 0));
	uintptr_t out = (uintptr_t)(f->leaves + nd->leaf_base);
	uintptr_t m = (uintptr_t)0 - (nd->run[3] == INLINE);
	const uint32_t *v = (const uint32_t *)((in & m) | (out & ~m));

	return v[r];
}

static ALWAYS_INLINE const struct node *
child_of(const struct fam *f, const struct node *nd, unsigned s)
{
	uint64_t upto = ((uint64_t)2 << s) - 1;

	return &f->nodes[nd->child_base + (unsigned)__builtin_popcountll(nd->vec & upto) - 1];
}

static ALWAYS_INLINE uint32_t
lookup4(const struct sl_lpm *t, uint32_t addr)
{
	const struct fam *f = &t->f[0];
	uint64_t x = (uint64_t)addr << 32; /* bits past the address read as 0, as built */
	uint64_t e = f->root64[x >> (64 - f->root_bits)], below;
	unsigned d = f->root_bits, bits, s;
	const struct node *nd;

	if (!(e & ROOT64_NODE)) {
		/* the lone prefix's value if the address has its bits, else the slot's; a select */
		below = (x << d) >> (64 - ROOT64_BITS);
		return ((below ^ (e >> 32)) & (e >> 46) & ROOT64_MASK)
		               ? (uint32_t)(e >> 16) & 0xffffu
		               : (uint32_t)e & 0xffffu;
	}

	/* nodes sit at bits below 32, and one that reaches bit 32 has no children */
	for (nd = &f->nodes[(uint32_t)e & ~CHILD];; d += STRIDE) {
		if (sl_unlikely(SKIP_LEVELS(nd->skip))) {
			bits = SKIP_LEVELS(nd->skip) * STRIDE;
			if ((x << d) >> (64 - bits) != SKIP_PATH(nd->skip))
				return SKIP_VALUE(nd->skip);
			d += bits;
		}
		s = (unsigned)((x << d) >> (64 - STRIDE));
		if (!(nd->vec >> s & 1))
			return leaf_of(f, nd, s);
		nd = child_of(f, nd, s);
	}
}

static ALWAYS_INLINE uint32_t
lookup6(const struct sl_lpm *t, const uint8_t addr[16])
{
	const struct fam *f = &t->f[1];
	unsigned __int128 x;
	const struct node *nd;
	unsigned d, bits, s;
	uint64_t hi, lo;
	uint32_t e;

	memcpy(&hi, addr, 8);
	hi = be64toh(hi);
	d = f->root_bits;
	e = f->root[hi >> (64 - d)];
	if (!(e & CHILD))
		return e;
	memcpy(&lo, addr + 8, 8);
	x = (unsigned __int128)hi << 64 | be64toh(lo);
	/* nodes sit at bits below 128; bits past 128 read as 0 (x << d drops them) */
	for (nd = &f->nodes[e & ~CHILD];; d += STRIDE) {
		if (SKIP_LEVELS(nd->skip)) {
			bits = SKIP_LEVELS(nd->skip) * STRIDE;
			if ((uint64_t)((x << d) >> (128 - bits)) != SKIP_PATH(nd->skip))
				return SKIP_VALUE(nd->skip);
			d += bits;
		}
		s = (unsigned)((x << d) >> (128 - STRIDE));
		if (!(nd->vec >> s & 1))
			return leaf_of(f, nd, s);
		nd = child_of(f, nd, s);
	}
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
	return (f->root ? ((size_t)1 << f->root_bits) * sizeof(*f->root) : 0) +
	       (f->root64 ? ((size_t)1 << f->root_bits) * sizeof(*f->root64) : 0) +
	       f->cap_nodes * sizeof(*f->nodes) + f->cap_leaves * sizeof(*f->leaves);
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
	s->root_bits4 = t->f[0].root_bits;
	s->root_bits6 = t->f[1].root_bits;
}
