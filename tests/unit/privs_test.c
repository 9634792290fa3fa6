// SPDX-License-Identifier: MIT
/*
 * sl_privs_resolve() against passwd and group files written by the test: names, ids, the
 * primary group, supplementary groups from member lists, and the refusals (unknown names, an id
 * with no entry and no group, root). The drop itself runs in tests/integration/privileges_test.py.
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

#include <sluice/config.h>
#include <sluice/privs.h>

static const char passwd_text[] = "# a comment\n"
                                  "root:x:0:0:root:/root:/bin/sh\n"
                                  "+nis-entry::0:0:::\n"
                                  "broken line\n"
                                  "web:x:1001:2001:Web:/srv:/sbin/nologin\n"
                                  "lone:x:1002:2002::/:/sbin/nologin\n";
static const char group_text[] = "root:x:0:\n"
                                 "webgrp:x:2001:\n"
                                 "logs:x:3001:lone,web\n"
                                 "webby:x:3002:webmaster\n"
                                 "audit:x:3003:web\n";

struct files {
	char passwd[64];
	char group[64];
};

static void
write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	strcpy(f->passwd, "/tmp/privs-passwd-XXXXXX");
	strcpy(f->group, "/tmp/privs-group-XXXXXX");
	write_file(f->passwd, passwd_text);
	write_file(f->group, group_text);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct files *f = *state;

	unlink(f->passwd);
	unlink(f->group);
	free(f);
	return 0;
}

static int
resolve(void **state, struct sl_privs_id *id, const char *user, const char *group)
{
	struct files *f = *state;
	char why[256];

	return sl_privs_resolve(id, user, group, f->passwd, f->group, why, sizeof(why));
}

static void
privs_named_user_takes_its_ids_and_member_groups(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(0, resolve(state, &id, "web", ""));
	assert_int_equal(1001, id.uid);
	assert_int_equal(2001, id.gid);
	assert_string_equal("web", id.user);
	assert_string_equal("webgrp", id.group);
	assert_int_equal(3, id.ngroups);
	assert_int_equal(2001, id.groups[0]);
	assert_int_equal(3001, id.groups[1]); /* "lone,web": the whole name, not a prefix */
	assert_int_equal(3003, id.groups[2]);
}

static void
privs_named_group_replaces_the_primary_group(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(0, resolve(state, &id, "lone", "audit"));
	assert_int_equal(1002, id.uid);
	assert_int_equal(3003, id.gid);
	assert_int_equal(2, id.ngroups);
	assert_int_equal(3003, id.groups[0]);
	assert_int_equal(3001, id.groups[1]);
}

static void
privs_numeric_user_with_an_entry_is_that_user(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(0, resolve(state, &id, "1001", ""));
	assert_string_equal("web", id.user);
	assert_int_equal(2001, id.gid);
	assert_int_equal(3, id.ngroups);
}

static void
privs_numeric_ids_without_entries_get_no_supplementary_group(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(0, resolve(state, &id, "4242", "4343"));
	assert_int_equal(4242, id.uid);
	assert_int_equal(4343, id.gid);
	assert_string_equal("4242", id.user);
	assert_string_equal("4343", id.group);
	assert_int_equal(1, id.ngroups);
	assert_int_equal(4343, id.groups[0]);
}

static void
privs_numeric_user_without_entry_needs_a_group(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(-ENOENT, resolve(state, &id, "4242", ""));
}

static void
privs_unknown_user_is_refused(void **state)
{
	struct files *f = *state;
	struct sl_privs_id id;
	char why[256];

	assert_int_equal(-ENOENT, sl_privs_resolve(&id, "nosuch", "", f->passwd, f->group, why,
	                                           sizeof(why)));
	assert_non_null(strstr(why, "unknown user \"nosuch\""));
}

static void
privs_nis_compat_line_is_not_a_user(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(-ENOENT, resolve(state, &id, "+nis-entry", ""));
}

static void
privs_unknown_group_is_refused(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(-ENOENT, resolve(state, &id, "web", "nosuch"));
}

static void
privs_root_user_is_refused(void **state)
{
	struct sl_privs_id id;

	assert_int_equal(-EINVAL, resolve(state, &id, "root", ""));
	assert_int_equal(-EINVAL, resolve(state, &id, "0", ""));
}

