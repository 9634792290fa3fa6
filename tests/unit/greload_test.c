// SPDX-License-Identifier: MIT
/*
 * Group slots across reloads (greload.c), in process: sl_proxy on 127.0.0.1 in front of an echo
 * server on a thread. Reloads that change a group's health checks again and again keep only the
 * copies its checker may still read, for a start file's group in the shared checker, for a
 * group a reload added, and for a group whose checks a reload turned on and off.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/backends.h>
#include <sluice/proxy.h>

#include "proxy/proxy_int.h"
#include "sl_test_echo.h"
#include "sl_test_net.h"
#include "sl_test_proxy.h"

#define NRELOADS 50

struct rig {
	struct sl_test_echo e;
	unsigned port;
	struct sl_config *layout;
	struct sl_proxy *p;
	struct sl_addr addr;
};

/*
 * A file of listener l on the rig's port to group g, and groups g and (with <with_h>) h, each of
 * one backend slot holding the echo server; <hg> and <hh> are their keys after the backend list
 * (e.g. the health: key), may be "".
 */
static struct sl_config *
file_of(struct rig *r, const char *hg, bool with_h, const char *hh)
{
	static const char yaml[] = "workers: 2\n"
	                           "listeners: [{name: l, address: 127.0.0.1:%u, group: g}]\n"
	                           "groups:\n"
	                           "  - {name: g, max_backends: 1, backends: [%s]%s}\n"
	                           "%s";
	char a[SL_ADDR_STRLEN], b[128], h[512], text[2048];
	struct sl_config *c;

	sl_addr_format(&r->e.addr, a, sizeof(a));
	snprintf(b, sizeof(b), "{name: b, address: %s}", a);
	h[0] = '\0';
	if (with_h)
		snprintf(h, sizeof(h), "  - {name: h, max_backends: 1, backends: [%s]%s}\n", b, hh);
	snprintf(text, sizeof(text), yaml, r->port, b, hg, h);
	assert_int_equal(0, sl_config_load_string(&c, NULL, text, strlen(text), stderr));
	return c;
}

static void
rig_start(struct rig *r, const char *hg, bool with_h, const char *hh)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(0, sl_test_echo_start(&r->e));
	r->port = sl_test_closed_port();
	r->layout = file_of(r, hg, with_h, hh);
	sl_test_proxy_start(&r->p, r->layout, &r->addr);
}

static void
rig_stop(struct rig *r)
{
	sl_proxy_destroy(r->p);
	sl_config_free(r->layout);
	sl_test_echo_stop(&r->e);
}

static void
reload_ok(struct rig *r, struct sl_config *next)
{
	char why[300] = "";
	int err;

	/* reloads back to back may find a worker still holding the earlier snapshots (one the
	 * scheduler has not run yet on a busy machine): the proxy says try again, and nothing
	 * changed; bounded at 5 s */
	for (int i = 0; (err = sl_proxy_reload(r->p, next, why, sizeof(why))) == -EBUSY && i < 5000;
	     i++)
		usleep(1000);
	if (err != 0)
		fprintf(stderr, "reload refused: %s\n", why);
	assert_int_equal(0, err);
}

/* A health: key checking every <ms> ms. */
static const char *
health_every(char *buf, size_t size, unsigned ms)
{
	snprintf(buf, size,
	         ", health: {type: tcp, interval: %ums, timeout: 500ms, rise: 1, fall: 3}", ms);
	return buf;
}

static size_t
slot_of(struct rig *r, const char *name)
{
	int g = sl__group_slot(r->p, name);

	assert_true(g >= 0);
	return (size_t)g;
}

/*
 * One target reads one copy and has at most one more to take: after each reload what stays is
 * the current copy and at most the one the checker has not let go of yet.
 */
static void
reloads_changing_a_start_groups_checks_keep_at_most_two_copies(void **state)
{
	char k[128];
	struct rig r;
	size_t g;

	(void)state;
	rig_start(&r, health_every(k, sizeof(k), 1000), false, "");
	g = slot_of(&r, "g");
	assert_true(r.p->gslots[g].health == NULL); /* in the shared checker */
	for (unsigned i = 0; i < NRELOADS; i++) {
		reload_ok(&r, file_of(&r, health_every(k, sizeof(k), 1001 + i), false, ""));
		assert_true(sl__gslot_health_copies(r.p, g) <= 2);
	}
	assert_true(sl__gslot_health_copies(r.p, g) >= 1);
	rig_stop(&r);
}

static void
reloads_changing_an_added_groups_checks_keep_at_most_two_copies(void **state)
{
	char k[128];
	struct rig r;
	size_t g;

	(void)state;
	rig_start(&r, "", false, "");
	reload_ok(&r, file_of(&r, "", true, health_every(k, sizeof(k), 1000)));
	g = slot_of(&r, "h");
	assert_true(g >= r.layout->ngroups);
	assert_non_null(r.p->gslots[g].health); /* a checker of its own */
	for (unsigned i = 0; i < NRELOADS; i++) {
		reload_ok(&r, file_of(&r, "", true, health_every(k, sizeof(k), 1001 + i)));
		assert_true(sl__gslot_health_copies(r.p, g) <= 2);
	}
	rig_stop(&r);
}

static void
reloads_turning_checks_on_and_off_keep_at_most_two_copies(void **state)
{
	char k[128];
	struct rig r;
	size_t g;

	(void)state;
	rig_start(&r, "", false, "");
	g = slot_of(&r, "g");
	for (unsigned i = 0; i < NRELOADS; i++) {
		const char *hg = i % 2 == 0 ? health_every(k, sizeof(k), 1000 + i) : "";

		reload_ok(&r, file_of(&r, hg, false, ""));
		assert_true(sl__gslot_health_copies(r.p, g) <= 2);
	}
	assert_non_null(r.p->gslots[g].health); /* turned on the first time, kept since */
	rig_stop(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(reloads_changing_a_start_groups_checks_keep_at_most_two_copies),
	        cmocka_unit_test(reloads_changing_an_added_groups_checks_keep_at_most_two_copies),
	        cmocka_unit_test(reloads_turning_checks_on_and_off_keep_at_most_two_copies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
