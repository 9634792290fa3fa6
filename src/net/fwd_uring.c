// SPDX-License-Identifier: MIT
/*
 * Completion forwarder (io_uring loops). Where the owner's loop has a provided-buffer group, each
 * direction keeps one multishot recv armed (sl_loop_recv_multi()), queues the buffers it fills
 * and sends them in order, a bounded number at a time (m_*). Else each direction keeps one op in
 * flight (sl_loop_recv() into a pooled block, then sl_loop_send() of what arrived, the rest of a
 * short send resubmitted, then the recv again). Either way bytes move with no system call beyond
 * the loop's shared io_uring_enter(), both fds are registered with the ring (sl_loop_file_add())
 * for the session's life, and each direction's state lives at the head of a pool block,
 * which goes back to the pool only from a completion once no op of it is in flight.
 * docs/internals/fwd.md explains both; read fwd.c next.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sluice/pool.h>

#include "net/fwd_int.h"

/*
 * Buffers a multishot direction holds received and not yet sent before it stops its recv: the
 * backpressure bound (the kernel may fill a few more before the cancel reaches it).
 */
#define URING_QUEUE 4

/*
 * The head of a direction's pool block. Two ways to run it, picked at its first pump:
 * - multishot (<multi>, when the loop has a provided-buffer group, sl_loop_bufs_open()): <rop>
 *   is the direction's one multishot recv, armed until EOF, a failure, the backpressure bound or
 *   a hold; its buffers queue (qhead..qtail) in arrival order and <op> sends the head one, the
 *   rest of a short send again; data[] is unused;
 * - single-shot (the fallback): <op> is the recv into data[], then the send of what came, linked
 *   to the next recv.
 */
struct uring_chan {
	struct sl_op op;  /* single-shot: the recv, send or pair; multishot: the send */
	struct sl_op rop; /* multishot: the recv */
	struct sl_fwd *f; /* NULL once detached: the ops' last completion frees the block */
	struct sl_fwd_env *env;
	unsigned d;
	bool sending;  /* the op in flight is a send (else a recv) */
	bool pair;     /* the op in flight is a send then a recv (sl_loop_send_recv()) */
	bool drained;  /* the last recv left room in the block: the socket had no more then */
	bool multi;    /* multishot recv into the loop's group */
	bool stopped;  /* multishot: <rop> cancelled at the bound; its end arms it again */
	bool full;     /* multishot: the last send did not all go: send plainly (waits for room) */
	bool nobufs;   /* multishot: the group was found empty: the next recv goes into <own> */
	bool own_busy; /* multishot: <own> is queued */
	uint32_t nq;   /* multishot: buffers queued */
	/* multishot: the recv failed (a reset) with buffers still queued: the error the
	 * direction fails with once they are sent, as a copying forwarder sends what it read */
	int rerr;
	struct sl_buf *qhead, *qtail; /* multishot: received, not sent yet, oldest first */
	struct sl_buf own; /* multishot: data[] as a buffer, for when the group is empty */
	alignas(16) char data[];
};

static struct uring_chan *
chan_of(const struct sl_fwd *f, unsigned d)
{
	return (struct uring_chan *)(void *)f->d[d].buf;
}

/* Hands a change the owner must see (EOF, an error) to it: its io callback runs from a defer. */
static void
chan_notify(struct sl_fwd *f, unsigned d)
{
	f->more |= (uint8_t)(1u << d);
	sl_loop_defer(f->loop, &f->resume);
}

static void
chan_fail(struct sl_fwd *f, unsigned side, int err, unsigned d)
{
	if (f->err == 0) {
		f->err = err;
		f->err_side = (int8_t)side;
	}
	chan_notify(f, d);
}

/*
 * Submits the send of what direction <d> holds; while the direction reads on, linked to the next
 * recv (one completion for both, so a keep-alive exchange wakes the loop once per direction).
 */
