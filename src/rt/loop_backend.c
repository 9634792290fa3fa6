/* SPDX-License-Identifier: MIT */
/*
 * Picks the backend behind sl_loop (loop_int.h) from enum sl_loop_runtime: epoll, io_uring, or
 * auto (io_uring when this kernel lets the backend create and check its ring, else epoll), so
 * loop.c stays backend-neutral. Also the runtime names the config and the flag use.
 */
#include <errno.h>
#include <string.h>

#include "rt/loop_int.h"

const char *const sl_loop_runtime_names[SL_LOOP_RUNTIMES] = {
        [SL_LOOP_AUTO] = "auto",
        [SL_LOOP_EPOLL] = "epoll",
        [SL_LOOP_IO_URING] = "io_uring",
};

int
sl__loop_backend_init(struct sl_loop *l, enum sl_loop_runtime rt)
{
	int err;

	switch (rt) {
	case SL_LOOP_EPOLL:
		l->ops = &sl__loop_epoll_ops;
		return l->ops->init(l);
	case SL_LOOP_IO_URING:
		l->ops = &sl__loop_uring_ops;
		return l->ops->init(l);
	case SL_LOOP_AUTO:
		l->ops = &sl__loop_uring_ops;
		l->probing = true; /* a fallback is no error: the proxy says which runtime runs */
		err = l->ops->init(l);
		l->probing = false;
		if (err == 0)
			return 0;
		l->ops = &sl__loop_epoll_ops;
		return l->ops->init(l);
	case SL_LOOP_RUNTIMES:
		break;
	}
	return -EINVAL;
}

const char *
sl_loop_runtime_name(enum sl_loop_runtime rt)
{
	if ((unsigned)rt >= SL_LOOP_RUNTIMES)
		return NULL;
	return sl_loop_runtime_names[rt];
}

int
sl_loop_runtime_parse(const char *s, enum sl_loop_runtime *out)
{
	for (unsigned i = 0; i < SL_LOOP_RUNTIMES; i++) {
		if (strcmp(s, sl_loop_runtime_names[i]) == 0) {
			*out = (enum sl_loop_runtime)i;
			return 0;
		}
	}
	return -EINVAL;
}
