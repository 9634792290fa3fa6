/* SPDX-License-Identifier: MIT */
/*
 * The layout shared by the XDP program (src/bpf/xdp_drop.bpf.c) and its loader
 * (src/proxy/xdp.c): the keys of the prefix maps and the drop reasons. Fixed-size types only,
 * since the BPF side sees no libc.
 */
#ifndef SLUICE_PROXY_XDP_MAPS_H
#define SLUICE_PROXY_XDP_MAPS_H

#include <linux/types.h>

/* the destination port's bits come first in every key, then the source prefix */
#define SL_XDP_PORT_BITS 16
#define SL_XDP_RULES_MAX 65536 /* entries per map (IPv4, IPv6) */

/* values of the prefix maps */
#define SL_XDP_ALLOW 0u
#define SL_XDP_DENY 1u

/* indices of the drop counter array */
#define SL_XDP_REASON_DENIED 0u
#define SL_XDP_REASONS 1u

/* LPM trie keys: prefixlen counts bits of port, then address (network byte order) */
struct sl_xdp_key4 {
	__u32 prefixlen;
	__u8 port[2];
	__u8 addr[4];
	__u8 pad[2]; /* zero; never within prefixlen */
};

struct sl_xdp_key6 {
	__u32 prefixlen;
	__u8 port[2];
	__u8 addr[16];
	__u8 pad[2]; /* zero; never within prefixlen */
};

#endif
