// SPDX-License-Identifier: MIT
/*
 * Rate and per-source stages of the filter chain, and the per-listener state every worker
 * shares for them (struct sl_lshared): a listener's new-connection rate is one token bucket
 * for the whole process under a spinlock; per-source limits (concurrent connections, a token
 * bucket per source) live in one sl_srctab per listener, so they hold however SO_REUSEPORT
 * spreads a source's connections over workers. Limits are read live from the current snapshot.
 * Also the operator's view of the bans in those tables (sl_proxy_bans(), sl_proxy_unban()).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/xdp.h>

#include "proxy/session.h"

static const struct sl_config_listener *
listener_cfg(const struct sl_session *s)
{
	return sl__listener_live(s->l);
}

/*
 * The buckets read sl_clock_ns() at the take, not the loop's clock: they are shared by the
 * workers, and one whose loop clock is a little behind another's is refused by a small burst
 * (the window then leaves no room for the skew), or, in whole milliseconds, granted at most
 * <burst> per millisecond. One read per new connection on a limited listener.
 */

enum sl_filter_verdict
sl__listener_rate_run(struct sl_session *s)
{
	const struct sl_tbucket_rate *r = &listener_cfg(s)->rate;
	struct sl_lshared *sh;
	uint64_t now;
	bool ok;

	if (r->rate == 0)
		return SL_FILTER_ACCEPT;
	sh = &s->l->w->p->lshared[s->l->index];
	pthread_spin_lock(&sh->rate_mu);
	now = sl_clock_ns(); /* under the lock: the takes see the clock in order */
	if (sl_unlikely(sh->rate_as.rate != r->rate || sh->rate_as.burst != r->burst)) {
		sl_tbucket_fit(&sh->rate, &sh->rate_as, r, now); /* a reload changed them */
		sh->rate_as = *r;
	}
	ok = sl_tbucket_try_take(&sh->rate, r, now, 1);
	pthread_spin_unlock(&sh->rate_mu);
	if (ok)
		return SL_FILTER_ACCEPT;
	s->reject = SL_REJECT_LISTENER_RATE;
	return SL_FILTER_REJECT;
}

enum sl_filter_verdict
sl__source_run(struct sl_session *s)
{
	static const uint8_t reasons[] = {
	        [SL_SRCTAB_OVER_CONNS] = SL_REJECT_SOURCE_CONNECTIONS,
	        [SL_SRCTAB_OVER_RATE] = SL_REJECT_SOURCE_RATE,
	        [SL_SRCTAB_TABLE_FULL] = SL_REJECT_SOURCE_TABLE_FULL,
	        [SL_SRCTAB_BANNED] = SL_REJECT_SOURCE_BANNED,
	};
	struct sl_srctab *t = s->l->w->p->lshared[s->l->index].sources;
	struct sl_addr peer;
	int v;

	if (t == NULL)
		return SL_FILTER_ACCEPT;
	sl__session_peer_get(&s->peer, &peer);
	v = sl_srctab_acquire(t, &peer, &listener_cfg(s)->source.limits, sl_clock_ns(), &s->source);
	if (v == SL_SRCTAB_ALLOWED)
		return SL_FILTER_ACCEPT;
	if (v < 0 || (size_t)v >= SL_ARRAY_SIZE(reasons)) {
		/* not an IP peer (cannot happen on a TCP listener): nothing to limit by */
		s->source.index = UINT32_MAX;
		return SL_FILTER_ACCEPT;
	}
	s->reject = reasons[v];
	return SL_FILTER_REJECT;
}

