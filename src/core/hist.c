/* SPDX-License-Identifier: MIT */
/*
 * sl_hist: setup, queries and merge of the log-linear histogram. Recording is inline in
 * include/sluice/hist.h. Bucket b >= 1 holds values in [2^(m+b+u), 2^(m+1+b+u)) split into
 * 2^m sub-buckets of width 2^(b+u); bucket 0 holds [0, 2^(m+1+u)) in 2^(m+1) sub-buckets of
 * width 2^u (u = unit magnitude). No shared state: a histogram has one owning thread.
 * Read docs/internals/hist.md next.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/hist.h>

#define SL_HIST_DEFAULT_HIGHEST UINT64_C(3600000000000) /* one hour in ns */
#define SL_HIST_DEFAULT_SIGFIGS 3
#define SL_HIST_MAX_SIGFIGS 5

int
sl_hist_init(struct sl_hist *h, const struct sl_hist_opts *o)
{
	uint64_t lowest = o && o->lowest ? o->lowest : 1;
	uint64_t highest = o && o->highest ? o->highest : SL_HIST_DEFAULT_HIGHEST;
	unsigned sigfigs = o && o->sigfigs ? o->sigfigs : SL_HIST_DEFAULT_SIGFIGS;
	uint64_t single_unit, untrackable;
	unsigned sub_count_mag, unit_mag, buckets, i;

	memset(h, 0, sizeof(*h));
	if (sigfigs > SL_HIST_MAX_SIGFIGS || highest > (uint64_t)INT64_MAX || highest / 2 < lowest)
		return -EINVAL;
	/* values up to 2 * 10^sigfigs must be kept at unit resolution */
	single_unit = 2;
	for (i = 0; i < sigfigs; i++)
		single_unit *= 10;
	sub_count_mag = 64 - (unsigned)__builtin_clzll(single_unit - 1); /* ceil(log2) */
	unit_mag = 63 - (unsigned)__builtin_clzll(lowest);               /* floor(log2) */
	if (unit_mag + sub_count_mag > 62)
		return -EINVAL;

	/* highest <= INT64_MAX, so the loop stops at 2^63 at the latest, without overflow */
	untrackable = UINT64_C(1) << (unit_mag + sub_count_mag);
	buckets = 1;
	while (untrackable <= highest) {
		untrackable <<= 1;
		buckets++;
	}

	h->unit_magnitude = unit_mag;
	h->sub_half_mag = sub_count_mag - 1;
	h->lz_base = 64 - unit_mag - sub_count_mag;
	h->sub_bucket_mask = ((UINT64_C(1) << sub_count_mag) - 1) << unit_mag;
	h->highest = highest;
	h->lowest = lowest;
	h->sigfigs = sigfigs;
	h->bucket_count = buckets;
	h->counts_len = (size_t)(buckets + 1) << h->sub_half_mag;
	h->min = UINT64_MAX;
	h->counts = calloc(h->counts_len, sizeof(*h->counts));
	if (!h->counts)
		return -ENOMEM;
	SL_ASSERT(sl__hist_index(h, highest) < h->counts_len);
	return 0;
}

void
sl_hist_fini(struct sl_hist *h)
{
	free(h->counts);
	h->counts = NULL;
	h->counts_len = 0;
}

void
sl_hist_reset(struct sl_hist *h)
{
	memset(h->counts, 0, h->counts_len * sizeof(*h->counts));
	h->count = 0;
	h->sum = 0;
	h->above = 0;
	h->max = 0;
	h->min = UINT64_MAX;
}

