// SPDX-License-Identifier: MIT
/*
 * DNS service discovery (discover.h, docs/operations.md): one resolver thread, never a worker,
 * with one c-ares channel per group that has a discover: key. Per group, one resolution at a
 * time:
 *
 *   WAIT --due--> QUERY (A, AAAA, both, or SRV) --SRV answer--> TARGETS (A and AAAA per target)
 *   QUERY/TARGETS --every answer in--> apply if the set changed --> WAIT (TTL clamped)
 *   QUERY/TARGETS --error, timeout--> keep the last set, count a failure --> WAIT (backoff)
 *
 * Shared fields: the per-group statistics (written by the resolver thread only, relaxed) and
 * <stop> (relaxed: the eventfd write wakes the thread; the flag publishes nothing else).
 * Everything else belongs to the resolver thread between start and stop, and to the controlling
 * thread otherwise (pthread_create/pthread_join order the hand-overs).
 */
#include "proxy/discover.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/backends.h>
#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/proxy_int.h"

/* SRV records followed per resolution (each costs an A and an AAAA query). */
#define SRV_TARGETS_MAX 256
/* Backend names listed in the log line of a change. */
#define LOG_NAMES_MAX 8
/* dgroup.failing for an answer with no usable record: no ARES_ status has this value */
#define EMPTY_ANSWER (-1)

/* One query in flight: what its answer is for. */
struct dquery {
	struct dgroup *g;
	int family; /* AF_INET, AF_INET6, or AF_UNSPEC for the SRV query */
	int target; /* SRV target index, -1 for the group's own name */
};

/* One discovering group. */
struct dgroup {
	struct sl_discover *d;
	size_t group; /* index in p->cfg->groups */
	const struct sl_config_group *cg;
	const struct sl_config_discover *dc;
	ares_channel ch;
	bool ch_ok;
	uint64_t due_ms;      /* next resolution (CLOCK_MONOTONIC ms) while no query runs */
	uint64_t deadline_ms; /* of the running resolution; 0 = none runs */
	/* the running resolution */
	unsigned pending; /* queries in flight */
	int status;       /* first failure (ARES_*), ARES_SUCCESS while none */
	bool cancelled;   /* the deadline passed: every query was cancelled */
	struct sl__dset acc;
	uint32_t ttl_s;
	struct sl__srv_target *targets;
	size_t ntargets;
	/* outcome of the past ones */
	struct sl__dset good; /* the last good set */
	bool have_good;
	bool applied;      /* <good> reached sl_proxy_group_set_discovered() */
	int apply_err;     /* its last refusal, logged once per distinct error */
	unsigned failures; /* in a row: the retry backs off */
	/* the kind of failure logged last, so that another kind is logged too: 0 none (the
	 * name resolves), EMPTY_ANSWER, or a failure's ARES_ status; the next success says so */
	int failing;
	bool paused; /* the group was retired by a reload: no resolution starts */
	/* statistics: written by the resolver thread, read by any (relaxed: counts) */
	_Atomic uint64_t n_resolutions, n_failures, n_empty, n_apply_errors, n_backends,
	        last_change_s;
};

struct sl_discover {
	struct sl_proxy *p;
	struct dgroup *groups;
	size_t n;
	int efd; /* eventfd: wakes the thread for the stop */
	pthread_t thread;
	bool started;
	_Atomic bool stop;
};

static uint64_t
now_ms(void)
{
	return sl_clock_ns() / 1000000;
}

