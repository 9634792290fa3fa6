// SPDX-License-Identifier: MIT
/*
 * The proxy's statistics: per-listener and per-backend counters, per-worker latency histograms,
 * the session hooks that feed them (called from session.c) and the registry (sluice/stats.h)
 * every consumer iterates. Hot path: per-worker slots and plain histogram increments, no lock,
 * no line another thread writes. A scrape (sl_stats_collect()) posts one message per worker:
 * the worker adds the bytes its open sessions moved since the last count and copies its
 * histograms into <snap>, which the collector then reads. Metric names: docs/metrics.md.
 * Shared: w->lent, w->shown and w->snap (under mx.sync_mu, see proxy_int.h); mx.listening
 * (relaxed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/clock.h>

#include "proxy/accesslog.h"
#include "proxy/discover.h"
#include "proxy/session.h"

/* How long a scrape waits for the workers' histograms before reading what it has. */
#define SYNC_TIMEOUT_MS 1000
/* Latency histograms: 1 us .. 1 h, 2 significant digits (< 1% error), in microseconds. */
static const struct sl_hist_opts hist_opts = {
        .lowest = 1, .highest = UINT64_C(3600000000), .sigfigs = 2};

/* Help for the process counters (enum sl_ctr): every one has an entry (proxy_metrics_test). */
static const char *const ctr_help[SL_CTR_COUNT] = {
        [SL_CTR_ACCEPTED] = "Client connections accepted.",
        [SL_CTR_ACTIVE] = "Sessions open now.",
        [SL_CTR_CLOSED] = "Sessions finished, for any reason.",
        [SL_CTR_CONNECT_FAILURES] = "Backend connects refused, unreachable or timed out.",
        [SL_CTR_RETRIES] = "Connects tried on another backend after a failure.",
        [SL_CTR_NO_BACKEND] = "Clients closed because no backend could be reached.",
        [SL_CTR_FILTERED] = "Clients rejected by the filter chain, every reason.",
        [SL_CTR_RESETS] = "Sessions ended by a reset or socket error on one side.",
        [SL_CTR_ACCEPT_ERRORS] = "accept4() failures other than EAGAIN.",
        [SL_CTR_EJECTIONS] = "Passive ejections of a backend.",
        [SL_CTR_SPLICE_FALLBACKS] = "Sessions moved from splice, sockmap or uring to copy.",
        [SL_CTR_WARM_FAILED] = "Warm sessions reset by the backend before its first byte.",
        [SL_CTR_LOCAL_ERRORS] = "Clients closed for want of fds, memory or ports on this host.",
        [SL_CTR_ACCEPT_PAUSES] = "Pauses of accepting at max_connections, however long each.",
        [SL_CTR_SOURCE_BANS] =
                "Sources banned after repeated slow-client cuts (source_limits.ban).",
        [SL_CTR_QUEUE_FULL] =
                "Clients closed: every backend at its max_connections, the queue at max_queue.",
        [SL_CTR_MOVED_OUT] = "Sessions handed to a new process in a binary upgrade.",
        [SL_CTR_MOVED_IN] = "Sessions taken over from the previous process in a binary upgrade.",
        [SL_CTR_SOCKMAP_SESSIONS] = "Sessions whose bytes the kernel moved (forward: sockmap).",
        [SL_CTR_SOCKMAP_COPIED] = "Directions of sockmap sessions the process copied a while.",
        [SL_CTR_SOCKMAP_BYTES] = "Bytes of sockmap sessions the kernel moved, at their close.",
        [SL_CTR_ADMIN_CLOSES] = "Sessions closed by sluicectl or by a reload of their listener.",
};

/* The worker's loop clock: read once per loop iteration, so no clock read per hook. */
static uint64_t
now_us(const struct sl_session *s)
{
	return sl_loop_now_us(s->l->w->loop);
}

static size_t
flat_backend(const struct sl_session *s)
{
	return s->l->w->p->mx.bbase[s->l->cfg->group] + (size_t)s->backend;
}

/* ---- session hooks (the session's worker) ---- */

void
sl__metrics_opened(struct sl_session *s)
{
	struct sl_pworker *w = s->l->w;
	unsigned base = (unsigned)s->l->index * SL_LCTR_COUNT;

	s->open_us = now_us(s);
	s->mark_us = 0;
	s->counted[0] = s->counted[1] = 0;
	s->connected = false;
	sl_counter_add(w->p->mx.lctr, w->index, base + SL_LCTR_CONNECTIONS, 1);
	sl_counter_gauge_add(w->p->mx.lctr, w->index, base + SL_LCTR_ACTIVE, 1);
}

void
sl__metrics_connecting(struct sl_session *s)
{
	s->mark_us = now_us(s);
}

void
sl__metrics_connected(struct sl_session *s)
{
	struct sl_pworker *w = s->l->w;
	unsigned base = (unsigned)(flat_backend(s) * SL_BCTR_COUNT);
	uint64_t now = now_us(s);

	sl_hist_record(&w->hist[SL_PHIST_CONNECT], now - s->mark_us);
	s->mark_us = now | 1; /* never 0: the first byte is still to come */
	s->connected = true;
	sl_counter_add(w->p->mx.bctr, w->index, base + SL_BCTR_SESSIONS, 1);
	sl_counter_gauge_add(w->p->mx.bctr, w->index, base + SL_BCTR_ACTIVE, 1);
}

void
sl__metrics_connect_failed(struct sl_session *s)
{
	struct sl_pworker *w = s->l->w;

	sl_counter_add(w->p->mx.bctr, w->index,
	               (unsigned)(flat_backend(s) * SL_BCTR_COUNT) + SL_BCTR_CONNECT_FAILURES, 1);
}

void
sl__metrics_forwarded(struct sl_session *s)
{
	uint64_t now;

	if (sl_fwd_bytes(&s->fwd, SL_FWD_SERVER) == 0)
		return;
	now = now_us(s);
	sl_hist_record(&s->l->w->hist[SL_PHIST_FIRST_BYTE], now - s->mark_us);
	s->mark_us = 0;
}

/* Adds the bytes <s> moved since they were last counted, to every counter that has them. */
static void
count_bytes(struct sl_session *s, struct sl_pworker *w)
{
	struct sl_metrics *mx = &w->p->mx;

	for (unsigned d = 0; d < 2; d++) {
		uint64_t delta = sl_fwd_bytes(&s->fwd, d) - s->counted[d];

		if (delta == 0)
			continue;
		s->counted[d] += delta;
		sl__ctr_add(w, d == SL_FWD_CLIENT ? SL_CTR_BYTES_IN : SL_CTR_BYTES_OUT, delta);
		sl_counter_add(mx->lctr, w->index,
		               (unsigned)s->l->index * SL_LCTR_COUNT +
		                       (d == SL_FWD_CLIENT ? SL_LCTR_BYTES_IN : SL_LCTR_BYTES_OUT),
		               delta);
		if (s->connected)
			sl_counter_add(
			        mx->bctr, w->index,
			        (unsigned)(flat_backend(s) * SL_BCTR_COUNT) +
			                (d == SL_FWD_CLIENT ? SL_BCTR_BYTES_IN : SL_BCTR_BYTES_OUT),
			        delta);
	}
}

