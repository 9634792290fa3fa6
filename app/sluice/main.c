// SPDX-License-Identifier: MIT
/*
 * sluice: the proxy binary. Thin on purpose: flags (cli.c), the embedded demo (demo.c), the
 * health probe (probe.c), the start-up checks that say why a start failed, and the signal
 * handling: SIGTERM/SIGINT drain, a second one during the drain closes everything at once,
 * SIGHUP reloads the file's live fields, SIGUSR1 reopens the access log (log rotation).
 * Privileges: everything that needs them (listeners, the admin socket, log files) is opened
 * first, then drop_privileges() switches to the configured user before any thread starts
 * (sluice/privs.h). The control socket (sluicectl) reloads and shuts down through the same
 * paths.
 * Everything else lives in the proxy library (include/sluice/proxy.h).
 */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/admin.h>
#include <sluice/alerts.h>
#include <sluice/config.h>
#include <sluice/ctl.h>
#include <sluice/log.h>
#include <sluice/privs.h>
#include <sluice/proxy.h>
#include <sluice/sock.h>
#include <sluice/stats.h>
#include <sluice/version.h>
#include <sluice/xdp.h>

#include "cli.h"
#include "demo.h"
#include "notify.h"
#include "probe.h"
#include "upgrade.h"

#define DEMO_LISTEN "127.0.0.1:8080"
#define DEMO_ADMIN "127.0.0.1:9090"
#define DEMO_CONTROL "sluice-demo.sock" /* in $TMPDIR, else /tmp */

static int
check_config(const char *path)
{
	struct sl_proxy_budget b;
	struct sl_privs_id id;
	struct sl_config *cfg;
	struct rlimit rl;
	char why[512];

	if (sl_config_load_file(&cfg, path, stderr) != 0)
		return 1;
	/* what the file asks must also fit this host's open-file limit, or it would not start */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_max = 1024;
	if (sl_proxy_budget(cfg, sl_config_workers(cfg),
	                    rl.rlim_max == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_max, &b,
	                    why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: cannot start on this host: %s\n", path, why);
		sl_config_free(cfg);
		return 1;
	}
	/* the user and group must exist here too (the file cannot say whether they do) */
	if ((cfg->user[0] != '\0' || cfg->group[0] != '\0') &&
	    sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: cannot start on this host: %s\n", path, why);
		sl_config_free(cfg);
		return 1;
	}
	printf("%s: ok (%zu listener%s, %zu group%s)\n", path, cfg->nlisteners,
	       cfg->nlisteners == 1 ? "" : "s", cfg->ngroups, cfg->ngroups == 1 ? "" : "s");
	sl_config_free(cfg);
	return 0;
}

/* sluicectl beside this binary (a build tree), else the name alone (it is on the PATH). */
static const char *
sluicectl_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - sizeof("sluicectl"));
	char *slash;

	if (n <= 0 || (size_t)n >= size - sizeof("sluicectl"))
		return "sluicectl";
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL)
		return "sluicectl";
	snprintf(slash + 1, size - (size_t)(slash + 1 - buf), "sluicectl");
	return access(buf, X_OK) == 0 ? buf : "sluicectl";
}

static void
print_demo_banner(const struct sl_config *cfg, const struct sl_addr *backends)
{
	char listen[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN], ctl[4096];

	sl_addr_format(&cfg->listeners[0].addr, listen, sizeof(listen));
	printf("sluice %s demo: proxying %s to %d built-in backends (round robin, TCP health "
	       "checks)\n",
	       sl_version(), listen, DEMO_BACKENDS);
	for (int i = 0; i < DEMO_BACKENDS; i++)
		printf("  backend %d: %s\n", i + 1, sl_addr_format(&backends[i], b, sizeof(b)));
	printf("try it from another terminal:\n"
	       "  curl http://%s/      # each request names the backend that answered\n"
	       "  nc %s %u    # anything that is not HTTP is echoed back\n",
	       listen, strchr(listen, ']') ? "::1" : "127.0.0.1",
	       sl_addr_port(&cfg->listeners[0].addr));
	if (cfg->admin.addr.len != 0)
		printf("  curl http://%s/metrics   # Prometheus metrics; /stats for JSON\n",
		       sl_addr_format(&cfg->admin.addr, b, sizeof(b)));
	if (cfg->control.path[0] != '\0')
		printf("  %s -s %s show backends   # also: show info, show stats, help\n",
		       sluicectl_path(ctl, sizeof(ctl)), cfg->control.path);
	printf("stop with Ctrl-C (sluice drains open connections, then exits)\n");
	fflush(stdout);
}

/*
 * The control socket's "shutdown" (main sends it to itself): a real-time signal, so that it
 * takes the SIGTERM path with a name of its own in the log.
 */
#define SHUTDOWN_SIGNAL (SIGRTMIN + 1)

/* The demo's control socket: DEMO_CONTROL in $TMPDIR (if it fits a socket path), else /tmp. */
static void
demo_control_path(struct sl_config *cfg)
{
	const char *dir = getenv("TMPDIR");
	int n;

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	n = snprintf(cfg->control.path, sizeof(cfg->control.path), "%s/%s", dir, DEMO_CONTROL);
	if (n < 0 || (size_t)n >= sizeof(cfg->control.path))
		snprintf(cfg->control.path, sizeof(cfg->control.path), "/tmp/%s", DEMO_CONTROL);
}

static const char *
signal_name(int sig)
{
	if (sig == SHUTDOWN_SIGNAL)
		return "shutdown (control socket)";
	return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
}

/*
 * Wakes the drain's watcher when the drain is over (main sends it to that thread only): a
 * real-time signal, since SIGUSR1 reopens the access log and SIGUSR2 stays free for the
 * tools that hook it (the allocation counter of the tests).
 */
#define WAKE_SIGNAL SIGRTMIN

/* The signals main() blocks in every thread; only sigwait() sees them. */
static void
handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, WAKE_SIGNAL);
	sigaddset(set, UPGRADE_SIGNAL);
	sigaddset(set, SHUTDOWN_SIGNAL);
}

