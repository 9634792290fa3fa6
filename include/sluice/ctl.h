/* SPDX-License-Identifier: MIT */
/*
 * sl_ctl: the control socket of a running proxy, what sluicectl talks to. A unix stream socket
 * at a path of the operator's choice, served by a thread of its own (never a worker): one
 * request per line ("show stats", "disable backend web/b1", "reload", ...), one JSON object per
 * line in answer, {"ok":true,"result":...} or {"ok":false,"error":"..."}. docs/operations.md
 * describes the protocol and every command.
 *
 * Thread safety: open, serve, start and stop are called by the proxy's controlling thread,
 * serve (or start) after sl_proxy_start() and stop before sl_proxy_drain() (show stats asks the
 * workers). The
 * callbacks run on the control thread.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdint.h>
#include <stdio.h>

#include <sluice/common.h>

struct sl_config;
struct sl_ctl;
struct sl_proxy;

/*
 * "reload": reads the configuration again and hands it to the proxy. 0 when it was taken;
 * otherwise a negative errno after writing every reason, one per line, to <why>.
 */
typedef int (*sl_ctl_reload_fn)(void *arg, FILE *why);
/* "shutdown": starts the graceful drain (the answer is sent before it begins). */
typedef void (*sl_ctl_shutdown_fn)(void *arg);

struct sl_ctl_opts {
	const char *path;            /* the socket file; copied */
	uint32_t mode;               /* its permission bits (0600) */
	const struct sl_config *cfg; /* what <p> was built from: its listeners, groups, workers */
	const char *config_path;     /* shown by "show info"; NULL = none; copied */
	sl_ctl_reload_fn reload;     /* NULL: "reload" answers "not supported" */
	sl_ctl_shutdown_fn shutdown; /* NULL: "shutdown" answers "not supported" */
	void *arg;                   /* passed to the callbacks */
};

/*
 * Binds the socket at <o->path> with mode <o->mode> and serves <p> from a new thread. A socket
 * file left there by a process that is gone is replaced; one that still answers is not:
 * -EADDRINUSE. Something there that is not a socket: -EEXIST. Else 0 and the server in <*out>,
 * or a negative errno from the socket calls (-EACCES, -ENAMETOOLONG, ...), -ENOMEM. <p> and
 * <o->cfg> must outlive the server. Blocks only to probe the old socket and start the thread.
 */
SL_API int sl_ctl_start(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o);

/*
 * sl_ctl_start() in two steps, so that privileges can be dropped between them: open binds the
 * socket (errors as sl_ctl_start()'s) with no thread; serve starts the thread: 0, -EALREADY,
 * or a negative errno. sl_ctl_stop() frees either.
 */
SL_API int sl_ctl_open(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o);
SL_API int sl_ctl_serve(struct sl_ctl *c);

/*
 * Binary upgrade: sl_ctl_open() on <fd>, the listening socket of the process this one replaces
 * (at <o->path>), which becomes the server's (closed on failure); sl_ctl_listen_fd() is what
 * the old process hands over (the server's; valid until sl_ctl_stop()); after
 * sl_ctl_handed_over(), sl_ctl_stop() leaves the socket file to the new process if that one
 * serves it, and removes it if that one serves another path.
 */
SL_API int sl_ctl_open_fd(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o,
                          int fd);
SL_API int sl_ctl_listen_fd(const struct sl_ctl *c);
SL_API void sl_ctl_handed_over(struct sl_ctl *c);

/*
 * The proxy drains: from here on the server answers help and the show commands only (the
 * others: "sluice is draining"), and "shutdown" no more. Returns once the command in progress
 * was answered (a running profile is cut short), so that no change runs into the drain. NULL
 * is ignored. Not from a callback.
 */
SL_API void sl_ctl_draining(struct sl_ctl *c);

/*
 * Stops serving (after the request in progress is answered), closes every client, removes the
 * socket file and frees <c>. NULL is ignored. Not from a callback.
 */
SL_API void sl_ctl_stop(struct sl_ctl *c);

#endif /* SLUICE_CTL_H */
