// SPDX-License-Identifier: MIT
/*
 * Checks that span several nodes, run after the walk (config_yaml.c) has filled the snapshot
 * and recorded where each value came from: unique names and addresses, listener -> group
 * references, backends that are sluice's own listeners, and the maglev table against the
 * backend count. Errors point at the second of a duplicate pair and name where the first one
 * is.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include <sluice/addr.h>
#include <sluice/config.h>

#include "config/config_int.h"

#define LIST_NAMES_MAX 10 /* "defined groups: ..." lists at most this many */

static yaml_mark_t
mark_of(const yaml_node_t *n, yaml_mark_t fallback)
{
	return n ? n->start_mark : fallback;
}

/* A list <key> at <list> with no prefix of its listener's <family>: every client refused. On
 * an IPv6 listener, a prefix written in IPv4-mapped form counts as IPv4, and the message says
 * so. */
static void
no_prefix_of_family(struct sl__config_load *x, const yaml_node_t *list, const char *key, int family)
{
	const char *name = family == AF_INET6 ? "IPv6" : "IPv4";

	sl__config_error(
	        x, list->start_mark,
	        "\"%s\" has no %s prefix%s: this %s listener would refuse every client", key, name,
	        family == AF_INET6 ? " (one written ::ffff:a.b.c.d/n is an IPv4 prefix)" : "",
	        name);
}

/*
 * An allow list that lets no client of listener <i> in: empty, or without a prefix of the
 * listener's family (its clients' family; with PROXY headers, the header's addresses may be of
 * either).
 */
static void
check_allow(struct sl__config_load *x, size_t i)
{
	const struct sl_config_listener *l = &x->c->listeners[i];
	const struct sl__config_lmeta *m = &x->lm[i];
	int family = l->addr.ss.ss_family;
	size_t n = 0;

	if (m->allow == NULL || m->allow->type != YAML_SEQUENCE_NODE)
		return;
	if (m->allow->data.sequence.items.start == m->allow->data.sequence.items.top) {
		sl__config_error(x, m->allow->start_mark,
		                 "\"allow\" is empty: the listener would refuse every client (to "
		                 "refuse them all on purpose: deny: [0.0.0.0/0, \"::/0\"])");
		return;
	}
	if (!m->addr_ok || l->proxy_in.versions != 0)
		return;
	for (size_t r = 0; r < l->nacl_rules; r++)
		n += l->acl_rules[r].allow && l->acl_rules[r].cidr.family == family;
	if (n == 0 && l->nacl_rules > 0)
		no_prefix_of_family(x, m->allow, "allow", family);
}

/* A proxy_protocol.trusted list that trusts no client of the listener's family would refuse
 * every client (proxy_untrusted), as an allow list that lets none in would. */
static void
check_trusted(struct sl__config_load *x, size_t i)
{
	const struct sl_config_listener *l = &x->c->listeners[i];
	const struct sl__config_lmeta *m = &x->lm[i];
	int family = l->addr.ss.ss_family;
	size_t n = 0;

	if (m->trusted == NULL || m->trusted->type != YAML_SEQUENCE_NODE)
		return;
	if (m->trusted->data.sequence.items.start == m->trusted->data.sequence.items.top) {
		sl__config_error(x, m->trusted->start_mark,
		                 "\"trusted\" is empty: the listener would refuse every client (to "
		                 "take no PROXY header: version: off)");
		return;
	}
	for (size_t r = 0; r < l->proxy_in.ntrusted_prefixes; r++)
		n += l->proxy_in.trusted_prefixes[r].family == family;
	if (m->addr_ok && l->proxy_in.ntrusted_prefixes > 0 && n == 0)
		no_prefix_of_family(x, m->trusted, "trusted", family);
}

