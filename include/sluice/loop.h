/* SPDX-License-Identifier: MIT */
/*
 * sl_loop: a single-threaded event loop. File-descriptor readiness (edge-triggered), a timer
 * wheel with O(1) add and cancel, deferred callbacks run after the current batch of events, and
 * a thread-safe wake-up. The backend (epoll or io_uring: enum sl_loop_runtime) sits behind an
 * ops table in src/rt/loop_int.h.
 *
 * Thread safety: everything except sl_loop_wake() must be called on the loop's own thread
 * (the one running sl_loop_run()), or before the loop runs. Objects registered with the loop
 * (struct sl_io, struct sl_timer, struct sl_defer) are owned by the caller, embedded in the
 * caller's own objects: the loop allocates nothing per registration.
 */
#ifndef SLUICE_LOOP_H
#define SLUICE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_epoch;
struct sl_loop;
struct sl_io;
struct sl_timer;
struct sl_defer;
struct sl_op;
struct sl_buf;

enum sl_io_events {
	SL_IO_READ = 1u << 0,  /* readable, or peer closed its write side */
	SL_IO_WRITE = 1u << 1, /* writable */
	SL_IO_HUP = 1u << 2,   /* peer hung up or error pending: read/write will tell which */
	/* registration only: report on every wait while the fd stays ready (level-triggered),
	 * so a callback may stop before EAGAIN, e.g. a listener that skips the EAGAIN accept */
	SL_IO_LEVEL = 1u << 3,
};

/* Called on the loop thread with the events that fired (edge-triggered: drain to EAGAIN). */
typedef void (*sl_io_fn)(struct sl_loop *l, struct sl_io *io, unsigned events);
typedef void (*sl_timer_fn)(struct sl_loop *l, struct sl_timer *t);
typedef void (*sl_defer_fn)(struct sl_loop *l, struct sl_defer *d);
/* Called on the loop thread with the result of an op: bytes moved, or a negative errno. */
typedef void (*sl_op_fn)(struct sl_loop *l, struct sl_op *op, int res);

struct sl_io {
	int fd;
	unsigned events; /* enum sl_io_events registered */
	sl_io_fn fn;
	void *data; /* the caller's */
};

struct sl_timer {
	uint64_t expires_ms;            /* loop clock; valid while pending */
	struct sl_timer *next, **pprev; /* wheel slot list; pprev == NULL when not pending */
	sl_timer_fn fn;
	void *data; /* the caller's */
};

struct sl_defer {
	struct sl_defer *next;
	bool queued;
	sl_defer_fn fn;
	void *data; /* the caller's */
};

/*
 * A completion-based operation (io_uring runtime only; see sl_loop_recv()). Owned by the caller
 * like an sl_io; the loop keeps <key> while it is in flight.
 */
struct sl_op {
	sl_op_fn fn;
	void *data;     /* the caller's */
	uint64_t key;   /* the backend's tag while in flight */
	int sent;       /* sl_loop_send_recv(): what the send did (see there) */
	unsigned flags; /* enum sl_op_flags: the caller's hints, read at each submission */
	bool busy;      /* submitted, its (last) callback not run yet: in a multishot op's
	                 * callback, true when more will follow */
	/* sl_loop_recv_multi(): in the callback, the buffer the bytes are in (res > 0), lent
	 * to the caller until sl_loop_buf_put(); NULL otherwise while the op is armed (after
	 * its last callback the loop leaves the op alone: the callback may have freed it) */
	struct sl_buf *buf;
};

/*
 * One buffer of a loop's provided-buffer group (sl_loop_bufs_open()). The loop's; lent to the
 * caller by a multishot recv's callback (sl_op.buf) until sl_loop_buf_put().
 */
struct sl_buf {
	char *data;
	uint32_t len;        /* bytes the recv put in <data> */
	uint32_t off;        /* the borrower's: e.g. bytes of <data> already sent */
	struct sl_buf *next; /* the borrower's: e.g. a queue */
	uint32_t id;         /* the loop's */
};

/*
 * Flags in sl_op.flags, set by the caller before a submission. All but SL_OP_NO_PARK are hints: a
 * backend that cannot use one ignores it, and results never change.
 */
enum sl_op_flags {
	/*
	 * The recv (of sl_loop_recv() or sl_loop_send_recv()) will most likely find nothing yet
	 * (the reply to a request just sent; a socket the last recv drained): the kernel waits
	 * for data before trying, instead of trying once in vain first.
	 */
	SL_OP_POLL_FIRST = 1u << 0,
	/*
	 * A multishot recv (sl_loop_recv_multi()) that finds the group empty ends (-ENOBUFS)
	 * instead of waiting for a buffer to come back: for a caller with a buffer of its own to
	 * recv into meanwhile, so that peers holding the group's buffers cannot stall it.
	 */
	SL_OP_NO_PARK = 1u << 1,
};