/* <s> leaves: its bytes counted, its listener's and backend's active gauges given back. */
static void
session_leaves(struct sl_session *s, struct sl_pworker *w)
{
	struct sl_metrics *mx = &w->p->mx;

	count_bytes(s, w);
	sl_counter_gauge_add(mx->lctr, w->index,
	                     (unsigned)s->l->index * SL_LCTR_COUNT + SL_LCTR_ACTIVE, -1);
	if (s->connected)
		sl_counter_gauge_add(mx->bctr, w->index,
		                     (unsigned)(flat_backend(s) * SL_BCTR_COUNT) + SL_BCTR_ACTIVE,
		                     -1);
}

void
sl__metrics_closed(struct sl_session *s)
{
	struct sl_pworker *w = s->l->w;

	session_leaves(s, w);
	sl_hist_record(&w->hist[SL_PHIST_SESSION], now_us(s) - s->open_us);
}

void
sl__metrics_moved(struct sl_session *s)
{
	session_leaves(s, s->l->w);
}

void
sl__metrics_adopted(struct sl_session *s)
{
	struct sl_pworker *w = s->l->w;
	uint64_t now = now_us(s), age_ms = sl_loop_now_ms(w->loop) - s->start_ms;

	sl__metrics_opened(s);
	/* the session's duration runs from its accept in the previous process */
	s->open_us = now > age_ms * 1000 ? now - age_ms * 1000 : 0;
	for (unsigned d = 0; d < 2; d++)
		s->counted[d] = sl_fwd_bytes(&s->fwd, d); /* that process counted them */
	if (s->backend < 0)
		return;
	s->connected = true;
	sl_counter_add(w->p->mx.bctr, w->index,
	               (unsigned)(flat_backend(s) * SL_BCTR_COUNT) + SL_BCTR_SESSIONS, 1);
	sl_counter_gauge_add(w->p->mx.bctr, w->index,
	                     (unsigned)(flat_backend(s) * SL_BCTR_COUNT) + SL_BCTR_ACTIVE, 1);
}

/* ---- collection: through the workers' mailboxes ---- */

/* On worker <w>: count the bytes of open sessions, copy the histograms, give <snap> back. */
static void
worker_sync(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_pworker *w = m->data;
	struct sl_metrics *mx = &w->p->mx;

	(void)wk;
	for (struct sl_session *s = w->live; s != NULL; s = s->next) {
		sl_fwd_sync(&s->fwd); /* sockmap: the kernel's counts */
		count_bytes(s, w);
	}
	/* the copy no scrape reads: snap[shown] stays readable meanwhile */
	for (unsigned k = 0; k < SL_PHIST_COUNT; k++) {
		sl_hist_reset(&w->snap[!w->shown][k]);
		/* same options: cannot fail */
		(void)sl_hist_merge(&w->snap[!w->shown][k], &w->hist[k]);
	}
	pthread_mutex_lock(&mx->sync_mu);
	w->shown = !w->shown;
	w->lent = false;
	pthread_cond_broadcast(&mx->sync_cv);
	pthread_mutex_unlock(&mx->sync_mu);
}

static bool
any_lent(const struct sl_proxy *p)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		if (p->workers[i].lent)
			return true;
	return false;
}

/*
 * The latency set's collect: lends each worker its snapshot and waits (bounded) until every
 * worker gave it back. A worker that does not answer in time is not lent again until it
 * answers: -ETIMEDOUT, and the scrape reads the copy it gave back last.
 */
static int
metrics_collect(void *arg)
{
	struct sl_proxy *p = arg;
	struct sl_metrics *mx = &p->mx;
	struct timespec dl;
	int err = 0;

	sl_clock_deadline(&dl, (uint64_t)SYNC_TIMEOUT_MS * 1000);
	pthread_mutex_lock(&mx->collect_mu);
	pthread_mutex_lock(&mx->sync_mu);
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sl_pworker *w = &p->workers[i];

		if (w->lent || w->w == NULL)
			continue;
		w->lent = true;
		if (sl_worker_post(w->w, &w->sync_msg) != 0)
			w->lent = false; /* mailbox full: this worker's figures wait for the next */
	}
	while (any_lent(p))
		if (pthread_cond_timedwait(&mx->sync_cv, &mx->sync_mu, &dl) == ETIMEDOUT) {
			err = any_lent(p) ? -ETIMEDOUT : 0;
			break;
		}
	pthread_mutex_unlock(&mx->sync_mu);
	pthread_mutex_unlock(&mx->collect_mu);
	return err;
}

/* The latency set's hist callback: merges every worker's last snapshot into <dst>, a late
 * worker's too (the one it gave back before: a histogram never goes back). */
static int
metrics_hist(void *arg, size_t inst, unsigned idx, struct sl_hist *dst)
{
	struct sl_proxy *p = arg;
	struct sl_metrics *mx = &p->mx;
	int err = 0;

	(void)inst;
	pthread_mutex_lock(&mx->collect_mu);
	pthread_mutex_lock(&mx->sync_mu);
	for (unsigned i = 0; i < p->nworkers && err == 0; i++) {
		const struct sl_pworker *w = &p->workers[i];

		if (w->snap[w->shown][idx].counts != NULL)
			err = sl_hist_merge(dst, &w->snap[w->shown][idx]);
	}
	pthread_mutex_unlock(&mx->sync_mu);
	pthread_mutex_unlock(&mx->collect_mu);
	return err;
}

/* ---- read callbacks ---- */

static size_t
group_of(const struct sl_proxy *p, size_t flat)
{
	size_t g = 0;

	while (g + 1 < p->gcap && p->mx.bbase[g + 1] <= flat)
		g++;
	return g;
}

const struct sl_backend *
sl__metrics_backend_at(const struct sl_proxy *p, size_t flat)
{
	size_t g = group_of(p, flat);

	return &p->backends[g][flat - p->mx.bbase[g]];
}

/*
 * Counter <k> (enum sl_bctr) of slot <flat>, less what its previous occupants left (ctr_base,
 * under bk_mu: a fill may be under way).
 */
static uint64_t
backend_counter(struct sl_proxy *p, size_t flat, unsigned k)
{
	size_t g = group_of(p, flat);
	uint64_t v;

	pthread_mutex_lock(&p->bk_mu);
	v = sl__backend_counted(p, g, (uint32_t)(flat - p->mx.bbase[g]), k);
	pthread_mutex_unlock(&p->bk_mu);
	return v;
}

/* backend sets: an instance per slot (backend_bytes: two), shown while the slot is LIVE in a
 * group shown (a retired group, while a session holds it) */
bool
sl__metrics_backend_present(void *arg, size_t inst)
{
	struct sl_proxy *p = arg;

	/* relaxed: a statistic; the label read takes bk_mu */
	return atomic_load_explicit(&sl__metrics_backend_at(p, inst)->state,
	                            memory_order_relaxed) == SL_SLOT_LIVE &&
	       sl__group_is_shown(p, group_of(p, inst));
}

static bool
backend_bytes_present(void *arg, size_t inst)
{
	return sl__metrics_backend_present(arg, inst / 2);
}

