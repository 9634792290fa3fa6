// SPDX-License-Identifier: MIT
/*
 * Listening sockets handed from one sluice process to the next (binary upgrade): the new
 * process's listeners take the old one's sockets instead of opening their own
 * (sl_proxy_inherit(), sl__handover_take()), and the old one lists what it listens on
 * (sl_proxy_sockets()). Passing them between the processes is the application's (fdpass.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/sock.h>

#include "proxy/session.h"
#include "proxy/steer.h"

int
sl_proxy_inherit(struct sl_proxy *p, const struct sl_proxy_socket *s, size_t n)
{
	struct sl_proxy_socket *copy;

	if (p->running || p->listening)
		return -EALREADY;
	copy = realloc(p->inherited, (p->ninherited + n) * sizeof(*copy));
	if (copy == NULL && p->ninherited + n > 0)
		return -ENOMEM;
	p->inherited = copy;
	memcpy(p->inherited + p->ninherited, s, n * sizeof(*s));
	p->ninherited += n;
	return 0;
}

size_t
sl_proxy_sockets(const struct sl_proxy *p, struct sl_proxy_socket *out, size_t max)
{
	/* a reload changes the slots under bk_mu (a mutex is not part of the value) */
	pthread_mutex_t *mu = (pthread_mutex_t *)&p->bk_mu;
	size_t nl = p->lcap, k = 0;

	if (p->lfds == NULL)
		return 0;
	pthread_mutex_lock(mu);
	for (size_t i = 0; i < nl; i++) {
		if (/* relaxed: written under bk_mu, held here or by the writer */
		    atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) !=
		    SL_LSLOT_LIVE)
			continue;
		for (unsigned w = 0; w < p->nworkers; w++) {
			int fd = p->lfds[(size_t)w * nl + i];

			if (fd < 0)
				continue;
			if (k < max) {
				snprintf(out[k].name, sizeof(out[k].name), "%s",
				         p->lslots[i].cfg.name);
				out[k].fd = fd;
			}
			k++;
		}
	}
	pthread_mutex_unlock(mu);
	return k;
}

/*
 * true if inherited socket <s> serves listener <c>: it listens on <c>'s address, or, for a
 * listener on port 0 (the kernel's choice), it has <c>'s name and address family.
 */
static bool
serves(const struct sl_proxy_socket *s, const struct sl_config_listener *c)
{
	struct sl_addr a;

	if (sl_sock_local_addr(s->fd, &a) != 0)
		return false;
	if (sl_addr_port(&c->addr) != 0)
		return sl_addr_equal(&a, &c->addr);
	return strcmp(s->name, c->name) == 0 && a.ss.ss_family == c->addr.ss.ss_family;
}

int
sl__handover_take(struct sl_proxy *p, const struct sl_config_listener *c)
{
	for (size_t k = 0; k < p->ninherited; k++) {
		struct sl_proxy_socket *s = &p->inherited[k];
		int fd = s->fd;

		if (fd >= 0 && serves(s, c)) {
			s->fd = -1;
			return fd;
		}
	}
	return -1;
}

/* The live listener slot that inherited socket <s> belongs to, or NULL (its listener is gone). */
static const struct sl_lslot *
surplus_owner(const struct sl_proxy *p, const struct sl_proxy_socket *s)
{
	if (p->lslots == NULL)
		return NULL;
	for (size_t i = 0; i < p->lcap; i++)
		if (/* relaxed: the controlling thread wrote it, before the workers run */
		    atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) ==
		            SL_LSLOT_LIVE &&
		    serves(s, &p->lslots[i].cfg))
			return &p->lslots[i];
	return NULL;
}

/*
 * The sockets of a listener this process keeps that have no worker here (fewer workers now):
 * the old process closes them once it stops accepting, and clients that reached their queues
 * in between would be reset; a select-or-migrate program on the group moves them to this
 * process's sockets instead (steer.h). Once per listener, for the <n> such sockets of
 * inherited[k]'s listener. They go to the first worker's socket: the old process closes its
 * sockets on several threads at once, and a client moved to another of them that stops
 * listening just then would be reset. Steering by CPU has such a program already, attached by
 * this process with a map of its own sockets (sl__proxy_steer()): to the socket of the CPU
 * the kernel moves them on, else to the first worker's.
 */
