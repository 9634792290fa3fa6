// SPDX-License-Identifier: MIT
/*
 * The access log (accesslog.h, docs/operations.md "Monitor: the access log"). Each worker owns
 * one channel: <recs> and two SPSC rings of pointers into it, <free> (logger -> worker: records
 * to fill) and <full> (worker -> logger: records to write), holding all ring_size records
 * between them. A worker pops a free record, copies into it and pushes it full: no allocation,
 * formatting or system call, and an empty <free> drops the record (counted). The logger thread
 * pops full records, formats them into its own buffer of whole lines and gives them back; it
 * writes the buffer with write(2), so it knows what the file holds: a write that stops inside
 * a line keeps the rest, written first when the file takes it again (the line is completed,
 * never followed by another), and a line the buffer has no room for while the file takes
 * nothing is dropped and counted (<lost>). Writers: <dropped> by the channel's worker, <lost>
 * by the logger (both relaxed); stop and reopen under <mu> by any thread; the file, the buffer
 * and everything else by the logger (the controlling thread before start and after the join).
 * The rings' own release/acquire pairs hand each record over.
 */
#include "proxy/accesslog.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/ring.h>

#include "proxy/session.h"

/* The logger flushes when its rings are empty, and at least this often while they are not. */
#define FLUSH_MS 100
/* How long the logger sleeps when its rings are empty. */
#define IDLE_MS 10
/* Records the logger takes from one ring per pass, so that one busy worker cannot starve the
 * others' channels. */
#define BATCH 64
/* The logger's buffer of lines on their way to the file: what it holds while writes fail. */
#define FILE_BUF ((size_t)64 * 1024)
/* After a failed write, the next try waits this long (a full disk is not asked 100 times a
 * second). A reader that is behind (EAGAIN) is written to again as soon as it takes more. */
#define RETRY_MS FLUSH_MS
/* At the stop, a reader behind gets what is left as long as it takes some every
 * FINISH_STALL_MS, for FINISH_MAX_MS at most; a stopped one costs the lines, and the exit
 * FINISH_STALL_MS. */
#define FINISH_STALL_MS 100
#define FINISH_MAX_MS 2000

struct sl_accesslog_chan {
	struct sl_ring_spsc *free; /* producer: logger; consumer: the worker */
	struct sl_ring_spsc *full; /* producer: the worker; consumer: logger */
	struct sl_accesslog_rec *recs;
	_Atomic uint64_t dropped; /* only the channel's worker adds; relaxed (a statistic) */
} SL_CACHELINE_ALIGNED;

struct sl_accesslog {
	const struct sl_config *cfg; /* layout snapshot: names, addresses, path */
	const char *path;            /* cfg->access_log.path */
	/* the file; for "-", standard output or our own description of it (stdout_open()); -1
	 * while not open */
	int fd;
	/* a write offers whole lines of at most this many bytes together, which the file takes
	 * whole or not at all (a pipe, a socket: whole_lines_max()); 0: any number (a file) */
	size_t whole_max;
	bool sock;  /* fd is a socket (standard output to the journal): sent with MSG_DONTWAIT */
	char *buf;  /* FILE_BUF bytes: whole lines not yet in the file */
	size_t len; /* bytes in buf */
	/* bytes at the start of buf already in the file: part of buf's first line, whose rest
	 * the file still lacks (0 between failed writes: only whole lines are kept) */
	size_t head;
	/* with head > 0: the file offset just past those bytes, if known (UINT64_MAX: a pipe) */
	uint64_t head_end;
	uint64_t retry_ms;     /* after a failed write, no new one before this (mono_ms()) */
	bool write_failed;     /* an error was logged; logged again once writes work */
	bool behind;           /* the last write stopped at EAGAIN (a pipe's reader is behind) */
	uint64_t fail_lost;    /* lines lost since write_failed was set, for that log line */
	_Atomic uint64_t lost; /* lines lost to write failures; only the logger adds (relaxed) */
	unsigned n;
	struct sl_accesslog_chan *chans;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;   /* guarded by mu */
	bool reopen; /* guarded by mu */
};

/* session.c maps a filter's timeout or reject counter onto an end by the same offset */
static_assert(SL_END_REJECT_FIRST - SL_END_TIMEOUT_FIRST ==
                      SL_CTR_REJECT_FIRST - SL_CTR_TIMEOUT_FIRST,
              "enum sl_session_end and enum sl_ctr list timeouts, then rejects, alike");

