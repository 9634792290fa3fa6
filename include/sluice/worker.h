/* SPDX-License-Identifier: MIT */
/*
 * sl_worker: a group of threads, each running its own sl_loop, plus a bounded cross-thread
 * mailbox per worker (an MPMC ring from sluice/ring.h and the loop's eventfd wake-up). Workers
 * share nothing mutable; other threads reach a worker only by posting it a message.
 *
 * Thread safety: create, start, stop and destroy are called by one controlling thread, never
 * by a worker of the same group. sl_worker_post() may be called from any thread.
 * sl_worker_loop(w) and everything registered with it belong to worker <w>'s thread once the
 * group has started. The worker owns its loop's wake callback: do not replace it.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include <sluice/common.h>
#include <sluice/loop.h>

struct sl_worker;
struct sl_worker_group;

/*
 * A message for a worker: caller-owned storage, untouched by sluice after <fn> starts, so <fn>
 * may free or reuse <m>. <fn> runs on the target worker's thread, from its loop.
 */
struct sl_msg {
	void (*fn)(struct sl_worker *w, struct sl_msg *m);
	void *data; /* the caller's */
};

struct sl_worker_opts {
	unsigned nthreads;         /* 0 = one per CPU this process may run on */
	unsigned mailbox_capacity; /* messages; a power of two >= 2; 0 = 1024 */
	bool pin_cpus;             /* pin worker i to the i-th allowed CPU (modulo their count) */
	struct sl_loop_opts loop;  /* options for every worker's loop */
	/*
	 * Runs on the worker's thread before its loop runs, with sl_worker_current() == <w>.
	 * 0, or a negative errno that makes sl_worker_group_start() fail. NULL = nothing.
	 */
	int (*init)(struct sl_worker *w, unsigned index, void *arg);
	/* Runs on the worker's thread after its loop returns, if init succeeded. NULL = nothing. */
	void (*fini)(struct sl_worker *w, void *arg);
	void *arg; /* passed to init and fini */
};

/*
 * Creates a group of workers (not yet running): each worker's loop and mailbox exist, so the
 * caller may register ios, timers and defers on sl_worker_loop() before starting. <o> is
 * copied. 0, -EINVAL (bad capacity), -ENOMEM, or a negative errno from sl_loop_create().
 */
SL_API int sl_worker_group_create(struct sl_worker_group **out, const struct sl_worker_opts *o);
/* Stops the group if it runs, then frees workers, loops and mailboxes. NULL is accepted. */
SL_API void sl_worker_group_destroy(struct sl_worker_group *g);

/*
 * Starts every worker thread and waits (blocking) until each has pinned itself and run init.
 * If any of that fails, every worker is told to quit without running its loop (fini runs
 * where init succeeded), all are joined, and the first error is returned. 0, -EALREADY if
 * running, or a negative errno.
 */
SL_API int sl_worker_group_start(struct sl_worker_group *g);
/* How long a stopped worker waits for its loop's completion ops to end (sl_loop_settle()). */
#define SL_WORKER_SETTLE_MS 2000

/*
 * Tells every worker to stop and joins them (blocking). A worker drains the messages in its
 * mailbox when it sees the stop, then returns from its loop, settles it (cancels the
 * completion ops in flight and runs their callbacks, up to SL_WORKER_SETTLE_MS; a warning
 * if some are left) and runs fini; messages posted concurrently with or after the stop may
 * never run. The group may be started again (an op the stop cancelled is not resubmitted).
 * Returns 0, or the first negative errno a worker's sl_loop_run() returned. No-op if stopped.
 */
SL_API int sl_worker_group_stop(struct sl_worker_group *g);

/* Number of workers in the group. */
SL_API unsigned sl_worker_group_size(const struct sl_worker_group *g);
/* Worker <i> (0 <= i < size) of the group. */
SL_API struct sl_worker *sl_worker_at(struct sl_worker_group *g, unsigned i);
/* The worker's loop: use it only on the worker's thread once the group runs. */
SL_API struct sl_loop *sl_worker_loop(struct sl_worker *w);
/* The worker's index in its group, 0 .. size - 1. */
SL_API unsigned sl_worker_index(const struct sl_worker *w);
/* The CPU the worker's thread is pinned to (sl_worker_opts.pin_cpus), or -1 if not pinned. */
SL_API int sl_worker_cpu(const struct sl_worker *w);
/* The worker whose thread calls this, or NULL on any other thread. */
SL_API struct sl_worker *sl_worker_current(void);

/*
 * Queues <m> for worker <w> and wakes it; <m->fn> runs on <w>'s thread, in the order the
 * worker dequeues messages (each posting thread's messages stay in order). Any thread; never
 * blocks. 0, or -EAGAIN if the mailbox is full (the caller decides: retry, drop, or shed
 * load). <m> must stay valid until <m->fn> runs.
 */
SL_API int sl_worker_post(struct sl_worker *w, struct sl_msg *m);

#endif /* SLUICE_WORKER_H */