/* The kernel interface a loop waits with. Both give the same readiness contract. */
enum sl_loop_runtime {
	SL_LOOP_AUTO = 0,     /* io_uring when the kernel can run it, else epoll */
	SL_LOOP_EPOLL = 1,    /* epoll, edge-triggered */
	SL_LOOP_IO_URING = 2, /* io_uring poll requests; sl_loop_create() fails if unavailable */
	SL_LOOP_RUNTIMES      /* count */
};

/* "auto", "epoll", "io_uring", indexed by enum sl_loop_runtime (the config's names too). */
SL_API extern const char *const sl_loop_runtime_names[SL_LOOP_RUNTIMES];

/* Timer callbacks run per iteration when sl_loop_opts.max_timers is 0. */
#define SL_LOOP_MAX_TIMERS 32

struct sl_loop_opts {
	unsigned max_events;          /* events fetched per wait; 0 = 256 */
	unsigned tick_ms;             /* timer wheel resolution; 0 = 1 ms */
	enum sl_loop_runtime runtime; /* 0 = SL_LOOP_AUTO */
	unsigned max_timers; /* timer callbacks run per iteration; 0 = SL_LOOP_MAX_TIMERS */
	/*
	 * io_uring: slots of the ring's registered-file table (sl_loop_file_add()); 0 = the
	 * process's fd limit, at most SL_LOOP_MAX_FILES; negative = no table (every op looks its
	 * fd up, as on a kernel that refuses the table, which the log says once for the loop). A
	 * table takes kernel memory (8 bytes a slot, rounded up to a power of two pages) whether or
	 * not files are added: a loop whose user never calls sl_loop_file_add() is best given none.
	 */
	int max_files;
	/*
	 * io_uring: buffers of the provided-buffer group sl_loop_bufs_open() sets up (a power of
	 * two); 0 = SL_LOOP_BUFS; negative = no group (sl_loop_bufs_open() says -EOPNOTSUPP, as on
	 * a kernel without one). The group takes <bufs> times the size its opener asks for, plus
	 * 16 bytes a buffer for the ring, once opened; nothing before.
	 */
	int bufs;
};

/* Buffers in a loop's provided-buffer group when sl_loop_opts.bufs is 0. */
#define SL_LOOP_BUFS 256
/* Most buffers a group may have (the kernel's limit on a buffer ring). */
#define SL_LOOP_MAX_BUFS 32768

/* Registered-file slots a loop takes when sl_loop_opts.max_files is 0, at most. */
#define SL_LOOP_MAX_FILES 65536

/*
 * Creates a loop. 0, or -EINVAL (max_events over INT_MAX / 2; bufs positive and not a power of
 * two or over SL_LOOP_MAX_BUFS), -ENOMEM, or a negative errno from the backend (with
 * SL_LOOP_IO_URING: io_uring's, e.g. -ENOSYS, -EPERM, or -EOPNOTSUPP for a kernel without the
 * features it needs; sl_loop_probe_io_uring() says which).
 */
SL_API int sl_loop_create(struct sl_loop **out, const struct sl_loop_opts *o);
/* The backend <l> runs on: "epoll" or "io_uring". */
SL_API const char *sl_loop_backend_name(const struct sl_loop *l);
/*
 * Whether a loop could run on io_uring here: 0, or a negative errno with *<why> (if <why> is
 * not NULL) set to a description of what failed, good until the thread's next call. Creates
 * and closes a ring; any thread.
 */
SL_API int sl_loop_probe_io_uring(const char **why);
/*
 * Whether an io_uring ring was refused in this process for want of locked memory
 * (RLIMIT_MEMLOCK), by sl_loop_create() (which logged it, naming ulimit -l) or by
 * sl_loop_probe_io_uring() (whose <why> says so): a caller that asked for io_uring and got
 * -ENOMEM needs no other hint. Any thread.
 */
SL_API bool sl_loop_io_uring_memlock_short(void);
/* "auto", "epoll", "io_uring"; NULL for a value outside the enum. */
SL_API const char *sl_loop_runtime_name(enum sl_loop_runtime rt);
/* Parses a runtime_name() string into <out>. 0 or -EINVAL. */
SL_API int sl_loop_runtime_parse(const char *s, enum sl_loop_runtime *out);
/* Destroys the loop. Registered fds are not closed; pending timers and defers are dropped. */
SL_API void sl_loop_destroy(struct sl_loop *l);

