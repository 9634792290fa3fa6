/* SPDX-License-Identifier: MIT */
/*
 * sl_hist: a log-linear latency histogram in the style of HdrHistogram. Values are unsigned
 * integers (usually nanoseconds). Buckets double in width every power of two and are split
 * linearly into 2^m sub-buckets, so the recorded value of any sample is known to within a
 * fixed relative error (see sl_hist_init()). Recording is O(1): one clz, two shifts and a few
 * plain increments; no atomics, no branches except the clamp.
 *
 * Storage: init/fini on the caller's storage (the struct is public so sl_hist_record() can be
 * inlined); init allocates the counts array, fini frees it.
 * Thread safety: a histogram belongs to one thread. Every function on it, readers included,
 * runs on that thread, or is ordered after its last recording by other synchronisation
 * (thread join, a hand-off through a ring or mailbox). To aggregate workers, give each worker
 * its own histogram and merge them into another one with sl_hist_merge().
 * See docs/internals/hist.md for the index arithmetic and the error bound.
 */
#ifndef SLUICE_HIST_H
#define SLUICE_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_hist_opts {
	uint64_t lowest;  /* lowest discernible value, >= 1; 0 = 1 */
	uint64_t highest; /* highest trackable value, >= 2 * lowest, <= INT64_MAX; 0 = 3.6e12
	                     (one hour in ns) */
	unsigned sigfigs; /* significant decimal digits kept, 1..5; 0 = 3 */
};

/* Fields are private: read them through the functions below. */
struct sl_hist {
	uint64_t *counts;         /* counts_len entries */
	uint64_t sub_bucket_mask; /* (sub_bucket_count - 1) << unit_magnitude */
	uint64_t highest;         /* values above are recorded as this value */
	unsigned lz_base;         /* 64 - unit_magnitude - sub_bucket_count_magnitude */
	unsigned unit_magnitude;  /* floor(log2(lowest)) */
	unsigned sub_half_mag;    /* log2(sub_bucket_count / 2) = m */
	unsigned sigfigs;         /* as given (after defaults) */
	uint64_t count;           /* samples recorded */
	uint64_t sum;             /* of the values as given; wraps past 2^64 */
	uint64_t min;             /* UINT64_MAX while empty */
	uint64_t max;             /* 0 while empty */
	uint64_t above;           /* samples above <highest>, counted in its bucket */
	uint64_t lowest;          /* as given (after defaults) */
	size_t counts_len;        /* (bucket_count + 1) << sub_half_mag */
	unsigned bucket_count;    /* power-of-two buckets */
};

/* One non-empty bucket, from sl_hist_next_bucket(). */
struct sl_hist_bucket {
	uint64_t lowest;  /* smallest value that maps to this bucket */
	uint64_t highest; /* largest value that maps to this bucket */
	uint64_t count;   /* samples in it */
};

/*
 * Initialises <h> on the caller's storage for values in [<o>->lowest, <o>->highest] with
 * <o>->sigfigs significant digits; <o> may be NULL for the defaults (1 ns .. 1 h, 3 digits).
 * The sub-bucket count is the smallest power of two 2^(m+1) >= 2 * 10^sigfigs, and the value
 * reported for a sample v exceeds v by less than max(v / 2^m, 2^floor(log2(lowest))). For
 * 3 digits, m = 10: relative error < 1/1024 < 10^-3.
 * Returns 0, -EINVAL (bad options, or lowest too coarse for the digits asked) or -ENOMEM.
 * Release with sl_hist_fini(). Any thread; allocates (calloc), never blocks otherwise.
 */
SL_API int sl_hist_init(struct sl_hist *h, const struct sl_hist_opts *o);

/* Frees the counts of <h>; <h> may then be initialised again. Owning thread. */
SL_API void sl_hist_fini(struct sl_hist *h);

/* Internal: index into h->counts of value <v> (v <= h->highest). */
static inline size_t
sl__hist_index(const struct sl_hist *h, uint64_t v)
{
	/* the mask keeps clz defined for v == 0 and puts every v < sub_bucket_count << unit
	 * magnitude into bucket 0 */
	unsigned bucket = h->lz_base - (unsigned)__builtin_clzll(v | h->sub_bucket_mask);
	uint64_t sub = v >> (bucket + h->unit_magnitude);

	/* bucket 0 uses all its sub-buckets; the others only their upper half */
	return ((size_t)bucket << h->sub_half_mag) + (size_t)sub;
}

