// SPDX-License-Identifier: MIT
/*
 * `sluice --probe URL` (probe.h): a deliberately minimal HTTP/1.0 client for health checks in
 * images without curl. Non-blocking connect, one request, and the status line alone, all
 * inside one deadline; no redirects, no TLS, no names, no body.
 */
#include "probe.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCHEME "http://"

int
probe_parse_url(struct probe_url *out, const char *url, const char **why)
{
	char host[SL_ADDR_STRLEN + 8];
	const char *p, *slash, *end;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, SCHEME, strlen(SCHEME)) != 0) {
		*why = "not an http:// URL (https is not supported)";
		return -EINVAL;
	}
	p = url + strlen(SCHEME);
	slash = strchr(p, '/');
	end = slash != NULL ? slash : p + strlen(p);
	n = (size_t)(end - p);
	if (n == 0) {
		*why = "no host";
		return -EINVAL;
	}
	if (memchr(p, '@', n) != NULL) {
		*why = "user information is not supported";
		return -EINVAL;
	}
	/* host[:port]: a missing port is 80; "[v6]" and "[v6]:port" as sl_addr_parse() reads */
	if (n + sizeof(":80") > sizeof(host)) {
		*why = "host too long for an address literal";
		return -EINVAL;
	}
	memcpy(host, p, n);
	host[n] = '\0';
	if (host[n - 1] == ']' || strchr(host, ':') == NULL)
		memcpy(host + n, ":80", sizeof(":80"));
	if (sl_addr_parse(&out->addr, host, false, why) != 0)
		return -EINVAL;
	if (slash == NULL) {
		memcpy(out->path, "/", 2);
		return 0;
	}
	if (strlen(slash) >= sizeof(out->path)) {
		*why = "path too long";
		return -EINVAL;
	}
	/* it goes into the request line as it is */
	for (const char *c = slash; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#') {
			*why = "path holds a space, a control character or a '#'";
			return -EINVAL;
		}
	memcpy(out->path, slash, strlen(slash) + 1);
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for <events> on <fd> until <deadline>: 0, -ETIMEDOUT or -errno. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Connects <fd> to <a> by <deadline>. 0 or -errno (-ETIMEDOUT). */
static int
connect_by(int fd, const struct sl_addr *a, int64_t deadline)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	err = wait_fd(fd, POLLOUT, deadline);
	if (err != 0)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -errno;
	return -err;
}

/* Sends all of <buf> by <deadline>. 0 or -errno. */
static int
send_by(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int err = wait_fd(fd, POLLOUT, deadline);

			if (err != 0)
				return err;
		} else {
			return -errno;
		}
	}
	return 0;
}

/*
 * Reads up to the end of the first line into <line> (NUL-terminated, without the line end) by
 * <deadline>. 0, -EPROTO if the peer closes first or the line does not fit, or -errno.
 */
static int
read_status_line(int fd, char *line, size_t size, int64_t deadline)
{
	size_t have = 0;

	for (;;) {
		char *nl = memchr(line, '\n', have);
		ssize_t n;

		if (nl != NULL) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			return 0;
		}
		if (have == size - 1)
			return -EPROTO;
		n = recv(fd, line + have, size - 1 - have, 0);
		if (n > 0) {
			have += (size_t)n;
		} else if (n == 0) {
			return -EPROTO;
		} else if (errno == EAGAIN || errno == EINTR) {
			int err = wait_fd(fd, POLLIN, deadline);

			if (err != 0)
				return err;
		} else {
			return -errno;
		}
	}
}

/* The status code of "HTTP/1.x NNN ...", or -1 if <line> is not a status line. */
static int
status_code(const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] == '\0' || line[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (line[i] < '0' || line[i] > '9')
			return -1;
	if (line[12] != '\0' && line[12] != ' ')
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

int
probe_run(const char *url, FILE *err)
{
	int64_t deadline = now_ms() + PROBE_TIMEOUT_MS;
	char req[PROBE_PATH_MAX + SL_ADDR_STRLEN + 128], host[SL_ADDR_STRLEN], line[256] = {0};
	struct probe_url u;
	const char *why, *step;
	int fd, rc, code;

	if (probe_parse_url(&u, url, &why) != 0) {
		fprintf(err, "sluice: --probe %s: %s\n", url, why);
		return 1;
	}
	fd = socket(u.addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(err, "sluice: --probe %s: socket: %s\n", url, strerror(errno));
		return 1;
	}
	snprintf(req, sizeof(req),
	         "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: sluice-probe\r\n\r\n", u.path,
	         sl_addr_format(&u.addr, host, sizeof(host)));
	step = "connect";
	rc = connect_by(fd, &u.addr, deadline);
	if (rc == 0) {
		step = "send";
		rc = send_by(fd, req, strlen(req), deadline);
	}
	if (rc == 0) {
		step = "read";
		rc = read_status_line(fd, line, sizeof(line), deadline);
	}
	close(fd);
	if (rc == -ETIMEDOUT) {
		fprintf(err, "sluice: --probe %s: %s: no answer within %d ms\n", url, step,
		        PROBE_TIMEOUT_MS);
		return 1;
	}
	if (rc == -EPROTO) {
		fprintf(err, "sluice: --probe %s: no HTTP status line in the answer\n", url);
		return 1;
	}
	if (rc != 0) {
		fprintf(err, "sluice: --probe %s: %s: %s\n", url, step, strerror(-rc));
		return 1;
	}
	code = status_code(line);
	if (code < 0) {
		fprintf(err, "sluice: --probe %s: not an HTTP status line: \"%.64s\"\n", url, line);
		return 1;
	}
	if (code < 200 || code > 299) {
		fprintf(err, "sluice: --probe %s: %s\n", url, line + 9);
		return 1;
	}
	return 0;
}
