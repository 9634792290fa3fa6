// SPDX-License-Identifier: MIT
/*
 * The control socket (include/sluice/ctl.h): a unix stream listener and one thread that
 * polls it, a stop eventfd and at most CLIENTS_MAX clients. A client's bytes collect in its
 * buffer; each complete line is parsed (ctl_parse.c), run and answered with one JSON line
 * before the next is read, so requests are served one at a time. An answer the socket cannot
 * take at once waits in its client's out buffer, written as the client reads, while the others
 * are served; a client that does not take it within WRITE_MS, or stays idle too long, is
 * closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sluice/backends.h>
#include <sluice/cidr.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/ctl.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/sock.h>
#include <sluice/stats.h>
#include <sluice/version.h>

#include "admin/admin_int.h"
#include "admin/ctl_int.h"

#define CLIENTS_MAX 8        /* more are answered "too many clients" and closed */
#define IDLE_MS 60000        /* a client that completes no request this long is closed */
#define YIELD_MS 5000        /* ... or this long, when a new client finds every place taken */
#define WRITE_MS 5000        /* an answer not taken within this is dropped with its client */
#define BACKENDS_FIRST 256   /* room for "show backends" before it asks for more */
#define SESSIONS_LISTED 1000 /* "show sessions" lists at most this many */
#define ACCEPT_MUTE_MS 100   /* an accept short of fds or memory waits this long to try again */

struct ctl_client {
	int fd; /* -1: free slot */
	pid_t pid;
	uid_t uid;
	uint64_t last_ns; /* connected, or last answered a request (or sent one) */
	/* the rest of an answer the socket could not take yet (NULL: none), sent from out_off;
	 * no further request is read until it is gone, or past out_until_ns (the client closed) */
	char *out;
	size_t out_len, out_off;
	uint64_t out_until_ns;
	size_t len; /* bytes in buf */
	char buf[SL__CTL_REQUEST_MAX];
};

struct sl_ctl {
	struct sl_proxy *p;
	const struct sl_config *cfg;
	char *config_path;
	sl_ctl_reload_fn reload;
	sl_ctl_shutdown_fn shutdown;
	void *arg;
	int lfd;
	int stopfd;
	int drainfd;    /* sl_ctl_draining() writes it */
	bool draining;  /* the control thread's: only help and the show commands from here on */
	bool keep_file; /* a new process took the socket over: its file is that one's now */
	/* drain_taken: the thread saw drainfd, or ended; sl_ctl_draining() waits for it */
	pthread_mutex_t drain_mu;
	pthread_cond_t drain_cv;
	bool drain_taken;
	uint64_t started_ns;
	/* the listening socket is not polled before this (sl_clock_ns()): an accept found no
	 * file descriptor or memory; the control thread's */
	uint64_t accept_muted_until_ns;
	pthread_t thread;
	struct sockaddr_un sun;
	struct sl_sock_unix_file file; /* the socket file's identity once listening */
	struct ctl_client clients[CLIENTS_MAX];
};

/* ---- answers ---- */

/*
 * A string member. jansson takes valid UTF-8 only: names and messages are (configured names
 * pass libyaml, requests are ASCII), but a path need not be, so its other bytes become '?'.
 */
static json_t *
str(const char *s)
{
	json_t *v = json_string(s);
	char *ascii;

	if (v != NULL || s == NULL || (ascii = strdup(s)) == NULL)
		return v;
	for (char *q = ascii; *q != '\0'; q++)
		if ((unsigned char)*q >= 0x80)
			*q = '?';
	v = json_string(ascii);
	free(ascii);
	return v;
}

/* A new array as member <key> of <o>, or NULL (no memory). */
static json_t *
add_array(json_t *o, const char *key)
{
	json_t *a = json_array();

	return json_object_set_new(o, key, a) == 0 ? a : NULL;
}

static json_t *
error_doc(const char *code, const char *msg)
{
	json_t *doc = json_object();

	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "ok", json_boolean(false));
	json_object_set_new(doc, "error", str(msg));
	if (code != NULL)
		json_object_set_new(doc, "code", str(code));
	return doc;
}

/* {"ok":true,"result":<result>} (takes <result>; NULL is a null result). */
static json_t *
ok_doc(json_t *result)
{
	json_t *doc = json_object();

	if (doc == NULL) {
		json_decref(result);
		return NULL;
	}
	json_object_set_new(doc, "ok", json_boolean(true));
	json_object_set_new(doc, "result", result != NULL ? result : json_null());
	return doc;
}