/* Runs until sl_loop_stop(). Returns 0, or a negative errno if the backend failed. */
SL_API int sl_loop_run(struct sl_loop *l);
/* Makes sl_loop_run() return after the current iteration. Loop thread only. */
SL_API void sl_loop_stop(struct sl_loop *l);
/*
 * Wakes the loop from any thread (eventfd); the wake callback, if set, runs on the loop. Wakes
 * coalesce: several calls before the loop reacts run the callback at least once, after all of
 * them, and the callback sees every write the wakers made before calling. 0 or negative errno.
 */
SL_API int sl_loop_wake(struct sl_loop *l);
/* Sets the function run on the loop thread after every sl_loop_wake(); NULL to clear. */
SL_API void sl_loop_set_wake_fn(struct sl_loop *l, void (*fn)(struct sl_loop *l, void *arg),
                                void *arg);

/*
 * Makes the loop participant <i> of epoch domain <d> (sluice/epoch.h), or detaches it (<d> NULL):
 * online while sl_loop_run() runs callbacks, quiescent once per iteration (before the wait),
 * offline while a wait may block and after sl_loop_run() returns. So a pointer loaded from a
 * protected snapshot inside a callback stays valid until that callback returns, and never
 * longer. Call before sl_loop_run(), not while it runs.
 */
SL_API void sl_loop_set_epoch(struct sl_loop *l, struct sl_epoch *d, unsigned i);

/* Monotonic milliseconds, read once per loop iteration (cheap; do not expect sub-ms). */
SL_API uint64_t sl_loop_now_ms(const struct sl_loop *l);
/*
 * The same reading in microseconds: for latency figures that may be off by the work done in one
 * iteration before the caller, in exchange for no clock read of their own.
 */
SL_API uint64_t sl_loop_now_us(const struct sl_loop *l);

SL_API void sl_io_init(struct sl_io *io, int fd, sl_io_fn fn, void *data);
/*
 * Registers <io->fd> for <events>, edge-triggered unless SL_IO_LEVEL. 0 or negative errno. A
 * file descriptor that is not open: -EBADF at once on epoll; io_uring accepts the request and
 * the failed poll comes to the callback as SL_IO_HUP (with SL_IO_READ).
 */
SL_API int sl_loop_io_add(struct sl_loop *l, struct sl_io *io, unsigned events);
/* Changes the registered events. 0 or negative errno. */
SL_API int sl_loop_io_mod(struct sl_loop *l, struct sl_io *io, unsigned events);
/*
 * Unregisters; no callback for <io> runs after this returns, even from the current batch, so
 * <io> may be freed at once. Call it before close(<io->fd>). 0 or negative errno.
 */
SL_API int sl_loop_io_del(struct sl_loop *l, struct sl_io *io);
/*
 * sl_loop_io_del() without the syscall, for an fd the caller closes right after, before the
 * loop waits again, with no other descriptor open on the same socket (no dup(), no fork()):
 * the close removes it from the backend. Afterwards as after del: no callback for <io> runs.
 */
SL_API void sl_loop_io_forget(struct sl_loop *l, struct sl_io *io);

/*
 * Completion API (io_uring runtime; the epoll runtime returns -EOPNOTSUPP from each call). An op
 * is queued with the loop's other submissions (no system call of its own) and its callback runs
 * exactly once per successful submission, in the batch of the wait that reaped it, with the
 * result: bytes (0 = EOF for a recv), or a negative errno (-ECANCELED after sl_loop_op_cancel()).
 * <buf> must stay valid, and the op too, until that callback: the kernel writes or reads it until
 * then, even after a cancel. One submission per op at a time (-EBUSY otherwise). A loop that is
 * destroyed with ops in flight runs none of their callbacks (the ring's close ends them). An op on
 * an fd not in the loop's registered files (sl_loop_file_add()) names it by number when it is
 * submitted, with the loop's next wait: closed before then, even with the op cancelled, the fd
 * number may by then be another file's (any thread's open), which the op would reach.
 */
