// SPDX-License-Identifier: MIT
/*
 * The sockmap forwarder (include/sluice/fwd.h): the session's two sockets go into the kernel's
 * sockhash and the verdict program (src/bpf/sockmap_fwd.bpf.c) redirects each segment to the
 * peer's egress; this file puts them in, watches for the end of each direction and reads the
 * byte counts. docs/internals/fwd.md, "Sockmap", has the invariants.
 *
 * Turning the redirect on without losing or reordering a byte: a segment can arrive on a socket
 * at any moment once it is in the sockhash, before its peer is, so each direction's slot starts
 * PENDING. The verdict turns a PENDING slot to PASS (its segments go to the socket's own queue,
 * which the process reads); the process, once both sockets are in, turns it to REDIRECT. Both
 * use a compare-and-swap, so exactly one wins: a direction is either redirected from its first
 * byte on or copied by the process for the whole session. What arrived before the sockets went
 * in is still in the socket's receive queue, where the verdict looks only when told that data
 * is ready: setting SO_RCVLOWAT (to 1, its default) tells it.
 *
 * Bounding what the kernel holds: the verdict hands segments to the destination's send queue
 * through a queue of the kernel's own, with no bound, and takes them out of the source's
 * receive queue at once, so TCP's window would never close on a destination that stops
 * reading. The verdict itself measures the destination's lag (its write_seq against the bytes
 * redirected) and turns the direction to PASS past SL_SOCKMAP_LAG_MAX; the process copies it
 * from then on, with TCP's bounds. So a stalled reader costs at most SL_SOCKMAP_LAG_MAX beyond
 * the sockets' own buffers.
 *
 * A socket the owner read part of (a PROXY header, sl_fwd_note_consumed()): the kernel hands
 * the verdict each queued segment whole, from its first byte, so the bytes the owner read
 * would be redirected again. Before such a socket goes in, the process reads what it holds to
 * the end of its queue (a segment that comes next starts a segment of its own); the direction
 * starts as PASS, the process delivering those bytes first, and is handed to the kernel like
 * any copied direction once the process has caught up. If the buffer fills (or the source
 * ends) first, the session stays out of the maps and moves to the copy variant with them.
 *
 * Waiting for the destination: when the source's EOF shows, or a direction turned to PASS,
 * bytes the verdict redirected may still be on their way to the destination's send queue; a
 * shutdown(SHUT_WR), or a byte the process copied, then would overtake them. The process
 * waits until the destination has taken (sent, or queued to send) every byte the verdict
 * redirected; a timer looks again after 1 ms, then after twice as long each time, to 64 ms.
 *
 * Watching: while the kernel moves a direction, each segment would wake the process (the
 * verdict's reader signals data ready, the destination's sender space), for nothing. The fds
 * are watched for hang-ups only (sl_fwd_interest()), which a FIN or a reset still reports; a
 * direction that the verdict turned to PASS is found by the worker's sweep, which widens the
 * watch again.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sluice/loop.h>
#include <sluice/pool.h>

#include "bpf/sockmap_dir.h"
#include "net/fwd_int.h"

/* how long a direction that waits for the destination waits first, and at most */
#define WAIT_FIRST_MS 1u
#define WAIT_MOST_MS 64u
/* how often the sweep looks for directions the verdict turned to PASS */
#define SWEEP_MS 50u

static int
map_update(int fd, const void *key, const void *value, uint64_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = flags;
	return syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &a, sizeof(a)) == 0 ? 0 : -errno;
}

static void
map_delete(int fd, const void *key)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	(void)syscall(SYS_bpf, BPF_MAP_DELETE_ELEM, &a, sizeof(a)); /* ENOENT: already gone */
}

static struct sl_fwd_sockmap_pair *
pair_of(const struct sl_fwd *f)
{
	const struct sl_fwd_sockmap *m = f->env->sockmap;

	return &m->pairs[f->sockmap_pair - m->first];
}

static struct sl_sockmap_dir *
dir_of(const struct sl_fwd *f, unsigned d)
{
	return &f->env->sockmap->dirs[2 * f->sockmap_pair + d];
}

/* States of the kernel's tcp_states.h (linux/tcp.h has no state names): TCP_ESTABLISHED, the
 * one a sockhash takes a socket in; TCP_CLOSE, a reset socket */
#define TCP_STATE_ESTABLISHED 1
#define TCP_STATE_CLOSED 7

/* <fd>'s TCP_INFO into <ti>: 0 or a negative errno. */
static int
sock_info(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0 ? 0 : -errno;
}

