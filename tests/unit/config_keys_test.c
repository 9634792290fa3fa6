// SPDX-License-Identifier: MIT
/*
 * The configuration key table (src/config/config_keys.h): its shape (each section's keys
 * together, field sizes that match what the loader stores), and the reload compare it drives:
 * every typed key, in every mapping a full file has, changed alone, is refused by
 * sl_config_needs_restart() naming it exactly when the table says it needs a restart.
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/config.h>

#include "config/config_keys.h"
#include "sl_test_config.h"

/* Every mapping of the schema, one list item each, so every typed key has a field to change. */
static const char full_file[] = "workers: 2\n"
                                "log: {level: info}\n"
                                "admin: {address: 127.0.0.1:9090}\n"
                                "access_log: {path: /tmp/a.log}\n"
                                "control: {path: /tmp/c.sock}\n"
                                "profiling: {perf: false}\n"
                                "xdp: {interface: lo}\n"
                                "alerts:\n"
                                "  webhooks: [{url: \"http://127.0.0.1:1/\"}]\n"
                                "  rules: [{name: r, metric: rss, above: 1}]\n"
                                "listeners:\n"
                                "  - address: 127.0.0.1:8080\n"
                                "    timeouts: {min_rate: {bytes: 100}}\n"
                                "    proxy_protocol: {trusted: [127.0.0.1/32]}\n"
                                "    rate: {per_second: 100, burst: 200}\n"
                                "    source_limits:\n"
                                "      max_connections: 5\n"
                                "      rate: 10\n"
                                "      ban: {strikes: 3}\n"
                                "    bandwidth:\n"
                                "      session: {upload: 64k, download: 1m}\n"
                                "      source: {upload: 128k, download: 2m, burst: 64k}\n"
                                "    allow: [127.0.0.0/8]\n"
                                "    deny: [127.0.0.9/32]\n"
                                "groups:\n"
                                "  - name: web\n"
                                "    health: {type: tcp}\n"
                                /* any: the type's probe (1 flipped) stays a type */
                                "    discover: {name: web.test, port: 80, type: any}\n"
                                "    backends:\n"
                                "      - address: 127.0.0.1:9001\n";

static void
the_keys_of_each_section_are_together(void **state)
{
	bool seen[SL__SECTIONS] = {false};
	size_t most = 0;

	(void)state;
	for (size_t i = 0; i < SL__KEYS; i++) {
		enum sl__config_section s = sl__config_keys[i].section;

		if (i > 0 && sl__config_keys[i - 1].section == s)
			continue;
		assert_false(seen[s]); /* a second run of the same section */
		seen[s] = true;
	}
	for (int s = 0; s < SL__SECTIONS; s++) {
		size_t first;
		size_t n = sl__config_section_keys((enum sl__config_section)s, &first);

		assert_true(seen[s]);
		assert_in_range(n, 1, SL__SECTION_KEYS_MAX);
		most = n > most ? n : most;
		assert_non_null(sl__config_section_names[s]);
	}
	/* the bound is the largest section's, not more */
	assert_int_equal(SL__SECTION_KEYS_MAX, most);
}

static void
each_typed_field_has_the_size_its_kind_stores(void **state)
{
	(void)state;
	for (size_t i = 0; i < SL__KEYS; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];

		switch (k->kind) {
		case SL__KIND_U32:
		case SL__KIND_MS:
		case SL__KIND_SIZE:
			/* a walker may keep a narrower field (discover.port) or a converted one
			 * (source_limits.ban.within, in ns) */
			assert_true(k->walker ? k->size <= sizeof(uint32_t) ||
			                                k->size == sizeof(uint64_t)
			                      : k->size == sizeof(uint32_t));
			break;
		case SL__KIND_BOOL:
			assert_int_equal(sizeof(bool), k->size);
			break;
		case SL__KIND_ENUM:
			assert_int_equal(sizeof(unsigned), k->size);
			assert_non_null(k->names);
			if (!k->walker)
				assert_true(k->def < k->nnames);
			break;
		case SL__KIND_NAME:
			assert_int_equal(SL_CONFIG_NAME_MAX, k->size);
			break;
		case SL__KIND_NUMBER:
			assert_int_equal(sizeof(double), k->size);
			break;
		default:
			break;
		}
	}
}

