/* SPDX-License-Identifier: MIT */
/*
 * sl_clock: a cheap monotonic clock in nanoseconds for latency measurement, read through the
 * vDSO (no system call on Linux with a TSC or arch timer clocksource). Not wall-clock time:
 * the epoch is arbitrary (boot), and only differences between readings mean anything.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

#include <sluice/common.h>

/*
 * Nanoseconds on CLOCK_MONOTONIC: never goes backwards, not affected by settimeofday() (NTP
 * slewing does adjust its rate). Any thread; never blocks; cannot fail on Linux.
 */
SL_API uint64_t sl_clock_ns(void);

#endif /* SLUICE_CLOCK_H */
