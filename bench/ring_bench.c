/* SPDX-License-Identifier: MIT */
/*
 * sl_ring (SPSC, MPMC) and sl_queue (unbounded MPMC) against ck_ring (SPSC, MPMC), liburcu's
 * wfcqueue and a mutex-protected ring, with 1 producer + 1 consumer, 2 + 2, and 4 + 4 (more
 * threads than the 2 CPUs they are pinned to). Every queue carries pointers to 16-byte nodes
 * from a preallocated array (wfcqueue is intrusive and needs them; the others carry the same
 * pointers so every consumer reads the same memory). Every thread waits the same way when its
 * queue is full or empty: bu_wait() in bench_util.h. sl_queue's threads are participants of
 * its epoch domain, online for the run, with a quiescent point every QUEUE_QUIESCE_EVERY
 * operations, as an event loop would pass one per iteration. The "batch" rows have the same
 * producers, and consumers that take many items per call into a buffer of their own: sl_queue
 * with sl_queue_dequeue_batch (up to POP_BATCH), wfcqueue by splicing the whole queue onto a
 * private one (what its API offers for that). bench/run-toolkit runs it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>
#include <urcu/wfcqueue.h>

#include <sluice/epoch.h>
#include <sluice/queue.h>
#include <sluice/ring.h>

#include "bench_util.h"

#define RING_CAP 1024 /* every bounded queue; ck_ring holds one item less */
#define MAX_SIDE 4    /* producers or consumers */
#define STOP_VALUE UINT64_MAX
#define QUEUE_QUIESCE_EVERY 64 /* sl_queue operations between a thread's quiescent points */
#define POP_BATCH 32           /* items an sl_queue batch consumer takes per call at most */

struct node {
	struct cds_wfcq_node link; /* wfcqueue only */
	uint64_t value;
};

/* A ring of pointers behind one pthread mutex: the simplest correct MPMC queue. */
struct mutex_ring {
	pthread_mutex_t lock;
	size_t head, tail; /* free-running; protected by lock */
	void *slot[RING_CAP];
};

static struct sl_ring_spsc *g_sl_spsc;
static struct sl_ring_mpmc *g_sl_mpmc;
static struct ck_ring g_ck SL_CACHELINE_ALIGNED;
static struct ck_ring_buffer g_ck_buf[RING_CAP] SL_CACHELINE_ALIGNED;
static struct cds_wfcq_head g_wf_head SL_CACHELINE_ALIGNED;
static struct cds_wfcq_tail g_wf_tail SL_CACHELINE_ALIGNED;
static struct mutex_ring g_mr SL_CACHELINE_ALIGNED;
static struct sl_epoch *g_q_epoch;
static struct sl_queue *g_q;
static __thread unsigned tl_q_slot, tl_q_ops; /* sl_queue: this thread's participant, op count */
/* batch consumers: what the last call took and has not been handed out yet */
static __thread void *tl_batch[POP_BATCH];
static __thread size_t tl_batch_n, tl_batch_i;
static __thread struct cds_wfcq_head tl_wf_head;
static __thread struct cds_wfcq_tail tl_wf_tail;

typedef bool (*push_fn)(struct node *);
typedef struct node *(*pop_fn)(void);

static inline bool
sl_spsc_push(struct node *n)
{
	return sl_ring_try_push_spsc(g_sl_spsc, n);
}

static inline struct node *
sl_spsc_pop(void)
{
	void *n;

	return sl_ring_try_pop_spsc(g_sl_spsc, &n) ? n : NULL;
}

static inline bool
sl_mpmc_push(struct node *n)
{
	return sl_ring_try_push_mpmc(g_sl_mpmc, n);
}

static inline struct node *
sl_mpmc_pop(void)
{
	void *n;

	return sl_ring_try_pop_mpmc(g_sl_mpmc, &n) ? n : NULL;
}

/* A quiescent point every QUEUE_QUIESCE_EVERY operations of this thread. */
static inline void
sl_queue_tick(void)
{
	if (++tl_q_ops % QUEUE_QUIESCE_EVERY == 0)
		sl_epoch_quiescent(g_q_epoch, tl_q_slot);
}

