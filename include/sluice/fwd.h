/* SPDX-License-Identifier: MIT */
/*
 * Forwarders: move bytes both ways between two connected nonblocking sockets, with bounded
 * buffering (backpressure), half-close propagation and reset detection. Variants sit behind
 * struct sl_fwd_ops (fwd_splice.c: splice through a pipe per direction; fwd_copy.c: recv/send
 * through pooled buffers; fwd_auto.c: copy, and splice a direction while it carries bulk;
 * fwd_uring.c: recv/send ops on an io_uring loop; fwd_sockmap.c: the kernel moves the bytes
 * through an eBPF sockmap). fwd.c holds the generic driver.
 *
 * Driving: the owner registers both fds once, READ|WRITE edge-triggered, and hands every
 * readiness event to sl_fwd_on_events(). The forwarder keeps per-fd readable/writable flags and
 * works each fd until EAGAIN (or a short read/write, which the kernel will signal again), so
 * no epoll_ctl is needed while forwarding, except where the kernel moves the bytes (sockmap:
 * f->rewatch, sl_fwd_interest()). It never closes the fds: its owner does.
 *
 * Fairness: with an owner set (sl_fwd_set_owner()), a direction reads at most a budget of
 * bytes per call (env->budget, SL_FWD_BUDGET by default; a read is cut to what is left), so
 * one bulk session cannot hold its worker; it then queues a defer on the owner's loop that
 * calls the owner's io callback again with no events, and goes on from there. No edge is lost:
 * the readable flag stays set until a read says EAGAIN.
 *
 * Thread safety: a forwarder, its pipe cache and its pool belong to one thread (a worker).
 */
#ifndef SLUICE_FWD_H
#define SLUICE_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>
#include <sluice/loop.h>

struct sl_pool;
struct sl_pipe_cache;
struct sl_fwd;

/* Sides of a session; direction d carries bytes read from side d to side !d. */
enum sl_fwd_side {
	SL_FWD_CLIENT = 0,
	SL_FWD_SERVER = 1,
};

/* What sl_fwd_on_events() returns (besides a negative errno: see there). */
enum sl_fwd_status {
	SL_FWD_RUNNING = 0,   /* both directions still open */
	SL_FWD_HALF_DONE = 1, /* one direction finished (EOF read and propagated), one flows */
	SL_FWD_DONE = 2,      /* both directions finished: close both fds normally now; the
	                       * last FIN is left to that close() */
};

/*
 * A variant.
 *  attach: prepares the directions; 0 or negative errno. Buffers and pipes are taken from
 *          f->env only while a direction has bytes in flight (the pump takes and returns them),
 *          so an idle session holds none (auto: a direction splicing keeps its pipe).
 *  detach: gives back what is held (bytes still held are dropped); safe after a failed attach.
 *  pump:   moves what it can for direction <d> (see the flags in struct sl_fwd); returns 0, or
 *          a negative errno for the side whose syscall failed, recorded in f->err_side
 *          (-ENOMEM or -EMFILE: no buffer or pipe to be had for direction <d>'s read). It
 *          returns -EINVAL without moving anything if the kernel refuses the variant for these
 *          fds (sl_fwd_on_events() then falls back to copying).
 */
struct sl_fwd_ops {
	const char *name;
	int (*attach)(struct sl_fwd *f);
	void (*detach)(struct sl_fwd *f);
	int (*pump)(struct sl_fwd *f, unsigned d);
	/* optional: sl_fwd_hold() changed f->hold (uring: stop or restart the ops in flight) */
	void (*hold)(struct sl_fwd *f);
	/*
	 * Driven by completions (uring): once sl_fwd_start() returned with this variant in f->ops,
	 * the owner need not watch the fds for readiness (each wake-up would cost a callback for
	 * nothing); the variant calls the owner back through the resume when a direction ends or a
	 * side fails, and when each direction delivers its first bytes.
	 */
	bool completion;
	/* optional: an op of <f> is in flight (uring: the kernel may still use a socket and a
	 * buffer of it); see sl_fwd_settled() */
	bool (*busy)(const struct sl_fwd *f);
	/* optional: brings d[].bytes up to date with bytes moved outside the process (sockmap);
	 * see sl_fwd_sync() */
	void (*sync)(struct sl_fwd *f);
	/* optional: the events the owner should watch side's fd for now; see sl_fwd_interest() */
	unsigned (*interest)(const struct sl_fwd *f, unsigned side);
	/* its bytes sit in the kernel's queues, out of the process's reach: the session cannot
	 * move to another process (sl_fwd_movable()) */
	bool pinned;
};

