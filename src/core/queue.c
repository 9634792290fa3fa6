// SPDX-License-Identifier: MIT
/*
 * sl_queue: unbounded MPMC queue of pointers in linked segments (include/sluice/queue.h).
 * Producers fetch-and-add a segment's <enq> and CAS the slot from EMPTY to the item; consumers
 * CAS a segment's <deq> past a filled (or abandoned) slot and read it. Segments come from an
 * sl_pool and go back to it through sl_epoch. Algorithm and orderings: docs/internals/queue.md;
 * model check: tests/model/queue.pml.
 * Shared fields and their writers: q->tail producers (CAS) and consumers (CAS, before retiring);
 * q->head consumers (CAS); seg->enq producers (FAA); seg->deq consumers (CAS); seg->next the
 * producer that links the successor (CAS, once); a slot its producer (CAS EMPTY -> item) or a
 * consumer (CAS EMPTY -> TAKEN), once per segment life; the limbo list consumers, under limbo_mu;
 * q->refs the destroyer and the epoch's free calls; statistics relaxed, by anyone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/epoch.h>
#include <sluice/pool.h>
#include <sluice/queue.h>

/* Fields written by different threads sit this far apart (two lines: adjacent-line prefetch). */
#define QUEUE_PAD 128
#define QUEUE_ALIGNED __attribute__((aligned(QUEUE_PAD)))
#define QUEUE_DEFAULT_SLOTS 1024
#define QUEUE_MAX_SLOTS ((size_t)1 << 20)
#define QUEUE_DEFAULT_PREALLOC 4
/* Dequeue calls that find the same slot empty before one asks whether it is claimed. */
#define QUEUE_PATIENCE 64
/* Re-reads of a claimed, still empty slot before a consumer abandons it (marks it TAKEN). */
#define QUEUE_SPIN_LIMIT 128

#if defined(__x86_64__) || defined(__i386__)
#define queue_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define queue_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define queue_cpu_relax() ((void)0)
#endif

/* A slot's states: EMPTY (NULL, as a fresh segment is zeroed), an item, or TAKEN. */
#define EMPTY NULL
static char taken_marker;
#define TAKEN ((void *)&taken_marker)

struct seg {
	_Atomic size_t enq QUEUE_ALIGNED; /* next slot to claim; producers FAA; may pass nslots */
	_Atomic size_t deq QUEUE_ALIGNED; /* next slot to take; consumers CAS; <= enq, <= nslots */
	/* consumers: 1 + the empty slot they last found at deq, and how many calls found it */
	_Atomic size_t wait_slot;
	_Atomic unsigned wait_calls;
	_Atomic(struct seg *) next QUEUE_ALIGNED; /* NULL, then the successor (set once) */
	struct sl_queue *q;                       /* owner: the epoch's free call needs it */
	struct seg *limbo_next;                   /* on the limbo list: the next one */
	_Atomic(void *) slots[] QUEUE_ALIGNED;
};

struct sl_queue {
	_Atomic(struct seg *) head QUEUE_ALIGNED; /* oldest live segment; consumers */
	_Atomic(struct seg *) tail QUEUE_ALIGNED; /* newest segment, or its predecessor briefly */
	/* 1 for the queue until destroy + 1 per segment retired and not yet freed */
	_Atomic size_t refs QUEUE_ALIGNED;

	/* unlinked segments the epoch domain had no room for yet, oldest first; under limbo_mu */
	pthread_mutex_t limbo_mu;
	struct seg *limbo_head, *limbo_tail;
	size_t limbo_len;

	/* read-only after create */
	struct sl_epoch *epoch QUEUE_ALIGNED;
	struct sl_pool *pool;
	size_t nslots;

	/* statistics, relaxed */
	_Atomic uint64_t linked QUEUE_ALIGNED, retired, freed, abandoned;
	_Atomic size_t waiting; /* limbo_len, for sl_queue_stats() */
};

/* Takes a segment from the pool and makes it hold <first> (if not NULL) in slot 0. Not shared
 * yet: the caller publishes it with a release (R3). NULL if the pool is exhausted. */
static struct seg *
seg_new(struct sl_queue *q, void *first)
{
	struct seg *s = sl_pool_alloc(q->pool);

	if (s == NULL)
		return NULL;
	/* relaxed below: nobody can see the segment before the caller's release publishes it */
	atomic_store_explicit(&s->enq, first != NULL, memory_order_relaxed);
	atomic_store_explicit(&s->deq, 0, memory_order_relaxed);
	atomic_store_explicit(&s->wait_slot, 0, memory_order_relaxed);
	atomic_store_explicit(&s->wait_calls, 0, memory_order_relaxed);
	atomic_store_explicit(&s->next, NULL, memory_order_relaxed);
	s->q = q;
	s->limbo_next = NULL;
	memset((void *)s->slots, 0, q->nslots * sizeof(s->slots[0]));
	if (first != NULL)
		/* relaxed: as above */
		atomic_store_explicit(&s->slots[0], first, memory_order_relaxed);
	return s;
}

