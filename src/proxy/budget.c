// SPDX-License-Identifier: MIT
/*
 * The file-descriptor budget: raises the soft RLIMIT_NOFILE to the hard limit, counts the fds
 * the configuration holds while idle, and from what is left derives the process-wide session
 * cap (max_connections: 0), or refuses a configured cap or warm pool the limit cannot hold.
 * Run by sl_proxy_create(), and again for what a reload opens: listeners (lreload.c), larger
 * warm pools and more health checks (greload.c).
 * docs/protection.md gives the formula.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <sluice/log.h>

#include "proxy/proxy_int.h"

/* fds of the process itself: stdio, the log, the health checker's loop and wake-ups */
#define BUDGET_PROCESS_FDS 16
/* fds of one worker besides its listeners: epoll, the mailbox's eventfd, slack */
#define BUDGET_WORKER_FDS 4
/* fds kept free of sessions for everything else (a log reopen, a control connection) */
#define BUDGET_SPARE_FDS 32
/* fds of a checker a group has of its own (greload.c): its loop, its wake-up, slack */
#define BUDGET_CHECKER_FDS 4

unsigned
sl__budget_session_fds(const struct sl_config *cfg)
{
	unsigned most = 2; /* client and backend sockets */

	/* a splicing direction holds a pipe pair: two more fds each way */
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (sl_config_fwd_pipes(cfg->listeners[i].forward))
			most = 6;
	return most;
}

/* What holds fds idle besides the workers and listeners, for the count and a refusal. */
enum { HELD_HEALTH, HELD_WARM, HELD_ADMIN, HELD_PROFILE, HELD_KINDS };

static void
held_idle(const struct sl_config *cfg, unsigned nworkers, uint64_t n[HELD_KINDS])
{
	n[HELD_HEALTH] = n[HELD_WARM] = n[HELD_ADMIN] = n[HELD_PROFILE] = 0;
	/* for every slot of the backend table: backends may be added at run time (backends.c) */
	for (size_t g = 0; g < cfg->ngroups; g++) {
		const struct sl_config_group *cg = &cfg->groups[g];
		uint64_t slots = sl__group_capacity(cg);

		if (cg->health.kind != SL_HEALTH_NONE)
			n[HELD_HEALTH] += slots; /* one check in flight per backend */
		n[HELD_WARM] += (uint64_t)cg->warm_pool.size * slots * nworkers;
	}
	/* the admin endpoint's listener and every connection it may keep open */
	if (cfg->admin.addr.len != 0)
		n[HELD_ADMIN] = 1 + (uint64_t)cfg->admin.max_connections;
	/* profiling: each worker's perf counters (every event, whether it opens or not), and
	 * tcp_events' trace_pipe with a file it opens to write a tracefs setting */
	if (cfg->profiling.perf)
		n[HELD_PROFILE] += (uint64_t)nworkers * SL_PROFILE_EVENTS;
	if (cfg->profiling.tcp_events)
		n[HELD_PROFILE] += 2;
}

uint64_t
sl__budget_idle_fds(const struct sl_config *cfg, unsigned nworkers)
{
	uint64_t per_worker = BUDGET_WORKER_FDS + cfg->nlisteners;
	uint64_t n, held[HELD_KINDS];

	/* a splicing listener's pipe cache keeps a few spare pairs once idle (listener.c) */
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (sl_config_fwd_pipes(cfg->listeners[i].forward))
			per_worker += 2 * (uint64_t)SL_PIPE_CACHE_KEEP;
	n = BUDGET_PROCESS_FDS + nworkers * per_worker;
	held_idle(cfg, nworkers, held);
	for (unsigned k = 0; k < HELD_KINDS; k++)
		n += held[k];
	return n;
}

/*
 * What besides the workers and listeners holds fds idle, for a refusal: "" or, for each of the
 * health checks, warm pools and admin endpoint that <cfg> has, its name and count, listed after
 * them (", health checks (4 fds) and the admin endpoint (65 fds)"). Whether warm pools hold
 * any; in <*health>, whether health checks do.
 */
