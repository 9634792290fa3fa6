// SPDX-License-Identifier: MIT
/*
 * The admin HTTP endpoint (include/sluice/admin.h): a libmicrohttpd daemon with one internal
 * thread, fed by an acceptor thread on a listener of its own (admin_accept.c), so requests are
 * served one at a time and never on a worker.
 * Each request renders into a memory stream (prom.c, json.c) from the proxy's registry; /metrics
 * and /stats first collect (sl_stats_collect()), which asks every worker through its mailbox.
 * / is the stats page (page/stats.html, compiled in), which polls /stats from the browser.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/admin.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/sock.h>

#include "admin/admin_accept.h"
#include "admin/admin_int.h"

struct sl_admin {
	struct MHD_Daemon *d;
	struct sl_proxy *p;
	struct sl_addr addr; /* bound */
	int fd;              /* the listener */
	uint64_t start_ns;   /* sl_clock_ns() at start: the uptime in /stats counts from it */
	struct sl_admin_limits limits;
	struct sl__admin_acceptor *acc; /* once serving */
};

static const char ct_text[] = "text/plain; charset=utf-8";
static const char ct_prom[] = "text/plain; version=0.0.4; charset=utf-8";
static const char ct_json[] = "application/json";
static const char ct_html[] = "text/html; charset=utf-8";
/* with sl__admin_page_csp: the page's own inline script and style, fetches to this origin */
static const char page_csp_rest[] = "default-src 'none'; connect-src 'self'; base-uri 'none'; "
                                    "form-action 'none'; frame-ancestors 'none'";

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* MHD frees <body> with free() once sent (open_memstream() buffers are malloc'd) */
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	char *body = strdup(text);

	return body != NULL ? reply(c, status, ct_text, body, strlen(body)) : MHD_NO;
}

/* 405 for a method other than GET or HEAD, with the Allow header a 405 must carry (RFC 9110,
 * 15.5.6). */
static enum MHD_Result
reply_method_not_allowed(struct MHD_Connection *c)
{
	static const char text[] = "only GET and HEAD\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct_text);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	return ret;
}

/* The stats page: compiled-in bytes, never copied or freed. */
static enum MHD_Result
reply_page(struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char csp[512];

	snprintf(csp, sizeof(csp), "%s; %s", page_csp_rest, sl__admin_page_csp);
	r = MHD_create_response_from_buffer(sl__admin_page_len, (void *)sl__admin_page,
	                                    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct_html);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "Content-Security-Policy", csp); /* copied */
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int
backend_addr(void *arg, size_t inst, const char *group, const char *backend, char *buf, size_t size)
{
	struct sl_addr a;
	int err = sl_proxy_backend_instance_addr(arg, inst, group, backend, &a);

	if (err == 0)
		sl_addr_format(&a, buf, size);
	return err;
}

enum page { PAGE_METRICS, PAGE_STATS, PAGE_READY };