static void
privs_missing_passwd_file_says_so(void **state)
{
	struct sl_privs_id id;
	char why[256];

	(void)state;
	assert_int_equal(-ENOENT, sl_privs_resolve(&id, "web", "", "/nonexistent/passwd",
	                                           "/nonexistent/group", why, sizeof(why)));
	assert_non_null(strstr(why, "cannot read /nonexistent/passwd"));
}

static void
privs_low_port_needs_net_bind_service_only_to_bind(void **state)
{
	static const char text[] = "listeners:\n  - address: 127.0.0.1:80\n    group: g\n"
	                           "groups:\n  - name: g\n    backends:\n"
	                           "      - address: 127.0.0.1:9001\n";
	struct sl_config *c = NULL;
	char why[256] = "";

	(void)state;
	assert_int_equal(0, sl_config_load_string(&c, "t.yaml", text, sizeof(text) - 1, NULL));
	assert_int_equal(UINT64_C(1) << 10 /* CAP_NET_BIND_SERVICE */,
	                 sl_privs_caps(c, SL_PRIVS_BIND, why, sizeof(why)));
	assert_non_null(strstr(why, "127.0.0.1:80"));
	assert_int_equal(0, sl_privs_caps(c, SL_PRIVS_RUN, NULL, 0));
	sl_config_free(c);
}

static void
privs_required_xdp_keeps_bpf_and_net_admin_while_running(void **state)
{
	static const char text[] = "xdp: {interface: lo, required: true}\n"
	                           "listeners:\n  - address: 127.0.0.1:8080\n    group: g\n"
	                           "groups:\n  - name: g\n    backends:\n"
	                           "      - address: 127.0.0.1:9001\n";
	struct sl_config *c = NULL;
	char why[256] = "";

	(void)state;
	assert_int_equal(0, sl_config_load_string(&c, "t.yaml", text, sizeof(text) - 1, NULL));
	assert_int_equal(UINT64_C(1) << 12 /* CAP_NET_ADMIN */ | UINT64_C(1) << 39 /* CAP_BPF */,
	                 sl_privs_caps(c, SL_PRIVS_RUN, why, sizeof(why)));
	assert_string_equal("xdp on lo", why);
	assert_int_equal(0, sl_privs_caps(c, SL_PRIVS_BIND, NULL, 0));
	sl_config_free(c);
}

static void
privs_config_reads_user_and_group(void **state)
{
	static const char text[] = "user: nobody\ngroup: 65534\n"
	                           "listeners:\n  - address: 127.0.0.1:8080\n    group: g\n"
	                           "groups:\n  - name: g\n    backends:\n"
	                           "      - address: 127.0.0.1:9001\n";
	struct sl_config *c = NULL;

	(void)state;
	assert_int_equal(0, sl_config_load_string(&c, "t.yaml", text, sizeof(text) - 1, NULL));
	assert_string_equal("nobody", c->user);
	assert_string_equal("65534", c->group);
	sl_config_free(c);
}

static void
privs_config_refuses_an_id_past_the_range(void **state)
{
	static const char text[] = "user: 4294967295\n"
	                           "listeners:\n  - address: 127.0.0.1:8080\n    group: g\n"
	                           "groups:\n  - name: g\n    backends:\n"
	                           "      - address: 127.0.0.1:9001\n";
	struct sl_config *c = NULL;

	(void)state;
	assert_int_equal(-EINVAL,
	                 sl_config_load_string(&c, "t.yaml", text, sizeof(text) - 1, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(privs_named_user_takes_its_ids_and_member_groups,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(privs_named_group_replaces_the_primary_group, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(privs_numeric_user_with_an_entry_is_that_user,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                privs_numeric_ids_without_entries_get_no_supplementary_group, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(privs_numeric_user_without_entry_needs_a_group,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(privs_unknown_user_is_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(privs_nis_compat_line_is_not_a_user, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(privs_unknown_group_is_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(privs_root_user_is_refused, setup, teardown),
	        cmocka_unit_test(privs_missing_passwd_file_says_so),
	        cmocka_unit_test(privs_low_port_needs_net_bind_service_only_to_bind),
	        cmocka_unit_test(privs_required_xdp_keeps_bpf_and_net_admin_while_running),
	        cmocka_unit_test(privs_config_reads_user_and_group),
	        cmocka_unit_test(privs_config_refuses_an_id_past_the_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
