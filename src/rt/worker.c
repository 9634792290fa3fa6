/* SPDX-License-Identifier: MIT */
/*
 * sl_worker: threads that each run one sl_loop, and their mailboxes. A post pushes onto the
 * worker's MPMC ring and wakes its loop; the loop's wake callback (worker_wake) drains the
 * ring. Start is a two-phase handshake: every thread reports its init result, then the
 * controlling thread says go or abort. Read include/sluice/worker.h first.
 *
 * Shared fields: g->lock guards nready, decision and each worker's init_err; w->stopping is
 * written by the controlling thread and read by the worker; the mailbox is the ring's business.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/ring.h>
#include <sluice/worker.h>

enum { DECISION_PENDING, DECISION_GO, DECISION_ABORT };

struct sl_worker {
	struct sl_worker_group *g;
	unsigned index;
	int cpu; /* to pin to; -1 = not pinned */
	struct sl_loop *loop;
	struct sl_ring_mpmc *mbox;
	size_t mbox_cap;
	pthread_t thread;
	int init_err; /* under g->lock */
	int loop_err; /* written by the worker, read after join */
	atomic_bool stopping;
} SL_CACHELINE_ALIGNED;

struct sl_worker_group {
	struct sl_worker_opts o;
	unsigned n;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned nready; /* workers that finished pin + init; under lock */
	int decision;    /* DECISION_*; under lock */
	struct sl_worker *w;
};

static _Thread_local struct sl_worker *sl_worker_self;

/* Runs up to a ring's worth of <w>'s posted messages; how many. */
static size_t
run_posted(struct sl_worker *w)
{
	size_t n;
	void *p;

	for (n = 0; n < w->mbox_cap && sl_ring_try_pop_mpmc(w->mbox, &p); n++) {
		struct sl_msg *m = p;

		m->fn(w, m);
	}
	return n;
}

/* Runs on the worker's loop: a post or a stop woke it. */
static void
worker_wake(struct sl_loop *l, void *arg)
{
	struct sl_worker *w = arg;
	/* at most one ring's worth per wake, so busy producers cannot starve the loop's io */
	size_t n = run_posted(w);

	/* A1: pairs with R1 in sl_worker_group_stop(); stop only once the flag is really set */
	if (atomic_load_explicit(&w->stopping, memory_order_acquire)) {
		/* no wake runs after the stop: what was posted before it (a ring's worth at most,
		 * all in the ring by now) runs here; what those post may not */
		(void)run_posted(w);
		sl_loop_stop(l);
		return;
	}
	if (n == w->mbox_cap)
		sl_loop_wake(l);
}

static int
worker_pin(struct sl_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
worker_main(void *arg)
{
	struct sl_worker *w = arg;
	struct sl_worker_group *g = w->g;
	int err, decision;

	sl_worker_self = w;
	err = worker_pin(w);
	if (err == 0 && g->o.init != NULL)
		err = g->o.init(w, w->index, g->o.arg);

	pthread_mutex_lock(&g->lock);
	w->init_err = err;
	g->nready++;
	pthread_cond_broadcast(&g->cond);
	while (g->decision == DECISION_PENDING)
		pthread_cond_wait(&g->cond, &g->lock);
	decision = g->decision;
	pthread_mutex_unlock(&g->lock);

	if (decision == DECISION_GO) {
		w->loop_err = sl_loop_run(w->loop);
		/* on this thread (a single-issuer ring takes no other): the kernel lets go of every
		 * buffer an op of the loop points at before anyone frees one */
		if (sl_loop_settle(w->loop, SL_WORKER_SETTLE_MS) != 0)
			sl_log_warn(
			        "worker %u: completion ops still in flight %d ms after its stop",
			        w->index, SL_WORKER_SETTLE_MS);
	}
	if (err == 0 && g->o.fini != NULL)
		g->o.fini(w, g->o.arg);
	sl_worker_self = NULL;
	return NULL;
}

/* "sl-worker-N" for top -H, perf and gdb (a name that does not fit the kernel's 15 bytes is
 * left out: the thread keeps the process's) */
static void
name_thread(const struct sl_worker *w)
{
	char name[16];
	int n = snprintf(name, sizeof(name), "sl-worker-%u", w->index);

	if (n > 0 && (size_t)n < sizeof(name))
		(void)pthread_setname_np(w->thread, name);
}

/* CPUs this process may run on, in order; returns how many (>= 1) were written to <cpus>. */
static unsigned
allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < max; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	if (n == 0) {
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		for (n = 0; n < max && (long)n < (online > 0 ? online : 1); n++)
			cpus[n] = (int)n;
	}
	return n;
}

/* Frees the first <n> workers' loops and mailboxes. */
static void
workers_free(struct sl_worker_group *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		sl_ring_mpmc_destroy(g->w[i].mbox);
		sl_loop_destroy(g->w[i].loop);
	}
}