/* Renders <page> into a buffer and replies with it. */
static enum MHD_Result
serve(struct sl_admin *a, struct MHD_Connection *c, enum page page)
{
	struct sl_stats *r = sl_proxy_stats_registry(a->p);
	unsigned status = MHD_HTTP_OK;
	char *body = NULL;
	size_t len = 0;
	bool ready = false;
	FILE *f;
	int err;

	if (page != PAGE_READY && (err = sl_stats_collect(r)) != 0)
		sl_log_warn("admin: some workers did not answer in time: %s; their figures are "
		            "older",
		            strerror(-err));
	f = open_memstream(&body, &len);
	if (f == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	switch (page) {
	case PAGE_METRICS:
		err = sl__admin_render_metrics(r, f);
		break;
	case PAGE_STATS: {
		const struct sl_admin_extras x = {
		        .uptime_seconds = (double)(sl_clock_ns() - a->start_ns) / 1e9,
		        .backend_addr = backend_addr,
		        .arg = a->p,
		};

		err = sl__admin_render_stats(r, &x, f);
		break;
	}
	case PAGE_READY:
		err = sl__admin_render_ready(r, f, &ready);
		status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
		break;
	}
	if (fclose(f) != 0 && err == 0)
		err = -ENOMEM;
	if (err != 0) {
		free(body);
		sl_log_warn("admin: cannot render a page: %s", strerror(-err));
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render\n");
	}
	return reply(c, status, page == PAGE_METRICS ? ct_prom : ct_json, body, len);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_len, void **state)
{
	static char headers_read; /* *state once the first call for a request is over */
	struct sl_admin *a = cls;

	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_method_not_allowed(c);
	/* libmicrohttpd closes a connection whose answer was queued on a request's first call
	 * (the headers only): answer on the next one, once any body is read (and dropped), so
	 * a client may keep the connection for its next request */
	if (*state == NULL) {
		*state = &headers_read;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") == 0)
		return serve(a, c, PAGE_METRICS);
	if (strcmp(url, "/stats") == 0)
		return serve(a, c, PAGE_STATS);
	if (strcmp(url, "/readyz") == 0)
		return serve(a, c, PAGE_READY);
	if (strcmp(url, "/healthz") == 0)
		return reply_text(c, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/") == 0)
		return reply_page(c);
	return reply_text(c, MHD_HTTP_NOT_FOUND,
	                  "not found: try /, /metrics, /stats, /healthz or /readyz\n");
}

/* Holds <p>'s endpoint on listening socket <fd>, which becomes the endpoint's (closed on
 * failure); no thread yet (sl_admin_serve()). */
static int
open_on(struct sl_admin **out, struct sl_proxy *p, int fd)
{
	struct sl_admin *a;
	int err;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(fd);
		return -ENOMEM;
	}
	a->p = p;
	a->start_ns = sl_clock_ns();
	a->limits =
	        (struct sl_admin_limits){.max_connections = SL_CONFIG_ADMIN_CONNECTIONS_DEFAULT,
	                                 .max_per_source = SL_CONFIG_ADMIN_PER_SOURCE_DEFAULT,
	                                 .timeout_s = SL_CONFIG_ADMIN_TIMEOUT_DEFAULT_MS / 1000};
	a->fd = fd;
	if ((err = sl_sock_local_addr(a->fd, &a->addr)) != 0) {
		close(a->fd);
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

int
sl_admin_open(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr)
{
	int fd = sl_sock_listen(addr, 64, false, NULL);

	*out = NULL;
	return fd < 0 ? fd : open_on(out, p, fd);
}

int
sl_admin_open_fd(struct sl_admin **out, struct sl_proxy *p, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	/* shared with the process it came from: neither may block in accept() */
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		int err = -errno;

		close(fd);
		*out = NULL;
		return err;
	}
	return open_on(out, p, fd);
}

int
sl_admin_set_limits(struct sl_admin *a, const struct sl_admin_limits *l)
{
	if (a->d != NULL)
		return -EALREADY;
	if (l->max_connections == 0 || l->timeout_s == 0)
		return -EINVAL;
	a->limits = *l;
	return 0;
}

int
sl_admin_serve(struct sl_admin *a)
{
	int err;

	if (a->d != NULL)
		return -EALREADY;
	err = sl__admin_acceptor_create(&a->acc, a->fd, a->p, &a->limits);
	if (err != 0)
		return err;
	/* one internal thread: requests in turn, so at most one collection runs at a time; the
	 * acceptor adds connections through ITC and keeps max_connections itself (the daemon's
	 * limit is one more: a closed connection's notice comes before the daemon stops counting
	 * it) */
	a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
	                                MHD_USE_NO_LISTEN_SOCKET,
	                        0, NULL, NULL, handle, a, MHD_OPTION_CONNECTION_TIMEOUT,
	                        a->limits.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	                        a->limits.max_connections + 1, MHD_OPTION_NOTIFY_CONNECTION,
	                        sl__admin_acceptor_notice, a->acc, MHD_OPTION_END);
	if (a->d != NULL && sl__admin_acceptor_run(a->acc, a->d) != 0) {
		MHD_stop_daemon(a->d);
		a->d = NULL;
	}
	if (a->d == NULL) {
		sl__admin_acceptor_free(a->acc);
		a->acc = NULL;
		return -EIO;
	}
	return 0;
}

int
sl_admin_start(struct sl_admin **out, struct sl_proxy *p, const struct sl_addr *addr)
{
	int err;

	err = sl_admin_open(out, p, addr);
	if (err != 0)
		return err;
	err = sl_admin_serve(*out);
	if (err != 0) {
		sl_admin_stop(*out);
		*out = NULL;
	}
	return err;
}

int
sl_admin_listen_fd(const struct sl_admin *a)
{
	return a->fd;
}

void
sl_admin_stop(struct sl_admin *a)
{
	if (a == NULL)
		return;
	if (a->d != NULL) {
		sl__admin_acceptor_halt(a->acc);
		MHD_stop_daemon(
		        a->d); /* joins its thread; the last notices come before it returns */
		sl__admin_acceptor_free(a->acc);
	}
	/* after a binary upgrade the new process listens on it too: only this process's
	 * descriptor is closed */
	close(a->fd);
	free(a);
}

void
sl_admin_addr(const struct sl_admin *a, struct sl_addr *out)
{
	*out = a->addr;
}
