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
#define SL_XDP_REASON_RATE 1u
#define SL_XDP_REASON_BANNED 2u
#define SL_XDP_REASONS 3u

#define SL_XDP_PORTS_MAX 1024    /* entries of the per-port rate map */
#define SL_XDP_SOURCES_MAX 65536 /* sources whose rate is tracked at once (LRU) */
#define SL_XDP_BANS_MAX 65536    /* sources banned at once (LRU) */

/* flags of struct sl_xdp_limit: what the program checks on the port */
#define SL_XDP_LIMIT_RATE 1u /* each source's new-connection rate (step_ns, window_ns) */
#define SL_XDP_LIMIT_BAN 2u  /* the sources sluice banned (source_limits.ban), in sl_bans */

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

/*
 * A listener's per-source limits, by port: its new-connection rate (source_limits rate and
 * burst) and whether its bans (source_limits.ban) are checked.
 */
struct sl_xdp_limit {
	__u64 step_ns;   /* 1e9 / rate: the time one SYN costs (with SL_XDP_LIMIT_RATE) */
	__u64 window_ns; /* burst * step: how far ahead of now a source may run */
	__u8 prefix4;    /* sources sharing this prefix count as one (source_limits prefix4) */
	__u8 prefix6;
	__u8 flags; /* SL_XDP_LIMIT_* */
	__u8 pad[5];
};

/*
 * One source (its address masked to the listener's prefix) on one port: the key of the rate
 * map and of the ban map, whose value is the ban's end in bpf_ktime_get_ns() time
 * (CLOCK_MONOTONIC, ns). <bits> is the prefix it was masked to, so an entry made under another
 * prefix4/prefix6 than the port's now matches no packet (one of a listener a reload re-opened
 * with another prefix would otherwise ban more or less than it did).
 */
struct sl_xdp_src {
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u8 port[2];
	__u8 family; /* 4 or 6 */
	__u8 bits;   /* the prefix: 0 .. 32 or 0 .. 128 */
};

#endif
