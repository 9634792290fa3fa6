// SPDX-License-Identifier: MIT
/*
 * sl_srctab throughput: acquire + release pairs per second against a baseline of one hash table
 * behind one global mutex, doing the same work per pair (same key, same SipHash, same count and
 * token bucket per entry), in the same run. Cases: 1 thread; 2 threads over many sources (the
 * table shared, as by workers); 2 threads on one hot source (same set, the worst case).
 *   srctab_bench [--ops N] [--reps N] [--sources N] [--capacity N]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/srctab.h>

#include "bench_util.h"
#include "net/srctab_int.h"

#define SEQ 65536 /* source indexes per thread, cycled */

/* ---- the baseline: open addressing, linear probing, one mutex, insert-only ---- */
struct base_entry {
	uint64_t key[2];
	struct sl_tbucket bucket;
	uint32_t conns;
	uint32_t used;
};

struct base {
	pthread_mutex_t lock;
	struct base_entry *e;
	size_t mask;
	struct sl_srctab *hasher; /* for sl__srctab_key() and sl__srctab_hash(), same seed */
};

static int
base_acquire(struct base *b, const struct sl_addr *a, const struct sl_srctab_limits *lim,
             uint64_t now, uint32_t *slot)
{
	uint64_t key[2];
	size_t i;
	struct base_entry *e;
	int v = SL_SRCTAB_ALLOWED;

	if (sl__srctab_key(b->hasher, a, key) != 0)
		return -1;
	i = sl__srctab_hash(b->hasher, key) & b->mask;
	pthread_mutex_lock(&b->lock);
	for (;; i = (i + 1) & b->mask) {
		e = &b->e[i];
		if (!e->used) {
			e->used = 1;
			e->key[0] = key[0];
			e->key[1] = key[1];
			break;
		}
		if (e->key[0] == key[0] && e->key[1] == key[1])
			break;
	}
	if (lim->max_conns != 0 && e->conns >= lim->max_conns)
		v = SL_SRCTAB_OVER_CONNS;
	else if (!sl_tbucket_try_take(&e->bucket, &lim->rate, now, 1))
		v = SL_SRCTAB_OVER_RATE;
	else
		e->conns++;
	pthread_mutex_unlock(&b->lock);
	*slot = (uint32_t)i;
	return v;
}

static void
base_release(struct base *b, uint32_t slot)
{
	pthread_mutex_lock(&b->lock);
	b->e[slot].conns--;
	pthread_mutex_unlock(&b->lock);
}

/* ---- the runs ---- */
enum impl { IMPL_SRCTAB, IMPL_BASE };
static const char *const impl_name[] = {"sl_srctab", "mutex_hash"};

struct shared {
	enum impl impl;
	struct sl_srctab *t;
	struct base *b;
	const struct sl_addr *addrs;
	struct sl_srctab_limits lim;
	long ops;
	pthread_barrier_t start;
};

struct thr {
	struct shared *sh;
	uint32_t seq[SEQ];
	int cpu;
	double ns;
	uint64_t allowed;
	pthread_t thread;
};

static void *
thr_main(void *arg)
{
	struct thr *th = arg;
	struct shared *sh = th->sh;
	uint64_t now = 1000000000000ULL, allowed = 0, t0, t1;
	struct sl_srctab_slot slot;
	uint32_t bslot;

	bu_pin(th->cpu);
	pthread_barrier_wait(&sh->start);
	t0 = bu_mono_ns();
	for (long i = 0; i < sh->ops; i++) {
		const struct sl_addr *a = &sh->addrs[th->seq[i & (SEQ - 1)]];

		now += 1000;
		if (sh->impl == IMPL_SRCTAB) {
			if (sl_srctab_acquire(sh->t, a, &sh->lim, now, &slot) ==
			    SL_SRCTAB_ALLOWED) {
				allowed++;
				sl_srctab_release(sh->t, slot);
			}
		} else if (base_acquire(sh->b, a, &sh->lim, now, &bslot) == SL_SRCTAB_ALLOWED) {
			allowed++;
			base_release(sh->b, bslot);
		}
	}
	t1 = bu_mono_ns();
	th->ns = (double)(t1 - t0);
	th->allowed = allowed;
	return NULL;
}