/* Changes the typed field of <k> at <at> to another value; false for kinds it cannot change. */
static bool
change(const struct sl__config_key *k, char *at)
{
	uint32_t u;
	uint64_t ns;
	unsigned e;
	double d;

	switch (k->kind) {
	case SL__KIND_U32:
	case SL__KIND_MS:
	case SL__KIND_SIZE:
		if (k->size == sizeof(ns)) { /* a duration kept in ns */
			memcpy(&ns, at, sizeof(ns));
			ns ^= 1;
			memcpy(at, &ns, sizeof(ns));
			return true;
		}
		if (k->size != sizeof(u))
			return false;
		memcpy(&u, at, sizeof(u));
		u ^= 1;
		memcpy(at, &u, sizeof(u));
		return true;
	case SL__KIND_BOOL:
		at[0] = !at[0];
		return true;
	case SL__KIND_ENUM:
		memcpy(&e, at, sizeof(e));
		e ^= 1;
		memcpy(at, &e, sizeof(e));
		return true;
	case SL__KIND_NAME:
		at[0] = at[0] == 'x' ? 'y' : 'x';
		at[1] = '\0';
		return true;
	case SL__KIND_NUMBER:
		memcpy(&d, at, sizeof(d));
		d += 1;
		memcpy(at, &d, sizeof(d));
		return true;
	default:
		return false;
	}
}

struct probe {
	const struct sl_config *a;
	struct sl_config *b;
	size_t changed, refused, reopened;
	bool in_listener; /* probing the first listener's keys */
};

/* Changes each typed key of section <sec> at <base> (in probe->b) alone, and checks the compare. */
static void
probe_section(struct probe *pr, enum sl__config_section sec, char *base)
{
	size_t first, n = sl__config_section_keys(sec, &first);

	for (size_t i = first; i < first + n; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		char saved[SL_CONFIG_NAME_MAX], why[256], rwhy[256], want[64], cwhy[1024];
		bool refused, reopen, changed;

		if (k->kind == SL__KIND_MAP) {
			probe_section(pr, k->child, base + k->offset);
			continue;
		}
		if (k->kind == SL__KIND_LIST) {
			char *items = *(char **)(void *)(base + k->offset);
			bool was = pr->in_listener;

			pr->in_listener = k->child == SL__SEC_LISTENER;
			if (*(size_t *)(void *)(base + k->count_offset) > 0)
				probe_section(pr, k->child, items);
			pr->in_listener = was;
			continue;
		}
		if (k->kind == SL__KIND_OTHER || k->kind == SL__KIND_ADDR)
			continue; /* compared by their own functions; the next tests cover a few */
		if (sec == SL__SEC_GROUP && strcmp(k->name, "name") == 0)
			continue; /* groups are matched by it: renamed is another group (below) */
		assert_true(k->size <= sizeof(saved));
		memcpy(saved, base + k->offset, k->size);
		if (!change(k, base + k->offset))
			continue;
		pr->changed++;
		why[0] = '\0';
		refused = sl_config_needs_restart(pr->a, pr->b, why, sizeof(why));
		reopen = sl_config_listener_needs_reopen(&pr->a->listeners[0], &pr->b->listeners[0],
		                                         rwhy, sizeof(rwhy));
		/* whatever its class, what a reload logs as changed names it */
		changed = sl_config_changes(pr->a, pr->b, cwhy, sizeof(cwhy));
		memcpy(base + k->offset, saved, k->size);
		snprintf(want, sizeof(want), "%s changed", k->name);
		if (sec == SL__SEC_BACKEND && strcmp(k->name, "name") == 0)
			/* backends are matched by name: another name is another backend */
			snprintf(want, sizeof(want), "was added");
		if (!changed || strstr(cwhy, want) == NULL)
			fail_msg("%s.%s: not named as changed: %s", sl__config_section_names[sec],
			         k->name, cwhy);
		if (reopen != (pr->in_listener && k->reload == SL__RELOAD_REOPEN))
			fail_msg("%s.%s: re-opens %d, the table says %s (%s)",
			         sl__config_section_names[sec], k->name, reopen,
			         k->reload == SL__RELOAD_REOPEN ? "reopen" : "not reopen", rwhy);
		pr->reopened += reopen;
		if (refused != (k->reload == SL__RELOAD_RESTART))
			fail_msg("%s.%s: refused %d, the table says %s (%s)",
			         sl__config_section_names[sec], k->name, refused,
			         k->reload == SL__RELOAD_RESTART ? "restart" : "not restart", why);
		if (refused) {
			pr->refused++;
			snprintf(want, sizeof(want), "%s changed", k->name);
			if (strstr(why, want) == NULL)
				fail_msg("%s.%s: the reason does not name it: %s",
				         sl__config_section_names[sec], k->name, why);
		}
	}
}

