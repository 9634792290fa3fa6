/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend of sl_loop: every io is registered edge-triggered (EPOLLET, unless it asks
 * for SL_IO_LEVEL) with epoll_event.data.ptr = the struct sl_io; wait() translates the kernel's
 * events into the generic batch that loop.c dispatches. See loop_int.h for the ops contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "rt/loop_int.h"

struct sl_loop_epoll {
	int epfd;
	unsigned max;
	struct epoll_event evs[];
};

_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLRDHUP == POLLRDHUP &&
                       EPOLLHUP == POLLHUP && EPOLLERR == POLLERR,
               "epoll's event bits are poll's");

static uint32_t
epoll_mask(unsigned events)
{
	return sl__loop_poll_mask(events) | ((events & SL_IO_LEVEL) ? 0 : EPOLLET);
}

static int
epoll_init(struct sl_loop *l)
{
	struct sl_loop_epoll *e;

	e = malloc(sizeof(*e) + (size_t)l->max_events * sizeof(e->evs[0]));
	if (e == NULL)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd == -1) {
		int err = -errno;

		free(e);
		return err;
	}
	e->max = l->max_events;
	l->be = e;
	return 0;
}

static void
epoll_fini(struct sl_loop *l)
{
	struct sl_loop_epoll *e = l->be;

	close(e->epfd);
	free(e);
	l->be = NULL;
}

static int
epoll_ctl_io(struct sl_loop *l, int op, struct sl_io *io, unsigned events)
{
	struct sl_loop_epoll *e = l->be;
	struct epoll_event ev = {.events = epoll_mask(events), .data.ptr = io};

	if (epoll_ctl(e->epfd, op, io->fd, &ev) == -1)
		return -errno;
	return 0;
}

static int
epoll_add(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	return epoll_ctl_io(l, EPOLL_CTL_ADD, io, events);
}

static int
epoll_mod(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	return epoll_ctl_io(l, EPOLL_CTL_MOD, io, events);
}

static int
epoll_del(struct sl_loop *l, struct sl_io *io)
{
	struct sl_loop_epoll *e = l->be;

	/* an fd closed before del is already gone from the epoll set: not an error for us */
	if (epoll_ctl(e->epfd, EPOLL_CTL_DEL, io->fd, NULL) == -1 && errno != EBADF &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

static int
epoll_wait_batch(struct sl_loop *l, int timeout_ms)
{
	struct sl_loop_epoll *e = l->be;
	int n;

	n = epoll_wait(e->epfd, e->evs, (int)e->max, timeout_ms);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		l->batch[i].io = e->evs[i].data.ptr;
		l->batch[i].events = sl__loop_poll_events(e->evs[i].events);
		l->batch[i].op = NULL;
	}
	return n;
}

const struct sl_loop_ops sl__loop_epoll_ops = {
        .name = "epoll",
        .init = epoll_init,
        .fini = epoll_fini,
        .add = epoll_add,
        .mod = epoll_mod,
        .del = epoll_del,
        .forget = NULL, /* close() drops the fd from every epoll set once no dup is open */
        .wait = epoll_wait_batch,
        .quiesce = NULL, /* epoll_ctl() took effect already */
};
