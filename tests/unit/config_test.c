// SPDX-License-Identifier: MIT
/*
 * Behaviour of the configuration loader (src/config/): defaults, the example file, every kind
 * of error with its exact text and position, sizes and durations, file reading, and the
 * out-of-memory paths.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/config.h>
#include <sluice/lb.h>
#include <sluice/lpm.h>
#include <sluice/warm.h>

#include "config/config_int.h"
#include "sl_test_config.h"

/* A valid config; tests append to or vary it. */
#define MINIMAL                                                                                    \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"groups:\n"                                                                                \
	"  - name: web\n"                                                                          \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"

/* Loads <yaml>, expects failure with exactly <want> printed. */
static void
assert_errors(const char *yaml, const char *want)
{
	struct sl_test_load r = sl_test_config_load(yaml);

	assert_string_equal(want, r.errs);
	assert_int_equal(-EINVAL, r.rc);
	assert_null(r.c);
	sl_test_config_fini(&r);
}

/* a YAML tag would change what a value means: refused where it stands; !!str is plain */
static void
config_refuses_yaml_tags_but_str(void **state)
{
	struct sl_test_load r;

	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "groups:\n"
	              "  - name: !!null web\n"
	              "    backends: !custom\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:4:11: YAML tags are not supported (\"!!null\"): write the value "
	              "without one\n"
	              "t.yaml:5:15: YAML tags are not supported (\"!custom\"): write the value "
	              "without one\n");
	r = sl_test_config_load("listeners:\n"
	                        "  - address: !!str 127.0.0.1:8080\n"
	                        "groups:\n"
	                        "  - name: web\n"
	                        "    backends:\n"
	                        "      - address: 127.0.0.1:9001\n");
	assert_int_equal(0, r.rc);
	sl_test_config_fini(&r);
}

/* values a file holds but would not use yet are checked too: a reload may use them */
static void
config_checks_values_a_reload_may_use_later(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    proxy_protocol: { version: off, trusted: [garbage] }\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:3:47: bad prefix \"garbage\" in \"trusted\": not a numeric IPv4 "
	              "address\n");
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    source_limits: { max_connections: 4, rate: 0, burst: 5 }\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:3:58: \"burst\" needs a \"rate\" above 0\n");
}

/* positions count characters, not bytes, and lines end as YAML ends them (CR alone too); the
 * hints look at the right byte after non-ASCII text */
static void
config_positions_count_characters_and_every_line_break(void **state)
{
	(void)state;
	/* a control byte after "é" (two bytes, one column), on the third line */
	assert_errors("# caf\xc3\xa9\n"
	              "listeners:\n"
	              "  - name: \xc3\xa9\x01\n",
	              "t.yaml:3:12: control characters are not allowed\n");
	/* lines ended by CR alone */
	assert_errors("listeners:\r  - address: 127.0.0.1:8080\r    backlog: \x01\r",
	              "t.yaml:3:14: control characters are not allowed\n");
	/* the tab hint after a comment of non-ASCII text */
	assert_errors("# \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n"
	              "listeners:\n"
	              "\t- address: 127.0.0.1:8080\n",
	              "t.yaml:3:1: found character that cannot start any token (while scanning "
	              "for the next token); YAML does not allow tabs for indentation\n");
}

/* a rule across two keys, one of them written: the error is at the one written */
static void
config_cross_key_errors_point_at_the_key_written(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    passive: { failures: 3, max_backoff: 500ms }\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:5:42: passive \"backoff\" (1000ms) must not be longer than "
	              "\"max_backoff\" (500ms)\n");
}

static void
config_minimal_applies_defaults(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);
	const struct sl_config_listener *l;
	const struct sl_config_group *g;

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	assert_string_equal("t.yaml", r.c->source);
	assert_int_equal(0, r.c->workers);
	assert_int_equal(30000, r.c->drain_timeout_ms);
	assert_int_equal(SL_LOG_INFO, r.c->log_level);
	assert_int_equal(1, r.c->nlisteners);
	l = &r.c->listeners[0];
	assert_string_equal("127.0.0.1:8080", l->name);
	assert_int_equal(8080, sl_addr_port(&l->addr));
	assert_int_equal(0, l->group);
	assert_int_equal(4096, l->backlog);
	assert_int_equal(SL_FWD_AUTO, l->forward);
	assert_true(l->tcp_nodelay);
	assert_false(l->keepalive);
	assert_int_equal(262144, l->pipe_size);
	assert_int_equal(16384, l->buffer_size);
	assert_int_equal(0, l->max_connections);
	assert_int_equal(5000, l->timeouts.connect_ms);
	assert_int_equal(60000, l->timeouts.client_idle_ms);
	assert_int_equal(60000, l->timeouts.server_idle_ms);
	assert_int_equal(0, l->timeouts.session_ms);
	assert_int_equal(1, r.c->ngroups);
	g = &r.c->groups[0];
	assert_string_equal("web", g->name);
	assert_int_equal(SL_LB_ROUND_ROBIN, g->balance);
	assert_int_equal(65537, g->maglev_table_size);
	assert_int_equal(2, g->retries);
	assert_int_equal(SL_HEALTH_NONE, g->health.kind);
	assert_int_equal(2000, g->health.interval_ms);
	assert_int_equal(1000, g->health.timeout_ms);
	assert_int_equal(2, g->health.rise);
	assert_int_equal(3, g->health.fall);
	assert_int_equal(3, g->passive.failures);
	assert_int_equal(1000, g->passive.backoff_ms);
	assert_int_equal(30000, g->passive.max_backoff_ms);
	assert_int_equal(0, g->warm_pool.size);
	assert_int_equal(30000, g->warm_pool.idle_ms);
	assert_int_equal(1, g->nbackends);
	assert_string_equal("127.0.0.1:9001", g->backends[0].name);
	assert_int_equal(1, g->backends[0].weight);
	assert_int_equal(0, g->backends[0].max_connections);
	sl_test_config_fini(&r);
}

static void
config_defaults_fill_every_documented_value(void **state)
{
	struct sl_config c;
	struct sl_config_listener l;
	struct sl_config_group g;
	struct sl_config_backend b;

	(void)state;
	sl_config_defaults(&c);
	sl_config_listener_defaults(&l);
	sl_config_group_defaults(&g);
	sl_config_backend_defaults(&b);
	assert_int_equal(0, c.nlisteners + c.ngroups);
	assert_null(c.listeners);
	assert_int_equal(30000, c.drain_timeout_ms);
	assert_int_equal(4096, l.backlog);
	assert_int_equal(5000, l.timeouts.connect_ms);
	assert_int_equal(SL_LB_ROUND_ROBIN, g.balance);
	assert_null(g.backends);
	assert_int_equal(1, b.weight);
}

static void
config_example_file_loads_every_field(void **state)
{
	const struct sl_config_group *web, *cache;
	const struct sl_config_listener *l0, *l1;
	struct sl_config *c = NULL;
	char buf[SL_ADDR_STRLEN];

	(void)state;
	assert_int_equal(0, sl_config_load_file(&c, SL_SOURCE_DIR "/examples/sluice.yaml", stderr));
	assert_int_equal(0, c->workers);
	assert_int_equal(30000, c->drain_timeout_ms);
	assert_int_equal(SL_LOG_INFO, c->log_level);
	assert_int_equal(2, c->nlisteners);
	assert_int_equal(2, c->ngroups);
	l0 = &c->listeners[0];
	l1 = &c->listeners[1];
	web = &c->groups[0];
	cache = &c->groups[1];
	assert_string_equal("web", l0->name);
	assert_string_equal("0.0.0.0:8080", sl_addr_format(&l0->addr, buf, sizeof(buf)));
	assert_int_equal(0, l0->group);
	assert_int_equal(SL_FWD_AUTO, l0->forward);
	assert_int_equal(262144, l0->pipe_size);
	assert_int_equal(10000, l0->max_connections);
	assert_string_equal("cache", l1->name);
	assert_string_equal("[::1]:11211", sl_addr_format(&l1->addr, buf, sizeof(buf)));
	assert_int_equal(1, l1->group);
	assert_int_equal(SL_FWD_COPY, l1->forward);
	assert_true(l1->keepalive);
	assert_int_equal(250, l1->timeouts.connect_ms);
	assert_int_equal(300000, l1->timeouts.client_idle_ms);
	assert_int_equal(3600000, l1->timeouts.session_ms);
	assert_int_equal(SL_HEALTH_TCP, web->health.kind);
	assert_int_equal(4, web->warm_pool.size);
	assert_int_equal(2, web->nbackends);
	assert_string_equal("web-a", web->backends[0].name);
	assert_int_equal(2, web->backends[0].weight);
	assert_int_equal(500, web->backends[1].max_connections);
	assert_int_equal(SL_LB_MAGLEV, cache->balance);
	assert_int_equal(SL_HEALTH_SEND_EXPECT, cache->health.kind);
	assert_int_equal(9, cache->health.send_len);
	assert_memory_equal("version\r\n", cache->health.send, 9);
	assert_string_equal("VERSION ", cache->health.expect);
	assert_int_equal(500, cache->health.timeout_ms);
	assert_int_equal(3, cache->nbackends);
	assert_string_equal("[::1]:11313", cache->backends[2].name);
	sl_config_free(c);
}

static void
config_accepts_quoted_ipv6_address(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load("listeners:\n"
	                            "  - address: \"[::1]:8080\"\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    backends: [{ address: \"[2001:db8::1]:80\" }]\n");

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(AF_INET6, r.c->listeners[0].addr.ss.ss_family);
	assert_string_equal("[::1]:8080", r.c->listeners[0].name);
	assert_string_equal("[2001:db8::1]:80", r.c->groups[0].backends[0].name);
	sl_test_config_fini(&r);
}

static void
config_reports_unknown_key_with_suggestion(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    adress: 127.0.0.1:8081\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends: [{ address: 127.0.0.1:9001 }]\n",
	              "t.yaml:3:5: unknown key \"adress\" in listener (expected one of: name, "
	              "address, group, backlog, forward, tcp_nodelay, keepalive, freebind, "
	              "pipe_size, buffer_size, max_connections, steering, timeouts, allow, deny, "
	              "proxy_protocol, rate, source_limits, bandwidth); did "
	              "you mean \"address\"?\n");
}

static void
config_admin_is_off_unless_an_address_is_given(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(0, r.c->admin.addr.len);
	sl_test_config_fini(&r);
}

