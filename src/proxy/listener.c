// SPDX-License-Identifier: MIT
/*
 * One configured listener in one worker: its socket, its forwarder environment (pipe cache and
 * copy buffers), and accepting in adaptive batches, with a pause at max_connections and a
 * retry after running out of fds or memory (an fd shortage logged once for the whole process:
 * p->fd_shortage, which every worker writes). Each accepted connection becomes a session
 * (session.c). Only the listener's worker touches it once started; a reload opens one on the
 * controlling thread and retires one on the worker (lreload.c). The worker's setup: pworker.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/pool.h>
#include <sluice/sock.h>

#include "proxy/session.h"

/* Spare pipe pairs each worker keeps per splice listener, at most (SL_SL_PIPE_CACHE_KEEP, in
 * proxy_int.h, once idle). */
#define PIPE_CACHE_PAIRS 1024
/* Retry delay after accept ran out of fds or memory. */
#define ACCEPT_RETRY_MS 100
/* Retry delay while at a session cap, for slots freed by another worker's sessions. */
#define ACCEPT_CAP_RETRY_MS 10
/* a pause at a session cap is logged at most this often, process-wide */
#define CAP_SAID_MS 60000
/* Reports in a row that used the whole accept batch before the batch doubles: the fewest,
 * and the most after growing has ended in EAGAIN again and again. */
#define ACCEPT_GROW_MIN 4
#define ACCEPT_GROW_MAX 64

/*
 * Listeners are level-triggered: a report means "a connection is waiting", so accepting stops
 * after the batch without the accept4() that only says EAGAIN; what is left is reported again
 * on the next wait. The batch starts at 1 (one connection per report, the common case), and
 * doubles after l->grow reports in a row used it all; EAGAIN halves it. A doubling that ends
 * in EAGAIN doubles l->grow (connections arriving one at a time: EAGAIN ever more rarely), one
 * that is used up resets it (a real backlog).
 */

/* Stops or resumes level-triggered reports while accepting is paused or retrying. */
static void
listener_mute(struct sl_plistener *l, bool mute)
{
	if (l->muted == mute)
		return;
	/* on failure the listener stays as it was: at worst it is reported once per wait */
	if (sl_loop_io_mod(l->w->loop, &l->io, mute ? SL_IO_LEVEL : SL_IO_READ | SL_IO_LEVEL) == 0)
		l->muted = mute;
}

/*
 * Takes a session slot under the process-wide cap and the listener's max_connections before
 * accepting, so a client the proxy has no room for waits in the backlog instead of being
 * accepted and closed. SLOT_TAKEN, or the cap that refused. Any worker: the counts are shared.
 */
enum slot_verdict { SLOT_TAKEN, SLOT_PROCESS_CAP, SLOT_LISTENER_CAP };

static enum slot_verdict
slot_reserve(struct sl_plistener *l)
{
	enum slot_verdict v = SLOT_PROCESS_CAP;
	struct sl_proxy *p = l->w->p;
	uint32_t max = l->cfg->max_connections;

	/* relaxed: a count, publishing nothing; a transient overshoot is undone at once (and the
	 * cap is a bound alone) */
	if (atomic_fetch_add_explicit(&p->conns->n, 1, memory_order_relaxed) >=
	    atomic_load_explicit(&p->max_conns, memory_order_relaxed))
		goto err_global;
	if (max != 0 &&
	    /* relaxed: as above; the sessions of the listener this one was re-opened from count
	     * too */
	    atomic_fetch_add_explicit(&p->lshared[l->index].conns, 1, memory_order_relaxed) +
	                    sl__lshared_pred_conns(p, l->index) >=
	            max) {
		/* relaxed: as above */
		atomic_fetch_sub_explicit(&p->lshared[l->index].conns, 1, memory_order_relaxed);
		v = SLOT_LISTENER_CAP;
		goto err_global;
	}
	return SLOT_TAKEN;

err_global:
	/* relaxed: as above */
	atomic_fetch_sub_explicit(&p->conns->n, 1, memory_order_relaxed);
	return v;
}

/* Gives back a slot of slot_reserve(). */
static void
slot_release(struct sl_plistener *l)
{
	struct sl_proxy *p = l->w->p;

	if (l->cfg->max_connections != 0)
		/* relaxed: a count, publishing nothing */
		atomic_fetch_sub_explicit(&p->lshared[l->index].conns, 1, memory_order_relaxed);
	/* relaxed: as above */
	atomic_fetch_sub_explicit(&p->conns->n, 1, memory_order_relaxed);
}