/* Frees the queue's own memory: the pool (every segment in it) and the queue itself. */
static void
queue_free(struct sl_queue *q)
{
	sl_pool_destroy(q->pool);
	pthread_mutex_destroy(&q->limbo_mu);
	free(q);
}

/* Drops one reference to <q>; the last one frees it. */
static void
queue_put(struct sl_queue *q)
{
	/* A1/R1: pairs with itself in the other holders' queue_put(): every holder's use of the
	 * queue (and its pool) happens before the last one frees it */
	if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
		queue_free(q);
}

/* sl_epoch's free function for a retired segment: back to the pool. Any thread. */
static void
seg_free_retired(void *ptr)
{
	struct seg *s = ptr;
	struct sl_queue *q = s->q;

	sl_pool_free(q->pool, s);
	/* relaxed: a statistic */
	atomic_fetch_add_explicit(&q->freed, 1, memory_order_relaxed);
	queue_put(q);
}

/* Hands the unlinked segment <s> to the epoch domain. 0, or -ENOSPC if the domain is full
 * (then <s> is still ours). */
static int
seg_try_retire(struct sl_queue *q, struct seg *s)
{
	/* relaxed: the count is only decremented by seg_free_retired(), after the retire below,
	 * and the queue holds its own reference until destroy */
	atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
	if (sl_epoch_retire(q->epoch, s, seg_free_retired) == 0) {
		/* relaxed: a statistic */
		atomic_fetch_add_explicit(&q->retired, 1, memory_order_relaxed);
		return 0;
	}
	/* relaxed: the queue's own reference keeps the count above zero */
	atomic_fetch_sub_explicit(&q->refs, 1, memory_order_relaxed);
	return -ENOSPC;
}

/*
 * Retires the unlinked segment <s> after the segments waiting in the limbo list (those the epoch
 * domain had no room for earlier), oldest first, until the domain refuses one; the rest wait
 * for the next call. So a full domain costs one refused retire per segment, and the limbo
 * empties as soon as the domain has room again. Once per segment: a mutex is fine here (the
 * retire itself takes the domain's).
 */
static void
limbo_retire(struct sl_queue *q, struct seg *s)
{
	pthread_mutex_lock(&q->limbo_mu);
	s->limbo_next = NULL;
	if (q->limbo_tail != NULL)
		q->limbo_tail->limbo_next = s;
	else
		q->limbo_head = s;
	q->limbo_tail = s;
	q->limbo_len++;
	while (q->limbo_head != NULL) {
		/* read before the retire: the domain may free the segment at once */
		struct seg *next = q->limbo_head->limbo_next;
		if (seg_try_retire(q, q->limbo_head) != 0)
			break;
		q->limbo_head = next;
		q->limbo_len--;
	}
	if (q->limbo_head == NULL)
		q->limbo_tail = NULL;
	/* relaxed: a statistic, written under limbo_mu */
	atomic_store_explicit(&q->waiting, q->limbo_len, memory_order_relaxed);
	pthread_mutex_unlock(&q->limbo_mu);
}