/* The answer to a failed backend change <err> for <group>/<name>. */
static json_t *
backend_error(struct sl_ctl *c, int err, const struct sl__ctl_req *r)
{
	char msg[320], holder[SL_CONFIG_NAME_MAX], a[SL_ADDR_STRLEN], l[SL_ADDR_STRLEN];
	struct sl_addr at;
	const char *code;
	bool named;

	switch (-err) {
	case ENOENT:
		code = "ENOENT";
		if (r->cmd == SL__CTL_ADD)
			snprintf(msg, sizeof(msg), "no group %s", r->group);
		else
			snprintf(msg, sizeof(msg), "no backend %s/%s", r->group, r->name);
		break;
	case EEXIST:
		code = "EEXIST";
		/* add refuses a name or an address the group has: the address, when another
		 * backend has it (as the config file refuses a duplicate backend address) */
		if (r->cmd == SL__CTL_ADD &&
		    sl_proxy_backend_name(c->p, r->group, &r->addr, holder, sizeof(holder)) == 0 &&
		    strcmp(holder, r->name) != 0)
			snprintf(msg, sizeof(msg), "group %s already has a backend at %s: %s/%s",
			         r->group, sl_addr_format(&r->addr, a, sizeof(a)), r->group,
			         holder);
		else
			snprintf(msg, sizeof(msg), "group %s already has a backend named %s",
			         r->group, r->name);
		break;
	case ELOOP:
		code = "ELOOP";
		sl_addr_format(&r->addr, a, sizeof(a));
		if (sl_proxy_listener_reached(c->p, &r->addr, holder, sizeof(holder), &at) != 0 &&
		    sl_proxy_admin_reached(c->p, &r->addr)) {
			snprintf(msg, sizeof(msg),
			         "%s reaches sluice's own admin endpoint, which is no service to "
			         "balance",
			         a);
			break;
		}
		if (sl_proxy_listener_reached(c->p, &r->addr, holder, sizeof(holder), &at) != 0) {
			snprintf(
			        msg, sizeof(msg),
			        "%s is one of sluice's own listeners: the backend would connect to "
			        "sluice itself",
			        a);
			break;
		}
		/* a listener named by its address (the default) is not named twice */
		named = strcmp(holder, sl_addr_format(&at, l, sizeof(l))) != 0;
		snprintf(
		        msg, sizeof(msg),
		        "%s %s sluice's own listener %s%s%s%s: the backend would connect to sluice "
		        "itself",
		        a, sl_addr_equal(&r->addr, &at) ? "is" : "reaches", holder,
		        named ? " (" : "", named ? l : "", named ? ")" : "");
		break;
	case ENOSPC:
		code = "ENOSPC";
		snprintf(msg, sizeof(msg), "group %s is full: it holds its most backends",
		         r->group);
		break;
	case EAFNOSUPPORT:
		code = "EAFNOSUPPORT";
		snprintf(msg, sizeof(msg),
		         "%s/%s: its address is of another family than the group's source",
		         r->group, r->name);
		break;
	case EINVAL:
		code = "EINVAL";
		snprintf(msg, sizeof(msg), "refused: a value is out of range for %s/%s", r->group,
		         r->name);
		break;
	default:
		code = NULL;
		snprintf(msg, sizeof(msg), "%s/%s: %s", r->group, r->name, strerror(-err));
		break;
	}
	return error_doc(code, msg);
}

/* ---- show ---- */

static json_t *
show_info(struct sl_ctl *c)
{
	const struct sl_config *cfg = c->cfg;
	json_t *o = json_object(), *ls;
	uint64_t up;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "version", str(sl_version()));
	json_object_set_new(o, "pid", json_integer(getpid()));
	up = (sl_clock_ns() - c->started_ns) / 1000000000u; /* whole seconds */
	json_object_set_new(o, "uptime_seconds", sl__admin_json_count(up));
	json_object_set_new(o, "workers", json_integer(sl_config_workers(cfg)));
	if (c->config_path != NULL)
		json_object_set_new(o, "config_file", str(c->config_path));
	else
		json_object_set_new(o, "config_file", json_null());
	json_object_set_new(o, "control_socket", str(c->sun.sun_path));
	ls = add_array(o, "listeners");
	/* the listeners running now: a reload may have added and removed some */
	for (size_t i = 0; ls != NULL && i < sl_proxy_listener_slots(c->p); i++) {
		char a[SL_ADDR_STRLEN], name[SL_CONFIG_NAME_MAX], group[SL_CONFIG_NAME_MAX];
		struct sl_addr bound;
		size_t g;
		json_t *li;

		if (sl_proxy_listener_name(c->p, i, name, sizeof(name), &g) != 0 ||
		    sl_proxy_listener_addr(c->p, i, &bound) != 0 ||
		    sl_proxy_group_name(c->p, g, group, sizeof(group)) != 0)
			continue;
		li = json_object();
		if (li == NULL)
			break;
		json_object_set_new(li, "name", str(name));
		json_object_set_new(li, "address", str(sl_addr_format(&bound, a, sizeof(a))));
		json_object_set_new(li, "group", str(group));
		json_array_append_new(ls, li);
	}
	return o;
}

static json_t *
backend_object(const struct sl_backend_info *b)
{
	json_t *o = json_object();
	char a[SL_ADDR_STRLEN];

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "group", str(b->group));
	json_object_set_new(o, "name", str(b->name));
	json_object_set_new(o, "address", str(sl_addr_format(&b->addr, a, sizeof(a))));
	json_object_set_new(o, "weight", json_integer(b->weight));
	json_object_set_new(o, "role", str(b->backup ? "backup" : "primary"));
	json_object_set_new(o, "max_connections", json_integer(b->max_connections));
	json_object_set_new(o, "admin", str(sl_backend_admin_name(b->admin)));
	json_object_set_new(o, "health",
	                    str(!b->up        ? "down"
	                        : b->ejected  ? "ejected"
	                        : !b->checked ? "unchecked"
	                                      : "up"));
	json_object_set_new(o, "discovered", json_boolean(b->discovered));
	json_object_set_new(o, "active", sl__admin_json_count(b->active));
	json_object_set_new(o, "sessions", sl__admin_json_count(b->sessions));
	json_object_set_new(o, "connect_failures", sl__admin_json_count(b->connect_failures));
	return o;
}

static int64_t
gauge(const struct sl_stats_set *s, size_t inst, const char *def)
{
	int idx = sl_stats_set_def_index(s, def);

	return idx < 0 ? 0 : sl_stats_read_gauge(s, inst, (unsigned)idx);
}

static json_t *
show_backends(struct sl_ctl *c)
{
	struct sl_backend_info *bs = NULL;
	size_t max = BACKENDS_FIRST, n = 0;
	json_t *arr = json_array();
	int err;

	if (arr == NULL)
		return NULL;
	for (;;) {
		struct sl_backend_info *more = realloc(bs, max * sizeof(*bs));

		if (more == NULL)
			goto err_free;
		bs = more;
		err = sl_proxy_backends(c->p, bs, max, &n);
		if (err != 0 || n <= max)
			break;
		max = n;
	}
	for (size_t i = 0; err == 0 && i < n; i++) {
		json_t *o = backend_object(&bs[i]);

		if (o == NULL)
			goto err_free;
		json_array_append_new(arr, o);
	}
	free(bs);
	if (err != 0) {
		json_decref(arr);
		return error_doc(NULL, strerror(-err));
	}
	return ok_doc(arr);

err_free:
	free(bs);
	json_decref(arr);
	return NULL;
}

