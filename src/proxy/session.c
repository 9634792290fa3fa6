// SPDX-License-Identifier: MIT
/*
 * Sessions: one client connection and its backend connection, as an explicit state machine.
 *
 *   ACCEPTED --filter accepts--> FILTERED --pick, connect--> CONNECTING --connected--> FORWARDING
 *      |                          |    |                     ^  |  |  ^                  |
 *      | filter rejects           |    | every backend at    |  |  |  | failed or timed  | one way
 *      |                          |    | its cap             |  |  |  | out: next        | ended
 *      |                          |    v                     |  |  +--+ backend          v
 *      |                          |  QUEUED --slot freed-----+  |                     DRAINING
 *      |                          |    ^  |                     |                        |
 *      |                          |    +--|--- failed, every ---+                        |
 *      |                          |       |    other at its cap |                        |
 *      v                          v       v                     v                        |
 *    CLOSED <---------------------+-------+---------------------+                        |
 *       ^  no backend, queue full, queue timeout, client hung up                         |
 *       |                                                                                |
 *       +------- both ways ended, reset, error, idle/session/drain timeout --------------+
 *                                              (from DRAINING, and from FORWARDING likewise)
 * Events are dispatched per state through one handler table (handlers[]: client readiness,
 * backend readiness, timer); every change goes through set_state(), which checks the transition
 * table. In ACCEPTED the filter chain (filter.c) may wait for client bytes or a deadline
 * (DEFER): client readiness resumes it, the timer rejects. A connection taken from the group's
 * warm pool is a connect that completed at once: CONNECTING -> FORWARDING in the same call
 * (session_connect_warm). A session that finds every backend it may use at its max_connections
 * waits in its group's bounded FIFO queue (QUEUED, group max_queue) until a slot frees.
 * Sessions, their timers and ios belong to one worker (proxy_int.h).
 */
#include "proxy/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/pool.h>
#include <sluice/sock.h>

#include "proxy/accesslog.h"

/* The transition table: legal[from][to]. */
static const bool legal[SL_SS_COUNT][SL_SS_COUNT] = {
        [SL_SS_ACCEPTED] = {[SL_SS_FILTERED] = true, [SL_SS_CLOSED] = true},
        [SL_SS_FILTERED] = {[SL_SS_QUEUED] = true,
                            [SL_SS_LOCAL_WAIT] = true,
                            [SL_SS_CONNECTING] = true,
                            [SL_SS_CLOSED] = true},
        [SL_SS_QUEUED] =
                {[SL_SS_LOCAL_WAIT] = true, [SL_SS_CONNECTING] = true, [SL_SS_CLOSED] = true},
        [SL_SS_LOCAL_WAIT] =
                {[SL_SS_QUEUED] = true, [SL_SS_CONNECTING] = true, [SL_SS_CLOSED] = true},
        [SL_SS_CONNECTING] = {[SL_SS_QUEUED] = true,
                              [SL_SS_LOCAL_WAIT] = true,
                              [SL_SS_CONNECTING] = true,
                              [SL_SS_FORWARDING] = true,
                              [SL_SS_CLOSED] = true},
        [SL_SS_FORWARDING] = {[SL_SS_DRAINING] = true, [SL_SS_CLOSED] = true},
        [SL_SS_DRAINING] = {[SL_SS_CLOSED] = true},
        [SL_SS_CLOSED] = {},
};

static const char *const state_names[SL_SS_COUNT] = {
        [SL_SS_ACCEPTED] = "accepted",     [SL_SS_FILTERED] = "filtered",
        [SL_SS_QUEUED] = "queued",         [SL_SS_LOCAL_WAIT] = "local_wait",
        [SL_SS_CONNECTING] = "connecting", [SL_SS_FORWARDING] = "forwarding",
        [SL_SS_DRAINING] = "draining",     [SL_SS_CLOSED] = "closed",
};

bool
sl__session_can_transition(enum sl_session_state from, enum sl_session_state to)
{
	if ((unsigned)from >= SL_SS_COUNT || (unsigned)to >= SL_SS_COUNT)
		return false;
	return legal[from][to];
}

const char *
sl__session_state_name(enum sl_session_state s)
{
	return (unsigned)s < SL_SS_COUNT ? state_names[s] : "?";
}

static void
set_state(struct sl_session *s, enum sl_session_state to)
{
	SL_ASSERT(sl__session_can_transition(s->state, to));
	s->state = to;
}

enum close_mode {
	CLOSE_NORMAL, /* close both (FIN, or RST if unread bytes remain) */
	CLOSE_RESET,  /* fwd.err_side failed: close it, reset the other side */
	CLOSE_ABORT,  /* a deadline passed: reset a side that left data unread, else close it */
	CLOSE_CUT,    /* reset both: a deadline under timeouts.cut: reset, a stream cut short */
};

static void session_connect(struct sl_session *s);
static void queue_leave(struct sl_session *s);
static bool session_queue_first(struct sl_session *s);
static void session_wait(struct sl_session *s);
static void server_io(struct sl_loop *loop, struct sl_io *io, unsigned events);
static void client_io(struct sl_loop *loop, struct sl_io *io, unsigned events);

static struct sl_loop *
session_loop(const struct sl_session *s)
{
	return s->l->w->loop;
}

/* Unlinks <s> from its worker's live list and frees it: the last step of a close or a move. */
static void
session_free(struct sl_session *s)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	bool held = s->fwd.hold;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		w->live = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	w->nlive--;
	/* unlinked first: the last held session gone ends the move, which releases every held
	 * session on the live list (a release may queue its forwarder's resume) */
	if (sl_unlikely(held))
		sl__handover_session_gone(w);
	sl_pool_free(w->sessions, s);
	sl__pworker_session_closed(w, l);
}

/*
 * A session the kernel forwarded (it kept its sockmap ops: its sockets went in the maps), of
 * whose bytes the kernel moved <redirected>.
 */
static void
session_count_sockmap(struct sl_pworker *w, const struct sl_fwd *f, uint64_t redirected)
{
	sl__ctr_add(w, SL_CTR_SOCKMAP_SESSIONS, 1);
	sl__ctr_add(w, SL_CTR_SOCKMAP_BYTES, redirected);
	for (unsigned d = 0; d < 2; d++)
		if ((f->kernel & (1u << d)) == 0)
			sl__ctr_add(w, SL_CTR_SOCKMAP_COPIED, 1);
}

