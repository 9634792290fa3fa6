/* SPDX-License-Identifier: MIT */
/*
 * sl_queue: an unbounded multi-producer multi-consumer FIFO queue of pointers. Items live in
 * segments of slots; a producer fills the first empty slot of the newest segment with one CAS
 * (an index in the segment says where to start looking: the LazyIndexArrayQueue of Correia and
 * Ramalhete), a consumer claims the oldest filled slot, or a run of them, with one CAS and reads
 * it. A new segment is linked when one fills; a consumed one is retired to an sl_epoch domain
 * and, once the domain frees it, goes back to the queue's sl_pool, so a queue whose length stays
 * bounded stops allocating after warm-up (no malloc; the pool's per-thread caches).
 *
 * Thread safety: sl_queue_enqueue and sl_queue_dequeue(_batch) may be called from any number of
 * threads at once, but every such thread must be an online participant of the queue's epoch
 * domain (sl_epoch_online() ... sl_epoch_offline(), include/sluice/epoch.h) for the whole call.
 * The queue holds no pointer into its segments between calls, so a thread may pass a quiescent
 * point or go offline between any two calls; it should do so now and then (an event loop does
 * it every iteration), or consumed segments cannot be reused and the queue keeps allocating new
 * ones. sl_queue_create and sl_queue_destroy are not concurrent with anything on the queue.
 *
 * Order: the queue is linearizable (a FIFO queue seen as a whole): items are dequeued in the
 * order their enqueue calls took effect, so each producer's items in the order it enqueued them,
 * and a batch holds consecutive items. Items are non-NULL opaque pointers.
 * Progress: lock-free. A slot is claimed and filled in the same CAS, so there is never a
 * claimed but unfilled slot for a consumer to wait for: a preempted producer holds nobody up.
 * Two steps are not lock-free, once per segment (segment_slots items): linking a new segment
 * takes a block from the pool (which may map memory), and retiring the old one takes the epoch
 * domain's mutex.
 * Algorithm, orderings and the model check: docs/internals/queue.md.
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_epoch;
struct sl_queue;

struct sl_queue_opts {
	struct sl_epoch *epoch;   /* required; consumed segments are retired to it */
	size_t segment_slots;     /* items per segment, 2 .. 2^20; 0 = 1024 */
	size_t prealloc_segments; /* segments reserved in the pool at create; 0 = 4 */
};

struct sl_queue_stats {
	uint64_t segments_linked;  /* segments added at the tail since create (the first too) */
	uint64_t segments_retired; /* consumed segments handed to the epoch domain */
	uint64_t segments_freed;   /* of those, freed by the domain (back to the pool) */
	size_t segments_waiting;   /* consumed, not yet retired: the domain was full (they are
	                              retired, oldest first, at the next consumed segment or
	                              empty dequeue once it has room) */
	size_t pool_bytes;         /* bytes the segment pool has mapped */
};

/*
 * Creates an empty queue whose segments hold <o->segment_slots> items each, and stores it in
 * <*out>. Returns 0, -EINVAL (no epoch domain, segment_slots out of range) or -ENOMEM. The
 * caller owns the queue; the domain must outlive it (see sl_queue_destroy).
 */
SL_API int sl_queue_create(struct sl_queue **out, const struct sl_queue_opts *o);
/*
 * Destroys <q>. Items still queued are not touched (they are the caller's). No other call on
 * <q> may run, on any thread. Segments already retired to the epoch domain and not yet freed
 * stay with the domain, which frees them (and the last of the queue's memory) on a later
 * sl_epoch_reclaim(), sl_epoch_retire() or sl_epoch_destroy(). NULL is ignored.
 */
SL_API void sl_queue_destroy(struct sl_queue *q);

/*
 * Appends <item> (not NULL). Returns 0, -EINVAL for a NULL item, or -ENOMEM when a new segment
 * was needed and the pool could not grow (nothing was queued). Never blocks on other threads.
 * Any thread that is an online participant of the queue's epoch domain.
 */
SL_API int sl_queue_enqueue(struct sl_queue *q, void *item);
/*
 * Takes the oldest item: returns true and stores it in <*item>, or false if the queue was empty
 * at some moment during the call (<*item> is not written then). Never blocks. Any thread that is an
 * online participant of the queue's epoch domain.
 */
SL_API bool sl_queue_dequeue(struct sl_queue *q, void **item);
/*
 * Takes up to <max> of the oldest items, in queue order, into <items>[0 ..] and returns how
 * many: 0 if the queue was empty at some moment during the call (or <max> is 0). The items are
 * consecutive in the queue and taken at one instant (one CAS), so no other consumer's item lies
 * between them. A batch never crosses a segment boundary, so it may hold fewer than <max> items
 * while more are queued; call again for the rest. Entries of <items> past the count returned
 * may have been written (with items other consumers took). Never blocks. Any thread that is an
 * online participant of the queue's epoch domain.
 */
SL_API size_t sl_queue_dequeue_batch(struct sl_queue *q, void **items, size_t max);

/* Counts in <*st>; each field is read on its own (not a snapshot). Any thread. */
SL_API void sl_queue_stats(const struct sl_queue *q, struct sl_queue_stats *st);

#endif /* SLUICE_QUEUE_H */
