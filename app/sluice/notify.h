/* SPDX-License-Identifier: MIT */
/*
 * systemd readiness and watchdog (the sd_notify protocol, sd_notify(3)) without libsystemd:
 * newline-separated VAR=VALUE datagrams to the AF_UNIX socket named by $NOTIFY_SOCKET. When
 * the variable is unset (not started by systemd with Type=notify) every call is a no-op.
 *
 * The life of a run, as main.c drives it:
 *
 *   notify_started(cfg)    after sl_proxy_start(): listeners bound and listening
 *                          -> "READY=1\nMAINPID=<pid>\nSTATUS=proxying ..."; starts the
 *                          watchdog thread when $WATCHDOG_USEC asks for pings
 *   notify_draining(ms)    SIGTERM/SIGINT, before sl_proxy_drain()
 *                          -> "STOPPING=1\nSTATUS=draining ..."
 *   notify_stop()          after the proxy is gone: stops the watchdog thread, closes the socket
 *
 * A reload (SIGHUP) brackets the swap with notify_reloading() and notify_reloaded():
 * "RELOADING=1\nMONOTONIC_USEC=<now>" before the new file is read, "READY=1\nSTATUS=..." once
 * the new snapshot is published or refused (the old one keeps running either way). MONOTONIC_USEC
 * is what systemd 253+ needs to accept RELOADING=1 for Type=notify-reload.
 *
 * All functions are for the main thread (the one that runs main()). A send blocks while the
 * receiver's queue is full, for at most 1 s (SO_SNDTIMEO; then -EAGAIN), as sd_notify's would.
 * The watchdog thread only ever sends "WATCHDOG=1".
 */
#ifndef SLUICE_APP_NOTIFY_H
#define SLUICE_APP_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/config.h>

/*
 * Opens the $NOTIFY_SOCKET socket if not open yet. 0 when it is open or the variable is unset
 * (notify_is_enabled() tells which); -EINVAL for a name that is not an absolute path or an
 * '@' abstract name, or that is too long; a negative errno from socket(). notify_started()
 * calls it; until then the other functions are no-ops.
 */
int notify_open(void);

/* True once notify_open() found $NOTIFY_SOCKET and opened it. */
bool notify_is_enabled(void);

/*
 * Sends <msg> (one or more "VAR=VALUE" lines, no trailing newline needed) as one datagram.
 * 0 (also when disabled), or a negative errno from sendto() (not logged: callers decide).
 * Any thread once notify_open() has returned and until notify_stop().
 */
int notify_send(const char *msg);

/*
 * The proxy is serving <cfg>: READY=1, MAINPID and a STATUS line naming the listeners, then
 * the watchdog thread if $WATCHDOG_USEC is set and $WATCHDOG_PID is unset or this process.
 * Failures are logged once (a warning) and otherwise ignored: systemd's timeouts take over.
 */
void notify_started(const struct sl_config *cfg);

/* Draining begins: STOPPING=1 and a STATUS line with the <deadline_ms>. Logged on failure. */
void notify_draining(uint32_t deadline_ms);

/* A reload begins: RELOADING=1, MONOTONIC_USEC=<CLOCK_MONOTONIC now> and a STATUS line. */
void notify_reloading(void);

/* A reload ended (<cfg> is the snapshot now serving, new or old): READY=1 and a STATUS line. */
void notify_reloaded(const struct sl_config *cfg);

/*
 * The watchdog interval asked for by the environment: $WATCHDOG_USEC / 2 in microseconds, or 0
 * when there is none (unset, unparsable, zero, or $WATCHDOG_PID names another process).
 */
uint64_t notify_watchdog_interval_us(void);

/* Stops and joins the watchdog thread, closes the socket. Idempotent. */
void notify_stop(void);

#endif /* SLUICE_APP_NOTIFY_H */
