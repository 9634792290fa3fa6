/* SPDX-License-Identifier: MIT */
/*
 * Shared by the forwarder variants (fwd_splice.c, fwd_copy.c): the end of a direction.
 */
#ifndef SLUICE_NET_FWD_INT_H
#define SLUICE_NET_FWD_INT_H

#include <errno.h>
#include <sys/socket.h>

#include <sluice/fwd.h>

/*
 * Direction <d> read EOF and holds nothing more: pass the FIN on with shutdown(SHUT_WR) of the
 * destination. ENOTCONN means the destination is already gone; the direction is over either way.
 * If the other direction is already over, the owner closes both fds next (SL_FWD_DONE) and that
 * close() sends the FIN: no shutdown() needed (the destination's input was read to EOF, so the
 * close cannot turn into a reset).
 */
static inline int
sl__fwd_shut(struct sl_fwd *f, unsigned d)
{
	f->d[d].shut = true;
	if (f->d[!d].shut)
		return 0;
	if (shutdown(f->fd[!d], SHUT_WR) == -1 && errno != ENOTCONN) {
		f->err_side = (int)!d;
		return -errno;
	}
	return 0;
}

/* Records that the syscall on <side> failed with errno; returns the negative errno. */
static inline int
sl__fwd_fail(struct sl_fwd *f, unsigned side)
{
	f->err_side = (int)side;
	return -errno;
}

#endif /* SLUICE_NET_FWD_INT_H */
