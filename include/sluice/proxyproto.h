/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol v1 (text) and v2 (binary) codec, as specified in HAProxy's proxy-protocol.txt:
 * an incremental parser for the header a client-side proxy puts in front of a connection, and
 * builders for the header sluice puts in front of a backend connection. No I/O and no
 * allocation: the caller brings the bytes and the buffers. Design notes:
 * docs/internals/proxyproto.md. Thread safety: all functions are pure, any thread may call them.
 */
#ifndef SLUICE_PROXYPROTO_H
#define SLUICE_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/addr.h>
#include <sluice/common.h>

/* A v1 line is at most 107 bytes with its CRLF; the shortest is "PROXY UNKNOWN\r\n". */
#define SL_PP_V1_MAX_LEN 107
#define SL_PP_V1_MIN_LEN 15
/* A v2 header is 16 fixed bytes (signature, ver_cmd, fam, length) and <length> more. */
#define SL_PP_V2_FIXED_LEN 16
/* Largest v2 header any sender can produce: 16 + a 16-bit length. */
#define SL_PP_V2_MAX_LEN (SL_PP_V2_FIXED_LEN + 65535)
/*
 * Default bound on a received v2 header: the minimum IPv4 TCP MSS (RFC 879), so a header within
 * it always arrives in the first segment, as the spec expects of senders. It holds the largest
 * address block (AF_UNIX, 216 bytes) plus 304 bytes of TLVs.
 */
#define SL_PP_MAX_LEN_DEFAULT 536
/* Smallest useful bound: the fixed part plus an IPv6 address block. */
#define SL_PP_MAX_LEN_MIN (SL_PP_V2_FIXED_LEN + 36)
/* A buffer this big holds any header sl_pp_parse() can accept under the default bound. */
#define SL_PP_BUF_LEN SL_PP_MAX_LEN_DEFAULT

/* Bits for sl_pp_opts.versions. */
#define SL_PP_V1 1u
#define SL_PP_V2 2u

enum sl_pp_cmd {
	/* the sender opened the connection itself (v2 LOCAL, e.g. a health check): no addresses */
	SL_PP_CMD_LOCAL,
	/* relayed TCP connection: src and dst hold the original endpoints */
	SL_PP_CMD_PROXY,
	/*
	 * relayed, but the addresses are not usable here: v1 UNKNOWN, or v2 PROXY with an
	 * UNSPEC, UDP or AF_UNIX family. The receiver uses the real connection endpoints.
	 */
	SL_PP_CMD_UNKNOWN,
};

struct sl_pp_opts {
	unsigned versions; /* SL_PP_V1 | SL_PP_V2; 0 = both */
	size_t max_len;    /* bytes; bound on a whole header (v1 too, below 107); 0 = default */
};

/* A parsed header, or the header to build. */
struct sl_pp_hdr {
	unsigned version; /* 1 or 2 (set by the parser; the builders take the version apart) */
	enum sl_pp_cmd cmd;
	struct sl_addr src; /* the client; unset (len 0) unless cmd is SL_PP_CMD_PROXY */
	struct sl_addr dst; /* the address the client connected to; unset likewise */
	const uint8_t *tlv; /* v2 TLV bytes, unchanged; points into the parsed buffer */
	size_t tlv_len;     /* 0 for v1 */
};

/*
 * Parses a PROXY header at the start of <buf> (<len> bytes received so far; more may follow,
 * and payload may follow the header). Accepts the versions in <o>->versions (NULL <o>: both,
 * default bound). v1 is validated strictly: "PROXY", one space between fields, TCP4/TCP6 with
 * inet_pton-valid addresses of that family, decimal ports 0-65535 without leading zeros, CRLF
 * within 107 bytes (or <o>->max_len, if less); after "PROXY UNKNOWN" anything up to the CRLF is
 * ignored, as the spec says. v2: signature, version 2, command LOCAL or PROXY, a known family, a
 * length within <o>->max_len and at least the family's address block, and TLVs that exactly fill
 * the rest. Returns the header's length in bytes (> 0; the caller consumes exactly that many),
 * -EAGAIN if <buf> is a valid prefix and more bytes are needed (see sl_pp_need()), -EPROTO if the
 * bytes are not a PROXY header of an accepted version, or -EINVAL if they are a malformed one. On
 * an error <*why> (if not NULL) is set to a static reason, fit for a log line or a counter name. On
 * success <*h> is filled; h->tlv points into <buf>, which the caller keeps alive.
 */
SL_API ssize_t sl_pp_parse(struct sl_pp_hdr *h, const void *buf, size_t len,
                           const struct sl_pp_opts *o, const char **why);

/*
 * After sl_pp_parse() returned -EAGAIN for (<buf>, <len>): the total byte count to have before
 * parsing again, always > <len> and never more than the header will turn out to be, so
 * reading exactly (result - <len>) more bytes never consumes payload. A v2 header is known
 * exactly after its 16 fixed bytes; a v1 line only at its CRLF, so v1 advances by 1 or 2 bytes
 * at a time (a caller that can MSG_PEEK should rather peek up to the bound and parse that).
 * Returns <len> or less when the bytes are already complete or invalid: call sl_pp_parse().
 */
SL_API size_t sl_pp_need(const void *buf, size_t len);

/*
 * Writes a version <version> (1 or 2) header for <h> into <buf> (<size> bytes); h->version is
 * ignored. cmd PROXY with both addresses IPv4 or both IPv6 gives TCP4/TCP6; with one of each,
 * the IPv4 one is written as its v4-mapped IPv6 form (::ffff:a.b.c.d) and TCP6 is used, so the
 * client address survives. cmd PROXY with an address unset, and cmd UNKNOWN, give "PROXY
 * UNKNOWN" (v1) or PROXY with family UNSPEC (v2). cmd LOCAL gives "PROXY UNKNOWN" (v1 has no
 * LOCAL) or LOCAL/UNSPEC (v2). v2 appends h->tlv unchanged; they must be well-formed TLVs. v1
 * ignores them. Returns the header length, -ENOSPC if <size> is too small (nothing useful is
 * written), or -EINVAL for a bad <version>, command, TLV block, or a v2 header over 65551 bytes.
 */
SL_API ssize_t sl_pp_build(void *buf, size_t size, unsigned version, const struct sl_pp_hdr *h);

#endif /* SLUICE_PROXYPROTO_H */
