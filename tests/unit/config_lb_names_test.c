// SPDX-License-Identifier: MIT
/*
 * A group's balance: takes every balancer by the name sl_lb_algo_names gives it, and stores
 * that algorithm; a name the balancers do not know is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sluice/config.h>
#include <sluice/lb.h>

static int
load_with_balance(const char *name, enum sl_lb_algo want)
{
	char text[512];
	struct sl_config *c = NULL;
	int n, err;

	n = snprintf(text, sizeof(text),
	             "listeners:\n  - address: 127.0.0.1:8080\n    group: g\n"
	             "groups:\n  - name: g\n    balance: %s\n    backends:\n"
	             "      - address: 127.0.0.1:9001\n      - address: 127.0.0.1:9002\n",
	             name);
	err = sl_config_load_string(&c, "t.yaml", text, (size_t)n, NULL);
	if (err == 0) {
		assert_int_equal(want, c->groups[0].balance);
		sl_config_free(c);
	}
	return err;
}

static void
config_accepts_every_balancer_name(void **state)
{
	(void)state;
	for (int a = SL_LB_ROUND_ROBIN; a <= SL_LB_MAGLEV; a++)
		assert_int_equal(0, load_with_balance(sl_lb_algo_name((enum sl_lb_algo)a),
		                                      (enum sl_lb_algo)a));
}

static void
config_refuses_a_name_the_balancers_do_not_know(void **state)
{
	enum sl_lb_algo a;

	(void)state;
	assert_int_equal(-EINVAL, sl_lb_algo_parse("random", &a));
	assert_int_equal(-EINVAL, load_with_balance("random", SL_LB_ROUND_ROBIN));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(config_accepts_every_balancer_name),
	        cmocka_unit_test(config_refuses_a_name_the_balancers_do_not_know),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