static int
chan_send(struct sl_fwd *f, struct uring_chan *c)
{
	struct sl_fwd_dir *x = &f->d[c->d];
	unsigned d = c->d;
	int err;

	c->pair = false;
	/* the recv after a send waits for the peer's answer: nothing to find yet, unless the
	 * last recv stopped at a full block (bulk) */
	c->op.flags = c->drained ? SL_OP_POLL_FIRST : 0;
	/* the first send goes alone: its completion tells the owner the first bytes are through */
	if (!x->eof && !f->hold && x->bytes != 0) {
		err = sl_loop_send_recv(f->loop, &c->op, f->fd[!d], c->data + x->head, x->pending,
		                        f->fd[d], c->data, x->capacity);
		if (err == 0) {
			c->pair = true;
			c->sending = false;
			/* the send goes at once unless the peer is full: stamp it now, count it
			 * with the recv's completion */
			f->moved_ms[!d] = sl_loop_now_ms(f->loop);
			return 0;
		}
		if (err != -EOPNOTSUPP)
			return err;
	}
	c->sending = true;
	return sl_loop_send(f->loop, &c->op, f->fd[!d], c->data + x->head, x->pending);
}

static int
chan_recv(struct sl_fwd *f, struct uring_chan *c)
{
	c->sending = false;
	c->op.flags = c->drained ? SL_OP_POLL_FIRST : 0;
	return sl_loop_recv(f->loop, &c->op, f->fd[c->d], c->data, f->d[c->d].capacity);
}

/*
 * Registers both fds with the loop's ring before the session's first op (its first chan): an op
 * that names an fd by its number could outlive the owner's close() of it, and would then reach
 * whichever socket took the number next, another session's. So while a chan exists both fds
 * are in the table. 0, or -EINVAL (no table, or no slot left in it) with neither registered:
 * the session copies instead, before any byte moved.
 */
static int
chan_files_add(struct sl_fwd *f)
{
	if (sl_loop_file_add(f->loop, f->fd[0]) != 0)
		return -EINVAL;
	if (sl_loop_file_add(f->loop, f->fd[1]) != 0) {
		sl_loop_file_del(f->loop, f->fd[0]);
		return -EINVAL;
	}
	return 0;
}

/*
 * Gives the fds' registered-file slots back (sl_loop_file_del(), a no-op for an fd not in the
 * table: a second call, or a session that never pumped): the owner's close() of an fd must be
 * its last reference, as it sends the FIN once both directions are over (SL_FWD_DONE). Ops
 * still in flight keep their file until they end.
 */
static void
chan_files_del(struct sl_fwd *f)
{
	if (f->loop == NULL)
		return;
	sl_loop_file_del(f->loop, f->fd[0]);
	sl_loop_file_del(f->loop, f->fd[1]);
}

/*
 * What direction <d> does next when no op of it is in flight: send what it holds, pass on the
 * EOF, or receive again (not while held). 0 or negative errno (err_side set).
 */
static int
chan_next(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	struct uring_chan *c = chan_of(f, d);
	int err;

	if (x->pending > 0) {
		err = chan_send(f, c);
		if (err != 0)
			f->err_side = (int8_t)!d;
		return err;
	}
	x->head = 0;
	if (x->eof) {
		if (x->shut)
			return 0;
		err = sl__fwd_shut(f, d);
		/* done: neither direction has an op in flight, or will */
		if (f->d[!d].shut)
			chan_files_del(f);
		return err;
	}
	if (f->hold)
		return 0;
	err = chan_recv(f, c);
	if (err != 0)
		f->err_side = (int8_t)d;
	return err;
}

static void chan_step(struct sl_loop *loop, struct uring_chan *c, int res);

/* A detached direction's block once no op of it is in flight: back to the pool. */
static void
chan_orphan_free(struct sl_loop *loop, struct uring_chan *c)
{
	struct sl_fwd_env *env = c->env;

	sl_pool_free(env->buffers, c);
	if (--env->orphans == 0 && env->drained != NULL) {
		sl_loop_defer(loop, env->drained);
		env->drained = NULL;
	}
}

/* ---- multishot ---- */

/* Bytes of a direction's block past its head: the single-shot buffer, and the multishot <own>. */
static uint32_t
uring_data_size(const struct sl_fwd_env *env)
{
	return env->buffer_size - (uint32_t)sizeof(struct uring_chan);
}

