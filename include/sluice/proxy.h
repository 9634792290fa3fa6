/* SPDX-License-Identifier: MIT */
/*
 * sl_proxy: the L4 proxy runtime. Takes a validated config snapshot and runs it: worker
 * threads (sluice/worker.h), each owning one SO_REUSEPORT listener socket per configured
 * listener, its sessions, pools, pipe cache and counters; backends shared read-mostly.
 * The path of one connection and the session states: src/proxy/session.c and
 * docs/internals/proxy.md.
 *
 * Thread safety: create, start, drain, stop and destroy are called by one controlling thread
 * (never a worker). sl_proxy_stats() and sl_proxy_listener_addr() may be called from any thread
 * while the proxy runs. Errors are negative errno values.
 */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>
#include <sluice/common.h>
#include <sluice/config.h>

struct sl_proxy;
struct sl_stats;
struct sl_xdp;

/* Kinds of timeout, counted separately. */
enum sl_timeout_kind {
	SL_TIMEOUT_CONNECT,     /* backend connect took longer than timeouts.connect_ms */
	SL_TIMEOUT_CLIENT_IDLE, /* no activity on the client socket for client_idle_ms */
	SL_TIMEOUT_SERVER_IDLE, /* no activity on the backend socket for server_idle_ms */
	SL_TIMEOUT_SESSION,     /* the session lasted session_ms */
	SL_TIMEOUT_FIRST_BYTE,  /* no byte from the client within first_byte_ms of accept */
	SL_TIMEOUT_MIN_RATE,    /* fewer than min_rate.bytes moved in a min_rate.window */
	SL_TIMEOUT_CLIENT_FIN,  /* the client had sent its FIN; nothing moved for client_fin_ms */
	SL_TIMEOUT_SERVER_FIN,  /* the backend had sent its FIN; nothing moved for server_fin_ms */
	SL_TIMEOUT_QUEUE,       /* waited timeouts.queue for a backend slot (group max_queue) */
	SL_TIMEOUT_DRAIN,       /* still open at the drain deadline */
	SL_TIMEOUT_KINDS
};

/* Why the filter chain refused a client, counted separately (names: sl_reject_reason_name()). */
enum sl_reject_reason {
	SL_REJECT_PROXY_UNTRUSTED,    /* a PROXY header was required from an untrusted source */
	SL_REJECT_PROXY_INVALID,      /* malformed, oversized or cut-short PROXY header */
	SL_REJECT_PROXY_TIMEOUT,      /* no complete PROXY header within its timeout */
	SL_REJECT_ACL_DENIED,         /* the client address is denied by the listener's ACL */
	SL_REJECT_LISTENER_RATE,      /* over the listener's new-connection rate */
	SL_REJECT_SOURCE_CONNECTIONS, /* the source holds its most concurrent connections */
	SL_REJECT_SOURCE_RATE,        /* over the source's new-connection rate */
	SL_REJECT_SOURCE_TABLE_FULL,  /* no room to track a new source */
	SL_REJECT_SOURCE_BANNED,      /* the source is banned (source_limits.ban) */
	SL_REJECT_KINDS
};

