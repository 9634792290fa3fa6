// SPDX-License-Identifier: MIT
/*
 * Binary upgrade (upgrade.h): the old process's thread that hands its listening sockets to a
 * new process over a unix socket, and the new process's side of that conversation. Every
 * message from the peer goes through src/proxy/handover_msg.c's parser.
 */
#include "upgrade.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/admin.h>
#include <sluice/fdpass.h>
#include <sluice/log.h>
#include <sluice/sock.h>

#include "proxy/handover_msg.h"
#include "signals.h"

/* Listening sockets per "L" message: their names must fit one message (fdpass.h: 4096). */
#define SOCKS_PER_MSG 60
/* How long the old process waits for the new one to serve (workers and warm pools start). */
#define READY_WAIT_S 120
/* How long either side waits for any other message. */
#define STEP_WAIT_S 10
/* How long the old process's sessions may take to deliver what they hold before they move. */
#define MOVE_WAIT_MS 2000

struct upgrade {
	char path[SL_CONFIG_UNIX_PATH_MAX + 1];
	struct sl_sock_unix_file file; /* the socket file's identity once listening */
	int lfd;
	int stop_fd; /* eventfd: upgrade_stop() */
	pthread_t thread;
	struct sl_proxy *p;
	struct sl_admin *admin;
	int ctl_fd; /* the control socket's listener, or -1 */
	pthread_t main_thread;
	/* the pid that took over, 0 before: written once by the thread, read by the main one */
	_Atomic pid_t to;
	/* the pid whose takeover is under way (its request read), else 0: for upgrade_stop()'s
	 * line only */
	_Atomic pid_t taking;
	bool keep_file; /* upgrade_keep_file(): main thread only */
};

