// SPDX-License-Identifier: MIT
/*
 * The io_uring backend of sl_loop: every io is a poll request on the ring (multishot, so
 * edge-triggered like EPOLLET; one-shot re-armed after each report for SL_IO_LEVEL). add, mod,
 * del and forget only queue SQEs; wait() submits them and waits in one io_uring_enter(). A
 * per-fd slot table with a generation makes completions of a deleted or re-added io harmless.
 * Completion ops (recv, send, quiet send, send_recv, multishot recv into the loop's
 * provided-buffer group) have a slot table of their own. docs/internals/loop.md.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include <sluice/log.h>

#include "rt/loop_int.h"

/*
 * One registered fd. user_data of its poll request = gen << 32 | fd, so a completion is
 * matched against the slot (never against the io, which its owner may have freed). gen 0 is
 * never a live registration: it tags the backend's own remove requests.
 */
struct uring_slot {
	struct sl_io *io; /* NULL = free */
	uint32_t gen;
	uint32_t batch_seq; /* == the backend's seq when the io has an entry in this batch */
	uint32_t batch_idx;
	uint32_t file; /* registered-file slot + 1 while sl_loop_file_add()ed; 0 = none */
	bool armed;    /* a poll request of <gen> is (or will be) in the kernel */
	bool level;    /* registered SL_IO_LEVEL (a listening socket) */
};

/*
 * One slot of the ring's registered-file table. An op naming the slot holds a reference, and
 * so does the fd's mapping (uring_slot.file) until sl_loop_file_del(), which empties the slot
 * at once (requests in the kernel keep the file they took until they end; a linked recv not
 * started yet finds no file, -EBADF). The slot is reused only once no reference is left, so
 * no request can find another file in it. The kernel reads <fd> when the install is submitted.
 */
struct uring_file {
	int fd; /* what the slot's install puts in; -1 once released */
	uint32_t refs;
	uint32_t next; /* free list */
};

/*
 * One op in flight (sl_loop_recv() and co). user_data = gen << 32 | URING_OP_BIT | index: bit
 * 31 of the low word is never set in a slot key (an fd is below 2^31). A free slot's gen moves
 * on, so a completion that finds another gen (none should) is dropped.
 */
struct uring_opslot {
	struct sl_op *op; /* NULL = free; then <next> links the free list */
	uint32_t gen;
	uint32_t next;
	int sent;         /* send_recv: slen (the send posts a completion only when it fails) */
	uint32_t file[2]; /* registered-file slots + 1 its requests name (0 = none) */
	bool pair;        /* send_recv: two requests under this slot */
	bool cancelled;   /* a cancel of it is queued (sl_loop_settle() queues one per op) */
	bool multi;       /* a multishot recv (sl_loop_recv_multi()) */
	uint8_t wait;     /* URING_PARKED, URING_DONE or URING_QUIET while on that list; else 0 */
	int mfd;          /* multi: the fd (or registered-file slot) its SQE names, to re-arm */
	bool mfixed;      /* multi: <mfd> is a registered-file slot */
	uint32_t wnext;   /* multi: next on the parked or done list (UINT32_MAX: last) */
	uint32_t limit;   /* multi: bytes after which the kernel ends it, less those delivered (0:
	                     none) */
};

#define URING_PARKED 1 /* found the group empty; re-armed when a buffer comes back */
#define URING_DONE 2   /* cancelled while parked; its callback runs with the next wait */
#define URING_QUIET 3  /* a quiet send: done once submitted, unless its CQE says otherwise */

/* A FIFO of op slots linked by wnext. */
struct uring_oplist {
	uint32_t head, tail, n; /* UINT32_MAX: none */
};

/*
 * The provided-buffer group (sl_loop_bufs_open()): a ring the kernel takes buffers from (group
 * 0), <count> buffers of <size> bytes in one mapping, and the loop's descriptor of each.
 */
struct uring_bufs {
	struct io_uring_buf_ring *ring; /* NULL: no group */
	size_t ring_bytes;
	char *mem;
	size_t mem_bytes;
	struct sl_buf *bufs;
	uint32_t count, size;
	uint32_t lent;   /* delivered and not put back */
	uint64_t nobufs; /* ENOBUFS completions */
	int failed;      /* the set-up's -errno once it failed (logged): not tried again */
};

struct sl_loop_uring {
	struct io_uring ring;
	bool enabled; /* R_DISABLED rings: enabled on the loop thread at the first wait */
	bool single_issuer;
	pthread_t issuer; /* the thread that enabled a single-issuer ring */
	uint32_t seq;     /* batch number, for coalescing several completions of one io */
	struct uring_slot *slots;
	unsigned nslots;
	/* SQEs queued while the SQ is full and the ring cannot submit yet (not enabled) */
	struct io_uring_sqe *pend;
	unsigned npend, pend_cap;
	/* ops in flight; free slots linked from <op_free> (UINT32_MAX: none) */
	struct uring_opslot *opslots;
	uint32_t nopslots, op_free;
	bool send_all;   /* the kernel finishes a MSG_WAITALL send or fails it (Linux 6.0) */
	bool poll_first; /* the kernel takes IORING_RECVSEND_POLL_FIRST (Linux 5.19) */
	/* registered-file table (nfiles == 0: none); [0, files_used) have been handed out */
	struct uring_file *files;
	uint32_t nfiles, files_used, file_free;
	bool files_full_said; /* a sl_loop_file_add() found the table full, and the log says so */
	struct uring_bufs bg;
	struct uring_oplist parked; /* multishot recvs waiting for a buffer */
	struct uring_oplist done;   /* parked ones cancelled: reported by the next wait */
	struct uring_oplist quiet;  /* quiet sends (sl_loop_send_quiet()) not reported yet */
	bool hurry; /* one of them is awaited (sl_loop_op_hurry()): the next wait does not block */
	bool mshot_lim; /* the kernel takes a multishot recv's byte limit (Linux 6.17) */
	/* the ring's fd registered with the thread running the loop (ring_fd_register()) */
	int reg_fd;           /* its index in that thread's table; -1: none */
	bool reg_tried;       /* this run asked for it (once: a refusal is not asked again) */
	pthread_t reg_thread; /* the kernel keeps the table per thread */
};

#define URING_OP_BIT 0x80000000u
/* with URING_OP_BIT: the send of a send_recv pair (its completion comes only on failure) */
#define URING_OP_SEND_BIT 0x40000000u

#define URING_REMOVE_TAG 0 /* user_data of our cancel requests: gen 0 */

static uint64_t
slot_key(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static uint32_t
next_gen(uint32_t gen)
{
	return gen + 1 == 0 ? 1 : gen + 1;
}

/* Publishes the SQEs queued since the last flush; returns how many the kernel has not taken. */
static unsigned
sq_flush(struct sl_loop_uring *u)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned tail = sq->sqe_tail;

	if (sq->sqe_head != tail) {
		sq->sqe_head = tail;
		/* R1: the SQE contents before the tail; pairs with the kernel's acquire of sq.ktail
		 */
		io_uring_smp_store_release(sq->ktail, tail);
	}
	/* khead is written by the kernel only inside io_uring_enter() on this thread */
	return tail - *sq->khead;
}

/*
 * The fd to pass io_uring_enter() and the flag that says which kind it is: the registered
 * index on the thread that registered it (the kernel then skips the fd table's lookup and
 * reference on every enter), the ring's fd anywhere else.
 */
static unsigned
enter_fd(const struct sl_loop_uring *u, unsigned *flags)
{
	if (u->reg_fd >= 0 && pthread_equal(u->reg_thread, pthread_self())) {
		*flags |= IORING_ENTER_REGISTERED_RING;
		return (unsigned)u->reg_fd;
	}
	return (unsigned)u->ring.ring_fd;
}

