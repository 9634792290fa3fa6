// SPDX-License-Identifier: MIT
/*
 * TCP socket helpers (include/sluice/sock.h): listeners, accept, nonblocking connect, reset.
 * Options set on a listener (TCP_NODELAY, SO_KEEPALIVE) are inherited by accepted sockets on
 * Linux, so accepting costs one syscall and no setsockopt.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/sock.h>

int
sl_sock_apply(int fd, const struct sl_sock_opts *o)
{
	static const int one = 1;

	if (o == NULL)
		return 0;
	if (o->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		return -errno;
	if (o->keepalive && setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == -1)
		return -errno;
	return 0;
}

/* IP_FREEBIND, or IPV6_FREEBIND on an IPv6 socket: a bind to an address this host lacks. */
static int
set_freebind(int fd, int family)
{
	static const int one = 1;
	int r = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one))
	                           : setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));

	return r == -1 ? -errno : 0;
}

int
sl_sock_listen(const struct sl_addr *a, unsigned backlog, bool reuseport,
               const struct sl_sock_opts *o)
{
	static const int one = 1;
	int fd, err;

	if (a->len == 0)
		return -EINVAL;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto err_close_fd;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto err_close_fd;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto err_close_fd;
	err = sl_sock_apply(fd, o);
	if (err == 0 && o != NULL && o->freebind)
		err = set_freebind(fd, a->ss.ss_family);
	if (err != 0) {
		close(fd);
		return err;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		goto err_close_fd;
	if (listen(fd, backlog == 0 ? SOMAXCONN : (int)backlog) == -1)
		goto err_close_fd;
	return fd;

err_close_fd:
	err = -errno;
	close(fd);
	return err;
}

bool
sl_sock_error_is_local(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -ENOBUFS ||
	       err == -EADDRNOTAVAIL;
}

bool
sl_sock_has_unsent(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0;
}

bool
sl_sock_has_unread(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCINQ, &n) == 0 && n > 0;
}

int
sl_sock_probe_free(const struct sl_addr *a, bool freebind)
{
	static const int one = 1;
	int fd, err = 0;

	if (a->len == 0)
		return -EINVAL;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* SO_REUSEADDR: a port with only TIME_WAIT connections left on it is free */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    (freebind && set_freebind(fd, a->ss.ss_family) != 0) || /* errno is its */
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		err = -errno;
	close(fd);
	return err;
}

int
sl_sock_accept(int lfd, struct sl_addr *peer)
{
	int fd;

	if (peer != NULL) {
		peer->len = sizeof(peer->ss);
		fd = accept4(lfd, (struct sockaddr *)&peer->ss, &peer->len,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
	} else {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	if (fd == -1)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return fd;
}

int
sl_sock_bind_source(int fd, const struct sl_addr *source)
{
	static const int one = 1;

	if (source == NULL || source->len == 0)
		return 0;
	/* best effort: without it the bind takes a port at once, for every destination */
	if (sl_addr_port(source) == 0)
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&source->ss, source->len) == -1)
		return -errno;
	return 0;
}

int
sl_sock_connect(const struct sl_addr *a, const struct sl_sock_opts *o, int *fd)
{
	int s, err;

	if (a->len == 0)
		return -EINVAL;
	s = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1)
		return -errno;
	err = sl_sock_apply(s, o);
	if (err == 0 && o != NULL)
		err = sl_sock_bind_source(s, o->source);
	if (err != 0)
		goto err_close_s;
	if (connect(s, (const struct sockaddr *)&a->ss, a->len) == -1) {
		err = -errno;
		if (err != -EINPROGRESS)
			goto err_close_s;
	}
	*fd = s;
	return err;

err_close_s:
	close(s);
	return err;
}

int
sl_sock_connect_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -errno;
	return -soerr;
}

int
sl_sock_local_addr(int fd, struct sl_addr *a)
{
	a->len = sizeof(a->ss);
	if (getsockname(fd, (struct sockaddr *)&a->ss, &a->len) == -1) {
		a->len = 0;
		return -errno;
	}
	return 0;
}

void
sl_sock_close_reset(int fd)
{
	static const struct linger lg = {.l_onoff = 1, .l_linger = 0};

	/* best effort: if setsockopt fails the peer sees a FIN instead, still a close */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}
