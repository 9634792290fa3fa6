/* SPDX-License-Identifier: MIT */
/*
 * Inside the proxy layer: the runtime objects and who writes what.
 *  - struct sl_backend: one per configured backend, shared by every worker. Written by workers
 *    (passive ejection, connection cap) and by the health checker (up), always with atomics.
 *  - struct sl_pworker: everything one worker owns (listeners, group views, warm pools,
 *    sessions); only its thread touches it, except the counters and warm-pool stats (relaxed,
 *    summed by sl_proxy_stats()), health_pending (the checker thread sets it) and the latency
 *    snapshots lent to a scrape (snap, shown, lent: under p->mx.sync_mu, metrics.c).
 *  - struct sl_session: one client connection; see session.c for its state machine.
 *  - struct sl_proxy: the layout snapshot (cfg, borrowed) that every runtime object was built
 *    from, and the current snapshot (cur), which workers read per event through one atomic
 *    pointer; sl__proxy_publish_config() swaps it and retires the old one through <epoch>.
 * Read session.c next.
 */
#ifndef SLUICE_PROXY_PROXY_INT_H
#define SLUICE_PROXY_PROXY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/backends.h>
#include <sluice/config.h>
#include <sluice/counter.h>
#include <sluice/epoch.h>
#include <sluice/fwd.h>
#include <sluice/health.h>
#include <sluice/hist.h>
#include <sluice/lb.h>
#include <sluice/loop.h>
#include <sluice/proxy.h>
#include <sluice/srctab.h>
#include <sluice/stats.h>
#include <sluice/tbucket.h>
#include <sluice/warm.h>
#include <sluice/worker.h>

/* Most backends one session tries: the first pick plus the most retries a config may ask. */
#define SL_SESSION_MAX_TRIES (SL_CONFIG_RETRIES_MAX + 1)
/* Most connections accepted per readiness report before yielding to other work. */
#define SL_ACCEPT_BATCH 64
/* Spare pipe pairs a worker's splice listener keeps once idle: two sessions' worth (under load
 * the cache also keeps as many spares as pairs are in use). */
#define SL_PIPE_CACHE_KEEP 4
/* While sessions of a group wait in a worker's queue, how often it looks for a slot freed on
 * another worker (its own frees admit at once). ms. */
#define SL_QUEUE_POLL_MS 10
/* A session whose backend socket could not be made for want of fds, memory or ports on this
 * host (LOCAL_WAIT) tries again this often, ms; the warning says so at most every
 * SL_LOCAL_WAIT_LOG_MS per worker. */
#define SL_LOCAL_WAIT_RETRY_MS 100
#define SL_LOCAL_WAIT_LOG_MS 10000
/* A client closed for want of a backend (no_backend) is logged at most this often per worker;
 * the line counts the ones closed since the worker's previous line. ms. */
#define SL_NO_BACKEND_LOG_MS 10000
/* perf counters each worker opens with profiling.perf (profile.c; budget.c counts them). */
#define SL_PROFILE_EVENTS 6
/* Sessions (and copy buffers) each worker reserves up front. */
#define SL_SESSION_PREALLOC 256
/* Replaced snapshots that may wait for a worker's quiescent point before a publish is refused. */
#define SL_CONFIG_MAX_RETIRED 8

/* Per-worker counters (sl_counter_set, slot = worker index). */
enum sl_ctr {
	SL_CTR_ACCEPTED,
	SL_CTR_ACTIVE, /* gauge */
	SL_CTR_CLOSED,
	SL_CTR_BYTES_IN,
	SL_CTR_BYTES_OUT,
	SL_CTR_CONNECT_FAILURES,
	SL_CTR_RETRIES,
	SL_CTR_NO_BACKEND,
	SL_CTR_FILTERED,
	SL_CTR_RESETS,
	SL_CTR_ACCEPT_ERRORS,
	SL_CTR_EJECTIONS,
	SL_CTR_SPLICE_FALLBACKS,
	SL_CTR_WARM_FAILED,
	SL_CTR_LOCAL_ERRORS,
	SL_CTR_ACCEPT_PAUSES,
	SL_CTR_SOURCE_BANS, /* sources banned (source_limits.ban) */
	SL_CTR_QUEUE_FULL,
	SL_CTR_MOVED_OUT,        /* sessions handed to a new process (binary upgrade) */
	SL_CTR_MOVED_IN,         /* sessions taken over from the previous process */
	SL_CTR_SOCKMAP_SESSIONS, /* sessions whose bytes the kernel moved (forward: sockmap) */
	SL_CTR_SOCKMAP_COPIED,   /* of their directions, those the process copied */
	SL_CTR_SOCKMAP_BYTES,    /* of their bytes, those the kernel moved */
	SL_CTR_ADMIN_CLOSES,     /* sessions closed by the control socket (close sessions) */
	SL_CTR_TIMEOUT_FIRST, /* SL_TIMEOUT_KINDS counters follow, in enum sl_timeout_kind order */
	/* SL_REJECT_KINDS counters follow, in enum sl_reject_reason order */
	SL_CTR_REJECT_FIRST = SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_KINDS,
	SL_CTR_COUNT = SL_CTR_REJECT_FIRST + SL_REJECT_KINDS
};

/* Per-listener counters (sl_metrics.lctr): SL_LCTR_COUNT values for each listener, in order. */
enum sl_lctr {
	SL_LCTR_CONNECTIONS,
	SL_LCTR_ACTIVE, /* gauge */
	SL_LCTR_BYTES_IN,
	SL_LCTR_BYTES_OUT,
	/* a direction stopped reading at its bandwidth limit; + enum sl_fwd_side of the source */
	SL_LCTR_BANDWIDTH_PAUSES,
	SL_LCTR_BANDWIDTH_PAUSES_DOWNLOAD = SL_LCTR_BANDWIDTH_PAUSES + 1,
	SL_LCTR_COUNT
};

/* Per-backend counters (sl_metrics.bctr): SL_BCTR_COUNT values for each backend, flat order. */
enum sl_bctr {
	SL_BCTR_SESSIONS,
	SL_BCTR_ACTIVE, /* gauge */
	SL_BCTR_CONNECT_FAILURES,
	SL_BCTR_BYTES_IN,
	SL_BCTR_BYTES_OUT,
	SL_BCTR_COUNT
};

/* Latency histograms each worker records (microseconds), merged on a scrape. */
enum sl_phist {
	SL_PHIST_CONNECT,    /* backend connect started -> connected (a warm take: ~0) */
	SL_PHIST_FIRST_BYTE, /* connected -> first backend byte delivered to the client */
	SL_PHIST_SESSION,    /* accept -> close */
	SL_PHIST_COUNT
};

/* What a slot of a group's backend table holds (struct sl_backend.state). */
enum sl_slot_state {
	SL_SLOT_EMPTY,   /* never used */
	SL_SLOT_LIVE,    /* a backend of the group */
	SL_SLOT_REMOVED, /* removed: reused once no session holds it (conns == 0) */
};

/*
 * One slot of a group's backend table (max_backends slots, fixed at create, so a session's
 * pointer or index stays valid for its whole life), shared by every worker; on its own cache
 * line. The hot path only reads it (admin, up, ejected_until_ms) and counts conns, except on
 * connect failures and the first success after failures.
 * The identity (name, addr, max_connections) is written by the controlling thread under
 * p->bk_mu only while no worker can reach the slot (EMPTY, or REMOVED with conns at 0, after
 * every worker dropped it from its balancer), before the change that adds it is posted to the
 * workers (the mailbox orders the writes before their reads). backends.c.
 */
struct sl_backend {
	char name[SL_CONFIG_NAME_MAX]; /* never "": the address text when the config gives none */
	struct sl_addr addr;
	uint32_t max_connections; /* 0 = no cap */
	bool discovered;          /* added by DNS discovery; under p->bk_mu */
	bool retired;             /* REMOVED and out of every worker's balancer; under p->bk_mu */
	/* enum sl_slot_state: written under p->bk_mu; read relaxed by statistics (a snapshot) */
	_Atomic uint8_t state;
	/* enum sl_backend_admin: written under p->bk_mu; workers read it relaxed per pick (the
	 * value alone is communicated; the change's mailbox post orders the rest) */
	_Atomic uint8_t admin;
	_Atomic uint32_t weight; /* 1 ..; written under p->bk_mu, read relaxed by statistics */
	/* 1: a backup, picked only while no primary of the group serves (sl__backend_serves()).
	 * Written under p->bk_mu; workers read it relaxed per pick, as admin */
	_Atomic uint8_t backup;
	/* counter values (sum over workers, enum sl_bctr) when the slot was last filled: what the
	 * previous occupant left, subtracted from what is shown; under p->bk_mu */
	uint64_t ctr_base[SL_BCTR_COUNT];
	/* 1 + the REMOVED slot of the same name this one's series goes on from (a backend a
	 * reload replaced, or one removed and added again), while its sessions still count
	 * there; 0: none. What it and the slots down its own chain counted past their <handed>
	 * is added in (sl__backend_counted()). Under p->bk_mu */
	uint32_t pred1;
	uint32_t succ1; /* 1 + the slot whose pred1 names this one, or 0; under p->bk_mu */
	/* its own counts (slot alone) when the last successor down the chain took the series */
	uint64_t handed[SL_BCTR_COUNT];
	/* health: 1 = up, 0 = down. The checker's target.up points here (sl_health stores it, on a
	 * transition only); workers read it relaxed: the flag publishes no other data */
	_Atomic uint8_t up;
	/* passive ejection: backend skipped while loop clock < this (CLOCK_MONOTONIC ms) */
	_Atomic uint64_t ejected_until_ms;
	/* when it last came up, CLOCK_MONOTONIC ms, for the group's slowstart: stored by the
	 * checker at each transition to up, by an enable and by a fill at run time
	 * (sl__backend_came_up()); 0 = at start (no ramp). The end of a passive ejection counts
	 * too (ejected_until_ms, group.c). Read relaxed per pick: the value alone is communicated
	 */
	_Atomic uint64_t up_at_ms;
	_Atomic uint32_t fails;      /* consecutive connect failures, any worker */
	_Atomic uint32_t backoff_ms; /* next ejection's length; 0 = passive.backoff_ms */
	/* sessions holding the slot, whole process: +1 at a pick, -1 (R4, release) when the
	 * session lets go of it for good (sl__wgroup_put()); a removed slot is reused at 0 only */
	_Atomic uint32_t conns;
} SL_CACHELINE_ALIGNED;