SL_API void sl_op_init(struct sl_op *op, sl_op_fn fn, void *data);
/* Whether <l> takes completion ops (sl_loop_recv(), sl_loop_send()): the io_uring runtime. */
SL_API bool sl_loop_has_ops(const struct sl_loop *l);
/* Queues recv(<fd>, <buf>, <len>, 0). 0 or negative errno (-EOPNOTSUPP, -EBUSY, -ENOMEM). */
SL_API int sl_loop_recv(struct sl_loop *l, struct sl_op *op, int fd, void *buf, size_t len);
/* Queues send(<fd>, <buf>, <len>, MSG_NOSIGNAL); a short send completes with what went. */
SL_API int sl_loop_send(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len);
/*
 * Queues a send(<fd>, <buf>, <len>) that does not wait for room: the callback gets <len> when
 * the socket took every byte at once, else what it took (-EAGAIN for none), and the caller
 * sends the rest with sl_loop_send(). A send that took everything posts nothing: its callback
 * runs with the loop's next wake-up for something else (a completion, an io, a timer), in that
 * batch, so it is for a caller that has another op in flight bound to wake the loop (the
 * forwarder's armed recv). -EOPNOTSUPP on epoll, on kernels before Linux 6.0 (as
 * sl_loop_send_recv()), for <len> 0, and while a multishot recv waits for a buffer of the group
 * (a quiet send may hold one until that wake-up): use sl_loop_send() then.
 */
SL_API int sl_loop_send_quiet(struct sl_loop *l, struct sl_op *op, int fd, const void *buf,
                              size_t len);
/*
 * Asks for the callback of quiet send <op> (sl_loop_send_quiet()) without waiting for another
 * wake-up: the loop's next wait does not block while it is unreported. For a caller whose next
 * step waits on it (more bytes queued behind it, a FIN, a hold), which the wake-up it rides on
 * may never come for. A no-op for any other op, and on epoll.
 */
SL_API void sl_loop_op_hurry(struct sl_loop *l, struct sl_op *op);
/*
 * Queues send(<sfd>, <sbuf>, <slen>) of all the bytes (MSG_WAITALL), then, once it is done,
 * recv(<rfd>, <rbuf>, <rlen>): one callback, with the recv's result; op->sent is then <slen>, or
 * if the send failed, what it returned (a negative errno, or the bytes it moved first) and the
 * recv was not made (res -ECANCELED). A successful send posts no completion, so a request/reply
 * costs one wake-up per direction. -EOPNOTSUPP on kernels whose ring cannot promise the whole
 * send (before Linux 6.0) as well as on epoll: use sl_loop_send() and sl_loop_recv() there.
 */
SL_API int sl_loop_send_recv(struct sl_loop *l, struct sl_op *op, int sfd, const void *sbuf,
                             size_t slen, int rfd, void *rbuf, size_t rlen);
/*
 * Registers <fd> with the loop's ring (io_uring's registered files), so the ops on it (which
 * still name it by <fd>) skip the kernel's per-op descriptor lookup and reference. 0, or a
 * negative errno with nothing changed, ops on <fd> working as before: -EOPNOTSUPP (epoll, or
 * no table: sl_loop_opts.max_files), -ENOSPC (table full: the loop's first one logs a line),
 * -EEXIST, -EBADF, -ENOMEM. The table holds the file open: call sl_loop_file_del() when done
 * with <fd>, before anything of this loop could get the same fd number (a close() just before
 * is fine).
 */
SL_API int sl_loop_file_add(struct sl_loop *l, int fd);
/*
 * Ends sl_loop_file_add(<fd>) (a no-op if not added): later ops look <fd> up again, and the table
 * lets the file go once the ops in flight that named it have called back, with the loop's next
 * wait (at once if the loop is not running).
 */
SL_API void sl_loop_file_del(struct sl_loop *l, int fd);
/*
 * Asks the kernel to cancel <op> if it is in flight (a no-op otherwise); its callback still runs,
 * with -ECANCELED or with the result it reached first. 0 or negative errno.
 */
SL_API int sl_loop_op_cancel(struct sl_loop *l, struct sl_op *op);
/*
 * Ends every op in flight before what they point at is freed: cancels each, then waits (on the
 * loop's thread, with the loop not running) until each one's callback has run, or <timeout_ms>
 * passed (-1: no limit). An op a callback submits again is cancelled in turn. Only ops'
 * callbacks run: an io's readiness met meanwhile is dropped and timers and defers wait, so it
 * is for a loop that will not run again (a worker's stop). 0 once none is in flight (at once
 * on epoll, which has none), -ETIMEDOUT with some left, or the wait's negative errno.
 */
SL_API int sl_loop_settle(struct sl_loop *l, int timeout_ms);

