// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the CIDR prefix parser (src/net/cidr.c). The first byte picks the flags,
 * the rest is the text. Whatever parses must be valid, format within SL_CIDR_STRLEN, and parse
 * back from its formatted text to the same prefix; strict and masking parses must agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/cidr.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], out[SL_CIDR_STRLEN], out2[SL_CIDR_STRLEN];
	struct sl_cidr c, back, strict;
	unsigned flags;
	const char *why = NULL;

	if (size == 0 || size > sizeof(text))
		return 0;
	flags = data[0] & SL_CIDR_MASK_HOST_BITS;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (sl_cidr_parse(&c, text, flags, &why) != 0) {
		if (!why)
			abort(); /* every refusal says why */
		return 0;
	}
	if (!sl_cidr_is_valid(&c))
		abort();
	if (!sl_cidr_format(&c, out, sizeof(out)))
		abort();
	if (sl_cidr_parse(&back, out, 0, &why) != 0 || memcmp(&c, &back, sizeof(c)))
		abort(); /* parse -> format -> parse is the identity */
	if (!sl_cidr_format(&back, out2, sizeof(out2)) || strcmp(out, out2))
		abort();
	/* a prefix the strict parse accepts is untouched by masking */
	if (!flags && (sl_cidr_parse(&strict, text, SL_CIDR_MASK_HOST_BITS, &why) != 0 ||
	               memcmp(&c, &strict, sizeof(c))))
		abort();
	return 0;
}
