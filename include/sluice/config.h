/* SPDX-License-Identifier: MIT */
/*
 * The proxy's configuration: YAML text -> validated, immutable snapshot (struct sl_config).
 * Workers read the current snapshot through one atomic pointer; a reload builds a new snapshot
 * and swaps it, so nothing in a snapshot changes after sl_config_load_*() returns.
 * docs/configuration.md documents every key and its default.
 *
 * Thread safety: loading is single-threaded; a finished snapshot is read-only and may be read
 * from any thread. Ownership: the caller owns the snapshot and frees it with sl_config_free().
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>
#include <sluice/common.h>
#include <sluice/lb.h>
#include <sluice/log.h>
#include <sluice/loop.h>
#include <sluice/srctab.h>
#include <sluice/tbucket.h>

struct sl_lpm;

#define SL_CONFIG_NAME_MAX 64
#define SL_CONFIG_IFNAME_MAX 16 /* xdp.interface: IFNAMSIZ, with its NUL */
/* Largest process-wide max_connections: 16M sessions (about 100M fds at most). */
#define SL_CONFIG_MAX_CONNECTIONS_MAX (1u << 24)
/* Most "retries" a group may ask for: a session tries at most this many backends plus one. */
#define SL_CONFIG_RETRIES_MAX 7
/* Largest group max_queue: as many sessions as a process may hold. */
#define SL_CONFIG_MAX_QUEUE_MAX (1u << 24)
/* Longest slowstart, ms: an hour. */
#define SL_CONFIG_SLOWSTART_MAX_MS 3600000u

/*
 * Upper bounds the loader enforces, so that whatever passes it can start (docs/configuration.md
 * says why each one is what it is).
 */
#define SL_CONFIG_WORKERS_MAX 1024u
/* Each worker keeps a memory pool for its sessions and one per listener; a process holds at
 * most this many pools (the pool table, SL__POOL_MAX in sluice/pool-t.h). */
#define SL_CONFIG_POOLS_MAX 4096u
/* Backends per group: the balancers index them with 16 bits (SL_LB_MAX_TARGETS in lb.h). */
#define SL_CONFIG_BACKENDS_MAX 65535u
#define SL_CONFIG_WEIGHT_MAX 1000000u
#define SL_CONFIG_UNIX_PATH_MAX 107u /* a unix socket's name: sun_path less its NUL */
#define SL_CONFIG_BACKLOG_MAX 65535u
#define SL_CONFIG_BUFFER_SIZE_MAX (1u << 20) /* bytes */
#define SL_CONFIG_PIPE_SIZE_MAX (1u << 20)   /* bytes; the default /proc/sys/fs/pipe-max-size */
#define SL_CONFIG_HEALTH_BYTES_MAX 4096u     /* health send and expect strings */
#define SL_CONFIG_COUNT_MAX 1000u            /* health rise and fall, passive failures */
#define SL_CONFIG_WARM_SIZE_MAX 1024u        /* warm_pool size (SL_WARM_MAX_SIZE in warm.h) */
#define SL_CONFIG_MAGLEV_SIZE_MAX 16777213u  /* the largest prime below 2^24 */
/* Nodes a file may reach again through YAML aliases (*name) before the loader refuses it: an
 * alias costs no text but its whole subtree is walked again (the "billion laughs"). */
#define SL_CONFIG_ALIAS_NODES_MAX 100000u
/* Nodes (values, lists and mappings) a file may hold, counted before libyaml builds them: the
 * largest configuration the other bounds allow, 4095 listeners and a group of 65535 backends
 * with every backend key written out, has about 760000. */
#define SL_CONFIG_NODES_MAX 1000000u

enum sl_fwd_mode {
	SL_FWD_SPLICE,  /* splice() through a per-session pipe pair */
	SL_FWD_COPY,    /* read()/write() through pooled buffers */
	SL_FWD_AUTO,    /* copy, and splice a direction while it carries bulk (default) */
	SL_FWD_URING,   /* recv/send ops on the io_uring loop; copy on epoll or with bandwidth */
	SL_FWD_SOCKMAP, /* the kernel moves the bytes (eBPF sockmap); splice where it cannot */
	SL_FWD_MODES    /* count */
};