static void
surplus_migrate(const struct sl_proxy *p, const struct sl_proxy_socket *s,
                const struct sl_lslot *slot, unsigned n)
{
	int fd = p->lfds[slot - p->lslots]; /* worker 0's */
	char why[256];
	int err;

	if (slot->steered) {
		err = 0; /* the steering program migrates too, to a socket that stays open */
	} else if (fd >= 0) {
		err = sl__steer_migrate(fd, why, sizeof(why));
	} else {
		err = -EBADF;
		snprintf(why, sizeof(why), "no socket of this process listens there");
	}
	if (err != 0)
		sl_log_warn(
		        "upgrade: listener %s: %u socket%s of the previous process ha%s no "
		        "worker here: clients waiting in %s queue%s are reset when that process "
		        "closes %s (%s)",
		        s->name, n, n == 1 ? "" : "s", n == 1 ? "s" : "ve",
		        n == 1 ? "its" : "their", n == 1 ? "" : "s", n == 1 ? "it" : "them", why);
	else
		sl_log_info("upgrade: listener %s: %u socket%s of the previous process ha%s no "
		            "worker here: clients waiting in %s queue%s move to this process's "
		            "sockets when that process closes %s",
		            s->name, n, n == 1 ? "" : "s", n == 1 ? "s" : "ve",
		            n == 1 ? "its" : "their", n == 1 ? "" : "s", n == 1 ? "it" : "them");
}

/* Says what happens to the inherited sockets no listener took, once per listener. */
static void
surplus_report(const struct sl_proxy *p)
{
	for (size_t k = 0; k < p->ninherited; k++) {
		const struct sl_proxy_socket *s = &p->inherited[k];
		const struct sl_lslot *slot;
		unsigned n = 1;
		bool seen = false;

		if (s->fd < 0)
			continue;
		slot = surplus_owner(p, s);
		for (size_t j = 0; j < p->ninherited; j++) {
			const struct sl_proxy_socket *o = &p->inherited[j];

			if (j == k || o->fd < 0 || surplus_owner(p, o) != slot ||
			    (slot == NULL && strcmp(o->name, s->name) != 0))
				continue;
			if (j < k)
				seen = true;
			else
				n++;
		}
		if (seen)
			continue; /* reported with the first of its listener */
		if (slot == NULL)
			sl_log_warn("upgrade: the previous process's listener %s is gone or moved: "
			            "clients waiting in its queue are reset when that process "
			            "closes it",
			            s->name);
		else
			surplus_migrate(p, s, slot, n);
	}
}

void
sl__handover_close_rest(struct sl_proxy *p, bool warn)
{
	if (warn)
		surplus_report(p);
	for (size_t k = 0; k < p->ninherited; k++) {
		struct sl_proxy_socket *s = &p->inherited[k];

		if (s->fd < 0)
			continue;
		close(s->fd);
		s->fd = -1;
	}
}

/* ---- sessions: the old process's side ---- */

