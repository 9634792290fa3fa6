// SPDX-License-Identifier: MIT
/*
 * Backends at run time (sluice/backends.h), in process: sl_proxy on 127.0.0.1 in front of echo
 * servers on threads, whose accept counts tell where sessions went. Add, remove (an open
 * session runs on), weight, drain and disable, the discovered set (counters and health kept),
 * reloads of a changed backend list, group slots a reload takes back from removed groups, the
 * errors, Maglev's ~1/N movement on a removal, and changes racing live traffic.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/backends.h>
#include <sluice/proxy.h>

#include "admin/admin_int.h"
#include "core/lb_int.h"
#include "proxy/proxy_int.h"
#include "sl_test_echo.h"
#include "sl_test_net.h"
#include "sl_test_proxy.h"

#define POLL_MS 10000
#define NECHO 4

struct rig {
	struct sl_config cfg;
	struct sl_config_listener listener;
	struct sl_config_group group;
	struct sl_config_backend backends[12];
	struct sl_proxy *p;
	struct sl_addr addr;
	struct sl_test_echo e[NECHO];
};

/* A config of one group <balance> over echo servers 0 .. <n> - 1, named "e0", "e1", ... */
static void
rig_config(struct rig *r, unsigned workers, const char *balance, size_t n)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < NECHO; i++)
		assert_int_equal(0, sl_test_echo_start(&r->e[i]));
	r->cfg.workers = workers;
	r->cfg.drain_timeout_ms = 5000;
	r->cfg.listeners = &r->listener;
	r->cfg.nlisteners = 1;
	r->cfg.groups = &r->group;
	r->cfg.ngroups = 1;
	sl_test_proxy_listener(&r->listener, SL_FWD_SPLICE);
	strcpy(r->group.name, "g");
	assert_int_equal(0, sl_lb_algo_parse(balance, &r->group.balance));
	r->group.maglev_table_size = 65537;
	r->group.retries = 2;
	r->group.passive = (struct sl_config_passive){
	        .failures = 0, .backoff_ms = 60000, .max_backoff_ms = 60000};
	r->group.backends = r->backends;
	for (size_t i = 0; i < n; i++) {
		sl_test_proxy_backend(&r->backends[i], &r->e[i].addr);
		snprintf(r->backends[i].name, sizeof(r->backends[i].name), "e%zu", i);
	}
	r->group.nbackends = n;
}

static void
rig_start(struct rig *r)
{
	sl_test_proxy_start(&r->p, &r->cfg, &r->addr);
}

static void
rig_stop(struct rig *r)
{
	sl_proxy_destroy(r->p);
	for (size_t i = 0; i < NECHO; i++)
		sl_test_echo_stop(&r->e[i]);
}

static unsigned
accepted(struct rig *r, size_t i)
{
	return atomic_load(&r->e[i].accepted);
}

static struct sl_backend_spec
spec_of(const char *name, const struct sl_addr *a, uint32_t weight)
{
	struct sl_backend_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.addr = *a;
	s.weight = weight;
	return s;
}

static int
client_connect(const struct sl_addr *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Sends <n> bytes on <fd> and reads their echo back: true if it came back intact. */
static bool
roundtrip(int fd, size_t n, uint64_t seed)
{
	char out[4096], in[4096];

	assert_true(n <= sizeof(out));
	sl_test_fill(out, n, seed);
	if (sl_test_write_all(fd, out, n, POLL_MS) != 0)
		return false;
	for (size_t got = 0; got < n;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&pfd, 1, POLL_MS) != 1)
			return false;
		k = recv(fd, in + got, n - got, 0);
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return memcmp(in, out, n) == 0;
}

/* One session: connect, one round trip, close. */
static bool
ask(const struct sl_addr *a, uint64_t seed)
{
	int fd = client_connect(a);
	bool ok;

	if (fd < 0)
		return false;
	ok = roundtrip(fd, 512, seed);
	close(fd);
	return ok;
}

/* <n> sessions one after the other: how many came back intact. */
static unsigned
ask_n(struct rig *r, unsigned n)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++)
		ok += ask(&r->addr, i);
	return ok;
}

/* The backend named <name> of group <group> (NULL: any) as sl_proxy_backends() shows it: false
 * if it is not listed. */
static bool
info_in(struct sl_proxy *p, const char *group, const char *name, struct sl_backend_info *out)
{
	struct sl_backend_info all[32];
	size_t n;

	assert_int_equal(0, sl_proxy_backends(p, all, 32, &n));
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].name, name) == 0 &&
		    (group == NULL || strcmp(all[i].group, group) == 0)) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

/* The backend named <name> of any group: false if it is not listed. */
static bool
info_of(struct sl_proxy *p, const char *name, struct sl_backend_info *out)
{
	return info_in(p, NULL, name, out);
}

static size_t
nlisted(struct sl_proxy *p)
{
	size_t n;

	assert_int_equal(0, sl_proxy_backends(p, NULL, 0, &n));
	return n;
}

/* ---- tests ---- */

static void
added_backend_takes_new_sessions(void **state)
{
	struct sl_backend_spec s;
	struct sl_backend_info bi;
	struct rig r;

	(void)state;
	rig_config(&r, 2, "round_robin", 1);
	rig_start(&r);
	assert_int_equal(4, ask_n(&r, 4));
	assert_int_equal(0, accepted(&r, 1));

	s = spec_of("new", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(2, nlisted(r.p));
	assert_int_equal(20, ask_n(&r, 20));
	/* round robin on each worker: whichever worker took k of the 20, about k/2 went there */
	assert_true(accepted(&r, 1) >= 8);
	assert_true(info_of(r.p, "new", &bi));
	assert_int_equal(accepted(&r, 1), bi.sessions);
	assert_false(bi.discovered);
	assert_int_equal(SL_BACKEND_ENABLED, bi.admin);
	assert_true(bi.up);
	assert_false(bi.checked); /* the group has no health checks */
	rig_stop(&r);
}

static void
removed_backend_takes_no_new_session_while_an_open_one_runs_on(void **state)
{
	struct sl_backend_info bi;
	size_t held = 0, other;
	unsigned before;
	struct rig r;
	int fd;

	(void)state;
	rig_config(&r, 2, "round_robin", 2);
	rig_start(&r);
	fd = client_connect(&r.addr);
	assert_true(fd >= 0);
	assert_true(roundtrip(fd, 100, 1));
	held = accepted(&r, 0) == 1 ? 0 : 1;
	other = 1 - held;
	assert_int_equal(1, accepted(&r, held));
	assert_true(info_of(r.p, held == 0 ? "e0" : "e1", &bi));
	assert_int_equal(1, bi.active);

	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", held == 0 ? "e0" : "e1"));
	assert_false(info_of(r.p, held == 0 ? "e0" : "e1", &bi));
	assert_int_equal(1, nlisted(r.p));
	before = accepted(&r, other);
	assert_int_equal(10, ask_n(&r, 10));
	assert_int_equal(1, accepted(&r, held));
	assert_int_equal(before + 10, accepted(&r, other));
	/* the open session still goes to the removed backend */
	assert_true(roundtrip(fd, 3000, 2));
	assert_true(roundtrip(fd, 10, 3));
	close(fd);
	assert_int_equal(-ENOENT, sl_proxy_backend_remove(r.p, "g", held == 0 ? "e0" : "e1"));
	rig_stop(&r);
}

static void
removed_slot_is_reused_only_once_its_last_session_closed(void **state)
{
	struct sl_backend_spec s;
	struct sl_backend_info bi;
	struct rig r;
	int fd, err = -ENOSPC;

	(void)state;
	rig_config(&r, 1, "round_robin", 1);
	r.group.max_backends = 1;
	rig_start(&r);
	fd = client_connect(&r.addr);
	assert_true(fd >= 0);
	assert_true(roundtrip(fd, 100, 1));
	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "e0"));
	s = spec_of("e1", &r.e[1].addr, 1);
	/* the only slot is held by the open session */
	assert_int_equal(-ENOSPC, sl_proxy_backend_add(r.p, "g", &s));
	assert_true(roundtrip(fd, 100, 2));
	shutdown(fd, SHUT_WR);
	assert_int_equal(0, sl_test_read_full(fd, (char[1]){0}, 1, POLL_MS));
	close(fd);
	/* the proxy closes its side on its own time: bounded wait for the slot to free */
	for (int i = 0; i < 500 && err == -ENOSPC; i++) {
		err = sl_proxy_backend_add(r.p, "g", &s);
		if (err == -ENOSPC)
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	assert_int_equal(0, err);
	assert_true(info_of(r.p, "e1", &bi));
	/* a new occupant starts with its own counters */
	assert_int_equal(0, bi.sessions);
	assert_int_equal(5, ask_n(&r, 5));
	assert_int_equal(5, accepted(&r, 1));
	assert_true(info_of(r.p, "e1", &bi));
	assert_int_equal(5, bi.sessions);
	rig_stop(&r);
}

