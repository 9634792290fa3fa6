/* SPDX-License-Identifier: MIT */
/*
 * Loading a configuration from a string in a test: the result code, the snapshot and every
 * message the loader printed, as the config tests check them.
 */
#ifndef SL_TEST_CONFIG_H
#define SL_TEST_CONFIG_H

#include <sluice/config.h>

struct sl_test_load {
	int rc;
	struct sl_config *c;
	char *errs; /* everything printed, "" if nothing */
};

/* Loads <yaml> as the file "t.yaml" (what error messages name). */
struct sl_test_load sl_test_config_load(const char *yaml);

/* Frees what sl_test_config_load() made. */
void sl_test_config_fini(struct sl_test_load *r);

#endif /* SL_TEST_CONFIG_H */
