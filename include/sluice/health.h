/* SPDX-License-Identifier: MIT */
/*
 * sl_health: active health checks of backends, on a thread of their own with their own sl_loop,
 * so a check never runs on a proxy worker. Each target is checked every interval (TCP connect,
 * or connect + send + expected reply prefix); after <fall> consecutive failures it is marked
 * down, after <rise> consecutive successes up again. The verdict is published with one atomic
 * store into the caller's byte (target.up); that byte is the only thing shared with workers.
 *
 * Thread safety: create, start, stop and destroy are called by one controlling thread (not
 * concurrently with each other); sl_health_stats() and sl_health_backend_is_up() may be called
 * from any thread at any time between create and destroy. State machine, ordering contract and
 * what counts as a failure: docs/internals/health.md.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/common.h>
#include <sluice/config.h>
#include <sluice/loop.h>

struct sl_health;

/*
 * One backend to check. Nothing is copied but the struct itself and <name> (up to
 * SL_CONFIG_NAME_MAX - 1 bytes): <group>, <cfg> and <up> must stay valid until
 * sl_health_destroy() (they normally point into the config snapshot and the caller's backend
 * object).
 */
struct sl_health_target {
	const char *group; /* for log lines only */
	const char *name;  /* for log lines only; copied (NULL = "") */
	struct sl_addr addr;
	struct sl_addr source; /* checks connect from it (sl_sock_bind_source()); unset: any */
	const struct sl_config_health *cfg; /* kind, interval, timeout, rise, fall, send/expect */
	/*
	 * 1 = up, 0 = down. Its value at sl_health_create() is the initial state (1 is the usual
	 * choice, so traffic flows before the first verdict; 0 makes a backend earn <rise>
	 * successes first; a reload may pass the previous state). While the checker runs it is
	 * the only writer; it stores only on a transition.
	 */
	_Atomic uint8_t *up;
	/* NULL, or where each transition to up stores the checker loop's time (CLOCK_MONOTONIC
	 * ms), before it stores <up>; relaxed, the value alone */
	_Atomic uint64_t *up_at_ms;
	/* 0, or 1 or 2: every check first sends a PROXY header of that version (v1 "PROXY
	 * UNKNOWN", v2 LOCAL), as backends that expect one from every connection need */
	unsigned send_proxy;
	/* not checked until sl_health_set_target() makes it active; <addr> may then be unset */
	bool paused;
};

/* A state change, as passed to sl_health_opts.on_change. */
struct sl_health_event {
	size_t target;      /* index into the array given to sl_health_create() */
	bool up;            /* the new state */
	uint32_t count;     /* consecutive successes (up) or failures (down) that decided it */
	const char *reason; /* down: the last failure, e.g. "connect: Connection refused"; up: "" */
};

struct sl_health_opts {
	/*
	 * Called on the checker thread after each transition has been stored and logged; NULL =
	 * none. It must not block for long (it delays every check) and must not call any
	 * sl_health_* function but sl_health_stats(). <ev> is valid during the call only.
	 */
	void (*on_change)(void *arg, const struct sl_health_event *ev);
	void *arg;
	uint64_t seed;                /* jitter of the first checks; 0 = from the clock */
	enum sl_loop_runtime runtime; /* the checker loop's runtime; 0 = SL_LOOP_AUTO */
};

/* Counters since create; each one is monotonic. Not a snapshot across fields. */
struct sl_health_stats {
	uint64_t checks;           /* checks completed (passed or failed) */
	uint64_t failures;         /* checks failed */
	uint64_t transitions_up;   /* down -> up */
	uint64_t transitions_down; /* up -> down */
	uint64_t local_errors;     /* checks not run: this host was out of fds, memory or ports */
};

/*
 * Creates a checker for the <n> targets <t> (the array is copied; see struct sl_health_target
 * for what must outlive the checker); <o> may be NULL (defaults). Nothing is checked and no
 * thread runs until sl_health_start(). Refuses (-EINVAL) a NULL <up> or <cfg>, an unset
 * address, and, for kinds other than SL_HEALTH_NONE, an interval, timeout, rise or fall of 0,
 * or a SEND_EXPECT target with send_len or expect_len > 0 and a NULL buffer. n == 0 is allowed
 * (nothing to do). Returns 0 and stores the checker in <*out>, or -EINVAL, -ENOMEM or a negative
 * errno from sl_loop_create(). Allocates; never blocks otherwise. Controlling thread.
 */