void
sl__source_adopt(struct sl_session *s)
{
	struct sl_srctab *t = s->l->w->p->lshared[s->l->index].sources;
	struct sl_srctab_limits none = {.max_conns = 0};
	struct sl_addr peer;

	s->source.index = UINT32_MAX;
	if (t == NULL)
		return;
	sl_tbucket_rate_init(&none.rate, 0, 1); /* no rate: it was admitted where it came from */
	sl__session_peer_get(&s->peer, &peer);
	if (sl_srctab_acquire(t, &peer, &none, sl_clock_ns(), &s->source) != SL_SRCTAB_ALLOWED)
		s->source.index =
		        UINT32_MAX; /* every entry of its set is taken: it goes uncounted */
}

/* <src>'s whole address as a prefix: the table masks it to each listener's prefix4/prefix6. */
static struct sl_cidr
whole_address(const struct sl_addr *src)
{
	struct sl_cidr c = {0};
	size_t n;
	const void *ip = sl_addr_ip_bytes(src, &n);

	c.family = n == 4 ? AF_INET : AF_INET6;
	c.len = (uint8_t)(n * 8);
	memcpy(c.addr, ip, n);
	return c;
}

/*
 * The ban a session of listener <old> earned after a reload re-opened it: its own table only
 * counts the sessions it has left, so the ban goes where the source's new connections arrive,
 * the live listener of its name, into its table (as a ban carried at the re-open would) and the
 * XDP program's map, with that listener's prefixes and ban duration. The worker's own view of
 * the listeners finds it: a slot this worker has started and not retired keeps its table until
 * the worker lets it go, which it cannot do during this callback. Returns that listener's
 * configuration, or NULL when there is no ban: the reload removed the name, the live listener
 * bans no source, or its table had no entry to give.
 */
static const struct sl_config_listener *
ban_in_successor(struct sl_pworker *w, const struct sl_plistener *old, const struct sl_addr *peer,
                 uint64_t now)
{
	struct sl_proxy *p = w->p;
	struct sl_cidr c = whole_address(peer);
	const struct sl_config_listener *lc;
	uint64_t until;
	int err;

	for (size_t i = 0; i < p->lcap; i++) {
		const struct sl_plistener *l = &w->listeners[i];
		struct sl_srctab *t = p->lshared[i].sources;

		if (!w->lstarted[i] || l->retired || l->cfg == NULL ||
		    strcmp(l->cfg->name, old->cfg->name) != 0)
			continue;
		lc = sl__listener_live(l);
		if (t == NULL || lc->source.limits.ban.strikes == 0)
			return NULL;
		until = now + lc->source.limits.ban.duration_ns;
		if ((err = sl_srctab_import_ban(t, &c, until, now, true)) < 0) {
			sl_log_debug("listener %s: the re-opened listener's ban cannot go to the "
			             "live one: %s",
			             lc->name, strerror(-err));
			return NULL;
		}
		if (p->xdp != NULL && (err = sl_xdp_ban(p->xdp, lc, peer, until)) != 0)
			sl_log_debug("listener %s: xdp: cannot ban: %s", lc->name, strerror(-err));
		return lc;
	}
	return NULL;
}

