// SPDX-License-Identifier: MIT
/*
 * One alert rule's window and hysteresis (alerts_int.h), with no clock, thread or I/O of its
 * own: alerts.c feeds it one reading per interval and acts on the edges it returns. A rate is
 * the counter's increase between the oldest and newest reading of the window over their time
 * apart; a level the lowest reading of a full window; a p99 that of the histogram's samples
 * recorded since the oldest copy kept (a copy every <stride> intervals, at most
 * SL__ALERT_HISTS_MAX + 1 copies).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/alerts_int.h"

enum sl__alert_kind
sl__alert_kind_of(enum sl_alert_metric metric)
{
	switch (metric) {
	case SL_ALERT_CONNECT_P99:
	case SL_ALERT_FIRST_BYTE_P99:
		return SL__ALERT_P99;
	case SL_ALERT_REJECT_RATE:
	case SL_ALERT_ERROR_RATE:
		return SL__ALERT_RATE;
	default:
		return SL__ALERT_LEVEL;
	}
}

int
sl__alert_rule_init(struct sl__alert_rule *r, const struct sl_config_alert_rule *cfg,
                    uint32_t interval_ms, const struct sl_hist_opts *ho, double scale)
{
	int err;

	memset(r, 0, sizeof(*r));
	if (interval_ms == 0)
		return -EINVAL;
	r->cfg = cfg;
	r->kind = sl__alert_kind_of(cfg->metric);
	r->ticks = (unsigned)((cfg->window_ms + interval_ms - 1) / interval_ms);
	r->ticks = r->ticks == 0 ? 1 : r->ticks;
	r->stride = 1;
	r->scale = scale;
	switch (r->kind) {
	case SL__ALERT_LEVEL:
		/* above for the whole window: readings at both its ends, so a window of n
		 * intervals takes n + 1 of them (window 0: the last one alone) */
		r->cap = (size_t)((cfg->window_ms + interval_ms - 1) / interval_ms) + 1;
		break;
	case SL__ALERT_RATE:
		r->cap = (size_t)r->ticks + 1;
		r->t_ms = calloc(r->cap, sizeof(r->t_ms[0]));
		if (r->t_ms == NULL)
			return -ENOMEM;
		break;
	case SL__ALERT_P99:
		r->stride = (r->ticks + SL__ALERT_HISTS_MAX - 1) / SL__ALERT_HISTS_MAX;
		r->cap = (r->ticks + r->stride - 1) / r->stride + 1;
		r->h = calloc(r->cap, sizeof(r->h[0]));
		if (r->h == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < r->cap; i++)
			if ((err = sl_hist_init(&r->h[i], ho)) != 0)
				goto err_fini;
		if ((err = sl_hist_init(&r->diff, ho)) != 0)
			goto err_fini;
		return 0;
	}
	r->v = calloc(r->cap, sizeof(r->v[0]));
	if (r->v == NULL) {
		free(r->t_ms);
		return -ENOMEM;
	}
	return 0;

err_fini:
	sl__alert_rule_fini(r);
	return err;
}

void
sl__alert_rule_fini(struct sl__alert_rule *r)
{
	if (r->h != NULL)
		for (size_t i = 0; i < r->cap; i++)
			sl_hist_fini(&r->h[i]); /* a zeroed one frees NULL */
	if (r->diff.counts != NULL)
		sl_hist_fini(&r->diff);
	free(r->h);
	free(r->v);
	free(r->t_ms);
	memset(r, 0, sizeof(*r));
}

/* The slot a new reading goes to (the oldest is dropped when the ring is full). */
static size_t
push_slot(struct sl__alert_rule *r)
{
	size_t at;

	if (r->len < r->cap) {
		at = r->head + r->len++;
		return at < r->cap ? at : at - r->cap;
	}
	at = r->head;
	r->head = at + 1 == r->cap ? 0 : at + 1;
	return at;
}

static void
feed_rate(struct sl__alert_rule *r, uint64_t now_ms, double x)
{
	size_t at = push_slot(r), newest;
	double dt;

	r->v[at] = x;
	r->t_ms[at] = now_ms;
	newest = at;
	dt = (double)(r->t_ms[newest] - r->t_ms[r->head]) / 1000.0;
	/* over the whole window only: a burst in the first seconds is no rate over a minute */
	r->known = r->len == r->cap && dt > 0;
	if (r->known)
		r->value = x >= r->v[r->head] ? (x - r->v[r->head]) / dt : 0;
}

static void
feed_level(struct sl__alert_rule *r, double x)
{
	double low = x;

	r->v[push_slot(r)] = x;
	for (size_t i = 0; i < r->len; i++)
		low = r->v[(r->head + i) % r->cap] < low ? r->v[(r->head + i) % r->cap] : low;
	r->known = r->len == r->cap; /* above for the whole window, not for part of it */
	if (r->known)
		r->value = low;
}

static void
feed_p99(struct sl__alert_rule *r, const struct sl_hist *h)
{
	r->known = false;
	if (h == NULL)
		return;
	/* keep a copy every <stride> intervals: the oldest kept is the window's start */
	if (r->len == 0 || ++r->since >= r->stride) {
		size_t at = push_slot(r);

		r->since = 0;
		sl_hist_reset(&r->h[at]);
		(void)sl_hist_merge(&r->h[at], h); /* same options: cannot fail */
	}
	if (r->len < 2)
		return;
	sl_hist_reset(&r->diff);
	if (sl_hist_merge(&r->diff, h) == 0 && sl_hist_subtract(&r->diff, &r->h[r->head]) == 0) {
		r->known = true;
		r->value = (double)sl_hist_percentile(&r->diff, 99.0) * r->scale;
	}
}

enum sl__alert_edge
sl__alert_rule_feed(struct sl__alert_rule *r, uint64_t now_ms, double x, const struct sl_hist *h)
{
	switch (r->kind) {
	case SL__ALERT_RATE:
		feed_rate(r, now_ms, x);
		break;
	case SL__ALERT_LEVEL:
		feed_level(r, x);
		break;
	case SL__ALERT_P99:
		feed_p99(r, h);
		break;
	}
	if (!r->known)
		return SL__ALERT_NONE;
	if (!r->firing && r->value > r->cfg->above) {
		r->firing = true;
		return SL__ALERT_FIRE;
	}
	if (r->firing && r->value <= r->cfg->clear_below) {
		r->firing = false;
		return SL__ALERT_RESOLVE;
	}
	return SL__ALERT_NONE;
}

/* <s> as a JSON string body: quotes, backslashes and control bytes escaped. */
static void
put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int
sl__alert_render(FILE *f, const struct sl__alert_rule *r, enum sl__alert_edge edge,
                 uint64_t unix_ms, const char *instance)
{
	bool fire = edge == SL__ALERT_FIRE;
	time_t sec = (time_t)(unix_ms / 1000);
	char when[32];
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fputs("{\"alert\":", f);
	put_json_string(f, r->cfg->name);
	fprintf(f, ",\"state\":\"%s\",\"metric\":\"%s\",\"value\":%.9g,\"threshold\":%.9g,",
	        fire ? "firing" : "resolved", sl_alert_metric_names[r->cfg->metric], r->value,
	        fire ? r->cfg->above : r->cfg->clear_below);
	fprintf(f, "\"time\":\"%s.%03" PRIu64 "Z\",\"instance\":", when, unix_ms % 1000);
	put_json_string(f, instance);
	fputc('}', f);
	return ferror(f) ? -EIO : 0;
}