static void
config_admin_address_is_parsed(void **state)
{
	struct sl_test_load r = sl_test_config_load("admin: { address: 127.0.0.1:9090 }\n" MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	assert_int_equal(9090, sl_addr_port(&r.c->admin.addr));
	sl_test_config_fini(&r);
}

static void
config_admin_reports_bad_address_and_unknown_key(void **state)
{
	(void)state;
	assert_errors(
	        "admin: { address: nowhere }\n" MINIMAL,
	        "t.yaml:1:19: bad address \"nowhere\": expected HOST:PORT (IPv6 as [::1]:PORT)\n");
	assert_errors("admin: { port: 9090 }\n" MINIMAL,
	              "t.yaml:1:10: unknown key \"port\" in admin (expected one of: address, "
	              "max_connections, max_per_source, timeout)\n");
}

/* A key of the mapping around or inside the one it is in (an indentation slip) says where it
 * belongs; one that belongs elsewhere says nothing more. */
static void
config_names_where_a_misplaced_key_belongs(void **state)
{
	struct sl_test_load r = sl_test_config_load("listeners:\n"
	                                            "  - address: 127.0.0.1:8080\n"
	                                            "    workers: 2\n"
	                                            "groups:\n"
	                                            "  - name: web\n"
	                                            "    health:\n"
	                                            "    type: tcp\n"
	                                            "    backends:\n"
	                                            "      - address: 127.0.0.1:9001\n"
	                                            "        timeout: 1s\n");

	(void)state;
	assert_int_equal(-EINVAL, r.rc);
	assert_non_null(strstr(r.errs, "t.yaml:3:5: unknown key \"workers\" in listener"));
	assert_non_null(strstr(r.errs, "); \"workers\" is a key of the top level: check its "
	                               "indentation\n"));
	assert_non_null(strstr(r.errs, "t.yaml:7:5: unknown key \"type\" in group"));
	assert_non_null(strstr(r.errs, "); \"type\" is a key of \"health:\" or \"discover:\": "
	                               "check its indentation\n"));
	/* health's timeout is not a backend's neighbour: no guess */
	assert_non_null(strstr(r.errs, "t.yaml:10:9: unknown key \"timeout\" in backend "
	                               "(expected one of: address, weight, max_connections, name, "
	                               "backup)\n"));
	sl_test_config_fini(&r);
	r = sl_test_config_load("groups:\n"
	                        "  - name: web\n"
	                        "backends:\n"
	                        "  - address: 127.0.0.1:9001\n");
	assert_non_null(strstr(r.errs, "t.yaml:3:1: unknown key \"backends\" at the top level"));
	assert_non_null(strstr(r.errs, "); \"backends\" is a key of \"groups:\": check its "
	                               "indentation\n"));
	sl_test_config_fini(&r);
}

static void
config_reports_unknown_key_without_suggestion_when_far(void **state)
{
	const char want[] = "t.yaml:7:1: unknown key \"colour\" at the top level (expected one "
	                    "of: workers, drain_timeout, max_connections, log, listeners, groups, ";
	struct sl_test_load r = sl_test_config_load(MINIMAL "colour: blue\n");

	(void)state;
	/* every top-level key is listed, in the table's order (the tail grows with new keys) */
	assert_int_equal(-EINVAL, r.rc);
	assert_int_equal(0, strncmp(want, r.errs, sizeof(want) - 1));
	assert_non_null(strstr(
	        r.errs,
	        ", access_log, upgrade_socket, user, group, control, alerts, profiling, xdp"));
	assert_string_equal(")\n", r.errs + strlen(r.errs) - 2);
	assert_ptr_equal(r.errs + strlen(r.errs) - 1, strchr(r.errs, '\n')); /* one line */
	sl_test_config_fini(&r);
}

static void
config_xdp_is_off_unless_given_and_takes_its_keys(void **state)
{
	struct sl_test_load off = sl_test_config_load(MINIMAL);
	struct sl_test_load on = sl_test_config_load(
	        MINIMAL "xdp: { interface: eth0, mode: generic, required: true }\n");

	(void)state;
	assert_int_equal(0, off.rc);
	assert_string_equal("", off.c->xdp.interface);
	assert_int_equal(SL_XDP_AUTO, off.c->xdp.mode);
	assert_false(off.c->xdp.required);
	assert_string_equal("", on.errs);
	assert_int_equal(0, on.rc);
	assert_string_equal("eth0", on.c->xdp.interface);
	assert_int_equal(SL_XDP_GENERIC, on.c->xdp.mode);
	assert_true(on.c->xdp.required);
	sl_test_config_fini(&off);
	sl_test_config_fini(&on);
}

static void
config_xdp_reports_a_missing_or_bad_interface_and_mode(void **state)
{
	(void)state;
	assert_errors(MINIMAL "xdp: { mode: native }\n",
	              "t.yaml:7:6: \"xdp\" needs an \"interface\"\n");
	assert_errors(MINIMAL "xdp: { interface: abcdefghijklmnop }\n",
	              "t.yaml:7:19: expected a network interface name of at most 15 bytes without "
	              "'/' for \"interface\", got \"abcdefghijklmnop\"\n");
	assert_errors(
	        MINIMAL "xdp: { interface: eth0, mode: fast }\n",
	        "t.yaml:7:31: expected one of auto, native, generic for \"mode\", got \"fast\"\n");
}

static void
config_listener_keeps_its_allow_and_deny_prefixes_as_a_list(void **state)
{
	struct sl_test_load r = sl_test_config_load("listeners:\n"
	                                            "  - address: 127.0.0.1:8080\n"
	                                            "    allow: [10.0.0.0/8]\n"
	                                            "    deny: [10.1.0.0/16, \"2001:db8::/32\"]\n"
	                                            "groups:\n"
	                                            "  - name: web\n"
	                                            "    backends:\n"
	                                            "      - address: 127.0.0.1:9001\n");
	const struct sl_config_listener *l;

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	l = &r.c->listeners[0];
	assert_int_equal(3, l->nacl_rules);
	assert_true(l->acl_rules[0].allow);
	assert_int_equal(8, l->acl_rules[0].cidr.len);
	assert_false(l->acl_rules[1].allow);
	assert_int_equal(16, l->acl_rules[1].cidr.len);
	assert_int_equal(1, l->acl_rules[1].cidr.addr[1]);
	assert_false(l->acl_rules[2].allow);
	assert_int_equal(AF_INET6, l->acl_rules[2].cidr.family);
	assert_false(l->acl_allows_unmatched);
	sl_test_config_fini(&r);
}

static void
config_alerts_take_rules_and_webhooks_with_defaults(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        MINIMAL "alerts:\n"
	                "  webhooks: [{ url: \"http://127.0.0.1:9/h\" }]\n"
	                "  rules:\n"
	                "    - { name: d, metric: backend_down, group: web, above: 0 }\n"
	                "    - { name: p, metric: connect_p99, above: 0.25, "
	                "clear_below: 0.1, window: 1m }\n");

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	assert_int_equal(1000, r.c->alerts.interval_ms);
	assert_int_equal(64, r.c->alerts.queue_size);
	assert_int_equal(1, r.c->alerts.nwebhooks);
	assert_int_equal(2000, r.c->alerts.webhooks[0].timeout_ms);
	assert_int_equal(3, r.c->alerts.webhooks[0].retries);
	assert_int_equal(2, r.c->alerts.nrules);
	assert_int_equal(SL_ALERT_BACKEND_DOWN, r.c->alerts.rules[0].metric);
	assert_string_equal("web", r.c->alerts.rules[0].group);
	assert_true(r.c->alerts.rules[0].clear_below == 0.0);
	assert_true(r.c->alerts.rules[1].above == 0.25);
	assert_true(r.c->alerts.rules[1].clear_below == 0.1);
	assert_int_equal(60000, r.c->alerts.rules[1].window_ms);
	assert_false(r.c->profiling.perf);
	sl_test_config_fini(&r);
}

static void
config_alerts_report_bad_rules(void **state)
{
	(void)state;
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: rss, above: 5, clear_below: 6 "
	                      "}] }\n",
	              "t.yaml:7:66: \"clear_below\" must be at most \"above\" (5), got 6\n");
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: backend_down, group: db, "
	                      "above: 0 }] }\n",
	              "t.yaml:7:59: no group named \"db\"\n");
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: backend_down, backend: x, "
	                      "above: 0 }] }\n",
	              "t.yaml:7:61: \"backend\" needs the \"group\" it belongs to\n");
	assert_errors(MINIMAL
	              "alerts: { rules: [{ name: a, metric: rss, group: web, above: 0 }] }\n",
	              "t.yaml:7:50: \"group\" and \"backend\" apply to metric backend_down only\n");
	assert_errors(MINIMAL "alerts: { interval: 10ms, rules: [{ name: a, metric: rss, above: 1 "
	                      "}] }\n",
	              "t.yaml:7:21: \"interval\" must be between 100ms and 1h, got 10ms\n");
	assert_errors(MINIMAL "alerts: { webhooks: [{ url: ftp://x }], rules: [{ name: a, metric: "
	                      "rss, above: 1 }] }\n",
	              "t.yaml:7:29: expected an http:// or https:// URL for \"url\", got "
	              "\"ftp://x\"\n");
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: rss, above: -1 }] }\n",
	              "t.yaml:7:50: expected a number from 0 to 1e300 such as 0.25 or 5e8 for "
	              "\"above\", got \"-1\"\n");
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: rss, above: 0x10 }] }\n",
	              "t.yaml:7:50: expected a number from 0 to 1e300 such as 0.25 or 5e8 for "
	              "\"above\", got \"0x10\"\n");
	assert_errors(MINIMAL "alerts: { rules: [{ name: a, metric: rss, above: 1, clear_below: "
	                      "0x1p-1 }] }\n",
	              "t.yaml:7:66: expected a number from 0 to 1e300 such as 0.25 or 5e8 for "
	              "\"clear_below\", got \"0x1p-1\"\n");
	assert_errors(MINIMAL "alerts: { rules: [] }\n",
	              "t.yaml:7:18: \"rules\" is empty: give 1 to 64 rules, or leave out alerts\n");
}

/* alerts: with one webhook of <url> and one rule, as a YAML text */
#define WEBHOOK(url)                                                                               \
	MINIMAL "alerts: { webhooks: [{ url: \"" url "\" }], rules: [{ name: a, metric: rss, "     \
	        "above: 1 }] }\n"

static void
config_alerts_refuse_a_webhook_url_without_a_host(void **state)
{
	(void)state;
	assert_errors(WEBHOOK("http://"), "t.yaml:7:29: \"url\" has no host: expected "
	                                  "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH\n");
	assert_errors(WEBHOOK("https://:8080/hook"),
	              "t.yaml:7:29: \"url\" has no host: expected http://HOST[:PORT]/PATH or "
	              "https://HOST[:PORT]/PATH\n");
	assert_errors(WEBHOOK("http:///hook"),
	              "t.yaml:7:29: \"url\" has no host: expected "
	              "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH\n");
	assert_errors(WEBHOOK("http://::1:8080/"),
	              "t.yaml:7:29: \"url\" has no host: expected an IPv6 address in brackets, as "
	              "in http://[::1]:8080/\n");
}

static void
config_alerts_refuse_a_webhook_url_with_a_port_outside_1_to_65535(void **state)
{
	(void)state;
	assert_errors(
	        WEBHOOK("http://127.0.0.1:99999/"),
	        "t.yaml:7:29: \"url\" has port \"99999\": expected a number from 1 to 65535\n");
	assert_errors(WEBHOOK("http://127.0.0.1:0/"),
	              "t.yaml:7:29: \"url\" has port \"0\": expected a number from 1 to 65535\n");
	assert_errors(
	        WEBHOOK("http://h:65536"),
	        "t.yaml:7:29: \"url\" has port \"65536\": expected a number from 1 to 65535\n");
	assert_errors(WEBHOOK("http://h:/"),
	              "t.yaml:7:29: \"url\" has port \"\": expected a number from 1 to 65535\n");
	assert_errors(WEBHOOK("http://[::1]:8o/"),
	              "t.yaml:7:29: \"url\" has port \"8o\": expected a number from 1 to 65535\n");
	assert_errors(
	        WEBHOOK("http://[::1]x/"),
	        "t.yaml:7:29: \"url\" has \"x\" after its host, where only :PORT may follow\n");
}

static void
config_alerts_refuse_a_webhook_url_whose_host_is_neither_a_name_nor_an_address(void **state)
{
	(void)state;
	assert_errors(WEBHOOK("http://ho^st:80/"),
	              "t.yaml:7:29: \"url\" has \"ho^st\" for a host: a name may hold only "
	              "letters, digits, '-', '.' and '_', and an IPv6 address goes in brackets\n");
	assert_errors(WEBHOOK("http://[::1/"),
	              "t.yaml:7:29: \"url\" has an IPv6 address without its closing ']'\n");
	assert_errors(WEBHOOK("http://[::g]/"),
	              "t.yaml:7:29: \"url\" has \"[::g]\" for a host, "
	              "not an IPv6 address (a zone is written %25eth0)\n");
	/* hosts libcurl reads otherwise: it posted to h1 of h1\@h2 (a backslash is a slash to
	 * it), and refused two @ at every post */
	assert_errors(WEBHOOK("http://h1:80\\\\@h2:81/x"),
	              "t.yaml:7:29: \"url\" has a backslash: write / (and %5C in a path)\n");
	assert_errors(WEBHOOK("http://h/a\\\\b"),
	              "t.yaml:7:29: \"url\" has a backslash: write / (and %5C in a path)\n");
	assert_errors(WEBHOOK("http://a@b@h:80/"),
	              "t.yaml:7:29: \"url\" has two @ before its host: write an @ of the user or "
	              "password as %40\n");
}

static void
config_alerts_take_webhook_urls_with_a_name_an_address_a_port_or_a_user(void **state)
{
	static const char *const urls[] = {
	        WEBHOOK("http://alerts.example.com/hook"),
	        WEBHOOK("https://alerts.example.com:8443/v1/hook?team=ops#x"),
	        WEBHOOK("http://127.0.0.1:1/"),
	        WEBHOOK("http://127.0.0.1:65535"),
	        WEBHOOK("http://[::1]:9093/hook"),
	        WEBHOOK("http://[fe80::1%25eth0]:9093/"),
	        WEBHOOK("https://user:secret@hooks.example.com/x"),
	        WEBHOOK("http://h?x=1"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct sl_test_load r = sl_test_config_load(urls[i]);

		assert_string_equal("", r.errs);
		assert_int_equal(0, r.rc);
		assert_int_equal(1, r.c->alerts.nwebhooks);
		sl_test_config_fini(&r);
	}
}

static void
config_reports_non_integer(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    backlog: lots\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:3:14: expected an integer for \"backlog\", got \"lots\"\n");
}

static void
config_reports_non_mapping(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    timeouts: 5s\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:3:15: expected a mapping for \"timeouts\", got \"5s\"\n");
}

static void
config_reports_non_list(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends: 127.0.0.1:9001\n",
	              "t.yaml:4:15: expected a list for \"backends\", got \"127.0.0.1:9001\"\n");
}