/*
 * Bytes <fd>'s socket has taken to send since it connected: sent once (retransmissions not
 * counted again) plus queued and not yet sent. A negative errno if TCP_INFO fails,
 * -ECONNRESET if the socket is closed while the process still holds it (only a reset closes
 * one before the process shut it down): it takes nothing more, and what the verdict
 * redirected to it is lost.
 */
static int64_t
sock_taken(int fd)
{
	struct tcp_info ti;
	int err = sock_info(fd, &ti);

	if (err != 0)
		return err;
	if (ti.tcpi_state == TCP_STATE_CLOSED)
		return -ECONNRESET;
	return (int64_t)(ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans + ti.tcpi_notsent_bytes);
}

static int
sock_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) == 0 ? 0 : -errno;
}

/* Direction <d>'s state word now: its mode and the bytes the verdict kept for the process. */
static uint64_t
dir_state(const struct sl_fwd *f, unsigned d)
{
	/* A1: pairs with the verdict's compare-and-swap; the counts it left are read after */
	return __atomic_load_n(&dir_of(f, d)->state, __ATOMIC_SEQ_CST);
}

static unsigned
state_mode(uint64_t state)
{
	return (unsigned)(state >> SL_SOCKMAP_MODE_SHIFT);
}

static uint64_t
state_passed(uint64_t state)
{
	return state & SL_SOCKMAP_PASSED_MASK;
}

/* Bytes the verdict has redirected in direction <d>. */
static uint64_t
dir_redirected(const struct sl_fwd *f, unsigned d)
{
	/* relaxed: a count the verdict adds to; any value it held is a right one */
	return __atomic_load_n(&dir_of(f, d)->bytes, __ATOMIC_RELAXED);
}

/* The owner's io callback runs the directions in <dirs> (bits) again, as a resume does. */
static void
owner_call(struct sl_loop *loop, struct sl_fwd *f, uint8_t dirs)
{
	f->more |= dirs;
	if (f->io != NULL)
		f->io->fn(loop, f->io, 0);
}

/* The wait timer: the owner's io callback looks again at the directions that wait. */
static void
wait_due(struct sl_loop *loop, struct sl_timer *t)
{
	struct sl_fwd_sockmap_pair *p = t->data;
	struct sl_fwd *f = p->owner;
	uint8_t dirs = 0;

	if (p->wait_ms < WAIT_MOST_MS)
		p->wait_ms = (uint8_t)(2 * p->wait_ms);
	for (unsigned d = 0; d < 2; d++)
		if ((f->d[d].eof && !f->d[d].shut) || (p->draining & (1u << d)) != 0)
			dirs |= (uint8_t)(1u << d);
	if (dirs != 0)
		owner_call(loop, f, dirs);
}

/* Direction <d> waits for its destination: the timer looks again. Returns 0. */
static int
wait_again(struct sl_fwd *f)
{
	struct sl_fwd_sockmap_pair *p = pair_of(f);

	if (p->wait.pprev == NULL)
		sl_loop_timer_add(f->loop, &p->wait, p->wait_ms);
	return 0;
}

/*
 * The sweep: every session of the worker in the maps whose verdict turned a redirected
 * direction to PASS is run again (its pump finds out, and the owner widens its watch).
 */
static void
sweep_due(struct sl_loop *loop, struct sl_timer *t)
{
	struct sl_fwd_sockmap *m = t->data;

	for (uint32_t i = 0; i < m->cap; i++) {
		struct sl_fwd *f = m->pairs[i].owner;
		uint8_t dirs = 0;

		if (f == NULL)
			continue;
		for (unsigned d = 0; d < 2; d++)
			if (m->pairs[i].mode[d] == SL_SOCKMAP_REDIRECT &&
			    state_mode(dir_state(f, d)) == SL_SOCKMAP_PASS)
				dirs |= (uint8_t)(1u << d);
		/* may close the session: pairs[i] is then free */
		if (dirs != 0)
			owner_call(loop, f, dirs);
	}
	if (m->nfree < m->cap && t->pprev == NULL) /* a pair still in use */
		sl_loop_timer_add(loop, t, SWEEP_MS);
}

/*
 * 1 once the destination of direction <d> has taken every byte the verdict redirected (or
 * cannot tell: TCP_INFO failed), 0 while it may still, -ECONNRESET (err_side set) if it was
 * reset first: the bytes are lost, as a write of the process's would have failed, and waiting
 * would last for ever.
 */
