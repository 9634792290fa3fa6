// SPDX-License-Identifier: MIT
/*
 * sluice: the proxy binary. Thin on purpose: flags (cli.c), the embedded demo (demo.c), and
 * the signal handling that turns SIGTERM/SIGINT into a graceful drain. Everything else lives in
 * the proxy library (include/sluice/proxy.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>
#include <sluice/admin.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/stats.h>
#include <sluice/version.h>

#include "cli.h"
#include "demo.h"

#define DEMO_LISTEN "127.0.0.1:8080"
#define DEMO_ADMIN "127.0.0.1:9090"

static int
check_config(const char *path)
{
	struct sl_config *cfg;

	if (sl_config_load_file(&cfg, path, stderr) != 0)
		return 1;
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

static int
wait_for_signal(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) != 0)
		;
	return sig;
}

/* How the summary titles a set's line; a set not listed is titled by its name. */
static const struct {
	const char *set, *title;
} summary_titles[] = {
        {"process", "sessions"}, {"health", "health checks"}, {"warm", "warm pools"},
        {"timeout", "timeouts"}, {"reason", "rejected"},
};

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

/* <name> less its "<set>_" prefix: "warm_hits" in set "warm" reads "hits". */
static const char *
short_name(const char *set, const char *name)
{
	size_t n = strlen(set);

	return strncmp(name, set, n) == 0 && name[n] == '_' ? name + n + 1 : name;
}

/*
 * One line per set of the registry with a nonzero value (the process set always): "N name"
 * for each nonzero counter or gauge; in a labelled set, each instance's label values first,
 * or, when the set has a single definition, the label values in place of its name.
 */
static void
print_set(const struct sl_stats_set *s)
{
	const char *set = sl_stats_set_name(s), *title = set;
	unsigned nl = sl_stats_set_nlabels(s), nd = sl_stats_set_ndefs(s);
	bool always = strcmp(set, "process") == 0;
	char line[1024];
	size_t len = 0;

	for (size_t i = 0; i < SL_ARRAY_SIZE(summary_titles); i++)
		if (strcmp(summary_titles[i].set, set) == 0)
			title = summary_titles[i].title;
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

			if (def->kind == SL_STATS_HIST)
				continue;
			if (def->kind == SL_STATS_GAUGE) {
				int64_t v = sl_stats_read_gauge(s, inst, d);

				if (v == 0 && !(always && d == 0))
					continue;
				append(line, sizeof(line), &len, "%s%lld %s", sep, (long long)v,
				       short_name(set, def->name));
				any = true;
				continue;
			}
			uint64_t v = sl_stats_read(s, inst, d);

			if (v == 0 && !(always && d == 0))
				continue;
			any = true;
			append(line, sizeof(line), &len, "%s%llu ", sep, (unsigned long long)v);
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
		sl_log_info("%s:%s", title, line);
}

/* The exit summary: every set of the proxy's registry (sluice/stats.h), one line each. */
static void
print_summary(struct sl_proxy *p)
{
	const struct sl_stats *r = sl_proxy_stats_registry(p);

	for (size_t i = 0; i < sl_stats_len(r); i++)
		print_set(sl_stats_at(r, i));
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
	if (err != 0) {
		sl_log_error("cannot start the admin endpoint on %s: %s%s", addr, strerror(-err),
		             optional ? " (going on without it)" : "");
		return optional ? 0 : -1;
	}
	sl_admin_addr(*a, &bound);
	sl_log_info("admin endpoint on http://%s/: /metrics /stats /healthz /readyz",
	            sl_addr_format(&bound, addr, sizeof(addr)));
	return 0;
}

static int
run(struct sl_config *cfg, bool admin_optional)
{
	struct sl_admin *admin;
	struct sl_proxy *p;
	int err, sig;

	sl_log_set_level(cfg->log_level);
	err = sl_proxy_create(&p, cfg);
	if (err) {
		sl_log_error("cannot start: %s", strerror(-err));
		return 1;
	}
	err = sl_proxy_start(p);
	if (err) {
		/* the proxy logged which listener or worker failed */
		sl_proxy_destroy(p);
		return 1;
	}
	if (admin_start(&admin, p, cfg, admin_optional) != 0) {
		sl_proxy_destroy(p);
		return 1;
	}
	sig = wait_for_signal();
	sl_log_info("%s: draining (deadline %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
	            cfg->drain_timeout_ms);
	sl_admin_stop(admin); /* before the drain: a scrape asks the workers */
	sl_proxy_drain(p, cfg->drain_timeout_ms);
	print_summary(p);
	sl_proxy_destroy(p);
	return 0;
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
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
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
		if (build_from_flags(&cfg, &c) != 0)
			return 2;
		break;
	default: /* CLI_DEMO */
		rc = demo_start(&demo, demo_addrs);
		if (rc) {
			fprintf(stderr, "sluice: cannot start the demo backends: %s\n",
			        strerror(-rc));
			return 1;
		}
		if (cli_build_config(&cfg, &c, c.listen ? c.listen : DEMO_LISTEN, demo_addrs,
		                     DEMO_BACKENDS) != 0) {
			demo_stop(demo);
			return 2;
		}
		cfg->drain_timeout_ms = c.drain_ms >= 0 ? (uint32_t)c.drain_ms : 5000;
		if (!c.admin)
			sl_addr_parse(&cfg->admin.addr, DEMO_ADMIN, false, NULL);
		/* show the active checks at work: every 2 s, a TCP connect to each backend */
		cfg->groups[0].health.kind = SL_HEALTH_TCP;
		print_demo_banner(cfg, demo_addrs);
		break;
	}
	rc = run(cfg, c.mode == CLI_DEMO);
	demo_stop(demo);
	sl_config_free(cfg);
	return rc;
}
