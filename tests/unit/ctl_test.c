// SPDX-License-Identifier: MIT
/*
 * The control socket's request parser (src/admin/ctl_parse.c): every command with its
 * arguments, and the refusals a client gets for a bad line. The server itself is driven by
 * tests/integration/sluicectl_test.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/addr.h>

#include "admin/ctl_int.h"

struct parsed {
	int rc;
	struct sl__ctl_req r;
	char why[256];
};

static struct parsed
parse(const char *line)
{
	struct parsed p;

	memset(&p, 0, sizeof(p));
	p.rc = sl__ctl_parse(line, strlen(line), &p.r, p.why, sizeof(p.why));
	return p;
}

static void
ctl_parse_reads_every_show_command(void **state)
{
	(void)state;
	assert_int_equal(SL__CTL_SHOW_INFO, parse("show info").r.cmd);
	assert_int_equal(SL__CTL_SHOW_STATS, parse("show  stats\r").r.cmd);
	assert_int_equal(SL__CTL_SHOW_BACKENDS, parse("\tshow backends ").r.cmd);
	assert_int_equal(SL__CTL_SHOW_SESSIONS, parse("show sessions").r.cmd);
	assert_int_equal(SL__CTL_SHOW_BANS, parse("show bans").r.cmd);
	assert_int_equal(SL__CTL_HELP, parse("help").r.cmd);
	assert_int_equal(SL__CTL_RELOAD, parse("reload").r.cmd);
	assert_int_equal(SL__CTL_SHUTDOWN, parse("shutdown").r.cmd);
}

static void
ctl_parse_splits_group_and_backend_at_the_first_slash(void **state)
{
	struct parsed p = parse("disable backend web/b/1");

	(void)state;
	assert_int_equal(0, p.rc);
	assert_int_equal(SL__CTL_DISABLE, p.r.cmd);
	assert_string_equal("web", p.r.group);
	assert_string_equal("b/1", p.r.name);
	assert_int_equal(SL__CTL_ENABLE, parse("enable backend a/b").r.cmd);
	assert_int_equal(SL__CTL_DRAIN, parse("drain backend a/b").r.cmd);
	assert_int_equal(SL__CTL_REMOVE, parse("remove backend a/b").r.cmd);
	p = parse("close sessions web/b1");
	assert_int_equal(0, p.rc);
	assert_int_equal(SL__CTL_CLOSE_SESSIONS, p.r.cmd);
	assert_string_equal("web", p.r.group);
	assert_string_equal("b1", p.r.name);
	p = parse("close sessions web");
	assert_int_equal(-EINVAL, p.rc);
	p = parse("close sessions");
	assert_string_equal("missing arguments; usage: close sessions GROUP/NAME", p.why);
	/* the other commands' GROUP/NAME given to add: said so */
	p = parse("add backend web/b3 127.0.0.1:80");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "add takes the group and the name as two words"));
}

static void
ctl_parse_reads_a_weight(void **state)
{
	struct parsed p = parse("set weight web/b1 250");

	(void)state;
	assert_int_equal(0, p.rc);
	assert_int_equal(SL__CTL_WEIGHT, p.r.cmd);
	assert_int_equal(250, p.r.weight);
}

static void
ctl_parse_refuses_a_weight_out_of_range(void **state)
{
	struct parsed p = parse("set weight web/b1 0");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("weight must be an integer from 1 to 1000000, got \"0\"", p.why);
	assert_int_equal(-EINVAL, parse("set weight web/b1 1000001").rc);
	assert_int_equal(-EINVAL, parse("set weight web/b1 99999999999999999999999").rc);
	assert_int_equal(-EINVAL, parse("set weight web/b1 -1").rc);
}

static void
ctl_parse_reads_add_with_its_options(void **state)
{
	struct parsed p =
	        parse("add backend web b4 127.0.0.1:9004 max_connections 10 weight 3 role backup");
	char a[SL_ADDR_STRLEN];

	(void)state;
	assert_int_equal(0, p.rc);
	assert_int_equal(SL__CTL_ADD, p.r.cmd);
	assert_string_equal("web", p.r.group);
	assert_string_equal("b4", p.r.name);
	assert_string_equal("127.0.0.1:9004", sl_addr_format(&p.r.addr, a, sizeof(a)));
	assert_int_equal(3, p.r.weight);
	assert_int_equal(10, p.r.max_connections);
	assert_true(p.r.backup);
	p = parse("add backend web b5 [::1]:9005");
	assert_int_equal(0, p.rc);
	assert_int_equal(1, p.r.weight);
	assert_int_equal(0, p.r.max_connections);
	assert_false(p.r.backup);
	p = parse("add backend web b6 [::1]:9006 role primary");
	assert_int_equal(0, p.rc);
	assert_false(p.r.backup);
	/* two would leave one unsaid: refused (ctl_parse_refuses_add_with_a_bad_address_or_option)
	 */
	assert_int_equal(-EINVAL,
	                 parse("add backend web b6 [::1]:9006 role backup role primary").rc);
}

