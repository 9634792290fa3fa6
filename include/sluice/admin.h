/* SPDX-License-Identifier: MIT */
/*
 * sl_admin: the admin HTTP endpoint of a running proxy, on its own listener and its own thread
 * (never a worker's): GET /metrics (Prometheus text format 0.0.4), /stats (JSON), /healthz and
 * /readyz. Every figure comes from the proxy's statistics registry (sluice/stats.h); a scrape
 * collects through the workers' mailboxes without stopping traffic. docs/metrics.md lists the
 * metrics and the endpoints' answers.
 *
 * Thread safety: start and stop are called by the proxy's controlling thread, start after
 * sl_proxy_start() and stop before sl_proxy_drain() (a scrape needs running workers).
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <sluice/addr.h>
#include <sluice/common.h>

struct sl_admin;
struct sl_proxy;

/*
 * Listens on <addr> (port 0: the kernel picks one) and serves <p>'s statistics from a thread of
 * its own. <p> must outlive the endpoint. Returns 0 and stores it in <*out>, or a negative errno
 * from the socket calls (-EADDRINUSE, -EACCES, ...), -ENOMEM, or -EIO if the HTTP server could
 * not start. Blocks only to start its thread.
 */
SL_API int sl_admin_start(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr);

/*
 * sl_admin_start() in two steps, so that privileges can be dropped between them: open listens
 * on <addr> and stores the endpoint in <*out> with no thread (errors as sl_admin_start()'s,
 * without -EIO); serve starts its threads (the daemon's and the acceptor's): 0, -EALREADY,
 * -ENOMEM, another negative errno from eventfd(), or -EIO. sl_admin_stop() frees either.
 */
SL_API int sl_admin_open(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr);
SL_API int sl_admin_serve(struct sl_admin *a);

/*
 * sl_admin_open() on <fd>, a listening TCP socket handed over by the process this one replaces
 * (binary upgrade; made nonblocking, as the old process may still accept on it). The fd becomes
 * the endpoint's; closed on failure.
 */
SL_API int sl_admin_open_fd(struct sl_admin **out, struct sl_proxy *p, int fd);

/*
 * How many connections the endpoint keeps open and for how long, so that clients holding
 * connections (or trickling requests) cannot keep /healthz from a probe. Past <max_connections>
 * in all, a new connection waits in the listen backlog until one closes; past <max_per_source>
 * from one client address (0: no bound of its own), it is closed at once and counted
 * (sl_proxy_count_admin_refused()). One with nothing received or sent for <timeout_s> seconds
 * is closed. Defaults: 64, 8, 10.
 */
struct sl_admin_limits {
	unsigned max_connections;
	unsigned max_per_source;
	unsigned timeout_s;
};

/* Sets <a>'s limits (before sl_admin_serve(); -EALREADY after it): 0, -EINVAL for a zero
 * max_connections or timeout_s. */
SL_API int sl_admin_set_limits(struct sl_admin *a, const struct sl_admin_limits *l);

/* The endpoint's listening socket (the endpoint's; valid until sl_admin_stop()). */
SL_API int sl_admin_listen_fd(const struct sl_admin *a);

/* Stops serving (waits for a request in progress), closes the listener and frees <a>. NULL ok. */
SL_API void sl_admin_stop(struct sl_admin *a);

/* The address the endpoint listens on, port 0 resolved. */
SL_API void sl_admin_addr(const struct sl_admin *a, struct sl_addr *out);

#endif /* SLUICE_ADMIN_H */