static void
set_wait(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
send_text(int fd, const char *text, const int *fds, size_t nfds)
{
	return sl_fdpass_send(fd, text, strlen(text), fds, nfds);
}

/*
 * Receives one message without descriptors from the new process and parses it into <*m>.
 * Returns its length (0: the peer closed) or -errno; <*err> is 0 once it parsed, else -errno
 * (-ECONNRESET when the peer closed; for a message that did not parse, the reason in <why>).
 */
static long
recv_msg(int fd, struct sl__handover_msg *m, int *err, char *why, size_t size)
{
	char buf[128];
	size_t nfds;
	int fds[1];
	long n = sl_fdpass_recv(fd, buf, sizeof(buf), fds, 0, &nfds);

	if (n > 0)
		*err = sl__handover_msg_parse(buf, (size_t)n, nfds, m, why, size);
	else
		*err = n < 0 ? (int)n : -ECONNRESET;
	return n;
}

/* ---- the old process's side ---- */

/*
 * Sends the source bans running now, "K" messages of up to SL__HANDOVER_BANS_PER_MSG bans of
 * one listener, at most SL__HANDOVER_BANS_MAX in all (the rest logged). Bans that cannot be
 * listed (no memory) or written are left out, logged: the upgrade goes on without them.
 */
static int
send_bans(struct upgrade *u, int c)
{
	struct sl__handover_ban hb[SL__HANDOVER_BANS_PER_MSG];
	char msg[SL__HANDOVER_MSG_MAX + 1];
	struct sl_proxy_ban *b;
	size_t n = 0, got, i = 0, sent = 0, unwritten = 0;
	int err = 0;

	if (sl_proxy_bans(u->p, NULL, 0, &n) != 0 || n == 0)
		return 0;
	got = n < SL__HANDOVER_BANS_MAX ? n : SL__HANDOVER_BANS_MAX;
	b = calloc(got, sizeof(*b));
	if (b == NULL || sl_proxy_bans(u->p, b, got, &n) != 0) {
		sl_log_warn("upgrade: %zu source bans stay behind: out of memory", n);
		free(b);
		return 0;
	}
	got = n < got ? n : got; /* some may have ended in between */
	while (err == 0 && i < got) {
		const char *name = b[i].listener;
		size_t k = 0;
		int len;

		/* sl_proxy_bans() lists a listener's bans together */
		for (; k < SL__HANDOVER_BANS_PER_MSG && i < got && strcmp(b[i].listener, name) == 0;
		     k++, i++) {
			hb[k].source = b[i].source;
			hb[k].remaining_ms = b[i].remaining_ms > UINT32_MAX
			                             ? UINT32_MAX
			                             : (uint32_t)b[i].remaining_ms;
		}
		len = sl__handover_msg_format_bans(name, hb, k, msg, sizeof(msg));
		if (len < 0) {
			unwritten += k;
			continue;
		}
		err = sl_fdpass_send(c, msg, (size_t)len, NULL, 0);
		sent += err == 0 ? k : 0;
	}
	free(b);
	if (n > SL__HANDOVER_BANS_MAX || unwritten > 0)
		sl_log_warn("upgrade: %zu source bans stay behind: %zu past the %d an upgrade "
		            "carries, %zu that cannot be written",
		            n - sent, n > SL__HANDOVER_BANS_MAX ? n - SL__HANDOVER_BANS_MAX : 0,
		            SL__HANDOVER_BANS_MAX, unwritten);
	if (sent > 0)
		sl_log_info("upgrade: handed %zu source ban%s over", sent, sent == 1 ? "" : "s");
	return err;
}

/* Sends every listening socket, the admin endpoint's and the upgrade socket, for <version> 2
 * the source bans, then "E". */
static int
send_sockets(struct upgrade *u, int c, unsigned version)
{
	size_t n = sl_proxy_sockets(u->p, NULL, 0), i = 0, now;
	struct sl_proxy_socket *s = calloc(n > 0 ? n : 1, sizeof(*s));
	char msg[4096];
	int fds[SOCKS_PER_MSG], err = 0;

	if (s == NULL)
		return -ENOMEM;
	/* the sockets are held (converse()): the count stays; never past what was copied */
	now = sl_proxy_sockets(u->p, s, n);
	n = now < n ? now : n;
	while (err == 0 && i < n) {
		size_t k = 0, len = (size_t)snprintf(msg, sizeof(msg), "L");

		for (; k < SOCKS_PER_MSG && i < n; k++, i++) {
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "\n%s", s[i].name);
			fds[k] = s[i].fd;
		}
		err = sl_fdpass_send(c, msg, len, fds, k);
	}
	free(s);
	if (err == 0 && u->admin != NULL) {
		fds[0] = sl_admin_listen_fd(u->admin);
		if (fds[0] >= 0)
			err = send_text(c, "A", fds, 1);
	}
	if (err == 0 && u->ctl_fd >= 0)
		err = send_text(c, "C", &u->ctl_fd, 1);
	if (err == 0)
		err = send_text(c, "U", &u->lfd, 1);
	/* last before "E": bans started while the sockets went are in */
	if (err == 0 && version >= 2)
		err = send_bans(u, c);
	if (err == 0) {
		snprintf(msg, sizeof(msg), "E %ld", (long)getpid());
		err = send_text(c, msg, NULL, 0);
	}
	return err;
}

/*
 * Moves every forwarding session that empties within MOVE_WAIT_MS to the new process, one "M"
 * message each with its two sockets, then closes them here. A session the new process cannot
 * take is lost with the conversation: it is closed here (logged). Returns how many were sent;
 * <*err> is 0, or why the rest could not be.
 */