static void
weight_change_shifts_the_share(void **state)
{
	struct sl_backend_info bi;
	struct rig r;

	(void)state;
	/* one worker: smooth weighted round robin gives exact shares per full cycle */
	rig_config(&r, 1, "weighted", 2);
	rig_start(&r);
	assert_int_equal(10, ask_n(&r, 10));
	assert_int_equal(5, accepted(&r, 0));
	assert_int_equal(5, accepted(&r, 1));
	assert_int_equal(0, sl_proxy_backend_set_weight(r.p, "g", "e1", 4));
	assert_int_equal(50, ask_n(&r, 50));
	assert_int_equal(5 + 10, accepted(&r, 0));
	assert_int_equal(5 + 40, accepted(&r, 1));
	assert_true(info_of(r.p, "e1", &bi));
	assert_int_equal(4, bi.weight);
	assert_int_equal(-EINVAL, sl_proxy_backend_set_weight(r.p, "g", "e1", 0));
	assert_int_equal(-EINVAL,
	                 sl_proxy_backend_set_weight(r.p, "g", "e1", SL_CONFIG_WEIGHT_MAX + 1));
	assert_int_equal(-ENOENT, sl_proxy_backend_set_weight(r.p, "g", "nope", 2));
	rig_stop(&r);
}

static void
draining_and_disabled_backends_take_no_new_session(void **state)
{
	struct sl_backend_info bi;
	unsigned a, b;
	struct rig r;
	int fd;

	(void)state;
	rig_config(&r, 2, "least_conn", 2);
	rig_start(&r);
	fd = client_connect(&r.addr);
	assert_true(fd >= 0);
	assert_true(roundtrip(fd, 100, 1));
	/* drain the one the open session uses */
	a = accepted(&r, 0) == 1 ? 0 : 1;
	b = 1 - a;
	assert_int_equal(
	        0, sl_proxy_backend_set_admin(r.p, "g", a == 0 ? "e0" : "e1", SL_BACKEND_DRAINING));
	assert_true(info_of(r.p, a == 0 ? "e0" : "e1", &bi));
	assert_int_equal(SL_BACKEND_DRAINING, bi.admin);
	assert_int_equal(1, bi.active);
	assert_int_equal(10, ask_n(&r, 10));
	assert_int_equal(1, accepted(&r, a));
	assert_int_equal(10, accepted(&r, b));
	assert_true(roundtrip(fd, 200, 2));

	assert_int_equal(
	        0, sl_proxy_backend_set_admin(r.p, "g", a == 0 ? "e0" : "e1", SL_BACKEND_DISABLED));
	assert_int_equal(10, ask_n(&r, 10));
	assert_int_equal(1, accepted(&r, a));
	assert_true(roundtrip(fd, 200, 3));
	close(fd);

	assert_int_equal(
	        0, sl_proxy_backend_set_admin(r.p, "g", a == 0 ? "e0" : "e1", SL_BACKEND_ENABLED));
	assert_int_equal(10, ask_n(&r, 10));
	assert_true(accepted(&r, a) > 1);

	/* with every backend out of service, a client finds none */
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e0", SL_BACKEND_DISABLED));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e1", SL_BACKEND_DRAINING));
	assert_int_equal(0, ask_n(&r, 3));
	assert_int_equal(-EINVAL,
	                 sl_proxy_backend_set_admin(r.p, "g", "e0", SL_BACKEND_ADMIN_KINDS));
	assert_int_equal(-ENOENT, sl_proxy_backend_set_admin(r.p, "g", "x", SL_BACKEND_ENABLED));
	rig_stop(&r);
}