SL_API extern const struct sl_fwd_ops sl_fwd_splice_ops;
SL_API extern const struct sl_fwd_ops sl_fwd_copy_ops;
SL_API extern const struct sl_fwd_ops sl_fwd_auto_ops;
/*
 * Completions instead of readiness: each direction keeps a multishot recv into the loop's
 * provided-buffer group and the send of what it delivered in flight (where the loop has no
 * group: a recv, then a send) on the owner's loop (sl_loop_recv_multi(), sl_loop_send()), so it
 * needs sl_fwd_set_owner() and a loop on
 * the io_uring runtime; on any other its first pump returns -EINVAL (the fallback to copy).
 * Readiness events are harmless to it and not needed. A completion that finishes a direction
 * or fails a side queues the owner's resume (f->resume: the owner's io callback with no
 * events), whose sl_fwd_on_events() then reports it. Each direction holds a pooled block from
 * its first pump until detach, which cancels what is in flight; the block goes back to the pool
 * from the op's last completion. A send is counted in sl_fwd_bytes() when the loop next wakes
 * (multishot: a quiet send, sl_loop_send_quiet()) or when the recv linked to it completes
 * (single-shot: sl_loop_send_recv()): until then its bytes stay in d[].pending, so an idle
 * session shows its last reply in flight; sl_fwd_hold() cancels the recvs, which settles the
 * count. Bandwidth limits and the budget do not apply; an owner with limits uses copy.
 */
SL_API extern const struct sl_fwd_ops sl_fwd_uring_ops;
/*
 * The kernel moves the bytes: both sockets go into env->sockmap's sockhash, and an eBPF verdict
 * program (src/bpf/sockmap_fwd.bpf.c) redirects every segment that arrives on one to the
 * other's egress, counting the bytes in the direction's slot. The process only watches for the
 * end: a side's EOF is passed on (shutdown(SHUT_WR)) once the kernel has handed every byte the
 * verdict redirected to the destination's send queue, and a reset resets the other side, as
 * with the other variants. Needs sl_fwd_set_owner() (the end of a direction may wait on a timer)
 * and env->sockmap; without them the first pump returns -EINVAL (the fallback to copy); with no
 * slot free, a map that refuses the client's socket, or more than a buffer queued on a socket
 * the owner read first (sl_fwd_note_consumed()), sl_fwd_start() moves the session to the copy
 * variant at once, keeping what it read (env->fallbacks counts both). A direction is copied by the
 * process, in order, while the verdict keeps its segments for it (one came before the redirect
 * was on, or the destination fell SL_SOCKMAP_LAG_MAX behind), and handed back to the kernel
 * once the process has delivered them; a session whose server socket the map refused is
 * copied whole. sl_fwd_bytes() is current after sl_fwd_sync(); sl_fwd_interest() narrows the
 * owner's watch while the kernel moves the bytes. Pinned: a session forwarded so ends in the
 * process that began it. Bandwidth limits and the budget do not apply; an owner with limits
 * uses another variant.
 */
SL_API extern const struct sl_fwd_ops sl_fwd_sockmap_ops;

/*
 * Bytes a direction reads per call by default: one 256 KiB pipe-full (the default pipe_size),
 * or 16 reads of the default 16 KiB buffer. Splicing or copying that much costs tens of
 * microseconds, which bounds what a small session waits behind each bulk one; the extra trip
 * through the loop (one epoll_wait that does not block) is a few percent of it.
 */
#define SL_FWD_BUDGET (256u * 1024u)

/*
 * Bandwidth limits, supplied by the owner (the forwarder knows no rates): before direction d of a
 * forwarder marked limited (sl_fwd_set_limited()) reads, take() grants it at most <want> bytes
 * (its budget); the direction reads no more than that, and put() gets back what it did not read
 * (one take and at most one put per pump call: the owner's buckets are touched per batch of
 * reads, not per read). A direction granted nothing, or that spent its grant with input left,
 * stops reading: no read, no buffering, so the kernel's receive window closes on the sender.
 * Then pause() tells the owner, which calls sl_fwd_resume() once the limit lets bytes through
 * again (a timer). Bytes already read are still written meanwhile.
 */