/* A list of bare addresses where items with an address are expected: the error says how. */
static void
config_reports_bare_address_items_with_how_to_write_them(void **state)
{
	(void)state;
	assert_errors(
	        "listeners: [127.0.0.1:8080]\n"
	        "groups:\n"
	        "  - name: web\n"
	        "    backends: [127.0.0.1:9001, ~]\n",
	        "t.yaml:1:13: expected a mapping for each item of \"listeners\", got "
	        "\"127.0.0.1:8080\"; an item is written \"- address: ...\" or "
	        "\"{ address: ... }\"\n"
	        "t.yaml:4:16: expected a mapping for each item of \"backends\", got "
	        "\"127.0.0.1:9001\"; an item is written \"- address: ...\" or "
	        "\"{ address: ... }\"\n"
	        "t.yaml:4:32: expected a mapping for each item of \"backends\", got nothing\n");
	/* a section without an address gets no such hint */
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups: [web]\n",
	              "t.yaml:2:10: expected a mapping for each item of \"groups\", got \"web\"\n");
}

/* source: an IP alone, in either notation; the backends and what discovery finds of its family */
static void
config_group_source_is_an_ip_of_its_backends_family(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load("listeners: [{ address: 127.0.0.1:8080 }]\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    source: \"[::1]\"\n"
	                            "    backends: [{ address: \"[::1]:9001\" }]\n");
	char ip[SL_ADDR_STRLEN];

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("::1", sl_addr_format_ip(&r.c->groups[0].source, ip, sizeof(ip)));
	assert_int_equal(0, sl_addr_port(&r.c->groups[0].source));
	sl_test_config_fini(&r);
	r = sl_test_config_load(MINIMAL);
	assert_int_equal(0, r.c->groups[0].source.len); /* none by default */
	sl_test_config_fini(&r);
	assert_errors(MINIMAL "    source: 10.0.0.5:80\n",
	              "t.yaml:7:13: bad source \"10.0.0.5:80\": expected an IPv4 or IPv6 address "
	              "with no port, such as 10.0.0.5 or \"2001:db8::5\"\n");
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    source: \"::1\"\n"
	              "    backends: [{ address: 127.0.0.1:9001 }]\n",
	              "t.yaml:5:27: backend 127.0.0.1:9001 is IPv4 but the group's source is IPv6: "
	              "its connections cannot come from it\n");
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    source: 127.0.0.2\n"
	              "    discover: { name: web.test, port: 80, type: any }\n",
	              "t.yaml:4:13: an IPv4 source needs discover type a (the other types can find "
	              "IPv6 addresses)\n");
}

static void
config_reports_non_boolean(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    keepalive: sometimes\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:3:16: expected true or false for \"keepalive\", got \"sometimes\"\n");
}

static void
config_reports_bad_port_with_the_address_parser_reason(void **state)
{
	(void)state;
	assert_errors(
	        "listeners: [{ address: 127.0.0.1:70000 }]\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:1:24: bad address \"127.0.0.1:70000\": port out of range (1-65535)\n");
}

static void
config_hints_at_quotes_for_unquoted_ipv6(void **state)
{
	(void)state;
	assert_errors(
	        "listeners:\n"
	        "  - address: [::1]:8080\n",
	        "t.yaml:2:15: did not find expected node content (while parsing a flow node); "
	        "write IPv6 addresses in quotes: \"[::1]:8080\"\n");
}

static void
config_reports_zero_weight(void **state)
{
	(void)state;
	assert_errors(
	        "listeners: [{ address: 127.0.0.1:8080 }]\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001, weight: 0 }] }]\n",
	        "t.yaml:2:69: \"weight\" must be between 1 and 1000000, got 0\n");
}

static void
config_access_log_is_off_by_default(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_null(r.c->access_log.path);
	assert_int_equal(4096, r.c->access_log.ring_size);
	sl_test_config_fini(&r);
}

static void
config_access_log_takes_path_and_ring_size(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        "access_log: { path: /var/log/sluice/access.log, ring_size: 2 }\n" MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("/var/log/sluice/access.log", r.c->access_log.path);
	assert_int_equal(2, r.c->access_log.ring_size);
	sl_test_config_fini(&r);
}

static void
config_control_is_off_by_default_with_mode_0600(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.c->control.path);
	assert_int_equal(0600, r.c->control.mode);
	sl_test_config_fini(&r);
}

static void
config_control_takes_path_and_octal_mode(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        "control: { path: /run/sluice/sluice.sock, mode: 0660 }\n" MINIMAL);
	struct sl_test_load r2 =
	        sl_test_config_load("control: { path: a.sock, mode: 0o640 }\n" MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("/run/sluice/sluice.sock", r.c->control.path);
	assert_int_equal(0660, r.c->control.mode);
	assert_int_equal(0, r2.rc);
	assert_int_equal(0640, r2.c->control.mode);
	sl_test_config_fini(&r);
	sl_test_config_fini(&r2);
}

static void
config_control_refuses_a_bad_mode_and_a_missing_path(void **state)
{
	(void)state;
	assert_errors("control: { path: a.sock, mode: 0800 }\n" MINIMAL,
	              "t.yaml:1:32: expected an octal file mode such as 0600 for \"mode\", got "
	              "\"0800\"\n");
	assert_errors("control: { path: a.sock, mode: 01777 }\n" MINIMAL,
	              "t.yaml:1:32: \"mode\" must be at most 0777, got 01777\n");
	assert_errors("control: { mode: 0600 }\n" MINIMAL,
	              "t.yaml:1:10: control is missing required key \"path\"\n");
}

static void
config_control_refuses_a_path_too_long_for_a_socket(void **state)
{
	char yaml[512];

	(void)state;
	snprintf(yaml, sizeof(yaml), "control: { path: /%0108d }\n" MINIMAL, 0);
	assert_errors(yaml, "t.yaml:1:18: \"path\" is too long for a unix socket (at most 107 "
	                    "bytes, got 109)\n");
}

static void
config_access_log_takes_a_dash_for_stdout(void **state)
{
	struct sl_test_load r = sl_test_config_load("access_log: { path: \"-\" }\n" MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("-", r.c->access_log.path);
	sl_test_config_fini(&r);
}

static void
config_access_log_requires_a_path(void **state)
{
	(void)state;
	assert_errors("access_log: { ring_size: 64 }\n" MINIMAL,
	              "t.yaml:1:13: access_log is missing required key \"path\"\n");
}

static void
config_access_log_refuses_an_empty_path(void **state)
{
	(void)state;
	assert_errors(
	        "access_log: { path: \"\" }\n" MINIMAL,
	        "t.yaml:1:21: expected a file name, or \"-\" for standard output for \"path\", "
	        "got \"\"\n");
}

static void
config_access_log_refuses_ring_size_out_of_range(void **state)
{
	(void)state;
	assert_errors("access_log: { path: a.log, ring_size: 1 }\n" MINIMAL,
	              "t.yaml:1:39: \"ring_size\" must be between 2 and 1048576, got 1\n");
	assert_errors("access_log: { path: a.log, ring_size: 1048577 }\n" MINIMAL,
	              "t.yaml:1:39: \"ring_size\" must be between 2 and 1048576, got 1048577\n");
}

static void
config_reports_zero_backlog(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080, backlog: 0 }]\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:49: \"backlog\" must be between 1 and 65535, got 0\n");
}

static void
config_reports_zero_rise_and_fall(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    health: { rise: 0, fall: 0 }\n",
	              "t.yaml:7:21: \"rise\" must be between 1 and 1000, got 0\n"
	              "t.yaml:7:30: \"fall\" must be between 1 and 1000, got 0\n");
}

static void
config_reports_more_retries_than_a_session_can_make(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    retries: 8\n",
	              "t.yaml:7:14: \"retries\" must be at most 7, got 8\n");
}

static void
config_queue_is_off_by_default_with_a_five_second_wait(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(0, r.c->groups[0].max_queue);
	assert_int_equal(5000, r.c->listeners[0].timeouts.queue_ms);
	sl_test_config_fini(&r);
}

static void
config_reads_max_queue_and_the_queue_timeout(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load("listeners:\n"
	                            "  - address: 127.0.0.1:8080\n"
	                            "    timeouts: { queue: 300ms }\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    max_queue: 4\n"
	                            "    backends:\n"
	                            "      - { address: 127.0.0.1:9001, max_connections: 2 }\n");

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	assert_int_equal(4, r.c->groups[0].max_queue);
	assert_int_equal(300, r.c->listeners[0].timeouts.queue_ms);
	sl_test_config_fini(&r);
}

static void
config_cut_closes_by_default(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(SL_CUT_CLOSE, r.c->listeners[0].timeouts.cut);
	sl_test_config_fini(&r);
}

static void
config_reads_cut_reset_under_timeouts(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load("listeners:\n"
	                            "  - address: 127.0.0.1:8080\n"
	                            "    timeouts: { client_idle: 2s, cut: reset }\n"
	                            "  - address: 127.0.0.1:8081\n"
	                            "    timeouts: { cut: close }\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    backends:\n"
	                            "      - address: 127.0.0.1:9001\n");

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	assert_int_equal(SL_CUT_RESET, r.c->listeners[0].timeouts.cut);
	assert_int_equal(2000, r.c->listeners[0].timeouts.client_idle_ms);
	assert_int_equal(SL_CUT_CLOSE, r.c->listeners[1].timeouts.cut);
	sl_test_config_fini(&r);
}

static void
config_reports_a_cut_that_is_neither_close_nor_reset(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    timeouts: { cut: rst }\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:3:22: expected one of close, reset for \"cut\", got \"rst\"; "
	              "did you mean \"reset\"?\n");
}

#define BAN_FILE(ban)                                                                              \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"    source_limits:\n"                                                                     \
	"      ban: " ban "\n"                                                                     \
	"groups:\n"                                                                                \
	"  - name: web\n"                                                                          \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"

static void
config_a_ban_alone_turns_source_limits_on_with_its_defaults(void **state)
{
	struct sl_test_load r = sl_test_config_load(BAN_FILE("{}"));
	const struct sl_config_source *src;

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	src = &r.c->listeners[0].source;
	assert_true(src->on);
	assert_int_equal(0, src->limits.max_conns);
	assert_int_equal(0, src->limits.rate.rate);
	assert_int_equal(SL_CONFIG_BAN_STRIKES_DEFAULT, src->limits.ban.strikes);
	assert_int_equal(5, src->limits.ban.strikes);
	assert_true(src->limits.ban.within_ns == 30000000000ull);
	assert_true(src->limits.ban.duration_ns == 60000000000ull);
	sl_test_config_fini(&r);
}

static void
config_reads_a_ban(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load(BAN_FILE("{strikes: 2, within: 1500ms, duration: 2m}"));
	const struct sl_srctab_ban *ban;

	(void)state;
	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	ban = &r.c->listeners[0].source.limits.ban;
	assert_int_equal(2, ban->strikes);
	assert_true(ban->within_ns == 1500000000ull);
	assert_true(ban->duration_ns == 120000000000ull);
	sl_test_config_fini(&r);
}

static void
config_no_ban_by_default(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(0, r.c->listeners[0].source.limits.ban.strikes);
	sl_test_config_fini(&r);
}

static void
config_reports_bad_ban_values(void **state)
{
	(void)state;
	assert_errors(BAN_FILE("{strikes: 0}"),
	              "t.yaml:4:22: \"strikes\" must be between 1 and 1000000, got 0\n");
	assert_errors(BAN_FILE("{within: 0s}"),
	              "t.yaml:4:21: \"within\" must be at least 1ms, got 0s\n");
	assert_errors(BAN_FILE("{duration: soon}"),
	              "t.yaml:4:23: expected a duration such as 250ms, 5s or 2m for \"duration\", "
	              "got \"soon\"\n");
	assert_errors(
	        BAN_FILE("{strikez: 3}"),
	        "t.yaml:4:13: unknown key \"strikez\" in ban (expected one of: strikes, within, "
	        "duration); did you mean \"strikes\"?\n");
	assert_errors(BAN_FILE("5"), "t.yaml:4:12: expected a mapping for \"ban\", got \"5\"\n");
}

static void
config_reports_a_boolean_cut(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    timeouts:\n"
	              "      cut: true\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9001\n",
	              "t.yaml:4:12: expected one of close, reset for \"cut\", got \"true\"\n");
}

static void
config_reports_max_queue_over_the_bound(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    max_queue: 16777217\n",
	              "t.yaml:7:16: \"max_queue\" must be at most 16777216, got 16777217\n");
}

static void
config_reports_maglev_table_size_not_prime(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    maglev_table_size: 65536\n",
	              "t.yaml:7:24: \"maglev_table_size\" must be a prime number, got 65536 "
	              "(nearest primes: 65521 and 65537)\n");
}

