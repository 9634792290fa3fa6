// SPDX-License-Identifier: MIT
/*
 * The BPF side of bench/xdp-drop/xdpgen.c. xdpgen_send is run by BPF_PROG_RUN in live-frames
 * mode on a prepared SYN frame: it gives each frame the next source port (1024 + n % 64000, as
 * synflood.c does; the TCP checksum updated to match) and redirects it to the sending veth,
 * whose peer then runs its own XDP program (or the IP stack) on a raw xdp_frame, as a NIC
 * driver would. xdpgen_pass is the do-nothing program attached to the receiving veth so that
 * it accepts xdp_frames when the drop is left to the IP stack; xdpgen_drop, the cheapest XDP
 * drop there is, measures what veth's hand-over of a frame costs. Built with clang -target bpf
 * by bench/xdp-drop/run.
 */
/* the kernel's types before libbpf's helpers, which use them */
// clang-format off
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

/* the sending veth's ifindex, set by the loader before the program is loaded */
volatile const __u32 xdpgen_ifindex = 0;

/* frames generated so far; only the generator's one CPU runs the program */
__u32 xdpgen_sent = 0;

/* <check> after one 16-bit word of the summed data went from <from> to <to> (RFC 1624) */
static __always_inline __u16
csum_replace(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check + (__u16)~from + (__u32)to;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int
xdpgen_send(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *t = (void *)(ip + 1);
	__u16 port;

	if ((void *)(t + 1) > end)
		return XDP_ABORTED;
	/* the page keeps what the last run on it wrote, so the update is from the frame's own */
	port = bpf_htons((__u16)(1024 + xdpgen_sent++ % 64000));
	t->check = csum_replace(t->check, t->source, port);
	t->source = port;
	return bpf_redirect(xdpgen_ifindex, 0);
}

SEC("xdp")
int
xdpgen_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("xdp")
int
xdpgen_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
