/* SPDX-License-Identifier: MIT */
/*
 * sl_lb: load-balancing algorithms (round robin, smooth weighted round robin, least connections,
 * power of two choices, Maglev consistent hashing) behind one interface. Pure computation: no
 * sockets, no event loop, no clock. The caller describes backend state through callbacks in
 * struct sl_lb_ctx; sl_lb_pick() returns an index into the target array given at creation.
 *
 * Thread safety: one instance per (worker, backend group). An instance is not thread-safe:
 * sl_lb_pick() mutates per-instance state (cursors, current weights, PRNG). sl_lb_clone() makes
 * another instance that shares the immutable part (weights, Maglev table) read-only, so every
 * worker can have its own instance at the cost of one table. Errors: negative errno values.
 * Internals and invariants: docs/internals/lb.md.
 */
#ifndef SLUICE_LB_H
#define SLUICE_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_lb;

enum sl_lb_algo {
	SL_LB_ROUND_ROBIN, /* "round_robin": each eligible backend in turn, weights ignored */
	SL_LB_WEIGHTED,    /* "weighted": smooth weighted round robin (nginx) */
	SL_LB_LEAST_CONN,  /* "least_conn": min load/weight, ties in round-robin order */
	SL_LB_P2C,         /* "p2c": less loaded (load/weight) of two distinct random backends */
	SL_LB_MAGLEV, /* "maglev": Maglev consistent hashing of sl_lb_ctx.key, table by weight */
};
#define SL_LB_ALGOS 5

/* The configuration name of each algorithm, indexed by enum sl_lb_algo: their one home. */
SL_API extern const char *const sl_lb_algo_names[SL_LB_ALGOS];

/* Most targets per instance (Maglev table entries are 16-bit backend indices). */
#define SL_LB_MAX_TARGETS 65535u
/* Default and largest Maglev lookup table size (entries; both prime). */
#define SL_LB_MAGLEV_DEFAULT_SIZE 65537u
#define SL_LB_MAGLEV_MAX_SIZE 16777213u

struct sl_lb_target {
	const char *name; /* stable identity, e.g. "127.0.0.1:9001"; Maglev hashes it; not kept */
	uint32_t weight;  /* >= 1 */
};

struct sl_lb_opts {
	uint32_t maglev_table_size; /* entries; prime, >= number of targets; 0 = 65537 */
	uint64_t seed;              /* p2c PRNG seed; give each worker its own; 0 = a fixed seed */
};

/*
 * What the caller knows about its backends at pick time. The callbacks must not change their
 * answer during one sl_lb_pick() call; they may be called several times per index.
 */
struct sl_lb_ctx {
	uint64_t key; /* flow hash (e.g. of the client address), Maglev */
	bool (*eligible)(void *arg,
	                 size_t i); /* up, not already tried, below its cap; NULL = all */
	uint32_t (*load)(void *arg, size_t i); /* active sessions of backend i; NULL = all 0 */
	void *arg;                             /* passed to both callbacks */
};

/*
 * Creates a balancer over <n> targets <t> with algorithm <algo>; <o> may be NULL (defaults).
 * Target names are hashed (Maglev) and checked during the call, never kept. Returns 0 and
 * stores the instance in <*out>, or -EINVAL (n == 0 or > SL_LB_MAX_TARGETS, a weight of 0,
 * unknown algo; for Maglev also a NULL or duplicate name, or a table size that is not prime,
 * smaller than n or larger than SL_LB_MAGLEV_MAX_SIZE), -ENOMEM. The caller owns the instance
 * (sl_lb_destroy). Builds the Maglev table here (expected O(M log M)); any thread.
 */
SL_API int sl_lb_create(struct sl_lb **out, enum sl_lb_algo algo, const struct sl_lb_target *t,
                        size_t n, const struct sl_lb_opts *o);

/*
 * Creates another instance with the same algorithm and targets as <lb>, sharing its immutable
 * data (weights, Maglev table) and with fresh per-instance state; only <o->seed> of <o> is used
 * (NULL = 0). Only reads immutable fields of <lb>, so it may run on any thread while <lb> is
 * used by its owner. Returns 0 and stores the instance in <*out>, or -ENOMEM.
 */
SL_API int sl_lb_clone(struct sl_lb **out, const struct sl_lb *lb, const struct sl_lb_opts *o);

/* Frees <lb>; shared data goes with the last instance using it. NULL is ignored. Any thread. */
SL_API void sl_lb_destroy(struct sl_lb *lb);

/*
 * Picks a backend for one connection attempt. Never returns an index for which <c->eligible>
 * is false; returns -ENOENT only when no backend is eligible. Does not allocate or block; call
 * only from the thread that owns <lb>. Cost: O(n) scan for round robin, weighted and least
 * connections; O(1) expected for p2c and Maglev when most backends are eligible.
 */
SL_API int sl_lb_pick(struct sl_lb *lb, const struct sl_lb_ctx *c);

/* Number of targets of <lb>. */
SL_API size_t sl_lb_size(const struct sl_lb *lb);

/* Algorithm of <lb>. */
SL_API enum sl_lb_algo sl_lb_algo_of(const struct sl_lb *lb);

/*
 * Parses an algorithm name ("round_robin", "weighted", "least_conn", "p2c", "maglev"; exact,
 * case-sensitive) into <*out>. Returns 0, or -EINVAL (unknown name or NULL; <*out> untouched).
 */
SL_API int sl_lb_algo_parse(const char *name, enum sl_lb_algo *out);

/* Returns the configuration name of <a>, or NULL for a value outside the enum. */
SL_API const char *sl_lb_algo_name(enum sl_lb_algo a);

/*
 * Hashes <n> bytes at <p> with <seed> to 64 bits, e.g. a client address into sl_lb_ctx.key.
 * The result is the same on every host and byte order (stable across processes and versions
 * of one release line), so sluice instances behind ECMP agree on Maglev picks. Not a
 * cryptographic hash. Pure function; any thread.
 */
SL_API uint64_t sl_lb_hash_bytes(const void *p, size_t n, uint64_t seed);

#endif /* SLUICE_LB_H */
