// SPDX-License-Identifier: MIT
/*
 * sl_queue: unbounded MPMC queue of pointers in linked segments (include/sluice/queue.h).
 * Producers CAS the first empty slot of the tail segment from EMPTY to the item, starting at
 * the segment's <enq> hint; consumers read a run of filled slots from a segment's <deq> and CAS
 * <deq> past it. Segments come from an sl_pool and go back to it through sl_epoch. Algorithm and
 * orderings: docs/internals/queue.md; model check: tests/model/queue.pml.
 * Shared fields and their writers: q->tail producers (CAS) and consumers (CAS, before retiring);
 * q->head consumers (CAS); seg->enq producers (plain store of a hint); seg->deq consumers
 * (CAS); seg->next the producer that links the successor (CAS, once); a slot the producer whose
 * CAS fills it (EMPTY -> item), once per segment life; the limbo list consumers, under limbo_mu;
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

/* A slot's states: EMPTY (NULL, as a fresh segment is zeroed), then an item, for good. */
#define EMPTY NULL

struct seg {
	/* producers' hint, <= nslots: every slot below it is filled */
	_Atomic size_t enq QUEUE_ALIGNED;
	_Atomic size_t deq QUEUE_ALIGNED;         /* next slot to take; consumers CAS; <= nslots */
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
	_Atomic uint64_t linked QUEUE_ALIGNED, retired, freed;
	_Atomic size_t waiting; /* limbo_len, for sl_queue_stats() and limbo_retry() */
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

/* Retires the limbo's segments, oldest first, until the domain refuses one. Under limbo_mu. */
static void
limbo_drain_locked(struct sl_queue *q)
{
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
	/* relaxed: a statistic (and limbo_retry()'s hint), written under limbo_mu */
	atomic_store_explicit(&q->waiting, q->limbo_len, memory_order_relaxed);
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
	limbo_drain_locked(q);
	pthread_mutex_unlock(&q->limbo_mu);
}

/*
 * A dequeue that found the queue empty retries the limbo, so segments refused while the domain
 * was full do not stay held once the traffic stops. Never waits: if another thread holds
 * limbo_mu, it is draining already.
 */
static void
limbo_retry(struct sl_queue *q)
{
	/* relaxed: a hint; the list itself is read under limbo_mu */
	if (sl_likely(atomic_load_explicit(&q->waiting, memory_order_relaxed) == 0))
		return;
	if (pthread_mutex_trylock(&q->limbo_mu) != 0)
		return;
	limbo_drain_locked(q);
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
		/* relaxed: a hint; every slot below any value it ever held is filled, and the slot
		 * CAS (R5) decides who fills the first empty one */
		t = atomic_load_explicit(&s->enq, memory_order_relaxed);
		/* the hinted slot is usually empty: CAS it at once (a load first would fetch the
		 * line shared, then the CAS would have to fetch it again for writing) */
		for (; t < q->nslots; t++) {
			expect = EMPTY;
			/* R5: pairs with A5 in queue_take(): the item's contents are visible to
			 * the consumer that reads it; relaxed on failure: another producer filled
			 * the slot, we read nothing through its item and try the next slot */
			if (sl_likely(atomic_compare_exchange_strong_explicit(
			            &s->slots[t], &expect, item, memory_order_release,
			            memory_order_relaxed))) {
				/* relaxed: a hint (see above); slots below t + 1 are all filled */
				atomic_store_explicit(&s->enq, t + 1, memory_order_relaxed);
				return 0;
			}
			/* lost the slot: skip the filled ones after it with loads, not CASes;
			 * relaxed: only skips (a filled slot stays filled while we can see the
			 * segment), the next CAS decides */
			while (t + 1 < q->nslots &&
			       atomic_load_explicit(&s->slots[t + 1], memory_order_relaxed) !=
			               EMPTY)
				t++;
		}
		/* every slot is filled: move to the successor, linking one if there is none */
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
	/* R8: pairs with A8 in queue_take(): <next>'s contents (acquired by A7) are visible to a
	 * consumer that loads the new head; relaxed on failure: another consumer unlinked <s>
	 * and we read nothing through it */
	if (atomic_compare_exchange_strong_explicit(&q->head, &s, next, memory_order_release,
	                                            memory_order_relaxed)) {
		limbo_retire(q, s);
	}
	return true;
}

/*
 * Takes up to <max> (>= 1) of the oldest items into <items>, all from one segment, with one
 * CAS of its deq; returns how many (0: the queue was empty when we looked).
 */
static inline size_t
queue_take(struct sl_queue *q, void **items, size_t max)
{
	struct seg *s;
	size_t h, n, end;
	void *v;

	for (;;) {
		/* A8: pairs with R8 in head_advance(): the segment is initialised */
		s = atomic_load_explicit(&q->head, memory_order_acquire);
		/* relaxed: a hint; the CAS on deq below decides who takes slots h .. h + n - 1 */
		h = atomic_load_explicit(&s->deq, memory_order_relaxed);
		if (sl_unlikely(h >= q->nslots)) {
			if (!head_advance(q, s)) {
				limbo_retry(q);
				return 0;
			}
			continue;
		}
		end = q->nslots - h < max ? q->nslots : h + max;
		/* the filled slots of a segment are a prefix of it, so the run ends at the first
		 * empty slot, and an empty slot h means an empty queue */
		for (n = 0; h + n < end; n++) {
			/* A5: pairs with R5 in sl_queue_enqueue(): the item's contents are
			 * visible */
			v = atomic_load_explicit(&s->slots[h + n], memory_order_acquire);
			if (v == EMPTY)
				break;
			items[n] = v;
		}
		if (n == 0) {
			limbo_retry(q);
			return 0;
		}
		/* a filled slot keeps its item for the segment's life (the epoch keeps <s> alive),
		 * so whoever moves deq from h owns what we read; relaxed: the CAS only hands out
		 * slots, the slots carry the items (A5) */
		if (atomic_compare_exchange_strong_explicit(
		            &s->deq, &h, h + n, memory_order_relaxed, memory_order_relaxed))
			return n;
	}
}

bool
sl_queue_dequeue(struct sl_queue *q, void **item)
{
	void *v;

	/* through <v>: a lost CAS in queue_take() may have read an item another consumer took,
	 * and <*item> is only written on success */
	if (queue_take(q, &v, 1) == 0)
		return false;
	*item = v;
	return true;
}

size_t
sl_queue_dequeue_batch(struct sl_queue *q, void **items, size_t max)
{
	if (sl_unlikely(max == 0))
		return 0;
	return queue_take(q, items, max);
}

void
sl_queue_stats(const struct sl_queue *q, struct sl_queue_stats *st)
{
	struct sl_pool_stats ps;

	/* relaxed: statistics, each read on its own */
	st->segments_linked = atomic_load_explicit(&q->linked, memory_order_relaxed);
	st->segments_retired = atomic_load_explicit(&q->retired, memory_order_relaxed);
	st->segments_freed = atomic_load_explicit(&q->freed, memory_order_relaxed);
	st->segments_waiting = atomic_load_explicit(&q->waiting, memory_order_relaxed);
	sl_pool_stats(q->pool, &ps);
	st->pool_bytes = ps.bytes_reserved;
}
