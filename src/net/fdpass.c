// SPDX-License-Identifier: MIT
/*
 * Descriptor passing over AF_UNIX sockets (include/sluice/fdpass.h): one sendmsg/recvmsg with
 * an SCM_RIGHTS control message beside a short payload.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/fdpass.h>

/* Room for SL_FDPASS_MAX descriptors, aligned as a control message must be. */
union fdpass_cmsg {
	char buf[CMSG_SPACE(sizeof(int) * SL_FDPASS_MAX)];
	struct cmsghdr align;
};

int
sl_fdpass_send(int sock, const void *msg, size_t len, const int *fds, size_t nfds)
{
	union fdpass_cmsg u;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;

	if (len == 0 || len > 4096 || nfds > SL_FDPASS_MAX || (nfds > 0 && fds == NULL))
		return -EINVAL;
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* Closes every descriptor the control messages of <mh> carry. */
static void
close_passed(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

long
sl_fdpass_recv(int sock, void *buf, size_t size, int *fds, size_t max, size_t *nfds)
{
	union fdpass_cmsg u;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	size_t k = 0;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		close_passed(&mh);
		return -EMSGSIZE;
	}
	if (n == 0) { /* the peer's end, or an empty message: nothing to act on, nothing kept */
		close_passed(&mh);
		return 0;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			k += (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	}
	if (k > max) {
		close_passed(&mh);
		return -EMSGSIZE;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t m;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds + *nfds, CMSG_DATA(c), m * sizeof(int));
		*nfds += m;
	}
	return (long)n;
}
