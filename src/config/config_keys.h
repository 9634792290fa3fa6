/* SPDX-License-Identifier: MIT */
/*
 * The configuration's key table: every key of the YAML schema, once, with its mapping, type,
 * bounds, default, where it is stored and whether a reload may change it. The loader's key
 * checks, the typed values' parsing and defaults, the reload compare (config_diff.c) and
 * `sluice --list-keys` (which the documentation test reads) all follow from SL__CONFIG_KEYS.
 * Internal to the configuration layer.
 */
#ifndef SLUICE_CONFIG_KEYS_H
#define SLUICE_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/config.h>
#include <sluice/lb.h>

/* The mappings of the schema; a list's items are a mapping too. */
enum sl__config_section {
	SL__SEC_TOP,
	SL__SEC_LOG,
	SL__SEC_ADMIN,
	SL__SEC_CONTROL,
	SL__SEC_ACCESS_LOG,
	SL__SEC_ALERTS,
	SL__SEC_WEBHOOK,
	SL__SEC_RULE,
	SL__SEC_PROFILING,
	SL__SEC_XDP,
	SL__SEC_LISTENER,
	SL__SEC_TIMEOUT,
	SL__SEC_MIN_RATE,
	SL__SEC_PROXY_IN,
	SL__SEC_RATE,
	SL__SEC_SOURCE,
	SL__SEC_BAN,
	SL__SEC_BANDWIDTH,
	SL__SEC_BANDWIDTH_LIMIT,
	SL__SEC_GROUP,
	SL__SEC_HEALTH,
	SL__SEC_PASSIVE,
	SL__SEC_WARM,
	SL__SEC_DISCOVER,
	SL__SEC_BACKEND,
	SL__SECTIONS
};

/* What a value is: how it is read, compared and described. */
enum sl__config_kind {
	SL__KIND_U32,    /* integer, lo..hi */
	SL__KIND_MS,     /* duration in ms, lo..hi */
	SL__KIND_SIZE,   /* size in bytes, lo..hi */
	SL__KIND_BOOL,   /* true or false */
	SL__KIND_ENUM,   /* one of names[]; stored as an unsigned-sized enum, the name's index */
	SL__KIND_NAME,   /* char[SL_CONFIG_NAME_MAX] */
	SL__KIND_ADDR,   /* struct sl_addr */
	SL__KIND_OTHER,  /* anything else: the walker reads it (the type text says what) */
	SL__KIND_MAP,    /* a mapping: the keys of section <child> */
	SL__KIND_LIST,   /* a list of mappings of section <child> */
	SL__KIND_NUMBER, /* a double, at least 0 */
};

/* What a reload does with a changed value. */
enum sl__config_reload {
	SL__RELOAD_LIVE, /* applied: sessions and workers take the new value */
	/* applied by re-opening the listener it belongs to: new sessions use the new value,
	 * open ones finish under the old; the socket is kept while the address stays */
	SL__RELOAD_REOPEN,
	SL__RELOAD_RESTART, /* refused: the process was built from it (restart or upgrade) */
};

struct sl__config_key {
	enum sl__config_section section;
	const char *name;
	enum sl__config_kind kind;
	enum sl__config_reload reload;
	const char *type; /* for OTHER: what it is, as the documentation says */
	/* offset of the value in the section's struct (for a value the walker converts, of the
	 * converted one: compares look there); for MAP, of the
	 * child's struct; for LIST, of the items pointer */
	size_t offset;
	size_t size;         /* the field's size */
	size_t count_offset; /* LIST: offset of the item count (size_t) */
	size_t item_size;    /* LIST: size of one item */
	bool walker;         /* the walker reads it (bounds from here); no default from here */
	uint32_t lo, hi;     /* U32, MS, SIZE */
	uint32_t def;        /* U32, MS, SIZE, BOOL, ENUM: the default */
	const char *const *names;
	size_t nnames;
	enum sl__config_section child; /* MAP, LIST */
	/* compares the two fields (OTHER, or a MAP's own part); NULL: by kind */
	bool (*same)(const void *a, const void *b);
	/* MAP of a section a file may leave out: whether the struct at <m> holds one (a reload
	 * that adds or removes it says so, not which of its keys changed); NULL: always there */
	bool (*present)(const void *m);
	/* --list-keys' default column where the table's own cannot say it (required, or set
	 * by the walker or from other keys); NULL: from <def> */
	const char *def_text;
};

