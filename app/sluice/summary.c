// SPDX-License-Identifier: MIT
/*
 * The exit summary (summary.h) reads the proxy's registry (sluice/stats.h). Its first lines keep
 * the words operators and scripts know (sessions:, health checks:, warm pools:, timeouts:,
 * rejected:); every value they show is listed in <shown>, and every other set and value of the
 * registry follows on generic lines, so a counter added to the proxy is reported without an edit
 * here.
 */
#include "summary.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/stats.h>

/* A definition (or, with def NULL, a whole set) the first lines already show. */
static const struct {
	const char *set, *def;
} shown[] = {
        {"process", "accepted"},
        {"process", "closed"},
        {"process", "active"},
        {"process", "moved_in"},
        {"process", "moved_out"},
        {"process", "filtered"},
        {"process", "warm_failed"},
        {"process", "listening"},
        {"bytes", NULL},
        {"timeout", NULL},
        {"reason", NULL},
        {"health", "health_checks"},
        {"health", "health_failures"},
        {"health", "health_transitions_up"},
        {"health", "health_transitions_down"},
        {"warm", "warm_hits"},
        {"warm", "warm_misses"},
        {"warm", "warm_expired"},
        {"warm", "warm_dead"},
        {"access_log", NULL},
};

static bool
is_shown(const char *set, const char *def)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(shown); i++)
		if (strcmp(shown[i].set, set) == 0 &&
		    (shown[i].def == NULL || strcmp(shown[i].def, def) == 0))
			return true;
	return false;
}

/* Appends printf-style text to <buf> (of <size>, <*len> used), truncating quietly. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*len >= size - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (w > 0)
		*len = *len + (size_t)w < size ? *len + (size_t)w : size - 1;
}

/* Value <def> of the single instance of set <set>; 0 if the registry has no such thing. */
static uint64_t
value(const struct sl_stats *r, const char *set, const char *def)
{
	const struct sl_stats_set *s = sl_stats_find(r, set);
	int idx = s != NULL ? sl_stats_set_def_index(s, def) : -1;

	if (idx < 0 || sl_stats_set_ninstances(s) == 0)
		return 0;
	return sl_stats_read(s, 0, (unsigned)idx);
}

/* " NAME N" for each nonzero instance of the one-definition set <set>, comma-separated; the sum. */
static uint64_t
append_labelled(const struct sl_stats *r, const char *set, char *buf, size_t size, size_t *len)
{
	const struct sl_stats_set *s = sl_stats_find(r, set);
	uint64_t sum = 0;

	for (size_t i = 0; s != NULL && i < sl_stats_set_ninstances(s); i++) {
		uint64_t v = sl_stats_read(s, i, 0);

		if (v == 0)
			continue;
		append(buf, size, len, "%s %s %llu", sum == 0 ? "" : ",",
		       sl_stats_instance_label(s, i, 0), (unsigned long long)v);
		sum += v;
	}
	return sum;
}

static void
print_known_lines(const struct sl_stats *r)
{
	const struct sl_stats_set *bytes = sl_stats_find(r, "bytes");
	uint64_t moved_in = value(r, "process", "moved_in");
	uint64_t moved_out = value(r, "process", "moved_out");
	char line[512];
	size_t len;

	/* an upgrade's sessions: accepted + moved in = closed + moved out + still open */
	len = 0;
	line[0] = '\0';
	if (moved_in + moved_out != 0)
		append(line, sizeof(line), &len, " (%llu moved in, %llu moved out by upgrades)",
		       (unsigned long long)moved_in, (unsigned long long)moved_out);
	sl_log_info(
	        "sessions: %llu accepted, %llu closed, %lld still open at exit%s; bytes: %llu in, "
	        "%llu out",
	        (unsigned long long)value(r, "process", "accepted"),
	        (unsigned long long)value(r, "process", "closed"),
	        (long long)(int64_t)value(r, "process", "active"), line,
	        (unsigned long long)(bytes != NULL ? sl_stats_read(bytes, 0, 0) : 0),
	        (unsigned long long)(bytes != NULL ? sl_stats_read(bytes, 1, 0) : 0));
	if (value(r, "health", "health_checks") != 0)
		sl_log_info(
		        "health checks: %llu run, %llu failed; %llu backends went down, %llu up",
		        (unsigned long long)value(r, "health", "health_checks"),
		        (unsigned long long)value(r, "health", "health_failures"),
		        (unsigned long long)value(r, "health", "health_transitions_down"),
		        (unsigned long long)value(r, "health", "health_transitions_up"));
	if (value(r, "warm", "warm_hits") + value(r, "warm", "warm_misses") +
	            value(r, "warm", "warm_expired") + value(r, "warm", "warm_dead") !=
	    0)
		sl_log_info(
		        "warm pools: %llu hits, %llu misses, %llu expired, %llu dead, %llu failed",
		        (unsigned long long)value(r, "warm", "warm_hits"),
		        (unsigned long long)value(r, "warm", "warm_misses"),
		        (unsigned long long)value(r, "warm", "warm_expired"),
		        (unsigned long long)value(r, "warm", "warm_dead"),
		        (unsigned long long)value(r, "process", "warm_failed"));
	len = 0;
	if (append_labelled(r, "timeout", line, sizeof(line), &len) > 0)
		sl_log_info("timeouts:%s", line);
	len = 0;
	if (append_labelled(r, "reason", line, sizeof(line), &len) > 0)
		sl_log_info("rejected: %llu clients:%s",
		            (unsigned long long)value(r, "process", "filtered"), line);
}