/*
 * Registers the ring's fd with the calling thread, the one running the loop. A kernel without
 * registered rings (before 5.18) or a thread whose table is full (16) keeps using the fd.
 * Undone by ring_fd_unregister() when the run ends; a thread's exit undoes it too.
 */
static void
ring_fd_register(struct sl_loop_uring *u)
{
	struct io_uring_rsrc_update up = {.offset = UINT32_MAX, .data = (uint64_t)u->ring.ring_fd};

	u->reg_tried = true;
	if (u->reg_fd >= 0)
		return;
	/* by hand: liburing's io_uring_register_ring_fd() would also switch its own enters */
	if (io_uring_register((unsigned)u->ring.ring_fd, IORING_REGISTER_RING_FDS, &up, 1) == 1) {
		u->reg_fd = (int)up.offset;
		u->reg_thread = pthread_self();
	}
}

/*
 * Drops the registration on the thread that made it: it holds a reference to the ring, which
 * would otherwise outlive sl_loop_destroy() for as long as that thread lives.
 */
static void
ring_fd_unregister(struct sl_loop_uring *u)
{
	struct io_uring_rsrc_update up = {.offset = (uint32_t)u->reg_fd};

	u->reg_tried = false;
	if (u->reg_fd < 0 || !pthread_equal(u->reg_thread, pthread_self()))
		return;
	(void)io_uring_register((unsigned)u->ring.ring_fd, IORING_UNREGISTER_RING_FDS, &up, 1);
	u->reg_fd = -1;
}

/* Submits what the SQ holds, without waiting. 0 or negative errno. */
static int
sq_submit(struct sl_loop_uring *u)
{
	unsigned n = sq_flush(u);
	int ret;

	while (n != 0) {
		unsigned flags = 0, fd = enter_fd(u, &flags);

		ret = io_uring_enter(fd, n, 0, flags, NULL);
		if (ret == -EINTR)
			continue;
		/* EAGAIN/EBUSY: the kernel is short of memory or completions; reap and retry */
		if (ret == -EAGAIN || ret == -EBUSY)
			ret = io_uring_enter(fd, n, 0, flags | IORING_ENTER_GETEVENTS, NULL);
		if (ret < 0)
			return ret;
		if (ret == 0)
			return -EAGAIN;
		n = sq_flush(u);
	}
	return 0;
}

/*
 * An SQE to fill, in submission order. A full SQ is submitted first; a ring that cannot
 * submit yet (disabled until its loop thread waits) queues into <pend>. NULL only on ENOMEM.
 */
static struct io_uring_sqe *
sqe_get(struct sl_loop_uring *u)
{
	struct io_uring_sqe *sqe;

	if (u->npend == 0) {
		sqe = io_uring_get_sqe(&u->ring);
		if (sqe != NULL)
			return sqe;
		if (u->enabled && sq_submit(u) == 0) {
			sqe = io_uring_get_sqe(&u->ring);
			if (sqe != NULL)
				return sqe;
		}
	}
	if (u->npend == u->pend_cap) {
		unsigned cap = u->pend_cap != 0 ? u->pend_cap * 2 : 64;
		struct io_uring_sqe *p = realloc(u->pend, (size_t)cap * sizeof(*p));

		if (p == NULL)
			return NULL;
		u->pend = p;
		u->pend_cap = cap;
	}
	sqe = &u->pend[u->npend++];
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

/*
 * Moves the pending SQEs into the ring, submitting whenever it fills. 0, or the negative errno
 * of a failed submission: what did not fit stays pending, in order, for the next wait.
 */
static int
pend_flush(struct sl_loop_uring *u)
{
	unsigned i = 0;
	int err = 0;

	while (i < u->npend) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (sqe == NULL) {
			err = sq_submit(u);
			if (err != 0)
				break;
			continue;
		}
		memcpy(sqe, &u->pend[i++], sizeof(*sqe));
	}
	if (i != 0 && i < u->npend)
		memmove(u->pend, u->pend + i, (size_t)(u->npend - i) * sizeof(u->pend[0]));
	u->npend -= i;
	return err;
}

/* Queues a poll request for slot <fd> with its current generation. */
static int
slot_arm(struct sl_loop_uring *u, int fd)
{
	struct uring_slot *s = &u->slots[fd];
	struct io_uring_sqe *sqe = sqe_get(u);
	unsigned events = s->io->events;

	if (sqe == NULL)
		return -ENOMEM;
	s->level = (events & SL_IO_LEVEL) != 0;
	/* level: one-shot, re-armed after each report, so the re-arm polls the fd again */
	if (events & SL_IO_LEVEL)
		io_uring_prep_poll_add(sqe, fd, sl__loop_poll_mask(events));
	else
		io_uring_prep_poll_multishot(sqe, fd, sl__loop_poll_mask(events));
	io_uring_sqe_set_data64(sqe, slot_key(fd, s->gen));
	s->armed = true;
	return 0;
}

/*
 * Queues the removal of slot <fd>'s request of generation <gen>; its result is ignored. An
 * ASYNC_CANCEL, not a POLL_REMOVE: POLL_REMOVE fails with -EALREADY, leaving the request armed
 * (and its file open), when a wake-up of the request is still to be processed, which with
 * deferred task work is the case from the wake-up until the next GETEVENTS enter; a cancel
 * marks the request and that processing ends it.
 */
static int
slot_disarm(struct sl_loop_uring *u, int fd, uint32_t gen)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_cancel64(sqe, slot_key(fd, gen), 0);
	io_uring_sqe_set_data64(sqe, URING_REMOVE_TAG);
	/* no completion when it found the request; -ENOENT ones arrive and are ignored */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	return 0;
}

