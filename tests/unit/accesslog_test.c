// SPDX-License-Identifier: MIT
/*
 * The access log (src/proxy/accesslog.c): a record as a JSON line (names escaped, IPv4 and
 * IPv6 addresses, nulls, each termination name), the drop counter of a channel nobody drains,
 * a reopen that loses no line, a file that stops taking bytes inside a line (RLIMIT_FSIZE, as
 * a full disk: the line is completed once it takes them again, or cut off at the stop, and
 * every line lost is counted), a socket that takes no more (its reader finds only whole
 * lines) and one whose reader keeps up (it gets every line), and the worker -> logger handoff under
 * concurrent producers (run it under TSan).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/addr.h>
#include <sluice/config.h>

#include "proxy/accesslog.h"

/* A layout snapshot by hand: one listener, one group of two backends. */
struct fixture {
	struct sl_config cfg;
	struct sl_config_listener l;
	struct sl_config_group g;
	struct sl_config_backend b[2];
	char dir[64];
	char path[96];
};

static void
fixture_init(struct fixture *f, const char *backend1)
{
	sl_config_defaults(&f->cfg);
	sl_config_listener_defaults(&f->l);
	sl_config_group_defaults(&f->g);
	strcpy(f->l.name, "web");
	assert_int_equal(0, sl_addr_parse(&f->l.addr, "127.0.0.1:8080", false, NULL));
	strcpy(f->g.name, "g");
	for (int i = 0; i < 2; i++)
		sl_config_backend_defaults(&f->b[i]);
	strcpy(f->b[0].name, "be0");
	assert_int_equal(0, sl_addr_parse(&f->b[0].addr, "127.0.0.1:9000", false, NULL));
	strcpy(f->b[1].name, "be1");
	assert_int_equal(0, sl_addr_parse(&f->b[1].addr, backend1, false, NULL));
	f->g.backends = f->b;
	f->g.nbackends = 2;
	f->cfg.listeners = &f->l;
	f->cfg.nlisteners = 1;
	f->cfg.groups = &f->g;
	f->cfg.ngroups = 1;
	f->dir[0] = '\0';
}

/* Points the fixture's access_log at a new temporary directory's access.log. */
static void
fixture_file(struct fixture *f, uint32_t ring_size)
{
	strcpy(f->dir, "/tmp/sl-accesslog-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/access.log", f->dir);
	f->cfg.access_log.path = f->path;
	f->cfg.access_log.ring_size = ring_size;
}

static void
fixture_fini(struct fixture *f)
{
	char p[128];

	if (f->dir[0] == '\0')
		return;
	unlink(f->path);
	snprintf(p, sizeof(p), "%s.1", f->path);
	unlink(p);
	rmdir(f->dir);
}

static struct sl_accesslog_rec
rec_v4(const char *ip, uint16_t port)
{
	struct sl_accesslog_rec r = {0};

	r.family = AF_INET;
	r.port = port;
	assert_int_equal(1, inet_pton(AF_INET, ip, r.ip));
	r.backend = 0;
	r.connect_ms = 2;
	r.duration_ms = 35;
	r.bytes_in = 1000;
	r.bytes_out = 2000;
	return r;
}

static char *
format(const struct fixture *f, const struct sl_accesslog_rec *r, int64_t offset)
{
	static char line[SL_ACCESSLOG_LINE_MAX];
	int n = sl__accesslog_format(r, &f->cfg, offset, line, sizeof(line));

	assert_true(n > 0);
	assert_int_equal(strlen(line), n);
	return line;
}

/* Lines of the file at <path>; 0 if it does not exist. */
static size_t
count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	int c;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		if (c == '\n')
			n++;
	fclose(fp);
	return n;
}

static void
accesslog_formats_a_session_as_one_json_line(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	r = rec_v4("192.0.2.7", 40123);
	r.end_ms = 5000;
	/* 1700000000456 ms since the epoch is 2023-11-14T22:13:20.456Z */
	assert_string_equal("{\"time\":\"2023-11-14T22:13:20.456Z\",\"client\":\"192.0.2.7:40123\","
	                    "\"listener\":\"web\",\"backend\":\"be0\",\"backend_address\":"
	                    "\"127.0.0.1:9000\",\"bytes_in\":1000,\"bytes_out\":2000,"
	                    "\"connect_ms\":2,\"duration_ms\":35,\"termination\":\"normal\"}\n",
	                    format(&f, &r, 1700000000456 - 5000));
}