static void
check_listeners(struct sl__config_load *x)
{
	const struct sl_config *c = x->c;
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX];
	size_t i, j;

	for (i = 0; i < c->nlisteners && !sl__config_stopped(x); i++) {
		const struct sl__config_lmeta *mi = &x->lm[i];

		check_allow(x, i);
		check_trusted(x, i);
		for (j = 0; j < i; j++) {
			const struct sl__config_lmeta *mj = &x->lm[j];

			if (mi->addr_ok && mj->addr_ok &&
			    sl_addr_overlap(&c->listeners[i].addr, &c->listeners[j].addr)) {
				bool same =
				        sl_addr_equal(&c->listeners[i].addr, &c->listeners[j].addr);

				sl__config_quote((const char *)mi->addr->data.scalar.value,
				                 mi->addr->data.scalar.length, q, sizeof(q));
				sl__config_error(
				        x, mi->addr->start_mark,
				        same ? "duplicate listener address \"%s\" (first defined "
				               "at %s)"
				             : "listener address \"%s\" takes the port of the "
				               "listener at "
				               "%s (a wildcard address, 0.0.0.0 or ::, holds its "
				               "port on "
				               "every address of the host)",
				        q,
				        sl__config_where(x, mj->addr->start_mark, at, sizeof(at)));
				break;
			}
		}
		/* the admin endpoint listens without SO_REUSEPORT: it cannot share a port either */
		if (mi->addr_ok && x->admin_addr != NULL &&
		    sl_addr_overlap(&c->admin.addr, &c->listeners[i].addr)) {
			sl__config_quote((const char *)x->admin_addr->data.scalar.value,
			                 x->admin_addr->data.scalar.length, q, sizeof(q));
			sl__config_error(
			        x, x->admin_addr->start_mark,
			        "admin address \"%s\" takes the port of the listener at %s", q,
			        sl__config_where(x, mi->addr->start_mark, at, sizeof(at)));
		}
		/* two defaulted names are equal only if the addresses are: reported above */
		for (j = 0; j < i; j++) {
			const struct sl__config_lmeta *mj = &x->lm[j];

			if (c->listeners[i].name[0] && (mi->name || mj->name) &&
			    strcmp(c->listeners[i].name, c->listeners[j].name) == 0) {
				sl__config_error(
				        x, mark_of(mi->name, mi->map),
				        "duplicate listener name \"%s\" (first defined at %s)",
				        c->listeners[i].name,
				        sl__config_where(x, mark_of(mj->name, mj->map), at,
				                         sizeof(at)));
				break;
			}
		}
	}
}

static const char *
family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/*
 * A group's source and its backends are of one family (a socket bound to one cannot connect to
 * the other), and so is what its discovery can find: an A or AAAA lookup of the source's.
 */
static void
check_source(struct sl__config_load *x, const struct sl_config_group *g,
             const struct sl__config_gmeta *m)
{
	int family = g->source.ss.ss_family;
	char a[SL_ADDR_STRLEN];

	if (g->source.len == 0)
		return;
	for (size_t i = 0; m->bm != NULL && i < g->nbackends; i++) {
		const struct sl_addr *b = &g->backends[i].addr;

		if (!m->bm[i].addr_ok || b->ss.ss_family == family)
			continue;
		sl__config_error(x, mark_of(m->bm[i].addr, m->bm[i].map),
		                 "backend %s is %s but the group's source is %s: its connections "
		                 "cannot come from it",
		                 sl_addr_format(b, a, sizeof(a)), family_name(b->ss.ss_family),
		                 family_name(family));
	}
	if (g->discover.type == SL_DISCOVER_NONE ||
	    g->discover.type == (family == AF_INET6 ? SL_DISCOVER_AAAA : SL_DISCOVER_A))
		return;
	sl__config_error(x, mark_of(m->source, m->map),
	                 "an %s source needs discover type %s (the other types can find %s "
	                 "addresses)",
	                 family_name(family), family == AF_INET6 ? "aaaa" : "a",
	                 family == AF_INET6 ? "IPv4" : "IPv6");
}

/* A backend in sorted order, for finding duplicates in O(n log n). */
struct bkey {
	const struct sl_config_backend *b;
	const struct sl__config_bmeta *m;
	size_t i; /* position in the group */
};

