// SPDX-License-Identifier: MIT
/*
 * Reloading the configuration file (reload.h): SIGHUP on the main thread and "reload" on the
 * control socket's thread take the same path, one at a time. A change to a key the process was
 * built from is refused here (the key table's compare); the rest is sl_proxy_reload()'s, and
 * the application applies what it owns (log level, drain deadline, the XDP maps).
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
	char reason[400]; /* the proxy's longest refusals name counts and what to do */
	char changed[1024];
	int rc = -EINVAL, err;

	if (c == NULL) {
		refuse(why, who,
		       "nothing to reload: sluice runs without a configuration file (-c)");
		return rc;
	}
	pthread_mutex_lock(&rl->mu);
	notify_reloading(); /* systemd: RELOADING=1 */
	err = load_for_reload(&next, c->config_path, why);
	if (err != 0) {
		/* the loader said which (above): a file it could not read, or one with errors */
		refuse(why, who, "%s %s (above): not reloaded, the previous configuration goes on",
		       c->config_path, err == -EINVAL ? "has errors" : "cannot be read");
		goto out_notify;
	}
	if (cli_apply_overrides(next, c) != 0) {
		refuse(why, who, "the command line's overrides do not apply to %s: not reloaded",
		       c->config_path);
		goto out_free;
	}
	if (sl_config_needs_restart(layout, next, reason, sizeof(reason))) {
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
	level = next->log_level;
	drain = next->drain_timeout_ms;
	/* before the proxy takes <next>: the file in force may be freed once it has */
	if (!sl_config_changes(rl->cur, next, changed, sizeof(changed)))
		snprintf(changed, sizeof(changed), "nothing changed");
	rc = sl_proxy_reload(rl->p, next, reason, sizeof(reason));
	if (rc != 0) { /* the backends cannot be applied now, or the workers lag: try again */
		refuse(why, who, "not reloaded: %s; the previous configuration goes on", reason);
		goto out_free;
	}
	/* the proxy owns <next> now; it keeps it until the next reload, which waits for <mu> */
	rl->cur = next;
	if (rl->xdp != NULL && (err = sl_xdp_update(rl->xdp, next)) != 0)
		sl_log_error("%s: cannot update the XDP maps: %s (the program keeps a mix of the "
		             "old and new lists; sluice itself applies the new ones)",
		             who, strerror(-err));
	sl_log_set_level(level);
	rl->drain_ms = drain;
	sl_log_info("%s: %s reloaded (%s)", who, c->config_path, changed);
	rc = 0;
	goto out_notify;

out_free:
	sl_config_free(next);
out_notify:
	notify_reloaded(rl->cur); /* systemd: READY=1, and the listeners served now */
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