static int
peer_caught_up(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_sockmap_pair *p = pair_of(f);
	int64_t taken = sock_taken(f->fd[!d]);

	if (taken == -ECONNRESET) {
		f->err_side = (int8_t)!d;
		return -ECONNRESET;
	}
	if (taken >= 0 && (uint64_t)taken - p->taken0[!d] < f->d[d].bytes - p->base[d])
		return 0;
	p->wait_ms = WAIT_FIRST_MS;
	return 1;
}

/* Takes a free pair (the one freed longest ago) for <f>: 0, or -ENOSPC if none is free. */
static int
pair_take(struct sl_fwd *f)
{
	struct sl_fwd_sockmap *m = f->env->sockmap;
	struct sl_fwd_sockmap_pair *p;

	if (m->nfree == 0)
		return -ENOSPC;
	f->sockmap_pair = m->free[m->head];
	m->head = (m->head + 1) % m->cap;
	m->nfree--;
	p = pair_of(f);
	p->owner = f;
	p->draining = 0;
	p->wait_ms = WAIT_FIRST_MS;
	sl_timer_init(&p->wait, wait_due, p);
	if (m->loop == NULL) { /* the first session in the maps since they were empty */
		m->loop = f->loop;
		sl_timer_init(&m->sweep, sweep_due, m);
	}
	if (m->sweep.pprev == NULL) /* the first pair in use: the sweep starts */
		sl_loop_timer_add(m->loop, &m->sweep, SWEEP_MS);
	return 0;
}

/* Gives <f>'s pair back to the worker's ring: the last to be taken again. */
static void
pair_put(struct sl_fwd *f)
{
	struct sl_fwd_sockmap *m = f->env->sockmap;
	struct sl_fwd_sockmap_pair *p = pair_of(f);

	sl_loop_timer_cancel(f->loop, &p->wait);
	p->owner = NULL;
	m->free[(m->head + m->nfree) % m->cap] = f->sockmap_pair;
	m->nfree++;
	f->sockmap_pair = UINT32_MAX;
	if (m->nfree == m->cap) { /* the last: the sweep stops, till a session comes */
		sl_loop_timer_cancel(m->loop, &m->sweep);
		m->loop = NULL;
	}
}

/*
 * Sets direction <d>'s state from <from> to REDIRECT (the bytes kept for the process so far
 * stay counted), unless the verdict changed it first: true if it did.
 */
