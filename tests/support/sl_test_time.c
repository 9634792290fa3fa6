// SPDX-License-Identifier: MIT
/* Time helpers for tests (sl_test_time.h). */
#include "sl_test_time.h"

#include <time.h>

uint64_t
sl_test_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
sl_test_pause_1ms(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}
