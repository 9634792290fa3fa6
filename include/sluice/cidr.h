/* SPDX-License-Identifier: MIT */
/*
 * CIDR prefixes as users write them in access lists: "10.0.0.0/8", "192.168.1.7" (a /32),
 * "2001:db8::/32", "::1" (a /128). Parsing is strict: a prefix whose address has bits set beyond
 * its length ("10.0.0.1/8") is refused unless the caller asks for them to be masked off.
 * IPv4-mapped IPv6 prefixes ("::ffff:10.0.0.0/104") become the IPv4 prefix they name
 * (10.0.0.0/8), so one address is never in two families; see docs/internals/lpm.md.
 * Thread safety: all functions are pure and may be called from any thread; none allocates.
 */
#ifndef SLUICE_CIDR_H
#define SLUICE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

/* Longest text sl_cidr_format() writes, with its NUL: an IPv6 address (45), "/128" and NUL. */
#define SL_CIDR_STRLEN 50

/* sl_cidr_parse() flags. */
enum {
	/* clear host bits beyond the prefix length instead of refusing the prefix */
	SL_CIDR_MASK_HOST_BITS = 1u << 0,
};

struct sl_cidr {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t len;      /* prefix length in bits: 0-32 (AF_INET) or 0-128 (AF_INET6) */
	uint8_t addr[16]; /* network byte order; AF_INET uses addr[0..3], the rest is zero */
};

/*
 * Parses <text> (NUL-terminated) into <*c>: "ADDR" or "ADDR/LEN", ADDR a numeric IPv4 (dotted
 * quad) or IPv6 address, LEN a decimal prefix length without sign, spaces or leading zeros.
 * Without "/LEN" the prefix is a single host (/32 or /128). Refuses host bits set beyond LEN
 * unless <flags> has SL_CIDR_MASK_HOST_BITS, which clears them. An IPv4-mapped IPv6 prefix of
 * length >= 96 becomes the IPv4 prefix of length LEN - 96; a shorter one stays IPv6.
 * Returns 0, or -EINVAL with a static explanation in <*why> (if not NULL), such as
 * "host bits set beyond the prefix length". <*c> is written only on success.
 */
SL_API int sl_cidr_parse(struct sl_cidr *c, const char *text, unsigned flags, const char **why);

/*
 * Writes <c> as "ADDR/LEN" (always with "/LEN") into <buf> of <size> bytes; SL_CIDR_STRLEN
 * always suffices. The text parses back to the same prefix. Returns <buf>, or NULL if <size>
 * is too small or <c> is not a valid prefix (family unknown, length out of range, host bits set).
 */
SL_API char *sl_cidr_format(const struct sl_cidr *c, char *buf, size_t size);

/* true if <c> is well formed: known family, length in range, no host bits beyond the length. */
SL_API bool sl_cidr_is_valid(const struct sl_cidr *c);

/*
 * true if the address <addr> of family <family> (4 or 16 bytes, network order) lies inside
 * <c>. An address of the other family is never inside; map IPv4-mapped addresses to IPv4 first
 * (sl_cidr_unmap()).
 */
SL_API bool sl_cidr_contains(const struct sl_cidr *c, int family, const void *addr);

/*
 * If the 16-byte IPv6 address <a6> is IPv4-mapped (::ffff:a.b.c.d), copies its IPv4 part to
 * <a4> (4 bytes) and returns true; otherwise returns false and leaves <a4> alone.
 */
SL_API bool sl_cidr_unmap(const uint8_t a6[16], uint8_t a4[4]);

#endif /* SLUICE_CIDR_H */