static void
config_takes_max_backends_and_leaves_the_default_to_the_proxy(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL "    max_backends: 3\n");

	(void)state;
	assert_int_equal(0, r.rc);
	assert_int_equal(3, r.c->groups[0].max_backends);
	sl_test_config_fini(&r);
	r = sl_test_config_load(MINIMAL);
	assert_int_equal(0, r.rc);
	assert_int_equal(0, r.c->groups[0].max_backends);
	sl_test_config_fini(&r);
}

static void
config_reports_max_backends_below_the_backends(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    max_backends: 1\n"
	              "    backends: [{ address: 127.0.0.1:9001 }, { address: 127.0.0.1:9002 }]\n",
	              "t.yaml:4:19: \"max_backends\" (1) must be at least the number of backends "
	              "(2)\n");
	assert_errors(MINIMAL "    max_backends: 0\n",
	              "t.yaml:7:19: \"max_backends\" must be between 1 and 65535, got 0\n");
}

static void
config_reports_max_backends_not_below_the_maglev_table(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    balance: maglev\n"
	                      "    maglev_table_size: 7\n"
	                      "    max_backends: 7\n",
	              "t.yaml:9:19: \"max_backends\" (7) must be smaller than "
	              "\"maglev_table_size\" (7)\n");
}

static void
config_reports_bad_duration(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    timeouts: { connect: 5 parsecs }\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:3:26: expected a duration such as 250ms, 5s or 2m for \"connect\", "
	              "got \"5 parsecs\"\n");
}

static void
config_reports_duration_too_long(void **state)
{
	(void)state;
	assert_errors(
	        "drain_timeout: 1200h\n" MINIMAL,
	        "t.yaml:1:16: \"drain_timeout\" must be at most 4294967295ms (about 49 days), "
	        "got 1200h\n");
}

/* The parser the file's durations and --drain-timeout share. */
static void
config_duration_parse_takes_each_unit_and_nothing_else(void **state)
{
	static const struct {
		const char *s;
		int err;
		uint32_t ms;
	} cases[] = {
	        {"0", 0, 0},
	        {"250", 0, 250},
	        {"250ms", 0, 250},
	        {"5s", 0, 5000},
	        {"2m", 0, 120000},
	        {"3h", 0, 10800000},
	        {"4294967295", 0, UINT32_MAX},
	        {"1193h", 0, 4294800000u},
	        {"4294967296", -ERANGE, 0},
	        {"1194h", -ERANGE, 0},
	        {"99999999999999999999999s", -ERANGE, 0},
	        {"", -EINVAL, 0},
	        {"s", -EINVAL, 0},
	        {"-1", -EINVAL, 0},
	        {"+1", -EINVAL, 0},
	        {"1.5s", -EINVAL, 0},
	        {"5 s", -EINVAL, 0},
	        {" 5s", -EINVAL, 0},
	        {"5S", -EINVAL, 0},
	        {"5sec", -EINVAL, 0},
	        {"5d", -EINVAL, 0},
	        {"5ms ", -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		uint32_t ms = 7;

		assert_int_equal(cases[i].err, sl_config_duration_parse(cases[i].s, &ms));
		assert_int_equal(cases[i].err == 0 ? cases[i].ms : 7, ms);
	}
}

static void
config_reports_size_out_of_range(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080, pipe_size: 1k }]\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:51: \"pipe_size\" must be between 4096 bytes and 1048576 bytes, "
	              "got 1k\n");
}

static void
config_reports_duplicate_group_name(void **state)
{
	(void)state;
	assert_errors(MINIMAL "  - name: web\n"
	                      "    backends: [{ address: 127.0.0.1:9002 }]\n",
	              "t.yaml:2:5: listener is missing required key \"group\" (needed when more "
	              "than one group is defined)\n"
	              "t.yaml:7:11: duplicate group name \"web\" (first defined at t.yaml:4:11)\n");
}

/* a quoted empty name is no name, and a group's name has no slash (sluicectl's GROUP/NAME) */
static void
config_reports_empty_and_slashed_names(void **state)
{
	(void)state;
	assert_errors("listeners: [{ name: '', address: 127.0.0.1:8080 }]\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:21: expected a name for \"name\", got an empty string\n");
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups: [{ name: \"\", backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:2:18: expected a name for \"name\", got an empty string\n");
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups: [{ name: g/h, backends: [{ name: a/b, address: 127.0.0.1:9001 }] "
	              "}]\n",
	              "t.yaml:2:18: group name \"g/h\" may not contain \"/\" (sluicectl names a "
	              "backend GROUP/NAME)\n");
}

static void
config_reports_duplicate_listener_address(void **state)
{
	(void)state;
	assert_errors(
	        "listeners:\n"
	        "  - { name: a, address: 127.0.0.1:8080 }\n"
	        "  - { name: b, address: localhost:8080 }\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:3:25: duplicate listener address \"localhost:8080\" (first defined at "
	        "t.yaml:2:25)\n");
}

static void
config_reports_listener_addresses_that_share_a_port(void **state)
{
	(void)state;
	/* a wildcard holds the port on every address; IPv6 listeners are V6ONLY: no overlap */
	assert_errors("listeners:\n"
	              "  - { name: a, address: 0.0.0.0:8080 }\n"
	              "  - { name: b, address: 127.0.0.1:8080 }\n"
	              "  - { name: c, address: \"[::]:8080\" }\n"
	              "  - { name: d, address: \"[::1]:8080\" }\n"
	              "  - { name: e, address: 127.0.0.2:8081 }\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:3:25: listener address \"127.0.0.1:8080\" takes the port of the "
	              "listener at t.yaml:2:25 (a wildcard address, 0.0.0.0 or ::, holds its port "
	              "on every address of the host)\n"
	              "t.yaml:5:25: listener address \"[::1]:8080\" takes the port of the listener "
	              "at t.yaml:4:25 (a wildcard address, 0.0.0.0 or ::, holds its port on every "
	              "address of the host)\n");
}

/* an IPv6 listener is IPv6-only: it could not take the IPv4 connections such an address means */
static void
config_refuses_ipv4_mapped_addresses_naming_the_ipv4_form(void **state)
{
	(void)state;
	assert_errors(
	        "admin: { address: \"[::ffff:127.0.0.1]:9090\" }\n"
	        "listeners: [{ address: \"[::ffff:127.0.0.1]:21006\" }]\n"
	        "groups:\n"
	        "  - name: web\n"
	        "    source: \"::ffff:10.0.0.5\"\n"
	        "    discover:\n"
	        "      name: web.test\n"
	        "      port: 80\n"
	        "      resolvers: [\"[::ffff:10.0.0.53]:53\"]\n"
	        "    backends: [{ address: \"[::ffff:127.0.0.1]:9001\" }]\n",
	        "t.yaml:1:19: bad address \"[::ffff:127.0.0.1]:9090\": an IPv4 address in IPv6 "
	        "form (IPv4-mapped): write the IPv4 address, 127.0.0.1:9090\n"
	        "t.yaml:2:24: bad address \"[::ffff:127.0.0.1]:21006\": an IPv4 address in IPv6 "
	        "form (IPv4-mapped): write the IPv4 address, 127.0.0.1:21006\n"
	        "t.yaml:5:13: bad source \"::ffff:10.0.0.5\": an IPv4 address in IPv6 form "
	        "(IPv4-mapped): write the IPv4 address, 10.0.0.5\n"
	        "t.yaml:9:19: bad address \"[::ffff:10.0.0.53]:53\": an IPv4 address in IPv6 form "
	        "(IPv4-mapped): write the IPv4 address, 10.0.0.53:53\n"
	        "t.yaml:10:27: bad address \"[::ffff:127.0.0.1]:9001\": an IPv4 address in IPv6 "
	        "form (IPv4-mapped): write the IPv4 address, 127.0.0.1:9001\n");
}

/* a newline in a file name would split the log lines that name it, a NUL cut it short */
static void
config_refuses_a_file_name_with_a_control_character(void **state)
{
	(void)state;
	assert_errors(
	        "control: { path: \"/tmp/a\\nb.sock\" }\n"
	        "access_log: { path: \"/tmp/a\\0b.log\" }\n"
	        "upgrade_socket: \"/tmp/up\\x7f.sock\"\n"
	        "listeners: [{ address: 127.0.0.1:21006 }]\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:1:18: \"path\" holds a control character (byte 0x0a at offset 6), which "
	        "a file name here may not\n"
	        "t.yaml:2:21: expected a file name, or \"-\" for standard output for \"path\", "
	        "got \"/tmp/a\\x00b.log\"\n"
	        "t.yaml:3:17: \"upgrade_socket\" holds a control character (byte 0x7f at "
	        "offset 7), which a file name here may not\n");
}

/* a group's source TCP cannot bind a connection to: the kernel would pick one instead; a
 * link-local one, which a bind takes only with an interface (it passed the load, and the start
 * failed with a bare EINVAL) */
static void
config_refuses_a_multicast_broadcast_or_link_local_source(void **state)
{
	(void)state;
	assert_errors(
	        "listeners: [{ address: 127.0.0.1:21006, group: a }]\n"
	        "groups:\n"
	        "  - { name: a, source: 224.0.0.1, backends: [{ address: 127.0.0.1:9001 }] }\n"
	        "  - { name: b, source: 255.255.255.255, backends: [{ address: 127.0.0.1:9002 }] "
	        "}\n"
	        "  - { name: c, source: \"ff02::1\", backends: [{ address: \"[::1]:9003\" }] }\n"
	        "  - { name: d, source: \"fe80::1\", backends: [{ address: \"[::1]:9004\" }] }\n",
	        "t.yaml:3:24: bad source \"224.0.0.1\": a multicast address, which TCP cannot "
	        "use\n"
	        "t.yaml:4:24: bad source \"255.255.255.255\": the broadcast address, which TCP "
	        "cannot use\n"
	        "t.yaml:5:24: bad source \"ff02::1\": a multicast address, which TCP cannot "
	        "use\n"
	        "t.yaml:6:24: bad source \"fe80::1\": a link-local address (fe80::/10), which "
	        "needs an interface sluice cannot name: use a global or unique-local one\n");
}

/* each session would open another through the proxy, until max_connections is used up */
static void
config_refuses_a_backend_that_is_one_of_the_listeners(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - { address: 127.0.0.1:21001, group: web }\n"
	              "  - { address: 0.0.0.0:21002, group: web }\n"
	              "  - { address: \"[::]:21003\", group: web }\n"
	              "  - { address: 127.0.0.2:21004, group: other }\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:21001\n"
	              "      - address: 127.0.0.1:21002\n"
	              "      - address: \"[::1]:21003\"\n"
	              "      - address: 0.0.0.0:21001\n"
	              "      - address: 127.0.0.1:21004\n"
	              "      - address: 127.0.0.2:21001\n"
	              "      - address: 10.0.0.5:21002\n"
	              "  - name: other\n"
	              "    backends: [{ address: 127.0.0.2:21004 }]\n",
	              "t.yaml:9:18: backend address \"127.0.0.1:21001\" is the listener at "
	              "t.yaml:2:16: sluice would connect to itself\n"
	              "t.yaml:10:18: backend address \"127.0.0.1:21002\" reaches the listener at "
	              "t.yaml:3:16 (0.0.0.0:21002): sluice would connect to itself\n"
	              "t.yaml:11:18: backend address \"[::1]:21003\" reaches the listener at "
	              "t.yaml:4:16 ([::]:21003): sluice would connect to itself\n"
	              "t.yaml:12:18: backend address \"0.0.0.0:21001\" reaches the listener at "
	              "t.yaml:2:16 (127.0.0.1:21001): sluice would connect to itself\n"
	              "t.yaml:17:27: backend address \"127.0.0.2:21004\" is the listener at "
	              "t.yaml:5:16: sluice would connect to itself\n");
}

static void
config_reports_a_backend_on_the_admin_endpoint(void **state)
{
	(void)state;
	assert_errors("admin: { address: 0.0.0.0:21009 }\n"
	              "listeners: [{ address: 127.0.0.1:21001 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:21009\n"
	              "      - address: 127.0.0.1:21008\n"
	              "      - address: \"[::1]:21009\"\n",
	              "t.yaml:6:18: backend address \"127.0.0.1:21009\" reaches sluice's own "
	              "admin endpoint (admin.address at t.yaml:1:19)\n");
}

static void
config_reports_an_admin_address_on_a_listeners_port(void **state)
{
	(void)state;
	assert_errors(
	        "admin: { address: 127.0.0.1:8080 }\n"
	        "listeners:\n"
	        "  - { name: a, address: 0.0.0.0:8080 }\n"
	        "  - { name: b, address: 127.0.0.1:8081 }\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:1:19: admin address \"127.0.0.1:8080\" takes the port of the listener "
	        "at t.yaml:3:25\n");
}

static void
config_reports_a_file_named_for_two_uses(void **state)
{
	(void)state;
	assert_errors("access_log: { path: /run/s.sock }\n"
	              "upgrade_socket: /run/s.sock\n"
	              "control: { path: /run/s.sock }\n" MINIMAL,
	              "t.yaml:2:17: upgrade_socket \"/run/s.sock\" is the access_log.path at "
	              "t.yaml:1:21: give each its own file\n"
	              "t.yaml:3:18: control.path \"/run/s.sock\" is the access_log.path at "
	              "t.yaml:1:21: give each its own file\n"
	              "t.yaml:3:18: control.path \"/run/s.sock\" is the upgrade_socket at "
	              "t.yaml:2:17: give each its own file\n");
}

static void
config_reports_a_file_named_two_ways_for_two_uses(void **state)
{
	struct sl_test_load r;

	(void)state;
	/* one directory spelled three ways: each pair is one file at start */
	assert_errors("access_log: { path: /tmp/s.sock }\n"
	              "upgrade_socket: /tmp/./s.sock\n"
	              "control: { path: //tmp/../tmp/s.sock }\n" MINIMAL,
	              "t.yaml:2:17: upgrade_socket \"/tmp/./s.sock\" is the access_log.path at "
	              "t.yaml:1:21: give each its own file\n"
	              "t.yaml:3:18: control.path \"//tmp/../tmp/s.sock\" is the access_log.path at "
	              "t.yaml:1:21: give each its own file\n"
	              "t.yaml:3:18: control.path \"//tmp/../tmp/s.sock\" is the upgrade_socket at "
	              "t.yaml:2:17: give each its own file\n");
	/* two directories, or two names in one: two files */
	r = sl_test_config_load("access_log: { path: /tmp/s.sock }\n"
	                        "upgrade_socket: /tmp/t.sock\n"
	                        "control: { path: /proc/s.sock }\n" MINIMAL);
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	sl_test_config_fini(&r);
}

static void
config_reports_duplicate_listener_name(void **state)
{
	(void)state;
	assert_errors(
	        "listeners:\n"
	        "  - { name: a, address: 127.0.0.1:8080 }\n"
	        "  - { name: a, address: 127.0.0.1:8081 }\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:3:13: duplicate listener name \"a\" (first defined at t.yaml:2:13)\n");
}

static void
config_reports_unknown_group_reference(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080, group: wbe }]\n"
	              "groups:\n"
	              "  - { name: web, backends: [{ address: 127.0.0.1:9001 }] }\n"
	              "  - { name: cache, backends: [{ address: 127.0.0.1:9002 }] }\n",
	              "t.yaml:1:47: group \"wbe\" not found (defined groups: web, cache); did you "
	              "mean \"web\"?\n");
}

