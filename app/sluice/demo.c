// SPDX-License-Identifier: MIT
/*
 * Demo backends (demo.h). One thread, one sl_loop, three listeners. Each connection keeps a
 * small buffer: complete HTTP requests (up to the blank line; bodies are not expected) are
 * answered with a 200 naming the backend; data that does not start like an HTTP request is
 * echoed. This is demo code: connections are malloc'd, which the proxy itself never does.
 */
#include "demo.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/loop.h>

struct demo_backend {
	struct demo *demo;
	struct sl_io io;
	int index;
	char name[SL_ADDR_STRLEN];
};

struct demo_conn {
	struct sl_io io;
	struct demo_conn *prev, *next; /* the demo's list of open connections */
	struct demo_backend *backend;
	size_t len;
	bool http;
	char buf[8192];
};

struct demo {
	struct sl_loop *loop;
	pthread_t thread;
	struct demo_conn *conns; /* open connections, freed at stop */
	struct demo_backend backends[DEMO_BACKENDS];
};

static void
conn_free(struct demo *d, struct demo_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->io.fd);
	free(c);
}

static void
conn_close(struct sl_loop *l, struct demo_conn *c)
{
	sl_loop_io_del(l, &c->io);
	conn_free(c->backend->demo, c);
}

static bool
looks_like_http(const char *p, size_t n)
{
	static const char *const methods[] = {"GET ", "HEAD ",   "POST ",
	                                      "PUT ", "DELETE ", "OPTIONS "};

	for (size_t i = 0; i < SL_ARRAY_SIZE(methods); i++) {
		size_t m = strlen(methods[i]);

		if (memcmp(p, methods[i], n < m ? n : m) == 0)
			return true;
	}
	return false;
}

/* Answers every complete request in the buffer. Returns false when the connection must close. */
static bool
serve_http(struct demo_conn *c)
{
	char resp[512], body[160];
	char *end;
	bool keep = true;

	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
		size_t reqlen = (size_t)(end - c->buf) + 4;
		int blen, rlen;

		*end = '\0';
		if (strcasestr(c->buf, "\r\nconnection: close"))
			keep = false;
		blen = snprintf(body, sizeof(body), "hello from sluice demo backend %d (%s)\n",
		                c->backend->index + 1, c->backend->name);
		rlen = snprintf(resp, sizeof(resp),
		                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
		                "%d\r\nX-Backend: %d\r\n%s\r\n%s",
		                blen, c->backend->index + 1, keep ? "" : "Connection: close\r\n",
		                body);
		if (write(c->io.fd, resp, (size_t)rlen) != rlen)
			return false;
		memmove(c->buf, c->buf + reqlen, c->len - reqlen);
		c->len -= reqlen;
		if (!keep)
			return false;
	}
	return c->len < sizeof(c->buf);
}

static void
conn_on_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct demo_conn *c = io->data;

	(void)events;
	for (;;) {
		ssize_t n = read(io->fd, c->buf + c->len, sizeof(c->buf) - c->len);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(l, c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (c->len == 0)
			c->http = looks_like_http(c->buf, (size_t)n);
		c->len += (size_t)n;
		if (c->http) {
			if (!serve_http(c)) {
				conn_close(l, c);
				return;
			}
		} else {
			/* echo: a blocking-free best effort; a demo peer reads what it sends */
			if (write(io->fd, c->buf, c->len) != (ssize_t)c->len) {
				conn_close(l, c);
				return;
			}
			c->len = 0;
		}
	}
}

static void
backend_on_accept(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct demo_backend *b = io->data;

	(void)events;
	for (;;) {
		struct demo_conn *c;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1)
			return; /* EAGAIN, or a transient error: the next edge retries */
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->backend = b;
		c->next = b->demo->conns;
		if (c->next)
			c->next->prev = c;
		b->demo->conns = c;
		sl_io_init(&c->io, fd, conn_on_io, c);
		if (sl_loop_io_add(l, &c->io, SL_IO_READ) != 0)
			conn_free(b->demo, c);
	}
}

static void *
demo_thread(void *arg)
{
	struct demo *d = arg;

	sl_loop_run(d->loop);
	return NULL;
}

static void
demo_on_wake(struct sl_loop *l, void *arg)
{
	(void)arg;
	sl_loop_stop(l);
}

static int
listen_any_port(struct sl_addr *a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a->ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 1024) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a->ss, &len) == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	a->len = len;
	return fd;
}

int
demo_start(struct demo **out, struct sl_addr addrs[DEMO_BACKENDS], enum sl_loop_runtime rt)
{
	struct demo *d = calloc(1, sizeof(*d));
	int i, err;

	if (!d)
		return -ENOMEM;
	/* no registered files: nothing here uses them */
	err = sl_loop_create(&d->loop, &(struct sl_loop_opts){.runtime = rt, .max_files = -1});
	if (err)
		goto err_free;
	sl_loop_set_wake_fn(d->loop, demo_on_wake, d);
	for (i = 0; i < DEMO_BACKENDS; i++) {
		struct demo_backend *b = &d->backends[i];
		int fd = listen_any_port(&addrs[i]);

		if (fd < 0) {
			err = fd;
			goto err_close;
		}
		b->demo = d;
		b->index = i;
		sl_addr_format(&addrs[i], b->name, sizeof(b->name));
		sl_io_init(&b->io, fd, backend_on_accept, b);
		err = sl_loop_io_add(d->loop, &b->io, SL_IO_READ);
		if (err) {
			close(fd);
			goto err_close;
		}
	}
	err = -pthread_create(&d->thread, NULL, demo_thread, d);
	if (err)
		goto err_close;
	*out = d;
	return 0;

err_close:
	while (i-- > 0)
		close(d->backends[i].io.fd);
	sl_loop_destroy(d->loop);
err_free:
	free(d);
	return err;
}

void
demo_stop(struct demo *d)
{
	if (!d)
		return;
	sl_loop_wake(d->loop);
	pthread_join(d->thread, NULL);
	for (int i = 0; i < DEMO_BACKENDS; i++)
		close(d->backends[i].io.fd);
	for (struct demo_conn *c = d->conns, *next; c != NULL; c = next) {
		next = c->next;
		close(c->io.fd);
		free(c);
	}
	d->conns = NULL;
	sl_loop_destroy(d->loop);
	free(d);
}
