/* SPDX-License-Identifier: MIT */
/*
 * sl_ring: bounded lock-free queues of pointers. Capacity is a power of two fixed at creation;
 * nothing is allocated after that.
 *  - SPSC: one producer thread and one consumer thread (each may change over time only with
 *    external synchronisation).
 *  - MPMC: any number of producers and consumers (Vyukov's sequence-numbered cells).
 * try_ functions never block or spin: they do what they can at once and say how much.
 * Items are opaque pointers; NULL is a valid item. Order: SPSC is FIFO; MPMC keeps each
 * producer's order as seen by the consumers as a whole.
 * Progress: SPSC push and pop are wait-free. MPMC try_ calls never wait, but the queue is not
 * lock-free in the strict sense: a producer (consumer) preempted between claiming a cell and
 * publishing (releasing) it makes try_pop (try_push) report "no item" ("full") for that one
 * cell until it resumes, even if later cells are ready. The blocking helpers (sl_ring_push_*,
 * sl_ring_pop_*) spin a bounded number of times and then sched_yield() so the stalled thread
 * can run. See docs/internals/ring.md.
 */
#ifndef SLUICE_RING_H
#define SLUICE_RING_H

#include <stdbool.h>
#include <stddef.h>

#include <sluice/common.h>

struct sl_ring_spsc;
struct sl_ring_mpmc;

/*
 * Creates a ring holding <capacity> items (a power of two, >= 2) and stores it in <*out>.
 * Returns 0, -EINVAL (capacity not a power of two, below 2, or too large to address) or -ENOMEM.
 * The caller owns the ring; sl_ring_*_destroy() frees it (NULL is ignored) and must not run
 * concurrently with any other call on it. Items still queued are not touched.
 */
SL_API int sl_ring_spsc_create(struct sl_ring_spsc **out, size_t capacity);
SL_API void sl_ring_spsc_destroy(struct sl_ring_spsc *r);
/* Producer only. true if <item> was queued, false if the ring is full. */
SL_API bool sl_ring_try_push_spsc(struct sl_ring_spsc *r, void *item);
/* Consumer only. true and <*item> set, or false if the ring is empty. */
SL_API bool sl_ring_try_pop_spsc(struct sl_ring_spsc *r, void **item);
/* Producer only. Queues up to <n> items in order; returns how many were queued. */
SL_API size_t sl_ring_try_push_bulk_spsc(struct sl_ring_spsc *r, void *const *items, size_t n);
/* Consumer only. Takes up to <n> items in order; returns how many were taken. */
SL_API size_t sl_ring_try_pop_bulk_spsc(struct sl_ring_spsc *r, void **items, size_t n);

/* Same contract as sl_ring_spsc_create(). */
SL_API int sl_ring_mpmc_create(struct sl_ring_mpmc **out, size_t capacity);
SL_API void sl_ring_mpmc_destroy(struct sl_ring_mpmc *r);
/* Any thread. true if queued, false if the ring is full. */
SL_API bool sl_ring_try_push_mpmc(struct sl_ring_mpmc *r, void *item);
/* Any thread. true and <*item> set, or false if no item is ready. */
SL_API bool sl_ring_try_pop_mpmc(struct sl_ring_mpmc *r, void **item);
/* Any thread. Up to <n> items; the items of one call are contiguous in queue order. */
SL_API size_t sl_ring_try_push_bulk_mpmc(struct sl_ring_mpmc *r, void *const *items, size_t n);
SL_API size_t sl_ring_try_pop_bulk_mpmc(struct sl_ring_mpmc *r, void **items, size_t n);

/*
 * Blocking helpers (additions to the try_ interface). Each retries its try_ counterpart, spinning
 * with a CPU pause hint up to SL_RING_SPIN_LIMIT times, then calling sched_yield() between
 * attempts, until it succeeds. They never sleep on a kernel object and never time out: a pop
 * waits for ever on a queue nobody fills (send a sentinel item to stop a consumer). Same thread
 * rules as the try_ functions they wrap.
 */
#define SL_RING_SPIN_LIMIT 128
/* Producer only. Queues <item>, waiting while the ring is full. */
SL_API void sl_ring_push_spsc(struct sl_ring_spsc *r, void *item);
/* Consumer only. Returns the next item, waiting while the ring is empty. */
SL_API void *sl_ring_pop_spsc(struct sl_ring_spsc *r);
/* Any thread. Queues <item>, waiting while the ring is full. */
SL_API void sl_ring_push_mpmc(struct sl_ring_mpmc *r, void *item);
/* Any thread. Returns an item, waiting while none is ready. */
SL_API void *sl_ring_pop_mpmc(struct sl_ring_mpmc *r);

/* Capacity the ring was created with. */
SL_API size_t sl_ring_spsc_capacity(const struct sl_ring_spsc *r);
SL_API size_t sl_ring_mpmc_capacity(const struct sl_ring_mpmc *r);

#endif /* SLUICE_RING_H */