/* ---- the worker's side ---- */

bool
sl__accesslog_push(struct sl_accesslog *a, unsigned worker, const struct sl_accesslog_rec *r)
{
	struct sl_accesslog_chan *c = &a->chans[worker];
	void *slot;
	bool ok;

	if (!sl_ring_try_pop_spsc(c->free, &slot)) {
		/* relaxed: a statistic, summed when printed; it publishes nothing */
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		return false;
	}
	memcpy(slot, r, sizeof(*r));
	/* never full: the two rings hold the channel's records between them */
	ok = sl_ring_try_push_spsc(c->full, slot);
	SL_ASSERT(ok);
	(void)ok;
	return true;
}

/* <a> as family, port (host order) and network-order bytes; family 0 when unset. */
static void
addr_encode(const struct sl_addr *a, uint8_t *family, uint16_t *port, uint8_t *ip)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

	if (a->len != 0 && a->ss.ss_family == AF_INET6) {
		*family = AF_INET6;
		*port = ntohs(s6->sin6_port);
		memcpy(ip, &s6->sin6_addr, 16);
	} else if (a->len != 0 && a->ss.ss_family == AF_INET) {
		*family = AF_INET;
		*port = ntohs(s4->sin_port);
		memcpy(ip, &s4->sin_addr, 4);
	}
}

void
sl__accesslog_session_closed(struct sl_session *s, bool reset)
{
	struct sl_pworker *w = s->l->w;
	struct sl_accesslog *a = w->p->alog;
	struct sl_accesslog_rec r;
	uint64_t now;

	if (a == NULL)
		return;
	now = sl_loop_now_ms(w->loop);
	memset(&r, 0, sizeof(r));
	r.end_ms = now;
	r.bytes_in = sl_fwd_bytes(&s->fwd, SL_FWD_CLIENT);
	r.bytes_out = sl_fwd_bytes(&s->fwd, SL_FWD_SERVER);
	r.duration_ms = now - s->start_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - s->start_ms);
	r.connect_ms = s->conn_ms;
	r.backend = s->backend;
	r.listener = (uint16_t)s->l->index;
	memcpy(r.lname, s->l->cfg->name, sizeof(r.lname));
	r.end = s->end;
	if (reset && r.end == SL_END_NORMAL)
		r.reset = (uint8_t)(1 + s->fwd.err_side);
	if (s->peer.len != 0 && s->peer.sa.sa_family == AF_INET6) {
		r.family = AF_INET6;
		r.port = ntohs(s->peer.sin6.sin6_port);
		memcpy(r.ip, &s->peer.sin6.sin6_addr, 16);
	} else if (s->peer.len != 0 && s->peer.sa.sa_family == AF_INET) {
		r.family = AF_INET;
		r.port = ntohs(s->peer.sin.sin_port);
		memcpy(r.ip, &s->peer.sin.sin_addr, 4);
	}
	if (s->backend >= 0) {
		/* the session still holds the slot: its occupant cannot change under us */
		const struct sl_backend *b = &s->l->group->backends[s->backend];

		memcpy(r.bname, b->name, sizeof(r.bname));
		addr_encode(&b->addr, &r.bfamily, &r.bport, r.bip);
	}
	sl__accesslog_push(a, w->index, &r);
}

uint64_t
sl__accesslog_dropped(const struct sl_accesslog *a, enum sl_accesslog_drop why)
{
	uint64_t n = 0;

	if (why == SL_ACCESSLOG_WRITE_FAILED)
		/* relaxed: a statistic; a count that lags by a line is fine */
		return atomic_load_explicit(&a->lost, memory_order_relaxed);
	for (unsigned i = 0; i < a->n; i++)
		/* relaxed: a statistic; a count that lags by a record is fine */
		n += atomic_load_explicit(&a->chans[i].dropped, memory_order_relaxed);
	return n;
}

/* ---- formatting ---- */

/* A bounded writer into a caller's buffer; <len> past <size> means it did not fit. */
struct out {
	char *buf;
	size_t size, len;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n < o->size)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* a string literal, its length known at compile time */