static int
slots_reserve(struct sl_loop_uring *u, int fd)
{
	unsigned n;
	struct uring_slot *s;

	if ((unsigned)fd < u->nslots)
		return 0;
	n = u->nslots != 0 ? u->nslots : 64;
	while (n <= (unsigned)fd)
		n = n > UINT_MAX / 2 ? UINT_MAX : n * 2;
	s = realloc(u->slots, (size_t)n * sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	memset(s + u->nslots, 0, (size_t)(n - u->nslots) * sizeof(*s));
	u->slots = s;
	u->nslots = n;
	return 0;
}

/*
 * Frees slot <fd>: a new generation (late completions of the old one are dropped) and the old
 * request removed. The fd may be closed already: removal goes by user_data, not by fd.
 */
static void
slot_release(struct sl_loop_uring *u, int fd)
{
	struct uring_slot *s = &u->slots[fd];

	if (s->armed)
		(void)slot_disarm(u, fd, s->gen);
	s->io = NULL;
	s->armed = false;
	s->gen = next_gen(s->gen);
}

/*
 * Gives slot <io->fd> to <io> under a new generation and queues its poll for <events>; on
 * failure the io is left unregistered with its previous events. add and mod.
 */
static int
slot_register(struct sl_loop_uring *u, struct sl_io *io, unsigned events)
{
	struct uring_slot *s = &u->slots[io->fd];
	unsigned old = io->events;
	int err;

	s->gen = next_gen(s->gen);
	s->io = io;
	io->events = events; /* slot_arm() reads it; loop.c stores the same on success */
	err = slot_arm(u, io->fd);
	if (err != 0) {
		io->events = old;
		s->io = NULL;
		s->armed = false;
	}
	return err;
}

static int
uring_add(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct sl_loop_uring *u = l->be;
	struct uring_slot *s;
	int err;

	if (io->fd < 0)
		return -EBADF;
	err = slots_reserve(u, io->fd);
	if (err != 0)
		return err;
	s = &u->slots[io->fd];
	if (s->io == io)
		return -EEXIST;
	/* another io on this fd number: its fd was closed without del, so that one is stale */
	if (s->io != NULL)
		slot_release(u, io->fd);
	return slot_register(u, io, events);
}

static int
uring_mod(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct sl_loop_uring *u = l->be;
	struct uring_slot *s;
	int err;

	if (io->fd < 0 || (unsigned)io->fd >= u->nslots || u->slots[io->fd].io != io)
		return -ENOENT;
	s = &u->slots[io->fd];
	/* remove and re-add under a new generation: the new request polls the fd at once (as
	 * EPOLL_CTL_MOD does), and no completion of the old one can be mistaken for it */
	if (s->armed) {
		err = slot_disarm(u, io->fd, s->gen);
		if (err != 0)
			return err;
	}
	/* on failure the old request is on its way out: the io is left unregistered */
	return slot_register(u, io, events);
}

static int
uring_enter(struct sl_loop_uring *u, unsigned wait_nr, int timeout_ms)
{
	struct __kernel_timespec ts = {
	        .tv_sec = timeout_ms / 1000,
	        .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_getevents_arg arg = {
	        .sigmask = 0,
	        .sigmask_sz = 0,
	        .ts = timeout_ms >= 0 ? (uint64_t)(uintptr_t)&ts : 0,
	};
	unsigned submit = sq_flush(u);
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
	unsigned fd = enter_fd(u, &flags);
	int ret;

	ret = io_uring_enter2(fd, submit, wait_nr, flags, (sigset_t *)&arg, sizeof(arg));
	/* the submission went in even when the wait timed out or a signal cut it short */
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		return 0;
	return ret < 0 ? ret : 0;
}

/* Whether this thread may submit now: the ring is enabled and this is its issuer. */
static bool
can_submit(const struct sl_loop_uring *u)
{
	return u->enabled && (!u->single_issuer || pthread_equal(u->issuer, pthread_self()));
}

/*
 * Submits what is queued and reaps: deferred task work completes cancelled requests, which
 * drops the files they hold. For a loop that may not wait again (see loop_int.h).
 */
static void
uring_quiesce(struct sl_loop *l)
{
	struct sl_loop_uring *u = l->be;

	if (can_submit(u) && pend_flush(u) == 0)
		(void)uring_enter(u, 0, 0);
	/* sl_loop_run() has returned (uring_del() comes here during a run too: keep it then) */
	if (!l->running)
		ring_fd_unregister(u);
}

static int
uring_del(struct sl_loop *l, struct sl_io *io)
{
	struct sl_loop_uring *u = l->be;
	bool level;

	/* not ours (never added, or replaced after its fd was closed and reused): like ENOENT */
	if (io->fd < 0 || (unsigned)io->fd >= u->nslots || u->slots[io->fd].io != io)
		return 0;
	level = u->slots[io->fd].level;
	slot_release(u, io->fd);
	/*
	 * The poll request holds the file until the removal is submitted, normally with the next
	 * wait. A loop that is not running may never wait again (a thread closing its sockets
	 * after sl_loop_run() returned): submit now, and reap (deferred task work completes the
	 * cancelled request and drops its file), so the close reaches the peer. Another
	 * thread cannot (single issuer); the ring's close in sl_loop_destroy() ends it then.
	 * A level-triggered io is a listening socket: its close must free the port at once (a
	 * reload that removes a listener and adds it back binds the address again), so it pays
	 * that system call even while the loop runs; sessions' sockets wait for the next wait.
	 */
	if (!l->running || level)
		uring_quiesce(l);
	return 0;
}

static void
uring_forget(struct sl_loop *l, struct sl_io *io)
{
	/* a poll request holds the file: closing the fd alone would not end it, so remove it */
	(void)uring_del(l, io);
}

/* ---- registered files ---- */

static const int file_none = -1; /* what a release puts in a slot */

/* Queues the update of registered-file slot <i> to *<fd> (-1: empty); read at submission. */
static int
file_update(struct sl_loop_uring *u, uint32_t i, const int *fd)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_files_update(sqe, (int *)(uintptr_t)fd, 1, (int)i);
	io_uring_sqe_set_data64(sqe, URING_REMOVE_TAG);
	/* a failed install shows as -EBADF on the ops that name the slot */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	return 0;
}

/* Drops a reference to slot <i> (emptied by sl_loop_file_del()); the last one frees it. */
static void
file_put(struct sl_loop_uring *u, uint32_t i)
{
	struct uring_file *f = &u->files[i];

	if (--f->refs != 0)
		return;
	f->next = u->file_free;
	u->file_free = i;
}

/*
 * -ENOSPC for a sl_loop_file_add() that finds every slot taken. The first one says so, once per
 * loop: the ops of each fd added while the table stays full look it up, slower but working.
 */
static int
files_full(struct sl_loop_uring *u)
{
	if (!u->files_full_said) {
		u->files_full_said = true;
		sl_log_info("io_uring: a loop's %u registered-file slots are full: the sockets of "
		            "new forward: uring sessions on it are copied",
		            u->nfiles);
	}
	return -ENOSPC;
}

static int
uring_file_add(struct sl_loop *l, int fd)
{
	struct sl_loop_uring *u = l->be;
	uint32_t i;
	int err;

	if (u->nfiles == 0)
		return -EOPNOTSUPP;
	err = slots_reserve(u, fd);
	if (err != 0)
		return err;
	if (u->slots[fd].file != 0)
		return -EEXIST;
	if (u->file_free != UINT32_MAX)
		i = u->file_free;
	else if (u->files_used < u->nfiles)
		i = u->files_used;
	else
		return files_full(u);
	u->files[i].fd = fd;
	err = file_update(u, i, &u->files[i].fd);
	if (err != 0)
		return err;
	if (i == u->file_free)
		u->file_free = u->files[i].next;
	else
		u->files_used++;
	u->files[i].refs = 1;
	u->slots[fd].file = i + 1;
	return 0;
}

static void
uring_file_del(struct sl_loop *l, int fd)
{
	struct sl_loop_uring *u = l->be;
	uint32_t f;

	if ((unsigned)fd >= u->nslots || (f = u->slots[fd].file) == 0)
		return;
	u->slots[fd].file = 0;
	u->files[f - 1].fd = -1;
	/* after every request queued so far; without an SQE, at once (the issuer's own call) */
	if (file_update(u, f - 1, &file_none) != 0 &&
	    io_uring_register_files_update(&u->ring, f - 1, (int *)(uintptr_t)&file_none, 1) != 1)
		return; /* the slot stays taken: the ring's close lets the file go */
	file_put(u, f - 1);
	/* the table holds the file: a loop that may not wait again lets it go now */
	if (!l->running)
		uring_quiesce(l);
}

/*
 * Points <sqe>'s fd at its registered-file slot if it has one, the op <s> holding a reference
 * to it (in s->file[<k>]) until its completion.
 */
static void
sqe_file(struct sl_loop_uring *u, struct io_uring_sqe *sqe, struct uring_opslot *s, unsigned k)
{
	uint32_t f;

	if (sqe->fd < 0 || (unsigned)sqe->fd >= u->nslots || (f = u->slots[sqe->fd].file) == 0)
		return;
	sqe->fd = (int)(f - 1);
	sqe->flags |= IOSQE_FIXED_FILE;
	u->files[f - 1].refs++;
	s->file[k] = f;
}

/*
 * The table's size: <want> slots (sl_loop_opts.max_files), or by default the fd limit (a loop
 * cannot hold more fds) up to SL_LOOP_MAX_FILES. 0: no table.
 */
static uint32_t
files_size(int want)
{
	struct rlimit rl;

	if (want < 0)
		return 0;
	if (want > 0)
		return (uint32_t)want;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > SL_LOOP_MAX_FILES)
		return SL_LOOP_MAX_FILES;
	return (uint32_t)rl.rlim_cur;
}