/* <b>, sent or dropped, goes back: to the group, or, if the block's own, to the direction. */
static void
m_buf_put(struct sl_loop *loop, struct uring_chan *c, struct sl_buf *b)
{
	if (b == &c->own)
		c->own_busy = false;
	else
		sl_loop_buf_put(loop, b);
}

/*
 * What multishot direction <d> starts that is not in flight yet: the send of the oldest queued
 * buffer; once EOF came and the queue is sent, the FIN; else the recv, while not held and below
 * the bound. 0 or negative errno (err_side set).
 */
static int
m_next(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	struct uring_chan *c = chan_of(f, d);
	struct sl_buf *b = c->qhead;
	uint32_t size;
	int err;

	if (b != NULL && !c->op.busy) {
		/*
		 * The one buffer queued, while the recv stays armed (its next completion wakes the
		 * loop, and the send's success is reported with it): a send that posts nothing
		 * when it all goes, so a keep-alive exchange wakes the loop once per direction.
		 * Not the first (its completion tells the owner the first bytes went), nor after a
		 * short one (the socket is full: wait for room), nor before a FIN or in a hold.
		 */
		err = -EOPNOTSUPP;
		if (b->next == NULL && b->off == 0 && !c->full && x->bytes != 0 && !x->eof &&
		    !f->hold && c->rop.busy && !c->stopped) {
			err = sl_loop_send_quiet(f->loop, &c->op, f->fd[!d], b->data, b->len);
			if (err == 0)
				f->moved_ms[!d] = sl_loop_now_ms(f->loop);
		}
		if (err == -EOPNOTSUPP)
			err = sl_loop_send(f->loop, &c->op, f->fd[!d], b->data + b->off,
			                   b->len - b->off);
		if (err != 0) {
			f->err_side = (int8_t)!d;
			return err;
		}
	}
	/* a quiet send's report rides on the loop's next wake-up, which may never come when the
	 * peer has nothing more to say: a step that waits on it asks for it now */
	if (c->op.busy && (x->eof || f->hold || c->rerr != 0 || (b != NULL && b->next != NULL)))
		sl_loop_op_hurry(f->loop, &c->op);
	if (c->rerr != 0) { /* what came before the failure is sent: now it ends the session */
		if (b != NULL || c->op.busy)
			return 0;
		f->err_side = (int8_t)d;
		return c->rerr;
	}
	if (x->eof) {
		if (b != NULL || c->op.busy || x->shut)
			return 0;
		err = sl__fwd_shut(f, d);
		/* done: neither direction has an op in flight, or will */
		if (f->d[!d].shut)
			chan_files_del(f);
		return err;
	}
	size = sl_loop_bufs_size(f->loop);
	if (c->rop.busy || f->hold || c->nq >= URING_QUEUE ||
	    (uint64_t)x->pending + size > x->capacity)
		return 0;
	if (c->nobufs) {
		/* peers that read nothing hold the group: one buffer at a time of the block's
		 * own, once the last one is sent, so they cannot stall this direction */
		if (c->own_busy)
			return 0;
		err = sl_loop_recv(f->loop, &c->rop, f->fd[d], c->data, uring_data_size(f->env));
	} else {
		/* the kernel stops it once what it delivered would leave less than a buffer of
		 * room: the bound holds in bytes whatever arrives before a cancel could */
		err = sl_loop_recv_multi(f->loop, &c->rop, f->fd[d],
		                         x->capacity - x->pending - size + 1);
	}
	if (err != 0)
		f->err_side = (int8_t)d;
	return err;
}

/* A held direction left with no op in flight tells the owner (sl_fwd_settled() may be true). */
static void
m_notify_held(struct sl_fwd *f, struct uring_chan *c)
{
	if (f->hold && !c->op.busy && !c->rop.busy)
		chan_notify(f, c->d);
}

/* After a completion of multishot direction <d>: its next step, and what the owner must see. */
static void
m_after(struct sl_fwd *f, struct uring_chan *c)
{
	int err = m_next(f, c->d);

	if (err != 0)
		chan_fail(f, (unsigned)f->err_side, err, c->d);
	else if (f->d[c->d].eof)
		chan_notify(f, c->d); /* the owner sees the direction end */
	else
		m_notify_held(f, c);
}

