/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's acceptor (admin_accept.c): accepts on the endpoint's listener in a thread
 * of its own and hands connections to the libmicrohttpd daemon, holding the endpoint's limits
 * (struct sl_admin_limits) and backing off when this process is short of fds or memory.
 * Order: create, start the daemon with sl__admin_acceptor_notice() as its connection notice (cls:
 * the acceptor) and a connection limit of at least max_connections + 1, run; halt before stopping
 * the daemon, free after (the daemon's last notices come while it stops).
 */
#ifndef SLUICE_ADMIN_ADMIN_ACCEPT_H
#define SLUICE_ADMIN_ADMIN_ACCEPT_H

#include <microhttpd.h>

#include <sluice/admin.h>
#include <sluice/proxy.h>

struct sl__admin_acceptor;

/* An acceptor for listener <lfd> (not the acceptor's to close) with limits <l>, refusals
 * counted in <p>; no thread yet. 0, or a negative errno. */
int sl__admin_acceptor_create(struct sl__admin_acceptor **out, int lfd, struct sl_proxy *p,
                              const struct sl_admin_limits *l);

/* The daemon's MHD_OPTION_NOTIFY_CONNECTION callback: a closed connection frees its place. */
void sl__admin_acceptor_notice(void *cls, struct MHD_Connection *c, void **ctx,
                               enum MHD_ConnectionNotificationCode what);

/* Starts accepting into <d>: 0, or a negative errno. */
int sl__admin_acceptor_run(struct sl__admin_acceptor *acc, struct MHD_Daemon *d);

/* Stops accepting (joins the thread; nothing more is added to the daemon). Idempotent. */
void sl__admin_acceptor_halt(struct sl__admin_acceptor *acc);

/* Halts <acc> if running and frees it. NULL ok. */
void sl__admin_acceptor_free(struct sl__admin_acceptor *acc);

#endif