static void
discovered_set_keeps_the_backends_that_stay(void **state)
{
	struct sl_backend_spec set[2];
	struct sl_backend_info bi;
	uint64_t e1_sessions;
	struct rig r;

	(void)state;
	rig_config(&r, 2, "round_robin", 1); /* e0 from the config file */
	rig_start(&r);
	set[0] = spec_of("d1", &r.e[1].addr, 1);
	set[1] = spec_of("d2", &r.e[2].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", set, 2));
	assert_int_equal(3, nlisted(r.p));
	assert_int_equal(30, ask_n(&r, 30));
	assert_true(accepted(&r, 1) > 0 && accepted(&r, 2) > 0);
	assert_true(info_of(r.p, "d1", &bi));
	assert_true(bi.discovered);
	e1_sessions = bi.sessions;
	assert_int_equal(accepted(&r, 1), e1_sessions);

	/* d2 leaves, d3 comes, d1 stays (named anew: the address is what matches) */
	set[0] = spec_of("other-name", &r.e[1].addr, 1);
	set[1] = spec_of("d3", &r.e[3].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", set, 2));
	assert_int_equal(3, nlisted(r.p));
	assert_false(info_of(r.p, "d2", &bi));
	assert_true(info_of(r.p, "e0", &bi));
	assert_false(bi.discovered);
	assert_true(info_of(r.p, "d1", &bi));
	assert_int_equal(e1_sessions, bi.sessions);
	assert_true(info_of(r.p, "d3", &bi));
	assert_int_equal(0, bi.sessions);
	{
		unsigned d2 = accepted(&r, 2);

		assert_int_equal(30, ask_n(&r, 30));
		assert_int_equal(d2, accepted(&r, 2));
		assert_true(accepted(&r, 3) > 0);
	}

	/* an empty set leaves the config file's backends alone */
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", NULL, 0));
	assert_int_equal(1, nlisted(r.p));
	assert_true(info_of(r.p, "e0", &bi));
	assert_int_equal(-ENOENT, sl_proxy_group_set_discovered(r.p, "nope", NULL, 0));
	set[0] = spec_of("bad", &r.e[1].addr, 0);
	assert_int_equal(-EINVAL, sl_proxy_group_set_discovered(r.p, "g", set, 1));
	/* a new name taken by a backend from the file */
	set[0] = spec_of("e0", &r.e[1].addr, 1);
	assert_int_equal(-EEXIST, sl_proxy_group_set_discovered(r.p, "g", set, 1));
	assert_int_equal(1, nlisted(r.p));
	rig_stop(&r);
}

/* A set that replaces every discovered backend of a full group takes their slots in the same
 * call, once no session holds them (it waited for the next one: the group lacked them). */
static void
discovered_set_replacing_a_full_group_takes_the_slots_it_frees(void **state)
{
	struct sl_backend_spec d;
	struct sl_backend_info bi;
	unsigned e1;
	struct rig r;

	(void)state;
	rig_config(&r, 2, "round_robin", 1); /* e0 from the file, and one slot more */
	r.group.max_backends = 2;
	rig_start(&r);
	d = spec_of("d1", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", &d, 1));
	assert_int_equal(10, ask_n(&r, 10));
	e1 = accepted(&r, 1);
	assert_true(e1 > 0);
	/* once its sessions are over (their workers close them after the clients), d1's slot
	 * is free as soon as the workers drop d1 */
	for (int i = 0; i < 2000 && info_of(r.p, "d1", &bi) && bi.active != 0; i++)
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	assert_int_equal(0, bi.active);
	d = spec_of("d2", &r.e[2].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", &d, 1));
	assert_int_equal(2, nlisted(r.p));
	assert_false(info_of(r.p, "d1", &bi));
	assert_true(info_of(r.p, "d2", &bi));
	assert_true(bi.discovered);
	assert_int_equal(10, ask_n(&r, 10));
	assert_int_equal(e1, accepted(&r, 1));
	assert_true(accepted(&r, 2) > 0);
	rig_stop(&r);
}

/* Waits (bounded) until <name>'s health is <up>; false if it never was. */
static bool
wait_up(struct sl_proxy *p, const char *name, bool up)
{
	struct sl_backend_info bi;

	for (int i = 0; i < 1000; i++) {
		if (info_of(p, name, &bi) && bi.up == up)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	}
	return false;
}

static void
discovered_set_keeps_health_of_backends_that_stay(void **state)
{
	struct sl_backend_spec set[3];
	struct sl_health_stats hs;
	struct sl_addr dead;
	uint64_t checks;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 1);
	r.group.health = (struct sl_config_health){
	        .kind = SL_HEALTH_TCP, .interval_ms = 20, .timeout_ms = 200, .rise = 1, .fall = 1};
	rig_start(&r);
	sl_test_refused_addr(&dead);
	set[0] = spec_of("dead", &dead, 1);
	set[1] = spec_of("d1", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", set, 2));
	/* the checker finds the refused one down, the live one stays up */
	assert_true(wait_up(r.p, "dead", false));
	assert_true(wait_up(r.p, "d1", true));
	/* the same backends and one more: "dead" keeps its verdict, not reset to up */
	set[2] = spec_of("d2", &r.e[2].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", set, 3));
	{
		struct sl_backend_info bi;

		assert_true(info_of(r.p, "dead", &bi));
		assert_false(bi.up);
		assert_true(bi.checked);
	}
	assert_true(wait_up(r.p, "d2", true));
	assert_int_equal(10, ask_n(&r, 10));
	/* a disabled backend is not checked: with only it left checkable, the count stops */
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "dead", SL_BACKEND_DISABLED));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e0", SL_BACKEND_DISABLED));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "d1", SL_BACKEND_DISABLED));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "d2", SL_BACKEND_DISABLED));
	/* a check in flight when the pause came may still finish: let one interval pass */
	nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
	sl_health_stats(r.p->health, &hs);
	checks = hs.checks;
	nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
	sl_health_stats(r.p->health, &hs);
	assert_int_equal(checks, hs.checks);
	rig_stop(&r);
}

static void
changes_refuse_bad_requests(void **state)
{
	struct sl_backend_spec s;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 2);
	r.group.max_backends = 3;
	rig_start(&r);
	s = spec_of("e0", &r.e[2].addr, 1);
	assert_int_equal(-EEXIST, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(-ENOENT, sl_proxy_backend_add(r.p, "nope", &s));
	s = spec_of("w0", &r.e[2].addr, 0);
	assert_int_equal(-EINVAL, sl_proxy_backend_add(r.p, "g", &s));
	s = spec_of("w1", &r.e[2].addr, SL_CONFIG_WEIGHT_MAX + 1);
	assert_int_equal(-EINVAL, sl_proxy_backend_add(r.p, "g", &s));
	s = spec_of("two words", &r.e[2].addr, 1);
	assert_int_equal(-EINVAL, sl_proxy_backend_add(r.p, "g", &s));
	memset(&s, 0, sizeof(s));
	s.weight = 1;
	assert_int_equal(-EINVAL, sl_proxy_backend_add(r.p, "g", &s)); /* no address */
	s = spec_of("", &r.e[2].addr, 1);                              /* named by address */
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(-EEXIST, sl_proxy_backend_add(r.p, "g", &s));
	s = spec_of("full", &r.e[3].addr, 1);
	assert_int_equal(-ENOSPC, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(-ENOSPC, sl_proxy_group_set_discovered(r.p, "g", &s, 1));
	assert_int_equal(-ENOENT, sl_proxy_backend_remove(r.p, "g", "nope"));
	assert_int_equal(-ENOENT, sl_proxy_backend_remove(r.p, "nope", "e0"));
	assert_int_equal(3, nlisted(r.p));
	assert_int_equal(9, ask_n(&r, 9));
	assert_int_equal(3, accepted(&r, 2));
	assert_string_equal("draining", sl_backend_admin_name(SL_BACKEND_DRAINING));
	assert_null(sl_backend_admin_name(SL_BACKEND_ADMIN_KINDS));
	rig_stop(&r);
}

static void
add_refuses_an_address_that_reaches_one_of_its_own_listeners(void **state)
{
	char name[SL_CONFIG_NAME_MAX], text[SL_ADDR_STRLEN];
	struct sl_backend_spec s;
	struct sl_addr at, a;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 2);
	rig_start(&r);
	/* the listener's own address (its port resolved at the bind) */
	s = spec_of("self", &r.addr, 1);
	assert_int_equal(-ELOOP, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(0, sl_proxy_listener_reached(r.p, &r.addr, name, sizeof(name), &at));
	assert_string_equal("test", name);
	assert_true(sl_addr_equal(&r.addr, &at));
	/* a connect to 0.0.0.0 goes to 127.0.0.1: the listener too */
	snprintf(text, sizeof(text), "0.0.0.0:%u", sl_addr_port(&r.addr));
	assert_int_equal(0, sl_addr_parse(&a, text, false, NULL));
	s = spec_of("any", &a, 1);
	assert_int_equal(-ELOOP, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(2, nlisted(r.p));
	/* another loopback address on its port is not the listener's */
	snprintf(text, sizeof(text), "127.0.0.2:%u", sl_addr_port(&r.addr));
	assert_int_equal(0, sl_addr_parse(&a, text, false, NULL));
	assert_int_equal(-ENOENT, sl_proxy_listener_reached(r.p, &a, name, sizeof(name), &at));
	s = spec_of("other", &a, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(3, nlisted(r.p));
	rig_stop(&r);
}

static void
add_refuses_an_address_another_backend_of_the_group_has(void **state)
{
	char name[SL_CONFIG_NAME_MAX];
	struct sl_backend_spec s;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 2);
	rig_start(&r);
	s = spec_of("again", &r.e[1].addr, 1);
	assert_int_equal(-EEXIST, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(2, nlisted(r.p));
	assert_int_equal(0, sl_proxy_backend_name(r.p, "g", &r.e[1].addr, name, sizeof(name)));
	assert_string_equal("e1", name);
	assert_int_equal(-ENOENT,
	                 sl_proxy_backend_name(r.p, "g", &r.e[2].addr, name, sizeof(name)));
	assert_int_equal(-ENOENT,
	                 sl_proxy_backend_name(r.p, "nope", &r.e[1].addr, name, sizeof(name)));
	/* a removed backend's address is free again */
	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "e1"));
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(0, sl_proxy_backend_name(r.p, "g", &r.e[1].addr, name, sizeof(name)));
	assert_string_equal("again", name);
	rig_stop(&r);
}

/* The slot Maglev gives each of <n> keys, through the proxy's current prototype. */
static void
maglev_slots(struct sl_proxy *p, uint16_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct sl_lb_ctx c = {.key = sl_lb_hash_bytes(&k, sizeof(k), 7)};
		int i = sl_lb_pick(p->lbs[0], &c);

		assert_true(i >= 0 && (size_t)i < p->bsets[0].nmap);
		out[k] = p->bsets[0].map[i];
	}
}

static void
maglev_removal_moves_about_one_nth_of_flows(void **state)
{
	enum { N = 10, KEYS = 20000 };
	uint16_t *before = malloc(KEYS * sizeof(*before)), *after = malloc(KEYS * sizeof(*after));
	struct sl_backend_spec s;
	size_t moved = 0, stray = 0;
	struct sl_addr a[N];
	struct rig r;

	(void)state;
	rig_config(&r, 1, "maglev", 0);
	for (size_t i = 0; i < N; i++) {
		/* an address each, as a group's backends have; nothing connects to them */
		a[i] = r.e[0].addr;
		sl_addr_set_port(&a[i], 40000 + (unsigned)i);
		sl_test_proxy_backend(&r.backends[i], &a[i]);
		snprintf(r.backends[i].name, sizeof(r.backends[i].name), "m%zu", i);
	}
	r.group.nbackends = N;
	/* no traffic needed: the prototype the workers clone is what is measured */
	assert_int_equal(0, sl_proxy_create(&r.p, &r.cfg));
	maglev_slots(r.p, before, KEYS);
	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "m3"));
	maglev_slots(r.p, after, KEYS);
	for (size_t k = 0; k < KEYS; k++) {
		assert_true(after[k] != 3);
		if (after[k] != before[k]) {
			moved++;
			stray += before[k] != 3; /* moved though its backend stayed */
		}
	}
	/* the removed backend's share (about 1/N) moves, and little else */
	assert_true(moved >= KEYS / N * 8 / 10 && moved <= KEYS / N * 13 / 10);
	assert_true(stray <= KEYS / 100);

	/* adding it back (in another slot) restores the table: the flows go where they went */
	s = spec_of("m3", &a[3], 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	maglev_slots(r.p, after, KEYS);
	for (size_t k = 0; k < KEYS; k++)
		assert_string_equal(r.p->backends[0][before[k]].name,
		                    r.p->backends[0][after[k]].name);
	free(before);
	free(after);
	rig_stop(&r);
}

/* The Prometheus text of the proxy's registry, malloc'ed. */
static char *
render_metrics(struct sl_proxy *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(0, sl__admin_render_metrics(sl_proxy_stats_registry(p), f));
	fclose(f);
	return text;
}

/* true if promtool is installed; then *ok says whether it accepted <text>. */
static bool
promtool_check(const char *text, bool *ok)
{
	FILE *f;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		return false;
	f = popen("promtool check metrics >/dev/null 2>&1", "w");
	assert_non_null(f);
	fputs(text, f);
	*ok = pclose(f) == 0;
	return true;
}

static void
metrics_show_backends_added_at_run_time_and_hide_removed_ones(void **state)
{
	struct sl_backend_spec s;
	char *text, *json = NULL;
	size_t len = 0;
	bool ok = false;
	FILE *f;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 2);
	rig_start(&r);
	s = spec_of("late", &r.e[2].addr, 3);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "e1"));
	assert_int_equal(4, ask_n(&r, 4)); /* 2 to e0, 2 to late */
	text = render_metrics(r.p);
	assert_non_null(
	        strstr(text, "sluice_backend_sessions_total{group=\"g\",backend=\"late\"} 2\n"));
	assert_non_null(strstr(text, "sluice_backend_weight{group=\"g\",backend=\"late\"} 3\n"));
	assert_non_null(
	        strstr(text, "sluice_backend_sessions_total{group=\"g\",backend=\"e0\"} 2\n"));
	assert_null(strstr(text, "backend=\"e1\""));
	assert_null(strstr(text, "backend=\"\""));
	assert_non_null(strstr(text, "sluice_group_backends{group=\"g\"} 2\n"));
	if (promtool_check(text, &ok))
		assert_true(ok);
	free(text);

	f = open_memstream(&json, &len);
	assert_non_null(f);
	assert_int_equal(0, sl__admin_render_stats(sl_proxy_stats_registry(r.p), NULL, f));
	fclose(f);
	assert_non_null(strstr(json, "\"backend\":\"late\""));
	assert_null(strstr(json, "\"backend\":\"e1\""));
	free(json);
	rig_stop(&r);
}