/*
 * true if forward mode <m> can hold one direction back, which bandwidth limits need; a listener
 * with a limit opens a uring listener as copy and a sockmap one as splice
 * (listener_fallback() in listener.c).
 */
static inline bool
sl_config_fwd_pauses(enum sl_fwd_mode m)
{
	return m != SL_FWD_URING && m != SL_FWD_SOCKMAP;
}

/*
 * true if a session of forward mode <m> may splice, and so hold a pipe pair (splice, auto; and
 * sockmap, which splices where the kernel cannot take the sockets: the fd budget counts them).
 */
static inline bool
sl_config_fwd_pipes(enum sl_fwd_mode m)
{
	return m == SL_FWD_SPLICE || m == SL_FWD_AUTO || m == SL_FWD_SOCKMAP;
}

/* "splice", "copy", "auto", "uring", "sockmap", indexed by enum sl_fwd_mode: the one list of names.
 */
SL_API extern const char *const sl_fwd_mode_names[SL_FWD_MODES];

/* Sets <*out> to the mode named <name>. 0, or -EINVAL for an unknown name. */
SL_API int sl_fwd_mode_parse(const char *name, enum sl_fwd_mode *out);

/*
 * A duration written as the configuration takes one: integer milliseconds, or an integer with
 * ms, s, m or h ("250ms", "5s", "2m"). 0 with <*ms> set; -EINVAL for anything else (a sign,
 * a space, a fraction, another unit); -ERANGE for more than UINT32_MAX ms (about 49 days).
 */
SL_API int sl_config_duration_parse(const char *s, uint32_t *ms);

/* How a listener's new connections reach its workers (steering:). */
enum sl_steering {
	SL_STEER_HASH, /* the kernel hashes each over the workers' SO_REUSEPORT sockets (default) */
	SL_STEER_CPU,  /* to the worker pinned to the CPU that received it (a BPF program) */
	SL_STEERINGS   /* count */
};

/* How a session that a timeouts: deadline ends is closed (timeouts.cut:). */
enum sl_timeout_cut {
	SL_CUT_CLOSE, /* an orderly close (FIN), a reset only for a side with unsent bytes (default)
	               */
	SL_CUT_RESET, /* both connections reset (SO_LINGER 0): no FIN exchange, no TIME_WAIT */
	SL_CUTS       /* count */
};

enum sl_health_kind {
	SL_HEALTH_NONE,        /* no active checks: backends are up unless passively ejected */
	SL_HEALTH_TCP,         /* a TCP connect that succeeds within the timeout */
	SL_HEALTH_SEND_EXPECT, /* connect, send <send>, expect a reply starting with <expect> */
};

struct sl_config_timeouts {
	uint32_t connect_ms;     /* backend connect; default 5000 */
	uint32_t client_idle_ms; /* no byte from the client; default 60000; 0 = never */
	uint32_t server_idle_ms; /* no byte from the backend; default 60000; 0 = never */
	uint32_t session_ms;     /* total session duration; default 0 = unlimited */
	uint32_t first_byte_ms;  /* the client's first byte, from accept; 0 (default) = no limit */
	uint32_t client_fin_ms;  /* client idle once it sent its FIN; 0 (default) = client_idle */
	uint32_t server_fin_ms;  /* server idle once it sent its FIN; 0 (default) = server_idle */
	uint32_t min_rate_bytes; /* bytes that must move (both ways) per window; 0 = no minimum */
	uint32_t min_rate_window_ms; /* the window; default 10000 */
	uint32_t queue_ms; /* longest wait in a group's queue (max_queue); default 5000; 0 = none */
	enum sl_timeout_cut cut; /* how a session these deadlines end is closed; SL_CUT_CLOSE */
};

struct sl_config_backend {
	char name[SL_CONFIG_NAME_MAX]; /* default: the address text */
	struct sl_addr addr;
	uint32_t weight;          /* >= 1; default 1 */
	uint32_t max_connections; /* per backend, whole process; 0 = unlimited */
	bool backup;              /* takes sessions only while no primary of its group serves */
};

