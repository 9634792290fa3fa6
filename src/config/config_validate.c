// SPDX-License-Identifier: MIT
/*
 * Checks that span several nodes, run after the walk (config_yaml.c) has filled the snapshot
 * and recorded where each value came from: unique names and addresses, listener -> group
 * references, and the maglev table against the backend count. Errors point at the second of a
 * duplicate pair and name where the first one is.
 */
#include <inttypes.h>
#include <string.h>

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

static void
check_listeners(struct sl__config_load *x)
{
	const struct sl_config *c = x->c;
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX];
	size_t i, j;

	for (i = 0; i < c->nlisteners && !sl__config_stopped(x); i++) {
		const struct sl__config_lmeta *mi = &x->lm[i];

		for (j = 0; j < i; j++) {
			const struct sl__config_lmeta *mj = &x->lm[j];

			if (mi->addr_ok && mj->addr_ok &&
			    sl_addr_equal(&c->listeners[i].addr, &c->listeners[j].addr)) {
				sl__config_quote((const char *)mi->addr->data.scalar.value,
				                 mi->addr->data.scalar.length, q, sizeof(q));
				sl__config_error(
				        x, mi->addr->start_mark,
				        "duplicate listener address \"%s\" (first defined at %s)",
				        q,
				        sl__config_where(x, mj->addr->start_mark, at, sizeof(at)));
				break;
			}
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

static void
check_backends(struct sl__config_load *x, const struct sl_config_group *g,
               const struct sl__config_gmeta *gm)
{
	char at[SL__CONFIG_WHERE_MAX], q[SL__CONFIG_QUOTE_MAX];
	const char *gname = g->name[0] ? g->name : "?";
	size_t i, j;

	for (i = 0; i < g->nbackends && gm->bm && !sl__config_stopped(x); i++) {
		const struct sl__config_bmeta *mi = &gm->bm[i];

		for (j = 0; j < i; j++) {
			const struct sl__config_bmeta *mj = &gm->bm[j];

			if (mi->addr_ok && mj->addr_ok &&
			    sl_addr_equal(&g->backends[i].addr, &g->backends[j].addr)) {
				sl__config_quote((const char *)mi->addr->data.scalar.value,
				                 mi->addr->data.scalar.length, q, sizeof(q));
				sl__config_error(
				        x, mi->addr->start_mark,
				        "duplicate backend address \"%s\" in group \"%s\" (first "
				        "defined at %s)",
				        q, gname,
				        sl__config_where(x, mj->addr->start_mark, at, sizeof(at)));
				break;
			}
		}
		for (j = 0; j < i; j++) {
			const struct sl__config_bmeta *mj = &gm->bm[j];

			if (g->backends[i].name[0] && (mi->name || mj->name) &&
			    strcmp(g->backends[i].name, g->backends[j].name) == 0) {
				sl__config_error(
				        x, mark_of(mi->name, mi->map),
				        "duplicate backend name \"%s\" in group \"%s\" (first "
				        "defined at %s)",
				        g->backends[i].name, gname,
				        sl__config_where(x, mark_of(mj->name, mj->map), at,
				                         sizeof(at)));
				break;
			}
		}
	}
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
		/* maglev fills its table with backend indexes: it needs more slots than backends */
		if (strcmp(g->balance, "maglev") == 0 && g->nbackends >= g->maglev_table_size)
			sl__config_error(x, mark_of(m->maglev, m->map),
			                 "\"maglev_table_size\" (%" PRIu32
			                 ") must be larger than the "
			                 "number of backends (%zu)",
			                 g->maglev_table_size, g->nbackends);
	}
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

void
sl__config_validate(struct sl__config_load *x)
{
	if (x->lm)
		check_listeners(x);
	if (x->gm)
		check_groups(x);
	if (x->lm && x->gm)
		check_references(x);
}