static inline bool
sl_queue_push(struct node *n)
{
	sl_queue_tick();
	return sl_queue_enqueue(g_q, n) == 0;
}

static inline struct node *
sl_queue_pop(void)
{
	void *n;

	sl_queue_tick();
	return sl_queue_dequeue(g_q, &n) ? n : NULL;
}

/*
 * Batch consumers hand out items from their buffer. The stop nodes are queued after every
 * item, one per consumer, so what a consumer holds after its stop node can only be other
 * consumers' stop nodes: it gives them back to the queue (after the measured work, once).
 */
static inline struct node *
sl_queue_pop_batch(void)
{
	struct node *n;

	if (tl_batch_i == tl_batch_n) {
		sl_queue_tick();
		tl_batch_i = 0;
		tl_batch_n = sl_queue_dequeue_batch(g_q, tl_batch, POP_BATCH);
		if (tl_batch_n == 0)
			return NULL;
	}
	n = tl_batch[tl_batch_i++];
	if (n->value == STOP_VALUE)
		while (tl_batch_i < tl_batch_n)
			if (sl_queue_enqueue(g_q, tl_batch[tl_batch_i++]) != 0)
				abort();
	return n;
}

static inline bool
ck_spsc_push(struct node *n)
{
	return ck_ring_enqueue_spsc(&g_ck, g_ck_buf, n);
}

static inline struct node *
ck_spsc_pop(void)
{
	struct node *n;

	return ck_ring_dequeue_spsc(&g_ck, g_ck_buf, &n) ? n : NULL;
}

static inline bool
ck_mpmc_push(struct node *n)
{
	return ck_ring_enqueue_mpmc(&g_ck, g_ck_buf, n);
}

static inline struct node *
ck_mpmc_pop(void)
{
	struct node *n;

	return ck_ring_dequeue_mpmc(&g_ck, g_ck_buf, &n) ? n : NULL;
}

static inline bool
wfcq_push(struct node *n)
{
	cds_wfcq_node_init(&n->link);
	cds_wfcq_enqueue(&g_wf_head, &g_wf_tail, &n->link);
	return true;
}

/* one consumer: the unlocked dequeue is allowed */
static inline struct node *
wfcq_pop_sc(void)
{
	struct cds_wfcq_node *l = __cds_wfcq_dequeue_blocking(&g_wf_head, &g_wf_tail);

	return l ? caa_container_of(l, struct node, link) : NULL;
}

/* several consumers: the dequeue takes the head lock */
static inline struct node *
wfcq_pop_mc(void)
{
	struct cds_wfcq_node *l = cds_wfcq_dequeue_blocking(&g_wf_head, &g_wf_tail);

	return l ? caa_container_of(l, struct node, link) : NULL;
}

/* takes the whole shared queue onto the thread's own, then hands its nodes out one by one;
 * <locked>: several consumers, so the splice takes the shared queue's dequeue lock */
static inline struct node *
wfcq_pop_batch(bool locked)
{
	struct cds_wfcq_node *l = __cds_wfcq_dequeue_blocking(&tl_wf_head, &tl_wf_tail);
	struct node *n;

	if (l == NULL) {
		enum cds_wfcq_ret r = locked ? cds_wfcq_splice_blocking(&tl_wf_head, &tl_wf_tail,
		                                                        &g_wf_head, &g_wf_tail)
		                             : __cds_wfcq_splice_blocking(&tl_wf_head, &tl_wf_tail,
		                                                          &g_wf_head, &g_wf_tail);
		if (r == CDS_WFCQ_RET_SRC_EMPTY)
			return NULL;
		l = __cds_wfcq_dequeue_blocking(&tl_wf_head, &tl_wf_tail);
	}
	n = caa_container_of(l, struct node, link);
	if (n->value == STOP_VALUE)
		while ((l = __cds_wfcq_dequeue_blocking(&tl_wf_head, &tl_wf_tail)) != NULL)
			wfcq_push(caa_container_of(l, struct node, link));
	return n;
}