static size_t
send_sessions(struct upgrade *u, int c, pid_t pid, int *err_out)
{
	struct sl_proxy_moved *m;
	size_t n, sent = 0, unwritten = 0;
	char msg[512];
	int err = 0;

	*err_out = 0;
	if (sl_proxy_export(u->p, MOVE_WAIT_MS, &m, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int fds[2] = {m[i].cfd, m[i].sfd};
		int len = err == 0 ? sl__handover_msg_format_moved(&m[i], msg, sizeof(msg)) : 0;

		/* one the new process would refuse stays out: the rest still go */
		if (len < 0)
			unwritten++;
		else if (err == 0) {
			err = sl_fdpass_send(c, msg, (size_t)len, fds, 2);
			sent += err == 0;
		}
		close(fds[0]);
		close(fds[1]);
	}
	free(m);
	if (unwritten > 0)
		sl_log_error("upgrade: %zu of %zu sessions cannot be described to pid %ld (a name "
		             "or client address it would refuse): they are closed",
		             unwritten, n, (long)pid);
	if (err != 0)
		sl_log_error("upgrade: could not hand %zu of %zu sessions to pid %ld (%s): they "
		             "are closed",
		             n - sent - unwritten, n, (long)pid, strerror(-err));
	if (sent < n)
		sl_proxy_count_moves_lost(u->p, n - sent);
	*err_out = err;
	return sent;
}

/*
 * After "B" to a new process that asked with version 3: waits for its "T <n>", the sessions it
 * read. Those it did not read (it went away with them still queued in the socket, which the
 * kernel then closed) are counted as lost here; the new process counts those it read and could
 * not take. <send_err> is how the sends ended: after a send that found no room for
 * STEP_WAIT_S (-EAGAIN) the new process is not reading, so no count can come, and none is
 * waited for. Returns how many it read.
 */
static size_t
confirm_sessions(struct upgrade *u, int c, pid_t pid, size_t sent, int send_err)
{
	struct sl__handover_msg in;
	char why[128];
	long n = send_err;
	int err = send_err;

	if (send_err != -EAGAIN) {
		set_wait(c, STEP_WAIT_S);
		n = recv_msg(c, &in, &err, why, sizeof(why));
		/* a peer that closed with messages unread reads as a reset first: what it sent
		 * before (its count) is still queued behind that */
		if (n == -ECONNRESET)
			n = recv_msg(c, &in, &err, why, sizeof(why));
	}
	if (err == 0 && in.kind == SL__HANDOVER_TAKEN && in.taken == sent)
		return sent;
	if (err == 0 && in.kind == SL__HANDOVER_TAKEN && in.taken < sent) {
		sl_log_error("upgrade: pid %ld read %lu of the %zu sessions sent to it: the "
		             "other %zu are lost (closed with its end of the socket)",
		             (long)pid, (unsigned long)in.taken, sent, sent - in.taken);
		sl_proxy_count_moves_lost(u->p, sent - in.taken);
		return in.taken;
	}
	if (err == 0)
		snprintf(why, sizeof(why),
		         in.kind == SL__HANDOVER_TAKEN ? "it counted more than were sent"
		                                       : "it sent something else");
	else if (send_err == -EAGAIN)
		snprintf(why, sizeof(why), "it stopped reading them for %d s", STEP_WAIT_S);
	else if (n == -EAGAIN)
		snprintf(why, sizeof(why), "no answer in %d s", STEP_WAIT_S);
	else if (n == 0 || n == -ECONNRESET)
		snprintf(why, sizeof(why), "it went away");
	else if (n < 0)
		snprintf(why, sizeof(why), "%s", strerror((int)-n));
	sl_log_error("upgrade: pid %ld did not confirm the %zu session%s sent to it (%s): "
	             "counted as lost",
	             (long)pid, sent, sent == 1 ? "" : "s", why);
	sl_proxy_count_moves_lost(u->p, sent);
	return 0;
}

/* One conversation on <c> from <pid>. true once the new process took over. */
static bool
converse(struct upgrade *u, int c, pid_t pid)
{
	struct sl__handover_msg in;
	char why[128];
	unsigned version;
	size_t sent;
	long n;
	int err;

	set_wait(c, STEP_WAIT_S);
	n = recv_msg(c, &in, &err, why, sizeof(why));
	if (n == -EMSGSIZE) {
		/* sl_fdpass_recv() closed what came with it */
		sl_log_warn("upgrade: pid %ld on %s sent file descriptors, which no request "
		            "carries; refused",
		            (long)pid, u->path);
		send_text(c, "X a request carries no file descriptors", NULL, 0);
		return false;
	}
	if (err != 0 || in.kind != SL__HANDOVER_TAKE) {
		sl_log_warn("upgrade: pid %ld on %s sent no upgrade request; ignored", (long)pid,
		            u->path);
		if (n > 0)
			send_text(c,
			          "X unknown request: expected \"" SL__HANDOVER_REQUEST_CONFIRM
			          "\", \"" SL__HANDOVER_REQUEST_BANS "\" or \"" SL__HANDOVER_REQUEST
			          "\"",
			          NULL, 0);
		return false;
	}
	version = in.version;
	sl_log_info("upgrade: pid %ld takes over the listeners", (long)pid);
	/* relaxed: a pid for a log line, nothing read through it */
	atomic_store_explicit(&u->taking, pid, memory_order_relaxed);
	/* no reload closes or re-opens a listener from here (its fds go by number), to the end
	 * of a takeover, or until this one fails */
	sl_proxy_hold_sockets(u->p, true);
	err = send_sockets(u, c, version);
	if (err != 0) {
		sl_log_error("upgrade: cannot hand the sockets to pid %ld: %s; serving on",
		             (long)pid, strerror(-err));
		sl_proxy_hold_sockets(u->p, false);
		return false;
	}
	set_wait(c, READY_WAIT_S);
	n = recv_msg(c, &in, &err, why, sizeof(why));
	if (err != 0 || in.kind != SL__HANDOVER_READY) {
		if (n > 0 && err == 0)
			snprintf(why, sizeof(why), "not \"R <pid>\"");
		sl_log_warn("upgrade: pid %ld went away before it was ready (%s%s); serving on",
		            (long)pid,
		            n < 0    ? strerror((int)-n)
		            : n == 0 ? "it closed the connection"
		                     : "it sent something else: ",
		            n > 0 ? why : "");
		sl_proxy_hold_sockets(u->p, false);
		return false;
	}
	/* the new process serves from here: the main thread stops this one's control socket and
	 * admin endpoint while the sessions move (both processes would answer on them) */
	/* R1: pairs with A1 in upgrade_handed_over(): a thread that reads the pid sees this
	 * thread done with the admin endpoint's fd (send_sockets()), which it may then free */
	atomic_store_explicit(&u->to, pid, memory_order_release);
	pthread_kill(u->main_thread, UPGRADE_SIGNAL);
	set_wait(c, STEP_WAIT_S);
	sent = send_sessions(u, c, pid, &err);
	/* a new process that stopped reading would keep "B" waiting as long again */
	if (err != -EAGAIN)
		err = send_text(c, "B", NULL, 0);
	if (version >= 3)
		sent = confirm_sessions(u, c, pid, sent, err);
	sl_log_info("upgrade: moved %zu session%s to pid %ld", sent, sent == 1 ? "" : "s",
	            (long)pid);
	return true;
}

static void *
serve_run(void *arg)
{
	struct upgrade *u = arg;

	for (;;) {
		struct pollfd pf[2] = {{.fd = u->lfd, .events = POLLIN},
		                       {.fd = u->stop_fd, .events = POLLIN}};
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int c;

		if (poll(pf, 2, -1) == -1 && errno != EINTR)
			break;
		if (pf[1].revents != 0)
			break;
		if (pf[0].revents == 0)
			continue;
		c = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1)
			continue;
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			sl_log_warn(
			        "upgrade: refused a connection on %s from uid %ld: only root or "
			        "this process's user may take over",
			        u->path, len == sizeof(cred) ? (long)cred.uid : -1L);
			close(c);
			continue;
		}
		if (converse(u, c, cred.pid)) {
			close(c);
			break;
		}
		/* relaxed: as in converse() */
		atomic_store_explicit(&u->taking, 0, memory_order_relaxed);
		close(c);
	}
	return NULL;
}

