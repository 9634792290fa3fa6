// SPDX-License-Identifier: MIT
/*
 * Binary upgrade (upgrade.h): the old process's thread that hands its listening sockets to a
 * new process over a unix socket, and the new process's side of that conversation.
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

#include "signals.h"

#define TAKE_REQUEST "sluice-upgrade 1 take"
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
	int lfd;
	int stop_fd; /* eventfd: upgrade_stop() */
	pthread_t thread;
	struct sl_proxy *p;
	struct sl_admin *admin;
	int ctl_fd; /* the control socket's listener, or -1 */
	pthread_t main_thread;
	/* the pid that took over, 0 before: written once by the thread, read by the main one */
	_Atomic pid_t to;
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

/* Receives one message without descriptors into <buf> (NUL-terminated). Length or -errno. */
static long
recv_text(int fd, char *buf, size_t size)
{
	size_t nfds;
	int fds[1];
	long n = sl_fdpass_recv(fd, buf, size - 1, fds, 0, &nfds);

	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* ---- the old process's side ---- */

/* Sends every listening socket, the admin endpoint's and the upgrade socket, then "E". */
static int
send_sockets(struct upgrade *u, int c)
{
	size_t n = sl_proxy_sockets(u->p, NULL, 0), i = 0;
	struct sl_proxy_socket *s = calloc(n > 0 ? n : 1, sizeof(*s));
	char msg[4096];
	int fds[SOCKS_PER_MSG], err = 0;

	if (s == NULL)
		return -ENOMEM;
	n = sl_proxy_sockets(u->p, s, n);
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
	if (err == 0) {
		snprintf(msg, sizeof(msg), "E %ld", (long)getpid());
		err = send_text(c, msg, NULL, 0);
	}
	return err;
}

/*
 * Moves every forwarding session that empties within MOVE_WAIT_MS to the new process, one "M"
 * message each with its two sockets, then closes them here. A session the new process cannot
 * take is lost with the conversation: it is closed here (logged).
 */
static void
send_sessions(struct upgrade *u, int c, pid_t pid)
{
	struct sl_proxy_moved *m;
	size_t n, sent = 0;
	char msg[512], client[SL_ADDR_STRLEN];
	int err = 0;

	if (sl_proxy_export(u->p, MOVE_WAIT_MS, &m, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int fds[2] = {m[i].cfd, m[i].sfd};

		if (err == 0) {
			snprintf(msg, sizeof(msg), "M\n%s\n%s\n%s\n%llu %u %llu %llu %d %d",
			         m[i].listener, m[i].backend,
			         sl_addr_format(&m[i].client, client, sizeof(client)),
			         (unsigned long long)m[i].start_ms, m[i].conn_ms,
			         (unsigned long long)m[i].bytes[0],
			         (unsigned long long)m[i].bytes[1], m[i].shut[0], m[i].shut[1]);
			err = send_text(c, msg, fds, 2);
			sent += err == 0;
		}
		close(fds[0]);
		close(fds[1]);
	}
	free(m);
	if (err != 0)
		sl_log_error("upgrade: could not hand %zu of %zu sessions to pid %ld (%s): they "
		             "are closed",
		             n - sent, n, (long)pid, strerror(-err));
	sl_log_info("upgrade: moved %zu session%s to pid %ld", sent, sent == 1 ? "" : "s",
	            (long)pid);
}

/* One conversation on <c> from <pid>. true once the new process took over. */
static bool
converse(struct upgrade *u, int c, pid_t pid)
{
	char msg[128];
	long n;
	int err;

	set_wait(c, STEP_WAIT_S);
	n = recv_text(c, msg, sizeof(msg));
	if (n <= 0 || strcmp(msg, TAKE_REQUEST) != 0) {
		sl_log_warn("upgrade: pid %ld on %s sent no upgrade request; ignored", (long)pid,
		            u->path);
		if (n > 0)
			send_text(c, "X unknown request: expected \"" TAKE_REQUEST "\"", NULL, 0);
		return false;
	}
	sl_log_info("upgrade: pid %ld takes over the listeners", (long)pid);
	err = send_sockets(u, c);
	if (err != 0) {
		sl_log_error("upgrade: cannot hand the sockets to pid %ld: %s; serving on",
		             (long)pid, strerror(-err));
		return false;
	}
	set_wait(c, READY_WAIT_S);
	n = recv_text(c, msg, sizeof(msg));
	if (n <= 0 || msg[0] != 'R') {
		sl_log_warn("upgrade: pid %ld went away before it was ready (%s); serving on",
		            (long)pid, n < 0 ? strerror((int)-n) : "it closed the connection");
		return false;
	}
	set_wait(c, STEP_WAIT_S);
	send_sessions(u, c, pid);
	send_text(c, "B", NULL, 0);
	/* relaxed: the signal below is what the main thread acts on; it reads this after */
	atomic_store_explicit(&u->to, pid, memory_order_relaxed);
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
			pthread_kill(u->main_thread, UPGRADE_SIGNAL);
			break;
		}
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
		err = u->lfd;
		sl_log_error("cannot serve upgrades on %s: %s%s", path, strerror(-err),
		             err == -EADDRINUSE ? " (a running sluice serves it: start this one "
		                                  "with --upgrade to take over from it)"
		                                : "");
		free(u);
		return err;
	}
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
	/* relaxed: see converse() */
	return u != NULL ? atomic_load_explicit(&u->to, memory_order_relaxed) : 0;
}