/* One repetition: <nthreads> threads, each over sources [0, <nsrc>); returns M pairs/s. */
static double
run_once(struct shared *sh, struct thr *th, int nthreads, uint32_t nsrc, uint64_t *allowed)
{
	double worst = 0;
	uint64_t x = 0x2545f4914f6cdd1dULL;

	pthread_barrier_init(&sh->start, NULL, (unsigned)nthreads);
	for (int k = 0; k < nthreads; k++) {
		th[k].sh = sh;
		th[k].cpu = nthreads > 1 ? k : 0;
		for (int i = 0; i < SEQ; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			th[k].seq[i] = (uint32_t)(x % nsrc);
		}
		pthread_create(&th[k].thread, NULL, thr_main, &th[k]);
	}
	*allowed = 0;
	for (int k = 0; k < nthreads; k++) {
		pthread_join(th[k].thread, NULL);
		worst = th[k].ns > worst ? th[k].ns : worst;
		*allowed += th[k].allowed;
	}
	pthread_barrier_destroy(&sh->start);
	return (double)sh->ops * nthreads / worst * 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	long ops = 2000000, reps = 5, sources = 4096, capacity = 65536;
	struct sl_srctab_opts o = {0};
	static struct thr th[2];
	struct sl_addr *addrs;
	struct base b;
	uint64_t x = 88172645463325252ULL;
	static const struct {
		const char *name;
		int threads;
		int hot; /* all threads on source 0 */
	} cases[] = {{"1 thread", 1, 0},
	             {"2 threads, many sources", 2, 0},
	             {"2 threads, one source", 2, 1}};

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--ops"))
			ops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--reps"))
			reps = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--sources"))
			sources = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--capacity"))
			capacity = atol(argv[i + 1]);
	}
	if (reps < 1 || reps > 64 || sources < 1 || capacity < 1 || ops < 1)
		return 2;
	addrs = calloc((size_t)sources, sizeof(*addrs));
	for (long i = 0; i < sources; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[i].ss;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		addrs[i].len = sizeof(*sin);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		sin->sin_addr.s_addr = htonl((uint32_t)x);
	}
	/* the baseline gets at least as many entries as sl_srctab (and >= 2 per source): same
	 * memory footprint order, and its probe chains stay short */
	b.mask = 1;
	while (b.mask + 1 < (size_t)capacity || b.mask + 1 < 2 * (size_t)sources)
		b.mask = 2 * b.mask + 1;
	printf("# srctab_bench: %ld pairs per thread, %ld sources, capacity %ld (baseline %zu), "
	       "median of %ld\n",
	       ops, sources, capacity, b.mask + 1, reps);
	printf("# %-26s %-11s %9s %9s %9s\n", "case", "impl", "Mpairs/s", "min", "max");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double r[2][64], med[2];
		uint64_t allowed[2] = {0, 0};

		/* alternate the two in every repetition, so a busy phase of the machine hits both
		 */
		for (long k = 0; k < reps; k++) {
			for (int im = 0; im < 2; im++) {
				struct shared sh = {
				        .impl = (enum impl)im, .addrs = addrs, .ops = ops};

				sh.lim.max_conns = 1000;
				sl_tbucket_rate_init(&sh.lim.rate, 1000000, 1000000);
				o.capacity = (size_t)capacity;
				if (sl_srctab_create(&sh.t, &o) != 0)
					return 1;
				b.e = calloc(b.mask + 1, sizeof(*b.e));
				if (!b.e)
					return 1;
				b.hasher = sh.t;
				pthread_mutex_init(&b.lock, NULL);
				sh.b = &b;
				r[im][k] = run_once(&sh, th, cases[c].threads,
				                    cases[c].hot ? 1 : (uint32_t)sources,
				                    &allowed[im]);
				pthread_mutex_destroy(&b.lock);
				free(b.e);
				sl_srctab_destroy(sh.t);
			}
		}
		for (int im = 0; im < 2; im++) {
			qsort(r[im], (size_t)reps, sizeof(r[im][0]), cmp_double);
			med[im] = r[im][reps / 2];
			printf("  %-26s %-11s %9.2f %9.2f %9.2f  (allowed %llu in the last rep)\n",
			       cases[c].name, impl_name[im], med[im], r[im][0], r[im][reps - 1],
			       (unsigned long long)allowed[im]);
		}
		printf("  %-26s sl_srctab / mutex_hash = %.2fx\n", cases[c].name, med[0] / med[1]);
	}
	free(addrs);
	return 0;
}