static void
accesslog_formats_ipv6_addresses_in_brackets(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r = {0};

	(void)state;
	fixture_init(&f, "[2001:db8::1]:443");
	r.family = AF_INET6;
	r.port = 5000;
	assert_int_equal(1, inet_pton(AF_INET6, "::1", r.ip));
	r.backend = 1;
	assert_non_null(strstr(format(&f, &r, 0), "\"client\":\"[::1]:5000\",\"listener\":\"web\","
	                                          "\"backend\":\"be1\",\"backend_address\":"
	                                          "\"[2001:db8::1]:443\","));
}

static void
accesslog_escapes_quotes_backslashes_and_control_bytes_in_names(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	strcpy(f.l.name, "we\"b\\x\n\x01\xc3\xa9");
	r = rec_v4("127.0.0.1", 1);
	assert_non_null(strstr(format(&f, &r, 0),
	                       "\"listener\":\"we\\\"b\\\\x\\u000a\\u0001\\u00c3\\u00a9\","));
}

static void
accesslog_writes_numbers_of_every_width_and_addresses_at_their_ends(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	r = rec_v4("255.255.255.255", 65535);
	r.bytes_in = 0;
	r.bytes_out = UINT64_MAX;
	r.connect_ms = 9;
	r.duration_ms = 100;
	assert_non_null(strstr(format(&f, &r, 0), "\"client\":\"255.255.255.255:65535\","));
	assert_non_null(strstr(format(&f, &r, 0),
	                       "\"bytes_in\":0,\"bytes_out\":18446744073709551615,"
	                       "\"connect_ms\":9,\"duration_ms\":100,"));
	r = rec_v4("0.0.0.0", 1);
	r.bytes_in = 10;
	r.bytes_out = 99;
	r.connect_ms = 1000000;
	r.duration_ms = 12345;
	assert_non_null(strstr(format(&f, &r, 0), "\"client\":\"0.0.0.0:1\","));
	assert_non_null(strstr(format(&f, &r, 0),
	                       "\"bytes_in\":10,\"bytes_out\":99,\"connect_ms\":1000000,"
	                       "\"duration_ms\":12345,"));
}

static void
accesslog_writes_null_without_a_backend_or_a_connect(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	r = rec_v4("127.0.0.1", 1);
	r.backend = -1;
	r.connect_ms = UINT32_MAX;
	r.end = SL_END_NO_BACKEND;
	assert_non_null(strstr(format(&f, &r, 0),
	                       "\"backend\":null,\"backend_address\":null,\"bytes_in\":1000,"
	                       "\"bytes_out\":2000,\"connect_ms\":null,\"duration_ms\":35,"
	                       "\"termination\":\"no_backend\"}\n"));
}

static const char *
end_name(uint8_t end, uint8_t reset)
{
	static char buf[48];
	struct sl_accesslog_rec r = {.end = end, .reset = reset};

	return sl__accesslog_end_name(&r, buf, sizeof(buf));
}

static void
accesslog_names_each_termination(void **state)
{
	(void)state;
	assert_string_equal("normal", end_name(SL_END_NORMAL, 0));
	assert_string_equal("reset:client", end_name(SL_END_NORMAL, 1 + 0));
	assert_string_equal("reset:backend", end_name(SL_END_NORMAL, 1 + 1));
	assert_string_equal("no_backend", end_name(SL_END_NO_BACKEND, 0));
	assert_string_equal("local_error", end_name(SL_END_LOCAL_ERROR, 0));
	assert_string_equal("queue_full", end_name(SL_END_QUEUE_FULL, 0));
	assert_string_equal("admin", end_name(SL_END_ADMIN, 0));
	assert_string_equal("timeout:queue", end_name(SL_END_TIMEOUT_FIRST + SL_TIMEOUT_QUEUE, 0));
	assert_string_equal("timeout:client_idle",
	                    end_name(SL_END_TIMEOUT_FIRST + SL_TIMEOUT_CLIENT_IDLE, 0));
	assert_string_equal("timeout:connect",
	                    end_name(SL_END_TIMEOUT_FIRST + SL_TIMEOUT_CONNECT, 0));
	assert_string_equal("drain", end_name(SL_END_TIMEOUT_FIRST + SL_TIMEOUT_DRAIN, 0));
	assert_string_equal("rejected:acl_denied",
	                    end_name(SL_END_REJECT_FIRST + SL_REJECT_ACL_DENIED, 0));
	assert_string_equal("rejected:source_table_full",
	                    end_name(SL_END_REJECT_FIRST + SL_REJECT_SOURCE_TABLE_FULL, 0));
}