/* The open sessions themselves, asked of every worker: up to SESSIONS_LISTED of them. */
static void
add_session_list(struct sl_ctl *c, json_t *o)
{
	struct sl_proxy_session_info *ss = calloc(SESSIONS_LISTED, sizeof(*ss));
	size_t n = 0;
	json_t *arr;
	int err;

	if (ss == NULL)
		return;
	err = sl_proxy_sessions(c->p, ss, SESSIONS_LISTED, &n);
	if (err != 0)
		json_object_set_new(o, "sessions_error", str(strerror(-err)));
	json_object_set_new(o, "listed",
	                    json_integer((json_int_t)(n < SESSIONS_LISTED ? n : SESSIONS_LISTED)));
	arr = add_array(o, "workers"); /* sessions per worker, of those listed */
	for (unsigned w = 0; arr != NULL && w < sl_config_workers(c->cfg); w++) {
		json_t *wi = json_object();
		size_t k = 0;

		for (size_t i = 0; i < n && i < SESSIONS_LISTED; i++)
			k += ss[i].worker == w;
		if (wi == NULL)
			break;
		json_object_set_new(wi, "worker", json_integer(w));
		/* of those listed only: not the worker's open sessions past the listing */
		json_object_set_new(wi, "listed", json_integer((json_int_t)k));
		json_array_append_new(arr, wi);
	}
	arr = add_array(o, "sessions");
	for (size_t i = 0; arr != NULL && i < n && i < SESSIONS_LISTED; i++) {
		json_t *si = json_object();
		char a[SL_ADDR_STRLEN];

		if (si == NULL)
			break;
		json_object_set_new(si, "worker", json_integer(ss[i].worker));
		json_object_set_new(si, "listener", str(ss[i].listener));
		json_object_set_new(si, "client",
		                    str(ss[i].client.len != 0
		                                ? sl_addr_format(&ss[i].client, a, sizeof(a))
		                                : ""));
		json_object_set_new(si, "group", str(ss[i].group));
		json_object_set_new(si, "backend", str(ss[i].backend));
		json_object_set_new(si, "state", str(ss[i].state));
		json_object_set_new(si, "age_ms", sl__admin_json_count(ss[i].age_ms));
		json_object_set_new(si, "bytes_in", sl__admin_json_count(ss[i].bytes_in));
		json_object_set_new(si, "bytes_out", sl__admin_json_count(ss[i].bytes_out));
		json_array_append_new(arr, si);
	}
	free(ss);
}

/*
 * "profile SECONDS": what each worker's perf counters (profiling: { perf: true }) counted over
 * <seconds>, read before and after; the control thread waits meanwhile (a stop cuts it short).
 * Counters in their exported unit (task-clock in CPU seconds).
 */
static json_t *
profile(struct sl_ctl *c, uint32_t seconds)
{
	const struct sl_stats_set *s = sl_stats_find(sl_proxy_stats_registry(c->p), "worker_perf");
	struct pollfd stop[2] = {{.fd = c->stopfd, .events = POLLIN},
	                         {.fd = c->drainfd, .events = POLLIN}};
	size_t n, ndefs;
	uint64_t *before;
	json_t *o, *arr;

	if (s == NULL)
		return error_doc("ENOENT",
		                 "no perf counters: profiling: { perf: true } is not set, "
		                 "or none of its events could be opened here (see the log)");
	n = sl_stats_set_ninstances(s);
	ndefs = sl_stats_set_ndefs(s);
	before = calloc(n * ndefs + 1, sizeof(*before));
	if (before == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < ndefs; d++)
			before[i * ndefs + d] = sl_stats_read(s, i, (unsigned)d);
	if (poll(stop, 2, (int)seconds * 1000) != 0) {
		free(before);
		return error_doc("ECANCELED", "sluice is stopping");
	}
	o = json_object();
	arr = json_array();
	json_object_set_new(o, "seconds", json_integer(seconds));
	json_object_set_new(o, "workers", arr);
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_object();

		/* an integer, as in "show sessions" and "show info": the set's label is its index
		 */
		json_object_set_new(w, "worker", json_integer((json_int_t)i));
		for (size_t d = 0; d < ndefs; d++) {
			const struct sl_stats_def *def = sl_stats_set_def(s, (unsigned)d);
			uint64_t delta = sl_stats_read(s, i, (unsigned)d) - before[i * ndefs + d];
			const char *key = def->name;

			if (strncmp(key, "worker_", 7) == 0)
				key += 7;
			json_object_set_new(
			        w, key,
			        def->scale != 0 ? sl__admin_json_figure((double)delta * def->scale)
			                        : sl__admin_json_count(delta));
		}
		json_array_append_new(arr, w);
	}
	free(before);
	return ok_doc(o);
}

/*
 * Open sessions: the total, per listener and per backend, from the registry; then the
 * sessions themselves, from the workers.
 */