bool
sl__metrics_backend_label(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	struct sl_proxy *p = arg;

	if (j > 1) /* the direction never changes */
		return false;
	/* the group's name changes when a reload fills a free group slot */
	pthread_mutex_lock(&p->bk_mu);
	snprintf(buf, size, "%s",
	         j == 0 ? sl__group_cfg(p, group_of(p, inst))->name
	                : sl__metrics_backend_at(p, inst)->name);
	pthread_mutex_unlock(&p->bk_mu);
	return true;
}

int
sl_proxy_backend_instance_addr(struct sl_proxy *p, size_t inst, const char *group,
                               const char *backend, struct sl_addr *out)
{
	const struct sl_backend *b;
	int err = -ENOENT;

	pthread_mutex_lock(&p->bk_mu);
	if (inst < p->mx.nbackends) {
		b = sl__metrics_backend_at(p, inst);
		/* relaxed: the state changes under bk_mu, held here */
		if (atomic_load_explicit(&b->state, memory_order_relaxed) == SL_SLOT_LIVE &&
		    strcmp(b->name, backend) == 0 &&
		    strcmp(sl__group_cfg(p, group_of(p, inst))->name, group) == 0) {
			*out = b->addr;
			err = 0;
		}
	}
	pthread_mutex_unlock(&p->bk_mu);
	return err;
}

static bool
backend_bytes_label(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	return sl__metrics_backend_label(arg, inst / 2, j, buf, size);
}

static uint64_t
read_backend_bytes(void *arg, size_t inst, unsigned idx)
{
	(void)idx;
	return backend_counter(arg, inst / 2, inst % 2 == 0 ? SL_BCTR_BYTES_IN : SL_BCTR_BYTES_OUT);
}

enum { P_MAX_CONNECTIONS, P_LISTENING, P_ADMIN_REFUSED, P_MOVES_LOST, P_READS };

static uint64_t
read_process(void *arg, size_t inst, unsigned idx)
{
	const struct sl_proxy *p = arg;

	(void)inst;
	switch (idx - p->mx.process_reads) {
	case P_MAX_CONNECTIONS:
		/* relaxed: a statistic */
		return atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	case P_LISTENING:
		/* relaxed: a statistic; orders nothing */
		return atomic_load_explicit(&p->mx.listening, memory_order_relaxed);
	case P_ADMIN_REFUSED:
		/* relaxed: a count, publishing nothing */
		return atomic_load_explicit(&p->mx.admin_refused, memory_order_relaxed);
	case P_MOVES_LOST:
		/* relaxed: as above */
		return atomic_load_explicit(&p->mx.moves_lost, memory_order_relaxed);
	}
	return 0;
}

/* backend set: B_COUNTERS counter definitions, then the others */
enum { B_COUNTERS = 3 };
enum { B_UP, B_CHECKED, B_EJECTED, B_WEIGHT, B_BACKUP, B_DRAINING, B_DISABLED };

static uint64_t
read_backend(void *arg, size_t inst, unsigned idx)
{
	static const unsigned ctr[B_COUNTERS] = {SL_BCTR_SESSIONS, SL_BCTR_ACTIVE,
	                                         SL_BCTR_CONNECT_FAILURES};
	struct sl_proxy *p = arg;
	const struct sl_backend *b = sl__metrics_backend_at(p, inst);

	if (idx < B_COUNTERS)
		return backend_counter(p, inst, ctr[idx]);
	switch (idx - B_COUNTERS) {
	case B_UP:
		return sl_health_backend_is_up(&b->up);
	case B_CHECKED: {
		bool checked;

		/* a reload may change the group's checks */
		pthread_mutex_lock(&p->bk_mu);
		checked = sl__gslot_checked(p, group_of(p, inst));
		pthread_mutex_unlock(&p->bk_mu);
		return checked;
	}
	case B_EJECTED:
		/* relaxed: a statistic, as the balancer's own read */
		return atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) >
		       sl_clock_ns() / 1000000;
	case B_WEIGHT:
		/* relaxed: a statistic */
		return atomic_load_explicit(&b->weight, memory_order_relaxed);
	case B_BACKUP:
		/* relaxed: a statistic */
		return atomic_load_explicit(&b->backup, memory_order_relaxed) != 0;
	case B_DRAINING:
		/* relaxed: a statistic, as the balancer's own read */
		return atomic_load_explicit(&b->admin, memory_order_relaxed) == SL_BACKEND_DRAINING;
	case B_DISABLED:
		/* relaxed: a statistic, as the balancer's own read */
		return atomic_load_explicit(&b->admin, memory_order_relaxed) == SL_BACKEND_DISABLED;
	}
	return 0;
}

enum { G_BACKENDS, G_UP, G_SERVING, G_RETIRED };

static uint64_t
read_group(void *arg, size_t inst, unsigned idx)
{
	const struct sl_proxy *p = arg;
	uint64_t n = 0, up = 0, serving = 0, now_ms = sl_clock_ns() / 1000000;

	if (idx == G_RETIRED)
		return !sl__group_is_live(p, inst);
	for (size_t i = 0; i < p->bsets[inst].cap; i++) {
		const struct sl_backend *b = &p->backends[inst][i];
		bool is_up;

		/* relaxed: a statistic */
		if (atomic_load_explicit(&b->state, memory_order_relaxed) != SL_SLOT_LIVE)
			continue;
		n++;
		is_up = sl_health_backend_is_up(&b->up);
		up += is_up;
		/* relaxed, both: a statistic, as the balancer's own reads (B_EJECTED's clock) */
		serving +=
		        is_up &&
		        atomic_load_explicit(&b->admin, memory_order_relaxed) ==
		                SL_BACKEND_ENABLED &&
		        atomic_load_explicit(&b->ejected_until_ms, memory_order_relaxed) <= now_ms;
	}
	return idx == G_BACKENDS ? n : idx == G_UP ? up : serving;
}

static uint64_t
read_health(void *arg, size_t inst, unsigned idx)
{
	struct sl_proxy *p = arg;
	struct sl_health_stats hs = {0};
	const uint64_t *v[] = {&hs.checks, &hs.failures, &hs.transitions_up, &hs.transitions_down,
	                       &hs.local_errors};

	(void)inst;
	sl__health_stats_sum(p, &hs);
	return idx < SL_ARRAY_SIZE(v) ? *v[idx] : 0;
}

static uint64_t
read_warm(void *arg, size_t inst, unsigned idx)
{
	const struct sl_proxy *p = arg;
	uint64_t sum = 0;

	(void)inst;
	for (unsigned i = 0; i < p->nworkers && p->workers != NULL; i++) {
		struct sl_warm_stats ws;
		const uint64_t *v[] = {&ws.hits, &ws.misses,   &ws.expired,
		                       &ws.dead, &ws.connects, &ws.connect_failures};

		sl_warm_counters_read(&p->workers[i].warm_counts, &ws);
		sum += idx < SL_ARRAY_SIZE(v) ? *v[idx] : 0;
	}
	return sum;
}

enum { D_RESOLUTIONS, D_FAILURES, D_EMPTY, D_APPLY_ERRORS, D_BACKENDS, D_LAST_CHANGE };

