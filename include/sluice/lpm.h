/* SPDX-License-Identifier: MIT */
/*
 * Longest-prefix match over IPv4 and IPv6 prefixes, for access lists: build once, then look up
 * from any number of threads. A builder collects (prefix, value) pairs; sl_lpm_build() turns
 * them into an immutable table. Lookups never allocate, never write, and take no locks, so a
 * table published in a config snapshot can be shared by every worker. Structure and costs:
 * docs/internals/lpm.md.
 */
#ifndef SLUICE_LPM_H
#define SLUICE_LPM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sluice/cidr.h>
#include <sluice/common.h>

/* What a lookup returns when no prefix matches. Values (an action or list id) are below it:
 * 16 bits let the IPv4 first level hold a slot's value and a lone prefix's in one entry. */
#define SL_LPM_NONE 0xffffu

struct sl_lpm;
struct sl_lpm_builder;

struct sl_lpm_stats {
	size_t bytes;          /* everything the table holds allocated, both families */
	size_t bytes4, bytes6; /* of which each family's arrays */
	size_t prefixes4, prefixes6;
	size_t nodes4, nodes6;           /* 64-way nodes below the first level, 32 bytes each */
	size_t leaves4, leaves6;         /* leaf runs stored, 4 bytes each */
	unsigned root_bits4, root_bits6; /* first level: 2^bits entries (IPv4 8 bytes, IPv6 4) */
};

/* Makes an empty builder. Returns 0 or -ENOMEM. Single-threaded: one thread owns a builder. */
SL_API int sl_lpm_builder_create(struct sl_lpm_builder **out);

/* Frees <b> (NULL is fine). Tables already built from it stay valid. */
SL_API void sl_lpm_builder_destroy(struct sl_lpm_builder *b);

/*
 * Adds prefix <c> with <value> (0 .. SL_LPM_NONE - 1). Refuses an invalid prefix
 * (sl_cidr_is_valid()) with -EINVAL and a value out of range with -ERANGE. The same prefix
 * added twice is found by sl_lpm_build(). Returns 0, or -ENOMEM (the builder is unchanged).
 */
SL_API int sl_lpm_builder_add(struct sl_lpm_builder *b, const struct sl_cidr *c, uint32_t value);

/*
 * Builds the table for the prefixes in <b> (which it may reorder) into <*out>. Returns 0,
 * -EEXIST if one prefix was added twice, -ENOMEM (nothing is left allocated), or -E2BIG if the
 * table would need more than 2^31 nodes. The caller owns <*out> and frees it with
 * sl_lpm_destroy(). Runs in O(prefixes x (log prefixes + trie depth) + first-level size).
 */
SL_API int sl_lpm_build(struct sl_lpm **out, struct sl_lpm_builder *b);

/* Frees <t> (NULL is fine). No lookup may be running on it. */
SL_API void sl_lpm_destroy(struct sl_lpm *t);

/* Value of the longest IPv4 prefix containing <addr> (host byte order), or SL_LPM_NONE. */
SL_API uint32_t sl_lpm_lookup4(const struct sl_lpm *t, uint32_t addr);

/* Value of the longest IPv6 prefix containing <addr> (16 bytes, network order), or SL_LPM_NONE.
 * An IPv4-mapped address is looked up as IPv6 here; sl_lpm_lookup_sa() unmaps it. */
SL_API uint32_t sl_lpm_lookup6(const struct sl_lpm *t, const uint8_t addr[16]);

/*
 * Value for the address in <sa> (AF_INET or AF_INET6; the port is ignored), or SL_LPM_NONE for
 * another family. An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) is looked up
 * in the IPv4 prefixes, as sl_cidr_parse() files "::ffff:a.b.c.d/n" there.
 */
SL_API uint32_t sl_lpm_lookup_sa(const struct sl_lpm *t, const struct sockaddr *sa);

/* Fills <*s> with the sizes of <t>. */
SL_API void sl_lpm_stats(const struct sl_lpm *t, struct sl_lpm_stats *s);

#endif /* SLUICE_LPM_H */