/* clang-format off */
/* <spec> with the default --list-keys prints in words */
#define SL__D(spec, text) spec, .def_text = (text)
/* <spec> whose values compare with <s> (see .same) */
#define SL__SAME(spec, s) spec, .same = (s)
#define SL__TYPED(k, T, f, l, h, d) .kind = SL__KIND_##k, .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .lo = (l), .hi = (h), .def = (d)
#define SL__ENUM(T, f, n, cnt, d) .kind = SL__KIND_ENUM, .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .names = (n), .nnames = (cnt), .def = (d)
#define SL__FIELD(k, T, f, l, h) .kind = SL__KIND_##k, .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .lo = (l), .hi = (h), .walker = true
#define SL__WALKER_ENUM(T, f, n, cnt) .kind = SL__KIND_ENUM, .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .names = (n), .nnames = (cnt), .walker = true
#define SL__OTHER(t, T, f, s) .kind = SL__KIND_OTHER, .type = (t), .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .walker = true, .same = (s)
/* a list of prefixes the walker keeps as written in the array at <f>, compared by <s> */
#define SL__PREFIXES(T, f, s) .kind = SL__KIND_OTHER, .type = "list of prefixes", \
	.offset = offsetof(T, f), .walker = true, .same = (s)
/* a value the walker keeps converted in field <f> (a rate's bucket, a duration in ns): read
 * with the table's bounds, compared in <f> */
#define SL__KEPT(k, T, f, l, h) .kind = SL__KIND_##k, .offset = offsetof(T, f), \
	.size = sizeof(((T *)0)->f), .lo = (l), .hi = (h), .walker = true
#define SL__MAP(c, T, m) .kind = SL__KIND_MAP, .child = SL__SEC_##c, .offset = offsetof(T, m)
#define SL__MAP_SAME(c, T, m, s) SL__MAP(c, T, m), .same = (s)
/* a mapping that may be absent, as <p> tells (see .present) */
#define SL__MAP_OPT(c, T, m, p) SL__MAP(c, T, m), .present = (p)
/* a mapping the walker reads into member <m>, the struct of section <c> (compared there) */
#define SL__MAP_KEPT(c, T, m) .kind = SL__KIND_MAP, .child = SL__SEC_##c, .offset = offsetof(T, m), \
	.walker = true
#define SL__MAP_HERE(c) .kind = SL__KIND_MAP, .child = SL__SEC_##c, .offset = 0
#define SL__LIST(c, T, p, n) .kind = SL__KIND_LIST, .child = SL__SEC_##c, \
	.offset = offsetof(T, p), .count_offset = offsetof(T, n), .item_size = sizeof(*((T *)0)->p)

/* bandwidth.session or .source as the walker keeps it (sluice/config.h): d[0] upload, d[1]
 * download (burst is both's) */
struct sl__config_bandwidth_dirs {
	struct sl_tbucket_rate d[2];
};

/*
 * K(SECTION, ID, "name", spec, LIVE|REOPEN|RESTART). Within a section, keys are listed in the order
 * messages list them ("expected one of: ..."). A new key is one line here, a field in
 * sluice/config.h and its rows in the documentation.
 */
