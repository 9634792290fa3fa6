/* SPDX-License-Identifier: MIT */
/*
 * Listener steering: cpu (src/proxy/steer.c): the SO_REUSEPORT program that hands a new
 * connection to the worker of the CPU that received it. Internal to the proxy layer; without
 * libbpf, app/static/no_steer.c stands in and every listener steers by hash.
 */
#ifndef SLUICE_PROXY_STEER_H
#define SLUICE_PROXY_STEER_H

#include <stddef.h>

/*
 * Loads the embedded steering program, maps CPU <cpus[i]> to listening socket <fds[i]> for
 * i < <n> (every socket in one SO_REUSEPORT group, each worker's socket for one listener) and
 * attaches the program to that group. A closing socket's queued clients go to the socket of
 * the CPU the kernel moves them on, else to <fds[0]>: this process's sockets, which stay open
 * while a previous process closes its own. The program the group carries (a previous process's, or
 * a re-opened listener's) is removed first: its map holds these sockets until the kernel frees
 * it, and new connections go by hash meanwhile (milliseconds). The group keeps the program
 * and its map from then on, until its last socket closes (or another program replaces it):
 * nothing is left to free. 0, or a negative errno with <why> (<size> bytes) saying what
 * failed, the group then without a program, or untouched if it failed before removing one.
 * The controlling thread; may block, up to 2 s while the kernel frees a removed map (bpf()
 * and setsockopt()).
 */
int sl__steer_attach(const int *fds, const int *cpus, unsigned n, char *why, size_t size);

/*
 * Removes a steering program from the SO_REUSEPORT group of <fd> (a socket a previous
 * process handed over may carry one): 0, also when there was none, or a negative errno.
 */
int sl__steer_detach(int fd);

/*
 * Attaches to the SO_REUSEPORT group of listening socket <fd> a program that steers by hash,
 * as the kernel does with none, but of the select-or-migrate kind: a socket of the group that
 * closes with clients in its queue then hands them to <fd> (while it listens) instead of
 * resetting them. For the sockets an upgrade's new process has no worker for; <fd> is one of
 * its own, which stays open while they close. A steering program the group carried must be
 * removed first (sl__steer_detach()): this waits up to 2 s for the kernel to free its map,
 * which holds <fd>. 0, or a negative errno with <why>.
 */
int sl__steer_migrate(int fd, char *why, size_t size);

#endif /* SLUICE_PROXY_STEER_H */