void
sl__source_strike(struct sl_session *s, int kind)
{
	struct sl_proxy *p = s->l->w->p;
	struct sl_srctab *t = p->lshared[s->l->index].sources;
	const struct sl_config_listener *l = listener_cfg(s);
	const struct sl_srctab_ban *ban = &l->source.limits.ban;
	uint64_t now = sl_clock_ns();
	struct sl_addr peer;
	char a[SL_ADDR_STRLEN];
	unsigned strikes;
	int err;

	if (t == NULL || s->source.index == UINT32_MAX || ban->strikes == 0 ||
	    (kind != SL_TIMEOUT_MIN_RATE && kind != SL_TIMEOUT_FIRST_BYTE))
		return;
	if (!sl_srctab_strike(t, s->source, ban, now))
		return;
	strikes = ban->strikes;
	sl__session_peer_get(&s->peer, &peer);
	sl_addr_format(&peer, a, sizeof(a));
	if (s->l->retired) {
		/* its own table's ban refuses nobody: the live listener's is the ban, if any */
		const struct sl_config_listener *live = ban_in_successor(s->l->w, s->l, &peer, now);

		if (live == NULL) {
			sl_log_debug("listener %s: source of %s earned a ban after a reload closed "
			             "the listener, and the live listener of that name takes none "
			             "(gone, banning no source, or no entry to give)",
			             l->name, a);
			return;
		}
		ban = &live->source.limits.ban;
	} else if (p->xdp != NULL &&
	           (err = sl_xdp_ban(p->xdp, l, &peer, now + ban->duration_ns)) != 0) {
		/* the loop's clock is CLOCK_MONOTONIC, as the program's bpf_ktime_get_ns(): the
		 * ban ends there when it ends here. One system call per ban, which is rare */
		sl_log_debug("listener %s: xdp: cannot ban %s: %s", l->name, a, strerror(-err));
	}
	sl__ctr_add(s->l->w, SL_CTR_SOURCE_BANS, 1);
	sl_log_debug("listener %s: source of %s banned for %llu ms after %u slow-client cuts",
	             l->name, a, (unsigned long long)(ban->duration_ns / 1000000u), strikes);
}

void
sl__source_release(struct sl_session *s)
{
	struct sl_srctab *t = s->l->w->p->lshared[s->l->index].sources;

	if (t != NULL && s->source.index != UINT32_MAX)
		sl_srctab_release(t, s->source);
}

int
sl__lshared_fill(struct sl_proxy *p, size_t i)
{
	const struct sl_config_listener *l = &p->lslots[i].cfg;
	struct sl_lshared *sh = &p->lshared[i];
	int err;

	/* relaxed: no worker reads the slot yet (its listener is posted to them after) */
	atomic_store_explicit(&sh->conns, 0, memory_order_relaxed);
	/* relaxed: as above */
	atomic_store_explicit(&sh->pred, 0, memory_order_relaxed);
	sl_tbucket_init(&sh->rate);
	/* as unlimited: the first take fits it to the listener's rate, full */
	sh->rate_as = (struct sl_tbucket_rate){.rate = 0};
	sh->sources = NULL;
	/* per-source bandwidth counts by the same table and keys as source_limits */
	if (!l->source.on && !sl_config_bandwidth_per_source(l))
		return 0;
	err = sl_srctab_create(&sh->sources, &(struct sl_srctab_opts){
	                                             .capacity = l->source.table_size,
	                                             .prefix4 = l->source.prefix4,
	                                             .prefix6 = l->source.prefix6,
	                                             .bandwidth = sl_config_bandwidth_per_source(l),
	                                             .ban = l->source.limits.ban.strikes != 0});
	if (err != 0)
		sl_log_error("listener %s: cannot create the source table (%u entries): %s",
		             l->name, l->source.table_size, strerror(-err));
	return err;
}

void
sl__lshared_clear(struct sl_proxy *p, size_t i)
{
	/* relaxed: a hint for a count (sl_lshared) */
	uint32_t pred = atomic_load_explicit(&p->lshared[i].pred, memory_order_relaxed);

	/* a slot re-opened from this one now follows this one's own predecessor */
	for (size_t j = 0; j < p->lcap; j++)
		/* relaxed: as above */
		if (atomic_load_explicit(&p->lshared[j].pred, memory_order_relaxed) == i + 1)
			/* relaxed: as above */
			atomic_store_explicit(&p->lshared[j].pred, pred, memory_order_relaxed);
	/* relaxed: as above */
	atomic_store_explicit(&p->lshared[i].pred, 0, memory_order_relaxed);
	sl_srctab_destroy(p->lshared[i].sources);
	p->lshared[i].sources = NULL;
}

void
sl__lshared_follow(struct sl_proxy *p, size_t from, size_t to)
{
	/* relaxed: a hint for a count (sl_lshared); the post of the listener orders it */
	atomic_store_explicit(&p->lshared[to].pred, (uint32_t)from + 1, memory_order_relaxed);
}

