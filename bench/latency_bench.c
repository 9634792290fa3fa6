// SPDX-License-Identifier: MIT
/*
 * Open-loop (fixed-rate) latency load generator and the echo server it measures against.
 * wrk is closed-loop: a slow response delays the next request and hides the tail. Here request
 * i is due at t0 + i/RATE whatever happened before, and its latency runs from that due time
 * (no coordinated omission). Responses are the echoed request bytes.
 *   latency_bench echo [HOST:]PORT     (HOST: an IPv4 address; default 127.0.0.1)
 *   latency_bench load HOST:PORT RATE SECONDS CONNS SIZE
 *   latency_bench connect HOST:PORT RATE SECONDS MAX_OPEN SIZE
 * load keeps CONNS connections open and sends each request on an idle one; connect opens a new
 * connection per request (connect, send, read the echo, close), at most MAX_OPEN at once, so its
 * latency includes the TCP handshake. Both print: requests, errors, and p50/p90/p99/p99.9/max
 * latency in microseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/addr.h>

#define MAX_CONNS 1024
#define MAX_SIZE 65536

struct conn {
	int fd;
	size_t got;      /* response bytes received for the outstanding request */
	uint64_t due_ns; /* due time of the outstanding request; 0 = idle */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* <where>: PORT (on 127.0.0.1) or HOST:PORT */
static int
run_echo(const char *where)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)atoi(where)),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sl_addr a;
	const char *why;
	struct epoll_event ev, evs[256];
	static char buf[MAX_SIZE];
	int one = 1, lfd, ep;

	if (strchr(where, ':') != NULL) {
		if (sl_addr_parse(&a, where, false, &why) || a.ss.ss_family != AF_INET) {
			fprintf(stderr, "echo: bad address %s\n", where);
			return 2;
		}
		memcpy(&sin, &a.ss, sizeof(sin));
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 4096)) {
		perror("echo: bind/listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r <= 0) {
				if (r == 0 || errno != EAGAIN)
					close(fd);
				continue;
			}
			/* small requests: the socket buffer takes the whole echo at once */
			if (write(fd, buf, (size_t)r) != r)
				close(fd);
		}
	}
}

/* Waits on <ep> for events until <wake_ns> (now_ns() clock) at the latest; returns their count. */
static int
wait_events(int ep, struct epoll_event *evs, uint64_t wake_ns, uint64_t now)
{
	struct timespec ts = {0, 0};

	if (wake_ns > now) {
		ts.tv_sec = (time_t)((wake_ns - now) / 1000000000u);
		ts.tv_nsec = (long)((wake_ns - now) % 1000000000u);
	}
	return epoll_pwait2(ep, evs, MAX_CONNS, &ts, NULL);
}

/* Prints the summary line of a load run and frees <lat>; 0 if every request completed. */
static int
report(uint64_t *lat, uint64_t done, uint64_t total, uint64_t errors)
{
	qsort(lat, done, sizeof(*lat), cmp_u64);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] / 1000.0 : 0.0)
	printf("requests=%llu errors=%llu p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f\n",
	       (unsigned long long)done, (unsigned long long)(errors + (total - done - errors)),
	       PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999), PCT(1.0));
#undef PCT
	free(lat);
	return done == total ? 0 : 1;
}

static int
run_load(const char *target, double rate, double seconds, int nconns, size_t size)
{
	static struct conn conns[MAX_CONNS];
	static char req[MAX_SIZE], buf[MAX_SIZE];
	struct epoll_event ev, evs[MAX_CONNS];
	uint64_t total = (uint64_t)(rate * seconds), sent = 0, done = 0, errors = 0;
	uint64_t *lat, t0, interval = (uint64_t)(1e9 / rate), end;
	struct sl_addr a;
	const char *why;
	int one = 1, ep, next = 0;

	if (sl_addr_parse(&a, target, false, &why) || nconns < 1 || nconns > MAX_CONNS ||
	    size < 1 || size > MAX_SIZE || rate <= 0 || seconds <= 0) {
		fprintf(stderr, "load: bad arguments\n");
		return 2;
	}
	/* wake at the due time, not up to 50 us later: the default timer slack would count the
	 * generator's own lateness as latency of whatever it measures */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	lat = calloc(total + 1, sizeof(*lat));
	memset(req, 'q', size);
	ep = epoll_create1(0);
	for (int i = 0; i < nconns; i++) {
		int fd = socket(a.ss.ss_family, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&a.ss, a.len)) {
			perror("load: connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conns[i].fd = fd;
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	t0 = now_ns() + 1000000;
	end = t0 + (uint64_t)(seconds * 1e9) + 5000000000u; /* 5 s grace for the last replies */
	while (done + errors < total && now_ns() < end) {
		uint64_t now = now_ns();

		/* send every request that is due, on an idle connection; late ones keep their due
		 * time, so queueing delay counts */
		while (sent < total && t0 + sent * interval <= now) {
			int tries = 0;

			while (conns[next].due_ns && tries++ < nconns)
				next = (next + 1) % nconns;
			if (conns[next].due_ns)
				break; /* every connection busy: the request waits, its clock runs
				        */
			conns[next].due_ns = t0 + sent * interval;
			conns[next].got = 0;
			if (write(conns[next].fd, req, size) != (ssize_t)size)
				errors++;
			sent++;
			next = (next + 1) % nconns;
		}
		int n = wait_events(ep, evs, sent < total ? t0 + sent * interval : now + 1000000,
		                    now);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, buf, sizeof(buf));

			if (r <= 0) {
				errors++;
				c->due_ns = 0;
				continue;
			}
			c->got += (size_t)r;
			if (c->got >= size && c->due_ns) {
				lat[done++] = now_ns() - c->due_ns;
				c->due_ns = 0;
			}
		}
	}
	return report(lat, done, total, errors);
}

