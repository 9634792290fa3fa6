// SPDX-License-Identifier: MIT
/* Socket helpers for tests (sl_test_net.h). */
#include "sl_test_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/sock.h>

int
sl_test_listen(struct sl_addr *addr, int backlog)
{
	struct sl_addr a;
	int fd;

	if (sl_addr_parse(&a, "127.0.0.1:0", true, NULL) != 0)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) == -1 || listen(fd, backlog) == -1) {
		close(fd);
		return -errno;
	}
	sl_sock_local_addr(fd, addr);
	return fd;
}

void
sl_test_refused_addr(struct sl_addr *addr)
{
	struct sl_addr a;
	int fd;

	assert_int_equal(0, sl_addr_parse(&a, "127.0.0.1:0", true, NULL));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(0, bind(fd, (struct sockaddr *)&a.ss, a.len));
	sl_sock_local_addr(fd, addr);
	/* fd stays open on purpose: see sl_test_net.h */
}

unsigned
sl_test_closed_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(0, bind(fd, (struct sockaddr *)&sin, sizeof(sin)));
	assert_int_equal(0, getsockname(fd, (struct sockaddr *)&sin, &len));
	close(fd);
	return ntohs(sin.sin_port);
}

int
sl_test_tcp_pair(int *a, int *b)
{
	struct sl_addr addr;
	int l, c, s, err;

	l = sl_test_listen(&addr, 1);
	if (l < 0)
		return l;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c == -1 || connect(c, (struct sockaddr *)&addr.ss, addr.len) == -1) {
		err = -errno;
		close(l);
		return err;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	err = s == -1 ? -errno : 0;
	close(l);
	if (err != 0) {
		close(c);
		return err;
	}
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	*a = c;
	*b = s;
	return 0;
}

void
sl_test_fill(void *buf, size_t n, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

uint64_t
sl_test_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int
wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int n = poll(&pfd, 1, timeout_ms);

	if (n == -1)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int
sl_test_write_all(int fd, const void *buf, size_t n, int timeout_ms)
{
	const char *p = buf;
	int err;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			return -errno;
		err = wait_fd(fd, POLLOUT, timeout_ms);
		if (err != 0)
			return err;
	}
	return 0;
}

ssize_t
sl_test_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	char *p = buf;
	size_t got = 0;
	int err;

	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, 0);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		err = wait_fd(fd, POLLIN, timeout_ms);
		if (err != 0)
			return err;
	}
	return (ssize_t)got;
}
