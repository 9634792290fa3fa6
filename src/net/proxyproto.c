// SPDX-License-Identifier: MIT
/*
 * PROXY protocol v1/v2 codec (include/sluice/proxyproto.h): pure functions over the caller's
 * bytes. sl_pp_parse() autodetects the version from the first byte ('P' or the v2 signature's
 * CR), checks every byte it has as soon as it has it, and says -EAGAIN only for a valid prefix.
 * sl_pp_build() writes what the parser accepts. Limits and the read strategy:
 * docs/internals/proxyproto.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sluice/proxyproto.h>

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* v2 ver_cmd and fam nibbles */
#define V2_VERSION 0x2
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_PROTO_STREAM 0x1
#define V2_PROTO_DGRAM 0x2
#define V2_TLV_CRC32C 0x03

/* address block length per v2 address family nibble */
static const size_t v2_addr_len[4] = {0, 12, 36, 216};

/* One endpoint pair in wire form, as both builders need it. */
struct pp_pair {
	int af; /* AF_INET, AF_INET6, or AF_UNSPEC for "no usable addresses" */
	uint8_t sip[16], dip[16];
	uint16_t sport, dport; /* network order */
};

static ssize_t
fail(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

static size_t
be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* <port> points at 2 bytes in network order, as on the wire and in sin_port */
static void
set_in4(struct sl_addr *a, const void *ip, const void *port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	s4->sin_family = AF_INET;
	memcpy(&s4->sin_addr, ip, 4);
	memcpy(&s4->sin_port, port, 2);
	a->len = sizeof(*s4);
}

static void
set_in6(struct sl_addr *a, const void *ip, const void *port)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, ip, 16);
	memcpy(&s6->sin6_port, port, 2);
	a->len = sizeof(*s6);
}

/* 0 if <n> bytes at <t> are whole TLVs (type, 16-bit length, value), else -EINVAL and <*why>. */
static int
check_tlvs(const uint8_t *t, size_t n, const char **why)
{
	size_t off = 0, vlen;

	while (off < n) {
		if (n - off < 3)
			return (int)fail(why, "v2: TLV header overruns the header", -EINVAL);
		vlen = be16(t + off + 1);
		if (vlen > n - off - 3)
			return (int)fail(why, "v2: TLV value overruns the header", -EINVAL);
		off += 3 + vlen;
	}
	return 0;
}

/* CRC32C (Castagnoli, reflected), as the v2 CRC32C TLV carries it; a header is short, so bit
 * by bit */
static uint32_t
crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (unsigned k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
	}
	return ~c;
}

/*
 * The v2 header of <total> bytes at <buf>, whose TLVs are the <n> bytes at <t> (checked
 * whole): a CRC32C TLV's value is set to the checksum of the header with it zeroed, as the
 * spec says, so a header rebuilt around a received TLV (other addresses, or PROXY for LOCAL)
 * carries a checksum a receiver that verifies it accepts.
 */
static void
seal_crc32c(uint8_t *buf, size_t total, uint8_t *t, size_t n)
{
	uint8_t *crc = NULL;
	uint32_t c;

	for (size_t off = 0; off < n; off += 3 + be16(t + off + 1))
		if (t[off] == V2_TLV_CRC32C && be16(t + off + 1) == 4 && crc == NULL)
			crc = t + off + 3;
	if (crc == NULL)
		return;
	memset(crc, 0, 4);
	c = crc32c(buf, total);
	crc[0] = (uint8_t)(c >> 24);
	crc[1] = (uint8_t)(c >> 16);
	crc[2] = (uint8_t)(c >> 8);
	crc[3] = (uint8_t)c;
}