/* Totals over every worker since start; each field is read separately (not a snapshot). */
struct sl_proxy_stats {
	uint64_t accepted;  /* client connections accepted */
	uint64_t active;    /* sessions open now */
	uint64_t closed;    /* sessions finished, for any reason */
	uint64_t bytes_in;  /* client -> backend, counted at close and at each stats collection */
	uint64_t bytes_out; /* backend -> client, likewise */
	uint64_t connect_failures;         /* backend connects refused, unreachable or timed out */
	uint64_t retries;                  /* connects tried on another backend after a failure */
	uint64_t no_backend;               /* clients closed because no backend could be reached */
	uint64_t queue_full;               /* clients closed: backends at their cap, queue full */
	uint64_t filtered;                 /* clients rejected by the filter chain (every reason) */
	uint64_t rejects[SL_REJECT_KINDS]; /* filtered, by reason */
	uint64_t resets;           /* sessions ended by a reset or socket error on one side */
	uint64_t accept_errors;    /* accept4() failures other than EAGAIN */
	uint64_t accept_pauses;    /* accepting paused at max_connections (process or listener) */
	uint64_t source_bans;      /* sources banned (source_limits.ban) */
	uint64_t max_connections;  /* the process-wide session cap in force (set or derived) */
	uint64_t local_errors;     /* clients closed: no fd, memory or port for a backend socket */
	uint64_t ejections;        /* passive ejections of a backend */
	uint64_t splice_fallbacks; /* sessions moved from splice to copy (EINVAL) */
	uint64_t timeouts[SL_TIMEOUT_KINDS];
	/* active health checks (all groups; 0 when none is configured) */
	uint64_t health_checks;       /* checks completed */
	uint64_t health_failures;     /* checks failed */
	uint64_t health_ups;          /* transitions down -> up */
	uint64_t health_downs;        /* transitions up -> down */
	uint64_t health_local_errors; /* checks not run for this host's shortage (fds, ports) */
	/* warm pools, summed over workers and groups (0 when none is configured) */
	uint64_t warm_hits;    /* sessions served over a pre-established connection */
	uint64_t warm_misses;  /* takes that found no idle connection: connected fresh */
	uint64_t warm_expired; /* idle connections closed after warm_pool.idle */
	uint64_t warm_dead;    /* idle connections found closed by the backend, dropped */
	uint64_t warm_failed;  /* warm sessions reset on the backend side before its first byte */
};

/* The file-descriptor budget of a configuration (docs/protection.md gives the formula). */
struct sl_proxy_budget {
	uint64_t limit;           /* the open-file limit it was computed for */
	uint64_t idle;            /* fds held with no session open */
	uint64_t spare;           /* fds kept free of sessions */
	unsigned per_session;     /* fds one session may hold: 2, or 6 where a listener splices */
	uint64_t fit;             /* sessions the rest holds */
	uint32_t max_connections; /* the cap in force: the configured one, or <fit> when 0 */
};

/*
 * Computes the fd budget of <cfg> run with <nworkers> workers under an open-file limit of
 * <limit> into <*b>. 0, or -EMFILE when the limit cannot hold the idle fds plus one session,
 * or the configured max_connections; <why> (<size> bytes) then says so with the figures.
 * sl_proxy_create() applies it with the hard limit (raising the soft one); `sluice --check`
 * uses it so that a configuration it accepts also starts here. Pure; any thread.
 */
SL_API int sl_proxy_budget(const struct sl_config *cfg, unsigned nworkers, uint64_t limit,
                           struct sl_proxy_budget *b, char *why, size_t size);

/*
 * Prepares a proxy for <cfg>: backend state, balancers, the health checker (for the groups
 * with a health: key; not started), nothing running yet. <cfg> is borrowed
 * and must outlive the proxy. Ignores SIGPIPE process-wide (splice to a reset socket raises
 * it). Returns 0 and stores the proxy in <*out>, or -EINVAL (no listener, a group without
 * backends, an unknown balance name), -ENOMEM.
 */
SL_API int sl_proxy_create(struct sl_proxy **out, const struct sl_config *cfg);

/*
 * Opens every listener socket in every worker (a configured port 0 is resolved by the first
 * worker and shared by the others) and creates each worker's warm pools (groups with
 * warm_pool.size > 0), starting no thread: what needs privileges (a port below 1024) is done
 * when it returns, so the caller may drop them before sl_proxy_start() (sluice/privs.h).
 * Logs and returns the first error (-EADDRINUSE, -EACCES, -EMFILE, ...); -EALREADY if done.
 */
SL_API int sl_proxy_listen(struct sl_proxy *p);

/*
 * Calls sl_proxy_listen() unless done, then starts the access log's thread, the worker threads
 * and the health checker thread. Blocks until they run.
 * Logs and returns the first error (-EADDRINUSE, -EACCES, -EMFILE, ...); nothing runs then.
 */
SL_API int sl_proxy_start(struct sl_proxy *p);

/*
 * Hands the proxy the attached XDP program (sluice/xdp.h): a source that source_limits.ban
 * bans is then added to its ban map, so its SYNs are dropped before the stack until the ban
 * ends. Before sl_proxy_start(); <x> must outlive the workers (destroy <p> first). NULL: none.
 */
