// SPDX-License-Identifier: MIT
/*
 * The discover: key of a group (src/config/config_yaml.c): defaults, each field, a group with
 * discovery and no fixed backends, and the errors with their exact text and position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/addr.h>
#include <sluice/config.h>

#include "sl_test_config.h"

#define HEAD                                                                                       \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"groups:\n"                                                                                \
	"  - name: web\n"

static void
expect_error(const char *yaml, const char *want)
{
	struct sl_test_load r = sl_test_config_load(yaml);

	assert_int_equal(-22, r.rc);
	assert_string_equal(want, r.errs);
	sl_test_config_fini(&r);
}

static void
discover_alone_makes_a_valid_group(void **state)
{
	(void)state;
	struct sl_test_load r =
	        sl_test_config_load(HEAD "    discover: {name: web.svc.local, port: 8080}\n");
	const struct sl_config_discover *d;

	assert_int_equal(0, r.rc);
	assert_string_equal("", r.errs);
	d = &r.c->groups[0].discover;
	assert_int_equal(0, r.c->groups[0].nbackends);
	assert_int_equal(SL_DISCOVER_A, d->type);
	assert_string_equal("web.svc.local", d->name);
	assert_int_equal(8080, d->port);
	assert_int_equal(0, d->nresolvers);
	assert_int_equal(1000, d->ttl_min_ms);
	assert_int_equal(300000, d->ttl_max_ms);
	assert_int_equal(2000, d->timeout_ms);
	assert_int_equal(1, d->weight);
	sl_test_config_fini(&r);
}

static void
discover_takes_every_field(void **state)
{
	(void)state;
	struct sl_test_load r =
	        sl_test_config_load(HEAD "    backends: [{address: 127.0.0.1:9001}]\n"
	                                 "    discover:\n"
	                                 "      name: _http._tcp.web.example.\n"
	                                 "      type: srv\n"
	                                 "      resolvers: [127.0.0.1:5353, \"[::1]:53\"]\n"
	                                 "      ttl_min: 250ms\n"
	                                 "      ttl_max: 1m\n"
	                                 "      timeout: 3s\n"
	                                 "      weight: 7\n");
	const struct sl_config_discover *d;
	char a[SL_ADDR_STRLEN];

	assert_int_equal(0, r.rc);
	d = &r.c->groups[0].discover;
	assert_int_equal(1, r.c->groups[0].nbackends);
	assert_int_equal(SL_DISCOVER_SRV, d->type);
	assert_string_equal("_http._tcp.web.example", d->name);
	assert_int_equal(0, d->port);
	assert_int_equal(2, d->nresolvers);
	assert_string_equal("127.0.0.1:5353", sl_addr_format(&d->resolvers[0], a, sizeof(a)));
	assert_string_equal("[::1]:53", sl_addr_format(&d->resolvers[1], a, sizeof(a)));
	assert_int_equal(250, d->ttl_min_ms);
	assert_int_equal(60000, d->ttl_max_ms);
	assert_int_equal(3000, d->timeout_ms);
	assert_int_equal(7, d->weight);
	sl_test_config_fini(&r);
}

static void
discover_types_map_to_the_enum(void **state)
{
	static const struct {
		const char *name;
		enum sl_discover_type want;
	} cases[] = {{"a", SL_DISCOVER_A},
	             {"aaaa", SL_DISCOVER_AAAA},
	             {"any", SL_DISCOVER_ANY},
	             {"srv", SL_DISCOVER_SRV}};
	char yaml[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml), HEAD "    discover: {name: x, type: %s, port: 1}\n",
		         cases[i].name);
		struct sl_test_load r = sl_test_config_load(yaml);

		assert_int_equal(0, r.rc);
		assert_int_equal(cases[i].want, r.c->groups[0].discover.type);
		sl_test_config_fini(&r);
	}
}

static void
a_group_without_discover_has_type_none(void **state)
{
	(void)state;
	struct sl_test_load r =
	        sl_test_config_load(HEAD "    backends: [{address: 127.0.0.1:9001}]\n");

	assert_int_equal(0, r.rc);
	assert_int_equal(SL_DISCOVER_NONE, r.c->groups[0].discover.type);
	sl_test_config_fini(&r);
}

static void
discover_without_port_is_refused_unless_srv(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {name: web, type: any}\n",
	             "t.yaml:5:15: discover is missing required key \"port\" (needed unless type "
	             "is srv: A and AAAA records carry no port)\n");
	struct sl_test_load r = sl_test_config_load(HEAD "    discover: {name: web, type: srv}\n");
	assert_int_equal(0, r.rc);
	sl_test_config_fini(&r);
}

static void
discover_without_name_is_refused(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {port: 80}\n",
	             "t.yaml:5:15: discover is missing required key \"name\"\n");
}

static void
discover_refuses_a_bad_dns_name(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {name: \"a b\", port: 80}\n",
	             "t.yaml:5:22: \"name\" may contain only letters, digits, '-', '_' and dots\n");
	expect_error(HEAD "    discover: {name: a..b, port: 80}\n",
	             "t.yaml:5:22: \"name\": each dot-separated label of a DNS name has 1 to 63 "
	             "characters\n");
}

static void
discover_refuses_an_unknown_type(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {name: x, type: mx, port: 80}\n",
	             "t.yaml:5:31: expected one of a, aaaa, any, srv for \"type\", got \"mx\"\n");
}

static void
discover_refuses_ttl_min_above_ttl_max(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {name: x, port: 80, ttl_min: 10s, ttl_max: 5s}\n",
	             "t.yaml:5:44: discover \"ttl_min\" (10000ms) must not be longer than "
	             "\"ttl_max\" (5000ms)\n");
}

static void
discover_refuses_an_empty_resolver_list(void **state)
{
	(void)state;
	expect_error(HEAD "    discover: {name: x, port: 80, resolvers: []}\n",
	             "t.yaml:5:46: \"resolvers\" must list 1 to 8 addresses such as 10.0.0.2:53, "
	             "got 0 (leave it out for /etc/resolv.conf)\n");
}

static void
discover_refuses_a_resolver_that_is_no_address(void **state)
{
	(void)state;
	struct sl_test_load r = sl_test_config_load(
	        HEAD "    discover: {name: x, port: 80, resolvers: [dns.example]}\n");

	assert_int_equal(-22, r.rc);
	assert_non_null(strstr(r.errs, "t.yaml:5:47: bad address \"dns.example\""));
	sl_test_config_fini(&r);
}

static void
discover_refuses_an_unknown_key(void **state)
{
	(void)state;
	struct sl_test_load r =
	        sl_test_config_load(HEAD "    discover: {name: x, port: 80, ttl: 5s}\n");

	assert_int_equal(-22, r.rc);
	assert_non_null(strstr(r.errs, "unknown key \"ttl\" in discover"));
	sl_test_config_fini(&r);
}

static void
a_group_with_neither_backends_nor_discover_is_refused(void **state)
{
	(void)state;
	expect_error(HEAD "    balance: round_robin\n",
	             "t.yaml:4:5: group \"web\" has no backends\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(discover_alone_makes_a_valid_group),
	        cmocka_unit_test(discover_takes_every_field),
	        cmocka_unit_test(discover_types_map_to_the_enum),
	        cmocka_unit_test(a_group_without_discover_has_type_none),
	        cmocka_unit_test(discover_without_port_is_refused_unless_srv),
	        cmocka_unit_test(discover_without_name_is_refused),
	        cmocka_unit_test(discover_refuses_a_bad_dns_name),
	        cmocka_unit_test(discover_refuses_an_unknown_type),
	        cmocka_unit_test(discover_refuses_ttl_min_above_ttl_max),
	        cmocka_unit_test(discover_refuses_an_empty_resolver_list),
	        cmocka_unit_test(discover_refuses_a_resolver_that_is_no_address),
	        cmocka_unit_test(discover_refuses_an_unknown_key),
	        cmocka_unit_test(a_group_with_neither_backends_nor_discover_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