/*
 * accept4() found no fd for listener <l> (<err>: EMFILE, the process's limit, or ENFILE, the
 * host's): counted, and the first listener of the process to meet it logs one warning naming
 * the limit. The listener stays in the shortage until its backlog is empty again (an accept4()
 * says EAGAIN), so a shortage that comes and goes with each closing session is one.
 */
static void
listener_out_of_fds(struct sl_plistener *l, int err)
{
	struct sl_fd_shortage *fs = l->w->p->fd_shortage;
	struct rlimit rl;
	char limit[64] = "";

	if (l->out_of_fds) {
		/* relaxed: a figure for a log line */
		atomic_fetch_add_explicit(&fs->failures, 1, memory_order_relaxed);
		return;
	}
	l->out_of_fds = true;
	/* relaxed: a count that picks the listener that logs; it publishes nothing */
	if (atomic_fetch_add_explicit(&fs->listeners, 1, memory_order_relaxed) != 0) {
		/* relaxed: a figure for a log line */
		atomic_fetch_add_explicit(&fs->failures, 1, memory_order_relaxed);
		return;
	}
	/* relaxed: figures for a log line; a stale one costs its accuracy only */
	atomic_store_explicit(&fs->since_ms, sl_loop_now_ms(l->w->loop), memory_order_relaxed);
	/* relaxed: as above */
	atomic_store_explicit(&fs->failures, 1, memory_order_relaxed);
	if (err == EMFILE) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			snprintf(limit, sizeof(limit), " is %" PRIu64, (uint64_t)rl.rlim_cur);
		sl_log_warn("listener %s: cannot accept: this process has no file descriptor left "
		            "(EMFILE: its RLIMIT_NOFILE%s; %u sessions open): clients wait in the "
		            "backlog until some close; this host's limit, not a backend's fault "
		            "(raise LimitNOFILE= or ulimit -n, or lower max_connections)",
		            l->cfg->name, limit,
		            /* relaxed: a figure for the log line */
		            atomic_load_explicit(&l->w->p->conns->n, memory_order_relaxed));
		return;
	}
	if (fs->file_max != 0)
		snprintf(limit, sizeof(limit), " is %" PRIu64, fs->file_max);
	sl_log_warn("listener %s: cannot accept: this host has no file descriptor left for any "
	            "process (ENFILE: fs.file-max%s): clients wait in the backlog until some "
	            "close; this host's limit, not a backend's fault (raise fs.file-max, or find "
	            "what holds the files)",
	            l->cfg->name, limit);
}

/*
 * Listener <l>, in an fd shortage, has emptied its backlog (or closes: <quiet>): the last
 * listener of the process to leave it logs that accepting works again.
 */
static void
listener_fds_again(struct sl_plistener *l, bool quiet)
{
	struct sl_fd_shortage *fs = l->w->p->fd_shortage;
	uint64_t since, failures;

	l->out_of_fds = false;
	/* relaxed: a count that picks the listener that logs; it publishes nothing */
	if (atomic_fetch_sub_explicit(&fs->listeners, 1, memory_order_relaxed) != 1 || quiet)
		return;
	/* relaxed: figures for a log line */
	since = atomic_load_explicit(&fs->since_ms, memory_order_relaxed);
	/* relaxed: as above */
	failures = atomic_load_explicit(&fs->failures, memory_order_relaxed);
	sl_log_info("listener %s: accepting again: file descriptors are free (%" PRIu64
	            " accepts failed for want of them over %" PRIu64 " ms)",
	            l->cfg->name, failures, sl_loop_now_ms(l->w->loop) - since);
}

/*
 * A pause of listener <l> at session cap <why> is logged, at most once a minute for the
 * process: clients held in the backlog are otherwise seen only in /metrics
 * (sluice_accept_pauses_total).
 */
