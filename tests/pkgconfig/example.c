// SPDX-License-Identifier: MIT
/*
 * A program outside the tree that uses the installed libsluice through pkg-config only:
 * it allocates from a pool, passes the blocks through an SPSC ring and frees them.
 */
#include <stdio.h>

#include <sluice/pool.h>
#include <sluice/ring.h>
#include <sluice/version.h>

int
main(void)
{
	struct sl_pool_opts po = {.name = "example", .block_size = 64};
	struct sl_pool_stats st;
	struct sl_ring_spsc *r;
	struct sl_pool *p;
	void *b;
	int i, n = 0;

	if (sl_pool_create(&p, &po) != 0 || sl_ring_spsc_create(&r, 16) != 0)
		return 1;
	for (i = 0; i < 16; i++)
		if (!sl_ring_try_push_spsc(r, sl_pool_alloc(p)))
			return 1;
	while (sl_ring_try_pop_spsc(r, &b)) {
		sl_pool_free(p, b);
		n++;
	}
	sl_pool_stats(p, &st);
	printf("libsluice %s: %d blocks through the ring, %zu live\n", sl_version(), n,
	       st.blocks_live);
	sl_ring_spsc_destroy(r);
	sl_pool_destroy(p);
	return n == 16 && st.blocks_live == 0 ? 0 : 1;
}