static void
accesslog_format_refuses_a_buffer_too_small(void **state)
{
	struct fixture f;
	struct sl_accesslog_rec r;
	char small[64];

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	r = rec_v4("127.0.0.1", 1);
	assert_int_equal(-ENOSPC, sl__accesslog_format(&r, &f.cfg, 0, small, sizeof(small)));
}

static void
accesslog_counts_records_dropped_when_the_ring_is_full(void **state)
{
	struct fixture f;
	struct sl_accesslog *a;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 2);
	r = rec_v4("127.0.0.1", 1);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, 1));
	/* no logger thread: nothing drains the ring */
	assert_true(sl__accesslog_push(a, 0, &r));
	assert_true(sl__accesslog_push(a, 0, &r));
	for (int i = 0; i < 5; i++)
		assert_false(sl__accesslog_push(a, 0, &r));
	assert_int_equal(5, sl__accesslog_dropped(a, SL_ACCESSLOG_QUEUE_FULL));
	sl__accesslog_destroy(a);
	/* what was queued is written at destroy */
	assert_int_equal(2, count_lines(f.path));
	fixture_fini(&f);
}

static void
accesslog_rounds_ring_size_up_to_a_power_of_two(void **state)
{
	struct fixture f;
	struct sl_accesslog *a;
	struct sl_accesslog_rec r;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 3);
	r = rec_v4("127.0.0.1", 1);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, 2));
	for (int i = 0; i < 4; i++)
		assert_true(sl__accesslog_push(a, 1, &r));
	assert_false(sl__accesslog_push(a, 1, &r));
	/* each worker has its own channel */
	assert_true(sl__accesslog_push(a, 0, &r));
	assert_int_equal(1, sl__accesslog_dropped(a, SL_ACCESSLOG_QUEUE_FULL));
	sl__accesslog_destroy(a);
	fixture_fini(&f);
}

static void
accesslog_create_fails_when_the_file_cannot_be_opened(void **state)
{
	struct fixture f;
	struct sl_accesslog *a = NULL;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	f.cfg.access_log.path = "/nonexistent-dir-of-sluice/access.log";
	assert_int_equal(-ENOENT, sl__accesslog_create(&a, &f.cfg, 1));
	assert_null(a);
}