static bool
idle_holders(const struct sl_config *cfg, unsigned nworkers, char *buf, size_t size, bool *health)
{
	static const char *const what[HELD_KINDS] = {[HELD_HEALTH] = "health checks",
	                                             [HELD_WARM] = "warm pools",
	                                             [HELD_ADMIN] = "the admin endpoint",
	                                             [HELD_PROFILE] = "profiling"};
	uint64_t n[HELD_KINDS];
	unsigned k = 0, listed = 0;
	size_t len = 0;

	held_idle(cfg, nworkers, n);
	for (unsigned i = 0; i < HELD_KINDS; i++)
		k += n[i] != 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < HELD_KINDS && len < size; i++) {
		if (n[i] == 0)
			continue;
		listed++;
		len += (size_t)snprintf(buf + len, size - len, "%s%s (%" PRIu64 " fds)",
		                        listed == k ? " and " : ", ", what[i], n[i]);
	}
	*health = n[HELD_HEALTH] != 0;
	return n[HELD_WARM] != 0;
}

/* fds each worker holds for <nlisteners> listeners, <nsplice> of which may splice */
static uint64_t
listener_fds(size_t nlisteners, size_t nsplice)
{
	return nlisteners + nsplice * 2 * (uint64_t)SL_PIPE_CACHE_KEEP;
}

/* fds the health checks hold beyond the start file's count: now, or after the reload under
 * way (its prepare's figure; a refused reload's only errs on the safe side) if more */
static int64_t
health_more(const struct sl_proxy *p)
{
	return p->hextra_next > p->hextra ? p->hextra_next : p->hextra;
}

int64_t
sl__budget_health_extra(const struct sl_proxy *p, const struct sl_config *next)
{
	const struct sl_config *cfg = p->cfg;
	int64_t n = 0;

	/* what sl__budget_idle_fds() counted at start: the shared checker's sockets */
	for (size_t g = 0; g < cfg->ngroups; g++)
		if (cfg->groups[g].health.kind != SL_HEALTH_NONE)
			n -= p->bsets[g].cap;
	for (size_t k = 0; k < next->ngroups; k++) {
		const struct sl_config_group *cg = &next->groups[k];
		int g = sl__group_slot(p, cg->name);
		bool shared = g >= 0 && (size_t)g < cfg->ngroups && p->gslots[g].health == NULL &&
		              p->bsets[g].health_base != SIZE_MAX;

		if (cg->health.kind == SL_HEALTH_NONE)
			continue;
		n += g >= 0 ? p->bsets[g].cap : sl__group_capacity(cg);
		/* a checker of its own to open: an added group's, or checks turned on */
		if (!shared && (g < 0 || p->gslots[g].health == NULL))
			n += BUDGET_CHECKER_FDS;
	}
	/* the checkers groups have of their own, removed groups' too (they keep them) */
	for (size_t g = 0; g < p->gcap; g++)
		if (p->gslots[g].health != NULL)
			n += BUDGET_CHECKER_FDS;
	return n;
}

/*
 * Whether sessions of <per_session> fds, up to <*cap>, fit the fd limit <limit> beside <idle>
 * fds held idle and the spare. A cap the limit decided (no max_connections) is lowered to what
 * fits instead. false: a configured cap no longer fits, or no session does.
 */
static bool
cap_fits(const struct sl_config *cfg, uint64_t limit, uint64_t idle, unsigned per_session,
         uint32_t *cap)
{
	uint64_t fit = limit > idle + BUDGET_SPARE_FDS
	                       ? (limit - idle - BUDGET_SPARE_FDS) / per_session
	                       : 0;

	if (cfg->max_connections == 0 && fit > 0) {
		if (fit < *cap)
			*cap = (uint32_t)fit;
		return true;
	}
	return fit >= *cap && fit > 0;
}

int
sl__budget_check_health(const struct sl_proxy *p, uint32_t *cap, char *why, size_t size)
{
	const struct sl_config *cfg = p->cfg;
	unsigned per_session = sl__budget_session_fds(cfg);
	uint64_t limit, idle, want;
	struct rlimit r;

	/* relaxed: this thread is the only writer */
	*cap = atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	if (p->hextra_next <= p->hextra || getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 0; /* fewer fds, or what create found stands */
	limit = r.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)r.rlim_cur;
	idle = (uint64_t)((int64_t)sl__budget_idle_fds(cfg, p->nworkers) +
	                  sl__budget_warm_extra(p) + health_more(p));
	want = *cap;
	if (cap_fits(cfg, limit, idle, per_session, cap))
		return 0;
	snprintf(why, size,
	         "the fd limit is %" PRIu64 ": health checks %" PRId64 " fds more (one per backend "
	         "slot of each checked group, %d per checker of a group's own) hold %" PRIu64
	         " fds idle with the rest, max_connections %" PRIu64 " needs %u each, %d spare "
	         "(raise the limit, or check fewer groups or use a smaller max_backends)",
	         limit, p->hextra_next - p->hextra, BUDGET_CHECKER_FDS, idle, want, per_session,
	         BUDGET_SPARE_FDS);
	return -EMFILE;
}

