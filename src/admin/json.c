// SPDX-License-Identifier: MIT
/*
 * The /stats JSON document and the /readyz verdict for a statistics registry (admin_int.h).
 * /stats has one member per set: an object for a set of one unlabelled instance, else an array
 * of objects holding the instance's labels and values. A definition is keyed by its name less
 * the "<set>_" prefix ("backend_sessions" in set "backend" is "sessions"); a histogram is an
 * object of count, sum and percentiles in its exported unit. Backends also get a "state", and
 * an "address" where the caller's extras know it; the process object gets "uptime_seconds".
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>

#include "admin/admin_int.h"

static const char *
short_name(const char *set, const char *name)
{
	size_t n = strlen(set);

	return strncmp(name, set, n) == 0 && name[n] == '_' ? name + n + 1 : name;
}

json_t *
sl__admin_json_count(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

json_t *
sl__admin_json_figure(double d)
{
	if (!isfinite(d))
		return json_null();
	if (d > -0x1p63 && d < 0x1p63 && d == (double)(json_int_t)d)
		return json_integer((json_int_t)d);
	return json_real(d);
}

static json_t *
hist_object(const struct sl_stats_set *s, size_t inst, unsigned idx)
{
	const struct sl_stats_def *d = sl_stats_set_def(s, idx);
	static const double pcts[] = {50, 90, 99, 99.9};
	static const char *const keys[] = {"p50", "p90", "p99", "p999"};
	struct sl_hist h;
	json_t *o;

	if (sl_stats_read_hist(s, inst, idx, &h) != 0)
		return NULL;
	o = json_object();
	if (o != NULL) {
		uint64_t n = sl_hist_count(&h);

		json_object_set_new(o, "count", sl__admin_json_count(n));
		json_object_set_new(o, "sum",
		                    sl__admin_json_figure(sl_hist_mean(&h) * (double)n * d->scale));
		json_object_set_new(o, "min",
		                    sl__admin_json_figure((double)sl_hist_min(&h) * d->scale));
		json_object_set_new(o, "max",
		                    sl__admin_json_figure((double)sl_hist_max(&h) * d->scale));
		for (size_t i = 0; i < SL_ARRAY_SIZE(pcts); i++)
			json_object_set_new(
			        o, keys[i],
			        sl__admin_json_figure((double)sl_hist_percentile(&h, pcts[i]) *
			                              d->scale));
	}
	sl_hist_fini(&h);
	return o;
}

/*
 * The object for instance <inst> of <s>: its labels, then every definition, then extras.
 * Labels are configured names, valid UTF-8 (libyaml refuses anything else), as jansson needs.
 */
static json_t *
instance_object(const struct sl_stats_set *s, size_t inst, const struct sl_admin_extras *x)
{
	const char *set = sl_stats_set_name(s);
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (unsigned j = 0; j < sl_stats_set_nlabels(s); j++) {
		char buf[SL_STATS_LABEL_MAX];

		json_object_set_new(
		        o, sl_stats_set_label(s, j),
		        json_string(sl_stats_instance_label_now(s, inst, j, buf, sizeof(buf))));
	}
	for (unsigned idx = 0; idx < sl_stats_set_ndefs(s); idx++) {
		const struct sl_stats_def *d = sl_stats_set_def(s, idx);
		const char *key = short_name(set, d->name);

		switch (d->kind) {
		case SL_STATS_COUNTER:
			/* a scaled counter (CPU time) in its exported unit, as /metrics */
			json_object_set_new(
			        o, key,
			        d->scale != 0
			                ? sl__admin_json_figure(
			                          (double)sl_stats_read(s, inst, idx) * d->scale)
			                : sl__admin_json_count(sl_stats_read(s, inst, idx)));
			break;
		case SL_STATS_GAUGE:
			json_object_set_new(o, key,
			                    json_integer(sl_stats_read_gauge(s, inst, idx)));
			break;
		case SL_STATS_HIST:
			json_object_set_new(o, key, hist_object(s, inst, idx));
			break;
		}
	}
	if (strcmp(set, "backend") == 0) {
		const json_t *up = json_object_get(o, "up"), *ej = json_object_get(o, "ejected"),
		             *ck = json_object_get(o, "checked"),
		             *dr = json_object_get(o, "draining"),
		             *di = json_object_get(o, "disabled");
		const char *state = "up";

		/* the operator's word first: a disabled backend is not checked, its "up" is old */
		if (json_is_integer(di) && json_integer_value(di) != 0)
			state = "disabled";
		else if (json_is_integer(up) && json_integer_value(up) == 0)
			state = "down";
		else if (json_is_integer(dr) && json_integer_value(dr) != 0)
			state = "draining";
		else if (json_is_integer(ej) && json_integer_value(ej) != 0)
			state = "ejected";
		else if (json_is_integer(ck) && json_integer_value(ck) == 0)
			state = "unchecked";
		json_object_set_new(o, "state", json_string(state));
		if (x != NULL && x->backend_addr != NULL) {
			char a[SL_ADDR_STRLEN];

			const json_t *g = json_object_get(o, "group"),
			             *b = json_object_get(o, "backend");

			if (json_is_string(g) && json_is_string(b) &&
			    x->backend_addr(x->arg, inst, json_string_value(g),
			                    json_string_value(b), a, sizeof(a)) == 0)
				json_object_set_new(o, "address", json_string(a));
		}
	}
	if (strcmp(set, "process") == 0 && x != NULL && x->uptime_seconds >= 0)
		json_object_set_new(o, "uptime_seconds", sl__admin_json_figure(x->uptime_seconds));
	return o;
}