#define SL__CONFIG_KEYS(K) \
	K(TOP, WORKERS, "workers", SL__SAME(SL__TYPED(U32, struct sl_config, workers, 0, SL_CONFIG_WORKERS_MAX, 0), sl__config_same_workers), RESTART) \
	K(TOP, DRAIN, "drain_timeout", SL__TYPED(MS, struct sl_config, drain_timeout_ms, 0, UINT32_MAX, 30000), LIVE) \
	K(TOP, MAXCONN, "max_connections", SL__TYPED(U32, struct sl_config, max_connections, 0, SL_CONFIG_MAX_CONNECTIONS_MAX, 0), RESTART) \
	K(TOP, LOG, "log", SL__MAP_HERE(LOG), LIVE) \
	K(TOP, LISTENERS, "listeners", SL__D(SL__LIST(LISTENER, struct sl_config, listeners, nlisteners), "(required)"), LIVE) \
	K(TOP, GROUPS, "groups", SL__D(SL__LIST(GROUP, struct sl_config, groups, ngroups), "(required)"), RESTART) \
	K(TOP, ADMIN, "admin", SL__MAP_OPT(ADMIN, struct sl_config, admin, sl__config_has_admin), RESTART) \
	K(TOP, ACCESS_LOG, "access_log", SL__MAP_OPT(ACCESS_LOG, struct sl_config, access_log, sl__config_has_access_log), RESTART) \
	K(TOP, UPGRADE_SOCKET, "upgrade_socket", SL__OTHER("absolute file name", struct sl_config, upgrade_socket, sl__config_same_fileptr), RESTART) \
	K(TOP, USER, "user", SL__OTHER("name or id", struct sl_config, user, sl__config_same_strbuf), RESTART) \
	K(TOP, GROUP, "group", SL__OTHER("name or id", struct sl_config, group, sl__config_same_strbuf), RESTART) \
	K(TOP, CONTROL, "control", SL__MAP_OPT(CONTROL, struct sl_config, control, sl__config_has_control), RESTART) \
	K(TOP, ALERTS, "alerts", SL__MAP_OPT(ALERTS, struct sl_config, alerts, sl__config_has_alerts), RESTART) \
	K(TOP, PROFILING, "profiling", SL__MAP(PROFILING, struct sl_config, profiling), RESTART) \
	K(TOP, XDP, "xdp", SL__MAP_OPT(XDP, struct sl_config, xdp, sl__config_has_xdp), RESTART) \
	K(TOP, RUNTIME, "runtime", SL__ENUM(struct sl_config, runtime, sl_loop_runtime_names, SL_LOOP_RUNTIMES, SL_LOOP_AUTO), RESTART) \
	K(LOG, LEVEL, "level", SL__ENUM(struct sl_config, log_level, sl_log_level_names, SL_LOG_LEVELS, SL_LOG_INFO), LIVE) \
	K(ADMIN, ADDRESS, "address", SL__TYPED(ADDR, struct sl_config_admin, addr, 0, 0, 0), RESTART) \
	K(ADMIN, MAXCONN, "max_connections", SL__TYPED(U32, struct sl_config_admin, max_connections, 1, SL_CONFIG_ADMIN_CONNECTIONS_MAX, SL_CONFIG_ADMIN_CONNECTIONS_DEFAULT), RESTART) \
	K(ADMIN, PER_SOURCE, "max_per_source", SL__TYPED(U32, struct sl_config_admin, max_per_source, 0, SL_CONFIG_ADMIN_CONNECTIONS_MAX, SL_CONFIG_ADMIN_PER_SOURCE_DEFAULT), RESTART) \
	K(ADMIN, TIMEOUT, "timeout", SL__TYPED(MS, struct sl_config_admin, timeout_ms, SL_CONFIG_ADMIN_TIMEOUT_MIN_MS, SL_CONFIG_ADMIN_TIMEOUT_MAX_MS, SL_CONFIG_ADMIN_TIMEOUT_DEFAULT_MS), RESTART) \
	K(CONTROL, PATH, "path", SL__D(SL__OTHER("socket file name", struct sl_config_control, path, sl__config_same_filebuf), "(required)"), RESTART) \
	K(CONTROL, MODE, "mode", SL__D(SL__OTHER("octal file mode", struct sl_config_control, mode, sl__config_same_u32), "0600"), RESTART) \
	K(ACCESS_LOG, PATH, "path", SL__D(SL__OTHER("file name, or -", struct sl_config_access_log, path, sl__config_same_fileptr), "(required)"), RESTART) \
	K(ACCESS_LOG, RING, "ring_size", SL__TYPED(U32, struct sl_config_access_log, ring_size, SL_CONFIG_ACCESS_LOG_RING_MIN, SL_CONFIG_ACCESS_LOG_RING_MAX, 4096), RESTART) \
	K(ALERTS, INTERVAL, "interval", SL__TYPED(MS, struct sl_config_alerts, interval_ms, SL_CONFIG_ALERT_INTERVAL_MIN_MS, SL_CONFIG_ALERT_INTERVAL_MAX_MS, 1000), RESTART) \
	K(ALERTS, INSTANCE, "instance", SL__TYPED(NAME, struct sl_config_alerts, instance, 0, 0, 0), RESTART) \
	K(ALERTS, QUEUE, "queue_size", SL__TYPED(U32, struct sl_config_alerts, queue_size, 1, SL_CONFIG_ALERT_QUEUE_MAX, 64), RESTART) \
	K(ALERTS, WEBHOOKS, "webhooks", SL__LIST(WEBHOOK, struct sl_config_alerts, webhooks, nwebhooks), RESTART) \
	K(ALERTS, RULES, "rules", SL__D(SL__LIST(RULE, struct sl_config_alerts, rules, nrules), "(required)"), RESTART) \
	K(WEBHOOK, URL, "url", SL__D(SL__OTHER("http:// or https:// URL", struct sl_config_webhook, url, sl__config_same_strbuf), "(required)"), RESTART) \
	K(WEBHOOK, TIMEOUT, "timeout", SL__TYPED(MS, struct sl_config_webhook, timeout_ms, 1, SL_CONFIG_WEBHOOK_TIMEOUT_MAX_MS, 2000), RESTART) \
	K(WEBHOOK, RETRIES, "retries", SL__TYPED(U32, struct sl_config_webhook, retries, 0, SL_CONFIG_WEBHOOK_RETRIES_MAX, 3), RESTART) \
	K(RULE, NAME, "name", SL__D(SL__TYPED(NAME, struct sl_config_alert_rule, name, 0, 0, 0), "(required)"), RESTART) \
	K(RULE, METRIC, "metric", SL__D(SL__ENUM(struct sl_config_alert_rule, metric, sl_alert_metric_names, SL_ALERT_METRICS, 0), "(required)"), RESTART) \
	K(RULE, ABOVE, "above", SL__D(SL__TYPED(NUMBER, struct sl_config_alert_rule, above, 0, 0, 0), "(required)"), RESTART) \
	K(RULE, CLEAR, "clear_below", SL__FIELD(NUMBER, struct sl_config_alert_rule, clear_below, 0, 0), RESTART) \
	K(RULE, WINDOW, "window", SL__TYPED(MS, struct sl_config_alert_rule, window_ms, 0, SL_CONFIG_ALERT_WINDOW_MAX_MS, 0), RESTART) \
	K(RULE, GROUP, "group", SL__TYPED(NAME, struct sl_config_alert_rule, group, 0, 0, 0), RESTART) \
	K(RULE, BACKEND, "backend", SL__TYPED(NAME, struct sl_config_alert_rule, backend, 0, 0, 0), RESTART) \
	K(PROFILING, PERF, "perf", SL__TYPED(BOOL, struct sl_config_profiling, perf, 0, 0, false), RESTART) \
	K(PROFILING, TCP, "tcp_events", SL__TYPED(BOOL, struct sl_config_profiling, tcp_events, 0, 0, false), RESTART) \
	K(XDP, INTERFACE, "interface", SL__D(SL__OTHER("network interface name", struct sl_config_xdp, interface, sl__config_same_strbuf), "(required)"), RESTART) \
	K(XDP, MODE, "mode", SL__ENUM(struct sl_config_xdp, mode, sl__config_xdp_modes, SL_XDP_MODES, SL_XDP_AUTO), RESTART) \
	K(XDP, REQUIRED, "required", SL__TYPED(BOOL, struct sl_config_xdp, required, 0, 0, false), RESTART) \
	K(LISTENER, NAME, "name", SL__TYPED(NAME, struct sl_config_listener, name, 0, 0, 0), REOPEN) \
	K(LISTENER, ADDRESS, "address", SL__D(SL__TYPED(ADDR, struct sl_config_listener, addr, 0, 0, 0), "(required)"), REOPEN) \
	K(LISTENER, GROUP, "group", SL__D(SL__OTHER("group name", struct sl_config_listener, group, sl__config_same_size), "(required unless one group)"), REOPEN) \
	K(LISTENER, BACKLOG, "backlog", SL__TYPED(U32, struct sl_config_listener, backlog, 1, SL_CONFIG_BACKLOG_MAX, 4096), REOPEN) \
	K(LISTENER, FORWARD, "forward", SL__ENUM(struct sl_config_listener, forward, sl_fwd_mode_names, SL_FWD_MODES, SL_FWD_AUTO), REOPEN) \
	K(LISTENER, NODELAY, "tcp_nodelay", SL__TYPED(BOOL, struct sl_config_listener, tcp_nodelay, 0, 0, true), REOPEN) \
	K(LISTENER, KEEPALIVE, "keepalive", SL__TYPED(BOOL, struct sl_config_listener, keepalive, 0, 0, false), REOPEN) \
	K(LISTENER, FREEBIND, "freebind", SL__TYPED(BOOL, struct sl_config_listener, freebind, 0, 0, false), REOPEN) \
	K(LISTENER, PIPE, "pipe_size", SL__TYPED(SIZE, struct sl_config_listener, pipe_size, 4096, SL_CONFIG_PIPE_SIZE_MAX, 262144), REOPEN) \
	K(LISTENER, BUFFER, "buffer_size", SL__TYPED(SIZE, struct sl_config_listener, buffer_size, 1024, SL_CONFIG_BUFFER_SIZE_MAX, 16384), REOPEN) \
	K(LISTENER, MAXCONN, "max_connections", SL__TYPED(U32, struct sl_config_listener, max_connections, 0, UINT32_MAX, 0), REOPEN) \
	K(LISTENER, STEERING, "steering", SL__ENUM(struct sl_config_listener, steering, sl__config_steerings, SL_STEERINGS, SL_STEER_HASH), REOPEN) \
	K(LISTENER, TIMEOUTS, "timeouts", SL__MAP(TIMEOUT, struct sl_config_listener, timeouts), LIVE) \
	K(LISTENER, ALLOW, "allow", SL__PREFIXES(struct sl_config_listener, acl_rules, sl__config_same_allow), LIVE) \
	K(LISTENER, DENY, "deny", SL__PREFIXES(struct sl_config_listener, acl_rules, sl__config_same_deny), LIVE) \
	K(LISTENER, PROXY, "proxy_protocol", SL__MAP(PROXY_IN, struct sl_config_listener, proxy_in), LIVE) \
	K(LISTENER, RATE, "rate", SL__MAP(RATE, struct sl_config_listener, rate), LIVE) \
	K(LISTENER, SOURCE, "source_limits", SL__MAP_SAME(SOURCE, struct sl_config_listener, source, sl__config_same_source_on), REOPEN) \
	K(LISTENER, BANDWIDTH, "bandwidth", SL__MAP_SAME(BANDWIDTH, struct sl_config_listener, bandwidth, sl__config_bandwidth_keeps_listener), REOPEN) \
	K(TIMEOUT, CONNECT, "connect", SL__TYPED(MS, struct sl_config_timeouts, connect_ms, 1, UINT32_MAX, 5000), LIVE) \
	K(TIMEOUT, CLIENT, "client_idle", SL__TYPED(MS, struct sl_config_timeouts, client_idle_ms, 0, UINT32_MAX, 60000), LIVE) \
	K(TIMEOUT, SERVER, "server_idle", SL__TYPED(MS, struct sl_config_timeouts, server_idle_ms, 0, UINT32_MAX, 60000), LIVE) \
	K(TIMEOUT, SESSION, "session", SL__TYPED(MS, struct sl_config_timeouts, session_ms, 0, UINT32_MAX, 0), LIVE) \
	K(TIMEOUT, FIRST, "first_byte", SL__TYPED(MS, struct sl_config_timeouts, first_byte_ms, 0, UINT32_MAX, 0), LIVE) \
	K(TIMEOUT, CFIN, "client_fin", SL__TYPED(MS, struct sl_config_timeouts, client_fin_ms, 0, UINT32_MAX, 0), LIVE) \
	K(TIMEOUT, SFIN, "server_fin", SL__TYPED(MS, struct sl_config_timeouts, server_fin_ms, 0, UINT32_MAX, 0), LIVE) \
	K(TIMEOUT, MIN_RATE, "min_rate", SL__MAP_HERE(MIN_RATE), LIVE) \
	K(TIMEOUT, QUEUE, "queue", SL__TYPED(MS, struct sl_config_timeouts, queue_ms, 0, UINT32_MAX, 5000), LIVE) \
	K(TIMEOUT, CUT, "cut", SL__ENUM(struct sl_config_timeouts, cut, sl__config_cuts, SL_CUTS, SL_CUT_CLOSE), LIVE) \
	K(MIN_RATE, BYTES, "bytes", SL__D(SL__TYPED(SIZE, struct sl_config_timeouts, min_rate_bytes, 1, SL_CONFIG_MIN_RATE_BYTES_MAX, 0), "(required)"), LIVE) \
	K(MIN_RATE, WINDOW, "window", SL__TYPED(MS, struct sl_config_timeouts, min_rate_window_ms, 1, UINT32_MAX, 10000), LIVE) \
	K(PROXY_IN, VERSION, "version", SL__D(SL__WALKER_ENUM(struct sl_config_proxy_in, versions, sl__config_proxy_versions, 4), "any"), REOPEN) \
	K(PROXY_IN, TRUSTED, "trusted", SL__D(SL__PREFIXES(struct sl_config_proxy_in, trusted_prefixes, sl__config_same_trusted), "(required unless version: off)"), LIVE) \
	K(PROXY_IN, TIMEOUT, "timeout", SL__TYPED(MS, struct sl_config_proxy_in, timeout_ms, 1, UINT32_MAX, 3000), LIVE) \
	K(PROXY_IN, MAX_SIZE, "max_size", SL__TYPED(SIZE, struct sl_config_proxy_in, max_size, SL_CONFIG_PP_MAX_SIZE_MIN, SL_CONFIG_PP_MAX_SIZE_MAX, 536), REOPEN) \
	K(RATE, PER_SECOND, "per_second", SL__D(SL__KEPT(U32, struct sl_tbucket_rate, rate, 1, SL_CONFIG_RATE_MAX), "(required)"), LIVE) \
	K(RATE, BURST, "burst", SL__D(SL__KEPT(U32, struct sl_tbucket_rate, burst, 1, SL_CONFIG_RATE_MAX), "per_second"), LIVE) \
	K(SOURCE, MAXCONN, "max_connections", SL__D(SL__KEPT(U32, struct sl_config_source, limits.max_conns, 0, UINT32_MAX), "0"), LIVE) \
	K(SOURCE, RATE, "rate", SL__D(SL__KEPT(U32, struct sl_config_source, limits.rate.rate, 0, SL_CONFIG_RATE_MAX), "0"), LIVE) \
	K(SOURCE, BURST, "burst", SL__D(SL__KEPT(U32, struct sl_config_source, limits.rate.burst, 1, SL_CONFIG_RATE_MAX), "rate"), LIVE) \
	K(SOURCE, PREFIX4, "prefix4", SL__TYPED(U32, struct sl_config_source, prefix4, 1, 32, 32), REOPEN) \
	K(SOURCE, PREFIX6, "prefix6", SL__TYPED(U32, struct sl_config_source, prefix6, 1, 128, 64), REOPEN) \
	K(SOURCE, TABLE, "table_size", SL__TYPED(U32, struct sl_config_source, table_size, SL_CONFIG_SOURCE_TABLE_MIN, SL_CONFIG_SOURCE_TABLE_MAX, 65536), REOPEN) \
	K(SOURCE, BAN, "ban", SL__MAP_KEPT(BAN, struct sl_config_source, limits.ban), REOPEN) /* on or off; its values are live */ \
	K(BAN, STRIKES, "strikes", SL__D(SL__KEPT(U32, struct sl_srctab_ban, strikes, 1, SL_CONFIG_BAN_STRIKES_MAX), "5"), LIVE) \
	K(BAN, WITHIN, "within", SL__D(SL__KEPT(MS, struct sl_srctab_ban, within_ns, 1, UINT32_MAX), "30s"), LIVE) \
	K(BAN, DURATION, "duration", SL__D(SL__KEPT(MS, struct sl_srctab_ban, duration_ns, 1, UINT32_MAX), "60s"), LIVE) \
	K(BANDWIDTH, SESSION, "session", SL__MAP_KEPT(BANDWIDTH_LIMIT, struct sl_config_bandwidth, session), LIVE) \
	K(BANDWIDTH, SOURCE, "source", SL__MAP_KEPT(BANDWIDTH_LIMIT, struct sl_config_bandwidth, source), REOPEN) /* on or off; its values are live */ \
	K(BANDWIDTH_LIMIT, UPLOAD, "upload", SL__KEPT(SIZE, struct sl__config_bandwidth_dirs, d[0].rate, SL_CONFIG_BANDWIDTH_MIN, SL_CONFIG_BANDWIDTH_MAX), LIVE) \
	K(BANDWIDTH_LIMIT, DOWNLOAD, "download", SL__KEPT(SIZE, struct sl__config_bandwidth_dirs, d[1].rate, SL_CONFIG_BANDWIDTH_MIN, SL_CONFIG_BANDWIDTH_MAX), LIVE) \
	K(BANDWIDTH_LIMIT, BURST, "burst", SL__D(SL__KEPT(SIZE, struct sl__config_bandwidth_dirs, d[0].burst, SL_CONFIG_BANDWIDTH_BURST_MIN, SL_CONFIG_BANDWIDTH_BURST_MAX), "rate / 10, at least 16k"), LIVE) \
	K(GROUP, NAME, "name", SL__D(SL__TYPED(NAME, struct sl_config_group, name, 0, 0, 0), "(required)"), RESTART) \
	K(GROUP, BALANCE, "balance", SL__ENUM(struct sl_config_group, balance, sl_lb_algo_names, SL_LB_ALGOS, SL_LB_ROUND_ROBIN), LIVE) \
	K(GROUP, MAGLEV, "maglev_table_size", SL__D(SL__FIELD(U32, struct sl_config_group, maglev_table_size, 3, SL_CONFIG_MAGLEV_SIZE_MAX), "65537"), LIVE) \
	K(GROUP, RETRIES, "retries", SL__TYPED(U32, struct sl_config_group, retries, 0, SL_CONFIG_RETRIES_MAX, 2), LIVE) \
	K(GROUP, MAX_QUEUE, "max_queue", SL__TYPED(U32, struct sl_config_group, max_queue, 0, SL_CONFIG_MAX_QUEUE_MAX, 0), LIVE) \
	K(GROUP, SLOWSTART, "slowstart", SL__TYPED(MS, struct sl_config_group, slowstart_ms, 0, SL_CONFIG_SLOWSTART_MAX_MS, 0), LIVE) \
	K(GROUP, HEALTH, "health", SL__MAP(HEALTH, struct sl_config_group, health), LIVE) \
	K(GROUP, PASSIVE, "passive", SL__MAP(PASSIVE, struct sl_config_group, passive), LIVE) \
	K(GROUP, WARM, "warm_pool", SL__MAP(WARM, struct sl_config_group, warm_pool), LIVE) \
	K(GROUP, SEND_PROXY, "send_proxy", SL__ENUM(struct sl_config_group, send_proxy, sl__config_proxy_versions, 3, 0), LIVE) \
	K(GROUP, BACKENDS, "backends", SL__D(SL__LIST(BACKEND, struct sl_config_group, backends, nbackends), "(required unless discover)"), LIVE) \
	K(GROUP, MAX_BACKENDS, "max_backends", SL__D(SL__TYPED(U32, struct sl_config_group, max_backends, 1, SL_CONFIG_BACKENDS_MAX, 0), "backends + 16"), RESTART) \
	K(GROUP, DISCOVER, "discover", SL__MAP_OPT(DISCOVER, struct sl_config_group, discover, sl__config_has_discover), RESTART) \
	K(GROUP, SOURCE, "source", SL__OTHER("IP address", struct sl_config_group, source, sl__config_same_addr), RESTART) \
	K(HEALTH, TYPE, "type", SL__D(SL__WALKER_ENUM(struct sl_config_health, kind, sl__config_health_types, 3), "tcp"), LIVE) \
	K(HEALTH, INTERVAL, "interval", SL__TYPED(MS, struct sl_config_health, interval_ms, 1, UINT32_MAX, 2000), LIVE) \
	K(HEALTH, TIMEOUT, "timeout", SL__TYPED(MS, struct sl_config_health, timeout_ms, 1, UINT32_MAX, 1000), LIVE) \
	K(HEALTH, RISE, "rise", SL__TYPED(U32, struct sl_config_health, rise, 1, SL_CONFIG_COUNT_MAX, 2), LIVE) \
	K(HEALTH, FALL, "fall", SL__TYPED(U32, struct sl_config_health, fall, 1, SL_CONFIG_COUNT_MAX, 3), LIVE) \
	K(HEALTH, PORT, "port", SL__TYPED(U32, struct sl_config_health, port, 0, 65535, 0), LIVE) \
	K(HEALTH, SEND, "send", SL__OTHER("string", struct sl_config_health, send, sl__config_same_health_send), LIVE) \
	K(HEALTH, EXPECT, "expect", SL__OTHER("string", struct sl_config_health, expect, sl__config_same_health_expect), LIVE) \
	K(PASSIVE, FAILURES, "failures", SL__TYPED(U32, struct sl_config_passive, failures, 0, SL_CONFIG_COUNT_MAX, 3), LIVE) \
	K(PASSIVE, BACKOFF, "backoff", SL__TYPED(MS, struct sl_config_passive, backoff_ms, 1, UINT32_MAX, 1000), LIVE) \
	K(PASSIVE, MAX_BACKOFF, "max_backoff", SL__TYPED(MS, struct sl_config_passive, max_backoff_ms, 1, UINT32_MAX, 30000), LIVE) \
	K(WARM, SIZE, "size", SL__TYPED(U32, struct sl_config_warm_pool, size, 0, SL_CONFIG_WARM_SIZE_MAX, 0), LIVE) \
	K(WARM, IDLE, "idle", SL__TYPED(MS, struct sl_config_warm_pool, idle_ms, 1, UINT32_MAX, 30000), LIVE) \
	K(DISCOVER, NAME, "name", SL__D(SL__OTHER("DNS name", struct sl_config_discover, name, sl__config_same_strbuf), "(required)"), RESTART) \
	K(DISCOVER, TYPE, "type", SL__D(SL__WALKER_ENUM(struct sl_config_discover, type, sl__config_discover_types, 4), "a"), RESTART) \
	K(DISCOVER, PORT, "port", SL__D(SL__FIELD(U32, struct sl_config_discover, port, 1, 65535), "(required unless srv)"), RESTART) \
	K(DISCOVER, RESOLVERS, "resolvers", SL__OTHER("list of addresses", struct sl_config_discover, resolvers, sl__config_same_resolvers), RESTART) \
	K(DISCOVER, TTL_MIN, "ttl_min", SL__TYPED(MS, struct sl_config_discover, ttl_min_ms, 1, UINT32_MAX, 1000), RESTART) \
	K(DISCOVER, TTL_MAX, "ttl_max", SL__TYPED(MS, struct sl_config_discover, ttl_max_ms, 1, UINT32_MAX, 300000), RESTART) \
	K(DISCOVER, TIMEOUT, "timeout", SL__TYPED(MS, struct sl_config_discover, timeout_ms, 1, UINT32_MAX, 2000), RESTART) \
	K(DISCOVER, WEIGHT, "weight", SL__TYPED(U32, struct sl_config_discover, weight, 1, SL_CONFIG_WEIGHT_MAX, 1), RESTART) \
	K(BACKEND, ADDRESS, "address", SL__D(SL__TYPED(ADDR, struct sl_config_backend, addr, 0, 0, 0), "(required)"), LIVE) \
	K(BACKEND, WEIGHT, "weight", SL__TYPED(U32, struct sl_config_backend, weight, 1, SL_CONFIG_WEIGHT_MAX, 1), LIVE) \
	K(BACKEND, MAXCONN, "max_connections", SL__TYPED(U32, struct sl_config_backend, max_connections, 0, UINT32_MAX, 0), LIVE) \
	K(BACKEND, NAME, "name", SL__TYPED(NAME, struct sl_config_backend, name, 0, 0, 0), LIVE) \
	K(BACKEND, BACKUP, "backup", SL__TYPED(BOOL, struct sl_config_backend, backup, 0, 0, false), LIVE)