static void
session_close(struct sl_session *s, enum close_mode mode)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	struct sl_loop *loop = w->loop;
	int fds[2] = {s->cfd, s->sfd};
	uint64_t redirected;

	if (s->queued)
		queue_leave(s);
	sl_fwd_sync(&s->fwd); /* sockmap: the kernel's last counts, for the logs and metrics */
	redirected = sl_fwd_sockmap_redirected(&s->fwd); /* the maps' share goes at fini */
	set_state(s, SL_SS_CLOSED);
	/* before the fds close: a client that sees its close may come straight back */
	sl__filter_release(s);
	sl_loop_timer_cancel(loop, &s->timer);
	for (unsigned side = 0; side < 2; side++) {
		if (fds[side] < 0)
			continue;
		/* closed just below, never dup'ed: the close unregisters it */
		sl_loop_io_forget(loop, side == SL_FWD_CLIENT ? &s->cio : &s->sio);
		if ((mode == CLOSE_RESET && (int)side != s->fwd.err_side) || mode == CLOSE_CUT ||
		    /* a peer that does not read would keep its unsent bytes in the kernel
		     * long after the close, behind the FIN: a reset frees them at once */
		    (mode == CLOSE_ABORT && sl_sock_has_unsent(fds[side])) ||
		    /* the close resets a peer whose bytes were left unread, but sees only the
		     * receive queue: the kernel forwarder's are in its own queues */
		    (mode != CLOSE_RESET && s->fwd.ops == &sl_fwd_sockmap_ops &&
		     sl_sock_has_unread(fds[side])))
			sl_sock_close_reset(fds[side]);
		else
			close(fds[side]);
	}
	sl_fwd_fini(&s->fwd);
	sl__pp_keep_put(s);

	sl__accesslog_session_closed(s, mode == CLOSE_RESET);
	sl__metrics_closed(s); /* bytes not yet counted, duration */
	/* after the backend's counters: the slot may be reused once every session let go */
	if (s->backend >= 0)
		sl__wgroup_put(l->group, s->backend);
	sl__ctr_add(w, SL_CTR_CLOSED, 1);
	sl_counter_gauge_add(w->p->ctr, w->index, SL_CTR_ACTIVE, -1);
	if (mode == CLOSE_RESET) {
		sl__ctr_add(w, SL_CTR_RESETS, 1);
		/* the window warm.md describes: the backend dropped the idle connection */
		if (s->warm && s->fwd.err_side == SL_FWD_SERVER &&
		    sl_fwd_bytes(&s->fwd, SL_FWD_SERVER) == 0)
			sl__ctr_add(w, SL_CTR_WARM_FAILED, 1);
	}
	if (sl_unlikely(s->fwd.ops != l->fwd_ops) && !(s->fwd.kernel & SL_FWD_KERNEL_DECLINED))
		sl__ctr_add(w, SL_CTR_SPLICE_FALLBACKS, 1);
	else if (s->fwd.ops == &sl_fwd_sockmap_ops && s->conn_ms != UINT32_MAX)
		session_count_sockmap(w, &s->fwd, redirected); /* it reached a backend */

	session_free(s);
}

/*
 * How a session that timeout <why> cut is closed: the one place that reads timeouts.cut. The
 * drain deadline is the process's (drain_timeout), not the listener's: it never resets.
 */
static enum close_mode
cut_mode(const struct sl_session *s, int why)
{
	if (why != SL_TIMEOUT_DRAIN && sl__listener_live(s->l)->timeouts.cut == SL_CUT_RESET)
		return CLOSE_CUT;
	return CLOSE_ABORT;
}

void
sl__session_abort(struct sl_session *s, int why)
{
	if (why < 0) {
		session_close(s, CLOSE_NORMAL);
		return;
	}
	sl__ctr_add(s->l->w, (enum sl_ctr)(SL_CTR_TIMEOUT_FIRST + why), 1);
	s->end = (uint8_t)(SL_END_TIMEOUT_FIRST + why);
	sl__source_strike(s, why);
	session_close(s, cut_mode(s, why));
}

/* The client is closed for want of fds, memory or ports on this host: local_errors. */
static void
session_local_error(struct sl_session *s)
{
	sl__ctr_add(s->l->w, SL_CTR_LOCAL_ERRORS, 1);
	s->end = SL_END_LOCAL_ERROR;
	session_close(s, CLOSE_NORMAL);
}

/* true if a forwarder's <rc> is this host's shortage (no pipe, buffer or fd), no peer's fault */
static bool
fwd_ran_short(int rc)
{
	return rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE;
}

void
sl__session_close_admin(struct sl_session *s)
{
	sl__ctr_add(s->l->w, SL_CTR_ADMIN_CLOSES, 1);
	s->end = SL_END_ADMIN;
	session_close(s, CLOSE_ABORT);
}

/* ---- FORWARDING and DRAINING ---- */

/* Earliest of <*at> and <d> (0 = none) in <*at>, remembering <k> as <*kind> if it is earlier. */
static void
earliest(uint64_t *at, int *kind, uint64_t d, int k)
{
	if (d != 0 && d < *at) {
		*at = d;
		*kind = k;
	}
}

/*
 * The earliest deadline of a forwarding session in <*at> (UINT64_MAX: none): the session's
 * length, each side's idle (its fin timeout once that side sent its FIN), the minimum-rate
 * window. Returns the timeout kind that passed by <now>, or -1. A minimum-rate window that
 * passed with enough bytes moved starts the next window.
 */
