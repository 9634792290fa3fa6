/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for the URL parsing of `sluice --probe` (app/sluice/probe.c): address
 * literals with and without a port, the default path, and every form it refuses. The probe
 * itself runs against a live sluice in tests/integration/probe_test.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/addr.h>

#include "probe.h"

/* Parses <url>, which must succeed, and returns the address as text. */
static const char *
parsed(struct probe_url *u, const char *url)
{
	static char buf[SL_ADDR_STRLEN];
	const char *why = NULL;

	assert_int_equal(0, probe_parse_url(u, url, &why));
	return sl_addr_format(&u->addr, buf, sizeof(buf));
}

/* Parses <url>, which must fail, and returns the explanation. */
static const char *
refused(const char *url)
{
	struct probe_url u;
	const char *why = NULL;

	assert_int_equal(-EINVAL, probe_parse_url(&u, url, &why));
	assert_non_null(why);
	return why;
}

static void
ipv4_with_port_and_path_parses(void **state)
{
	struct probe_url u;

	(void)state;
	assert_string_equal("127.0.0.1:9090", parsed(&u, "http://127.0.0.1:9090/healthz"));
	assert_int_equal(AF_INET, u.addr.ss.ss_family);
	assert_string_equal("/healthz", u.path);
}

static void
ipv6_in_brackets_parses(void **state)
{
	struct probe_url u;

	(void)state;
	assert_string_equal("[::1]:9090", parsed(&u, "http://[::1]:9090/readyz"));
	assert_int_equal(AF_INET6, u.addr.ss.ss_family);
	assert_string_equal("/readyz", u.path);
}

static void
missing_port_is_80(void **state)
{
	struct probe_url u;

	(void)state;
	assert_string_equal("127.0.0.1:80", parsed(&u, "http://127.0.0.1/x"));
	assert_string_equal("[::1]:80", parsed(&u, "http://[::1]/x"));
}

static void
missing_path_is_the_root(void **state)
{
	struct probe_url u;

	(void)state;
	parsed(&u, "http://127.0.0.1:9090");
	assert_string_equal("/", u.path);
}

static void
query_is_kept_in_the_path(void **state)
{
	struct probe_url u;

	(void)state;
	parsed(&u, "http://127.0.0.1:9090/stats?x=1");
	assert_string_equal("/stats?x=1", u.path);
}

static void
other_schemes_are_refused(void **state)
{
	(void)state;
	assert_non_null(strstr(refused("https://127.0.0.1:9090/healthz"), "https"));
	refused("127.0.0.1:9090/healthz");
	refused("HTTP//127.0.0.1/");
}

static void
host_names_other_than_localhost_are_refused(void **state)
{
	struct probe_url u;

	(void)state;
	assert_string_equal("127.0.0.1:9090", parsed(&u, "http://localhost:9090/healthz"));
	refused("http://example.org/");
	refused("http://example.org:9090/healthz");
}

static void
empty_host_and_user_information_are_refused(void **state)
{
	(void)state;
	refused("http://");
	refused("http:///healthz");
	refused("http://:9090/healthz");
	assert_non_null(strstr(refused("http://u@127.0.0.1:9090/"), "user"));
}

static void
bad_ports_are_refused(void **state)
{
	(void)state;
	refused("http://127.0.0.1:0/");
	refused("http://127.0.0.1:65536/");
	refused("http://127.0.0.1:x/");
	refused("http://127.0.0.1:/");
}

static void
unbracketed_ipv6_is_refused(void **state)
{
	(void)state;
	refused("http://::1:9090/");
}

static void
paths_that_would_break_the_request_line_are_refused(void **state)
{
	(void)state;
	refused("http://127.0.0.1:9090/a b");
	refused("http://127.0.0.1:9090/a\r\nX: y");
	refused("http://127.0.0.1:9090/a#frag");
}

static void
a_path_longer_than_the_limit_is_refused(void **state)
{
	char url[PROBE_PATH_MAX + 64];
	struct probe_url u;
	const char *why;
	int n;

	(void)state;
	n = snprintf(url, sizeof(url), "http://127.0.0.1:1/");
	memset(url + n, 'a', PROBE_PATH_MAX - 2);
	url[n + PROBE_PATH_MAX - 2] =
	        '\0'; /* path: '/' + PROBE_PATH_MAX - 2 = the limit less NUL */
	assert_int_equal(0, probe_parse_url(&u, url, &why));
	assert_int_equal(PROBE_PATH_MAX - 1, strlen(u.path));
	strcat(url, "a");
	assert_string_equal("path too long", refused(url));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ipv4_with_port_and_path_parses),
	        cmocka_unit_test(ipv6_in_brackets_parses),
	        cmocka_unit_test(missing_port_is_80),
	        cmocka_unit_test(missing_path_is_the_root),
	        cmocka_unit_test(query_is_kept_in_the_path),
	        cmocka_unit_test(other_schemes_are_refused),
	        cmocka_unit_test(host_names_other_than_localhost_are_refused),
	        cmocka_unit_test(empty_host_and_user_information_are_refused),
	        cmocka_unit_test(bad_ports_are_refused),
	        cmocka_unit_test(unbracketed_ipv6_is_refused),
	        cmocka_unit_test(paths_that_would_break_the_request_line_are_refused),
	        cmocka_unit_test(a_path_longer_than_the_limit_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
