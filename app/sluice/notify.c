// SPDX-License-Identifier: MIT
/*
 * The sd_notify protocol for sluice (notify.h): readiness, stopping, status and watchdog
 * datagrams to $NOTIFY_SOCKET, written against sd_notify(3) and systemd.service(5) rather than
 * libsystemd. The watchdog pings come from a small thread of their own (why: the comment above
 * watchdog_main()). docs/operations.md shows the unit that uses this.
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/log.h>

/*
 * The main thread writes every field; the watchdog thread reads <fd>, <addr>, <addrlen> and
 * <watchdog_interval_us>, all written before pthread_create() and left alone until after
 * pthread_join(), and <stopping>, which <lock> guards.
 */
static struct {
	int fd; /* -1 = not open */
	bool opened;
	struct sockaddr_un addr;
	socklen_t addrlen;
	bool watchdog_running;
	pthread_t watchdog;
	uint64_t watchdog_interval_us;
	pthread_mutex_t lock; /* guards <stopping>; <wake> waits on it */
	pthread_cond_t wake;  /* CLOCK_MONOTONIC */
	bool stopping;
} notify_state = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

int
notify_open(void)
{
	static const struct timeval send_timeout = {.tv_sec = 1};
	const char *name;
	size_t len;
	int fd, err;

	if (notify_state.opened)
		return 0;
	name = getenv("NOTIFY_SOCKET");
	if (name == NULL || name[0] == '\0')
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len > sizeof(notify_state.addr.sun_path))
		return -EINVAL;
	memset(&notify_state.addr, 0, sizeof(notify_state.addr));
	notify_state.addr.sun_family = AF_UNIX;
	memcpy(notify_state.addr.sun_path, name, len);
	if (name[0] == '@')
		notify_state.addr.sun_path[0] = '\0'; /* abstract namespace: no file, no NUL end */
	/* the length counts the path's bytes; a path also gets its NUL when there is room */
	notify_state.addrlen =
	        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                    (name[0] == '/' && len < sizeof(notify_state.addr.sun_path)));
	/*
	 * blocking, as sd_notify's: a full receive queue must delay READY=1, not drop it (systemd
	 * would then time the start out); the send timeout bounds how long systemd can hold us
	 */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) == -1) {
		err = -errno;
		goto err_close_fd;
	}
	notify_state.fd = fd;
	notify_state.opened = true;
	return 0;

err_close_fd:
	close(fd);
	return err;
}

bool
notify_is_enabled(void)
{
	return notify_state.opened;
}

int
notify_send(const char *msg)
{
	ssize_t n;

	if (notify_state.fd < 0)
		return 0;
	do
		n = sendto(notify_state.fd, msg, strlen(msg), MSG_NOSIGNAL,
		           (const struct sockaddr *)&notify_state.addr, notify_state.addrlen);
	while (n == -1 && errno == EINTR);
	return n == -1 ? -errno : 0;
}

uint64_t
notify_watchdog_interval_us(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (usec == NULL)
		return 0;
	if (pid != NULL) {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno != 0 || end == pid || *end != '\0' || v != (unsigned long long)getpid())
			return 0; /* meant for another process (a parent that exec'd us, say) */
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || end == usec || *end != '\0' || v == 0)
		return 0;
	/* sd_watchdog_enabled(3): ping at half the interval, so one late ping is not fatal; not
	 * more often than every millisecond (a WATCHDOG_USEC of 1 made the thread spin) */
	return v / 2 > 1000 ? v / 2 : 1000;
}

/* Adds <us> microseconds to <*t>. */
static void
timespec_add_us(struct timespec *t, uint64_t us)
{
	t->tv_sec += (time_t)(us / 1000000);
	t->tv_nsec += (long)(us % 1000000) * 1000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

/*
 * The watchdog thread: "WATCHDOG=1" every interval until notify_stop(). A thread rather than a
 * sigtimedwait() timeout in main.c's signal loop because the main thread is not always in that
 * loop: sl_proxy_drain() blocks it for up to drain_timeout, and a reload will block it while a
 * file is parsed, and a missed ping there would have systemd kill a healthy proxy mid-drain. It
 * also keeps the signal loop (which others change) free of timer arithmetic. What a ping proves
 * is therefore that the process is alive and scheduled, not that every worker loop turns.
 */
static void *
watchdog_main(void *arg)
{
	struct timespec next;
	int err;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&notify_state.lock);
	while (!notify_state.stopping) {
		pthread_mutex_unlock(&notify_state.lock);
		err = notify_send("WATCHDOG=1");
		if (err != 0)
			sl_log_debug("watchdog ping to NOTIFY_SOCKET failed: %s", strerror(-err));
		timespec_add_us(&next, notify_state.watchdog_interval_us);
		pthread_mutex_lock(&notify_state.lock);
		/* a deadline, not a delay: a late wake-up does not push every later ping back */
		while (!notify_state.stopping &&
		       pthread_cond_timedwait(&notify_state.wake, &notify_state.lock, &next) == 0)
			;
	}
	pthread_mutex_unlock(&notify_state.lock);
	return NULL;
}