static inline struct node *
wfcq_pop_batch_sc(void)
{
	return wfcq_pop_batch(false);
}

static inline struct node *
wfcq_pop_batch_mc(void)
{
	return wfcq_pop_batch(true);
}

static inline bool
mutex_push(struct node *n)
{
	bool ok;

	pthread_mutex_lock(&g_mr.lock);
	ok = g_mr.tail - g_mr.head < RING_CAP;
	if (ok)
		g_mr.slot[g_mr.tail++ % RING_CAP] = n;
	pthread_mutex_unlock(&g_mr.lock);
	return ok;
}

static inline struct node *
mutex_pop(void)
{
	struct node *n = NULL;

	pthread_mutex_lock(&g_mr.lock);
	if (g_mr.head != g_mr.tail)
		n = g_mr.slot[g_mr.head++ % RING_CAP];
	pthread_mutex_unlock(&g_mr.lock);
	return n;
}

/* Shared state of one run. */
static struct node *g_nodes[MAX_SIDE];
static struct node g_stop[MAX_SIDE];
static atomic_uint g_producers_left;
static pthread_barrier_t g_start;
static bool g_pin = true; /* false: the scheduler places the threads */

struct worker {
	int id, cpu, nconsumers;
	unsigned slot; /* 0 .. producers + consumers - 1: its epoch participant for sl_queue */
	size_t items;
	uint64_t sum;            /* consumer: sum of the values it took */
	uint64_t t_start, t_end; /* CLOCK_MONOTONIC_RAW ns, around this thread's work */
	pthread_t tid;
	void (*fn)(struct worker *w);
};

static BU_ALWAYS_INLINE void
produce(push_fn push, struct worker *w)
{
	struct node *nodes = g_nodes[w->id];
	unsigned spins = 0;

	for (size_t i = 0; i < w->items; i++) {
		nodes[i].value = ((uint64_t)w->id << 40) + i + 1;
		while (!push(&nodes[i]))
			bu_wait(&spins);
		spins = 0;
	}
	/* relaxed: only counts finished producers; the stop nodes travel through the queue */
	if (atomic_fetch_sub_explicit(&g_producers_left, 1, memory_order_relaxed) == 1) {
		for (int c = 0; c < w->nconsumers; c++) {
			g_stop[c].value = STOP_VALUE;
			while (!push(&g_stop[c]))
				bu_wait(&spins);
			spins = 0;
		}
	}
}

/* Takes items until it takes a stop node; the stop nodes are queued after every item, one per
 * consumer, so each consumer takes exactly one. */
static BU_ALWAYS_INLINE void
consume(pop_fn pop, struct worker *w)
{
	unsigned spins = 0;
	uint64_t sum = 0;

	for (;;) {
		struct node *n = pop();
		if (n == NULL) {
			bu_wait(&spins);
			continue;
		}
		spins = 0;
		if (n->value == STOP_VALUE)
			break;
		sum += n->value;
	}
	w->sum = sum;
}

struct impl {
	const char *name;
	bool multi; /* usable with several producers and consumers */
	void (*init)(void);
	void (*fini)(void);
	void (*prod)(struct worker *w);
	void (*cons_sc)(struct worker *w);      /* single consumer */
	void (*cons_mc)(struct worker *w);      /* several consumers */
	void (*thread_start)(struct worker *w); /* on the worker thread, untimed; NULL = none */
	void (*thread_end)(struct worker *w);
};

#define QUEUE_LOOPS(id, PUSH, POP_SC, POP_MC)                                                      \
	static BU_NOINLINE void id##_prod(struct worker *w)                                        \
	{                                                                                          \
		produce(PUSH, w);                                                                  \
	}                                                                                          \
	static BU_NOINLINE void id##_cons_sc(struct worker *w)                                     \
	{                                                                                          \
		consume(POP_SC, w);                                                                \
	}                                                                                          \
	static BU_NOINLINE void id##_cons_mc(struct worker *w)                                     \
	{                                                                                          \
		consume(POP_MC, w);                                                                \
	}