int
sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src)
{
	size_t i;

	/* equal parameters imply the same layout of counts */
	if (dst->lowest != src->lowest || dst->highest != src->highest ||
	    dst->sigfigs != src->sigfigs)
		return -EINVAL;
	SL_ASSERT(dst->counts_len == src->counts_len);
	for (i = 0; i < src->counts_len; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum += src->sum;
	dst->above += src->above;
	dst->min = src->min < dst->min ? src->min : dst->min;
	dst->max = src->max > dst->max ? src->max : dst->max;
	return 0;
}

static uint64_t hist_value_at_index(const struct sl_hist *h, size_t i);

int
sl_hist_subtract(struct sl_hist *dst, const struct sl_hist *src)
{
	size_t i, first = SIZE_MAX, last = 0;

	if (dst->lowest != src->lowest || dst->highest != src->highest ||
	    dst->sigfigs != src->sigfigs)
		return -EINVAL;
	SL_ASSERT(dst->counts_len == src->counts_len);
	for (i = 0; i < src->counts_len; i++) {
		if (src->counts[i] > dst->counts[i]) {
			sl_hist_reset(dst);
			return -ERANGE;
		}
		dst->counts[i] -= src->counts[i];
		if (dst->counts[i] != 0) {
			first = first == SIZE_MAX ? i : first;
			last = i;
		}
	}
	dst->count -= src->count;
	dst->sum -= src->sum;
	dst->above -= src->above;
	if (first == SIZE_MAX) {
		dst->min = UINT64_MAX;
		dst->max = 0;
		return 0;
	}
	dst->min = hist_value_at_index(dst, first);
	dst->max = sl_hist_highest_equivalent(dst, hist_value_at_index(dst, last));
	dst->max = dst->max > dst->highest ? dst->highest : dst->max;
	return 0;
}

uint64_t
sl_hist_count(const struct sl_hist *h)
{
	return h->count;
}

uint64_t
sl_hist_count_above(const struct sl_hist *h)
{
	return h->above;
}

uint64_t
sl_hist_min(const struct sl_hist *h)
{
	return h->count ? h->min : 0;
}

uint64_t
sl_hist_max(const struct sl_hist *h)
{
	return h->max;
}

double
sl_hist_mean(const struct sl_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* Width exponent of the bucket holding <v> (v <= highest): sub-buckets are 2^shift wide. */
static unsigned
hist_shift(const struct sl_hist *h, uint64_t v)
{
	return h->lz_base - (unsigned)__builtin_clzll(v | h->sub_bucket_mask) + h->unit_magnitude;
}

uint64_t
sl_hist_lowest_equivalent(const struct sl_hist *h, uint64_t v)
{
	unsigned shift;

	v = v > h->highest ? h->highest : v;
	shift = hist_shift(h, v);
	return (v >> shift) << shift;
}

uint64_t
sl_hist_highest_equivalent(const struct sl_hist *h, uint64_t v)
{
	unsigned shift;

	v = v > h->highest ? h->highest : v;
	shift = hist_shift(h, v);
	return ((v >> shift) << shift) + ((UINT64_C(1) << shift) - 1);
}

/* Smallest value that maps to counts[<i>]; the inverse of sl__hist_index(). */
static uint64_t
hist_value_at_index(const struct sl_hist *h, size_t i)
{
	size_t half = (size_t)1 << h->sub_half_mag;
	size_t bucket = i >> h->sub_half_mag;
	uint64_t sub = i & (half - 1);

	/* index = (bucket << m) + sub with sub in [half, 2 * half) for bucket >= 1, and
	 * [0, 2 * half) for bucket 0 */
	if (bucket == 0)
		return sub << h->unit_magnitude;
	bucket--;
	return (sub + half) << (bucket + h->unit_magnitude);
}

uint64_t
sl_hist_percentile(const struct sl_hist *h, double p)
{
	uint64_t rank, cum = 0, v;
	double x;
	size_t i;

	if (!h->count)
		return 0;
	if (!(p > 0.0)) /* also NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* nearest rank: k = ceil(p / 100 * count), within [1, count] */
	x = p / 100.0 * (double)h->count;
	rank = (uint64_t)x;
	rank += (double)rank < x;
	rank = rank < 1 ? 1 : rank;
	rank = rank > h->count ? h->count : rank;
	for (i = 0; i < h->counts_len; i++) {
		cum += h->counts[i];
		if (cum >= rank) {
			v = sl_hist_highest_equivalent(h, hist_value_at_index(h, i));
			v = v > h->max ? h->max : v;
			return v < h->min ? h->min : v;
		}
	}
	SL_ASSERT(!"counts sum to less than count");
	return h->max;
}

uint64_t
sl_hist_count_at_or_below(const struct sl_hist *h, uint64_t v)
{
	uint64_t cum = 0;
	size_t i, last;

	if (v >= h->max)
		return h->count;
	last = sl__hist_index(h, v > h->highest ? h->highest : v);
	for (i = 0; i <= last; i++)
		cum += h->counts[i];
	return cum;
}

bool
sl_hist_next_bucket(const struct sl_hist *h, size_t *cursor, struct sl_hist_bucket *b)
{
	size_t i;

	for (i = *cursor; i < h->counts_len; i++) {
		if (h->counts[i]) {
			b->lowest = hist_value_at_index(h, i);
			b->highest = sl_hist_highest_equivalent(h, b->lowest);
			b->count = h->counts[i];
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = h->counts_len;
	return false;
}
