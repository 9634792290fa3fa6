/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_worker (include/sluice/worker.h): start and init, message delivery
 * to the right thread, many producers, a full mailbox, stop and fini. Every wait is bounded
 * (a hang guard, not a timing assertion) and synchronises on an event, never on a sleep.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <sluice/worker.h>

#define HANG_GUARD_S 30

/* A counter threads can wait on, with a bounded wait. */
struct latch {
	pthread_mutex_t m;
	pthread_cond_t c;
	int n;
};

static void
latch_init(struct latch *l)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_mutex_init(&l->m, NULL);
	pthread_cond_init(&l->c, &a);
	pthread_condattr_destroy(&a);
	l->n = 0;
}

static void
latch_fini(struct latch *l)
{
	pthread_cond_destroy(&l->c);
	pthread_mutex_destroy(&l->m);
}

static void
latch_add(struct latch *l, int k)
{
	pthread_mutex_lock(&l->m);
	l->n += k;
	pthread_cond_broadcast(&l->c);
	pthread_mutex_unlock(&l->m);
}

/* true once the count reaches <want>; false if the hang guard expires first. */
static bool
latch_wait(struct latch *l, int want)
{
	struct timespec deadline;
	int rc = 0;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += HANG_GUARD_S;
	pthread_mutex_lock(&l->m);
	while (l->n < want && rc == 0)
		rc = pthread_cond_timedwait(&l->c, &l->m, &deadline);
	ok = l->n >= want;
	pthread_mutex_unlock(&l->m);
	return ok;
}

static struct sl_worker_group *
group_new(struct sl_worker_opts *o)
{
	struct sl_worker_group *g = NULL;

	assert_int_equal(0, sl_worker_group_create(&g, o));
	return g;
}

/* ---- start, init, fini ---- */

struct starts {
	pthread_mutex_t m;
	unsigned mask;    /* bit i: init ran for index i */
	int wrong;        /* init or fini saw an inconsistent worker */
	int finis;        /* fini calls on the right thread */
	unsigned fail_at; /* init of this index fails; UINT32_MAX = none */
	pthread_t threads[8];
};

static int
record_init(struct sl_worker *w, unsigned index, void *arg)
{
	struct starts *s = arg;

	pthread_mutex_lock(&s->m);
	if (sl_worker_current() != w || sl_worker_index(w) != index || (s->mask & (1u << index)))
		s->wrong++;
	s->mask |= 1u << index;
	s->threads[index] = pthread_self();
	pthread_mutex_unlock(&s->m);
	return index == s->fail_at ? -EIO : 0;
}

static void
record_fini(struct sl_worker *w, void *arg)
{
	struct starts *s = arg;

	pthread_mutex_lock(&s->m);
	if (sl_worker_current() == w &&
	    pthread_equal(s->threads[sl_worker_index(w)], pthread_self()))
		s->finis++;
	else
		s->wrong++;
	pthread_mutex_unlock(&s->m);
}

static void
starts_init(struct starts *s, struct sl_worker_opts *o, unsigned n)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->m, NULL);
	s->fail_at = UINT32_MAX;
	memset(o, 0, sizeof(*o));
	o->nthreads = n;
	o->init = record_init;
	o->fini = record_fini;
	o->arg = s;
}

static void
init_runs_on_every_worker_with_distinct_indexes(void **state)
{
	struct sl_worker_opts o;
	struct starts s;
	struct sl_worker_group *g;

	(void)state;
	starts_init(&s, &o, 3);
	g = group_new(&o);

	assert_int_equal(0, sl_worker_group_start(g));

	assert_int_equal(0x7, s.mask);
	assert_int_equal(0, s.wrong);
	assert_false(pthread_equal(s.threads[0], s.threads[1]));
	assert_false(pthread_equal(s.threads[1], s.threads[2]));
	sl_worker_group_destroy(g);
}

