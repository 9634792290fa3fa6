/* SPDX-License-Identifier: MIT */
/*
 * Inside sl_loop: the loop object and the backend ops table. loop.c (generic: run loop, timer
 * wheel, defers, wake, clock) drives a backend (loop_epoll.c or loop_uring.c) only through
 * struct sl_loop_ops; loop_backend.c picks the backend. Read loop.c next.
 */
#ifndef SLUICE_RT_LOOP_INT_H
#define SLUICE_RT_LOOP_INT_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sluice/loop.h>

/* Slots in the timer wheel: a power of two, a multiple of 64 (the slot bitmap's word). */
#define SL_LOOP_WHEEL_SLOTS 4096u

/*
 * One ready io, as the backend reports it: io == NULL means "dropped by sl_loop_io_del()"; or,
 * with <op> set (and io NULL), one completed op and its result in <events> (as an int).
 */
struct sl_loop_event {
	struct sl_io *io;
	unsigned events; /* enum sl_io_events; an op's result */
	struct sl_op *op;
	struct sl_buf *buf; /* a multishot recv's buffer (sl_op.buf) */
	bool more;          /* a multishot op's callback that is not its last */
};

/*
 * A backend. Every op runs on the loop thread (or before the loop runs).
 *  init: set up l->be (may read l->max_events); 0 or negative errno.
 *  fini: release what a successful init made.
 *  add/mod/del: (un)register io->fd for <events> (enum sl_io_events), edge-triggered unless
 *    SL_IO_LEVEL; 0 or negative errno. del may be called with an fd the caller already closed.
 *  forget: <io>'s fd is about to be closed (sl_loop_io_forget()); NULL when closing the fd
 *    is enough to unregister it (epoll).
 *  wait: block up to <timeout_ms> (-1 = no limit, 0 = poll), then fill l->batch[0..n) with
 *    ready ios and return n (0 on timeout or signal), or a negative errno on failure.

 *  recv/send/send_recv/cancel: queue a completion op (include/sluice/loop.h); wait() reports its
 *    completion as a batch entry with <op> set. NULL: -EOPNOTSUPP. cancel_all: cancel each op
 *    in flight that no cancel was queued for yet (sl_loop_settle()).
 *  quiesce: sl_loop_run() is returning and the loop may never wait again: hand the kernel
 *    what add/mod/del/forget only queued (a removal that lets a closed socket go); NULL when
 *    every op takes effect at once (epoll).
 */
struct sl_loop_ops {
	const char *name;
	int (*init)(struct sl_loop *l);
	void (*fini)(struct sl_loop *l);
	int (*add)(struct sl_loop *l, struct sl_io *io, unsigned events);
	int (*mod)(struct sl_loop *l, struct sl_io *io, unsigned events);
	int (*del)(struct sl_loop *l, struct sl_io *io);
	void (*forget)(struct sl_loop *l, struct sl_io *io);
	int (*wait)(struct sl_loop *l, int timeout_ms);
	void (*quiesce)(struct sl_loop *l);
	/* completion ops (sl_loop_recv() and co); NULL: not supported (epoll) */
	int (*recv)(struct sl_loop *l, struct sl_op *op, int fd, void *buf, size_t len);
	int (*send)(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len);
	int (*send_quiet)(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len);
	void (*op_hurry)(struct sl_loop *l, struct sl_op *op); /* NULL: nothing to do */
	int (*cancel)(struct sl_loop *l, struct sl_op *op);
	int (*send_recv)(struct sl_loop *l, struct sl_op *op, int sfd, const void *sbuf,
	                 size_t slen, int rfd, void *rbuf, size_t rlen);
	/* cancels every op in flight not cancelled yet (sl_loop_settle()) */
	void (*cancel_all)(struct sl_loop *l);
	/* sl_loop_file_add()/del(); NULL: -EOPNOTSUPP / nothing to do */
	int (*file_add)(struct sl_loop *l, int fd);
	void (*file_del)(struct sl_loop *l, int fd);
	/* the provided-buffer group and its multishot recv; NULL: -EOPNOTSUPP / none */
	int (*bufs_open)(struct sl_loop *l, uint32_t size);
	void (*bufs_stats)(const struct sl_loop *l, struct sl_loop_bufs_stats *st);
	int (*recv_multi)(struct sl_loop *l, struct sl_op *op, int fd, uint32_t limit);
	void (*buf_put)(struct sl_loop *l, struct sl_buf *b);
};

