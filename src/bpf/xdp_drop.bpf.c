// SPDX-License-Identifier: MIT
/*
 * The XDP early-drop program (docs/protection.md "XDP early drop"): drops a TCP SYN (no ACK)
 * whose (destination port, source address) the listeners' allow/deny prefixes refuse, before
 * the network stack sees it, and counts the drop. Built with clang -target bpf and embedded
 * in the sluice binary; src/proxy/xdp.c loads it and keeps its maps in step with the config.
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

SEC("xdp")
int
sl_xdp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 *verdict;

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
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
