/* SPDX-License-Identifier: MIT */
/*
 * Time helpers for tests that poll a condition with a bound: a monotonic clock in milliseconds
 * for the deadline, and a short pause between polls (a poll interval, never a synchronisation).
 */
#ifndef SL_TEST_TIME_H
#define SL_TEST_TIME_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (arbitrary epoch): for bounded waits. */
uint64_t sl_test_mono_ms(void);

/* Sleeps about 1 ms: the interval between two polls of a bounded wait. */
void sl_test_pause_1ms(void);

#endif /* SL_TEST_TIME_H */