static void
access_log_names_the_backend_a_session_had(void **state)
{
	char path[] = "/tmp/sl-backends-test-XXXXXX", line[4096];
	struct sl_backend_spec s;
	bool late = false, e0 = false;
	struct rig r;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	rig_config(&r, 1, "round_robin", 1);
	r.cfg.access_log = (struct sl_config_access_log){.path = path, .ring_size = 64};
	rig_start(&r);
	s = spec_of("late", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(2, ask_n(&r, 2));
	sl_proxy_destroy(r.p); /* writes every queued line */
	r.p = NULL;
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		late |= strstr(line, "\"backend\":\"late\"") != NULL;
		e0 |= strstr(line, "\"backend\":\"e0\"") != NULL;
	}
	fclose(f);
	unlink(path);
	assert_true(late);
	assert_true(e0);
	rig_stop(&r);
}

/* Waits (bounded) until echo server <i> has <n> connections open; false if it never had. */
static bool
wait_live(struct rig *r, size_t i, unsigned n)
{
	for (int k = 0; k < 1000; k++) {
		if (atomic_load(&r->e[i].live) == n)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	}
	return false;
}

static void
warm_pools_follow_backends_added_disabled_and_removed(void **state)
{
	struct sl_backend_spec s;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 2);
	r.group.warm_pool = (struct sl_config_warm_pool){.size = 2, .idle_ms = 60000};
	rig_start(&r);
	/* one worker: two idle connections to each backend */
	assert_true(wait_live(&r, 0, 2));
	assert_true(wait_live(&r, 1, 2));
	/* disabled: its idle connections close and none is made again */
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e1", SL_BACKEND_DISABLED));
	assert_true(wait_live(&r, 1, 0));
	/* drained: the same */
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e0", SL_BACKEND_DRAINING));
	assert_true(wait_live(&r, 0, 0));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e0", SL_BACKEND_ENABLED));
	assert_true(wait_live(&r, 0, 2));
	/* added: the pool connects to it */
	s = spec_of("late", &r.e[2].addr, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_true(wait_live(&r, 2, 2));
	/* sessions get warm connections from the enabled backends only */
	assert_int_equal(6, ask_n(&r, 6));
	assert_int_equal(2, accepted(&r, 1)); /* only the two warm ones from the start */
	/* removed: its idle connections close */
	assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "late"));
	assert_true(wait_live(&r, 2, 0));
	/* enabled again: refilled */
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "e1", SL_BACKEND_ENABLED));
	assert_true(wait_live(&r, 1, 2));
	rig_stop(&r);
}