static void
ctl_parse_refuses_add_with_a_bad_address_or_option(void **state)
{
	struct parsed p = parse("add backend web b4 nowhere");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "bad address \"nowhere\""));
	p = parse("add backend web b4 127.0.0.1:9004 colour blue");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "unknown option \"colour\""));
	p = parse("add backend web b4 127.0.0.1:9004 weight");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "\"weight\" needs a value"));
	p = parse("add backend web b4 127.0.0.1:9004 role spare");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "role must be primary or backup, got \"spare\""));
	p = parse("add backend web b4 127.0.0.1:9004 weight 2 role backup weight 3");
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("\"weight\" is given twice", p.why);
}

static void
ctl_parse_refuses_add_at_an_ipv4_mapped_address(void **state)
{
	struct parsed p = parse("add backend web b4 [::ffff:127.0.0.1]:9004");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("bad address \"[::ffff:127.0.0.1]:9004\": an IPv4 address in IPv6 form "
	                    "(IPv4-mapped): write the IPv4 address, 127.0.0.1:9004",
	                    p.why);
}

/* <p> parsed as an unban of address <addr> ("IP:0" or "[IP]:0") */
static void
assert_unban(const struct parsed *p, const char *addr)
{
	struct sl_addr want;

	assert_int_equal(0, p->rc);
	assert_int_equal(SL__CTL_UNBAN, p->r.cmd);
	assert_int_equal(0, sl_addr_parse(&want, addr, true, NULL));
	assert_true(sl_addr_equal(&want, &p->r.addr));
}

static void
ctl_parse_reads_unban_with_any_form_of_address(void **state)
{
	struct parsed p = parse("unban front 10.1.2.3");

	(void)state;
	assert_unban(&p, "10.1.2.3:0");
	assert_false(p.r.every);
	assert_string_equal("front", p.r.name);
	p = parse("unban * 10.1.2.3:4567");
	assert_unban(&p, "10.1.2.3:4567");
	assert_true(p.r.every);
	p = parse("unban front 2001:db8::1");
	assert_unban(&p, "[2001:db8::1]:0");
	p = parse("unban front ::1");
	assert_unban(&p, "[::1]:0");
	p = parse("unban front [2001:db8::1]:80");
	assert_unban(&p, "[2001:db8::1]:80");
	p = parse("unban * [2001:db8::1]");
	assert_unban(&p, "[2001:db8::1]:0");
	p = parse("unban * [::1]");
	assert_unban(&p, "[::1]:0");
}

static void
ctl_parse_refuses_unban_with_a_bad_address(void **state)
{
	struct parsed p = parse("unban front nowhere");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "bad address \"nowhere\""));
	p = parse("unban front 10.1.2.300");
	assert_int_equal(-EINVAL, p.rc);
	p = parse("unban front [10.1.2.3]");
	assert_int_equal(-EINVAL, p.rc);
	p = parse("unban front []");
	assert_int_equal(-EINVAL, p.rc);
	p = parse("unban front");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "missing arguments; usage: unban LISTENER|* ADDRESS"));
}

static void
ctl_parse_reads_ban_with_its_seconds(void **state)
{
	struct parsed p = parse("ban front 10.1.2.3 60");
	struct sl_addr want;

	(void)state;
	assert_int_equal(0, p.rc);
	assert_int_equal(SL__CTL_BAN, p.r.cmd);
	assert_string_equal("front", p.r.name);
	assert_int_equal(60, p.r.seconds);
	assert_int_equal(0, sl_addr_parse(&want, "10.1.2.3:0", true, NULL));
	assert_true(sl_addr_equal(&want, &p.r.addr));
	p = parse("ban * 2001:db8::1 4294967");
	assert_int_equal(0, p.rc);
	assert_true(p.r.every);
	assert_int_equal(4294967, p.r.seconds);
	p = parse("ban front 10.1.2.3 0");
	assert_int_equal(-EINVAL, p.rc);
	assert_non_null(strstr(p.why, "seconds must be an integer from 1 to 4294967"));
	p = parse("ban front 10.1.2.3 4294968");
	assert_int_equal(-EINVAL, p.rc);
	p = parse("ban front 10.1.2.3");
	assert_non_null(strstr(p.why, "missing arguments; usage: ban LISTENER|* ADDRESS SECONDS"));
}