static json_t *
show_sessions(struct sl_ctl *c)
{
	const struct sl_stats *r = sl_proxy_stats_registry(c->p);
	const struct sl_stats_set *proc = sl_stats_find(r, "process"),
	                          *ls = sl_stats_find(r, "listener"),
	                          *bs = sl_stats_find(r, "backend");
	json_t *o = json_object(), *arr;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "active", json_integer(proc != NULL ? gauge(proc, 0, "active") : 0));
	arr = add_array(o, "listeners");
	for (size_t i = 0; arr != NULL && ls != NULL && i < sl_stats_set_ninstances(ls); i++) {
		char label[SL_STATS_LABEL_MAX];
		json_t *li;

		if (!sl_stats_instance_present(ls, i)) /* a free listener slot */
			continue;
		li = json_object();
		if (li == NULL)
			break;
		json_object_set_new(
		        li, "listener",
		        str(sl_stats_instance_label_now(ls, i, 0, label, sizeof(label))));
		json_object_set_new(li, "active", json_integer(gauge(ls, i, "listener_active")));
		json_array_append_new(arr, li);
	}
	arr = add_array(o, "backends");
	for (size_t i = 0; arr != NULL && bs != NULL && i < sl_stats_set_ninstances(bs); i++) {
		char label[SL_STATS_LABEL_MAX];
		json_t *bi;

		if (!sl_stats_instance_present(bs, i)) /* an empty or removed slot */
			continue;
		bi = json_object();
		if (bi == NULL)
			break;
		/* now: a reload may have filled the group's slot */
		json_object_set_new(
		        bi, "group",
		        str(sl_stats_instance_label_now(bs, i, 0, label, sizeof(label))));
		json_object_set_new(
		        bi, "backend",
		        str(sl_stats_instance_label_now(bs, i, 1, label, sizeof(label))));
		json_object_set_new(bi, "active", json_integer(gauge(bs, i, "backend_active")));
		json_array_append_new(arr, bi);
	}
	add_session_list(c, o);
	return o;
}

/* Sources listed by "show bans" at most; the answer says how many there are in all. */
#define BANS_LISTED 1000

static json_t *
show_bans(struct sl_ctl *c)
{
	struct sl_proxy_ban *bs = calloc(BANS_LISTED, sizeof(*bs));
	json_t *o = json_object(), *arr;
	char src[SL_CIDR_STRLEN];
	size_t n = 0;

	if (bs == NULL || o == NULL || (arr = add_array(o, "bans")) == NULL ||
	    sl_proxy_bans(c->p, bs, BANS_LISTED, &n) != 0) {
		free(bs);
		json_decref(o);
		return error_doc("ENOMEM", "out of memory");
	}
	for (size_t i = 0; i < n && i < BANS_LISTED; i++) {
		json_t *b = json_object();

		if (b == NULL)
			break;
		json_object_set_new(b, "listener", str(bs[i].listener));
		json_object_set_new(b, "source",
		                    str(sl_cidr_format(&bs[i].source, src, sizeof(src))));
		json_object_set_new(b, "remaining_ms",
		                    json_integer((json_int_t)bs[i].remaining_ms));
		json_array_append_new(arr, b);
	}
	json_object_set_new(o, "banned", json_integer((json_int_t)n));
	free(bs);
	return ok_doc(o);
}

/* The answer to ban (<ban>) or unban <r> that returned <err>. */
static json_t *
ban_answer(const struct sl__ctl_req *r, int err, bool ban)
{
	char ip[SL_ADDR_STRLEN], msg[256];
	const char *where = r->every ? "any listener" : r->name;
	size_t n;
	const void *bytes = sl_addr_ip_bytes(&r->addr, &n);

	if (bytes == NULL || inet_ntop(n == 4 ? AF_INET : AF_INET6, bytes, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	switch (-err) {
	case 0:
		return ok_doc(str(ban ? "banned" : "unbanned"));
	case ENOENT:
		snprintf(msg, sizeof(msg), "no listener %s", r->name);
		return error_doc("ENOENT", msg);
	case EINVAL:
		if (r->every)
			snprintf(msg, sizeof(msg),
			         "no listener bans sources (none has source_limits.ban)");
		else
			snprintf(msg, sizeof(msg),
			         "listener %s bans no source (it has no source_limits.ban)", where);
		return error_doc("EINVAL", msg);
	case EAFNOSUPPORT: {
		/* an IPv4-mapped address stands for an IPv4 client */
		bool v4 = n == 4 ||
		          (bytes != NULL && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)bytes));

		snprintf(msg, sizeof(msg),
		         "%s is an %s client, and %s takes %s clients only: the ban could never "
		         "match",
		         ip, v4 ? "IPv4" : "IPv6", r->every ? "every listener that bans" : where,
		         v4 ? "IPv6" : "IPv4");
		return error_doc("EAFNOSUPPORT", msg);
	}
	}
	if (!ban) {
		snprintf(msg, sizeof(msg), "%s is not banned on %s", ip, where);
		return error_doc("ESRCH", msg);
	}
	/* -ENOSPC: the table keeps its active sources and running bans against a newcomer */
	snprintf(msg, sizeof(msg),
	         "%s: no room to ban it on %s (its source table keeps its active sources and "
	         "running bans: a larger source_limits.table_size makes room)",
	         ip, where);
	return error_doc("ENOSPC", msg);
}

static json_t *
unban(struct sl_ctl *c, const struct sl__ctl_req *r)
{
	return ban_answer(r, sl_proxy_unban(c->p, r->every ? NULL : r->name, &r->addr), false);
}

static json_t *
ban(struct sl_ctl *c, const struct sl__ctl_req *r)
{
	int err = sl_proxy_ban(c->p, r->every ? NULL : r->name, &r->addr,
	                       (uint64_t)r->seconds * 1000u);

	return ban_answer(r, err, true);
}

static json_t *
help(void)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < sl__ctl_nusage; i++)
		json_array_append_new(arr, str(sl__ctl_usage[i]));
	return arr;
}

/* ---- changes ---- */

/* The answer to a change of backend GROUP/NAME: {"group", "name"}, or NULL (no memory). */
static json_t *
backend_doc(const struct sl__ctl_req *r)
{
	json_t *o = json_object();

	if (o != NULL) {
		json_object_set_new(o, "group", str(r->group));
		json_object_set_new(o, "name", str(r->name));
	}
	return o;
}