#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
putf(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* "00" .. "99": two digits per division */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Writes <v> in decimal ending just before <end>; returns where it starts. */
static char *
u64_digits(uint64_t v, char *end)
{
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		*--end = digit_pairs[d + 1];
		*--end = digit_pairs[d];
	}
	if (v >= 10) {
		*--end = digit_pairs[v * 2 + 1];
		*--end = digit_pairs[v * 2];
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

/* <v> in decimal, without printf: a line has several numbers. */
static void
put_u64(struct out *o, uint64_t v)
{
	char tmp[20], *start = u64_digits(v, tmp + sizeof(tmp));

	put(o, start, (size_t)(tmp + sizeof(tmp) - start));
}

/* <s> as a JSON string, quotes included: '"', '\' and every byte outside printable ASCII
 * escaped, so that the line stays valid JSON (and one line) whatever a name holds. */
/* 1 for the bytes a JSON string holds as they are: printable ASCII but '"' and '\\' */
static const uint8_t json_plain[256] = {
        [' '] = 1,
        ['!'] = 1,
        ['#' ... '['] = 1,
        [']' ... '~'] = 1,
};

static void
put_json_str(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	put(o, "\"", 1);
	for (;;) {
		const unsigned char *run = p;

		/* a run of bytes that need no escape (every name sluice checks is one) */
		while (json_plain[*p])
			p++;
		put(o, (const char *)run, (size_t)(p - run));
		if (*p == '\0')
			break;
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p};

			put(o, e, 2);
		} else {
			putf(o, "\\u%04x", *p);
		}
		p++;
	}
	put(o, "\"", 1);
}

/* <a> as a JSON string; IPv4 (most lines) without inet_ntop() and printf. */
static void
put_addr(struct out *o, const struct sl_addr *a)
{
	char buf[SL_ADDR_STRLEN];

	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
		const uint8_t *ip = (const uint8_t *)&s4->sin_addr;
		char tmp[sizeof("\"255.255.255.255:65535\"")], *end = tmp + sizeof(tmp), *at;

		/* backwards from the closing quote */
		*--end = '"';
		at = u64_digits(ntohs(s4->sin_port), end);
		*--at = ':';
		for (int i = 3; i >= 0; i--) {
			at = u64_digits(ip[i], at);
			if (i > 0)
				*--at = '.';
		}
		*--at = '"';
		put(o, at, (size_t)(tmp + sizeof(tmp) - at));
		return;
	}
	put_json_str(o, sl_addr_format(a, buf, sizeof(buf)));
}

static void
addr_decode(uint8_t family, uint16_t port, const uint8_t *ip, struct sl_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, ip, 16);
		a->len = sizeof(*s6);
	} else if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, ip, 4);
		a->len = sizeof(*s4);
	}
}

static void
rec_client(const struct sl_accesslog_rec *r, struct sl_addr *a)
{
	addr_decode(r->family, r->port, r->ip, a);
}

const char *
sl__accesslog_end_name(const struct sl_accesslog_rec *r, char *buf, size_t size)
{
	unsigned e = r->end;

	if (e == SL_END_NORMAL)
		return r->reset == 0                   ? "normal"
		       : r->reset == 1 + SL_FWD_CLIENT ? "reset:client"
		                                       : "reset:backend";
	if (e == SL_END_NO_BACKEND)
		return "no_backend";
	if (e == SL_END_LOCAL_ERROR)
		return "local_error";
	if (e == SL_END_QUEUE_FULL)
		return "queue_full";
	if (e == SL_END_ADMIN)
		return "admin";
	if (e == SL_END_TIMEOUT_FIRST + SL_TIMEOUT_DRAIN)
		return "drain";
	if (e >= SL_END_TIMEOUT_FIRST && e < SL_END_REJECT_FIRST)
		snprintf(buf, size, "timeout:%s",
		         sl_timeout_kind_name((enum sl_timeout_kind)(e - SL_END_TIMEOUT_FIRST)));
	else if (e >= SL_END_REJECT_FIRST && e < SL_END_COUNT)
		snprintf(buf, size, "rejected:%s",
		         sl_reject_reason_name((enum sl_reject_reason)(e - SL_END_REJECT_FIRST)));
	else
		snprintf(buf, size, "unknown:%u", e);
	return buf;
}

