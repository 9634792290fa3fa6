/* SPDX-License-Identifier: MIT */
/*
 * Cost of one sl_hist_record against the floor: incrementing a plain counter array indexed by
 * the value (no bucket arithmetic). Both record the same 4096 log-uniformly spread latencies
 * (100 ns .. 13 s, in ns), cycled; "empty" reads the values and records nothing, for the
 * instruction-count baseline. bench/run-toolkit runs it, timed and under callgrind.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/common.h>
#include <sluice/hist.h>

#include "bench_util.h"

#define NVALUES 4096 /* power of two */
#define NCOUNTS 4096 /* floor's counter array */
#define BATCH 64

typedef void (*record_fn)(uint64_t v);

static uint64_t g_values[NVALUES];
static struct sl_hist g_hist;
static uint64_t g_counts[NCOUNTS];

static inline void
hist_record(uint64_t v)
{
	sl_hist_record(&g_hist, v);
}

static inline void
counter_record(uint64_t v)
{
	g_counts[v % NCOUNTS]++;
}

static inline void
empty_record(uint64_t v)
{
	bu_opaque(v);
}

/* <nb> batches of BATCH records, each timed; <out>[i] = ns per record of batch i. */
static BU_ALWAYS_INLINE double
run_timed(record_fn rec, size_t nb, double *out)
{
	uint64_t total = 0;
	size_t k = 0;

	for (size_t b = 0; b < nb; b++) {
		uint64_t t0 = bu_ticks();
		for (unsigned i = 0; i < BATCH; i++)
			rec(g_values[k++ % NVALUES]);
		uint64_t t = bu_ticks() - t0;
		total += t;
		out[b] = bu_ticks_to_ns(t) / BATCH;
	}
	return bu_ticks_to_ns(total) / (double)(nb * BATCH);
}

static BU_ALWAYS_INLINE void
run_plain(record_fn rec, size_t n)
{
	for (size_t k = 0; k < n; k++)
		rec(g_values[k % NVALUES]);
}

struct impl {
	const char *name;
	double (*timed)(size_t nb, double *out);
	void (*plain)(size_t n);
};

#define RECORD_LOOPS(id, REC)                                                                      \
	static BU_NOINLINE double id##_timed(size_t nb, double *out)                               \
	{                                                                                          \
		return run_timed(REC, nb, out);                                                    \
	}                                                                                          \
	static BU_NOINLINE void id##_plain(size_t n)                                               \
	{                                                                                          \
		run_plain(REC, n);                                                                 \
	}

RECORD_LOOPS(hist, hist_record)
RECORD_LOOPS(counter, counter_record)
RECORD_LOOPS(empty, empty_record)

static const struct impl g_impls[] = {
        {"sl_hist", hist_timed, hist_plain},
        {"counter array", counter_timed, counter_plain},
        {"empty", empty_timed, empty_plain},
};

/* Roughly log-uniform values between 100 ns and 13 s: a random power-of-two octave above
 * 100 ns, then a uniform point inside it; fixed-seed xorshift, so every run records the same. */
static void
fill_values(void)
{
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < NVALUES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t lo = 100ull << (x % 27);
		g_values[i] = lo + (x >> 32) % lo;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: hist_bench [--impl NAME] [--reps N] [--ops N] [--callgrind]\n"
	                "impls: sl_hist, counter array, empty\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const struct impl *sel = NULL;
	size_t ops = 4000000;
	unsigned reps = 5;
	bool callgrind = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--callgrind") == 0) {
			callgrind = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--impl") == 0) {
			for (size_t k = 0; k < SL_ARRAY_SIZE(g_impls); k++)
				if (strcmp(g_impls[k].name, v) == 0)
					sel = &g_impls[k];
			if (sel == NULL)
				usage();
		} else if (strcmp(a, "--reps") == 0) {
			reps = (unsigned)strtoul(v, NULL, 10);
		} else if (strcmp(a, "--ops") == 0) {
			ops = strtoul(v, NULL, 10);
		} else {
			usage();
		}
	}
	if (reps == 0 || reps > BU_MAX_REPS || ops < BATCH)
		usage();
	fill_values();
	/* the defaults: 1 ns .. 1 h, 3 significant digits */
	if (sl_hist_init(&g_hist, NULL) != 0) {
		fprintf(stderr, "sl_hist_init failed\n");
		return 1;
	}

	if (callgrind) {
		if (sel == NULL)
			usage();
		sel->plain(ops / 10);
		bu_collect_toggle();
		sel->plain(ops);
		bu_collect_toggle();
		printf("C\thist\trecord\t%s\t%zu\n", sel->name, ops);
		sl_hist_fini(&g_hist);
		return 0;
	}

	bu_calibrate();
	bu_pin(0);
	size_t nb = ops / BATCH;
	double *s = malloc(nb * sizeof(*s));
	if (s == NULL)
		return 1;
	printf("# method: rdtsc around batches of %d records; per-record = batch time / %d; %zu "
	       "records per repetition, %u repetition(s) in this process after one warm-up; "
	       "values: %d log-uniform "
	       "latencies 100 ns .. 13 s, cycled; tsc %.4f ns/tick\n",
	       BATCH, BATCH, nb * BATCH, reps, NVALUES, bu_ns_per_tick);
	for (size_t k = 0; k < SL_ARRAY_SIZE(g_impls); k++) {
		const struct impl *im = &g_impls[k];
		struct bu_series ser = {0};
		if (sel != NULL && sel != im)
			continue;
		im->timed(nb / 10 + 1, s);
		for (unsigned r = 0; r < reps; r++) {
			double mean = im->timed(nb, s);
			bu_series_add(&ser, mean, s, nb);
		}
		bu_series_print("hist", "record", im->name, &ser);
	}
	free(s);
	sl_hist_fini(&g_hist);
	return 0;
}