static uint64_t
read_discover(void *arg, size_t inst, unsigned idx)
{
	const struct sl_proxy *p = arg;
	struct sl_discover_stats ds;
	const uint64_t *v[] = {[D_RESOLUTIONS] = &ds.resolutions,
	                       [D_FAILURES] = &ds.failures,
	                       [D_EMPTY] = &ds.empty,
	                       [D_APPLY_ERRORS] = &ds.apply_errors,
	                       [D_BACKENDS] = &ds.backends,
	                       [D_LAST_CHANGE] = &ds.last_change_s};

	sl__discover_stats(p->disc, inst, &ds);
	return idx < SL_ARRAY_SIZE(v) ? *v[idx] : 0;
}

static uint64_t
read_access_log(void *arg, size_t inst, unsigned idx)
{
	const struct sl_proxy *p = arg;

	(void)idx;
	/* alog is set at create, before any reader runs */
	return p->alog != NULL ? sl__accesslog_dropped(p->alog, (enum sl_accesslog_drop)inst) : 0;
}

/* ---- building the registry ---- */

static int
add_set(struct sl_proxy *p, struct sl_stats_set **out, const char *name, const char *const *labels,
        unsigned nlabels, const struct sl_stats_def *defs, unsigned ndefs,
        const struct sl_counter_set *ctr, sl_stats_read_fn read)
{
	return sl_stats_add_set(p->mx.reg,
	                        &(struct sl_stats_set_opts){.name = name,
	                                                    .labels = labels,
	                                                    .nlabels = nlabels,
	                                                    .defs = defs,
	                                                    .ndefs = ndefs,
	                                                    .ctr = ctr,
	                                                    .read = read,
	                                                    .arg = p},
	                        out);
}

/* process: every counter of enum sl_ctr but bytes, timeouts and rejects (labelled below). */
static int
add_process(struct sl_proxy *p)
{
	struct sl_stats_def defs[SL_CTR_COUNT + P_READS];
	struct sl_stats_set *s;
	unsigned n = 0;
	int err;

	for (unsigned i = 0; i < SL_CTR_TIMEOUT_FIRST; i++) {
		if (i == SL_CTR_BYTES_IN || i == SL_CTR_BYTES_OUT)
			continue;
		defs[n++] = (struct sl_stats_def){.name = sl__ctr_defs[i].name,
		                                  .kind = sl__ctr_defs[i].kind == SL_COUNTER_GAUGE
		                                                  ? SL_STATS_GAUGE
		                                                  : SL_STATS_COUNTER,
		                                  .help = ctr_help[i],
		                                  .offset = i};
	}
	p->mx.process_reads = n; /* the read definitions follow the counters */
	defs[n++] = (struct sl_stats_def){.name = "max_connections",
	                                  .kind = SL_STATS_GAUGE,
	                                  .help = "The process-wide session cap in force.",
	                                  .offset = SL_STATS_READ};
	defs[n++] = (struct sl_stats_def){.name = "listening",
	                                  .kind = SL_STATS_GAUGE,
	                                  .help = "1 while the listeners take clients, 0 before "
	                                          "the start and once draining.",
	                                  .offset = SL_STATS_READ};
	defs[n++] = (struct sl_stats_def){.name = "admin_refused",
	                                  .kind = SL_STATS_COUNTER,
	                                  .help = "Admin endpoint connections closed at once: "
	                                          "over admin.max_per_source from one address.",
	                                  .offset = SL_STATS_READ};
	defs[n++] = (struct sl_stats_def){.name = "moves_lost",
	                                  .kind = SL_STATS_COUNTER,
	                                  .help = "Sessions closed on their way in a binary "
	                                          "upgrade: taken out to move and never sent, "
	                                          "or received and not taken over.",
	                                  .offset = SL_STATS_READ};
	err = add_set(p, &s, "process", NULL, 0, defs, n, p->ctr, read_process);
	return err != 0 ? err : sl_stats_add_instance(s, NULL, 0);
}

/* bytes, timeout, reason: one counter of enum sl_ctr per label value. */
static int
add_labelled(struct sl_proxy *p)
{
	static const char *const dir[] = {"direction"}, *const kind[] = {"kind"},
	                         *const reason[] = {"reason"};
	const struct sl_stats_def bytes = {
	        .name = "bytes",
	        .kind = SL_STATS_COUNTER,
	        .help = "Bytes forwarded: in = client to backend, out = backend to client.",
	        .offset = 0};
	const struct sl_stats_def timeouts = {.name = "timeouts",
	                                      .kind = SL_STATS_COUNTER,
	                                      .help = "Sessions closed at a deadline, by kind; "
	                                              "connect: connect attempts that timed out."};
	const struct sl_stats_def rejects = {
	        .name = "rejects",
	        .kind = SL_STATS_COUNTER,
	        .help = "Clients refused by the filter chain, by reason."};
	struct sl_stats_set *s;
	int err;

	if ((err = add_set(p, &s, "bytes", dir, 1, &bytes, 1, p->ctr, NULL)) != 0 ||
	    (err = sl_stats_add_instance(s, (const char *const[]){"in"}, SL_CTR_BYTES_IN)) != 0 ||
	    (err = sl_stats_add_instance(s, (const char *const[]){"out"}, SL_CTR_BYTES_OUT)) != 0)
		return err;
	if ((err = add_set(p, &s, "timeout", kind, 1, &timeouts, 1, p->ctr, NULL)) != 0)
		return err;
	for (unsigned k = 0; k < SL_TIMEOUT_KINDS; k++) {
		const char *v[] = {sl_timeout_kind_name((enum sl_timeout_kind)k)};

		if ((err = sl_stats_add_instance(s, v, SL_CTR_TIMEOUT_FIRST + k)) != 0)
			return err;
	}
	if ((err = add_set(p, &s, "reason", reason, 1, &rejects, 1, p->ctr, NULL)) != 0)
		return err;
	for (unsigned r = 0; r < SL_REJECT_KINDS; r++) {
		const char *v[] = {sl_reject_reason_name((enum sl_reject_reason)r)};

		if ((err = sl_stats_add_instance(s, v, SL_CTR_REJECT_FIRST + r)) != 0)
			return err;
	}
	return 0;
}

static const char *
listener_name(const struct sl_config_listener *l, char *buf, size_t size)
{
	return l->name[0] != '\0' ? l->name : sl_addr_format(&l->addr, buf, size);
}

static enum sl_lslot_state
lstate(const struct sl_proxy *p, size_t i)
{
	/* relaxed: written under bk_mu, which every reader here holds */
	return (enum sl_lslot_state)atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed);
}

/* true if slots <i> and <j> hold listeners of one name. Under bk_mu. */
static bool
same_name(const struct sl_proxy *p, size_t i, size_t j)
{
	char a[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN];

	return strcmp(listener_name(&p->lslots[i].cfg, a, sizeof(a)),
	              listener_name(&p->lslots[j].cfg, b, sizeof(b))) == 0;
}

/* The live slot of slot <r>'s name other than <r>, or SIZE_MAX. Under bk_mu. */
static size_t
live_of_name(const struct sl_proxy *p, size_t r)
{
	for (size_t i = 0; p->lretired > 0 && i < p->lcap; i++)
		if (i != r && lstate(p, i) == SL_LSLOT_LIVE && same_name(p, i, r))
			return i;
	return SIZE_MAX;
}

