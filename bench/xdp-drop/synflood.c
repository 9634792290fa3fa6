// SPDX-License-Identifier: MIT
/*
 * A bounded SYN generator for bench/xdp-drop/run: sends COUNT TCP SYNs from SRC to DST:PORT
 * through a raw IPv4 socket (source ports cycling from 1024), in batches of 64 with
 * sendmmsg(), then prints "sent COUNT in SECONDS s: PPS pps". Root (CAP_NET_RAW) only.
 *   synflood SRC DST PORT COUNT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

struct pkt {
	struct iphdr ip;
	struct tcphdr tcp;
};

static uint16_t
csum(const void *data, size_t len, uint32_t sum)
{
	const uint16_t *p = data;

	for (; len > 1; len -= 2)
		sum += *p++;
	if (len == 1)
		sum += *(const uint8_t *)p;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Fills <p> as a SYN from <src>:<sport> to <dst>:<dport> (addresses in network order). */
static void
build(struct pkt *p, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
		struct tcphdr tcp;
	} ph;

	memset(p, 0, sizeof(*p));
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.tot_len = htons(sizeof(*p));
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.saddr = src;
	p->ip.daddr = dst;
	p->ip.check = csum(&p->ip, sizeof(p->ip), 0);
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
	p->tcp.check = csum(&ph, sizeof(ph), 0);
}

int
main(int argc, char **argv)
{
	static struct pkt pkts[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct in_addr src, dst;
	struct timespec t0, t1;
	unsigned long count, sent = 0;
	unsigned port;
	double secs;
	int fd;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &src) != 1 ||
	    inet_pton(AF_INET, argv[2], &dst) != 1) {
		fprintf(stderr, "usage: synflood SRC DST PORT COUNT\n");
		return 2;
	}
	port = (unsigned)strtoul(argv[3], NULL, 10);
	count = strtoul(argv[4], NULL, 10);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd == -1) {
		perror("synflood: socket");
		return 1;
	}
	to.sin_addr = dst;
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){.iov_base = &pkts[i], .iov_len = sizeof(pkts[i])};
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &to,
		                                       .msg_namelen = sizeof(to),
		                                       .msg_iov = &iov[i],
		                                       .msg_iovlen = 1}};
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < count) {
		int n = count - sent < BATCH ? (int)(count - sent) : BATCH, r;

		for (int i = 0; i < n; i++)
			build(&pkts[i], src.s_addr, dst.s_addr,
			      (uint16_t)(1024 + (sent + (unsigned long)i) % 64000), (uint16_t)port);
		r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r == -1) {
			if (errno == ENOBUFS || errno == EAGAIN)
				continue;
			perror("synflood: sendmmsg");
			return 1;
		}
		sent += (unsigned long)r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sent %lu in %.3f s: %.0f pps\n", sent, secs, (double)sent / secs);
	close(fd);
	return 0;
}