/* clang-format on */

/* SL__KEY_<SECTION>_<ID>: a key's index in sl__config_keys[]. */
enum sl__config_key_id {
#define SL__KEY_ID(sec, id, name, spec, reload) SL__KEY_##sec##_##id,
	SL__CONFIG_KEYS(SL__KEY_ID)
#undef SL__KEY_ID
	        SL__KEYS
};

/* The keys, indexed by enum sl__config_key_id. */
extern const struct sl__config_key sl__config_keys[SL__KEYS];

/* Each section's name, as `sluice --list-keys` and the documentation call it. */
extern const char *const sl__config_section_names[SL__SECTIONS];

/* The most keys any section has (listener's): the parser's per-mapping arrays hold this many. */
#define SL__SECTION_KEYS_MAX 19

/*
 * The keys of <section> are sl__config_keys[*first .. *first + n), in message order (the
 * table keeps a section's keys together); returns n.
 */
size_t sl__config_section_keys(enum sl__config_section section, size_t *first);

/* The names a few enums take in the file, index = value (or, for discover, value - 1). */
extern const char *const sl__config_xdp_modes[SL_XDP_MODES];
extern const char *const sl__config_steerings[SL_STEERINGS];
extern const char *const sl__config_cuts[SL_CUTS];
extern const char *const sl__config_proxy_versions[4]; /* index = mask of SL_CONFIG_PP_* */
extern const char *const sl__config_health_types[3];   /* index = enum sl_health_kind */
extern const char *const sl__config_discover_types[4]; /* index + 1 = enum sl_discover_type */