struct sl_config_health {
	enum sl_health_kind kind; /* default SL_HEALTH_TCP when the group has a health: key */
	char *send;               /* bytes to send (SEND_EXPECT); owned by the snapshot */
	size_t send_len;
	char *expect; /* reply prefix (SEND_EXPECT); owned by the snapshot */
	size_t expect_len;
	uint32_t interval_ms; /* default 2000 */
	uint32_t timeout_ms;  /* default 1000 */
	uint32_t rise;        /* consecutive successes to mark up; default 2 */
	uint32_t fall;        /* consecutive failures to mark down; default 3 */
	uint32_t port; /* checks connect to this port of the backend's address; 0 = its own */
};

struct sl_config_passive {
	uint32_t failures;       /* consecutive connect failures that eject; default 3; 0 = off */
	uint32_t backoff_ms;     /* first ejection; doubles on repeat; default 1000 */
	uint32_t max_backoff_ms; /* cap; default 30000 */
};

struct sl_config_warm_pool {
	uint32_t size;    /* idle pre-connected connections per backend per worker; 0 = off */
	uint32_t idle_ms; /* an idle connection older than this is closed; default 30000 */
};

/* What a group's discover: key asks of DNS (enum sl_discover_type names: "a", "aaaa", ...). */
enum sl_discover_type {
	SL_DISCOVER_NONE, /* no discover: key */
	SL_DISCOVER_A,    /* A records, each with <port> */
	SL_DISCOVER_AAAA, /* AAAA records, each with <port> */
	SL_DISCOVER_ANY,  /* A and AAAA records, each with <port> */
	SL_DISCOVER_SRV,  /* SRV records: their targets' A/AAAA, port and weight */
	SL_DISCOVER_TYPES /* count */
};

/* Longest DNS name (253 characters) plus its NUL. */
#define SL_CONFIG_DNS_NAME_MAX 254
/* Most resolvers a discover: key may list. */
#define SL_CONFIG_RESOLVERS_MAX 8

/* DNS service discovery for one group (src/proxy/discover.c, docs/operations.md). */
struct sl_config_discover {
	enum sl_discover_type type; /* SL_DISCOVER_NONE = the group discovers nothing */
	char name[SL_CONFIG_DNS_NAME_MAX];
	uint16_t port; /* the backends' port for a, aaaa and any; unused (0) for srv */
	struct sl_addr resolvers[SL_CONFIG_RESOLVERS_MAX];
	size_t nresolvers;   /* 0 (default) = the servers of /etc/resolv.conf */
	uint32_t ttl_min_ms; /* floor of the re-resolve interval; default 1000 */
	uint32_t ttl_max_ms; /* ceiling, and the interval after a failure; default 300000 */
	uint32_t timeout_ms; /* one query, all tries; default 2000 */
	uint32_t weight;     /* of each A/AAAA backend; default 1 */
};

struct sl_config_group {
	char name[SL_CONFIG_NAME_MAX];
	enum sl_lb_algo balance;    /* default SL_LB_ROUND_ROBIN */
	uint32_t maglev_table_size; /* prime; default 65537 */
	uint32_t retries;           /* other backends tried after a failed connect; default 2 */
	/* sessions that may wait, whole process, when every backend they may use is at its
	 * max_connections; 0 (default) = none wait: such a client is closed (no_backend). Live */
	uint32_t max_queue;
	/* a backend that comes up (health checks, enabled, added at run time, back from passive
	 * ejection) ramps its share of
	 * new sessions from 1/16 to all of it over this many ms; least_conn and p2c only; 0
	 * (default) = at once. Live */
	uint32_t slowstart_ms;
	/* slots of the group's backend table, run-time additions included (sluice/backends.h):
	 * nbackends .. SL_CONFIG_BACKENDS_MAX (maglev: below maglev_table_size); 0 (default) =
	 * nbackends + 16, within those bounds */
	uint32_t max_backends;
	struct sl_config_health health;
	struct sl_config_passive passive;
	struct sl_config_warm_pool warm_pool;
	unsigned send_proxy; /* 0, SL_CONFIG_PP_V1 or _V2: a PROXY header to every backend
	                      * connection, sessions and health checks alike */
	struct sl_config_backend *backends; /* owned by the snapshot */
	size_t nbackends;                   /* 0 only with discover */
	struct sl_config_discover discover; /* type SL_DISCOVER_NONE when absent */
	/* the local address its backend connections, warm pool and health checks come from (port
	 * 0: any free one); len 0 = the kernel's choice (the default) */
	struct sl_addr source;
};