static int
forward_deadline(struct sl_session *s, uint64_t now, uint64_t *at)
{
	const struct sl_plistener *l = s->l;
	const struct sl_config_timeouts *t = &sl__listener_live(l)->timeouts;
	const struct sl_fwd *f = &s->fwd;
	uint32_t cidle = t->client_idle_ms, sidle = t->server_idle_ms;
	int ckind = SL_TIMEOUT_CLIENT_IDLE, skind = SL_TIMEOUT_SERVER_IDLE, kind = -1;

	sl_fwd_sync(&s->fwd); /* sockmap: the kernel's counts, and the stamps they move */

	/* idle = no byte moved through that side's socket, either way, by sluice or by the socket
	 * on its own (idle.c; docs/configuration.md); the stamps start at the start of forwarding
	 */
	if (t->client_fin_ms != 0 && f->d[SL_FWD_CLIENT].eof) {
		cidle = t->client_fin_ms;
		ckind = SL_TIMEOUT_CLIENT_FIN;
	}
	if (t->server_fin_ms != 0 && f->d[SL_FWD_SERVER].eof) {
		sidle = t->server_fin_ms;
		skind = SL_TIMEOUT_SERVER_FIN;
	}
	if (t->min_rate_bytes != 0 && now >= s->rate_until) {
		uint64_t total = sl_fwd_bytes(f, SL_FWD_CLIENT) + sl_fwd_bytes(f, SL_FWD_SERVER);

		if (s->rate_until != 0 && total - s->rate_base < t->min_rate_bytes) {
			*at = now;
			return SL_TIMEOUT_MIN_RATE;
		}
		/* the first window counts from the start of forwarding (rate_base as set there):
		 * what a client sent while it waited for a backend moves in it */
		if (s->rate_until != 0)
			s->rate_base = total;
		s->rate_until = now + t->min_rate_window_ms;
	}
	/* an idle deadline that passed may find a socket moved on its own (idle.c): one look */
	for (bool looked = false;; looked = true) {
		*at = UINT64_MAX;
		kind = -1;
		earliest(at, &kind, t->session_ms ? s->start_ms + t->session_ms : 0,
		         SL_TIMEOUT_SESSION);
		earliest(at, &kind, cidle ? sl_fwd_moved_ms(f, SL_FWD_CLIENT) + cidle : 0, ckind);
		earliest(at, &kind, sidle ? sl_fwd_moved_ms(f, SL_FWD_SERVER) + sidle : 0, skind);
		earliest(at, &kind, t->min_rate_bytes ? s->rate_until : 0, SL_TIMEOUT_MIN_RATE);
		if (*at > now)
			return -1;
		if (looked || (kind != ckind && kind != skind))
			return kind;
		sl__idle_look(s, now);
	}
}

/* Arms the timer for the earliest deadline, or closes the session if one passed: false then. */
static bool
forward_arm(struct sl_session *s)
{
	struct sl_loop *loop = session_loop(s);
	uint64_t now = sl_loop_now_ms(loop), at;
	int kind = forward_deadline(s, now, &at);

	if (kind >= 0) {
		sl__session_abort(s, kind);
		return false;
	}
	/* a direction paused at its bandwidth limit reads again when the limit allows */
	if (sl_unlikely(sl_fwd_is_paused(&s->fwd))) {
		uint64_t wake = sl__bandwidth_wake_ms(s, now);

		at = wake < at ? wake : at;
	}
	if (at != UINT64_MAX)
		sl_loop_timer_add(loop, &s->timer, at - now);
	return true;
}

/* Acts on what the forwarder reports. Returns false if the session is gone. */
static bool
forward_result(struct sl_session *s, int rc)
{
	if (sl_likely(rc == SL_FWD_RUNNING))
		return true;
	if (rc == SL_FWD_HALF_DONE) {
		if (s->state != SL_SS_FORWARDING)
			return true;
		set_state(s, SL_SS_DRAINING);
		/* a FIN may shorten a side's idle deadline (client_fin, server_fin) */
		return forward_arm(s);
	}
	if (sl_unlikely(fwd_ran_short(rc))) {
		/* neither peer failed, and the stream stops short: both are reset, so neither
		 * takes what it got for the whole */
		sl__ctr_add(s->l->w, SL_CTR_LOCAL_ERRORS, 1);
		s->end = SL_END_LOCAL_ERROR;
		session_close(s, CLOSE_CUT);
		return false;
	}
	session_close(s, rc == SL_FWD_DONE ? CLOSE_NORMAL : CLOSE_RESET);
	return false;
}

/*
 * Re-registers each fd whose watch the forwarder changed (sl_fwd_interest(): sockmap watches
 * for hang-ups only while the kernel moves a direction). A failed change keeps the wider
 * watch: wake-ups for nothing, no event missed.
 */
static void
forward_rewatch(struct sl_session *s)
{
	struct sl_io *io[2] = {&s->cio, &s->sio};

	for (unsigned side = 0; side < 2; side++)
		if ((s->fwd.rewatch & (1u << side)) != 0)
			(void)sl_loop_io_mod(session_loop(s), io[side],
			                     sl_fwd_interest(&s->fwd, side));
	s->fwd.rewatch = 0;
}

static void
session_forwarding(struct sl_session *s, unsigned side, unsigned events)
{
	int rc = sl_fwd_on_events(&s->fwd, side, events);

	if (sl_unlikely(s->mark_us != 0))
		sl__metrics_forwarded(s);
	/* the idle timer is not touched here: it re-checks the stamps when it fires */
	if (!forward_result(s, rc))
		return;
	if (sl_unlikely(s->fwd.rewatch != 0))
		forward_rewatch(s);
	if (sl_unlikely(s->fwd.hold))
		sl__session_try_move(s); /* a binary upgrade waits for it to empty */
}

/*
 * A completion-driven forwarder (forward: uring) moves bytes and reports without readiness: stop
 * watching the fds, so their wake-ups cost nothing. The ios stay the owner's (the resume calls
 * cio's callback); session_close() forgets them as usual.
 */
static void
forward_unwatch(struct sl_session *s)
{
	struct sl_loop *loop = session_loop(s);

	if (!s->fwd.ops->completion)
		return;
	(void)sl_loop_io_del(loop, &s->cio);
	(void)sl_loop_io_del(loop, &s->sio);
}

static void
session_start_forwarding(struct sl_session *s, unsigned events)
{
	uint64_t now = sl_loop_now_ms(session_loop(s));
	int rc;

	set_state(s, SL_SS_FORWARDING);
	s->conn_ms =
	        now - s->start_ms < UINT32_MAX ? (uint32_t)(now - s->start_ms) : UINT32_MAX - 1;
	sl_fwd_set_moved_ms(&s->fwd, now);
	sl__idle_start(s);
	s->rate_until = 0; /* the first window starts at the first deadline check */
	s->rate_base = 0;  /* ... and counts every byte forwarded (none yet) */
	if (s->send_proxy != 0 && sl__pp_out_send(s) != 0) {
		s->fwd.err_side = SL_FWD_SERVER;
		session_close(s, CLOSE_RESET);
		return;
	}
	sl_fwd_note(&s->fwd, SL_FWD_SERVER, events);
	rc = sl_fwd_start(&s->fwd);
	sl__metrics_forwarded(s);
	if (fwd_ran_short(rc)) {
		/* no pipe or buffer: nothing was forwarded, close both plainly */
		session_local_error(s);
		return;
	}
	if (forward_result(s, rc) && s->state == SL_SS_FORWARDING) {
		forward_unwatch(s);
		forward_rewatch(s);
		forward_arm(s);
	}
}

/* ---- CONNECTING ---- */

