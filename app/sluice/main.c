// SPDX-License-Identifier: MIT
/*
 * sluice: the proxy binary. Thin on purpose: flags (cli.c), the embedded demo (demo.c), the
 * start-up checks that say why a start failed, and the signal handling: SIGTERM/SIGINT drain,
 * a second one during the drain closes everything at once, SIGHUP reloads the file's live fields,
 * SIGUSR1 reopens the access log (log rotation).
 * Everything else lives in the proxy library (include/sluice/proxy.h).
 */
#include <errno.h>
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
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/stats.h>
#include <sluice/version.h>

#include "cli.h"
#include "demo.h"
#include "notify.h"

#define DEMO_LISTEN "127.0.0.1:8080"
#define DEMO_ADMIN "127.0.0.1:9090"

static int
check_config(const char *path)
{
	struct sl_proxy_budget b;
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
	printf("%s: ok (%zu listener%s, %zu group%s)\n", path, cfg->nlisteners,
	       cfg->nlisteners == 1 ? "" : "s", cfg->ngroups, cfg->ngroups == 1 ? "" : "s");
	sl_config_free(cfg);
	return 0;
}

static void
print_demo_banner(const struct sl_config *cfg, const struct sl_addr *backends)
{
	char listen[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN];

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
	printf("stop with Ctrl-C (sluice drains open connections, then exits)\n");
	fflush(stdout);
}

