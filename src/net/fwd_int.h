/* SPDX-License-Identifier: MIT */
/*
 * Shared by the forwarder variants (fwd_splice.c, fwd_copy.c, fwd_auto.c): the end of a read and
 * of a direction, and the byte-moving loops that fwd_auto.c switches between per direction.
 */
#ifndef SLUICE_NET_FWD_INT_H
#define SLUICE_NET_FWD_INT_H

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

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
		f->err_side = (int8_t)!d;
		return -errno;
	}
	return 0;
}

/*
 * Direction <d> is about to read: false if its budget for this call is spent, which marks it
 * waiting for its next turn (f->more) with its readable flag left set.
 */
static inline bool
sl__fwd_may_read(struct sl_fwd *f, unsigned d)
{
	if (sl_likely(f->d[d].quota > 0))
		return true;
	if (!f->hold) /* held: no turn to come back for (sl_fwd_hold() queues one) */
		f->more |= (uint8_t)(1u << d);
	return false;
}

/* Counts <n> bytes read by direction <d> against its budget (reads are cut to what is left). */
static inline void
sl__fwd_spend(struct sl_fwd *f, unsigned d, size_t n)
{
	struct sl_fwd_dir *x = &f->d[d];

	x->quota = n < x->quota ? x->quota - (uint32_t)n : 0;
}

/* Records that the syscall on <side> failed with errno; returns the negative errno. */
static inline int
sl__fwd_fail(struct sl_fwd *f, unsigned side)
{
	f->err_side = (int8_t)side;
	return -errno;
}

/*
 * The read of direction <d> (recv() or splice() from its source) returned <n> <= 0, with errno
 * set if -1: records the EOF, or that the source is drained (EAGAIN). Returns 1 to read again
 * (EOF recorded, or EINTR), 0 when the source is drained (readable[d] cleared), or a negative
 * errno from sl__fwd_fail().
 */
static inline int
sl__fwd_read_nothing(struct sl_fwd *f, unsigned d, ssize_t n)
{
	if (n == 0) {
		f->d[d].eof = true;
		f->readable[d] = false;
		return 1;
	}
	if (errno == EAGAIN) {
		f->readable[d] = false;
		return 0;
	}
	if (errno == EINTR)
		return 1;
	return sl__fwd_fail(f, d);
}

/*
 * Copies direction <d> through its buffer (d[d].buf, taken from env->buffers before a recv()
 * if it holds none, given back on return if the direction holds nothing) until a flag stops
 * it: the body of the copy variant's pump. -ENOMEM (err_side <d>) if the pool is out. With
 * <adaptive> (auto), a recv() that fills the buffer sets d[d].bulk, and once bulk is set the loop
 * returns instead of reading while the buffer is empty, so the caller can switch the direction to
 * splice. An EOF read before the direction has read <until>(f, d) bytes in all (d[d].bytes
 * plus pending), asked at that read, is not believed: more is on its way to the source
 * (sockmap: segments the verdict kept for the process, still queued in the kernel; it may keep
 * more while the loop runs), so the read counts as drained. NULL: every EOF is believed.
 * Returns like a pump.
 */
int sl__fwd_copy_move(struct sl_fwd *f, unsigned d, bool adaptive,
                      uint64_t (*until)(struct sl_fwd *f, unsigned d));
/* Sets each direction's capacity (no buffer is taken before a read): the copy variant's attach. */
int sl__fwd_copy_attach(struct sl_fwd *f);

/*
 * Splices direction <d> through its pipe (d[d].pipe; taken from env->pipes before the first
 * splice in if it holds none) until a flag stops it: the body of the splice variant's pump. Counts
 * d[d].burst (bytes since the socket last drained); with <adaptive>, a drain after a burst below
 * env->buffer_size bumps d[d].small, a bigger one clears it. Returns like a pump.
 */
int sl__fwd_splice_move(struct sl_fwd *f, unsigned d, bool adaptive);
/* Returns every pipe held to env->pipes (kept if empty): the splice variant's detach. */
void sl__fwd_splice_detach(struct sl_fwd *f);

#endif /* SLUICE_NET_FWD_INT_H */
