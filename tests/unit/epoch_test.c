/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_epoch (include/sluice/epoch.h): when a retired object is freed, for
 * online, quiescent and offline participants (one thread playing several participants, so
 * every step is deterministic), the bound on retired objects, destroy; then a stress test
 * where reader threads dereference the current pointer and check a canary while a writer
 * publishes and retires, built to run under TSan too.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sluice/epoch.h>

/* An object whose "free" only marks it, so the tests can look at it afterwards. */
struct obj {
	bool freed;
	unsigned order; /* 1 + how many objects were freed before it */
};

static unsigned frees;

static void
obj_free(void *p)
{
	struct obj *o = p;

	o->freed = true;
	o->order = ++frees;
}

static struct sl_epoch *
domain(unsigned participants, unsigned max_retired)
{
	struct sl_epoch *d;

	frees = 0;
	assert_int_equal(0,
	                 sl_epoch_create(&d, &(struct sl_epoch_opts){.participants = participants,
	                                                             .max_retired = max_retired}));
	return d;
}

static void
epoch_create_refuses_zero_participants(void **state)
{
	struct sl_epoch *d = (void *)1;

	(void)state;
	assert_int_equal(-EINVAL, sl_epoch_create(&d, &(struct sl_epoch_opts){.participants = 0}));
	assert_null(d);
}

static void
epoch_frees_at_once_when_every_participant_is_offline(void **state)
{
	struct sl_epoch *d = domain(3, 0);
	struct obj a = {0};

	(void)state;
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));

	assert_true(a.freed);
	assert_int_equal(0, sl_epoch_reclaim(d));
	sl_epoch_destroy(d);
}