QUEUE_LOOPS(sl_spsc, sl_spsc_push, sl_spsc_pop, sl_spsc_pop)
QUEUE_LOOPS(sl_mpmc, sl_mpmc_push, sl_mpmc_pop, sl_mpmc_pop)
QUEUE_LOOPS(sl_queue, sl_queue_push, sl_queue_pop, sl_queue_pop)
QUEUE_LOOPS(sl_queue_b, sl_queue_push, sl_queue_pop_batch, sl_queue_pop_batch)
QUEUE_LOOPS(ck_spsc, ck_spsc_push, ck_spsc_pop, ck_spsc_pop)
QUEUE_LOOPS(ck_mpmc, ck_mpmc_push, ck_mpmc_pop, ck_mpmc_pop)
QUEUE_LOOPS(wfcq, wfcq_push, wfcq_pop_sc, wfcq_pop_mc)
QUEUE_LOOPS(wfcq_b, wfcq_push, wfcq_pop_batch_sc, wfcq_pop_batch_mc)
QUEUE_LOOPS(mutex, mutex_push, mutex_pop, mutex_pop)

static void
die(const char *what)
{
	fprintf(stderr, "ring_bench: %s failed\n", what);
	exit(1);
}

static void
sl_spsc_init(void)
{
	if (sl_ring_spsc_create(&g_sl_spsc, RING_CAP) != 0)
		die("sl_ring_spsc_create");
}

static void
sl_spsc_fini(void)
{
	sl_ring_spsc_destroy(g_sl_spsc);
}

static void
sl_mpmc_init(void)
{
	if (sl_ring_mpmc_create(&g_sl_mpmc, RING_CAP) != 0)
		die("sl_ring_mpmc_create");
}

static void
sl_mpmc_fini(void)
{
	sl_ring_mpmc_destroy(g_sl_mpmc);
}

static void
sl_queue_init(void)
{
	struct sl_epoch_opts eo = {.participants = 2 * MAX_SIDE};
	struct sl_queue_opts qo = {0};

	if (sl_epoch_create(&g_q_epoch, &eo) != 0)
		die("sl_epoch_create");
	qo.epoch = g_q_epoch;
	if (sl_queue_create(&g_q, &qo) != 0)
		die("sl_queue_create");
}

static void
sl_queue_fini(void)
{
	sl_queue_destroy(g_q);
	sl_epoch_destroy(g_q_epoch);
}

static void
sl_queue_thread_start(struct worker *w)
{
	tl_q_slot = w->slot;
	tl_q_ops = 0;
	tl_batch_n = tl_batch_i = 0;
	sl_epoch_online(g_q_epoch, w->slot);
}

static void
sl_queue_thread_end(struct worker *w)
{
	sl_epoch_offline(g_q_epoch, w->slot);
}

static void
ck_init(void)
{
	memset(g_ck_buf, 0, sizeof(g_ck_buf));
	ck_ring_init(&g_ck, RING_CAP);
}

static void
wfcq_init(void)
{
	cds_wfcq_init(&g_wf_head, &g_wf_tail);
}

static void
wfcq_fini(void)
{
	cds_wfcq_destroy(&g_wf_head, &g_wf_tail);
}

static void
wfcq_thread_start(struct worker *w)
{
	(void)w;
	cds_wfcq_init(&tl_wf_head, &tl_wf_tail);
}

static void
wfcq_thread_end(struct worker *w)
{
	(void)w;
	cds_wfcq_destroy(&tl_wf_head, &tl_wf_tail);
}

static void
mutex_init(void)
{
	pthread_mutex_init(&g_mr.lock, NULL);
	g_mr.head = g_mr.tail = 0;
}

static void
mutex_fini(void)
{
	pthread_mutex_destroy(&g_mr.lock);
}

static void
nothing(void)
{
}