/* Adds one to statistic <c>. */
static void
count(_Atomic uint64_t *c)
{
	/* relaxed: a statistic, publishing nothing */
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Sets statistic <c> to <v>. */
static void
gauge_set(_Atomic uint64_t *c, uint64_t v)
{
	/* relaxed: a statistic, publishing nothing */
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/* ---- sets ---- */

int
sl__dset_push(struct sl__dset *s, const struct sl_backend_spec *b)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct sl_backend_spec *v;

		if (s->n >= SL_CONFIG_BACKENDS_MAX)
			return -ENOSPC;
		if (cap > SL_CONFIG_BACKENDS_MAX)
			cap = SL_CONFIG_BACKENDS_MAX;
		v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *b;
	return 0;
}

/* Family, address bytes, port: the order of the set and of its log line. */
static int
spec_addr_cmp(const struct sl_backend_spec *a, const struct sl_backend_spec *b)
{
	const void *ia, *ib;
	size_t na, nb;
	int d;

	if (a->addr.ss.ss_family != b->addr.ss.ss_family)
		return a->addr.ss.ss_family < b->addr.ss.ss_family ? -1 : 1;
	ia = sl_addr_ip_bytes(&a->addr, &na);
	ib = sl_addr_ip_bytes(&b->addr, &nb);
	if (na != nb)
		return na < nb ? -1 : 1;
	if ((d = memcmp(ia, ib, na)) != 0)
		return d;
	if (sl_addr_port(&a->addr) != sl_addr_port(&b->addr))
		return sl_addr_port(&a->addr) < sl_addr_port(&b->addr) ? -1 : 1;
	return 0;
}

static int
spec_qsort_cmp(const void *a, const void *b)
{
	return spec_addr_cmp(a, b);
}

static int
spec_ptr_name_cmp(const void *pa, const void *pb)
{
	const struct sl_backend_spec *a = *(const struct sl_backend_spec *const *)pa;
	const struct sl_backend_spec *b = *(const struct sl_backend_spec *const *)pb;
	int d = strcmp(a->name, b->name);

	return d != 0 ? d : spec_addr_cmp(a, b);
}

/*
 * Makes the names of a sorted, deduplicated set unique: of the entries sharing a name (the
 * addresses of one SRV target), the second by address becomes "NAME#2", and so on; one whose
 * suffixed name does not fit is named by its address. Without memory the names stay as they
 * are (the apply then refuses the set, and the next resolution tries again).
 */
static void
name_repeats(struct sl__dset *s)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct sl_backend_spec **by = malloc(s->n * sizeof(*by));
	size_t i, k = 0;

	if (by == NULL)
		return;
	for (i = 0; i < s->n; i++)
		by[i] = &s->v[i];
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	qsort(by, s->n, sizeof(by[0]), spec_ptr_name_cmp);
	for (i = 1; i < s->n; i++) {
		char name[SL_CONFIG_NAME_MAX];
		int w;

		if (strcmp(by[i]->name, by[i - 1 - k]->name) != 0) {
			k = 0;
			continue;
		}
		k++;
		w = snprintf(name, sizeof(name), "%s#%zu", by[i]->name, k + 1);
		if (w > 0 && (size_t)w < sizeof(name))
			memcpy(by[i]->name, name, (size_t)w + 1);
		else
			sl_addr_format(&by[i]->addr, by[i]->name, sizeof(by[i]->name));
	}
	free(by);
}

void
sl__dset_normalize(struct sl__dset *s)
{
	size_t i, o;

	if (s->n < 2)
		return;
	/* qsort is not stable: tag each entry with its place in the answer (in max_connections,
	 * which discovered backends leave at 0) so that the first of equal addresses is kept */
	for (i = 0; i < s->n; i++)
		s->v[i].max_connections = (uint32_t)i;
	qsort(s->v, s->n, sizeof(s->v[0]), spec_qsort_cmp);
	for (i = 1, o = 1; i < s->n; i++) {
		if (spec_addr_cmp(&s->v[o - 1], &s->v[i]) == 0) {
			if (s->v[i].max_connections < s->v[o - 1].max_connections)
				s->v[o - 1] = s->v[i];
			continue;
		}
		s->v[o++] = s->v[i];
	}
	s->n = o;
	for (i = 0; i < s->n; i++)
		s->v[i].max_connections = 0;
	name_repeats(s);
}

bool
sl__dset_equal(const struct sl__dset *a, const struct sl__dset *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (spec_addr_cmp(&a->v[i], &b->v[i]) != 0 || a->v[i].weight != b->v[i].weight ||
		    strcmp(a->v[i].name, b->v[i].name) != 0)
			return false;
	return true;
}

void
sl__dset_fini(struct sl__dset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Makes <dst> a copy of <src>. 0 or -ENOMEM (<dst> unchanged). */
static int
dset_copy(struct sl__dset *dst, const struct sl__dset *src)
{
	struct sl_backend_spec *v = NULL;

	if (src->n > 0 && (v = malloc(src->n * sizeof(*v))) == NULL)
		return -ENOMEM;
	if (src->n > 0)
		memcpy(v, src->v, src->n * sizeof(*v));
	free(dst->v);
	dst->v = v;
	dst->n = dst->cap = src->n;
	return 0;
}

/* ---- the pure parts ---- */

uint32_t
sl__discover_interval_ms(const struct sl_config_discover *d, uint32_t ttl_s)
{
	uint64_t ms = (uint64_t)ttl_s * 1000;

	if (ms < d->ttl_min_ms)
		return d->ttl_min_ms;
	if (ms > d->ttl_max_ms)
		return d->ttl_max_ms;
	return (uint32_t)ms;
}

/*
 * What a failed resolution's status says, for the log. c-ares reports a server that answered
 * SERVFAIL or REFUSED as one it could not contact once it has tried every server: say both.
 */
static const char *
status_text(int status)
{
	if (status == ARES_ECONNREFUSED)
		return "no DNS server gave an answer "
		       "(each was unreachable, or answered SERVFAIL or REFUSED)";
	return ares_strerror(status);
}

/* c-ares status -> negative errno for the parse functions. */
static int
parse_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENODATA:
		return -ENODATA;
	case ARES_ENOMEM:
		return -ENOMEM;
	default:
		return -EBADMSG;
	}
}