/* fds <p> holds idle with <nlisteners> listeners (<nsplice> splicing) open in every worker. */
static uint64_t
listeners_idle(const struct sl_proxy *p, size_t nlisteners, size_t nsplice)
{
	const struct sl_config *cfg = p->cfg;
	size_t nsplice0 = 0;
	uint64_t idle;

	for (size_t i = 0; i < cfg->nlisteners; i++)
		nsplice0 += sl_config_fwd_pipes(cfg->listeners[i].forward);
	idle = sl__budget_idle_fds(cfg, p->nworkers) -
	       p->nworkers * listener_fds(cfg->nlisteners, nsplice0) +
	       p->nworkers * listener_fds(nlisteners, nsplice);
	return (uint64_t)((int64_t)idle + sl__budget_warm_extra(p) + health_more(p));
}

int
sl__budget_check_listeners(const struct sl_proxy *p, size_t nlisteners, size_t nsplice,
                           size_t nkept, size_t nsplice_kept, unsigned per_session, uint32_t *cap,
                           char *why, size_t size)
{
	const struct sl_config *cfg = p->cfg;
	uint64_t limit, idle, want;
	struct rlimit r;

	/* relaxed: this thread is the only writer */
	*cap = atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 0; /* what create found stands */
	limit = r.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)r.rlim_cur;
	idle = listeners_idle(p, nlisteners, nsplice);
	want = *cap;
	if (cap_fits(cfg, limit, idle, per_session, cap)) {
		/* a cap the limit decides: what the file's listeners leave, up to the start's */
		if (cfg->max_connections == 0 && p->max_conns_start != 0) {
			*cap = p->max_conns_start;
			(void)cap_fits(cfg, limit, listeners_idle(p, nkept, nsplice_kept),
			               per_session, cap);
		}
		return 0;
	}
	snprintf(why, size,
	         "%zu listener%s in %u worker%s hold %" PRIu64
	         " file descriptors while idle with the rest, and max_connections %" PRIu64
	         " needs %u per session; the limit is %" PRIu64 " (raise `ulimit -n` or "
	         "LimitNOFILE=, or use fewer listeners)",
	         nlisteners, nlisteners == 1 ? "" : "s", p->nworkers, p->nworkers == 1 ? "" : "s",
	         idle, want, per_session, limit);
	return -EMFILE;
}

int64_t
sl__budget_warm_extra(const struct sl_proxy *p)
{
	int64_t extra = 0;

	/* a start file's groups as counted at start; an added group's, none was */
	for (size_t g = 0; g < p->gcap; g++)
		extra += ((int64_t)p->gslots[g].warm_size -
		          (g < p->cfg->ngroups ? p->cfg->groups[g].warm_pool.size : 0)) *
		         p->bsets[g].cap * p->nworkers;
	return extra;
}

int
sl__budget_check_warm(const struct sl_proxy *p, int64_t extra, uint32_t *cap, char *why,
                      size_t size)
{
	const struct sl_config *cfg = p->cfg;
	unsigned per_session = sl__budget_session_fds(cfg);
	uint64_t limit, idle, want;
	struct rlimit r;

	/* relaxed: this thread is the only writer */
	*cap = atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	if (extra <= 0 || getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 0; /* fewer fds, or what create found stands */
	limit = r.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)r.rlim_cur;
	idle = (uint64_t)((int64_t)sl__budget_idle_fds(cfg, p->nworkers) +
	                  sl__budget_warm_extra(p) + health_more(p) + extra);
	want = *cap;
	if (cap_fits(cfg, limit, idle, per_session, cap))
		return 0;
	snprintf(why, size,
	         "the fd limit is %" PRIu64 ": warm pools %" PRId64 " connections larger (size x "
	         "backend slots x workers) hold %" PRIu64 " fds idle, max_connections %" PRIu64
	         " needs %u each, %d spare (raise the limit or use a smaller warm_pool)",
	         limit, extra, idle, want, per_session, BUDGET_SPARE_FDS);
	return -EMFILE;
}