static void
config_reports_missing_address(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - name: web\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:2:5: listener is missing required key \"address\"\n");
}

static void
config_reports_group_without_backends(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n",
	              "t.yaml:3:5: group \"web\" has no backends\n");
}

static void
config_requires_a_listener(void **state)
{
	(void)state;
	assert_errors("listeners: []\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:12: at least one listener is required\n");
}

static void
config_reports_empty_text_as_missing_listener_and_group(void **state)
{
	(void)state;
	assert_errors("# nothing yet\n", "t.yaml:1:1: at least one listener is required\n"
	                                 "t.yaml:1:1: at least one group is required\n");
}

static void
config_reports_send_expect_without_send_and_expect(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    health: { type: send_expect }\n",
	              "t.yaml:7:13: health type send_expect needs a \"send\" string\n"
	              "t.yaml:7:13: health type send_expect needs an \"expect\" string\n");
}

static void
config_reports_send_without_send_expect_type(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    health: { type: tcp, send: ping }\n",
	              "t.yaml:7:32: \"send\" is only used with type: send_expect\n");
}

static void
config_reports_health_timeout_longer_than_interval(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    health: { interval: 1s, timeout: 2s }\n",
	              "t.yaml:7:38: health \"timeout\" (2000ms) must not be longer than "
	              "\"interval\" (1000ms)\n");
}

/* The default timeout (1 s) does not make a short interval an error: it takes the interval. */
static void
config_health_timeout_defaults_to_a_shorter_interval(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL "    health: { interval: 100ms }\n");

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	assert_int_equal(100, r.c->groups[0].health.interval_ms);
	assert_int_equal(100, r.c->groups[0].health.timeout_ms);
	sl_test_config_fini(&r);
}

static void
config_reports_duplicate_key(void **state)
{
	(void)state;
	assert_errors("workers: 1\n"
	              "workers: 2\n" MINIMAL,
	              "t.yaml:2:1: duplicate key \"workers\" (first defined at t.yaml:1:1)\n");
}

static void
config_reports_unknown_balance(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    balance: round-robin\n",
	              "t.yaml:7:14: expected one of round_robin, weighted, least_conn, p2c, maglev "
	              "for \"balance\", got \"round-robin\"; did you mean \"round_robin\"?\n");
}

static void
config_reports_every_error_in_file_order(void **state)
{
	(void)state;
	assert_errors("workers: many\n"
	              "listeners:\n"
	              "  - address: 127.0.0.1:0\n"
	              "    group: nope\n"
	              "    forward: zerocopy\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends: [{ address: 10.0.0.1:80, weight: heavy }]\n",
	              "t.yaml:1:10: expected an integer for \"workers\", got \"many\"\n"
	              "t.yaml:3:14: bad address \"127.0.0.1:0\": port out of range (1-65535)\n"
	              "t.yaml:4:12: group \"nope\" not found (defined groups: web)\n"
	              "t.yaml:5:14: expected one of splice, copy, auto, uring, sockmap for "
	              "\"forward\", got "
	              "\"zerocopy\"\n"
	              "t.yaml:8:48: expected an integer for \"weight\", got \"heavy\"\n");
}

static void
config_reports_yaml_syntax_error_location(void **state)
{
	(void)state;
	assert_errors("listeners:\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    group: web: cache\n",
	              "t.yaml:3:15: mapping values are not allowed in this context\n");
}

static void
config_reports_tab_indentation(void **state)
{
	(void)state;
	assert_errors("listeners:\n\t- address: 127.0.0.1:8080\n",
	              "t.yaml:2:1: found character that cannot start any token (while scanning for "
	              "the next token); YAML does not allow tabs for indentation\n");
}

static void
config_refuses_a_second_document(void **state)
{
	(void)state;
	assert_errors(
	        MINIMAL "---\nworkers: 2\n",
	        "t.yaml:8:1: only one YAML document is allowed (remove the \"---\" line or the "
	        "text after it)\n");
}

static void
config_parses_sizes_in_bytes_kib_and_mib(void **state)
{
	static const struct {
		const char *text;
		uint32_t want;
	} cases[] = {{"4096", 4096},  {"64k", 65536},  {"64K", 65536},
	             {"1m", 1048576}, {"1M", 1048576}, {"\"16k\"", 16384}};
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sl_test_load r;

		snprintf(yaml, sizeof(yaml),
		         "listeners: [{ address: 127.0.0.1:8080, pipe_size: %s }]\n"
		         "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
		         cases[i].text);
		r = sl_test_config_load(yaml);
		assert_int_equal(0, r.rc);
		assert_int_equal(cases[i].want, r.c->listeners[0].pipe_size);
		sl_test_config_fini(&r);
	}
}

static void
config_parses_durations_in_every_unit(void **state)
{
	static const struct {
		const char *text;
		uint32_t want;
	} cases[] = {{"0", 0},       {"250", 250},    {"250ms", 250}, {"5s", 5000},
	             {"2m", 120000}, {"1h", 3600000}, {"'7s'", 7000}, {"4294967295", UINT32_MAX}};
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sl_test_load r;

		snprintf(yaml, sizeof(yaml), "drain_timeout: %s\n" MINIMAL, cases[i].text);
		r = sl_test_config_load(yaml);
		assert_int_equal(0, r.rc);
		assert_int_equal(cases[i].want, r.c->drain_timeout_ms);
		sl_test_config_fini(&r);
	}
}

static void
config_refuses_malformed_sizes(void **state)
{
	static const char *const bad[] = {"64kb", "k", "-1", "1.5m", "64 k", "1g", ""};
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		struct sl_test_load r;

		snprintf(yaml, sizeof(yaml),
		         "listeners: [{ address: 127.0.0.1:8080, buffer_size: \"%s\" }]\n"
		         "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
		         bad[i]);
		r = sl_test_config_load(yaml);
		assert_int_equal(-EINVAL, r.rc);
		assert_non_null(strstr(r.errs, "expected a size such as 4096, 64k or 1m"));
		sl_test_config_fini(&r);
	}
}

static void
config_prints_nothing_when_errs_is_null(void **state)
{
	static const char yaml[] = "workers: many\n";
	struct sl_config *c = (struct sl_config *)&c;

	(void)state;
	assert_int_equal(-EINVAL, sl_config_load_string(&c, NULL, yaml, strlen(yaml), NULL));
	assert_null(c);
}

static void
config_load_file_reports_missing_file(void **state)
{
	struct sl_config *c = NULL;
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	(void)state;
	assert_int_equal(-ENOENT, sl_config_load_file(&c, "/nonexistent/sluice.yaml", f));
	fclose(f);
	assert_string_equal("/nonexistent/sluice.yaml: cannot read: No such file or directory\n",
	                    out);
	assert_null(c);
	free(out);
}

static void
config_load_file_refuses_non_regular_file(void **state)
{
	struct sl_config *c = NULL;
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	(void)state;
	assert_int_equal(-EINVAL, sl_config_load_file(&c, "/dev/null", f));
	fclose(f);
	assert_string_equal("/dev/null: cannot read: not a regular file\n", out);
	free(out);
}

static void
config_load_file_refuses_files_over_16_mib(void **state)
{
	char path[] = "/tmp/sluice-config-test-XXXXXX", want[128];
	struct sl_config *c = NULL;
	char *out = NULL;
	size_t n = 0;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(0, ftruncate(fd, (16 << 20) + 1)); /* sparse: no real 16 MiB written */
	close(fd);
	f = open_memstream(&out, &n);
	assert_int_equal(-EFBIG, sl_config_load_file(&c, path, f));
	fclose(f);
	unlink(path);
	snprintf(want, sizeof(want), "%s: cannot read: larger than 16 MiB\n", path);
	assert_string_equal(want, out);
	free(out);
}

static void
config_load_file_names_the_file_in_errors(void **state)
{
	char path[] = "/tmp/sluice-config-test-XXXXXX", want[160];
	static const char yaml[] = "workers: many\n" MINIMAL;
	struct sl_config *c = NULL;
	char *out = NULL;
	size_t n = 0;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal((ssize_t)strlen(yaml), write(fd, yaml, strlen(yaml)));
	close(fd);
	f = open_memstream(&out, &n);
	assert_int_equal(-EINVAL, sl_config_load_file(&c, path, f));
	fclose(f);
	unlink(path);
	snprintf(want, sizeof(want), "%s:1:10: expected an integer for \"workers\", got \"many\"\n",
	         path);
	assert_string_equal(want, out);
	free(out);
}

/* An alias repeated in a list repeats its errors: the load must stop at the cap. */
static void
config_stops_after_too_many_errors(void **state)
{
	static const char head[] =
	        "listeners: [{ address: 127.0.0.1:8080 }]\n"
	        "groups: [{ name: g, backends: [&b { address: 10.0.0.1:1, x: 1 }";
	char yaml[4096], *last;
	size_t o, lines = 0;
	struct sl_test_load r;
	int i;

	(void)state;
	o = (size_t)snprintf(yaml, sizeof(yaml), "%s", head);
	for (i = 0; i < 500; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, ", *b");
	snprintf(yaml + o, sizeof(yaml) - o, "] }]\n");
	r = sl_test_config_load(yaml);
	for (last = r.errs; (last = strchr(last, '\n')) != NULL; last++)
		lines++;
	assert_int_equal(-EINVAL, r.rc);
	assert_int_equal(SL__CONFIG_ERRORS_MAX + 1, lines);
	assert_non_null(strstr(r.errs, "\nt.yaml: too many errors, stopped after 100\n"));
	sl_test_config_fini(&r);
}

/* Fails each of the loader's allocations in turn: every one must give -ENOMEM, no leak. */
static void
config_returns_enomem_for_every_failed_allocation(void **state)
{
	static const char yaml[] = "bogus: 1\n" MINIMAL "    health: { type: send_expect, send: "
	                           "a, expect: b }\n";
	struct sl_config *c;
	long i;
	int rc = -ENOMEM;

	(void)state;
	for (i = 0; i < 1000 && rc == -ENOMEM; i++) {
		c = NULL;
		sl__config_fail_alloc_after(i);
		rc = sl_config_load_string(&c, "t.yaml", yaml, strlen(yaml), NULL);
		sl__config_fail_alloc_after(-1);
		assert_null(c);
		assert_true(rc == -ENOMEM || rc == -EINVAL);
	}
	assert_int_equal(-EINVAL, rc); /* the unknown key: the last run got to the end */
	assert_true(i > 5);
}