void
upgrade_stop(struct upgrade *u)
{
	const uint64_t one = 1;

	if (u == NULL)
		return;
	if (u->stop_fd >= 0) {
		if (write(u->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			sl_log_warn("upgrade: cannot stop the upgrade thread: %s", strerror(errno));
		pthread_join(u->thread, NULL);
		close(u->stop_fd);
	}
	close(u->lfd);
	/* the file is the new process's now, if one took over */
	if (upgrade_handed_over(u) == 0)
		unlink(u->path);
	free(u);
}

/* ---- the new process's side ---- */

/* Takes an "L" message's names (one per descriptor) into t->socks. */
static int
take_listeners(struct upgrade_take *t, char *names, const int *fds, size_t nfds)
{
	struct sl_proxy_socket *s = realloc(t->socks, (t->nsocks + nfds) * sizeof(*s));
	char *save = NULL, *name = strtok_r(names, "\n", &save);
	size_t k = 0;

	if (s == NULL)
		return -ENOMEM;
	t->socks = s;
	for (; name != NULL && k < nfds; name = strtok_r(NULL, "\n", &save), k++) {
		snprintf(s[t->nsocks].name, sizeof(s[t->nsocks].name), "%s", name);
		s[t->nsocks++].fd = fds[k];
	}
	if (k != nfds || name != NULL) {
		for (; k < nfds; k++)
			close(fds[k]);
		return -EPROTO;
	}
	return 0;
}

/* One message of the old process's answer. 1 at the end ("E"), 0 for more, or -errno. */
static int
take_one(struct upgrade_take *t, const char *path)
{
	char msg[4200];
	int fds[SL_FDPASS_MAX];
	size_t nfds;
	long n = sl_fdpass_recv(t->conn, msg, sizeof(msg) - 1, fds, SL_FDPASS_MAX, &nfds);

	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	msg[n] = '\0';
	if (msg[0] == 'L' && (msg[1] == '\n' || msg[1] == '\0'))
		return take_listeners(t, msg + 1, fds, nfds);
	if ((msg[0] == 'A' || msg[0] == 'C' || msg[0] == 'U') && msg[1] == '\0' && nfds == 1) {
		int *slot = msg[0] == 'A'   ? &t->admin_fd
		            : msg[0] == 'C' ? &t->ctl_fd
		                            : &t->upgrade_fd;

		if (*slot >= 0)
			close(*slot); /* sent twice: the last one counts */
		*slot = fds[0];
		return 0;
	}
	for (size_t k = 0; k < nfds; k++)
		close(fds[k]);
	if (msg[0] == 'E' && msg[1] == ' ') {
		t->old_pid = (pid_t)strtol(msg + 2, NULL, 10);
		return 1;
	}
	if (msg[0] == 'X')
		sl_log_error("cannot take over from %s: it refused: %s", path, msg + 1);
	return -EPROTO;
}

int
upgrade_take(struct upgrade_take *t, const char *path)
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
	set_wait(t->conn, STEP_WAIT_S);
	err = send_text(t->conn, TAKE_REQUEST, NULL, 0);
	while (err == 0)
		err = take_one(t, path);
	if (err < 0) {
		sl_log_error("cannot take over from %s: the conversation broke off: %s", path,
		             strerror(-err));
		upgrade_take_release(t);
		return err;
	}
	sl_log_info("upgrade: took %zu listening socket%s%s from pid %ld", t->nsocks,
	            t->nsocks == 1 ? "" : "s", t->admin_fd >= 0 ? " and the admin endpoint's" : "",
	            (long)t->old_pid);
	return 0;
}

/* Reads one space-separated unsigned number from <*at> into <*out>, moving past it. */
static bool
next_number(char **at, uint64_t *out)
{
	char *end;

	errno = 0;
	if (**at < '0' || **at > '9')
		return false;
	*out = strtoull(*at, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return false;
	*at = *end == ' ' ? end + 1 : end;
	return true;
}

/* Parses an "M" message's text (after "M\n") into <*m>. 0 or -EPROTO. */
static int
parse_moved(char *text, struct sl_proxy_moved *m)
{
	char *lines[4], *at = text;
	uint64_t v[6];

	memset(m, 0, sizeof(*m));
	/* four lines; the backend's may be empty */
	for (int i = 0; i < 4; i++) {
		lines[i] = at;
		at = strchr(at, '\n');
		if (at == NULL && i < 3)
			return -EPROTO;
		if (at != NULL)
			*at++ = '\0';
	}
	/* start_ms conn_ms bytes_in bytes_out in_ended out_ended */
	at = lines[3];
	for (size_t k = 0; k < SL_ARRAY_SIZE(v); k++)
		if (!next_number(&at, &v[k]))
			return -EPROTO;
	if (*at != '\0' || v[1] > UINT32_MAX || v[4] > 1 || v[5] > 1 ||
	    sl_addr_parse(&m->client, lines[2], true, NULL) != 0)
		return -EPROTO;
	snprintf(m->listener, sizeof(m->listener), "%s", lines[0]);
	snprintf(m->backend, sizeof(m->backend), "%s", lines[1]);
	m->start_ms = v[0];
	m->conn_ms = (uint32_t)v[1];
	m->bytes[0] = v[2];
	m->bytes[1] = v[3];
	m->shut[0] = v[4] != 0;
	m->shut[1] = v[5] != 0;
	return 0;
}

int
upgrade_finish(struct upgrade_take *t, struct sl_proxy *p)
{
	char msg[640];
	int fds[2];
	size_t nfds, moved = 0;
	long n;
	int err;

	snprintf(msg, sizeof(msg), "R %ld", (long)getpid());
	err = send_text(t->conn, msg, NULL, 0);
	/* the sessions it moves, then its goodbye */
	while (err == 0) {
		struct sl_proxy_moved m;

		n = sl_fdpass_recv(t->conn, msg, sizeof(msg) - 1, fds, 2, &nfds);
		if (n <= 0) {
			err = n < 0 ? (int)n : -ECONNRESET;
			break;
		}
		msg[n] = '\0';
		if (msg[0] == 'B' && nfds == 0)
			break;
		if (msg[0] != 'M' || msg[1] != '\n' || nfds != 2 || parse_moved(msg + 2, &m) != 0) {
			for (size_t k = 0; k < nfds; k++)
				close(fds[k]);
			err = -EPROTO;
			break;
		}
		m.cfd = fds[0];
		m.sfd = fds[1];
		if (sl_proxy_adopt(p, &m) == 0)
			moved++;
	}
	if (err != 0)
		sl_log_warn("upgrade: pid %ld did not finish the takeover (%s): it may still "
		            "serve beside this process",
		            (long)t->old_pid, strerror(-err));
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
}