/* The first retired slot of slot <r>'s name other than <r>, or SIZE_MAX. Under bk_mu. */
static size_t
retired_of_name(const struct sl_proxy *p, size_t r)
{
	for (size_t i = 0; p->lretired > 0 && i < p->lcap; i++)
		if (i != r && lstate(p, i) == SL_LSLOT_RETIRED && same_name(p, i, r))
			return i;
	return SIZE_MAX;
}

/* Value <k> (enum sl_lctr) of slot <i> alone: its counter less its base. Under bk_mu. */
static uint64_t
lcounted(const struct sl_proxy *p, size_t i, unsigned k)
{
	unsigned idx = (unsigned)(i * SL_LCTR_COUNT + k);

	if (k == SL_LCTR_ACTIVE)
		return (uint64_t)sl_counter_gauge_sum(p->mx.lctr, idx);
	return sl_counter_sum(p->mx.lctr, idx) - p->lslots[i].ctr_base[k];
}

void
sl__metrics_listener_filled(struct sl_proxy *p, size_t i)
{
	for (unsigned k = 0; k < SL_LCTR_COUNT; k++)
		p->lslots[i].ctr_base[k] =
		        sl_counter_sum(p->mx.lctr, (unsigned)(i * SL_LCTR_COUNT + k));
}

void
sl__metrics_listener_freed(struct sl_proxy *p, size_t i)
{
	/* its counts go on in the series of its name: the live slot's, else a retired one's */
	size_t heir = live_of_name(p, i);

	if (heir == SIZE_MAX)
		heir = retired_of_name(p, i);
	for (unsigned k = 0; heir != SIZE_MAX && k < SL_LCTR_COUNT; k++)
		if (k != SL_LCTR_ACTIVE) /* none of its sessions is left */
			p->lslots[heir].ctr_base[k] -= lcounted(p, i, k);
}

/* Value <k> of slot <i> with every other retired slot of its name added in. Under bk_mu. */
static uint64_t
lcounted_name(const struct sl_proxy *p, size_t i, unsigned k)
{
	uint64_t v = lcounted(p, i, k);

	for (size_t r = 0; p->lretired > 0 && r < p->lcap; r++)
		if (r != i && lstate(p, r) == SL_LSLOT_RETIRED && same_name(p, r, i))
			v += lcounted(p, r, k);
	return v;
}

/*
 * listener sets: an instance per slot (bytes and pauses: two, by direction). A live slot is
 * shown with what retired slots of its name still count added in (a listener re-opened by a
 * reload, or removed and named again while its old sessions run: one series per name, which
 * never goes back); with no live slot of the name, the first retired one of it stands for them
 * all (a listener re-opened, then removed), while they have sessions.
 */
static bool
listener_present(void *arg, size_t inst)
{
	struct sl_proxy *p = arg;
	bool shown;

	pthread_mutex_lock(&p->bk_mu);
	switch (lstate(p, inst)) {
	case SL_LSLOT_LIVE:
		shown = true;
		break;
	case SL_LSLOT_RETIRED: {
		size_t first = retired_of_name(p, inst);

		shown = live_of_name(p, inst) == SIZE_MAX && (first == SIZE_MAX || first > inst) &&
		        (int64_t)lcounted_name(p, inst, SL_LCTR_ACTIVE) > 0;
		break;
	}
	default:
		shown = false;
	}
	pthread_mutex_unlock(&p->bk_mu);
	return shown;
}

static bool
listener_pair_present(void *arg, size_t inst)
{
	return listener_present(arg, inst / 2);
}

/* Value <k> of the series of slot <i>'s name, as listener_present() tells. */
static uint64_t
listener_value(struct sl_proxy *p, size_t i, unsigned k)
{
	uint64_t v;

	pthread_mutex_lock(&p->bk_mu);
	v = lcounted_name(p, i, k);
	pthread_mutex_unlock(&p->bk_mu);
	return v;
}

static uint64_t
listener_read(void *arg, size_t inst, unsigned idx)
{
	return listener_value(arg, inst, idx == 0 ? SL_LCTR_CONNECTIONS : SL_LCTR_ACTIVE);
}

static uint64_t
listener_bytes_read(void *arg, size_t inst, unsigned idx)
{
	(void)idx;
	return listener_value(arg, inst / 2, inst % 2 == 0 ? SL_LCTR_BYTES_IN : SL_LCTR_BYTES_OUT);
}

static uint64_t
listener_pauses_read(void *arg, size_t inst, unsigned idx)
{
	(void)idx;
	return listener_value(arg, inst / 2,
	                      inst % 2 == 0 ? SL_LCTR_BANDWIDTH_PAUSES
	                                    : SL_LCTR_BANDWIDTH_PAUSES_DOWNLOAD);
}

static bool
listener_label(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	struct sl_proxy *p = arg;
	char a[SL_ADDR_STRLEN];

	if (j != 0) /* the direction never changes */
		return false;
	pthread_mutex_lock(&p->bk_mu);
	snprintf(buf, size, "%s", listener_name(&p->lslots[inst].cfg, a, sizeof(a)));
	pthread_mutex_unlock(&p->bk_mu);
	return true;
}

static bool
listener_pair_label(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	return listener_label(arg, inst / 2, j, buf, size);
}

/* A listener set: an instance per slot (<pairs>: two, by direction), read by <read>. */
static int
add_listener_set(struct sl_proxy *p, struct sl_stats_set **out, const char *name,
                 const char *const *labels, const struct sl_stats_def *defs, unsigned ndefs,
                 bool pairs, sl_stats_read_fn read)
{
	return sl_stats_add_set(p->mx.reg,
	                        &(struct sl_stats_set_opts){
	                                .name = name,
	                                .labels = labels,
	                                .nlabels = pairs ? 2 : 1,
	                                .defs = defs,
	                                .ndefs = ndefs,
	                                .read = read,
	                                .present = pairs ? listener_pair_present : listener_present,
	                                .label = pairs ? listener_pair_label : listener_label,
	                                .arg = p},
	                        out);
}