/* PROXY protocol versions, as a mask (the codec's SL_PP_V1 and SL_PP_V2 values). */
enum {
	SL_CONFIG_PP_V1 = 1u,
	SL_CONFIG_PP_V2 = 2u,
};

/* Bounds of proxy_protocol.max_size: a v2 header with an IPv6 block, and the longest v2. */
#define SL_CONFIG_PP_MAX_SIZE_MIN 52
#define SL_CONFIG_PP_MAX_SIZE_MAX 65551

/* What a listener expects of a PROXY header in front of each client's bytes. */
struct sl_config_proxy_in {
	unsigned versions;      /* SL_CONFIG_PP_* mask; 0 = the listener takes no PROXY header */
	struct sl_lpm *trusted; /* sources allowed to send one (value 1); owned; others refused */
	struct sl_cidr *trusted_prefixes; /* the same prefixes as written, for compares; owned */
	size_t ntrusted_prefixes;
	uint32_t timeout_ms; /* the whole header must arrive within it; default 3000 */
	uint32_t max_size;   /* longest header accepted, bytes; default 536 */
};

/* Largest timeouts.min_rate.bytes: 1 GiB per window. */
#define SL_CONFIG_MIN_RATE_BYTES_MAX (1u << 30)
/* Largest rate or burst (new connections per second). */
#define SL_CONFIG_RATE_MAX 10000000u
/* Bounds of source_limits.table_size (entries, 32 bytes each). */
#define SL_CONFIG_SOURCE_TABLE_MIN 64u
#define SL_CONFIG_SOURCE_TABLE_MAX (1u << 26)
/* Largest source_limits.ban.strikes, and the defaults of its keys. */
#define SL_CONFIG_BAN_STRIKES_MAX 1000000u
#define SL_CONFIG_BAN_STRIKES_DEFAULT 5u
#define SL_CONFIG_BAN_WITHIN_DEFAULT_MS 30000u
#define SL_CONFIG_BAN_DURATION_DEFAULT_MS 60000u

/* Per-source limits of a listener, across every worker. */
struct sl_config_source {
	bool on; /* a source_limits: key with a limit or a ban */
	/* concurrent connections, new-connection rate, and the ban of a source whose connections
	 * min_rate or first_byte keep cutting (limits.ban.strikes 0: none); live */
	struct sl_srctab_limits limits;
	uint32_t prefix4;    /* sources sharing this IPv4 prefix count as one; 32 */
	uint32_t prefix6;    /* likewise IPv6; 64 */
	uint32_t table_size; /* sources tracked at once; default 65536 */
};

/* Bounds of bandwidth rates (bytes per second) and bursts (bytes). */
#define SL_CONFIG_BANDWIDTH_MIN 1024u
#define SL_CONFIG_BANDWIDTH_MAX (1u << 31)
#define SL_CONFIG_BANDWIDTH_BURST_MIN 1024u
#define SL_CONFIG_BANDWIDTH_BURST_MAX (1u << 30)
/* The burst when none is given: a tenth of a second of the rate, at least this. */
#define SL_CONFIG_BANDWIDTH_BURST_DEFAULT_MIN 16384u

/*
 * Bandwidth limits of a listener, each indexed by direction, i.e. the enum sl_fwd_side whose
 * bytes are read: [SL_FWD_CLIENT] upload (client to backend), [SL_FWD_SERVER] download. Byte
 * buckets (rate in bytes per second, burst in bytes); rate 0 = unlimited. Live, except that a
 * session limited by none keeps no bucket (see docs/protection.md).
 */