static const struct impl g_impls[] = {
        {"sl_ring SPSC", false, sl_spsc_init, sl_spsc_fini, sl_spsc_prod, sl_spsc_cons_sc,
         sl_spsc_cons_mc, NULL, NULL},
        {"sl_ring MPMC", true, sl_mpmc_init, sl_mpmc_fini, sl_mpmc_prod, sl_mpmc_cons_sc,
         sl_mpmc_cons_mc, NULL, NULL},
        {"sl_queue", true, sl_queue_init, sl_queue_fini, sl_queue_prod, sl_queue_cons_sc,
         sl_queue_cons_mc, sl_queue_thread_start, sl_queue_thread_end},
        {"ck_ring SPSC", false, ck_init, nothing, ck_spsc_prod, ck_spsc_cons_sc, ck_spsc_cons_mc,
         NULL, NULL},
        {"ck_ring MPMC", true, ck_init, nothing, ck_mpmc_prod, ck_mpmc_cons_sc, ck_mpmc_cons_mc,
         NULL, NULL},
        {"urcu wfcqueue", true, wfcq_init, wfcq_fini, wfcq_prod, wfcq_cons_sc, wfcq_cons_mc, NULL,
         NULL},
        {"sl_queue batch", true, sl_queue_init, sl_queue_fini, sl_queue_b_prod, sl_queue_b_cons_sc,
         sl_queue_b_cons_mc, sl_queue_thread_start, sl_queue_thread_end},
        {"urcu wfcqueue batch", true, wfcq_init, wfcq_fini, wfcq_b_prod, wfcq_b_cons_sc,
         wfcq_b_cons_mc, wfcq_thread_start, wfcq_thread_end},
        {"mutex ring", true, mutex_init, mutex_fini, mutex_prod, mutex_cons_sc, mutex_cons_mc, NULL,
         NULL},
};

static const struct impl *g_im; /* the queue of the current run */

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	if (g_pin)
		bu_pin(w->cpu);
	if (g_im->thread_start != NULL)
		g_im->thread_start(w);
	pthread_barrier_wait(&g_start);
	w->t_start = bu_mono_ns();
	w->fn(w);
	w->t_end = bu_mono_ns();
	if (g_im->thread_end != NULL)
		g_im->thread_end(w);
	return NULL;
}

/* One run: <np> producers of <items> each, <nc> consumers. Returns wall ns per transfer. */
static double
run_once(const struct impl *im, int np, int nc, size_t items)
{
	struct worker w[2 * MAX_SIDE];
	uint64_t t0 = UINT64_MAX, t1 = 0, sum = 0, want = 0;
	int n = np + nc;

	im->init();
	g_im = im;
	/* relaxed: the barrier below orders it before every worker's first access */
	atomic_store_explicit(&g_producers_left, (unsigned)np, memory_order_relaxed);
	pthread_barrier_init(&g_start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		bool prod = i < np;
		int id = prod ? i : i - np;
		w[i] = (struct worker){
		        .id = id,
		        .slot = (unsigned)i,
		        /* one producer and one consumer per CPU: P0, C1 on CPU 0; P1, C0 on CPU 1
		         */
		        .cpu = prod ? id % 2 : (id + 1) % 2,
		        .nconsumers = nc,
		        .items = items,
		        .fn = prod ? im->prod : (nc > 1 ? im->cons_mc : im->cons_sc),
		};
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
			die("pthread_create");
	}
	pthread_barrier_wait(&g_start);
	/* the clock is read by the workers: this thread may not run again until they are done */
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		t0 = w[i].t_start < t0 ? w[i].t_start : t0;
		t1 = w[i].t_end > t1 ? w[i].t_end : t1;
	}
	pthread_barrier_destroy(&g_start);
	im->fini();

	for (int i = np; i < n; i++)
		sum += w[i].sum;
	for (int p = 0; p < np; p++)
		want += ((uint64_t)p << 40) * items + items * (items + 1) / 2;
	if (sum != want) {
		fprintf(stderr, "%s: checksum mismatch (%d+%d)\n", im->name, np, nc);
		exit(1);
	}
	return (double)(t1 - t0) / (double)(items * (size_t)np);
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: ring_bench [--impl NAME]... [--threads 1,2,4] [--items N] [--reps N] "
	        "[--pin 0|1]\n"
	        "--threads k runs k producers + k consumers (k <= %d); --items is per producer\n",
	        MAX_SIDE);
	exit(2);
}

