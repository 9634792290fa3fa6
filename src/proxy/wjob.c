// SPDX-License-Identifier: MIT
/*
 * A change handed to every worker and waited for (struct sl__wjob, proxy_int.h): the one way a
 * backend change (backends.c), a group slot reclaim (greload.c) and a listener change
 * (lreload.c) reach the workers. The job is reference-counted, the caller's reference and one
 * per posted message, so the controlling thread may stop waiting for a slow worker without
 * freeing what that worker will still read. sl__wjob_post_all() wraps it for a callback.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/proxy_int.h"

int
sl__wjob_init(struct sl__wjob *j, void (*free)(struct sl__wjob *j))
{
	pthread_condattr_t ca;
	int err;

	err = pthread_mutex_init(&j->mu, NULL);
	if (err != 0)
		return -err;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (err != 0) {
		pthread_mutex_destroy(&j->mu);
		return -err;
	}
	j->refs = 1;
	j->done = 0;
	j->free = free;
	return 0;
}

void
sl__wjob_fini(struct sl__wjob *j)
{
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
}

void
sl__wjob_put(struct sl__wjob *j, bool took)
{
	bool last;

	pthread_mutex_lock(&j->mu);
	j->done += took;
	last = --j->refs == 0;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (last)
		j->free(j);
}

unsigned
sl__wjob_run(struct sl_proxy *p, struct sl__wjob *j,
             struct sl_msg *(*msg)(struct sl__wjob *j, unsigned i), unsigned timeout_ms,
             const char *who, const char *what)
{
	unsigned n = p->nworkers, posted = 0, done;
	struct timespec dl;

	/* a reference for every message, taken before the first post (nothing shares the job
	 * yet); those of messages that could not be posted are given back below */
	j->refs += n;
	for (unsigned i = 0; i < n; i++) {
		if (sl__proxy_post(&p->workers[i], msg(j, i)) == 0) {
			posted++;
			continue;
		}
		sl_log_error("%s: worker %u's mailbox stays full: it keeps its old %ss", who, i,
		             what);
	}
	sl_clock_deadline(&dl, (uint64_t)timeout_ms * 1000);
	pthread_mutex_lock(&j->mu);
	j->refs -= n - posted; /* never to 0: ours is still there */
	while (j->done < posted)
		if (pthread_cond_timedwait(&j->cv, &j->mu, &dl) == ETIMEDOUT)
			break;
	done = j->done;
	if (done < posted)
		sl_log_warn("%s: a %s change still waits for %u worker(s)", who, what,
		            posted - done);
	pthread_mutex_unlock(&j->mu);
	sl__wjob_put(j, false);
	return done;
}

/* ---- one callback on every worker ---- */

struct all_job;

/* One worker's part of an all_job. */
struct all_msg {
	struct sl_msg m; /* first: the worker gets this back */
	struct all_job *job;
	struct sl_pworker *w;
};

/* A sl__wjob_post_all() call's job; freed by whoever lets go of it last. */
struct all_job {
	struct sl__wjob base;
	void (*fn)(struct sl_pworker *w, void *arg);
	void *arg;
	void (*arg_free)(void *arg);
	struct all_msg w[]; /* one per worker */
};

static void
all_free(struct sl__wjob *j)
{
	struct all_job *job = sl_container_of(j, struct all_job, base);

	if (job->arg_free != NULL)
		job->arg_free(job->arg);
	sl__wjob_fini(&job->base);
	free(job);
}

/* Worker <i>'s message of the job. */
static struct sl_msg *
all_msg(struct sl__wjob *j, unsigned i)
{
	return &sl_container_of(j, struct all_job, base)->w[i].m;
}

/* On the worker: its part, then its reference. */
static void
all_take(struct sl_worker *wk, struct sl_msg *m)
{
	struct all_msg *wm = (struct all_msg *)m;
	struct all_job *job = wm->job;

	(void)wk;
	job->fn(wm->w, job->arg);
	sl__wjob_put(&job->base, true);
}

ssize_t
sl__wjob_post_all(struct sl_proxy *p, void (*fn)(struct sl_pworker *w, void *arg), void *arg,
                  void (*arg_free)(void *arg), unsigned timeout_ms, const char *who,
                  const char *what)
{
	struct all_job *job = calloc(1, sizeof(*job) + p->nworkers * sizeof(job->w[0]));

	if (job == NULL)
		return -ENOMEM;
	if (sl__wjob_init(&job->base, all_free) != 0) {
		free(job);
		return -ENOMEM;
	}
	job->fn = fn;
	job->arg = arg;
	job->arg_free = arg_free;
	for (unsigned i = 0; i < p->nworkers; i++)
		job->w[i] = (struct all_msg){
		        .m = {.fn = all_take, .data = &job->w[i]}, .job = job, .w = &p->workers[i]};
	return sl__wjob_run(p, &job->base, all_msg, timeout_ms, who, what);
}