struct sl_config_bandwidth {
	struct sl_tbucket_rate session[2]; /* each session */
	struct sl_tbucket_rate source[2];  /* each source (source table keys), all its sessions */
	uint8_t limited; /* bit d: session[d] or source[d] has a rate (a session limits d) */
};

/* One allow: or deny: prefix of a listener, as written. */
struct sl_config_acl_rule {
	struct sl_cidr cidr;
	bool allow; /* false: deny */
};

struct sl_config_listener {
	char name[SL_CONFIG_NAME_MAX]; /* default: the address text */
	struct sl_addr addr;
	uint32_t backlog;         /* default 4096 */
	size_t group;             /* index into sl_config.groups */
	enum sl_fwd_mode forward; /* default SL_FWD_AUTO */
	bool tcp_nodelay;         /* default true */
	bool keepalive;           /* SO_KEEPALIVE on both sides; default false */
	bool freebind;            /* bind the address before this host has it; default false */
	uint32_t pipe_size;       /* splice pipe capacity in bytes; default 262144 */
	uint32_t buffer_size;     /* copy-mode buffer per direction; default 16384 */
	uint32_t max_connections; /* concurrent sessions per listener, whole process; 0 = none */
	/* default SL_STEER_HASH; the proxy falls back to hash where cpu cannot work */
	enum sl_steering steering;
	struct sl_config_timeouts timeouts;
	/* allow/deny lists: the longest matching prefix decides (value 1 allow, 0 deny); no
	 * match is allowed unless an allow list exists. NULL = no lists. Owned. Live. */
	struct sl_lpm *acl;
	bool acl_allows_unmatched;
	/* the same prefixes as a list, for the XDP program's maps (src/proxy/xdp.c); owned */
	struct sl_config_acl_rule *acl_rules;
	size_t nacl_rules;
	struct sl_config_proxy_in proxy_in;
	struct sl_tbucket_rate rate; /* new connections, whole process; rate 0 = unlimited. Live */
	struct sl_config_source source; /* per-source limits */
	struct sl_config_bandwidth bandwidth;
};

/* true if <l> limits the bandwidth of each source (its source table then keeps byte buckets). */
static inline bool
sl_config_bandwidth_per_source(const struct sl_config_listener *l)
{
	return l->bandwidth.source[0].rate != 0 || l->bandwidth.source[1].rate != 0;
}

/* The admin HTTP endpoint (metrics, stats, health); off unless an address is set. */
struct sl_config_admin {
	struct sl_addr addr;      /* addr.len == 0: no admin endpoint (the default) */
	uint32_t max_connections; /* open at once, from all clients */
	uint32_t max_per_source;  /* open at once from one client address; 0: only the above */
	uint32_t timeout_ms;      /* a connection with nothing moving is closed (whole seconds) */
};

/* Bounds of the admin section: its connections are fds beside the sessions' (budget). */
#define SL_CONFIG_ADMIN_CONNECTIONS_MAX 1024u
#define SL_CONFIG_ADMIN_TIMEOUT_MIN_MS 1000u
#define SL_CONFIG_ADMIN_TIMEOUT_MAX_MS 3600000u
/* ... and defaults, sl_admin's too when its user sets none (sluice/admin.h) */
#define SL_CONFIG_ADMIN_CONNECTIONS_DEFAULT 64u
#define SL_CONFIG_ADMIN_PER_SOURCE_DEFAULT 8u
#define SL_CONFIG_ADMIN_TIMEOUT_DEFAULT_MS 10000u

/* Longest control.path, bytes (sun_path less its NUL); control.mode is at most 0777. */
#define SL_CONFIG_CONTROL_PATH_MAX 107
#define SL_CONFIG_CONTROL_MODE_MAX 0x1ffu /* 0777 */

/* The control socket (sluicectl); off unless a path is set. */
struct sl_config_control {
	char path[SL_CONFIG_CONTROL_PATH_MAX + 1]; /* "" = no control socket (the default) */
	uint32_t mode;                             /* permission bits of the socket file; 0600 */
};