uint32_t
sl__lshared_pred_conns(const struct sl_proxy *p, size_t i)
{
	uint32_t n = 0;

	/* at most every slot once: a chain longer than the table would be a loop */
	for (size_t hops = 0; hops < p->lcap; hops++) {
		/* relaxed: a hint for a count; a slot freed meanwhile counts once, wrongly,
		 * for one look (a cap is a bound, the next look is right) */
		uint32_t pred = atomic_load_explicit(&p->lshared[i].pred, memory_order_relaxed);

		if (pred == 0 || pred > p->lcap)
			break;
		i = pred - 1;
		/* relaxed: as above */
		n += atomic_load_explicit(&p->lshared[i].conns, memory_order_relaxed);
	}
	return n;
}

/* Counts of bans put into a table; what a carry or an upgrade logs. */
struct ban_import {
	size_t carried;
	size_t wider;     /* a prefix wider than the table's keys (prefix4/prefix6 made longer) */
	size_t full;      /* no entry to give in the source's set */
	size_t displaced; /* carried, then given way to a carried ban that ends later */
};

/* Puts one ban into <t>, counting the outcome into <*c>. */
static void
ban_import_one(struct sl_srctab *t, const struct sl_cidr *src, uint64_t until_ns, uint64_t now,
               struct ban_import *c)
{
	int err = sl_srctab_import_ban(t, src, until_ns, now, true);

	if (err >= 0)
		c->carried++;
	if (err == 1) /* an earlier one of them gave way to this one */
		c->displaced++;
	else if (err == -ERANGE)
		c->wider++;
	else if (err == -ENOSPC)
		c->full++;
	/* -EINVAL: ended in between, nothing to carry */
}

/* Says what became of bans carried to listener <name>; <from> says where they came from. */
static void
ban_import_log(const char *name, const char *from, const struct ban_import *c)
{
	size_t kept = c->carried - c->displaced, lost = c->wider + c->full + c->displaced;

	if (kept > 0)
		sl_log_info("listener %s: %zu source ban%s carried over from %s", name, kept,
		            kept == 1 ? "" : "s", from);
	if (lost > 0)
		sl_log_warn(
		        "listener %s: %zu source ban%s of %s dropped: %zu on a prefix wider than "
		        "prefix4/prefix6 now, %zu found no entry in the source table, %zu gave "
		        "way to one ending later",
		        name, lost, lost == 1 ? "" : "s", from, c->wider, c->full, c->displaced);
}

void
sl__lshared_carry_bans(struct sl_proxy *p, size_t from, size_t to)
{
	struct sl_srctab *a = p->lshared[from].sources, *b = p->lshared[to].sources;
	struct ban_import c = {0};
	struct sl_srctab_banned *bans;
	uint64_t now = sl_clock_ns();
	size_t n, got;

	if (a == NULL || b == NULL || p->lslots[from].cfg.source.limits.ban.strikes == 0 ||
	    p->lslots[to].cfg.source.limits.ban.strikes == 0)
		return;
	n = sl_srctab_bans(a, now, NULL, 0);
	if (n == 0)
		return;
	bans = calloc(n, sizeof(*bans));
	if (bans == NULL) {
		sl_log_warn("listener %s: %zu source bans dropped on re-open: out of memory",
		            p->lslots[to].cfg.name, n);
		return;
	}
	/* a ban a worker starts in the old table from here on (its sessions run on) stays there */
	got = sl_srctab_bans(a, now, bans, n);
	for (size_t i = 0; i < got && i < n; i++)
		ban_import_one(b, &bans[i].source, bans[i].until_ns, now, &c);
	free(bans);
	ban_import_log(p->lslots[to].cfg.name, "before the re-open", &c);
}