/* Waits (bounded: 10 s) until <path> exists. */
static bool
wait_exists(const char *path)
{
	const struct timespec ms = {.tv_nsec = 1000000};
	struct stat st;

	for (int i = 0; i < 10000; i++) {
		if (stat(path, &st) == 0)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

static void
accesslog_reopen_moves_later_lines_to_a_new_file_and_loses_none(void **state)
{
	struct fixture f;
	struct sl_accesslog *a;
	struct sl_accesslog_rec r;
	char old[128];

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 64);
	snprintf(old, sizeof(old), "%s.1", f.path);
	r = rec_v4("127.0.0.1", 1);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, 1));
	assert_int_equal(0, sl__accesslog_start(a));
	for (int i = 0; i < 10; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	assert_int_equal(0, rename(f.path, old));
	sl__accesslog_reopen(a);
	/* the new file appears once the ten queued before went to the old one */
	assert_true(wait_exists(f.path));
	for (int i = 0; i < 7; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	sl__accesslog_destroy(a);
	assert_int_equal(10, count_lines(old));
	assert_int_equal(7, count_lines(f.path));
	fixture_fini(&f);
}

/* ---- a file that takes no more ---- */

/* Length of the line rec_v4() makes (every such line has it: the time is fixed-width). */
static size_t
line_len(const struct fixture *f)
{
	struct sl_accesslog_rec r = rec_v4("127.0.0.1", 1);

	return strlen(format(f, &r, 0));
}

/* Sets this process's RLIMIT_FSIZE soft limit: a write past it stops there, then fails with
 * EFBIG (SIGXFSZ is ignored), as one onto a full disk does with ENOSPC. */
static void
file_size_limit(rlim_t max)
{
	struct rlimit rl;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(0, getrlimit(RLIMIT_FSIZE, &rl));
	rl.rlim_cur = max < rl.rlim_max ? max : rl.rlim_max;
	assert_int_equal(0, setrlimit(RLIMIT_FSIZE, &rl));
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Waits (bounded: 10 s) until the file at <path> is <size> bytes long. */
static bool
wait_size(const char *path, off_t size)
{
	const struct timespec ms = {.tv_nsec = 1000000};

	for (int i = 0; i < 10000; i++) {
		if (file_size(path) == size)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* Lines of <path> that are whole: '{' .. "}\n" with no other line's start inside; asserts
 * that every line is whole and returns how many. */
static size_t
count_whole_lines(const char *path)
{
	char line[SL_ACCESSLOG_LINE_MAX * 2];
	FILE *fp = fopen(path, "r");
	size_t n = 0, len;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		len = strlen(line);
		assert_true(len >= 3);
		assert_memory_equal("{\"time\":", line, 8);
		assert_string_equal("}\n", line + len - 2);
		assert_null(strstr(line + 1, "{\"time\":"));
		n++;
	}
	fclose(fp);
	return n;
}

static void
accesslog_completes_a_line_a_failed_write_cut_short(void **state)
{
	struct fixture f;
	struct sl_accesslog *a;
	struct sl_accesslog_rec r;
	off_t limit;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 64);
	r = rec_v4("127.0.0.1", 1);
	limit = (off_t)(line_len(&f) * 5 / 2);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, 1));
	assert_int_equal(0, sl__accesslog_start(a));
	file_size_limit((rlim_t)limit);
	for (int i = 0; i < 3; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	/* two lines and half of the third are in the file, and it takes no more */
	assert_true(wait_size(f.path, limit));
	file_size_limit(RLIM_INFINITY);
	for (int i = 0; i < 2; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	sl__accesslog_destroy(a);
	assert_int_equal(5, count_whole_lines(f.path));
	assert_int_equal(5 * line_len(&f), file_size(f.path));
	fixture_fini(&f);
}

static void
accesslog_counts_lines_the_file_never_took_and_cuts_off_a_part_line(void **state)
{
	struct fixture f;
	struct sl_accesslog *a;
	struct sl_accesslog_rec r;
	uint64_t lost;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 64);
	r = rec_v4("127.0.0.1", 1);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, 1));
	for (int i = 0; i < 10; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	file_size_limit((rlim_t)(line_len(&f) * 5 / 2));
	/* no thread: the stop writes the ten lines here, and the file takes two and a half */
	sl__accesslog_stop(a);
	file_size_limit(RLIM_INFINITY);
	lost = sl__accesslog_dropped(a, SL_ACCESSLOG_WRITE_FAILED);
	assert_int_equal(0, sl__accesslog_dropped(a, SL_ACCESSLOG_QUEUE_FULL));
	sl__accesslog_destroy(a);
	assert_int_equal(8, lost);
	assert_int_equal(2, count_whole_lines(f.path));
	assert_int_equal(2 * line_len(&f), file_size(f.path));
	fixture_fini(&f);
}

/* The access log to standard output made the sending end of a new Unix stream socket pair
 * <sv> with 4 KiB buffers, sixty lines queued; <*saved> keeps the standard output it had. */
static struct sl_accesslog *
log_to_a_small_socket(struct fixture *f, int sv[2], int *saved)
{
	struct sl_accesslog_rec r = rec_v4("127.0.0.1", 1);
	struct sl_accesslog *a;
	int small = 4096;

	fixture_init(f, "127.0.0.1:9001");
	fixture_file(f, 64);
	f->cfg.access_log.path = "-";
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	assert_int_equal(0, setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)));
	assert_int_equal(0, setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
	*saved = dup(STDOUT_FILENO);
	assert_true(*saved >= 0);
	fflush(stdout);
	assert_int_equal(STDOUT_FILENO, dup2(sv[1], STDOUT_FILENO));
	assert_int_equal(0, sl__accesslog_create(&a, &f->cfg, 1));
	for (int i = 0; i < 60; i++)
		assert_true(sl__accesslog_push(a, 0, &r));
	return a;
}