/* A callback of the multishot recv: bytes to queue, EOF, the end of a cancel, or a failure. */
static void
m_recv_done(struct sl_loop *loop, struct sl_op *op, int res)
{
	struct uring_chan *c = op->data;
	struct sl_fwd *f = c->f;
	struct sl_buf *b = op->buf;
	struct sl_fwd_dir *x;

	if (f == NULL) {                  /* detached: the bytes go nowhere */
		sl_loop_buf_put(loop, b); /* NULL for a recv into <own> */
		if (!c->op.busy && !c->rop.busy)
			chan_orphan_free(loop, c);
		return;
	}
	x = &f->d[c->d];
	if (res == -ECANCELED && !c->stopped) {
		/* a hold's, or a worker's stop (sl_loop_settle()): armed again only by a release */
		m_notify_held(f, c);
		return;
	}
	if (!op->busy)
		c->stopped = false;
	if (res > 0 && b == NULL) { /* a recv into the block's own buffer: the group next */
		b = &c->own;
		b->len = (uint32_t)res;
		c->own_busy = true;
		c->nobufs = false;
	}
	if (res > 0) {
		b->next = NULL;
		b->off = 0;
		if (c->qtail != NULL)
			c->qtail->next = b;
		else
			c->qhead = b;
		c->qtail = b;
		c->nq++;
		x->pending += (uint32_t)res;
		f->moved_ms[c->d] = sl_loop_now_ms(loop);
		/* backpressure: the peer takes less than comes in; the sends re-arm it */
		if (c->nq >= URING_QUEUE && op->busy && !c->stopped)
			c->stopped = sl_loop_op_cancel(loop, op) == 0;
		if (op->busy && c->op.busy) {
			/* the send in flight goes on with the queue: its report is awaited */
			sl_loop_op_hurry(loop, &c->op);
			return;
		}
	} else if (res == 0) {
		x->eof = true;
		f->readable[c->d] = false;
	} else if (res == -ENOBUFS) {
		c->nobufs = true; /* SL_OP_NO_PARK: the group is empty */
	} else if (res != -ECANCELED && (c->qhead != NULL || c->op.busy)) {
		c->rerr = res; /* the queue goes out first (m_next()) */
	} else if (res != -ECANCELED) {
		chan_fail(f, c->d, res, c->d);
		return;
	}
	m_after(f, c);
}

/* A callback of the send of the queue's oldest buffer. */
static void
m_send_done(struct sl_loop *loop, struct sl_op *op, int res)
{
	struct uring_chan *c = op->data;
	struct sl_fwd *f = c->f;
	struct sl_buf *b = c->qhead;
	struct sl_fwd_dir *x;

	(void)op;
	if (f == NULL) { /* detached: the kernel is done with the buffer it was sending */
		c->qhead = c->qtail = NULL;
		m_buf_put(loop, c, b);
		if (!c->rop.busy)
			chan_orphan_free(loop, c);
		return;
	}
	x = &f->d[c->d];
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		chan_fail(f, !c->d, res, c->d);
		return;
	}
	/* a send that did not all go at once: the socket is full, the next ones wait for room */
	c->full = res == -EAGAIN || (res > 0 && (uint32_t)res < b->len - b->off);
	if (res > 0) {
		if (x->bytes == 0)
			chan_notify(f, c->d); /* the owner times the first bytes */
		b->off += (uint32_t)res;
		x->pending -= (uint32_t)res;
		x->bytes += (uint64_t)res;
		f->moved_ms[!c->d] = sl_loop_now_ms(loop);
		if (b->off == b->len) {
			c->qhead = b->next;
			if (c->qhead == NULL)
				c->qtail = NULL;
			c->nq--;
			m_buf_put(loop, c, b);
		}
	}
	m_after(f, c);
}

