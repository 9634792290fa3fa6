/* SPDX-License-Identifier: MIT */
/*
 * sl_epoch: epoch-based reclamation (include/sluice/epoch.h). A global epoch counter advances
 * once per retire; each retired object is stamped with the epoch its retire made. Participant
 * slots hold the global epoch seen at their last quiescent point, or OFFLINE; an object is
 * freed when every slot is OFFLINE or at least its stamp. Ordering contract and the argument:
 * docs/internals/epoch.md; model check: tests/model/epoch.pml.
 * Shared fields and their writers: <epoch> writers, under <mu> (read by participants);
 * slots[i].epoch participant i only (read by writers); <retired>, <freed> writers, under <mu>
 * (statistics, read by anyone); <pending>, <npending> writers, under <mu>; the rest: create.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/epoch.h>

/* A slot's value while its participant is offline; epochs start at 1. */
#define OFFLINE 0
/* Fields written by different threads sit this far apart (two lines: adjacent-line prefetch). */
#define EPOCH_PAD 128
#define EPOCH_ALIGNED __attribute__((aligned(EPOCH_PAD)))

struct slot {
	_Atomic uint64_t epoch; /* OFFLINE, or the global epoch at the last quiescent point */
} EPOCH_ALIGNED;

struct retired {
	void *ptr;
	sl_epoch_free_fn fn;
	uint64_t epoch; /* the global epoch its retire made: free once every slot reached it */
};

struct sl_epoch {
	_Atomic uint64_t epoch EPOCH_ALIGNED; /* global; read by every participant */

	pthread_mutex_t mu EPOCH_ALIGNED; /* serialises writers: retire, reclaim */
	struct retired *pending;          /* [max], oldest first (stamps increase); under mu */
	size_t npending, max;             /* under mu */
	_Atomic uint64_t retired, freed;  /* statistics, written under mu */
	unsigned n;                       /* participants */

	struct slot slots[]; /* one per participant, each on its own lines */
};

int
sl_epoch_create(struct sl_epoch **out, const struct sl_epoch_opts *o)
{
	struct sl_epoch *d;
	size_t size;

	*out = NULL;
	if (o == NULL || o->participants == 0)
		return -EINVAL;
	size = sizeof(*d) + (size_t)o->participants * sizeof(d->slots[0]);
	d = aligned_alloc(EPOCH_PAD, (size + EPOCH_PAD - 1) & ~(size_t)(EPOCH_PAD - 1));
	if (d == NULL)
		return -ENOMEM;
	memset(d, 0, size);
	d->max = o->max_retired != 0 ? o->max_retired : 64;
	d->pending = calloc(d->max, sizeof(d->pending[0]));
	if (d->pending == NULL)
		goto err_free_domain;
	if (pthread_mutex_init(&d->mu, NULL) != 0)
		goto err_free_pending;
	d->n = o->participants;
	atomic_init(&d->epoch, 1);
	atomic_init(&d->retired, 0);
	atomic_init(&d->freed, 0);
	for (unsigned i = 0; i < d->n; i++)
		atomic_init(&d->slots[i].epoch, OFFLINE);
	*out = d;
	return 0;

err_free_pending:
	free(d->pending);
err_free_domain:
	free(d);
	return -ENOMEM;
}

void
sl_epoch_destroy(struct sl_epoch *d)
{
	if (d == NULL)
		return;
	for (unsigned i = 0; i < d->n; i++)
		/* relaxed: no participant runs any more (the caller's contract) */
		SL_ASSERT(atomic_load_explicit(&d->slots[i].epoch, memory_order_relaxed) ==
		          OFFLINE);
	/* every participant is offline, so everything is free to go */
	for (size_t k = 0; k < d->npending; k++)
		d->pending[k].fn(d->pending[k].ptr);
	pthread_mutex_destroy(&d->mu);
	free(d->pending);
	free(d);
}

/* ---- participants ---- */

void
sl_epoch_online(struct sl_epoch *d, unsigned i)
{
	struct slot *s = &d->slots[i];
	uint64_t e;

	SL_ASSERT(i < d->n);
	/* relaxed: only this thread writes its slot */
	SL_ASSERT(atomic_load_explicit(&s->epoch, memory_order_relaxed) == OFFLINE);
	/* A1: pairs with R1 in sl_epoch_retire(): seeing epoch e, this thread also sees every
	 * pointer swap made before the retire that set e */
	e = atomic_load_explicit(&d->epoch, memory_order_acquire);
	/* relaxed: the store publishes nothing of ours; F1 orders it before our loads */
	atomic_store_explicit(&s->epoch, e, memory_order_relaxed);
	/*
	 * F1: pairs with F2 in reclaim(). Store-load order: either a writer's slot scan (after
	 * F2) sees this store, or our pointer loads (after F1) see the swap it made before F2.
	 * Without it a writer could read OFFLINE while we load the pointer it is about to free.
	 */
	atomic_thread_fence(memory_order_seq_cst);
}