struct sl_loop {
	const struct sl_loop_ops *ops;
	void *be; /* the backend's state, owned by ops->init/fini */

	/* batch of ready ios being dispatched: [batch_pos, batch_n) are still to run */
	struct sl_loop_event *batch;
	unsigned max_events;
	unsigned batch_n, batch_pos;

	uint64_t now_ms; /* loop clock: CLOCK_MONOTONIC, read once per iteration */
	uint64_t now_us; /* the same reading in microseconds */
	bool running;
	bool stop;
	bool probing;  /* runtime auto tries io_uring first: its init says nothing of a failure */
	uint32_t nops; /* completion ops in flight: submitted, their callback not run yet */

	/* timer wheel: slot i holds timers whose tick % SLOTS == i (any revolution) */
	unsigned tick_ms;
	unsigned max_timers; /* timer callbacks run per iteration, at most */
	int max_files;       /* sl_loop_opts.max_files, for the backend's init */
	int bufs;            /* sl_loop_opts.bufs, for the backend's bufs_open */
	uint64_t next_tick;  /* first tick not yet fully processed */
	uint64_t due_tick;   /* no pending timer has a tick below this; UINT64_MAX with none */
	size_t ntimers;      /* pending timers */
	struct sl_timer *wheel[SL_LOOP_WHEEL_SLOTS];
	uint64_t wheel_bits[SL_LOOP_WHEEL_SLOTS / 64]; /* bit i set <=> wheel[i] non-empty */

	/* deferred callbacks: FIFO; a drain stops after drain_last (queued at drain start) */
	struct sl_defer *defer_head, *defer_tail, *drain_last;

	/* epoch participant (sl_loop_set_epoch()); NULL = none */
	struct sl_epoch *epoch;
	unsigned epoch_slot;

	/* wake-up: eventfd watched by the loop; wake_pending coalesces writes */
	int wake_fd;
	struct sl_io wake_io;
	void (*wake_fn)(struct sl_loop *l, void *arg);
	void *wake_arg;
	atomic_bool wake_pending SL_CACHELINE_ALIGNED; /* written by any thread */
};

/*
 * The poll(2) bits a watch for SL_IO_* <events> waits on, as both backends arm them (epoll's
 * EPOLL* bits have the same values). RDHUP with READ: a reader must learn about a half-close
 * without another read().
 */
static inline unsigned
sl__loop_poll_mask(unsigned events)
{
	unsigned m = 0;

	if (events & SL_IO_READ)
		m |= POLLIN | POLLRDHUP;
	if (events & SL_IO_WRITE)
		m |= POLLOUT;
	if (events & SL_IO_HUP)
		m |= POLLRDHUP;
	return m;
}

/*
 * The SL_IO_* events of poll(2) bits <m>; a hang-up or an error is READ too, so a reader calls
 * read() and sees the EOF or the error.
 */
static inline unsigned
sl__loop_poll_events(unsigned m)
{
	unsigned e = 0;

	if (m & POLLIN)
		e |= SL_IO_READ;
	if (m & POLLOUT)
		e |= SL_IO_WRITE;
	if (m & (POLLRDHUP | POLLHUP | POLLERR))
		e |= SL_IO_HUP | SL_IO_READ;
	return e;
}

/*
 * Sets l->ops to the backend for <rt> and runs its init (loop_backend.c): SL_LOOP_AUTO tries
 * io_uring and falls back to epoll. 0 or the backend's negative errno (-EINVAL for a bad <rt>).
 */
int sl__loop_backend_init(struct sl_loop *l, enum sl_loop_runtime rt);

extern const struct sl_loop_ops sl__loop_epoll_ops;
extern const struct sl_loop_ops sl__loop_uring_ops;

/*
 * Whether <l> is an io_uring loop whose enters on the calling thread go through the ring fd
 * registered with it (loop_uring.c: from a run's first wait until the run returns). Tests.
 */
bool sl__loop_uring_registered(const struct sl_loop *l);

#endif /* SLUICE_RT_LOOP_INT_H */