/* Issue: "workers" past the pool table passed the check, then exited 1 with no message. */
static void
config_reports_workers_that_need_more_pools_than_a_process_holds(void **state)
{
	(void)state;
	assert_errors(
	        "workers: 820\n"
	        "listeners:\n"
	        "  - address: 127.0.0.1:8080\n"
	        "  - address: 127.0.0.1:8081\n"
	        "  - address: 127.0.0.1:8082\n"
	        "  - address: 127.0.0.1:8083\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	        "t.yaml:1:10: \"workers\" (820) is too many for 4 listeners: each worker holds "
	        "5 memory pools (sessions, and one per listener) and a process at most 4096; "
	        "use at most 819 workers\n");
}

static void
config_accepts_the_most_workers_its_listeners_allow(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        "workers: 1024\n"
	        "listeners:\n"
	        "  - address: 127.0.0.1:8080\n"
	        "  - address: 127.0.0.1:8081\n"
	        "  - address: 127.0.0.1:8082\n"
	        "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n");

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	assert_int_equal(1024, sl_config_workers(r.c));
	assert_int_equal(1024, sl_config_workers_max(r.c));
	sl_test_config_fini(&r);
}

static void
config_workers_default_counts_the_cpus_of_this_process(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);
	cpu_set_t set;

	(void)state;
	assert_int_equal(0, sched_getaffinity(0, sizeof(set), &set));
	assert_int_equal(0, r.rc);
	assert_int_equal(CPU_COUNT(&set), sl_config_workers(r.c));
	sl_test_config_fini(&r);
}

/* Issue: 65536 backends passed the check, then the balancer refused them (16-bit indexes). */
static void
config_backend_bound_matches_the_balancers(void **state)
{
	(void)state;
	assert_int_equal(SL_LB_MAX_TARGETS, SL_CONFIG_BACKENDS_MAX);
	assert_int_equal(SL_LB_MAGLEV_MAX_SIZE, SL_CONFIG_MAGLEV_SIZE_MAX);
}

/* Issue: warm_pool size 4096 passed the check, then sl_warm_create() refused it at start. */
static void
config_warm_pool_bound_matches_the_warm_pools(void **state)
{
	(void)state;
	assert_int_equal(SL_WARM_MAX_SIZE, SL_CONFIG_WARM_SIZE_MAX);
	assert_errors(MINIMAL "    warm_pool: { size: 1025 }\n",
	              "t.yaml:7:24: \"size\" must be at most 1024, got 1025\n");
}

/* "groups: [{ name: web, backends: [...n backends...] }]" with one listener; caller frees. */
static char *
yaml_with_backends(size_t n)
{
	size_t cap = 128 + n * 40, o = 0, i;
	char *y = malloc(cap);

	assert_non_null(y);
	o += (size_t)snprintf(y + o, cap - o,
	                      "listeners: [{ address: 127.0.0.1:8080 }]\n"
	                      "groups:\n  - name: web\n    backends:\n");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(y + o, cap - o, "      - address: 127.%zu.%zu.%zu:9001\n",
		                      i >> 16, (i >> 8) & 255, i & 255);
	return y;
}

/* Issue: a group of more than 65535 backends passed the check, then failed at start. */
static void
config_reports_more_backends_than_a_balancer_indexes(void **state)
{
	char *y = yaml_with_backends(65536);

	(void)state;
	assert_errors(y, "t.yaml:5:7: a group may have at most 65535 backends, got 65536 (the "
	                 "balancers number backends with 16 bits)\n");
	free(y);
}

static void
config_accepts_65535_backends(void **state)
{
	char *y = yaml_with_backends(65535);
	struct sl_test_load r = sl_test_config_load(y);

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	assert_int_equal(65535, r.c->groups[0].nbackends);
	sl_test_config_fini(&r);
	free(y);
}

static void
config_reports_duplicate_backend_address_against_the_first(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - address: 127.0.0.1:9002\n"
	              "      - address: 127.0.0.1:9001\n"
	              "      - address: localhost:9002\n"
	              "      - address: 127.0.0.1:9002\n",
	              "t.yaml:7:18: duplicate backend address \"localhost:9002\" in group \"web\" "
	              "(first defined at t.yaml:5:18)\n"
	              "t.yaml:8:18: duplicate backend address \"127.0.0.1:9002\" in group \"web\" "
	              "(first defined at t.yaml:5:18)\n");
}

static void
config_reports_duplicate_backend_name_against_the_first_explicit_one(void **state)
{
	(void)state;
	/* the second backend's defaulted name clashes with the third's explicit one, reported at
	 * the explicit one; the fourth names the same as the third */
	assert_errors("listeners: [{ address: 127.0.0.1:8080 }]\n"
	              "groups:\n"
	              "  - name: web\n"
	              "    backends:\n"
	              "      - { address: 127.0.0.1:9001, name: a }\n"
	              "      - { address: 127.0.0.1:9002 }\n"
	              "      - { address: 127.0.0.1:9003, name: 127.0.0.1:9002 }\n"
	              "      - { address: 127.0.0.1:9004, name: 127.0.0.1:9002 }\n",
	              "t.yaml:7:42: duplicate backend name \"127.0.0.1:9002\" in group \"web\" "
	              "(first defined at t.yaml:6:9)\n"
	              "t.yaml:8:42: duplicate backend name \"127.0.0.1:9002\" in group \"web\" "
	              "(first defined at t.yaml:6:9)\n");
}

/*
 * Issue: YAML aliases let a 40 KB file use 254 MB in --check ("billion laughs"): 4000 aliases
 * of a group of 100 backends. The walk stops at the bound, with one error.
 */
static void
config_refuses_aliases_that_expand_past_the_bound(void **state)
{
	size_t cap = 100 * 48 + 4000 * 8 + 256, o = 0, i;
	char *y = malloc(cap);
	struct sl_test_load r;

	(void)state;
	assert_non_null(y);
	o += (size_t)snprintf(y + o, cap - o, "groups:\n  - &g\n    name: g\n    backends:\n");
	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(y + o, cap - o, "      - address: 127.0.0.%zu:9001\n", i);
	for (i = 0; i < 4000; i++)
		o += (size_t)snprintf(y + o, cap - o, "  - *g\n");
	snprintf(y + o, cap - o, "listeners: [{ address: 127.0.0.1:8080 }]\n");
	r = sl_test_config_load(y);
	assert_int_equal(-EINVAL, r.rc);
	assert_null(r.c);
	/* one line, at the node where the count passed the bound (inside the aliased group:
	 * libyaml keeps no mark of an alias); the walk stops there */
	assert_string_equal("t.yaml:91:18: YAML aliases expand the configuration past 100000 nodes "
	                    "(this node is reached again and again through an alias); write the "
	                    "repeated parts out\n",
	                    r.errs);
	sl_test_config_fini(&r);
	free(y);
}

/*
 * Issue: libyaml's scanner works in the flow depth for every token, so a text of nested
 * brackets took 17 s in --check at 200 KB and would take hours at 16 MiB. Refused before
 * libyaml reads it, at the bracket that went past the bound.
 */
static void
config_refuses_flow_nesting_past_the_bound(void **state)
{
	static const char head[] = MINIMAL "x: ";
	size_t n = 100000, o = sizeof(head) - 1;
	char *y = malloc(o + 2 * n + 2);

	(void)state;
	assert_non_null(y);
	memcpy(y, head, o);
	memset(y + o, '[', n);
	memset(y + o + n, ']', n);
	y[o + 2 * n] = '\n';
	y[o + 2 * n + 1] = '\0';
	/* line 7: 3 characters of "x: ", then 64 brackets; the 65th is column 68 */
	assert_errors(y, "t.yaml:7:68: lists and mappings in [ ] and { } nest deeper than 64 "
	                 "levels here\n");
	free(y);
}

/* What the depth scan does not count: brackets in comments and quoted scalars, closed ones. */
static void
config_flow_nesting_counts_only_open_brackets_outside_quotes_and_comments(void **state)
{
	char y[4096];
	char deep[65 * 2 + 1];
	int o;

	(void)state;
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	/* 65 open brackets in a comment and in each kind of quoted scalar (after their escaped
	 * quotes), and 70 lines of closed ones: each gets past the scan to the schema's errors */
	o = snprintf(y, sizeof(y),
	             MINIMAL "# %.65s\n"
	                     "a: \"x\\\" %.65s\"\n"
	                     "b: 'it''s %.65s'\n"
	                     "c: [[[], []], {}, [[[]]]] %s\n",
	             deep, deep, deep, "# ]]]]");
	assert_true(o > 0 && (size_t)o < sizeof(y));
	for (int i = 0; i < 70; i++)
		strcat(y, "d: [x]\n");
	{
		struct sl_test_load r = sl_test_config_load(y);

		assert_int_equal(-EINVAL, r.rc);
		assert_null(strstr(r.errs, "nest deeper"));
		assert_non_null(strstr(r.errs, "t.yaml:8:1: unknown key \"a\" at the top level"));
		assert_non_null(strstr(r.errs, "t.yaml:10:1: unknown key \"c\" at the top level"));
		sl_test_config_fini(&r);
	}
	/* 64 deep is allowed: libyaml reads it, and the schema says what it thinks */
	snprintf(y, sizeof(y), MINIMAL "x: %.64s%.64s\n", deep, deep + 65);
	{
		struct sl_test_load r = sl_test_config_load(y);

		assert_null(strstr(r.errs, "nest deeper"));
		assert_non_null(strstr(r.errs, "t.yaml:7:1: unknown key \"x\" at the top level"));
		sl_test_config_fini(&r);
	}
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* MINIMAL, then "x:" and a line of <n> "- " and "1": <n> lists nested by indentation. */
static char *
block_nesting(size_t n)
{
	static const char head[] = MINIMAL "x:\n  ";
	size_t o = sizeof(head) - 1;
	char *y = malloc(o + 2 * n + 3);

	assert_non_null(y);
	memcpy(y, head, o);
	for (size_t i = 0; i < n; i++)
		memcpy(y + o + 2 * i, "- ", 2);
	memcpy(y + o + 2 * n, "1\n", 3);
	return y;
}

/*
 * Issue: a 16 MiB text of "- - - ..." took 11 s and 2.5 GB in --check, libyaml composing 8
 * million nested lists. Refused on the parser's events, at the list past 64 levels below the
 * top mapping; 64 pass on to the schema.
 */
static void
config_refuses_block_nesting_past_64_levels(void **state)
{
	char *y = block_nesting(100000);

	(void)state;
	/* line 8: "  ", then 64 "- "; the 65th is column 131 */
	assert_errors(y, "t.yaml:8:131: lists and mappings nest deeper than 64 levels here\n");
	free(y);
	y = block_nesting(64);
	{
		struct sl_test_load r = sl_test_config_load(y);

		assert_int_equal(-EINVAL, r.rc);
		assert_non_null(strstr(r.errs, "t.yaml:7:1: unknown key \"x\" at the top level"));
		assert_int_equal(1, count_lines(r.errs));
		sl_test_config_fini(&r);
	}
	free(y);
}

static void
config_nesting_counts_indentation_and_brackets_together(void **state)
{
	(void)state;
	/* 60 lists by indentation, then 5 in brackets: the 5th bracket is the 65th level */
	char *y = block_nesting(60);
	char *z = realloc(y, strlen(y) + 16);

	assert_non_null(z);
	strcpy(z + strlen(z) - 2, "[[[[[1]]]]]\n");
	assert_errors(z, "t.yaml:8:127: lists and mappings nest deeper than 64 levels here\n");
	free(z);
}

/* MINIMAL (16 nodes), then "x: [1,1,...]": 2 nodes and <n> items. */
static char *
flat_list(size_t n)
{
	static const char head[] = MINIMAL "x: [";
	size_t o = sizeof(head) - 1;
	char *y = malloc(o + 2 * n + 2);

	assert_non_null(y);
	memcpy(y, head, o);
	for (size_t i = 0; i < n; i++)
		memcpy(y + o + 2 * i, "1,", 2);
	memcpy(y + o + 2 * n - 1, "]\n", 3);
	return y;
}

/*
 * Issue: 16 MiB of "[1,1,...]" took 6.5 s and 1.3 GB, libyaml composing 8 million nodes.
 * Refused on the parser's events at the node past SL_CONFIG_NODES_MAX; a text of exactly that
 * many passes on to the schema.
 */
static void
config_refuses_a_text_past_the_node_bound_at_that_node(void **state)
{
	size_t items = SL_CONFIG_NODES_MAX - 18;
	char *y = flat_list(items + 1);
	char want[160];

	(void)state;
	/* line 7: "x: [" then "1," per item; the last item is node SL_CONFIG_NODES_MAX + 1 */
	snprintf(want, sizeof(want),
	         "t.yaml:7:%zu: the configuration passes %u YAML nodes (values, lists and "
	         "mappings) here, the most a file may have\n",
	         5 + 2 * items, SL_CONFIG_NODES_MAX);
	assert_errors(y, want);
	free(y);
	y = flat_list(items);
	{
		struct sl_test_load r = sl_test_config_load(y);

		assert_int_equal(-EINVAL, r.rc);
		assert_non_null(strstr(r.errs, "t.yaml:7:1: unknown key \"x\" at the top level"));
		assert_int_equal(1, count_lines(r.errs));
		sl_test_config_fini(&r);
	}
	free(y);
}

/* The nodes of a second document count too: it would be composed, if only to be refused. */
static void
config_counts_the_nodes_of_a_second_document(void **state)
{
	size_t n = SL_CONFIG_NODES_MAX, o = sizeof(MINIMAL "---\n[") - 1;
	char *y = malloc(o + 2 * n + 2);

	(void)state;
	assert_non_null(y);
	memcpy(y, MINIMAL "---\n[", o);
	for (size_t i = 0; i < n; i++)
		memcpy(y + o + 2 * i, "1,", 2);
	memcpy(y + o + 2 * n - 1, "]\n", 3);
	/* 16 nodes in the first document; in the second, the list is node 17 and its item
	 * SL_CONFIG_NODES_MAX - 16 (line 8, column 2 + 2 * (SL_CONFIG_NODES_MAX - 17)) the first
	 * past the bound */
	{
		struct sl_test_load r = sl_test_config_load(y);
		char want[160];

		snprintf(want, sizeof(want),
		         "t.yaml:8:%zu: the configuration passes %u YAML nodes (values, lists and "
		         "mappings) here, the most a file may have\n",
		         2 + 2 * ((size_t)SL_CONFIG_NODES_MAX - 17), SL_CONFIG_NODES_MAX);
		assert_int_equal(-EINVAL, r.rc);
		assert_string_equal(want, r.errs);
		sl_test_config_fini(&r);
	}
	free(y);
}

static void
config_accepts_aliases_within_the_bound(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load("listeners: [{ address: 127.0.0.1:8080, group: a }]\n"
	                            "groups:\n"
	                            "  - name: a\n"
	                            "    health: &h { interval: 3s, rise: 4 }\n"
	                            "    backends: &b [{ address: 127.0.0.1:9001 }]\n"
	                            "  - name: b\n"
	                            "    health: *h\n"
	                            "    backends: *b\n");

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	assert_int_equal(3000, r.c->groups[1].health.interval_ms);
	assert_int_equal(4, r.c->groups[1].health.rise);
	assert_int_equal(1, r.c->groups[1].nbackends);
	sl_test_config_fini(&r);
}

/* Issue: buffer_size: 1024m passed and reserved 512 GiB of address space at start. */
static void
config_reports_buffer_size_over_1_mib(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080, buffer_size: 1025k }]\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:53: \"buffer_size\" must be between 1024 bytes and 1048576 bytes, "
	              "got 1025k\n");
}