SL_API void sl_proxy_use_xdp(struct sl_proxy *p, struct sl_xdp *x);

/*
 * Graceful shutdown: stops the health checker (backends keep their last state), then every
 * worker closes its listeners and its warm connections at once (new clients are refused) and
 * lets its sessions finish; at <deadline_ms> after the call the sessions still open are closed
 * (counted as SL_TIMEOUT_DRAIN). Blocks until every worker is idle, then stops the workers
 * and the access log's thread once it wrote every session's line (or counted it dropped), so
 * the registry's figures are final. Returns 0, or a negative errno if a worker could not be
 * reached.
 */
SL_API int sl_proxy_drain(struct sl_proxy *p, uint32_t deadline_ms);

/*
 * Cuts a running sl_proxy_drain() short, as if its deadline had passed now: the sessions still
 * open are closed at once (counted as SL_TIMEOUT_DRAIN) and the drain returns. No-op when no
 * drain runs. Any thread (a signal watcher); never blocks on the workers.
 */
SL_API void sl_proxy_drain_cut(struct sl_proxy *p);

/*
 * Takes <next> as the running configuration without touching a session: the live fields
 * (listener timeouts, allow/deny, the PROXY trust list and timeout, the listener rate and the
 * per-source limits; group retries, passive ejection and max_queue) apply to every event from
 * then on. A group's backend list is compared with the running snapshot's (the previous file,
 * not the start file): unchanged, the run-time changes (sluice/backends.h) stay; changed, the
 * list becomes the group's non-discovered backends through the backend API's table (names gone
 * are removed, their open sessions run on; new names are added; a changed weight is set; a
 * changed address or max_connections is a remove and an add), each change logged; discovered
 * backends are never touched. Listeners are matched by name: new names are opened, names gone
 * stop accepting (their open sessions run on), and one whose "reopen" keys changed
 * (sl_config_listener_needs_reopen()) is re-opened, keeping its sockets on an unchanged address.
 * Groups are matched by name: a new name fills a free group slot (16 beyond the start file's;
 * none with discover or warm_pool), a name gone retires (its open sessions run on), and a kept
 * group's restart keys (sl_config_group_needs_restart()) must be equal, as everything else built
 * at start. Everything is checked, every new group built and every new socket opened, before
 * anything changes, and on an error nothing changed and <next> stays the caller's, with the
 * reason in <why> (<size> bytes): -EINVAL, something built at start differs ("group api:
 * balance changed"; a restart or an upgrade applies it), or a group cannot be added or removed;
 * -EADDRINUSE, -EACCES and the like, a new listener cannot listen ("listener api: cannot listen
 * on ..."); -ENOSPC, the groups, listeners or backend lists do not fit (the group slots, the
 * listener slots, the PROXY buffers, max_backends counting slots still held by removed backends'
 * sessions, or a name of a discovered backend); -EMFILE, the fd limit; -EAGAIN, the proxy is
 * not running or drains. 0: the proxy owns <next>. -EBUSY: earlier snapshots still wait for a
 * worker's quiescent point, or the sockets are held for an upgrade (sl_proxy_hold_sockets());
 * try again. Controlling thread only; never blocks on the workers, but
 * for a backend or listener change, which waits for them (bounded) as the backend API does.
 */
SL_API int sl_proxy_reload(struct sl_proxy *p, struct sl_config *next, char *why, size_t size);

/* A listening socket and the listener it serves, as one process hands it to the next. */
struct sl_proxy_socket {
	char name[SL_CONFIG_NAME_MAX]; /* the listener's name */
	int fd;
};

/*
 * Binary upgrade, the new process's side: before sl_proxy_listen() (or sl_proxy_start()),
 * gives <p> the <n> listening
 * sockets <s> of the process it replaces (their fds become the proxy's). Each listener of the
 * same name on the same address (any address when its configured port is 0) listens on them,
 * one per worker in order, instead of opening its own: the accept queues are shared, so no
 * connection waiting in them is lost; workers beyond the sockets handed over open theirs with
 * SO_REUSEPORT. Sockets no listener takes are closed at start (a listener removed or moved).
 * 0, -EALREADY (listening already), -ENOMEM. Controlling thread.
 */
