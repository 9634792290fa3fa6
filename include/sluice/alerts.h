/* SPDX-License-Identifier: MIT */
/*
 * sl_alerts: threshold alerts over a running proxy's statistics (config key "alerts:";
 * docs/operations.md "Alerts"). An evaluator thread (never a worker) reads the statistics
 * registry every interval, computes each rule's value over its window, and with hysteresis
 * logs one line and posts one JSON notification to every webhook when a rule starts firing and
 * when it resolves. A sender thread posts them (libcurl) from a bounded queue, with a timeout
 * and a bounded number of retries with backoff; a full queue drops and counts.
 *
 * Registry sets added by sl_alerts_create(): "alert" (label rule: alert_firing) and
 * "alert_notifications" (sent, failed, dropped); docs/metrics.md.
 *
 * Builds without libcurl (sluice-static, or no libcurl4-openssl-dev) have no alerts:
 * sl_alerts_create() then returns -ENOTSUP for a configuration with rules.
 *
 * Thread safety: all five calls on the proxy's controlling thread: create after
 * sl_proxy_start() and before anything reads the registry concurrently (the admin endpoint),
 * start, then quiesce before sl_proxy_drain() (queued notifications may still go out during the
 * drain), and stop or destroy once nothing reads the registry.
 */
#ifndef SLUICE_ALERTS_H
#define SLUICE_ALERTS_H

#include <sluice/common.h>

struct sl_alerts;
struct sl_proxy;
struct sl_config_alerts;

/*
 * Prepares alerts for <p> from <cfg> (borrowed: it must outlive the object) and adds their sets
 * to <p>'s registry. A configuration with no rules stores NULL in <*out> and returns 0. Returns
 * 0, -ENOMEM, -ENOTSUP (alerts compiled out), or -EIO (libcurl failed to initialise).
 */
SL_API int sl_alerts_create(struct sl_alerts **out, struct sl_proxy *p,
                            const struct sl_config_alerts *cfg);

/* Starts the evaluator and sender threads. 0 or a negative errno from pthread_create(). */
SL_API int sl_alerts_start(struct sl_alerts *a);

/*
 * Stops the evaluator: no rule is evaluated, so none fires or resolves, from here on (call it
 * before sl_proxy_drain()); the sender goes on posting what is queued. NULL or a quiesced
 * object is ignored.
 */
SL_API void sl_alerts_quiesce(struct sl_alerts *a);

/*
 * Quiesces <a> and stops the sender: a post in progress is abandoned at once (its socket is
 * shut down), queued notifications are dropped and counted. NULL or a stopped object is
 * ignored.
 */
SL_API void sl_alerts_stop(struct sl_alerts *a);

/* Frees <a> (stopping it first if needed). NULL is ignored. */
SL_API void sl_alerts_destroy(struct sl_alerts *a);

#endif /* SLUICE_ALERTS_H */
