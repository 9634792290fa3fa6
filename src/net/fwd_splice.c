// SPDX-License-Identifier: MIT
/*
 * Splice forwarder: each direction takes a pipe from the worker's pipe cache right before it
 * splices in, and gives it back when a pump leaves it empty (an idle session holds none; the
 * cache makes that an array push and pop, no syscall); bytes go socket -> pipe -> socket
 * without reaching user space. The pipe (F_SETPIPE_SZ, config pipe_size) is the only buffer,
 * hence the backpressure bound. A direction splices in only when its pipe is empty, so EAGAIN
 * from that splice can only mean "socket drained", never "pipe full"; then it splices out at
 * once in the same call. Auto (fwd_auto.c) keeps a splicing direction's pipe between pumps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>

#include "net/fwd_int.h"

static int
splice_attach(struct sl_fwd *f)
{
	struct sl_pipe_cache *c = f->env->pipes;

	if (c == NULL)
		return -EINVAL;
	for (unsigned d = 0; d < 2; d++)
		f->d[d].capacity = sl_pipe_cache_pipe_size(c);
	return 0;
}

void
sl__fwd_splice_detach(struct sl_fwd *f)
{
	for (unsigned d = 0; d < 2; d++)
		if (f->d[d].pipe[0] >= 0)
			sl_pipe_cache_put(f->env->pipes, f->d[d].pipe, f->d[d].pending == 0);
}

int
sl__fwd_splice_move(struct sl_fwd *f, unsigned d, bool adaptive)
{
	struct sl_fwd_dir *x = &f->d[d];
	int src = f->fd[d], dst = f->fd[!d];
	ssize_t n;
	int err;

	for (;;) {
		if (x->pending > 0) {
			if (!f->writable[!d])
				return 0;
			n = splice(x->pipe[0], NULL, dst, NULL, x->pending,
			           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (sl_unlikely(n == -1)) {
				if (errno == EAGAIN) {
					f->writable[!d] = false;
					return 0;
				}
				if (errno == EINTR)
					continue;
				return sl__fwd_fail(f, !d);
			}
			x->pending -= (uint32_t)n;
			x->bytes += (uint64_t)n;
			if (x->pending > 0) {
				/* short write: the send buffer is full and the kernel has set
				 * SOCK_NOSPACE, so a writable edge will follow */
				f->writable[!d] = false;
				return 0;
			}
		}
		if (x->eof)
			return x->shut ? 0 : sl__fwd_shut(f, d);
		if (!f->readable[d] || sl_unlikely(!sl__fwd_may_read(f, d)))
			return 0;
		if (x->pipe[0] < 0 && (err = sl_pipe_cache_get(f->env->pipes, x->pipe)) != 0) {
			f->err_side = (int8_t)d;
			return err;
		}
		/* never past the quota: with a bandwidth limit it is what the limit granted */
		n = splice(src, NULL, x->pipe[1], NULL,
		           x->capacity < x->quota ? x->capacity : x->quota,
		           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (sl_likely(n > 0)) {
			x->pending = (uint32_t)n;
			sl__fwd_spend(f, d, (size_t)n);
			x->burst += (uint32_t)n;
			continue;
		}
		err = sl__fwd_read_nothing(f, d, n);
		if (err < 0)
			return err;
		/* the pipe is empty here, so EAGAIN (err 0) means the socket has nothing more */
		if (err == 0) {
			/* auto: a burst the copy buffer would have taken in one recv() is small */
			if (adaptive)
				x->small = x->burst < f->env->buffer_size ? x->small + 1 : 0;
			x->burst = 0;
			return 0;
		}
	}
}

static int
splice_pump(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	int err = sl__fwd_splice_move(f, d, false);

	/* nothing in flight: the pipe goes back, so an idle direction holds none */
	if (x->pending == 0 && x->pipe[0] >= 0)
		sl_pipe_cache_put(f->env->pipes, x->pipe, true);
	return err;
}

const struct sl_fwd_ops sl_fwd_splice_ops = {
        .name = "splice",
        .attach = splice_attach,
        .detach = sl__fwd_splice_detach,
        .pump = splice_pump,
};