/* A count shared by every worker, on its own cache line. */
struct sl_conn_count {
	_Atomic uint32_t n;
} SL_CACHELINE_ALIGNED;

/*
 * The process out of fds at accept4() (EMFILE, ENFILE), shared by every worker on its own cache
 * line (listener.c): the first listener to meet it logs one warning, the last to have served
 * its backlog again logs one line. Atomics written by any worker, relaxed (counts and figures
 * for the log, publishing nothing).
 */
struct sl_fd_shortage {
	_Atomic uint32_t listeners; /* listeners (one per worker each) in it now */
	_Atomic uint64_t since_ms;  /* loop clock when the first met it */
	_Atomic uint64_t failures;  /* accept4() calls it failed since */
	uint64_t file_max;          /* fs.file-max, read at create (0: unknown); then read-only */
} SL_CACHELINE_ALIGNED;

/*
 * What every worker shares of one listener, on its own cache lines: its session count (when
 * max_connections is set), its new-connection bucket (when rate is set) and its per-source
 * table (when source_limits is set). filter_limits.c and listener.c.
 */
struct sl_lshared {
	_Atomic uint32_t conns; /* relaxed: a count, publishing nothing */
	/* 1 + the slot this listener was re-opened from while that one still holds sessions,
	 * which count against this one's max_connections too (sl__lshared_pred_conns()); 0:
	 * none. Written under bk_mu; relaxed: a hint for a count */
	_Atomic uint32_t pred;
	pthread_spinlock_t rate_mu; /* guards rate and rate_as */
	struct sl_tbucket rate;
	/* the rate the bucket was last taken under: a reload's new one fits it first */
	struct sl_tbucket_rate rate_as;
	struct sl_srctab *sources; /* NULL without source_limits */
} SL_CACHELINE_ALIGNED;

/*
 * A group as one worker sees it: its own balancer instance and session counts, and its queue
 * of sessions waiting for a backend slot (max_queue; session.c).
 */
struct sl_wgroup {
	const struct sl_config_group *cfg; /* in the layout snapshot */
	struct sl_backend *backends;       /* the proxy's slot table, shared */
	size_t n;                          /* slots: max_backends */
	/* this worker's balancer over the group's members (NULL: none) and its map from balancer
	 * index to slot; replaced whole by a backend change (backends.c) */
	struct sl_lb *lb;
	uint16_t *map;
	size_t nmap;
	bool *member;         /* [n]: the slot is in <map> (warm pools follow it) */
	uint32_t *active;     /* sessions per slot on this worker (least_conn, p2c) */
	bool hash_key;        /* maglev: the flow key is a hash of the client address */
	bool has_backup;      /* a member is a backup (set with the members) */
	struct sl_warm *warm; /* this worker's warm pool for the group; NULL when size is 0 */
	/* the queue: sessions in QUEUED on this worker, oldest first, linked through the session
	 * (qnext, qprev) */
	struct sl_session *qhead, *qtail;
	uint32_t nqueued;
	struct sl_loop *loop;
	struct sl_defer qwake; /* queued when a capped backend's slot frees on this worker */
	struct sl_timer qpoll; /* every SL_QUEUE_POLL_MS while nqueued > 0: frees elsewhere */
	struct sl_conn_count *queued; /* the group's queued sessions, whole process: p->queued[g] */
};

struct sl_pworker;

/* Group slots a process keeps for groups a reload adds, beyond the start file's. */
#define SL_GSLOTS_SPARE 16
/* Backend slots of a group a reload adds: its max_backends (or default) must fit. */
#define SL_GSLOT_BACKENDS 64

/* What a group slot holds (struct sl_gslot.state). */
enum sl_gslot_state {
	SL_GSLOT_FREE,    /* never filled */
	SL_GSLOT_ADDING,  /* filled by a reload not yet published: unseen by workers */
	SL_GSLOT_LIVE,    /* a group of the current configuration */
	SL_GSLOT_RETIRED, /* removed by a reload: no listener uses it, sessions may remain */
};

/*
 * One group slot of the process (p->gslots, p->gcap of them, fixed at create: the start file's
 * groups, then SL_GSLOTS_SPARE free ones): slot g's group owns every per-group object at index
 * g (backend table, balancers, queue counts, each worker's w->groups[g], its statistics). A
 * reload matches the file's groups with the slots by name: a new name fills a free slot (built
 * before anything is published), a group the file leaves out is retired (no listener of the new
 * file can reach it; its health checks stop; it is shown while a session holds it) and goes live
 * again if a later file names it. When no free slot is left, a new name takes the slot of a
 * group a reload added and a later one retired, once nothing of it is held any more (the one
 * retired longest ago first): reset whole, its old name gone. A start file's slot is never
 * reused. greload.c.
 */
struct sl_gslot {
	/* the group's fixed copy: the start file's group, or an added group's configuration with
	 * its backend list left out. Written by the controlling thread only while the slot is FREE
	 * or ADDING (no worker reads it then), but for balance and maglev_table_size, which a
	 * reload changes under p->bk_mu (backends.c) and only the controlling thread reads */
	struct sl_config_group cfg;
	/* the group as the current snapshot has it (its live fields: retries, passive, max_queue),
	 * or &cfg once retired. Written by the controlling thread (R1 in greload.c) before the
	 * snapshot it points into is published, read by workers through sl__group_live() (A3) */
	_Atomic(const struct sl_config_group *) live;
	/* enum sl_gslot_state: written under p->bk_mu; read relaxed by statistics and pickers of
	 * names (the state alone is communicated) */
	_Atomic uint8_t state;
	/* the group's own checker: an added group's, or a start file's group's whose checks a
	 * reload turned on (NULL: none, or the start file's group is in p->health) */
	struct sl_health *health;
	/* the health check its checker runs now, owned, with the earlier ones a checker may still
	 * read (freed once no target reads them, at the next change, or with the slot); NULL: the
	 * start file's, cfg.health. Controlling thread, under p->bk_mu (greload_health.c) */
	struct sl__health_cfg *hcur;
	unsigned hproxy; /* the PROXY header version its checks send (send_proxy) */
	/* the warm pool its workers keep now (a reload may resize a start file's pool); under
	 * p->bk_mu */
	uint32_t warm_size, warm_idle_ms;
	/* CLOCK_MONOTONIC ms when a reload last retired it: of the slots to reclaim, the lowest
	 * goes first. Under p->bk_mu */
	uint64_t retired_ms;
	/* a reclaim gave up waiting for the workers: some may have let go of their view of the
	 * group, so the slot is never brought back by its name (sl__group_slot() skips it), only
	 * reclaimed again (a worker's drop is idempotent). Under p->bk_mu */
	bool dropping;
};

/* What a listener slot holds (struct sl_lslot.state). */
enum sl_lslot_state {
	SL_LSLOT_FREE,    /* no listener; nothing of one is left */
	SL_LSLOT_LIVE,    /* a listener of the current configuration */
	SL_LSLOT_RETIRED, /* removed or re-opened by a reload: no socket, sessions may remain */
};

/*
 * One listener slot of the process (p->lslots, p->lcap of them, fixed at create): the slot's
 * listener is w->listeners[i] in every worker w, p->lshared[i] and the listener counters at i.
 * A reload fills a free slot with a new or re-opened listener and retires the slot of one it
 * removes or re-opens; a retired slot is freed once every worker has closed its socket and its
 * last session (by the next reload, or at destroy). lreload.c.
 */
