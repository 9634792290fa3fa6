// SPDX-License-Identifier: MIT
/*
 * A wire with a fixed one-way delay between two network namespaces, for benchmarks that need a
 * round trip loopback does not have (this kernel has no netem). It creates a TUN device named
 * <IFNAME> in each namespace (/run/netns/NAME, as `ip netns add` makes them), prints "ready",
 * then copies every IP packet from one device to the other DELAY_US microseconds after reading
 * it, in order. Addresses and routes are the caller's (`ip -n NS addr add ... dev IFNAME`).
 * Runs until killed.
 *   delay_wire NS_A NS_B IFNAME DELAY_US
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define QUEUE 4096 /* packets in flight per direction; more are dropped (like a full link) */
#define MTU 2048

struct packet {
	uint64_t due_ns;
	uint16_t len;
	unsigned char data[MTU];
};

/* One direction: packets read from <in>, written to <out> when due; a ring, oldest first. */
struct lane {
	int in, out;
	unsigned head, tail; /* [head, tail) queued; indices grow, masked on use */
	struct packet q[QUEUE];
};

static struct lane lanes[2];

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens a TUN device <name> inside network namespace <ns>; returns its fd or -1. */
static int
tun_in(const char *ns, const char *name)
{
	char path[256];
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	int nsfd, fd, self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET)) {
		perror(path);
		return -1;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr)) {
		perror("tun");
		return -1;
	}
	setns(self, CLONE_NEWNET);
	close(nsfd);
	close(self);
	return fd;
}

int
main(int argc, char **argv)
{
	uint64_t delay;
	struct pollfd pfd[2];

	if (argc != 5) {
		fprintf(stderr, "usage: delay_wire NS_A NS_B IFNAME DELAY_US\n");
		return 2;
	}
	delay = strtoull(argv[4], NULL, 10) * 1000u;
	lanes[0].in = lanes[1].out = tun_in(argv[1], argv[3]);
	lanes[1].in = lanes[0].out = tun_in(argv[2], argv[3]);
	if (lanes[0].in < 0 || lanes[1].in < 0)
		return 1;
	/* wake when a packet is due, not up to 50 us later (the default timer slack) */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		struct timespec timeout;

		for (int i = 0; i < 2; i++) {
			struct lane *l = &lanes[i];

			while (l->head != l->tail && l->q[l->head % QUEUE].due_ns <= now) {
				struct packet *p = &l->q[l->head % QUEUE];

				/* a full device queue drops the packet, as a full link would */
				if (write(l->out, p->data, p->len) < 0 && errno != EAGAIN)
					perror("write");
				l->head++;
			}
			if (l->head != l->tail && l->q[l->head % QUEUE].due_ns < next)
				next = l->q[l->head % QUEUE].due_ns;
			pfd[i] = (struct pollfd){.fd = l->in, .events = POLLIN};
		}
		if (next != UINT64_MAX) {
			timeout.tv_sec = (time_t)((next - now) / 1000000000u);
			timeout.tv_nsec = (long)((next - now) % 1000000000u);
		}
		if (ppoll(pfd, 2, next == UINT64_MAX ? NULL : &timeout, NULL) < 0 &&
		    errno != EINTR) {
			perror("ppoll");
			return 1;
		}
		now = now_ns();
		for (int i = 0; i < 2; i++) {
			struct lane *l = &lanes[i];

			while (l->tail - l->head < QUEUE) {
				struct packet *p = &l->q[l->tail % QUEUE];
				ssize_t r = read(l->in, p->data, sizeof(p->data));

				if (r <= 0)
					break;
				p->len = (uint16_t)r;
				p->due_ns = now + delay;
				l->tail++;
			}
		}
	}
}
