// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the PROXY protocol v1 parser: any bytes go through sl_pp_parse() with
 * only v1 accepted, then through the checks in proxyproto_check.h (prefixes, sl_pp_need(), and
 * the parse -> build -> parse round trip in both versions). Seeds: fuzz/corpus/proxyproto_v1.
 */
#include <stddef.h>
#include <stdint.h>

#include "proxyproto_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sl_pp_opts o = {.versions = SL_PP_V1};

	pp_check_input(data, size, &o);
	return 0;
}
