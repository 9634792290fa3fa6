// SPDX-License-Identifier: MIT
/*
 * Listeners at run time: the slot table (struct sl_lslot, proxy_int.h) and the reload that adds,
 * removes and re-opens listeners in the running process. A reload matches the new file's
 * listeners with the live slots by name: a listener whose "reopen" keys (config_keys.h) are
 * unchanged keeps its slot and takes the new snapshot's live fields; any other gets a free slot
 * (a socket on an unchanged address is taken over, accept queue and all), and the slot it had
 * is retired: its sockets close, its sessions run to their end, then the slot is freed.
 * Controlling thread only; the workers start and retire listeners from their mailbox
 * (worker_listeners()). Read docs/internals/proxy.md "Listeners at run time".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/sock.h>

#include "proxy/proxy_int.h"

/* How long a reload waits for every worker to take its listener change. */
#define APPLY_TIMEOUT_MS 5000

/* Listener slots a process has (within the pool table's bound): at least LSLOTS_MIN, and at
 * least LSLOTS_SPARE beyond the start file's listeners. */
#define LSLOTS_MIN 256
#define LSLOTS_SPARE 64

struct lr_job;

/* One worker's part of a listener change. */
struct lr_wmsg {
	struct sl_msg m; /* first: the worker gets this back */
	struct lr_job *job;
	struct sl_pworker *w;
};

/* A listener change on its way to the workers; freed by whoever lets go of it last (wjob.c). */
struct lr_job {
	struct sl__wjob base;
	size_t lcap;
	bool *start;  /* [lcap]: slots to start (filled by this reload) */
	bool *retire; /* [lcap]: slots to retire */
	unsigned n;
	struct lr_wmsg *w; /* [n] */
};

struct sl_lplan {
	size_t n;      /* listeners of the new file */
	size_t *slot;  /* [n]: the slot of listener i */
	bool *fresh;   /* [n]: listener i gets a slot filled by this reload */
	size_t *donor; /* [n]: the retiring slot whose sockets a fresh listener takes, or SIZE_MAX
	                */
	char (*reason)[160]; /* [n]: why a kept name is re-opened ("" for a new one) */
	bool *start;         /* [lcap]: the fresh slots */
	bool *retire;        /* [lcap]: live slots this reload retires */
	size_t nfresh, nretire;
	uint32_t cap;       /* the process's session cap once applied (budget.c) */
	struct lr_job *job; /* the change for the workers, made before anything changes */
};

/* ---- the slot table ---- */

/* Fills slot <i>'s fixed copy from <c>, the owned pointers left out. Slot FREE, under bk_mu. */
static void
slot_copy(struct sl_lslot *slot, const struct sl_config_listener *c)
{
	slot->cfg = *c;
	slot->cfg.acl = NULL;
	slot->cfg.acl_rules = NULL;
	slot->cfg.nacl_rules = 0;
	slot->cfg.proxy_in.trusted = NULL;
	slot->cfg.proxy_in.trusted_prefixes = NULL;
	slot->cfg.proxy_in.ntrusted_prefixes = 0;
	slot->bound = c->addr;
}

/*
 * <c>, a listener of <next>, with its group given as a group slot (greload.c), as a listener
 * slot keeps it: what the slot's copy is compared with and filled from.
 */
static struct sl_config_listener
in_slots(const struct sl_proxy *p, const struct sl_config *next, const struct sl_config_listener *c)
{
	struct sl_config_listener t = *c;
	int g = sl__group_slot_of(p, next, c->group);

	t.group = g >= 0 ? (size_t)g : SIZE_MAX; /* sl__groups_check() found every group */
	return t;
}

/* Listener slots the pool table allows with p->nworkers workers. */
static size_t
lslots_pool_bound(const struct sl_proxy *p)
{
	return SL_CONFIG_POOLS_MAX / (p->nworkers > 0 ? p->nworkers : 1) - 1;
}

