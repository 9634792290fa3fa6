// SPDX-License-Identifier: MIT
/*
 * The SYN both xdp-drop generators send (synflood.c through a raw socket, xdpgen.c as raw
 * frames): an IPv4 header and a TCP header with valid checksums. Header-only: each generator is
 * one file the run script compiles on its own.
 */
#ifndef SL_BENCH_XDP_SYN_H
#define SL_BENCH_XDP_SYN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct syn_pkt {
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

/* The Internet checksum of <len> bytes at <data>, starting from <sum>. */
static inline uint16_t
syn_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] | p[1] << 8);
	if (len == 1)
		sum += *p;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Fills <p> as a SYN from <src>:<sport> to <dst>:<dport> (addresses in network order). */
static inline void
syn_build(struct syn_pkt *p, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
		struct tcphdr tcp;
	} __attribute__((packed)) ph;

	memset(p, 0, sizeof(*p));
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.tot_len = htons(sizeof(*p));
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.saddr = src;
	p->ip.daddr = dst;
	p->ip.check = syn_csum(&p->ip, sizeof(p->ip), 0);
	p->tcp.source = htons(sport);
	p->tcp.dest = htons(dport);
	p->tcp.seq = htonl(0x5eed0000u + sport);
	p->tcp.doff = 5;
	p->tcp.syn = 1;
	p->tcp.window = htons(65535);
	ph.src = src;
	ph.dst = dst;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(sizeof(p->tcp));
	ph.tcp = p->tcp;
	p->tcp.check = syn_csum(&ph, sizeof(ph), 0);
}

#endif