/* Loads a file of one listener on <port> and group g with <backends> (YAML flow list) and <extra>.
 */
static struct sl_config *
reload_file(struct rig *r, unsigned port, const char *backends, const char *extra)
{
	static const char yaml[] = "workers: 1\n"
	                           "listeners: [{name: l, address: 127.0.0.1:%u, group: g}]\n"
	                           "groups: [{name: g, backends: [%s]%s}]\n";
	char a[NECHO][SL_ADDR_STRLEN], list[1024], text[2048];
	struct sl_config *c;
	size_t k = 0;

	for (size_t i = 0; i < NECHO; i++)
		sl_addr_format(&r->e[i].addr, a[i], sizeof(a[i]));
	/* "@N" in <backends> is echo server N's address */
	for (const char *s = backends; *s != '\0' && k + SL_ADDR_STRLEN < sizeof(list); s++) {
		if (s[0] == '@' && s[1] >= '0' && s[1] < '0' + NECHO) {
			k += (size_t)snprintf(list + k, sizeof(list) - k, "%s", a[s[1] - '0']);
			s++;
		} else {
			list[k++] = *s;
		}
	}
	list[k] = '\0';
	snprintf(text, sizeof(text), yaml, port, list, extra);
	assert_int_equal(0, sl_config_load_string(&c, NULL, text, strlen(text), stderr));
	return c;
}

static void
reload_rig_start(struct rig *r, struct sl_config **layout, unsigned *port, const char *backends,
                 const char *extra)
{
	rig_config(r, 1, "round_robin", 0); /* for its echo servers */
	*port = sl_test_closed_port();
	*layout = reload_file(r, *port, backends, extra);
	sl_test_proxy_start(&r->p, *layout, &r->addr);
}

static void
reload_rig_stop(struct rig *r, struct sl_config *layout)
{
	sl_proxy_destroy(r->p);
	r->p = NULL;
	sl_config_free(layout);
	rig_stop(r);
}

static void
reload_with_an_unchanged_backend_list_keeps_run_time_changes(void **state)
{
	struct sl_config *layout, *next;
	struct sl_backend_spec s;
	struct sl_backend_info bi;
	char why[200];
	unsigned port;
	struct rig r;

	(void)state;
	reload_rig_start(&r, &layout, &port, "{name: e0, address: @0}", "");
	s = spec_of("late", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	assert_int_equal(0, sl_proxy_backend_set_weight(r.p, "g", "e0", 3));

	/* the same list again: taken, and the run-time changes stay */
	next = reload_file(&r, port, "{name: e0, address: @0}", "");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_true(info_of(r.p, "late", &bi));
	assert_true(info_of(r.p, "e0", &bi));
	assert_int_equal(3, bi.weight);
	assert_int_equal(8, ask_n(&r, 8));
	assert_true(accepted(&r, 1) >= 1);

	/* another max_backends: refused, nothing changes */
	next = reload_file(&r, port, "{name: e0, address: @0}", ", max_backends: 40");
	assert_int_equal(-EINVAL, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "max_backends"));
	sl_config_free(next);
	assert_int_equal(2, nlisted(r.p));
	reload_rig_stop(&r, layout);
}

static void
reload_swaps_every_workers_balancer_for_the_new_algorithm(void **state)
{
	struct sl_config *layout, *next;
	struct sl_backend_info bi;
	unsigned port, before;
	char why[200];
	struct rig r;
	int held;

	(void)state;
	reload_rig_start(&r, &layout, &port, "{name: e0, address: @0}, {name: e1, address: @1}",
	                 "");
	assert_int_equal(SL_LB_ROUND_ROBIN, sl_lb_algo_of(r.p->workers[0].groups[0].lb));
	/* a run-time weight: the new balancer is built from the table as it is now */
	assert_int_equal(0, sl_proxy_backend_set_weight(r.p, "g", "e1", 3));
	/* round robin's first pick is e0: a session held there */
	held = client_connect(&r.addr);
	assert_true(held >= 0);
	assert_true(roundtrip(held, 512, 1));
	assert_int_equal(1, accepted(&r, 0));

	next = reload_file(&r, port, "{name: e0, address: @0}, {name: e1, address: @1}",
	                   ", balance: least_conn");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	/* the worker took it before the reload returned */
	assert_int_equal(SL_LB_LEAST_CONN, sl_lb_algo_of(r.p->workers[0].groups[0].lb));
	assert_int_equal(SL_LB_LEAST_CONN, sl_lb_algo_of(r.p->lbs[0]));
	assert_false(r.p->workers[0].groups[0].hash_key);
	assert_true(info_of(r.p, "e1", &bi));
	assert_int_equal(3, bi.weight); /* the list did not change: the run-time weight stays */
	/* e0 holds the open session: every new one goes to e1 */
	before = accepted(&r, 1);
	assert_int_equal(6, ask_n(&r, 6));
	assert_int_equal(before + 6, accepted(&r, 1));
	assert_int_equal(1, accepted(&r, 0));
	assert_true(roundtrip(held, 512, 2)); /* the open session runs on */

	next = reload_file(&r, port, "{name: e0, address: @0}, {name: e1, address: @1}",
	                   ", balance: maglev, maglev_table_size: 1009");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_int_equal(SL_LB_MAGLEV, sl_lb_algo_of(r.p->workers[0].groups[0].lb));
	assert_true(r.p->workers[0].groups[0].hash_key);
	assert_int_equal(1009, sl__group_cfg(r.p, 0)->maglev_table_size);
	assert_int_equal(6, ask_n(&r, 6));

	/* a maglev table no larger than the backend slots (2 + 16): refused, nothing changes */
	next = reload_file(&r, port, "{name: e0, address: @0}, {name: e1, address: @1}",
	                   ", balance: maglev, maglev_table_size: 17");
	assert_int_equal(-EINVAL, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "maglev_table_size 17 must be larger"));
	sl_config_free(next);
	assert_int_equal(1009, sl__group_cfg(r.p, 0)->maglev_table_size);
	assert_true(roundtrip(held, 512, 3));
	close(held);
	reload_rig_stop(&r, layout);
}