int
sl_queue_create(struct sl_queue **out, const struct sl_queue_opts *o)
{
	struct sl_pool_opts po = {.name = "queue", .align = QUEUE_PAD};
	struct sl_queue *q;
	struct seg *s;
	size_t nslots;
	int err;

	*out = NULL;
	if (o == NULL || o->epoch == NULL)
		return -EINVAL;
	nslots = o->segment_slots != 0 ? o->segment_slots : QUEUE_DEFAULT_SLOTS;
	if (nslots < 2 || nslots > QUEUE_MAX_SLOTS)
		return -EINVAL;
	q = aligned_alloc(QUEUE_PAD, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	q->epoch = o->epoch;
	q->nslots = nslots;
	po.block_size = sizeof(struct seg) + nslots * sizeof(s->slots[0]);
	po.prealloc_blocks =
	        o->prealloc_segments != 0 ? o->prealloc_segments : QUEUE_DEFAULT_PREALLOC;
	if (pthread_mutex_init(&q->limbo_mu, NULL) != 0) {
		err = -ENOMEM;
		goto err_free_queue;
	}
	err = sl_pool_create(&q->pool, &po);
	if (err != 0)
		goto err_destroy_mutex;
	s = seg_new(q, NULL);
	if (s == NULL) {
		err = -ENOMEM;
		goto err_destroy_pool;
	}
	atomic_init(&q->head, s);
	atomic_init(&q->tail, s);
	atomic_init(&q->waiting, 0);
	atomic_init(&q->refs, 1);
	atomic_init(&q->linked, 1);
	atomic_init(&q->retired, 0);
	atomic_init(&q->freed, 0);
	atomic_init(&q->abandoned, 0);
	/* publishing <q> to other threads is the caller's job (e.g. a thread start) */
	*out = q;
	return 0;

err_destroy_pool:
	sl_pool_destroy(q->pool);
err_destroy_mutex:
	pthread_mutex_destroy(&q->limbo_mu);
err_free_queue:
	free(q);
	return err;
}

void
sl_queue_destroy(struct sl_queue *q)
{
	struct seg *s, *next;

	if (q == NULL)
		return;
	/* relaxed below: no other call on the queue runs (the caller's contract) */
	for (s = atomic_load_explicit(&q->head, memory_order_relaxed); s != NULL; s = next) {
		next = atomic_load_explicit(&s->next, memory_order_relaxed);
		sl_pool_free(q->pool, s);
	}
	for (s = q->limbo_head; s != NULL; s = next) {
		next = s->limbo_next;
		sl_pool_free(q->pool, s);
	}
	queue_put(q);
}

/* Moves q->tail from <s> to <next> unless someone already moved it. */
static inline void
tail_advance(struct sl_queue *q, struct seg *s, struct seg *next)
{
	/* R4: pairs with A4 in sl_queue_enqueue(): <next>'s contents (published by R3, which we
	 * acquired) are visible to a producer that loads the new tail; relaxed on failure: the
	 * tail moved already and we read nothing through it */
	atomic_compare_exchange_strong_explicit(&q->tail, &s, next, memory_order_release,
	                                        memory_order_relaxed);
}

int
sl_queue_enqueue(struct sl_queue *q, void *item)
{
	struct seg *s, *next, *fresh;
	void *expect;
	size_t t;

	if (sl_unlikely(item == NULL))
		return -EINVAL;
	for (;;) {
		/* A4: pairs with R4 in tail_advance(): the segment is initialised */
		s = atomic_load_explicit(&q->tail, memory_order_acquire);
		/* relaxed: the FAA only hands out slots; the slot CAS (R5) carries the item */
		t = atomic_fetch_add_explicit(&s->enq, 1, memory_order_relaxed);
		if (sl_likely(t < q->nslots)) {
			expect = EMPTY;
			/* R5: pairs with A5, A6 in sl_queue_dequeue(): the item's contents are
			 * visible to the consumer that reads it; relaxed on failure: a consumer
			 * abandoned the slot (TAKEN) and we only retry */
			if (sl_likely(atomic_compare_exchange_strong_explicit(
			            &s->slots[t], &expect, item, memory_order_release,
			            memory_order_relaxed)))
				return 0;
			continue;
		}
		/* the segment is full: move to its successor, linking one if there is none */
		/* A3: pairs with R3 below (another producer's link): it is initialised */
		next = atomic_load_explicit(&s->next, memory_order_acquire);
		if (next == NULL) {
			fresh = seg_new(q, item);
			if (fresh == NULL)
				return -ENOMEM;
			next = NULL;
			/* R3: pairs with A3 above and A7 in head_advance(): the new segment's
			 * contents and our item in slot 0 are visible to whoever follows the
			 * link; acquire (on failure, as A3): we follow the other one's link */
			if (atomic_compare_exchange_strong_explicit(&s->next, &next, fresh,
			                                            memory_order_acq_rel,
			                                            memory_order_acquire)) {
				/* relaxed: a statistic */
				atomic_fetch_add_explicit(&q->linked, 1, memory_order_relaxed);
				tail_advance(q, s, fresh);
				return 0;
			}
			/* never shared: straight back to the pool */
			sl_pool_free(q->pool, fresh);
		}
		tail_advance(q, s, next);
	}
}

/* Unlinks the exhausted segment <s> from the head if it has a successor; false if it has none
 * (the queue is empty). The thread whose CAS unlinks it retires it. */
static bool
head_advance(struct sl_queue *q, struct seg *s)
{
	struct seg *next;

	/* A7: pairs with R3 in sl_queue_enqueue(): the successor is initialised */
	next = atomic_load_explicit(&s->next, memory_order_acquire);
	if (next == NULL)
		return false;
	/* the tail must not lead to <s> once it is retired: move it on first if it still points
	 * there (it only moves forward, and it is never behind the head) */
	tail_advance(q, s, next);
	/* R8: pairs with A8 in sl_queue_dequeue(): <next>'s contents (acquired by A7) are visible
	 * to a consumer that loads the new head; relaxed on failure: another consumer unlinked
	 * <s> and we read nothing through it */
	if (atomic_compare_exchange_strong_explicit(&q->head, &s, next, memory_order_release,
	                                            memory_order_relaxed)) {
		limbo_retire(q, s);
	}
	return true;
}

/*
 * Counts a dequeue call that found slot <h> of <s> empty; true once QUEUE_PATIENCE calls in a
 * row (of any consumers) have found that same slot empty. Until then the caller reports the
 * queue empty without reading <enq>: that line is the producers' (every enqueue adds to it),
 * and a consumer polling an empty queue would take it from them on every poll.
 */
static inline bool
slot_waited_long(struct seg *s, size_t h)
{
	unsigned n;

	/* relaxed below: a heuristic on the consumers' own line; a lost update between two
	 * consumers only delays the check, and the same slot found empty again counts again */
	if (atomic_load_explicit(&s->wait_slot, memory_order_relaxed) != h + 1) {
		atomic_store_explicit(&s->wait_slot, h + 1, memory_order_relaxed);
		atomic_store_explicit(&s->wait_calls, 1, memory_order_relaxed);
		return false;
	}
	n = atomic_load_explicit(&s->wait_calls, memory_order_relaxed) + 1;
	/* relaxed: as above */
	atomic_store_explicit(&s->wait_calls, n, memory_order_relaxed);
	return n >= QUEUE_PATIENCE;
}

bool
sl_queue_dequeue(struct sl_queue *q, void **item)
{
	struct seg *s;
	void *v, *expect;
	size_t h, t;
	unsigned spins;

	for (;;) {
		/* A8: pairs with R8 in head_advance(): the segment is initialised */
		s = atomic_load_explicit(&q->head, memory_order_acquire);
		/* relaxed: a hint; the CAS on deq below decides who takes slot h */
		h = atomic_load_explicit(&s->deq, memory_order_relaxed);
		if (sl_unlikely(h >= q->nslots)) {
			if (!head_advance(q, s))
				return false;
			continue;
		}
		/* A5: pairs with R5 in sl_queue_enqueue(): the item's contents are visible */
		v = atomic_load_explicit(&s->slots[h], memory_order_acquire);
		if (v == EMPTY) {
			if (!slot_waited_long(s, h))
				return false; /* empty, or the producer of h is about to fill it */
			/* relaxed: only counts claims; a claimed slot's item comes through A5/A6 */
			t = atomic_load_explicit(&s->enq, memory_order_relaxed);
			if (t <= h)
				return false; /* no producer has claimed slot h: empty */
			/* a producer claimed h and has not filled it yet: give it a moment */
			for (spins = 0; v == EMPTY && spins < QUEUE_SPIN_LIMIT; spins++) {
				queue_cpu_relax();
				/* A5b: pairs with R5 in sl_queue_enqueue(), as A5 */
				v = atomic_load_explicit(&s->slots[h], memory_order_acquire);
			}
			if (v == EMPTY) {
				/* it may be preempted: abandon the slot so nobody waits for it; its
				 * producer's CAS then fails and it claims another slot */
				expect = EMPTY;
				/* A6: pairs with R5 in sl_queue_enqueue(): if the item arrived
				 * after all, the failed CAS reads it (and its contents are
				 * visible); TAKEN carries no data, acquire on success only because
				 * failure needs it */
				if (atomic_compare_exchange_strong_explicit(
				            &s->slots[h], &expect, TAKEN, memory_order_acquire,
				            memory_order_acquire)) {
					/* relaxed: a statistic */
					atomic_fetch_add_explicit(&q->abandoned, 1,
					                          memory_order_relaxed);
					v = TAKEN;
				} else {
					v = expect;
				}
			}
		}
		/* slot h holds an item or TAKEN for good (it is written once per segment life,
		 * and the epoch keeps <s> alive): whoever moves deq past h owns it */
		/* relaxed: the CAS only hands out slots; the slot carries the item (A5/A6) */
		if (atomic_compare_exchange_strong_explicit(
		            &s->deq, &h, h + 1, memory_order_relaxed, memory_order_relaxed) &&
		    v != TAKEN) {
			*item = v;
			return true;
		}
	}
}

void
sl_queue_stats(const struct sl_queue *q, struct sl_queue_stats *st)
{
	struct sl_pool_stats ps;

	/* relaxed: statistics, each read on its own */
	st->segments_linked = atomic_load_explicit(&q->linked, memory_order_relaxed);
	st->segments_retired = atomic_load_explicit(&q->retired, memory_order_relaxed);
	st->segments_freed = atomic_load_explicit(&q->freed, memory_order_relaxed);
	st->slots_abandoned = atomic_load_explicit(&q->abandoned, memory_order_relaxed);
	st->segments_waiting = atomic_load_explicit(&q->waiting, memory_order_relaxed);
	sl_pool_stats(q->pool, &ps);
	st->pool_bytes = ps.bytes_reserved;
}