struct sl_lslot {
	/* the listener's fixed fields: a copy of its configuration made when the slot was
	 * filled, with its owned pointers (acl, acl_rules, proxy_in.trusted and trusted_prefixes)
	 * NULL. Written by the controlling thread only while the slot is FREE (no worker reads it
	 * then) */
	struct sl_config_listener cfg;
	/* the listener as the current snapshot has it (its live fields), &cfg once retired.
	 * Written by the controlling thread (R1, R4, R5 in lreload.c) before the snapshot it points
	 * into is published, read by workers through sl__listener_live() (A2) */
	_Atomic(const struct sl_config_listener *) live;
	struct sl_addr bound; /* address after bind (port 0 resolved); controlling thread */
	/* enum sl_lslot_state: written under p->bk_mu; read relaxed by statistics */
	_Atomic uint8_t state;
	bool used; /* filled once at least: its counters hold an earlier listener's totals */
	/* what statistics subtract from the slot's counters (not the active gauge): their sums
	 * when it was filled, less what retired slots of its name left when freed
	 * (sl__metrics_listener_filled(), _freed()). Under bk_mu */
	uint64_t ctr_base[SL_LCTR_COUNT];
	/* the steering program of steering: cpu is attached to its sockets' group
	 * (sl__proxy_steer()); controlling thread */
	bool steered;
	/* workers still holding the retired slot (its socket or a session): nworkers when it
	 * is retired, -1 by each worker once both are gone (R2 in listener.c); read by the
	 * controlling thread (A3 in lreload.c) */
	_Atomic unsigned holders;
};

/* One configured listener in one worker. */
struct sl_plistener {
	struct sl_pworker *w;                 /* NULL while the slot was never filled */
	const struct sl_config_listener *cfg; /* the slot's fixed copy: p->lslots[index].cfg */
	size_t index;                         /* the slot: in p->lslots */
	int fd;                               /* -1 once closed */
	bool retired; /* a reload removed it: report to holders when its last session ends */
	struct sl_defer gone; /* reports it, after the callback that closed the last session */
	struct sl_io io;
	struct sl_defer more;  /* resumes accepting after a pause or an accept error */
	struct sl_timer retry; /* retries accept after running out of fds, or at a cap */
	uint32_t active;       /* sessions of this listener on this worker */
	/* at a session cap: from the accept that finds none to the one that finds a slot again
	 * (looked for when a session closes here, and on the timer); one accept_pauses each */
	bool paused;
	bool muted; /* paused or retrying: READ interest removed (it is level-triggered) */
	/* accept4() found no fd (EMFILE, ENFILE) and the backlog has not been emptied since:
	 * one of p->fd_shortage->listeners */
	bool out_of_fds;
	uint8_t batch;  /* accepts per report: 1 .. SL_ACCEPT_BATCH, halved on EAGAIN */
	uint8_t streak; /* reports in a row that used the whole batch (more were waiting) */
	uint8_t grow;   /* streak that doubles the batch: ACCEPT_GROW_MIN .. _MAX (listener.c) */
	bool grown;     /* the batch was just doubled: did the next report use it all? */
	const struct sl_fwd_ops *fwd_ops;
	struct sl_fwd_env env; /* pipe cache (splice) and buffer pool (copy) of this listener */
	struct sl_wgroup *group;
};

struct sl_session;
struct sl_accesslog;
struct sl_discover;

struct sl_pworker {
	struct sl_proxy *p;
	struct sl_worker *w;
	struct sl_loop *loop;
	unsigned index;
	struct sl_plistener *listeners; /* [p->lcap]: by listener slot */
	/* [p->lcap]: slot i's listener is in this worker's loop (sl__listener_start()). The
	 * worker's alone once it runs: a slot a reload is filling is not its yet */
	bool *lstarted;
	struct sl_wgroup *groups;
	/* [p->gcap]: group slot g's view here has a warm pool to keep in step (drain, health).
	 * Set at setup for the start file's groups, then by the worker alone: when it takes an
	 * added group's first change (backends.c) and when it lets a slot go (greload.c), so it
	 * never reads a view a reload is filling */
	bool *gpooled;
	/* what every warm pool of this worker counted, retired ones too: the pools count here
	 * (worker thread), statistics read it (relaxed) */
	struct sl_warm_counters warm_counts;
	struct sl_pool *sessions; /* struct sl_session blocks */
	struct sl_pool *pp_keep;  /* struct sl_pp_keep blocks; NULL when no listener takes PROXY */
	uint8_t *pp_buf;          /* scratch for PROXY headers in and out */
	size_t pp_buf_size;
	struct sl_session *live;       /* doubly linked list of open sessions */
	struct sl_fwd_sockmap sockmap; /* this worker's share of p->sockmap; dirs NULL: none */
	size_t nlive;
	bool draining; /* listeners closed; report idle when nlive reaches 0 */
	bool idle_reported;
	uint64_t local_wait_logged_ms; /* session.c: loop clock of the last LOCAL_WAIT warning */
	uint64_t no_backend_logged_ms; /* session.c: loop clock of the last no_backend warning */
	uint64_t no_backend_unlogged;  /* clients closed as no_backend since that warning */
	struct sl_msg drain_msg, kill_msg;
	/* health transitions: at most one health_msg queued (health_pending set while it is) */
	struct sl_msg health_msg;
	_Atomic bool health_pending;
	/* metrics.c: latency recorded by this worker, and two copies of it: snap[shown], the
	 * last one the worker gave back, which a scrape reads, and snap[!shown], which the worker
	 * writes while <lent> (a late worker's figures are older, never missing). <lent> and
	 * <shown> change under p->mx.sync_mu; <shown> only on the worker */
	struct sl_hist hist[SL_PHIST_COUNT];
	struct sl_hist snap[2][SL_PHIST_COUNT];
	unsigned shown;
	struct sl_msg sync_msg;
	bool lent;
	/* binary upgrade (handover.c): the listeners closed first, on every worker, then sessions
	 * holding their reads until they are empty enough to move, and the deadline after which
	 * the rest read again and stay */
	struct sl_msg shut_msg;
	struct sl_msg move_msg;
	struct sl_timer move_timer;
	uint32_t nholding;
	bool moving;
};

/* The statistics registry and what only it needs (metrics.c). */
struct sl_metrics {
	struct sl_stats *reg;
	struct sl_counter_set *lctr, *bctr;   /* slot = worker index, like sl_proxy.ctr */
	struct sl_counter_def *ldefs, *bdefs; /* their definitions */
	size_t *bbase;                        /* [group]: flat index of its first backend */
	size_t nbackends;
	unsigned process_reads;     /* index of the process set's first read definition */
	pthread_mutex_t collect_mu; /* one collection at a time; held while snapshots are read */
	pthread_mutex_t sync_mu;    /* guards every worker's <lent> */
	pthread_cond_t sync_cv;     /* a worker gave its snapshot back */
	/* 1 between the end of sl_proxy_start() and the start of the drain; relaxed */
	_Atomic bool listening;
	/* admin endpoint connections refused for their source (sl_proxy_count_admin_refused()) */
	_Atomic uint64_t admin_refused;
	/* sessions lost on their way in a binary upgrade (sl_proxy_count_moves_lost()) */
	_Atomic uint64_t moves_lost;
	bool init; /* the mutexes exist */
};

/* A group's backend set as the controlling thread last published it (backends.c). */
struct sl_bset {
	uint32_t cap;  /* slots: max_backends */
	uint16_t *map; /* balancer index -> slot, members in slot order; NULL when none */
	size_t nmap;
	size_t health_base; /* index of slot 0's target in p->health; SIZE_MAX: no checks */
};