/*
 * Sets up the loop's provided-buffer group: sl_loop_opts.bufs buffers of <size> bytes each, which
 * the kernel picks from as multishot recvs (sl_loop_recv_multi()) find data. The group lives
 * until sl_loop_destroy(); opening it again is a no-op that keeps the first <size> (see
 * sl_loop_bufs_size()). 0, or a negative errno with no group: -EOPNOTSUPP (epoll, a kernel
 * without buffer rings or multishot recv (Linux 6.0), or sl_loop_opts.bufs negative), -EINVAL
 * (<size> 0 or above 1 GiB / bufs), -ENOMEM, or the kernel's error from registering it. Loop
 * thread (or before the loop runs); one system call.
 */
SL_API int sl_loop_bufs_open(struct sl_loop *l, uint32_t size);
/* Bytes in each buffer of <l>'s group; 0 while it has none. */
SL_API uint32_t sl_loop_bufs_size(const struct sl_loop *l);

struct sl_loop_bufs_stats {
	uint32_t count;  /* buffers in the group (0: none) */
	uint32_t size;   /* bytes each */
	uint32_t lent;   /* delivered by a recv and not put back yet */
	uint32_t parked; /* multishot recvs waiting for a buffer to come back */
	uint64_t nobufs; /* times a multishot recv found the group empty */
};

/* Fills <st> with <l>'s group figures. */
SL_API void sl_loop_bufs_stats(const struct sl_loop *l, struct sl_loop_bufs_stats *st);

/*
 * Queues one multishot recv(<fd>) into the loop's group (sl_loop_bufs_open() first): it stays
 * armed, and its callback runs once per arrival, in order, with the bytes (op->buf holds them,
 * lent until sl_loop_buf_put()), as long as op->busy is true in the callback; the last callback
 * (op->busy false) has no buffer unless res > 0, and ends it: EOF (0), an error, -ECANCELED
 * after sl_loop_op_cancel(), or res > 0 when the kernel stopped it (then it may be queued
 * again). A group found empty does not end it: it waits, holding no buffer, until a buffer is
 * put back (sl_loop_bufs_stats().nobufs counts it), unless op->flags has SL_OP_NO_PARK: then
 * it ends with -ENOBUFS. <limit> > 0: the kernel ends it (res > 0,
 * op->busy false) with the arrival that brings what it delivered to <limit> or past it, so it
 * delivers less than <limit> plus one buffer, a bound no cancel can give (the kernel may fill
 * several buffers before a cancel reaches it); a kernel before Linux 6.17 has no such limit,
 * and the recv then runs without it (the loop learns it from the first refusal). 0 or negative
 * errno (-EOPNOTSUPP, no group or epoll; -EBUSY, -ENOMEM).
 */
SL_API int sl_loop_recv_multi(struct sl_loop *l, struct sl_op *op, int fd, uint32_t limit);
/*
 * Gives <b> (lent by a multishot recv's callback) back to the group; a recv waiting for a buffer
 * is armed again. No system call. Loop thread.
 */
SL_API void sl_loop_buf_put(struct sl_loop *l, struct sl_buf *b);

SL_API void sl_timer_init(struct sl_timer *t, sl_timer_fn fn, void *data);
/*
 * (Re)arms <t> to fire once after <after_ms> ms (rounded up to the tick), measured from
 * sl_loop_now_ms(); never fires earlier by the loop clock. O(1). Safe from any loop callback,
 * including <t>'s own. Timers of different ticks fire in expiry order; within a tick, in no
 * particular order. A loop held up for more than a wheel's revolution (4096 ticks: 4.1 s at
 * the default tick) fires everything due by then in one pass, in no set order. An iteration runs at
 * most max_timers timer callbacks (sl_loop_opts): due timers past that run in the next iteration,
 * after the io that is ready by then, so a wave of deadlines passing at once cannot hold io back
 * for all of its length.
 */
SL_API void sl_loop_timer_add(struct sl_loop *l, struct sl_timer *t, uint64_t after_ms);
/* Disarms <t> if pending. O(1). */
SL_API void sl_loop_timer_cancel(struct sl_loop *l, struct sl_timer *t);
SL_API bool sl_timer_is_pending(const struct sl_timer *t);

SL_API void sl_defer_init(struct sl_defer *d, sl_defer_fn fn, void *data);
/*
 * Queues <d> to run on this loop after the current batch of events and expired timers; no-op
 * if already queued. FIFO. A defer queued while defers are running runs in the next iteration
 * (after a non-blocking wait), so a defer that re-queues itself cannot starve io.
 */
SL_API void sl_loop_defer(struct sl_loop *l, struct sl_defer *d);
/* Removes <d> from the queue if queued. O(queued defers). */
SL_API void sl_loop_defer_cancel(struct sl_loop *l, struct sl_defer *d);

#endif /* SLUICE_LOOP_H */