int
upgrade_open(struct upgrade **out, const char *path, int fd, struct sl_proxy *p)
{
	struct upgrade *u = calloc(1, sizeof(*u));
	int err;

	*out = NULL;
	if (u == NULL) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	snprintf(u->path, sizeof(u->path), "%s", path);
	u->p = p;
	u->stop_fd = -1;
	atomic_init(&u->to, 0);
	u->lfd = fd >= 0 ? fd : sl_sock_unix_listen(path, SOCK_SEQPACKET, 0600);
	if (u->lfd < 0) {
		const char *what = sl_sock_unix_in_the_way(path);

		err = u->lfd;
		if (err == -EEXIST && what != NULL)
			sl_log_error(
			        "cannot serve upgrades on %s: %s is there, which sluice will not "
			        "replace with its socket",
			        path, what);
		else
			sl_log_error("cannot serve upgrades on %s: %s%s", path, strerror(-err),
			             err == -EADDRINUSE
			                     ? " (a running sluice serves it: start this "
			                       "one with --upgrade to take over from it)"
			                     : "");
		free(u);
		return err;
	}
	sl_sock_unix_file_of(u->path, &u->file);
	*out = u;
	return 0;
}

int
upgrade_serve(struct upgrade *u, struct sl_admin *admin, int ctl_fd, pthread_t main_thread)
{
	int err;

	u->admin = admin;
	u->ctl_fd = ctl_fd;
	u->main_thread = main_thread;
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd == -1) {
		err = -errno;
		goto err_log;
	}
	err = -pthread_create(&u->thread, NULL, serve_run, u);
	if (err != 0) {
		close(u->stop_fd);
		u->stop_fd = -1;
		goto err_log;
	}
	sl_log_info("upgrade socket on %s: 'sluice --upgrade' with this configuration takes over",
	            u->path);
	return 0;