static void
server_teardown(struct sl_session *s)
{
	struct sl_loop *loop = session_loop(s);

	sl_loop_timer_cancel(loop, &s->timer);
	sl_loop_io_forget(loop, &s->sio);
	close(s->sfd);
	s->sfd = -1;
	sl_fwd_set_fd(&s->fwd, SL_FWD_SERVER, -1);
}

/* The connect to s->backend failed (<timed_out> or refused/unreachable): account, retry. */
static void
connect_failed(struct sl_session *s, bool timed_out)
{
	struct sl_pworker *w = s->l->w;
	struct sl_wgroup *g = s->l->group;
	uint64_t now = sl_loop_now_ms(w->loop);
	const struct sl_config_group *gc = sl__group_live(w->p, s->l->cfg->group);

	sl__ctr_add(w, SL_CTR_CONNECT_FAILURES, 1);
	sl__metrics_connect_failed(s);
	if (timed_out)
		sl__ctr_add(w, SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_CONNECT, 1);
	if (sl__backend_connect_failed(&g->backends[s->backend], gc, now))
		sl__ctr_add(w, SL_CTR_EJECTIONS, 1);
	sl__wgroup_put(g, s->backend);
	s->backend = -1;
}

/*
 * The backend connection could not even be tried for want of fds, memory or local ports on
 * this host (<err>): the backend is not charged (no failure, no ejection, not even tried). The
 * client waits in LOCAL_WAIT, as one the listener could not accept waits in its backlog, and
 * the connect is tried again every SL_LOCAL_WAIT_RETRY_MS; at timeouts.connect from the first
 * failure it is closed as local_errors. Logged at most every SL_LOCAL_WAIT_LOG_MS per worker.
 */
static void
session_local_failure(struct sl_session *s, int err)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	uint64_t now = sl_loop_now_ms(w->loop);
	uint32_t connect_ms = sl__listener_live(l)->timeouts.connect_ms;

	sl__wgroup_put(l->group, s->backend);
	s->backend = -1;
	s->ntried--; /* the pick marked it tried: it was not */
	if (s->state != SL_SS_LOCAL_WAIT) {
		s->queue_until = now + connect_ms;
		set_state(s, SL_SS_LOCAL_WAIT);
		if (w->local_wait_logged_ms == 0 ||
		    now - w->local_wait_logged_ms >= SL_LOCAL_WAIT_LOG_MS) {
			w->local_wait_logged_ms = now;
			sl_log_warn(
			        "listener %s: cannot open a backend connection: %s; this host's "
			        "shortage, not the backend's fault: the client waits, tried again "
			        "every %u ms until timeouts.connect (%u ms)",
			        l->cfg->name, strerror(-err), SL_LOCAL_WAIT_RETRY_MS, connect_ms);
		}
	}
	if (now >= s->queue_until) {
		session_local_error(s);
		return;
	}
	sl_loop_timer_add(w->loop, &s->timer,
	                  s->queue_until - now < SL_LOCAL_WAIT_RETRY_MS ? s->queue_until - now
	                                                                : SL_LOCAL_WAIT_RETRY_MS);
}

/* true if the group's retries allow another backend after a failed connect. */
static bool
may_retry(const struct sl_session *s)
{
	const struct sl_plistener *l = s->l;
	uint32_t retries = sl__group_live(l->w->p, l->cfg->group)->retries;

	if (retries > SL_SESSION_MAX_TRIES - 1)
		retries = SL_SESSION_MAX_TRIES - 1;
	return s->ntried <= retries;
}

/*
 * No backend could be reached: the client is closed, counted as no_backend, and said in a
 * warning at most every SL_NO_BACKEND_LOG_MS per worker, with the count since the last one.
 */
static void
session_no_backend(struct sl_session *s)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	uint64_t now = sl_loop_now_ms(w->loop);

	sl__ctr_add(w, SL_CTR_NO_BACKEND, 1);
	w->no_backend_unlogged++;
	if (w->no_backend_logged_ms == 0 || now - w->no_backend_logged_ms >= SL_NO_BACKEND_LOG_MS) {
		sl_log_warn(
		        "listener %s: group %s: no backend could be reached (none up and taking "
		        "sessions, or every connect its retries allow failed): %" PRIu64
		        " client%s closed (no_backend)%s",
		        l->cfg->name, sl__group_live(w->p, l->cfg->group)->name,
		        w->no_backend_unlogged, w->no_backend_unlogged == 1 ? "" : "s",
		        w->no_backend_logged_ms == 0 ? "" : " since this worker's last such line");
		w->no_backend_logged_ms = now;
		w->no_backend_unlogged = 0;
	}
	s->end = SL_END_NO_BACKEND;
	session_close(s, CLOSE_NORMAL);
}

/*
 * After a connect failed later (refused, reset, timed out): the next backend if the group's
 * retries allow one, else no backend. The one tail of every asynchronous connect failure.
 */
static void
connect_next(struct sl_session *s)
{
	if (may_retry(s))
		session_connect(s);
	else
		session_no_backend(s);
}

static void
session_connecting(struct sl_session *s, unsigned events)
{
	int err = 0;

	if (!(events & (SL_IO_WRITE | SL_IO_HUP)))
		return;
	/* a plain writable edge means connected; only a hang-up costs the SO_ERROR syscall */
	if (events & SL_IO_HUP)
		err = sl_sock_connect_result(s->sfd);
	if (sl_likely(err == 0)) {
		sl_loop_timer_cancel(session_loop(s), &s->timer);
		sl__backend_connect_succeeded(&s->l->group->backends[s->backend]);
		sl__metrics_connected(s);
		session_start_forwarding(s, events);
		return;
	}
	server_teardown(s);
	connect_failed(s, false);
	connect_next(s);
}

/* CONNECTING: the connect deadline passed. */
static void
session_connect_timeout(struct sl_session *s)
{
	server_teardown(s);
	connect_failed(s, true);
	connect_next(s);
}

/*
 * A connect to the backend just picked went out (or failed at once, or a warm connection was
 * taken): one after a failed connect is a retry. One this host could not even try is not
 * (LOCAL_WAIT tries it again, and counts it then).
 */
static void
count_retry(struct sl_session *s, bool retry)
{
	if (retry)
		sl__ctr_add(s->l->w, SL_CTR_RETRIES, 1);
}

/*
 * Tries the group's warm pool for backend s->backend: on a hit the session forwards over that
 * connection at once and true is returned (the session may even be closed by then); a hit
 * after a failed connect is a <retry>. false: no pool, no idle connection, or it could not be
 * used; connect as usual.
 */
