/* SPDX-License-Identifier: MIT */
/*
 * sl_loop, the backend-neutral part: the run loop (wait, dispatch the batch, expire timers up
 * to a budget, drain defers), the hashed timer wheel, the defer FIFO, the eventfd wake-up, the
 * clock, and the loop's epoch participation (quiescent once per iteration, offline while it may
 * block). The backend is reached only through l->ops (loop_int.h). Invariants:
 * docs/internals/loop.md.
 *
 * Shared fields: only wake_pending is touched by other threads (sl_loop_wake()); everything
 * else belongs to the loop thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sluice/epoch.h>

#include "rt/loop_int.h"

#define SL_LOOP_WHEEL_MASK (SL_LOOP_WHEEL_SLOTS - 1)

/* Reads the loop clock: CLOCK_MONOTONIC in microseconds and in milliseconds, one read. */
static void
clock_update(struct sl_loop *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	l->now_ms = l->now_us / 1000u;
}

/* ---- wake-up ---- */

static void
wake_io_ready(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	uint64_t v;

	(void)events;
	/* reset the counter; EAGAIN means another edge already emptied it */
	while (read(io->fd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	/*
	 * A1: clear before running the wake fn, so a wake that finds the flag clear writes the
	 * eventfd again; acquire pairs with R1 in sl_loop_wake(): whatever a waker published
	 * before its (skipped or not) write is visible to the wake fn.
	 */
	atomic_exchange_explicit(&l->wake_pending, false, memory_order_acq_rel);
	if (l->wake_fn != NULL)
		l->wake_fn(l, l->wake_arg);
}

int
sl_loop_wake(struct sl_loop *l)
{
	uint64_t one = 1;

	/* R1: publishes the waker's prior writes to A1; skip the write if one is pending */
	if (atomic_exchange_explicit(&l->wake_pending, true, memory_order_acq_rel))
		return 0;
	while (write(l->wake_fd, &one, sizeof(one)) == -1) {
		/* EAGAIN: counter at its maximum, so the loop is woken already */
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

void
sl_loop_set_wake_fn(struct sl_loop *l, void (*fn)(struct sl_loop *l, void *arg), void *arg)
{
	l->wake_fn = fn;
	l->wake_arg = arg;
}

/* ---- create / destroy ---- */

int
sl_loop_create(struct sl_loop **out, const struct sl_loop_opts *o)
{
	struct sl_loop *l;
	int err;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->max_events = (o != NULL && o->max_events != 0) ? o->max_events : 256;
	l->tick_ms = (o != NULL && o->tick_ms != 0) ? o->tick_ms : 1;
	l->max_timers = (o != NULL && o->max_timers != 0) ? o->max_timers : SL_LOOP_MAX_TIMERS;
	l->max_files = o != NULL ? o->max_files : 0;
	l->bufs = o != NULL ? o->bufs : 0;
	/* a provided-buffer group is a power of two, up to the kernel's limit on a buffer ring */
	if (l->max_events > INT_MAX / 2 ||
	    (l->bufs > 0 && ((l->bufs & (l->bufs - 1)) != 0 || l->bufs > SL_LOOP_MAX_BUFS))) {
		err = -EINVAL;
		goto err_free_loop;
	}
	l->batch = calloc(l->max_events, sizeof(l->batch[0]));
	if (l->batch == NULL) {
		err = -ENOMEM;
		goto err_free_loop;
	}
	clock_update(l);
	l->next_tick = l->now_ms / l->tick_ms + 1;
	l->due_tick = UINT64_MAX;
	atomic_init(&l->wake_pending, false);

	err = sl__loop_backend_init(l, o != NULL ? o->runtime : SL_LOOP_AUTO);
	if (err != 0)
		goto err_free_batch;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd == -1) {
		err = -errno;
		goto err_fini_backend;
	}
	sl_io_init(&l->wake_io, l->wake_fd, wake_io_ready, NULL);
	err = sl_loop_io_add(l, &l->wake_io, SL_IO_READ);
	if (err != 0)
		goto err_close_wake;
	*out = l;
	return 0;

err_close_wake:
	close(l->wake_fd);
err_fini_backend:
	l->ops->fini(l);
err_free_batch:
	free(l->batch);
err_free_loop:
	free(l);
	return err;
}

void
sl_loop_destroy(struct sl_loop *l)
{
	if (l == NULL)
		return;
	sl_loop_io_del(l, &l->wake_io);
	close(l->wake_fd);
	l->ops->fini(l);
	free(l->batch);
	free(l);
}

const char *
sl_loop_backend_name(const struct sl_loop *l)
{
	return l->ops->name;
}

uint64_t
sl_loop_now_ms(const struct sl_loop *l)
{
	return l->now_ms;
}

uint64_t
sl_loop_now_us(const struct sl_loop *l)
{
	return l->now_us;
}

/* ---- io ---- */

void
sl_io_init(struct sl_io *io, int fd, sl_io_fn fn, void *data)
{
	io->fd = fd;
	io->events = 0;
	io->fn = fn;
	io->data = data;
}

int
sl_loop_io_add(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	int err = l->ops->add(l, io, events);

	if (err == 0)
		io->events = events;
	return err;
}

int
sl_loop_io_mod(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	int err = l->ops->mod(l, io, events);

	if (err == 0)
		io->events = events;
	return err;
}

/* The rest of the batch may still name <io>: drop it, the caller may free <io> now. */
static void
batch_drop(struct sl_loop *l, struct sl_io *io)
{
	for (unsigned i = l->batch_pos; i < l->batch_n; i++)
		if (l->batch[i].io == io)
			l->batch[i].io = NULL;
	io->events = 0;
}

int
sl_loop_io_del(struct sl_loop *l, struct sl_io *io)
{
	batch_drop(l, io);
	return l->ops->del(l, io);
}

void
sl_loop_io_forget(struct sl_loop *l, struct sl_io *io)
{
	batch_drop(l, io);
	if (l->ops->forget != NULL)
		l->ops->forget(l, io);
}

/* Counts an op the backend took (<err> 0) in l->nops, which its completion's dispatch drops. */
static int
op_submitted(struct sl_loop *l, int err)
{
	if (err == 0)
		l->nops++;
	return err;
}

void
sl_op_init(struct sl_op *op, sl_op_fn fn, void *data)
{
	op->fn = fn;
	op->data = data;
	op->key = 0;
	op->sent = 0;
	op->flags = 0;
	op->busy = false;
	op->buf = NULL;
}

bool
sl_loop_has_ops(const struct sl_loop *l)
{
	return l->ops->recv != NULL && l->ops->send != NULL;
}

int
sl_loop_recv(struct sl_loop *l, struct sl_op *op, int fd, void *buf, size_t len)
{
	if (l->ops->recv == NULL)
		return -EOPNOTSUPP;
	if (op->busy)
		return -EBUSY;
	return op_submitted(l, l->ops->recv(l, op, fd, buf, len));
}

int
sl_loop_send(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len)
{
	if (l->ops->send == NULL)
		return -EOPNOTSUPP;
	if (op->busy)
		return -EBUSY;
	return op_submitted(l, l->ops->send(l, op, fd, buf, len));
}

int
sl_loop_send_quiet(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len)
{
	if (l->ops->send_quiet == NULL)
		return -EOPNOTSUPP;
	if (op->busy)
		return -EBUSY;
	return op_submitted(l, l->ops->send_quiet(l, op, fd, buf, len));
}

void
sl_loop_op_hurry(struct sl_loop *l, struct sl_op *op)
{
	if (op->busy && l->ops->op_hurry != NULL)
		l->ops->op_hurry(l, op);
}

int
sl_loop_send_recv(struct sl_loop *l, struct sl_op *op, int sfd, const void *sbuf, size_t slen,
                  int rfd, void *rbuf, size_t rlen)
{
	if (l->ops->send_recv == NULL)
		return -EOPNOTSUPP;
	if (op->busy)
		return -EBUSY;
	return op_submitted(l, l->ops->send_recv(l, op, sfd, sbuf, slen, rfd, rbuf, rlen));
}

int
sl_loop_file_add(struct sl_loop *l, int fd)
{
	if (fd < 0)
		return -EBADF;
	return l->ops->file_add != NULL ? l->ops->file_add(l, fd) : -EOPNOTSUPP;
}

void
sl_loop_file_del(struct sl_loop *l, int fd)
{
	if (fd >= 0 && l->ops->file_del != NULL)
		l->ops->file_del(l, fd);
}

int
sl_loop_bufs_open(struct sl_loop *l, uint32_t size)
{
	if (l->ops->bufs_open == NULL)
		return -EOPNOTSUPP;
	return l->ops->bufs_open(l, size);
}

uint32_t
sl_loop_bufs_size(const struct sl_loop *l)
{
	struct sl_loop_bufs_stats st;

	sl_loop_bufs_stats(l, &st);
	return st.size;
}

void
sl_loop_bufs_stats(const struct sl_loop *l, struct sl_loop_bufs_stats *st)
{
	*st = (struct sl_loop_bufs_stats){0};
	if (l->ops->bufs_stats != NULL)
		l->ops->bufs_stats(l, st);
}

int
sl_loop_recv_multi(struct sl_loop *l, struct sl_op *op, int fd, uint32_t limit)
{
	if (l->ops->recv_multi == NULL)
		return -EOPNOTSUPP;
	if (op->busy)
		return -EBUSY;
	return op_submitted(l, l->ops->recv_multi(l, op, fd, limit));
}

void
sl_loop_buf_put(struct sl_loop *l, struct sl_buf *b)
{
	if (b != NULL && l->ops->buf_put != NULL)
		l->ops->buf_put(l, b);
}

int
sl_loop_op_cancel(struct sl_loop *l, struct sl_op *op)
{
	if (l->ops->cancel == NULL)
		return -EOPNOTSUPP;
	if (!op->busy)
		return 0;
	return l->ops->cancel(l, op);
}

static void
dispatch_batch(struct sl_loop *l, unsigned n)
{
	l->batch_n = n;
	/* batch_pos is past the entry being run, so a del from its own callback is a no-op */
	for (l->batch_pos = 0; l->batch_pos < l->batch_n;) {
		struct sl_loop_event *ev = &l->batch[l->batch_pos++];

		if (ev->io != NULL) {
			ev->io->fn(l, ev->io, ev->events);
		} else if (ev->op != NULL) {
			struct sl_op *op = ev->op;
			bool more = ev->more;

			ev->op = NULL;
			op->buf = ev->buf;
			/* before the callback, which may submit it again; a multishot op's last
			 * callback is the one without <more> */
			if (!more) {
				l->nops--;
				op->busy = false;
			}
			op->fn(l, op, (int)ev->events);
			/* the buffer was lent for the callback; an op that ended is not touched
			 * after it: its callback may have freed it */
			if (more)
				op->buf = NULL;
		}
	}
	l->batch_n = 0;
	l->batch_pos = 0;
}

/*
 * Only the ops' completions run: an io's edge found here is dropped (the loop is not meant to
 * run again), and timers and defers wait for a run that may never come.
 */
static void
dispatch_ops(struct sl_loop *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (l->batch[i].io != NULL)
			l->batch[i].io = NULL; /* an io's readiness: not this call's to report */
	dispatch_batch(l, n);
}

int
sl_loop_settle(struct sl_loop *l, int timeout_ms)
{
	bool stop = l->stop; /* a callback's sl_loop_stop() is not for a run */
	uint64_t deadline;
	int n, err = 0;

	SL_ASSERT(!l->running);
	if (l->nops == 0)
		return 0;
	clock_update(l);
	deadline = l->now_ms + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	while (l->nops != 0) {
		/* one cancel per op (a callback may submit another: that one is cancelled too) */
		l->ops->cancel_all(l);
		if (timeout_ms < 0)
			n = l->ops->wait(l, -1);
		else
			n = l->ops->wait(l, l->now_ms < deadline ? (int)(deadline - l->now_ms) : 0);
		clock_update(l);
		if (n < 0) {
			err = n;
			break;
		}
		dispatch_ops(l, (unsigned)n);
		if (l->nops != 0 && timeout_ms >= 0 && l->now_ms >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
	}
	l->stop = stop;
	return err;
}

/* ---- timer wheel ---- */

void
sl_timer_init(struct sl_timer *t, sl_timer_fn fn, void *data)
{
	t->expires_ms = 0;
	t->next = NULL;
	t->pprev = NULL;
	t->fn = fn;
	t->data = data;
}

bool
sl_timer_is_pending(const struct sl_timer *t)
{
	return t->pprev != NULL;
}

static void
wheel_insert(struct sl_loop *l, struct sl_timer *t, uint64_t tick)
{
	unsigned slot = (unsigned)(tick & SL_LOOP_WHEEL_MASK);
	struct sl_timer **head = &l->wheel[slot];

	t->next = *head;
	if (t->next != NULL)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
	l->wheel_bits[slot / 64] |= UINT64_C(1) << (slot % 64);
}

/* Unlinks <t> from a slot or from the expiry list of run_timers(); clears the slot's bit. */
static void
wheel_unlink(struct sl_loop *l, struct sl_timer *t)
{
	uintptr_t p = (uintptr_t)t->pprev;

	*t->pprev = t->next;
	if (t->next != NULL)
		t->next->pprev = t->pprev;
	/* compared as integers: pprev may point outside the wheel (run_slot()'s local list) */
	if (p >= (uintptr_t)&l->wheel[0] && p < (uintptr_t)&l->wheel[SL_LOOP_WHEEL_SLOTS] &&
	    *t->pprev == NULL) {
		unsigned slot = (unsigned)(t->pprev - l->wheel);

		l->wheel_bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
	}
	t->next = NULL;
	t->pprev = NULL;
}

void
sl_loop_timer_add(struct sl_loop *l, struct sl_timer *t, uint64_t after_ms)
{
	uint64_t tick;

	if (t->pprev != NULL)
		sl_loop_timer_cancel(l, t);
	if (!l->running)
		clock_update(l);
	t->expires_ms = after_ms > UINT64_MAX - l->now_ms ? UINT64_MAX : l->now_ms + after_ms;
	/* round up; never into a tick already processed (it would wait a whole revolution) */
	tick = t->expires_ms / l->tick_ms + (t->expires_ms % l->tick_ms != 0);
	if (tick < l->next_tick)
		tick = l->next_tick;
	wheel_insert(l, t, tick);
	l->ntimers++;
	if (tick < l->due_tick)
		l->due_tick = tick;
}

void
sl_loop_timer_cancel(struct sl_loop *l, struct sl_timer *t)
{
	if (t->pprev == NULL)
		return;
	wheel_unlink(l, t);
	l->ntimers--;
}

/* Distance in ticks from <tick> to the first non-empty slot within <limit> ticks, or -1. */
static int64_t
wheel_next(const struct sl_loop *l, uint64_t tick, uint64_t limit)
{
	unsigned pos = (unsigned)(tick & SL_LOOP_WHEEL_MASK);
	uint64_t d = 0;

	if (limit > SL_LOOP_WHEEL_SLOTS)
		limit = SL_LOOP_WHEEL_SLOTS;
	while (d < limit) {
		uint64_t w = l->wheel_bits[pos / 64] >> (pos % 64);

		if (w != 0) {
			d += (uint64_t)__builtin_ctzll(w);
			return d < limit ? (int64_t)d : -1;
		}
		d += 64 - pos % 64;
		pos = (pos + 64 - pos % 64) & SL_LOOP_WHEEL_MASK;
	}
	return -1;
}

/*
 * Fires the due timers of slot <slot>, at most *<budget> of them (each one fired takes one);
 * later revolutions go back into the slot, and so do due timers past the budget. false: a due
 * timer was left for the next iteration.
 */
static bool
run_slot(struct sl_loop *l, unsigned slot, unsigned *budget)
{
	struct sl_timer *list = l->wheel[slot], *t;
	bool left = false;

	/* move the slot to a local list: callbacks may add to this slot or cancel anything */
	l->wheel[slot] = NULL;
	l->wheel_bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
	if (list == NULL)
		return true;
	list->pprev = &list;
	while ((t = list) != NULL) {
		wheel_unlink(l, t);
		if (t->expires_ms > l->now_ms || *budget == 0) {
			/* same slot: a later revolution, or due and past the budget */
			left = left || t->expires_ms <= l->now_ms;
			wheel_insert(l, t, slot);
			continue;
		}
		(*budget)--;
		l->ntimers--;
		t->fn(l, t);
	}
	return !left;
}

/*
 * The first non-empty slot from next_tick on, as a tick: a lower bound on every pending
 * timer's tick (a slot's timers are all at or after its first tick from here). UINT64_MAX if
 * no timer is pending.
 */
static uint64_t
wheel_due_tick(const struct sl_loop *l)
{
	int64_t d;

	if (l->ntimers == 0)
		return UINT64_MAX;
	d = wheel_next(l, l->next_tick, SL_LOOP_WHEEL_SLOTS);
	SL_ASSERT(d >= 0);
	return d < 0 ? l->next_tick : l->next_tick + (uint64_t)d;
}

/*
 * Fires the due timers, in tick order, at most max_timers of them: a wave of deadlines that
 * pass together (thousands of sessions opened in the same instant) runs over several
 * iterations, each after the io ready by then, instead of holding every io back until the last
 * one has run. What is left keeps its tick, so due_tick makes the next wait a poll.
 */
static void
run_timers(struct sl_loop *l)
{
	uint64_t now_tick = l->now_ms / l->tick_ms;
	unsigned budget = l->max_timers;

	if (l->ntimers == 0)
		l->due_tick = UINT64_MAX;
	/* nothing due before due_tick: skip the slot scan (the common case, every iteration) */
	if (sl_likely(now_tick < l->due_tick)) {
		l->next_tick = now_tick + 1;
		return;
	}
	/* more than a revolution behind: one pass over every slot fires all that is due */
	if (now_tick >= l->next_tick + SL_LOOP_WHEEL_SLOTS)
		l->next_tick = now_tick + 1 - SL_LOOP_WHEEL_SLOTS;
	while (l->next_tick <= now_tick) {
		int64_t d = wheel_next(l, l->next_tick, now_tick - l->next_tick + 1);
		uint64_t tick;

		if (d < 0) {
			l->next_tick = now_tick + 1;
			break;
		}
		tick = l->next_tick + (uint64_t)d;
		/* advance first: a timer (re)added by a callback lands in a later tick */
		l->next_tick = tick + 1;
		if (!run_slot(l, (unsigned)(tick & SL_LOOP_WHEEL_MASK), &budget)) {
			l->next_tick = tick; /* the rest of this tick in the next iteration */
			break;
		}
	}
	/* one scan per expiry (not per iteration) finds the next slot to wake for */
	l->due_tick = wheel_due_tick(l);
}

/* ms until due_tick, the first tick that may hold a due timer; -1 if no timer is pending. */
static int
timers_timeout(const struct sl_loop *l)
{
	uint64_t deadline;

	if (l->ntimers == 0)
		return -1;
	if (l->due_tick > UINT64_MAX / l->tick_ms)
		return INT_MAX;
	deadline = l->due_tick * l->tick_ms;
	if (deadline <= l->now_ms)
		return 0;
	return deadline - l->now_ms > INT_MAX ? INT_MAX : (int)(deadline - l->now_ms);
}

/* ---- defers ---- */

void
sl_defer_init(struct sl_defer *d, sl_defer_fn fn, void *data)
{
	d->next = NULL;
	d->queued = false;
	d->fn = fn;
	d->data = data;
}

void
sl_loop_defer(struct sl_loop *l, struct sl_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	if (l->defer_tail != NULL)
		l->defer_tail->next = d;
	else
		l->defer_head = d;
	l->defer_tail = d;
}

void
sl_loop_defer_cancel(struct sl_loop *l, struct sl_defer *d)
{
	struct sl_defer *prev = NULL, *c;

	if (!d->queued)
		return;
	for (c = l->defer_head; c != NULL && c != d; c = c->next)
		prev = c;
	SL_ASSERT(c == d);
	if (c == NULL)
		return;
	if (prev != NULL)
		prev->next = d->next;
	else
		l->defer_head = d->next;
	if (l->defer_tail == d)
		l->defer_tail = prev;
	/* the running drain ends earlier: everything before <d> was queued before it */
	if (l->drain_last == d)
		l->drain_last = prev;
	d->next = NULL;
	d->queued = false;
}

/* Runs the defers queued when the drain starts; newer ones wait for the next iteration. */
static void
run_defers(struct sl_loop *l)
{
	l->drain_last = l->defer_tail;
	while (l->drain_last != NULL) {
		struct sl_defer *d = l->defer_head;

		if (d == l->drain_last)
			l->drain_last = NULL;
		l->defer_head = d->next;
		if (l->defer_head == NULL)
			l->defer_tail = NULL;
		d->next = NULL;
		d->queued = false;
		d->fn(l, d);
	}
}

/* ---- run ---- */

void
sl_loop_set_epoch(struct sl_loop *l, struct sl_epoch *d, unsigned i)
{
	SL_ASSERT(!l->running);
	l->epoch = d;
	l->epoch_slot = i;
}

/*
 * The wait, which is also the loop's quiescent point: every callback of the last iteration has
 * returned, so nothing loaded from a protected snapshot is held. A wait that may block is spent
 * offline, so a loop idle in the kernel holds no reclamation back; a poll only reports.
 */
static int
loop_wait(struct sl_loop *l, int timeout)
{
	int n;

	if (l->epoch == NULL)
		return l->ops->wait(l, timeout);
	if (timeout == 0) {
		sl_epoch_quiescent(l->epoch, l->epoch_slot);
		return l->ops->wait(l, 0);
	}
	sl_epoch_offline(l->epoch, l->epoch_slot);
	n = l->ops->wait(l, timeout);
	sl_epoch_online(l->epoch, l->epoch_slot);
	return n;
}

int
sl_loop_run(struct sl_loop *l)
{
	int n, timeout, err = 0;

	SL_ASSERT(!l->running);
	l->running = true;
	clock_update(l);
	if (l->epoch != NULL)
		sl_epoch_online(l->epoch, l->epoch_slot);
	while (!l->stop) {
		timeout = l->defer_head != NULL ? 0 : timers_timeout(l);
		n = loop_wait(l, timeout);
		clock_update(l);
		if (n < 0) {
			err = n;
			break;
		}
		dispatch_batch(l, (unsigned)n);
		run_timers(l);
		run_defers(l);
	}
	if (l->epoch != NULL)
		sl_epoch_offline(l->epoch, l->epoch_slot);
	l->stop = false;
	l->running = false;
	if (l->ops->quiesce != NULL)
		l->ops->quiesce(l);
	return err;
}

void
sl_loop_stop(struct sl_loop *l)
{
	l->stop = true;
}
