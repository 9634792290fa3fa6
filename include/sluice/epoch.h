/* SPDX-License-Identifier: MIT */
/*
 * sl_epoch: epoch-based reclamation for read-mostly shared objects (quiescent-state style).
 * Readers reach an object through an atomic pointer that a writer may swap; the writer then
 * retires the old object, and the domain frees it once every reader has passed a quiescent
 * point (a moment where it holds no pointer to such an object) or is offline.
 *
 * A domain has a fixed number of participant slots, made at create; participant <i> is one
 * reader thread at a time (an event loop: sl_loop_set_epoch()). A participant is offline until
 * it calls sl_epoch_online(); while online it may load protected pointers and use what they
 * point to until its next sl_epoch_quiescent() or sl_epoch_offline(). It goes offline before
 * blocking (epoll_wait), so an idle thread never holds reclamation back.
 *
 * Thread safety: the participant calls are made only by participant <i>'s own thread, never
 * block, allocate or take a lock. sl_epoch_retire(), sl_epoch_reclaim() and sl_epoch_stats()
 * may be called from any thread (writers are serialised by the domain's mutex), including an
 * online participant. Create and destroy are not concurrent with anything else on the domain.
 * Algorithm, orderings and the model check: docs/internals/epoch.md.
 */
#ifndef SLUICE_EPOCH_H
#define SLUICE_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_epoch;

/* Frees a retired object; runs on the thread that reclaims it. */
typedef void (*sl_epoch_free_fn)(void *ptr);

struct sl_epoch_opts {
	unsigned participants; /* reader slots, >= 1 */
	unsigned max_retired;  /* objects retired and not yet freed, at most; 0 = 64 */
};

struct sl_epoch_stats {
	uint64_t epoch;   /* the global epoch (starts at 1, one step per retire) */
	uint64_t retired; /* objects retired since create */
	uint64_t freed;   /* of those, freed */
	size_t pending;   /* retired and not yet freed */
};

/*
 * Creates a domain with every participant offline and nothing retired. All memory is
 * allocated here; nothing is allocated afterwards. Returns 0 and stores it in <*out>, or
 * -EINVAL (no participants) or -ENOMEM.
 */
SL_API int sl_epoch_create(struct sl_epoch **out, const struct sl_epoch_opts *o);
/*
 * Frees every object still retired (their free functions run on this thread), then the domain.
 * Every participant must be offline and no other call on the domain may run. NULL is ignored.
 */
SL_API void sl_epoch_destroy(struct sl_epoch *d);

/*
 * Participant <i> (< participants) starts reading: from now on it may load protected pointers.
 * Costs a store to its own slot and a full fence. Only <i>'s thread; <i> must be offline.
 */
SL_API void sl_epoch_online(struct sl_epoch *d, unsigned i);
/*
 * Participant <i> holds no protected pointer any more and stops reading (before it blocks, or
 * for good). A quiescent point too. Only <i>'s thread; <i> must be online.
 */
SL_API void sl_epoch_offline(struct sl_epoch *d, unsigned i);
/*
 * Participant <i> holds no protected pointer at this moment and goes on reading (once per loop
 * iteration). One load of the global epoch and one store to <i>'s own cache line; no fence, no
 * read-modify-write. Only <i>'s thread; <i> must be online.
 */
SL_API void sl_epoch_quiescent(struct sl_epoch *d, unsigned i);

/*
 * Hands <ptr> to the domain, to be freed with <free_fn>(<ptr>) once every participant has
 * passed a quiescent point or been offline after this call. The caller has already made <ptr>
 * unreachable for new readers (swapped the pointer that led to it). Tries to free what it can
 * first if the domain is full. Returns 0 (the domain owns <ptr>), or -ENOSPC if max_retired
 * objects still wait (<ptr> stays the caller's; nothing changed). Never blocks on readers.
 */
SL_API int sl_epoch_retire(struct sl_epoch *d, void *ptr, sl_epoch_free_fn free_fn);
/*
 * Frees every retired object that every participant has passed, oldest first, on this thread.
 * <free_fn> runs with the domain's mutex held: it must not call into the same domain. Returns
 * how many objects are still waiting. Never blocks on readers.
 */
SL_API size_t sl_epoch_reclaim(struct sl_epoch *d);

/* Counts in <*st>; each field is read separately (not a snapshot). Any thread. */
SL_API void sl_epoch_stats(const struct sl_epoch *d, struct sl_epoch_stats *st);

#endif /* SLUICE_EPOCH_H */
