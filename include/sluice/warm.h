/* SPDX-License-Identifier: MIT */
/*
 * sl_warm: a worker's pool of pre-connected idle backend connections. For each backend of a
 * group it keeps up to <size> connected sockets, so a new session can take one instead of
 * connecting and save a round trip. Refill, idle expiry and dead-connection detection run
 * asynchronously on the worker's sl_loop; all slots are allocated at create, nothing after.
 *
 * Thread safety: one pool per (worker, group), used only on that worker's loop thread (or
 * before its loop runs); no locks. sl_warm_stats() and sl_warm_counters_read() alone may be
 * called from any thread.
 * Caveats (dead connections, server-first protocols): docs/internals/warm.md.
 */
#ifndef SLUICE_WARM_H
#define SLUICE_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/common.h>
#include <sluice/config.h>

struct sl_loop;
struct sl_warm;

/* A pending connect older than this fails (and backs off). */
#define SL_WARM_CONNECT_TIMEOUT_MS 2000u
/* First delay before retrying a backend whose connect failed; doubles up to the max. */
#define SL_WARM_BACKOFF_MS 100u
#define SL_WARM_MAX_BACKOFF_MS 10000u
/* Most connections per backend (config warm_pool.size). */
#define SL_WARM_MAX_SIZE 1024u

/* Counters since create; each one is monotonic. Not a snapshot across fields. */
struct sl_warm_stats {
	uint64_t hits;             /* sl_warm_take() returned a connection */
	uint64_t misses;           /* sl_warm_take() returned -EAGAIN */
	uint64_t expired;          /* idle connections closed after idle_ms */
	uint64_t dead;             /* idle connections found closed or readable, and dropped */
	uint64_t connects;         /* connects started */
	uint64_t connect_failures; /* connects refused, reset or timed out */
};

/*
 * Creates a pool on <loop> for the <n> backends <addrs> (copied), keeping cfg->size idle
 * connections per backend; cfg->idle_ms bounds an idle connection's age (0 = no limit). Every
 * backend starts enabled; the first connects start from a deferred callback once the loop runs
 * (create itself does no network I/O). Returns 0 and stores the pool in <*out>, or -EINVAL
 * (n == 0, an unset address, cfg->size 0 or > SL_WARM_MAX_SIZE: do not create a pool that is
 * off) or -ENOMEM. Allocates every slot here. Loop thread.
 */
SL_API int sl_warm_create(struct sl_warm **out, struct sl_loop *loop, const struct sl_addr *addrs,
                          size_t n, const struct sl_config_warm_pool *cfg);

/*
 * As sl_warm_create(), but every backend starts disabled: nothing is queued on <loop>, so any
 * thread may create the pool before handing it to the loop's thread (which then enables the
 * backends it wants with sl_warm_set_enabled()). sl_warm_destroy() of a pool no backend of
 * which was ever enabled touches no loop state either.
 */
SL_API int sl_warm_create_disabled(struct sl_warm **out, struct sl_loop *loop,
                                   const struct sl_addr *addrs, size_t n,
                                   const struct sl_config_warm_pool *cfg);

/* Connects from now on come from <source> (sl_sock_bind_source(); NULL: the kernel's choice).
 * Before the pool's loop runs it, or on the loop thread. */
SL_API void sl_warm_set_source(struct sl_warm *w, const struct sl_addr *source);

/*
 * Closes every connection (idle and connecting), unregisters everything from the loop and
 * frees the pool. NULL is ignored. Loop thread; never blocks.
 */
SL_API void sl_warm_destroy(struct sl_warm *w);

/*
 * Takes an idle connection to backend <backend> (< n): the newest one that still looks alive
 * (a MSG_PEEK read sees neither EOF, nor an error, nor data; the dead ones are closed and
 * counted). Returns the fd, which the caller now owns: connected, non-blocking, close-on-exec,
 * no longer registered with the loop, no other socket option set. Returns -EAGAIN when no
 * connection is ready (a miss; also when the backend is disabled). A refill is queued either
 * way (deferred, not done inside this call). The connection may still fail at its first write
 * (see docs/internals/warm.md): treat that like a failed connect. Loop thread; never blocks.
 */
SL_API int sl_warm_take(struct sl_warm *w, size_t backend);

/*
 * Enables or disables refilling <backend>. Disabling closes its idle and connecting sockets
 * at once (a backend marked down should not keep our connections); enabling resets its backoff
 * and queues a refill. No-op if unchanged. Loop thread.
 */
SL_API void sl_warm_set_enabled(struct sl_warm *w, size_t backend, bool enabled);

/*
 * Points <backend> at <addr> (set; copied), as when a backend table slot gets a new occupant:
 * closes every connection the pool holds for it, clears its backoff, and refills if it is
 * enabled. No-op if the address is the same. Loop thread.
 */
SL_API void sl_warm_set_addr(struct sl_warm *w, size_t backend, const struct sl_addr *addr);

/* Idle connections ready to take for <backend> now. Loop thread. */
SL_API size_t sl_warm_ready(const struct sl_warm *w, size_t backend);

/* Fills <*st> with the counters (relaxed reads). Any thread, between create and destroy. */
SL_API void sl_warm_stats(const struct sl_warm *w, struct sl_warm_stats *st);

/*
 * Counters a pool counts into: its own, or a block the pools of one loop thread share
 * (sl_warm_count_into()), which then outlives them all, so a pool destroyed takes no count
 * with it. Written on that thread only; read by any thread (relaxed).
 */
struct sl_warm_counters {
	_Atomic uint64_t hits, misses, expired, dead, connects, connect_failures;
};

/* Zeroes <c>. */
SL_API void sl_warm_counters_init(struct sl_warm_counters *c);
/* Fills <*st> from <c> (relaxed reads). Any thread. */
SL_API void sl_warm_counters_read(const struct sl_warm_counters *c, struct sl_warm_stats *st);
/*
 * <w> counts into <c> from now on (what it counted before stays in its own counters); <c> must
 * outlive it, and sl_warm_stats() reads <c> then. Loop thread, or before the loop runs.
 */
SL_API void sl_warm_count_into(struct sl_warm *w, struct sl_warm_counters *c);

/*
 * Room for a pool of <n> backends at <size> connections each (size 0: none), made ahead of a
 * resize so the loop thread allocates nothing: sl_warm_resize() swaps it with the pool's and
 * sl_warm_room_free() frees what it then holds. NULL when out of memory. Any thread.
 */
struct sl_warm_room;
SL_API struct sl_warm_room *sl_warm_room_new(size_t n, uint32_t size);
SL_API void sl_warm_room_free(struct sl_warm_room *r);

/*
 * Resizes <w> to cfg->size connections per backend (0: keeps none, sl_warm_take() misses
 * without counting) and cfg->idle_ms, using <room> (sl_warm_room_new() for the pool's backend
 * count and cfg->size; it gets the old slots). Up to the new size of each backend's idle
 * connections are kept (their idle limit runs from when they became ready), the rest and those
 * still connecting are closed, and the empty slots are refilled. The counters go on. -EINVAL
 * (a room of another shape, nothing changed) or 0. Loop thread.
 */
SL_API int sl_warm_resize(struct sl_warm *w, struct sl_warm_room *room,
                          const struct sl_config_warm_pool *cfg);

#endif /* SLUICE_WARM_H */
