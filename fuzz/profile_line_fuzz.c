// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the trace_pipe line parser of the tcp events (src/proxy/profile.c,
 * sl__profile_parse_line()). Input is one line of text. Whatever parses must name one of the
 * three kinds and a NUL-terminated remote end that fits the buffer; a buffer too small for it
 * must make the parse fail, never overrun.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4096], remote[80], small[12];
	unsigned kind = 99, k2 = 99;

	if (size >= sizeof(line))
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (!sl__profile_parse_line(line, &kind, remote, sizeof(remote)))
		return 0;
	if (kind > SL__PROFILE_RESET_RECEIVED || strlen(remote) >= sizeof(remote))
		abort();
	if (sl__profile_parse_line(line, &k2, small, sizeof(small)) &&
	    (strlen(small) >= sizeof(small) || strcmp(small, remote) != 0 || k2 != kind))
		abort(); /* a small buffer parses the same or not at all */
	return 0;
}