static void
reload_with_a_changed_backend_list_makes_the_file_the_truth(void **state)
{
	struct sl_config *layout, *next;
	struct sl_backend_spec s, d;
	struct sl_backend_info bi;
	unsigned before;
	char why[200];
	unsigned port;
	struct rig r;
	int fd;

	(void)state;
	reload_rig_start(&r, &layout, &port, "{name: e0, address: @0}", "");
	s = spec_of("late", &r.e[1].addr, 1);
	assert_int_equal(0, sl_proxy_backend_add(r.p, "g", &s));
	d = spec_of("d", &r.e[3].addr, 1);
	assert_int_equal(0, sl_proxy_group_set_discovered(r.p, "g", &d, 1));
	assert_int_equal(0, sl_proxy_backend_set_admin(r.p, "g", "d", SL_BACKEND_DRAINING));
	fd = client_connect(&r.addr);
	assert_true(fd >= 0);
	assert_true(roundtrip(fd, 100, 1));
	assert_int_equal(1, accepted(&r, 0) + accepted(&r, 1));

	/* e0 goes, e2 comes, "late" (run time, not in the file) goes; "d" is discovery's */
	next = reload_file(&r, port, "{name: e2, address: @2, weight: 2}", "");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_false(info_of(r.p, "e0", &bi));
	assert_false(info_of(r.p, "late", &bi));
	assert_true(info_of(r.p, "e2", &bi));
	assert_int_equal(2, bi.weight);
	assert_false(bi.discovered);
	assert_true(info_of(r.p, "d", &bi));
	assert_true(bi.discovered);
	assert_int_equal(SL_BACKEND_DRAINING, bi.admin);
	before = accepted(&r, 0) + accepted(&r, 1);
	assert_int_equal(6, ask_n(&r, 6));
	assert_int_equal(6, accepted(&r, 2));
	assert_int_equal(before, accepted(&r, 0) + accepted(&r, 1));
	/* the open session runs on to the backend the reload removed */
	assert_true(roundtrip(fd, 3000, 2));
	close(fd);

	/* a weight change is set in place: the backend keeps its counters */
	next = reload_file(&r, port, "{name: e2, address: @2, weight: 5}", "");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_true(info_of(r.p, "e2", &bi));
	assert_int_equal(5, bi.weight);
	assert_int_equal(6, bi.sessions);

	/* an address change is a remove and an add: a new address, its counters going on from
	 * the old one's (one series per name) */
	next = reload_file(&r, port, "{name: e2, address: @1, weight: 5}", "");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_true(info_of(r.p, "e2", &bi));
	assert_int_equal(6, bi.sessions);
	assert_true(sl_addr_equal(&r.e[1].addr, &bi.addr));
	before = accepted(&r, 1);
	assert_int_equal(3, ask_n(&r, 3));
	assert_int_equal(before + 3, accepted(&r, 1));
	assert_true(info_of(r.p, "e2", &bi));
	assert_int_equal(9, bi.sessions);
	assert_int_equal(2, nlisted(r.p));

	/* a file name that a discovered backend has: refused, nothing changes */
	next = reload_file(&r, port, "{name: e2, address: @1, weight: 5}, {name: d, address: @0}",
	                   "");
	assert_int_equal(-ENOSPC, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "discovered"));
	sl_config_free(next);
	assert_true(info_of(r.p, "d", &bi));
	assert_true(bi.discovered);
	assert_true(sl_addr_equal(&r.e[3].addr, &bi.addr));
	assert_int_equal(2, nlisted(r.p));
	reload_rig_stop(&r, layout);
}

static void
reload_that_overflows_max_backends_is_refused_and_changes_nothing(void **state)
{
	struct sl_config *layout, *next;
	struct sl_backend_info bi;
	char why[200], list[128];
	unsigned port, held;
	struct rig r;
	int fd, err = -EINVAL;

	(void)state;
	reload_rig_start(&r, &layout, &port, "{name: e0, address: @0}, {name: e1, address: @1}",
	                 ", max_backends: 2");
	fd = client_connect(&r.addr);
	assert_true(fd >= 0);
	assert_true(roundtrip(fd, 100, 1));
	held = accepted(&r, 0) == 1 ? 0 : 1;

	/* e0 and e1 still hold both slots while the reload is checked: no room for two new */
	next = reload_file(&r, port, "{name: e2, address: @2}, {name: e3, address: @3}",
	                   ", max_backends: 2");
	assert_int_equal(-ENOSPC, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "max_backends 2"));
	sl_config_free(next);
	assert_int_equal(2, nlisted(r.p));
	assert_true(info_of(r.p, "e0", &bi));
	assert_true(info_of(r.p, "e1", &bi));
	assert_int_equal(4, ask_n(&r, 4));
	assert_int_equal(0, accepted(&r, 2) + accepted(&r, 3));

	/* the held backend leaves the file: removed, its slot held until the session closes */
	snprintf(list, sizeof(list), "{name: e%u, address: @%u}", 1 - held, 1 - held);
	next = reload_file(&r, port, list, ", max_backends: 2");
	assert_int_equal(0, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_int_equal(1, nlisted(r.p));
	snprintf(list, sizeof(list), "{name: e%u, address: @%u}, {name: e2, address: @2}", 1 - held,
	         1 - held);
	next = reload_file(&r, port, list, ", max_backends: 2");
	assert_int_equal(-ENOSPC, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "1 held"));
	sl_config_free(next);
	assert_true(roundtrip(fd, 100, 2));
	shutdown(fd, SHUT_WR);
	assert_int_equal(0, sl_test_read_full(fd, (char[1]){0}, 1, POLL_MS));
	close(fd);
	/* the proxy closes its side on its own time: bounded wait for the slot to free */
	for (int i = 0; i < 500 && err != 0; i++) {
		next = reload_file(&r, port, list, ", max_backends: 2");
		err = sl_proxy_reload(r.p, next, why, sizeof(why));
		if (err != 0) {
			sl_config_free(next);
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
		}
	}
	assert_int_equal(0, err);
	assert_true(info_of(r.p, "e2", &bi));
	assert_int_equal(4, ask_n(&r, 4));
	assert_true(accepted(&r, 2) >= 1);
	reload_rig_stop(&r, layout);
}