static json_t *
change_backend(struct sl_ctl *c, const struct sl__ctl_req *r)
{
	struct sl_backend_spec spec;
	int err;

	switch (r->cmd) {
	case SL__CTL_ENABLE:
		err = sl_proxy_backend_set_admin(c->p, r->group, r->name, SL_BACKEND_ENABLED);
		break;
	case SL__CTL_DISABLE:
		err = sl_proxy_backend_set_admin(c->p, r->group, r->name, SL_BACKEND_DISABLED);
		break;
	case SL__CTL_DRAIN:
		err = sl_proxy_backend_set_admin(c->p, r->group, r->name, SL_BACKEND_DRAINING);
		break;
	case SL__CTL_WEIGHT:
		err = sl_proxy_backend_set_weight(c->p, r->group, r->name, r->weight);
		break;
	case SL__CTL_ADD:
		memset(&spec, 0, sizeof(spec));
		snprintf(spec.name, sizeof(spec.name), "%s", r->name);
		spec.addr = r->addr;
		spec.weight = r->weight;
		spec.max_connections = r->max_connections;
		spec.backup = r->backup;
		err = sl_proxy_backend_add(c->p, r->group, &spec);
		break;
	default: /* SL__CTL_REMOVE */
		err = sl_proxy_backend_remove(c->p, r->group, r->name);
		break;
	}
	return err != 0 ? backend_error(c, err, r) : ok_doc(backend_doc(r));
}

/* close sessions GROUP/NAME: how many were closed */
static json_t *
close_sessions(struct sl_ctl *c, const struct sl__ctl_req *r)
{
	uint64_t n;
	json_t *o;
	int err = sl_proxy_backend_close_sessions(c->p, r->group, r->name, &n);

	if (err == -ETIMEDOUT) {
		char msg[256];

		snprintf(msg, sizeof(msg),
		         "%s/%s: %" PRIu64 " sessions closed; a worker did not answer in time "
		         "(it closes its own when it does)",
		         r->group, r->name, n);
		return error_doc("ETIMEDOUT", msg);
	}
	if (err != 0)
		return backend_error(c, err, r);
	o = backend_doc(r);
	if (o != NULL)
		json_object_set_new(o, "closed", json_integer((json_int_t)n));
	return ok_doc(o);
}

static json_t *
do_reload(struct sl_ctl *c)
{
	char *text = NULL;
	size_t len = 0;
	json_t *doc;
	FILE *why;
	int err;

	if (c->reload == NULL)
		return error_doc("ENOSYS", "not supported by this process (nothing to reload)");
	why = open_memstream(&text, &len);
	if (why == NULL)
		return NULL;
	err = c->reload(c->arg, why);
	fclose(why);
	/* the reasons end in a newline each: the message is the lines without the last one */
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	if (err == 0) {
		json_t *o = json_object();

		if (o != NULL)
			json_object_set_new(o, "reloaded",
			                    str(c->config_path ? c->config_path : ""));
		doc = ok_doc(o);
	} else {
		doc = error_doc(NULL, len > 0 ? text : "not reloaded");
	}
	free(text);
	return doc;
}

/* ---- the server ---- */

/* Whether <cmd> only reads: what a draining process still serves. */
static bool
reads_only(enum sl__ctl_cmd cmd)
{
	switch (cmd) {
	case SL__CTL_HELP:
	case SL__CTL_SHOW_INFO:
	case SL__CTL_SHOW_STATS:
	case SL__CTL_SHOW_BACKENDS:
	case SL__CTL_SHOW_SESSIONS:
	case SL__CTL_SHOW_BANS:
		return true;
	default:
		return false;
	}
}

/* The thread took the drain notice, or ends: sl_ctl_draining() returns. */
static void
mark_drain_taken(struct sl_ctl *c)
{
	pthread_mutex_lock(&c->drain_mu);
	c->drain_taken = true;
	pthread_cond_broadcast(&c->drain_cv);
	pthread_mutex_unlock(&c->drain_mu);
}

/* Logs change request <line> (<len> bytes) with the pid and uid of client <cl>. */
static void
log_change(const struct ctl_client *cl, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	sl_log_info("control: pid %d uid %u: %.*s", (int)cl->pid, (unsigned)cl->uid, (int)len,
	            line);
}

/*
 * Runs <r>, parsed from <line> (<len> bytes), for client <cl>; the answer, or NULL (no memory).
 * Sets <*quit> for shutdown. Changes are logged with the client's pid and uid.
 */
static json_t *
run(struct sl_ctl *c, const struct ctl_client *cl, const struct sl__ctl_req *r, const char *line,
    size_t len, bool *quit)
{
	if (c->draining && !reads_only(r->cmd))
		return error_doc("EBUSY", "sluice is draining: it takes no command but help and "
		                          "show until it exits");
	switch (r->cmd) {
	case SL__CTL_HELP:
		return ok_doc(help());
	case SL__CTL_SHOW_INFO:
		return ok_doc(show_info(c));
	case SL__CTL_SHOW_STATS: {
		const struct sl_stats *reg = sl_proxy_stats_registry(c->p);
		int err = sl_stats_collect(sl_proxy_stats_registry(c->p));

		/* a worker that did not answer: the figures are those of its last collection */
		if (err != 0)
			sl_log_warn("control: show stats: collecting from the workers: %s",
			            strerror(-err));
		return ok_doc(sl__admin_stats_json(reg, NULL));
	}
	case SL__CTL_SHOW_BACKENDS:
		return show_backends(c);
	case SL__CTL_SHOW_SESSIONS:
		return ok_doc(show_sessions(c));
	case SL__CTL_PROFILE:
		return profile(c, r->seconds);
	case SL__CTL_SHOW_BANS:
		return show_bans(c);
	case SL__CTL_UNBAN:
		log_change(cl, line, len);
		return unban(c, r);
	case SL__CTL_BAN:
		log_change(cl, line, len);
		return ban(c, r);
	case SL__CTL_CLOSE_SESSIONS:
		log_change(cl, line, len);
		return close_sessions(c, r);
	case SL__CTL_RELOAD:
		sl_log_info("control: reload requested by pid %d uid %u", (int)cl->pid,
		            (unsigned)cl->uid);
		return do_reload(c);
	case SL__CTL_SHUTDOWN:
		if (c->shutdown == NULL)
			return error_doc("ENOSYS", "not supported by this process");
		sl_log_info("control: shutdown requested by pid %d uid %u", (int)cl->pid,
		            (unsigned)cl->uid);
		*quit = true;
		return ok_doc(str("draining"));
	default:
		log_change(cl, line, len);
		return change_backend(c, r);
	}
}