struct sl_fwd_limiter {
	uint32_t (*take)(struct sl_fwd *f, unsigned d, uint32_t want);
	void (*put)(struct sl_fwd *f, unsigned d, uint32_t unused);
	void (*pause)(struct sl_fwd *f, unsigned d);
};

/*
 * sockmap: a session in the kernel's maps, as the process knows it (fwd_sockmap.c). Kept by the
 * worker, one per slot pair, so that struct sl_fwd carries only the pair's number.
 */
struct sl_fwd_sockmap_pair {
	struct sl_fwd *owner; /* the forwarder using the pair; NULL while free */
	uint64_t cookie[2];   /* by side: the socket's cookie, its key in the maps */
	uint64_t taken0[2];   /* by side: bytes its socket had taken to send at attach */
	uint64_t base[2];     /* by direction: its count at attach (a session moved in) */
	uint64_t copied[2];   /* by direction: bytes the process delivered, while it was PASS */
	struct sl_timer wait; /* a direction waits for its redirected bytes to leave */
	uint8_t mode[2];      /* by direction: enum sl_sockmap_mode as the process knows it */
	uint8_t draining;     /* bit d: direction d turned to PASS; its redirected bytes to leave */
	uint8_t wait_ms;      /* the wait timer's next delay */
	bool both_in; /* both sockets went into the sockhash (the server's may be refused) */
};

/*
 * sockmap: the kernel's maps (loaded by the owner: src/proxy/sockmap.c), and the direction slots
 * one worker may use: pairs <first> to <first> + <cap> - 1, slots 2p (the client's direction)
 * and 2p+1 (the server's). Free pairs come from <free>, a FIFO ring, so a slot is reused as late
 * as possible. While a session of the worker is in the maps, the sweep looks every few tens of
 * milliseconds for a direction the verdict turned to PASS (its reader fell behind), which no
 * readiness event reports (the fds are watched for hang-ups only meanwhile).
 */
struct sl_sockmap_dir; /* src/bpf/sockmap_dir.h */
struct sl_fwd_sockmap {
	int socks_fd;                      /* sockhash: socket cookie -> socket */
	int index_fd;                      /* hash: socket cookie -> its direction's slot */
	struct sl_sockmap_dir *dirs;       /* every slot, a mapping of the kernel's array */
	struct sl_fwd_sockmap_pair *pairs; /* [cap]: pair <first> + i at i */
	uint32_t *free;                    /* [cap]: free pairs, from <head> for <nfree> */
	uint32_t first, cap, head, nfree;
	struct sl_timer sweep; /* armed while a pair is in use */
	struct sl_loop *loop;  /* the sweep's: the owners' loop */
	uint64_t sessions;     /* sessions whose sockets went into the maps */
	uint64_t refused;      /* sessions that ran as copy: no free slot, a map said no, or more
	                        * than a buffer queued behind a header (sl_fwd_note_consumed()) */
};

/* Per-worker resources forwarders draw from; owned by the worker, outlives its forwarders. */
struct sl_fwd_env {
	struct sl_pipe_cache *pipes; /* splice, auto: pipe pairs of the configured size */
	struct sl_pool *buffers;     /* copy, auto: blocks of <buffer_size> bytes */
	uint32_t buffer_size;
	uint32_t budget; /* bytes a direction reads per call (owner set); 0 = SL_FWD_BUDGET */
	const struct sl_fwd_limiter *limiter; /* for forwarders marked limited; NULL: none */
	uint64_t fallbacks;                   /* splice -> copy fallbacks (EINVAL), this worker */
	uint64_t to_splice; /* auto: directions switched from copying to splicing */
	uint64_t to_copy;   /* auto: directions switched back from splicing to copying */
	/* uring: blocks of detached forwarders the kernel still holds (a cancel in flight); the
	 * owner of <buffers> destroys it only at 0. <drained>, if set, is queued on the loop
	 * (and cleared) when the count reaches 0. */
	uint32_t orphans;
	struct sl_defer *drained;
	struct sl_fwd_sockmap *sockmap; /* sockmap: the worker's maps and slots; NULL: none */
};

