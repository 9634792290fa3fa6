// SPDX-License-Identifier: GPL-2.0
/*
 * The sockmap probe's verdict program: every skb that arrives on a socket in <socks> is
 * redirected to the egress of its peer (looked up by socket cookie in <peer>), so the bytes
 * never reach user space. A socket without a peer entry keeps its data (SK_PASS).
 */
/* linux/bpf.h first: bpf_helpers.h needs its types */
/* clang-format off */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
/* clang-format on */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket cookie */
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);   /* socket cookie */
	__type(value, __u64); /* the peer's socket cookie */
} peer SEC(".maps");

SEC("sk_skb/stream_verdict")
int
redirect_to_peer(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *to = bpf_map_lookup_elem(&peer, &cookie);

	if (!to)
		return SK_PASS;
	return bpf_sk_redirect_hash(skb, &socks, to, 0);
}

char _license[] SEC("license") = "GPL";