/* Orders as sl_addr_equal() compares: family, port, address bytes; then by position. */
static int
bkey_addr_cmp(const void *pa, const void *pb)
{
	const struct bkey *a = pa, *b = pb;
	const void *ia, *ib;
	size_t na, nb;
	int d;

	if (a->b->addr.ss.ss_family != b->b->addr.ss.ss_family)
		return a->b->addr.ss.ss_family < b->b->addr.ss.ss_family ? -1 : 1;
	if (sl_addr_port(&a->b->addr) != sl_addr_port(&b->b->addr))
		return sl_addr_port(&a->b->addr) < sl_addr_port(&b->b->addr) ? -1 : 1;
	ia = sl_addr_ip_bytes(&a->b->addr, &na);
	ib = sl_addr_ip_bytes(&b->b->addr, &nb);
	if (na != nb)
		return na < nb ? -1 : 1;
	d = memcmp(ia, ib, na);
	if (d != 0)
		return d;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int
bkey_name_cmp(const void *pa, const void *pb)
{
	const struct bkey *a = pa, *b = pb;
	int d = strcmp(a->b->name, b->b->name);

	if (d != 0)
		return d;
	return a->i < b->i ? -1 : a->i > b->i;
}

/*
 * Duplicate addresses and names in one group, each reported at the later backend against the
 * first one (sorting keeps this linear-logarithmic: a group may hold 65535 backends).
 */
static void
check_backends(struct sl__config_load *x, const struct sl_config_group *g,
               const struct sl__config_gmeta *gm)
{
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX];
	const char *gname = g->name[0] ? g->name : "?";
	struct bkey *k;
	size_t i, n = 0, first;
	ssize_t named;

	if (!gm->bm || g->nbackends < 2)
		return;
	k = sl__config_calloc(x, g->nbackends, sizeof(*k));
	if (!k)
		return;
	for (i = 0; i < g->nbackends; i++)
		if (gm->bm[i].addr_ok)
			k[n++] = (struct bkey){.b = &g->backends[i], .m = &gm->bm[i], .i = i};
	qsort(k, n, sizeof(*k), bkey_addr_cmp);
	for (i = 1, first = 0; i < n && !sl__config_stopped(x); i++) {
		if (!sl_addr_equal(&k[i].b->addr, &k[first].b->addr)) {
			first = i;
			continue;
		}
		sl__config_quote((const char *)k[i].m->addr->data.scalar.value,
		                 k[i].m->addr->data.scalar.length, q, sizeof(q));
		sl__config_error(
		        x, k[i].m->addr->start_mark,
		        "duplicate backend address \"%s\" in group \"%s\" (first defined at "
		        "%s)",
		        q, gname,
		        sl__config_where(x, k[first].m->addr->start_mark, at, sizeof(at)));
	}
	/* names: a backend with a defaulted name clashes only with an explicit one (two defaulted
	 * names are equal only if the addresses are, reported above) */
	n = 0;
	for (i = 0; i < g->nbackends; i++)
		if (g->backends[i].name[0])
			k[n++] = (struct bkey){.b = &g->backends[i], .m = &gm->bm[i], .i = i};
	qsort(k, n, sizeof(*k), bkey_name_cmp);
	for (i = 0, first = 0, named = -1; i < n && !sl__config_stopped(x); i++) {
		ssize_t against;

		if (strcmp(k[i].b->name, k[first].b->name) != 0) {
			first = i;
			named = -1;
		}
		against = i == first ? -1 : k[i].m->name ? (ssize_t)first : named;
		if (against >= 0)
			sl__config_error(
			        x, mark_of(k[i].m->name, k[i].m->map),
			        "duplicate backend name \"%s\" in group \"%s\" (first defined at "
			        "%s)",
			        k[i].b->name, gname,
			        sl__config_where(x, mark_of(k[against].m->name, k[against].m->map),
			                         at, sizeof(at)));
		if (named < 0 && k[i].m->name)
			named = (ssize_t)i;
	}
	free(k);
}