int
sl__lshared_create(struct sl_proxy *p)
{
	int err;

	p->lshared = aligned_alloc(SL_CACHELINE, p->lcap * sizeof(*p->lshared));
	if (p->lshared == NULL)
		return -ENOMEM;
	memset(p->lshared, 0, p->lcap * sizeof(*p->lshared));
	for (size_t i = 0; i < p->lcap; i++) {
		atomic_init(&p->lshared[i].conns, 0);
		pthread_spin_init(&p->lshared[i].rate_mu, PTHREAD_PROCESS_PRIVATE);
	}
	for (size_t i = 0; i < p->cfg->nlisteners; i++)
		if ((err = sl__lshared_fill(p, i)) != 0)
			return err;
	return 0;
}

void
sl__lshared_destroy(struct sl_proxy *p)
{
	if (p->lshared == NULL)
		return;
	for (size_t i = 0; i < p->lcap; i++) {
		sl_srctab_destroy(p->lshared[i].sources);
		pthread_spin_destroy(&p->lshared[i].rate_mu);
	}
	free(p->lshared);
	p->lshared = NULL;
}

/*
 * The live slot <i>'s ban table, or NULL (no slot, or no ban). Under bk_mu, which a reload
 * holds while it fills, retires and frees slots and their tables. The slot's own copy of its
 * configuration says whether the table keeps bans: turning ban on or off re-opens a listener.
 */
static struct sl_srctab *
ban_table(struct sl_proxy *p, size_t i)
{
	/* relaxed: under bk_mu, which its writer holds */
	if (atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) != SL_LSLOT_LIVE ||
	    p->lslots[i].cfg.source.limits.ban.strikes == 0)
		return NULL;
	return p->lshared[i].sources;
}

int
sl_proxy_bans(struct sl_proxy *p, struct sl_proxy_ban *out, size_t max, size_t *n)
{
	struct sl_srctab_banned *b = NULL;
	uint64_t now = sl_clock_ns();
	size_t got;

	*n = 0;
	if (max > 0 && (b = calloc(max, sizeof(*b))) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&p->bk_mu);
	for (size_t i = 0; p->lslots != NULL && i < p->lcap; i++) {
		struct sl_srctab *t = ban_table(p, i);
		size_t room = *n < max ? max - *n : 0;

		if (t == NULL)
			continue;
		got = sl_srctab_bans(t, now, b, room);
		for (size_t k = 0; k < got && k < room; k++) {
			struct sl_proxy_ban *o = &out[*n + k];

			snprintf(o->listener, sizeof(o->listener), "%s", p->lslots[i].cfg.name);
			o->source = b[k].source;
			o->remaining_ms = (b[k].until_ns - now + 999999u) / 1000000u;
		}
		*n += got;
	}
	pthread_mutex_unlock(&p->bk_mu);
	free(b);
	return 0;
}

int
sl_proxy_unban(struct sl_proxy *p, const char *name, const struct sl_addr *src)
{
	uint64_t now = sl_clock_ns();
	bool named = false, bans = false, lifted = false;
	int err;

	pthread_mutex_lock(&p->bk_mu);
	for (size_t i = 0; p->lslots != NULL && i < p->lcap; i++) {
		struct sl_srctab *t;

		/* relaxed: under bk_mu, which its writer holds */
		if (atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) !=
		            SL_LSLOT_LIVE ||
		    (name != NULL && strcmp(p->lslots[i].cfg.name, name) != 0))
			continue;
		named = true;
		if ((t = ban_table(p, i)) == NULL)
			continue;
		bans = true;
		if (!sl_srctab_unban(t, src, now)) {
			/* the program may still hold a ban sluice lost track of (its entry was
			 * taken by another source): lift that one too, or nothing could */
			if (sl_xdp_unban(p->xdp, &p->lslots[i].cfg, src, now))
				lifted = true;
			continue;
		}
		lifted = true;
		/* and in the XDP program's copy, which would go on dropping its SYNs */
		if (p->xdp != NULL && (err = sl_xdp_ban(p->xdp, &p->lslots[i].cfg, src, 0)) != 0)
			sl_log_warn("listener %s: xdp: cannot lift a ban: %s",
			            p->lslots[i].cfg.name, strerror(-err));
	}
	pthread_mutex_unlock(&p->bk_mu);
	if (!named)
		return -ENOENT;
	return !bans ? -EINVAL : lifted ? 0 : -ESRCH;
}

