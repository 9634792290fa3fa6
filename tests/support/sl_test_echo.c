// SPDX-License-Identifier: MIT
/* Loopback echo server for proxy tests (sl_test_echo.h). */
#include "sl_test_echo.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_test_net.h"

#define ECHO_BUF 8192

struct conn {
	int fd;
	bool eof;
	size_t head, len;
	char buf[ECHO_BUF];
};

static void
conn_close(struct sl_test_echo *e, struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	/* relaxed: a statistic the tests poll */
	atomic_fetch_sub_explicit(&e->live, 1, memory_order_relaxed);
}

static void
conn_step(struct sl_test_echo *e, struct conn *c, short rev)
{
	ssize_t n;

	if ((rev & (POLLIN | POLLHUP | POLLERR)) && !c->eof && c->len == 0) {
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n > 0) {
			c->head = 0;
			c->len = (size_t)n;
		} else if (n == 0) {
			c->eof = true;
		} else if (errno != EAGAIN) {
			conn_close(e, c);
			return;
		}
	}
	if (c->len > 0) {
		n = send(c->fd, c->buf + c->head, c->len, MSG_NOSIGNAL);
		if (n > 0) {
			c->head += (size_t)n;
			c->len -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN) {
			conn_close(e, c);
			return;
		}
	}
	if (c->eof && c->len == 0) {
		shutdown(c->fd, SHUT_WR);
		conn_close(e, c);
	}
}

static void *
echo_main(void *arg)
{
	struct sl_test_echo *e = arg;
	struct pollfd pfd[SL_TEST_ECHO_MAX_CONNS + 2];
	int idx[SL_TEST_ECHO_MAX_CONNS + 2];
	/* the server's own: several servers run side by side */
	struct conn *conns = calloc(SL_TEST_ECHO_MAX_CONNS, sizeof(*conns));

	if (conns == NULL)
		return NULL;
	for (int i = 0; i < SL_TEST_ECHO_MAX_CONNS; i++)
		conns[i].fd = -1;
	for (;;) {
		int n = 0;

		pfd[n++] = (struct pollfd){.fd = e->stop_fd[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = e->lfd, .events = POLLIN};
		for (int i = 0; i < SL_TEST_ECHO_MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			idx[n] = i;
			pfd[n++] = (struct pollfd){
			        .fd = conns[i].fd,
			        .events = (short)(conns[i].len > 0 ? POLLOUT : POLLIN)};
		}
		if (poll(pfd, (nfds_t)n, -1) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (int i = 2; i < n; i++)
			if (pfd[i].revents)
				conn_step(e, &conns[idx[i]], pfd[i].revents);
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			for (int i = 0; fd >= 0 && i < SL_TEST_ECHO_MAX_CONNS; i++) {
				if (conns[i].fd >= 0)
					continue;
				conns[i] = (struct conn){.fd = fd};
				/* relaxed: a statistic read after the test's exchanges */
				atomic_fetch_add_explicit(&e->accepted, 1, memory_order_relaxed);
				/* relaxed: as above */
				atomic_fetch_add_explicit(&e->live, 1, memory_order_relaxed);
				fd = -1;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	for (int i = 0; i < SL_TEST_ECHO_MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	return NULL;
}

int
sl_test_echo_start(struct sl_test_echo *e)
{
	int err;

	atomic_init(&e->accepted, 0);
	atomic_init(&e->live, 0);
	e->lfd = sl_test_listen(&e->addr, 512);
	if (e->lfd < 0)
		return e->lfd;
	fcntl(e->lfd, F_SETFL, O_NONBLOCK);
	if (pipe2(e->stop_fd, O_CLOEXEC) == -1) {
		close(e->lfd);
		return -errno;
	}
	err = pthread_create(&e->thread, NULL, echo_main, e);
	if (err != 0) {
		close(e->lfd);
		close(e->stop_fd[0]);
		close(e->stop_fd[1]);
		return -err;
	}
	return 0;
}

void
sl_test_echo_stop(struct sl_test_echo *e)
{
	(void)!write(e->stop_fd[1], "x", 1);
	pthread_join(e->thread, NULL);
	close(e->lfd);
	close(e->stop_fd[0]);
	close(e->stop_fd[1]);
}