int
sl__lslots_create(struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;
	/* each worker holds a pool per listener and one for its sessions, and the process at
	 * most SL_CONFIG_POOLS_MAX (config.c checks a file against it) */
	size_t most = lslots_pool_bound(p);

	/* a slot costs about 1.5 KiB (its listener in each worker, its counters and statistics)
	 * whether used or not: LSLOTS_MIN, or the start file's listeners and LSLOTS_SPARE */
	p->lcap = cfg->nlisteners + LSLOTS_SPARE > LSLOTS_MIN ? cfg->nlisteners + LSLOTS_SPARE
	                                                      : LSLOTS_MIN;
	if (p->lcap > most)
		p->lcap = most > cfg->nlisteners ? most : cfg->nlisteners;
	p->lslots = calloc(p->lcap, sizeof(p->lslots[0]));
	if (p->lslots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->lcap; i++) {
		struct sl_lslot *slot = &p->lslots[i];

		atomic_init(&slot->state, SL_LSLOT_FREE);
		atomic_init(&slot->holders, 0);
		atomic_init(&slot->live, &slot->cfg);
		if (i >= cfg->nlisteners)
			continue;
		slot_copy(slot, &cfg->listeners[i]);
		/* the layout is never freed while the proxy lives */
		atomic_init(&slot->live, &cfg->listeners[i]);
		atomic_init(&slot->state, SL_LSLOT_LIVE);
		slot->used = true;
	}
	return 0;
}

void
sl__lslots_destroy(struct sl_proxy *p)
{
	free(p->lslots);
	p->lslots = NULL;
}

/* relaxed: the state is written by this thread alone (under bk_mu) */
static enum sl_lslot_state
slot_state(const struct sl_lslot *slot)
{
	return (enum sl_lslot_state)atomic_load_explicit(&slot->state, memory_order_relaxed);
}

/* Under bk_mu (which also guards p->lretired). */
static void
slot_set_state(struct sl_proxy *p, struct sl_lslot *slot, enum sl_lslot_state st)
{
	p->lretired += (st == SL_LSLOT_RETIRED) - (slot_state(slot) == SL_LSLOT_RETIRED);
	/* relaxed: statistics read it as a snapshot; the workers learn of a slot by a post */
	atomic_store_explicit(&slot->state, (uint8_t)st, memory_order_relaxed);
}

/* Frees slot <i>'s runtime objects in every worker. Its sockets are closed, no session is left. */
static void
slot_empty(struct sl_proxy *p, size_t i)
{
	for (unsigned w = 0; w < p->nworkers; w++) {
		sl__listener_fini(&p->workers[w].listeners[i]);
		p->lfds[(size_t)w * p->lcap + i] = -1;
	}
	sl__lshared_clear(p, i);
	slot_set_state(p, &p->lslots[i], SL_LSLOT_FREE);
}

/* Frees every retired slot that no worker holds any more. Under bk_mu. */
static void
reclaim(struct sl_proxy *p)
{
	for (size_t i = 0; i < p->lcap; i++) {
		struct sl_lslot *slot = &p->lslots[i];

		if (slot_state(slot) != SL_LSLOT_RETIRED ||
		    /* A3: pairs with R2 in listener_gone() (listener.c): every worker is done
		     * with the slot's listener before it is freed here */
		    atomic_load_explicit(&slot->holders, memory_order_acquire) != 0)
			continue;
		sl__metrics_listener_freed(p, i);
		slot_empty(p, i);
		sl_log_debug("listener %s: its last session ended: slot %zu freed", slot->cfg.name,
		             i);
	}
}

/* The live slot of listener <name>, or SIZE_MAX. */
static size_t
find_live(const struct sl_proxy *p, const char *name)
{
	for (size_t i = 0; i < p->lcap; i++)
		if (slot_state(&p->lslots[i]) == SL_LSLOT_LIVE &&
		    strcmp(p->lslots[i].cfg.name, name) == 0)
			return i;
	return SIZE_MAX;
}

/* A free slot, one never used first (a used one carries its counters' totals); SIZE_MAX. */
static size_t
find_free(const struct sl_proxy *p, const bool *taken)
{
	size_t reuse = SIZE_MAX;

	for (size_t i = 0; i < p->lcap; i++) {
		if (slot_state(&p->lslots[i]) != SL_LSLOT_FREE || taken[i])
			continue;
		if (!p->lslots[i].used)
			return i;
		if (reuse == SIZE_MAX)
			reuse = i;
	}
	return reuse;
}

/* true if a socket of <donor> serves listener <c>: the same address (a port 0 one: the same
 * name too, as for an upgrade) */
static bool
serves(const struct sl_lslot *donor, const struct sl_config_listener *c)
{
	if (!sl_addr_equal(&donor->cfg.addr, &c->addr))
		return false;
	return sl_addr_port(&c->addr) != 0 || strcmp(donor->cfg.name, c->name) == 0;
}

/* ---- planning ---- */

static struct lr_job *job_new(struct sl_proxy *p, const struct sl_lplan *pl);
static void job_free(struct sl__wjob *j);