int
sl__discover_parse_addrs(const unsigned char *abuf, int alen, int family, uint16_t port,
                         uint32_t weight, const char *name, struct sl__dset *set, uint32_t *ttl_s)
{
	/* a record takes at least 16 bytes (compressed name, type, class, TTL, length, data) */
	int max = alen / 16 + 1, n = max, status, err = 0;
	struct ares_addrttl *a4 = NULL;
	struct ares_addr6ttl *a6 = NULL;

	if (alen <= 0)
		return -EBADMSG;
	if (family == AF_INET) {
		if ((a4 = calloc((size_t)max, sizeof(*a4))) == NULL)
			return -ENOMEM;
		status = ares_parse_a_reply(abuf, alen, NULL, a4, &n);
	} else {
		if ((a6 = calloc((size_t)max, sizeof(*a6))) == NULL)
			return -ENOMEM;
		status = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	}
	if (status != ARES_SUCCESS) {
		err = parse_status(status);
		goto out_free;
	}
	if (n <= 0) {
		err = -ENODATA;
		goto out_free;
	}
	for (int i = 0; i < n && err == 0; i++) {
		struct sl_backend_spec b = {.weight = weight};
		int ttl;

		if (family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&b.addr.ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			sin->sin_addr = a4[i].ipaddr;
			b.addr.len = sizeof(*sin);
			ttl = a4[i].ttl;
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&b.addr.ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			memcpy(&sin6->sin6_addr, &a6[i].ip6addr, sizeof(sin6->sin6_addr));
			b.addr.len = sizeof(*sin6);
			ttl = a6[i].ttl;
		}
		if (name == NULL ||
		    snprintf(b.name, sizeof(b.name), "%s", name) >= (int)sizeof(b.name))
			sl_addr_format(&b.addr, b.name, sizeof(b.name));
		/* a TTL with its top bit set is 0 (RFC 2181, section 8), as for SRV */
		if (ttl < 0)
			ttl = 0;
		if ((uint32_t)ttl < *ttl_s)
			*ttl_s = (uint32_t)ttl;
		err = sl__dset_push(set, &b);
	}
out_free:
	free(a4);
	free(a6);
	return err;
}

/* Steps over the (possibly compressed) name at <*p>, checked by c-ares. false if it is bad. */
static bool
skip_name(const unsigned char **p, const unsigned char *abuf, int alen)
{
	char *name = NULL;
	long len = 0;

	if (ares_expand_name(*p, abuf, alen, &name, &len) != ARES_SUCCESS)
		return false;
	ares_free_string(name);
	if (len <= 0 || len > abuf + alen - *p)
		return false;
	*p += len;
	return true;
}

int
sl__discover_answer_ttl(const unsigned char *abuf, int alen, unsigned type, uint32_t *ttl_s)
{
	const unsigned char *p, *end;
	unsigned qd, an;

	if (abuf == NULL || alen < 12)
		return -EBADMSG;
	end = abuf + alen;
	qd = (unsigned)abuf[4] << 8 | abuf[5];
	an = (unsigned)abuf[6] << 8 | abuf[7];
	p = abuf + 12;
	for (unsigned i = 0; i < qd; i++) {
		if (!skip_name(&p, abuf, alen) || end - p < 4) /* type, class */
			return -EBADMSG;
		p += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned t, rdlen;
		uint32_t ttl;

		if (!skip_name(&p, abuf, alen) || end - p < 10) /* type class ttl rdlength */
			return -EBADMSG;
		t = (unsigned)p[0] << 8 | p[1];
		ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
		rdlen = (unsigned)p[8] << 8 | p[9];
		p += 10;
		if ((size_t)(end - p) < rdlen)
			return -EBADMSG;
		p += rdlen;
		/* RFC 2181 8: a TTL with the top bit set is read as 0 */
		if (ttl > INT32_MAX)
			ttl = 0;
		if (t == type && ttl < *ttl_s)
			*ttl_s = ttl;
	}
	return 0;
}