/* Bounds of access_log.ring_size: records each worker may queue (rounded up to a power of 2). */
#define SL_CONFIG_ACCESS_LOG_RING_MIN 2
#define SL_CONFIG_ACCESS_LOG_RING_MAX (1u << 20)

/* One JSON line per session, written by a logger thread (docs/operations.md). */
struct sl_config_access_log {
	char *path;         /* NULL (default) = off; "-" = standard output; owned */
	uint32_t ring_size; /* records each worker may queue before dropping; default 4096 */
};

/* Alerts (docs/operations.md "Alerts"): rules evaluated by a thread of their own. */
#define SL_CONFIG_ALERT_RULES_MAX 64u
#define SL_CONFIG_WEBHOOKS_MAX 8u
#define SL_CONFIG_URL_MAX 1024               /* bytes, with the NUL */
#define SL_CONFIG_WEBHOOK_RETRIES_MAX 10u    /* attempts after the first */
#define SL_CONFIG_ALERT_QUEUE_MAX 4096u      /* notifications waiting to be sent */
#define SL_CONFIG_ALERT_INTERVAL_MIN_MS 100u /* alerts.interval */
#define SL_CONFIG_ALERT_INTERVAL_MAX_MS 3600000u
#define SL_CONFIG_ALERT_WINDOW_MAX_MS 3600000u /* a rule's window */
#define SL_CONFIG_WEBHOOK_TIMEOUT_MAX_MS 60000u

/* What a rule watches; docs/operations.md gives each one's unit. */
enum sl_alert_metric {
	SL_ALERT_CONNECT_P99,    /* seconds: p99 of backend connect time over the window */
	SL_ALERT_FIRST_BYTE_P99, /* seconds: p99 of connected-to-first-byte over the window */
	SL_ALERT_RSS,            /* bytes: resident set size (lowest over the window) */
	SL_ALERT_BACKEND_DOWN,   /* backends down by health checks (fewest over the window) */
	SL_ALERT_REJECT_RATE,    /* clients refused by the filter chain per second */
	SL_ALERT_ERROR_RATE,     /* connect failures + no_backend + resets per second */
	SL_ALERT_METRICS         /* count */
};

/* "connect_p99", "first_byte_p99", ..., indexed by enum sl_alert_metric. */
SL_API extern const char *const sl_alert_metric_names[SL_ALERT_METRICS];

struct sl_config_webhook {
	char url[SL_CONFIG_URL_MAX]; /* http:// or https:// */
	uint32_t timeout_ms;         /* per attempt, connect to reply; default 2000 */
	uint32_t retries;            /* attempts after a failed one; default 3 */
};

struct sl_config_alert_rule {
	char name[SL_CONFIG_NAME_MAX];
	enum sl_alert_metric metric;
	double above;       /* fires when the value is above it */
	double clear_below; /* resolves when the value is at or below it; default <above> */
	uint32_t window_ms; /* 0 (default) = the last interval */
	/* backend_down only: the group ("" = every group) and one backend of it ("" = any) */
	char group[SL_CONFIG_NAME_MAX];
	char backend[SL_CONFIG_NAME_MAX];
};

struct sl_config_alerts {
	uint32_t interval_ms;               /* evaluation period; default 1000 */
	char instance[SL_CONFIG_NAME_MAX];  /* "" (default) = the host name */
	uint32_t queue_size;                /* notifications waiting; default 64 */
	struct sl_config_webhook *webhooks; /* owned; may be none (alerts are logged) */
	size_t nwebhooks;
	struct sl_config_alert_rule *rules; /* owned; none = alerts off (the default) */
	size_t nrules;
};

/* Per-worker perf counters and per-backend TCP events (docs/operations.md "Profiling"). */
struct sl_config_profiling {
	bool perf;       /* perf_event_open counters on each worker; default false */
	bool tcp_events; /* tracefs tcp retransmit/reset tracepoints; default false */
};