static void
ctl_parse_refuses_an_unknown_command(void **state)
{
	struct parsed p = parse("frobnicate");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("unknown command \"frobnicate\" (try \"help\")", p.why);
	p = parse("show everything");
	assert_string_equal("unknown command \"show everything\": \"show\" takes info, stats, "
	                    "backends, sessions, bans (try \"help\")",
	                    p.why);
	p = parse("show");
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("\"show\" needs one more word: info, stats, backends, sessions, bans "
	                    "(try \"help\")",
	                    p.why);
	p = parse("set");
	assert_string_equal("\"set\" needs one more word: weight (try \"help\")", p.why);
}

static void
ctl_parse_refuses_missing_and_extra_arguments(void **state)
{
	struct parsed p = parse("disable backend");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("missing arguments; usage: disable backend GROUP/NAME", p.why);
	p = parse("show info now");
	assert_string_equal("extra arguments; usage: show info", p.why);
	p = parse("disable backend web");
	assert_string_equal("expected GROUP/NAME, got \"web\"", p.why);
	assert_int_equal(-EINVAL, parse("disable backend /b1").rc);
	assert_int_equal(-EINVAL, parse("disable backend web/").rc);
}

static void
ctl_parse_refuses_an_empty_line(void **state)
{
	(void)state;
	assert_int_equal(-EINVAL, parse("").rc);
	assert_int_equal(-EINVAL, parse(" \t ").rc);
}

static void
ctl_parse_refuses_control_and_non_ascii_bytes(void **state)
{
	struct parsed p = parse("show\x01info");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("request has a control or non-ASCII byte (0x01) at offset 4", p.why);
	assert_int_equal(-EINVAL, parse("show inf\xc3\xb6").rc);
	p.rc = sl__ctl_parse("show\0info", 9, &p.r, p.why, sizeof(p.why));
	assert_int_equal(-EINVAL, p.rc);
}

static void
ctl_parse_refuses_a_name_too_long(void **state)
{
	char line[256];

	(void)state;
	snprintf(line, sizeof(line), "disable backend web/%064d", 0);
	assert_int_equal(-EINVAL, parse(line).rc);
	snprintf(line, sizeof(line), "disable backend web/%063d", 0);
	assert_int_equal(0, parse(line).rc);
}

static void
ctl_parse_refuses_a_name_the_config_file_would_refuse(void **state)
{
	struct parsed p = parse("add backend web c\"<x> 127.0.0.1:9004");

	(void)state;
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("bad backend name \"c\"<x>\": it may contain only printable ASCII "
	                    "without spaces, double quotes or backslashes",
	                    p.why);
	p = parse("disable backend we\\b/b1");
	assert_int_equal(-EINVAL, p.rc);
	assert_string_equal("bad group name \"we\\b\": it may contain only printable ASCII "
	                    "without spaces, double quotes or backslashes",
	                    p.why);
	/* a single quote is a name's, as in the file */
	assert_int_equal(0, parse("add backend web it's 127.0.0.1:9004").rc);
}

static void
ctl_parse_refuses_too_many_words_and_too_long_a_line(void **state)
{
	char line[SL__CTL_REQUEST_MAX + 2];

	(void)state;
	assert_int_equal(-EINVAL, parse("add backend g n 127.0.0.1:1 a b c d e f g h i j k l").rc);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(-EINVAL, parse(line).rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ctl_parse_reads_every_show_command),
	        cmocka_unit_test(ctl_parse_splits_group_and_backend_at_the_first_slash),
	        cmocka_unit_test(ctl_parse_reads_a_weight),
	        cmocka_unit_test(ctl_parse_refuses_a_weight_out_of_range),
	        cmocka_unit_test(ctl_parse_reads_add_with_its_options),
	        cmocka_unit_test(ctl_parse_refuses_add_with_a_bad_address_or_option),
	        cmocka_unit_test(ctl_parse_refuses_add_at_an_ipv4_mapped_address),
	        cmocka_unit_test(ctl_parse_reads_unban_with_any_form_of_address),
	        cmocka_unit_test(ctl_parse_reads_ban_with_its_seconds),
	        cmocka_unit_test(ctl_parse_refuses_unban_with_a_bad_address),
	        cmocka_unit_test(ctl_parse_refuses_an_unknown_command),
	        cmocka_unit_test(ctl_parse_refuses_missing_and_extra_arguments),
	        cmocka_unit_test(ctl_parse_refuses_an_empty_line),
	        cmocka_unit_test(ctl_parse_refuses_control_and_non_ascii_bytes),
	        cmocka_unit_test(ctl_parse_refuses_a_name_too_long),
	        cmocka_unit_test(ctl_parse_refuses_a_name_the_config_file_would_refuse),
	        cmocka_unit_test(ctl_parse_refuses_too_many_words_and_too_long_a_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
