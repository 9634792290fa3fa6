// SPDX-License-Identifier: MIT
/*
 * sluice: the proxy binary. Thin on purpose: flags (cli.c), the embedded demo (demo.c), and
 * the signal handling that turns SIGTERM/SIGINT into a graceful drain. Everything else lives in
 * the proxy library (include/sluice/proxy.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/version.h>

#include "cli.h"
#include "demo.h"
#include "notify.h"

#define DEMO_LISTEN "127.0.0.1:8080"

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
	       "  nc %s %u    # anything that is not HTTP is echoed back\n"
	       "stop with Ctrl-C (sluice drains open connections, then exits)\n",
	       listen, strchr(listen, ']') ? "::1" : "127.0.0.1",
	       sl_addr_port(&cfg->listeners[0].addr));
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

/* Appends " NAME N" to <buf> for each nonzero <counts>[i] (names from <name>); the length. */
static size_t
append_counts(char *buf, size_t size, size_t len, const uint64_t *counts, unsigned n,
              const char *(*name)(unsigned))
{
	for (unsigned i = 0; i < n && len < size; i++) {
		int w;

		if (counts[i] == 0)
			continue;
		w = snprintf(buf + len, size - len, "%s %s %llu", len == 0 ? "" : ",", name(i),
		             (unsigned long long)counts[i]);
		if (w > 0)
			len += (size_t)w;
	}
	return len < size ? len : size - 1;
}

static const char *
timeout_name(unsigned k)
{
	return sl_timeout_kind_name((enum sl_timeout_kind)k);
}

static const char *
reject_name(unsigned r)
{
	return sl_reject_reason_name((enum sl_reject_reason)r);
}

static void
print_summary(struct sl_proxy *p)
{
	char line[512];
	struct sl_proxy_stats st;

	sl_proxy_stats(p, &st);
	sl_log_info(
	        "sessions: %llu accepted, %llu closed, %llu still open at exit; bytes: %llu in, "
	        "%llu out",
	        (unsigned long long)st.accepted, (unsigned long long)st.closed,
	        (unsigned long long)st.active, (unsigned long long)st.bytes_in,
	        (unsigned long long)st.bytes_out);
	if (st.health_checks != 0)
		sl_log_info(
		        "health checks: %llu run, %llu failed; %llu backends went down, %llu up",
		        (unsigned long long)st.health_checks,
		        (unsigned long long)st.health_failures, (unsigned long long)st.health_downs,
		        (unsigned long long)st.health_ups);
	if (st.warm_hits + st.warm_misses + st.warm_expired + st.warm_dead != 0)
		sl_log_info(
		        "warm pools: %llu hits, %llu misses, %llu expired, %llu dead, %llu failed",
		        (unsigned long long)st.warm_hits, (unsigned long long)st.warm_misses,
		        (unsigned long long)st.warm_expired, (unsigned long long)st.warm_dead,
		        (unsigned long long)st.warm_failed);
	line[0] = '\0';
	if (append_counts(line, sizeof(line), 0, st.timeouts, SL_TIMEOUT_KINDS, timeout_name) > 0)
		sl_log_info("timeouts:%s", line);
	line[0] = '\0';
	if (append_counts(line, sizeof(line), 0, st.rejects, SL_REJECT_KINDS, reject_name) > 0)
		sl_log_info("rejected: %llu clients:%s", (unsigned long long)st.filtered, line);
}

static int
run(struct sl_config *cfg)
{
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
	notify_started(cfg); /* systemd: READY=1 and watchdog pings (notify.h) */
	sig = wait_for_signal();
	sl_log_info("%s: draining (deadline %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
	            cfg->drain_timeout_ms);
	notify_draining(cfg->drain_timeout_ms); /* systemd: STOPPING=1 */
	sl_proxy_drain(p, cfg->drain_timeout_ms);
	print_summary(p);
	sl_proxy_destroy(p);
	notify_stop();
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
		/* show the active checks at work: every 2 s, a TCP connect to each backend */
		cfg->groups[0].health.kind = SL_HEALTH_TCP;
		print_demo_banner(cfg, demo_addrs);
		break;
	}
	rc = run(cfg);
	demo_stop(demo);
	sl_config_free(cfg);
	return rc;
}
