/* SPDX-License-Identifier: MIT */
/*
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): each pick adds
 * every eligible backend's weight to its current weight, takes the largest current weight (first
 * index on ties) and subtracts the eligible total from it. With all backends eligible the
 * sequence repeats every sum(weights) picks, each backend exactly <weight> times per cycle and
 * spread out (5,1,1 gives a a b a c a a). Ineligible backends neither gain nor lose.
 */
#include <errno.h>

#include "core/lb_int.h"

static size_t
sl_lb_wrr_state_n(size_t n)
{
	return n;
}

static int
sl_lb_wrr_pick(struct sl_lb *lb, const struct sl_lb_ctx *c)
{
	int64_t total = 0;
	size_t best = 0;
	bool found = false;

	for (size_t i = 0; i < lb->n; i++) {
		if (!sl__lb_eligible(c, i))
			continue;
		/* no overflow: n <= 65535 weights < 2^32 each, so |cur| <= total < 2^48 */
		lb->cur[i] += lb->weight[i];
		total += lb->weight[i];
		if (!found || lb->cur[i] > lb->cur[best]) {
			best = i;
			found = true;
		}
	}
	if (!found)
		return -ENOENT;
	lb->cur[best] -= total;
	return (int)best;
}

const struct sl_lb_ops sl__lb_wrr_ops = {
        .state_n = sl_lb_wrr_state_n,
        .pick = sl_lb_wrr_pick,
};