struct sl_proxy {
	/* the layout: the snapshot given to sl_proxy_create() (borrowed), from which sockets,
	 * pools, balancers, warm pools and the checker were built; it never changes */
	const struct sl_config *cfg;
	/* the current snapshot: <cfg>, or the last one published (owned). Written by the
	 * controlling thread (release, R3 in snapshot.c); workers read it through
	 * sl__proxy_config()
	 */
	_Atomic(const struct sl_config *) cur;
	struct sl_epoch *epoch; /* participant i = worker i's loop; retires replaced snapshots */
	unsigned nworkers;
	struct sl_backend **backends; /* [group][slot] */
	/* [group]: prototypes over the current members (NULL: none), cloned per worker; with
	 * bsets, written under bk_mu */
	struct sl_lb **lbs;
	struct sl_bset *bsets; /* [group] */
	/* serialises backend changes (backends.c) and guards bk_live, lbs and bsets */
	/* held by a reload throughout, and to change <sockets_held>: while the sockets are held
	 * (sl_proxy_hold_sockets()), a reload is refused */
	pthread_mutex_t reload_mu;
	bool sockets_held;
	pthread_mutex_t bk_mu;
	bool bk_live; /* workers run and take backend changes: set by start, cleared by drain */
	struct sl_counter_set *ctr;
	struct sl_worker_group *wg;
	struct sl_pworker *workers;
	struct sl_health *health; /* NULL when no group has active checks */
	/* what the group slots' own checkers counted before they were destroyed, so that the
	 * health counters never go back (sl__health_stats_sum()); under bk_mu */
	struct sl_health_stats health_retired;
	struct sl_discover *disc; /* NULL when no group has discover (discover.c) */
	/* listener slots (lreload.c): [lcap], as many as the pool table allows with nworkers
	 * workers, the first cfg->nlisteners filled at create; states change under bk_mu */
	struct sl_lslot *lslots;
	size_t lcap;
	size_t lretired; /* slots RETIRED now; under bk_mu */
	/* this host's addresses, for a backend that would reach a wildcard listener
	 * (backends.c), and when they were read (sl_clock_ns()); under bk_mu */
	struct sl_host_addrs *host_addrs;
	uint64_t host_addrs_ns;
	/* group slots (greload.c): [gcap], slot g < cfg->ngroups the start file's group g; a
	 * listener slot's cfg.group is a group slot; states change under bk_mu */
	struct sl_gslot *gslots;
	size_t gcap;
	/* process-wide session cap in force (budget.c); a reload that opens listeners may lower
	 * one the fd limit decided. Written by the controlling thread, read relaxed (a bound,
	 * publishing nothing) */
	_Atomic uint32_t max_conns;
	/* the cap sl__budget_apply() set at start: one the fd limit decides never grows past it
	 * (what the start sized by it, sockmap slots for one, stays). Controlling thread */
	uint32_t max_conns_start;
	/* the cap a reload's warm pool change leaves (sl__budget_check_warm()), applied with the
	 * change (backends.c); 0: none. Controlling thread, under bk_mu */
	uint32_t warm_cap;
	/* fds the health checks hold beyond the start file's count (sl__budget_health_extra()):
	 * in force (set when a reload's checks apply), and as the last reload's prepare found
	 * for its file; the budget counts the larger. With health_cap, the cap that leaves (0:
	 * none). Controlling thread, under bk_mu */
	int64_t hextra, hextra_next;
	uint32_t health_cap;
	/* sessions open, whole process, and per listener (when its max_connections is set):
	 * reserved before accept4(), released at close (listener.c); any worker, relaxed */
	struct sl_conn_count *conns;        /* one */
	struct sl_fd_shortage *fd_shortage; /* one */
	/* loop clock (ms) when a pause at a session cap was last logged (listener.c): once a
	 * minute at most, by whichever worker meets it first; any worker, relaxed */
	_Atomic uint64_t cap_said_ms;
	struct sl_lshared *lshared; /* [lcap]: by listener slot */
	/* sessions waiting in a group's queue, whole process, against its max_queue: any worker,
	 * relaxed (a count, publishing nothing) */
	struct sl_conn_count *queued; /* [group] */
	struct sl_accesslog *alog;    /* NULL without an access_log (accesslog.c) */
	/* the XDP program the workers add bans to (sl_proxy_use_xdp()); NULL: none. Set before
	 * start, outlives the workers */
	struct sl_xdp *xdp;
	/* the sockmap forwarder's program and maps (sockmap.h), loaded at create when the start
	 * file has a forward: sockmap listener; NULL: none (those listeners splice) */
	struct sl_sockmap *sockmap;
	bool sockmap_refused; /* the start file asked for it and the load failed */
	/* binary upgrade (handover.c): the listening sockets handed over by the process this one
	 * replaces, taken by listener.c in worker order (a taken entry's fd is -1); and every
	 * worker's listening fd as opened, [worker * lcap + slot] (-1: none), from start until
	 * the drain closes them; a reload changes a slot's under bk_mu */
	struct sl_proxy_socket *inherited;
	size_t ninherited;
	int *lfds;
	/* sessions the workers handed over (sl_proxy_export()), guarded by mu: open while the
	 * export waits; the workers that closed their listeners, and that finished holding */
	struct sl_proxy_moved *moved;
	size_t nmoved, moved_cap;
	bool move_open;
	unsigned shut_workers, moved_workers;
	uint32_t move_wait_ms;
	unsigned adopt_next;        /* the worker the next adopted session goes to */
	struct sl_profile *profile; /* NULL without profiling: (profile.c) */
	bool running;
	bool listening; /* sl_proxy_listen() opened every worker's listeners */
	/* workers pinned one per CPU, for the listeners with steering: cpu (proxy.c) */
	bool steer_cpu;
	struct sl_metrics mx;

	/* drain: workers report idleness here */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned idle_workers; /* guarded by mu */
	bool drain_cut;        /* guarded by mu: sl_proxy_drain_cut() ends the wait for idleness */
};

/*
 * The current configuration snapshot. On a worker, from a loop callback: valid until the
 * callback returns (the loop's next quiescent point), so never keep it, or a pointer into it,
 * in a session or anywhere else that outlives the callback. On the controlling thread (the
 * only one that publishes): valid until it publishes again.
 * Live fields, read per event through it: listener timeouts, allow/deny, the PROXY trust list
 * and timeout, the listener rate and the per-source limits; group retries, passive ejection
 * and max_queue. Everything else is fixed by the layout (sl__proxy_publish_config() checks it).
 */
static inline const struct sl_config *
sl__proxy_config(struct sl_proxy *p)
{
	/* A1: pairs with R3 in sl__proxy_publish_config(): the snapshot's contents are visible */
	return atomic_load_explicit(&p->cur, memory_order_acquire);
}

/*
 * The configuration of listener <l> in the current snapshot, for its live fields (timeouts,
 * allow/deny, PROXY trust, rate, limits, bandwidth). The listener's worker, in a loop callback:
 * valid until the callback returns, like sl__proxy_config().
 */
static inline const struct sl_config_listener *
sl__listener_live(const struct sl_plistener *l)
{
	/* A2: pairs with R1, R4 in sl__listeners_apply() and R5 in sl__listeners_point()
	 * (lreload.c): the listener's fields are visible */
	return atomic_load_explicit(&l->w->p->lslots[l->index].live, memory_order_acquire);
}

/*
 * Group slot <g> as the current snapshot has it, for its live fields (retries, passive
 * ejection, max_queue); the start file's once retired. A worker, in a loop callback: valid
 * until the callback returns, like sl__proxy_config().
 */
static inline const struct sl_config_group *
sl__group_live(struct sl_proxy *p, size_t g)
{
	/* A3: pairs with R1 in sl__groups_point() (greload.c): the group's fields are visible */
	return atomic_load_explicit(&p->gslots[g].live, memory_order_acquire);
}

static inline void
sl__ctr_add(struct sl_pworker *w, enum sl_ctr c, uint64_t n)
{
	sl_counter_add(w->p->ctr, w->index, (unsigned)c, n);
}

/* ---- metrics.c ---- */

/*
 * Builds p->mx: the per-listener and per-backend counters and the registry with every set
 * (process, bytes, timeout, reason, listener, backend, group, health, warm, latency). After
 * p->ctr and p->health exist; 0 or -errno. sl__metrics_destroy() undoes it however far it got.
 */
/*
 * profile.c: with profiling: on, opens each worker's perf counters (through its mailbox; the
 * workers must run) and the tcp trace instance and its reader thread, and adds what opened to
 * the registry; logs what is unavailable and why. Controlling thread, at the end of
 * sl_proxy_start(). 0, or -ENOMEM (nothing unavailable is an error). stop ends the reader
 * thread and removes the trace instance; destroy (after the workers and the registry are gone)
 * closes the counters and frees.
 */
int sl__profile_start(struct sl_proxy *p);
/*
 * One line of trace_pipe: if it is a tcp_retransmit_skb, tcp_send_reset or tcp_receive_reset
 * event, stores its kind (SL__PROFILE_*) and its remote end as sl_addr_format() writes it
 * ("127.0.0.1:9001", "[::1]:9001") in <remote> (<size> bytes) and returns true. Pure.
 */
enum { SL__PROFILE_RETRANSMIT, SL__PROFILE_RESET_SENT, SL__PROFILE_RESET_RECEIVED };
bool sl__profile_parse_line(const char *line, unsigned *kind, char *remote, size_t size);
void sl__profile_stop(struct sl_proxy *p);
void sl__profile_destroy(struct sl_proxy *p);

int sl__metrics_create(struct sl_proxy *p);
void sl__metrics_destroy(struct sl_proxy *p);
/* Worker <w>'s histograms and sync message (sl__pworker_init()/fini()). 0 or -ENOMEM. */
int sl__metrics_worker_init(struct sl_pworker *w);
void sl__metrics_worker_fini(struct sl_pworker *w);
/* The proxy starts or stops taking clients (for readiness). Controlling thread. */
void sl__metrics_set_listening(struct sl_proxy *p, bool on);
/* Session hooks (session.c), on the session's worker: they read the loop's clock, no other. */
void sl__metrics_opened(struct sl_session *s);
void sl__metrics_connecting(struct sl_session *s);
void sl__metrics_connected(struct sl_session *s);
void sl__metrics_connect_failed(struct sl_session *s);
/* Called while s->mark_us != 0 after the forwarder ran: records the backend's first byte. */
void sl__metrics_forwarded(struct sl_session *s);
/* At close: the bytes not yet counted, the session's duration, the active gauges. */
void sl__metrics_closed(struct sl_session *s);
/*
 * Listener slot <i> is filled (its counters start from 0, plus what retired slots of its name
 * still count), or retired slot <i> is freed (what it counted moves into the live slot of its
 * name, if one has it): one series per listener name that never goes back. Under bk_mu.
 */