static void
epoch_keeps_object_until_online_participant_passes_quiescent_point(void **state)
{
	struct sl_epoch *d = domain(1, 0);
	struct obj a = {0};

	(void)state;
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	assert_int_equal(1, sl_epoch_reclaim(d));
	assert_false(a.freed);

	sl_epoch_quiescent(d, 0);
	assert_int_equal(0, sl_epoch_reclaim(d));
	assert_true(a.freed);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

static void
epoch_waits_for_every_online_participant(void **state)
{
	struct sl_epoch *d = domain(3, 0);
	struct obj a = {0};

	(void)state;
	sl_epoch_online(d, 0);
	sl_epoch_online(d, 1);
	sl_epoch_online(d, 2);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	sl_epoch_quiescent(d, 0);
	sl_epoch_quiescent(d, 2);
	assert_int_equal(1, sl_epoch_reclaim(d));
	assert_false(a.freed);

	sl_epoch_quiescent(d, 1);
	assert_int_equal(0, sl_epoch_reclaim(d));
	assert_true(a.freed);
	for (unsigned i = 0; i < 3; i++)
		sl_epoch_offline(d, i);
	sl_epoch_destroy(d);
}

static void
epoch_offline_participant_does_not_hold_reclamation(void **state)
{
	struct sl_epoch *d = domain(2, 0);
	struct obj a = {0};

	(void)state;
	sl_epoch_online(d, 0);
	sl_epoch_online(d, 1);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	sl_epoch_quiescent(d, 0);
	assert_int_equal(1, sl_epoch_reclaim(d));

	sl_epoch_offline(d, 1); /* blocked in a wait from now on */
	assert_int_equal(0, sl_epoch_reclaim(d));
	assert_true(a.freed);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

static void
epoch_online_after_retire_does_not_hold_that_object(void **state)
{
	struct sl_epoch *d = domain(2, 0);
	struct obj a = {0};

	(void)state;
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	/* comes online after the retire: it can only load what replaced <a> */
	sl_epoch_online(d, 1);
	sl_epoch_quiescent(d, 0);

	assert_int_equal(0, sl_epoch_reclaim(d));
	assert_true(a.freed);
	sl_epoch_offline(d, 0);
	sl_epoch_offline(d, 1);
	sl_epoch_destroy(d);
}

static void
epoch_quiescent_point_before_retire_does_not_count(void **state)
{
	struct sl_epoch *d = domain(1, 0);
	struct obj a = {0};

	(void)state;
	sl_epoch_online(d, 0);
	sl_epoch_quiescent(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));

	assert_int_equal(1, sl_epoch_reclaim(d));
	assert_false(a.freed);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

static void
epoch_frees_older_objects_while_newer_ones_wait(void **state)
{
	struct sl_epoch *d = domain(1, 0);
	struct obj a = {0}, b = {0}, c = {0};

	(void)state;
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	assert_int_equal(0, sl_epoch_retire(d, &b, obj_free));
	sl_epoch_quiescent(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &c, obj_free));

	assert_int_equal(1, sl_epoch_reclaim(d));
	assert_true(a.freed);
	assert_true(b.freed);
	assert_false(c.freed);
	assert_int_equal(1, a.order);
	assert_int_equal(2, b.order);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

static void
epoch_retire_fails_when_full_and_leaves_object_to_caller(void **state)
{
	struct sl_epoch *d = domain(1, 2);
	struct obj a = {0}, b = {0}, c = {0};
	struct sl_epoch_stats st;

	(void)state;
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	assert_int_equal(0, sl_epoch_retire(d, &b, obj_free));
	assert_int_equal(-ENOSPC, sl_epoch_retire(d, &c, obj_free));
	sl_epoch_stats(d, &st);
	assert_int_equal(2, st.retired);
	assert_int_equal(2, st.pending);

	/* a full domain reclaims before it refuses */
	sl_epoch_quiescent(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &c, obj_free));
	assert_true(a.freed);
	assert_true(b.freed);
	assert_false(c.freed);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

static void
epoch_destroy_frees_every_object_still_retired(void **state)
{
	struct sl_epoch *d = domain(1, 0);
	struct obj a = {0}, b = {0};

	(void)state;
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	assert_int_equal(0, sl_epoch_retire(d, &b, obj_free));
	sl_epoch_offline(d, 0);

	sl_epoch_destroy(d);
	assert_true(a.freed);
	assert_true(b.freed);
}

static void
epoch_stats_count_retired_freed_and_epochs(void **state)
{
	struct sl_epoch *d = domain(1, 0);
	struct obj a = {0}, b = {0};
	struct sl_epoch_stats st;

	(void)state;
	sl_epoch_stats(d, &st);
	assert_int_equal(1, st.epoch);
	sl_epoch_online(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &a, obj_free));
	sl_epoch_quiescent(d, 0);
	assert_int_equal(0, sl_epoch_retire(d, &b, obj_free));

	sl_epoch_stats(d, &st);
	assert_int_equal(3, st.epoch);
	assert_int_equal(2, st.retired);
	assert_int_equal(1, st.freed);
	assert_int_equal(1, st.pending);
	sl_epoch_offline(d, 0);
	sl_epoch_destroy(d);
}

/* ---- stress: readers dereference the current object while a writer replaces it ---- */

/* Objects published: fewer under sanitizers and in debug builds, which run far slower. */
#if defined(SL_SANITIZE_THREAD) || defined(SL_SANITIZE_ADDRESS) || defined(SL_DEBUG)
#define STRESS_OBJECTS 4000
#define STRESS_READS 200000
#else
#define STRESS_OBJECTS 20000
#define STRESS_READS 1000000
#endif
#define STRESS_READERS 3
#define CANARY 0x5eed5eed5eed5eedull
#define DEAD 0xdeaddeaddeaddeadull
/* Refused retires in a row before the writer reports a stall (bounds its loop). */
#define MAX_REFUSED_IN_A_ROW 10000000UL

struct snap {
	uint64_t canary; /* CANARY while live, DEAD once freed; plain: TSan checks the order */
	uint64_t serial; /* its index in objs */
};

struct stress {
	struct sl_epoch *d;
	_Atomic(struct snap *) cur;
	struct snap *objs;          /* STRESS_OBJECTS; never reused, so a dead canary stays dead */
	_Atomic unsigned bad;       /* reads that found a dead canary or a wrong serial */
	_Atomic unsigned backwards; /* a reader saw an older object after a newer one */
	_Atomic unsigned stalls;
};

struct reader {
	struct stress *s;
	unsigned index;
	pthread_t thread;
};

static void
snap_free(void *p)
{
	((struct snap *)p)->canary = DEAD;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct stress *s = r->s;
	uint64_t last = 0;

	sl_epoch_online(s->d, r->index);
	for (unsigned long i = 0; i < STRESS_READS; i++) {
		/* acquire: pairs with the writer's release store; the canary is written before */
		struct snap *o = atomic_load_explicit(&s->cur, memory_order_acquire);

		if (o->canary != CANARY || o != &s->objs[o->serial])
			atomic_fetch_add_explicit(&s->bad, 1, memory_order_relaxed);
		if (o->serial < last)
			atomic_fetch_add_explicit(&s->backwards, 1, memory_order_relaxed);
		last = o->serial;
		if (i % 64 == 0)
			sched_yield(); /* let the writer free what it can while we hold <o> */
		if (o->canary != CANARY)
			atomic_fetch_add_explicit(&s->bad, 1, memory_order_relaxed);
		if (i % 8 == 7)
			sl_epoch_quiescent(s->d, r->index);
		if (i % 1024 == 1023) { /* a blocking wait, as an event loop does */
			sl_epoch_offline(s->d, r->index);
			sched_yield();
			sl_epoch_online(s->d, r->index);
		}
	}
	sl_epoch_offline(s->d, r->index);
	return NULL;
}

static void
epoch_readers_never_see_a_freed_object_while_writer_replaces_it(void **state)
{
	struct reader readers[STRESS_READERS];
	struct sl_epoch_stats st;
	struct stress s = {0};

	(void)state;
	s.objs = calloc(STRESS_OBJECTS, sizeof(s.objs[0]));
	assert_non_null(s.objs);
	s.d = domain(STRESS_READERS, 8);
	s.objs[0] = (struct snap){.canary = CANARY, .serial = 0};
	atomic_init(&s.cur, &s.objs[0]);
	for (unsigned i = 0; i < STRESS_READERS; i++) {
		readers[i] = (struct reader){.s = &s, .index = i};
		assert_int_equal(
		        0, pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]));
	}

	for (unsigned n = 1; n < STRESS_OBJECTS; n++) {
		struct snap *old = atomic_load_explicit(&s.cur, memory_order_relaxed);
		unsigned long refused = 0;

		s.objs[n] = (struct snap){.canary = CANARY, .serial = n};
		/* release: the new object's fields before the pointer */
		atomic_store_explicit(&s.cur, &s.objs[n], memory_order_release);
		while (sl_epoch_retire(s.d, old, snap_free) == -ENOSPC) {
			if (++refused == MAX_REFUSED_IN_A_ROW) {
				atomic_fetch_add_explicit(&s.stalls, 1, memory_order_relaxed);
				break;
			}
			sched_yield();
		}
		if (refused == MAX_REFUSED_IN_A_ROW)
			break;
	}
	for (unsigned i = 0; i < STRESS_READERS; i++)
		pthread_join(readers[i].thread, NULL);
	sl_epoch_reclaim(s.d);
	sl_epoch_stats(s.d, &st);

	assert_int_equal(0, s.stalls);
	assert_int_equal(0, s.bad);
	assert_int_equal(0, s.backwards);
	assert_int_equal(STRESS_OBJECTS - 1, st.retired);
	assert_int_equal(STRESS_OBJECTS - 1, st.freed);
	for (unsigned n = 0; n < STRESS_OBJECTS - 1; n++)
		assert_true(s.objs[n].canary == DEAD);
	assert_true(s.objs[STRESS_OBJECTS - 1].canary == CANARY);
	sl_epoch_destroy(s.d);
	free(s.objs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(epoch_create_refuses_zero_participants),
	        cmocka_unit_test(epoch_frees_at_once_when_every_participant_is_offline),
	        cmocka_unit_test(
	                epoch_keeps_object_until_online_participant_passes_quiescent_point),
	        cmocka_unit_test(epoch_waits_for_every_online_participant),
	        cmocka_unit_test(epoch_offline_participant_does_not_hold_reclamation),
	        cmocka_unit_test(epoch_online_after_retire_does_not_hold_that_object),
	        cmocka_unit_test(epoch_quiescent_point_before_retire_does_not_count),
	        cmocka_unit_test(epoch_frees_older_objects_while_newer_ones_wait),
	        cmocka_unit_test(epoch_retire_fails_when_full_and_leaves_object_to_caller),
	        cmocka_unit_test(epoch_destroy_frees_every_object_still_retired),
	        cmocka_unit_test(epoch_stats_count_retired_freed_and_epochs),
	        cmocka_unit_test(epoch_readers_never_see_a_freed_object_while_writer_replaces_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