/*
 * Waits for SIGTERM, SIGINT or SIGHUP and returns it; with <wake>, WAKE_SIGNAL too. A SIGUSR1
 * on the way asks <p>'s access log to reopen its file (its logger thread does it).
 */
static int
wait_for_signal(struct sl_proxy *p, bool wake)
{
	sigset_t set;
	int sig = 0;

	handled_signals(&set);
	if (!wake)
		sigdelset(&set, WAKE_SIGNAL);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGUSR1)
			return sig;
		if (sl_proxy_reopen_logs(p) == -ENOENT)
			sl_log_info("SIGUSR1: no access_log is configured; nothing to reopen");
	}
}

/* true if <a> and <b> name the same access log: it is opened once, at start. */
static bool
same_access_log(const struct sl_config_access_log *a, const struct sl_config_access_log *b)
{
	if (a->path == NULL || b->path == NULL)
		return a->path == b->path;
	return strcmp(a->path, b->path) == 0 && a->ring_size == b->ring_size;
}

/* Alert rules and webhooks are built at start; profiling too. */
static bool
same_alerts(const struct sl_config *a, const struct sl_config *b)
{
	const struct sl_config_alerts *x = &a->alerts, *y = &b->alerts;

	if (x->interval_ms != y->interval_ms || strcmp(x->instance, y->instance) != 0 ||
	    x->queue_size != y->queue_size || x->nwebhooks != y->nwebhooks ||
	    x->nrules != y->nrules || a->profiling.perf != b->profiling.perf ||
	    a->profiling.tcp_events != b->profiling.tcp_events)
		return false;
	for (size_t i = 0; i < x->nwebhooks; i++) {
		const struct sl_config_webhook *v = &x->webhooks[i], *w = &y->webhooks[i];

		if (strcmp(v->url, w->url) != 0 || v->timeout_ms != w->timeout_ms ||
		    v->retries != w->retries)
			return false;
	}
	for (size_t i = 0; i < x->nrules; i++) {
		const struct sl_config_alert_rule *r = &x->rules[i], *q = &y->rules[i];

		if (strcmp(r->name, q->name) != 0 || r->metric != q->metric ||
		    r->above != q->above || r->clear_below != q->clear_below ||
		    r->window_ms != q->window_ms || strcmp(r->group, q->group) != 0 ||
		    strcmp(r->backend, q->backend) != 0)
			return false;
	}
	return true;
}

/* What a reload needs; SIGHUP (main thread) and the control socket's thread share it. */
struct reloader {
	pthread_mutex_t mu; /* one reload at a time; guards <drain_ms> */
	struct sl_proxy *p;
	const struct sl_config *layout; /* what the proxy was built from */
	const struct cli *c;            /* NULL: no file to reload */
	uint32_t drain_ms;              /* the drain deadline of the configuration in force */
	pthread_t main;                 /* the thread that waits for signals */
	struct sl_xdp *xdp;             /* NULL: no XDP program; its maps follow each reload */
};

/* Logs an error from <who> and writes it to <why> too (if not NULL), one line. */
static void __attribute__((format(printf, 3, 4)))
refuse(FILE *why, const char *who, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_log_error("%s: %s", who, msg);
	if (why != NULL)
		fprintf(why, "%s\n", msg);
}

/* Loads <path> with its errors on stderr and, if not NULL, in <why>. */
static int
load_for_reload(struct sl_config **next, const char *path, FILE *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *errs;
	int err;

	errs = why != NULL ? open_memstream(&text, &len) : NULL;
	err = sl_config_load_file(next, path, errs != NULL ? errs : stderr);
	if (errs != NULL) {
		fclose(errs);
		fputs(text != NULL ? text : "", stderr);
		fputs(text != NULL ? text : "", why);
		free(text);
	}
	return err;
}

/*
 * SIGHUP, or "reload" on the control socket (<who> says which): reads the configuration file
 * again (with the command line's overrides) and hands it to the running proxy, which takes the
 * live fields without touching a session. A file with errors, or one that changes what was
 * built at start, is refused with the reason (logged, and written to <why> if not NULL), and
 * the previous configuration goes on. Updates the log level and the drain deadline (the
 * application's own fields) once the proxy took the file. 0 when reloaded, else -EINVAL.
 */