int
sl__discover_parse_srv(const unsigned char *abuf, int alen, struct sl__srv_target *out, size_t max,
                       size_t *n)
{
	struct ares_srv_reply *head = NULL, *r;
	unsigned best = 65536;
	int status;

	*n = 0;
	if (alen <= 0)
		return -EBADMSG;
	status = ares_parse_srv_reply(abuf, alen, &head);
	if (status != ARES_SUCCESS)
		return parse_status(status);
	for (r = head; r != NULL; r = r->next)
		if (strcmp(r->host, ".") != 0 && r->host[0] != '\0' && r->priority < best)
			best = r->priority;
	for (r = head; r != NULL && *n < max; r = r->next) {
		size_t len = strlen(r->host);

		if (r->priority != best || strcmp(r->host, ".") == 0 || len == 0 ||
		    len >= SL_CONFIG_DNS_NAME_MAX || r->port == 0)
			continue;
		memcpy(out[*n].host, r->host, len + 1);
		out[*n].port = r->port;
		out[*n].weight = r->weight == 0 ? 1 : r->weight;
		(*n)++;
	}
	ares_free_data(head);
	return *n > 0 ? 0 : -ENODATA;
}

/* ---- resolving ---- */

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

/* Sends one query of group <g>; a failure to send counts as the resolution's failure. */
static void
send_query(struct dgroup *g, const char *name, int family, int target)
{
	struct dquery *q = malloc(sizeof(*q));
	int type = family == AF_INET ? ns_t_a : family == AF_INET6 ? ns_t_aaaa : ns_t_srv;

	if (q == NULL) {
		if (g->status == ARES_SUCCESS)
			g->status = ARES_ENOMEM;
		return;
	}
	*q = (struct dquery){.g = g, .family = family, .target = target};
	g->pending++;
	/* may call on_answer at once (e.g. a bad name): pending is counted first */
	ares_query(g->ch, name, ns_c_in, type, on_answer, q);
}

/* Follows every SRV target of the answer: an A and an AAAA query each. */
static void
follow_srv(struct dgroup *g, const unsigned char *abuf, int alen)
{
	int err;

	if (g->targets == NULL &&
	    (g->targets = calloc(SRV_TARGETS_MAX, sizeof(g->targets[0]))) == NULL) {
		g->status = ARES_ENOMEM;
		return;
	}
	err = sl__discover_parse_srv(abuf, alen, g->targets, SRV_TARGETS_MAX, &g->ntargets);
	if (err == -ENODATA)
		return; /* an empty answer: the resolution ends with an empty set */
	if (err != 0 || sl__discover_answer_ttl(abuf, alen, ns_t_srv, &g->ttl_s) != 0) {
		g->status = ARES_EBADRESP;
		return;
	}
	for (size_t i = 0; i < g->ntargets && !g->cancelled; i++) {
		send_query(g, g->targets[i].host, AF_INET, (int)i);
		send_query(g, g->targets[i].host, AF_INET6, (int)i);
	}
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dquery *q = arg;
	struct dgroup *g = q->g;
	const struct sl_config_discover *dc = g->dc;
	char name[SL_CONFIG_DNS_NAME_MAX + 8];
	int err;

	(void)timeouts;
	g->pending--;
	if (status == ARES_EDESTRUCTION || g->cancelled) {
		if (g->status == ARES_SUCCESS)
			g->status = status == ARES_EDESTRUCTION ? status : ARES_ETIMEOUT;
		goto out_free;
	}
	/* no record of this type: not a failure (an "any" name may have only A records) */
	if (status == ARES_ENODATA)
		goto out_free;
	if (status != ARES_SUCCESS) {
		if (g->status == ARES_SUCCESS)
			g->status = status;
		goto out_free;
	}
	if (q->family == AF_UNSPEC) {
		follow_srv(g, abuf, alen);
		goto out_free;
	}
	if (q->target >= 0) {
		const struct sl__srv_target *t = &g->targets[q->target];

		snprintf(name, sizeof(name), "%s:%u", t->host, t->port);
		err = sl__discover_parse_addrs(abuf, alen, q->family, t->port, t->weight, name,
		                               &g->acc, &g->ttl_s);
	} else {
		err = sl__discover_parse_addrs(abuf, alen, q->family, dc->port, dc->weight, NULL,
		                               &g->acc, &g->ttl_s);
	}
	if (err != 0 && err != -ENODATA && g->status == ARES_SUCCESS)
		g->status = err == -ENOMEM ? ARES_ENOMEM : ARES_EBADRESP;
out_free:
	free(q);
}

static void
start_resolution(struct dgroup *g, uint64_t now)
{
	const struct sl_config_discover *dc = g->dc;

	g->acc.n = 0;
	g->ntargets = 0;
	g->ttl_s = UINT32_MAX;
	g->status = ARES_SUCCESS;
	g->cancelled = false;
	g->deadline_ms = now + dc->timeout_ms;
	switch (dc->type) {
	case SL_DISCOVER_A:
		send_query(g, dc->name, AF_INET, -1);
		break;
	case SL_DISCOVER_AAAA:
		send_query(g, dc->name, AF_INET6, -1);
		break;
	case SL_DISCOVER_ANY:
		send_query(g, dc->name, AF_INET, -1);
		send_query(g, dc->name, AF_INET6, -1);
		break;
	case SL_DISCOVER_SRV:
		send_query(g, dc->name, AF_UNSPEC, -1);
		break;
	default:
		break;
	}
}

