// SPDX-License-Identifier: MIT
/*
 * sl_lb pick cost: ns per sl_lb_pick() for every algorithm with 8 and 64 backends (all up,
 * loads updated like a proxy would: +1 on pick, -1 on a random backend), and the time to build
 * a Maglev table. Single thread; prints one line per case.   lb_bench [picks]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sluice/lb.h>

struct group {
	size_t n;
	uint32_t load[64];
};

static bool
up(void *arg, size_t i)
{
	(void)arg;
	(void)i;
	return true;
}

static uint32_t
load(void *arg, size_t i)
{
	return ((struct group *)arg)->load[i];
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static const enum sl_lb_algo algos[] = {SL_LB_ROUND_ROBIN, SL_LB_WEIGHTED, SL_LB_LEAST_CONN,
	                                        SL_LB_P2C, SL_LB_MAGLEV};
	static const size_t sizes[] = {8, 64};
	long picks = argc > 1 ? atol(argv[1]) : 10000000;
	struct sl_lb_target t[64];
	char names[64][24];

	for (size_t i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "10.0.0.%zu:80", i);
		t[i].name = names[i];
		t[i].weight = 1 + (uint32_t)(i % 3);
	}
	for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct group g = {.n = sizes[s]};
			struct sl_lb_ctx c = {.eligible = up, .load = load, .arg = &g};
			struct sl_lb *lb;
			uint64_t x = 1, sum = 0;
			double t0 = now_ns();
			if (sl_lb_create(&lb, algos[a], t, sizes[s], NULL) != 0)
				return 1;
			double t1 = now_ns();
			for (long r = 0; r < picks; r++) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				c.key = x;
				int i = sl_lb_pick(lb, &c);
				sum += (uint64_t)i;
				g.load[i]++;
				size_t j = (size_t)(x >> 33) % g.n;
				g.load[j] -= g.load[j] > 0;
			}
			double t2 = now_ns();
			printf("%-12s n=%-3zu create %8.1f us  pick %6.2f ns  (checksum %llu)\n",
			       sl_lb_algo_name(algos[a]), sizes[s], (t1 - t0) / 1e3,
			       (t2 - t1) / (double)picks, (unsigned long long)sum);
			sl_lb_destroy(lb);
		}
	}
	return 0;
}
