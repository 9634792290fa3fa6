// SPDX-License-Identifier: MIT
/* Loading a configuration from a string in a test (sl_test_config.h). */
#include "sl_test_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct sl_test_load
sl_test_config_load(const char *yaml)
{
	struct sl_test_load r = {0};
	size_t n = 0;
	FILE *f = open_memstream(&r.errs, &n);

	assert_non_null(f);
	r.rc = sl_config_load_string(&r.c, "t.yaml", yaml, strlen(yaml), f);
	assert_int_equal(0, fclose(f));
	return r;
}

void
sl_test_config_fini(struct sl_test_load *r)
{
	sl_config_free(r->c);
	free(r->errs);
}
