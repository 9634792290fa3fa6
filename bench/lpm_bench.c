// SPDX-License-Identifier: MIT
/*
 * sl_lpm lookups and memory against DPDK's rte_lpm (IPv4) and rte_lpm6 (IPv6), in one run, at
 * several table sizes. Prefixes are random with BGP-like length mixes (below); lookups are
 * timed over random addresses and over addresses drawn inside the prefixes. Both tables get the
 * same prefixes and values, and every answer is cross-checked. Built with the DPDK anchors when
 * bench/lpm_bench.cmake finds libdpdk (SL_BENCH_DPDK); without them only sl_lpm rows appear.
 * bench/run-toolkit runs it pinned to one CPU (LPM_CPU) and appends its table.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/cidr.h>
#include <sluice/lpm.h>

#include "bench_util.h"

#ifdef SL_BENCH_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_malloc.h>
#endif

struct len_weight {
	unsigned len, weight;
};

/* IPv4: roughly the length mix of a global BGP table (most prefixes /24, /19 to /23 next),
 * plus 2% longer than /24, which access lists have (single hosts) and routing tables lack. */
static const struct len_weight mix4[] = {
        {8, 1},   {9, 1},   {10, 1},  {11, 1},  {12, 1},  {13, 1},   {14, 1},   {15, 1},   {16, 14},
        {17, 10}, {18, 15}, {19, 30}, {20, 45}, {21, 50}, {22, 120}, {23, 100}, {24, 588}, {25, 3},
        {26, 3},  {27, 2},  {28, 2},  {29, 2},  {30, 2},  {31, 2},   {32, 4},
};

/* IPv6: roughly a global BGP table's mix (/48 most, then /32, /44, /40 ...), plus /56, /64 and
 * /128 entries as access lists have them; addresses inside 2000::/3. */
static const struct len_weight mix6[] = {
        {20, 2},  {24, 3},  {28, 10}, {29, 40}, {30, 10},  {31, 10}, {32, 80}, {33, 10},  {34, 10},
        {35, 10}, {36, 30}, {37, 10}, {38, 10}, {39, 10},  {40, 50}, {41, 10}, {42, 20},  {43, 10},
        {44, 70}, {45, 10}, {46, 20}, {47, 20}, {48, 450}, {56, 30}, {64, 40}, {128, 20},
};