int
main(int argc, char **argv)
{
	const struct impl *sel[SL_ARRAY_SIZE(g_impls)];
	size_t nsel = 0, items = 2000000;
	int threads[4], nthreads = 0;
	unsigned reps = 5;

	for (int i = 1; i + 1 < argc || (i < argc && (usage(), 0)); i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--impl") == 0) {
			size_t k;
			for (k = 0; k < SL_ARRAY_SIZE(g_impls); k++)
				if (strcmp(g_impls[k].name, v) == 0)
					break;
			if (k == SL_ARRAY_SIZE(g_impls) || nsel == SL_ARRAY_SIZE(sel))
				usage();
			sel[nsel++] = &g_impls[k];
		} else if (strcmp(a, "--threads") == 0) {
			for (char *s = (char *)v; *s && nthreads < 4;) {
				threads[nthreads++] = (int)strtol(s, &s, 10);
				s += *s == ',';
			}
		} else if (strcmp(a, "--items") == 0) {
			items = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--reps") == 0) {
			reps = (unsigned)strtoul(v, NULL, 10);
		} else if (strcmp(a, "--pin") == 0) {
			g_pin = strcmp(v, "0") != 0;
		} else {
			usage();
		}
	}
	if (nsel == 0)
		for (size_t k = 0; k < SL_ARRAY_SIZE(g_impls); k++)
			sel[nsel++] = &g_impls[k];
	if (nthreads == 0) {
		threads[0] = 1;
		threads[1] = 2;
		threads[2] = 4;
		nthreads = 3;
	}
	if (reps == 0 || reps > BU_MAX_REPS || items == 0)
		usage();
	for (int t = 0; t < nthreads; t++)
		if (threads[t] < 1 || threads[t] > MAX_SIDE)
			usage();

	int maxk = 0;
	for (int t = 0; t < nthreads; t++)
		maxk = threads[t] > maxk ? threads[t] : maxk;
	/* written once here so no page fault lands in a timed run; not with zeroes: the compiler
	 * turns malloc + memset(0) into calloc, which leaves fresh pages unwritten */
	for (int p = 0; p < maxk; p++) {
		g_nodes[p] = malloc(items * sizeof(struct node));
		if (g_nodes[p] == NULL)
			die("malloc");
		memset(g_nodes[p], 0xa5, items * sizeof(struct node));
	}
	printf("# method: wall time (CLOCK_MONOTONIC_RAW) from the first worker's start to the "
	       "last worker's end / items; "
	       "%zu items per producer; queue capacity %d; wait when full or empty: %d pause "
	       "spins then sched_yield(); threads %s; %u "
	       "repetition(s) in this process after one warm-up run\n",
	       items, RING_CAP, BU_SPIN_LIMIT,
	       g_pin ? "pinned P0,C1 -> CPU 0, P1,C0 -> CPU 1" : "not pinned", reps);
	for (int t = 0; t < nthreads; t++) {
		int k = threads[t];
		char kase[16];
		snprintf(kase, sizeof(kase), "%dp%dc%s", k, k, g_pin ? "" : "-unpinned");
		for (size_t i = 0; i < nsel; i++) {
			const struct impl *im = sel[i];
			struct bu_series s = {0};
			if (k > 1 && !im->multi)
				continue;
			run_once(im, k, k, items / 10 + 1);
			for (unsigned r = 0; r < reps; r++)
				bu_series_add(&s, run_once(im, k, k, items), NULL, 0);
			bu_series_print("ring", kase, im->name, &s);
		}
	}
	for (int p = 0; p < maxk; p++)
		free(g_nodes[p]);
	return 0;
}
