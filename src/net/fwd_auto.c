// SPDX-License-Identifier: MIT
/*
 * Auto forwarder: each direction copies through a pooled buffer (fwd_copy.c: 2 syscalls per
 * small message) and switches to splicing through a cached pipe (fwd_splice.c: 3 syscalls per
 * burst, no copy to user space) while it carries bulk, like HAProxy's splice-auto.
 *
 *   COPY --a recv() filled the buffer, then the buffer emptied--> SPLICE
 *   SPLICE --AUTO_SMALL_BURSTS drained bursts in a row under buffer_size, pipe empty--> COPY
 *
 * A switch happens only with nothing held (buffer or pipe empty), so bytes keep their order.
 * If no pipe is to be had, the direction stays copying. A copying direction holds a buffer only
 * while bytes are in flight (fwd_copy.c); a splicing one keeps its pipe until it copies again.
 */
#include <errno.h>
#include <stdbool.h>

#include <sluice/pool.h>

#include "net/fwd_int.h"

/* Drained bursts in a row small enough for one copy recv() before going back to copying. */
#define AUTO_SMALL_BURSTS 2

static void
auto_detach(struct sl_fwd *f)
{
	for (unsigned d = 0; d < 2; d++) {
		sl_pool_free(f->env->buffers, f->d[d].buf);
		f->d[d].buf = NULL;
	}
	sl__fwd_splice_detach(f);
}

/* Direction <d> holds nothing and its copy buffer filled: splice from now on. */
static int
auto_to_splice(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	int err;

	x->bulk = false;
	if (f->env->pipes == NULL)
		return -EINVAL;
	err = sl_pipe_cache_get(f->env->pipes, x->pipe);
	if (err != 0)
		return err;
	/* the copy pump gave the buffer back when it emptied */
	SL_ASSERT(x->buf == NULL);
	x->head = 0;
	x->capacity = sl_pipe_cache_pipe_size(f->env->pipes);
	x->small = 0;
	x->burst = 0;
	f->env->to_splice++;
	return 0;
}

/*
 * Direction <d> holds nothing and its recent bursts were small: copy from now on. The pipe goes
 * back to the cache; the buffer is taken by the next recv() (fwd_copy.c).
 */
static void
auto_to_copy(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];

	x->small = 0;
	sl_pipe_cache_put(f->env->pipes, x->pipe, true);
	x->head = 0;
	x->capacity = f->env->buffer_size;
	f->env->to_copy++;
}

static int
auto_pump(struct sl_fwd *f, unsigned d)
{
	struct sl_fwd_dir *x = &f->d[d];
	int err;

	if (sl_likely(x->pipe[0] < 0)) {
		err = sl__fwd_copy_move(f, d, true, NULL);
		if (sl_likely(err != 0 || !x->bulk) || x->pending > 0 || x->eof)
			return err;
		if (auto_to_splice(f, d) != 0)
			return sl__fwd_copy_move(f, d, true, NULL); /* bulk is cleared: copy on */
	}
	err = sl__fwd_splice_move(f, d, true);
	if (sl_unlikely(x->small >= AUTO_SMALL_BURSTS) && err == 0 && x->pending == 0 && !x->eof)
		auto_to_copy(f, d);
	return err;
}

const struct sl_fwd_ops sl_fwd_auto_ops = {
        .name = "auto",
        .attach = sl__fwd_copy_attach,
        .detach = auto_detach,
        .pump = auto_pump,
};