/* A file of listener l on <port> to group <group> alone, whose backend b is echo server <e>. */
static struct sl_config *
group_file(struct rig *r, unsigned port, const char *group, size_t e)
{
	static const char yaml[] = "workers: 2\n"
	                           "listeners: [{name: l, address: 127.0.0.1:%u, group: %s}]\n"
	                           "groups: [{name: %s, backends: [{name: b, address: %s}]}]\n";
	char a[SL_ADDR_STRLEN], text[1024];
	struct sl_config *c;

	sl_addr_format(&r->e[e].addr, a, sizeof(a));
	snprintf(text, sizeof(text), yaml, port, group, group, a);
	assert_int_equal(0, sl_config_load_string(&c, NULL, text, strlen(text), stderr));
	return c;
}

/* Reloads <next>, which must be taken. */
static void
reload_ok(struct rig *r, struct sl_config *next)
{
	char why[300] = "";
	int err = sl_proxy_reload(r->p, next, why, sizeof(why));

	if (err != 0)
		fprintf(stderr, "reload refused: %s\n", why);
	assert_int_equal(0, err);
}

static void
reload_gives_a_removed_groups_slot_to_a_new_name_once_nothing_holds_it(void **state)
{
	size_t slot_of[SL_GSLOTS_SPARE + 4];
	struct sl_config *layout;
	struct sl_backend_info bi;
	char name[16];
	unsigned port;
	struct rig r;
	int fd = -1, g;

	(void)state;
	rig_config(&r, 1, "round_robin", 0); /* for its echo servers */
	port = sl_test_closed_port();
	layout = group_file(&r, port, "g", 0);
	sl_test_proxy_start(&r.p, layout, &r.addr);
	/* one new name per reload, the previous one removed; n1 keeps a session open */
	for (unsigned i = 0; i < SL_GSLOTS_SPARE + 4; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		reload_ok(&r, group_file(&r, port, name, 1 + i % 2));
		g = sl__group_slot(r.p, name);
		assert_true(g >= 1); /* the start file's group keeps its slot, removed or not */
		slot_of[i] = (size_t)g;
		assert_int_equal(0, sl__group_slot(r.p, "g"));
		/* its counters start from zero, in a reclaimed slot too */
		assert_int_equal(3, ask_n(&r, 3));
		assert_true(info_in(r.p, name, "b", &bi));
		assert_int_equal(3, bi.sessions);
		assert_int_equal(0, bi.connect_failures);
		/* removed, n1 is still listed while its session runs (as /stats shows it) */
		if (i > 1)
			assert_true(info_in(r.p, "n1", "b", &bi));
		if (i == 1) {
			fd = client_connect(&r.addr);
			assert_true(fd >= 0);
			assert_true(roundtrip(fd, 1000, 1));
		}
	}
	/* the 17th name took n0's slot (retired longest ago), the 18th n2's: not the held n1's */
	assert_int_equal(slot_of[0], slot_of[SL_GSLOTS_SPARE]);
	assert_int_equal(slot_of[2], slot_of[SL_GSLOTS_SPARE + 1]);
	assert_int_equal(slot_of[1], sl__group_slot(r.p, "n1"));
	assert_true(sl__group_is_shown(r.p, slot_of[1]));
	assert_int_equal(-ENOENT, sl__group_slot(r.p, "n0"));
	assert_true(roundtrip(fd, 3000, 2));

	/* the session ends: the proxy closes its side on its own time, then n1 gives its slot */
	shutdown(fd, SHUT_WR);
	assert_int_equal(0, sl_test_read_full(fd, (char[1]){0}, 1, POLL_MS));
	close(fd);
	for (int i = 0; i < 500 && sl__group_is_shown(r.p, slot_of[1]); i++)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	assert_false(sl__group_is_shown(r.p, slot_of[1]));
	/* n3's slot was retired later than n1's: n1's goes first now */
	reload_ok(&r, group_file(&r, port, "late", 1));
	assert_int_equal(slot_of[1], sl__group_slot(r.p, "late"));
	assert_int_equal(-ENOENT, sl__group_slot(r.p, "n1"));
	assert_int_equal(3, ask_n(&r, 3));
	assert_true(info_of(r.p, "b", &bi));
	assert_string_equal("late", bi.group);
	assert_int_equal(3, bi.sessions);
	sl_proxy_destroy(r.p);
	r.p = NULL;
	sl_config_free(layout);
	rig_stop(&r);
}

/* A message that holds its worker until <release> is set (bounded: 30 s). */
struct blocker {
	struct sl_msg m; /* first: the worker gets this back */
	atomic_bool running, release;
};

static void
block_fn(struct sl_worker *wk, struct sl_msg *m)
{
	struct blocker *b = (struct blocker *)m;

	(void)wk;
	atomic_store(&b->running, true);
	for (int i = 0; i < 3000 && !atomic_load(&b->release); i++)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
}

static void
reload_never_brings_back_a_group_a_late_worker_let_go_of(void **state)
{
	struct blocker b = {.m = {.fn = block_fn}};
	struct sl_config *layout, *next;
	struct sl_backend_info bi;
	char name[16], why[300] = "";
	unsigned port;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 0); /* for its echo servers */
	port = sl_test_closed_port();
	layout = group_file(&r, port, "g", 0);
	sl_test_proxy_start(&r.p, layout, &r.addr);
	/* every spare slot used once, each name removed by the next */
	for (unsigned i = 0; i < SL_GSLOTS_SPARE; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		reload_ok(&r, group_file(&r, port, name, 0));
	}
	/* worker 0 is held: the next new name reclaims n0's slot, and gives up waiting */
	b.m.data = &b;
	assert_int_equal(0, sl__proxy_post(&r.p->workers[0], &b.m));
	for (int i = 0; i < 500 && !atomic_load(&b.running); i++)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	assert_true(atomic_load(&b.running));
	next = group_file(&r, port, "late", 0);
	assert_int_equal(-EAGAIN, sl_proxy_reload(r.p, next, why, sizeof(why)));
	assert_non_null(strstr(why, "did not let go of the slot of removed group n0"));
	sl_config_free(next);
	atomic_store(&b.release, true);
	/* the workers have let go of n0's view (worker 0 once released): the name is built anew,
	 * never brought back onto views that are gone */
	assert_int_equal(-ENOENT, sl__group_slot(r.p, "n0"));
	reload_ok(&r, group_file(&r, port, "n0", 0));
	assert_int_equal(3, ask_n(&r, 3));
	assert_true(info_of(r.p, "b", &bi));
	assert_string_equal("n0", bi.group);
	assert_int_equal(3, bi.sessions);
	sl_proxy_destroy(r.p);
	r.p = NULL;
	sl_config_free(layout);
	rig_stop(&r);
}