uint64_t
sl__budget_file_max(void)
{
	FILE *f = fopen("/proc/sys/fs/file-max", "re");
	char buf[32];
	uint64_t n = 0;

	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		n = strtoull(buf, NULL, 10);
	fclose(f);
	return n;
}

/* Raises the soft fd limit to the hard one; returns the soft limit in force after. */
static uint64_t
raise_nofile(void)
{
	struct rlimit r;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 1024;
	was = r.rlim_cur;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &r) != 0)
			r.rlim_cur = was;
		else
			sl_log_debug("file descriptor limit raised from %" PRIu64 " to %" PRIu64,
			             (uint64_t)was, (uint64_t)r.rlim_cur);
	}
	return r.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)r.rlim_cur;
}

int
sl_proxy_budget(const struct sl_config *cfg, unsigned nworkers, uint64_t limit,
                struct sl_proxy_budget *b, char *why, size_t size)
{
	*b = (struct sl_proxy_budget){.limit = limit,
	                              .idle = sl__budget_idle_fds(cfg, nworkers),
	                              .spare = BUDGET_SPARE_FDS,
	                              .per_session = sl__budget_session_fds(cfg)};
	if (b->idle + b->spare + b->per_session > limit) {
		size_t nsplice = 0;
		char splice[96] = "", held[160];
		bool warm, health;

		for (size_t i = 0; i < cfg->nlisteners; i++)
			nsplice += sl_config_fwd_pipes(cfg->listeners[i].forward);
		if (nsplice != 0)
			snprintf(splice, sizeof(splice),
			         " (%zu that may splice: %d pipe fds each per worker)", nsplice,
			         2 * SL_PIPE_CACHE_KEEP);
		warm = idle_holders(cfg, nworkers, held, sizeof(held), &health);
		/* checks and warm pools hold fds per backend slot, which max_backends sizes */
		snprintf(why, size,
		         "%u worker%s%s%zu listener%s%s%s hold %" PRIu64
		         " file descriptors while idle, plus %" PRIu64 " spare and %u per session; "
		         "the limit is %" PRIu64
		         " (raise `ulimit -n` or LimitNOFILE=, or use fewer "
		         "workers%s%s%s%s)",
		         nworkers, nworkers == 1 ? "" : "s", held[0] != '\0' ? ", " : " and ",
		         cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", splice, held, b->idle,
		         b->spare, b->per_session, limit, warm ? " or a smaller warm_pool" : "",
		         warm || health ? ", or a smaller max_backends" : "",
		         nsplice != 0 ? ", or forward: copy where splice is not needed" : "",
		         cfg->admin.addr.len != 0 ? ", or a smaller admin.max_connections" : "");
		return -EMFILE;
	}
	b->fit = (limit - b->idle - b->spare) / b->per_session;
	if (b->fit > SL_CONFIG_MAX_CONNECTIONS_MAX)
		b->fit = SL_CONFIG_MAX_CONNECTIONS_MAX;
	b->max_connections = cfg->max_connections != 0 ? cfg->max_connections : (uint32_t)b->fit;
	if (cfg->max_connections > b->fit) {
		snprintf(why, size,
		         "max_connections %u needs %" PRIu64 " file descriptors (%u per session, "
		         "%" PRIu64 " held idle, %" PRIu64 " spare); the limit is %" PRIu64
		         ", enough for %" PRIu64 " (raise `ulimit -n` or LimitNOFILE=)",
		         cfg->max_connections,
		         (uint64_t)cfg->max_connections * b->per_session + b->idle + b->spare,
		         b->per_session, b->idle, b->spare, limit, b->fit);
		return -EMFILE;
	}
	return 0;
}

int
sl__budget_apply(struct sl_proxy *p)
{
	struct sl_proxy_budget b;
	char why[512];

	if (sl_proxy_budget(p->cfg, p->nworkers, raise_nofile(), &b, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return -EMFILE;
	}
	/* relaxed: no worker runs yet */
	atomic_store_explicit(&p->max_conns, b.max_connections, memory_order_relaxed);
	p->max_conns_start = b.max_connections;
	if (p->cfg->max_connections == 0)
		sl_log_info("max_connections %u: what %" PRIu64 " file descriptors allow (%u per "
		            "session, %" PRIu64 " held idle, %" PRIu64 " spare)",
		            b.max_connections, b.limit, b.per_session, b.idle, b.spare);
	return 0;
}