/* <doc> (taken) as one line, malloc'd, in <*len> bytes; NULL when out of memory. */
static char *
answer_line(json_t *doc, size_t *len)
{
	char *text = doc != NULL ? json_dumps(doc, SL_ADMIN_JSON_FLAGS) : NULL;
	size_t n = text != NULL ? strlen(text) : 0;
	char *line = text != NULL ? realloc(text, n + 2) : NULL;

	json_decref(doc);
	if (line == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	*len = n + 1;
	return line;
}

static const char answer_nomem[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";

/* Sends <doc> (taken) to a client about to be closed, as far as its socket takes it now. */
static void
answer_parting(int fd, json_t *doc)
{
	size_t len;
	char *line = answer_line(doc, &len);

	if (line != NULL)
		(void)send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	else
		(void)send(fd, answer_nomem, sizeof(answer_nomem) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
}

/* Sends what is left of <cl>'s answer, as far as its socket takes it. 0 or -errno. */
static int
answer_flush(struct ctl_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			cl->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && errno == EAGAIN ? 0 : (n == -1 ? -errno : -EPIPE);
	}
	if (cl->out != answer_nomem)
		free(cl->out);
	cl->out = NULL;
	return 0;
}

/* Sends what is left of <cl>'s answer, waiting for room until its WRITE_MS are over. */
static void
answer_finish(struct ctl_client *cl)
{
	while (cl->out != NULL && answer_flush(cl) == 0 && cl->out != NULL) {
		struct pollfd pfd = {.fd = cl->fd, .events = POLLOUT};
		uint64_t now = sl_clock_ns();

		if (now >= cl->out_until_ns)
			return;
		if (poll(&pfd, 1, (int)((cl->out_until_ns - now) / 1000000u) + 1) == -1 &&
		    errno != EINTR)
			return;
	}
}

/*
 * Answers <cl> with <doc> (taken; NULL: the out-of-memory answer): sent now as far as the
 * socket takes it, the rest when it has room (WRITE_MS at most). 0 or -errno.
 */
static int
answer(struct ctl_client *cl, json_t *doc)
{
	char *line = answer_line(doc, &cl->out_len);

	if (line == NULL) {
		line = (char *)answer_nomem;
		cl->out_len = sizeof(answer_nomem) - 1;
	}
	cl->out = line;
	cl->out_off = 0;
	cl->out_until_ns = sl_clock_ns() + (uint64_t)WRITE_MS * 1000000u;
	return answer_flush(cl);
}

static void
client_close(struct ctl_client *cl)
{
	sl_log_debug("control: pid %d uid %u disconnected", (int)cl->pid, (unsigned)cl->uid);
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
	if (cl->out != answer_nomem)
		free(cl->out);
	cl->out = NULL;
}

/* The client silent the longest, if for more than <ms>; else NULL. */
static struct ctl_client *
idlest(struct sl_ctl *c, unsigned ms)
{
	uint64_t now = sl_clock_ns();
	struct ctl_client *best = NULL;

	for (size_t i = 0; i < CLIENTS_MAX; i++) {
		struct ctl_client *cl = &c->clients[i];

		if (cl->fd != -1 && (best == NULL || cl->last_ns < best->last_ns))
			best = cl;
	}
	return best != NULL && now - best->last_ns > (uint64_t)ms * 1000000u ? best : NULL;
}

static void
accept_client(struct sl_ctl *c)
{
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1};
	socklen_t clen = sizeof(cred);
	struct ctl_client *cl = NULL;
	int fd;

	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1 && sl_sock_error_is_local(-errno)) {
		/* the client stays queued and the socket readable: a poll would spin on it */
		if (c->accept_muted_until_ns == 0)
			sl_log_warn(
			        "control: cannot accept a client: %s (this process's shortage); "
			        "trying again every %d ms",
			        strerror(errno), ACCEPT_MUTE_MS);
		c->accept_muted_until_ns = sl_clock_ns() + (uint64_t)ACCEPT_MUTE_MS * 1000000u;
		return;
	}
	if (fd == -1)
		return; /* EAGAIN, or the client left already: nothing to serve */
	if (c->accept_muted_until_ns != 0)
		sl_log_info("control: accepting clients again");
	c->accept_muted_until_ns = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0)
		sl_log_warn("control: SO_PEERCRED: %s", strerror(errno));
	for (size_t i = 0; i < CLIENTS_MAX && cl == NULL; i++)
		if (c->clients[i].fd == -1)
			cl = &c->clients[i];
	if (cl == NULL && (cl = idlest(c, YIELD_MS)) != NULL) {
		/* a script that left its connection open does not lock the operator out */
		sl_log_info("control: pid %d uid %u closed, idle while pid %d uid %u waited",
		            (int)cl->pid, (unsigned)cl->uid, (int)cred.pid, (unsigned)cred.uid);
		answer_parting(cl->fd,
		               error_doc("ETIMEDOUT", "closed: idle while another client waited"));
		client_close(cl);
	}
	if (cl == NULL) {
		sl_log_warn("control: pid %d uid %u refused: %d clients are connected already",
		            (int)cred.pid, (unsigned)cred.uid, CLIENTS_MAX);
		answer_parting(fd, error_doc("EBUSY", "too many clients; try again"));
		close(fd);
		return;
	}
	sl_log_debug("control: pid %d uid %u gid %u connected", (int)cred.pid, (unsigned)cred.uid,
	             (unsigned)cred.gid);
	cl->fd = fd;
	cl->pid = cred.pid;
	cl->uid = cred.uid;
	cl->len = 0;
	cl->out = NULL;
	cl->last_ns = sl_clock_ns();
}