static void
cap_pause_said(struct sl_plistener *l, enum slot_verdict why)
{
	struct sl_proxy *p = l->w->p;
	uint64_t now = sl_loop_now_ms(l->w->loop);
	/* relaxed: a stamp that picks the worker that logs; it publishes nothing */
	uint64_t last = atomic_load_explicit(&p->cap_said_ms, memory_order_relaxed);

	if (last != 0 && now < last + CAP_SAID_MS)
		return;
	/* relaxed: as above */
	if (!atomic_compare_exchange_strong_explicit(&p->cap_said_ms, &last, now,
	                                             memory_order_relaxed, memory_order_relaxed))
		return;
	if (why == SLOT_LISTENER_CAP)
		sl_log_warn("listener %s: at its max_connections (%" PRIu32 "): new clients wait "
		            "in the backlog until one of its sessions ends "
		            "(sluice_accept_pauses_total counts the pauses; said at most once a "
		            "minute)",
		            l->cfg->name, l->cfg->max_connections);
	else
		sl_log_warn("listener %s: at max_connections (%" PRIu32 " sessions in the "
		            "process): new clients wait in the backlog until a session ends "
		            "(sluice_accept_pauses_total counts the pauses; said at most once a "
		            "minute)",
		            l->cfg->name,
		            /* relaxed: a figure for a log line */
		            atomic_load_explicit(&p->max_conns, memory_order_relaxed));
}

static void
listener_accept(struct sl_plistener *l)
{
	struct sl_pworker *w = l->w;
	/* after an fd shortage, the clients it kept waiting are taken in full batches until the
	 * accept4() that says EAGAIN: that one ends the shortage */
	unsigned batch = sl_unlikely(l->out_of_fds) ? SL_ACCEPT_BATCH : l->batch;
	struct sl_addr peer;
	int fd;

	for (unsigned i = 0; i < batch; i++) {
		enum slot_verdict v = slot_reserve(l);

		if (v != SLOT_TAKEN) {
			/* a session closing here resumes at once; one closing on another worker
			 * is seen by the timer. A retry that finds no slot yet is the same pause:
			 * counted once */
			if (!l->paused) {
				sl__ctr_add(w, SL_CTR_ACCEPT_PAUSES, 1);
				cap_pause_said(l, v);
			}
			l->paused = true;
			listener_mute(l, true);
			sl_loop_timer_add(w->loop, &l->retry, ACCEPT_CAP_RETRY_MS);
			return;
		}
		if (sl_unlikely(l->paused))
			l->paused = false; /* a slot: the pause is over */
		fd = sl_sock_accept(l->fd, &peer);
		if (sl_likely(fd >= 0)) {
			if (sl_unlikely(sl__session_open(l, fd, &peer) != 0))
				slot_release(l);
			continue;
		}
		slot_release(l);
		if (fd == -EAGAIN) {
			if (sl_unlikely(l->out_of_fds))
				listener_fds_again(l, false); /* every waiting client was taken */
			if (l->grown && l->grow < ACCEPT_GROW_MAX)
				l->grow *= 2;
			l->grown = false;
			l->streak = 0;
			l->batch = l->batch > 1 ? l->batch / 2 : 1;
			return;
		}
		if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO)
			continue;
		/* out of fds or memory: the queue keeps its clients; look again shortly */
		sl__ctr_add(w, SL_CTR_ACCEPT_ERRORS, 1);
		if (fd == -EMFILE || fd == -ENFILE)
			listener_out_of_fds(l, -fd);
		listener_mute(l, true);
		sl_loop_timer_add(w->loop, &l->retry, ACCEPT_RETRY_MS);
		return;
	}
	/* the whole batch went: more may be waiting (the next wait reports them) */
	if (l->grown)
		l->grow = ACCEPT_GROW_MIN;
	l->grown = false;
	if (++l->streak >= l->grow && l->batch < SL_ACCEPT_BATCH) {
		l->batch *= 2;
		l->streak = 0;
		l->grown = true;
	}
}

static void
listener_io(struct sl_loop *loop, struct sl_io *io, unsigned events)
{
	(void)loop;
	(void)events;
	listener_accept(io->data);
}

static void
listener_more(struct sl_loop *loop, struct sl_defer *d)
{
	struct sl_plistener *l = d->data;

	(void)loop;
	if (l->fd < 0)
		return;
	listener_mute(l, false);
	listener_accept(l);
}

/* Looks again after a pause (paused stays set until a slot is found) or an accept error. */
static void
listener_retry(struct sl_loop *loop, struct sl_timer *t)
{
	listener_more(loop, &((struct sl_plistener *)t->data)->more);
}

