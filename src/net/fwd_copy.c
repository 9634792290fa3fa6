// SPDX-License-Identifier: MIT
/*
 * Copy forwarder: recv()/send() through a pooled buffer per direction (env->buffer_size
 * bytes, the backpressure bound), held only while the direction has bytes in flight: taken right
 * before a recv(), given back when a pump leaves the direction empty, so an idle session holds
 * none. A short recv() means the socket was drained (TCP returns all it has), so the next
 * readable edge is awaited without an extra recv() that would return EAGAIN; after a HUP the
 * direction reads on to the EOF instead, which no edge would announce.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <sluice/pool.h>

#include "net/fwd_int.h"

int
sl__fwd_copy_attach(struct sl_fwd *f)
{
	if (f->env->buffers == NULL)
		return -EINVAL;
	for (unsigned d = 0; d < 2; d++) {
		f->d[d].capacity = f->env->buffer_size;
		f->d[d].head = 0;
	}
	return 0;
}

static void
copy_detach(struct sl_fwd *f)
{
	for (unsigned d = 0; d < 2; d++) {
		sl_pool_free(f->env->buffers, f->d[d].buf);
		f->d[d].buf = NULL;
	}
}

static int
copy_move(struct sl_fwd *f, unsigned d, bool adaptive,
          uint64_t (*until)(struct sl_fwd *f, unsigned d))
{
	struct sl_fwd_dir *x = &f->d[d];
	int src = f->fd[d], dst = f->fd[!d];
	uint32_t tail, room, want;
	ssize_t n;
	int err;

	for (;;) {
		if (x->pending > 0 && f->writable[!d]) {
			n = send(dst, x->buf + x->head, x->pending, MSG_NOSIGNAL);
			if (sl_unlikely(n == -1)) {
				if (errno == EAGAIN)
					f->writable[!d] = false;
				else if (errno == EINTR)
					continue;
				else
					return sl__fwd_fail(f, !d);
			} else {
				x->pending -= (uint32_t)n;
				x->bytes += (uint64_t)n;
				x->head = x->pending == 0 ? 0 : x->head + (uint32_t)n;
				/* short write: SOCK_NOSPACE is set, a writable edge will follow */
				if (x->pending > 0)
					f->writable[!d] = false;
			}
		}
		if (x->eof)
			return x->pending > 0 || x->shut ? 0 : sl__fwd_shut(f, d);
		tail = x->head + x->pending;
		room = x->capacity - tail;
		if (!f->readable[d] || room == 0)
			return 0;
		/* auto: the buffer was filled and is empty again: let the caller splice now */
		if (sl_unlikely(x->bulk) && x->pending == 0)
			return 0;
		if (sl_unlikely(!sl__fwd_may_read(f, d)))
			return 0;
		/* the pool's fast path: a few loads and stores from this thread's cache */
		if (x->buf == NULL && (x->buf = sl_pool_alloc(f->env->buffers)) == NULL) {
			f->err_side = (int8_t)d;
			return -ENOMEM;
		}
		/* never past the quota: with a bandwidth limit it is what the limit granted */
		want = room < x->quota ? room : x->quota;
		n = recv(src, x->buf + tail, want, 0);
		if (sl_likely(n > 0)) {
			x->pending += (uint32_t)n;
			sl__fwd_spend(f, d, (size_t)n);
			if ((uint32_t)n < want) {
				if (!f->hup[d])
					f->readable[d] = false;
			} else if (adaptive && want == room) {
				x->bulk = true; /* the buffer is full: the source may have more */
			}
			continue;
		}
		if (sl_unlikely(n == 0 && until != NULL && x->bytes + x->pending < until(f, d))) {
			f->readable[d] = false; /* the rest comes with a readable edge */
			return 0;
		}
		err = sl__fwd_read_nothing(f, d, n);
		if (err <= 0)
			return err;
	}
}

int
sl__fwd_copy_move(struct sl_fwd *f, unsigned d, bool adaptive,
                  uint64_t (*until)(struct sl_fwd *f, unsigned d))
{
	struct sl_fwd_dir *x = &f->d[d];
	int err = copy_move(f, d, adaptive, until);

	/* nothing in flight: the buffer goes back, so an idle direction holds none */
	if (x->pending == 0 && x->buf != NULL) {
		sl_pool_free(f->env->buffers, x->buf);
		x->buf = NULL;
		x->head = 0;
	}
	return err;
}

static int
copy_pump(struct sl_fwd *f, unsigned d)
{
	return sl__fwd_copy_move(f, d, false, NULL);
}

const struct sl_fwd_ops sl_fwd_copy_ops = {
        .name = "copy",
        .attach = sl__fwd_copy_attach,
        .detach = copy_detach,
        .pump = copy_pump,
};