void sl__metrics_listener_filled(struct sl_proxy *p, size_t i);
void sl__metrics_listener_freed(struct sl_proxy *p, size_t i);
/* Backend slot <flat> (the index of the statistics' backend sets: p->mx.bbase[g] + slot). */
const struct sl_backend *sl__metrics_backend_at(const struct sl_proxy *p, size_t flat);
/* Statistics callbacks for a set with an instance per backend slot, <arg> the proxy: shown
 * while the slot holds a backend, its label 1 the occupant's name now. */
bool sl__metrics_backend_present(void *arg, size_t inst);
bool sl__metrics_backend_label(void *arg, size_t inst, unsigned j, char *buf, size_t size);
/* A session arrived forwarding from the previous process (binary upgrade): counted as opened
 * and connected (no latency recorded), its earlier bytes not counted again. */
void sl__metrics_adopted(struct sl_session *s);
/* A session leaves for the next process: its bytes counted, its gauges given back. */
void sl__metrics_moved(struct sl_session *s);

/* ---- stats.c ---- */

/* Names and kinds of enum sl_ctr: the proxy's counter set. */
extern const struct sl_counter_def sl__ctr_defs[SL_CTR_COUNT];

/* ---- backend.c ---- */

/* true if the backend may be picked now: up, not ejected, below its cap. Any worker. */
bool sl__backend_is_eligible(const struct sl_backend *b, uint64_t now_ms);
/* true if the backend would be eligible but for its cap: up, not ejected, at max_connections. */
bool sl__backend_is_full(const struct sl_backend *b, uint64_t now_ms);
/*
 * true if the backend takes new sessions but for its cap and a session's tries: enabled, up,
 * not ejected. While one primary of a group serves, its backups take nothing.
 */
bool sl__backend_serves(const struct sl_backend *b, uint64_t now_ms);
/* Takes a slot under max_connections (no-op if uncapped). false if the backend is full. */
bool sl__backend_try_acquire(struct sl_backend *b);
/* Gives the slot back (no-op if uncapped). */
void sl__backend_release(struct sl_backend *b);
/*
 * A connect to <b> failed at <now_ms>; <g> is its group in the current snapshot (its passive
 * setting, and its name for the log). Returns true if this failure ejected the backend.
 */
bool sl__backend_connect_failed(struct sl_backend *b, const struct sl_config_group *g,
                                uint64_t now_ms);
/* A connect to <b> succeeded: clears the failure streak and the backoff. */
void sl__backend_connect_succeeded(struct sl_backend *b);
/* Stores <up> into b->up. The running checker writes the flag itself (its target.up points at
 * it) and must be its only writer; this is for setup and tests. Any thread. */
void sl__backend_set_up(struct sl_backend *b, bool up);
/* <b> came up now (enabled, or added at run time): its slowstart ramp starts (up_at_ms). */
void sl__backend_came_up(struct sl_backend *b);

/* ---- group.c ---- */

/*
 * Whether group <cg>'s connections can come from its source (none: yes): a socket of its family
 * binds it, port left to the connect. 0, or a negative errno with the reason in <why>.
 */
int sl__group_source_check(const struct sl_config_group *cg, char *why, size_t size);

/*
 * Sets up group <cfg>'s view on a worker: slot table <backends> (<cap>), a clone of <proto>
 * (NULL: no member) and a copy of <map> (<nmap>). Controlling thread, under p->bk_mu.
 */
int sl__wgroup_init(struct sl_wgroup *g, const struct sl_config_group *cfg,
                    struct sl_backend *backends, uint32_t cap, const struct sl_lb *proto,
                    const uint16_t *map, size_t nmap, unsigned seed);
void sl__wgroup_fini(struct sl_wgroup *g);
/*
 * Creates the group's warm pool on <loop> if warm_pool.size > 0: filling (worker setup), or
 * with <off> every backend disabled and the loop untouched (a group a reload adds, built on the
 * controlling thread; its members' first change on the worker enables them). It counts into
 * <counts>, its worker's. 0 or -errno.
 */
int sl__wgroup_warm_open(struct sl_wgroup *g, struct sl_loop *loop, bool off,
                         struct sl_warm_counters *counts);
/*
 * Enables warm refills for the backends that are up and disables them (closing their idle
 * connections) for those that are down, or for every backend if <off>. No-op without a pool.
 * The group's worker thread (or the controlling thread while the worker is stopped).
 */
void sl__wgroup_warm_sync(struct sl_wgroup *g, bool off);
/*
 * Picks a backend for <s> not in its tried list, takes its connection slot and counts it
 * active on this worker. Returns the index, or -ENOENT when none is eligible.
 */
int sl__wgroup_pick(struct sl_wgroup *g, struct sl_session *s, uint64_t now_ms);
/*
 * The live slot of backend <name> in group <g>, held for a session that arrives forwarding to
 * it (its process-wide count taken: not reused under it), or -ENOENT. Not on a worker.
 */
int sl__backend_hold_by_name(struct sl_proxy *p, size_t g, const char *name);
/* Counts a session that arrived forwarding to slot <i> on this worker (binary upgrade); the
 * slot's process-wide count was taken already (sl_proxy_adopt()). No cap applies. */
void sl__wgroup_adopt(struct sl_wgroup *g, int i);
/*
 * Undoes the accounting of sl__wgroup_pick() for backend <i>. A slot of a capped backend
 * freed while sessions are queued here wakes the queue (through g->qwake, never at once).
 */
void sl__wgroup_put(struct sl_wgroup *g, int i);
/*
 * true if some backend <s> has not tried is at its max_connections and would otherwise be
 * eligible: a slot may free. What makes a session with no eligible backend wait in the queue.
 */
bool sl__wgroup_has_full(const struct sl_wgroup *g, const struct sl_session *s, uint64_t now_ms);
/* Slots of group <cfg>'s backend table: max_backends, or its default. */
uint32_t sl__group_capacity(const struct sl_config_group *cfg);
/*
 * Builds a balancer of group <cfg>'s algorithm over the LIVE slots of <slots> (<cap>), in slot
 * order, and the map from its indices to slots (<*map>, <*nmap>). No member: 0 with *out and
 * *map NULL. 0, -EINVAL, -ENOMEM. Under p->bk_mu (or before the proxy is shared).
 */
int sl__group_lb_build(struct sl_lb **out, uint16_t **map, size_t *nmap,
                       const struct sl_config_group *cfg, const struct sl_backend *slots,
                       uint32_t cap);
/* Fills empty slot <b> with a backend: identity, weight, role, admin ENABLED, state LIVE. */
void sl__backend_fill(struct sl_backend *b, const char *name, const struct sl_addr *addr,
                      uint32_t weight, uint32_t max_connections, bool backup, bool discovered);
/*
 * On the group's worker: makes <lb> and <map> (owned from now on) the group's balancer, frees
 * the old ones, and brings the warm pool in line (new members get their address). */
void sl__wgroup_set_members(struct sl_wgroup *g, struct sl_lb *lb, uint16_t *map, size_t nmap,
                            bool off);

/* ---- filter.c ---- */

enum sl_filter_verdict {
	SL_FILTER_ACCEPT, /* go on to the balancer */
	SL_FILTER_REJECT, /* close the client, counted under s->reject */
	SL_FILTER_DEFER,  /* wait: sl__session_defer() was called; run again on client readiness */
	/* the client left before the stage had what it waits for, with its FIN (LEFT) or a
	 * reset (RESET): closed as it left, no backend tried */
	SL_FILTER_LEFT,
	SL_FILTER_RESET,
};
/*
 * Runs the filter chain on a session in ACCEPTED, from the stage after the last that accepted
 * (a deferred stage runs again). On REJECT s->reject holds the reason.
 */
enum sl_filter_verdict sl__filter_run(struct sl_session *s);
/*
 * The deferred stage's deadline passed: returns the counter to count it under (a reject
 * reason's, or a timeout kind's) and sets s->reject when it is a reject.
 */
enum sl_ctr sl__filter_timed_out(struct sl_session *s);
/* The deferred stage's wait as the current snapshot says, ms (0: it waits no longer). */
uint32_t sl__filter_wait_ms(const struct sl_session *s);
/*
 * A session moved in by a binary upgrade passed the chain in the process it came from: the
 * stages that hold something for a session's life take it here, checking no limit, and close
 * gives it back as for any other.
 */
void sl__filter_adopt(struct sl_session *s);
/* The session closes: every stage that accepted gives back what it holds. */
void sl__filter_release(struct sl_session *s);

/* ---- filter stages: session_proxyproto.c, filter_acl.c ---- */