/* This worker is done holding: the rest read again; reports to sl_proxy_export(). */
static void
move_done(struct sl_pworker *w)
{
	struct sl_proxy *p = w->p;

	if (!w->moving)
		return;
	w->moving = false;
	sl_loop_timer_cancel(w->loop, &w->move_timer);
	for (struct sl_session *s = w->live; s != NULL; s = s->next)
		if (s->fwd.hold)
			sl__session_release(s);
	w->nholding = 0;
	pthread_mutex_lock(&p->mu);
	p->moved_workers++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void
move_timeout(struct sl_loop *loop, struct sl_timer *t)
{
	(void)loop;
	move_done(t->data);
}

/* On the worker: stop accepting; reports to sl_proxy_export(). */
static void
worker_shut(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;
	struct sl_proxy *p = w->p;

	(void)wk;
	sl__pworker_listeners_close(w);
	pthread_mutex_lock(&p->mu);
	p->shut_workers++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* On the worker: hold every forwarding session, move those already empty. */
static void
worker_move(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;
	struct sl_session *s, *next;

	(void)wk;
	/* closed already, unless worker_shut() could not be posted */
	sl__pworker_listeners_close(w);
	w->moving = true;
	w->nholding = 0;
	for (s = w->live; s != NULL; s = s->next)
		if (sl__session_hold(s))
			w->nholding++;
	for (s = w->live; s != NULL; s = next) {
		next = s->next;
		if (s->fwd.hold)
			sl__session_try_move(s); /* may free <s>, never another session */
	}
	if (w->moving && w->nholding > 0)
		sl_loop_timer_add(w->loop, &w->move_timer, w->p->move_wait_ms);
	else
		move_done(w);
}

void
sl__handover_worker_init(struct sl_pworker *w)
{
	w->shut_msg = (struct sl_msg){.fn = worker_shut, .data = w};
	w->move_msg = (struct sl_msg){.fn = worker_move, .data = w};
	sl_timer_init(&w->move_timer, move_timeout, w);
	w->nholding = 0;
	w->moving = false;
}

void
sl__handover_session_gone(struct sl_pworker *w)
{
	if (!w->moving || w->nholding == 0)
		return;
	if (--w->nholding == 0)
		move_done(w);
}

bool
sl__handover_take_session(struct sl_session *s, struct sl_proxy_moved *m)
{
	struct sl_proxy *p = s->l->w->p;
	bool taken = false;

	pthread_mutex_lock(&p->mu);
	if (p->move_open) {
		if (p->nmoved == p->moved_cap) {
			size_t cap = p->moved_cap != 0 ? 2 * p->moved_cap : 64;
			struct sl_proxy_moved *more = realloc(p->moved, cap * sizeof(*more));

			if (more != NULL) {
				p->moved = more;
				p->moved_cap = cap;
			}
		}
		if (p->nmoved < p->moved_cap) {
			p->moved[p->nmoved++] = *m;
			taken = true;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return taken;
}

int
sl_proxy_export(struct sl_proxy *p, uint32_t wait_ms, struct sl_proxy_moved **out, size_t *n)
{
	struct timespec dl;
	unsigned posted = 0;

	*out = NULL;
	*n = 0;
	if (!p->running)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	p->moved = NULL;
	p->nmoved = p->moved_cap = 0;
	p->shut_workers = p->moved_workers = 0;
	p->move_wait_ms = wait_ms;
	p->move_open = true;
	pthread_mutex_unlock(&p->mu);
	/*
	 * every worker stops accepting before any session moves: a session moving out frees a
	 * slot under max_connections, and a worker still listening would accept a client with
	 * it that is not forwarding yet when that worker holds its sessions, so it would stay
	 */
	for (unsigned i = 0; i < p->nworkers; i++)
		if (sl__proxy_post(&p->workers[i], &p->workers[i].shut_msg) == 0)
			posted++;
	sl_clock_deadline(&dl, (uint64_t)1000 * 1000); /* a second for their mailboxes */
	pthread_mutex_lock(&p->mu);
	while (p->shut_workers < posted)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->mu);
	posted = 0;
	for (unsigned i = 0; i < p->nworkers; i++)
		if (sl__proxy_post(&p->workers[i], &p->workers[i].move_msg) == 0)
			posted++;
	/* the workers' own deadline, and a second for their mailboxes */
	sl_clock_deadline(&dl, ((uint64_t)wait_ms + 1000) * 1000);
	pthread_mutex_lock(&p->mu);
	while (p->moved_workers < posted)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	/* a worker that answers later keeps its sessions (sl__handover_take_session()) */
	p->move_open = false;
	*out = p->moved;
	*n = p->nmoved;
	p->moved = NULL;
	p->nmoved = p->moved_cap = 0;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* ---- sessions: the new process's side ---- */

struct adopt_msg {
	struct sl_msg msg;
	struct sl_proxy *p;
	size_t listener; /* index: each worker has its own sl_plistener of it */
	int backend;
	struct sl_proxy_moved m;
};

static void
worker_adopt(struct sl_worker *wk, struct sl_msg *msg)
{
	struct adopt_msg *a = msg->data;
	struct sl_pworker *w = &a->p->workers[sl_worker_index(wk)];

	sl__session_adopt(&w->listeners[a->listener], &a->m, a->backend);
	free(a);
}

/* The listener slot that takes a session of listener <name>: that name's, else the first
 * live one. Under p->bk_mu. */
static size_t
adopt_listener(const struct sl_proxy *p, const char *name)
{
	size_t first = SIZE_MAX;

	for (size_t i = 0; i < p->lcap; i++) {
		if (/* relaxed: written under bk_mu, held here or by the writer */
		    atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) !=
		    SL_LSLOT_LIVE)
			continue;
		if (strcmp(p->lslots[i].cfg.name, name) == 0)
			return i;
		if (first == SIZE_MAX)
			first = i;
	}
	return first;
}

int
sl_proxy_adopt(struct sl_proxy *p, const struct sl_proxy_moved *m)
{
	struct adopt_msg *a;
	size_t group;
	unsigned w;
	int err;

	if (!p->running) {
		close(m->cfd);
		close(m->sfd);
		sl_proxy_count_moves_lost(p, 1);
		return -EINVAL;
	}
	a = malloc(sizeof(*a));
	if (a == NULL) {
		close(m->cfd);
		close(m->sfd);
		sl_proxy_count_moves_lost(p, 1);
		return -ENOMEM;
	}
	a->m = *m;
	pthread_mutex_lock(&p->bk_mu);
	a->listener = adopt_listener(p, m->listener);
	group = a->listener != SIZE_MAX ? p->lslots[a->listener].cfg.group : 0;
	pthread_mutex_unlock(&p->bk_mu);
	if (a->listener == SIZE_MAX) {
		close(m->cfd);
		close(m->sfd);
		sl_proxy_count_moves_lost(p, 1);
		free(a);
		return -ENOENT;
	}
	a->backend = m->backend[0] != '\0' ? sl__backend_hold_by_name(p, group, m->backend) : -1;
	if (a->backend < 0)
		a->backend = -1;
	a->p = p;
	a->msg = (struct sl_msg){.fn = worker_adopt, .data = a};
	w = p->adopt_next++ % p->nworkers;
	err = sl__proxy_post(&p->workers[w], &a->msg);
	if (err != 0) {
		if (a->backend >= 0)
			sl__backend_release(&p->backends[group][a->backend]);
		close(m->cfd);
		close(m->sfd);
		sl_proxy_count_moves_lost(p, 1);
		free(a);
	}
	return err;
}