SL_API int sl_health_create(struct sl_health **out, const struct sl_health_target *t, size_t n,
                            const struct sl_health_opts *o);

/*
 * Starts the checker thread (all signals blocked in it). The first check of each target runs
 * at a random offset in [0, interval) so backends are not checked in lockstep. Returns 0, or
 * -EALREADY if it was started before (a checker runs at most once), or a negative errno from
 * pthread_create(). Controlling thread.
 */
SL_API int sl_health_start(struct sl_health *h);

/*
 * Stops the checker: wakes its loop, lets the thread close every socket (checks in flight are
 * abandoned, not counted) and joins it. Blocks until the thread has exited (bounded by one loop
 * iteration: no check blocks). No store to any <up> happens after it returns. No-op if not
 * started or already stopped. Controlling thread.
 */
SL_API void sl_health_stop(struct sl_health *h);

/* Stops (if needed) and frees <h>. NULL is ignored. Controlling thread. */
SL_API void sl_health_destroy(struct sl_health *h);

/*
 * Changes target <i> at run time: its address (<addr>, NULL = keep), its name for log lines
 * (<name>, copied; NULL = keep), whether it is checked (<active>; a paused target keeps its
 * state and *up untouched), and with <reset> a fresh start (no runs counted, *up set to 1, as
 * for a new backend). Takes effect on the checker thread soon after (it is woken), or at once
 * when the checker is not running; changes made before it runs again are merged. 0, -EINVAL
 * (no such target, or active without an address). Any thread, between create and destroy.
 */
SL_API int sl_health_set_target(struct sl_health *h, size_t i, const struct sl_addr *addr,
                                const char *name, bool active, bool reset);

/*
 * Changes how target <i> is checked at run time: from its next check on with <cfg> (kept by
 * pointer: it must stay valid until sl_health_destroy()) and a PROXY header of <send_proxy> (0,
 * 1 or 2). A check in flight is abandoned, the consecutive success and failure counts start
 * again from 0, and the state is kept: an up target stays up until <fall> failures of the new
 * check, a down one down until <rise> successes. With kind SL_HEALTH_NONE the target is checked
 * no more and a down one is set up (a transition, passed to on_change). Whether it is paused is
 * left as it is. Takes effect like sl_health_set_target(), merged with its changes. 0, or
 * -EINVAL (no such target, or a <cfg> sl_health_create() would refuse). Any thread, between
 * create and destroy.
 */
SL_API int sl_health_set_config(struct sl_health *h, size_t i, const struct sl_config_health *cfg,
                                unsigned send_proxy);
/*
 * Whether target <i>'s checker may still read <cfg>: the check it runs, or one set by
 * sl_health_set_config() and not taken yet. Once false (and <cfg> is not set again) the checker
 * never reads it again: the caller may free it. false for no such target. Any thread, between
 * create and destroy.
 */
SL_API bool sl_health_is_reading(struct sl_health *h, size_t i, const struct sl_config_health *cfg);
/* Fills <*st> with the counters (relaxed reads). Any thread, between create and destroy. */
SL_API void sl_health_stats(const struct sl_health *h, struct sl_health_stats *st);

/*
 * Reads a backend's state: true if up. Workers call this on their hot path: a relaxed load,
 * which is enough because the byte carries no payload (workers read nothing else the checker
 * wrote), and coherence makes each new value visible promptly and in order. A reader that also
 * wants the checker's counters consistent with the state it saw uses an acquire load instead
 * (pairs with R1 in src/proxy/health.c). Any thread.
 */
static inline bool
sl_health_backend_is_up(const _Atomic uint8_t *up)
{
	/* relaxed: see above; only the value itself is communicated */
	return atomic_load_explicit(up, memory_order_relaxed) != 0;
}

#endif /* SLUICE_HEALTH_H */