struct pfx {
	uint8_t a[16];
	uint8_t len;
	uint32_t value;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static unsigned
pick_len(const struct len_weight *mix, size_t n)
{
	unsigned total = 0, r;
	size_t i;

	for (i = 0; i < n; i++)
		total += mix[i].weight;
	r = (unsigned)(rnd() % total);
	for (i = 0; r >= mix[i].weight; i++)
		r -= mix[i].weight;
	return mix[i].len;
}

static void
mask(uint8_t *a, unsigned nbytes, unsigned len)
{
	unsigned i;

	for (i = len; i < nbytes * 8; i++)
		a[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

static int
cmp_pfx(const void *pa, const void *pb)
{
	const struct pfx *a = pa, *b = pb;
	int d = memcmp(a->a, b->a, sizeof(a->a));

	return d ? d : (int)a->len - (int)b->len;
}

/* <n> distinct random prefixes of family <v6 ? 6 : 4>, values i mod SL_LPM_NONE */
static struct pfx *
make_prefixes(size_t n, bool v6)
{
	struct pfx *p = calloc(n, sizeof(*p));
	size_t have = 0, i, j;
	unsigned k;

	if (!p)
		abort();
	while (have < n) {
		for (i = have; i < n; i++) {
			memset(p[i].a, 0, sizeof(p[i].a));
			for (k = 0; k < (v6 ? 16u : 4u); k++)
				p[i].a[k] = (uint8_t)rnd();
			if (v6)
				p[i].a[0] = (uint8_t)(0x20 | (p[i].a[0] & 0x1f));
			p[i].len = (uint8_t)(v6 ? pick_len(mix6, SL_ARRAY_SIZE(mix6))
			                        : pick_len(mix4, SL_ARRAY_SIZE(mix4)));
			mask(p[i].a, v6 ? 16 : 4, p[i].len);
		}
		qsort(p, n, sizeof(*p), cmp_pfx);
		for (i = j = 0; i < n; i++)
			if (j == 0 || cmp_pfx(&p[j - 1], &p[i]))
				p[j++] = p[i];
		have = j;
	}
	for (i = n; i-- > 1;) { /* shuffle, so insertion order is not sorted order */
		struct pfx t;

		j = (size_t)(rnd() % (i + 1));
		t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	for (i = 0; i < n; i++)
		p[i].value = (uint32_t)(i % SL_LPM_NONE);
	return p;
}

static uint32_t
a4(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

/* <m> query addresses (16 bytes each): uniformly random (in 2000::/3 for IPv6), or inside a
 * random prefix with random host bits when <hit> */
static uint8_t *
make_queries(const struct pfx *p, size_t n, size_t m, bool v6, bool hit)
{
	uint8_t *q = malloc(m * 16);
	unsigned nb = v6 ? 16 : 4, k;
	size_t i;

	if (!q)
		abort();
	for (i = 0; i < m; i++) {
		uint8_t *a = q + i * 16, r[16];
		const struct pfx *x = &p[rnd() % n];

		memset(a, 0, 16);
		for (k = 0; k < nb; k++)
			r[k] = (uint8_t)rnd();
		if (!hit) {
			memcpy(a, r, nb);
			if (v6)
				a[0] = (uint8_t)(0x20 | (a[0] & 0x1f));
			continue;
		}
		for (k = 0; k < nb * 8; k++) {
			uint8_t bit = (uint8_t)(0x80u >> (k % 8));
			uint8_t src = k < x->len ? x->a[k / 8] : r[k / 8];

			a[k / 8] |= src & bit;
		}
	}
	return q;
}

/* ---- the implementations: build, look up m addresses, answer one address ---- */

struct impl {
	const char *name;
	void *t;
	size_t bytes;
};

static struct sl_lpm *
sl_build(const struct pfx *p, size_t n, bool v6, size_t *bytes)
{
	struct sl_lpm_builder *b;
	struct sl_lpm_stats st;
	struct sl_lpm *t;
	struct sl_cidr c;
	size_t i;

	if (sl_lpm_builder_create(&b))
		abort();
	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		c.family = v6 ? AF_INET6 : AF_INET;
		c.len = p[i].len;
		memcpy(c.addr, p[i].a, 16);
		if (sl_lpm_builder_add(b, &c, p[i].value))
			abort();
	}
	if (sl_lpm_build(&t, b))
		abort();
	sl_lpm_builder_destroy(b);
	sl_lpm_stats(t, &st);
	/* this family's arrays; the table's other 2^16-entry first level (256 KiB, empty here)
	 * and its header are left out, as a table of one family would not need them */
	*bytes = v6 ? st.bytes6 : st.bytes4;
	return t;
}

static BU_NOINLINE uint64_t
sl_run4(const struct sl_lpm *t, const uint8_t *q, size_t m)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < m; i++)
		sum += sl_lpm_lookup4(t, a4(q + i * 16));
	return sum;
}

static BU_NOINLINE uint64_t
sl_run6(const struct sl_lpm *t, const uint8_t *q, size_t m)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < m; i++)
		sum += sl_lpm_lookup6(t, q + i * 16);
	return sum;
}

#ifdef SL_BENCH_DPDK
static int dpdk_up;

static size_t
heap_used(void)
{
	struct rte_malloc_socket_stats s;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &s) < 0)
		return 0;
	return s.heap_allocsz_bytes;
}

/* distinct groups of the first <d> bits for each d in {24, 32, ...} below a prefix's length:
 * the tbl8 groups rte_lpm (d = 24 only) and rte_lpm6 (every d) need; sized exactly, so the
 * anchors hold no spare groups in their memory figure */
static uint32_t
tbl8_groups(const struct pfx *p, size_t n, bool v6)
{
	struct pfx *k = malloc(n * (v6 ? 13 : 1) * sizeof(*k));
	size_t m = 0, i, u = 0;
	unsigned d;

	if (!k)
		abort();
	for (i = 0; i < n; i++)
		for (d = 24; d < p[i].len && (v6 || d == 24); d += 8) {
			memcpy(k[m].a, p[i].a, 16);
			mask(k[m].a, 16, d);
			k[m++].len = (uint8_t)d;
		}
	qsort(k, m, sizeof(*k), cmp_pfx);
	for (i = 0; i < m; i++)
		if (i == 0 || cmp_pfx(&k[i - 1], &k[i]))
			u++;
	free(k);
	return (uint32_t)u;
}

