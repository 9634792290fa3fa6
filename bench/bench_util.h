/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the toolkit benchmarks (bench/<name>_bench.c): a cycle clock calibrated against
 * CLOCK_MONOTONIC_RAW, CPU pinning, the one waiting policy every queue gets, sample arrays with
 * percentiles, and the result line format bench/run-toolkit turns into markdown tables.
 * Header-only (static functions), so each benchmark stays one .c file.
 */
#ifndef SLUICE_BENCH_UTIL_H
#define SLUICE_BENCH_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
/* Cycle counter; the fences keep the measured code from leaking across the read. */
static inline uint64_t
bu_ticks(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return t;
}
static inline void
bu_pause(void)
{
	_mm_pause();
}
#else
static inline uint64_t
bu_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline void
bu_pause(void)
{
	__asm__ volatile("" ::: "memory");
}
#endif

/* bu_collect_toggle(): starts or stops callgrind's event collection (see --collect-atstart=no);
 * a no-op outside valgrind or without valgrind's headers. */
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define bu_collect_toggle() CALLGRIND_TOGGLE_COLLECT
#else
#define bu_collect_toggle() ((void)0)
#endif

#define BU_ALWAYS_INLINE inline __attribute__((always_inline))
#define BU_NOINLINE __attribute__((noinline))

/* Makes <p> opaque to the optimiser: it can no longer prove what the pointer is or that the
 * memory behind it is unused. */
#define bu_opaque(p) __asm__ volatile("" : "+r"(p)::"memory")

static double bu_ns_per_tick = 1.0;

static inline uint64_t
bu_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Measures ticks per nanosecond over about 50 ms. Call once before any bu_ticks_to_ns(). */
static inline void
bu_calibrate(void)
{
	uint64_t n0, n1, t0, t1;

	n0 = bu_mono_ns();
	t0 = bu_ticks();
	do {
		n1 = bu_mono_ns();
	} while (n1 - n0 < 50000000u);
	t1 = bu_ticks();
	bu_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
}

static inline double
bu_ticks_to_ns(uint64_t ticks)
{
	return (double)ticks * bu_ns_per_tick;
}

/* Pins the calling thread to <cpu> if that CPU exists; failures are ignored (the table says
 * which CPUs were meant). */
static inline void
bu_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % CPU_SETSIZE, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * The waiting policy used by every producer and consumer of every queue, when the queue is full
 * or empty: BU_SPIN_LIMIT attempts with a pause instruction, then sched_yield() before each
 * further attempt. Reset <*spins> to 0 after a successful operation.
 */
#define BU_SPIN_LIMIT 256
static inline void
bu_wait(unsigned *spins)
{
	if (*spins < BU_SPIN_LIMIT) {
		(*spins)++;
		bu_pause();
	} else {
		sched_yield();
	}
}

static inline int
bu_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts <v> and returns the <q>-quantile (0..1), nearest rank. <n> > 0. */
static inline double
bu_quantile_sorted(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);

	if (i >= n)
		i = n - 1;
	return v[i];
}

static inline void
bu_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bu_cmp_double);
}

/* One repeated measurement: the mean of each repetition, and per-op percentiles of each. */
#define BU_MAX_REPS 16
struct bu_series {
	unsigned n;
	double mean[BU_MAX_REPS];
	double p50[BU_MAX_REPS];
	double p99[BU_MAX_REPS];
	double p999[BU_MAX_REPS];
};

/* Adds one repetition: <mean> ns per op, and the per-op samples <v> (sorted in place). */
static inline void
bu_series_add(struct bu_series *s, double mean, double *v, size_t n)
{
	if (s->n >= BU_MAX_REPS)
		return;
	s->mean[s->n] = mean;
	if (n > 0) {
		bu_sort(v, n);
		s->p50[s->n] = bu_quantile_sorted(v, n, 0.50);
		s->p99[s->n] = bu_quantile_sorted(v, n, 0.99);
		s->p999[s->n] = bu_quantile_sorted(v, n, 0.999);
	} else {
		s->p50[s->n] = s->p99[s->n] = s->p999[s->n] = -1;
	}
	s->n++;
}

static inline double
bu_median(const double *in, unsigned n)
{
	double v[BU_MAX_REPS];

	memcpy(v, in, n * sizeof(*v));
	bu_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double
bu_min(const double *v, unsigned n)
{
	double m = v[0];

	for (unsigned i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static inline double
bu_max(const double *v, unsigned n)
{
	double m = v[0];

	for (unsigned i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/*
 * Prints one result line for bench/run-toolkit, tab separated:
 * R <bench> <case> <impl> <mean: median min max> <p50: median min max> <p99> <p99.9> <reps>
 * Means are ns per op (total time / ops, so they include any preemption); the percentiles are
 * over the per-batch figures of each repetition, then the median (and for p50 the min and max)
 * over repetitions; -1 when not measured.
 */
static inline void
bu_series_print(const char *bench, const char *kase, const char *impl, const struct bu_series *s)
{
	if (s->n == 0)
		return;
	printf("R\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%u\n", bench, kase,
	       impl, bu_median(s->mean, s->n), bu_min(s->mean, s->n), bu_max(s->mean, s->n),
	       bu_median(s->p50, s->n), bu_min(s->p50, s->n), bu_max(s->p50, s->n),
	       bu_median(s->p99, s->n), bu_median(s->p999, s->n), s->n);
	fflush(stdout);
}

#endif /* SLUICE_BENCH_UTIL_H */