/* Detaches multishot direction <c>: its queue goes back, but for a buffer a send still reads. */
static void
m_detach(struct sl_fwd *f, struct uring_chan *c)
{
	struct sl_buf *b = c->qhead, *keep = NULL;

	if (b != NULL && c->op.busy) {
		keep = b;
		b = b->next;
	}
	while (b != NULL) {
		struct sl_buf *next = b->next;

		m_buf_put(f->loop, c, b);
		b = next;
	}
	c->qhead = c->qtail = keep;
	c->nq = keep != NULL ? 1 : 0;
	if (!c->op.busy && !c->rop.busy) {
		sl_pool_free(f->env->buffers, c);
		return;
	}
	/* the kernel may still run them: their last completion gives the block back */
	c->f = NULL;
	f->env->orphans++;
	(void)sl_loop_op_cancel(f->loop, &c->rop);
	(void)sl_loop_op_cancel(f->loop, &c->op);
}

/*
 * A completion: the block goes back if detached; else the direction's next step, and a held
 * direction left with no op in flight tells the owner (sl_fwd_settled() may be true now).
 */
static void
chan_done(struct sl_loop *loop, struct sl_op *op, int res)
{
	struct uring_chan *c = op->data;
	struct sl_fwd *f = c->f;

	chan_step(loop, c, res);
	if (f != NULL && f->hold && !c->op.busy)
		chan_notify(f, c->d);
}

static void
chan_step(struct sl_loop *loop, struct uring_chan *c, int res)
{
	struct sl_op *op = &c->op;
	struct sl_fwd *f = c->f;
	unsigned d = c->d;
	struct sl_fwd_dir *x;
	int err;

	if (f == NULL) { /* detached: the kernel is done with the block */
		chan_orphan_free(loop, c);
		return;
	}
	x = &f->d[d];
	if (c->pair) {
		int sent = op->sent;

		c->pair = false;
		if (sent > 0) {
			uint32_t n = (uint32_t)sent < x->pending ? (uint32_t)sent : x->pending;

			x->pending -= n;
			x->bytes += n;
			x->head = x->pending == 0 ? 0 : x->head + n;
		}
		if (x->pending > 0) {
			/* the send failed, was cancelled (a hold) or moved part: no recv was made
			 */
			if (sent < 0 && sent != -ECANCELED && sent != -EINTR && sent != -EAGAIN) {
				chan_fail(f, !d, sent, d);
				return;
			}
			res = -EAGAIN; /* send the rest, plainly */
		}
	}
	if (res == -EINTR || res == -EAGAIN) {
		/* nothing moved: the same op again */
	} else if (c->sending && res >= 0) {
		if (x->bytes == 0 && res > 0)
			chan_notify(f,
			            d); /* the owner times the first bytes (first-byte latency) */
		x->pending -= (uint32_t)res;
		x->bytes += (uint64_t)res;
		x->head += (uint32_t)res;
		f->moved_ms[!d] = sl_loop_now_ms(loop);
	} else if (c->sending) {
		chan_fail(f, !d, res, d);
		return;
	} else if (res > 0) {
		x->pending = (uint32_t)res;
		x->head = 0;
		c->drained = (uint32_t)res < x->capacity;
		f->moved_ms[d] = sl_loop_now_ms(loop);
	} else if (res == 0) {
		x->eof = true;
		f->readable[d] = false;
		err = chan_next(f, d); /* the FIN goes on */
		if (err != 0)
			chan_fail(f, (unsigned)f->err_side, err, d);
		else
			chan_notify(f, d); /* the owner sees the direction finish */
		return;
	} else if (res == -ECANCELED) {
		/* a held direction's recv (the hold's release receives again): the owner sees
		 * what the hold left in flight */
		chan_notify(f, d);
		return;
	} else {
		chan_fail(f, d, res, d);
		return;
	}
	err = chan_next(f, d);
	if (err != 0)
		chan_fail(f, (unsigned)f->err_side, err, d);
}

static int
uring_attach(struct sl_fwd *f)
{
	if (f->env->buffers == NULL || f->env->buffer_size <= sizeof(struct uring_chan))
		return -EINVAL;
	for (unsigned d = 0; d < 2; d++) {
		f->d[d].capacity = f->env->buffer_size - (uint32_t)sizeof(struct uring_chan);
		f->d[d].head = 0;
	}
	return 0;
}