static void
config_reports_backlog_over_65535(void **state)
{
	(void)state;
	assert_errors("listeners: [{ address: 127.0.0.1:8080, backlog: 65536 }]\n"
	              "groups: [{ name: web, backends: [{ address: 127.0.0.1:9001 }] }]\n",
	              "t.yaml:1:49: \"backlog\" must be between 1 and 65535, got 65536\n");
}

static void
config_reports_health_send_longer_than_4096_bytes(void **state)
{
	char yaml[5000 + sizeof(MINIMAL)], send[4098];

	(void)state;
	memset(send, 'x', 4097);
	send[4097] = '\0';
	snprintf(yaml, sizeof(yaml),
	         MINIMAL "    health: { type: send_expect, expect: ok, send: %s }\n", send);
	assert_errors(yaml, "t.yaml:7:52: \"send\" is too long (at most 4096 bytes, got 4097)\n");
}

static void
config_reports_passive_failures_over_1000(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    passive: { failures: 1001 }\n",
	              "t.yaml:7:26: \"failures\" must be at most 1000, got 1001\n");
}

static void
config_reports_maglev_table_size_over_the_largest_prime(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    maglev_table_size: 16777214\n",
	              "t.yaml:7:24: \"maglev_table_size\" must be between 3 and 16777213, got "
	              "16777214\n");
}

static void
config_forward_mode_names_parse_back_to_their_mode(void **state)
{
	enum sl_fwd_mode m;

	(void)state;
	for (int i = 0; i < SL_FWD_MODES; i++) {
		assert_int_equal(0, sl_fwd_mode_parse(sl_fwd_mode_names[i], &m));
		assert_int_equal(i, m);
	}
	assert_int_equal(-EINVAL, sl_fwd_mode_parse("zerocopy", &m));
}

#define LISTENER_WITH(extra)                                                                       \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n" extra "groups:\n"                                          \
	"  - name: web\n"                                                                          \
	"    backends:\n"                                                                          \
	"      - address: 127.0.0.1:9001\n"

static void
config_acl_longest_prefix_decides(void **state)
{
	struct sl_test_load r =
	        sl_test_config_load(LISTENER_WITH("    allow: [10.0.0.0/8, \"2001:db8::/32\"]\n"
	                                          "    deny: [10.1.0.0/16]\n"));
	const struct sl_config_listener *l;

	(void)state;
	assert_int_equal(0, r.rc);
	l = &r.c->listeners[0];
	assert_non_null(l->acl);
	assert_false(l->acl_allows_unmatched);
	assert_int_equal(1, sl_lpm_lookup4(l->acl, 0x0a020304)); /* 10.2.3.4: allowed */
	assert_int_equal(0, sl_lpm_lookup4(l->acl, 0x0a010203)); /* 10.1.2.3: denied */
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(l->acl, 0x0b000001));
	sl_test_config_fini(&r);
}

static void
config_acl_reports_bad_prefix_at_its_item(void **state)
{
	(void)state;
	assert_errors(
	        LISTENER_WITH("    deny: [10.0.0.0/8, 10.0.0.1/8]\n"),
	        "t.yaml:3:24: bad prefix \"10.0.0.1/8\" in \"deny\": host bits set beyond the "
	        "prefix length\n");
}

static void
config_acl_reports_a_prefix_listed_twice(void **state)
{
	(void)state;
	assert_errors(LISTENER_WITH("    allow: [10.0.0.0/8]\n"
	                            "    deny: [10.0.0.0/8]\n"),
	              "t.yaml:4:12: prefix 10.0.0.0/8 is listed twice: in \"allow\" at line 3, "
	              "and here in \"deny\"\n");
	assert_errors(LISTENER_WITH("    deny: [10.0.0.0/8, 10.0.0.0/8]\n"),
	              "t.yaml:3:24: prefix 10.0.0.0/8 is listed twice: in \"deny\" at line 3, and "
	              "here in \"deny\"\n");
	/* the first one twice in the file's order, however written; the lists it is not in
	 * are not named */
	assert_errors(LISTENER_WITH("    allow: [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12,\n"
	                            "            \"::ffff:192.168.0.0/112\"]\n"
	                            "    deny: [1.0.0.0/8, 10.0.0.0/8]\n"),
	              "t.yaml:4:13: prefix 192.168.0.0/16 is listed twice: in \"allow\" at line "
	              "3, and here in \"allow\"\n");
}

/* an allow list that lets no client of the listener in is a mistake, told as one */
static void
config_acl_reports_an_allow_list_that_lets_no_client_in(void **state)
{
	struct sl_test_load t;

	(void)state;
	assert_errors(LISTENER_WITH("    allow: []\n"),
	              "t.yaml:3:12: \"allow\" is empty: the listener would refuse every client (to "
	              "refuse them all on purpose: deny: [0.0.0.0/0, \"::/0\"])\n");
	assert_errors(LISTENER_WITH("    allow: [\"::/0\"]\n"),
	              "t.yaml:3:12: \"allow\" has no IPv4 prefix: this IPv4 listener would refuse "
	              "every client\n");
	/* an IPv6 listener's list of IPv4-mapped prefixes: IPv4 ones, and the message says so */
	assert_errors("listeners:\n"
	              "  - address: \"[::1]:8080\"\n"
	              "    allow: [\"::ffff:0:0/96\"]\n"
	              "groups: [{ name: web, backends: [{ address: \"[::1]:9001\" }] }]\n",
	              "t.yaml:3:12: \"allow\" has no IPv6 prefix (one written ::ffff:a.b.c.d/n is "
	              "an IPv4 prefix): this IPv6 listener would refuse every client\n");
	/* with PROXY headers the clients' addresses are the headers', of either family */
	t = sl_test_config_load(LISTENER_WITH("    allow: [\"::/0\"]\n"
	                                      "    proxy_protocol: { version: v2, trusted: "
	                                      "[127.0.0.1/32] }\n"));
	assert_int_equal(0, t.rc);
	sl_test_config_fini(&t);
}

static void
config_proxy_protocol_needs_trusted_sources(void **state)
{
	(void)state;
	assert_errors(LISTENER_WITH("    proxy_protocol: { version: v2 }\n"),
	              "t.yaml:3:21: proxy_protocol needs \"trusted\": the sources allowed to send "
	              "the header, such as [127.0.0.1/32, 10.0.0.0/8]\n");
	/* a list that trusts no client of the listener would refuse them all */
	assert_errors(LISTENER_WITH("    proxy_protocol: { trusted: [] }\n"),
	              "t.yaml:3:32: \"trusted\" is empty: the listener would refuse every client "
	              "(to take no PROXY header: version: off)\n");
	assert_errors(LISTENER_WITH("    proxy_protocol: { trusted: [\"::1\"] }\n"),
	              "t.yaml:3:32: \"trusted\" has no IPv4 prefix: this IPv4 listener would "
	              "refuse every client\n");
}

static void
config_proxy_protocol_defaults(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        LISTENER_WITH("    proxy_protocol: { trusted: [127.0.0.1] }\n"));
	const struct sl_config_proxy_in *pi;

	(void)state;
	assert_int_equal(0, r.rc);
	pi = &r.c->listeners[0].proxy_in;
	assert_int_equal(SL_CONFIG_PP_V1 | SL_CONFIG_PP_V2, pi->versions);
	assert_int_equal(3000, pi->timeout_ms);
	assert_int_equal(536, pi->max_size);
	assert_int_equal(1, sl_lpm_lookup4(pi->trusted, 0x7f000001));
	assert_int_equal(SL_LPM_NONE, sl_lpm_lookup4(pi->trusted, 0x7f000002));
	assert_int_equal(0, r.c->groups[0].send_proxy);
	sl_test_config_fini(&r);
}

static void
config_send_proxy_takes_v1_v2_or_off(void **state)
{
	(void)state;
	assert_errors(MINIMAL "    send_proxy: v3\n",
	              "t.yaml:7:17: expected one of off, v1, v2 for \"send_proxy\", got \"v3\"; "
	              "did you mean \"v1\"?\n");
}

#define BW_LISTENER(bw)                                                                            \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"    bandwidth: " bw "\n"                                                                  \
	"groups:\n"                                                                                \
	"  - name: web\n"                                                                          \
	"    backends: [{ address: 127.0.0.1:9001 }]\n"

static void
config_bandwidth_is_unlimited_unless_given(void **state)
{
	struct sl_test_load r = sl_test_config_load(MINIMAL);
	const struct sl_config_listener *l;

	(void)state;
	assert_int_equal(0, r.rc);
	l = &r.c->listeners[0];
	assert_int_equal(0, l->bandwidth.limited);
	for (unsigned d = 0; d < 2; d++) {
		assert_int_equal(0, l->bandwidth.session[d].rate);
		assert_int_equal(0, l->bandwidth.source[d].rate);
	}
	assert_false(sl_config_bandwidth_per_source(l));
	sl_test_config_fini(&r);
}

static void
config_bandwidth_takes_sizes_per_direction_and_a_burst(void **state)
{
	struct sl_test_load r = sl_test_config_load(
	        BW_LISTENER("{ session: { upload: 64k, download: 1m, burst: 32k }, "
	                    "source: { download: 2048m } }"));
	const struct sl_config_bandwidth *bw;

	(void)state;
	assert_string_equal("", r.errs);
	assert_int_equal(0, r.rc);
	bw = &r.c->listeners[0].bandwidth;
	assert_int_equal(65536, bw->session[0].rate);
	assert_int_equal(32768, bw->session[0].burst);
	assert_int_equal(1048576, bw->session[1].rate);
	assert_int_equal(32768, bw->session[1].burst);
	assert_int_equal(0, bw->source[0].rate);
	assert_int_equal(1u << 31, bw->source[1].rate);
	/* no burst given: a tenth of a second of the rate */
	assert_int_equal((1u << 31) / 10, bw->source[1].burst);
	assert_int_equal(3, bw->limited);
	assert_true(sl_config_bandwidth_per_source(&r.c->listeners[0]));
	sl_test_config_fini(&r);
}