/* One direction's state. */
struct sl_fwd_dir {
	int pipe[2];       /* splice: [0] read end, [1] write end; -1 when none held */
	char *buf;         /* copy: buffer of env->buffer_size bytes (uring: the pool block, its
	                    * op at the head); NULL when none held */
	uint32_t head;     /* copy: first byte not yet sent */
	uint32_t pending;  /* bytes held (in the pipe or the buffer), read but not yet sent */
	uint32_t capacity; /* most bytes this direction may hold: the backpressure bound */
	bool eof;          /* the source side returned EOF */
	bool shut;         /* shutdown(SHUT_WR) sent to the destination: direction finished */
	bool bulk;         /* auto, copying: a read filled the buffer; splice once it is empty */
	uint8_t small;     /* auto, splicing: drained bursts in a row that the buffer would take */
	uint32_t burst;    /* splice: bytes spliced in since the socket last drained */
	uint32_t quota;    /* bytes it may still read in the current call (the budget's rest) */
	uint64_t bytes;    /* bytes delivered to the destination */
};

/* sl_fwd.kernel, beside its direction bits (see there). */
#define SL_FWD_KERNEL_DECLINED (1u << 2)

struct sl_fwd {
	const struct sl_fwd_ops *ops;
	struct sl_fwd_env *env;
	int fd[2];        /* enum sl_fwd_side -> fd; not owned */
	bool readable[2]; /* the fd may have bytes or EOF to read (cleared on EAGAIN) */
	bool writable[2]; /* the fd may take bytes (cleared on EAGAIN or a short write) */
	bool hup[2];      /* the loop reported HUP/RDHUP: read to EOF, no short-read shortcut */
	bool attached;    /* ops->attach succeeded */
	uint8_t consumed; /* bit side: the owner read that socket first (sl_fwd_note_consumed()) */
	int err;          /* first fatal error (negative errno), 0 while none */
	int8_t err_side;  /* enum sl_fwd_side whose syscall failed; valid when err != 0 */
	uint8_t more;     /* bit d: direction d stopped at its budget with input left */
	uint8_t limited;  /* bit d: direction d reads what env->limiter grants */
	uint8_t paused;   /* bit d: direction d stopped at its bandwidth limit with input left */
	bool hold;        /* sl_fwd_hold(): read nothing, deliver what is held */
	uint8_t held_limited; /* <limited> before the hold, which sets every bit */
	/* bit side: sl_fwd_interest() changed for that side; the owner clears it as it follows */
	uint8_t rewatch;
	/* sockmap: bit d, the kernel moved every byte of direction d; SL_FWD_KERNEL_DECLINED:
	 * the session copies because a peer had ended before the maps could take the sockets (a
	 * client that closed first), which is no fallback for the owner to count */
	uint8_t kernel;
	uint32_t sockmap_pair; /* sockmap: the session's pair of slots; UINT32_MAX: none */
	struct sl_fwd_dir d[2];
	struct sl_loop *loop;   /* the owner's (sl_fwd_set_owner()); NULL: no budget, no stamps */
	struct sl_io *io;       /* the owner's io whose callback the resume calls */
	struct sl_defer resume; /* queued on <loop> while a direction waits for its next turn */
	uint64_t moved_ms[2];   /* loop clock when bytes last moved through side's socket; 0 */
};

/*
 * Prepares <f> to forward between <client_fd> and <server_fd> with <ops>; takes no resources
 * yet (see sl_fwd_start()). Both fds start marked writable and not readable.
 */
SL_API void sl_fwd_init(struct sl_fwd *f, const struct sl_fwd_ops *ops, struct sl_fwd_env *env,
                        int client_fd, int server_fd);

/*
 * Sets how <f> calls its owner back, and turns the budget on: <io> is one of the owner's ios on
 * <loop>, whose callback hands its events to sl_fwd_on_events() (as it does for readiness);
 * after a direction stops at its budget, a defer on <loop> calls io->fn(loop, io, 0). Also makes
 * <f> stamp each side's progress with <loop>'s clock (sl_fwd_moved_ms()). Two stores: an owner
 * may call it from each io callback. Without it <f> moves all it can per call.
 */
static inline void
sl_fwd_set_owner(struct sl_fwd *f, struct sl_loop *loop, struct sl_io *io)
{
	f->loop = loop;
	f->io = io;
}

/*
 * Marks the directions in the bit mask <dirs> (bit d = direction d) as limited by
 * f->env->limiter, which must be set; 0 lifts the limits.
 */
static inline void
sl_fwd_set_limited(struct sl_fwd *f, unsigned dirs)
{
	/* held (sl_fwd_hold()): takes effect when the hold ends */
	*(f->hold ? &f->held_limited : &f->limited) = (uint8_t)dirs;
}

/* true if a direction waits for its bandwidth limit (limiter pause() was called). */
static inline bool
sl_fwd_is_paused(const struct sl_fwd *f)
{
	return f->paused != 0;
}

