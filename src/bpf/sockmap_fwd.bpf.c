// SPDX-License-Identifier: MIT
/*
 * The sockmap forwarder's verdict program (forward: sockmap, docs/architecture.md): every
 * segment that arrives on a socket in sl_sockmap_socks is redirected to the egress of that
 * socket's peer, so a forwarded session's bytes never reach the process. Built with clang
 * -target bpf and embedded in the sluice binary; src/proxy/sockmap.c loads it and attaches it
 * to the sockhash, src/net/fwd_sockmap.c puts each session's two sockets in.
 */
/* the kernel's types before libbpf's helpers, which use them */
// clang-format off
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "bpf/sockmap_dir.h"

/* socket cookie -> socket; max_entries set at load (two per session slot) */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} sl_sockmap_socks SEC(".maps");

/* socket cookie -> the index in sl_sockmap_dirs of the direction that socket is the source of */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} sl_sockmap_index SEC(".maps");

/* the directions; mapped into the process, which reads the byte counts and sets the modes */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_sockmap_dir);
} sl_sockmap_dirs SEC(".maps");

/* the fields of the kernel's struct tcp_sock read here; their offsets come from the kernel's BTF
 * at load (CO-RE) */
struct tcp_sock {
	__u64 bytes_sent;    /* bytes sent, retransmissions included */
	__u64 bytes_retrans; /* bytes retransmitted */
	__u32 write_seq;     /* sequence number after the last byte the socket took to send */
	__u32 snd_nxt;       /* ... after the last byte sent */
} __attribute__((preserve_access_index));

/* peer_lag(): the peer is not in the sockhash (never went in, or closed): no redirect */
#define NO_PEER (~0ull)

/*
 * Bytes meant for direction <d>'s peer (redirected, or kept for the process, which writes
 * them) that the peer has not taken into its send queue yet: what sits in the kernel's queue
 * between the two. NO_PEER if the peer is not in the sockhash: a redirect there would drop the
 * segment.
 */
static __u64
peer_lag(struct sl_sockmap_dir *d, __u64 passed)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&sl_sockmap_socks, &d->peer);
	struct tcp_sock *tp;
	__u64 lag = 0;

	if (!sk)
		return NO_PEER;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		/* as the process counts it from TCP_INFO: sent once, plus not sent yet */
		__u64 taken =
		        tp->bytes_sent - tp->bytes_retrans + (__u32)(tp->write_seq - tp->snd_nxt);
		__u64 meant = d->bytes + passed;

		taken -= d->peer_taken0;
		lag = meant > taken ? meant - taken : 0;
	}
	bpf_sk_release(sk);
	return lag;
}

SEC("sk_skb/stream_verdict")
int
sl_sockmap_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct sl_sockmap_dir *d;
	__u32 *slot;

	/* A segment with no data carries only the FIN, which the socket has already taken in
	 * (a read says EOF). Redirected, the destination's sender would stop at it and report a
	 * broken pipe; passed, it could queue behind the other direction's redirected bytes,
	 * where the same happens. It is dropped, the only verdict that leaves both sockets
	 * well. */
	if (skb->len == 0)
		return SK_DROP;
	slot = bpf_map_lookup_elem(&sl_sockmap_index, &cookie);
	if (!slot)
		return SK_PASS; /* not a session's (cannot happen): the process reads it */
	d = bpf_map_lookup_elem(&sl_sockmap_dirs, slot);
	if (!d)
		return SK_PASS;
	/* the process changes the state at most once between two of these tries */
	for (int i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)&d->state;
		__u64 passed = old & SL_SOCKMAP_PASSED_MASK;
		__u64 lag = NO_PEER;

		if (old >> SL_SOCKMAP_MODE_SHIFT == SL_SOCKMAP_REDIRECT)
			lag = peer_lag(d, passed);

		if (lag != NO_PEER && lag + skb->len <= SL_SOCKMAP_LAG_MAX) {
			__sync_fetch_and_add(&d->bytes, skb->len);
			return (int)bpf_sk_redirect_hash(skb, &sl_sockmap_socks, &d->peer, 0);
		}
		/* before the redirect was on, the peer is that far behind or not there: kept
		 * for the process, counted before it is queued (an EOF the process reads comes
		 * after) */
		if (__sync_val_compare_and_swap(&d->state, old,
		                                ((__u64)SL_SOCKMAP_PASS << SL_SOCKMAP_MODE_SHIFT) |
		                                        (passed + skb->len)) == old)
			return SK_PASS;
	}
	return SK_PASS; /* cannot happen (see above) */
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