static void
check_groups(struct sl__config_load *x)
{
	const struct sl_config *c = x->c;
	char at[SL__CONFIG_WHERE_MAX];
	size_t i, j;

	for (i = 0; i < c->ngroups && !sl__config_stopped(x); i++) {
		const struct sl_config_group *g = &c->groups[i];
		const struct sl__config_gmeta *m = &x->gm[i];

		/* sluicectl names a backend GROUP/NAME, split at the first slash */
		if (m->name && strchr(g->name, '/') != NULL)
			sl__config_error(
			        x, m->name->start_mark,
			        "group name \"%s\" may not contain \"/\" (sluicectl names a "
			        "backend GROUP/NAME)",
			        g->name);
		for (j = 0; m->name && j < i; j++) {
			if (x->gm[j].name && strcmp(g->name, c->groups[j].name) == 0) {
				sl__config_error(
				        x, m->name->start_mark,
				        "duplicate group name \"%s\" (first defined at %s)",
				        g->name,
				        sl__config_where(x, x->gm[j].name->start_mark, at,
				                         sizeof(at)));
				break;
			}
		}
		check_backends(x, g, m);
		check_source(x, g, m);
		/* maglev fills its table with backend indexes: it needs more slots than backends */
		if (g->balance == SL_LB_MAGLEV && g->nbackends >= g->maglev_table_size)
			sl__config_error(x, mark_of(m->maglev, m->map),
			                 "\"maglev_table_size\" (%" PRIu32
			                 ") must be larger than the "
			                 "number of backends (%zu)",
			                 g->maglev_table_size, g->nbackends);
		/* 0: the default, which the proxy works out (sl__group_capacity()) */
		if (g->max_backends != 0 && g->max_backends < g->nbackends) {
			sl__config_error(x, mark_of(m->max_backends, m->map),
			                 "\"max_backends\" (%" PRIu32
			                 ") must be at least the number of backends (%zu)",
			                 g->max_backends, g->nbackends);
		} else if (g->max_backends != 0 && g->balance == SL_LB_MAGLEV &&
		           g->max_backends >= g->maglev_table_size) {
			sl__config_error(x, mark_of(m->max_backends, m->map),
			                 "\"max_backends\" (%" PRIu32
			                 ") must be smaller than \"maglev_table_size\" (%" PRIu32
			                 ")",
			                 g->max_backends, g->maglev_table_size);
		}
	}
}

/* A listener in (family, port) order, for finding the ones a backend's connect could reach. */
struct lkey {
	const struct sl_addr *a;
	const struct sl__config_lmeta *m;
};

static int
lkey_cmp(const void *pa, const void *pb)
{
	const struct sl_addr *a = ((const struct lkey *)pa)->a, *b = ((const struct lkey *)pb)->a;

	if (a->ss.ss_family != b->ss.ss_family)
		return a->ss.ss_family < b->ss.ss_family ? -1 : 1;
	return sl_addr_port(a) < sl_addr_port(b) ? -1 : sl_addr_port(a) > sl_addr_port(b);
}

/*
 * A backend whose connect reaches one of the listeners (sl_addr_reaches_here(): the listener's
 * own address, or, on a wildcard listener's port, a loopback address or another of this
 * host's) would be sluice connecting to itself: each client's session opens another through
 * the proxy, until max_connections is used up. Reported at the backend, naming the listener.
 * Listeners sorted by family and port: a group may hold 65535 backends and a file 4095
 * listeners. This host's addresses are read once, when a wildcard listener's port first comes
 * up.
 */
static void
check_self_backends(struct sl__config_load *x)
{
	const struct sl_config *c = x->c;
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX], l[SL_ADDR_STRLEN];
	struct sl_host_addrs *host = NULL;
	bool host_loaded = false;
	struct lkey *k;
	size_t n = 0;

	k = sl__config_calloc(x, c->nlisteners, sizeof(*k));
	if (k == NULL)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		if (x->lm[i].addr_ok)
			k[n++] = (struct lkey){.a = &c->listeners[i].addr, .m = &x->lm[i]};
	qsort(k, n, sizeof(*k), lkey_cmp);
	for (size_t g = 0; g < c->ngroups && !sl__config_stopped(x); g++) {
		const struct sl__config_gmeta *gm = &x->gm[g];

		for (size_t b = 0; gm->bm != NULL && b < c->groups[g].nbackends; b++) {
			const struct sl_addr *to = &c->groups[g].backends[b].addr;
			struct lkey want = {.a = to};
			size_t lo = 0, hi = n;

			if (!gm->bm[b].addr_ok)
				continue;
			while (lo < hi) { /* the first listener of the backend's family and port */
				size_t mid = lo + (hi - lo) / 2;

				if (lkey_cmp(&k[mid], &want) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < n && lkey_cmp(&k[lo], &want) == 0; lo++) {
				if (!host_loaded && sl_addr_is_any(k[lo].a)) {
					/* NULL if unreadable: then the loopback cases alone */
					host = sl_host_addrs_load();
					host_loaded = true;
				}
				if (!sl_addr_reaches_here(to, k[lo].a, host))
					continue;
				sl__config_quote((const char *)gm->bm[b].addr->data.scalar.value,
				                 gm->bm[b].addr->data.scalar.length, q, sizeof(q));
				sl__config_where(x, k[lo].m->addr->start_mark, at, sizeof(at));
				if (sl_addr_equal(to, k[lo].a))
					sl__config_error(
					        x, gm->bm[b].addr->start_mark,
					        "backend address \"%s\" is the listener at %s: "
					        "sluice would connect to itself",
					        q, at);
				else if (sl_addr_reaches(to, k[lo].a))
					sl__config_error(
					        x, gm->bm[b].addr->start_mark,
					        "backend address \"%s\" reaches the listener at %s "
					        "(%s): sluice would connect to itself",
					        q, at, sl_addr_format(k[lo].a, l, sizeof(l)));
				else
					sl__config_error(
					        x, gm->bm[b].addr->start_mark,
					        "backend address \"%s\" is an address of "
					        "this host, which the listener at %s (%s) "
					        "takes too: sluice would connect to itself",
					        q, at, sl_addr_format(k[lo].a, l, sizeof(l)));
				break;
			}
			/* the admin endpoint speaks HTTP about sluice: no service to balance */
			if (x->admin_addr == NULL || c->admin.addr.len == 0)
				continue;
			if (!host_loaded && sl_addr_is_any(&c->admin.addr)) {
				host = sl_host_addrs_load();
				host_loaded = true;
			}
			if (sl_addr_reaches_here(to, &c->admin.addr, host)) {
				sl__config_quote((const char *)gm->bm[b].addr->data.scalar.value,
				                 gm->bm[b].addr->data.scalar.length, q, sizeof(q));
				sl__config_error(
				        x, gm->bm[b].addr->start_mark,
				        "backend address \"%s\" reaches sluice's own admin "
				        "endpoint (admin.address at %s)",
				        q,
				        sl__config_where(x, x->admin_addr->start_mark, at,
				                         sizeof(at)));
			}
		}
	}
	sl_host_addrs_free(host);
	free(k);
}