static void
uring_detach(struct sl_fwd *f)
{
	chan_files_del(f); /* out of the table now */
	for (unsigned d = 0; d < 2; d++) {
		struct uring_chan *c = chan_of(f, d);

		if (c == NULL)
			continue;
		f->d[d].buf = NULL;
		if (c->multi) {
			m_detach(f, c);
			continue;
		}
		if (!c->op.busy) {
			sl_pool_free(f->env->buffers, c);
			continue;
		}
		/* the kernel may still write the block: its completion gives it back */
		c->f = NULL;
		f->env->orphans++;
		if (sl_loop_op_cancel(f->loop, &c->op) != 0) {
			/* no SQE to be had: the op ends by itself, at the latest with the ring */
		}
	}
}

static int
uring_pump(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	struct uring_chan *c = chan_of(f, d);
	int err;

	if (f->loop == NULL)
		return -EINVAL; /* no loop to submit on: copy instead */
	if (c == NULL) {
		bool first = chan_of(f, !d) == NULL;

		/* the session's first chan, before any op: both fds in the table, or copy */
		if (first && chan_files_add(f) != 0)
			return -EINVAL;
		c = sl_pool_alloc(f->env->buffers);
		if (c == NULL) {
			if (first)
				chan_files_del(f);
			f->err_side = (int8_t)d;
			return -ENOMEM;
		}
		c->f = f;
		c->env = f->env;
		c->d = d;
		c->sending = false;
		c->pair = false;
		c->drained = false; /* the owner may have seen the socket readable */
		/* the loop's group, set up by the first direction that asks (its buffer size) */
		c->multi = sl_loop_bufs_open(f->loop, f->env->buffer_size) == 0;
		c->nq = 0;
		c->stopped = false;
		c->full = false;
		c->nobufs = false;
		c->own_busy = false;
		c->rerr = 0;
		c->qhead = c->qtail = NULL;
		c->own = (struct sl_buf){.data = c->data, .id = UINT32_MAX};
		sl_op_init(&c->op, c->multi ? m_send_done : chan_done, c);
		sl_op_init(&c->rop, m_recv_done, c);
		c->rop.flags = SL_OP_NO_PARK; /* an empty group: recv into <own> meanwhile */
		if (c->multi)
			x->capacity = URING_QUEUE * sl_loop_bufs_size(f->loop);
		x->buf = (char *)c;
	}
	if (c->multi)
		return m_next(f, d);
	if (c->op.busy)
		return 0;
	err = chan_next(f, d);
	/* the loop cannot run ops (epoll): before any byte moved, copy instead */
	if (err == -EOPNOTSUPP)
		return -EINVAL;
	return err;
}

/*
 * Held: a recv in flight is cancelled (a pair's send with it: what it moved is counted, the rest
 * is sent plainly), so nothing more is read and the in-flight count settles. Released: an idle
 * direction receives again.
 */
static void
uring_hold(struct sl_fwd *f)
{
	for (unsigned d = 0; d < 2; d++) {
		struct uring_chan *c = chan_of(f, d);
		int err;

		if (c == NULL || f->loop == NULL || f->err != 0)
			continue;
		if (c->multi) {
			/* held: the recv stops (its cancel's completion tells the owner); the
			 * queue is still sent. Released: it is armed again */
			if (f->hold) {
				(void)sl_loop_op_cancel(f->loop, &c->rop);
				sl_loop_op_hurry(f->loop, &c->op);
			} else if ((err = m_next(f, d)) != 0)
				chan_fail(f, (unsigned)f->err_side, err, d);
			continue;
		}
		if (f->hold) {
			if (c->op.busy && !c->sending)
				(void)sl_loop_op_cancel(f->loop, &c->op);
			continue;
		}
		if (!c->op.busy) {
			err = chan_next(f, d);
			if (err != 0)
				chan_fail(f, (unsigned)f->err_side, err, d);
		}
	}
}

static bool
uring_busy(const struct sl_fwd *f)
{
	for (unsigned d = 0; d < 2; d++) {
		const struct uring_chan *c = chan_of(f, d);

		if (c != NULL && (c->op.busy || c->rop.busy))
			return true;
	}
	return false;
}

const struct sl_fwd_ops sl_fwd_uring_ops = {
        .name = "uring",
        .attach = uring_attach,
        .detach = uring_detach,
        .pump = uring_pump,
        .hold = uring_hold,
        .completion = true,
        .busy = uring_busy,
};