static const char *
signal_name(int sig)
{
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

/*
 * SIGHUP: reads the configuration file again (with the command line's overrides) and hands it
 * to the running proxy, which takes the live fields without touching a session. A file with
 * errors, or one that changes what was built at start, is refused with the reason, and the
 * previous configuration goes on. <c> is NULL when sluice runs without a file. Updates the log
 * level and <*drain_ms> (the application's own fields) once the proxy took the file.
 */
static void
reload(struct sl_proxy *p, const struct sl_config *layout, const struct cli *c, uint32_t *drain_ms)
{
	struct sl_config *next = NULL;
	enum sl_log_level level;
	uint32_t drain;
	char why[200];

	if (c == NULL) {
		sl_log_warn("SIGHUP: nothing to reload: sluice runs without a configuration file "
		            "(-c)");
		return;
	}
	notify_reloading(); /* systemd: RELOADING=1 */
	if (sl_config_load_file(&next, c->config_path, stderr) != 0) {
		sl_log_error("SIGHUP: %s has errors (above): not reloaded, the previous "
		             "configuration goes on",
		             c->config_path);
		goto out_notify;
	}
	if (cli_apply_overrides(next, c) != 0) {
		sl_log_error("SIGHUP: the command line's overrides do not apply to %s: not "
		             "reloaded",
		             c->config_path);
		goto out_free;
	}
	if (!sl_addr_equal(&next->admin.addr, &layout->admin.addr)) {
		sl_log_error("SIGHUP: not reloaded: the admin address changed (needs a restart); "
		             "the previous configuration goes on");
		goto out_free;
	}
	if (!same_access_log(&next->access_log, &layout->access_log)) {
		sl_log_error("SIGHUP: not reloaded: access_log changed (needs a restart; SIGUSR1 "
		             "reopens the file); the previous configuration goes on");
		goto out_free;
	}
	if (!same_alerts(next, layout)) {
		sl_log_error("SIGHUP: not reloaded: alerts or profiling changed (needs a restart); "
		             "the previous configuration goes on");
		goto out_free;
	}
	level = next->log_level;
	drain = next->drain_timeout_ms;
	if (sl_proxy_reload(p, next, why, sizeof(why)) != 0) {
		sl_log_error("SIGHUP: not reloaded: %s (needs a restart); the previous "
		             "configuration goes on",
		             why);
		goto out_free;
	}
	/* the proxy owns <next> now */
	sl_log_set_level(level);
	*drain_ms = drain;
	sl_log_info("SIGHUP: %s reloaded", c->config_path);
	goto out_notify;

out_free:
	sl_config_free(next);
out_notify:
	notify_reloaded(layout); /* systemd: READY=1 */
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
		if (!done && sig != WAKE_SIGNAL && !dw->cut) {
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
 * kernel's default size: say so rather than run with less than configured. */
static void
warn_pipe_size(const struct sl_config *cfg)
{
	unsigned long max = 0;
	char buf[32];
	FILE *f;

	if (geteuid() == 0)
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
		size_t start = len;
		bool any = false;

		if (nl > 0 && nd > 1) {
			append(line, sizeof(line), &len, "%s", len == 0 ? " " : "; ");
			for (unsigned j = 0; j < nl; j++)
				append(line, sizeof(line), &len, "%s%s", j ? "/" : "",
				       sl_stats_instance_label(s, inst, j));
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
					       sl_stats_instance_label(s, inst, j));
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
 * Starts the admin endpoint if the configuration has one. Returns 0 (*a may stay NULL), or -1
 * when it cannot start and is not <optional> (the demo's is: the proxy runs without it).
 */
static int
admin_start(struct sl_admin **a, struct sl_proxy *p, const struct sl_config *cfg, bool optional)
{
	char addr[SL_ADDR_STRLEN];
	struct sl_addr bound;
	int err;

	*a = NULL;
	if (cfg->admin.addr.len == 0)
		return 0;
	sl_addr_format(&cfg->admin.addr, addr, sizeof(addr));
	err = sl_admin_start(a, p, &cfg->admin.addr);
	if (err != 0 && optional) {
		sl_log_warn("cannot start the admin endpoint on %s: %s (going on without it)", addr,
		            strerror(-err));
		return 0;
	}
	if (err != 0) {
		sl_log_error("cannot start the admin endpoint on %s: %s", addr, strerror(-err));
		return -1;
	}
	sl_admin_addr(*a, &bound);
	sl_log_info("admin endpoint on http://%s/: /metrics /stats /healthz /readyz",
	            sl_addr_format(&bound, addr, sizeof(addr)));
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

/* Runs the proxy until SIGTERM or SIGINT; SIGHUP reloads from <reload_from> (NULL: no file). */
static int
run(struct sl_config *cfg, bool admin_optional, const struct cli *reload_from)
{
	uint32_t drain_ms = cfg->drain_timeout_ms;
	struct sl_admin *admin;
	struct sl_alerts *alerts = NULL;
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
	err = sl_proxy_create(&p, cfg);
	if (err) {
		sl_log_error("cannot start: %s%s", strerror(-err),
		             start_hint(err, hint, sizeof(hint)));
		return 1;
	}
	err = sl_proxy_start(p);
	if (err) {
		/* the proxy names a listener that failed, not every cause: say it here too */
		sl_log_error("cannot start (%u worker%s): %s%s", n, n == 1 ? "" : "s",
		             strerror(-err), start_hint(err, hint, sizeof(hint)));
		sl_proxy_destroy(p);
		return 1;
	}
	if (alerts_start(&alerts, p, cfg) != 0) {
		sl_proxy_destroy(p);
		return 1;
	}
	if (admin_start(&admin, p, cfg, admin_optional) != 0) {
		sl_alerts_destroy(alerts);
		sl_proxy_destroy(p);
		return 1;
	}
	notify_started(cfg); /* systemd: READY=1 and watchdog pings (notify.h) */
	while ((sig = wait_for_signal(p, false)) == SIGHUP)
		reload(p, cfg, reload_from, &drain_ms);
	sl_log_info("%s: draining (deadline %u ms; send it again to close every connection at "
	            "once)",
	            signal_name(sig), drain_ms);
	notify_draining(drain_ms); /* systemd: STOPPING=1 */
	sl_admin_stop(admin);      /* before the drain: a scrape asks the workers */
	sl_alerts_stop(alerts);    /* likewise an evaluation */
	dw.p = p;
	watching = pthread_create(&watcher, NULL, drain_watch_run, &dw) == 0;
	if (!watching)
		sl_log_warn("cannot watch for a second signal: the drain runs to its deadline");
	sl_proxy_drain(p, drain_ms);
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
		/* show the active checks at work: every 2 s, a TCP connect to each backend */
		cfg->groups[0].health.kind = SL_HEALTH_TCP;
		print_demo_banner(cfg, demo_addrs);
		break;
	}
	rc = run(cfg, c.mode == CLI_DEMO, c.mode == CLI_RUN ? &c : NULL);
	demo_stop(demo);
	sl_config_free(cfg);
	return rc;
}
