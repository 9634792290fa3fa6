// SPDX-License-Identifier: MIT
/*
 * The XDP early-drop program (docs/protection.md "XDP early drop"): drops a TCP SYN (no ACK)
 * whose (destination port, source address) the listeners' allow/deny prefixes refuse, whose
 * source sluice banned (source_limits.ban), or whose source is over its listener's
 * source_limits rate, before the network stack sees it, and counts the drop. Built with clang
 * -target bpf and embedded in the sluice binary; src/proxy/xdp.c loads it and keeps its maps in
 * step with the config.
 */
/* the kernel's types before libbpf's helpers, which use them */
// clang-format off
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "proxy/xdp_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct sl_xdp_key4);
	__type(value, __u32);
	__uint(max_entries, SL_XDP_RULES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sl_acl4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct sl_xdp_key6);
	__type(value, __u32);
	__uint(max_entries, SL_XDP_RULES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sl_acl6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, SL_XDP_REASONS);
} sl_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* destination port, host order */
	__type(value, struct sl_xdp_limit);
	__uint(max_entries, SL_XDP_PORTS_MAX);
} sl_limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sl_xdp_src);
	__type(value, __u64); /* the source's theoretical arrival time, ns (GCRA) */
	__uint(max_entries, SL_XDP_SOURCES_MAX);
} sl_srcs SEC(".maps");

/* filled by sluice's workers (src/proxy/xdp.c sl_xdp_ban()), one entry per ban */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sl_xdp_src);
	__type(value, __u64); /* the ban's end, bpf_ktime_get_ns() time */
	__uint(max_entries, SL_XDP_BANS_MAX);
} sl_bans SEC(".maps");

static __always_inline int
drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&sl_drops, &reason);

	if (n != 0)
		*n += 1; /* per-CPU: no other writer */
	return XDP_DROP;
}

/* A new connection: SYN without ACK. */
static __always_inline int
is_syn(const struct tcphdr *t)
{
	return t->syn && !t->ack;
}

/* Keeps the first <bits> bits of the <n>-byte address <a>, zeroes the rest. */
static __always_inline void
mask(__u8 *a, int n, int bits)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		int keep = bits - 8 * i;

		if (i >= n || keep >= 8)
			continue;
		a[i] = keep <= 0 ? 0 : (__u8)(a[i] & (0xff << (8 - keep)));
	}
}

/* Whether sluice banned the source <k> (masked) at <now>; an ended ban's entry goes. */
static __always_inline int
banned(struct sl_xdp_src *k, __u64 now)
{
	__u64 *until = bpf_map_lookup_elem(&sl_bans, k);

	if (until == 0)
		return 0;
	if (*until > now)
		return 1;
	bpf_map_delete_elem(&sl_bans, k);
	return 0;
}

/*
 * Whether a SYN from <k> (masked) to a port with limit <l> is over the rate: GCRA, the token
 * bucket's twin, on one timestamp per source. The read-modify-write is not atomic: two CPUs
 * taking one source's SYNs at once may both pass (a slight excess, never a wrong drop).
 */
static __always_inline int
over_rate(struct sl_xdp_src *k, const struct sl_xdp_limit *l, __u64 now)
{
	__u64 t, *tat;

	tat = bpf_map_lookup_elem(&sl_srcs, k);
	t = tat != 0 && *tat > now ? *tat : now;
	if (t + l->step_ns - now > l->window_ns)
		return 1;
	t += l->step_ns;
	if (tat != 0)
		*tat = t;
	else
		bpf_map_update_elem(&sl_srcs, k, &t, BPF_ANY);
	return 0;
}

/*
 * The per-source checks of a SYN from <k> (address not yet masked) to a port with limits <l>:
 * a ban first (a banned source's SYN costs it no rate), then the rate. XDP_PASS or a drop.
 */
static __always_inline int
source_checks(struct sl_xdp_src *k, const struct sl_xdp_limit *l)
{
	__u64 now = bpf_ktime_get_ns();

	k->bits = k->family == 4 ? l->prefix4 : l->prefix6;
	mask(k->addr, k->family == 4 ? 4 : 16, k->bits);
	if ((l->flags & SL_XDP_LIMIT_BAN) && banned(k, now))
		return drop(SL_XDP_REASON_BANNED);
	if ((l->flags & SL_XDP_LIMIT_RATE) && over_rate(k, l, now))
		return drop(SL_XDP_REASON_RATE);
	return XDP_PASS;
}

SEC("xdp")
int
sl_xdp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sl_xdp_limit *lim;
	struct sl_xdp_src src = {0};
	__u32 *verdict, port;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct sl_xdp_key4 k = {0};
		struct tcphdr *t;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
			return XDP_PASS;
		/* a fragment other than the first has no TCP header */
		if (ip->frag_off & bpf_htons(0x1fff))
			return XDP_PASS;
		t = (void *)ip + ip->ihl * 4;
		if ((void *)(t + 1) > end || !is_syn(t))
			return XDP_PASS;
		k.prefixlen = SL_XDP_PORT_BITS + 32;
		__builtin_memcpy(k.port, &t->dest, 2);
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		verdict = bpf_map_lookup_elem(&sl_acl4, &k);
		if (verdict != 0 && *verdict == SL_XDP_DENY)
			return drop(SL_XDP_REASON_DENIED);
		port = bpf_ntohs(t->dest);
		lim = bpf_map_lookup_elem(&sl_limits, &port);
		if (lim != 0) {
			__builtin_memcpy(src.addr, &ip->saddr, 4);
			__builtin_memcpy(src.port, &t->dest, 2);
			src.family = 4;
			return source_checks(&src, lim);
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip = (void *)(eth + 1);
		struct sl_xdp_key6 k = {0};
		struct tcphdr *t;

		/* TCP right after the fixed header; extension headers pass to the stack */
		if ((void *)(ip + 1) > end || ip->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		t = (void *)(ip + 1);
		if ((void *)(t + 1) > end || !is_syn(t))
			return XDP_PASS;
		k.prefixlen = SL_XDP_PORT_BITS + 128;
		__builtin_memcpy(k.port, &t->dest, 2);
		__builtin_memcpy(k.addr, &ip->saddr, 16);
		verdict = bpf_map_lookup_elem(&sl_acl6, &k);
		if (verdict != 0 && *verdict == SL_XDP_DENY)
			return drop(SL_XDP_REASON_DENIED);
		port = bpf_ntohs(t->dest);
		lim = bpf_map_lookup_elem(&sl_limits, &port);
		if (lim != 0) {
			__builtin_memcpy(src.addr, &ip->saddr, 16);
			__builtin_memcpy(src.port, &t->dest, 2);
			src.family = 6;
			return source_checks(&src, lim);
		}
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