static int
add_listeners(struct sl_proxy *p)
{
	static const char *const labels[] = {"listener", "direction"};
	const struct sl_stats_def defs[] = {
	        {.name = "listener_connections",
	         .kind = SL_STATS_COUNTER,
	         .help = "Client connections accepted by the listener.",
	         .offset = SL_STATS_READ},
	        {.name = "listener_active",
	         .kind = SL_STATS_GAUGE,
	         .help = "Sessions of the listener open now.",
	         .offset = SL_STATS_READ},
	};
	const struct sl_stats_def bytes = {.name = "listener_bytes",
	                                   .kind = SL_STATS_COUNTER,
	                                   .help = "Bytes forwarded by the listener's sessions.",
	                                   .offset = SL_STATS_READ};
	const struct sl_stats_def pauses = {
	        .name = "listener_bandwidth_pauses",
	        .kind = SL_STATS_COUNTER,
	        .help = "Times a session stopped reading at a bandwidth limit (bandwidth:).",
	        .offset = SL_STATS_READ};
	struct sl_stats_set *s, *sb, *sp;
	char a[SL_ADDR_STRLEN];
	int err;

	if ((err = add_listener_set(p, &s, "listener", labels, defs, SL_ARRAY_SIZE(defs), false,
	                            listener_read)) != 0 ||
	    (err = add_listener_set(p, &sb, "listener_bytes", labels, &bytes, 1, true,
	                            listener_bytes_read)) != 0 ||
	    (err = add_listener_set(p, &sp, "listener_bandwidth_pauses", labels, &pauses, 1, true,
	                            listener_pauses_read)) != 0)
		return err;
	/* one instance per slot (inst == slot; the pairs: 2 * slot + direction), named after
	 * the slot's listener now (listener_label()) */
	for (size_t i = 0; i < p->lcap; i++) {
		const char *name = listener_name(&p->lslots[i].cfg, a, sizeof(a));

		if ((err = sl_stats_add_instance(s, &name, 0)) != 0 ||
		    (err = sl_stats_add_instance(sb, (const char *const[]){name, "in"}, 0)) != 0 ||
		    (err = sl_stats_add_instance(sb, (const char *const[]){name, "out"}, 0)) != 0 ||
		    (err = sl_stats_add_instance(sp, (const char *const[]){name, "upload"}, 0)) !=
		            0 ||
		    (err = sl_stats_add_instance(sp, (const char *const[]){name, "download"}, 0)) !=
		            0)
			return err;
	}
	return 0;
}

static int
add_backends(struct sl_proxy *p)
{
	static const char *const labels[] = {"group", "backend", "direction"};
	const struct sl_stats_def defs[] = {
	        {.name = "backend_sessions",
	         .kind = SL_STATS_COUNTER,
	         .help = "Sessions connected to the backend.",
	         .offset = SL_STATS_READ},
	        {.name = "backend_active",
	         .kind = SL_STATS_GAUGE,
	         .help = "Sessions connected to the backend now.",
	         .offset = SL_STATS_READ},
	        {.name = "backend_connect_failures",
	         .kind = SL_STATS_COUNTER,
	         .help = "Connects to the backend refused, unreachable or timed out.",
	         .offset = SL_STATS_READ},
	        [B_COUNTERS + B_UP] = {.name = "backend_up",
	                               .kind = SL_STATS_GAUGE,
	                               .help = "1 if the backend is up by its health checks.",
	                               .offset = SL_STATS_READ},
	        [B_COUNTERS + B_CHECKED] = {.name = "backend_checked",
	                                    .kind = SL_STATS_GAUGE,
	                                    .help = "1 if the backend's group runs health checks "
	                                            "(without, backend_up is always 1).",
	                                    .offset = SL_STATS_READ},
	        [B_COUNTERS + B_EJECTED] = {.name = "backend_ejected",
	                                    .kind = SL_STATS_GAUGE,
	                                    .help = "1 while the backend is passively ejected.",
	                                    .offset = SL_STATS_READ},
	        [B_COUNTERS +
	                B_WEIGHT] = {.name = "backend_weight",
	                             .kind = SL_STATS_GAUGE,
	                             .help = "The backend's weight (run-time changes included).",
	                             .offset = SL_STATS_READ},
	        [B_COUNTERS +
	                B_BACKUP] = {.name = "backend_backup",
	                             .kind = SL_STATS_GAUGE,
	                             .help = "1 if the backend is a backup: it takes sessions "
	                                     "only while no primary of its group serves.",
	                             .offset = SL_STATS_READ},
	        [B_COUNTERS + B_DRAINING] = {.name = "backend_draining",
	                                     .kind = SL_STATS_GAUGE,
	                                     .help = "1 while the operator drains the backend: no "
	                                             "new sessions, open ones run on.",
	                                     .offset = SL_STATS_READ},
	        [B_COUNTERS + B_DISABLED] = {.name = "backend_disabled",
	                                     .kind = SL_STATS_GAUGE,
	                                     .help = "1 while the operator disables the backend: "
	                                             "no new sessions, no health checks.",
	                                     .offset = SL_STATS_READ},
	};
	const struct sl_stats_def bytes = {.name = "backend_bytes",
	                                   .kind = SL_STATS_COUNTER,
	                                   .help = "Bytes forwarded to (in) and from (out) the "
	                                           "backend.",
	                                   .offset = SL_STATS_READ};
	struct sl_stats_set *s, *sb;
	int err;

	/* one instance per slot, in flat order (inst == flat index; backend_bytes: 2 * flat +
	 * direction), shown while the slot holds a backend, named after its occupant now */
	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "backend",
	                                                   .labels = labels,
	                                                   .nlabels = 2,
	                                                   .defs = defs,
	                                                   .ndefs = SL_ARRAY_SIZE(defs),
	                                                   .read = read_backend,
	                                                   .present = sl__metrics_backend_present,
	                                                   .label = sl__metrics_backend_label,
	                                                   .arg = p},
	                       &s);
	if (err != 0)
		return err;
	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "backend_bytes",
	                                                   .labels = labels,
	                                                   .nlabels = 3,
	                                                   .defs = &bytes,
	                                                   .ndefs = 1,
	                                                   .read = read_backend_bytes,
	                                                   .present = backend_bytes_present,
	                                                   .label = backend_bytes_label,
	                                                   .arg = p},
	                       &sb);
	if (err != 0)
		return err;
	for (size_t g = 0; g < p->gcap; g++) {
		const struct sl_config_group *cg = sl__group_cfg(p, g); /* "" while free */

		for (size_t i = 0; i < p->bsets[g].cap; i++) {
			/* the name at build time; backend_label() gives the one of now */
			const char *v[] = {cg->name, p->backends[g][i].name};

			if ((err = sl_stats_add_instance(s, v, 0)) != 0 ||
			    (err = sl_stats_add_instance(
			             sb, (const char *const[]){v[0], v[1], "in"}, 0)) != 0 ||
			    (err = sl_stats_add_instance(
			             sb, (const char *const[]){v[0], v[1], "out"}, 0)) != 0)
				return err;
		}
	}
	return 0;
}

/* group: an instance per group slot, shown while live, or retired and held (greload.c) */
static bool
group_present(void *arg, size_t inst)
{
	return sl__group_is_shown(arg, inst);
}

/* its name now: a reload fills free group slots */
static bool
group_label(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	struct sl_proxy *p = arg;

	(void)j;
	pthread_mutex_lock(&p->bk_mu);
	snprintf(buf, size, "%s", sl__group_cfg(p, inst)->name);
	pthread_mutex_unlock(&p->bk_mu);
	return true;
}