static void
config_bandwidth_default_burst_is_at_least_16k(void **state)
{
	struct sl_test_load r = sl_test_config_load(BW_LISTENER("{ session: { download: 4096 } }"));
	const struct sl_config_bandwidth *bw;

	(void)state;
	assert_int_equal(0, r.rc);
	bw = &r.c->listeners[0].bandwidth;
	assert_int_equal(4096, bw->session[1].rate);
	assert_int_equal(16384, bw->session[1].burst);
	/* only download is limited */
	assert_int_equal(2, bw->limited);
	assert_false(sl_config_bandwidth_per_source(&r.c->listeners[0]));
	sl_test_config_fini(&r);
}

static void
config_bandwidth_refuses_rates_out_of_range_and_empty_limits(void **state)
{
	(void)state;
	assert_errors(BW_LISTENER("{ session: { upload: 1023 } }"),
	              "t.yaml:3:37: \"upload\" must be between 1024 bytes and 2147483648 bytes, "
	              "got 1023\n");
	assert_errors(BW_LISTENER("{ source: { download: 1k, burst: 1025m } }"),
	              "t.yaml:3:49: \"burst\" must be between 1024 bytes and 1073741824 bytes, "
	              "got 1025m\n");
	assert_errors(BW_LISTENER("{ session: { burst: 64k } }"),
	              "t.yaml:3:27: bandwidth.session needs \"upload\" or \"download\"\n");
	assert_errors(BW_LISTENER("{}"),
	              "t.yaml:3:16: bandwidth needs \"session\" or \"source\"\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(config_minimal_applies_defaults),
	        cmocka_unit_test(config_xdp_is_off_unless_given_and_takes_its_keys),
	        cmocka_unit_test(config_xdp_reports_a_missing_or_bad_interface_and_mode),
	        cmocka_unit_test(config_listener_keeps_its_allow_and_deny_prefixes_as_a_list),
	        cmocka_unit_test(config_defaults_fill_every_documented_value),
	        cmocka_unit_test(config_example_file_loads_every_field),
	        cmocka_unit_test(config_accepts_quoted_ipv6_address),
	        cmocka_unit_test(config_reports_unknown_key_with_suggestion),
	        cmocka_unit_test(config_bandwidth_is_unlimited_unless_given),
	        cmocka_unit_test(config_bandwidth_takes_sizes_per_direction_and_a_burst),
	        cmocka_unit_test(config_bandwidth_default_burst_is_at_least_16k),
	        cmocka_unit_test(config_bandwidth_refuses_rates_out_of_range_and_empty_limits),
	        cmocka_unit_test(config_names_where_a_misplaced_key_belongs),
	        cmocka_unit_test(config_reports_unknown_key_without_suggestion_when_far),
	        cmocka_unit_test(config_admin_is_off_unless_an_address_is_given),
	        cmocka_unit_test(config_admin_address_is_parsed),
	        cmocka_unit_test(config_admin_reports_bad_address_and_unknown_key),
	        cmocka_unit_test(config_alerts_take_rules_and_webhooks_with_defaults),
	        cmocka_unit_test(config_alerts_report_bad_rules),
	        cmocka_unit_test(config_alerts_refuse_a_webhook_url_without_a_host),
	        cmocka_unit_test(config_alerts_refuse_a_webhook_url_with_a_port_outside_1_to_65535),
	        cmocka_unit_test(
	                config_alerts_refuse_a_webhook_url_whose_host_is_neither_a_name_nor_an_address),
	        cmocka_unit_test(
	                config_alerts_take_webhook_urls_with_a_name_an_address_a_port_or_a_user),
	        cmocka_unit_test(config_reports_non_integer),
	        cmocka_unit_test(config_reports_non_mapping),
	        cmocka_unit_test(config_reports_non_list),
	        cmocka_unit_test(config_reports_bare_address_items_with_how_to_write_them),
	        cmocka_unit_test(config_reports_non_boolean),
	        cmocka_unit_test(config_group_source_is_an_ip_of_its_backends_family),
	        cmocka_unit_test(config_reports_bad_port_with_the_address_parser_reason),
	        cmocka_unit_test(config_hints_at_quotes_for_unquoted_ipv6),
	        cmocka_unit_test(config_reports_zero_weight),
	        cmocka_unit_test(config_access_log_is_off_by_default),
	        cmocka_unit_test(config_access_log_takes_path_and_ring_size),
	        cmocka_unit_test(config_access_log_takes_a_dash_for_stdout),
	        cmocka_unit_test(config_control_is_off_by_default_with_mode_0600),
	        cmocka_unit_test(config_control_takes_path_and_octal_mode),
	        cmocka_unit_test(config_control_refuses_a_bad_mode_and_a_missing_path),
	        cmocka_unit_test(config_control_refuses_a_path_too_long_for_a_socket),
	        cmocka_unit_test(config_access_log_requires_a_path),
	        cmocka_unit_test(config_access_log_refuses_an_empty_path),
	        cmocka_unit_test(config_access_log_refuses_ring_size_out_of_range),
	        cmocka_unit_test(config_reports_zero_backlog),
	        cmocka_unit_test(config_reports_zero_rise_and_fall),
	        cmocka_unit_test(config_reports_more_retries_than_a_session_can_make),
	        cmocka_unit_test(config_queue_is_off_by_default_with_a_five_second_wait),
	        cmocka_unit_test(config_reads_max_queue_and_the_queue_timeout),
	        cmocka_unit_test(config_cut_closes_by_default),
	        cmocka_unit_test(config_reads_cut_reset_under_timeouts),
	        cmocka_unit_test(config_reports_a_cut_that_is_neither_close_nor_reset),
	        cmocka_unit_test(config_reports_a_boolean_cut),
	        cmocka_unit_test(config_a_ban_alone_turns_source_limits_on_with_its_defaults),
	        cmocka_unit_test(config_reads_a_ban),
	        cmocka_unit_test(config_no_ban_by_default),
	        cmocka_unit_test(config_reports_bad_ban_values),
	        cmocka_unit_test(config_reports_max_queue_over_the_bound),
	        cmocka_unit_test(config_forward_mode_names_parse_back_to_their_mode),
	        cmocka_unit_test(config_reports_maglev_table_size_not_prime),
	        cmocka_unit_test(config_takes_max_backends_and_leaves_the_default_to_the_proxy),
	        cmocka_unit_test(config_reports_max_backends_below_the_backends),
	        cmocka_unit_test(config_reports_max_backends_not_below_the_maglev_table),
	        cmocka_unit_test(config_reports_bad_duration),
	        cmocka_unit_test(config_duration_parse_takes_each_unit_and_nothing_else),
	        cmocka_unit_test(config_reports_duration_too_long),
	        cmocka_unit_test(config_reports_size_out_of_range),
	        cmocka_unit_test(config_reports_duplicate_group_name),
	        cmocka_unit_test(config_reports_empty_and_slashed_names),
	        cmocka_unit_test(config_reports_duplicate_listener_address),
	        cmocka_unit_test(config_reports_listener_addresses_that_share_a_port),
	        cmocka_unit_test(config_refuses_ipv4_mapped_addresses_naming_the_ipv4_form),
	        cmocka_unit_test(config_refuses_a_file_name_with_a_control_character),
	        cmocka_unit_test(config_refuses_a_multicast_broadcast_or_link_local_source),
	        cmocka_unit_test(config_refuses_a_backend_that_is_one_of_the_listeners),
	        cmocka_unit_test(config_reports_a_backend_on_the_admin_endpoint),
	        cmocka_unit_test(config_reports_an_admin_address_on_a_listeners_port),
	        cmocka_unit_test(config_reports_a_file_named_for_two_uses),
	        cmocka_unit_test(config_reports_a_file_named_two_ways_for_two_uses),
	        cmocka_unit_test(config_reports_duplicate_listener_name),
	        cmocka_unit_test(config_reports_unknown_group_reference),
	        cmocka_unit_test(config_reports_missing_address),
	        cmocka_unit_test(config_reports_group_without_backends),
	        cmocka_unit_test(config_requires_a_listener),
	        cmocka_unit_test(config_reports_empty_text_as_missing_listener_and_group),
	        cmocka_unit_test(config_reports_send_expect_without_send_and_expect),
	        cmocka_unit_test(config_reports_send_without_send_expect_type),
	        cmocka_unit_test(config_reports_health_timeout_longer_than_interval),
	        cmocka_unit_test(config_health_timeout_defaults_to_a_shorter_interval),
	        cmocka_unit_test(config_reports_duplicate_key),
	        cmocka_unit_test(config_reports_unknown_balance),
	        cmocka_unit_test(config_reports_every_error_in_file_order),
	        cmocka_unit_test(config_reports_yaml_syntax_error_location),
	        cmocka_unit_test(config_reports_tab_indentation),
	        cmocka_unit_test(config_refuses_a_second_document),
	        cmocka_unit_test(config_parses_sizes_in_bytes_kib_and_mib),
	        cmocka_unit_test(config_parses_durations_in_every_unit),
	        cmocka_unit_test(config_refuses_malformed_sizes),
	        cmocka_unit_test(config_prints_nothing_when_errs_is_null),
	        cmocka_unit_test(config_load_file_reports_missing_file),
	        cmocka_unit_test(config_load_file_refuses_non_regular_file),
	        cmocka_unit_test(config_load_file_refuses_files_over_16_mib),
	        cmocka_unit_test(config_load_file_names_the_file_in_errors),
	        cmocka_unit_test(config_stops_after_too_many_errors),
	        cmocka_unit_test(config_returns_enomem_for_every_failed_allocation),
	        cmocka_unit_test(config_acl_longest_prefix_decides),
	        cmocka_unit_test(config_acl_reports_bad_prefix_at_its_item),
	        cmocka_unit_test(config_acl_reports_a_prefix_listed_twice),
	        cmocka_unit_test(config_acl_reports_an_allow_list_that_lets_no_client_in),
	        cmocka_unit_test(config_proxy_protocol_needs_trusted_sources),
	        cmocka_unit_test(config_proxy_protocol_defaults),
	        cmocka_unit_test(config_send_proxy_takes_v1_v2_or_off),
	        cmocka_unit_test(config_reports_workers_that_need_more_pools_than_a_process_holds),
	        cmocka_unit_test(config_accepts_the_most_workers_its_listeners_allow),
	        cmocka_unit_test(config_workers_default_counts_the_cpus_of_this_process),
	        cmocka_unit_test(config_backend_bound_matches_the_balancers),
	        cmocka_unit_test(config_warm_pool_bound_matches_the_warm_pools),
	        cmocka_unit_test(config_reports_more_backends_than_a_balancer_indexes),
	        cmocka_unit_test(config_accepts_65535_backends),
	        cmocka_unit_test(config_reports_duplicate_backend_address_against_the_first),
	        cmocka_unit_test(
	                config_reports_duplicate_backend_name_against_the_first_explicit_one),
	        cmocka_unit_test(config_refuses_aliases_that_expand_past_the_bound),
	        cmocka_unit_test(config_refuses_flow_nesting_past_the_bound),
	        cmocka_unit_test(
	                config_flow_nesting_counts_only_open_brackets_outside_quotes_and_comments),
	        cmocka_unit_test(config_refuses_block_nesting_past_64_levels),
	        cmocka_unit_test(config_nesting_counts_indentation_and_brackets_together),
	        cmocka_unit_test(config_refuses_a_text_past_the_node_bound_at_that_node),
	        cmocka_unit_test(config_counts_the_nodes_of_a_second_document),
	        cmocka_unit_test(config_accepts_aliases_within_the_bound),
	        cmocka_unit_test(config_reports_buffer_size_over_1_mib),
	        cmocka_unit_test(config_reports_backlog_over_65535),
	        cmocka_unit_test(config_reports_health_send_longer_than_4096_bytes),
	        cmocka_unit_test(config_reports_passive_failures_over_1000),
	        cmocka_unit_test(config_reports_maglev_table_size_over_the_largest_prime),
	        cmocka_unit_test(config_refuses_yaml_tags_but_str),
	        cmocka_unit_test(config_checks_values_a_reload_may_use_later),
	        cmocka_unit_test(config_positions_count_characters_and_every_line_break),
	        cmocka_unit_test(config_cross_key_errors_point_at_the_key_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
