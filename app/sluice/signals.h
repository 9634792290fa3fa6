/* SPDX-License-Identifier: MIT */
/*
 * The signals sluice uses beyond the operator's (SIGTERM, SIGINT, SIGHUP, SIGUSR1): real-time
 * signals one thread sends another, each with one meaning. main() blocks them all in every
 * thread; only its sigwait() (and the drain watcher's) takes them.
 */
#ifndef SLUICE_APP_SIGNALS_H
#define SLUICE_APP_SIGNALS_H

#include <signal.h>

/*
 * Wakes the drain's watcher when the drain is over (main sends it to that thread only): a
 * real-time signal, since SIGUSR1 reopens the access log and SIGUSR2 stays free for the tools
 * that hook it (the allocation counter of the tests).
 */
#define WAKE_SIGNAL SIGRTMIN
/* The control socket's "shutdown": takes the SIGTERM path with a name of its own in the log. */
#define SHUTDOWN_SIGNAL (SIGRTMIN + 1)
/* The upgrade thread tells main a new process took over (upgrade.c). */
#define UPGRADE_SIGNAL (SIGRTMIN + 2)

#endif /* SLUICE_APP_SIGNALS_H */