struct sl_pp_keep;
/* PROXY header in (a listener with proxy_protocol), the chain's first stage. */
enum sl_filter_verdict sl__pp_in_run(struct sl_session *s);
enum sl_ctr sl__pp_in_timed_out(struct sl_session *s);
uint32_t sl__pp_in_wait_ms(const struct sl_session *s);
/* allow/deny prefixes on the client address. */
enum sl_filter_verdict sl__acl_run(struct sl_session *s);
/* The listener's new-connection rate, whole process (filter_limits.c). */
enum sl_filter_verdict sl__listener_rate_run(struct sl_session *s);
/*
 * Per-source concurrent connections, rate and ban (filter_limits.c); release gives the slot
 * back. adopt takes a slot for a session moved in by an upgrade, checking no limit (it is
 * open). strike counts a cut of <kind> (enum sl_timeout_kind) against the session's source when
 * that kind is a slow-client cut (min_rate, first_byte) and the listener bans (call it before
 * the session closes).
 */
enum sl_filter_verdict sl__source_run(struct sl_session *s);
void sl__source_adopt(struct sl_session *s);
void sl__source_strike(struct sl_session *s, int kind);
void sl__source_release(struct sl_session *s);

/*
 * Bandwidth limits (bandwidth.c): the forwarders' limiter (struct sl_fwd_limiter) every listener
 * env carries; sl__bandwidth_init() marks a new session's limited directions and fills its
 * buckets; sl__bandwidth_wake_ms() is the loop clock when a paused direction may read again.
 */
extern const struct sl_fwd_limiter sl__bandwidth_limiter;
void sl__bandwidth_init(struct sl_session *s);
uint64_t sl__bandwidth_wake_ms(struct sl_session *s, uint64_t now_ms);
/*
 * Idle deadlines a socket's own progress moves on (idle.c). sl__idle_start() forgets what the
 * sockets of a session entering FORWARDING moved before. sl__idle_look(): an idle deadline
 * passed at loop clock <now>: reads both sockets and, if either moved on its own since the last
 * read, or at the first read with bytes in flight, stamps both sides as moved at <now>. A side
 * whose deadline still passed after it is idle.
 */
void sl__idle_start(struct sl_session *s);
void sl__idle_look(struct sl_session *s, uint64_t now);
/* Waits for the client's first byte (timeouts.first_byte; filter_first_byte.c). */
enum sl_filter_verdict sl__first_byte_run(struct sl_session *s);
enum sl_ctr sl__first_byte_timed_out(struct sl_session *s);
uint32_t sl__first_byte_wait_ms(const struct sl_session *s);
/* Makes p->lshared (counts, buckets, per-source tables) for every listener slot. 0 or -errno. */
int sl__lshared_create(struct sl_proxy *p);
void sl__lshared_destroy(struct sl_proxy *p);
/* Fills slot <i>'s shared part for its listener (p->lslots[i].cfg): 0 or -errno (logged). */
int sl__lshared_fill(struct sl_proxy *p, size_t i);
/*
 * Carries the bans running in slot <from>'s source table into slot <to>'s (a listener a reload
 * re-opens), each with its end (sl_srctab_import_ban()), when both slots' listeners ban. Logs
 * how many it carried and, once, how many it could not. Under bk_mu; controlling thread.
 */
void sl__lshared_carry_bans(struct sl_proxy *p, size_t from, size_t to);
/* Empties slot <i>'s shared part (no session of it is left); a slot that followed it follows
 * its predecessor. Under bk_mu. */
void sl__lshared_clear(struct sl_proxy *p, size_t i);
/*
 * Slot <to> holds the listener a reload re-opened from slot <from>: the sessions <from> (and
 * its own predecessors) still hold count against <to>'s max_connections, so a re-open never
 * doubles the cap. Under bk_mu, before <to>'s listener is posted to the workers.
 */
void sl__lshared_follow(struct sl_proxy *p, size_t from, size_t to);
/* The sessions slot <i>'s predecessors hold (sl__lshared_follow()); any worker. */
uint32_t sl__lshared_pred_conns(const struct sl_proxy *p, size_t i);
/*
 * Writes the group's PROXY header to the new backend connection s->sfd, before any client
 * byte: the client address, the destination and any v2 TLVs that came in. 0 or -errno.
 */
int sl__pp_out_send(struct sl_session *s);
/* Frees what the header in kept for the header out (s->pp), if anything. */
void sl__pp_keep_put(struct sl_session *s);
/* true if worker <w>'s PROXY buffers hold headers listener <c> takes (or it takes none). */
bool sl__pp_worker_fits(const struct sl_pworker *w, const struct sl_config_listener *c);
/* A worker's PROXY buffers: pp_buf always, pp_keep when a listener takes headers. 0 or -errno. */
int sl__pp_worker_init(struct sl_pworker *w);
void sl__pp_worker_fini(struct sl_pworker *w);

/* ---- session.c ---- */

/*
 * Starts a session for accepted client <fd> on <l>, which then owns the listener's session slot
 * (given back at close). -ENOMEM if no session could be made: <fd> is closed, the slot is the
 * caller's.
 */
int sl__session_open(struct sl_plistener *l, int fd, const struct sl_addr *peer);
/*
 * Binary upgrade: makes session <m> of the previous process, forwarding on listener <l> to
 * backend <backend> of its group (-1: none), as if it had got there here. -ENOMEM when no
 * session could be made (the sockets are closed).
 */
int sl__session_adopt(struct sl_plistener *l, const struct sl_proxy_moved *m, int backend);
/* Holds <s>'s reads for a move (it moves once empty: sl__session_try_move()). false if it
 * cannot move (not forwarding). */
bool sl__session_hold(struct sl_session *s);
/* Moves <s> out if it holds its reads with nothing in flight. true if it moved. */
bool sl__session_try_move(struct sl_session *s);
/* Reads again after a hold that ran out of time: <s> stays here. */
void sl__session_release(struct sl_session *s);
/* Closes session <s> at once, counting <why> (a timeout kind, or -1 for none); with a timeout, a
 * side that left sent data unread is reset, so it does not linger in the kernel, and with the
 * listener's timeouts.cut: reset (any timeout but drain) both sides are. */
void sl__session_abort(struct sl_session *s, int why);
/* Closes session <s> at once for the control socket (sl_proxy_backend_close_sessions()), as
 * the drain deadline does, counted as admin_closes; its access-log termination is "admin". */
void sl__session_close_admin(struct sl_session *s);
/*
 * Sets up group <g>'s queue on worker loop <loop>, counted whole-process in <queued>. Worker
 * setup, before any session.
 */
void sl__wgroup_queue_init(struct sl_wgroup *g, struct sl_loop *loop, struct sl_conn_count *queued);

/* ---- listener.c ---- */

/*
 * Sets up the listener of slot <i> (p->lslots[i].cfg) in worker <w> (set up as far as its
 * groups): forwarder environment and socket: <fd> if not -1 (owned from now on: a socket the
 * listener had before a reload re-opened it), else one handed over by an upgrade, else a new
 * one (SO_REUSEPORT; the first worker resolves a port 0 into p->lslots[i].bound). Controlling
 * thread, the slot unseen by the worker. 0 or -errno (logged); sl__listener_fini() undoes a
 * partial open. sl__listener_start() then registers it in w->loop (the worker's thread, or
 * the controlling thread while the worker is stopped).
 */
int sl__listener_open(struct sl_plistener *l, struct sl_pworker *w, size_t i, int fd);
/*
 * Whether some listener of <cfg> has forward: <forward>. What the start file asks for is set up
 * once: uring, the one user of a loop's registered files (sl_loop_file_add()), has the workers'
 * io_uring loops register a file table (sl_loop_opts.max_files); sockmap loads its program
 * (p->sockmap). A listener a reload adds to a process without goes by plain fds (uring) or
 * splices (sockmap). Any thread.
 */
bool sl__listeners_want(const struct sl_config *cfg, enum sl_fwd_mode forward);
/* Writes into <why> (<size>) why listener <c> cannot listen on <a> (-errno <err>): for an
 * address in use, what holds the port (sl_sock_port_users()). */
void sl__listener_listen_why(const struct sl_config_listener *c, const struct sl_addr *a, int err,
                             char *why, size_t size);
int sl__listener_start(struct sl_plistener *l);
/* Stops accepting and closes the socket; idempotent. The listener's worker (or any thread
 * before sl__listener_start()). */
void sl__listener_close(struct sl_plistener *l);
/* Closes every listener worker <w> started (sl__listener_close()). <w>'s own loop. */
void sl__pworker_listeners_close(struct sl_pworker *w);
/*
 * A reload removed <l>: closes its socket, closes its sessions that have not passed the filter
 * chain (the chain's lists are the removed listener's), and reports the slot free of this
 * worker once its last session has ended. The listener's worker.
 */
void sl__listener_retire(struct sl_plistener *l);
/* Closes what sl__listener_open() made. Controlling thread: the worker stopped, or the listener
 * never started, or retired and reported gone. */
void sl__listener_fini(struct sl_plistener *l);
/* A session of <l> closed: counts it and resumes a paused listener. */
void sl__listener_session_closed(struct sl_plistener *l);
/* A session arrived open on <l> (binary upgrade): counts it like an accepted one, past caps. */
void sl__listener_session_adopted(struct sl_plistener *l);

/* ---- wjob.c ---- */

