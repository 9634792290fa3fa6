// SPDX-License-Identifier: MIT
/*
 * The admin endpoint's acceptor (admin_accept.h): a thread of its own accepts on the endpoint's
 * listener and hands each connection to the libmicrohttpd daemon (MHD_add_connection()), so
 * that the limits are sluice's, not the library's:
 * - a connection past max_per_source from one address is closed at once and counted;
 * - at max_connections open, the listener is not polled: new connections wait in the backlog;
 * - an accept that fails for want of fds or memory (this process's shortage) stops accepting
 *   for ACCEPT_MUTE_MS and says so once. The library's own accept busy-waits there while it has
 *   no connection open, taking a whole CPU.
 * A connection counts for its address from its accept until the daemon's notice that it closed;
 * the counts are under <mu>, as the acceptor and the daemon's thread both change them.
 */
#include "admin/admin_accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/sock.h>

#define ACCEPT_MUTE_MS 100 /* an accept short of fds or memory waits this long to try again */
#define ACCEPT_BATCH 16    /* accepts per wake-up at most, then the wake fd is looked at */

/* An address with connections open to the endpoint, and how many. */
struct peer {
	uint8_t ip[16];
	uint8_t len; /* bytes of ip: 4 or 16 */
	unsigned n;  /* 0: a free entry */
};

struct sl__admin_acceptor {
	int lfd;    /* the endpoint's listener (not ours to close) */
	int wakefd; /* eventfd: a connection closed, or stop */
	struct sl_proxy *p;
	struct sl_admin_limits limits;
	struct MHD_Daemon *d; /* set by run */
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	pthread_mutex_t mu;
	unsigned open;      /* connections accepted and not yet closed; under mu */
	struct peer *peers; /* limits.max_connections entries; under mu */
};

int
sl__admin_acceptor_create(struct sl__admin_acceptor **out, int lfd, struct sl_proxy *p,
                          const struct sl_admin_limits *l)
{
	struct sl__admin_acceptor *acc;

	*out = NULL;
	acc = calloc(1, sizeof(*acc));
	if (acc == NULL)
		return -ENOMEM;
	acc->peers = calloc(l->max_connections, sizeof(*acc->peers));
	acc->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (acc->peers == NULL || acc->wakefd == -1) {
		int err = acc->peers == NULL ? -ENOMEM : -errno;

		free(acc->peers);
		free(acc);
		return err;
	}
	acc->lfd = lfd;
	acc->p = p;
	acc->limits = *l;
	pthread_mutex_init(&acc->mu, NULL);
	*out = acc;
	return 0;
}

static void
wake(struct sl__admin_acceptor *acc)
{
	uint64_t one = 1;

	/* a full counter (2^64 - 2 wake-ups unread) wakes the acceptor as well */
	(void)!write(acc->wakefd, &one, sizeof(one));
}

/* The entry of <sa>'s address among the open connections' (NULL: none, or not IP); with
 * <take>, a free one for it when it has none. Under mu. */
static struct peer *
peer_of(struct sl__admin_acceptor *acc, const struct sockaddr *sa, bool take)
{
	const void *ip;
	struct peer *free_one = NULL;
	size_t len;

	if (sa->sa_family == AF_INET) {
		ip = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		len = 4;
	} else if (sa->sa_family == AF_INET6) {
		ip = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		len = 16;
	} else {
		return NULL;
	}
	for (unsigned i = 0; i < acc->limits.max_connections; i++) {
		struct peer *e = &acc->peers[i];

		if (e->n == 0) {
			free_one = free_one != NULL ? free_one : e;
			continue;
		}
		if (e->len == len && memcmp(e->ip, ip, len) == 0)
			return e;
	}
	if (!take || free_one == NULL)
		return NULL;
	memcpy(free_one->ip, ip, len);
	free_one->len = (uint8_t)len;
	return free_one;
}

void
sl__admin_acceptor_notice(void *cls, struct MHD_Connection *c, void **ctx,
                          enum MHD_ConnectionNotificationCode what)
{
	struct sl__admin_acceptor *acc = cls;
	const union MHD_ConnectionInfo *ci;
	struct peer *e;

	pthread_mutex_lock(&acc->mu);
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		/* counted at its accept: find the entry it counts in */
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		*ctx = ci != NULL ? peer_of(acc, ci->client_addr, false) : NULL;
	} else {
		if ((e = *ctx) != NULL)
			e->n--;
		*ctx = NULL;
		acc->open--;
	}
	pthread_mutex_unlock(&acc->mu);
	if (what != MHD_CONNECTION_NOTIFY_STARTED)
		wake(acc); /* a place is free: the listener may be polled again */
}