/* Stops <a> (no thread: the stop writes the sixty lines here, at once), destroys it, gives
 * standard output back and closes the sending end; the lines it counted lost. */
static uint64_t
stop_on_the_socket(struct sl_accesslog *a, int sv[2], int saved)
{
	uint64_t lost;

	sl__accesslog_stop(a);
	lost = sl__accesslog_dropped(a, SL_ACCESSLOG_WRITE_FAILED);
	sl__accesslog_destroy(a);
	assert_int_equal(STDOUT_FILENO, dup2(saved, STDOUT_FILENO));
	close(saved);
	close(sv[1]);
	return lost;
}

/* The whole lines of the <len> bytes at <got> (put in the fixture's file to count them), all
 * of it being whole lines. */
static uint64_t
whole_lines_of(const struct fixture *f, const char *got, size_t len)
{
	FILE *fp = fopen(f->path, "w");
	uint64_t whole;

	assert_non_null(fp);
	assert_int_equal(1, fwrite(got, len, 1, fp));
	fclose(fp);
	whole = count_whole_lines(f->path);
	assert_int_equal(whole * line_len(f), len);
	return whole;
}

/*
 * A socket on standard output that nothing reads (a journal that hangs): the stop's write of
 * sixty lines (three times what the socket holds) ends where it is full, and its reader finds
 * whole lines only, however many the socket took; the rest are counted lost.
 */
static void
accesslog_sends_a_socket_only_whole_lines(void **state)
{
	struct sl_accesslog *a;
	struct fixture f;
	char got[64 * 1024];
	int sv[2], saved;
	uint64_t lost;
	ssize_t n;

	(void)state;
	a = log_to_a_small_socket(&f, sv, &saved);
	lost = stop_on_the_socket(a, sv, saved);
	n = read(sv[0], got, sizeof(got));
	close(sv[0]);
	assert_true(n > 0);
	assert_true(lost > 0);
	assert_int_equal(60, whole_lines_of(&f, got, (size_t)n) + lost);
	fixture_fini(&f);
}

/* Reads its socket until end of file into buf (at most size bytes), counting them in len. */
struct sock_reader {
	int fd;
	char *buf;
	size_t size, len;
};

static void *
sock_reader_run(void *arg)
{
	struct sock_reader *r = arg;
	ssize_t n;

	while (r->len < r->size && (n = read(r->fd, r->buf + r->len, r->size - r->len)) > 0)
		r->len += (size_t)n;
	return NULL;
}

/*
 * The same socket with a reader that keeps reading: the stop writes again as soon as it took
 * some, and it gets all sixty lines (the stop gave up at the first full socket, and lines its
 * reader was about to make room for were lost).
 */
static void
accesslog_stop_waits_for_a_socket_reader_that_keeps_up(void **state)
{
	static char got[64 * 1024];
	struct sock_reader rd = {.buf = got, .size = sizeof(got)};
	struct sl_accesslog *a;
	struct fixture f;
	int sv[2], saved;
	uint64_t lost;
	pthread_t t;

	(void)state;
	a = log_to_a_small_socket(&f, sv, &saved);
	rd.fd = sv[0];
	assert_int_equal(0, pthread_create(&t, NULL, sock_reader_run, &rd));
	lost = stop_on_the_socket(a, sv, saved);
	assert_int_equal(0, pthread_join(t, NULL));
	close(sv[0]);
	assert_int_equal(0, lost);
	assert_int_equal(60, whole_lines_of(&f, got, rd.len));
	fixture_fini(&f);
}

/* ---- the handoff under load ---- */

#define PRODUCERS 4
#define PER_PRODUCER 20000

/* Tries per record before a producer gives it up (the logger stalled: the test fails). */
#define MAX_TRIES 10000000

struct producer {
	struct sl_accesslog *a;
	unsigned index;
	uint64_t pushed, tries, sum; /* records queued, pushes tried, sum of the queued bytes_in */
};