static int
add_groups(struct sl_proxy *p)
{
	static const char *const labels[] = {"group"};
	const struct sl_stats_def defs[] = {
	        [G_BACKENDS] = {.name = "group_backends",
	                        .kind = SL_STATS_GAUGE,
	                        .help = "Backends of the group now, run-time changes included.",
	                        .offset = SL_STATS_READ},
	        [G_UP] = {.name = "group_backends_up",
	                  .kind = SL_STATS_GAUGE,
	                  .help = "Backends of the group up by their health checks.",
	                  .offset = SL_STATS_READ},
	        [G_SERVING] = {.name = "group_backends_serving",
	                       .kind = SL_STATS_GAUGE,
	                       .help = "Backends of the group that take new sessions now: up, "
	                               "enabled (not disabled or draining) and not ejected.",
	                       .offset = SL_STATS_READ},
	        [G_RETIRED] = {.name = "group_retired",
	                       .kind = SL_STATS_GAUGE,
	                       .help = "1 while the group a reload removed still has open sessions "
	                               "(it takes no new one; /readyz leaves it out), else 0.",
	                       .offset = SL_STATS_READ},
	};
	struct sl_stats_set *s;
	int err;

	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "group",
	                                                   .labels = labels,
	                                                   .nlabels = 1,
	                                                   .defs = defs,
	                                                   .ndefs = SL_ARRAY_SIZE(defs),
	                                                   .read = read_group,
	                                                   .present = group_present,
	                                                   .label = group_label,
	                                                   .arg = p},
	                       &s);
	if (err != 0)
		return err;
	for (size_t g = 0; g < p->gcap; g++) {
		const char *v[] = {sl__group_cfg(p, g)->name};

		if ((err = sl_stats_add_instance(s, v, 0)) != 0)
			return err;
	}
	return 0;
}

/* discover: one instance per group with a discover: key (none: no set). */
static int
add_discover(struct sl_proxy *p)
{
	static const char *const labels[] = {"group"};
	const struct sl_stats_def defs[] = {
	        [D_RESOLUTIONS] = {.name = "discover_resolutions",
	                           .kind = SL_STATS_COUNTER,
	                           .help = "DNS resolutions of the group's name finished, "
	                                   "whatever the outcome.",
	                           .offset = SL_STATS_READ},
	        [D_FAILURES] = {.name = "discover_failures",
	                        .kind = SL_STATS_COUNTER,
	                        .help = "DNS resolutions that failed (timeout, SERVFAIL, NXDOMAIN, "
	                                "bad answer); the last good set was kept.",
	                        .offset = SL_STATS_READ},
	        [D_EMPTY] = {.name = "discover_empty_answers",
	                     .kind = SL_STATS_COUNTER,
	                     .help = "DNS answers with no usable record; the last good set was "
	                             "kept.",
	                     .offset = SL_STATS_READ},
	        [D_APPLY_ERRORS] = {.name = "discover_apply_errors",
	                            .kind = SL_STATS_COUNTER,
	                            .help = "Discovered sets the proxy could not apply.",
	                            .offset = SL_STATS_READ},
	        [D_BACKENDS] = {.name = "discover_backends",
	                        .kind = SL_STATS_GAUGE,
	                        .help = "Backends in the last good DNS answer.",
	                        .offset = SL_STATS_READ},
	        [D_LAST_CHANGE] = {.name = "discover_last_change_timestamp_seconds",
	                           .kind = SL_STATS_GAUGE,
	                           .help = "Unix time the discovered set last changed; 0 before "
	                                   "the first good answer.",
	                           .offset = SL_STATS_READ},
	};
	struct sl_stats_set *s;
	int err;

	if (sl__discover_ngroups(p->disc) == 0)
		return 0;
	if ((err = add_set(p, &s, "discover", labels, 1, defs, SL_ARRAY_SIZE(defs), NULL,
	                   read_discover)) != 0)
		return err;
	for (size_t k = 0; k < sl__discover_ngroups(p->disc); k++) {
		const char *v[] = {p->cfg->groups[sl__discover_group(p->disc, k)].name};

		if ((err = sl_stats_add_instance(s, v, 0)) != 0)
			return err;
	}
	return 0;
}

static int
add_health_warm(struct sl_proxy *p)
{
	const struct sl_stats_def health[] = {
	        {"health_checks",
	         SL_STATS_COUNTER,
	         "Active health checks completed.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"health_failures",
	         SL_STATS_COUNTER,
	         "Active health checks failed.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"health_transitions_up",
	         SL_STATS_COUNTER,
	         "Backends going from down to up.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"health_transitions_down",
	         SL_STATS_COUNTER,
	         "Backends going from up to down.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"health_local_errors",
	         SL_STATS_COUNTER,
	         "Checks not run for want of fds or ports on this host.",
	         SL_STATS_READ,
	         {0},
	         0},
	};
	const struct sl_stats_def warm[] = {
	        {"warm_hits",
	         SL_STATS_COUNTER,
	         "Sessions served over a pre-established connection.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"warm_misses",
	         SL_STATS_COUNTER,
	         "Warm-pool takes that found no idle connection.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"warm_expired",
	         SL_STATS_COUNTER,
	         "Idle warm connections closed after their idle time.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"warm_dead",
	         SL_STATS_COUNTER,
	         "Idle warm connections found closed by the backend.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"warm_connects",
	         SL_STATS_COUNTER,
	         "Warm-pool connects started.",
	         SL_STATS_READ,
	         {0},
	         0},
	        {"warm_connect_failures",
	         SL_STATS_COUNTER,
	         "Warm-pool connects refused, reset or timed out.",
	         SL_STATS_READ,
	         {0},
	         0},
	};
	struct sl_stats_set *s;
	int err;

	if ((err = add_set(p, &s, "health", NULL, 0, health, SL_ARRAY_SIZE(health), NULL,
	                   read_health)) != 0 ||
	    (err = sl_stats_add_instance(s, NULL, 0)) != 0)
		return err;
	if ((err = add_set(p, &s, "warm", NULL, 0, warm, SL_ARRAY_SIZE(warm), NULL, read_warm)) !=
	            0 ||
	    (err = sl_stats_add_instance(s, NULL, 0)) != 0)
		return err;
	return 0;
}

/* access_log: the lines sessions did not get, by reason; only with an access_log key. */
static int
add_access_log(struct sl_proxy *p)
{
	static const char *const labels[] = {"reason"};
	static const char *const reasons[SL_ACCESSLOG_DROPS] = {
	        [SL_ACCESSLOG_QUEUE_FULL] = "queue_full",
	        [SL_ACCESSLOG_WRITE_FAILED] = "write_failed",
	};
	const struct sl_stats_def def = {
	        .name = "access_log_dropped",
	        .kind = SL_STATS_COUNTER,
	        .help = "Sessions without an access log line: the worker's queue was full, or "
	                "the file took no more (disk full, I/O error).",
	        .offset = SL_STATS_READ};
	struct sl_stats_set *s;
	int err;

	if (p->cfg->access_log.path == NULL)
		return 0;
	err = add_set(p, &s, "access_log", labels, 1, &def, 1, NULL, read_access_log);
	for (unsigned r = 0; err == 0 && r < SL_ACCESSLOG_DROPS; r++)
		err = sl_stats_add_instance(s, &reasons[r], 0);
	return err;
}