static void *
dpdk_build(const struct pfx *p, size_t n, bool v6, size_t *bytes)
{
	static unsigned seq;
	char name[32];
	size_t before = heap_used(), i;
	void *t;

	snprintf(name, sizeof(name), "lpm%u", seq++);
	if (!v6) {
		struct rte_lpm_config cfg = {.max_rules = (uint32_t)n,
		                             .number_tbl8s = tbl8_groups(p, n, false) + 1};
		struct rte_lpm *l = rte_lpm_create(name, (int)rte_socket_id(), &cfg);

		if (!l) {
			fprintf(stderr, "rte_lpm_create: %s\n", rte_strerror(rte_errno));
			exit(1);
		}
		for (i = 0; i < n; i++)
			if (rte_lpm_add(l, a4(p[i].a), p[i].len, p[i].value) < 0) {
				fprintf(stderr, "rte_lpm_add failed at prefix %zu\n", i);
				exit(1);
			}
		t = l;
	} else {
		struct rte_lpm6_config cfg = {.max_rules = (uint32_t)n,
		                              .number_tbl8s = tbl8_groups(p, n, true) + 1};
		struct rte_lpm6 *l = rte_lpm6_create(name, (int)rte_socket_id(), &cfg);

		if (!l) {
			fprintf(stderr, "rte_lpm6_create: %s\n", rte_strerror(rte_errno));
			exit(1);
		}
		for (i = 0; i < n; i++)
			if (rte_lpm6_add(l, p[i].a, p[i].len, p[i].value) < 0) {
				fprintf(stderr, "rte_lpm6_add failed at prefix %zu\n", i);
				exit(1);
			}
		t = l;
	}
	*bytes = heap_used() - before;
	return t;
}

static void
dpdk_free(void *t, bool v6)
{
	if (v6)
		rte_lpm6_free(t);
	else
		rte_lpm_free(t);
}

static BU_NOINLINE uint64_t
dpdk_run4(const struct rte_lpm *t, const uint8_t *q, size_t m)
{
	uint64_t sum = 0;
	uint32_t v;
	size_t i;

	for (i = 0; i < m; i++)
		sum += rte_lpm_lookup(t, a4(q + i * 16), &v) == 0 ? v : SL_LPM_NONE;
	return sum;
}

static BU_NOINLINE uint64_t
dpdk_run6(const struct rte_lpm6 *t, const uint8_t *q, size_t m)
{
	uint64_t sum = 0;
	uint32_t v;
	size_t i;

	for (i = 0; i < m; i++)
		sum += rte_lpm6_lookup(t, q + i * 16, &v) == 0 ? v : SL_LPM_NONE;
	return sum;
}

static uint32_t
dpdk_one(const void *t, bool v6, const uint8_t *a)
{
	uint32_t v;
	int r = v6 ? rte_lpm6_lookup(t, a, &v) : rte_lpm_lookup(t, a4(a), &v);

	return r == 0 ? v : SL_LPM_NONE;
}

static uint64_t
dpdk_run(const void *t, bool v6, const uint8_t *q, size_t m)
{
	return v6 ? dpdk_run6(t, q, m) : dpdk_run4(t, q, m);
}

static void
dpdk_start(int cpu, unsigned mem_mb)
{
	char lcores[16], mem[16];
	char *argv[] = {
	        "lpm_bench", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
	        "-l",        lcores,      "-m",       mem,           "--log-level=lib.eal:error",
	        NULL};

	snprintf(lcores, sizeof(lcores), "%d", cpu < 0 ? 0 : cpu);
	snprintf(mem, sizeof(mem), "%u", mem_mb);
	if (rte_eal_init((int)SL_ARRAY_SIZE(argv) - 1, argv) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s; only sl_lpm is measured\n",
		        rte_strerror(rte_errno));
		return;
	}
	dpdk_up = 1;
}

static void
dpdk_stop(void)
{
	if (dpdk_up)
		rte_eal_cleanup();
}
#else
static const int dpdk_up = 0;

static void *
dpdk_build(const struct pfx *p, size_t n, bool v6, size_t *bytes)
{
	(void)p, (void)n, (void)v6, (void)bytes;
	return NULL;
}
static void
dpdk_free(void *t, bool v6)
{
	(void)t, (void)v6;
}
static uint32_t
dpdk_one(const void *t, bool v6, const uint8_t *a)
{
	(void)t, (void)v6, (void)a;
	return SL_LPM_NONE;
}
static uint64_t
dpdk_run(const void *t, bool v6, const uint8_t *q, size_t m)
{
	(void)t, (void)v6, (void)q, (void)m;
	return 0;
}
static void
dpdk_start(int cpu, unsigned mem_mb)
{
	(void)cpu, (void)mem_mb;
	fprintf(stderr, "built without DPDK: only sl_lpm is measured\n");
}
static void
dpdk_stop(void)
{
}
#endif

static uint32_t
sl_one(const void *t, bool v6, const uint8_t *a)
{
	return v6 ? sl_lpm_lookup6(t, a) : sl_lpm_lookup4(t, a4(a));
}

static uint64_t
sl_run(const void *t, bool v6, const uint8_t *q, size_t m)
{
	return v6 ? sl_run6(t, q, m) : sl_run4(t, q, m);
}

/* ns per lookup of one pass over the m queries */
static double
timed(uint64_t (*run)(const void *, bool, const uint8_t *, size_t), const void *t, bool v6,
      const uint8_t *q, size_t m, uint64_t *sink)
{
	uint64_t t0, t1;

	t0 = bu_ticks();
	*sink += run(t, v6, q, m);
	t1 = bu_ticks();
	return bu_ticks_to_ns(t1 - t0) / (double)m;
}

