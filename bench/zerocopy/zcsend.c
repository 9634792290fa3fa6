// SPDX-License-Identifier: MIT
/*
 * One bulk TCP transfer for bench/zerocopy/run: a receiver (forked, in network namespace
 * RECV_NS if given, pinned to RECV_CPU) reads and discards; the sender (in SEND_NS, on
 * SEND_CPU) send()s CHUNK-byte writes from one buffer for SECONDS, with MSG_ZEROCOPY when MODE
 * is "zerocopy" (SO_ZEROCOPY set), reading the completions off the error queue as it goes and
 * at the end, and counting how many the kernel reports as copied (SO_EE_CODE_ZEROCOPY_COPIED).
 * Prints one line: mode gbit sender_cpu_s receiver_cpu_s bytes sends completions copied
 * (Gbit/s over the sending time; CPU seconds of each process, user + system).
 *   zcsend MODE ADDR SECONDS CHUNK SEND_CPU RECV_CPU [SEND_NS RECV_NS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

static uint64_t completions, copied;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
enter(const char *ns, int cpu)
{
	char path[256];
	cpu_set_t set;
	int fd;

	if (ns != NULL) {
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
			perror(path);
			exit(1);
		}
		close(fd);
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

/* Reads the zerocopy completions queued on <fd>'s error queue into <completions>, <copied>. */
static void
drain_errqueue(int fd)
{
	char control[256];

	for (;;) {
		struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof(control)};
		struct sock_extended_err *ee;
		struct cmsghdr *cm;
		uint64_t k;

		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1)
			return;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
				continue;
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_errno != 0 || ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			/* sends ee_info .. ee_data completed: all of them copied, or none */
			k = (uint64_t)(ee->ee_data - ee->ee_info) + 1;
			completions += k;
			if (ee->ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
				copied += k;
		}
	}
}

static void
receive(int lfd, int out)
{
	static char buf[1 << 20];
	uint64_t bytes = 0;
	double c0;
	ssize_t r;
	int fd;

	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("accept");
		exit(1);
	}
	c0 = cpu_s(RUSAGE_SELF);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		bytes += (uint64_t)r;
	dprintf(out, "%llu %.3f\n", (unsigned long long)bytes, cpu_s(RUSAGE_SELF) - c0);
	exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int zc, chunk, one = 1, lfd, fd, p[2], status;
	uint64_t sends = 0, bytes = 0, rbytes = 0;
	double secs, t0, t1, tend, c0, c1, rcpu = 0;
	char line[128];
	pid_t pid;
	char *buf;
	ssize_t n;

	if (argc != 7 && argc != 9) {
		fprintf(stderr, "usage: zcsend copy|zerocopy ADDR SECONDS CHUNK SEND_CPU RECV_CPU "
		                "[SEND_NS RECV_NS]\n");
		return 2;
	}
	zc = strcmp(argv[1], "zerocopy") == 0;
	secs = atof(argv[3]);
	chunk = atoi(argv[4]);
	if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1 || chunk <= 0 || secs <= 0) {
		fprintf(stderr, "zcsend: bad arguments\n");
		return 2;
	}
	if (pipe(p) != 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		enter(argc == 9 ? argv[8] : NULL, atoi(argv[6]));
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    listen(lfd, 1) != 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
			perror("listen");
			exit(1);
		}
		dprintf(p[1], "%u\n", ntohs(sa.sin_port));
		receive(lfd, p[1]);
	}
	if (read(p[0], line, sizeof(line) - 1) <= 0)
		return 1;
	sa.sin_port = htons((uint16_t)atoi(line));
	enter(argc == 9 ? argv[7] : NULL, atoi(argv[5]));
	buf = malloc((size_t)chunk);
	if (buf == NULL)
		return 1;
	memset(buf, 'z', (size_t)chunk);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || (zc && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) != 0) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		kill(pid, SIGKILL);
		return 1;
	}
	t0 = now_s();
	c0 = cpu_s(RUSAGE_SELF);
	while ((t1 = now_s()) - t0 < secs) {
		n = send(fd, buf, (size_t)chunk, zc ? MSG_ZEROCOPY : 0);
		if (n > 0) {
			sends++;
			bytes += (uint64_t)n;
		} else if (n == -1 && errno == ENOBUFS) {
			/* too many notifications pending (optmem): read them and try again */
			struct pollfd pf = {.fd = fd, .events = 0};

			poll(&pf, 1, 10);
			drain_errqueue(fd);
			continue;
		} else if (n == -1 && errno != EINTR) {
			perror("send");
			return 1;
		}
		if (zc && (sends & 63) == 0)
			drain_errqueue(fd);
	}
	tend = t1;
	shutdown(fd, SHUT_WR);
	/* every send's completion, bounded: POLLERR says one is queued */
	for (int i = 0; zc && completions < sends && i < 1000; i++) {
		struct pollfd pf = {.fd = fd, .events = 0};

		poll(&pf, 1, 10);
		drain_errqueue(fd);
	}
	c1 = cpu_s(RUSAGE_SELF);
	if (read(p[0], line, sizeof(line) - 1) > 0)
		sscanf(line, "%llu %lf", (unsigned long long *)&rbytes, &rcpu);
	waitpid(pid, &status, 0);
	close(fd);
	printf("%s %.3f %.3f %.3f %llu %llu %llu %llu\n", argv[1],
	       (double)rbytes * 8 / 1e9 / (tend - t0), c1 - c0, rcpu, (unsigned long long)rbytes,
	       (unsigned long long)sends, (unsigned long long)completions,
	       (unsigned long long)copied);
	return rbytes == bytes ? 0 : 1;
}