static void
stop_joins_and_runs_fini_on_each_worker_thread(void **state)
{
	struct sl_worker_opts o;
	struct starts s;
	struct sl_worker_group *g;

	(void)state;
	starts_init(&s, &o, 3);
	g = group_new(&o);
	assert_int_equal(0, sl_worker_group_start(g));

	assert_int_equal(0, sl_worker_group_stop(g));

	assert_int_equal(3, s.finis);
	assert_int_equal(0, s.wrong);
	sl_worker_group_destroy(g);
}

static void
start_fails_when_one_init_fails_and_finis_the_others(void **state)
{
	struct sl_worker_opts o;
	struct starts s;
	struct sl_worker_group *g;

	(void)state;
	starts_init(&s, &o, 3);
	s.fail_at = 1;
	g = group_new(&o);

	assert_int_equal(-EIO, sl_worker_group_start(g));

	assert_int_equal(0x7, s.mask);
	assert_int_equal(2, s.finis);
	assert_int_equal(0, s.wrong);
	sl_worker_group_destroy(g);
}

static void
group_of_zero_threads_has_a_worker_per_allowed_cpu(void **state)
{
	struct sl_worker_opts o = {0};
	struct sl_worker_group *g;
	cpu_set_t set;

	(void)state;
	assert_int_equal(0, sched_getaffinity(0, sizeof(set), &set));
	g = group_new(&o);

	assert_int_equal(CPU_COUNT(&set), sl_worker_group_size(g));

	sl_worker_group_destroy(g);
}

static int
record_affinity_init(struct sl_worker *w, unsigned index, void *arg)
{
	atomic_int *single = arg;
	cpu_set_t set;

	(void)w;
	(void)index;
	/* relaxed: read by the controlling thread after start, which synchronises with init */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1)
		atomic_fetch_add_explicit(single, 1, memory_order_relaxed);
	return 0;
}

static void
pin_cpus_pins_each_worker_to_one_cpu(void **state)
{
	atomic_int single = 0;
	struct sl_worker_opts o = {
	        .nthreads = 2, .pin_cpus = true, .init = record_affinity_init, .arg = &single};
	struct sl_worker_group *g;

	(void)state;
	g = group_new(&o);

	assert_int_equal(0, sl_worker_group_start(g));

	/* relaxed: see record_affinity_init() */
	assert_int_equal(2, atomic_load_explicit(&single, memory_order_relaxed));
	sl_worker_group_destroy(g);
}

static void
worker_cpu_names_the_allowed_cpu_it_is_pinned_to(void **state)
{
	struct sl_worker_opts o = {.nthreads = 3, .pin_cpus = true};
	int cpus[CPU_SETSIZE], n = 0;
	struct sl_worker_group *g;
	cpu_set_t set;

	(void)state;
	assert_int_equal(0, sched_getaffinity(0, sizeof(set), &set));
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	g = group_new(&o);

	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(cpus[i % (unsigned)n], sl_worker_cpu(sl_worker_at(g, i)));
	sl_worker_group_destroy(g);
}

static void
worker_cpu_is_minus_one_when_not_pinned(void **state)
{
	struct sl_worker_opts o = {.nthreads = 2};
	struct sl_worker_group *g;

	(void)state;
	g = group_new(&o);

	assert_int_equal(-1, sl_worker_cpu(sl_worker_at(g, 0)));
	assert_int_equal(-1, sl_worker_cpu(sl_worker_at(g, 1)));
	sl_worker_group_destroy(g);
}

/* ---- posting ---- */

struct where {
	struct sl_msg m;
	struct sl_worker *ran_on;
	pthread_t thread;
	struct latch done;
};

static void
record_where_fn(struct sl_worker *w, struct sl_msg *m)
{
	struct where *x = m->data;

	x->ran_on = sl_worker_current();
	x->thread = pthread_self();
	(void)w;
	latch_add(&x->done, 1);
}