/* One request per connection: the slot's phase. */
enum { SLOT_FREE, SLOT_CONNECTING, SLOT_WAITING };

struct slot {
	int fd;
	int phase;
	size_t got;
	uint64_t due_ns;
};

/* Frees slot <c>; returns 1 so callers can count the failure. */
static int
slot_fail(struct slot *c)
{
	close(c->fd);
	c->phase = SLOT_FREE;
	return 1;
}

static int
run_connect(const char *target, double rate, double seconds, int nslots, size_t size)
{
	static struct slot slots[MAX_CONNS];
	static char req[MAX_SIZE], buf[MAX_SIZE];
	struct epoll_event ev, evs[MAX_CONNS];
	uint64_t total = (uint64_t)(rate * seconds), sent = 0, done = 0, errors = 0;
	uint64_t *lat, t0, interval = (uint64_t)(1e9 / rate), end;
	struct sl_addr a;
	const char *why;
	int one = 1, ep;

	if (sl_addr_parse(&a, target, false, &why) || nslots < 1 || nslots > MAX_CONNS ||
	    size < 1 || size > MAX_SIZE || rate <= 0 || seconds <= 0) {
		fprintf(stderr, "connect: bad arguments\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* see run_load() */
	lat = calloc(total + 1, sizeof(*lat));
	memset(req, 'q', size);
	ep = epoll_create1(0);
	t0 = now_ns() + 1000000;
	end = t0 + (uint64_t)(seconds * 1e9) + 5000000000u;
	while (done + errors < total && now_ns() < end) {
		uint64_t now = now_ns();
		int free_slot = 0;

		/* start every due request on a free slot; late ones keep their due time */
		while (sent < total && t0 + sent * interval <= now) {
			struct slot *c;

			while (free_slot < nslots && slots[free_slot].phase != SLOT_FREE)
				free_slot++;
			if (free_slot == nslots)
				break;
			c = &slots[free_slot];
			c->due_ns = t0 + sent * interval;
			c->got = 0;
			sent++;
			c->fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd < 0) {
				errors++;
				continue;
			}
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(c->fd, (struct sockaddr *)&a.ss, a.len) &&
			    errno != EINPROGRESS) {
				close(c->fd);
				errors++;
				continue;
			}
			c->phase = SLOT_CONNECTING;
			ev.events = EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		}
		int n = wait_events(ep, evs, sent < total ? t0 + sent * interval : now + 1000000,
		                    now);

		for (int i = 0; i < n; i++) {
			struct slot *c = evs[i].data.ptr;
			ssize_t r;

			if (c->phase == SLOT_CONNECTING) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				/* small requests: the socket buffer takes the whole request at once
				 */
				if (err || write(c->fd, req, size) != (ssize_t)size) {
					errors += (uint64_t)slot_fail(c);
					continue;
				}
				c->phase = SLOT_WAITING;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			r = read(c->fd, buf, sizeof(buf));
			if (r <= 0) {
				errors += (uint64_t)slot_fail(c);
				continue;
			}
			c->got += (size_t)r;
			if (c->got >= size) {
				lat[done++] = now_ns() - c->due_ns;
				close(c->fd);
				c->phase = SLOT_FREE;
			}
		}
	}
	return report(lat, done, total, errors);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "echo") == 0)
		return run_echo(argv[2]);
	if (argc == 7 && strcmp(argv[1], "load") == 0)
		return run_load(argv[2], atof(argv[3]), atof(argv[4]), atoi(argv[5]),
		                (size_t)atol(argv[6]));
	if (argc == 7 && strcmp(argv[1], "connect") == 0)
		return run_connect(argv[2], atof(argv[3]), atof(argv[4]), atoi(argv[5]),
		                   (size_t)atol(argv[6]));
	fprintf(stderr, "usage: latency_bench echo [HOST:]PORT\n"
	                "       latency_bench load HOST:PORT RATE SECONDS CONNS SIZE\n"
	                "       latency_bench connect HOST:PORT RATE SECONDS MAX_OPEN SIZE\n");
	return 2;
}
