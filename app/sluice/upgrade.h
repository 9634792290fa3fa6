/* SPDX-License-Identifier: MIT */
/*
 * Binary upgrade: a new sluice takes the running one's listening sockets over the unix socket
 * named by upgrade_socket (SCM_RIGHTS), starts serving on them, and the old one then drains
 * and exits. The accept queues are shared, so no connection waiting in them is lost, and the
 * old process's sessions run on until they end (or its drain deadline).
 *
 * The conversation, one SOCK_SEQPACKET message each (docs/operations.md; each side checks what
 * comes with src/proxy/handover_msg.h's parser, and gives up on anything else):
 *   new -> old   "sluice-upgrade 3 take" (an old process that refuses it as an unknown request,
 *                one from before that version, is asked again with "sluice-upgrade 2 take",
 *                and one that refuses that, from before source bans were handed over, with
 *                "sluice-upgrade 1 take")
 *   old -> new   "L\n<name>\n<name>..." with one listening socket per name (as many as needed),
 *                "A" with the admin endpoint's socket (if it has one), "C" with the control
 *                socket's (likewise),
 *                "U" with the upgrade socket itself,
 *                for version 2: "K\n<listener>\n<prefix> <remaining_ms>..." per listener with
 *                source bans running, up to 64 a message and SL__HANDOVER_BANS_MAX in all,
 *                then "E <pid>"
 *   new -> old   "R <pid>"  once its proxy and admin endpoint run
 *   old -> new   "M\n<listener>\n<backend>\n<client>\n<start_ms> <conn_ms> <bytes in> <bytes out>
 *                <in ended> <out ended>" with the client and backend sockets, for each
 *                forwarding session that emptied its buffers in time (sl_proxy_export())
 *   old -> new   "B"        the old process stops serving the upgrade socket and drains what
 *                           stayed (sessions still connecting, or that could not empty)
 *   new -> old   "T <n>"    for version 3: it read n "M" messages (the old process counts the
 *                           rest as lost, as it does when no "T" comes within 10 s)
 * If the new process goes away before "R", the old one logs it and serves on as before.
 *
 * Threads: upgrade_serve() starts one thread that serves the socket until upgrade_stop(); on
 * "R" it signals the main thread with UPGRADE_SIGNAL (signals.h). The rest is the main thread's.
 */
#ifndef SLUICE_APP_UPGRADE_H
#define SLUICE_APP_UPGRADE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <sluice/proxy.h>

struct upgrade;
struct sl_admin;

/* What a new process took from the old one (upgrade_take()). */
struct upgrade_take {
	struct sl_proxy_socket *socks; /* the listening sockets, for sl_proxy_inherit() */
	size_t nsocks;
	int admin_fd;   /* the admin endpoint's socket, or -1 */
	int ctl_fd;     /* the control socket's listener, or -1 */
	int upgrade_fd; /* the upgrade socket's listener, or -1 */
	int conn;       /* the conversation, until upgrade_finish() */
	pid_t old_pid;
	unsigned version;         /* of the request the old process answered (handover_msg.h) */
	struct upgrade_ban *bans; /* the old process's source bans, for upgrade_import_bans() */
	size_t nbans;
	size_t bans_over; /* bans past SL__HANDOVER_BANS_MAX, not taken */
};

/* A source ban the old process had, on its listener <listener>. */
struct upgrade_ban {
	char listener[SL_CONFIG_NAME_MAX];
	struct sl_cidr source;
	uint32_t remaining_ms;
};

/*
 * The new process's side, first half: connects to <path> and receives the old process's
 * sockets into <t>. 0, or a negative errno with the reason logged (nothing serves <path>, a
 * refusal, a broken conversation).
 */
int upgrade_take(struct upgrade_take *t, const char *path);

/*
 * Bans in <p>, before it listens, the sources the old process banned (<t>'s bans, then freed),
 * on the listener of the same name if it bans (source_limits.ban), with the time left of each
 * ban. Logs how many it carried and, once, how many it could not and why.
 */
void upgrade_import_bans(struct upgrade_take *t, struct sl_proxy *p);

/*
 * Second half, once this process serves: tells the old one, takes the sessions it moves into
 * <p> (sl_proxy_adopt()), and waits for its goodbye. 0 or a negative errno (logged; the old
 * process may then serve on beside this one). Closes whatever of <t> is left (sockets nobody
 * used, the conversation).
 */
int upgrade_finish(struct upgrade_take *t, struct sl_proxy *p);

/* Closes whatever of <t> is still open. Idempotent. */
void upgrade_take_release(struct upgrade_take *t);

/*
 * Listens for takeovers of <p> on <path> (mode 0600), or takes <fd> when not -1 (handed over by
 * the previous process); no thread yet, so it may come before privileges are dropped. 0, or a
 * negative errno (logged): -EADDRINUSE when a live process serves <path>.
 */
int upgrade_open(struct upgrade **out, const char *path, int fd, struct sl_proxy *p);

/*
 * Serves takeovers from a thread of its own, handing over <admin>'s socket too (may be NULL)
 * and the control socket's listener <ctl_fd> (-1: none),
 * and signals <main_thread> with UPGRADE_SIGNAL once a new process has taken over. 0, or a
 * negative errno (logged); upgrade_stop() frees <u> either way.
 */
int upgrade_serve(struct upgrade *u, struct sl_admin *admin, int ctl_fd, pthread_t main_thread);

/* The pid of a new process that took over from this one (it said it serves: its sessions may
 * still be moving), or 0 while none has. Any thread. */
pid_t upgrade_handed_over(struct upgrade *u);

/*
 * This process abandons the takeover that gave it <u>'s socket: the file is the old process's
 * still, which serves on, and upgrade_stop() leaves it. Main thread.
 */
void upgrade_keep_file(struct upgrade *u);

/*
 * Stops serving and frees <u>: a takeover under way ends first (the sessions it moves, or its
 * failure), then the socket file is removed unless a new process took it over, or
 * upgrade_keep_file() said it is the old one's. Returns the pid that took over, or 0 (NULL: 0).
 * Main thread, before the proxy drains (its sockets close then).
 */
pid_t upgrade_stop(struct upgrade *u);

#endif /* SLUICE_APP_UPGRADE_H */