static void
post_runs_fn_on_the_target_worker_thread(void **state)
{
	struct sl_worker_opts o;
	struct starts s;
	struct sl_worker_group *g;
	struct where x = {.m = {.fn = record_where_fn, .data = &x}};

	(void)state;
	latch_init(&x.done);
	starts_init(&s, &o, 3);
	g = group_new(&o);
	assert_int_equal(0, sl_worker_group_start(g));

	assert_int_equal(0, sl_worker_post(sl_worker_at(g, 2), &x.m));

	assert_true(latch_wait(&x.done, 1));
	assert_ptr_equal(sl_worker_at(g, 2), x.ran_on);
	assert_true(pthread_equal(s.threads[2], x.thread));
	assert_null(sl_worker_current());
	sl_worker_group_destroy(g);
	latch_fini(&x.done);
}

#define PRODUCERS 4
#define PER_PRODUCER 4000
#define TOTAL (PRODUCERS * PER_PRODUCER)

struct flood {
	struct sl_worker_group *g;
	struct sl_msg msgs[TOTAL];
	unsigned char seen[TOTAL]; /* each written by the one worker that ran that message */
	int unsent;                /* producers that gave up on a full mailbox */
	atomic_int delivered;
	struct latch done;
};

static void
flood_fn(struct sl_worker *w, struct sl_msg *m)
{
	struct flood *f = m->data;

	(void)w;
	f->seen[m - f->msgs]++;
	/* relaxed: a plain tally; latch_add publishes the final count */
	if (atomic_fetch_add_explicit(&f->delivered, 1, memory_order_relaxed) + 1 == TOTAL)
		latch_add(&f->done, 1);
}

struct producer {
	struct flood *f;
	int id;
	bool gave_up;
};

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	struct flood *f = p->f;
	unsigned n = sl_worker_group_size(f->g);

	for (int i = 0; i < PER_PRODUCER; i++) {
		int k = p->id * PER_PRODUCER + i;
		long tries = 0;

		f->msgs[k] = (struct sl_msg){.fn = flood_fn, .data = f};
		while (sl_worker_post(sl_worker_at(f->g, (unsigned)k % n), &f->msgs[k]) ==
		       -EAGAIN) {
			if (++tries > 50000000) {
				p->gave_up = true;
				return NULL;
			}
			sched_yield();
		}
	}
	return NULL;
}

static void
posts_from_several_threads_are_delivered_exactly_once(void **state)
{
	static struct flood f;
	struct sl_worker_opts o = {.nthreads = 2, .mailbox_capacity = 64};
	struct producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	int gave_up = 0, wrong = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	latch_init(&f.done);
	f.g = group_new(&o);
	assert_int_equal(0, sl_worker_group_start(f.g));
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){.f = &f, .id = i};
		assert_int_equal(0, pthread_create(&th[i], NULL, producer_main, &p[i]));
	}
	for (int i = 0; i < PRODUCERS; i++) {
		assert_int_equal(0, pthread_join(th[i], NULL));
		gave_up += p[i].gave_up;
	}

	assert_int_equal(0, gave_up);
	assert_true(latch_wait(&f.done, 1));
	assert_int_equal(0, sl_worker_group_stop(f.g));
	for (int k = 0; k < TOTAL; k++)
		wrong += f.seen[k] != 1;
	assert_int_equal(0, wrong);
	sl_worker_group_destroy(f.g);
	latch_fini(&f.done);
}

struct blocker {
	struct sl_msg m;
	struct latch entered, release;
	bool released; /* the release came before the hang guard */
};

static void
blocker_fn(struct sl_worker *w, struct sl_msg *m)
{
	struct blocker *b = m->data;

	(void)w;
	latch_add(&b->entered, 1);
	b->released = latch_wait(&b->release, 1);
}

static void
count_fn(struct sl_worker *w, struct sl_msg *m)
{
	(void)w;
	latch_add(m->data, 1);
}

