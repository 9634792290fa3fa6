/* SPDX-License-Identifier: MIT */
/*
 * Weighted least connections: the eligible backend with the smallest load/weight, compared
 * exactly as load_a * weight_b < load_b * weight_a in 64 bits. The scan starts at a cursor that
 * moves just past each pick and only a strictly smaller ratio replaces the candidate, so tied
 * backends are taken in round-robin order. O(n) per pick, one load() call per eligible backend.
 */
#include <errno.h>

#include "core/lb_int.h"

static int
sl_lb_lc_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	size_t n = lb->n, i = lb->cursor, best = SIZE_MAX;
	uint64_t best_load = 0;

	for (size_t k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		if (!sl__lb_eligible(c, i))
			continue;
		uint64_t load = sl__lb_load(c, i);
		if (best == SIZE_MAX || load * lb->weight[best] < best_load * lb->weight[i]) {
			best = i;
			best_load = load;
		}
	}
	if (best == SIZE_MAX)
		return -ENOENT;
	lb->cursor = best + 1 == n ? 0 : best + 1;
	return (int)best;
}

const struct sl_lb_ops sl__lb_lc_ops = {
        .pick = sl_lb_lc_pick,
};
