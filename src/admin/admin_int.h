/* SPDX-License-Identifier: MIT */
/*
 * Inside the admin layer: the renderers the HTTP handlers call, each a pure function of a
 * statistics registry (sluice/stats.h), so unit tests drive them without a server.
 * prom.c: Prometheus text; json.c: the /stats document (also "show stats" of the control
 * socket, ctl.c) and the readiness verdict; the stats page (page/stats.html) is compiled in as
 * sl__admin_page by cmake/embed.cmake.
 */
#ifndef SLUICE_ADMIN_ADMIN_INT_H
#define SLUICE_ADMIN_ADMIN_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/stats.h>

/* Every metric prefix. */
#define SL_ADMIN_PREFIX "sluice_"

/*
 * Writes every set of <r> to <f> in the Prometheus text exposition format 0.0.4: one family per
 * definition, named SL_ADMIN_PREFIX + its name (+ "_total" for counters), with HELP and TYPE
 * lines and one sample per instance labelled by the set's labels; histograms as _bucket{le=..},
 * _sum and _count in the definition's exported unit. 0, or a negative errno.
 */
int sl__admin_render_metrics(const struct sl_stats *r, FILE *f);

/*
 * How every JSON answer is written (/stats, /readyz, the control socket): compact, keys in
 * insertion order (jansson always keeps it), reals with 15 significant digits ("0.1", not
 * "0.10000000000000001").
 */
#define SL_ADMIN_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* A counter: exact as an integer; a real only past INT64_MAX, which jansson cannot hold. NULL:
 * no memory. */
json_t *sl__admin_json_count(uint64_t v);

/*
 * A computed figure: an integral value as an integer ("3", where jansson prints a real as
 * "3.0"), a fraction as a real, and NaN or an infinity (which JSON cannot spell) as null.
 */
json_t *sl__admin_json_figure(double d);

/* What /stats adds to the registry's figures from outside it (the endpoint, the proxy). */
struct sl_admin_extras {
	double uptime_seconds; /* "uptime_seconds" in the process object; < 0: left out */
	/*
	 * Writes the address of the backend of instance <inst> of the backend set, labelled
	 * <group> and <backend>, into <buf> of <size> bytes: 0, or a negative errno and the
	 * backend object has no "address". NULL: none.
	 */
	int (*backend_addr)(void *arg, size_t inst, const char *group, const char *backend,
	                    char *buf, size_t size);
	void *arg;
};

/* The /stats JSON document for <r> and <x> (NULL: none; release with json_decref()), or NULL
 * (no memory). */
json_t *sl__admin_stats_json(const struct sl_stats *r, const struct sl_admin_extras *x);

/* Writes the /stats JSON document for <r> and <x> (NULL: none) to <f>. 0, or -ENOMEM. */
int sl__admin_render_stats(const struct sl_stats *r, const struct sl_admin_extras *x, FILE *f);

/*
 * Readiness: true if the process set's "listening" gauge is 1 and every instance of the group
 * set has a backend up. Otherwise false, and a JSON object {"ready":false,"reason":"..."} for
 * the reply is written to <f>; when ready, {"ready":true}. -ENOMEM leaves <*ready> false.
 */
int sl__admin_render_ready(const struct sl_stats *r, FILE *f, bool *ready);

/*
 * The stats page served at / (src/admin/page/stats.html), <sl__admin_page_len> bytes, and the
 * Content-Security-Policy directives that allow its inline script and style by their hashes
 * ("script-src 'sha256-...'; style-src 'sha256-...'").
 */
extern const unsigned char sl__admin_page[];
extern const size_t sl__admin_page_len;
extern const char sl__admin_page_csp[];

#endif /* SLUICE_ADMIN_ADMIN_INT_H */