static bool
session_connect_warm(struct sl_session *s, const struct sl_sock_opts *opts, bool retry)
{
	struct sl_plistener *l = s->l;
	struct sl_wgroup *g = l->group;
	int fd;

	if (g->warm == NULL)
		return false;
	fd = sl_warm_take(g->warm, (size_t)s->backend);
	if (fd < 0)
		return false;
	/* the pool sets no option: the listener's apply as to a fresh connection */
	if ((opts->nodelay || opts->keepalive) && sl_sock_apply(fd, opts) != 0)
		goto err_close;
	sl_io_init(&s->sio, fd, server_io, s);
	if (sl_unlikely(sl_loop_io_add(l->w->loop, &s->sio, SL_IO_READ | SL_IO_WRITE) != 0))
		goto err_close;
	s->sfd = fd;
	sl_fwd_set_fd(&s->fwd, SL_FWD_SERVER, fd);
	s->warm = true;
	count_retry(s, retry);
	set_state(s, SL_SS_CONNECTING);
	sl__backend_connect_succeeded(&g->backends[s->backend]);
	sl__metrics_connected(s);
	session_start_forwarding(s, SL_IO_WRITE);
	return true;

err_close:
	close(fd);
	return false;
}

/*
 * Picks a backend and starts a nonblocking connect to it. Returns true when the session is in
 * CONNECTING, FORWARDING (a warm connection was taken), QUEUED (no slot free: it waits, or
 * waits on) or CLOSED; false when the connect failed at once (counted against the backend):
 * the caller moves on. A queued session that gets a slot leaves the queue here. A connect
 * after one failed is a retry (count_retry()): a pick that finds no backend is not.
 */
static bool
session_try_connect(struct sl_session *s)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	const struct sl_sock_opts opts = {.nodelay = l->cfg->tcp_nodelay,
	                                  .keepalive = l->cfg->keepalive,
	                                  .source = &l->group->cfg->source};
	uint32_t connect_ms;
	int i, err, fd;
	bool retry;

	if (session_queue_first(s))
		return true;
	retry = s->ntried > 0; /* only a failed connect leaves a backend tried */
	i = sl__wgroup_pick(l->group, s, sl_loop_now_ms(w->loop));
	if (i < 0) {
		session_wait(s);
		return true;
	}
	if (s->state == SL_SS_QUEUED || s->state == SL_SS_LOCAL_WAIT) {
		/* a slot: the wait ends (an immediate connect failure may bring it back) */
		if (s->queued)
			queue_leave(s);
		sl_loop_timer_cancel(w->loop, &s->timer);
	}
	s->backend = i;
	sl__metrics_connecting(s);
	if (session_connect_warm(s, &opts, retry))
		return true;
	err = sl_sock_connect(&l->group->backends[i].addr, &opts, &fd);
	if (err == 0 || err == -EINPROGRESS) {
		sl_io_init(&s->sio, fd, server_io, s);
		err = sl_loop_io_add(w->loop, &s->sio, SL_IO_READ | SL_IO_WRITE);
		if (sl_unlikely(err != 0)) {
			close(fd);
			session_local_failure(s, err); /* the loop's, never the backend's */
			return true;
		}
		count_retry(s, retry);
		s->sfd = fd;
		sl_fwd_set_fd(&s->fwd, SL_FWD_SERVER, fd);
		set_state(s, SL_SS_CONNECTING);
		connect_ms = sl__listener_live(l)->timeouts.connect_ms;
		if (connect_ms != 0)
			sl_loop_timer_add(w->loop, &s->timer, connect_ms);
		return true;
	}
	if (sl_unlikely(sl_sock_error_is_local(err))) {
		session_local_failure(s, err);
		return true;
	}
	count_retry(s, retry);
	connect_failed(s, false);
	return false;
}

/*
 * Connects to a backend, moving on to the next one while connects fail at once, bounded by the
 * group's retries. Ends in CONNECTING, FORWARDING, QUEUED or CLOSED.
 */
static void
session_connect(struct sl_session *s)
{
	while (!session_try_connect(s)) {
		if (!may_retry(s)) {
			session_no_backend(s);
			return;
		}
	}
}

/* ---- QUEUED ---- */

/* Unlinks <s> from its group's queue; the last one out stops the queue's wake-ups. */
static void
queue_leave(struct sl_session *s)
{
	struct sl_wgroup *g = s->l->group;

	SL_ASSERT(s->queued && g->nqueued > 0);
	if (s->qprev != NULL)
		s->qprev->qnext = s->qnext;
	else
		g->qhead = s->qnext;
	if (s->qnext != NULL)
		s->qnext->qprev = s->qprev;
	else
		g->qtail = s->qprev;
	s->qnext = s->qprev = NULL;
	s->queued = false;
	g->nqueued--;
	/* relaxed: a count, publishing nothing */
	atomic_fetch_sub_explicit(&g->queued->n, 1, memory_order_relaxed);
	if (g->nqueued == 0) {
		sl_loop_timer_cancel(g->loop, &g->qpoll);
		sl_loop_defer_cancel(g->loop, &g->qwake);
	}
}

/*
 * Puts <s> at the tail of its group's queue, in QUEUED with its deadline armed, if the
 * group's max_queue (whole process) has room; else closes it, counted as queue_full.
 */
static void
queue_join(struct sl_session *s, uint32_t max)
{
	struct sl_plistener *l = s->l;
	struct sl_loop *loop = l->w->loop;
	struct sl_wgroup *g = l->group;
	uint64_t now = sl_loop_now_ms(loop);
	uint32_t ms;

	/* relaxed: a count, publishing nothing; fetch_add hands each waiter a distinct place, so
	 * the queue never holds more than <max> */
	if (atomic_fetch_add_explicit(&g->queued->n, 1, memory_order_relaxed) >= max) {
		/* relaxed: as above */
		atomic_fetch_sub_explicit(&g->queued->n, 1, memory_order_relaxed);
		sl__ctr_add(l->w, SL_CTR_QUEUE_FULL, 1);
		s->end = SL_END_QUEUE_FULL;
		session_close(s, CLOSE_NORMAL);
		return;
	}
	if (s->state != SL_SS_QUEUED) {
		/* a new wait; one that got a slot and failed to connect at once keeps its deadline
		 */
		ms = sl__listener_live(l)->timeouts.queue_ms;
		s->queue_until = ms != 0 ? now + ms : 0;
		set_state(s, SL_SS_QUEUED);
	}
	s->queued = true;
	s->qnext = NULL;
	s->qprev = g->qtail;
	if (g->qtail != NULL)
		g->qtail->qnext = s;
	else
		g->qhead = s;
	g->qtail = s;
	g->nqueued++;
	if (s->queue_until != 0)
		sl_loop_timer_add(loop, &s->timer, s->queue_until > now ? s->queue_until - now : 0);
	if (!sl_timer_is_pending(&g->qpoll))
		sl_loop_timer_add(loop, &g->qpoll, SL_QUEUE_POLL_MS);
}