SL_API int sl_proxy_inherit(struct sl_proxy *p, const struct sl_proxy_socket *s, size_t n);

/*
 * Binary upgrade, the old process's side: copies up to <max> of the proxy's listening sockets
 * (every worker's, listener by listener) into <out> and returns how many there are. The fds
 * stay the proxy's; they are valid from sl_proxy_start() until sl_proxy_drain() or
 * sl_proxy_stop(), which close them. Any thread in that span.
 */
SL_API size_t sl_proxy_sockets(const struct sl_proxy *p, struct sl_proxy_socket *out, size_t max);

/*
 * Binary upgrade, the old process's side: with <hold>, the listeners stay as they are (a reload
 * under way ends first; later ones are refused, -EBUSY, saying why), so the fds that
 * sl_proxy_sockets() lists stay open and stay listeners while they are passed on; without,
 * reloads go on (an upgrade that failed). Any thread.
 */
SL_API void sl_proxy_hold_sockets(struct sl_proxy *p, bool hold);

/* A forwarding session as it moves from one process to the next (binary upgrade). */
struct sl_proxy_moved {
	char listener[SL_CONFIG_NAME_MAX]; /* the listener's name */
	char backend[SL_CONFIG_NAME_MAX];  /* its backend's name in the listener's group; "" none */
	struct sl_addr client;             /* the client's address (after any PROXY header) */
	int cfd, sfd;                      /* the client and backend sockets */
	uint64_t start_ms;                 /* CLOCK_MONOTONIC ms at accept (one clock per host) */
	uint32_t conn_ms;                  /* accept to forwarding, ms */
	uint64_t bytes[2];                 /* delivered so far: [0] client -> backend, [1] back */
	bool shut[2];                      /* that direction had ended (FIN read and passed on) */
};

/*
 * Binary upgrade, the old process's side, once the new one serves: every worker stops
 * accepting and holds its forwarding sessions' reads, so the bytes they hold drain to their
 * destinations; each session with nothing left in flight is taken out of its worker, its two
 * sockets left open, and listed in a new array <*out> (<*n> entries; free() it) for the caller to
 * send on and close. Waits at most <wait_ms> for sessions to empty: those that could not (a
 * destination that does not read), and those not yet forwarding (filtering, connecting,
 * queued), read again and stay here to drain. 0, -EINVAL (not running), -ENOMEM. Controlling
 * thread, or a thread of the application's while the controlling one waits for signals.
 */
SL_API int sl_proxy_export(struct sl_proxy *p, uint32_t wait_ms, struct sl_proxy_moved **out,
                           size_t *n);

/*
 * Binary upgrade, the new process's side: takes over session <m> (its sockets become the
 * proxy's; closed on failure) on the listener of that name (the first listener if none has
 * it), counted against the backend of that name in its group if there is one, and forwards on
 * from where the old process stopped; idle timeouts start anew. Returns once a worker has it
 * queued: 0, -EINVAL (not running), -ENOMEM, -ENOENT (no listener), -errno of the post; a
 * session not taken over (an error here, or no room in the worker's pool) is closed and
 * counted in moves_lost. Any thread but a worker, while running.
 */
SL_API int sl_proxy_adopt(struct sl_proxy *p, const struct sl_proxy_moved *m);

/* Stops at once: closes listeners and every session, stops and joins the workers. Idempotent. */
SL_API void sl_proxy_stop(struct sl_proxy *p);

/* Stops the proxy if it runs and frees it. NULL is ignored. */
SL_API void sl_proxy_destroy(struct sl_proxy *p);

/*
 * Sums the per-worker counters, the health checker's and the warm pools' into <*st>. Any
 * thread, any time after create, except concurrently with sl_proxy_start() (which creates the
 * warm pools) or destroy.
 */
SL_API void sl_proxy_stats(const struct sl_proxy *p, struct sl_proxy_stats *st);