/* "a, b, c and 4 more" into <buf>. */
static void
list_names(const struct dgroup *g, char *buf, size_t size)
{
	const struct sl__dset *s = &g->good;
	char name[SL_CONFIG_NAME_MAX];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && i < LOG_NAMES_MAX && o < size; i++) {
		/* the name the group holds it under (a kept backend keeps its own, a clash adds
		 * #m); the entry's own while it waits for a slot */
		if (!g->applied || sl_proxy_backend_name(g->d->p, g->cg->name, &s->v[i].addr, name,
		                                         sizeof(name)) != 0)
			snprintf(name, sizeof(name), "%s", s->v[i].name);
		o += (size_t)snprintf(buf + o, size - o, "%s%s (weight %u)", i ? ", " : "", name,
		                      s->v[i].weight);
	}
	if (s->n > LOG_NAMES_MAX && o < size)
		snprintf(buf + o, size - o, " and %zu more", s->n - LOG_NAMES_MAX);
}

/* Which backend found reaches one of sluice's own listeners or its admin endpoint, for
 * apply()'s -ELOOP. */
static void
say_loop(const struct dgroup *g)
{
	char name[SL_CONFIG_NAME_MAX], a[SL_ADDR_STRLEN], l[SL_ADDR_STRLEN];
	struct sl_addr at;

	for (size_t i = 0; i < g->good.n; i++) {
		const struct sl_backend_spec *b = &g->good.v[i];

		if (sl_proxy_listener_reached(g->d->p, &b->addr, name, sizeof(name), &at) != 0)
			continue;
		sl_log_error("discover %s: cannot apply the %zu backends found: %s (%s) reaches "
		             "listener %s (%s): sluice would connect to itself; the group keeps "
		             "the backends it had",
		             g->cg->name, g->good.n, b->name,
		             sl_addr_format(&b->addr, a, sizeof(a)), name,
		             sl_addr_format(&at, l, sizeof(l)));
		return;
	}
	for (size_t i = 0; i < g->good.n; i++) {
		const struct sl_backend_spec *b = &g->good.v[i];

		if (!sl_proxy_admin_reached(g->d->p, &b->addr))
			continue;
		sl_log_error("discover %s: cannot apply the %zu backends found: %s (%s) reaches "
		             "sluice's own admin endpoint, which is no service to balance; the "
		             "group keeps the backends it had",
		             g->cg->name, g->good.n, b->name,
		             sl_addr_format(&b->addr, a, sizeof(a)));
		return;
	}
	sl_log_error("discover %s: cannot apply the %zu backends found: one reaches a listener of "
	             "sluice's own, which is gone now; the next resolution tries again",
	             g->cg->name, g->good.n);
}

static void
apply(struct dgroup *g)
{
	struct sl_proxy *p = g->d->p;
	int err;

	err = sl_proxy_group_set_discovered(p, g->cg->name, g->good.v, g->good.n);
	g->applied = err == 0;
	if (err == 0) {
		g->apply_err = 0;
		return;
	}
	count(&g->n_apply_errors);
	if (err == g->apply_err)
		return;
	g->apply_err = err;
	if (err == -ENOSYS)
		sl_log_error("discover %s: cannot apply the %zu backends found: %s (this build "
		             "cannot change a group's backends at run time); resolving goes on",
		             g->cg->name, g->good.n, strerror(-err));
	else if (err == -ELOOP)
		say_loop(g);
	else if (err == -EEXIST)
		sl_log_error(
		        "discover %s: cannot apply the %zu backends found: one of them has the "
		        "name of a backend of the file (a backend found is named by its "
		        "address, ADDR:PORT)",
		        g->cg->name, g->good.n);
	else if (err == -ENOSPC)
		sl_log_error(
		        "discover %s: of the %zu backends found, not all fit in the group's %u "
		        "slots (max_backends; a removed backend's slot is free once its "
		        "sessions end): those that fit are applied, the others as slots free; "
		        "a larger max_backends needs a restart",
		        g->cg->name, g->good.n, sl__group_capacity(g->cg));
	else
		sl_log_error("discover %s: cannot apply the %zu backends found: %s", g->cg->name,
		             g->good.n, strerror(-err));
}

/* Backoff after <n> failures in a row: ttl_min doubled per failure, at most ttl_max. */
static uint32_t
retry_ms(const struct sl_config_discover *dc, unsigned n)
{
	uint64_t ms = dc->ttl_min_ms;

	for (unsigned i = 1; i < n && ms < dc->ttl_max_ms; i++)
		ms *= 2;
	return ms > dc->ttl_max_ms ? dc->ttl_max_ms : (uint32_t)ms;
}

