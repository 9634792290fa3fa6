/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY: a mutex-protected implementation of the MPMC half of include/sluice/ring.h, so the
 * worker mailboxes can be built and tested before the lock-free ring lands. Same contract, far
 * slower under contention. Replaced wholesale by the lock-free ring_mpmc.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <sluice/ring.h>

struct sl_ring_mpmc {
	pthread_mutex_t lock;
	size_t cap, head, tail; /* items in [head, tail), indexes modulo cap; under lock */
	void *items[];
};

int
sl_ring_mpmc_create(struct sl_ring_mpmc **out, size_t capacity)
{
	struct sl_ring_mpmc *r;

	if (capacity < 2 || (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r) + capacity * sizeof(r->items[0]));
	if (r == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return -ENOMEM;
	}
	r->cap = capacity;
	*out = r;
	return 0;
}

void
sl_ring_mpmc_destroy(struct sl_ring_mpmc *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

size_t
sl_ring_try_push_bulk_mpmc(struct sl_ring_mpmc *r, void *const *items, size_t n)
{
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n && r->tail - r->head < r->cap; i++)
		r->items[r->tail++ & (r->cap - 1)] = items[i];
	pthread_mutex_unlock(&r->lock);
	return i;
}

size_t
sl_ring_try_pop_bulk_mpmc(struct sl_ring_mpmc *r, void **items, size_t n)
{
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n && r->head != r->tail; i++)
		items[i] = r->items[r->head++ & (r->cap - 1)];
	pthread_mutex_unlock(&r->lock);
	return i;
}

bool
sl_ring_try_push_mpmc(struct sl_ring_mpmc *r, void *item)
{
	return sl_ring_try_push_bulk_mpmc(r, &item, 1) == 1;
}

bool
sl_ring_try_pop_mpmc(struct sl_ring_mpmc *r, void **item)
{
	return sl_ring_try_pop_bulk_mpmc(r, item, 1) == 1;
}

size_t
sl_ring_mpmc_capacity(const struct sl_ring_mpmc *r)
{
	return r->cap;
}