static void
every_typed_key_changed_alone_is_refused_exactly_when_it_needs_a_restart(void **state)
{
	struct sl_test_load a = sl_test_config_load(full_file);
	struct sl_test_load b = sl_test_config_load(full_file);
	struct probe pr;
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	pr = (struct probe){.a = a.c, .b = b.c};
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_false(sl_config_changes(a.c, b.c, why, sizeof(why))); /* one file, loaded twice */
	probe_section(&pr, SL__SEC_TOP, (char *)b.c);
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why))); /* all restored */
	/* a parse that reaches few keys would prove little */
	assert_in_range(pr.changed, 70, SL__KEYS);
	assert_in_range(pr.refused, 25, pr.changed - 20);
	assert_in_range(pr.reopened, 10, pr.changed - 20);
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

static void
a_listener_added_and_a_backend_added_are_not_refused(void **state)
{
	struct sl_test_load a = sl_test_config_load(full_file);
	struct sl_test_load b = sl_test_config_load(full_file);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	b.c->groups[0].nbackends = 0; /* as if the file's list changed: the reload applies it */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->groups[0].nbackends = 1;
	b.c->nlisteners = 0; /* the reload opens and closes listeners */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->nlisteners = a.c->nlisteners;
	b.c->ngroups = 0; /* a group left out retires: the proxy decides whether it may */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->ngroups = a.c->ngroups;
	a.c->ngroups = 0; /* a group added fills a free slot: the proxy decides whether it may */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	a.c->ngroups = b.c->ngroups;
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

static const char two_groups[] = "listeners:\n"
                                 "  - {name: a, address: 127.0.0.1:8001, group: one}\n"
                                 "  - {name: b, address: 127.0.0.1:8002, group: two}\n"
                                 "groups:\n"
                                 "  - name: one\n"
                                 "    backends: [{address: 127.0.0.1:1}]\n"
                                 "  - name: two\n"
                                 "    balance: least_conn\n"
                                 "    backends: [{address: 127.0.0.1:2}]\n";
static const char two_groups_swapped[] = "listeners:\n"
                                         "  - {name: a, address: 127.0.0.1:8001, group: one}\n"
                                         "  - {name: b, address: 127.0.0.1:8002, group: two}\n"
                                         "groups:\n"
                                         "  - name: two\n"
                                         "    balance: least_conn\n"
                                         "    backends: [{address: 127.0.0.1:2}]\n"
                                         "  - name: one\n"
                                         "    backends: [{address: 127.0.0.1:1}]\n";

static void
groups_are_matched_by_name_not_by_place(void **state)
{
	struct sl_test_load a = sl_test_config_load(two_groups);
	struct sl_test_load b = sl_test_config_load(two_groups_swapped);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->groups[0].max_backends = 7; /* group two, first in <b> */
	assert_true(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group two: max_backends changed", why);
	/* the same compare for one group, as the proxy makes it for a group it added */
	assert_true(
	        sl_config_group_needs_restart(&a.c->groups[1], &b.c->groups[0], why, sizeof(why)));
	assert_string_equal("group two: max_backends changed", why);
	assert_false(
	        sl_config_group_needs_restart(&a.c->groups[0], &b.c->groups[1], why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/* a refusal names every change that needs a restart, not only the first one found */
static void
every_restart_change_is_named(void **state)
{
	struct sl_test_load a = sl_test_config_load(two_groups);
	struct sl_test_load b = sl_test_config_load(two_groups);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	b.c->workers = a.c->workers + 3;
	b.c->groups[0].max_backends = 7;
	b.c->groups[1].max_backends = 9;
	assert_true(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_non_null(strstr(why, "workers changed"));
	assert_non_null(strstr(why, "group one: max_backends changed"));
	assert_non_null(strstr(why, "group two: max_backends changed"));
	/* a short buffer is cut, never overrun */
	assert_true(sl_config_needs_restart(a.c, b.c, why, 20));
	assert_in_range(strlen(why), 1, 19);
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/*
 * workers: 0 in a running file stands for the count it started, not for the CPUs the process
 * may use at the reload (taskset on a running process changes those)
 */
static void
workers_compare_with_the_count_that_runs(void **state)
{
	struct sl_test_load a = sl_test_config_load(two_groups);
	struct sl_test_load b = sl_test_config_load(two_groups);
	uint32_t cpus;
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	a.c->workers = 0;
	cpus = sl_config_workers(a.c);
	a.c->workers_started = cpus + 2; /* started when the process had more CPUs */
	assert_int_equal(cpus + 2, sl_config_workers(a.c));
	b.c->workers = 0; /* the file as it was: nothing to restart */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->workers = cpus + 2; /* the count that runs, now written out */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	b.c->workers = cpus; /* what 0 would start now, not what runs */
	assert_true(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_non_null(strstr(why, "workers changed"));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

static void
a_groups_balance_and_send_proxy_are_live(void **state)
{
	struct sl_test_load a = sl_test_config_load(two_groups);
	struct sl_test_load b = sl_test_config_load(two_groups_swapped);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	b.c->groups[0].balance = SL_LB_MAGLEV;
	b.c->groups[0].maglev_table_size = 1009;
	b.c->groups[0].send_proxy = SL_CONFIG_PP_V2;
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_false(
	        sl_config_group_needs_restart(&a.c->groups[1], &b.c->groups[0], why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

static void
a_changed_listener_is_named_with_its_key(void **state)
{
	struct sl_test_load a = sl_test_config_load(full_file);
	struct sl_test_load b = sl_test_config_load(full_file);
	char why[256];

	(void)state;
	b.c->listeners[0].proxy_in.max_size++;
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_true(sl_config_listener_needs_reopen(&a.c->listeners[0], &b.c->listeners[0], why,
	                                            sizeof(why)));
	assert_string_equal("proxy_protocol.max_size changed", why);
	b.c->listeners[0].proxy_in.max_size--;
	b.c->listeners[0].source.on = false;
	assert_true(sl_config_listener_needs_reopen(&a.c->listeners[0], &b.c->listeners[0], why,
	                                            sizeof(why)));
	assert_string_equal("source_limits changed", why);
	b.c->listeners[0].source.on = true;
	/* a ban needs a table built with strike state; its values are live */
	b.c->listeners[0].source.limits.ban.strikes = 0;
	assert_true(sl_config_listener_needs_reopen(&a.c->listeners[0], &b.c->listeners[0], why,
	                                            sizeof(why)));
	assert_string_equal("source_limits changed", why);
	b.c->listeners[0].source.limits.ban.strikes = 4;
	assert_false(sl_config_listener_needs_reopen(&a.c->listeners[0], &b.c->listeners[0], why,
	                                             sizeof(why)));
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("listener 127.0.0.1:8080: source_limits.ban.strikes changed", why);
	b.c->listeners[0].source.limits.ban.strikes = 3;
	b.c->listeners[0].timeouts.connect_ms++; /* live: the kept listener takes it */
	assert_false(sl_config_listener_needs_reopen(&a.c->listeners[0], &b.c->listeners[0], why,
	                                             sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/* A group added or removed is a change the reload applies, never a reason to restart. */
static void
groups_added_and_removed_are_changes(void **state)
{
	static const char one[] = "listeners:\n"
	                          "  - { address: 127.0.0.1:8080, group: web }\n"
	                          "groups:\n"
	                          "  - name: web\n"
	                          "    backends: [{ address: 127.0.0.1:9001 }]\n"
	                          "  - name: old\n"
	                          "    backends: [{ address: 127.0.0.1:9002 }]\n";
	static const char other[] = "listeners:\n"
	                            "  - { address: 127.0.0.1:8080, group: web }\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    backends: [{ address: 127.0.0.1:9001 }]\n"
	                            "  - name: api\n"
	                            "    backends: [{ address: 127.0.0.1:9002 }]\n";
	struct sl_test_load a = sl_test_config_load(one);
	struct sl_test_load b = sl_test_config_load(other);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group api was added, group old was removed", why);
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/* -0 is 0: a number written either way is the same value, no change at a reload */
static void
negative_zero_is_zero(void **state)
{
	static const char zero[] = "listeners:\n"
	                           "  - { address: 127.0.0.1:8080, group: web }\n"
	                           "groups:\n"
	                           "  - name: web\n"
	                           "    backends: [{ address: 127.0.0.1:9001 }]\n"
	                           "alerts: { rules: [{ name: r, metric: rss, above: 0 }] }\n";
	static const char minus[] = "listeners:\n"
	                            "  - { address: 127.0.0.1:8080, group: web }\n"
	                            "groups:\n"
	                            "  - name: web\n"
	                            "    backends: [{ address: 127.0.0.1:9001 }]\n"
	                            "alerts: { rules: [{ name: r, metric: rss, above: -0 }] }\n";
	struct sl_test_load a = sl_test_config_load(zero);
	struct sl_test_load b = sl_test_config_load(minus);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	assert_false(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/* A group's backends are matched by name, as the reload applies them: order is no change. */
static void
backends_are_matched_by_name_not_by_place(void **state)
{
	static const char two[] = "listeners:\n"
	                          "  - address: 127.0.0.1:8080\n"
	                          "groups:\n"
	                          "  - name: web\n"
	                          "    backends:\n"
	                          "      - { name: b1, address: 127.0.0.1:9001 }\n"
	                          "      - { name: b2, address: 127.0.0.1:9002 }\n";
	static const char swapped[] = "listeners:\n"
	                              "  - address: 127.0.0.1:8080\n"
	                              "groups:\n"
	                              "  - name: web\n"
	                              "    backends:\n"
	                              "      - { name: b2, address: 127.0.0.1:9002, weight: 3 }\n"
	                              "      - { name: b3, address: 127.0.0.1:9003 }\n";
	struct sl_test_load a = sl_test_config_load(two);
	struct sl_test_load b = sl_test_config_load(swapped);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group web: backend b2: weight changed, group web: backend b3 was "
	                    "added, group web: backend b1 was removed",
	                    why);
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/*
 * <n> backends of group web, 127.1.x.y:1000 for i in [first, first + n), in reverse order when
 * <reverse>: a file of many backends, for the compare of a large reload.
 */
static char *
many_backends(unsigned first, unsigned n, bool reverse)
{
	size_t size = 128 + (size_t)n * 48, len;
	char *text = malloc(size);

	assert_non_null(text);
	len = (size_t)snprintf(text, size,
	                       "listeners:\n  - address: 127.0.0.1:8080\ngroups:\n"
	                       "  - name: web\n    max_backends: 20000\n"
	                       "    backends:\n");
	for (unsigned k = 0; k < n; k++) {
		unsigned i = first + (reverse ? n - 1 - k : k);

		len += (size_t)snprintf(text + len, size - len,
		                        "      - address: 127.1.%u.%u:1000\n", i >> 8, i & 255);
	}
	return text;
}

/* Thousands of backends, the kept ones listed in the opposite order: each kept one is paired
 * with its own, the one added and the one removed are named. */
static void
a_large_reload_pairs_every_backend(void **state)
{
	char *one = many_backends(0, 5000, false), *other = many_backends(1, 5000, true);
	struct sl_test_load a = sl_test_config_load(one);
	struct sl_test_load b = sl_test_config_load(other);
	char why[256];

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group web: backend 127.1.19.136:1000 was added, "
	                    "group web: backend 127.1.0.0:1000 was removed",
	                    why);
	b.c->groups[0].backends[4999 - 2500].weight = 7; /* 127.1.9.197 */
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group web: backend 127.1.19.136:1000 was added, "
	                    "group web: backend 127.1.9.197:1000: weight changed, "
	                    "group web: backend 127.1.0.0:1000 was removed",
	                    why);
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
	free(one);
	free(other);
}

static void
keys_compared_by_their_own_functions_are_named_too(void **state)
{
	struct sl_test_load a = sl_test_config_load(full_file);
	struct sl_test_load b = sl_test_config_load(full_file);
	struct sl_config_group *g;
	char why[256], send[] = "PING";

	(void)state;
	assert_int_equal(0, a.rc);
	assert_int_equal(0, b.rc);
	g = &b.c->groups[0];
	g->health.send = send; /* not the snapshot's: put back before it is freed */
	g->health.send_len = 4;
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why))); /* live: a reload's */
	g->health.send = NULL;
	g->health.send_len = 0;
	g->discover.nresolvers = 1;
	assert_true(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_string_equal("group web: discover.resolvers changed", why);
	g->discover.nresolvers = 0;
	/* prefix lists, kept as written beside their lookup tables: live, and named */
	b.c->listeners[0].acl_rules[1].cidr.len = 31; /* deny: [127.0.0.9/31] */
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("listener 127.0.0.1:8080: deny changed", why);
	b.c->listeners[0].acl_rules[1].cidr.len = 32;
	b.c->listeners[0].acl_rules[1].allow = true; /* allow: [127.0.0.0/8, 127.0.0.9/32] */
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("listener 127.0.0.1:8080: allow changed, "
	                    "listener 127.0.0.1:8080: deny changed",
	                    why);
	b.c->listeners[0].acl_rules[1].allow = false;
	b.c->listeners[0].proxy_in.trusted_prefixes[0].addr[3] = 2;
	assert_false(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_true(sl_config_changes(a.c, b.c, why, sizeof(why)));
	assert_string_equal("listener 127.0.0.1:8080: proxy_protocol.trusted changed", why);
	b.c->listeners[0].proxy_in.trusted_prefixes[0].addr[3] = 1;
	assert_false(sl_config_changes(a.c, b.c, why, sizeof(why)));
	((struct sockaddr_in *)&b.c->admin.addr.ss)->sin_port ^= 1;
	assert_true(sl_config_needs_restart(a.c, b.c, why, sizeof(why)));
	assert_string_equal("admin.address changed", why);
	sl_test_config_fini(&a);
	sl_test_config_fini(&b);
}

/* The file with each optional section taken out, as a reload of it would be compared. */
static const char bare_file[] = "workers: 2\n"
                                "listeners:\n"
                                "  - address: 127.0.0.1:8080\n"
                                "groups:\n"
                                "  - name: web\n"
                                "    backends:\n"
                                "      - address: 127.0.0.1:9001\n";

static void
an_optional_section_added_or_removed_is_named_so(void **state)
{
	static const char *const sections[] = {"admin",  "access_log", "control",
	                                       "alerts", "xdp",        "group web: discover"};
	struct sl_test_load full = sl_test_config_load(full_file);
	struct sl_test_load bare = sl_test_config_load(bare_file);
	char why[2048], want[64];

	(void)state;
	assert_int_equal(0, full.rc);
	assert_int_equal(0, bare.rc);
	assert_true(sl_config_needs_restart(full.c, bare.c, why, sizeof(why)));
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		snprintf(want, sizeof(want), "%s removed", sections[i]);
		if (strstr(why, want) == NULL)
			fail_msg("\"%s\" not in: %s", want, why);
	}
	/* what is in a section that came or went is not listed key by key */
	assert_null(strstr(why, "discover.name"));
	assert_null(strstr(why, "admin.address"));
	assert_true(sl_config_needs_restart(bare.c, full.c, why, sizeof(why)));
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		snprintf(want, sizeof(want), "%s added", sections[i]);
		if (strstr(why, want) == NULL)
			fail_msg("\"%s\" not in: %s", want, why);
	}
	sl_test_config_fini(&full);
	sl_test_config_fini(&bare);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(the_keys_of_each_section_are_together),
	        cmocka_unit_test(each_typed_field_has_the_size_its_kind_stores),
	        cmocka_unit_test(
	                every_typed_key_changed_alone_is_refused_exactly_when_it_needs_a_restart),
	        cmocka_unit_test(a_listener_added_and_a_backend_added_are_not_refused),
	        cmocka_unit_test(groups_are_matched_by_name_not_by_place),
	        cmocka_unit_test(every_restart_change_is_named),
	        cmocka_unit_test(workers_compare_with_the_count_that_runs),
	        cmocka_unit_test(a_groups_balance_and_send_proxy_are_live),
	        cmocka_unit_test(a_changed_listener_is_named_with_its_key),
	        cmocka_unit_test(backends_are_matched_by_name_not_by_place),
	        cmocka_unit_test(a_large_reload_pairs_every_backend),
	        cmocka_unit_test(groups_added_and_removed_are_changes),
	        cmocka_unit_test(negative_zero_is_zero),
	        cmocka_unit_test(keys_compared_by_their_own_functions_are_named_too),
	        cmocka_unit_test(an_optional_section_added_or_removed_is_named_so),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