err_log:
	sl_log_error("cannot serve upgrades on %s: %s", u->path, strerror(-err));
	return err;
}

pid_t
upgrade_handed_over(struct upgrade *u)
{
	/* A1: pairs with R1 in converse() */
	return u != NULL ? atomic_load_explicit(&u->to, memory_order_acquire) : 0;
}

void
upgrade_keep_file(struct upgrade *u)
{
	if (u != NULL)
		u->keep_file = true;
}

pid_t
upgrade_stop(struct upgrade *u)
{
	const uint64_t one = 1;
	pid_t to;
	int err;

	if (u == NULL)
		return 0;
	if (u->stop_fd >= 0) {
		/* relaxed: as in converse(); a takeover that ends meanwhile only makes the line
		 * early */
		pid_t taking = atomic_load_explicit(&u->taking, memory_order_relaxed);

		if (taking != 0 && upgrade_handed_over(u) == 0)
			sl_log_info(
			        "upgrade: the stop waits for pid %ld's takeover to end (it "
			        "says it is ready, or goes away; %d s at most): stop pid %ld to "
			        "give it up at once",
			        (long)taking, READY_WAIT_S, (long)taking);
		if (write(u->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			sl_log_warn("upgrade: cannot stop the upgrade thread: %s", strerror(errno));
		pthread_join(u->thread, NULL);
		close(u->stop_fd);
	}
	close(u->lfd);
	/* the file is the new process's now, if one took over; the old one's, if this one gave
	 * up the takeover; another process's if it bound the path since */
	to = upgrade_handed_over(u);
	if (to == 0 && !u->keep_file && (err = sl_sock_unix_remove(u->path, &u->file)) != 0 &&
	    err != -ENOENT)
		sl_log_info("upgrade socket %s stays behind: %s%s", u->path,
		            err == -ESTALE ? "another process's socket is there now"
		                           : strerror(-err),
		            err == -ESTALE ? "" : " (the next start replaces it)");
	free(u);
	return to;
}

/* ---- the new process's side ---- */

static void
close_all(const int *fds, size_t nfds)
{
	for (size_t k = 0; k < nfds; k++)
		close(fds[k]);
}

/* Takes an "L" message's names, one per descriptor <fds>, into t->socks. */
static int
take_listeners(struct upgrade_take *t, const struct sl__handover_msg *m, const int *fds)
{
	struct sl_proxy_socket *s;

	if (m->nnames == 0)
		return 0;
	s = realloc(t->socks, (t->nsocks + m->nnames) * sizeof(*s));
	if (s == NULL) {
		close_all(fds, m->nnames);
		return -ENOMEM;
	}
	t->socks = s;
	for (size_t k = 0; k < m->nnames; k++) {
		memcpy(s[t->nsocks].name, m->names[k], sizeof(s[t->nsocks].name));
		s[t->nsocks++].fd = fds[k];
	}
	return 0;
}

/* Takes a "K" message's bans into t->bans, up to SL__HANDOVER_BANS_MAX in all. */
static int
take_bans(struct upgrade_take *t, const struct sl__handover_msg *m)
{
	size_t room = SL__HANDOVER_BANS_MAX - t->nbans, k = m->nbans < room ? m->nbans : room;
	struct upgrade_ban *b;

	t->bans_over += m->nbans - k;
	if (k == 0)
		return 0;
	b = realloc(t->bans, (t->nbans + k) * sizeof(*b));
	if (b == NULL) {
		t->bans_over += k;
		return 0; /* the upgrade goes on without them; upgrade_import_bans() says so */
	}
	t->bans = b;
	for (size_t i = 0; i < k; i++) {
		struct upgrade_ban *o = &b[t->nbans++];

		memcpy(o->listener, m->listener, sizeof(o->listener));
		o->source = m->bans[i].source;
		o->remaining_ms = m->bans[i].remaining_ms;
	}
	return 0;
}

/*
 * One message of the old process's answer to a request of <version>. 1 at the end ("E"), 0
 * for more, or -errno; -EPROTONOSUPPORT (not logged) when the old process refused a version
 * after 1 as an unknown request: one from before that version.
 */
static int
take_one(struct upgrade_take *t, const char *path, unsigned version)
{
	struct sl__handover_msg m;
	char msg[SL__HANDOVER_MSG_MAX + 1], why[160];
	int fds[SL_FDPASS_MAX], *slot;
	size_t nfds;
	long n = sl_fdpass_recv(t->conn, msg, sizeof(msg), fds, SL_FDPASS_MAX, &nfds);

	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (sl__handover_msg_parse(msg, (size_t)n, nfds, &m, why, sizeof(why)) != 0) {
		close_all(fds, nfds);
		sl_log_error("cannot take over from %s: a bad message: %s", path, why);
		return -EPROTO;
	}
	switch (m.kind) {
	case SL__HANDOVER_LISTENERS:
		return take_listeners(t, &m, fds);
	case SL__HANDOVER_ADMIN:
	case SL__HANDOVER_CTL:
	case SL__HANDOVER_UPGRADE:
		slot = m.kind == SL__HANDOVER_ADMIN ? &t->admin_fd
		       : m.kind == SL__HANDOVER_CTL ? &t->ctl_fd
		                                    : &t->upgrade_fd;
		if (*slot >= 0)
			close(*slot); /* sent twice: the last one counts */
		*slot = fds[0];
		return 0;
	case SL__HANDOVER_BANS:
		if (version < 2)
			break;
		return take_bans(t, &m);
	case SL__HANDOVER_END:
		t->old_pid = m.pid;
		return 1;
	case SL__HANDOVER_REFUSED:
		if (version >= 2 && t->nsocks == 0 &&
		    strncmp(m.reason, "unknown request", strlen("unknown request")) == 0)
			return -EPROTONOSUPPORT;
		sl_log_error("cannot take over from %s: it refused: %s", path, m.reason);
		return -EPROTO;
	default:
		break;
	}
	close_all(fds, nfds);
	sl_log_error("cannot take over from %s: a message out of turn", path);
	return -EPROTO;
}

/* Connects to <path> and asks for its sockets with request <version>. 0 or -errno. */
static int
take_ask(struct upgrade_take *t, const char *path, unsigned version)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->admin_fd = t->ctl_fd = t->upgrade_fd = -1;
	t->conn = sl_sock_unix_connect(path, SOCK_SEQPACKET);
	if (t->conn < 0) {
		err = t->conn;
		sl_log_error("cannot take over: nothing serves %s (%s): is the running sluice's "
		             "upgrade_socket this path?",
		             path, strerror(-err));
		return err;
	}
	t->version = version;
	set_wait(t->conn, STEP_WAIT_S);
	err = send_text(t->conn,
	                version >= 3   ? SL__HANDOVER_REQUEST_CONFIRM
	                : version == 2 ? SL__HANDOVER_REQUEST_BANS
	                               : SL__HANDOVER_REQUEST,
	                NULL, 0);
	while (err == 0)
		err = take_one(t, path, version);
	return err < 0 ? err : 0;
}

int
upgrade_take(struct upgrade_take *t, const char *path)
{
	int err = take_ask(t, path, SL__HANDOVER_VERSION);

	if (err == -EPROTONOSUPPORT) {
		upgrade_take_release(t);
		sl_log_info(
		        "upgrade: the running sluice takes no count of the sessions this process "
		        "reads (a version before that): any lost on the way are counted as moved "
		        "there");
		err = take_ask(t, path, 2);
	}
	if (err == -EPROTONOSUPPORT) {
		upgrade_take_release(t);
		sl_log_info("upgrade: the running sluice hands no source bans over (a version "
		            "before that): its bans are not carried");
		err = take_ask(t, path, 1);
	}
	if (err < 0) {
		if (t->conn >= 0)
			sl_log_error("cannot take over from %s: the conversation broke off: %s",
			             path, strerror(-err));
		upgrade_take_release(t);
		return err;
	}
	sl_log_info("upgrade: took %zu listening socket%s%s from pid %ld", t->nsocks,
	            t->nsocks == 1 ? "" : "s", t->admin_fd >= 0 ? " and the admin endpoint's" : "",
	            (long)t->old_pid);
	return 0;
}

void
upgrade_import_bans(struct upgrade_take *t, struct sl_proxy *p)
{
	size_t carried = 0, unknown = 0, wider = 0, full = 0, displaced = 0;

	for (size_t i = 0; i < t->nbans; i++) {
		const struct upgrade_ban *b = &t->bans[i];
		int err = sl_proxy_import_ban(p, b->listener, &b->source, b->remaining_ms);

		if (err >= 0)
			carried++;
		if (err == 1) /* an earlier one gave way to this one, ending later */
			displaced++;
		else if (err == -ERANGE)
			wider++;
		else if (err == -ENOSPC)
			full++;
		else if (err < 0)
			unknown++; /* no such listener here, or it bans no source */
	}
	if (carried > displaced)
		sl_log_info("upgrade: %zu source ban%s carried over from pid %ld",
		            carried - displaced, carried - displaced == 1 ? "" : "s",
		            (long)t->old_pid);
	if (unknown + wider + full + displaced + t->bans_over > 0)
		sl_log_warn(
		        "upgrade: %zu source bans of pid %ld dropped: %zu on a listener that is "
		        "gone or bans no source here, %zu on a prefix wider than its "
		        "prefix4/prefix6 here, %zu that found no entry in its source table, %zu "
		        "that gave way to one ending later, %zu past the %d an upgrade carries",
		        unknown + wider + full + displaced + t->bans_over, (long)t->old_pid,
		        unknown, wider, full, displaced, t->bans_over, SL__HANDOVER_BANS_MAX);
	free(t->bans);
	t->bans = NULL;
	t->nbans = t->bans_over = 0;
}

int
upgrade_finish(struct upgrade_take *t, struct sl_proxy *p)
{
	struct sl__handover_msg in;
	char msg[640], why[160];
	int fds[2];
	size_t nfds, moved = 0, lost = 0, garbled = 0;
	long n;
	int err, adopt_err = 0;

	snprintf(msg, sizeof(msg), "R %ld", (long)getpid());
	err = send_text(t->conn, msg, NULL, 0);
	/* the sessions it moves, then its goodbye */
	while (err == 0) {
		n = sl_fdpass_recv(t->conn, msg, sizeof(msg), fds, 2, &nfds);
		if (n <= 0) {
			err = n < 0 ? (int)n : -ECONNRESET;
			break;
		}
		err = sl__handover_msg_parse(msg, (size_t)n, nfds, &in, why, sizeof(why));
		if (err == 0 && in.kind == SL__HANDOVER_BYE)
			break;
		if (err != 0 || in.kind != SL__HANDOVER_MOVED) {
			close_all(fds, nfds);
			if (nfds == 2) { /* as a session's: sent as one, lost here */
				sl_proxy_count_moves_lost(p, 1);
				garbled++;
			}
			sl_log_warn("upgrade: pid %ld sent %s%s", (long)t->old_pid,
			            err != 0 ? "a bad message: " : "a message out of turn",
			            err != 0 ? why : "");
			err = -EPROTO;
			break;
		}
		in.moved.cfd = fds[0];
		in.moved.sfd = fds[1];
		adopt_err = sl_proxy_adopt(p, &in.moved);
		if (adopt_err == 0)
			moved++;
		else
			lost++;
	}
	/* version 3: how many it read, whatever became of them or of the conversation (a send
	 * that fails finds the old process gone, which then has nobody to tell) */
	if (t->version >= 3) {
		int told;

		snprintf(msg, sizeof(msg), "T %zu", moved + lost + garbled);
		told = send_text(t->conn, msg, NULL, 0);
		if (told != 0 && moved > 0)
			sl_log_warn("upgrade: cannot tell pid %ld how many sessions this process "
			            "read (%s): it counts the %zu taken over here as lost",
			            (long)t->old_pid, strerror(-told), moved);
	}
	if (lost > 0)
		sl_log_error("upgrade: %zu session%s from pid %ld could not be taken over (%s): "
		             "closed",
		             lost, lost == 1 ? "" : "s", (long)t->old_pid, strerror(-adopt_err));
	if (err != 0)
		sl_log_warn("upgrade: pid %ld did not finish the takeover (%s), after %zu "
		            "session%s taken over: it may still serve beside this process",
		            (long)t->old_pid, strerror(-err), moved, moved == 1 ? "" : "s");
	else
		sl_log_info("upgrade: took %zu session%s over; pid %ld drains the rest and exits; "
		            "this process serves",
		            moved, moved == 1 ? "" : "s", (long)t->old_pid);
	upgrade_take_release(t);
	return err;
}

void
upgrade_take_release(struct upgrade_take *t)
{
	for (size_t k = 0; k < t->nsocks; k++)
		if (t->socks[k].fd >= 0)
			close(t->socks[k].fd);
	free(t->socks);
	t->socks = NULL;
	t->nsocks = 0;
	if (t->admin_fd >= 0)
		close(t->admin_fd);
	if (t->ctl_fd >= 0)
		close(t->ctl_fd);
	if (t->upgrade_fd >= 0)
		close(t->upgrade_fd);
	if (t->conn >= 0)
		close(t->conn);
	t->admin_fd = t->ctl_fd = t->upgrade_fd = t->conn = -1;
	free(t->bans);
	t->bans = NULL;
	t->nbans = t->bans_over = 0;
}