static void
usage(void)
{
	fprintf(stderr, "usage: lpm_bench [--sizes N,N,...] [--lookups M] [--reps R] [--cpu C]"
	                " [--mem-mb MB] [--seed S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = {10, 10000, 100000}, nsizes = 3, m = 1u << 20;
	unsigned reps = 5, mem_mb = 2048, r, si, fam, hit;
	int cpu = 0, i;
	uint64_t sink = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *s = argv[++i], *end;

			for (nsizes = 0; *s && nsizes < SL_ARRAY_SIZE(sizes);
			     s = *end ? end + 1 : end) {
				sizes[nsizes++] = strtoul(s, &end, 10);
				if (end == s)
					usage();
			}
		} else if (!strcmp(argv[i], "--lookups") && i + 1 < argc) {
			m = strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			cpu = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--mem-mb") && i + 1 < argc) {
			mem_mb = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			rng = strtoull(argv[++i], NULL, 0) | 1;
		} else {
			usage();
		}
	}
	if (reps == 0 || reps > BU_MAX_REPS || m == 0)
		usage();
	dpdk_start(cpu, mem_mb);
	bu_pin(cpu);
	bu_calibrate();
	printf("# lpm_bench: %u reps of %zu lookups per row, one thread on CPU %d; ns per lookup "
	       "is "
	       "the pass time over independent lookups (throughput, not latency); memory: sl_lpm's "
	       "arrays for the family, DPDK's rte_malloc heap growth over create + adds (tbl8 "
	       "groups sized to exactly what the prefixes need)\n",
	       reps, m, cpu);
	printf("| family | prefixes | addresses | impl | ns/lookup median (min-max) | memory bytes "
	       "| "
	       "sl_lpm time / this | sl_lpm memory / this | answers differing from sl_lpm |\n"
	       "|---|---|---|---|---|---|---|---|---|\n");
	for (fam = 0; fam < 2; fam++) {
		bool v6 = fam == 1;

		for (si = 0; si < nsizes; si++) {
			size_t n = sizes[si], bytes[2] = {0, 0};
			struct pfx *p = make_prefixes(n, v6);
			void *t[2];

			t[0] = sl_build(p, n, v6, &bytes[0]);
			t[1] = dpdk_up ? dpdk_build(p, n, v6, &bytes[1]) : NULL;
			for (hit = 0; hit < 2; hit++) {
				uint8_t *q = make_queries(p, n, m, v6, hit);
				double ns[2][BU_MAX_REPS];
				size_t diff = 0, k;
				unsigned im, nim = t[1] ? 2 : 1;

				for (k = 0; t[1] && k < m; k++)
					diff += sl_one(t[0], v6, q + k * 16) !=
					        dpdk_one(t[1], v6, q + k * 16);
				/* one untimed pass each, then alternate so drifts hit both */
				for (im = 0; im < nim; im++)
					sink += (im ? dpdk_run : sl_run)(t[im], v6, q, m);
				for (r = 0; r < reps; r++)
					for (im = 0; im < nim; im++)
						ns[im][r] = timed(im ? dpdk_run : sl_run, t[im], v6,
						                  q, m, &sink);
				for (im = 0; im < nim; im++) {
					char rt[32] = "-", rm[32] = "-";

					if (im) {
						snprintf(rt, sizeof(rt), "%.2fx",
						         bu_median(ns[0], reps) /
						                 bu_median(ns[1], reps));
						snprintf(rm, sizeof(rm), "%.3gx",
						         (double)bytes[0] / (double)bytes[1]);
					}
					printf("| IPv%d | %zu | %s | %s | %.2f (%.2f-%.2f) | %zu | "
					       "%s | %s | "
					       "%s |\n",
					       v6 ? 6 : 4, n, hit ? "in prefixes" : "random",
					       im ? (v6 ? "rte_lpm6" : "rte_lpm") : "sl_lpm",
					       bu_median(ns[im], reps), bu_min(ns[im], reps),
					       bu_max(ns[im], reps), bytes[im], rt, rm,
					       im ? (diff ? "MISMATCH" : "0") : "-");
				}
				if (diff)
					printf("# IPv%d %zu prefixes: %zu of %zu answers differ\n",
					       v6 ? 6 : 4, n, diff, m);
				fflush(stdout);
				free(q);
			}
			sl_lpm_destroy(t[0]);
			if (t[1])
				dpdk_free(t[1], v6);
			free(p);
		}
	}
	printf("# checksum %llu\n", (unsigned long long)sink);
	dpdk_stop();
	return 0;
}