void
sl__listener_close(struct sl_plistener *l)
{
	struct sl_loop *loop = l->w->loop;

	if (l->fd < 0)
		return;
	if (l->out_of_fds)
		listener_fds_again(l, true); /* a listener that closes has no backlog to serve */
	if (l->w->lstarted[l->index]) {
		sl_loop_io_del(loop, &l->io);
		sl_loop_defer_cancel(loop, &l->more);
		sl_loop_timer_cancel(loop, &l->retry);
		l->w->lstarted[l->index] = false;
	}
	close(l->fd);
	l->fd = -1;
	/* no session of this listener starts again: its spare pipes would outlive the last one
	 * (a retired listener is finished only when a reload reuses its slot) */
	sl_pipe_cache_close_spares(l->env.pipes);
}

/* The retired listener has no socket and no session left on this worker: say so. */
static void
listener_gone(struct sl_loop *loop, struct sl_defer *d)
{
	struct sl_plistener *l = d->data;

	(void)loop;
	/* forward: uring: the kernel still writes blocks of closed sessions; the last one's
	 * completion queues this again */
	if (l->env.orphans != 0) {
		l->env.drained = d;
		return;
	}
	l->retired = false; /* reported once */
	/* R2: pairs with A3 in reclaim() (lreload.c) and A4 in slot_is_held() (greload.c):
	 * this worker is done with the slot's objects, and its group's, before the controlling
	 * thread frees or resets them */
	atomic_fetch_sub_explicit(&l->w->p->lslots[l->index].holders, 1, memory_order_release);
}

void
sl__listener_retire(struct sl_plistener *l)
{
	struct sl_pworker *w = l->w;
	struct sl_session *s, *next;

	sl__listener_close(l);
	l->retired = true;
	/* the filter chain would run on the retired copy, which has no lists: close those, as
	 * the operator's reload did (counted, and logged as such) */
	for (s = w->live; s != NULL; s = next) {
		next = s->next;
		if (s->l == l && s->state == SL_SS_ACCEPTED)
			sl__session_close_admin(s);
	}
	if (l->active == 0)
		sl_loop_defer(w->loop, &l->gone);
}

static const struct sl_fwd_ops *const fwd_ops[] = {
        [SL_FWD_SPLICE] = &sl_fwd_splice_ops,   [SL_FWD_COPY] = &sl_fwd_copy_ops,
        [SL_FWD_AUTO] = &sl_fwd_auto_ops,       [SL_FWD_URING] = &sl_fwd_uring_ops,
        [SL_FWD_SOCKMAP] = &sl_fwd_sockmap_ops,
};

void
sl__listener_listen_why(const struct sl_config_listener *c, const struct sl_addr *a, int err,
                        char *why, size_t size)
{
	char text[SL_ADDR_STRLEN], users[160], held[200] = "";
	int who = err == -EADDRINUSE ? sl_sock_port_users(a, users, sizeof(users)) : 0;

	if (err == -EADDRINUSE && who == 0)
		snprintf(held, sizeof(held), " (held by: %s)", users);
	else if (err == -EADDRINUSE && who == -ENOENT)
		snprintf(held, sizeof(held), " (nothing holds it any more: it was freed just now)");
	else if (err == -EADDRNOTAVAIL && !c->freebind)
		snprintf(held, sizeof(held),
		         " (not an address of this host: give it one, or set freebind: true on "
		         "the listener to bind it before the host has it)");
	else if (err == -EACCES && sl_addr_port(a) != 0 && sl_addr_port(a) < 1024)
		snprintf(held, sizeof(held),
		         " (a port below 1024 needs CAP_NET_BIND_SERVICE, which this process "
		         "does not have%s)",
		         geteuid() != 0 ? " once it dropped its privileges: restart sluice" : "");
	snprintf(why, size, "listener %s: cannot listen on %s: %s%s", c->name,
	         sl_addr_format(a, text, sizeof(text)), strerror(-err), held);
}

/* Logs why listener <c> cannot listen on <a>. */
static void
listen_failed(const struct sl_config_listener *c, const struct sl_addr *a, int err)
{
	char why[320];

	sl__listener_listen_why(c, a, err, why, sizeof(why));
	sl_log_error("%s", why);
}

bool
sl__listeners_want(const struct sl_config *cfg, enum sl_fwd_mode forward)
{
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].forward == forward)
			return true;
	return false;
}

