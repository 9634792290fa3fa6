// SPDX-License-Identifier: MIT
/*
 * The sockmap probe: the smallest L4 proxy whose bytes stay in the kernel, to measure what the
 * eBPF sockmap path (the sockmap forwarder of docs/design.md) would cost and save here before
 * building it into sluice. One thread: accept, blocking connect to the next backend (round
 * robin), put both sockets in the sockhash with each other as peer; from then on probe_kern.c
 * moves every byte. Bytes that arrived before the insert are copied once by hand. On EOF or
 * error from either side both sockets are closed (no half-close, no drain: a probe, not a proxy;
 * keep-alive traffic only). Root only.
 *   probe HOST:PORT BACKEND[,BACKEND...] (IPv4)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_BACKENDS 64

static int socks_map, peer_map;
static int peer_of[MAX_FDS];

static int
parse(struct sockaddr_in *a, char *s)
{
	char *colon = strrchr(s, ':');

	if (!colon)
		return -1;
	*colon = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, s, &a->sin_addr) == 1 ? 0 : -1;
}

static uint64_t
cookie_of(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
	return c;
}

static int
pair(int a, int b)
{
	uint64_t ca = cookie_of(a), cb = cookie_of(b), fa = (uint64_t)a, fb = (uint64_t)b;

	if (bpf_map_update_elem(socks_map, &ca, &fa, BPF_ANY) ||
	    bpf_map_update_elem(socks_map, &cb, &fb, BPF_ANY) ||
	    bpf_map_update_elem(peer_map, &ca, &cb, BPF_ANY) ||
	    bpf_map_update_elem(peer_map, &cb, &ca, BPF_ANY))
		return -1;
	peer_of[a] = b;
	peer_of[b] = a;
	return 0;
}

static void
unpair_close(int ep, int a)
{
	int b = peer_of[a];
	uint64_t ca = cookie_of(a), cb = cookie_of(b);

	bpf_map_delete_elem(peer_map, &ca);
	bpf_map_delete_elem(peer_map, &cb);
	bpf_map_delete_elem(socks_map, &ca);
	bpf_map_delete_elem(socks_map, &cb);
	epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL);
	close(a);
	close(b);
}

static void
accept_all(int ep, int lfd, const struct sockaddr_in *be, int nbe, int *next)
{
	static char buf[65536];
	struct epoll_event ev = {.events = EPOLLRDHUP};
	int one = 1;

	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), b;
		ssize_t r;

		if (c < 0)
			return;
		b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c >= MAX_FDS || b < 0 || b >= MAX_FDS ||
		    connect(b, (const struct sockaddr *)&be[(*next)++ % nbe], sizeof(be[0])) ||
		    pair(c, b)) {
			close(c);
			if (b >= 0)
				close(b);
			continue;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while ((r = recv(c, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			send(b, buf, (size_t)r, MSG_NOSIGNAL);
		ev.data.fd = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
		ev.data.fd = b;
		epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
	}
}

int
main(int argc, char **argv)
{
	static char buf[65536];
	struct sockaddr_in listen_at, be[MAX_BACKENDS];
	struct epoll_event ev = {.events = EPOLLIN}, evs[256];
	struct bpf_object *obj;
	int nbe = 0, next = 0, one = 1, lfd, ep, prog;
	char path[4096];

	if (argc != 3 || parse(&listen_at, argv[1])) {
		fprintf(stderr, "usage: probe HOST:PORT BACKEND[,BACKEND...]\n");
		return 2;
	}
	for (char *s = strtok(argv[2], ","); s && nbe < MAX_BACKENDS; s = strtok(NULL, ","))
		if (parse(&be[nbe++], s))
			return 2;
	snprintf(path, sizeof(path), "%s_kern.o", argv[0]);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		perror("probe: loading the BPF object");
		return 1;
	}
	socks_map = bpf_object__find_map_fd_by_name(obj, "socks");
	peer_map = bpf_object__find_map_fd_by_name(obj, "peer");
	prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "redirect_to_peer"));
	if (bpf_prog_attach(prog, socks_map, BPF_SK_SKB_STREAM_VERDICT, 0)) {
		perror("probe: attaching the verdict program");
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)&listen_at, sizeof(listen_at)) ||
	    listen(lfd, 4096)) {
		perror("probe: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == lfd) {
				accept_all(ep, lfd, be, nbe, &next);
				continue;
			}
			/* only EOF and errors wake us (redirected data raises EPOLLIN) */
			r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				send(peer_of[fd], buf, (size_t)r, MSG_NOSIGNAL);
			else if (r == 0 || errno != EAGAIN)
				unpair_close(ep, fd);
		}
	}
}
