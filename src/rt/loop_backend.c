/* SPDX-License-Identifier: MIT */
/*
 * Picks the backend behind sl_loop (loop_int.h). Only epoll exists today; the io_uring backend
 * will be chosen here (by probing the kernel or by an option) so loop.c stays backend-neutral.
 */
#include "rt/loop_int.h"

const struct sl_loop_ops *
sl__loop_default_ops(void)
{
	return &sl__loop_epoll_ops;
}