/*
 * Registers an empty table of files_size(<want>) slots; a kernel or a limit that refuses it
 * leaves the loop without one (ops look their fds up), which the log says once, as no op will.
 */
static void
files_init(struct sl_loop_uring *u, int want)
{
	uint32_t n = files_size(want);
	int err;

	u->file_free = UINT32_MAX;
	if (n == 0)
		return;
	/* slots are touched only as they are handed out */
	u->files = calloc(n, sizeof(*u->files));
	err = u->files == NULL ? -ENOMEM : io_uring_register_files_sparse(&u->ring, n);
	if (err != 0) {
		free(u->files);
		u->files = NULL;
		sl_log_info("io_uring: a loop runs without registered files: %u slots refused: %s",
		            n, strerror(-err));
		return;
	}
	u->nfiles = n;
}

/* ---- completion ops ---- */

/* A free op slot for <op>, its key in op->key. -ENOMEM. */
static int
op_slot_get(struct sl_loop_uring *u, struct sl_op *op)
{
	struct uring_opslot *s;
	uint32_t i;

	if (u->op_free == UINT32_MAX) {
		uint32_t n = u->nopslots != 0 ? u->nopslots * 2 : 256;

		if (n > URING_OP_SEND_BIT || n < u->nopslots)
			return -ENOMEM;
		s = realloc(u->opslots, (size_t)n * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		for (i = u->nopslots; i < n; i++)
			s[i] = (struct uring_opslot){.op = NULL, .gen = 1, .next = i + 1};
		s[n - 1].next = UINT32_MAX;
		u->op_free = u->nopslots;
		u->opslots = s;
		u->nopslots = n;
	}
	i = u->op_free;
	s = &u->opslots[i];
	u->op_free = s->next;
	s->op = op;
	s->pair = false;
	s->cancelled = false;
	s->multi = false;
	s->wait = 0;
	s->file[0] = 0;
	s->file[1] = 0;
	op->key = (uint64_t)s->gen << 32 | URING_OP_BIT | i;
	return 0;
}

static void file_put(struct sl_loop_uring *u, uint32_t i);

static void
op_slot_put(struct sl_loop_uring *u, uint32_t i)
{
	struct uring_opslot *s = &u->opslots[i];

	for (unsigned k = 0; k < 2; k++)
		if (s->file[k] != 0)
			file_put(u, s->file[k] - 1);
	s->op = NULL;
	s->gen = next_gen(s->gen);
	s->next = u->op_free;
	u->op_free = i;
}

/*
 * SL_OP_POLL_FIRST: the recv arms the socket's wait at once rather than after a first attempt
 * that would find nothing (a recv that fails with EAGAIN, then the poll, then the retry).
 */
static void
recv_hint(const struct sl_loop_uring *u, struct io_uring_sqe *sqe, const struct sl_op *op)
{
	if ((op->flags & SL_OP_POLL_FIRST) && u->poll_first)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
}

/* The slot of an op in flight. */
static struct uring_opslot *
op_slot(struct sl_loop_uring *u, const struct sl_op *op)
{
	return &u->opslots[(uint32_t)op->key & ~URING_OP_BIT];
}

/*
 * The slot of busy op <op>, or NULL once its last completion was taken (its callback is still to
 * run in this batch): the slot went back to the free list then, and may be another op's by now.
 */
static struct uring_opslot *
op_slot_of(struct sl_loop_uring *u, const struct sl_op *op)
{
	uint32_t i = (uint32_t)op->key & ~URING_OP_BIT;
	struct uring_opslot *s;

	if (i >= u->nopslots)
		return NULL;
	s = &u->opslots[i];
	return s->op == op && s->gen == (uint32_t)(op->key >> 32) ? s : NULL;
}

/* Queues an op built by <prep> into an SQE tagged for <op>. */
static int
op_queue(struct sl_loop_uring *u, struct sl_op *op, struct io_uring_sqe **out)
{
	struct io_uring_sqe *sqe;
	int err = op_slot_get(u, op);

	if (err != 0)
		return err;
	sqe = sqe_get(u);
	if (sqe == NULL) {
		op_slot_put(u, (uint32_t)op->key & ~URING_OP_BIT);
		return -ENOMEM;
	}
	*out = sqe;
	op->busy = true;
	return 0;
}

static int
uring_recv(struct sl_loop *l, struct sl_op *op, int fd, void *buf, size_t len)
{
	struct io_uring_sqe *sqe;
	int err = op_queue(l->be, op, &sqe);

	if (err != 0)
		return err;
	io_uring_prep_recv(sqe, fd, buf, len, 0);
	recv_hint(l->be, sqe, op);
	sqe_file(l->be, sqe, op_slot(l->be, op), 0);
	io_uring_sqe_set_data64(sqe, op->key);
	return 0;
}

static int
uring_send(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len)
{
	struct io_uring_sqe *sqe;
	int err = op_queue(l->be, op, &sqe);

	if (err != 0)
		return err;
	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	sqe_file(l->be, sqe, op_slot(l->be, op), 0);
	io_uring_sqe_set_data64(sqe, op->key);
	return 0;
}

/*
 * A send of all of <sbuf> linked to a recv: the send skips its completion on success, so the
 * pair wakes the loop once, with the recv. Two SQEs in one submission (a link ends where a
 * submission does, and a recv started early would overwrite what the send still reads).
 */
static int
uring_send_recv(struct sl_loop *l, struct sl_op *op, int sfd, const void *sbuf, size_t slen,
                int rfd, void *rbuf, size_t rlen)
{
	struct sl_loop_uring *u = l->be;
	struct io_uring_sqe *sqe[2];
	uint32_t i;
	int err;

	/* both SQEs straight in the ring (not the side array, whose flush may split them) */
	if (!u->send_all || slen > INT_MAX || u->npend != 0 || !can_submit(u))
		return -EOPNOTSUPP;
	if (io_uring_sq_space_left(&u->ring) < 2 &&
	    (sq_submit(u) != 0 || io_uring_sq_space_left(&u->ring) < 2))
		return -EOPNOTSUPP;
	err = op_slot_get(u, op);
	if (err != 0)
		return err;
	sqe[0] = io_uring_get_sqe(&u->ring);
	sqe[1] = io_uring_get_sqe(&u->ring);
	op->busy = true;
	i = (uint32_t)op->key & ~URING_OP_BIT;
	u->opslots[i].pair = true;
	u->opslots[i].sent = (int)slen;
	io_uring_prep_send(sqe[0], sfd, sbuf, slen, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe[0], op->key | URING_OP_SEND_BIT);
	sqe[0]->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	sqe_file(u, sqe[0], &u->opslots[i], 0);
	io_uring_prep_recv(sqe[1], rfd, rbuf, rlen, 0);
	recv_hint(u, sqe[1], op);
	sqe_file(u, sqe[1], &u->opslots[i], 1);
	io_uring_sqe_set_data64(sqe[1], op->key);
	return 0;
}

/* ---- the provided-buffer group and the multishot recv ---- */

static void
oplist_init(struct uring_oplist *q)
{
	q->head = q->tail = UINT32_MAX;
	q->n = 0;
}

static void
oplist_push(struct sl_loop_uring *u, struct uring_oplist *q, uint32_t i)
{
	u->opslots[i].wnext = UINT32_MAX;
	if (q->tail == UINT32_MAX)
		q->head = i;
	else
		u->opslots[q->tail].wnext = i;
	q->tail = i;
	q->n++;
}

static uint32_t
oplist_pop(struct sl_loop_uring *u, struct uring_oplist *q)
{
	uint32_t i = q->head;

	if (i == UINT32_MAX)
		return i;
	q->head = u->opslots[i].wnext;
	if (q->head == UINT32_MAX)
		q->tail = UINT32_MAX;
	q->n--;
	return i;
}

/* Takes slot <i> off <q>, wherever it is: O(length), for a cancel of a parked recv. */
static void
oplist_remove(struct sl_loop_uring *u, struct uring_oplist *q, uint32_t i)
{
	uint32_t prev = UINT32_MAX;

	for (uint32_t k = q->head; k != UINT32_MAX; prev = k, k = u->opslots[k].wnext) {
		if (k != i)
			continue;
		if (prev == UINT32_MAX)
			q->head = u->opslots[k].wnext;
		else
			u->opslots[prev].wnext = u->opslots[k].wnext;
		if (q->tail == k)
			q->tail = prev;
		q->n--;
		return;
	}
}

static void
bufs_unmap(struct uring_bufs *g)
{
	if (g->ring != NULL)
		munmap(g->ring, g->ring_bytes);
	if (g->mem != NULL)
		munmap(g->mem, g->mem_bytes);
	free(g->bufs);
	*g = (struct uring_bufs){0};
}

static void *
bufs_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * The ring is page-aligned memory of 16 bytes a buffer that the kernel reads the free buffers
 * from (liburing 2.3 has no io_uring_setup_buf_ring(): mapped and registered by hand); the
 * buffers themselves are one mapping, touched only as the kernel fills them.
 */
static int
uring_bufs_open(struct sl_loop *l, uint32_t size)
{
	struct sl_loop_uring *u = l->be;
	struct uring_bufs *g = &u->bg;
	struct io_uring_buf_reg reg;
	uint32_t count;
	int err;

	if (g->ring != NULL)
		return 0;
	if (g->failed != 0)
		return g->failed;
	/* multishot recv came with Linux 6.0, as did SEND_ZC, which send_all probes for */
	if (l->bufs < 0 || !u->send_all)
		return -EOPNOTSUPP;
	count = l->bufs != 0 ? (uint32_t)l->bufs : SL_LOOP_BUFS;
	if (count > SL_LOOP_MAX_BUFS || (count & (count - 1)) != 0 || size == 0 ||
	    size > (1u << 30) / count)
		return -EINVAL;
	g->count = count;
	g->size = size;
	g->ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
	g->mem_bytes = (size_t)count * size;
	g->ring = bufs_map(g->ring_bytes);
	g->mem = bufs_map(g->mem_bytes);
	g->bufs = calloc(count, sizeof(*g->bufs));
	if (g->ring == NULL || g->mem == NULL || g->bufs == NULL) {
		err = -ENOMEM;
		goto err_unmap;
	}
	reg = (struct io_uring_buf_reg){
	        .ring_addr = (uint64_t)(uintptr_t)g->ring, .ring_entries = count, .bgid = 0};
	err = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (err != 0)
		goto err_unmap;
	io_uring_buf_ring_init(g->ring);
	for (uint32_t i = 0; i < count; i++) {
		g->bufs[i] = (struct sl_buf){.data = g->mem + (size_t)i * size, .id = i};
		io_uring_buf_ring_add(g->ring, g->bufs[i].data, size, (unsigned short)i,
		                      io_uring_buf_ring_mask(count), (int)i);
	}
	io_uring_buf_ring_advance(g->ring, (int)count);
	return 0;

err_unmap:
	bufs_unmap(g);
	/* each session asking again would map and register the buffers again, in vain */
	g->failed = err;
	sl_log_warn("io_uring: a loop's provided-buffer group (%u buffers of %u bytes) cannot be "
	            "set up: %s; its sessions receive into buffers of their own",
	            count, size, strerror(-err));
	return err;
}

static void
uring_bufs_stats(const struct sl_loop *l, struct sl_loop_bufs_stats *st)
{
	const struct sl_loop_uring *u = l->be;

	st->count = u->bg.ring != NULL ? u->bg.count : 0;
	st->size = u->bg.ring != NULL ? u->bg.size : 0;
	st->lent = u->bg.lent;
	st->parked = u->parked.n;
	st->nobufs = u->bg.nobufs;
}

/*
 * Fills <sqe> with slot <s>'s multishot recv. Its byte limit goes in the field the kernel reads
 * it from (sqe->optlen, which liburing 2.3 calls file_index); a kernel before 6.17 refuses it
 * (-EINVAL), and multi_take() then arms it again without.
 */
static void
multi_prep(const struct sl_loop_uring *u, struct io_uring_sqe *sqe, const struct uring_opslot *s)
{
	io_uring_prep_recv_multishot(sqe, s->mfd, NULL, 0, 0);
	if (s->mfixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	if (u->mshot_lim)
		sqe->file_index = s->limit;
	io_uring_sqe_set_data64(sqe, s->op->key);
}

/* Queues the multishot recv of op slot <i> (its first arming or a re-arm after a park). */
static int
multi_arm(struct sl_loop_uring *u, uint32_t i)
{
	struct uring_opslot *s = &u->opslots[i];
	struct io_uring_sqe *sqe = sqe_get(u);

	if (sqe == NULL)
		return -ENOMEM;
	multi_prep(u, sqe, s);
	return 0;
}

/* Re-arms the longest-parked recv, if any: a buffer came back for it. */
static void
multi_unpark(struct sl_loop_uring *u)
{
	uint32_t i = oplist_pop(u, &u->parked);

	if (i == UINT32_MAX)
		return;
	u->opslots[i].wait = 0;
	/* no SQE to be had: it waits for the next buffer */
	if (multi_arm(u, i) != 0) {
		u->opslots[i].wait = URING_PARKED;
		oplist_push(u, &u->parked, i);
	}
}

/* Puts <b> back in the kernel's ring: the tail moves on after the entry is written. */
static void
uring_buf_put(struct sl_loop *l, struct sl_buf *b)
{
	struct sl_loop_uring *u = l->be;
	struct uring_bufs *g = &u->bg;

	SL_ASSERT(g->ring != NULL && b->id < g->count && g->lent > 0);
	io_uring_buf_ring_add(g->ring, b->data, g->size, (unsigned short)b->id,
	                      io_uring_buf_ring_mask(g->count), 0);
	/* R2: the entry before the tail; pairs with the kernel's acquire of the ring's tail */
	io_uring_buf_ring_advance(g->ring, 1);
	g->lent--;
	b->next = NULL;
	multi_unpark(u);
}

static int
uring_recv_multi(struct sl_loop *l, struct sl_op *op, int fd, uint32_t limit)
{
	struct sl_loop_uring *u = l->be;
	struct io_uring_sqe *sqe;
	struct uring_opslot *s;
	int err;

	if (u->bg.ring == NULL)
		return -EOPNOTSUPP;
	err = op_queue(u, op, &sqe);
	if (err != 0)
		return err;
	s = op_slot(u, op);
	s->multi = true;
	/* filled by multi_arm(), which re-arms from what the slot says */
	io_uring_prep_nop(sqe);
	sqe->fd = fd;
	sqe_file(u, sqe, s, 0);
	s->mfd = sqe->fd;
	s->mfixed = (sqe->flags & IOSQE_FIXED_FILE) != 0;
	s->limit = limit;
	multi_prep(u, sqe, s);
	return 0;
}

/*
 * MSG_DONTWAIT: a socket without room fails it (-EAGAIN, or the bytes that went) instead of
 * arming a poll, so the request is over by the time its submission is; MSG_WAITALL makes a short
 * send a failure (send_all), and a failure is all that posts a CQE.
 */
static int
uring_send_quiet(struct sl_loop *l, struct sl_op *op, int fd, const void *buf, size_t len)
{
	struct sl_loop_uring *u = l->be;
	struct io_uring_sqe *sqe;
	uint32_t i;
	int err;

	/* a parked recv waits for a buffer a quiet send may hold until the next wake-up */
	if (!u->send_all || len == 0 || len > INT_MAX || u->parked.n != 0)
		return -EOPNOTSUPP;
	err = op_queue(u, op, &sqe);
	if (err != 0)
		return err;
	i = (uint32_t)op->key & ~URING_OP_BIT;
	u->opslots[i].sent = (int)len;
	u->opslots[i].wait = URING_QUIET;
	oplist_push(u, &u->quiet, i);
	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
	sqe_file(u, sqe, &u->opslots[i], 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, op->key);
	return 0;
}

static void
uring_op_hurry(struct sl_loop *l, struct sl_op *op)
{
	struct sl_loop_uring *u = l->be;
	struct uring_opslot *s = op_slot_of(u, op);

	if (s != NULL && s->wait == URING_QUIET)
		u->hurry = true;
}

static void uring_quiesce(struct sl_loop *l);

/* Queues the cancel of the request tagged <key>; its own result is not wanted. */
static int
cancel_key(struct sl_loop_uring *u, uint64_t key)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_cancel64(sqe, key, 0);
	io_uring_sqe_set_data64(sqe, URING_REMOVE_TAG);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	return 0;
}

/*
 * A pair's send first: still in flight, its cancel fails the link and its completion is the op's
 * (the recv, never started, is dropped with it); done, it is not found and the recv's cancel that
 * follows finds the recv. Either way the op's one callback comes after the send let go of the
 * buffer.
 */
static int
op_cancel_queue(struct sl_loop_uring *u, struct sl_op *op)
{
	struct uring_opslot *s = op_slot_of(u, op);
	uint32_t i = (uint32_t)op->key & ~URING_OP_BIT;
	int err = 0;

	/* its last completion is in this batch: nothing of it is left to cancel (the slot's
	 * next op must not be touched) */
	if (s == NULL)
		return 0;
	/* a parked recv has no request in the kernel: its callback comes with the next wait */
	if (s->wait == URING_PARKED) {
		oplist_remove(u, &u->parked, i);
		s->wait = URING_DONE;
		oplist_push(u, &u->done, i);
	}
	if (s->wait == URING_DONE) {
		s->cancelled = true;
		return 0;
	}
	/* a quiet send is over once submitted: nothing to cancel, only its report to hurry */
	if (s->wait == URING_QUIET) {
		s->cancelled = true;
		u->hurry = true;
		return 0;
	}
	if (s->pair)
		err = cancel_key(u, op->key | URING_OP_SEND_BIT);
	if (err == 0)
		err = cancel_key(u, op->key);
	if (err == 0)
		s->cancelled = true;
	return err;
}

static int
uring_cancel(struct sl_loop *l, struct sl_op *op)
{
	int err = op_cancel_queue(l->be, op);

	if (err != 0)
		return err;
	/* the op holds its file (and its buffer): a loop that may not wait again submits now */
	if (!l->running)
		uring_quiesce(l);
	return 0;
}

/* The cancels go in with the caller's next wait (sl_loop_settle()), not one enter each. */
static void
uring_cancel_all(struct sl_loop *l)
{
	struct sl_loop_uring *u = l->be;

	for (uint32_t i = 0; i < u->nopslots; i++) {
		struct uring_opslot *s = &u->opslots[i];

		/* no SQE for it: the next round tries again */
		if (s->op != NULL && !s->cancelled)
			(void)op_cancel_queue(u, s->op);
	}
}

/*
 * A completion of multishot recv slot <i>: the buffer it names, if any, goes with it (or straight
 * back, with no bytes in it); -ENOBUFS, the group found empty, parks the recv instead (a buffer
 * put back re-arms it), unless a cancel of it is on its way. false when the batch is full.
 */
static bool
multi_take(struct sl_loop *l, struct sl_loop_uring *u, uint32_t i, int res, unsigned cflags,
           unsigned *n)
{
	struct uring_opslot *s = &u->opslots[i];
	bool more = (cflags & IORING_CQE_F_MORE) != 0;
	struct sl_buf *b = NULL;

	if (res == -EINVAL && !more && s->limit != 0 && u->mshot_lim) {
		/* a kernel that knows no byte limit: this loop's recvs go without one */
		u->mshot_lim = false;
		if (multi_arm(u, i) == 0)
			return true;
	}
	if (res == -ENOBUFS && !more) {
		if (!s->cancelled && !(s->op->flags & SL_OP_NO_PARK)) {
			u->bg.nobufs++;
			s->wait = URING_PARKED;
			oplist_push(u, &u->parked, i);
			/* buffers came back since the kernel looked: no put is left to re-arm it */
			if (u->bg.lent < u->bg.count)
				multi_unpark(u);
			return true;
		}
		if (*n == l->max_events)
			return false;
		u->bg.nobufs++;
		if (s->cancelled)
			res = -ECANCELED;
	}
	if (*n == l->max_events)
		return false;
	/* what is left of the limit, for a re-arm after a park (0 would mean none) */
	if (res > 0 && s->limit != 0)
		s->limit = (uint32_t)res < s->limit ? s->limit - (uint32_t)res : 1;
	if ((cflags & IORING_CQE_F_BUFFER) && (cflags >> IORING_CQE_BUFFER_SHIFT) < u->bg.count) {
		b = &u->bg.bufs[cflags >> IORING_CQE_BUFFER_SHIFT];
		b->len = res > 0 ? (uint32_t)res : 0;
		b->off = 0;
		b->next = NULL;
		u->bg.lent++;
		if (res <= 0) {
			uring_buf_put(l, b);
			b = NULL;
		}
	}
	l->batch[*n].io = NULL;
	l->batch[*n].events = (unsigned)res;
	l->batch[*n].op = s->op;
	l->batch[*n].buf = b;
	l->batch[*n].more = more;
	(*n)++;
	if (!more)
		op_slot_put(u, i);
	return true;
}

/* An op's completion: a batch entry of its own. false when the batch is full. */
static bool
op_take(struct sl_loop *l, struct sl_loop_uring *u, uint64_t key, int res, unsigned cflags,
        unsigned *n)
{
	uint32_t i = (uint32_t)key & ~(URING_OP_BIT | URING_OP_SEND_BIT);
	struct uring_opslot *s;

	if (i >= u->nopslots)
		return true;
	s = &u->opslots[i];
	if (s->op == NULL || s->gen != (uint32_t)(key >> 32))
		return true;
	if (s->multi)
		return multi_take(l, u, i, res, cflags, n);
	if (*n == l->max_events)
		return false;
	if (s->wait == URING_QUIET) { /* it did not send everything at once */
		oplist_remove(u, &u->quiet, i);
		s->wait = 0;
	}
	if (key & URING_OP_SEND_BIT) {
		/*
		 * A pair's send failed (or moved only part): that fails the link, and the recv is
		 * cancelled without a completion of its own (a link with a CQE_SKIP_SUCCESS member
		 * skips those), so this one is the op's.
		 */
		s->op->sent = res;
		res = -ECANCELED;
	} else if (s->pair) {
		s->op->sent = s->sent;
	}
	l->batch[*n].io = NULL;
	l->batch[*n].events = (unsigned)res;
	l->batch[*n].op = s->op;
	l->batch[*n].buf = NULL;
	l->batch[*n].more = false;
	(*n)++;
	op_slot_put(u, i);
	return true;
}

/*
 * Whether every SQE queued so far is in the kernel's hands: none waits in the side array or in
 * the SQ (the kernel moves the SQ head as it takes them, inside io_uring_enter() on this thread).
 */
static bool
sq_all_taken(struct sl_loop_uring *u)
{
	return u->npend == 0 && u->ring.sq.sqe_tail == *u->ring.sq.khead;
}

/*
 * Reports op slot <i>, just taken off a list (quiet or done), as ended with <res> in batch entry
 * <n>, and frees the slot. Returns the next free entry.
 */
static unsigned
list_op_report(struct sl_loop *l, struct sl_loop_uring *u, uint32_t i, int res, unsigned n)
{
	u->opslots[i].wait = 0;
	l->batch[n].io = NULL;
	l->batch[n].events = (unsigned)res;
	l->batch[n].op = u->opslots[i].op;
	l->batch[n].buf = NULL;
	l->batch[n].more = false;
	op_slot_put(u, i);
	return n + 1;
}

/*
 * Reports the quiet sends that are over: once submitted, a quiet send has been issued (never
 * deferred: MSG_DONTWAIT makes the kernel complete it rather than wait for room), and it posts a
 * CQE only when it did not send everything. So with every SQE taken and every CQE harvested (none
 * left in the CQ or in the kernel's overflow list), one still on the list sent all of its bytes.
 */
static unsigned
quiet_harvest(struct sl_loop *l, struct sl_loop_uring *u, unsigned n)
{
	if (u->quiet.n == 0 || !sq_all_taken(u) || io_uring_cq_ready(&u->ring) != 0 ||
	    (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		return n;
	while (n < l->max_events && u->quiet.n != 0) {
		uint32_t i = oplist_pop(u, &u->quiet);

		n = list_op_report(l, u, i, u->opslots[i].sent, n);
	}
	return n;
}

/* Reports the parked recvs a cancel ended (the done list) while the batch has room. */
static unsigned
done_harvest(struct sl_loop *l, struct sl_loop_uring *u, unsigned n)
{
	while (n < l->max_events && u->done.n != 0) {
		uint32_t i = oplist_pop(u, &u->done);

		n = list_op_report(l, u, i, -ECANCELED, n);
	}
	return n;
}

/*
 * Takes one completion into the batch (l->batch[0..*n)). false when it needs a batch entry and
 * the batch is full: the caller leaves it in the CQ for the next wait.
 */
static bool
cqe_take(struct sl_loop *l, struct sl_loop_uring *u, const struct io_uring_cqe *cqe, unsigned *n)
{
	uint64_t key = io_uring_cqe_get_data64(cqe);
	uint32_t gen = (uint32_t)(key >> 32), fd = (uint32_t)key;
	bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	struct uring_slot *s;
	unsigned events;

	if (gen == URING_REMOVE_TAG)
		return true;
	if (fd & URING_OP_BIT)
		return op_take(l, u, key, cqe->res, cqe->flags, n);
	if (fd >= u->nslots)
		return true;
	s = &u->slots[fd];
	/* a request of a deleted, forgotten, modified or re-added io: not this registration */
	if (s->io == NULL || s->gen != gen)
		return true;
	if (cqe->res == -ECANCELED) {
		/* cancelled by the kernel, not by us (ours change gen): poll again */
		if (!more) {
			s->armed = false;
			(void)slot_arm(u, (int)fd);
		}
		return true;
	}
	/* an error (bad fd, unpollable file): report it, a read() or write() will say what */
	events = cqe->res < 0 ? SL_IO_HUP | SL_IO_READ : sl__loop_poll_events((unsigned)cqe->res);
	if (events != 0 && s->batch_seq != u->seq) {
		if (*n == l->max_events)
			return false;
		s->batch_seq = u->seq;
		s->batch_idx = *n;
		l->batch[*n].io = s->io;
		l->batch[*n].events = 0;
		l->batch[*n].op = NULL;
		(*n)++;
	}
	if (events != 0)
		l->batch[s->batch_idx].events |= events;
	if (!more) {
		/* one-shot (level) reported, or multishot ended (e.g. CQ overflow): poll again; an
		 * error ends it for good, the owner learns of it through the report above */
		s->armed = false;
		if (cqe->res >= 0)
			(void)slot_arm(u, (int)fd);
	}
	return true;
}

/* Moves completions into the batch until the CQ is empty or the batch full. */
static unsigned
cq_harvest(struct sl_loop *l, struct sl_loop_uring *u, unsigned n)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		if (!cqe_take(l, u, cqe, &n))
			break;
		seen++;
	}
	io_uring_cq_advance(&u->ring, seen);
	return n;
}

static int
uring_wait(struct sl_loop *l, int timeout_ms)
{
	struct sl_loop_uring *u = l->be;
	unsigned n = 0;
	int err;

	if (!u->enabled) {
		/* the first wait runs on the loop thread: it becomes the ring's only issuer */
		if (u->single_issuer) {
			/* by hand: Debian's liburing 2.3 does not export io_uring_enable_rings() */
			err = io_uring_register((unsigned)u->ring.ring_fd,
			                        IORING_REGISTER_ENABLE_RINGS, NULL, 0);
			if (err < 0)
				return err;
			u->issuer = pthread_self();
		}
		u->enabled = true;
	}
	/* a wait outside sl_loop_run() (a thread closing its sockets after it) does not register */
	if (!u->reg_tried && l->running)
		ring_fd_register(u);
	/* a failure leaves the rest pending: the enter below reports a ring that is broken */
	(void)pend_flush(u);
	/* a wrapped batch number could match a slot's from 2^32 waits ago: start over */
	if (++u->seq == 0) {
		for (unsigned i = 0; i < u->nslots; i++)
			u->slots[i].batch_seq = 0;
		u->seq = 1;
	}
	if (u->quiet.n == 0)
		u->hurry = false;
	/* completions left over from a full batch, cancelled parked recvs, quiet sends submitted
	 * by an earlier wait or awaited (sl_loop_op_hurry()): report them without blocking (other
	 * quiet sends this enter submits are reported with what wakes it) */
	err = uring_enter(u,
	                  io_uring_cq_ready(&u->ring) != 0 || u->done.n != 0 || u->hurry ||
	                                  (u->quiet.n != 0 && sq_all_taken(u)) || timeout_ms == 0
	                          ? 0
	                          : 1,
	                  timeout_ms);
	if (err != 0)
		return err;
	n = done_harvest(l, u, n);
	n = cq_harvest(l, u, n);
	/*
	 * Completions the CQ had no room for wait in the kernel's overflow list; a GETEVENTS
	 * enter moves them in. Bounded: each round either fills the batch or empties the list.
	 */
	for (int i = 0; i < 8 && n < l->max_events &&
	                (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW);
	     i++) {
		err = uring_enter(u, 0, 0);
		if (err != 0)
			return err;
		n = cq_harvest(l, u, n);
	}
	return (int)quiet_harvest(l, u, n);
}

/* Ring sizes for a loop fetching <max_events> per wait: completions can outnumber ios. */
static void
ring_sizes(unsigned max_events, unsigned *sq, unsigned *cq)
{
	unsigned s = max_events < 32 ? 64 : max_events * 2;
	unsigned c = max_events < 16 ? 256 : max_events * 16;

	*sq = s > 4096 ? 4096 : s;
	*cq = c > 65536 ? 65536 : c;
}

/*
 * Creates <ring>: single issuer with deferred task work (completions run only when the
 * issuer enters, no interrupting task work) on kernels that have it, else cooperative task
 * running, else plain. SINGLE_ISSUER rings start disabled: sl_loop_create() may run on another
 * thread than the loop, and the issuer is whoever enables the ring.
 */
static int
ring_create(struct io_uring *ring, unsigned max_events, bool *single_issuer)
{
	static const unsigned flavours[] = {
	        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
	                IORING_SETUP_SUBMIT_ALL,
	        IORING_SETUP_COOP_TASKRUN,
	        0,
	};
	unsigned sq, cq;
	int err = -EINVAL;

	ring_sizes(max_events, &sq, &cq);
	for (size_t i = 0; i < sizeof(flavours) / sizeof(flavours[0]); i++) {
		struct io_uring_params p = {
		        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | flavours[i],
		        .cq_entries = cq,
		};

		err = io_uring_queue_init_params(sq, ring, &p);
		if (err == 0) {
			*single_issuer = (flavours[i] & IORING_SETUP_SINGLE_ISSUER) != 0;
			return 0;
		}
		/* only an unknown flag is worth another flavour */
		if (err != -EINVAL)
			return err;
	}
	return err;
}

/* Checks that <ring> can do what this backend needs; 0 or negative errno, *why says what. */
static int
ring_check(struct io_uring *ring, const char **why)
{
	const unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP;
	struct io_uring_probe *probe;
	bool ok;

	/* CQE_SKIP (5.17) also implies multishot poll (5.13), which has no flag of its own */
	if ((ring->features & need) != need) {
		*why = "kernel lacks io_uring NODROP, EXT_ARG or CQE_SKIP (needs Linux 5.17)";
		return -EOPNOTSUPP;
	}
	probe = io_uring_get_probe_ring(ring);
	if (probe == NULL) {
		*why = "io_uring opcode probe failed";
		return -EOPNOTSUPP;
	}
	ok = io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
	     io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) &&
	     io_uring_opcode_supported(probe, IORING_OP_RECV) &&
	     io_uring_opcode_supported(probe, IORING_OP_SEND);
	io_uring_free_probe(probe);
	if (!ok) {
		*why = "io_uring lacks POLL_ADD, ASYNC_CANCEL, RECV or SEND";
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Whether a MSG_WAITALL send on a stream socket either sends everything or fails (Linux 5.19
 * retries a short one); SEND_ZC (6.0) is the nearest opcode to probe for it.
 */
static bool
kernel_sends_all(struct io_uring *ring)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	bool ok;

	if (probe == NULL)
		return false;
	ok = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
	io_uring_free_probe(probe);
	return ok;
}

/* Set once a ring was refused for the locked-memory limit (ring_create_why() said so). */
static atomic_bool memlock_short;

bool
sl_loop_io_uring_memlock_short(void)
{
	/* relaxed: a flag for a message, set before the failure it explains is returned */
	return atomic_load_explicit(&memlock_short, memory_order_relaxed);
}

/*
 * Why ring_create() failed with <err>, in <buf> when it is the locked memory its rings take:
 * RLIMIT_MEMLOCK bounds it for a process without CAP_IPC_LOCK (root has it unless dropped).
 */
static const char *
ring_create_why(int err, char *buf, size_t size)
{
	struct rlimit rl;

	if (err != -ENOMEM || geteuid() == 0 || getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return "io_uring_queue_init failed";
	/* relaxed: as in sl_loop_io_uring_memlock_short() */
	atomic_store_explicit(&memlock_short, true, memory_order_relaxed);
	snprintf(buf, size,
	         "io_uring_queue_init failed (its rings take locked memory, which RLIMIT_MEMLOCK "
	         "bounds for a process without CAP_IPC_LOCK; the locked-memory limit, ulimit -l, "
	         "is %llu KiB: raise ulimit -l, or systemd's LimitMEMLOCK=, e.g. to 8M)",
	         (unsigned long long)(rl.rlim_cur >> 10));
	return buf;
}

int
sl_loop_probe_io_uring(const char **why)
{
	static _Thread_local char buf[256];
	struct io_uring ring;
	const char *dummy;
	bool si;
	int err;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	err = ring_create(&ring, 256, &si);
	if (err != 0) {
		*why = ring_create_why(err, buf, sizeof(buf));
		return err;
	}
	err = ring_check(&ring, why);
	io_uring_queue_exit(&ring);
	return err;
}

static int
uring_init(struct sl_loop *l)
{
	struct sl_loop_uring *u;
	const char *why;
	int err;

	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	err = ring_create(&u->ring, l->max_events, &u->single_issuer);
	if (err != 0) {
		char buf[256];

		/* the probe made one ring; the workers' many may not fit where it did */
		if (!l->probing)
			sl_log_error("io_uring: a ring of %u entries: %s", l->max_events,
			             ring_create_why(err, buf, sizeof(buf)));
		goto err_free;
	}
	err = ring_check(&u->ring, &why);
	if (err != 0)
		goto err_exit_ring;
	u->enabled = !u->single_issuer;
	u->op_free = UINT32_MAX;
	u->send_all = kernel_sends_all(&u->ring);
	/* SEND_ZC (6.0) is newer than POLL_FIRST (5.19), which has no probe of its own */
	u->poll_first = u->send_all;
	files_init(u, l->max_files);
	oplist_init(&u->parked);
	oplist_init(&u->done);
	oplist_init(&u->quiet);
	u->mshot_lim = true; /* until a kernel refuses it */
	u->reg_fd = -1;
	l->be = u;
	return 0;

err_exit_ring:
	io_uring_queue_exit(&u->ring);
err_free:
	free(u);
	return err;
}

static void
uring_fini(struct sl_loop *l)
{
	struct sl_loop_uring *u = l->be;

	/* a run that never returned (its thread's exit drops it anyway) */
	ring_fd_unregister(u);
	/* closing the ring ends every poll request and drops the files they hold */
	io_uring_queue_exit(&u->ring);
	bufs_unmap(&u->bg);
	free(u->pend);
	free(u->slots);
	free(u->opslots);
	free(u->files);
	free(u);
	l->be = NULL;
}

bool
sl__loop_uring_registered(const struct sl_loop *l)
{
	const struct sl_loop_uring *u = l->be;
	unsigned flags = 0;

	if (l->ops != &sl__loop_uring_ops)
		return false;
	(void)enter_fd(u, &flags);
	return (flags & IORING_ENTER_REGISTERED_RING) != 0;
}

const struct sl_loop_ops sl__loop_uring_ops = {
        .name = "io_uring",
        .init = uring_init,
        .fini = uring_fini,
        .add = uring_add,
        .mod = uring_mod,
        .del = uring_del,
        .forget = uring_forget,
        .wait = uring_wait,
        .quiesce = uring_quiesce,
        .recv = uring_recv,
        .send = uring_send,
        .send_quiet = uring_send_quiet,
        .op_hurry = uring_op_hurry,
        .cancel = uring_cancel,
        .send_recv = uring_send_recv,
        .cancel_all = uring_cancel_all,
        .file_add = uring_file_add,
        .file_del = uring_file_del,
        .bufs_open = uring_bufs_open,
        .bufs_stats = uring_bufs_stats,
        .recv_multi = uring_recv_multi,
        .buf_put = uring_buf_put,
};