/*
 * Answers the complete lines in <cl>'s buffer, up to one whose answer the socket could not
 * take at once (the rest wait until it has). false: the client is to be closed.
 */
static bool
serve_lines(struct sl_ctl *c, struct ctl_client *cl, bool *quit)
{
	char *nl;

	while (cl->out == NULL && (nl = memchr(cl->buf, '\n', cl->len)) != NULL) {
		size_t n = (size_t)(nl - cl->buf);
		struct sl__ctl_req r;
		char why[256];
		json_t *doc;

		if (sl__ctl_parse(cl->buf, n, &r, why, sizeof(why)) != 0)
			doc = error_doc("usage", why);
		else
			doc = run(c, cl, &r, cl->buf, n, quit);
		memmove(cl->buf, nl + 1, cl->len - n - 1);
		cl->len -= n + 1;
		if (answer(cl, doc) != 0)
			return false;
		if (*quit) {
			answer_finish(cl); /* before the drain starts: the client is told */
			return false;
		}
	}
	if (cl->out == NULL && cl->len == sizeof(cl->buf)) {
		char why[96];

		snprintf(why, sizeof(why), "request too long (at most %d bytes with its newline)",
		         SL__CTL_REQUEST_MAX);
		answer_parting(cl->fd, error_doc("E2BIG", why));
		return false;
	}
	return true;
}

/* <cl>'s socket is ready: writes its waiting answer, reads what it sent, answers it. false:
 * the client is to be closed. */
static bool
serve_client(struct sl_ctl *c, struct ctl_client *cl, short revents, bool *quit)
{
	size_t held;
	ssize_t n;

	if (cl->out != NULL) {
		if (answer_flush(cl) != 0)
			return false;
		if (cl->out != NULL)
			return true; /* still waiting for room */
		cl->last_ns = sl_clock_ns();
		return serve_lines(c, cl, quit); /* what it sent meanwhile */
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return true;
	n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	cl->len += (size_t)n;
	held = cl->len;
	if (!serve_lines(c, cl, quit))
		return false;
	/* silent from the answer on, however long it took; bytes that complete no request do
	 * not count (a byte now and then would keep a place for ever): a line was answered if
	 * the buffer holds less than it did */
	if (cl->len < held)
		cl->last_ns = sl_clock_ns();
	return true;
}

static void *
ctl_run(void *arg)
{
	struct sl_ctl *c = arg;
	struct pollfd pfd[3 + CLIENTS_MAX];

	for (;;) {
		size_t n = 3;
		uint64_t now;
		bool quit = false;

		pfd[0] = (struct pollfd){.fd = c->stopfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = c->drainfd, .events = c->draining ? 0 : POLLIN};
		pfd[2] = (struct pollfd){
		        .fd = c->lfd,
		        .events = sl_clock_ns() < c->accept_muted_until_ns ? 0 : POLLIN};
		for (size_t i = 0; i < CLIENTS_MAX; i++)
			pfd[n++] = (struct pollfd){.fd = c->clients[i].fd,
			                           .events = c->clients[i].out != NULL ? POLLOUT
			                                                               : POLLIN};
		if (poll(pfd, n, pfd[2].events == 0 ? ACCEPT_MUTE_MS : 1000) == -1 &&
		    errno != EINTR) {
			sl_log_error("control: poll: %s; the control socket stops serving",
			             strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			break;
		/* between two commands: none runs on into the drain */
		if (pfd[1].revents != 0 && !c->draining) {
			c->draining = true;
			mark_drain_taken(c);
		}
		if (pfd[2].revents & POLLIN)
			accept_client(c);
		now = sl_clock_ns();
		for (size_t i = 0; i < CLIENTS_MAX; i++) {
			struct ctl_client *cl = &c->clients[i];

			if (cl->fd == -1)
				continue;
			if (pfd[3 + i].revents != 0) {
				if (!serve_client(c, cl, pfd[3 + i].revents, &quit))
					client_close(cl);
			} else if (cl->out != NULL) {
				if (now > cl->out_until_ns) {
					sl_log_info(
					        "control: pid %d uid %u closed: it took no answer "
					        "for %d ms",
					        (int)cl->pid, (unsigned)cl->uid, WRITE_MS);
					client_close(cl);
				}
			} else if (now > cl->last_ns &&
			           now - cl->last_ns > (uint64_t)IDLE_MS * 1000000u) {
				client_close(cl);
			}
			/* after the answer went out; this server serves the drain on */
			if (quit) {
				c->shutdown(c->arg);
				quit = false;
			}
		}
	}
	mark_drain_taken(c); /* nothing runs from here on */
	return NULL;
}

/*
 * sl_ctl_open() on listening socket <fd>, or on a new one at o->path when <fd> is -1. <fd> is
 * the server's from the call on: closed on failure.
 */
/*
 * Gives the socket file at <path>, one taken over from the previous process (binary upgrade),
 * the mode <mode> this process's file asks for: the file keeps the mode its maker gave it.
 * Says so when it cannot.
 */
static void
inherited_mode(const char *path, unsigned mode)
{
	struct stat st;

	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) == mode)
		return;
	if (chmod(path, (mode_t)mode) == 0)
		sl_log_info("control socket %s: mode %04o -> %04o", path,
		            (unsigned)(st.st_mode & 07777), mode);
	else
		sl_log_warn("control socket %s: cannot change its mode from %04o to %04o: %s (who "
		            "may connect is what the previous process allowed)",
		            path, (unsigned)(st.st_mode & 07777), mode, strerror(errno));
}

static int
ctl_open(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o, int fd)
{
	struct sl_ctl *c = NULL;
	bool inherited = fd >= 0;
	int err;

	*out = NULL;
	err = -ENAMETOOLONG;
	if (strlen(o->path) >= sizeof(c->sun.sun_path))
		goto err_close;
	err = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto err_close;
	c->p = p;
	c->cfg = o->cfg;
	c->reload = o->reload;
	c->shutdown = o->shutdown;
	c->arg = o->arg;
	c->started_ns = sl_clock_ns();
	c->stopfd = -1;
	c->drainfd = -1;
	pthread_mutex_init(&c->drain_mu, NULL);
	pthread_cond_init(&c->drain_cv, NULL);
	c->sun.sun_family = AF_UNIX;
	memcpy(c->sun.sun_path, o->path, strlen(o->path) + 1);
	for (size_t i = 0; i < CLIENTS_MAX; i++)
		c->clients[i].fd = -1;
	if (o->config_path != NULL && (c->config_path = strdup(o->config_path)) == NULL)
		goto err_close;
	/* a stale socket is replaced, a live one or a file that is no socket is not */
	if (fd < 0 && (fd = sl_sock_unix_listen(o->path, SOCK_STREAM, o->mode)) < 0) {
		err = fd;
		goto err_close;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		err = -errno;
		goto err_close;
	}
	c->lfd = fd;
	if (inherited)
		inherited_mode(o->path, o->mode);
	sl_sock_unix_file_of(c->sun.sun_path, &c->file);
	*out = c;
	return 0;

err_close:
	if (fd >= 0)
		close(fd); /* a file made here stays: the next start replaces a stale socket */
	if (c != NULL) {
		free(c->config_path);
		pthread_mutex_destroy(&c->drain_mu);
		pthread_cond_destroy(&c->drain_cv);
	}
	free(c);
	return err;
}

int
sl_ctl_open(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o)
{
	return ctl_open(out, p, o, -1);
}

int
sl_ctl_open_fd(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o, int fd)
{
	return ctl_open(out, p, o, fd);
}

int
sl_ctl_listen_fd(const struct sl_ctl *c)
{
	return c->lfd;
}

void
sl_ctl_handed_over(struct sl_ctl *c)
{
	c->keep_file = true;
}

int
sl_ctl_serve(struct sl_ctl *c)
{
	int err;

	if (c->stopfd != -1)
		return -EALREADY;
	c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stopfd == -1)
		return -errno;
	c->drainfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = c->drainfd == -1 ? -errno : -pthread_create(&c->thread, NULL, ctl_run, c);
	if (err != 0) {
		close(c->stopfd);
		c->stopfd = -1;
		if (c->drainfd != -1)
			close(c->drainfd);
		c->drainfd = -1;
	}
	return err;
}