/*
 * Lets the directions paused at their bandwidth limit read again and moves what is possible;
 * returns like sl_fwd_on_events(). A direction still over its limit pauses again.
 */
SL_API int sl_fwd_resume(struct sl_fwd *f);

/* Records readiness <events> (enum sl_io_events) of <side> without moving bytes. */
SL_API void sl_fwd_note(struct sl_fwd *f, unsigned side, unsigned events);

/*
 * Records that the owner read bytes from <side>'s socket before sl_fwd_start() (a PROXY
 * header), so what the socket still holds may begin inside a segment the owner read part of.
 * The sockmap forwarder then reads that rest itself before the socket goes into the maps: the
 * kernel hands the verdict a queued segment whole, and would redirect the bytes read again.
 */
static inline void
sl_fwd_note_consumed(struct sl_fwd *f, unsigned side)
{
	f->consumed |= (uint8_t)(1u << side);
}

/*
 * Attaches the variant and moves whatever is already possible. Returns like sl_fwd_on_events();
 * -ENOMEM/-EMFILE if resources ran out (nothing to clean but sl_fwd_fini()).
 */
SL_API int sl_fwd_start(struct sl_fwd *f);

/*
 * Records <events> (enum sl_io_events) for <side> and moves bytes both ways until every flag
 * that allows progress is spent, or a direction's budget is (then it goes on in a later call:
 * any call, <events> 0 included, resumes the directions waiting). Returns an enum sl_fwd_status, or
 * a negative errno when a side failed (reset, broken pipe, ...): f->err_side names it; the caller
 * should close the other side with a reset (sl_sock_close_reset()) and the failed one normally.
 */
SL_API int sl_fwd_on_events(struct sl_fwd *f, unsigned side, unsigned events);

/*
 * Brings sl_fwd_bytes() up to date where the kernel moves the bytes (sockmap) and stamps each
 * side whose count moved (sl_fwd_moved_ms()); nothing to do for the other variants. The owner
 * calls it before it reads the counts or the stamps.
 */
SL_API void sl_fwd_sync(struct sl_fwd *f);

/*
 * The events (SL_IO_*) the owner should watch side <side>'s fd for now: READ|WRITE, except
 * where the kernel moves a direction's bytes (sockmap), whose fds need only SL_IO_HUP for a
 * FIN or a reset, so the kernel's wake-ups for every segment cost nothing. When it changes,
 * the forwarder sets bit <side> of f->rewatch; the owner re-registers the fd
 * (sl_loop_io_mod()) and clears the bit.
 */
SL_API unsigned sl_fwd_interest(const struct sl_fwd *f, unsigned side);

/*
 * sockmap: the bytes the kernel redirected for <f>, both directions together (the rest of
 * sl_fwd_bytes(), the process copied); 0 for a forwarder not in the maps. Valid until
 * sl_fwd_fini().
 */
SL_API uint64_t sl_fwd_sockmap_redirected(const struct sl_fwd *f);

/* false if the session's bytes cannot be handed to another process (sockmap). */
static inline bool
sl_fwd_movable(const struct sl_fwd *f)
{
	return !f->ops->pinned;
}

/* Releases the resources (pipes back to the cache if empty, buffers to the pool) and cancels
 * a pending resume. */
SL_API void sl_fwd_fini(struct sl_fwd *f);

/*
 * Gives <side> the socket <fd> (-1: none) before sl_fwd_start(), as when a session tries
 * another backend: the side starts over, writable and not readable, as in sl_fwd_init().
 */
static inline void
sl_fwd_set_fd(struct sl_fwd *f, unsigned side, int fd)
{
	f->fd[side] = fd;
	f->readable[side] = false;
	f->writable[side] = true;
	f->hup[side] = false;
}

/*
 * Holds <f>'s reads (<hold> true): no byte is read from either side, while the bytes already
 * held are still delivered, so sl_fwd_in_flight() falls to 0 as the destinations take them.
 * Released (false), the directions read again (a resume is queued for a side that was left
 * readable). How a session empties its buffers before its sockets move to another process.
 */
SL_API void sl_fwd_hold(struct sl_fwd *f, bool hold);

/*
 * Carries on a direction another forwarder (of another process) began: <bytes> delivered so far
 * and whether it had finished (<shut>: EOF read and propagated). After sl_fwd_init(), before
 * sl_fwd_start(). The source side counts as read first (sl_fwd_note_consumed()).
 */