int
sl_worker_group_create(struct sl_worker_group **out, const struct sl_worker_opts *o)
{
	int cpus[CPU_SETSIZE];
	struct sl_worker_group *g;
	unsigned ncpus, cap, made;
	int err;

	cap = o->mailbox_capacity != 0 ? o->mailbox_capacity : 1024;
	if (cap < 2 || (cap & (cap - 1)) != 0)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->o = *o;
	ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	g->n = o->nthreads != 0 ? o->nthreads : ncpus;
	g->w = aligned_alloc(SL_CACHELINE, g->n * sizeof(g->w[0]));
	if (g->w == NULL) {
		err = -ENOMEM;
		goto err_free_group;
	}
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		err = -ENOMEM;
		goto err_free_workers;
	}
	if (pthread_cond_init(&g->cond, NULL) != 0) {
		err = -ENOMEM;
		goto err_destroy_lock;
	}
	for (made = 0; made < g->n; made++) {
		struct sl_worker *w = &g->w[made];

		*w = (struct sl_worker){.g = g, .index = made, .mbox_cap = cap};
		w->cpu = o->pin_cpus ? cpus[made % ncpus] : -1;
		atomic_init(&w->stopping, false);
		err = sl_loop_create(&w->loop, &o->loop);
		if (err != 0)
			goto err_free_made;
		err = sl_ring_mpmc_create(&w->mbox, cap);
		if (err != 0) {
			sl_loop_destroy(w->loop);
			goto err_free_made;
		}
		sl_loop_set_wake_fn(w->loop, worker_wake, w);
	}
	*out = g;
	return 0;

err_free_made:
	workers_free(g, made);
	pthread_cond_destroy(&g->cond);
err_destroy_lock:
	pthread_mutex_destroy(&g->lock);
err_free_workers:
	free(g->w);
err_free_group:
	free(g);
	return err;
}

void
sl_worker_group_destroy(struct sl_worker_group *g)
{
	if (g == NULL)
		return;
	sl_worker_group_stop(g);
	workers_free(g, g->n);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g->w);
	free(g);
}

/* Publishes <decision> to the workers waiting in worker_main(). */
static void
group_decide(struct sl_worker_group *g, int decision)
{
	pthread_mutex_lock(&g->lock);
	g->decision = decision;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

int
sl_worker_group_start(struct sl_worker_group *g)
{
	unsigned started;
	int err = 0;

	if (g->running)
		return -EALREADY;
	g->nready = 0;
	g->decision = DECISION_PENDING;
	for (started = 0; started < g->n; started++) {
		struct sl_worker *w = &g->w[started];

		/* relaxed: no worker thread runs yet; pthread_create publishes it */
		atomic_store_explicit(&w->stopping, false, memory_order_relaxed);
		w->loop_err = 0;
		w->init_err = 0;
		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err != 0)
			break;
		name_thread(w);
	}

	pthread_mutex_lock(&g->lock);
	while (g->nready < started)
		pthread_cond_wait(&g->cond, &g->lock);
	for (unsigned i = 0; i < started && err == 0; i++)
		err = g->w[i].init_err;
	pthread_mutex_unlock(&g->lock);

	group_decide(g, err == 0 ? DECISION_GO : DECISION_ABORT);
	if (err != 0) {
		for (unsigned i = 0; i < started; i++)
			pthread_join(g->w[i].thread, NULL);
		return err;
	}
	g->running = true;
	return 0;
}

int
sl_worker_group_stop(struct sl_worker_group *g)
{
	int err = 0;

	if (!g->running)
		return 0;
	SL_ASSERT(sl_worker_self == NULL || sl_worker_self->g != g);
	for (unsigned i = 0; i < g->n; i++) {
		struct sl_worker *w = &g->w[i];

		/* R1: pairs with A1 in worker_wake() */
		atomic_store_explicit(&w->stopping, true, memory_order_release);
		sl_loop_wake(w->loop);
	}
	for (unsigned i = 0; i < g->n; i++) {
		pthread_join(g->w[i].thread, NULL);
		if (err == 0)
			err = g->w[i].loop_err;
	}
	g->running = false;
	return err;
}

unsigned
sl_worker_group_size(const struct sl_worker_group *g)
{
	return g->n;
}

struct sl_worker *
sl_worker_at(struct sl_worker_group *g, unsigned i)
{
	SL_ASSERT(i < g->n);
	return &g->w[i];
}

struct sl_loop *
sl_worker_loop(struct sl_worker *w)
{
	return w->loop;
}

unsigned
sl_worker_index(const struct sl_worker *w)
{
	return w->index;
}

int
sl_worker_cpu(const struct sl_worker *w)
{
	return w->cpu;
}

struct sl_worker *
sl_worker_current(void)
{
	return sl_worker_self;
}

int
sl_worker_post(struct sl_worker *w, struct sl_msg *m)
{
	int err;

	/* the ring publishes <m> to its consumer; the wake makes the worker look */
	if (!sl_ring_try_push_mpmc(w->mbox, m))
		return -EAGAIN;
	/* <m> is queued, so report success: a wake fails only on a destroyed loop */
	err = sl_loop_wake(w->loop);
	SL_ASSERT(err == 0);
	(void)err;
	return 0;
}