static void
plan_free(struct sl_lplan *pl)
{
	if (pl == NULL)
		return;
	free(pl->slot);
	free(pl->fresh);
	free(pl->donor);
	free(pl->reason);
	free(pl->start);
	free(pl->retire);
	if (pl->job != NULL)
		job_free(&pl->job->base);
	free(pl);
}

/* Closes what the plan opened in the fresh slots and empties them. Under bk_mu. */
static void
plan_close(struct sl_proxy *p, struct sl_lplan *pl)
{
	for (size_t i = 0; i < p->lcap; i++)
		if (pl->start[i])
			slot_empty(p, i);
}

/* Opens fresh slot <i> for listener <c> in every worker, taking <donor>'s sockets if not
 * SIZE_MAX. 0 or -errno with <why>; the caller empties the slot on error. */
static int
open_slot(struct sl_proxy *p, size_t i, const struct sl_config_listener *c, size_t donor, char *why,
          size_t size)
{
	struct sl_lslot *slot = &p->lslots[i];
	int err;

	slot_copy(slot, c);
	slot->used = true;
	sl__metrics_listener_filled(p, i);
	err = sl__lshared_fill(p, i);
	if (err != 0) {
		snprintf(why, size, "listener %s: cannot create its source table: %s", c->name,
		         strerror(-err));
		return err;
	}
	for (unsigned w = 0; w < p->nworkers; w++) {
		int fd = -1;

		if (donor != SIZE_MAX) {
			fd = p->lfds[(size_t)w * p->lcap + donor];
			/* a copy: the donor's worker closes its own when it retires it */
			fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
		}
		err = sl__listener_open(&p->workers[w].listeners[i], &p->workers[w], i, fd);
		if (err != 0) {
			sl__listener_listen_why(c, &c->addr, err, why, size);
			return err;
		}
	}
	return 0;
}

