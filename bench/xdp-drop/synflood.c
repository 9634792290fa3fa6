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

#include "syn.h"

#define BATCH 64

int
main(int argc, char **argv)
{
	static struct syn_pkt pkts[BATCH];
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
			syn_build(&pkts[i], src.s_addr, dst.s_addr,
			          (uint16_t)(1024 + (sent + (unsigned long)i) % 64000),
			          (uint16_t)port);
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