static int
add_latency(struct sl_proxy *p)
{
	const struct sl_stats_def defs[SL_PHIST_COUNT] = {
	        [SL_PHIST_CONNECT] = {.name = "backend_connect_seconds",
	                              .kind = SL_STATS_HIST,
	                              .help = "Backend connect time, connect start to connected "
	                                      "(a warm-pool take counts as about 0).",
	                              .hist = hist_opts,
	                              .scale = 1e-6},
	        [SL_PHIST_FIRST_BYTE] = {.name = "backend_first_byte_seconds",
	                                 .kind = SL_STATS_HIST,
	                                 .help = "Backend connected to its first byte delivered to "
	                                         "the client.",
	                                 .hist = hist_opts,
	                                 .scale = 1e-6},
	        [SL_PHIST_SESSION] = {.name = "session_duration_seconds",
	                              .kind = SL_STATS_HIST,
	                              .help = "Session duration, accept to close.",
	                              .hist = hist_opts,
	                              .scale = 1e-6},
	};
	struct sl_stats_set *s;
	int err;

	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "latency",
	                                                   .defs = defs,
	                                                   .ndefs = SL_PHIST_COUNT,
	                                                   .hist = metrics_hist,
	                                                   .collect = metrics_collect,
	                                                   .arg = p},
	                       &s);
	return err != 0 ? err : sl_stats_add_instance(s, NULL, 0);
}

/* A counter set of <per> values for each of <count> objects, named after <defs>. */
static int
repeat_counters(struct sl_counter_set **out, struct sl_counter_def **defs_out,
                const struct sl_counter_def *defs, unsigned per, size_t count, unsigned slots)
{
	struct sl_counter_def *d;
	size_t n = count * per;

	if (n == 0)
		n = per; /* never empty: sl_counter_create refuses it */
	if (n > UINT32_MAX)
		return -EINVAL;
	d = calloc(n, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		d[i] = defs[i % per];
	*defs_out = d;
	return sl_counter_create(
	        out, &(struct sl_counter_opts){.defs = d, .n = (unsigned)n, .slots = slots});
}

int
sl__metrics_create(struct sl_proxy *p)
{
	static const struct sl_counter_def ldefs[SL_LCTR_COUNT] = {
	        [SL_LCTR_CONNECTIONS] = {"listener_connections", SL_COUNTER_MONOTONIC},
	        [SL_LCTR_ACTIVE] = {"listener_active", SL_COUNTER_GAUGE},
	        [SL_LCTR_BYTES_IN] = {"listener_bytes_in", SL_COUNTER_MONOTONIC},
	        [SL_LCTR_BYTES_OUT] = {"listener_bytes_out", SL_COUNTER_MONOTONIC},
	        [SL_LCTR_BANDWIDTH_PAUSES] = {"listener_bandwidth_pauses_upload",
	                                      SL_COUNTER_MONOTONIC},
	        [SL_LCTR_BANDWIDTH_PAUSES_DOWNLOAD] = {"listener_bandwidth_pauses_download",
	                                               SL_COUNTER_MONOTONIC},
	};
	static const struct sl_counter_def bdefs[SL_BCTR_COUNT] = {
	        [SL_BCTR_SESSIONS] = {"backend_sessions", SL_COUNTER_MONOTONIC},
	        [SL_BCTR_ACTIVE] = {"backend_active", SL_COUNTER_GAUGE},
	        [SL_BCTR_CONNECT_FAILURES] = {"backend_connect_failures", SL_COUNTER_MONOTONIC},
	        [SL_BCTR_BYTES_IN] = {"backend_bytes_in", SL_COUNTER_MONOTONIC},
	        [SL_BCTR_BYTES_OUT] = {"backend_bytes_out", SL_COUNTER_MONOTONIC},
	};
	struct sl_metrics *mx = &p->mx;
	pthread_condattr_t ca;
	int err;

	pthread_mutex_init(&mx->collect_mu, NULL);
	pthread_mutex_init(&mx->sync_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mx->sync_cv, &ca);
	pthread_condattr_destroy(&ca);
	mx->init = true;
	atomic_init(&mx->listening, false);
	mx->bbase = calloc(p->gcap, sizeof(mx->bbase[0]));
	if (mx->bbase == NULL)
		return -ENOMEM;
	/* every group slot, free ones included: their counters are there when a reload fills
	 * them (bsets[g].cap is SL_GSLOT_BACKENDS for a free slot now) */
	for (size_t g = 0; g < p->gcap; g++) {
		mx->bbase[g] = mx->nbackends;
		mx->nbackends += p->bsets[g].cap;
	}
	if ((err = repeat_counters(&mx->lctr, &mx->ldefs, ldefs, SL_LCTR_COUNT, p->lcap,
	                           p->nworkers)) != 0 ||
	    (err = repeat_counters(&mx->bctr, &mx->bdefs, bdefs, SL_BCTR_COUNT, mx->nbackends,
	                           p->nworkers)) != 0 ||
	    (err = sl_stats_create(&mx->reg)) != 0)
		return err;
	if ((err = add_process(p)) != 0 || (err = add_labelled(p)) != 0 ||
	    (err = add_listeners(p)) != 0 || (err = add_backends(p)) != 0 ||
	    (err = add_groups(p)) != 0 || (err = add_discover(p)) != 0 ||
	    (err = add_health_warm(p)) != 0 || (err = add_access_log(p)) != 0 ||
	    (err = add_latency(p)) != 0)
		return err;
	return 0;
}

void
sl__metrics_destroy(struct sl_proxy *p)
{
	struct sl_metrics *mx = &p->mx;

	sl_stats_destroy(mx->reg);
	sl_counter_destroy(mx->lctr);
	sl_counter_destroy(mx->bctr);
	free(mx->ldefs);
	free(mx->bdefs);
	free(mx->bbase);
	if (mx->init) {
		pthread_cond_destroy(&mx->sync_cv);
		pthread_mutex_destroy(&mx->sync_mu);
		pthread_mutex_destroy(&mx->collect_mu);
	}
	memset(mx, 0, sizeof(*mx));
}

int
sl__metrics_worker_init(struct sl_pworker *w)
{
	int err;

	w->sync_msg = (struct sl_msg){.fn = worker_sync, .data = w};
	w->lent = false;
	w->shown = 0;
	for (unsigned k = 0; k < SL_PHIST_COUNT; k++) {
		if ((err = sl_hist_init(&w->hist[k], &hist_opts)) != 0 ||
		    (err = sl_hist_init(&w->snap[0][k], &hist_opts)) != 0 ||
		    (err = sl_hist_init(&w->snap[1][k], &hist_opts)) != 0)
			return err;
	}
	return 0;
}

void
sl__metrics_worker_fini(struct sl_pworker *w)
{
	for (unsigned k = 0; k < SL_PHIST_COUNT; k++) {
		sl_hist_fini(&w->hist[k]);
		sl_hist_fini(&w->snap[0][k]);
		sl_hist_fini(&w->snap[1][k]);
	}
}

void
sl__metrics_set_listening(struct sl_proxy *p, bool on)
{
	/* relaxed: a statistic for readiness; orders nothing */
	atomic_store_explicit(&p->mx.listening, on, memory_order_relaxed);
}

struct sl_stats *
sl_proxy_stats_registry(struct sl_proxy *p)
{
	return p->mx.reg;
}

void
sl_proxy_count_admin_refused(struct sl_proxy *p)
{
	/* relaxed: a count, publishing nothing */
	atomic_fetch_add_explicit(&p->mx.admin_refused, 1, memory_order_relaxed);
}

void
sl_proxy_count_moves_lost(struct sl_proxy *p, size_t n)
{
	/* relaxed: a count, publishing nothing */
	atomic_fetch_add_explicit(&p->mx.moves_lost, n, memory_order_relaxed);
}