int
sl__listeners_prepare(struct sl_proxy *p, const struct sl_config *next, struct sl_lplan **out,
                      char *why, size_t size)
{
	size_t nlive = 0, nretired = 0, nsplice = 0, nsplice_kept = 0, nopen;
	unsigned per_session = 2;
	struct sl_lplan *pl;
	char reason[160];
	int err = 0;

	*out = NULL;
	if (sl_worker_current() != NULL) {
		snprintf(why, size, "a worker cannot reload");
		return -EDEADLK;
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		goto err_nomem;
	pl->n = next->nlisteners;
	pl->slot = calloc(pl->n + 1, sizeof(pl->slot[0]));
	pl->fresh = calloc(pl->n + 1, sizeof(pl->fresh[0]));
	pl->donor = calloc(pl->n + 1, sizeof(pl->donor[0]));
	pl->reason = calloc(pl->n + 1, sizeof(pl->reason[0]));
	pl->start = calloc(p->lcap, sizeof(pl->start[0]));
	pl->retire = calloc(p->lcap, sizeof(pl->retire[0]));
	if (pl->slot == NULL || pl->fresh == NULL || pl->donor == NULL || pl->reason == NULL ||
	    pl->start == NULL || pl->retire == NULL)
		goto err_nomem;

	pthread_mutex_lock(&p->bk_mu);
	if (p->listening && p->bk_live)
		reclaim(p);
	/* which live slot each listener keeps; the rest of the live slots retire */
	for (size_t i = 0; i < p->lcap; i++)
		pl->retire[i] = slot_state(&p->lslots[i]) == SL_LSLOT_LIVE;
	for (size_t k = 0; k < pl->n; k++) {
		const struct sl_config_listener c = in_slots(p, next, &next->listeners[k]);
		size_t s = find_live(p, c.name);

		pl->donor[k] = SIZE_MAX;
		if (s != SIZE_MAX && !sl_config_listener_needs_reopen(&p->lslots[s].cfg, &c, reason,
		                                                      sizeof(reason))) {
			pl->slot[k] = s;
			pl->retire[s] = false;
			continue;
		}
		if (s != SIZE_MAX)
			snprintf(pl->reason[k], sizeof(pl->reason[k]), "%s", reason);
		pl->fresh[k] = true;
		pl->nfresh++;
	}
	for (size_t i = 0; i < p->lcap; i++) {
		enum sl_lslot_state st = slot_state(&p->lslots[i]);

		pl->nretire += pl->retire[i];
		nlive += st == SL_LSLOT_LIVE;
		nretired += st == SL_LSLOT_RETIRED;
		if (st != SL_LSLOT_FREE && sl_config_fwd_pipes(p->lslots[i].cfg.forward))
			per_session = 6;
	}
	if (pl->nfresh == 0 && pl->nretire == 0) {
		pthread_mutex_unlock(&p->bk_mu);
		*out = pl;
		return 0;
	}
	if (!p->listening || !p->bk_live) {
		snprintf(why, size,
		         "the workers take no listener change now (not running, "
		         "starting or draining)");
		err = -EAGAIN;
		goto err_unlock;
	}

	/* the pool table: each worker holds a pool per slot in use */
	if (nlive + nretired + pl->nfresh > p->lcap && p->lcap == lslots_pool_bound(p)) {
		snprintf(
		        why, size,
		        "%zu listeners would be open or closing at once (%zu removed earlier still "
		        "have sessions); %u workers hold at most %zu (each worker holds a memory "
		        "pool per listener, and the process %u pools in all)",
		        nlive + nretired + pl->nfresh, nretired, p->nworkers, p->lcap,
		        SL_CONFIG_POOLS_MAX);
		err = -ENOSPC;
		goto err_unlock;
	}
	if (nlive + nretired + pl->nfresh > p->lcap) {
		snprintf(
		        why, size,
		        "%zu listeners would be open or closing at once (%zu removed earlier still "
		        "have sessions); this process has %zu listener slots (a restart or an "
		        "upgrade with more listeners in the file makes more)",
		        nlive + nretired + pl->nfresh, nretired, p->lcap);
		err = -ENOSPC;
		goto err_unlock;
	}
	for (size_t k = 0; k < pl->n; k++) {
		const struct sl_config_listener *c = &next->listeners[k];

		if (!pl->fresh[k])
			continue;
		if (sl_config_fwd_pipes(c->forward))
			per_session = 6;
		if (!sl__pp_worker_fits(&p->workers[0], c)) {
			snprintf(why, size,
			         "listener %s takes PROXY headers of up to %u bytes, more than the "
			         "workers were started to hold (a restart or an upgrade sizes them "
			         "for it)",
			         c->name, c->proxy_in.max_size);
			err = -ENOSPC;
			goto err_unlock;
		}
	}
	/* the fd budget, at the moment the new sockets and the old ones are both open */
	nopen = nlive + pl->nfresh;
	for (size_t i = 0; i < p->lcap; i++)
		if (slot_state(&p->lslots[i]) == SL_LSLOT_LIVE &&
		    sl_config_fwd_pipes(p->lslots[i].cfg.forward))
			nsplice++;
	for (size_t k = 0; k < pl->n; k++)
		nsplice += pl->fresh[k] && sl_config_fwd_pipes(next->listeners[k].forward);
	for (size_t k = 0; k < pl->n; k++)
		nsplice_kept += sl_config_fwd_pipes(next->listeners[k].forward);
	err = sl__budget_check_listeners(p, nopen, nsplice, pl->n, nsplice_kept, per_session,
	                                 &pl->cap, why, size);
	if (err != 0)
		goto err_unlock;

	/* every socket now, before anything the workers see changes */
	for (size_t k = 0; k < pl->n; k++) {
		const struct sl_config_listener c = in_slots(p, next, &next->listeners[k]);
		size_t s;

		if (!pl->fresh[k])
			continue;
		s = find_free(p, pl->start);
		SL_ASSERT(s != SIZE_MAX); /* counted above */
		pl->slot[k] = s;
		pl->start[s] = true;
		for (size_t d = 0; d < p->lcap; d++)
			if (pl->retire[d] && serves(&p->lslots[d], &c))
				pl->donor[k] = d;
		err = open_slot(p, s, &c, pl->donor[k], why, size);
		if (err != 0)
			goto err_close;
	}
	pl->job = job_new(p, pl);
	if (pl->job == NULL) {
		snprintf(why, size, "out of memory");
		err = -ENOMEM;
		goto err_close;
	}
	pthread_mutex_unlock(&p->bk_mu);
	*out = pl;
	return 0;

err_close:
	plan_close(p, pl);
err_unlock:
	pthread_mutex_unlock(&p->bk_mu);
	plan_free(pl);
	return err;
err_nomem:
	plan_free(pl);
	snprintf(why, size, "out of memory");
	return -ENOMEM;
}

void
sl__listeners_abandon(struct sl_proxy *p, struct sl_lplan *pl)
{
	if (pl == NULL)
		return;
	pthread_mutex_lock(&p->bk_mu);
	plan_close(p, pl);
	pthread_mutex_unlock(&p->bk_mu);
	plan_free(pl);
}

/* ---- applying ---- */

static void
job_free(struct sl__wjob *j)
{
	struct lr_job *job = sl_container_of(j, struct lr_job, base);

	free(job->w);
	free(job->start);
	free(job->retire);
	sl__wjob_fini(&job->base);
	free(job);
}

/* Worker <i>'s message of the job. */
static struct sl_msg *
job_msg(struct sl__wjob *j, unsigned i)
{
	return &sl_container_of(j, struct lr_job, base)->w[i].m;
}

/* On the worker: retires the removed listeners, then starts the new ones. */
static void
worker_listeners(struct sl_worker *wk, struct sl_msg *m)
{
	struct lr_wmsg *wm = (struct lr_wmsg *)m;
	struct lr_job *job = wm->job;
	struct sl_pworker *w = wm->w;
	int err;

	(void)wk;
	for (size_t i = 0; i < job->lcap; i++)
		if (job->retire[i])
			sl__listener_retire(&w->listeners[i]);
	for (size_t i = 0; i < job->lcap; i++) {
		struct sl_plistener *l = &w->listeners[i];

		if (!job->start[i])
			continue;
		if (w->draining) {
			sl__listener_close(l); /* the drain closed the others already */
			continue;
		}
		if ((err = sl__listener_start(l)) != 0) {
			sl_log_error("listener %s: worker %u cannot watch its socket: %s",
			             l->cfg->name, w->index, strerror(-err));
			sl__listener_close(l);
		}
	}
	sl__wjob_put(&job->base, true);
}

static struct lr_job *
job_new(struct sl_proxy *p, const struct sl_lplan *pl)
{
	struct lr_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->w = calloc(p->nworkers, sizeof(job->w[0]));
	job->start = malloc(p->lcap * sizeof(job->start[0]));
	job->retire = malloc(p->lcap * sizeof(job->retire[0]));
	if (job->w == NULL || job->start == NULL || job->retire == NULL ||
	    sl__wjob_init(&job->base, job_free) != 0) {
		free(job->w);
		free(job->start);
		free(job->retire);
		free(job);
		return NULL;
	}
	memcpy(job->start, pl->start, p->lcap * sizeof(job->start[0]));
	memcpy(job->retire, pl->retire, p->lcap * sizeof(job->retire[0]));
	job->lcap = p->lcap;
	job->n = p->nworkers;
	for (unsigned i = 0; i < job->n; i++)
		job->w[i] = (struct lr_wmsg){.m = {.fn = worker_listeners, .data = &job->w[i]},
		                             .job = job,
		                             .w = &p->workers[i]};
	return job;
}

/* true if retiring slot <i> is a listener the plan re-opens: one of the file's of its name */
static bool
reopened(const struct sl_proxy *p, const struct sl_lplan *pl, size_t i)
{
	for (size_t k = 0; k < pl->n; k++)
		if (pl->slot[k] != i &&
		    strcmp(p->lslots[pl->slot[k]].cfg.name, p->lslots[i].cfg.name) == 0)
			return true;
	return false;
}

int
sl__listeners_apply(struct sl_proxy *p, struct sl_lplan *pl, const struct sl_config *next)
{
	struct lr_job *job = pl->job;
	char a[SL_ADDR_STRLEN];
	size_t from;

	if (job == NULL) { /* no change */
		plan_free(pl);
		return 0;
	}
	/* held through the wait, as a backend change does: a drain waits for it, and no drain
	 * has begun once this holds */
	pthread_mutex_lock(&p->bk_mu);
	if (!p->bk_live) {
		plan_close(p, pl);
		pthread_mutex_unlock(&p->bk_mu);
		plan_free(pl); /* and the job, never posted */
		return -EAGAIN;
	}
	pl->job = NULL; /* the workers' from the post on */
	/* the new listeners' live fields are <next>'s from their first session (it is ours,
	 * and published below); a kept one moves to <next> when it is published */
	for (size_t k = 0; k < pl->n; k++) {
		struct sl_lslot *slot = &p->lslots[pl->slot[k]];

		if (!pl->fresh[k])
			continue;
		/* a re-opened listener keeps its bans: carried before its new socket takes a
		 * connection (the post below), so a banned source gets no way in */
		if (pl->reason[k][0] != '\0' && (from = find_live(p, slot->cfg.name)) != SIZE_MAX) {
			sl__lshared_carry_bans(p, from, pl->slot[k]);
			sl__lshared_follow(p, from, pl->slot[k]);
		}
		/* R1: pairs with A2 in sl__listener_live(): the listener's fields are visible
		 * (the post below orders it too) */
		atomic_store_explicit(&slot->live, &next->listeners[k], memory_order_release);
		slot_set_state(p, slot, SL_LSLOT_LIVE);
		if (pl->reason[k][0] != '\0')
			sl_log_info("listener %s: %s: re-opened", slot->cfg.name, pl->reason[k]);
		if (pl->donor[k] != SIZE_MAX)
			sl_log_info("listener %s: takes over the sockets on %s", slot->cfg.name,
			            sl_addr_format(&slot->bound, a, sizeof(a)));
		else
			sl_log_info("listening on %s: %u worker%s, listener %s",
			            sl_addr_format(&slot->bound, a, sizeof(a)), p->nworkers,
			            p->nworkers == 1 ? "" : "s", slot->cfg.name);
	}
	for (size_t i = 0; i < p->lcap; i++) {
		if (!pl->retire[i])
			continue;
		/* relaxed: the post below hands it to the workers */
		atomic_store_explicit(&p->lslots[i].holders, p->nworkers, memory_order_relaxed);
		for (unsigned w = 0; w < p->nworkers; w++)
			p->lfds[(size_t)w * p->lcap + i] = -1; /* its worker closes it */
	}
	/* relaxed: this thread is the only writer */
	if (atomic_load_explicit(&p->max_conns, memory_order_relaxed) != pl->cap)
		sl_log_info("max_connections %" PRIu32 ": what the file descriptor limit allows "
		            "with %zu listener%s open",
		            pl->cap, pl->n, pl->n == 1 ? "" : "s");
	/* relaxed: a bound the workers read alone */
	atomic_store_explicit(&p->max_conns, pl->cap, memory_order_relaxed);
	/* the sockets are in their reuseport groups: the steering program can name them */
	for (size_t k = 0; k < pl->n; k++)
		if (pl->fresh[k])
			sl__proxy_steer(p, pl->slot[k], pl->donor[k] != SIZE_MAX,
			                pl->donor[k] != SIZE_MAX &&
			                        p->lslots[pl->donor[k]].steered);
	sl__wjob_run(p, &job->base, job_msg, APPLY_TIMEOUT_MS, "reload", "listener");

	/* the workers closed the retired listeners and their sessions in the filter chain: what
	 * is left of them reads the slot's own copy from now on, not the snapshot about to be
	 * replaced */
	for (size_t i = 0; i < p->lcap; i++) {
		struct sl_lslot *slot = &p->lslots[i];

		if (!pl->retire[i])
			continue;
		/* R4: pairs with A2 in sl__listener_live(): the copy is visible */
		atomic_store_explicit(&slot->live, &slot->cfg, memory_order_release);
		slot_set_state(p, slot, SL_LSLOT_RETIRED);
		if (reopened(p, pl, i))
			sl_log_info("listener %s: the previous listener closed; the sessions it "
			            "accepted run to their end",
			            slot->cfg.name);
		else
			sl_log_info("listener %s: closed; its sessions run to their end",
			            slot->cfg.name);
	}
	pthread_mutex_unlock(&p->bk_mu);
	plan_free(pl);
	return 0;
}

bool
sl__listeners_match(struct sl_proxy *p, const struct sl_config *next)
{
	size_t nlive = 0;
	char why[160];

	for (size_t i = 0; i < p->lcap; i++)
		nlive += slot_state(&p->lslots[i]) == SL_LSLOT_LIVE;
	if (nlive != next->nlisteners)
		return false;
	for (size_t k = 0; k < next->nlisteners; k++) {
		const struct sl_config_listener c = in_slots(p, next, &next->listeners[k]);
		size_t s = find_live(p, c.name);

		if (s == SIZE_MAX ||
		    sl_config_listener_needs_reopen(&p->lslots[s].cfg, &c, why, sizeof(why)))
			return false;
	}
	return true;
}

void
sl__listeners_point(struct sl_proxy *p, const struct sl_config *next)
{
	for (size_t k = 0; k < next->nlisteners; k++) {
		size_t s = find_live(p, next->listeners[k].name);

		/* R5: pairs with A2 in sl__listener_live(): the listener's fields are visible */
		atomic_store_explicit(&p->lslots[s].live, &next->listeners[k],
		                      memory_order_release);
	}
}