/* The group's max_queue in the current snapshot (live). */
static uint32_t
queue_max(const struct sl_session *s)
{
	return sl__group_live(s->l->w->p, s->l->cfg->group)->max_queue;
}

/*
 * A new session while others of its group wait on this worker: it goes behind them (first
 * come, first served) and the queue is woken in case a slot is free. true if it did (it is
 * QUEUED or CLOSED then); false: nobody waits, pick as usual.
 */
static bool
session_queue_first(struct sl_session *s)
{
	struct sl_wgroup *g = s->l->group;
	uint32_t max;

	if (sl_likely(g->nqueued == 0) || s->state != SL_SS_FILTERED)
		return false;
	max = queue_max(s);
	if (max == 0)
		return false;
	queue_join(s, max);
	sl_loop_defer(g->loop, &g->qwake);
	return true;
}

/*
 * No backend could be picked for <s>. If one it may use is only at its cap (up, not
 * ejected), it waits: it joins the queue, or keeps its place if queued; else, or with
 * max_queue 0, it is closed as no_backend.
 */
static void
session_wait(struct sl_session *s)
{
	uint32_t max;

	if (!sl__wgroup_has_full(s->l->group, s, sl_loop_now_ms(session_loop(s)))) {
		session_no_backend(s);
		return;
	}
	if (s->queued)
		return;
	max = queue_max(s);
	if (max == 0) {
		session_no_backend(s);
		return;
	}
	queue_join(s, max);
}

/*
 * Offers free slots to the group's queued sessions, oldest first. Stops at the first that
 * finds none having looked at every backend (it tried none yet): no later one can do better.
 * One queued after a failed connect skips the backends it tried, so it keeps its place and
 * the next is asked. At most the sessions queued at the call are asked.
 */
static void
queue_admit(struct sl_wgroup *g)
{
	struct sl_session *s = g->qhead, *next;
	bool stayed, saw_all;

	for (uint32_t n = g->nqueued; n > 0 && s != NULL; n--) {
		next = s->qnext;
		saw_all = s->ntried == 0;
		session_connect(s);
		/* <s> may be freed: only its address is compared (no session is made meanwhile) */
		stayed = next != NULL ? next->qprev == s : g->qtail == s;
		if (stayed && saw_all)
			return;
		s = next;
	}
}

/* A slot of a capped backend freed on this worker (sl__wgroup_put()). */
static void
queue_wake(struct sl_loop *loop, struct sl_defer *d)
{
	(void)loop;
	queue_admit(d->data);
}

/* Every SL_QUEUE_POLL_MS while sessions wait: slots freed on other workers, backends back. */
static void
queue_poll(struct sl_loop *loop, struct sl_timer *t)
{
	struct sl_wgroup *g = t->data;

	queue_admit(g);
	if (g->nqueued != 0 && !sl_timer_is_pending(&g->qpoll))
		sl_loop_timer_add(loop, &g->qpoll, SL_QUEUE_POLL_MS);
}

void
sl__wgroup_queue_init(struct sl_wgroup *g, struct sl_loop *loop, struct sl_conn_count *queued)
{
	g->qhead = g->qtail = NULL;
	g->nqueued = 0;
	g->loop = loop;
	g->queued = queued;
	sl_defer_init(&g->qwake, queue_wake, g);
	sl_timer_init(&g->qpoll, queue_poll, g);
}

/*
 * QUEUED, LOCAL_WAIT and CONNECTING, client readiness: remembered, forwarded once connected; a
 * reset leaves (a connect under way is given up, the backend not charged).
 */
static void
session_waiting_client(struct sl_session *s, unsigned events)
{
	sl_fwd_note(&s->fwd, SL_FWD_CLIENT, events);
	/* SL_IO_HUP is a FIN too (POLLRDHUP), which keeps its place: the bytes before it are
	 * still to be forwarded, and the client may wait for the answer. A reset leaves the
	 * socket an error (read as sl_sock_connect_result() reads a connect's): nobody is left
	 * to serve, and the reset is counted as one */
	if ((events & SL_IO_HUP) && sl_sock_connect_result(s->cfd) != 0) {
		s->fwd.err_side = SL_FWD_CLIENT;
		session_close(s, CLOSE_RESET);
	}
}

/* QUEUED, timer: no slot within timeouts.queue. */
static void
session_queue_timeout(struct sl_session *s)
{
	sl__session_abort(s, SL_TIMEOUT_QUEUE);
}

/* ---- LOCAL_WAIT ---- */

/* LOCAL_WAIT, timer: try the connect again, or the wait is over (timeouts.connect). */
static void
session_local_wait_timeout(struct sl_session *s)
{
	if (sl_loop_now_ms(session_loop(s)) >= s->queue_until) {
		session_local_error(s);
		return;
	}
	session_connect(s);
}

/* ---- ACCEPTED and FILTERED ---- */

/* Runs (or resumes) the filter chain; on ACCEPT the session connects to a backend. */
static void
session_filter(struct sl_session *s)
{
	switch (sl__filter_run(s)) {
	case SL_FILTER_ACCEPT:
		sl_loop_timer_cancel(session_loop(s), &s->timer);
		set_state(s, SL_SS_FILTERED);
		session_connect(s);
		return;
	case SL_FILTER_DEFER:
		return; /* the stage armed the timer; client readiness resumes the chain */
	case SL_FILTER_LEFT:
		session_close(s, CLOSE_NORMAL);
		return;
	case SL_FILTER_RESET:
		s->fwd.err_side = SL_FWD_CLIENT;
		session_close(s, CLOSE_RESET);
		return;
	case SL_FILTER_REJECT:
		break;
	}
	sl__ctr_add(s->l->w, SL_CTR_FILTERED, 1);
	sl__ctr_add(s->l->w, (enum sl_ctr)(SL_CTR_REJECT_FIRST + s->reject), 1);
	s->end = (uint8_t)(SL_END_REJECT_FIRST + s->reject);
	session_close(s, CLOSE_NORMAL);
}

