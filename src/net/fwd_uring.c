// SPDX-License-Identifier: MIT
/*
 * Completion forwarder (io_uring loops): each direction keeps one op in flight on the owner's
 * loop (sl_loop_recv() into a pooled block, then sl_loop_send() of what arrived, the rest of a
 * short send resubmitted, then the recv again), so bytes move with no system call beyond the
 * loop's shared io_uring_enter(). The op and its state live at the head of the block, which
 * goes back to the pool only from a completion once no op of it is in flight.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sluice/pool.h>

#include "net/fwd_int.h"

/* The head of a direction's pool block; the bytes follow. */
struct uring_chan {
	struct sl_op op;
	struct sl_fwd *f; /* NULL once detached: the op's completion frees the block */
	struct sl_fwd_env *env;
	unsigned d;
	bool sending; /* the op in flight is a send (else a recv) */
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
		f->err_side = (int)side;
	}
	chan_notify(f, d);
}

/* Submits the send of what direction <d> holds. */
static int
chan_send(struct sl_fwd *f, struct uring_chan *c)
{
	struct sl_fwd_dir *x = &f->d[c->d];

	c->sending = true;
	return sl_loop_send(f->loop, &c->op, f->fd[!c->d], c->data + x->head, x->pending);
}

static int
chan_recv(struct sl_fwd *f, struct uring_chan *c)
{
	c->sending = false;
	return sl_loop_recv(f->loop, &c->op, f->fd[c->d], c->data, f->d[c->d].capacity);
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
			f->err_side = (int)!d;
		return err;
	}
	x->head = 0;
	if (x->eof)
		return x->shut ? 0 : sl__fwd_shut(f, d);
	if (f->hold)
		return 0;
	err = chan_recv(f, c);
	if (err != 0)
		f->err_side = (int)d;
	return err;
}

static void
chan_done(struct sl_loop *loop, struct sl_op *op, int res)
{
	struct uring_chan *c = op->data;
	struct sl_fwd *f = c->f;
	unsigned d = c->d;
	struct sl_fwd_dir *x;
	int err;

	if (f == NULL) { /* detached: the kernel is done with the block */
		struct sl_fwd_env *env = c->env;

		sl_pool_free(env->buffers, c);
		if (--env->orphans == 0 && env->drained != NULL) {
			sl_loop_defer(loop, env->drained);
			env->drained = NULL;
		}
		return;
	}
	x = &f->d[d];
	if (res == -EINTR || res == -EAGAIN) {
		/* nothing moved: the same op again */
	} else if (c->sending && res >= 0) {
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
		return; /* a held direction's recv: the hold's release receives again */
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
	for (unsigned d = 0; d < 2; d++) {
		struct uring_chan *c = chan_of(f, d);

		if (c == NULL)
			continue;
		f->d[d].buf = NULL;
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
		c = sl_pool_alloc(f->env->buffers);
		if (c == NULL) {
			f->err_side = (int)d;
			return -ENOMEM;
		}
		sl_op_init(&c->op, chan_done, c);
		c->f = f;
		c->env = f->env;
		c->d = d;
		c->sending = false;
		x->buf = (char *)c;
	}
	if (c->op.busy) {
		/* held (a session about to move): stop receiving; a send goes on */
		if (sl_unlikely(f->hold) && !c->sending)
			(void)sl_loop_op_cancel(f->loop, &c->op);
		return 0;
	}
	err = chan_next(f, d);
	/* the loop cannot run ops (epoll): before any byte moved, copy instead */
	if (err == -EOPNOTSUPP)
		return -EINVAL;
	return err;
}

const struct sl_fwd_ops sl_fwd_uring_ops = {
        .name = "uring",
        .attach = uring_attach,
        .detach = uring_detach,
        .pump = uring_pump,
};