/* <name> less its "<set>_" prefix: "backend_sessions" in set "backend" reads "sessions". */
static const char *
short_name(const char *set, const char *name)
{
	size_t n = strlen(set);

	return strncmp(name, set, n) == 0 && name[n] == '_' ? name + n + 1 : name;
}

/*
 * One line for set <s> if it has a nonzero value not shown above: "N name" for each such
 * counter or gauge; in a labelled set, each instance's label values first, or, when the set
 * has a single definition, the label values in place of its name.
 */
static void
print_set(const struct sl_stats_set *s)
{
	const char *set = sl_stats_set_name(s);
	unsigned nl = sl_stats_set_nlabels(s), nd = sl_stats_set_ndefs(s);
	char line[1024];
	size_t len = 0;

	for (size_t inst = 0; inst < sl_stats_set_ninstances(s); inst++) {
		char buf[SL_STATS_LABEL_MAX];
		size_t start = len;
		bool any = false;

		if (!sl_stats_instance_present(s, inst))
			continue;
		if (nl > 0 && nd > 1) {
			append(line, sizeof(line), &len, "%s", len == 0 ? " " : "; ");
			for (unsigned j = 0; j < nl; j++)
				append(line, sizeof(line), &len, "%s%s", j ? "/" : "",
				       sl_stats_instance_label_now(s, inst, j, buf, sizeof(buf)));
			append(line, sizeof(line), &len, ":");
		}
		for (unsigned d = 0; d < nd; d++) {
			const struct sl_stats_def *def = sl_stats_set_def(s, d);
			const char *sep = len == 0 || line[len - 1] == ':' ? " " : ", ";
			long long sv;

			/* a point in time is no figure of what sluice did */
			if (def->kind == SL_STATS_HIST || is_shown(set, def->name) ||
			    strstr(def->name, "timestamp") != NULL)
				continue;
			if (def->kind == SL_STATS_GAUGE) {
				sv = (long long)sl_stats_read_gauge(s, inst, d);
				if (sv == 0)
					continue;
				append(line, sizeof(line), &len, "%s%lld ", sep, sv);
			} else {
				uint64_t v = sl_stats_read(s, inst, d);

				if (v == 0)
					continue;
				if (def->scale != 0) /* in the exported unit, as /metrics */
					append(line, sizeof(line), &len, "%s%.6g ", sep,
					       (double)v * def->scale);
				else
					append(line, sizeof(line), &len, "%s%llu ", sep,
					       (unsigned long long)v);
			}
			any = true;
			if (nl > 0 && nd == 1)
				for (unsigned j = 0; j < nl; j++)
					append(line, sizeof(line), &len, "%s%s", j ? "/" : "",
					       sl_stats_instance_label_now(s, inst, j, buf,
					                                   sizeof(buf)));
			else
				append(line, sizeof(line), &len, "%s", short_name(set, def->name));
		}
		if (!any) {
			len = start; /* nothing to say about this instance */
			line[len] = '\0';
		}
	}
	if (len > 0)
		sl_log_info("%s:%s", set, line);
}

/* With an access log, last: the sessions without a line, and why (set access_log). */
static void
print_access_log(const struct sl_stats *r)
{
	char line[256] = "";
	size_t len = 0;
	uint64_t n;

	if (sl_stats_find(r, "access_log") == NULL)
		return;
	n = append_labelled(r, "access_log", line, sizeof(line), &len);
	sl_log_info("access log: %llu lines dropped%s%s", (unsigned long long)n, n != 0 ? ":" : "",
	            line);
}

/* The exit summary: the known lines, then every other figure of the registry. */
void
summary_print(struct sl_proxy *p)
{
	const struct sl_stats *r = sl_proxy_stats_registry(p);

	print_known_lines(r);
	for (size_t i = 0; i < sl_stats_len(r); i++)
		print_set(sl_stats_at(r, i));
	print_access_log(r);
}
