/* SPDX-License-Identifier: MIT */
/*
 * Shared by the two PROXY protocol fuzz targets: what must hold for any input, accepted or not.
 * A refusal needs a reason; -EAGAIN needs sl_pp_need() to ask for more; an accepted header must
 * have had every prefix answered with -EAGAIN, and must survive parse -> build -> parse in both
 * versions with the same command, addresses and TLVs, the second build byte-identical.
 */
#ifndef SLUICE_FUZZ_PROXYPROTO_CHECK_H
#define SLUICE_FUZZ_PROXYPROTO_CHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/proxyproto.h>

#define PP_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * <n> bytes of TLVs at <t> into <out> with the value of the first CRC32C TLV (type 0x03, 4
 * bytes) zeroed: the builder seals that one with the checksum of the header it builds, so it
 * is the one value a round trip may change.
 */
static void
pp_tlvs_unsealed(const uint8_t *t, size_t n, uint8_t *out)
{
	memcpy(out, t, n);
	for (size_t off = 0; off + 3 <= n; off += 3 + (size_t)(out[off + 1] << 8 | out[off + 2]))
		if (out[off] == 0x03 && out[off + 1] == 0 && out[off + 2] == 4 && off + 7 <= n) {
			memset(out + off + 3, 0, 4);
			return;
		}
}

static void
pp_check_rebuild(const struct sl_pp_hdr *h, unsigned v)
{
	static uint8_t b1[SL_PP_V2_MAX_LEN], b2[SL_PP_V2_MAX_LEN];
	struct sl_pp_hdr h2, h3;
	enum sl_pp_cmd want = v == 1 && h->cmd == SL_PP_CMD_LOCAL ? SL_PP_CMD_UNKNOWN : h->cmd;
	ssize_t n1, n2;

	n1 = sl_pp_build(b1, sizeof(b1), v, h);
	PP_CHECK(n1 > 0);
	/* the rebuilt header is never longer than the one parsed, so the bound cannot refuse it */
	PP_CHECK(sl_pp_parse(&h2, b1, (size_t)n1, NULL, NULL) == n1);
	PP_CHECK(h2.version == v);
	PP_CHECK(h2.cmd == want);
	if (want == SL_PP_CMD_PROXY) {
		PP_CHECK(sl_addr_equal(&h->src, &h2.src) && h->src.len == h2.src.len);
		PP_CHECK(sl_addr_equal(&h->dst, &h2.dst) && h->dst.len == h2.dst.len);
	} else {
		PP_CHECK(h2.src.len == 0 && h2.dst.len == 0);
	}
	if (v == 2) {
		static uint8_t t1[SL_PP_V2_MAX_LEN], t2[SL_PP_V2_MAX_LEN];

		PP_CHECK(h2.tlv_len == h->tlv_len);
		if (h->tlv_len != 0) {
			pp_tlvs_unsealed(h->tlv, h->tlv_len, t1);
			pp_tlvs_unsealed(h2.tlv, h2.tlv_len, t2);
			PP_CHECK(memcmp(t1, t2, h->tlv_len) == 0);
		}
	} else {
		PP_CHECK(h2.tlv_len == 0);
	}
	n2 = sl_pp_build(b2, sizeof(b2), v, &h2);
	PP_CHECK(n2 == n1 && memcmp(b1, b2, (size_t)n1) == 0);
	PP_CHECK(sl_pp_parse(&h3, b2, (size_t)n2, NULL, NULL) == n2);
}

static void
pp_check_input(const uint8_t *data, size_t size, const struct sl_pp_opts *o)
{
	struct sl_pp_hdr h, hp;
	const char *why = NULL;
	ssize_t n;
	size_t k, need;

	n = sl_pp_parse(&h, data, size, o, &why);
	if (n == -EAGAIN) {
		PP_CHECK(sl_pp_need(data, size) > size);
		return;
	}
	if (n < 0) {
		PP_CHECK(n == -EINVAL || n == -EPROTO);
		PP_CHECK(why != NULL && why[0] != '\0');
		return;
	}
	PP_CHECK((size_t)n <= size);
	PP_CHECK(h.version == 1 ? n <= SL_PP_V1_MAX_LEN : (size_t)n <= SL_PP_MAX_LEN_DEFAULT);
	/* whatever follows the header does not change it */
	PP_CHECK(sl_pp_parse(&hp, data, (size_t)n, o, NULL) == n);
	for (k = 0; k < (size_t)n; k++) {
		PP_CHECK(sl_pp_parse(&hp, data, k, o, NULL) == -EAGAIN);
		need = sl_pp_need(data, k);
		PP_CHECK(need > k && need <= (size_t)n);
	}
	pp_check_rebuild(&h, 1);
	pp_check_rebuild(&h, 2);
}

#endif /* SLUICE_FUZZ_PROXYPROTO_CHECK_H */