/*
 * A change the controlling thread hands to every worker and waits for: a listener change
 * (lreload.c), embedded first in the caller's own job, or the job of sl__wjob_post_all(). One
 * message per worker, whose handler calls sl__wjob_put(j, true) once it took its part. The
 * last of the caller and the workers to let go calls <free>, so a worker that answers after
 * the wait gave up still finds the job.
 */
struct sl__wjob {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	unsigned refs;     /* the caller's and one per posted message; under mu */
	unsigned done;     /* workers that took it; under mu */
	void (*free)(struct sl__wjob *j);
};

/* Sets <j> up with the caller's reference; <free> releases the whole job (and calls
 * sl__wjob_fini()). 0 or a negative errno. */
int sl__wjob_init(struct sl__wjob *j, void (*free)(struct sl__wjob *j));
void sl__wjob_fini(struct sl__wjob *j);

/* Lets go of one reference; <took>: a worker took its part. */
void sl__wjob_put(struct sl__wjob *j, bool took);

/*
 * Posts <msg>(j, i) to every worker i (a full mailbox retried, sl__proxy_post()), waits up to
 * <timeout_ms> until each posted message was taken, then lets go of the caller's reference
 * (<j> may be gone on return). Logs, as "<who>: ...", a worker that keeps its old <what>s
 * (mailbox full) and one still to answer. Returns how many workers took the change.
 */
unsigned sl__wjob_run(struct sl_proxy *p, struct sl__wjob *j,
                      struct sl_msg *(*msg)(struct sl__wjob *j, unsigned i), unsigned timeout_ms,
                      const char *who, const char *what);

/*
 * Runs <fn>(w, <arg>) on every worker w, through its mailbox, as sl__wjob_run() does (same
 * wait, logs and count). Once the job exists it owns <arg>: <arg_free>(arg), unless NULL,
 * releases it when the last of the caller and the workers lets go, which may be after the
 * return when a worker is late (<fn> may still run then). Returns how many workers ran <fn>,
 * or -ENOMEM (nothing posted, <arg> still the caller's). Controlling thread; blocks up to
 * <timeout_ms>.
 */
ssize_t sl__wjob_post_all(struct sl_proxy *p, void (*fn)(struct sl_pworker *w, void *arg),
                          void *arg, void (*arg_free)(void *arg), unsigned timeout_ms,
                          const char *who, const char *what);

/* ---- proxy.c ---- */

/*
 * Counter <k> (enum sl_bctr, not the ACTIVE gauge) of backend slot <i> of group <g> as its
 * series shows it: its own since it was filled, plus what a removed slot of its name it took
 * the series over from counted since (sl_backend.pred1). Under p->bk_mu.
 */
uint64_t sl__backend_counted(const struct sl_proxy *p, size_t g, uint32_t i, unsigned k);

/* Posts <m> to worker <w>, retrying while its mailbox is full (10 s at most). 0 or -EAGAIN. */
int sl__proxy_post(struct sl_pworker *w, struct sl_msg *m);
/*
 * Attaches the steering program to every worker's socket of listener slot <i> if it has
 * steering: cpu (and sets the slot's steered), or removes one its sockets may carry
 * (<inherited>: they come from another process, or from another listener), also when the
 * steering program cannot be attached, unless <carried_cpu>: the sockets are a listener's of
 * this process that steered them by CPU, whose program (mapping the same sockets to the same
 * workers) is kept then (a re-open after the privilege drop, which took CAP_BPF). Logs what it
 * cannot do; never fails. Controlling thread; may block up to 2 s (sl__steer_attach()).
 */
void sl__proxy_steer(struct sl_proxy *p, size_t i, bool inherited, bool carried_cpu);

/* ---- handover.c ---- */

/*
 * The first inherited socket left for listener <c> (listening on its address; for a listener on
 * port 0, of the same name and family), taken out of p->inherited; -1 when none. Controlling
 * thread, worker setup.
 */
int sl__handover_take(struct sl_proxy *p, const struct sl_config_listener *c);
/* Closes the inherited sockets no listener took (<warn>: logged). Controlling thread. */
void sl__handover_close_rest(struct sl_proxy *p, bool warn);
/* Sets up worker <w>'s part of moving sessions (its message and timer). Worker setup. */
void sl__handover_worker_init(struct sl_pworker *w);
/*
 * Hands session <s> (holding its reads, nothing in flight) to the export under way: records it
 * in p->moved, its sockets with it. false when no export takes sessions any more (it then
 * stays). The session's worker; the caller detaches it on true.
 */
bool sl__handover_take_session(struct sl_session *s, struct sl_proxy_moved *m);
/* A session that held its reads for a move is gone, moved or closed. The session's worker. */
void sl__handover_session_gone(struct sl_pworker *w);

/* ---- lreload.c ---- */

/*
 * Sets up the listener slots from the layout (p->lslots, p->lcap). Controlling thread, at
 * create. 0 or -ENOMEM.
 */
int sl__lslots_create(struct sl_proxy *p);
/* Frees the slots (after every worker's listeners are finished). */
void sl__lslots_destroy(struct sl_proxy *p);
/*
 * A reload's listener change, first half: matches <next>'s listeners with the live slots by
 * name, checks that it fits (free slots, the pool table, the fd budget, the workers' PROXY
 * buffers) and opens every socket it needs, changing nothing the workers see. 0 with the plan
 * in *out, or -errno with the reason in <why> (<size> bytes) and nothing changed. Controlling
 * thread; takes and gives back p->bk_mu.
 */
struct sl_lplan;
int sl__listeners_prepare(struct sl_proxy *p, const struct sl_config *next, struct sl_lplan **out,
                          char *why, size_t size);
/* Undoes a prepared plan that will not be applied: closes what it opened. */
void sl__listeners_abandon(struct sl_proxy *p, struct sl_lplan *plan);
/*
 * Second half, once <next> is sure to be published (backends applied): the fresh slots go live
 * with <next>'s fields, the workers start them and retire the removed ones (waited for,
 * bounded, under p->bk_mu), whose sessions then read the slot's copy. Frees <plan>. 0, or
 * -EAGAIN when a drain has begun (the plan abandoned: the listeners stay as they were).
 */
int sl__listeners_apply(struct sl_proxy *p, struct sl_lplan *plan, const struct sl_config *next);
/* true if the live slots are <next>'s listeners, each with the same "reopen" keys. */
bool sl__listeners_match(struct sl_proxy *p, const struct sl_config *next);
/* Points every live slot at its listener in <next> (sl__listeners_match() holds). */
void sl__listeners_point(struct sl_proxy *p, const struct sl_config *next);

/* ---- greload.c ---- */

/* Sets up the group slots: the start file's groups live, SL_GSLOTS_SPARE free. 0 or -ENOMEM. */
int sl__gslots_create(struct sl_proxy *p);
/* Frees the slots and the added groups' checkers (stopped first). After the workers' groups. */
void sl__gslots_destroy(struct sl_proxy *p);
/* Stops the added groups' checkers (the proxy stops). */
void sl__gslots_stop(struct sl_proxy *p);
/* Group slot <g>'s fixed configuration (name, balancer, health ...). */
static inline const struct sl_config_group *
sl__group_cfg(const struct sl_proxy *p, size_t g)
{
	return &p->gslots[g].cfg;
}
/* The index of group <name> in <c>, or SIZE_MAX. */
size_t sl__group_index(const struct sl_config *c, const char *name);
/* The group slot named <name> (filled: adding, live or retired, and not dropping), or
 * -ENOENT. Controlling thread, or under bk_mu. */
int sl__group_slot(const struct sl_proxy *p, const char *name);
/* The group slot of <c>'s group <k> (sl__group_slot() of its name), or -ENOENT. */
int sl__group_slot_of(const struct sl_proxy *p, const struct sl_config *c, size_t k);
/* true if group slot <g> is live (not free, being added or retired). Any thread. */
bool sl__group_is_live(const struct sl_proxy *p, size_t g);
/* true if group slot <g> is live, or retired and still held (a session or a queued client, a
 * removed listener naming it that a worker has not given back: greload.c, slot_is_held()),
 * which is when a reload may not take its slot: what statistics show. Any thread not holding
 * p->bk_mu (it takes it for a retired slot); a snapshot. */
bool sl__group_is_shown(struct sl_proxy *p, size_t g);
/* sl__group_is_shown() for a caller holding p->bk_mu. */
bool sl__group_is_shown_locked(const struct sl_proxy *p, size_t g);
/*
 * A reload's group change, first half: matches <next>'s groups with the slots by name, checks
 * that each kept one changed no restart key, that each group it leaves out may retire (not one
 * with discover: or warm_pool:) and that each new one fits a free slot (no discover: or
 * warm_pool:, at most SL_GSLOT_BACKENDS backends), and builds the new ones in free slots
 * (ADDING: backend table empty, balancer views in every worker, health checker started),
 * nothing the workers see changed. With no free slot left, a new one takes a retired added
 * group's slot that nothing holds (greload.c: slot_is_held()), which each worker lets go of
 * through its mailbox (waited for, bounded) before it is reset; that old group is gone even if
 * the reload is then refused. 0, or -errno with the reason in <why> (<size> bytes) and nothing
 * else changed. Controlling thread; takes p->bk_mu.
 */