static void
finish_resolution(struct dgroup *g, uint64_t now)
{
	const struct sl_config_discover *dc = g->dc;
	char names[512];
	bool changed;

	g->deadline_ms = 0;
	count(&g->n_resolutions);
	if (g->status != ARES_SUCCESS) {
		count(&g->n_failures);
		g->failures++;
		g->due_ms = now + retry_ms(dc, g->failures);
		if (g->failing != g->status)
			sl_log_warn("discover %s: cannot resolve %s: %s; keeping the %zu backends "
			            "found last",
			            g->cg->name, dc->name, status_text(g->status), g->good.n);
		g->failing = g->status;
		return;
	}
	g->failures = 0;
	if (g->acc.n == 0) {
		count(&g->n_empty);
		g->due_ms = now + dc->ttl_min_ms;
		if (g->failing != EMPTY_ANSWER)
			sl_log_warn(
			        "discover %s: %s has no usable record; keeping the %zu backends "
			        "found last",
			        g->cg->name, dc->name, g->good.n);
		g->failing = EMPTY_ANSWER;
		return;
	}
	if (g->failing != 0)
		sl_log_info("discover %s: %s resolves again", g->cg->name, dc->name);
	g->failing = 0;
	g->due_ms = now + sl__discover_interval_ms(dc, g->ttl_s);
	sl__dset_normalize(&g->acc);
	changed = !g->have_good || !sl__dset_equal(&g->good, &g->acc);
	if (changed) {
		struct timespec rt;

		if (dset_copy(&g->good, &g->acc) != 0) {
			count(&g->n_failures);
			return;
		}
		g->have_good = true;
		g->applied = false;
		clock_gettime(CLOCK_REALTIME, &rt);
		gauge_set(&g->last_change_s, (uint64_t)rt.tv_sec);
		gauge_set(&g->n_backends, g->good.n);
	}
	/* every good answer, changed or not: a backend it names that left the group meanwhile
	 * (a reload's list took its address, sluicectl removed it, a slot was missing) comes
	 * back; nothing changes when nothing differs. A retired group's set waits for its
	 * revival (pause_follow()). */
	if (!g->paused)
		apply(g);
	if (!changed)
		return;
	/* after apply(): every worker that answered in time routes by the set the line names */
	list_names(g, names, sizeof(names));
	sl_log_info("discover %s: %s gives %zu backend%s (next in %ums): %s", g->cg->name, dc->name,
	            g->good.n, g->good.n == 1 ? "" : "s", sl__discover_interval_ms(dc, g->ttl_s),
	            names);
}

/* ---- the thread ---- */

/*
 * Follows whether <g>'s group is live (a reload retires and revives groups, greload.c): once
 * retired no resolution starts (one under way finishes, its set kept but not applied: the
 * backend API refuses a retired group); named again, a resolution starts at once and its set
 * is applied even when equal to the last one. true while paused with nothing under way.
 */
static bool
pause_follow(struct dgroup *g, uint64_t now)
{
	bool live = sl__group_is_live(g->d->p, g->group);

	if (live == !g->paused)
		return g->paused && g->deadline_ms == 0;
	g->paused = !live;
	if (g->paused) {
		sl_log_info("discover %s: paused: the group was removed (reload)", g->cg->name);
	} else {
		sl_log_info("discover %s: resumed: the group is back (reload)", g->cg->name);
		g->due_ms = now;
		g->applied = false;
	}
	return g->paused && g->deadline_ms == 0;
}

