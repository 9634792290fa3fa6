// SPDX-License-Identifier: MIT
/*
 * The steering program's stand-in where libbpf is not linked (no libbpf-dev or clang at build
 * time, or sluice-static without libbpf.a; see CMakeLists.txt): a listener with steering: cpu
 * says why it steers by hash instead (proxy.c), and runs.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "proxy/steer.h"

int
sl__steer_attach(const int *fds, const int *cpus, unsigned n, char *why, size_t size)
{
	(void)fds;
	(void)cpus;
	(void)n;
	snprintf(why, size, "this sluice was built without BPF");
	return -ENOTSUP;
}

int
sl__steer_migrate(int fd, char *why, size_t size)
{
	(void)fd;
	snprintf(why, size, "this sluice was built without BPF");
	return -ENOTSUP;
}

int
sl__steer_detach(int fd)
{
	int unused = 0; /* the kernel wants an int, and reads nothing from it */

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused)) == -1 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}
