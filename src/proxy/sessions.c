// SPDX-License-Identifier: MIT
/*
 * sl_proxy_sessions() (include/sluice/proxy.h): the list of open sessions, for the control
 * socket's "show sessions". Sessions belong to their worker's thread, so the caller posts one
 * message per worker and each worker appends its own sessions to a shared request object.
 * The request is reference-counted: a worker that answers after the caller stopped waiting
 * still writes into the request (never into the caller's memory), and the last one out frees it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/clock.h>
#include <sluice/fwd.h>
#include <sluice/loop.h>
#include <sluice/proxy.h>
#include <sluice/worker.h>

#include "proxy/proxy_int.h"
#include "proxy/session.h"

#define LIST_TIMEOUT_MS 1000

struct list_req {
	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;  /* pending reached 0 */
	struct sl_proxy *p;
	unsigned refs;                     /* the caller and every worker still to answer */
	unsigned pending;                  /* workers still to answer */
	struct sl_proxy_session_info *out; /* <max> entries, the request's own */
	size_t max, n;                     /* n: sessions seen, may exceed max */
	struct sl_msg msgs[];              /* one per worker */
};

static void
req_put_locked(struct list_req *r)
{
	bool last = --r->refs == 0;

	pthread_mutex_unlock(&r->mu);
	if (!last)
		return;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->out);
	free(r);
}

static void
describe(struct sl_proxy_session_info *o, const struct sl_session *s, const struct sl_pworker *w,
         uint64_t now)
{
	const struct sl_config_group *g = s->l->group->cfg;

	memset(o, 0, sizeof(*o));
	o->worker = w->index;
	snprintf(o->listener, sizeof(o->listener), "%s", s->l->cfg->name);
	if (s->peer.len != 0 && s->peer.len <= sizeof(o->client.ss)) {
		memcpy(&o->client.ss, &s->peer.sa, s->peer.len);
		o->client.len = s->peer.len;
	}
	snprintf(o->group, sizeof(o->group), "%s", g->name);
	if (s->backend >= 0 && (size_t)s->backend < s->l->group->n) {
		/* the session still holds the slot: its occupant cannot change under us (the
		 * file's list is not the slot table once backends change at run time or by reload)
		 */
		const struct sl_backend *b = &s->l->group->backends[s->backend];

		snprintf(o->backend, sizeof(o->backend), "%s", b->name);
	}
	o->state = sl__session_state_name(s->state);
	o->age_ms = now > s->start_ms ? now - s->start_ms : 0;
	o->bytes_in = sl_fwd_bytes(&s->fwd, SL_FWD_CLIENT);
	o->bytes_out = sl_fwd_bytes(&s->fwd, SL_FWD_SERVER);
}

/* On a worker: appends its open sessions to the request. */
static void
list_on_worker(struct sl_worker *wk, struct sl_msg *m)
{
	struct list_req *r = m->data;
	const struct sl_pworker *w = NULL;
	uint64_t now;

	for (unsigned i = 0; i < r->p->nworkers && w == NULL; i++)
		if (r->p->workers[i].w == wk)
			w = &r->p->workers[i];
	pthread_mutex_lock(&r->mu);
	if (w != NULL) {
		now = sl_loop_now_ms(w->loop);
		for (struct sl_session *s = w->live; s != NULL; s = s->next, r->n++) {
			if (r->n >= r->max)
				continue;
			sl_fwd_sync(&s->fwd); /* sockmap: the kernel's counts */
			describe(&r->out[r->n], s, w, now);
		}
	}
	if (--r->pending == 0)
		pthread_cond_broadcast(&r->cv);
	req_put_locked(r);
}

int
sl_proxy_sessions(struct sl_proxy *p, struct sl_proxy_session_info *out, size_t max, size_t *n)
{
	unsigned nw = p->nworkers;
	pthread_condattr_t ca;
	struct list_req *r;
	struct timespec dl;
	int err = 0;

	*n = 0;
	r = calloc(1, sizeof(*r) + nw * sizeof(r->msgs[0]));
	if (r == NULL)
		return -ENOMEM;
	r->out = calloc(max > 0 ? max : 1, sizeof(*r->out));
	if (r->out == NULL) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sl_clock_deadline()'s clock */
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->p = p;
	r->max = max;
	r->refs = 1 + nw;
	r->pending = nw;
	sl_clock_deadline(&dl, (uint64_t)LIST_TIMEOUT_MS * 1000);
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < nw; i++) {
		r->msgs[i] = (struct sl_msg){.fn = list_on_worker, .data = r};
		if (p->workers[i].w == NULL || sl_worker_post(p->workers[i].w, &r->msgs[i]) != 0) {
			/* not posted: this worker will not answer */
			r->pending--;
			r->refs--;
			err = -EBUSY;
		}
	}
	while (r->pending > 0)
		if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) {
			if (r->pending > 0)
				err = -ETIMEDOUT;
			break;
		}
	if (max > 0)
		memcpy(out, r->out, (r->n < max ? r->n : max) * sizeof(*out));
	*n = r->n;
	req_put_locked(r);
	return err;
}