int
sl__accesslog_format(const struct sl_accesslog_rec *r, const struct sl_config *cfg,
                     int64_t wall_offset_ms, char *buf, size_t size)
{
	const struct sl_config_listener *l = NULL;
	const struct sl_addr *baddr = NULL;
	const char *bname = NULL;
	struct sl_addr seen;
	struct out o = {.buf = buf, .size = size};
	int64_t wall = (int64_t)r->end_ms + wall_offset_ms;
	static _Thread_local char when[32];
	static _Thread_local time_t when_sec = (time_t)-1;
	char why[48], ms[3];
	struct sl_addr client;
	struct tm tm;
	time_t sec;

	if (r->backend >= 0 && r->bname[0] != '\0') {
		/* the backend as the session saw it (it may have been added at run time) */
		addr_decode(r->bfamily, r->bport, r->bip, &seen);
		baddr = &seen;
		bname = r->bname;
	}
	if (r->listener < cfg->nlisteners &&
	    (r->lname[0] == '\0' || strcmp(r->lname, cfg->listeners[r->listener].name) == 0)) {
		l = &cfg->listeners[r->listener];
		if (bname == NULL && r->backend >= 0 && l->group < cfg->ngroups &&
		    (size_t)r->backend < cfg->groups[l->group].nbackends) {
			baddr = &cfg->groups[l->group].backends[r->backend].addr;
			bname = cfg->groups[l->group].backends[r->backend].name;
		}
	}
	if (wall < 0)
		wall = 0;
	sec = (time_t)(wall / 1000);
	/* the date and time of day change once a second: format them once a second (a thread's
	 * own copy: the logger thread's, or a test's) */
	if (sec != when_sec) {
		if (gmtime_r(&sec, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			snprintf(when, sizeof(when), "1970-01-01T00:00:00");
		when_sec = sec;
	}
	ms[0] = (char)('0' + wall % 1000 / 100);
	ms[1] = (char)('0' + wall % 100 / 10);
	ms[2] = (char)('0' + wall % 10);
	PUT_LIT(&o, "{\"time\":\"");
	put_str(&o, when);
	put(&o, ".", 1);
	put(&o, ms, 3);
	PUT_LIT(&o, "Z\",\"client\":");
	rec_client(r, &client);
	if (client.len != 0)
		put_addr(&o, &client);
	else
		PUT_LIT(&o, "null");
	PUT_LIT(&o, ",\"listener\":");
	if (r->lname[0] != '\0')
		put_json_str(&o, r->lname); /* a listener a reload added, or the same name */
	else if (l != NULL)
		put_json_str(&o, l->name);
	else
		PUT_LIT(&o, "null");
	PUT_LIT(&o, ",\"backend\":");
	if (bname != NULL)
		put_json_str(&o, bname);
	else
		PUT_LIT(&o, "null");
	PUT_LIT(&o, ",\"backend_address\":");
	if (baddr != NULL)
		put_addr(&o, baddr);
	else
		PUT_LIT(&o, "null");
	PUT_LIT(&o, ",\"bytes_in\":");
	put_u64(&o, r->bytes_in);
	PUT_LIT(&o, ",\"bytes_out\":");
	put_u64(&o, r->bytes_out);
	PUT_LIT(&o, ",\"connect_ms\":");
	if (r->connect_ms == UINT32_MAX)
		PUT_LIT(&o, "null");
	else
		put_u64(&o, r->connect_ms);
	PUT_LIT(&o, ",\"duration_ms\":");
	put_u64(&o, r->duration_ms);
	PUT_LIT(&o, ",\"termination\":");
	put_json_str(&o, sl__accesslog_end_name(r, why, sizeof(why)));
	PUT_LIT(&o, "}\n");
	if (o.len >= size)
		return -ENOSPC;
	buf[o.len] = '\0';
	return (int)o.len;
}

/* ---- the logger thread ---- */

/* CLOCK_REALTIME - CLOCK_MONOTONIC in ms: turns a loop clock reading into wall-clock time. */
static int64_t
wall_offset_ms(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000 +
	       ((int64_t)rt.tv_nsec - (int64_t)mono.tv_nsec) / 1000000;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool
is_stdout(const char *path)
{
	return strcmp(path, "-") == 0;
}

/*
 * Standard output for "-", written without blocking as a file is, and without changing the
 * description the process was given (its parent's, maybe a shell's): a pipe, FIFO or terminal
 * is opened again through /proc/self/fd/1, non-blocking (a reader that stops reading fills it,
 * and lines wait or are counted lost instead of holding the logger and the exit behind it); a
 * socket (a service manager's journal) stays as it is, sent to with MSG_DONTWAIT (<*sock>); a
 * regular file, which never blocks, as well. One that cannot be opened again stays blocking,
 * which is said once.
 */
static void
stdout_open(int *fd, bool *sock)
{
	struct stat st;

	*fd = STDOUT_FILENO;
	if (fstat(STDOUT_FILENO, &st) != 0)
		return; /* closed: writes fail, counted */
	*sock = S_ISSOCK(st.st_mode);
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	*fd = open("/proc/self/fd/1", O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
	if (*fd != -1)
		return;
	sl_log_warn("access log -: cannot open standard output again without blocking "
	            "(/proc/self/fd/1: %s): a reader that stops reading will hold the log, and "
	            "the exit, until it reads",
	            strerror(errno));
	*fd = STDOUT_FILENO;
}

/*
 * Opens <path> for appending in <*fd> (standard output for "-": stdout_open(), <*sock> set for
 * a socket). 0 or -errno. Never blocks: a FIFO with no reader fails at once (-ENXIO) instead of
 * holding the logger, or the start, until one comes, and a full one takes what it can (the rest
 * waits, or is counted lost, as for a full disk); a regular file is not affected. Through a
 * symbolic link only one only root can have made (sl_proxy_access_log_link_trusted()), else
 * -ELOOP: the start opens it as root, maybe in a directory the service's user may write, and
 * gives the file to that user.
 */
static int
file_open(const char *path, int *fd, bool *sock)
{
	const int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK;

	*sock = false;
	if (is_stdout(path)) {
		stdout_open(fd, sock);
		return 0;
	}
	*fd = open(path, flags | O_NOFOLLOW, 0644);
	if (*fd == -1 && errno == ELOOP && sl_proxy_access_log_link_trusted(path))
		*fd = open(path, flags, 0644); /* /dev/stdout and the like */
	return *fd == -1 ? -errno : 0;
}

bool
sl_proxy_access_log_link_trusted(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode) || st.st_uid != 0)
		return false;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return stat(dir, &st) == 0 && st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/*
 * The most bytes of whole lines one write to <fd> may offer so that a reader never sees part
 * of a line, even of one sluice could not finish, or 0 where a reader sees the file only as
 * whole lines anyway (a regular file, whose unfinished line cut_head() cuts off). A pipe or
 * FIFO writes PIPE_BUF bytes or fewer whole or not at all. A Unix stream socket (<sock>: a
 * journal's) takes a send in buffers of at most half its send buffer less 64 bytes, each
 * whole or not at all, so one send that fits in one never stops inside it (one of a TCP
 * socket may: a line can be cut there only at exit, when nothing took its rest).
 */
static size_t
whole_lines_max(int fd, bool sock)
{
	struct stat st;
	int sndbuf = 0;
	socklen_t len = sizeof(sndbuf);

	if (sock && getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 &&
	    sndbuf / 2 - 64 < PIPE_BUF)
		return sndbuf / 2 > 64 ? (size_t)(sndbuf / 2 - 64) : 1;
	if (sock || (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)))
		return PIPE_BUF;
	return 0;
}

/* What to add to a failed open's message: a FIFO's missing reader, or nothing. */
static const char *
open_hint(int err)
{
	return err == -ENXIO ? " (a FIFO that nothing reads: start its reader first)" : "";
}

static void
file_close(int fd)
{
	if (fd >= 0 && fd != STDOUT_FILENO)
		close(fd);
}

/* Newlines in <len> bytes at <p>: whole lines. */
static uint64_t
count_lines(const char *p, size_t len)
{
	uint64_t n = 0;

	for (const char *end = p + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		n++;
	return n;
}

/* <n> lines will never be written: counted, and told when writes work again. */
static void
count_lost(struct sl_accesslog *a, uint64_t n)
{
	/* relaxed: a statistic; only this thread adds */
	atomic_fetch_add_explicit(&a->lost, n, memory_order_relaxed);
	a->fail_lost += n;
}

/* Drops the lines of buf the file holds whole, keeping the part of a line it holds (head). */
static void
buf_trim(struct sl_accesslog *a)
{
	const char *nl = a->head > 0 ? memrchr(a->buf, '\n', a->head) : NULL;
	size_t done = nl != NULL ? (size_t)(nl + 1 - a->buf) : 0;

	if (done == 0)
		return;
	memmove(a->buf, a->buf + done, a->len - done);
	a->len -= done;
	a->head -= done;
}

/*
 * How much of buf past head the next write offers: all of it for a file; else whole lines of
 * at most whole_max bytes together, or one longer line alone.
 */
static size_t
write_size(const struct sl_accesslog *a)
{
	const char *p = a->buf + a->head, *nl;
	size_t left = a->len - a->head;

	if (a->whole_max == 0 || left <= a->whole_max)
		return left;
	nl = memrchr(p, '\n', a->whole_max);
	if (nl == NULL)
		nl = memchr(p, '\n', left);
	return nl != NULL ? (size_t)(nl + 1 - p) : left;
}

/*
 * Writes what buf holds past head. true if the file has all of it now (buf is empty). A
 * failure keeps the rest: the lines not written and the rest of one the write stopped inside,
 * which the next write completes; the first failure of a run of them is logged (EAGAIN, a
 * pipe or socket whose reader is behind, is not a failure to log), and the next try waits
 * RETRY_MS, or, for a reader behind, until it takes more (may_write()).
 */
static bool
file_write(struct sl_accesslog *a)
{
	ssize_t n;
	off_t end;
	int err = 0;

	while (a->head < a->len) {
		n = a->sock ? send(a->fd, a->buf + a->head, write_size(a),
		                   MSG_DONTWAIT | MSG_NOSIGNAL)
		            : write(a->fd, a->buf + a->head, write_size(a));
		if (n > 0) {
			a->head += (size_t)n;
		} else if (n == 0 || errno != EINTR) {
			err = n == 0 ? EIO : errno; /* 0: a file that takes nothing says no more */
			break;
		}
	}
	if (a->head == a->len) {
		a->head = a->len = 0;
		if (a->write_failed)
			sl_log_info("access log %s: writing again (%llu lines lost meanwhile)",
			            a->path, (unsigned long long)a->fail_lost);
		a->write_failed = false;
		a->behind = false;
		return true;
	}
	a->behind = err == EAGAIN;
	if (!a->write_failed && err != EAGAIN) {
		sl_log_error("access log %s: cannot write: %s (retrying; lines lost are counted)",
		             a->path, strerror(err));
		a->write_failed = true;
		a->fail_lost = 0;
	}
	buf_trim(a);
	if (a->head > 0) {
		end = lseek(a->fd, 0, SEEK_CUR); /* O_APPEND: just past our last write */
		a->head_end = end == (off_t)-1 ? UINT64_MAX : (uint64_t)end;
	}
	a->retry_ms = mono_ms() + RETRY_MS;
	return false;
}

/* Whether <fd> takes a write now, or within <ms> (an error or a hang-up too: the write says
 * which). */
static bool
writable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	return poll(&pfd, 1, ms) > 0;
}

/* The bytes written to <fd> its reader has not taken yet (a socket's send queue, a pipe's
 * contents), or -1 when it cannot say. */
static int
unread(int fd, bool sock)
{
	int n;

	return ioctl(fd, sock ? SIOCOUTQ : FIONREAD, &n) == 0 ? n : -1;
}

/*
 * Whether the reader behind <a>'s pipe or socket takes anything within <ms>: it makes room for
 * a write, or what it has not read shrinks. The second is what a slow reader shows: a Unix
 * stream socket says writable only once three quarters of its send buffer are free.
 */
static bool
reader_takes(const struct sl_accesslog *a, int ms)
{
	int before = unread(a->fd, a->sock), after;

	if (writable(a->fd, ms))
		return true;
	after = unread(a->fd, a->sock);
	return before >= 0 && after >= 0 && after < before;
}

/* true if a write may be tried now: none failed or stopped at EAGAIN, the reader that was
 * behind took some, or a failure was RETRY_MS ago */
static bool
may_write(const struct sl_accesslog *a)
{
	if (a->head == a->len || (!a->write_failed && !a->behind))
		return true;
	if (a->behind && !a->write_failed && writable(a->fd, 0))
		return true;
	return mono_ms() >= a->retry_ms;
}

/* Adds a line of <len> bytes to buf, writing buf first when full; a line it has no room for
 * (the file takes nothing) is lost. */
static void
buf_add(struct sl_accesslog *a, const char *line, size_t len)
{
	if (a->len + len > FILE_BUF && may_write(a))
		file_write(a);
	if (a->len + len > FILE_BUF) {
		count_lost(a, 1);
		return;
	}
	memcpy(a->buf + a->len, line, len);
	a->len += len;
}

/*
 * The part of a line the file holds (buf's first <head> bytes) will never be completed: cut it
 * off the file, if it is a regular file that ends with it (nobody wrote since), so that the
 * file ends with a whole line. true if it did, or there was nothing to cut.
 */
static bool
cut_head(struct sl_accesslog *a)
{
	struct stat st;

	if (a->head == 0)
		return true;
	if (a->head_end == UINT64_MAX || fstat(a->fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != a->head_end ||
	    ftruncate(a->fd, st.st_size - (off_t)a->head) == -1)
		return false;
	a->head = 0;
	return true;
}

/* Gives up on what buf holds (the file takes nothing): every line in it is lost. */
static void
buf_abandon(struct sl_accesslog *a)
{
	uint64_t n = count_lines(a->buf, a->len);

	if (n == 0)
		return;
	count_lost(a, n);
	sl_log_error("access log %s: %llu lines never written%s", a->path, (unsigned long long)n,
	             cut_head(a) ? "" : " (the file ends inside one of them: it could not be cut)");
	a->head = a->len = 0;
}

static void
file_reopen(struct sl_accesslog *a)
{
	bool sock;
	int fd, err;

	if (is_stdout(a->path))
		return;
	if (a->len > 0)
		file_write(a);
	err = file_open(a->path, &fd, &sock);
	if (err != 0) {
		sl_log_error("access log %s: cannot reopen: %s%s (still writing to the old file)",
		             a->path, strerror(-err), open_hint(err));
		return;
	}
	/* lines the old file could not take go to the new one, and a part of one it holds is
	 * cut off it, or that whole line is lost */
	if (!cut_head(a)) {
		const char *nl = memchr(a->buf, '\n', a->len);
		size_t first = (size_t)(nl + 1 - a->buf);

		count_lost(a, 1);
		memmove(a->buf, a->buf + first, a->len - first);
		a->len -= first;
		a->head = 0;
	}
	file_close(a->fd);
	a->fd = fd;
	a->sock = sock;
	a->whole_max = whole_lines_max(fd, sock);
	a->retry_ms = 0;
	sl_log_info("access log %s: reopened", a->path);
}

/* One pass over every channel: formats what is queued (at most BATCH per channel) into buf. */
static size_t
drain_once(struct sl_accesslog *a, int64_t offset)
{
	char line[SL_ACCESSLOG_LINE_MAX];
	size_t total = 0;

	for (unsigned i = 0; i < a->n; i++) {
		struct sl_accesslog_chan *c = &a->chans[i];
		void *items[BATCH];
		size_t n = sl_ring_try_pop_bulk_spsc(c->full, items, BATCH), back;

		for (size_t k = 0; k < n; k++) {
			int len =
			        sl__accesslog_format(items[k], a->cfg, offset, line, sizeof(line));

			if (len > 0)
				buf_add(a, line, (size_t)len);
		}
		/* never short: the records came out of this channel's rings */
		back = sl_ring_try_push_bulk_spsc(c->free, items, n);
		SL_ASSERT(back == n);
		(void)back;
		total += n;
	}
	return total;
}

/* Writes everything queued and buffered; what the file does not take is lost (counted): at
 * once for a failure, after FINISH_STALL_MS for a reader behind that takes nothing more. */
static void
finish(struct sl_accesslog *a)
{
	uint64_t until = mono_ms() + FINISH_MAX_MS;

	while (drain_once(a, wall_offset_ms()) > 0)
		;
	while (a->len > 0 && !file_write(a)) {
		if (!a->behind || a->write_failed || mono_ms() >= until ||
		    !reader_takes(a, FINISH_STALL_MS)) {
			buf_abandon(a);
			return;
		}
	}
}

static void *
logger_run(void *arg)
{
	struct sl_accesslog *a = arg;
	uint64_t last_flush = mono_ms();
	bool stop = false, reopen;
	struct timespec until;
	size_t n;

	for (;;) {
		pthread_mutex_lock(&a->mu);
		stop = a->stop;
		reopen = a->reopen;
		a->reopen = false;
		pthread_mutex_unlock(&a->mu);
		if (reopen) {
			/* everything queued before the signal goes to the old file first */
			while (drain_once(a, wall_offset_ms()) > 0)
				;
			file_reopen(a);
			last_flush = mono_ms();
		}
		n = drain_once(a, wall_offset_ms());
		/* a reader behind takes more as soon as it can: not only at the flushes */
		if (a->len > 0 && (n == 0 || a->behind || mono_ms() - last_flush >= FLUSH_MS) &&
		    may_write(a)) {
			file_write(a);
			last_flush = mono_ms();
		}
		/* stop was read before this pass: whatever was queued before it is written */
		if (stop && n == 0)
			break;
		if (n > 0)
			continue;
		if (a->behind && !a->write_failed && a->len > 0) {
			/* the reader is behind: write again once it takes more (a stop or a
			 * reopen is seen within IDLE_MS) */
			writable(a->fd, IDLE_MS);
			continue;
		}
		sl_clock_deadline(&until, (uint64_t)IDLE_MS * 1000);
		pthread_mutex_lock(&a->mu);
		if (!a->stop && !a->reopen)
			pthread_cond_timedwait(&a->cv, &a->mu, &until);
		pthread_mutex_unlock(&a->mu);
	}
	finish(a);
	return NULL;
}

/* ---- life cycle ---- */

static size_t
round_pow2(uint32_t n)
{
	size_t c = 2;

	while (c < n)
		c <<= 1;
	return c;
}

int
sl__accesslog_create(struct sl_accesslog **out, const struct sl_config *cfg, unsigned nworkers)
{
	const struct sl_config_access_log *ac = &cfg->access_log;
	pthread_condattr_t ca;
	struct sl_accesslog *a;
	size_t cap;
	int err;

	if (ac->path == NULL || ac->path[0] == '\0' || nworkers == 0)
		return -EINVAL;
	cap = round_pow2(ac->ring_size);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->cfg = cfg;
	a->path = ac->path;
	a->fd = -1;
	atomic_init(&a->lost, 0);
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	a->chans = aligned_alloc(SL_CACHELINE, nworkers * sizeof(a->chans[0]));
	if (a->chans == NULL) {
		err = -ENOMEM;
		goto err_destroy;
	}
	memset(a->chans, 0, nworkers * sizeof(a->chans[0]));
	a->n = nworkers;
	for (unsigned i = 0; i < nworkers; i++) {
		struct sl_accesslog_chan *c = &a->chans[i];

		atomic_init(&c->dropped, 0);
		c->recs = calloc(cap, sizeof(c->recs[0]));
		if (c->recs == NULL) {
			err = -ENOMEM;
			goto err_destroy;
		}
		err = sl_ring_spsc_create(&c->free, cap);
		if (err == 0)
			err = sl_ring_spsc_create(&c->full, cap);
		if (err != 0)
			goto err_destroy;
		/* before any thread runs: the logger's ring to produce into, filled here */
		for (size_t k = 0; k < cap; k++)
			sl_ring_try_push_spsc(c->free, &c->recs[k]);
	}
	a->buf = malloc(FILE_BUF);
	if (a->buf == NULL) {
		err = -ENOMEM;
		goto err_destroy;
	}
	err = file_open(a->path, &a->fd, &a->sock);
	a->whole_max = err == 0 ? whole_lines_max(a->fd, a->sock) : 0;
	if (err != 0) {
		sl_log_error("access log %s: cannot open: %s%s", a->path, strerror(-err),
		             open_hint(err));
		goto err_destroy;
	}
	*out = a;
	return 0;

err_destroy:
	sl__accesslog_destroy(a);
	return err;
}

int
sl__accesslog_start(struct sl_accesslog *a)
{
	int err;

	if (a->started)
		return -EALREADY;
	pthread_mutex_lock(&a->mu);
	a->stop = false; /* a stop before may have set it */
	pthread_mutex_unlock(&a->mu);
	err = pthread_create(&a->thread, NULL, logger_run, a);
	if (err != 0)
		return -err;
	a->started = true;
	return 0;
}

int
sl__accesslog_chown(struct sl_accesslog *a, uid_t uid, gid_t gid)
{
	/* the file this process has open: not whatever the path names by now */
	if (is_stdout(a->path))
		return 0;
	return fchown(a->fd, uid, gid) == 0 ? 0 : -errno;
}

void
sl__accesslog_reopen(struct sl_accesslog *a)
{
	pthread_mutex_lock(&a->mu);
	a->reopen = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void
sl__accesslog_stop(struct sl_accesslog *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
		a->started = false;
	} else if (a->fd >= 0 && a->chans != NULL) {
		/* no thread runs: write what was queued here, so that nothing is lost */
		finish(a);
	}
}

void
sl__accesslog_destroy(struct sl_accesslog *a)
{
	if (a == NULL)
		return;
	sl__accesslog_stop(a);
	file_close(a->fd);
	free(a->buf);
	for (unsigned i = 0; a->chans != NULL && i < a->n; i++) {
		sl_ring_spsc_destroy(a->chans[i].free);
		sl_ring_spsc_destroy(a->chans[i].full);
		free(a->chans[i].recs);
	}
	free(a->chans);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
