/* SPDX-License-Identifier: MIT */
/*
 * The demo's backends: small servers inside the sluice process, on 127.0.0.1 ephemeral ports,
 * served by one thread running its own sl_loop. An HTTP request gets a 200 naming the backend
 * that answered; any other bytes are echoed back.
 */
#ifndef SLUICE_APP_DEMO_H
#define SLUICE_APP_DEMO_H

#include <stddef.h>

#include <sluice/addr.h>
#include <sluice/loop.h>

#define DEMO_BACKENDS 3

struct demo;

/* Starts DEMO_BACKENDS servers and their thread (a loop on runtime <rt>); their addresses go
 * to <addrs>. */
int demo_start(struct demo **out, struct sl_addr addrs[DEMO_BACKENDS], enum sl_loop_runtime rt);
/* Stops the thread and closes every socket. */
void demo_stop(struct demo *d);

#endif /* SLUICE_APP_DEMO_H */
