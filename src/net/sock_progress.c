// SPDX-License-Identifier: MIT
/*
 * A TCP socket's own progress (include/sluice/sock.h): what its kernel moved without the
 * process, read from TCP_INFO. Apart from sock.c because it needs <linux/tcp.h>'s tcp_info
 * (glibc's stops before these counts) and the two headers cannot both be included.
 */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/sock.h>

int
sl_sock_progress(int fd, uint64_t *moved, bool *in_flight)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -errno;
	if (len < offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes))
		return -ENOTSUP;
	*moved = ti.tcpi_bytes_acked + ti.tcpi_bytes_received;
	*in_flight = ti.tcpi_unacked != 0 || ti.tcpi_notsent_bytes != 0;
	return 0;
}
