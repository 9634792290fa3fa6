// SPDX-License-Identifier: MIT
/*
 * The /stats JSON document and the /readyz verdict for a statistics registry (admin_int.h).
 * /stats has one member per set: an object for a set of one unlabelled instance, else an array
 * of objects holding the instance's labels and values. A definition is keyed by its name less
 * the "<set>_" prefix ("backend_sessions" in set "backend" is "sessions"); a histogram is an
 * object of count, sum and percentiles in its exported unit. Backends also get a "state", and
 * an "address" where the caller's extras know it; the process object gets "uptime_seconds".
 */
#include <cjson/cJSON.h>
#include <errno.h>
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

static cJSON *
hist_object(const struct sl_stats_set *s, size_t inst, unsigned idx)
{
	const struct sl_stats_def *d = sl_stats_set_def(s, idx);
	static const double pcts[] = {50, 90, 99, 99.9};
	static const char *const keys[] = {"p50", "p90", "p99", "p999"};
	struct sl_hist h;
	cJSON *o;

	if (sl_stats_read_hist(s, inst, idx, &h) != 0)
		return NULL;
	o = cJSON_CreateObject();
	if (o != NULL) {
		uint64_t n = sl_hist_count(&h);

		cJSON_AddNumberToObject(o, "count", (double)n);
		cJSON_AddNumberToObject(o, "sum", sl_hist_mean(&h) * (double)n * d->scale);
		cJSON_AddNumberToObject(o, "min", (double)sl_hist_min(&h) * d->scale);
		cJSON_AddNumberToObject(o, "max", (double)sl_hist_max(&h) * d->scale);
		for (size_t i = 0; i < SL_ARRAY_SIZE(pcts); i++)
			cJSON_AddNumberToObject(o, keys[i],
			                        (double)sl_hist_percentile(&h, pcts[i]) * d->scale);
	}
	sl_hist_fini(&h);
	return o;
}

/* The object for instance <inst> of <s>: its labels, then every definition, then extras. */
static cJSON *
instance_object(const struct sl_stats_set *s, size_t inst, const struct sl_admin_extras *x)
{
	const char *set = sl_stats_set_name(s);
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	for (unsigned j = 0; j < sl_stats_set_nlabels(s); j++) {
		char buf[SL_STATS_LABEL_MAX];

		cJSON_AddStringToObject(o, sl_stats_set_label(s, j),
		                        sl_stats_instance_label_now(s, inst, j, buf, sizeof(buf)));
	}
	for (unsigned idx = 0; idx < sl_stats_set_ndefs(s); idx++) {
		const struct sl_stats_def *d = sl_stats_set_def(s, idx);
		const char *key = short_name(set, d->name);

		switch (d->kind) {
		case SL_STATS_COUNTER:
			cJSON_AddNumberToObject(o, key,
			                        (double)sl_stats_read(s, inst, idx) *
			                                (d->scale != 0 ? d->scale : 1));
			break;
		case SL_STATS_GAUGE:
			cJSON_AddNumberToObject(o, key, (double)sl_stats_read_gauge(s, inst, idx));
			break;
		case SL_STATS_HIST:
			cJSON_AddItemToObject(o, key, hist_object(s, inst, idx));
			break;
		}
	}
	if (strcmp(set, "backend") == 0) {
		const cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "up"),
		            *ej = cJSON_GetObjectItemCaseSensitive(o, "ejected");
		const char *state = "up";

		if (cJSON_IsNumber(up) && up->valuedouble == 0)
			state = "down";
		else if (cJSON_IsNumber(ej) && ej->valuedouble != 0)
			state = "ejected";
		cJSON_AddStringToObject(o, "state", state);
		if (x != NULL && x->backend_addr != NULL) {
			char a[SL_ADDR_STRLEN];

			const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group"),
			            *b = cJSON_GetObjectItemCaseSensitive(o, "backend");

			if (cJSON_IsString(g) && cJSON_IsString(b) &&
			    x->backend_addr(x->arg, g->valuestring, b->valuestring, a, sizeof(a)) ==
			            0)
				cJSON_AddStringToObject(o, "address", a);
		}
	}
	if (strcmp(set, "process") == 0 && x != NULL && x->uptime_seconds >= 0)
		cJSON_AddNumberToObject(o, "uptime_seconds", x->uptime_seconds);
	return o;
}

static int
print_json(cJSON *doc, FILE *f)
{
	char *text = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	if (text == NULL)
		return -ENOMEM;
	fputs(text, f);
	fputc('\n', f);
	cJSON_free(text);
	return 0;
}

cJSON *
sl__admin_stats_json(const struct sl_stats *r, const struct sl_admin_extras *x)
{
	cJSON *doc = cJSON_CreateObject();

	if (doc == NULL)
		return NULL;
	for (size_t i = 0; i < sl_stats_len(r); i++) {
		const struct sl_stats_set *s = sl_stats_at(r, i);
		size_t n = sl_stats_set_ninstances(s);
		cJSON *v;

		if (sl_stats_set_nlabels(s) == 0 && n == 1) {
			v = instance_object(s, 0, x);
		} else {
			v = cJSON_CreateArray();
			for (size_t inst = 0; v != NULL && inst < n; inst++)
				if (sl_stats_instance_present(s, inst))
					cJSON_AddItemToArray(v, instance_object(s, inst, x));
		}
		if (v == NULL) {
			cJSON_Delete(doc);
			return NULL;
		}
		cJSON_AddItemToObject(doc, sl_stats_set_name(s), v);
	}
	return doc;
}

int
sl__admin_render_stats(const struct sl_stats *r, const struct sl_admin_extras *x, FILE *f)
{
	cJSON *doc = sl__admin_stats_json(r, x);

	if (doc == NULL)
		return -ENOMEM;
	return print_json(doc, f);
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
	cJSON *doc = cJSON_CreateObject();
	char reason[256] = "";

	*ready = false;
	if (doc == NULL)
		return -ENOMEM;
	if (gauge_of(r, "process", 0, "listening", 0) != 1)
		snprintf(reason, sizeof(reason), "not listening");
	for (size_t g = 0;
	     reason[0] == '\0' && groups != NULL && g < sl_stats_set_ninstances(groups); g++)
		if (gauge_of(r, "group", g, "group_backends_up", 0) <= 0)
			snprintf(reason, sizeof(reason), "group %s has no backend up",
			         sl_stats_instance_label(groups, g, 0));
	*ready = reason[0] == '\0';
	cJSON_AddBoolToObject(doc, "ready", *ready);
	if (!*ready)
		cJSON_AddStringToObject(doc, "reason", reason);
	return print_json(doc, f);
}
