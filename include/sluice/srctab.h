/* SPDX-License-Identifier: MIT */
/*
 * sl_srctab: per-source state for per-source limits (concurrent connections, new-connection
 * rate), keyed by client IP (port ignored), optionally aggregated by prefix. One table is shared
 * by all worker threads, so a limit holds however SO_REUSEPORT spreads one source's connections.
 * Optionally bans a source whose connections keep being cut (sl_srctab_strike()).
 * Fixed memory chosen at creation; no allocation afterwards; O(1) acquire and release.
 * Set-associative: 7-entry sets, each behind its own spinlock. Eviction: an entry with live
 * connections is never evicted; a set whose entries are all held refuses new sources
 * (SL_SRCTAB_TABLE_FULL). See docs/internals/srctab.md.
 */
#ifndef SLUICE_SRCTAB_H
#define SLUICE_SRCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>
#include <sluice/common.h>
#include <sluice/tbucket.h>

struct sl_srctab;

struct sl_srctab_opts {
	size_t capacity;  /* entries; rounded up to whole sets (SL_SRCTAB_WAYS entries each) */
	unsigned prefix4; /* IPv4 sources sharing this many leading bits share an entry; 0 = 32 */
	unsigned prefix6; /* the same for IPv6; 0 = 64 (one subscriber's network) */
	uint64_t seed[2]; /* hash key; all zero = a random one from getrandom() */
	bool bandwidth;   /* also a byte bucket per direction per entry (sl_srctab_bytes_take()) */
	bool ban;         /* also strike and ban state per entry (sl_srctab_strike()) */
};

/* Entries per set. */
#define SL_SRCTAB_WAYS 7
/* Largest capacity: slot indexes are 32-bit. */
#define SL_SRCTAB_MAX_CAPACITY ((size_t)UINT32_MAX / SL_SRCTAB_WAYS * SL_SRCTAB_WAYS)

/*
 * What a source may do; passed to each acquire, so a new configuration applies at once to
 * sources already in the table. Read-only during the call; any number of threads may share one.
 */
struct sl_srctab_limits {
	uint32_t max_conns;          /* live connections per source; 0 = unlimited */
	struct sl_tbucket_rate rate; /* new connections per source; sl_tbucket_rate_init() */
	/* a table created with o->ban: a source with <strikes> strikes within <within_ns> (of its
	 * first) is refused for <duration_ns> (SL_SRCTAB_BANNED); strikes 0 = no ban. The duration
	 * is fixed when a ban starts; strikes and within apply to the next strike. */
	struct sl_srctab_ban {
		uint32_t strikes;
		uint64_t within_ns;
		uint64_t duration_ns;
	} ban;
};

/* Outcome of sl_srctab_acquire(); everything but SL_SRCTAB_ALLOWED is a refusal. */
enum sl_srctab_verdict {
	SL_SRCTAB_ALLOWED = 0,
	SL_SRCTAB_OVER_CONNS, /* the source already holds max_conns connections */
	SL_SRCTAB_OVER_RATE,  /* the source's new-connection bucket is empty */
	SL_SRCTAB_TABLE_FULL, /* new source, and every entry of its set holds live connections */
	SL_SRCTAB_BANNED,     /* the source is banned (sl_srctab_strike()) */
};

/* A held connection slot: what sl_srctab_release() needs. */
struct sl_srctab_slot {
	uint32_t index; /* entry; stays put while the entry has live connections */
};

struct sl_srctab_stats {
	size_t capacity;     /* entries */
	size_t in_use;       /* entries holding live connections, rate debt, strikes or a ban */
	size_t pinned;       /* entries holding live connections (never evicted) */
	uint64_t conns;      /* live connections over all entries */
	uint64_t inserts;    /* new sources given an entry */
	uint64_t evictions;  /* idle entries with rate debt given to another source */
	uint64_t table_full; /* SL_SRCTAB_TABLE_FULL refusals */
	size_t banned;       /* entries banned now */
	uint64_t bans;       /* bans started */
};

/*
 * Creates a table for <o->capacity> entries (rounded up to whole sets). Allocates everything
 * now. Returns 0 and sets <*out>; -EINVAL for a capacity of 0 or above SL_SRCTAB_MAX_CAPACITY or
 * a prefix out of range (1..32, 1..128); -ENOMEM when memory runs out; a negative errno from
 * getrandom() when asked for a random seed. Any thread.
 */
SL_API int sl_srctab_create(struct sl_srctab **out, const struct sl_srctab_opts *o);

/* Frees the table. No thread may use it any more; slots still held are forgotten. */
SL_API void sl_srctab_destroy(struct sl_srctab *t);

/*
 * Admits one new connection from <src> at <now_ns> (monotonic ns, e.g. sl_clock_ns(); below
 * 2^63) under <lim>: checks the concurrent limit, then takes a token from the source's bucket.
 * Returns SL_SRCTAB_ALLOWED (0) and fills <*slot>, which the caller hands to sl_srctab_release()
 * when the connection closes; a positive enum sl_srctab_verdict when refused (the source's state
 * is unchanged and nothing is to be released); -EAFNOSUPPORT if <src> is neither IPv4 nor IPv6.
 * Any thread; never blocks or allocates; spins while another thread holds the source's set
 * (a few dozen instructions).
 */