/* ACCEPTED, client readiness: a deferred stage may now have what it waits for. */
static void
session_accepted_client(struct sl_session *s, unsigned events)
{
	sl_fwd_note(&s->fwd, SL_FWD_CLIENT, events);
	if (s->deferred)
		session_filter(s);
}

/* ACCEPTED, timer: the deferred stage's deadline passed. */
static void
session_accepted_timeout(struct sl_session *s)
{
	struct sl_loop *loop = session_loop(s);
	uint64_t now = sl_loop_now_ms(loop), due;
	uint32_t ms = sl__filter_wait_ms(s);
	enum sl_ctr c;

	/* a reload may have changed the wait since it began: longer, it goes on; none, the
	 * stage runs again (and lets the client on) */
	if (ms == 0) {
		session_filter(s);
		return;
	}
	due = s->defer_at + ms;
	if (due > now) {
		sl_loop_timer_add(loop, &s->timer, due - now);
		return;
	}
	c = sl__filter_timed_out(s);

	if (c < SL_CTR_REJECT_FIRST) { /* a timeouts: deadline (first_byte) cut it */
		sl__session_abort(s, (int)(c - SL_CTR_TIMEOUT_FIRST));
		return;
	}
	sl__ctr_add(s->l->w, SL_CTR_FILTERED, 1);
	sl__ctr_add(s->l->w, c, 1);
	s->end = (uint8_t)(c - SL_CTR_TIMEOUT_FIRST + SL_END_TIMEOUT_FIRST);
	session_close(s, CLOSE_NORMAL);
}

void
sl__session_defer(struct sl_session *s, uint32_t timeout_ms)
{
	s->deferred = true;
	/* armed once: a client trickling bytes never pushes the deadline back */
	if (!sl_timer_is_pending(&s->timer)) {
		s->defer_at = sl_loop_now_ms(session_loop(s));
		sl_loop_timer_add(session_loop(s), &s->timer, timeout_ms);
	}
}

/* ---- dispatch ---- */

static void
session_forwarding_client(struct sl_session *s, unsigned events)
{
	session_forwarding(s, SL_FWD_CLIENT, events);
}

static void
session_forwarding_server(struct sl_session *s, unsigned events)
{
	session_forwarding(s, SL_FWD_SERVER, events);
}

/* FORWARDING, DRAINING: an idle or session deadline may have passed; re-arm or close. */
static void
session_forwarding_timeout(struct sl_session *s)
{
	/* the timer also wakes directions paused at their bandwidth limit (sl__bandwidth_wake_ms)
	 */
	if (sl_unlikely(sl_fwd_is_paused(&s->fwd)) && !forward_result(s, sl_fwd_resume(&s->fwd)))
		return;
	(void)forward_arm(s);
}

/* What each state does with an event; NULL: the state never sees that event. */
static const struct {
	void (*client)(struct sl_session *s, unsigned events);
	void (*server)(struct sl_session *s, unsigned events);
	void (*timer)(struct sl_session *s);
} handlers[SL_SS_COUNT] = {
        [SL_SS_ACCEPTED] = {session_accepted_client, NULL, session_accepted_timeout},
        [SL_SS_FILTERED] = {NULL, NULL, NULL}, /* left within the call that entered it */
        [SL_SS_QUEUED] = {session_waiting_client, NULL, session_queue_timeout},
        [SL_SS_LOCAL_WAIT] = {session_waiting_client, NULL, session_local_wait_timeout},
        [SL_SS_CONNECTING] = {session_waiting_client, session_connecting, session_connect_timeout},
        [SL_SS_FORWARDING] = {session_forwarding_client, session_forwarding_server,
                              session_forwarding_timeout},
        [SL_SS_DRAINING] = {session_forwarding_client, session_forwarding_server,
                            session_forwarding_timeout},
        [SL_SS_CLOSED] = {NULL, NULL, NULL},
};

static void
session_timer(struct sl_loop *loop, struct sl_timer *t)
{
	struct sl_session *s = t->data;

	(void)loop;
	SL_ASSERT(handlers[s->state].timer != NULL);
	handlers[s->state].timer(s);
}

static void
server_io(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct sl_session *s = io->data;

	(void)loop;
	SL_ASSERT(handlers[s->state].server != NULL);
	handlers[s->state].server(s, events);
}

static void
client_io(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	struct sl_session *s = io->data;

	(void)loop;
	SL_ASSERT(handlers[s->state].client != NULL);
	handlers[s->state].client(s, events);
}

/* ---- binary upgrade: sessions that move between processes (handover.c) ---- */

bool
sl__session_hold(struct sl_session *s)
{
	if ((s->state != SL_SS_FORWARDING && s->state != SL_SS_DRAINING) || !s->fwd.attached ||
	    !sl_fwd_movable(&s->fwd))
		return false;
	sl_fwd_hold(&s->fwd, true);
	return true;
}

void
sl__session_release(struct sl_session *s)
{
	sl_fwd_hold(&s->fwd, false);
}

bool
sl__session_try_move(struct sl_session *s)
{
	struct sl_plistener *l = s->l;
	struct sl_pworker *w = l->w;
	struct sl_loop *loop = w->loop;
	struct sl_proxy_moved m;

	if (!s->fwd.hold || !sl_fwd_settled(&s->fwd) ||
	    (s->state != SL_SS_FORWARDING && s->state != SL_SS_DRAINING))
		return false;
	memset(&m, 0, sizeof(m));
	snprintf(m.listener, sizeof(m.listener), "%s", l->cfg->name);
	if (s->backend >= 0)
		snprintf(m.backend, sizeof(m.backend), "%s", l->group->backends[s->backend].name);
	sl__session_peer_get(&s->peer, &m.client);
	m.cfd = s->cfd;
	m.sfd = s->sfd;
	m.start_ms = s->start_ms;
	m.conn_ms = s->conn_ms;
	for (unsigned d = 0; d < 2; d++) {
		m.bytes[d] = sl_fwd_bytes(&s->fwd, d);
		m.shut[d] = s->fwd.d[d].shut;
	}
	if (!sl__handover_take_session(s, &m))
		return false;
	/* the sockets are the export's now: out of this loop, never closed here */
	set_state(s, SL_SS_CLOSED);
	sl__filter_release(s);
	sl_loop_timer_cancel(loop, &s->timer);
	sl_loop_io_del(loop, &s->cio);
	sl_loop_io_del(loop, &s->sio);
	sl_fwd_fini(&s->fwd);
	sl__pp_keep_put(s);
	sl__metrics_moved(s);
	/* after the backend's counters, as at a close: the slot may be reused once let go */
	if (s->backend >= 0)
		sl__wgroup_put(l->group, s->backend);
	sl__ctr_add(w, SL_CTR_MOVED_OUT, 1);
	sl_counter_gauge_add(w->p->ctr, w->index, SL_CTR_ACTIVE, -1);
	session_free(s);
	return true;
}