/*
 * Records <n> samples of value <v>. Values above the highest trackable value are counted in
 * its bucket (and by sl_hist_count_above()); values below the lowest discernible value go to
 * the first bucket. min, max and the sum use <v> as given. Owning thread only; never fails.
 */
static inline void
sl_hist_record_n(struct sl_hist *h, uint64_t v, uint64_t n)
{
	uint64_t c = v;

	if (sl_unlikely(c > h->highest)) {
		c = h->highest;
		h->above += n;
	}
	h->counts[sl__hist_index(h, c)] += n;
	h->count += n;
	h->sum += v * n;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
}

/* Records one sample of value <v>; see sl_hist_record_n(). Owning thread only. */
static inline void
sl_hist_record(struct sl_hist *h, uint64_t v)
{
	sl_hist_record_n(h, v, 1);
}

/* Forgets every sample; keeps the parameters and the memory. Owning thread. */
SL_API void sl_hist_reset(struct sl_hist *h);

/*
 * Adds every sample of <src> to <dst>. Both must have the same lowest, highest and sigfigs:
 * -EINVAL otherwise (and <dst> is unchanged). Returns 0. Runs on <dst>'s owning thread; <src>
 * must not be recorded into concurrently (see the thread-safety note above).
 */
SL_API int sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src);

/*
 * Removes from <dst> the samples of <src>, an earlier copy of the same histogram (every count
 * of <src> at most <dst>'s): what was recorded between the two, as for a rate over a window.
 * min and max become the bounds of the lowest and highest non-empty bucket left. Same options
 * as for sl_hist_merge() (-EINVAL otherwise, <dst> unchanged); -ERANGE if a count of <src>
 * exceeds <dst>'s (<dst> is then empty). Returns 0. <dst>'s owning thread.
 */
SL_API int sl_hist_subtract(struct sl_hist *dst, const struct sl_hist *src);

/* Number of samples recorded. */
SL_API uint64_t sl_hist_count(const struct sl_hist *h);
/* Number of samples whose value was above the highest trackable value (clamped). */
SL_API uint64_t sl_hist_count_above(const struct sl_hist *h);
/* Smallest / largest value recorded, exact; 0 when empty. */
SL_API uint64_t sl_hist_min(const struct sl_hist *h);
SL_API uint64_t sl_hist_max(const struct sl_hist *h);
/* Exact mean of the values recorded (while their sum fits in 64 bits); 0 when empty. */
SL_API double sl_hist_mean(const struct sl_hist *h);

/*
 * Value at percentile <p> (0..100), nearest-rank: with N samples and k = ceil(p / 100 * N)
 * (at least 1), the highest value equivalent to the k-th smallest sample, limited to
 * [min, max]. When that sample is <= highest, the result is never below it and above it by
 * less than the bound stated at sl_hist_init(). p <= 0 gives min, p >= 100 gives max; 0 when
 * empty.
 */
SL_API uint64_t sl_hist_percentile(const struct sl_hist *h, double p);

/* Smallest / largest value that maps to the same bucket as <v> (v clamped to highest). */
SL_API uint64_t sl_hist_lowest_equivalent(const struct sl_hist *h, uint64_t v);
SL_API uint64_t sl_hist_highest_equivalent(const struct sl_hist *h, uint64_t v);

/*
 * Cumulative count for a boundary (for Prometheus-style "le" buckets): the number of samples
 * whose bucket lies at or below the bucket of <v>. Exact for v >= max and whenever
 * v == sl_hist_highest_equivalent(h, v); otherwise it may include samples up to that value.
 * Clamped samples count as the highest trackable value. O(number of buckets).
 */
SL_API uint64_t sl_hist_count_at_or_below(const struct sl_hist *h, uint64_t v);

/*
 * Iterates over the non-empty buckets in ascending order. Set <*cursor> to 0 before the first
 * call. Returns true and fills <*b>, or false when there are no more buckets.
 */
SL_API bool sl_hist_next_bucket(const struct sl_hist *h, size_t *cursor, struct sl_hist_bucket *b);

#endif /* SLUICE_HIST_H */