/*
 * The forwarder listener <c> of worker <w> runs instead of its own, with the reason in <*why>,
 * or NULL when it runs its own: uring needs the io_uring runtime and sockmap its program
 * (<*lacking>: the process lacks what the file asks for, a warning), and neither can hold a
 * direction back for a bandwidth limit (sl_config_fwd_pauses(); the file's own choice).
 */
static const struct sl_fwd_ops *
listener_fallback(const struct sl_pworker *w, const struct sl_config_listener *c, const char **why,
                  bool *lacking)
{
	*lacking = true;
	if (sl_config_fwd_pauses(c->forward))
		return NULL;
	if (c->forward == SL_FWD_URING && !sl_loop_has_ops(w->loop)) {
		*why = "the runtime is epoll";
	} else if (c->forward == SL_FWD_URING && !sl__listeners_want(w->p->cfg, SL_FWD_URING)) {
		/* its ops name the sockets through the table (fwd_uring.c: chan_files_add()) */
		*why = "the workers' rings have a file table only when the file sluice starts with "
		       "has a uring listener (an upgrade makes them)";
	} else if (c->forward == SL_FWD_SOCKMAP && w->sockmap.dirs == NULL) {
		*why = "its program is loaded only for the file sluice starts with (an upgrade "
		       "loads it)";
	} else if (c->bandwidth.limited != 0) {
		*lacking = false;
		*why = "bandwidth limits need it";
	} else {
		return NULL;
	}
	return c->forward == SL_FWD_URING ? &sl_fwd_copy_ops : &sl_fwd_splice_ops;
}

int
sl__listener_open(struct sl_plistener *l, struct sl_pworker *w, size_t i, int fd)
{
	struct sl_proxy *p = w->p;
	struct sl_lslot *slot = &p->lslots[i];
	const struct sl_config_listener *c = &slot->cfg;
	const struct sl_sock_opts opts = {
	        .nodelay = c->tcp_nodelay, .keepalive = c->keepalive, .freebind = c->freebind};
	struct sl_pool_opts po = {.name = "copy-buffers", .block_size = c->buffer_size};
	const struct sl_fwd_ops *fallback;
	const char *why = NULL;
	bool lacking;
	int err;

	*l = (struct sl_plistener){0};
	l->w = w;
	l->cfg = c;
	l->index = i;
	l->fd = fd;
	l->group = &w->groups[c->group];
	sl_defer_init(&l->gone, listener_gone, l);
	if ((unsigned)c->forward >= SL_ARRAY_SIZE(fwd_ops))
		return -EINVAL;
	l->fwd_ops = fwd_ops[c->forward];
	fallback = listener_fallback(w, c, &why, &lacking);
	if (fallback != NULL) {
		l->fwd_ops = fallback;
		/* one line per listener, not one per worker; a sockmap program that failed to
		 * load said so once at start, for every listener */
		if (w->index == 0 && !(c->forward == SL_FWD_SOCKMAP && p->sockmap_refused))
			sl_log(lacking ? SL_LOG_WARN : SL_LOG_INFO,
			       "listener %s: forward: %s runs as %s: %s", c->name,
			       sl_fwd_mode_names[c->forward], fallback->name, why);
	}
	if (c->forward == SL_FWD_SOCKMAP)
		l->env.sockmap = &w->sockmap;
	l->env.buffer_size = c->buffer_size;
	l->env.limiter = &sl__bandwidth_limiter; /* for the sessions bandwidth: limits */
	sl_defer_init(&l->more, listener_more, l);
	sl_timer_init(&l->retry, listener_retry, l);
	if (c->buffer_size == 0)
		return -EINVAL;
	if (c->forward != SL_FWD_SPLICE)
		po.prealloc_blocks = (size_t)2 * SL_SESSION_PREALLOC;
	err = sl_pool_create(&l->env.buffers, &po);
	if (err != 0)
		return err;
	if (sl_config_fwd_pipes(c->forward)) {
		err = sl_pipe_cache_create(&l->env.pipes, PIPE_CACHE_PAIRS, SL_PIPE_CACHE_KEEP,
		                           c->pipe_size);
		if (err != 0)
			return err;
	}
	/* a reload re-opening the listener: its socket, its accept queue and all */
	if (fd >= 0)
		goto reuse;
	/* a binary upgrade: the previous process's socket, its accept queue and all */
	err = sl__handover_take(p, c);
	if (err >= 0) {
	reuse:
		l->fd = fd >= 0 ? fd : err;
		err = 0;
		/* the queue length and the options accepted sockets inherit are this config's */
		if (listen(l->fd, c->backlog != 0 ? (int)c->backlog : SOMAXCONN) == -1 ||
		    (err = sl_sock_apply(l->fd, &opts)) != 0 ||
		    (err = sl_sock_local_addr(l->fd, &slot->bound)) != 0) {
			err = err != 0 ? err : -errno;
			sl_log_error("listener %s: cannot take over the %s socket: %s", c->name,
			             fd >= 0 ? "listener's previous" : "previous process's",
			             strerror(-err));
			return err;
		}
		goto listening;
	}
	/* SO_REUSEPORT lets every worker have its own socket, and would let another process
	 * join the port unseen: the first worker refuses a port something already listens on
	 * (after an upgrade took a socket, the first worker has one and the port is ours) */
	if (w->index == 0 && sl_addr_port(&c->addr) != 0 &&
	    (err = sl_sock_probe_free(&c->addr, c->freebind)) != 0) {
		listen_failed(c, &c->addr, err);
		return err;
	}
	/* the first worker resolves a port 0; the others join its port (SO_REUSEPORT) */
	err = sl_sock_listen(&slot->bound, c->backlog, true, &opts);
	if (err < 0) {
		listen_failed(c, &slot->bound, err);
		return err;
	}
	l->fd = err;
	if (sl_addr_port(&slot->bound) == 0 && (err = sl_sock_local_addr(l->fd, &slot->bound)) != 0)
		return err;
listening:
	p->lfds[(size_t)w->index * p->lcap + i] = l->fd;
	sl_io_init(&l->io, l->fd, listener_io, l);
	l->batch = 1;
	l->grow = ACCEPT_GROW_MIN;
	return 0;
}