int
sl_ctl_start(struct sl_ctl **out, struct sl_proxy *p, const struct sl_ctl_opts *o)
{
	int err = sl_ctl_open(out, p, o);

	if (err == 0 && (err = sl_ctl_serve(*out)) != 0) {
		sl_ctl_stop(*out);
		*out = NULL;
	}
	return err;
}

void
sl_ctl_draining(struct sl_ctl *c)
{
	uint64_t one = 1;

	if (c == NULL || c->drainfd == -1)
		return;
	if (write(c->drainfd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd's counter does not overflow at 1: not seen, but never silent */
		sl_log_warn("control: cannot tell the control thread of the drain: %s; it takes "
		            "changes on",
		            strerror(errno));
		return;
	}
	pthread_mutex_lock(&c->drain_mu);
	while (!c->drain_taken)
		pthread_cond_wait(&c->drain_cv, &c->drain_mu);
	pthread_mutex_unlock(&c->drain_mu);
}

/*
 * After a handover, once our copy of the socket is closed: the new process serves the file if
 * it took the socket over, and a connect reaches it; if it chose another path it closed its
 * copy, the connect is refused, and the file is a leftover to remove.
 */
static void
leave_file(const struct sl_ctl *c)
{
	int fd = sl_sock_unix_connect(c->sun.sun_path, SOCK_STREAM | SOCK_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return;
	}
	if (fd == -ECONNREFUSED && unlink(c->sun.sun_path) == 0)
		sl_log_info("control socket %s removed: the new process serves another path",
		            c->sun.sun_path);
}

void
sl_ctl_stop(struct sl_ctl *c)
{
	uint64_t one = 1;
	int err;

	if (c == NULL)
		return;
	if (c->stopfd != -1) {
		if (write(c->stopfd, &one, sizeof(one)) != sizeof(one))
			sl_log_warn("control: cannot wake the control thread: %s", strerror(errno));
		pthread_join(c->thread, NULL);
		close(c->stopfd);
		close(c->drainfd);
	}
	pthread_mutex_destroy(&c->drain_mu);
	pthread_cond_destroy(&c->drain_cv);
	for (size_t i = 0; i < CLIENTS_MAX; i++)
		if (c->clients[i].fd != -1)
			client_close(&c->clients[i]);
	/* after a drop to user:, a directory only root may write keeps it: the next start
	 * replaces a socket nothing serves; a socket another process bound there since is its */
	if (!c->keep_file && (err = sl_sock_unix_remove(c->sun.sun_path, &c->file)) != 0 &&
	    err != -ENOENT)
		sl_log_info("control socket %s stays behind: %s%s", c->sun.sun_path,
		            err == -ESTALE ? "another process's socket is there now"
		                           : strerror(-err),
		            err == -ESTALE ? "" : " (the next start replaces it)");
	close(c->lfd);
	if (c->keep_file)
		leave_file(c);
	free(c->config_path);
	free(c);
}