/* How the XDP program attaches (xdp.mode). */
enum sl_xdp_mode {
	SL_XDP_AUTO = 0, /* native if the driver has it, else generic; the default */
	SL_XDP_NATIVE,   /* in the driver (XDP_FLAGS_DRV_MODE) */
	SL_XDP_GENERIC,  /* after the driver, in the stack's receive path (XDP_FLAGS_SKB_MODE) */
	SL_XDP_MODES
};

/* The XDP early-drop program (docs/protection.md "XDP early drop"); off by default. */
struct sl_config_xdp {
	char interface[SL_CONFIG_IFNAME_MAX]; /* "" = no XDP (the default) */
	enum sl_xdp_mode mode;                /* default SL_XDP_AUTO */
	bool required; /* true: cannot attach = cannot start; default false (run without) */
};

struct sl_config {
	char *source;     /* file name, or "<string>"; owned */
	uint32_t workers; /* 0 (default) = one per online CPU */
	/* the count a process started from this file runs (its program sets it before the
	 * workers start); 0 otherwise. sl_config_workers() answers it for workers: 0, so a
	 * later change of the CPUs the process may use changes nothing a reload compares */
	uint32_t workers_started;
	uint32_t drain_timeout_ms; /* graceful shutdown deadline; default 30000 */
	/* concurrent sessions, whole process; 0 (default) = as many as the fd limit allows */
	uint32_t max_connections;
	enum sl_log_level log_level;          /* default SL_LOG_INFO */
	struct sl_config_listener *listeners; /* owned */
	size_t nlisteners;
	struct sl_config_group *groups; /* owned */
	size_t ngroups;
	struct sl_config_admin admin;
	struct sl_config_control control;       /* off by default */
	struct sl_config_access_log access_log; /* off by default */
	/* the unix socket a new sluice takes this one's listeners over (binary upgrade); NULL =
	 * none (default); owned */
	char *upgrade_socket;
	/* after binding, run as this user and group: a name or a decimal id; "" = stay who
	 * started sluice (docs/operations.md, Privileges). Needs a restart to change. */
	char user[SL_CONFIG_NAME_MAX];
	char group[SL_CONFIG_NAME_MAX];
	struct sl_config_alerts alerts;       /* off by default */
	struct sl_config_profiling profiling; /* off by default */
	struct sl_config_xdp xdp;             /* off by default; needs a restart to change */
	/* the event-loop runtime of every loop (workers, health checker); default auto */
	enum sl_loop_runtime runtime;
};

/*
 * Parses and validates <len> bytes of YAML <text> (no NUL needed); <source> names it in messages
 * ("<string>" if NULL). On success returns 0 and stores a new snapshot in <*out>. On failure
 * returns -EINVAL after printing every error found to <errs> (if not NULL), one per line as
 * "SOURCE:LINE:COLUMN: message" (1-based, sorted by position), and sets <*out> to NULL.
 * -ENOMEM on allocation failure ("SOURCE: cannot load: out of memory" printed). Never blocks;
 * any thread, one load per call.
 * docs/configuration.md lists every message.
 */
SL_API int sl_config_load_string(struct sl_config **out, const char *source, const char *text,
                                 size_t len, FILE *errs);

/*
 * Reads <path> and calls sl_config_load_string() with <path> as the source. If the file cannot
 * be read, prints "PATH: cannot read: REASON" to <errs> and returns -errno; a file that is not
 * a regular file is refused with -EINVAL (-EISDIR for a directory), one larger than 16 MiB with
 * -EFBIG. Blocks on file I/O.
 */
SL_API int sl_config_load_file(struct sl_config **out, const char *path, FILE *errs);

/*
 * The number of workers <c> runs: c->workers, or when that is 0 the number of CPUs this process
 * may run on (its affinity mask, as sl_worker_group_create() counts them). Any thread.
 */
SL_API uint32_t sl_config_workers(const struct sl_config *c);

/*
 * The most workers <c> may run: SL_CONFIG_POOLS_MAX / (listeners + 1), at most
 * SL_CONFIG_WORKERS_MAX. Pure; any thread.
 */
SL_API uint32_t sl_config_workers_max(const struct sl_config *c);

