/* SPDX-License-Identifier: MIT */
/*
 * sl_tbucket: a token bucket (rate per second, burst) kept as one theoretical arrival time
 * (GCRA), in exact integer arithmetic: no drift, whatever the rate and however often it is read.
 * The rate is a separate, shareable value (struct sl_tbucket_rate), so a table of buckets stores
 * 12 bytes each. Not thread-safe: the owner serialises access to a bucket (sl_srctab holds its
 * set lock). See docs/internals/srctab.md.
 */
#ifndef SLUICE_TBUCKET_H
#define SLUICE_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/common.h>

/*
 * A clock step backwards of up to this much (ns) counts as skew between threads that read the
 * clock before taking the same lock: the bucket refuses what it cannot grant at the later of the
 * two times and changes nothing. A larger step restarts the bucket empty at the new clock.
 */
#define SL_TBUCKET_MAX_SKEW_NS 1000000000ULL

/*
 * Rate and burst, with the derived step (1e9 / rate ns per token) and window (burst steps),
 * each as whole ns plus a remainder in units of 1/rate ns, so nothing is rounded.
 * Fill with sl_tbucket_rate_init(); read-only afterwards, so any number of threads may share it.
 */
struct sl_tbucket_rate {
	uint32_t rate;       /* tokens per second; 0 = unlimited */
	uint32_t burst;      /* tokens a full bucket holds */
	uint64_t step_ns;    /* 1e9 / rate */
	uint64_t step_rem;   /* 1e9 % rate, in 1/rate ns */
	uint64_t window_ns;  /* burst * 1e9 / rate */
	uint64_t window_rem; /* burst * 1e9 % rate, in 1/rate ns */
};

/*
 * Bucket state: the theoretical arrival time <tat> (ns + <frac>/rate ns) is when the bucket would
 * be full again. tat <= now means full; it never runs more than one window ahead of now.
 * 12 bytes (packed, 4-byte aligned) so an owner can put 4 bytes of its own beside it in 16.
 * All zeroes is a full bucket.
 */
struct __attribute__((packed, aligned(4))) sl_tbucket {
	uint64_t tat;  /* ns, on the caller's clock */
	uint32_t frac; /* < rate: the fraction of a ns in tat, in 1/rate ns */
};

/*
 * Fills <*r> for <rate> tokens per second and a bucket of <burst> tokens. <rate> 0 means
 * unlimited (<burst> is then ignored). Returns 0, or -EINVAL if <rate> > 0 and <burst> is 0.
 * Pure; any thread.
 */
SL_API int sl_tbucket_rate_init(struct sl_tbucket_rate *r, uint32_t rate, uint32_t burst);

/* Makes <*b> a full bucket. */
SL_API void sl_tbucket_init(struct sl_tbucket *b);

/*
 * Takes <n> tokens at time <now_ns> (monotonic ns, below 2^63) if the bucket holds them: returns
 * true and updates <*b>; otherwise returns false, leaving <*b> as it was (except after a clock
 * step back beyond SL_TBUCKET_MAX_SKEW_NS, which restarts it empty at <now_ns>). <n> 0 always
 * succeeds; <n> > burst never does. An unlimited rate always succeeds and never writes <*b>.
 */
SL_API bool sl_tbucket_try_take(struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                                uint64_t now_ns, uint32_t n);

/*
 * Takes as many tokens as the bucket holds at <now_ns>, at most <max>, and returns how many (0 when
 * empty): for a byte budget, where a read may be as short as the tokens allow. An unlimited rate
 * returns <max> and never writes <*b>.
 */
SL_API uint32_t sl_tbucket_take_upto(struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                                     uint64_t now_ns, uint32_t max);

/*
 * Gives back <n> tokens taken earlier and not used (a read that moved fewer bytes than it was
 * granted), exactly: the bucket holds them again, never more than a full one. An unlimited rate
 * changes nothing.
 */
SL_API void sl_tbucket_put(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint32_t n);

/*
 * Fits bucket <b>, taken from until now under rate <was>, to rate <r> at <now_ns>: it holds the
 * same share of its burst as it did (an empty one stays empty, a full one full) and refills at
 * <r>, where <was>'s debt read under <r> would be refused until the clock reached it
 * (sl_tbucket_try_take() takes that for a clock skew). A limited rate from an unlimited one
 * starts full. An unlimited <r> changes nothing.
 */
SL_API void sl_tbucket_fit(struct sl_tbucket *b, const struct sl_tbucket_rate *was,
                           const struct sl_tbucket_rate *r, uint64_t now_ns);

/* The rate a bucket was last used under, for sl_tbucket_follow(); zeroed: none yet. */
struct sl_tbucket_as {
	uint32_t rate, burst;
};

/*
 * For a bucket whose rate may change between uses (a configuration reloaded): if <as> says <b>
 * was used under another rate than <r>, fits it to <r> (sl_tbucket_fit(); with none yet, full)
 * and records <r> in <as>. Call before a take at <now_ns>.
 */
SL_API void sl_tbucket_follow(struct sl_tbucket *b, struct sl_tbucket_as *as,
                              const struct sl_tbucket_rate *r, uint64_t now_ns);

/*
 * For a bucket only one clock ever reads (one thread's, never going back) whose rate may have
 * changed since its last use: a debt past <r>'s window, which only a slower rate can have run
 * up, is cut to the window, so the bucket refills at <r> from empty at <now_ns>. A debt within
 * the window is left as it is. Call before a take. For a bucket several clocks read, where a
 * debt past the window is a clock behind another, sl_tbucket_follow().
 */
SL_API void sl_tbucket_clamp(struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                             uint64_t now_ns);

/* Whole tokens the bucket holds at <now_ns> (0..burst); UINT32_MAX for an unlimited rate. */
SL_API uint32_t sl_tbucket_tokens(const struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                                  uint64_t now_ns);

/*
 * ns from <now_ns> until <n> tokens can be taken: 0 if now, UINT64_MAX if never (<n> > burst).
 * For pacing (arm a timer rather than poll). 0 for an unlimited rate.
 */
SL_API uint64_t sl_tbucket_wait_ns(const struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                                   uint64_t now_ns, uint32_t n);

/* true if the bucket is full at <now_ns>: it remembers nothing a fresh bucket would not. */
SL_API bool sl_tbucket_is_full(const struct sl_tbucket *b, uint64_t now_ns);

#endif /* SLUICE_TBUCKET_H */