static ssize_t
parse_v2(struct sl_pp_hdr *h, const uint8_t *p, size_t len, size_t max_len, const char **why)
{
	unsigned cmd, af, proto;
	size_t blen, alen, total;
	const uint8_t *a;
	int err;

	if (memcmp(p, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
		return fail(why, "v2: bad signature", -EPROTO);
	if (len < 13)
		return -EAGAIN;
	if (p[12] >> 4 != V2_VERSION)
		return fail(why, "v2: version is not 2", -EINVAL);
	cmd = p[12] & 0xf;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(why, "v2: unknown command", -EINVAL);
	if (len < 14)
		return -EAGAIN;
	af = p[13] >> 4;
	proto = p[13] & 0xf;
	/* a LOCAL receiver ignores the family and protocol (the spec): only PROXY's count */
	if (cmd != V2_CMD_LOCAL && (af > V2_AF_UNIX || proto > V2_PROTO_DGRAM))
		return fail(why, "v2: unknown address family or protocol", -EINVAL);
	if (len < SL_PP_V2_FIXED_LEN)
		return -EAGAIN;
	blen = be16(p + 14);
	total = SL_PP_V2_FIXED_LEN + blen;
	if (total > max_len)
		return fail(why, "v2: header longer than the configured bound", -EINVAL);
	/* LOCAL: the block is discarded with the family (the spec), except TLVs after the
	 * addresses of a family it holds; PROXY: the block must hold the addresses */
	alen = af <= V2_AF_UNIX ? v2_addr_len[af] : blen;
	if (blen < alen && cmd == V2_CMD_LOCAL)
		alen = blen;
	if (blen < alen)
		return fail(why, "v2: address block too short for the family", -EINVAL);
	if (len < total)
		return -EAGAIN;
	a = p + SL_PP_V2_FIXED_LEN;
	err = check_tlvs(a + alen, blen - alen, why);
	if (err)
		return err;

	h->version = 2;
	h->tlv = blen > alen ? a + alen : NULL;
	h->tlv_len = blen - alen;
	if (cmd == V2_CMD_LOCAL) {
		h->cmd = SL_PP_CMD_LOCAL;
	} else if (proto == V2_PROTO_STREAM && af == V2_AF_INET) {
		h->cmd = SL_PP_CMD_PROXY;
		set_in4(&h->src, a, a + 8);
		set_in4(&h->dst, a + 4, a + 10);
	} else if (proto == V2_PROTO_STREAM && af == V2_AF_INET6) {
		h->cmd = SL_PP_CMD_PROXY;
		set_in6(&h->src, a, a + 32);
		set_in6(&h->dst, a + 16, a + 34);
	} else {
		/* UNSPEC, UDP or AF_UNIX: valid, but not an address a TCP proxy can use */
		h->cmd = SL_PP_CMD_UNKNOWN;
	}
	return (ssize_t)total;
}

/*
 * Takes the next field of a v1 line from [*s, end): bytes up to one space (or to <end> if
 * <last>). Fields are separated by exactly one space, so an empty field means a doubled,
 * leading or trailing space.
 */
static int
v1_field(const char **s, const char *end, bool last, const char **tok, size_t *n, const char **why)
{
	const char *sp = memchr(*s, ' ', (size_t)(end - *s));
	const char *e = sp ? sp : end;

	if (e == *s)
		return (int)fail(why, *s == end ? "v1: missing field" : "v1: extra space", -EINVAL);
	if (!last && !sp)
		return (int)fail(why, "v1: missing field", -EINVAL);
	if (last && sp)
		return (int)fail(why, "v1: extra field or trailing space", -EINVAL);
	*tok = *s;
	*n = (size_t)(e - *s);
	*s = sp ? sp + 1 : end;
	return 0;
}

static int
v1_ip(int af, const char *tok, size_t n, void *ip, const char **why)
{
	char text[INET6_ADDRSTRLEN];

	if (n >= sizeof(text))
		return (int)fail(why, "v1: invalid IP address", -EINVAL);
	memcpy(text, tok, n);
	text[n] = '\0';
	if (inet_pton(af, text, ip) != 1)
		return (int)fail(why, "v1: invalid IP address", -EINVAL);
	return 0;
}

/* decimal 0-65535, no sign, no leading zero except "0" itself */
static int
v1_port(const char *tok, size_t n, uint16_t *port_be, const char **why)
{
	unsigned v = 0;
	size_t i;

	if (n > 5 || (n > 1 && tok[0] == '0'))
		return (int)fail(why, "v1: invalid port", -EINVAL);
	for (i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return (int)fail(why, "v1: invalid port", -EINVAL);
		v = v * 10 + (unsigned)(tok[i] - '0');
	}
	if (v > 65535)
		return (int)fail(why, "v1: invalid port", -EINVAL);
	*port_be = htons((uint16_t)v);
	return 0;
}

/* Fields of a complete v1 line: [s, end) is everything after "PROXY " and before the CRLF. */
static int
v1_fields(struct sl_pp_hdr *h, const char *s, const char *end, const char **why)
{
	uint8_t sip[16], dip[16];
	uint16_t sport, dport;
	const char *tok;
	size_t n;
	int af, err;

	/* "PROXY UNKNOWN" may be followed by anything: the receiver must ignore it */
	if ((size_t)(end - s) >= 7 && memcmp(s, "UNKNOWN", 7) == 0 &&
	    (s + 7 == end || s[7] == ' ')) {
		h->cmd = SL_PP_CMD_UNKNOWN;
		return 0;
	}
	/* the protocol is named before its fields are counted: "UNKNOWNX" is a bad name */
	tok = memchr(s, ' ', (size_t)(end - s));
	n = (size_t)((tok ? tok : end) - s);
	if (n == 4 && memcmp(s, "TCP4", 4) == 0)
		af = AF_INET;
	else if (n == 4 && memcmp(s, "TCP6", 4) == 0)
		af = AF_INET6;
	else if (n == 0)
		return (int)fail(why, s == end ? "v1: missing field" : "v1: extra space", -EINVAL);
	else
		return (int)fail(why, "v1: protocol is not TCP4, TCP6 or UNKNOWN", -EINVAL);
	if (!tok)
		return (int)fail(why, "v1: missing field", -EINVAL);
	s = tok + 1;
	err = v1_field(&s, end, false, &tok, &n, why);
	if (!err)
		err = v1_ip(af, tok, n, sip, why);
	if (!err)
		err = v1_field(&s, end, false, &tok, &n, why);
	if (!err)
		err = v1_ip(af, tok, n, dip, why);
	if (!err)
		err = v1_field(&s, end, false, &tok, &n, why);
	if (!err)
		err = v1_port(tok, n, &sport, why);
	if (!err)
		err = v1_field(&s, end, true, &tok, &n, why);
	if (!err)
		err = v1_port(tok, n, &dport, why);
	if (err)
		return err;
	h->cmd = SL_PP_CMD_PROXY;
	if (af == AF_INET) {
		set_in4(&h->src, sip, &sport);
		set_in4(&h->dst, dip, &dport);
	} else {
		set_in6(&h->src, sip, &sport);
		set_in6(&h->dst, dip, &dport);
	}
	return 0;
}

static ssize_t
parse_v1(struct sl_pp_hdr *h, const uint8_t *p, size_t len, size_t max_len, const char **why)
{
	size_t most = max_len < SL_PP_V1_MAX_LEN ? max_len : SL_PP_V1_MAX_LEN;
	size_t i, lim = len < most ? len : most;
	int err;

	if (memcmp(p, "PROXY", len < 5 ? len : 5) != 0)
		return fail(why, "not a PROXY protocol header", -EPROTO);
	if (len < 6)
		return -EAGAIN;
	if (p[5] != ' ')
		return fail(why, "v1: expected a space after PROXY", -EINVAL);
	for (i = 6; i < lim; i++) {
		if (p[i] == '\n')
			break;
		if (p[i] == '\r') {
			if (i + 1 < len && p[i + 1] != '\n')
				return fail(why, "v1: CR not followed by LF", -EINVAL);
		} else if (p[i] < 0x20 || p[i] > 0x7e) {
			return fail(why, "v1: control or non-ASCII byte in the line", -EINVAL);
		}
	}
	if (i == lim) {
		if (len >= SL_PP_V1_MAX_LEN)
			return fail(why, "v1: no CRLF within 107 bytes", -EINVAL);
		if (len >= most) /* a longer line would pass the caller's bound */
			return fail(why, "v1: no CRLF within the longest header taken", -EINVAL);
		return -EAGAIN;
	}
	if (p[i - 1] != '\r')
		return fail(why, "v1: LF without CR", -EINVAL);
	err = v1_fields(h, (const char *)p + 6, (const char *)p + i - 1, why);
	if (err)
		return err;
	h->version = 1;
	return (ssize_t)(i + 1);
}

ssize_t
sl_pp_parse(struct sl_pp_hdr *h, const void *buf, size_t len, const struct sl_pp_opts *o,
            const char **why)
{
	unsigned versions = o && o->versions ? o->versions : SL_PP_V1 | SL_PP_V2;
	size_t max_len = o && o->max_len ? o->max_len : SL_PP_MAX_LEN_DEFAULT;
	const uint8_t *p = buf;
	const char *dummy;
	ssize_t n;

	if (!why)
		why = &dummy;
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return -EAGAIN;
	if (p[0] == v2_sig[0] && (versions & SL_PP_V2))
		n = parse_v2(h, p, len, max_len, why);
	else if (p[0] == 'P' && (versions & SL_PP_V1))
		n = parse_v1(h, p, len, max_len, why);
	else if (!(versions & SL_PP_V1))
		n = fail(why, "not a PROXY v2 header", -EPROTO);
	else if (!(versions & SL_PP_V2))
		n = fail(why, "not a PROXY v1 header", -EPROTO);
	else
		n = fail(why, "not a PROXY protocol header", -EPROTO);
	if (n < 0)
		memset(h, 0, sizeof(*h));
	return n;
}

size_t
sl_pp_need(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len == 0)
		return SL_PP_V1_MIN_LEN;
	if (p[0] == v2_sig[0])
		return len < SL_PP_V2_FIXED_LEN ? SL_PP_V2_FIXED_LEN
		                                : SL_PP_V2_FIXED_LEN + be16(p + 14);
	if (memchr(p, '\n', len))
		return len;
	if (len < SL_PP_V1_MIN_LEN)
		return SL_PP_V1_MIN_LEN;
	/* a valid line holds its only CR just before the LF */
	return p[len - 1] == '\r' ? len + 1 : len + 2;
}

/* What <h> says to send: both endpoints in one family, or AF_UNSPEC. 0 or -EINVAL. */
static int
pair_of(const struct sl_pp_hdr *h, struct pp_pair *pp)
{
	const struct sl_addr *ends[2] = {&h->src, &h->dst};
	uint8_t *ips[2] = {pp->sip, pp->dip};
	uint16_t *ports[2] = {&pp->sport, &pp->dport};
	int fam[2];
	size_t i;

	memset(pp, 0, sizeof(*pp));
	pp->af = AF_UNSPEC;
	if (h->cmd != SL_PP_CMD_PROXY && h->cmd != SL_PP_CMD_LOCAL && h->cmd != SL_PP_CMD_UNKNOWN)
		return -EINVAL;
	if (h->cmd != SL_PP_CMD_PROXY)
		return 0;
	for (i = 0; i < 2; i++) {
		fam[i] = ends[i]->len ? ends[i]->ss.ss_family : AF_UNSPEC;
		if (fam[i] != AF_INET && fam[i] != AF_INET6)
			return 0;
	}
	pp->af = fam[0] == fam[1] ? fam[0] : AF_INET6;
	for (i = 0; i < 2; i++) {
		if (fam[i] == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ends[i]->ss;

			memcpy(ips[i], &s6->sin6_addr, 16);
			*ports[i] = s6->sin6_port;
			continue;
		}
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ends[i]->ss;

		if (pp->af == AF_INET) {
			memcpy(ips[i], &s4->sin_addr, 4);
		} else {
			/* mixed pair: ::ffff:a.b.c.d keeps the IPv4 address (RFC 4291 2.5.5.2) */
			ips[i][10] = 0xff;
			ips[i][11] = 0xff;
			memcpy(ips[i] + 12, &s4->sin_addr, 4);
		}
		*ports[i] = s4->sin_port;
	}
	return 0;
}

static ssize_t
build_v1(char *buf, size_t size, const struct pp_pair *pp)
{
	char line[SL_PP_V1_MAX_LEN + 1], sip[INET6_ADDRSTRLEN], dip[INET6_ADDRSTRLEN];
	int n;

	if (pp->af == AF_UNSPEC) {
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	} else {
		inet_ntop(pp->af, pp->sip, sip, sizeof(sip));
		inet_ntop(pp->af, pp->dip, dip, sizeof(dip));
		n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
		             pp->af == AF_INET ? "TCP4" : "TCP6", sip, dip, ntohs(pp->sport),
		             ntohs(pp->dport));
	}
	/* the longest line, two full IPv6 addresses and ports 65535, is 104 bytes; checked anyway,
	 * as a truncated line must never be copied out */
	if (n <= 0 || (size_t)n > SL_PP_V1_MAX_LEN)
		return -EINVAL;
	if ((size_t)n > size)
		return -ENOSPC;
	memcpy(buf, line, (size_t)n);
	return n;
}