SL_API int sl_srctab_acquire(struct sl_srctab *t, const struct sl_addr *src,
                             const struct sl_srctab_limits *lim, uint64_t now_ns,
                             struct sl_srctab_slot *slot);

/* Gives back a slot from sl_srctab_acquire(), once per allowed acquire. Any thread. */
SL_API void sl_srctab_release(struct sl_srctab *t, struct sl_srctab_slot slot);

/*
 * Counts a strike at <now_ns> against the source holding <slot> (one of its connections was cut
 * for misbehaving, e.g. too slow): the <ban->strikes>-th strike within <ban->within_ns> of the
 * first bans the source for <ban->duration_ns>, and its count starts again. Returns true if
 * this strike started a ban. A table created without o->ban, or <ban->strikes> 0: does nothing.
 * A banned entry is taken over by a new source only when every idle entry of its set is banned.
 * Any thread; never blocks or allocates.
 */
SL_API bool sl_srctab_strike(struct sl_srctab *t, struct sl_srctab_slot slot,
                             const struct sl_srctab_ban *ban, uint64_t now_ns);

/* A banned source, as sl_srctab_bans() lists it. */
struct sl_srctab_banned {
	struct sl_cidr source; /* the source: its address and the table's prefix4 or prefix6 */
	uint64_t until_ns;     /* the ban ends then */
};

/*
 * Fills <out> with up to <max> of the sources banned at <now_ns> and returns how many are
 * banned in all (more than <max> when some did not fit). Visits every set under its lock
 * (O(capacity): for an operator's request, not the hot path). Any thread.
 */
SL_API size_t sl_srctab_bans(struct sl_srctab *t, uint64_t now_ns, struct sl_srctab_banned *out,
                             size_t max);

/*
 * Lifts the ban of <src>'s source (its address masked like every key) at <now_ns>, and clears
 * its strikes. Returns true if it was banned. Any thread.
 */
SL_API bool sl_srctab_unban(struct sl_srctab *t, const struct sl_addr *src, uint64_t now_ns);

/*
 * Bans the source <src> until <until_ns> (monotonic ns, as <now_ns>): a ban carried over from
 * another table, listed there by sl_srctab_bans() (a re-opened listener's old table, a
 * previous process's). <src> is masked to this table's prefix when its own is as long or
 * longer (a source keyed narrower there bans the whole source it falls in here); a shorter one
 * is refused, since one entry here would ban less than it did. A source already in the table
 * keeps the later of its ban and this one, and its strikes; a new one takes an entry as a new
 * source would (docs/internals/srctab.md "Eviction"), except that it never takes over a ban
 * that ends no sooner than its own, nor, without <over_bans>, any running ban (an operator's
 * ban must not end another one in silence). Not counted as a ban started. Returns 0, or 1 when
 * it took the entry of a running ban that ends sooner (that one is gone); -EINVAL
 * for a table made without o->ban, an invalid <src> or <until_ns> not after <now_ns>; -ERANGE
 * for a prefix shorter than the table's; -ENOSPC when its set has no entry to give (every entry
 * holds live connections or a ban it may not take). Any thread; never blocks or allocates.
 */
SL_API int sl_srctab_import_ban(struct sl_srctab *t, const struct sl_cidr *src, uint64_t until_ns,
                                uint64_t now_ns, bool over_bans);

/*
 * Bandwidth per source (a table created with o->bandwidth): each entry holds a byte bucket per
 * direction <dir> (0 or 1), used only by connections holding a slot of it, and reset when the
 * entry goes to another source. Rates come with each call, like struct sl_srctab_limits.
 *
 * sl_srctab_bytes_take() takes up to <max> bytes from the bucket of the source holding <slot>
 * at <now_ns> and returns how many (0: empty); sl_srctab_bytes_put() gives back <n> of them not
 * used. Each is one lock of the source's set: a caller takes a chunk per batch of reads, not per
 * read, to keep the contention low. Any thread; never blocks or allocates.
 */
SL_API uint32_t sl_srctab_bytes_take(struct sl_srctab *t, struct sl_srctab_slot slot, unsigned dir,
                                     const struct sl_tbucket_rate *r, uint64_t now_ns,
                                     uint32_t max);
SL_API void sl_srctab_bytes_put(struct sl_srctab *t, struct sl_srctab_slot slot, unsigned dir,
                                const struct sl_tbucket_rate *r, uint32_t n);
/* ns from <now_ns> until <n> bytes can be taken for <dir> of the source holding <slot>. */
SL_API uint64_t sl_srctab_bytes_wait_ns(struct sl_srctab *t, struct sl_srctab_slot slot,
                                        unsigned dir, const struct sl_tbucket_rate *r,
                                        uint64_t now_ns, uint32_t n);

/*
 * Fills <*st> as of <now_ns>. Visits every set under its lock (O(capacity), for a scrape, not the
 * hot path); each set is consistent, the sum is not one instant. Any thread.
 */
SL_API void sl_srctab_stats_get(struct sl_srctab *t, uint64_t now_ns, struct sl_srctab_stats *st);

#endif /* SLUICE_SRCTAB_H */
