/* SPDX-License-Identifier: MIT */
/*
 * Round robin: every eligible backend in turn, weights ignored. The cursor is where the next
 * scan starts; a pick moves it just past the chosen backend, so ineligible backends are skipped
 * without disturbing the order of the others. Ops table for lb.c; see lb_wrr.c next.
 */
#include <errno.h>

#include "core/lb_int.h"

static int
sl_lb_rr_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	size_t n = lb->n, i = lb->cursor;

	for (size_t k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		if (sl__lb_eligible(c, i)) {
			lb->cursor = i + 1 == n ? 0 : i + 1;
			return (int)i;
		}
	}
	return -ENOENT;
}

const struct sl_lb_ops sl__lb_rr_ops = {
        .pick = sl_lb_rr_pick,
};