/*
 * The proxy's statistics registry (sluice/stats.h), built by create and freed by destroy: the
 * process counters, bytes by direction, timeouts by kind, rejects by reason, per-listener,
 * per-backend and per-group figures, the health checker and warm pools, and the latency
 * histograms (docs/metrics.md lists every one). Reads: any thread, any time after create.
 * sl_stats_collect() on it posts to every worker and waits for their answer (at most 1 s):
 * call it only while the proxy runs (between start and drain) and never from a worker.
 */
SL_API struct sl_stats *sl_proxy_stats_registry(struct sl_proxy *p);

/* Counts a connection the admin endpoint closed at once for its source (admin.max_per_source):
 * admin_refused in the registry's process set. Any thread, between create and destroy. */
SL_API void sl_proxy_count_admin_refused(struct sl_proxy *p);

/* Counts <n> sessions lost on their way in a binary upgrade (closed, not moved: the new
 * process went away before it got them, or one could not be described to it): moves_lost in
 * the registry's process set; sl_proxy_adopt() counts those it cannot take over itself. Any
 * thread, between create and destroy. */
SL_API void sl_proxy_count_moves_lost(struct sl_proxy *p, size_t n);

/*
 * Asks the access log's thread to reopen its file at the configured path (log rotation: the
 * old file was moved away); the lines queued before are written to the old file first.
 * Returns at once: 0, or -ENOENT when no access_log is configured (or it is standard output:
 * then 0, and nothing changes). Any thread while the proxy exists (a signal watcher).
 */
SL_API int sl_proxy_reopen_logs(struct sl_proxy *p);

/*
 * Gives the access log file the proxy has open to <uid>:<gid> (fchown: the file opened, not
 * what its path names now). 0 (also with no access log, or standard output) or -errno. Before
 * sl_proxy_start(), from the thread that created the proxy.
 */
SL_API int sl_proxy_access_log_chown(struct sl_proxy *p, uid_t uid, gid_t gid);

/*
 * Whether the access log path <path> is a symbolic link only root can have made or changed (the
 * link and its directory root's, the directory writable by root alone, as /dev/stdout): the
 * only links the access log is opened through.
 */
SL_API bool sl_proxy_access_log_link_trusted(const char *path);

/* One open session as sl_proxy_sessions() saw it. */
struct sl_proxy_session_info {
	unsigned worker; /* the worker thread that owns it */
	char listener[SL_CONFIG_NAME_MAX];
	struct sl_addr client; /* the client's address (len 0 if unknown) */
	char group[SL_CONFIG_NAME_MAX];
	char backend[SL_CONFIG_NAME_MAX]; /* "" while it holds none (filtering, queued) */
	const char *state;                /* "accepted", "forwarding", ...: static text */
	uint64_t age_ms;                  /* since accept */
	uint64_t bytes_in;                /* client -> backend */
	uint64_t bytes_out;               /* backend -> client */
};

/*
 * Asks every worker, through its mailbox, for its open sessions and copies up to <max> of them
 * into <out> and how many there are into <*n> (which may exceed <max>). Waits at most a second
 * for the workers: 0, or -ETIMEDOUT / -EBUSY (a worker did not answer in time / its mailbox was
 * full: its sessions are missing), -ENOMEM. Call only while the proxy runs (between start and
 * drain), from any thread but a worker; blocks.
 */
SL_API int sl_proxy_sessions(struct sl_proxy *p, struct sl_proxy_session_info *out, size_t max,
                             size_t *n);

/*
 * Listeners by slot: slot <i> holds the start configuration's listener i until a reload
 * changes the listeners (a reload fills free slots with the listeners it opens). The address
 * slot <i>'s listener is bound to (port 0 resolved) once started: 0, or -EINVAL (no such slot)
 * or -ENOENT (no listener there now).
 */
SL_API int sl_proxy_listener_addr(const struct sl_proxy *p, size_t i, struct sl_addr *out);
/* A source a listener bans (source_limits.ban), as sl_proxy_bans() lists it. */
struct sl_proxy_ban {
	char listener[SL_CONFIG_NAME_MAX];
	struct sl_cidr source; /* the source: its address and the listener's prefix4 or prefix6 */
	uint64_t remaining_ms; /* until the ban ends */
};

