/* SPDX-License-Identifier: MIT */
/*
 * sl_clock: CLOCK_MONOTONIC in nanoseconds. One function; callers time a stretch of work with
 * two readings and record the difference in an sl_hist (include/sluice/hist.h).
 */
#include <stdint.h>
#include <time.h>

#include <sluice/clock.h>

uint64_t
sl_clock_ns(void)
{
	struct timespec ts;

	/* cannot fail for CLOCK_MONOTONIC with a valid pointer, so the result is not checked */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void
sl_clock_deadline(struct timespec *out, uint64_t after_us)
{
	/* cannot fail, as above */
	(void)clock_gettime(CLOCK_MONOTONIC, out);
	out->tv_sec += (time_t)(after_us / 1000000);
	out->tv_nsec += (long)(after_us % 1000000) * 1000;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}
