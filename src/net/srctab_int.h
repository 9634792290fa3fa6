/* SPDX-License-Identifier: MIT */
/*
 * sl_srctab internals shared with its benchmark: the key a source maps to and its keyed hash, so
 * a baseline table can do the same work per operation.
 */
#ifndef SLUICE_NET_SRCTAB_INT_H
#define SLUICE_NET_SRCTAB_INT_H

#include <stdint.h>

#include <sluice/srctab.h>

/*
 * Fills <key> with <a>'s address masked to the table's prefix: IPv6 as two big-endian halves,
 * IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d. Returns 0 or -EAFNOSUPPORT.
 */
int sl__srctab_key(const struct sl_srctab *t, const struct sl_addr *a, uint64_t key[2]);

/* SipHash-1-3 of <key> under the table's secret seed. */
uint64_t sl__srctab_hash(const struct sl_srctab *t, const uint64_t key[2]);

#endif /* SLUICE_NET_SRCTAB_INT_H */