int
sl__session_adopt(struct sl_plistener *l, const struct sl_proxy_moved *m, int backend)
{
	struct sl_pworker *w = l->w;
	struct sl_session *s;
	int rc;

	s = sl_pool_alloc(w->sessions);
	if (sl_unlikely(s == NULL)) {
		if (backend >= 0)
			sl__backend_release(&l->group->backends[backend]);
		close(m->cfd);
		close(m->sfd);
		sl_proxy_count_moves_lost(w->p, 1); /* no room here: the session is lost */
		sl_log_error("upgrade: a session from the previous process could not be taken "
		             "over (no memory for it): closed");
		return -ENOMEM;
	}
	s->l = l;
	s->state = m->shut[0] || m->shut[1] ? SL_SS_DRAINING : SL_SS_FORWARDING;
	s->cfd = m->cfd;
	s->sfd = m->sfd;
	sl__session_peer_set(&s->peer, &m->client);
	s->backend = backend;
	s->ntried = 0;
	s->warm = false;
	s->deferred = false;
	s->queued = false;
	s->queue_until = 0;
	s->qnext = s->qprev = NULL;
	s->reject = 0;
	s->end = SL_END_NORMAL;
	s->pp = NULL;
	s->send_proxy = 0; /* forwarding already: the header went from the previous process */
	/* the same host's monotonic clock; a start in the future (a peer that lies) is now */
	s->start_ms =
	        m->start_ms <= sl_loop_now_ms(w->loop) ? m->start_ms : sl_loop_now_ms(w->loop);
	s->conn_ms = m->conn_ms;
	s->rate_until = 0;
	s->rate_base = m->bytes[0] + m->bytes[1]; /* moved in the previous process */
	sl_fwd_init(&s->fwd, l->fwd_ops, &l->env, s->cfd, s->sfd);
	sl_fwd_set_owner(&s->fwd, w->loop, &s->cio);
	for (unsigned d = 0; d < 2; d++)
		sl_fwd_adopt(&s->fwd, d, m->bytes[d], m->shut[d]);
	sl_fwd_set_moved_ms(&s->fwd, sl_loop_now_ms(w->loop)); /* idle timeouts start anew */
	sl__idle_start(s);
	sl__filter_adopt(s); /* passed the chain there; counts against its source here */
	sl__bandwidth_init(s);
	sl_timer_init(&s->timer, session_timer, s);
	sl_io_init(&s->cio, s->cfd, client_io, s);
	sl_io_init(&s->sio, s->sfd, server_io, s);
	s->prev = NULL;
	s->next = w->live;
	if (w->live != NULL)
		w->live->prev = s;
	w->live = s;
	w->nlive++;
	sl__listener_session_adopted(l);
	if (backend >= 0)
		sl__wgroup_adopt(l->group, backend);
	sl__ctr_add(w, SL_CTR_MOVED_IN, 1);
	sl_counter_gauge_add(w->p->ctr, w->index, SL_CTR_ACTIVE, 1);
	sl__metrics_adopted(s);
	/* an edge for whatever the sockets hold already comes with the registration */
	if (sl_unlikely(sl_loop_io_add(w->loop, &s->cio, SL_IO_READ | SL_IO_WRITE) != 0 ||
	                sl_loop_io_add(w->loop, &s->sio, SL_IO_READ | SL_IO_WRITE) != 0)) {
		session_local_error(s);
		return 0;
	}
	rc = sl_fwd_start(&s->fwd);
	if (fwd_ran_short(rc)) {
		session_local_error(s);
		return 0;
	}
	if (forward_result(s, rc)) {
		forward_unwatch(s);
		forward_rewatch(s);
		forward_arm(s);
	}
	return 0;
}

int
sl__session_open(struct sl_plistener *l, int fd, const struct sl_addr *peer)
{
	struct sl_pworker *w = l->w;
	struct sl_session *s;

	s = sl_pool_alloc(w->sessions);
	if (sl_unlikely(s == NULL)) {
		sl__ctr_add(w, SL_CTR_ACCEPT_ERRORS, 1);
		close(fd);
		return -ENOMEM;
	}
	s->l = l;
	s->state = SL_SS_ACCEPTED;
	s->cfd = fd;
	s->sfd = -1;
	sl__session_peer_set(&s->peer, peer);
	s->backend = -1;
	s->ntried = 0;
	s->warm = false;
	s->deferred = false;
	s->queued = false;
	s->queue_until = 0;
	s->qnext = s->qprev = NULL;
	s->filter_next = 0;
	s->reject = 0;
	s->end = SL_END_NORMAL;
	s->pp = NULL;
	/* from the current snapshot: a reload's value reaches the sessions it accepts next */
	s->send_proxy = (uint8_t)sl__group_live(w->p, l->cfg->group)->send_proxy;
	s->start_ms = sl_loop_now_ms(w->loop);
	s->conn_ms = UINT32_MAX;
	sl_fwd_init(&s->fwd, l->fwd_ops, &l->env, fd, -1);
	/* budgeted from the first call (a warm start too): resumes come back through client_io,
	 * and the forwarder stamps when bytes move, for the idle deadlines */
	sl_fwd_set_owner(&s->fwd, w->loop, &s->cio);
	sl__bandwidth_init(s);
	sl_timer_init(&s->timer, session_timer, s);
	sl_io_init(&s->cio, fd, client_io, s);
	s->prev = NULL;
	s->next = w->live;
	if (w->live != NULL)
		w->live->prev = s;
	w->live = s;
	w->nlive++;
	l->active++;
	sl__ctr_add(w, SL_CTR_ACCEPTED, 1);
	sl_counter_gauge_add(w->p->ctr, w->index, SL_CTR_ACTIVE, 1);
	sl__metrics_opened(s);
	/* once, READ|WRITE edge-triggered: no epoll_ctl for this fd again until close */
	if (sl_unlikely(sl_loop_io_add(w->loop, &s->cio, SL_IO_READ | SL_IO_WRITE) != 0)) {
		s->cfd = -1;
		close(fd);
		session_local_error(s);
		return 0;
	}
	session_filter(s);
	return 0;
}