void
sl_epoch_offline(struct sl_epoch *d, unsigned i)
{
	struct slot *s = &d->slots[i];

	SL_ASSERT(i < d->n);
	/* relaxed: only this thread writes its slot */
	SL_ASSERT(atomic_load_explicit(&s->epoch, memory_order_relaxed) != OFFLINE);
	/* R2: pairs with A3 in reclaim(): our reads of retired objects are done before a writer
	 * that sees OFFLINE frees them */
	atomic_store_explicit(&s->epoch, OFFLINE, memory_order_release);
}

void
sl_epoch_quiescent(struct sl_epoch *d, unsigned i)
{
	struct slot *s = &d->slots[i];
	uint64_t e;

	SL_ASSERT(i < d->n);
	/* relaxed: only this thread writes its slot */
	SL_ASSERT(atomic_load_explicit(&s->epoch, memory_order_relaxed) != OFFLINE);
	/* A2: pairs with R1 in sl_epoch_retire(): seeing epoch e, our later pointer loads see
	 * every swap made before the retire that set e, so no object stamped <= e can reach us */
	e = atomic_load_explicit(&d->epoch, memory_order_acquire);
	/* R3: pairs with A3 in reclaim(): our reads of objects are done before a writer that sees
	 * e frees those stamped <= e. Online already: a stale value here only delays a free. */
	atomic_store_explicit(&s->epoch, e, memory_order_release);
}

/* ---- writers ---- */

/* Frees what every participant has passed; returns how many still wait. Caller holds mu. */
static size_t
reclaim_locked(struct sl_epoch *d)
{
	uint64_t min = UINT64_MAX, v;
	size_t k = 0;

	if (d->npending == 0)
		return 0;
	/* F2: pairs with F1 in sl_epoch_online(); see there. The caller's pointer swap and R1
	 * are before this fence, the slot loads after it. */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < d->n; i++) {
		/* A3: pairs with R2 in sl_epoch_offline() and R3 in sl_epoch_quiescent(): the
		 * participant's reads before that store happen before our frees */
		v = atomic_load_explicit(&d->slots[i].epoch, memory_order_acquire);
		if (v != OFFLINE && v < min)
			min = v;
	}
	while (k < d->npending && d->pending[k].epoch <= min) {
		d->pending[k].fn(d->pending[k].ptr);
		k++;
	}
	if (k == 0)
		return d->npending;
	d->npending -= k;
	memmove(d->pending, d->pending + k, d->npending * sizeof(d->pending[0]));
	/* relaxed: a statistic, written only under mu */
	atomic_store_explicit(&d->freed, atomic_load_explicit(&d->freed, memory_order_relaxed) + k,
	                      memory_order_relaxed);
	return d->npending;
}

int
sl_epoch_retire(struct sl_epoch *d, void *ptr, sl_epoch_free_fn free_fn)
{
	uint64_t e;

	pthread_mutex_lock(&d->mu);
	if (d->npending == d->max && reclaim_locked(d) == d->max) {
		pthread_mutex_unlock(&d->mu);
		return -ENOSPC;
	}
	/* R1: pairs with A1 in sl_epoch_online() and A2 in sl_epoch_quiescent(): a participant
	 * that sees the new epoch also sees the swap that unlinked <ptr> (made before this call) */
	e = atomic_fetch_add_explicit(&d->epoch, 1, memory_order_release) + 1;
	d->pending[d->npending++] = (struct retired){.ptr = ptr, .fn = free_fn, .epoch = e};
	/* relaxed: a statistic, written only under mu */
	atomic_store_explicit(&d->retired,
	                      atomic_load_explicit(&d->retired, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	reclaim_locked(d);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

size_t
sl_epoch_reclaim(struct sl_epoch *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = reclaim_locked(d);
	pthread_mutex_unlock(&d->mu);
	return n;
}

void
sl_epoch_stats(const struct sl_epoch *d, struct sl_epoch_stats *st)
{
	/* relaxed: statistics, each read on its own; a reader racing a writer may see a free
	 * before its retire, hence the clamp */
	st->retired = atomic_load_explicit(&d->retired, memory_order_relaxed);
	st->freed = atomic_load_explicit(&d->freed, memory_order_relaxed);
	st->epoch = atomic_load_explicit(&d->epoch, memory_order_relaxed);
	st->pending = st->retired > st->freed ? (size_t)(st->retired - st->freed) : 0;
}