/*
 * Fills <out> with up to <max> of the sources banned now on every live listener, and <*n> with
 * how many there are in all (more than <max> when some did not fit). Returns 0. Visits every
 * ban table entry under its lock: for an operator's request. Any thread.
 */
SL_API int sl_proxy_bans(struct sl_proxy *p, struct sl_proxy_ban *out, size_t max, size_t *n);

/*
 * Lifts the ban of <src>'s source (masked to the listener's prefix) on listener <name>, or on
 * every live listener with a ban when <name> is NULL, and clears its strikes. 0; -ENOENT: no
 * live listener <name>; -EINVAL: it (or, for NULL, every listener) has no source_limits.ban;
 * -ESRCH: the source was not banned there. Any thread.
 */
SL_API int sl_proxy_unban(struct sl_proxy *p, const char *name, const struct sl_addr *src);

/*
 * Bans the source of <src> (masked to each listener's prefix4/prefix6) for <ms> on the live
 * listener <name>, or on every live listener with a ban when <name> is NULL, and in the XDP
 * program's map when there is one: an operator's ban, as if it had earned one by
 * source_limits.ban (its open sessions go on). A longer ban already there stays. 0; -ENOENT:
 * no live listener <name>; -EINVAL: it (or, for NULL, every listener) has no
 * source_limits.ban, or <ms> is 0 or over UINT32_MAX; -EAFNOSUPPORT: every listener that bans
 * takes clients of the other family only (and no PROXY header); -ENOSPC: no entry for it in
 * the table. Any thread.
 */
SL_API int sl_proxy_ban(struct sl_proxy *p, const char *name, const struct sl_addr *src,
                        uint64_t ms);

/*
 * Bans source <src> on the live listener <name> for <remaining_ms> more (a ban of a previous
 * process, handed over by a binary upgrade): sl_srctab_import_ban() into its source table.
 * 0; 1: imported, and a ban imported before it that ends sooner gave way (it is gone); -ENOENT:
 * no live listener <name>; -EINVAL: it has no source_limits.ban, or <src> is no prefix; -ERANGE:
 * <src> is wider than the listener's prefix4/prefix6; -ENOSPC: no entry for it in the table.
 * Any thread; meant for before sl_proxy_listen().
 */
SL_API int sl_proxy_import_ban(struct sl_proxy *p, const char *name, const struct sl_cidr *src,
                               uint64_t remaining_ms);

/* Listener slots: the bound of <i> above. */
SL_API size_t sl_proxy_listener_slots(const struct sl_proxy *p);
/*
 * The name of slot <i>'s listener (in <name>, <size> bytes) and its group's slot (slot g < the
 * start configuration's groups is its group g; a reload fills the others): 0, or -EINVAL /
 * -ENOENT as sl_proxy_listener_addr(). Any thread.
 */
SL_API int sl_proxy_listener_name(struct sl_proxy *p, size_t i, char *name, size_t size,
                                  size_t *group);
/* The name of the group in slot <g> (in <name>, <size> bytes): 0, or -ENOENT (no group there).
 * Any thread. */
SL_API int sl_proxy_group_name(struct sl_proxy *p, size_t g, char *name, size_t size);

/*
 * The address of the backend of instance <inst> of the "backend" statistics set, if that
 * instance is labelled <group> and <backend> now (a slot may change hands between two reads),
 * backends added at run time included: one lookup, however many backends there are. 0 or
 * -ENOENT. Any thread but a worker while it exists.
 */
SL_API int sl_proxy_backend_instance_addr(struct sl_proxy *p, size_t inst, const char *group,
                                          const char *backend, struct sl_addr *out);

/* The name of a timeout kind ("connect", "client_idle", ...), or NULL if out of range. */
SL_API const char *sl_timeout_kind_name(enum sl_timeout_kind k);
/* The name of a reject reason ("acl_denied", ...), or NULL if out of range. */
SL_API const char *sl_reject_reason_name(enum sl_reject_reason r);

#endif /* SLUICE_PROXY_H */
