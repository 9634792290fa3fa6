/* SPDX-License-Identifier: MIT */
/*
 * Inside the alerts: one rule's window and hysteresis (alert_rule.c), a pure state machine that
 * unit tests drive with made-up readings, and the notification body (alert_rule.c) that the
 * evaluator (alerts.c) hands to the webhook sender.
 *
 *   OK --value > above--> FIRING --value <= clear_below--> OK
 *
 * Each arrow is one edge, reported once (SL__ALERT_FIRE, SL__ALERT_RESOLVE); a value that is
 * not known yet (too little history) changes nothing.
 */
#ifndef SLUICE_ADMIN_ALERTS_INT_H
#define SLUICE_ADMIN_ALERTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/config.h>
#include <sluice/hist.h>

/* How a rule turns readings into its value. */
enum sl__alert_kind {
	SL__ALERT_RATE,  /* cumulative counter -> increase per second over the window */
	SL__ALERT_LEVEL, /* gauge -> lowest reading over the window ("above for the whole window")
	                  */
	SL__ALERT_P99,   /* cumulative histogram -> p99 of the samples recorded in the window */
};

enum sl__alert_edge { SL__ALERT_NONE, SL__ALERT_FIRE, SL__ALERT_RESOLVE };

/* Most histogram copies a p99 rule keeps: its window is rounded up to 1/32 of itself. */
#define SL__ALERT_HISTS_MAX 32u

struct sl__alert_rule {
	const struct sl_config_alert_rule *cfg; /* borrowed */
	enum sl__alert_kind kind;
	unsigned ticks;      /* window in intervals, >= 1 */
	unsigned stride;     /* P99: intervals between kept copies; others 1 */
	unsigned since;      /* P99: intervals since the last copy */
	size_t cap;          /* ring slots */
	size_t len;          /* slots in use */
	size_t head;         /* the oldest slot */
	double *v;           /* RATE: cumulative counts; LEVEL: readings */
	uint64_t *t_ms;      /* RATE: reading times */
	struct sl_hist *h;   /* P99: cumulative copies */
	struct sl_hist diff; /* P99: scratch for the window's samples */
	double scale;        /* P99: value = recorded value * scale */
	bool firing;
	bool known;   /* <value> is computed */
	double value; /* the last value, in the metric's unit */
};

/* The kind that <metric> uses. */
enum sl__alert_kind sl__alert_kind_of(enum sl_alert_metric metric);

/*
 * Prepares <r> for <cfg> evaluated every <interval_ms>. <ho> and <scale>: the histogram options
 * and exported scale for a p99 metric (ignored otherwise). 0, -ENOMEM or -EINVAL.
 */
int sl__alert_rule_init(struct sl__alert_rule *r, const struct sl_config_alert_rule *cfg,
                        uint32_t interval_ms, const struct sl_hist_opts *ho, double scale);
void sl__alert_rule_fini(struct sl__alert_rule *r);

/*
 * Feeds the reading taken at <now_ms>: <x> for RATE and LEVEL, the cumulative histogram <h> for
 * P99 (NULL otherwise). Updates r->value and r->known, and returns the edge it crossed, if any.
 */
enum sl__alert_edge sl__alert_rule_feed(struct sl__alert_rule *r, uint64_t now_ms, double x,
                                        const struct sl_hist *h);

/*
 * Writes the JSON notification for <r> having crossed <edge> at <unix_ms> on <instance>:
 * {"alert","state":"firing"|"resolved","metric","value","threshold","time","instance"}
 * ("threshold" is <above> when firing, <clear_below> when resolved). 0, or -EIO.
 */
int sl__alert_render(FILE *f, const struct sl__alert_rule *r, enum sl__alert_edge edge,
                     uint64_t unix_ms, const char *instance);

#endif /* SLUICE_ADMIN_ALERTS_INT_H */
