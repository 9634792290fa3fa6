// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the configuration loader: any bytes go through sl_config_load_string().
 * It must never crash, leak or read out of bounds, whatever it accepts or refuses. How to build
 * and run it: docs/configuration.md, "Fuzzing".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct sl_config *c = NULL;

	/* errors are printed too, so the formatting paths are fuzzed; /dev/null drops them */
	if (!sink)
		sink = fopen("/dev/null", "w");
	if (sl_config_load_string(&c, "fuzz", (const char *)data, size, sink) == 0)
		sl_config_free(c);
	return 0;
}