static ssize_t
build_v2(uint8_t *buf, size_t size, const struct pp_pair *pp, const struct sl_pp_hdr *h)
{
	size_t alen = pp->af == AF_INET ? 12 : pp->af == AF_INET6 ? 36 : 0;
	size_t blen, total, iplen = pp->af == AF_INET ? 4 : 16;
	const char *why;
	uint8_t *a;

	if (h->tlv_len && !h->tlv)
		return -EINVAL;
	if (check_tlvs(h->tlv, h->tlv_len, &why))
		return -EINVAL;
	blen = alen + h->tlv_len;
	if (blen > 0xffff)
		return -EINVAL;
	total = SL_PP_V2_FIXED_LEN + blen;
	if (total > size)
		return -ENOSPC;
	a = buf + SL_PP_V2_FIXED_LEN;
	/* TLVs first, with memmove: <h>->tlv may point into <buf>, at or before where it goes */
	if (h->tlv_len)
		memmove(a + alen, h->tlv, h->tlv_len);
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = V2_VERSION << 4 | (h->cmd == SL_PP_CMD_LOCAL ? V2_CMD_LOCAL : V2_CMD_PROXY);
	buf[13] = pp->af == AF_INET    ? V2_AF_INET << 4 | V2_PROTO_STREAM
	          : pp->af == AF_INET6 ? V2_AF_INET6 << 4 | V2_PROTO_STREAM
	                               : 0;
	buf[14] = (uint8_t)(blen >> 8);
	buf[15] = (uint8_t)blen;
	if (alen) {
		memcpy(a, pp->sip, iplen);
		memcpy(a + iplen, pp->dip, iplen);
		memcpy(a + 2 * iplen, &pp->sport, 2);
		memcpy(a + 2 * iplen + 2, &pp->dport, 2);
	}
	seal_crc32c(buf, total, a + alen, h->tlv_len);
	return (ssize_t)total;
}

ssize_t
sl_pp_build(void *buf, size_t size, unsigned version, const struct sl_pp_hdr *h)
{
	struct pp_pair pp;

	if (pair_of(h, &pp))
		return -EINVAL;
	if (version == 1)
		return build_v1(buf, size, &pp);
	if (version == 2)
		return build_v2(buf, size, &pp, h);
	return -EINVAL;
}
