/* SPDX-License-Identifier: MIT */
/*
 * Internal helpers shared by ring_spsc.c and ring_mpmc.c: the padding unit that keeps fields
 * written by different threads apart, the CPU pause hint and the capacity check.
 */
#ifndef SLUICE_CORE_RING_INT_H
#define SLUICE_CORE_RING_INT_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Fields written by different threads sit this far apart: two cache lines, because the
 * adjacent-line prefetcher of x86 cores pulls lines in pairs.
 */
#define SL__RING_PAD 128
#define SL__RING_ALIGNED __attribute__((aligned(SL__RING_PAD)))

/* Tells the core we are spinning (frees pipeline resources for the sibling hyperthread). */
#if defined(__x86_64__) || defined(__i386__)
#define sl__ring_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define sl__ring_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define sl__ring_cpu_relax() ((void)0)
#endif

/*
 * One step of waiting for a full or empty ring: a pause while <*spins> is under
 * SL_RING_SPIN_LIMIT, then sched_yield() so a preempted peer on the same core can run.
 */
static inline void
sl__ring_backoff(unsigned *spins)
{
	if (*spins < SL_RING_SPIN_LIMIT) {
		(*spins)++;
		sl__ring_cpu_relax();
	} else {
		sched_yield();
	}
}

/* true if <capacity> is a power of two >= 2 and <capacity> * <elem> + <hdr> fits a size_t. */
static inline bool
sl__ring_capacity_ok(size_t capacity, size_t elem, size_t hdr)
{
	if (capacity < 2 || (capacity & (capacity - 1)) != 0)
		return false;
	return capacity <= (((size_t)-1) - hdr - SL__RING_PAD) / elem;
}

/* <n> rounded up to a multiple of SL__RING_PAD (aligned_alloc wants a multiple). */
static inline size_t
sl__ring_round_up(size_t n)
{
	return (n + SL__RING_PAD - 1) & ~(size_t)(SL__RING_PAD - 1);
}

#endif /* SLUICE_CORE_RING_INT_H */