static void
post_returns_eagain_when_the_mailbox_is_full(void **state)
{
	enum { CAP = 8 };
	struct sl_worker_opts o = {.nthreads = 1, .mailbox_capacity = CAP};
	struct sl_msg fill[CAP], extra;
	struct blocker b = {.m = {.fn = blocker_fn, .data = &b}};
	struct latch ran;
	struct sl_worker_group *g;
	struct sl_worker *w;
	int accepted = 0, err;

	(void)state;
	latch_init(&b.entered);
	latch_init(&b.release);
	latch_init(&ran);
	g = group_new(&o);
	w = sl_worker_at(g, 0);
	assert_int_equal(0, sl_worker_group_start(g));
	/* the worker sits in blocker_fn: nothing drains the mailbox until the release */
	assert_int_equal(0, sl_worker_post(w, &b.m));
	assert_true(latch_wait(&b.entered, 1));
	for (int i = 0; i < CAP; i++) {
		fill[i] = (struct sl_msg){.fn = count_fn, .data = &ran};
		accepted += sl_worker_post(w, &fill[i]) == 0;
	}
	extra = (struct sl_msg){.fn = count_fn, .data = &ran};

	err = sl_worker_post(w, &extra);

	latch_add(&b.release, 1);
	assert_int_equal(-EAGAIN, err);
	assert_int_equal(CAP, accepted);
	assert_true(latch_wait(&ran, CAP));
	assert_int_equal(0, sl_worker_group_stop(g));
	assert_true(b.released);
	sl_worker_group_destroy(g);
	latch_fini(&b.entered);
	latch_fini(&b.release);
	latch_fini(&ran);
}

/* Releases the blocker <arg> a little after the stop began (the stop waits on the worker). */
static void *
release_later(void *arg)
{
	struct blocker *b = arg;
	struct timespec gap = {.tv_nsec = 50 * 1000 * 1000};

	nanosleep(&gap, NULL);
	latch_add(&b->release, 1);
	return NULL;
}

static void
stop_runs_every_message_posted_before_it_past_a_ring(void **state)
{
	enum { CAP = 4 };
	struct sl_worker_opts o = {.nthreads = 1, .mailbox_capacity = CAP};
	struct blocker b = {.m = {.fn = blocker_fn, .data = &b}};
	struct sl_msg fill[CAP];
	struct sl_worker_group *g;
	struct latch ran;
	pthread_t t;

	(void)state;
	latch_init(&b.entered);
	latch_init(&b.release);
	latch_init(&ran);
	g = group_new(&o);
	assert_int_equal(0, sl_worker_group_start(g));
	/* the blocker runs first in a wake that then takes CAP - 1 more: the last one needs
	 * another wake, which the stop (seen at the end of this one) must not cancel */
	assert_int_equal(0, sl_worker_post(sl_worker_at(g, 0), &b.m));
	assert_true(latch_wait(&b.entered, 1));
	for (int i = 0; i < CAP; i++) {
		fill[i] = (struct sl_msg){.fn = count_fn, .data = &ran};
		assert_int_equal(0, sl_worker_post(sl_worker_at(g, 0), &fill[i]));
	}
	assert_int_equal(0, pthread_create(&t, NULL, release_later, &b));

	assert_int_equal(0, sl_worker_group_stop(g));

	pthread_join(t, NULL);
	assert_true(b.released);
	assert_true(latch_wait(&ran, CAP)); /* already there: the stop joined the worker */
	sl_worker_group_destroy(g);
	latch_fini(&b.entered);
	latch_fini(&b.release);
	latch_fini(&ran);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(init_runs_on_every_worker_with_distinct_indexes),
	        cmocka_unit_test(stop_joins_and_runs_fini_on_each_worker_thread),
	        cmocka_unit_test(start_fails_when_one_init_fails_and_finis_the_others),
	        cmocka_unit_test(group_of_zero_threads_has_a_worker_per_allowed_cpu),
	        cmocka_unit_test(pin_cpus_pins_each_worker_to_one_cpu),
	        cmocka_unit_test(worker_cpu_names_the_allowed_cpu_it_is_pinned_to),
	        cmocka_unit_test(worker_cpu_is_minus_one_when_not_pinned),
	        cmocka_unit_test(post_runs_fn_on_the_target_worker_thread),
	        cmocka_unit_test(posts_from_several_threads_are_delivered_exactly_once),
	        cmocka_unit_test(post_returns_eagain_when_the_mailbox_is_full),
	        cmocka_unit_test(stop_runs_every_message_posted_before_it_past_a_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
