/* SPDX-License-Identifier: MIT */
/*
 * Reloading the configuration file: SIGHUP and the control socket's "reload" (reload.c); and
 * the control socket's "shutdown", which main takes like a SIGTERM.
 */
#ifndef SLUICE_APP_RELOAD_H
#define SLUICE_APP_RELOAD_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/config.h>
#include <sluice/proxy.h>
#include <sluice/xdp.h>

struct cli;

/* What a reload needs; SIGHUP (main thread) and the control socket's thread share it. */
struct reloader {
	pthread_mutex_t mu; /* one reload at a time; guards <drain_ms> */
	struct sl_proxy *p;
	const struct sl_config *layout; /* what the proxy was built from */
	/* the configuration in force: <layout>, or the last file the proxy took (it owns it and
	 * frees it once replaced, within the next reload); under <mu> */
	const struct sl_config *cur;
	const struct cli *c; /* NULL: no file to reload */
	uint32_t drain_ms;   /* the drain deadline of the configuration in force */
	pthread_t main;      /* the thread that waits for signals */
	struct sl_xdp *xdp;  /* NULL: no XDP program; its maps follow each reload */
};

/*
 * SIGHUP, or "reload" on the control socket (<who> says which): reads the configuration file
 * again (with the command line's overrides) and hands it to the running proxy, which takes the
 * live fields without touching a session. A file with errors, or one that changes what was
 * built at start, is refused with the reason (logged, and written to <why> if not NULL), and
 * the previous configuration goes on. Updates the log level and the drain deadline (the
 * application's own fields) once the proxy took the file. 0 when reloaded, else -EINVAL.
 */
int reload(struct reloader *rl, const char *who, FILE *why);

/* The control socket's "reload" (its thread); <arg> is the reloader. */
int reload_from_ctl(void *arg, FILE *why);

/* The control socket's "shutdown" (its thread): main's sigwait() takes it like a SIGTERM. */
void shutdown_from_ctl(void *arg);

#endif /* SLUICE_APP_RELOAD_H */