static void *
resolver_main(void *arg)
{
	struct sl_discover *d = arg;
	size_t cap = 1 + d->n * ARES_GETSOCK_MAXNUM;
	struct pollfd *fds = calloc(cap, sizeof(*fds));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct dgroup **owner = calloc(cap, sizeof(*owner));

	if (fds == NULL || owner == NULL) {
		sl_log_error("discover: out of memory; the resolver thread stops");
		goto out_free;
	}
	/* relaxed: the eventfd wakes this thread; the flag publishes nothing else */
	while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
		uint64_t now = now_ms(), next = now + 1000;
		size_t nfds = 1;
		int timeout;

		fds[0] = (struct pollfd){.fd = d->efd, .events = POLLIN};
		for (size_t i = 0; i < d->n; i++) {
			struct dgroup *g = &d->groups[i];
			ares_socket_t socks[ARES_GETSOCK_MAXNUM];
			struct timeval tv, *tvp;
			unsigned bits;

			if (pause_follow(g, now))
				continue;
			if (g->deadline_ms == 0 && now >= g->due_ms)
				start_resolution(g, now);
			if (g->deadline_ms != 0 && g->pending > 0 && now >= g->deadline_ms) {
				g->cancelled = true;
				ares_cancel(
				        g->ch); /* every callback runs now, with ARES_ECANCELLED */
			}
			if (g->deadline_ms != 0 && g->pending == 0)
				finish_resolution(g, now);
			if (g->deadline_ms == 0) {
				next = g->due_ms < next ? g->due_ms : next;
				continue;
			}
			next = g->deadline_ms < next ? g->deadline_ms : next;
			tvp = ares_timeout(g->ch, NULL, &tv);
			if (tvp != NULL) {
				uint64_t t = now + (uint64_t)tv.tv_sec * 1000 +
				             ((uint64_t)tv.tv_usec + 999) / 1000;

				next = t < next ? t : next;
			}
			/* read bits 0-15, write bits 16-31; not c-ares's macros, which shift a
			 * signed 1 into the sign bit */
			bits = (unsigned)ares_getsock(g->ch, socks, ARES_GETSOCK_MAXNUM);
			for (unsigned k = 0; k < ARES_GETSOCK_MAXNUM; k++) {
				short ev = (short)((bits >> k & 1u ? POLLIN : 0) |
				                   (bits >> (k + ARES_GETSOCK_MAXNUM) & 1u ? POLLOUT
				                                                           : 0));

				if (ev == 0)
					continue;
				owner[nfds] = g;
				fds[nfds++] = (struct pollfd){.fd = socks[k], .events = ev};
			}
		}
		timeout = next > now ? (int)(next - now) : 0;
		if (poll(fds, nfds, timeout) == -1 && errno != EINTR) {
			sl_log_error("discover: poll: %s; the resolver thread stops",
			             strerror(errno));
			break;
		}
		if (fds[0].revents != 0) {
			uint64_t v;

			if (read(d->efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
				sl_log_debug("discover: eventfd read: %s", strerror(errno));
		}
		for (size_t k = 1; k < nfds; k++) {
			short r = fds[k].revents;

			if (r == 0)
				continue;
			ares_process_fd(owner[k]->ch,
			                r & (POLLIN | POLLERR | POLLHUP) ? fds[k].fd
			                                                 : ARES_SOCKET_BAD,
			                r & POLLOUT ? fds[k].fd : ARES_SOCKET_BAD);
		}
		/* c-ares's own timeouts and retries */
		for (size_t i = 0; i < d->n; i++)
			if (d->groups[i].deadline_ms != 0)
				ares_process_fd(d->groups[i].ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
out_free:
	free(fds);
	free(owner);
	return NULL;
}

/* ---- life cycle ---- */

/* The channel of <g>: its servers, and a per-try timeout that fits two tries in timeout. */
static int
channel_init(struct dgroup *g)
{
	const struct sl_config_discover *dc = g->dc;
	struct ares_options o = {0};
	struct ares_addr_port_node nodes[SL_CONFIG_RESOLVERS_MAX];
	int status;

	o.timeout = dc->timeout_ms / 2 > 0 ? (int)(dc->timeout_ms / 2) : 1;
	o.tries = 2;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	o.ednspsz = 1232; /* the DNS flag day 2020 size: no IP fragmentation */
	status = ares_init_options(&g->ch, &o,
	                           ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	                                   ARES_OPT_EDNSPSZ);
	if (status != ARES_SUCCESS) {
		sl_log_error("discover %s: cannot start c-ares: %s", g->cg->name,
		             ares_strerror(status));
		return -EIO;
	}
	g->ch_ok = true;
	if (dc->nresolvers == 0)
		return 0;
	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < dc->nresolvers; i++) {
		const struct sl_addr *a = &dc->resolvers[i];
		size_t len;
		const void *ip = sl_addr_ip_bytes(a, &len);

		nodes[i].next = i + 1 < dc->nresolvers ? &nodes[i + 1] : NULL;
		nodes[i].family = a->ss.ss_family;
		memcpy(a->ss.ss_family == AF_INET ? (void *)&nodes[i].addr.addr4
		                                  : (void *)&nodes[i].addr.addr6,
		       ip, len);
		nodes[i].udp_port = (int)sl_addr_port(a);
		nodes[i].tcp_port = (int)sl_addr_port(a);
	}
	status = ares_set_servers_ports(g->ch, nodes);
	if (status != ARES_SUCCESS) {
		sl_log_error("discover %s: cannot set the resolvers: %s", g->cg->name,
		             ares_strerror(status));
		return -EIO;
	}
	return 0;
}

int
sl__discover_create(struct sl_discover **out, struct sl_proxy *p)
{
	const struct sl_config *cfg = p->cfg;
	struct sl_discover *d;
	size_t n = 0;
	int err;

	*out = NULL;
	for (size_t g = 0; g < cfg->ngroups; g++)
		n += cfg->groups[g].discover.type != SL_DISCOVER_NONE;
	if (n == 0)
		return 0;
	if ((err = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		sl_log_error("discover: cannot start c-ares: %s", ares_strerror(err));
		return -EIO;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		ares_library_cleanup();
		return -ENOMEM;
	}
	d->p = p;
	d->efd = -1;
	atomic_init(&d->stop, false);
	d->groups = calloc(n, sizeof(d->groups[0]));
	if (d->groups == NULL) {
		err = -ENOMEM;
		goto err_destroy;
	}
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd == -1) {
		err = -errno;
		goto err_destroy;
	}
	for (size_t gi = 0; gi < cfg->ngroups; gi++) {
		struct dgroup *g;

		if (cfg->groups[gi].discover.type == SL_DISCOVER_NONE)
			continue;
		g = &d->groups[d->n++];
		g->d = d;
		g->group = gi;
		g->cg = &cfg->groups[gi];
		g->dc = &g->cg->discover;
		atomic_init(&g->n_resolutions, 0);
		atomic_init(&g->n_failures, 0);
		atomic_init(&g->n_empty, 0);
		atomic_init(&g->n_apply_errors, 0);
		atomic_init(&g->n_backends, 0);
		atomic_init(&g->last_change_s, 0);
		if ((err = channel_init(g)) != 0)
			goto err_destroy;
	}
	*out = d;
	return 0;

err_destroy:
	sl__discover_destroy(d);
	return err;
}

int
sl__discover_start(struct sl_discover *d)
{
	sigset_t all, old;
	uint64_t now = now_ms();
	int err;

	if (d == NULL || d->started)
		return 0;
	/* relaxed: the thread does not run yet; pthread_create orders the store */
	atomic_store_explicit(&d->stop, false, memory_order_relaxed);
	for (size_t i = 0; i < d->n; i++)
		d->groups[i].due_ms = now;
	/* the thread inherits the mask: signals belong to the process's main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&d->thread, NULL, resolver_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		return -err;
	pthread_setname_np(d->thread, "sl-discover");
	d->started = true;
	return 0;
}

void
sl__discover_stop(struct sl_discover *d)
{
	const uint64_t one = 1;

	if (d == NULL || !d->started)
		return;
	/* relaxed: the eventfd write wakes the thread, which then reads the flag */
	atomic_store_explicit(&d->stop, true, memory_order_relaxed);
	if (write(d->efd, &one, sizeof(one)) == -1)
		sl_log_debug("discover: eventfd write: %s", strerror(errno));
	pthread_join(d->thread, NULL);
	d->started = false;
	/* the queries in flight are the channel's until cancelled: their callbacks free them */
	for (size_t i = 0; i < d->n; i++) {
		struct dgroup *g = &d->groups[i];

		if (g->deadline_ms != 0) {
			g->cancelled = true;
			ares_cancel(g->ch);
			g->deadline_ms = 0;
		}
	}
}

void
sl__discover_destroy(struct sl_discover *d)
{
	if (d == NULL)
		return;
	sl__discover_stop(d);
	for (size_t i = 0; d->groups != NULL && i < d->n; i++) {
		struct dgroup *g = &d->groups[i];

		if (g->ch_ok)
			ares_destroy(g->ch);
		sl__dset_fini(&g->acc);
		sl__dset_fini(&g->good);
		free(g->targets);
	}
	/* a group whose channel failed to start is counted in n but has none (ch_ok) */
	free(d->groups);
	if (d->efd != -1)
		close(d->efd);
	free(d);
	ares_library_cleanup();
}

size_t
sl__discover_ngroups(const struct sl_discover *d)
{
	return d != NULL ? d->n : 0;
}

size_t
sl__discover_group(const struct sl_discover *d, size_t k)
{
	return d->groups[k].group;
}

void
sl__discover_stats(const struct sl_discover *d, size_t k, struct sl_discover_stats *out)
{
	const struct dgroup *g = &d->groups[k];

	/* relaxed: statistics, each value on its own */
	out->resolutions = atomic_load_explicit(&g->n_resolutions, memory_order_relaxed);
	out->failures = atomic_load_explicit(&g->n_failures, memory_order_relaxed);
	out->empty = atomic_load_explicit(&g->n_empty, memory_order_relaxed);
	out->apply_errors = atomic_load_explicit(&g->n_apply_errors, memory_order_relaxed);
	out->backends = atomic_load_explicit(&g->n_backends, memory_order_relaxed);
	out->last_change_s = atomic_load_explicit(&g->last_change_s, memory_order_relaxed);
}