/*
 * true if file names <a> and <b> name one file: equal as written, one existing inode, or the
 * same last component in one directory however each spells it ("/run/x", "/run/./x",
 * "/var/run/x" where /var/run links to /run). Neither needs to exist. Reads the file system.
 */
SL_API bool sl_config_same_file(const char *a, const char *b);

/*
 * The offset of the first control byte (0x00-0x1f, 0x7f) in file name <s> of <len> bytes, or -1
 * if it has none. sluice refuses such a name wherever one is configured: a newline would split
 * the log lines that name the file, and a NUL would cut it short. Pure.
 */
SL_API long sl_config_path_control_byte(const char *s, size_t len);

/*
 * true if the <len> bytes at <s> may be a name (of a listener, group or backend): printable
 * ASCII without spaces, double quotes or backslashes. The length is the caller's to bound
 * (1 to SL_CONFIG_NAME_MAX - 1). SL_CONFIG_NAME_RULE says it in words, for messages.
 */
SL_API bool sl_config_name_ok(const char *s, size_t len);
#define SL_CONFIG_NAME_RULE "printable ASCII without spaces, double quotes or backslashes"

/* Frees a snapshot. NULL is ignored. */
SL_API void sl_config_free(struct sl_config *c);

/*
 * The single source of defaults, used by the loader and the one-line command mode. Each fills
 * <*x> with every default, overwriting it entirely (pointers in it are not freed): no listeners
 * or groups, no backends, no name, no address. Pure; any thread.
 */
SL_API void sl_config_defaults(struct sl_config *c);
SL_API void sl_config_group_defaults(struct sl_config_group *g);
SL_API void sl_config_listener_defaults(struct sl_config_listener *l);
SL_API void sl_config_backend_defaults(struct sl_config_backend *b);

/*
 * true if a key that the running process was built from (a restart or an upgrade applies it,
 * not a reload) differs between <a> and <b>; then <why> (<size> bytes) names every one,
 * comma-separated, such as "workers changed, group web: max_backends changed". Keys a reload
 * applies, and a group's backend list, are not compared. Groups are matched by name: one of <b>
 * that <a> lacks, or one <a> has and <b> leaves out, is not compared (a reload adds or retires it).
 * Reads both; any thread.
 */
SL_API bool sl_config_needs_restart(const struct sl_config *a, const struct sl_config *b, char *why,
                                    size_t size);
/*
 * true if any key differs between <a> and <b>, whatever its reload class; then <why> (<size>
 * bytes, cut quietly) names every one as sl_config_needs_restart() does, such as "log.level
 * changed, listener web: timeouts.client_idle changed, group api: backends were added or
 * removed". Groups are matched by name (one added or left out is not named), listeners by
 * place. What a reload logs as applied. Reads both; any thread.
 */
SL_API bool sl_config_changes(const struct sl_config *a, const struct sl_config *b, char *why,
                              size_t size);
/*
 * true if a key of group <a> that its runtime objects were built from (class restart: its
 * balancer, health checks, warm pool, max_backends, discover ...) differs in <b>; then <why>
 * (<size> bytes) names every one, such as "group api: balance changed". Its backend list and live
 * keys are not compared. Reads both; any thread.
 */
SL_API bool sl_config_group_needs_restart(const struct sl_config_group *a,
                                          const struct sl_config_group *b, char *why, size_t size);
/*
 * true if a key of listener <a> that fixes its socket or its runtime objects (the "reopen"
 * keys of `sluice --list-keys`) differs in <b>; then <why> (<size> bytes) names every one, such as
 * "backlog changed". A reload applies such a change by re-opening that listener. Pure.
 */
SL_API bool sl_config_listener_needs_reopen(const struct sl_config_listener *a,
                                            const struct sl_config_listener *b, char *why,
                                            size_t size);

/*
 * Writes every key of the file format to <out>, one per line, tab-separated: section, key,
 * type, least and largest value, default, and "live" or "restart" (what a reload does with a
 * change). The first line names the columns. `sluice --list-keys` prints it.
 */
SL_API void sl_config_keys_print(FILE *out);

#endif /* SLUICE_CONFIG_H */