/* Compares of fields the kind alone cannot compare (OTHER keys, a MAP's own part). */
bool sl__config_same_strbuf(const void *a, const void *b);
bool sl__config_same_addr(const void *a, const void *b);
bool sl__config_same_u32(const void *a, const void *b);
bool sl__config_same_strptr(const void *a, const void *b);
/* File names (a char array; a char pointer): one file however spelled, sl_config_same_file(). */
bool sl__config_same_filebuf(const void *a, const void *b);
bool sl__config_same_fileptr(const void *a, const void *b);
bool sl__config_same_size(const void *a, const void *b);
bool sl__config_same_source_on(const void *a, const void *b);
/* A listener's allow (deny) prefixes (acl_rules), proxy_protocol.trusted (trusted_prefixes). */
bool sl__config_same_allow(const void *a, const void *b);
bool sl__config_same_deny(const void *a, const void *b);
bool sl__config_same_trusted(const void *a, const void *b);
bool sl__config_same_workers(const void *a, const void *b);
bool sl__config_bandwidth_keeps_listener(const void *a, const void *b);
bool sl__config_same_health_send(const void *a, const void *b);
bool sl__config_same_health_expect(const void *a, const void *b);
bool sl__config_same_resolvers(const void *a, const void *b);
/* Whether an optional section is there (.present): an admin endpoint, an access log, a control
 * socket, alert rules, an XDP interface, DNS discovery. */
bool sl__config_has_admin(const void *m);
bool sl__config_has_access_log(const void *m);
bool sl__config_has_control(const void *m);
bool sl__config_has_alerts(const void *m);
bool sl__config_has_xdp(const void *m);
bool sl__config_has_discover(const void *m);

/*
 * Writes the table's default of every typed key of <section> into <base> (the section's
 * struct), and of the mappings nested in it (not of list items).
 */
void sl__config_section_defaults(enum sl__config_section section, void *base);

/* Writes "1ms", "5s", "2m", "1h" or "250ms": <ms> in the largest unit that divides it. */
char *sl__config_format_ms(uint32_t ms, char *buf, size_t size);

#endif /* SLUICE_CONFIG_KEYS_H */