/* bytes_out is a function of bytes_in, so that a torn record shows in its line. */
static uint64_t
mirror(uint64_t v)
{
	return v * 7 + 3;
}

static void *
producer_run(void *arg)
{
	struct producer *p = arg;
	struct sl_accesslog_rec r = {0};

	r.family = AF_INET;
	r.port = (uint16_t)(1000 + p->index);
	r.backend = -1;
	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		r.bytes_in = (uint64_t)p->index * 1000000 + i;
		r.bytes_out = mirror(r.bytes_in);
		r.duration_ms = (uint32_t)i;
		/* a full ring drops (and counts) the record: try again until it is taken, so
		 * that every record goes round the rings, which are much smaller than the run */
		for (unsigned n = 0; n < MAX_TRIES; n++) {
			p->tries++;
			if (sl__accesslog_push(p->a, p->index, &r)) {
				p->pushed++;
				p->sum += r.bytes_in;
				break;
			}
			sched_yield();
		}
	}
	return NULL;
}

static void
accesslog_hands_every_queued_record_to_the_file_intact(void **state)
{
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	uint64_t pushed = 0, tries = 0, sum = 0, lines = 0, got = 0;
	struct sl_accesslog *a;
	struct fixture f;
	char line[SL_ACCESSLOG_LINE_MAX];
	FILE *fp;

	(void)state;
	fixture_init(&f, "127.0.0.1:9001");
	fixture_file(&f, 16);
	assert_int_equal(0, sl__accesslog_create(&a, &f.cfg, PRODUCERS));
	assert_int_equal(0, sl__accesslog_start(a));
	for (unsigned i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){.a = a, .index = i};
		assert_int_equal(0, pthread_create(&t[i], NULL, producer_run, &p[i]));
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		pushed += p[i].pushed;
		tries += p[i].tries;
		sum += p[i].sum;
	}
	assert_int_equal(PRODUCERS * PER_PRODUCER, pushed);
	assert_int_equal(tries - pushed, sl__accesslog_dropped(a, SL_ACCESSLOG_QUEUE_FULL));
	sl__accesslog_destroy(a);

	fp = fopen(f.path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		const char *bi = strstr(line, "\"bytes_in\":"),
		           *bo = strstr(line, "\"bytes_out\":");
		uint64_t in, out;

		assert_non_null(bi);
		assert_non_null(bo);
		in = strtoull(bi + strlen("\"bytes_in\":"), NULL, 10);
		out = strtoull(bo + strlen("\"bytes_out\":"), NULL, 10);
		assert_int_equal(mirror(in), out);
		got += in;
		lines++;
	}
	fclose(fp);
	assert_int_equal(pushed, lines);
	assert_int_equal(sum, got);
	fixture_fini(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(accesslog_formats_a_session_as_one_json_line),
	        cmocka_unit_test(accesslog_formats_ipv6_addresses_in_brackets),
	        cmocka_unit_test(accesslog_escapes_quotes_backslashes_and_control_bytes_in_names),
	        cmocka_unit_test(
	                accesslog_writes_numbers_of_every_width_and_addresses_at_their_ends),
	        cmocka_unit_test(accesslog_writes_null_without_a_backend_or_a_connect),
	        cmocka_unit_test(accesslog_names_each_termination),
	        cmocka_unit_test(accesslog_format_refuses_a_buffer_too_small),
	        cmocka_unit_test(accesslog_counts_records_dropped_when_the_ring_is_full),
	        cmocka_unit_test(accesslog_rounds_ring_size_up_to_a_power_of_two),
	        cmocka_unit_test(accesslog_create_fails_when_the_file_cannot_be_opened),
	        cmocka_unit_test(accesslog_reopen_moves_later_lines_to_a_new_file_and_loses_none),
	        cmocka_unit_test(accesslog_completes_a_line_a_failed_write_cut_short),
	        cmocka_unit_test(accesslog_sends_a_socket_only_whole_lines),
	        cmocka_unit_test(accesslog_stop_waits_for_a_socket_reader_that_keeps_up),
	        cmocka_unit_test(
	                accesslog_counts_lines_the_file_never_took_and_cuts_off_a_part_line),
	        cmocka_unit_test(accesslog_hands_every_queued_record_to_the_file_intact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