/* Starts the watchdog thread if the environment asks for pings. 0 or a negative errno. */
static int
watchdog_start(void)
{
	pthread_condattr_t ca;
	int err;

	notify_state.watchdog_interval_us = notify_watchdog_interval_us();
	if (notify_state.watchdog_interval_us == 0 || notify_state.watchdog_running)
		return 0;
	err = -pthread_condattr_init(&ca);
	if (err != 0)
		return err;
	err = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (err == 0)
		err = -pthread_cond_init(&notify_state.wake, &ca);
	pthread_condattr_destroy(&ca);
	if (err != 0)
		return err;
	notify_state.stopping = false;
	/* the thread inherits main()'s signal mask: SIGTERM and friends stay with sigwait() */
	err = -pthread_create(&notify_state.watchdog, NULL, watchdog_main, NULL);
	if (err != 0)
		goto err_destroy_cond;
	pthread_setname_np(notify_state.watchdog, "sl-watchdog");
	notify_state.watchdog_running = true;
	return 0;

err_destroy_cond:
	pthread_cond_destroy(&notify_state.wake);
	return err;
}

/* Sends <msg> if enabled; logs the first failure of the run as a warning (<what> was lost). */
static void
send_or_warn(const char *msg, const char *what)
{
	static bool warned;
	int err = notify_send(msg);

	if (err != 0 && !warned) {
		warned = true;
		sl_log_warn("cannot tell systemd %s through NOTIFY_SOCKET=%s: %s", what,
		            getenv("NOTIFY_SOCKET"), strerror(-err));
	}
}

/* Appends "STATUS=serving N listener(s): ADDR, ADDR" for <cfg> to <buf> at <len>. */
static void
format_status(char *buf, size_t size, size_t len, const struct sl_config *cfg)
{
	int w = snprintf(buf + len, size - len, "STATUS=serving %zu listener%s:", cfg->nlisteners,
	                 cfg->nlisteners == 1 ? "" : "s");

	for (size_t i = 0; w > 0 && i < cfg->nlisteners; i++) {
		char a[SL_ADDR_STRLEN];

		len += (size_t)w;
		if (len >= size)
			return; /* truncated: snprintf ended the buffer */
		w = snprintf(buf + len, size - len, "%s %s", i == 0 ? "" : ",",
		             sl_addr_format(&cfg->listeners[i].addr, a, sizeof(a)));
	}
}

void
notify_started(const struct sl_config *cfg)
{
	char msg[512];
	int len, err;

	err = notify_open();
	if (err != 0) {
		sl_log_warn("cannot use NOTIFY_SOCKET=%s: %s", getenv("NOTIFY_SOCKET"),
		            strerror(-err));
		return;
	}
	if (!notify_is_enabled())
		return;
	len = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\n", (long)getpid());
	format_status(msg, sizeof(msg), (size_t)len, cfg);
	send_or_warn(msg, "that sluice is ready");
	err = watchdog_start();
	if (err != 0)
		sl_log_warn("cannot start the watchdog thread: %s", strerror(-err));
}

void
notify_draining(uint32_t deadline_ms)
{
	char msg[128];

	if (!notify_is_enabled())
		return;
	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=draining open sessions (deadline %u ms)",
	         deadline_ms);
	send_or_warn(msg, "that sluice is stopping");
}

void
notify_reloading(void)
{
	struct timespec now;
	char msg[128];

	if (!notify_is_enabled())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	         (unsigned long long)now.tv_sec * 1000000ULL +
	                 (unsigned long long)now.tv_nsec / 1000ULL);
	send_or_warn(msg, "that sluice is reloading");
}

void
notify_reloaded(const struct sl_config *cfg)
{
	char msg[512];

	if (!notify_is_enabled())
		return;
	format_status(msg, sizeof(msg), (size_t)snprintf(msg, sizeof(msg), "READY=1\n"), cfg);
	send_or_warn(msg, "that the reload is done");
}

void
notify_stop(void)
{
	if (notify_state.watchdog_running) {
		pthread_mutex_lock(&notify_state.lock);
		notify_state.stopping = true;
		pthread_cond_signal(&notify_state.wake);
		pthread_mutex_unlock(&notify_state.lock);
		pthread_join(notify_state.watchdog, NULL);
		pthread_cond_destroy(&notify_state.wake);
		notify_state.watchdog_running = false;
	}
	if (notify_state.fd >= 0)
		close(notify_state.fd);
	notify_state.fd = -1;
	notify_state.opened = false;
}