int sl__groups_prepare(struct sl_proxy *p, const struct sl_config *next, char *why, size_t size);
/* Undoes a prepare that will not be published: the ADDING slots are emptied. */
void sl__groups_abandon(struct sl_proxy *p);
/*
 * Points every group slot at its group in <next>: ADDING ones go live, those <next> leaves out
 * retire (pointing at their own copy) and retired ones it names again go live; health checks of
 * a retired group stop, those of a revived one start. Before <next> is published; controlling
 * thread; takes p->bk_mu.
 */
void sl__groups_point(struct sl_proxy *p, const struct sl_config *next);
/* true if every group of <next> is in a live or ADDING slot (what a publish needs). */
bool sl__groups_match(const struct sl_proxy *p, const struct sl_config *next);

/* ---- greload_health.c ---- */

/*
 * Starts a checker of its own for every backend slot of group <g> (all paused: the backend
 * reload, or the caller, resumes the live ones), checking as slot->hcur says (an owned copy of
 * cfg.health when unset: the snapshot it came from is freed by a later reload). Each backend
 * starts in the state its up flag holds. 0 or -errno. Under bk_mu.
 */
int sl__gslot_health_open(struct sl_proxy *p, size_t g);
/* Brings the checker's targets of group slot <g> in line with its state. Under bk_mu. */
void sl__gslot_health_sync(struct sl_proxy *p, size_t g);
/* Frees slot <slot>'s health checks (hcur and the copies it keeps); its checker is gone. */
void sl__gslot_health_free(struct sl_gslot *slot);
/* Stops and destroys group slot <g>'s own checker (none: nothing), its counts kept in
 * p->health_retired. Under bk_mu. */
void sl__gslot_health_close(struct sl_proxy *p, size_t g);
/* The health counters of every checker: the start file's, every group slot's own, and what
 * destroyed ones counted. Takes bk_mu. */
void sl__health_stats_sum(struct sl_proxy *p, struct sl_health_stats *out);
/* true if group slot <g>'s backends are health-checked now (its hcur, else its cfg). Under
 * bk_mu. */
bool sl__gslot_checked(const struct sl_proxy *p, size_t g);
/*
 * After <next> is published: every group whose health: check (or send_proxy, which its checks
 * send) differs from what its checker runs is checked from now on as <next> says, its backends'
 * up/down state kept (sl_health_set_config()); a group whose checks <next> turns on gets its own
 * checker. Logs what it changes, and what it cannot (out of memory). Controlling thread; takes
 * p->bk_mu.
 */
void sl__groups_health_reload(struct sl_proxy *p, const struct sl_config *next);

/* How many owned copies of group slot <g>'s health checks are kept (for tests). Takes
 * p->bk_mu. */
size_t sl__gslot_health_copies(struct sl_proxy *p, size_t g);

/* ---- budget.c ---- */

/* fds one session may hold under <cfg>: 2, or 6 when a listener may splice. */
unsigned sl__budget_session_fds(const struct sl_config *cfg);
/* fds <cfg> holds with no session open, with <nworkers> workers. */
uint64_t sl__budget_idle_fds(const struct sl_config *cfg, unsigned nworkers);
/*
 * Whether the fd limit holds the process's cap p->max_conns once <nlisteners> listeners
 * (<nsplice> of which may splice) are open in every worker, as they are while a reload opens
 * new sockets beside the old, and the sessions then need <per_session> fds: 0 with the cap to
 * apply in *cap, or -EMFILE with the figures in <why> (<size> bytes). A cap the limit decides
 * is what the file's own <nkept> listeners (<nsplice_kept> splicing) leave once the old
 * sockets are closed, at most the start's (p->max_conns_start): it comes back up when a later
 * file has fewer listeners.
 */
int sl__budget_check_listeners(const struct sl_proxy *p, size_t nlisteners, size_t nsplice,
                               size_t nkept, size_t nsplice_kept, unsigned per_session,
                               uint32_t *cap, char *why, size_t size);
/* fds the live warm pools hold beyond (or, negative, short of) the start file's. Under bk_mu. */
int64_t sl__budget_warm_extra(const struct sl_proxy *p);
/*
 * Whether the fd limit holds the process's cap p->max_conns once the warm pools hold <extra>
 * more fds than now: 0 with the cap to apply in *cap (a cap the limit decided shrinks), or
 * -EMFILE with the figures in <why> (<size> bytes). A reload; under bk_mu.
 */
int sl__budget_check_warm(const struct sl_proxy *p, int64_t extra, uint32_t *cap, char *why,
                          size_t size);
/*
 * fds the health checks hold under <next> (with the group slots as they are now, or as its
 * prepare left them) beyond (or, negative, short of) what the start file's were counted for:
 * one socket per backend slot of each checked group, and the loop of each checker a group has
 * of its own (kept while its slot is, retired or not). Under bk_mu.
 */
int64_t sl__budget_health_extra(const struct sl_proxy *p, const struct sl_config *next);
/*
 * Whether the fd limit holds the process's cap p->max_conns once the health checks hold
 * p->hextra_next more fds than at start, where they hold p->hextra now: 0 with the cap to
 * apply in *cap (a cap the limit decided shrinks), or -EMFILE with the figures in <why>
 * (<size> bytes). A reload; under bk_mu.
 */
int sl__budget_check_health(const struct sl_proxy *p, uint32_t *cap, char *why, size_t size);
/*
 * Raises the soft RLIMIT_NOFILE to the hard limit and sets p->max_conns: the configured
 * max_connections, or what the limit holds when it is 0. -EMFILE (logged with the figures)
 * when the limit cannot hold the idle fds, or the configured cap. Controlling thread.
 */
int sl__budget_apply(struct sl_proxy *p);
/* The host's limit on open files, all processes together (fs.file-max); 0 if unknown. Reads
 * /proc: before the fds run out. */
uint64_t sl__budget_file_max(void);

/* ---- pworker.c ---- */

/* Sets up worker <index> of <p> (its thread not yet running). 0 or -errno. */
int sl__pworker_init(struct sl_proxy *p, struct sl_pworker *w, unsigned index);
/* Frees what sl__pworker_init() made, however far it got. Worker stopped. */
void sl__pworker_fini(struct sl_proxy *p, struct sl_pworker *w);
/* A session of <l> closed: resume a paused listener, report idleness when draining. */
void sl__pworker_session_closed(struct sl_pworker *w, struct sl_plistener *l);

/* ---- proxy_health.c ---- */

/* The checkers' on_change (<arg> the proxy): asks the workers to bring warm pools in line. */
struct sl_health_event;
void sl__proxy_health_changed(void *arg, const struct sl_health_event *ev);
/* Builds p->health for every slot of every group with active checks (none: NULL). */
int sl__proxy_health_create(struct sl_proxy *p);
/*
 * Brings the checker's target for slot <i> of group <g> in line with the slot: checked while
 * LIVE and not DISABLED in a live group (greload.c); with <reset> (a new occupant) from a fresh
 * start at its address. No-op without checks. Under p->bk_mu.
 */
void sl__proxy_health_sync(struct sl_proxy *p, size_t g, uint32_t i, bool reset);

/* ---- snapshot.c ---- */
/*
 * Makes <next> the current snapshot and retires the one it replaces, which is freed with
 * sl_config_free() once every worker's loop has passed a quiescent point or is offline (the
 * layout snapshot from sl_proxy_create() is the caller's and is never freed here). <next> must
 * have the layout of p->cfg: equal in everything but the live fields (sl__proxy_config()).
 * Returns 0 (the proxy owns <next>, unless it is the layout snapshot, which stays the caller's),
 * -EINVAL (another layout, or <next> is current already)
 * or -EBUSY (too many replaced snapshots still wait for a worker); on error <next> stays the
 * caller's. Controlling thread only, running or not; never blocks on the workers.
 */
int sl__proxy_publish_config(struct sl_proxy *p, struct sl_config *next);
/*
 * A reload's backend change (backends.c): for every group whose backend list in <next> differs
 * from the one in <prev>, makes <next>'s list the group's non-discovered backends (names gone
 * are removed, new ones added, a changed weight set, a changed address or max_connections
 * replaced); discovered backends are left alone. A group whose balance or maglev_table_size
 * differs from its slot's gets a balancer of the new algorithm over the same members, posted to
 * every worker like a backend change. Everything is checked before anything changes:
 * -EINVAL with the reason in <why> (<size> bytes) and nothing changed, or 0 (but for running out
 * of memory while rebuilding a balancer, which is logged). -EDEADLK on a worker, -EAGAIN between
 * sl_proxy_listen() and sl_proxy_start(). Waits, bounded, for the workers as the backend API.
 */
int sl__proxy_backends_reload(struct sl_proxy *p, const struct sl_config *prev,
                              const struct sl_config *next, char *why, size_t size);
/*
 * Frees the replaced snapshots every worker has passed. Returns how many still wait.
 * Controlling thread only; never blocks on the workers.
 */
size_t sl__proxy_reclaim_configs(struct sl_proxy *p);

#endif /* SLUICE_PROXY_PROXY_INT_H */