/* The index of the group named <name>, or -1. */
static ssize_t
find_group(const struct sl__config_load *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->c->ngroups; i++)
		if (x->gm[i].name && strcmp(x->c->groups[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void
group_not_found(struct sl__config_load *x, const yaml_node_t *v)
{
	const char *names[LIST_NAMES_MAX], *near = NULL;
	char q[SL__CONFIG_QUOTE_MAX], list[LIST_NAMES_MAX * (SL_CONFIG_NAME_MAX + 2) + 8];
	const char *want = (const char *)v->data.scalar.value;
	size_t i, n = 0, o = 0, nall = 0;
	unsigned d, best = 3;

	list[0] = '\0';
	for (i = 0; i < x->c->ngroups; i++) {
		if (!x->gm[i].name || find_group(x, x->c->groups[i].name) != (ssize_t)i)
			continue; /* unnamed, or a duplicate name already listed */
		nall++;
		d = sl__config_distance(want, x->c->groups[i].name);
		if (d < best && d < strlen(want)) {
			best = d;
			near = x->c->groups[i].name;
		}
		if (n < LIST_NAMES_MAX)
			names[n++] = x->c->groups[i].name;
	}
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
	if (nall > n)
		snprintf(list + o, sizeof(list) - o, ", ...");
	sl__config_quote(want, v->data.scalar.length, q, sizeof(q));
	if (nall == 0)
		sl__config_error(x, v->start_mark, "group \"%s\" not found (no groups are defined)",
		                 q);
	else if (near)
		sl__config_error(
		        x, v->start_mark,
		        "group \"%s\" not found (defined groups: %s); did you mean \"%s\"?", q,
		        list, near);
	else
		sl__config_error(x, v->start_mark, "group \"%s\" not found (defined groups: %s)", q,
		                 list);
}

static void
check_references(struct sl__config_load *x)
{
	struct sl_config *c = x->c;
	ssize_t g;
	size_t i;

	for (i = 0; i < c->nlisteners && !sl__config_stopped(x); i++) {
		const struct sl__config_lmeta *m = &x->lm[i];

		if (m->group) {
			if (!m->group_ok)
				continue;
			g = find_group(x, (const char *)m->group->data.scalar.value);
			if (g < 0)
				group_not_found(x, m->group);
			else
				c->listeners[i].group = (size_t)g;
		} else if (c->ngroups > 1) {
			sl__config_error(x, m->map,
			                 "listener is missing required key \"group\" (needed when "
			                 "more than one group is defined)");
		}
		/* one group (or none, reported at the top level): group stays 0 */
	}
}

/*
 * Each worker holds one memory pool for its sessions and one per listener, and a process holds
 * at most SL_CONFIG_POOLS_MAX pools: refuse a worker count the file sets that could not start.
 */
static void
check_workers(struct sl__config_load *x)
{
	const struct sl_config *c = x->c;
	yaml_mark_t at = mark_of(x->listeners, x->root);
	uint32_t n, max;

	if (c->nlisteners == 0)
		return;
	if (c->nlisteners >= SL_CONFIG_POOLS_MAX) {
		sl__config_error(x, at, "at most %u listeners are allowed, got %zu",
		                 SL_CONFIG_POOLS_MAX - 1, c->nlisteners);
		return;
	}
	/* the default (0: one per CPU) depends on the host and on -w: the start and --check
	 * check it once the command line applied (workers_fit() in app/sluice/main.c) */
	if (c->workers == 0)
		return;
	n = c->workers;
	max = sl_config_workers_max(c);
	if (n <= max)
		return;
	if (x->workers)
		sl__config_error(
		        x, x->workers->start_mark,
		        "\"workers\" (%" PRIu32 ") is too many for %zu listener%s: each "
		        "worker holds %zu memory pools (sessions, and one per listener) and a "
		        "process at most %u; use at most %" PRIu32 " workers",
		        n, c->nlisteners, c->nlisteners == 1 ? "" : "s", c->nlisteners + 1,
		        SL_CONFIG_POOLS_MAX, max);
}

/* The directory part of <path> into <dir> ("." for none, "/" for the root); false if too long. */
static bool
dir_of(const char *path, char dir[PATH_MAX])
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return snprintf(dir, PATH_MAX, ".") > 0;
	if (slash == path)
		return snprintf(dir, PATH_MAX, "/") > 0;
	return snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path) < PATH_MAX;
}

static bool
same_inode(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

bool
sl_config_name_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\')
			return false;
	return true;
}

long
sl_config_path_control_byte(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return (long)i;
	return -1;
}

bool
sl_config_same_file(const char *a, const char *b)
{
	const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
	char da[PATH_MAX], db[PATH_MAX];

	if (strcmp(a, b) == 0 || same_inode(a, b))
		return true;
	if (strcmp(na ? na + 1 : a, nb ? nb + 1 : b) != 0)
		return false;
	return dir_of(a, da) && dir_of(b, db) && same_inode(da, db);
}

/*
 * The access log, the upgrade socket and the control socket are three files, none of them the
 * configuration file: one named twice would be opened, or bound, over another at start. Compared as
 * the file system resolves them (sl_config_same_file()).
 */
static void
check_files(struct sl__config_load *x)
{
	static const char *const keys[] = {"access_log.path", "upgrade_socket", "control.path"};
	const yaml_node_t *n[] = {x->access_log_path, x->upgrade_socket, x->control_path};
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX];

	for (size_t i = 0; i < SL_ARRAY_SIZE(n); i++) {
		/* an access log over its own configuration would break every later load */
		if (n[i] != NULL &&
		    sl_config_same_file((const char *)n[i]->data.scalar.value, x->source)) {
			sl__config_quote((const char *)n[i]->data.scalar.value,
			                 n[i]->data.scalar.length, q, sizeof(q));
			sl__config_error(x, n[i]->start_mark,
			                 "%s \"%s\" is this configuration file: give it a file of "
			                 "its own",
			                 keys[i], q);
		}
		for (size_t j = 0; j < i && n[i] != NULL; j++) {
			if (n[j] == NULL ||
			    !sl_config_same_file((const char *)n[i]->data.scalar.value,
			                         (const char *)n[j]->data.scalar.value))
				continue;
			sl__config_quote((const char *)n[i]->data.scalar.value,
			                 n[i]->data.scalar.length, q, sizeof(q));
			sl__config_error(x, n[i]->start_mark,
			                 "%s \"%s\" is the %s at %s: give each its own file",
			                 keys[i], q, keys[j],
			                 sl__config_where(x, n[j]->start_mark, at, sizeof(at)));
		}
	}
}

void
sl__config_validate(struct sl__config_load *x)
{
	check_files(x);
	if (x->lm)
		check_workers(x);
	if (x->lm)
		check_listeners(x);
	if (x->gm)
		check_groups(x);
	if (x->lm && x->gm)
		check_references(x);
	if (x->lm && x->gm && !sl__config_stopped(x))
		check_self_backends(x);
}