/* Writes <doc> and a newline to <f>; consumes <doc>. */
static int
print_json(json_t *doc, FILE *f)
{
	char *text = json_dumps(doc, SL_ADMIN_JSON_FLAGS);

	json_decref(doc);
	if (text == NULL)
		return -ENOMEM;
	fputs(text, f);
	fputc('\n', f);
	free(text);
	return 0;
}

json_t *
sl__admin_stats_json(const struct sl_stats *r, const struct sl_admin_extras *x)
{
	json_t *doc = json_object();

	if (doc == NULL)
		return NULL;
	for (size_t i = 0; i < sl_stats_len(r); i++) {
		const struct sl_stats_set *s = sl_stats_at(r, i);
		size_t n = sl_stats_set_ninstances(s);
		json_t *v;

		if (sl_stats_set_nlabels(s) == 0 && n == 1) {
			v = instance_object(s, 0, x);
		} else {
			v = json_array();
			for (size_t inst = 0; v != NULL && inst < n; inst++)
				if (sl_stats_instance_present(s, inst))
					json_array_append_new(v, instance_object(s, inst, x));
		}
		if (v == NULL) {
			json_decref(doc);
			return NULL;
		}
		json_object_set_new(doc, sl_stats_set_name(s), v);
	}
	return doc;
}

int
sl__admin_render_stats(const struct sl_stats *r, const struct sl_admin_extras *x, FILE *f)
{
	json_t *doc = sl__admin_stats_json(r, x);

	return doc != NULL ? print_json(doc, f) : -ENOMEM;
}

/* The gauge <name> of instance <inst> of set <set>; <dflt> if there is no such thing. */
static int64_t
gauge_of(const struct sl_stats *r, const char *set, size_t inst, const char *name, int64_t dflt)
{
	const struct sl_stats_set *s = sl_stats_find(r, set);
	int idx = s != NULL ? sl_stats_set_def_index(s, name) : -ENOENT;

	if (idx < 0 || inst >= sl_stats_set_ninstances(s))
		return dflt;
	return sl_stats_read_gauge(s, inst, (unsigned)idx);
}

int
sl__admin_render_ready(const struct sl_stats *r, FILE *f, bool *ready)
{
	const struct sl_stats_set *groups = sl_stats_find(r, "group");
	json_t *doc = json_object();
	char reason[256] = "", name[SL_STATS_LABEL_MAX];

	*ready = false;
	if (doc == NULL)
		return -ENOMEM;
	if (gauge_of(r, "process", 0, "listening", 0) != 1)
		snprintf(reason, sizeof(reason), "not listening");
	for (size_t g = 0;
	     reason[0] == '\0' && groups != NULL && g < sl_stats_set_ninstances(groups); g++)
		/* a group a reload removed takes no session: its open ones are no one's readiness
		 */
		if (sl_stats_instance_present(groups, g) &&
		    gauge_of(r, "group", g, "group_retired", 0) == 0 &&
		    gauge_of(r, "group", g, "group_backends_serving", 0) <= 0)
			snprintf(reason, sizeof(reason),
			         "group %s has no backend that takes sessions (up, enabled, not "
			         "ejected)",
			         sl_stats_instance_label_now(groups, g, 0, name, sizeof(name)));
	*ready = reason[0] == '\0';
	json_object_set_new(doc, "ready", json_boolean(*ready));
	if (!*ready)
		json_object_set_new(doc, "reason", json_string(reason));
	return print_json(doc, f);
}
