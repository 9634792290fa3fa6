/* SPDX-License-Identifier: MIT */
/*
 * File descriptors passed between processes over an AF_UNIX socket (SCM_RIGHTS), with a short
 * message each: how a new sluice takes the listening sockets of the one it replaces.
 * Thread safety: every function works on the fds it is given and may run on any thread.
 */
#ifndef SLUICE_FDPASS_H
#define SLUICE_FDPASS_H

#include <stddef.h>

#include <sluice/common.h>

/* Most descriptors one message carries (the kernel's SCM_MAX_FD is 253). */
#define SL_FDPASS_MAX 250

/*
 * Sends <len> bytes of <msg> (1 .. 4096) with <nfds> descriptors <fds> (0 .. SL_FDPASS_MAX) as
 * one message on <sock> (SOCK_SEQPACKET or SOCK_DGRAM keep it whole). The descriptors stay
 * open here. 0, or a negative errno (-EINVAL for counts out of range).
 */
SL_API int sl_fdpass_send(int sock, const void *msg, size_t len, const int *fds, size_t nfds);

/*
 * Receives one message on <sock> into <buf> (<size> bytes) and up to <max> descriptors into
 * <fds> (close-on-exec), their number into <*nfds>. Returns the message length (0: the peer
 * closed, or sent an empty message: descriptors that came with one are closed), or a negative
 * errno; -EMSGSIZE when the message or its descriptors did not fit (any descriptors that came
 * are closed).
 */
SL_API long sl_fdpass_recv(int sock, void *buf, size_t size, int *fds, size_t max, size_t *nfds);

#endif /* SLUICE_FDPASS_H */