int
sl__listener_start(struct sl_plistener *l)
{
	int err = sl_loop_io_add(l->w->loop, &l->io, SL_IO_READ | SL_IO_LEVEL);

	l->w->lstarted[l->index] = err == 0;
	return err;
}

void
sl__listener_session_adopted(struct sl_plistener *l)
{
	struct sl_proxy *p = l->w->p;

	l->active++;
	/* relaxed: counts, as in slot_reserve(); a session that arrives open passes any cap */
	atomic_fetch_add_explicit(&p->conns->n, 1, memory_order_relaxed);
	if (l->cfg->max_connections != 0)
		/* relaxed: as above */
		atomic_fetch_add_explicit(&p->lshared[l->index].conns, 1, memory_order_relaxed);
}

void
sl__listener_session_closed(struct sl_plistener *l)
{
	l->active--;
	slot_release(l);
	if (sl_unlikely(l->retired) && l->active == 0)
		sl_loop_defer(l->w->loop, &l->gone); /* after the session's own callback */
	if (sl_unlikely(l->paused) && l->fd >= 0) {
		/* paused stays set until the accept finds the slot (another worker may take it
		 * first: then the pause goes on, and is not counted again) */
		sl_loop_timer_cancel(l->w->loop, &l->retry);
		sl_loop_defer(l->w->loop, &l->more);
	}
}

void
sl__listener_fini(struct sl_plistener *l)
{
	if (l->w == NULL)
		return; /* never filled */
	/* a started listener is finished with its worker stopped (no loop call races it); a
	 * retired one was closed by its worker and its <gone> has run (unqueued: a no-op) */
	sl__listener_close(l);
	if (l->w->loop != NULL)
		sl_loop_defer_cancel(l->w->loop, &l->gone);
	sl_pipe_cache_destroy(l->env.pipes);
	/*
	 * forward: uring: a block whose op the worker's settle did not see end (its stop timed
	 * out, or a session closed after it) may still be written by the kernel until the ring
	 * closes: leave the pool mapped rather than hand its pages to anyone else.
	 */
	if (l->env.orphans != 0)
		sl_log_warn("listener slot %zu: %u forwarding buffers still held by the kernel: "
		            "not freed",
		            (size_t)l->index, l->env.orphans);
	else
		sl_pool_destroy(l->env.buffers);
	*l = (struct sl_plistener){.fd = -1};
}
