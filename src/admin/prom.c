// SPDX-License-Identifier: MIT
/*
 * The Prometheus text exposition format 0.0.4 for a statistics registry (admin_int.h): each
 * definition of each set is one metric family, its instances the samples. Histogram buckets
 * are fixed boundaries in the exported unit; a bucket counts the samples of the histogram's
 * buckets at or below the boundary, so it is exact to the histogram's relative error (< 1%).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin/admin_int.h"

/* Histogram "le" boundaries, in the exported unit (seconds for every latency today). */
static const char *const bounds[] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
        "0.025",  "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5",
        "5",      "10",      "30",     "60",    "300",    "1800",  "3600",
};

/* Writes <s>, escaping backslash and newline, and double quotes when <quotes>. */
static void
put_escaped(FILE *f, const char *s, bool quotes)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quotes)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* "{a="x",b="y"<extra>}" for instance <inst>, or nothing if there are no labels at all. */
static void
put_labels(FILE *f, const struct sl_stats_set *s, size_t inst, const char *extra)
{
	unsigned n = sl_stats_set_nlabels(s);

	if (n == 0 && extra == NULL)
		return;
	fputc('{', f);
	for (unsigned j = 0; j < n; j++) {
		char buf[SL_STATS_LABEL_MAX];

		fprintf(f, "%s%s=\"", j ? "," : "", sl_stats_set_label(s, j));
		put_escaped(f, sl_stats_instance_label_now(s, inst, j, buf, sizeof(buf)), true);
		fputc('"', f);
	}
	if (extra != NULL)
		fprintf(f, "%s%s", n ? "," : "", extra);
	fputc('}', f);
}

static int
put_hist(FILE *f, const struct sl_stats_set *s, unsigned idx, const char *name)
{
	const struct sl_stats_def *d = sl_stats_set_def(s, idx);
	char le[64];

	for (size_t inst = 0; inst < sl_stats_set_ninstances(s); inst++) {
		struct sl_hist h;
		uint64_t count;
		int err;

		if (!sl_stats_instance_present(s, inst))
			continue;
		err = sl_stats_read_hist(s, inst, idx, &h);
		if (err != 0)
			return err;
		count = sl_hist_count(&h);
		for (size_t b = 0; b < SL_ARRAY_SIZE(bounds); b++) {
			double v = strtod(bounds[b], NULL) / d->scale;
			uint64_t at = v >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)(v + 0.5);

			snprintf(le, sizeof(le), "le=\"%s\"", bounds[b]);
			fprintf(f, "%s_bucket", name);
			put_labels(f, s, inst, le);
			fprintf(f, " %" PRIu64 "\n",
			        count == 0 ? 0 : sl_hist_count_at_or_below(&h, at));
		}
		fprintf(f, "%s_bucket", name);
		put_labels(f, s, inst, "le=\"+Inf\"");
		fprintf(f, " %" PRIu64 "\n%s_sum", count, name);
		put_labels(f, s, inst, NULL);
		fprintf(f, " %.9g\n%s_count", sl_hist_mean(&h) * (double)count * d->scale, name);
		put_labels(f, s, inst, NULL);
		fprintf(f, " %" PRIu64 "\n", count);
		sl_hist_fini(&h);
	}
	return 0;
}

static int
put_family(FILE *f, const struct sl_stats_set *s, unsigned idx)
{
	static const char *const types[] = {
	        [SL_STATS_COUNTER] = "counter",
	        [SL_STATS_GAUGE] = "gauge",
	        [SL_STATS_HIST] = "histogram",
	};
	const struct sl_stats_def *d = sl_stats_set_def(s, idx);
	char name[256];

	if (sl_stats_set_ninstances(s) == 0)
		return 0;
	snprintf(name, sizeof(name), SL_ADMIN_PREFIX "%s%s", d->name,
	         d->kind == SL_STATS_COUNTER ? "_total" : "");
	fprintf(f, "# HELP %s ", name);
	put_escaped(f, d->help != NULL ? d->help : d->name, false);
	fprintf(f, "\n# TYPE %s %s\n", name, types[d->kind]);
	if (d->kind == SL_STATS_HIST)
		return put_hist(f, s, idx, name);
	for (size_t inst = 0; inst < sl_stats_set_ninstances(s); inst++) {
		if (!sl_stats_instance_present(s, inst))
			continue;
		fputs(name, f);
		put_labels(f, s, inst, NULL);
		if (d->kind == SL_STATS_GAUGE)
			fprintf(f, " %" PRId64 "\n", sl_stats_read_gauge(s, inst, idx));
		else if (d->scale != 0)
			fprintf(f, " %.9g\n", (double)sl_stats_read(s, inst, idx) * d->scale);
		else
			fprintf(f, " %" PRIu64 "\n", sl_stats_read(s, inst, idx));
	}
	return 0;
}

int
sl__admin_render_metrics(const struct sl_stats *r, FILE *f)
{
	for (size_t i = 0; i < sl_stats_len(r); i++) {
		const struct sl_stats_set *s = sl_stats_at(r, i);

		for (unsigned d = 0; d < sl_stats_set_ndefs(s); d++) {
			int err = put_family(f, s, d);

			if (err != 0)
				return err;
		}
	}
	return ferror(f) ? -EIO : 0;
}