static bool
dir_redirect(struct sl_fwd *f, unsigned d, uint64_t from)
{
	__u64 expected = from;
	__u64 to = ((__u64)SL_SOCKMAP_REDIRECT << SL_SOCKMAP_MODE_SHIFT) | state_passed(from);

	/* A1: against the verdict's compare-and-swap of the same word (a full barrier in BPF);
	 * the slot's peer and counts, written before the sockets went in, are the kernel's by
	 * then (the map updates are system calls) */
	return __atomic_compare_exchange_n(&dir_of(f, d)->state, &expected, to, false,
	                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Puts both sockets in the maps; the redirect of each direction is then on (or, if a segment
 * came first, that direction is copied). Returns 0, or a negative errno with nothing left in
 * the maps (the session runs as copy).
 */
static int
maps_enter(struct sl_fwd *f)
{
	struct sl_fwd_sockmap *m = f->env->sockmap;
	const int one = 1;
	uint64_t cookie[2], taken0[2];
	struct sl_fwd_sockmap_pair *p;
	uint32_t slot[2];
	int64_t taken;
	int err;

	for (unsigned side = 0; side < 2; side++) {
		err = sock_cookie(f->fd[side], &cookie[side]);
		if (err != 0)
			return err;
		taken = sock_taken(f->fd[side]);
		if (taken < 0)
			return (int)taken;
		taken0[side] = (uint64_t)taken;
	}
	/* bytes the process holds for a destination count as taken by it already: they go
	 * first, before anything the verdict redirects */
	for (unsigned d = 0; d < 2; d++)
		taken0[!d] += f->d[d].pending;
	err = pair_take(f);
	if (err != 0)
		return err;
	p = pair_of(f);
	for (unsigned d = 0; d < 2; d++) {
		struct sl_sockmap_dir *x = dir_of(f, d);

		p->cookie[d] = cookie[d];
		p->taken0[d] = taken0[d];
		p->base[d] = f->d[d].bytes + f->d[d].pending;
		p->copied[d] = 0;
		p->mode[d] = SL_SOCKMAP_PENDING;
		slot[d] = 2 * f->sockmap_pair + d;
		x->peer = cookie[!d];
		x->bytes = 0;
		/* bytes the process holds (queue_take()): it delivers them first, so the direction
		 * is copied until it has */
		x->state = (uint64_t)(f->d[d].pending != 0 ? SL_SOCKMAP_PASS : SL_SOCKMAP_PENDING)
		           << SL_SOCKMAP_MODE_SHIFT;
		x->peer_taken0 = taken0[!d];
	}
	err = map_update(m->index_fd, &cookie[0], &slot[0], BPF_ANY);
	if (err == 0)
		err = map_update(m->index_fd, &cookie[1], &slot[1], BPF_ANY);
	if (err == 0) {
		/* the client first: the side more likely to be refused (it may have sent its FIN
		 * already, and the kernel takes only established sockets), with nothing in yet */
		uint64_t fd = (uint64_t)f->fd[SL_FWD_CLIENT];

		err = map_update(m->socks_fd, &cookie[SL_FWD_CLIENT], &fd, BPF_NOEXIST);
	}
	if (err != 0) {
		map_delete(m->index_fd, &cookie[0]);
		map_delete(m->index_fd, &cookie[1]);
		pair_put(f);
		return err;
	}
	m->sessions++;
	{
		uint64_t fd = (uint64_t)f->fd[SL_FWD_SERVER];

		err = map_update(m->socks_fd, &cookie[SL_FWD_SERVER], &fd, BPF_NOEXIST);
	}
	p->both_in = err == 0; /* else no direction may ever be redirected */
	for (unsigned d = 0; d < 2; d++) {
		/* the server's socket refused: the client's is in and its verdict may have run,
		 * so it stays in, and both directions are copied */
		if (err != 0) /* A1: as in dir_redirect(); what the verdict kept stays counted */
			__atomic_fetch_or(&dir_of(f, d)->state,
			                  (uint64_t)SL_SOCKMAP_PASS << SL_SOCKMAP_MODE_SHIFT,
			                  __ATOMIC_SEQ_CST);
		p->mode[d] =
		        err == 0 && dir_redirect(f, d, 0) ? SL_SOCKMAP_REDIRECT : SL_SOCKMAP_PASS;
		if (p->mode[d] == SL_SOCKMAP_REDIRECT)
			f->kernel |= (uint8_t)(1u << d);
		else
			f->readable[d] = true; /* what the verdict kept may be there already */
		/* what came before the socket went in: the verdict takes it now (a copied
		 * direction's verdict keeps it for the process, in order) */
		if (setsockopt(f->fd[d], SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) == -1)
			return -errno;
	}
	if (f->kernel != 0)
		f->rewatch = 3; /* the watch narrows */
	return 0;
}

/*
 * Reads what direction <d>'s source holds into the direction's buffer, to the end of the
 * socket's queue: the owner read part of it (sl_fwd_note_consumed()). 0 once the queue is
 * empty; 1 if the buffer filled or the source ended first (the socket may not go in); or a
 * negative errno.
 */
static int
queue_take(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	uint32_t room;
	ssize_t n;

	for (;;) {
		room = x->capacity - x->head - x->pending;
		if (room == 0)
			return 1;
		if (x->buf == NULL && (x->buf = sl_pool_alloc(f->env->buffers)) == NULL) {
			f->err_side = (int8_t)d;
			return -ENOMEM;
		}
		n = recv(f->fd[d], x->buf + x->head + x->pending, room, 0);
		if (n > 0) {
			x->pending += (uint32_t)n;
			continue;
		}
		if (n == 0)
			return 1; /* the copy reads the EOF again */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			f->err_side = (int8_t)d;
			return -errno;
		}
		if (x->pending == 0) { /* held nothing: an idle direction holds no buffer */
			sl_pool_free(f->env->buffers, x->buf);
			x->buf = NULL;
		}
		return 0;
	}
}

/* Whether <fd>'s connection is established: no FIN or reset came yet. */
static bool
sock_established(int fd)
{
	struct tcp_info ti;

	return sock_info(fd, &ti) == 0 && ti.tcpi_state == TCP_STATE_ESTABLISHED;
}

/*
 * <f> stays out of the maps: it moves to the copy variant at once (the capacities are set,
 * and the buffers are the copy variant's), keeping what queue_take() read. A fallback (the
 * maps full, the kernel refusing the sockets) is counted; a peer that already sent its FIN or
 * a reset is no failure of the kernel path (a client that closes before its backend answers):
 * its session copies the little left, uncounted.
 */
static void
maps_refused(struct sl_fwd *f)
{
	f->ops = &sl_fwd_copy_ops;
	if (!sock_established(f->fd[0]) || !sock_established(f->fd[1])) {
		f->kernel = SL_FWD_KERNEL_DECLINED;
		return;
	}
	f->env->sockmap->refused++;
	f->env->fallbacks++;
}

static int
sockmap_attach(struct sl_fwd *f)
{
	struct sl_fwd_sockmap *m = f->env->sockmap;
	int err = sl__fwd_copy_attach(f); /* capacities, for a direction that is copied */

	f->sockmap_pair = UINT32_MAX;
	f->kernel = 0;
	if (err != 0 || m == NULL || m->cap == 0 || f->loop == NULL) {
		if (m != NULL && err == 0)
			maps_refused(f);
		return err;
	}
	for (unsigned d = 0; d < 2; d++) {
		if ((f->consumed & (1u << d)) == 0)
			continue;
		err = queue_take(f, d);
		if (err < 0)
			return err;
		if (err > 0) {
			maps_refused(f);
			return 0;
		}
	}
	err = maps_enter(f);
	if (err != 0 && f->sockmap_pair == UINT32_MAX) {
		maps_refused(f);
		return 0;
	}
	return err; /* SO_RCVLOWAT refused: cannot happen on a TCP socket */
}

static void
sockmap_detach(struct sl_fwd *f)
{
	struct sl_fwd_sockmap *m = f->env->sockmap;
	struct sl_fwd_sockmap_pair *p;

	for (unsigned d = 0; d < 2; d++) { /* a copied direction's buffer */
		sl_pool_free(f->env->buffers, f->d[d].buf);
		f->d[d].buf = NULL;
	}
	if (f->sockmap_pair == UINT32_MAX)
		return;
	p = pair_of(f);
	/* the sockets leave the sockhash when they close; a verdict still running on one finds
	 * no slot, or a slot set to PASS, and the slot is reused last */
	map_delete(m->index_fd, &p->cookie[0]);
	map_delete(m->index_fd, &p->cookie[1]);
	for (unsigned d = 0; d < 2; d++) /* A1 */
		__atomic_store_n(&dir_of(f, d)->state,
		                 (uint64_t)SL_SOCKMAP_PASS << SL_SOCKMAP_MODE_SHIFT,
		                 __ATOMIC_SEQ_CST);
	pair_put(f);
}

static void
sockmap_sync(struct sl_fwd *f)
{
	struct sl_fwd_sockmap_pair *p;

	if (f->sockmap_pair == UINT32_MAX)
		return;
	p = pair_of(f);
	for (unsigned d = 0; d < 2; d++)
		if (p->mode[d] == SL_SOCKMAP_REDIRECT)
			f->d[d].bytes = p->base[d] + p->copied[d] + dir_redirected(f, d);
}

static unsigned
sockmap_interest(const struct sl_fwd *f, unsigned side)
{
	const struct sl_fwd_sockmap_pair *p;
	unsigned ev = SL_IO_HUP;

	if (f->sockmap_pair == UINT32_MAX)
		return SL_IO_READ | SL_IO_WRITE;
	p = pair_of(f);
	if (p->mode[side] != SL_SOCKMAP_REDIRECT) /* the process reads direction <side> */
		ev |= SL_IO_READ;
	if (p->mode[!side] != SL_SOCKMAP_REDIRECT) /* ... and writes direction !<side> */
		ev |= SL_IO_WRITE;
	return ev;
}

/*
 * The verdict turned redirected direction <d> to PASS (its destination fell behind): the
 * process copies it, once the destination has taken what was redirected.
 */
static void
dir_fell_behind(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_sockmap_pair *p = pair_of(f);

	sockmap_sync(f); /* the last count of this turn: the verdict adds no more */
	p->mode[d] = SL_SOCKMAP_PASS;
	p->draining |= (uint8_t)(1u << d);
	f->kernel &= (uint8_t) ~(1u << d); /* the owner counts copied directions from it */
	f->readable[d] = true;             /* its segments wait in the socket for the process */
	f->rewatch = 3;                    /* read the source, write the destination */
}

/*
 * Copies PASS direction <d>, and hands it back to the kernel once the process has delivered
 * every byte the verdict kept for it and the source is drained.
 */
/*
 * Every byte of direction <d> meant for the destination so far, by state word <state>: an EOF
 * read before they are all read is early (a segment the verdict kept may still be on its way to
 * the socket's queue).
 */
static uint64_t
dir_meant_by(struct sl_fwd *f, unsigned d, uint64_t state)
{
	return pair_of(f)->base[d] + dir_redirected(f, d) + state_passed(state);
}

/*
 * dir_meant_by() the state now: what an EOF read must have come after. The verdict counts a
 * segment it keeps before it queues it, and the read that finds the EOF runs after the verdict
 * of every segment before it, so each of those is counted by then.
 */
static uint64_t
dir_meant(struct sl_fwd *f, unsigned d)
{
	return dir_meant_by(f, d, dir_state(f, d));
}

static int
dir_copy(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_sockmap_pair *p = pair_of(f);
	struct sl_fwd_dir *x = &f->d[d];
	uint64_t state, meant;
	/* the verdict may keep more while the copy runs: an EOF is checked against the state
	 * then, not against this turn's start */
	int err = sl__fwd_copy_move(f, d, false, dir_meant);

	if (err != 0 || x->eof || x->pending != 0 || f->hold || !p->both_in)
		return err;
	state = dir_state(f, d);
	meant = dir_meant_by(f, d, state);
	if (x->bytes != meant)
		return 0;
	if (!dir_redirect(f, d, state))
		return 0; /* the verdict kept another segment meanwhile: it comes with an edge */
	p->copied[d] = x->bytes - p->base[d] - dir_redirected(f, d);
	p->mode[d] = SL_SOCKMAP_REDIRECT;
	f->rewatch = 3;
	return 0;
}

/* A turn of PASS direction <d>: once its redirected bytes have left, the process copies. */
static int
dir_pass_turn(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_sockmap_pair *p = pair_of(f);

	if ((p->draining & (1u << d)) != 0) {
		int rc = peer_caught_up(f, d);

		if (rc <= 0)
			return rc < 0 ? rc : wait_again(f);
		p->draining &= (uint8_t) ~(1u << d);
	}
	return dir_copy(f, d);
}

static int
sockmap_pump(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	struct sl_fwd_sockmap_pair *p;
	char byte;

	if (f->sockmap_pair == UINT32_MAX) /* no maps at all (sockmap_attach): copy */
		return -EINVAL;
	p = pair_of(f);
	if (p->mode[d] == SL_SOCKMAP_REDIRECT && state_mode(dir_state(f, d)) == SL_SOCKMAP_PASS)
		dir_fell_behind(f, d);
	if (p->mode[d] != SL_SOCKMAP_REDIRECT)
		return dir_pass_turn(f, d);
	sockmap_sync(f);
	if (x->shut)
		return 0;
	/* no byte of a redirected direction reaches the process: a look says EOF or a reset */
	while (!x->eof && f->readable[d]) {
		ssize_t n = recv(f->fd[d], &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		int rc;

		if (n > 0) {
			/* the verdict turned the direction to PASS after the look above */
			if (state_mode(dir_state(f, d)) != SL_SOCKMAP_PASS) {
				f->err_side = (int8_t)d;
				return -EPROTO;
			}
			dir_fell_behind(f, d);
			return dir_pass_turn(f, d);
		}
		if (n == 0 && state_mode(dir_state(f, d)) == SL_SOCKMAP_PASS) {
			/* likewise, and what it kept may still be on its way to the socket: the
			 * copy believes the EOF once every byte meant has come */
			dir_fell_behind(f, d);
			return dir_pass_turn(f, d);
		}
		rc = sl__fwd_read_nothing(f, d, n);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
	}
	/* the FIN is passed on once every byte before it has left */
	if (x->eof) {
		int rc = peer_caught_up(f, d);

		return rc < 0 ? rc : rc > 0 ? sl__fwd_shut(f, d) : wait_again(f);
	}
	return 0;
}

uint64_t
sl_fwd_sockmap_redirected(const struct sl_fwd *f)
{
	if (f->ops != &sl_fwd_sockmap_ops || f->sockmap_pair == UINT32_MAX)
		return 0;
	return dir_redirected(f, 0) + dir_redirected(f, 1);
}

const struct sl_fwd_ops sl_fwd_sockmap_ops = {
        .name = "sockmap",
        .attach = sockmap_attach,
        .detach = sockmap_detach,
        .pump = sockmap_pump,
        .sync = sockmap_sync,
        .interest = sockmap_interest,
        .pinned = true,
};