static int
reload(struct reloader *rl, const char *who, FILE *why)
{
	const struct sl_config *layout = rl->layout;
	const struct cli *c = rl->c;
	struct sl_config *next = NULL;
	enum sl_log_level level;
	uint32_t drain;
	char reason[200];
	int rc = -EINVAL, err;

	if (c == NULL) {
		refuse(why, who,
		       "nothing to reload: sluice runs without a configuration file (-c)");
		return rc;
	}
	pthread_mutex_lock(&rl->mu);
	notify_reloading(); /* systemd: RELOADING=1 */
	if (load_for_reload(&next, c->config_path, why) != 0) {
		refuse(why, who,
		       "%s has errors (above): not reloaded, the previous configuration goes on",
		       c->config_path);
		goto out_notify;
	}
	if (cli_apply_overrides(next, c) != 0) {
		refuse(why, who, "the command line's overrides do not apply to %s: not reloaded",
		       c->config_path);
		goto out_free;
	}
	if (!sl_addr_equal(&next->admin.addr, &layout->admin.addr)) {
		refuse(why, who,
		       "not reloaded: the admin address changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (strcmp(next->control.path, layout->control.path) != 0 ||
	    next->control.mode != layout->control.mode) {
		refuse(why, who,
		       "not reloaded: the control socket changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if ((next->upgrade_socket == NULL) != (layout->upgrade_socket == NULL) ||
	    (next->upgrade_socket != NULL &&
	     strcmp(next->upgrade_socket, layout->upgrade_socket) != 0)) {
		refuse(why, who,
		       "not reloaded: upgrade_socket changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (strcmp(next->user, layout->user) != 0 || strcmp(next->group, layout->group) != 0) {
		refuse(why, who,
		       "not reloaded: user or group changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (strcmp(next->xdp.interface, layout->xdp.interface) != 0 ||
	    next->xdp.mode != layout->xdp.mode || next->xdp.required != layout->xdp.required) {
		refuse(why, who,
		       "not reloaded: xdp changed (needs a restart); the previous configuration "
		       "goes on");
		goto out_free;
	}
	if (!same_alerts(next, layout)) {
		refuse(why, who,
		       "not reloaded: alerts or profiling changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (!same_access_log(&next->access_log, &layout->access_log)) {
		refuse(why, who,
		       "not reloaded: access_log changed (needs a restart; SIGUSR1 reopens the "
		       "file); the previous configuration goes on");
		goto out_free;
	}
	level = next->log_level;
	drain = next->drain_timeout_ms;
	if (sl_proxy_reload(rl->p, next, reason, sizeof(reason)) != 0) {
		/* an upgrade to the same binary applies any file, moving the sessions over */
		refuse(why, who,
		       "not reloaded: %s (needs a restart%s); the previous configuration goes on",
		       reason,
		       layout->upgrade_socket != NULL ? ", or an upgrade: 'sluice --upgrade' with "
		                                        "this file takes over and "
		                                        "moves every forwarding session"
		                                      : "");
		goto out_free;
	}
	/* the proxy owns <next> now; it keeps it until the next reload, which waits for <mu> */
	if (rl->xdp != NULL && (err = sl_xdp_update(rl->xdp, next)) != 0)
		sl_log_error("%s: cannot update the XDP maps: %s (the program keeps a mix of the "
		             "old and new lists; sluice itself applies the new ones)",
		             who, strerror(-err));
	sl_log_set_level(level);
	rl->drain_ms = drain;
	sl_log_info("%s: %s reloaded", who, c->config_path);
	rc = 0;
	goto out_notify;

out_free:
	sl_config_free(next);
out_notify:
	notify_reloaded(layout); /* systemd: READY=1 */
	pthread_mutex_unlock(&rl->mu);
	return rc;
}

/* The control socket's "reload" (its thread); <arg> is the reloader. */
static int
ctl_reload(void *arg, FILE *why)
{
	return reload(arg, "reload (control socket)", why);
}

/* The control socket's "shutdown" (its thread): main's sigwait() takes it like a SIGTERM. */
static void
ctl_shutdown(void *arg)
{
	struct reloader *rl = arg;

	pthread_kill(rl->main, SHUTDOWN_SIGNAL);
}

/*
 * The drain's watcher: a second SIGTERM or SIGINT while sl_proxy_drain() waits for open
 * sessions cuts the drain short: every session still open is closed at once (counted as drain
 * timeouts), and the process exits 1 after its summary.
 */
struct drain_watch {
	pthread_mutex_t mu;
	struct sl_proxy *p;
	bool done; /* the drain returned: a late signal changes nothing */
	bool cut;  /* a second signal cut it short */
};

static void *
drain_watch_run(void *arg)
{
	struct drain_watch *dw = arg;
	bool done;
	int sig;

	do {
		sig = wait_for_signal(dw->p, true);
		pthread_mutex_lock(&dw->mu);
		done = dw->done;
		if (!done && (sig == SIGTERM || sig == SIGINT) && !dw->cut) {
			sl_log_warn("%s during the drain: closing every connection at once",
			            signal_name(sig));
			dw->cut = true;
			sl_proxy_drain_cut(dw->p);
		}
		pthread_mutex_unlock(&dw->mu);
	} while (!done);
	return NULL;
}

/* Unprivileged, F_SETPIPE_SZ past /proc/sys/fs/pipe-max-size fails and the pipes keep the
 * kernel's default size: say so rather than run with less than configured. A root start with
 * user: runs unprivileged too once bound (pipes are made as sessions need them). */
static void
warn_pipe_size(const struct sl_config *cfg)
{
	unsigned long max = 0;
	char buf[32];
	FILE *f;

	if (geteuid() == 0 && cfg->user[0] == '\0')
		return;
	f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f))
		max = strtoul(buf, NULL, 10); /* 0 (no warning) if it is not a number */
	fclose(f);
	for (size_t i = 0; max != 0 && i < cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &cfg->listeners[i];

		if (l->forward != SL_FWD_COPY && l->pipe_size > max)
			sl_log_warn(
			        "listener %s: pipe_size %u is above /proc/sys/fs/pipe-max-size "
			        "(%lu) and sluice is not root: its pipes keep the kernel's default "
			        "size",
			        l->name, l->pipe_size, max);
	}
}

/* What an operator can do about a start that failed with <err>, or "". */
static const char *
start_hint(int err, char *buf, size_t size)
{
	struct rlimit rl;

	switch (-err) {
	case EMFILE:
	case ENFILE:
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = 0;
		snprintf(buf, size,
		         " (the open-file limit is %llu: raise it with ulimit -n or systemd's "
		         "LimitNOFILE=, or use fewer workers or listeners)",
		         (unsigned long long)rl.rlim_cur);
		return buf;
	case ENOMEM:
		return " (use fewer workers, a smaller buffer_size or smaller warm pools)";
	case ENOSPC:
		return " (too many memory pools: use fewer workers or listeners)";
	case EACCES:
		return " (ports below net.ipv4.ip_unprivileged_port_start, 1024 by default, need "
		       "root "
		       "or CAP_NET_BIND_SERVICE)";
	default:
		return "";
	}
}

/*
 * The exit summary reads the proxy's registry (sluice/stats.h). Its first lines keep the words
 * operators and scripts know (sessions:, health checks:, warm pools:, timeouts:, rejected:);
 * every value they show is listed in <shown>, and every other set and value of the registry
 * follows on generic lines, so a counter added to the proxy is reported without an edit here.
 */

/* A definition (or, with def NULL, a whole set) the first lines already show. */
static const struct {
	const char *set, *def;
} shown[] = {
        {"process", "accepted"},
        {"process", "closed"},
        {"process", "active"},
        {"process", "filtered"},
        {"process", "warm_failed"},
        {"process", "listening"},
        {"bytes", NULL},
        {"timeout", NULL},
        {"reason", NULL},
        {"health", "health_checks"},
        {"health", "health_failures"},
        {"health", "health_transitions_up"},
        {"health", "health_transitions_down"},
        {"warm", "warm_hits"},
        {"warm", "warm_misses"},
        {"warm", "warm_expired"},
        {"warm", "warm_dead"},
};

static bool
is_shown(const char *set, const char *def)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(shown); i++)
		if (strcmp(shown[i].set, set) == 0 &&
		    (shown[i].def == NULL || strcmp(shown[i].def, def) == 0))
			return true;
	return false;
}

/* Appends printf-style text to <buf> (of <size>, <*len> used), truncating quietly. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*len >= size - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (w > 0)
		*len = *len + (size_t)w < size ? *len + (size_t)w : size - 1;
}

/* Value <def> of the single instance of set <set>; 0 if the registry has no such thing. */
static uint64_t
value(const struct sl_stats *r, const char *set, const char *def)
{
	const struct sl_stats_set *s = sl_stats_find(r, set);
	int idx = s != NULL ? sl_stats_set_def_index(s, def) : -1;

	if (idx < 0 || sl_stats_set_ninstances(s) == 0)
		return 0;
	return sl_stats_read(s, 0, (unsigned)idx);
}

/* " NAME N" for each nonzero instance of the one-definition set <set>, comma-separated; the sum. */
static uint64_t
append_labelled(const struct sl_stats *r, const char *set, char *buf, size_t size, size_t *len)
{
	const struct sl_stats_set *s = sl_stats_find(r, set);
	uint64_t sum = 0;

	for (size_t i = 0; s != NULL && i < sl_stats_set_ninstances(s); i++) {
		uint64_t v = sl_stats_read(s, i, 0);

		if (v == 0)
			continue;
		append(buf, size, len, "%s %s %llu", sum == 0 ? "" : ",",
		       sl_stats_instance_label(s, i, 0), (unsigned long long)v);
		sum += v;
	}
	return sum;
}

static void
print_known_lines(const struct sl_stats *r)
{
	const struct sl_stats_set *bytes = sl_stats_find(r, "bytes");
	char line[512];
	size_t len;

	sl_log_info(
	        "sessions: %llu accepted, %llu closed, %lld still open at exit; bytes: %llu in, "
	        "%llu out",
	        (unsigned long long)value(r, "process", "accepted"),
	        (unsigned long long)value(r, "process", "closed"),
	        (long long)(int64_t)value(r, "process", "active"),
	        (unsigned long long)(bytes != NULL ? sl_stats_read(bytes, 0, 0) : 0),
	        (unsigned long long)(bytes != NULL ? sl_stats_read(bytes, 1, 0) : 0));
	if (value(r, "health", "health_checks") != 0)
		sl_log_info(
		        "health checks: %llu run, %llu failed; %llu backends went down, %llu up",
		        (unsigned long long)value(r, "health", "health_checks"),
		        (unsigned long long)value(r, "health", "health_failures"),
		        (unsigned long long)value(r, "health", "health_transitions_down"),
		        (unsigned long long)value(r, "health", "health_transitions_up"));
	if (value(r, "warm", "warm_hits") + value(r, "warm", "warm_misses") +
	            value(r, "warm", "warm_expired") + value(r, "warm", "warm_dead") !=
	    0)
		sl_log_info(
		        "warm pools: %llu hits, %llu misses, %llu expired, %llu dead, %llu failed",
		        (unsigned long long)value(r, "warm", "warm_hits"),
		        (unsigned long long)value(r, "warm", "warm_misses"),
		        (unsigned long long)value(r, "warm", "warm_expired"),
		        (unsigned long long)value(r, "warm", "warm_dead"),
		        (unsigned long long)value(r, "process", "warm_failed"));
	len = 0;
	if (append_labelled(r, "timeout", line, sizeof(line), &len) > 0)
		sl_log_info("timeouts:%s", line);
	len = 0;
	if (append_labelled(r, "reason", line, sizeof(line), &len) > 0)
		sl_log_info("rejected: %llu clients:%s",
		            (unsigned long long)value(r, "process", "filtered"), line);
}

/* <name> less its "<set>_" prefix: "backend_sessions" in set "backend" reads "sessions". */
static const char *
short_name(const char *set, const char *name)
{
	size_t n = strlen(set);

	return strncmp(name, set, n) == 0 && name[n] == '_' ? name + n + 1 : name;
}

/*
 * One line for set <s> if it has a nonzero value not shown above: "N name" for each such
 * counter or gauge; in a labelled set, each instance's label values first, or, when the set
 * has a single definition, the label values in place of its name.
 */
static void
print_set(const struct sl_stats_set *s)
{
	const char *set = sl_stats_set_name(s);
	unsigned nl = sl_stats_set_nlabels(s), nd = sl_stats_set_ndefs(s);
	char line[1024];
	size_t len = 0;

	for (size_t inst = 0; inst < sl_stats_set_ninstances(s); inst++) {
		char buf[SL_STATS_LABEL_MAX];
		size_t start = len;
		bool any = false;

		if (!sl_stats_instance_present(s, inst))
			continue;
		if (nl > 0 && nd > 1) {
			append(line, sizeof(line), &len, "%s", len == 0 ? " " : "; ");
			for (unsigned j = 0; j < nl; j++)
				append(line, sizeof(line), &len, "%s%s", j ? "/" : "",
				       sl_stats_instance_label_now(s, inst, j, buf, sizeof(buf)));
			append(line, sizeof(line), &len, ":");
		}
		for (unsigned d = 0; d < nd; d++) {
			const struct sl_stats_def *def = sl_stats_set_def(s, d);
			const char *sep = len == 0 || line[len - 1] == ':' ? " " : ", ";
			long long sv;

			if (def->kind == SL_STATS_HIST || is_shown(set, def->name))
				continue;
			if (def->kind == SL_STATS_GAUGE) {
				sv = (long long)sl_stats_read_gauge(s, inst, d);
				if (sv == 0)
					continue;
				append(line, sizeof(line), &len, "%s%lld ", sep, sv);
			} else {
				uint64_t v = sl_stats_read(s, inst, d);

				if (v == 0)
					continue;
				if (def->scale != 0) /* in the exported unit, as /metrics */
					append(line, sizeof(line), &len, "%s%.6g ", sep,
					       (double)v * def->scale);
				else
					append(line, sizeof(line), &len, "%s%llu ", sep,
					       (unsigned long long)v);
			}
			any = true;
			if (nl > 0 && nd == 1)
				for (unsigned j = 0; j < nl; j++)
					append(line, sizeof(line), &len, "%s%s", j ? "/" : "",
					       sl_stats_instance_label_now(s, inst, j, buf,
					                                   sizeof(buf)));
			else
				append(line, sizeof(line), &len, "%s", short_name(set, def->name));
		}
		if (!any) {
			len = start; /* nothing to say about this instance */
			line[len] = '\0';
		}
	}
	if (len > 0)
		sl_log_info("%s:%s", set, line);
}

/* The exit summary: the known lines, then every other figure of the registry. */
static void
print_summary(struct sl_proxy *p, const struct sl_config *cfg)
{
	const struct sl_stats *r = sl_proxy_stats_registry(p);

	print_known_lines(r);
	for (size_t i = 0; i < sl_stats_len(r); i++)
		print_set(sl_stats_at(r, i));
	if (cfg->access_log.path != NULL)
		sl_log_info("access log: %llu lines dropped",
		            (unsigned long long)sl_proxy_access_log_dropped(p));
}

/*
 * Opens the admin endpoint's listener if the configuration has one (no thread yet): on
 * <*inherited> (the previous process's socket, binary upgrade; taken, and set to -1) when it
 * listens on the configured address. Returns 0 (*a may stay NULL), or -EIO (logged) when it
 * cannot open and is not <optional> (the demo's is: the proxy runs without it).
 */
static int
admin_open(struct sl_admin **a, struct sl_proxy *p, const struct sl_config *cfg, bool optional,
           int *inherited)
{
	char addr[SL_ADDR_STRLEN];
	struct sl_addr was;
	int err, fd = *inherited;

	*a = NULL;
	*inherited = -1;
	if (fd >= 0 &&
	    (cfg->admin.addr.len == 0 || sl_sock_local_addr(fd, &was) != 0 ||
	     (sl_addr_port(&cfg->admin.addr) != 0 && !sl_addr_equal(&was, &cfg->admin.addr)))) {
		close(fd); /* the admin endpoint is gone or moved */
		fd = -1;
	}
	if (cfg->admin.addr.len == 0)
		return 0;
	sl_addr_format(&cfg->admin.addr, addr, sizeof(addr));
	err = fd >= 0 ? sl_admin_open_fd(a, p, fd) : sl_admin_open(a, p, &cfg->admin.addr);
	if (err != 0 && optional) {
		sl_log_warn("cannot start the admin endpoint on %s: %s (going on without it)", addr,
		            strerror(-err));
		return 0;
	}
	if (err != 0) {
		sl_log_error("cannot start the admin endpoint on %s: %s%s", addr, strerror(-err),
		             start_hint(err, addr, sizeof(addr)));
		return -EIO;
	}
	return 0;
}

/*
 * Starts serving on <*a>'s listener, if any (after sl_proxy_start(): a scrape needs running
 * workers). Returns 0, or -EIO (logged) unless <optional>; on failure <*a> is stopped (NULL).
 */
static int
admin_serve(struct sl_admin **a, bool optional)
{
	char addr[SL_ADDR_STRLEN];
	struct sl_addr bound;
	int err;

	if (*a == NULL)
		return 0;
	sl_admin_addr(*a, &bound);
	sl_addr_format(&bound, addr, sizeof(addr));
	err = sl_admin_serve(*a);
	if (err != 0) {
		if (optional)
			sl_log_warn("cannot start the admin endpoint on %s: %s (going on without "
			            "it)",
			            addr, strerror(-err));
		else
			sl_log_error("cannot start the admin endpoint on %s: %s", addr,
			             strerror(-err));
		sl_admin_stop(*a);
		*a = NULL;
		return optional ? 0 : -EIO;
	}
	sl_log_info("admin endpoint on http://%s/: / (stats page) /metrics /stats /healthz /readyz",
	            addr);
	return 0;
}

/*
 * Before anything is bound: refuses to start when a feature of <cfg> needs a capability this
 * process lacks, naming both. Returns 0 or -1 (logged).
 */
static int
check_capabilities(const struct sl_config *cfg)
{
	static const enum sl_privs_phase phases[] = {SL_PRIVS_BIND, SL_PRIVS_RUN};
	char what[200], cap[64];

	for (size_t i = 0; i < SL_ARRAY_SIZE(phases); i++) {
		uint64_t need = sl_privs_caps(cfg, phases[i], what, sizeof(what));

		if (sl_privs_check(need, cap, sizeof(cap)) != 0) {
			sl_log_error(
			        "cannot start: %s needs %s, which this process does not have: "
			        "start sluice as root (with user: to drop to after binding), or "
			        "give it the capability (systemd: AmbientCapabilities=)",
			        what, cap);
			return -1;
		}
	}
	return 0;
}

/*
 * After the drop: the access log's file must stay writable by the new user, or SIGUSR1 (log
 * rotation) could not reopen it. A directory it cannot write only gets a warning: a rotation
 * that copies and truncates still works. Returns 0 or -1 (logged).
 */
static int
check_access_log(const struct sl_config *cfg, const struct sl_privs_id *id)
{
	char dir[4096];

	if (cfg->access_log.path == NULL || strcmp(cfg->access_log.path, "-") == 0)
		return 0;
	if (access(cfg->access_log.path, W_OK) != 0) {
		sl_log_error("cannot start: access_log %s is not writable by user %s (uid %u): "
		             "SIGUSR1 could not reopen it; give the file to that user (chown) or "
		             "choose a path it can write",
		             cfg->access_log.path, id->user, (unsigned)id->uid);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->access_log.path);
	if (access(dirname(dir), W_OK | X_OK) != 0)
		sl_log_warn(
		        "access_log: user %s (uid %u) cannot create files in %s: after a "
		        "rotation that moves %s away, SIGUSR1 cannot create it again (copytruncate "
		        "works)",
		        id->user, (unsigned)id->uid, dir, cfg->access_log.path);
	return 0;
}

/*
 * Once every socket and file is open and before any thread starts: switches to cfg->user and
 * cfg->group, keeping only the capabilities the features in use need while running
 * (sluice/privs.h). With neither set, root only gets a warning, and a non-root process still
 * sheds the capabilities it was started with (systemd's AmbientCapabilities=). Returns 0 or -1.
 */
static int
drop_privileges(const struct sl_config *cfg)
{
	uint64_t keep = sl_privs_caps(cfg, SL_PRIVS_RUN, NULL, 0);
	bool root = geteuid() == 0;
	struct sl_privs_id id;
	char why[300];

	if (cfg->user[0] == '\0' && cfg->group[0] == '\0') {
		if (root) {
			sl_log_warn(
			        "sluice runs as root: set user: and group: in the configuration "
			        "(or --user and --group) to drop privileges after binding");
			return 0;
		}
		if (!sl_privs_has_caps())
			return 0;
		/* defence in depth only: a seccomp filter without capset must not stop the start */
		if (sl_privs_drop(NULL, keep, why, sizeof(why)) != 0)
			sl_log_warn(
			        "cannot drop the capabilities sluice was started with: %s (going "
			        "on with them)",
			        why);
		else
			sl_log_info("running as uid %u; capabilities kept: %s (the ones it was "
			            "started with are dropped now that it is bound)",
			            (unsigned)geteuid(),
			            keep == 0 ? "none" : "those the features need");
		return 0;
	}
	if (root && cfg->user[0] == '\0') {
		sl_log_error("cannot start: group: %s without user: would still run as root: set "
		             "user: too",
		             cfg->group);
		return -1;
	}
	if (sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return -1;
	}
	if (!root && (id.uid != geteuid() || id.gid != getegid())) {
		sl_log_error(
		        "cannot start: cannot switch to user %s (uid %u), group %s (gid %u): "
		        "sluice runs as uid %u, not root; start it as root, or leave user: and "
		        "group: out",
		        id.user, (unsigned)id.uid, id.group, (unsigned)id.gid, (unsigned)geteuid());
		return -1;
	}
	/* already that user (started by systemd's User=): only the capabilities to shed */
	if (sl_privs_drop(root ? &id : NULL, keep, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: cannot drop privileges to user %s (uid %u): %s",
		             id.user, (unsigned)id.uid, why);
		return -1;
	}
	sl_log_info("running as user %s (uid %u), group %s (gid %u), %zu group%s; capabilities "
	            "kept: %s",
	            id.user, (unsigned)id.uid, id.group, (unsigned)id.gid, id.ngroups,
	            id.ngroups == 1 ? "" : "s", keep == 0 ? "none" : "those the features need");
	return check_access_log(cfg, &id);
}

/*
 * Opens the control socket if the configuration has one (no thread yet: sl_ctl_serve() after
 * sl_proxy_start()). Returns 0 (*ctl may stay NULL), or -EIO (logged) when it cannot open and
 * is not <optional> (the demo's is).
 */
static int
ctl_open(struct sl_ctl **ctl, struct sl_proxy *p, const struct sl_config *cfg, bool optional,
         struct reloader *rl)
{
	const char *path = cfg->control.path;
	struct sl_ctl_opts o = {
	        .path = path,
	        .mode = cfg->control.mode,
	        .cfg = cfg,
	        .config_path = rl->c != NULL ? rl->c->config_path : NULL,
	        .reload = ctl_reload,
	        .shutdown = ctl_shutdown,
	        .arg = rl,
	};
	const char *hint = "";
	int err;

	*ctl = NULL;
	if (path[0] == '\0')
		return 0;
	err = sl_ctl_open(ctl, p, &o);
	if (err == -EADDRINUSE)
		hint = " (another running process answers on it: stop that one, or choose "
		       "another path)";
	else if (err == -EEXIST)
		hint = " (a file that is not a socket is in the way; sluice will not remove it)";
	if (err != 0 && optional) {
		sl_log_warn("cannot open the control socket %s: %s%s (going on without it)", path,
		            strerror(-err), hint);
		return 0;
	}
	if (err != 0) {
		sl_log_error("cannot open the control socket %s: %s%s", path, strerror(-err), hint);
		return -EIO;
	}
	sl_log_info("control socket on %s (mode %04o): sluicectl -s %s help", path,
	            (unsigned)cfg->control.mode, path);
	return 0;
}

/*
 * Sets up the configured alerts (none: *al stays NULL) and starts them. 0, or -1 after saying
 * why not. Before the admin endpoint: the alerts add their sets to the registry it reads.
 */
static int
alerts_start(struct sl_alerts **al, struct sl_proxy *p, const struct sl_config *cfg)
{
	int err = sl_alerts_create(al, p, &cfg->alerts);

	if (err == -ENOTSUP) {
		sl_log_error("cannot start: this sluice was built without alerts (no libcurl; "
		             "sluice-static never has them): remove \"alerts:\" from the "
		             "configuration, or run a sluice built with libcurl");
		return -1;
	}
	if (err == 0 && (err = sl_alerts_start(*al)) != 0) {
		sl_alerts_destroy(*al);
		*al = NULL;
	}
	if (err != 0) {
		sl_log_error("cannot start the alerts: %s", strerror(-err));
		return -1;
	}
	if (*al != NULL)
		sl_log_info("alerts: %zu rule%s every %u ms, %zu webhook%s", cfg->alerts.nrules,
		            cfg->alerts.nrules == 1 ? "" : "s", cfg->alerts.interval_ms,
		            cfg->alerts.nwebhooks, cfg->alerts.nwebhooks == 1 ? "" : "s");
	return 0;
}

/*
 * Attaches the XDP early-drop program if <cfg> asks for one (*x stays NULL otherwise, or when
 * it cannot and xdp.required is off: one line says why). 0, or -1 (logged) when a required
 * one cannot be attached. Before the privilege drop: it needs CAP_BPF and CAP_NET_ADMIN.
 */
static int
xdp_start(struct sl_xdp **x, struct sl_proxy *p, const struct sl_config *cfg)
{
	char why[300];
	int err;

	*x = NULL;
	if (cfg->xdp.interface[0] == '\0')
		return 0;
	err = sl_xdp_create(x, cfg, why, sizeof(why));
	if (err == -ENOTSUP) {
		sl_log_error("cannot start: this sluice was built without XDP (no libbpf or clang "
		             "at build time): remove \"xdp:\" from the configuration, or run a "
		             "sluice built with libbpf");
		return -1;
	}
	if (err != 0) {
		if (cfg->xdp.required) {
			sl_log_error("cannot start: xdp on %s is required: %s", cfg->xdp.interface,
			             why);
			return -1;
		}
		sl_log_warn("xdp on %s: %s: running without XDP (sluice still applies every "
		            "list itself)",
		            cfg->xdp.interface, why);
		return 0;
	}
	err = sl_xdp_add_stats(*x, p);
	if (err != 0) {
		sl_log_error("cannot start: xdp: cannot add its counters: %s", strerror(-err));
		sl_xdp_destroy(*x);
		*x = NULL;
		return -1;
	}
	sl_log_info("xdp: early-drop program attached to %s (%s mode)", cfg->xdp.interface,
	            sl_xdp_mode_name(*x));
	return 0;
}

/*
 * Binary upgrade, the new process's first step: takes the running sluice's sockets into <t>
 * and gives the proxy its listening ones. 0, or 1 (logged).
 */
static int
take_over(struct upgrade_take *t, struct sl_proxy *p, const struct sl_config *cfg)
{
	int err;

	if (cfg->upgrade_socket == NULL) {
		sl_log_error("cannot start: --upgrade takes over through the upgrade socket, and "
		             "none is configured (upgrade_socket in the file, or --upgrade-socket "
		             "PATH)");
		return 1;
	}
	if (upgrade_take(t, cfg->upgrade_socket) != 0)
		return 1;
	err = sl_proxy_inherit(p, t->socks, t->nsocks);
	if (err != 0) {
		sl_log_error("cannot start: %s", strerror(-err));
		upgrade_take_release(t);
		return 1;
	}
	/* the proxy's now */
	free(t->socks);
	t->socks = NULL;
	t->nsocks = 0;
	return 0;
}

/*
 * Runs the proxy until SIGTERM or SIGINT, or until a new process took over (upgrade_socket);
 * SIGHUP reloads from <reload_from> (NULL: no file). With <upgrade>, first takes the running
 * sluice's listeners over.
 */
static int
run(struct sl_config *cfg, bool admin_optional, const struct cli *reload_from, bool upgrade)
{
	struct reloader rl = {.mu = PTHREAD_MUTEX_INITIALIZER,
	                      .layout = cfg,
	                      .c = reload_from,
	                      .drain_ms = cfg->drain_timeout_ms,
	                      .main = pthread_self()};
	struct sl_ctl *ctl = NULL;
	struct upgrade_take take = {.admin_fd = -1, .upgrade_fd = -1, .conn = -1};
	struct upgrade *up = NULL;
	struct sl_admin *admin = NULL;
	struct sl_alerts *alerts = NULL;
	struct sl_xdp *xdp = NULL;
	pid_t handed_to;
	struct drain_watch dw = {.mu = PTHREAD_MUTEX_INITIALIZER};
	uint32_t n = sl_config_workers(cfg), max = sl_config_workers_max(cfg);
	struct sl_proxy *p;
	pthread_t watcher;
	char hint[200];
	bool watching;
	int err, sig;

	sl_log_set_level(cfg->log_level);
	/* the loader checked the file's value; -w and the one-line mode come here unchecked */
	if (n > max) {
		sl_log_error(
		        "cannot start: %u workers are too many for %zu listener%s: each worker "
		        "holds %zu memory pools and a process at most %u; use at most %u workers",
		        n, cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", cfg->nlisteners + 1,
		        SL_CONFIG_POOLS_MAX, max);
		return 1;
	}
	warn_pipe_size(cfg);
	if (check_capabilities(cfg) != 0)
		return 1;
	/* the access log's file is opened here */
	err = sl_proxy_create(&p, cfg);
	if (err) {
		sl_log_error("cannot start: %s%s", strerror(-err),
		             start_hint(err, hint, sizeof(hint)));
		return 1;
	}
	if (upgrade && take_over(&take, p, cfg) != 0) {
		sl_proxy_destroy(p);
		return 1;
	}
	/* every privileged thing first (sockets, files), then the drop, then the threads */
	err = sl_proxy_listen(p);
	if (err == 0 && xdp_start(&xdp, p, cfg) != 0)
		err = -EIO;
	rl.xdp = xdp;
	if (err == 0)
		err = admin_open(&admin, p, cfg, admin_optional, &take.admin_fd);
	rl.p = p;
	if (err == 0)
		err = ctl_open(&ctl, p, cfg, admin_optional, &rl);
	if (err == 0 && cfg->upgrade_socket != NULL) {
		err = upgrade_open(&up, cfg->upgrade_socket, take.upgrade_fd, p) != 0 ? -EIO : 0;
		take.upgrade_fd = -1; /* upgrade_open()'s, even when it fails */
	}
	if (err == 0 && drop_privileges(cfg) != 0)
		err = -EPERM;
	if (err == 0)
		err = sl_proxy_start(p);
	/* before the admin endpoint serves: the alerts add their sets to the registry it reads */
	if (err == 0 && alerts_start(&alerts, p, cfg) != 0)
		err = -EIO;
	if (err == 0)
		err = admin_serve(&admin, admin_optional);
	if (err == 0 && ctl != NULL && (err = sl_ctl_serve(ctl)) != 0)
		sl_log_error("cannot serve the control socket %s: %s", cfg->control.path,
		             strerror(-err));
	if (err == 0 && up != NULL && upgrade_serve(up, admin, pthread_self()) != 0)
		err = -EIO;
	if (err) {
		/* the proxy names a listener that failed, not every cause: say it here too */
		if (err != -EPERM && err != -EIO)
			sl_log_error("cannot start (%u worker%s): %s%s", n, n == 1 ? "" : "s",
			             strerror(-err), start_hint(err, hint, sizeof(hint)));
		upgrade_stop(up);
		sl_ctl_stop(ctl);
		sl_admin_stop(admin);
		sl_alerts_destroy(alerts);
		upgrade_take_release(&take);
		sl_proxy_destroy(p);
		sl_xdp_destroy(xdp);
		return 1;
	}
	notify_started(cfg); /* systemd: READY=1, MAINPID and watchdog pings (notify.h) */
	if (upgrade)
		upgrade_finish(&take, p); /* its sessions move here; it drains the rest */
	for (;;) {
		sig = wait_for_signal(p, false);
		if (sig == SIGHUP)
			reload(&rl, "SIGHUP", NULL);
		else if (sig != UPGRADE_SIGNAL || upgrade_handed_over(up) != 0)
			break;
	}
	handed_to = upgrade_handed_over(up);
	if (handed_to != 0) {
		/* systemd follows the new process's MAINPID: no STOPPING=1 from here */
		sl_log_info("upgrade: pid %ld serves now: draining (deadline %u ms; SIGTERM closes "
		            "every connection at once)",
		            (long)handed_to, rl.drain_ms);
	} else {
		sl_log_info("%s: draining (deadline %u ms; send %s to close every connection at "
		            "once)",
		            signal_name(sig), rl.drain_ms,
		            sig == SHUTDOWN_SIGNAL ? "SIGTERM" : "it again");
		notify_draining(rl.drain_ms); /* systemd: STOPPING=1 */
	}
	sl_ctl_stop(ctl);       /* before the drain (show stats asks the workers); joins a reload */
	upgrade_stop(up);       /* no takeover once the listeners close */
	sl_admin_stop(admin);   /* before the drain: a scrape asks the workers */
	sl_alerts_stop(alerts); /* likewise an evaluation */
	dw.p = p;
	watching = pthread_create(&watcher, NULL, drain_watch_run, &dw) == 0;
	if (!watching)
		sl_log_warn("cannot watch for a second signal: the drain runs to its deadline");
	sl_proxy_drain(p, rl.drain_ms);
	pthread_mutex_lock(&dw.mu);
	dw.done = true;
	pthread_mutex_unlock(&dw.mu);
	if (watching) {
		/* wake the watcher: a signal aimed at its thread is what its sigwait() takes */
		pthread_kill(watcher, WAKE_SIGNAL);
		pthread_join(watcher, NULL);
	}
	print_summary(p, cfg);
	sl_proxy_destroy(p);
	sl_alerts_destroy(alerts); /* after the last registry reader */
	sl_xdp_destroy(xdp);       /* likewise; closing its link detaches the program */
	notify_stop();
	return dw.cut ? 1 : 0;
}

static int
build_from_flags(struct sl_config **cfg, const struct cli *c)
{
	struct sl_addr backends[CLI_MAX_BACKENDS];
	int n = cli_parse_backends(c->backends, backends, CLI_MAX_BACKENDS);

	if (n < 0)
		return n;
	return cli_build_config(cfg, c, c->listen, backends, (size_t)n);
}

/* cli.c prints every -EINVAL; an allocation failure there prints nothing: say it here. */
static int
build_failed(int err)
{
	if (err == -ENOMEM)
		fputs("sluice: cannot start: out of memory\n", stderr);
	return err == -ENOMEM ? 1 : 2;
}

int
main(int argc, char **argv)
{
	struct sl_addr demo_addrs[DEMO_BACKENDS];
	struct sl_config *cfg = NULL;
	struct demo *demo = NULL;
	struct cli c;
	sigset_t set;
	int rc;

	if (cli_parse(&c, argc, argv) != 0)
		return 2;
	switch (c.mode) {
	case CLI_VERSION:
		printf("sluice %s\n", sl_version());
		return 0;
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_CHECK:
		return check_config(c.config_path);
	case CLI_PROBE:
		return probe_run(c.probe_url, stderr);
	default:
		break;
	}

	/* before any thread exists: every thread inherits the mask, only sigwait() sees these */
	handled_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (c.mode) {
	case CLI_RUN:
		if (sl_config_load_file(&cfg, c.config_path, stderr) != 0)
			return 1;
		if (cli_apply_overrides(cfg, &c) != 0) {
			sl_config_free(cfg);
			return 2;
		}
		break;
	case CLI_ONELINE:
		rc = build_from_flags(&cfg, &c);
		if (rc != 0)
			return build_failed(rc);
		break;
	default: /* CLI_DEMO */
		rc = demo_start(&demo, demo_addrs);
		if (rc) {
			fprintf(stderr, "sluice: cannot start the demo backends: %s\n",
			        strerror(-rc));
			return 1;
		}
		rc = cli_build_config(&cfg, &c, c.demo_listen ? c.demo_listen : DEMO_LISTEN,
		                      demo_addrs, DEMO_BACKENDS);
		if (rc != 0) {
			demo_stop(demo);
			return build_failed(rc);
		}
		cfg->drain_timeout_ms = c.drain_ms >= 0 ? (uint32_t)c.drain_ms : 5000;
		if (!c.admin)
			sl_addr_parse(&cfg->admin.addr, DEMO_ADMIN, false, NULL);
		if (!c.control)
			demo_control_path(cfg);
		/* show the active checks at work: every 2 s, a TCP connect to each backend */
		cfg->groups[0].health.kind = SL_HEALTH_TCP;
		print_demo_banner(cfg, demo_addrs);
		break;
	}
	rc = run(cfg, c.mode == CLI_DEMO, c.mode == CLI_RUN ? &c : NULL, c.upgrade);
	demo_stop(demo);
	sl_config_free(cfg);
	return rc;
}