/* A file of listener l on <port> to group g, and group <other> that no listener names. */
static struct sl_config *
unused_group_file(struct rig *r, unsigned port, const char *other)
{
	static const char yaml[] = "workers: 2\n"
	                           "listeners: [{name: l, address: 127.0.0.1:%u, group: g}]\n"
	                           "groups: [{name: g, backends: [{name: b, address: %s}]},\n"
	                           "         {name: %s, backends: [{name: o, address: %s}]}]\n";
	char a[2][SL_ADDR_STRLEN], text[1024];
	struct sl_config *c;

	sl_addr_format(&r->e[0].addr, a[0], sizeof(a[0]));
	sl_addr_format(&r->e[1].addr, a[1], sizeof(a[1]));
	snprintf(text, sizeof(text), yaml, port, a[0], other, a[1]);
	assert_int_equal(0, sl_config_load_string(&c, NULL, text, strlen(text), stderr));
	return c;
}

static void
reload_reclaims_the_slots_of_removed_groups_no_listener_named(void **state)
{
	struct sl_config *layout;
	struct sl_backend_spec s;
	struct sl_backend_info bi;
	char name[16];
	unsigned port;
	struct rig r;

	(void)state;
	rig_config(&r, 1, "round_robin", 0); /* for its echo servers */
	port = sl_test_closed_port();
	layout = unused_group_file(&r, port, "x");
	sl_test_proxy_start(&r.p, layout, &r.addr);
	/* each added group gets a backend through the API too: a change posted to the workers */
	for (unsigned i = 0; i < 2 * SL_GSLOTS_SPARE + 3; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		reload_ok(&r, unused_group_file(&r, port, name));
		s = spec_of("late", &r.e[2].addr, 1);
		assert_int_equal(0, sl_proxy_backend_add(r.p, name, &s));
		assert_true(info_of(r.p, "late", &bi));
		assert_string_equal(name, bi.group);
		assert_int_equal(0, sl__group_slot(r.p, "g"));
		assert_int_equal(1, sl__group_slot(r.p, "x")); /* the start file's, retired */
		assert_false(sl__group_is_shown(r.p, 1));
	}
	assert_int_equal(4, ask_n(&r, 4));
	assert_int_equal(4, accepted(&r, 0));
	sl_proxy_destroy(r.p);
	r.p = NULL;
	sl_config_free(layout);
	rig_stop(&r);
}

struct traffic {
	const struct sl_addr *addr;
	unsigned n, ok;
};

static void *
traffic_main(void *arg)
{
	struct traffic *t = arg;

	for (unsigned i = 0; i < t->n; i++)
		t->ok += ask(t->addr, i);
	return NULL;
}

static void
changes_race_live_traffic_safely(void **state)
{
	enum { THREADS = 3, CONNS = 60, ROUNDS = 40 };
	struct traffic t[THREADS];
	pthread_t th[THREADS];
	struct rig r;

	(void)state;
	rig_config(&r, 2, "least_conn", 1); /* e0 always takes sessions */
	rig_start(&r);
	for (unsigned i = 0; i < THREADS; i++) {
		t[i] = (struct traffic){.addr = &r.addr, .n = CONNS};
		assert_int_equal(0, pthread_create(&th[i], NULL, traffic_main, &t[i]));
	}
	for (unsigned k = 0; k < ROUNDS; k++) {
		/* x at an address of its own: the discovered ones stay between rounds */
		struct sl_backend_spec s = spec_of("x", &r.e[1].addr, 1 + k % 5);
		struct sl_backend_spec set[2] = {spec_of("y", &r.e[2 + k % 2].addr, 1),
		                                 spec_of("z", &r.e[2 + (k + 1) % 2].addr, 2)};
		int err = sl_proxy_backend_add(r.p, "g", &s);

		/* -ENOSPC: slots of earlier rounds still held by sessions */
		assert_true(err == 0 || err == -ENOSPC);
		if (err == 0) {
			assert_int_equal(0, sl_proxy_backend_set_weight(r.p, "g", "x", 3));
			assert_int_equal(
			        0, sl_proxy_backend_set_admin(r.p, "g", "x", SL_BACKEND_DRAINING));
			assert_int_equal(0, sl_proxy_backend_remove(r.p, "g", "x"));
		}
		err = sl_proxy_group_set_discovered(r.p, "g", set, k % 2 == 0 ? 2 : 1);
		assert_true(err == 0 || err == -ENOSPC);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(CONNS, t[i].ok);
	}
	rig_stop(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(added_backend_takes_new_sessions),
	        cmocka_unit_test(removed_backend_takes_no_new_session_while_an_open_one_runs_on),
	        cmocka_unit_test(removed_slot_is_reused_only_once_its_last_session_closed),
	        cmocka_unit_test(weight_change_shifts_the_share),
	        cmocka_unit_test(draining_and_disabled_backends_take_no_new_session),
	        cmocka_unit_test(discovered_set_keeps_the_backends_that_stay),
	        cmocka_unit_test(discovered_set_replacing_a_full_group_takes_the_slots_it_frees),
	        cmocka_unit_test(discovered_set_keeps_health_of_backends_that_stay),
	        cmocka_unit_test(changes_refuse_bad_requests),
	        cmocka_unit_test(add_refuses_an_address_that_reaches_one_of_its_own_listeners),
	        cmocka_unit_test(add_refuses_an_address_another_backend_of_the_group_has),
	        cmocka_unit_test(maglev_removal_moves_about_one_nth_of_flows),
	        cmocka_unit_test(metrics_show_backends_added_at_run_time_and_hide_removed_ones),
	        cmocka_unit_test(access_log_names_the_backend_a_session_had),
	        cmocka_unit_test(warm_pools_follow_backends_added_disabled_and_removed),
	        cmocka_unit_test(reload_with_an_unchanged_backend_list_keeps_run_time_changes),
	        cmocka_unit_test(reload_swaps_every_workers_balancer_for_the_new_algorithm),
	        cmocka_unit_test(reload_with_a_changed_backend_list_makes_the_file_the_truth),
	        cmocka_unit_test(reload_that_overflows_max_backends_is_refused_and_changes_nothing),
	        cmocka_unit_test(
	                reload_gives_a_removed_groups_slot_to_a_new_name_once_nothing_holds_it),
	        cmocka_unit_test(reload_reclaims_the_slots_of_removed_groups_no_listener_named),
	        cmocka_unit_test(reload_never_brings_back_a_group_a_late_worker_let_go_of),
	        cmocka_unit_test(changes_race_live_traffic_safely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