SL_API void sl_fwd_adopt(struct sl_fwd *f, unsigned d, uint64_t bytes, bool shut);

/* Bytes read but not yet delivered, both directions. */
static inline uint64_t
sl_fwd_in_flight(const struct sl_fwd *f)
{
	return (uint64_t)f->d[0].pending + f->d[1].pending;
}

/*
 * Nothing of <f> is in flight: no byte held (sl_fwd_in_flight() 0) and no op the kernel still
 * runs on its sockets (uring: a cancelled recv until its completion, which could still take
 * bytes from a socket that moved to another process). A held forwarder that is not settled
 * yet queues its owner's resume when it becomes so.
 */
SL_API bool sl_fwd_settled(const struct sl_fwd *f);

/* Bytes delivered so far in direction <d> (from side d to side !d). */
static inline uint64_t
sl_fwd_bytes(const struct sl_fwd *f, unsigned d)
{
	return f->d[d].bytes;
}

/*
 * Bytes moved through <side>'s socket so far, either way: read from it (delivered or still held)
 * plus written to it. It changes exactly when that side makes progress.
 */
static inline uint64_t
sl_fwd_side_bytes(const struct sl_fwd *f, unsigned side)
{
	return f->d[side].bytes + f->d[side].pending + f->d[!side].bytes;
}

/* Stamps both sides as having moved bytes at <ms> (the owner starts its idle clocks there). */
static inline void
sl_fwd_set_moved_ms(struct sl_fwd *f, uint64_t ms)
{
	f->moved_ms[0] = f->moved_ms[1] = ms;
}

/*
 * The owner loop's clock (sl_loop_now_ms()) when sl_fwd_side_bytes(<side>) last changed; 0 if
 * it has not changed in a call made with an owner set.
 */
static inline uint64_t
sl_fwd_moved_ms(const struct sl_fwd *f, unsigned side)
{
	return f->moved_ms[side];
}

/*
 * Pipe cache: pipe pairs of one size, reused across sessions so that a session usually costs
 * no pipe2() call. One per worker. It makes no pair before a get asks for one, and keeps a
 * returned pair only while the spares number fewer than <keep> plus the pairs still out: the
 * spares follow the load down, and once every pair is back at most <keep> stay open.
 */
struct sl_pipe_cache_stats {
	uint64_t created;   /* pairs made by pipe2() for a get (the size probe not counted) */
	uint64_t reused;    /* gets served from the cache */
	uint64_t discarded; /* pairs closed on put (not empty, cache full, or trimmed) */
	size_t cached;      /* pairs in the cache now */
};

/*
 * Creates a cache of at most <capacity> spare pairs of <pipe_size> bytes (0 = kernel default),
 * trimmed to <keep> spares when no pair is out (see above). One pipe2() here learns the size
 * the kernel grants; it is closed at once, so a new cache holds no descriptor. 0, -EINVAL
 * (<keep> > <capacity>), -ENOMEM or the errno of pipe2().
 */
SL_API int sl_pipe_cache_create(struct sl_pipe_cache **out, size_t capacity, size_t keep,
                                uint32_t pipe_size);
/* Closes every cached pipe and frees the cache. NULL is ignored. */
SL_API void sl_pipe_cache_destroy(struct sl_pipe_cache *c);
/*
 * Closes every spare pair and keeps none from now on: for a cache no session takes a pair from
 * again (its listener closed), whose pairs still out are closed as they come back. NULL is
 * ignored.
 */
SL_API void sl_pipe_cache_close_spares(struct sl_pipe_cache *c);
/* Stores a pipe pair in <fds> ([0] read, [1] write), cached or new. 0 or negative errno. */
SL_API int sl_pipe_cache_get(struct sl_pipe_cache *c, int fds[2]);
/* Returns a pair from sl_pipe_cache_get(); an empty pipe is kept within the bounds above,
 * anything else is closed. <fds> is set to -1; a pair already -1 is ignored. */
SL_API void sl_pipe_cache_put(struct sl_pipe_cache *c, int fds[2], bool empty);
/* Capacity in bytes of the cache's pipes (as the kernel rounded it). */
SL_API uint32_t sl_pipe_cache_pipe_size(const struct sl_pipe_cache *c);
SL_API void sl_pipe_cache_stats(const struct sl_pipe_cache *c, struct sl_pipe_cache_stats *st);

#endif /* SLUICE_FWD_H */