/* The family of the clients <a> stands for: AF_INET for an IPv4-mapped IPv6 address. */
static int
client_family(const struct sl_addr *a)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&a->ss;

	if (a->ss.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return AF_INET6;
	return AF_INET;
}

/*
 * Bans <src> for <ms> on the live listeners named <name> (NULL: every one with a ban table);
 * <xdp>: an operator's ban, also in the XDP program's map, else a carried one. 0, or -ENOENT,
 * -EINVAL, -ERANGE, -ENOSPC as sl_proxy_import_ban() says; with NULL, -EINVAL only when no listener
 * bans.
 */
static int
ban_on(struct sl_proxy *p, const char *name, const struct sl_cidr *src, const struct sl_addr *ip,
       uint64_t ms, bool xdp)
{
	uint64_t now = sl_clock_ns();
	bool named = false, bans = false, displaced = false, other_family = false;
	int err = 0, e;

	if (ms == 0 || ms > UINT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->bk_mu);
	for (size_t i = 0; p->lslots != NULL && i < p->lcap && err == 0; i++) {
		struct sl_srctab *t;

		/* relaxed: under bk_mu, which its writer holds */
		if (atomic_load_explicit(&p->lslots[i].state, memory_order_relaxed) !=
		            SL_LSLOT_LIVE ||
		    (name != NULL && strcmp(p->lslots[i].cfg.name, name) != 0))
			continue;
		named = true;
		if ((t = ban_table(p, i)) == NULL)
			continue;
		/* an operator's ban of a source the listener can never see (its clients are of the
		 * other family, and no PROXY header brings another) would hold an entry for nothing
		 */
		if (ip != NULL && p->lslots[i].cfg.proxy_in.versions == 0 &&
		    client_family(&p->lslots[i].cfg.addr) != client_family(ip)) {
			other_family = true;
			continue;
		}
		bans = true;
		/* carried, a ban may take a shorter one's entry (the table's bans last no less);
		 * the operator's takes none: the answer says there is no room instead */
		err = sl_srctab_import_ban(t, src, now + ms * 1000000u, now, !xdp);
		if (err == 1) {
			displaced = true;
			err = 0;
		}
		/* the program's clock is CLOCK_MONOTONIC too (sl__source_strike()) */
		if (err == 0 && xdp && p->xdp != NULL &&
		    (e = sl_xdp_ban(p->xdp, &p->lslots[i].cfg, ip, now + ms * 1000000u)) != 0)
			sl_log_warn("listener %s: xdp: cannot ban: %s", p->lslots[i].cfg.name,
			            strerror(-e));
	}
	pthread_mutex_unlock(&p->bk_mu);
	if (err != 0)
		return err;
	return !named                  ? -ENOENT
	       : other_family && !bans ? -EAFNOSUPPORT
	       : !bans                 ? -EINVAL
	       : displaced             ? 1
	                               : 0;
}

int
sl_proxy_import_ban(struct sl_proxy *p, const char *name, const struct sl_cidr *src,
                    uint64_t remaining_ms)
{
	/* a carried ban is not written to the XDP program's map (protection.md, Upgrades) */
	return ban_on(p, name, src, NULL, remaining_ms, false);
}

int
sl_proxy_ban(struct sl_proxy *p, const char *name, const struct sl_addr *src, uint64_t ms)
{
	struct sl_cidr c = whole_address(src);

	return ban_on(p, name, &c, src, ms, true);
}
