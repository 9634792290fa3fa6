/* SPDX-License-Identifier: MIT */
/*
 * sl_clock: a cheap monotonic clock in nanoseconds for latency measurement, read through the
 * vDSO (no system call on Linux with a TSC or arch timer clocksource). Not wall-clock time:
 * the epoch is arbitrary (boot), and only differences between readings mean anything.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>
#include <time.h>

#include <sluice/common.h>

/*
 * Nanoseconds on CLOCK_MONOTONIC: never goes backwards, not affected by settimeofday() (NTP
 * slewing does adjust its rate). Any thread; never blocks; cannot fail on Linux.
 */
SL_API uint64_t sl_clock_ns(void);

/*
 * Stores in <*out> the CLOCK_MONOTONIC time <after_us> microseconds from now, normalised: the
 * absolute deadline pthread_cond_timedwait() takes on a condition variable set to
 * CLOCK_MONOTONIC. Any thread; never blocks.
 */
SL_API void sl_clock_deadline(struct timespec *out, uint64_t after_us);

#endif /* SLUICE_CLOCK_H */
