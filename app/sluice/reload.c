// SPDX-License-Identifier: MIT
/*
 * Reloading the configuration file (reload.h): SIGHUP on the main thread and "reload" on the
 * control socket's thread take the same path, one at a time; what the application itself owns
 * (log level, drain deadline, the endpoints) is checked here, the rest by sl_proxy_reload().
 */
#include "reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/log.h>
#include <sluice/proxy.h>

#include "cli.h"
#include "notify.h"
#include "signals.h"

/* true if <a> and <b> name the same access log: it is opened once, at start. */
static bool
same_access_log(const struct sl_config_access_log *a, const struct sl_config_access_log *b)
{
	if (a->path == NULL || b->path == NULL)
		return a->path == b->path;
	return strcmp(a->path, b->path) == 0 && a->ring_size == b->ring_size;
}

/* Alert rules and webhooks are built at start; profiling too. */
static bool
same_alerts(const struct sl_config *a, const struct sl_config *b)
{
	const struct sl_config_alerts *x = &a->alerts, *y = &b->alerts;

	if (x->interval_ms != y->interval_ms || strcmp(x->instance, y->instance) != 0 ||
	    x->queue_size != y->queue_size || x->nwebhooks != y->nwebhooks ||
	    x->nrules != y->nrules || a->profiling.perf != b->profiling.perf ||
	    a->profiling.tcp_events != b->profiling.tcp_events)
		return false;
	for (size_t i = 0; i < x->nwebhooks; i++) {
		const struct sl_config_webhook *v = &x->webhooks[i], *w = &y->webhooks[i];

		if (strcmp(v->url, w->url) != 0 || v->timeout_ms != w->timeout_ms ||
		    v->retries != w->retries)
			return false;
	}
	for (size_t i = 0; i < x->nrules; i++) {
		const struct sl_config_alert_rule *r = &x->rules[i], *q = &y->rules[i];

		if (strcmp(r->name, q->name) != 0 || r->metric != q->metric ||
		    r->above != q->above || r->clear_below != q->clear_below ||
		    r->window_ms != q->window_ms || strcmp(r->group, q->group) != 0 ||
		    strcmp(r->backend, q->backend) != 0)
			return false;
	}
	return true;
}

/* Logs an error from <who> and writes it to <why> too (if not NULL), one line. */
static void __attribute__((format(printf, 3, 4)))
refuse(FILE *why, const char *who, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_log_error("%s: %s", who, msg);
	if (why != NULL)
		fprintf(why, "%s\n", msg);
}

/* Loads <path> with its errors on stderr and, if not NULL, in <why>. */
static int
load_for_reload(struct sl_config **next, const char *path, FILE *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *errs;
	int err;

	errs = why != NULL ? open_memstream(&text, &len) : NULL;
	err = sl_config_load_file(next, path, errs != NULL ? errs : stderr);
	if (errs != NULL) {
		fclose(errs);
		fputs(text != NULL ? text : "", stderr);
		fputs(text != NULL ? text : "", why);
		free(text);
	}
	return err;
}

int
reload(struct reloader *rl, const char *who, FILE *why)
{
	const struct sl_config *layout = rl->layout;
	const struct cli *c = rl->c;
	struct sl_config *next = NULL;
	enum sl_log_level level;
	uint32_t drain;
	char reason[200];
	int rc = -EINVAL, err;

	if (c == NULL) {
		refuse(why, who,
		       "nothing to reload: sluice runs without a configuration file (-c)");
		return rc;
	}
	pthread_mutex_lock(&rl->mu);
	notify_reloading(); /* systemd: RELOADING=1 */
	if (load_for_reload(&next, c->config_path, why) != 0) {
		refuse(why, who,
		       "%s has errors (above): not reloaded, the previous configuration goes on",
		       c->config_path);
		goto out_notify;
	}
	if (cli_apply_overrides(next, c) != 0) {
		refuse(why, who, "the command line's overrides do not apply to %s: not reloaded",
		       c->config_path);
		goto out_free;
	}
	if (!sl_addr_equal(&next->admin.addr, &layout->admin.addr)) {
		refuse(why, who,
		       "not reloaded: the admin address changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (strcmp(next->control.path, layout->control.path) != 0 ||
	    next->control.mode != layout->control.mode) {
		refuse(why, who,
		       "not reloaded: the control socket changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if ((next->upgrade_socket == NULL) != (layout->upgrade_socket == NULL) ||
	    (next->upgrade_socket != NULL &&
	     strcmp(next->upgrade_socket, layout->upgrade_socket) != 0)) {
		refuse(why, who,
		       "not reloaded: upgrade_socket changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (strcmp(next->xdp.interface, layout->xdp.interface) != 0 ||
	    next->xdp.mode != layout->xdp.mode || next->xdp.required != layout->xdp.required) {
		refuse(why, who,
		       "not reloaded: xdp changed (needs a restart); the previous configuration "
		       "goes on");
		goto out_free;
	}
	if (strcmp(next->user, layout->user) != 0 || strcmp(next->group, layout->group) != 0) {
		refuse(why, who,
		       "not reloaded: user or group changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (!same_alerts(next, layout)) {
		refuse(why, who,
		       "not reloaded: alerts or profiling changed (needs a restart); the previous "
		       "configuration goes on");
		goto out_free;
	}
	if (!same_access_log(&next->access_log, &layout->access_log)) {
		refuse(why, who,
		       "not reloaded: access_log changed (needs a restart; SIGUSR1 reopens the "
		       "file); the previous configuration goes on");
		goto out_free;
	}
	level = next->log_level;
	drain = next->drain_timeout_ms;
	rc = sl_proxy_reload(rl->p, next, reason, sizeof(reason));
	if (rc == -EINVAL) {
		/* an upgrade to the same binary applies any file, moving the sessions over */
		refuse(why, who,
		       "not reloaded: %s (needs a restart%s); the previous configuration goes on",
		       reason,
		       layout->upgrade_socket != NULL ? ", or an upgrade: 'sluice --upgrade' with "
		                                        "this file takes over and "
		                                        "moves every forwarding session"
		                                      : "");
		goto out_free;
	}
	if (rc != 0) { /* the backends cannot be applied now, or the workers lag: try again */
		refuse(why, who, "not reloaded: %s; the previous configuration goes on", reason);
		goto out_free;
	}
	/* the proxy owns <next> now; it keeps it until the next reload, which waits for <mu> */
	if (rl->xdp != NULL && (err = sl_xdp_update(rl->xdp, next)) != 0)
		sl_log_error("%s: cannot update the XDP maps: %s (the program keeps a mix of the "
		             "old and new lists; sluice itself applies the new ones)",
		             who, strerror(-err));
	sl_log_set_level(level);
	rl->drain_ms = drain;
	sl_log_info("%s: %s reloaded", who, c->config_path);
	rc = 0;
	goto out_notify;

out_free:
	sl_config_free(next);
out_notify:
	notify_reloaded(layout); /* systemd: READY=1 */
	pthread_mutex_unlock(&rl->mu);
	return rc;
}

int
reload_from_ctl(void *arg, FILE *why)
{
	return reload(arg, "reload (control socket)", why);
}

void
shutdown_from_ctl(void *arg)
{
	struct reloader *rl = arg;

	pthread_kill(rl->main, SHUTDOWN_SIGNAL);
}