/* Counts <fd> from <sa> in and hands it to the daemon, or closes it when its address has
 * max_per_source open already. */
static void
admit(struct sl__admin_acceptor *acc, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct peer *e;

	pthread_mutex_lock(&acc->mu);
	e = peer_of(acc, sa, true);
	if (e != NULL && acc->limits.max_per_source != 0 && e->n >= acc->limits.max_per_source) {
		pthread_mutex_unlock(&acc->mu);
		close(fd);
		sl_proxy_count_admin_refused(acc->p);
		return;
	}
	if (e != NULL)
		e->n++;
	acc->open++;
	pthread_mutex_unlock(&acc->mu);
	if (MHD_add_connection(acc->d, fd, sa, len) == MHD_YES)
		return;
	/* closed by the daemon with no notice (out of memory): not open */
	pthread_mutex_lock(&acc->mu);
	if (e != NULL)
		e->n--;
	acc->open--;
	pthread_mutex_unlock(&acc->mu);
}

/* Whether max_connections are open: the listener is left to its backlog then. */
static bool
at_limit(struct sl__admin_acceptor *acc)
{
	bool full;

	pthread_mutex_lock(&acc->mu);
	full = acc->open >= acc->limits.max_connections;
	pthread_mutex_unlock(&acc->mu);
	return full;
}

static void *
acceptor_run(void *arg)
{
	struct sl__admin_acceptor *acc = arg;
	uint64_t muted_until = 0; /* sl_clock_ns(); 0: not muted */

	/* relaxed: the flag carries no data (pthread_join() orders the rest) */
	while (!atomic_load_explicit(&acc->stop, memory_order_relaxed)) {
		struct pollfd pfd[2];
		bool full, muted;
		uint64_t now = sl_clock_ns(), drained;

		full = at_limit(acc);
		muted = now < muted_until;
		pfd[0] = (struct pollfd){.fd = acc->wakefd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = acc->lfd, .events = full || muted ? 0 : POLLIN};
		if (poll(pfd, 2, muted ? (int)((muted_until - now) / 1000000u) + 1 : -1) == -1 &&
		    errno != EINTR) {
			sl_log_error("admin: poll: %s; the endpoint stops accepting",
			             strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			(void)!read(acc->wakefd, &drained, sizeof(drained));
		if (pfd[1].revents == 0)
			continue;
		for (int i = 0; i < ACCEPT_BATCH && !full; i++) {
			struct sockaddr_storage ss = {0};
			socklen_t len = sizeof(ss);
			int fd = accept4(acc->lfd, (struct sockaddr *)&ss, &len,
			                 SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd == -1 && sl_sock_error_is_local(-errno)) {
				/* the client stays queued and the listener readable: a poll
				 * would spin on it */
				if (muted_until == 0)
					sl_log_warn("admin: cannot accept a connection: %s (this "
					            "process's shortage); trying again every %d ms",
					            strerror(errno), ACCEPT_MUTE_MS);
				muted_until = sl_clock_ns() + (uint64_t)ACCEPT_MUTE_MS * 1000000u;
				break;
			}
			if (fd == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (fd == -1)
				continue; /* the client left already (ECONNABORTED, ...) */
			if (muted_until != 0)
				sl_log_info("admin: accepting connections again");
			muted_until = 0;
			admit(acc, fd, (struct sockaddr *)&ss, len);
			full = at_limit(acc);
		}
	}
	return NULL;
}

int
sl__admin_acceptor_run(struct sl__admin_acceptor *acc, struct MHD_Daemon *d)
{
	int err;

	acc->d = d;
	err = pthread_create(&acc->thread, NULL, acceptor_run, acc);
	if (err != 0)
		return -err;
	acc->running = true;
	return 0;
}

void
sl__admin_acceptor_halt(struct sl__admin_acceptor *acc)
{
	if (acc == NULL || !acc->running)
		return;
	atomic_store_explicit(&acc->stop, true, memory_order_relaxed); /* relaxed: as above */
	wake(acc);
	pthread_join(acc->thread, NULL);
	acc->running = false;
}

void
sl__admin_acceptor_free(struct sl__admin_acceptor *acc)
{
	if (acc == NULL)
		return;
	sl__admin_acceptor_halt(acc);
	close(acc->wakefd);
	pthread_mutex_destroy(&acc->mu);
	free(acc->peers);
	free(acc);
}
