// SPDX-License-Identifier: MIT
/*
 * sluicectl: the operator's command line for a running sluice's control socket (include/
 * sluice/ctl.h, docs/operations.md). Joins its arguments into one request line, sends it,
 * reads the one JSON line of the answer and prints it as text (tables for the show commands)
 * or, with --json, as it came. Exit codes: 0 done, 1 the command failed, 2 usage, 3 the socket
 * could not be reached or gave no answer.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

#define DEFAULT_SOCKET "/run/sluice/sluice.sock"
#define REQUEST_MAX 1024      /* the server's limit, newline included */
#define ANSWER_MAX (64 << 20) /* an answer larger than this is not sluice's */
#define REQUEST_WORDS_MAX 16  /* the server's limit */
#define TABLE_COLS 12
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void
usage(FILE *f)
{
	fputs("usage: sluicectl [-s SOCKET] [--json] [-t SECONDS] COMMAND...\n"
	      "commands:\n"
	      "  help                              the commands the server knows\n"
	      "  show info | stats | backends | sessions | bans\n"
	      "  profile SECONDS                   each worker's perf counters over SECONDS\n"
	      "  enable | disable | drain backend GROUP/NAME\n"
	      "  set weight GROUP/NAME WEIGHT\n"
	      "  add backend GROUP NAME ADDRESS [weight N] [max_connections N] [role backup]\n"
	      "  remove backend GROUP/NAME\n"
	      "  close sessions GROUP/NAME         close the backend's open sessions now\n"
	      "  unban LISTENER|* ADDRESS          lift a source_limits.ban early\n"
	      "  ban LISTENER|* ADDRESS SECONDS    ban a source as source_limits.ban does\n"
	      "  reload                            read the configuration file again\n"
	      "  shutdown                          drain and exit, like SIGTERM\n"
	      "options:\n"
	      "  -s, --socket PATH   the control socket (default: $SLUICE_CONTROL, "
	      "else " DEFAULT_SOCKET ")\n"
	      "  -j, --json          print the server's JSON answer as it is\n"
	      "  -t, --timeout S     wait at most S seconds for the answer (default 60; profile "
	      "N:\n"
	      "                      N + 30)\n"
	      "  -h, --help          print this help\n"
	      "  -V, --version       print the version\n"
	      "exit status: 0 done, 1 the command failed, 2 usage, 3 the socket could not be "
	      "reached\n",
	      f);
}

/* ---- text output ---- */

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, owned */
};

static void
table_add(struct table *t, const char *const *row)
{
	if (t->ncols == 0)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));

		if (cells == NULL)
			return;
		t->cells = cells;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(row[i] ? row[i] : "");
	t->nrows++;
}

static void
table_print(struct table *t)
{
	size_t w[TABLE_COLS] = {0};

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = s ? strlen(s) : 0;

			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];

			if (i + 1 == t->ncols)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)w[i], s ? s : "");
		}
		for (size_t i = 0; i < t->ncols; i++)
			free(t->cells[r * t->ncols + i]);
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A scalar member as text into <buf>: strings as they are, numbers without a fraction. */
static const char *
text_of(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d > -0x1p63 && d < 0x1p63 && d == (double)(long long)d)
			snprintf(buf, size, "%lld", (long long)d);
		else
			snprintf(buf, size, "%g", d);
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	if (json_is_null(v))
		return "-";
	return "?";
}

static const char *
member(const json_t *o, const char *key, char *buf, size_t size)
{
	return text_of(json_object_get(o, key), buf, size);
}

static void
print_info(const json_t *r)
{
	static const char *const keys[] = {"version", "pid",         "uptime_seconds",
	                                   "workers", "config_file", "control_socket"};
	const json_t *ls = json_object_get(r, "listeners"), *l;
	struct table t = {.ncols = 3};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("%-15s %s\n", keys[i], member(r, keys[i], buf, sizeof(buf)));
	printf("listeners:\n");
	table_add(&t, (const char *const[]){"  NAME", "ADDRESS", "GROUP"});
	json_array_foreach(ls, i, l)
	{
		char n[128], a[64], g[64];

		snprintf(n, sizeof(n), "  %s", member(l, "name", buf, sizeof(buf)));
		snprintf(a, sizeof(a), "%s", member(l, "address", buf, sizeof(buf)));
		snprintf(g, sizeof(g), "%s", member(l, "group", buf, sizeof(buf)));
		table_add(&t, (const char *const[]){n, a, g});
	}
	table_print(&t);
}

/* "key=value" for every member of <o>, nested objects as key.sub=value. */
static void
print_members(json_t *o, const char *prefix)
{
	const char *key;
	json_t *v;
	char buf[64];

	json_object_foreach(o, key, v)
	{
		if (json_is_object(v)) {
			char p[128];

			snprintf(p, sizeof(p), "%s%s.", prefix, key);
			print_members(v, p);
		} else {
			printf(" %s%s=%s", prefix, key, text_of(v, buf, sizeof(buf)));
		}
	}
}

/* One line per set, or per instance of a labelled set: "SET key=value ...". */
static void
print_stats(json_t *r)
{
	const char *name;
	json_t *set, *inst;
	size_t i;

	json_object_foreach(r, name, set)
	{
		if (json_is_array(set)) {
			json_array_foreach(set, i, inst)
			{
				printf("%s", name);
				print_members(inst, "");
				putchar('\n');
			}
		} else {
			printf("%s", name);
			print_members(set, "");
			putchar('\n');
		}
	}
}

/* A table of array <list>: <head> above, then one row per item, its members <keys>. */
static void
print_rows(const json_t *list, const char *const *head, const char *const *keys, size_t ncols)
{
	struct table t = {.ncols = ncols < TABLE_COLS ? ncols : TABLE_COLS};
	const json_t *x;
	size_t j;

	table_add(&t, head);
	json_array_foreach(list, j, x)
	{
		char bufs[TABLE_COLS][64];
		const char *row[TABLE_COLS];

		for (size_t i = 0; i < t.ncols; i++)
			row[i] = member(x, keys[i], bufs[i], sizeof(bufs[i]));
		table_add(&t, row);
	}
	table_print(&t);
}

static void
print_backends(const json_t *r)
{
	static const char *const keys[] = {
	        "group", "name",   "address", "weight",   "role",
	        "admin", "health", "active",  "sessions", "connect_failures"};
	static const char *const head[] = {"GROUP", "NAME",   "ADDRESS", "WEIGHT",   "ROLE",
	                                   "ADMIN", "HEALTH", "ACTIVE",  "SESSIONS", "FAILURES"};

	print_rows(r, head, keys, ARRAY_LEN(keys));
}

/* The list of open sessions: one row each. */
static void
print_session_list(const json_t *r)
{
	static const char *const keys[] = {"worker", "client", "listener", "backend",
	                                   "state",  "age_ms", "bytes_in", "bytes_out"};
	static const char *const head[] = {"WORKER", "CLIENT", "LISTENER", "BACKEND",
	                                   "STATE",  "AGE_MS", "BYTES_IN", "BYTES_OUT"};
	const json_t *err = json_object_get(r, "sessions_error");
	char b1[64], b2[64];

	printf("sessions listed: %s of %s\n", member(r, "listed", b1, sizeof(b1)),
	       member(r, "active", b2, sizeof(b2)));
	if (json_is_string(err))
		fprintf(stderr, "sluicectl: some workers did not answer: %s\n",
		        json_string_value(err));
	print_rows(json_object_get(r, "sessions"), head, keys, ARRAY_LEN(keys));
}

static void
print_sessions(const json_t *r)
{
	char buf[64];

	printf("active sessions: %s\n", member(r, "active", buf, sizeof(buf)));
	print_rows(json_object_get(r, "listeners"), (const char *const[]){"LISTENER", "ACTIVE"},
	           (const char *const[]){"listener", "active"}, 2);
	print_rows(json_object_get(r, "backends"),
	           (const char *const[]){"GROUP", "BACKEND", "ACTIVE"},
	           (const char *const[]){"group", "backend", "active"}, 3);
	print_rows(json_object_get(r, "workers"), (const char *const[]){"WORKER", "LISTED"},
	           (const char *const[]){"worker", "listed"}, 2);
	print_session_list(r);
}

/* The banned sources: how many, then one row each (at most the server's listing). */
static void
print_bans(const json_t *r)
{
	const json_t *list = json_object_get(r, "bans");
	char buf[64];

	printf("banned sources: %s", member(r, "banned", buf, sizeof(buf)));
	if ((json_int_t)json_array_size(list) < json_integer_value(json_object_get(r, "banned")))
		printf(" (%zu listed)", json_array_size(list));
	printf("\n");
	print_rows(list, (const char *const[]){"LISTENER", "SOURCE", "REMAINING_MS"},
	           (const char *const[]){"listener", "source", "remaining_ms"}, 3);
}

/* One row per worker, a column per counter, in the server's order. */
static void
print_profile(const json_t *r)
{
	const json_t *list = json_object_get(r, "workers"), *w, *first = json_array_get(list, 0);
	const char *key;
	const json_t *v;
	struct table t = {0};
	char head[TABLE_COLS][64], cells[TABLE_COLS][64];
	const char *row[TABLE_COLS];
	size_t i;

	printf("over %lld s:\n", (long long)json_integer_value(json_object_get(r, "seconds")));
	if (first == NULL || json_object_size(first) == 0)
		return;
	json_object_foreach((json_t *)first, key, v)
	{
		if (t.ncols == TABLE_COLS)
			break;
		snprintf(head[t.ncols], sizeof(head[0]), "%s", key);
		for (char *c = head[t.ncols]; *c != '\0'; c++) {
			if (*c == '_')
				*c = ' ';
			else if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		}
		row[t.ncols] = head[t.ncols];
		t.ncols++;
	}
	table_add(&t, row);
	json_array_foreach(list, i, w)
	{
		size_t k = 0;

		json_object_foreach((json_t *)w, key, v)
		{
			if (k == t.ncols)
				break;
			row[k] = text_of(v, cells[k], sizeof(cells[k]));
			k++;
		}
		for (; k < t.ncols; k++)
			row[k] = "";
		table_add(&t, row);
	}
	table_print(&t);
}

/*
 * The words of request <req> (its last byte a newline) into <w>, at most <max>, as the server
 * splits them (at spaces and tabs): sluicectl 'show info' is the command show info, and its
 * answer is printed as that one's. Writes into <req>; returns how many.
 */
static int
request_words(char *req, char **w, int max)
{
	int n = 0;

	for (char *p = req; n < max;) {
		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		w[n++] = p;
		p += strcspn(p, " \t\n");
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

/* Prints the result of a successful <argv> command. */
static void
print_result(int argc, char **argv, json_t *r)
{
	const char *w0 = argc > 0 ? argv[0] : "", *w1 = argc > 1 ? argv[1] : "";
	const json_t *x;
	char buf[64];
	size_t i;

	if (strcmp(w0, "show") == 0 && strcmp(w1, "info") == 0)
		print_info(r);
	else if (strcmp(w0, "show") == 0 && strcmp(w1, "stats") == 0)
		print_stats(r);
	else if (strcmp(w0, "show") == 0 && strcmp(w1, "backends") == 0)
		print_backends(r);
	else if (strcmp(w0, "show") == 0 && strcmp(w1, "sessions") == 0)
		print_sessions(r);
	else if (strcmp(w0, "show") == 0 && strcmp(w1, "bans") == 0)
		print_bans(r);
	else if (strcmp(w0, "profile") == 0)
		print_profile(r);
	else if (strcmp(w0, "help") == 0)
		json_array_foreach(r, i, x) printf("%s\n", text_of(x, buf, sizeof(buf)));
	else if (strcmp(w0, "reload") == 0)
		printf("reloaded %s\n", member(r, "reloaded", buf, sizeof(buf)));
	else if (strcmp(w0, "shutdown") == 0)
		printf("sluice is draining its sessions, then exits\n");
	else if (strcmp(w0, "close") == 0)
		printf("closed %s\n", member(r, "closed", buf, sizeof(buf)));
	else
		printf("ok\n");
}

/* ---- the socket ---- */

static int
connect_to(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one line (the newline replaced by a NUL) into <*out> (malloc'd). 0, or -1 with a
 * reason in <*why>. */
static int
read_line(int fd, long timeout_s, char **out, const char **why)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	*out = NULL;
	if (buf == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		char *nl;
		ssize_t n;

		if (left <= 0) {
			*why = "no answer in time (see -t)";
			break;
		}
		if (poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left)) == -1) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			break;
		}
		if (pfd.revents == 0)
			continue;
		if (len + 1 == cap) {
			char *more = cap >= ANSWER_MAX ? NULL : realloc(buf, cap * 2);

			if (more == NULL) {
				*why = "the answer is too large";
				break;
			}
			buf = more;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = n == 0 ? "the connection closed before an answer" : strerror(errno);
			break;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl != NULL) {
			*nl = '\0';
			*out = buf;
			return 0;
		}
	}
	free(buf);
	return -1;
}

/*
 * The default wait for "profile <arg>": the seconds it profiles and 30 more (reading and
 * sorting the counters), when <arg> is a number; else <timeout>, the server says what is wrong.
 */
static long
profile_wait(const char *arg, long timeout)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || n < 1 || n > 86400)
		return timeout;
	return n + 30 > timeout ? n + 30 : timeout;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
	        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *path = getenv("SLUICE_CONTROL"), *why = NULL;
	char req[REQUEST_MAX + 1], *line = NULL, *end;
	const json_t *ok, *err, *code;
	bool json = false;
	long timeout = 60;
	bool timeout_set = false;
	size_t len = 0;
	json_t *doc;
	int opt, fd, rc, send_err = 0;

	if (path == NULL || path[0] == '\0')
		path = DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "+s:jt:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (optarg[0] == '\0') {
				fputs("sluicectl: -s needs the control socket's path, got an empty "
				      "string\n",
				      stderr);
				return EXIT_USAGE;
			}
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno != 0 || *optarg == '\0' || *end != '\0' || timeout < 1 ||
			    timeout > 86400) {
				fprintf(stderr,
				        "sluicectl: -t must be a number of seconds from 1 to "
				        "86400, "
				        "got \"%s\"\n",
				        optarg);
				return EXIT_USAGE;
			}
			timeout_set = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluicectl %s\n", SL_VERSION);
			return 0;
		default:
			fputs("sluicectl: try 'sluicectl --help'\n", stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		fputs("sluicectl: no command given\n", stderr);
		usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (strpbrk(argv[i], "\n\r") != NULL) {
			fprintf(stderr, "sluicectl: argument %d has a line break\n", i + 1);
			return EXIT_USAGE;
		}

		if (len + n + 2 > sizeof(req)) {
			fprintf(stderr, "sluicectl: the command is too long (at most %d bytes)\n",
			        REQUEST_MAX - 1);
			return EXIT_USAGE;
		}
		memcpy(req + len, argv[i], n);
		len += n;
		req[len++] = i + 1 < argc ? ' ' : '\n';
	}

	/* "profile N" answers after its N seconds: the default wait covers them */
	if (!timeout_set && argc == 2 && strcmp(argv[0], "profile") == 0)
		timeout = profile_wait(argv[1], timeout);
	fd = connect_to(path);
	if (fd == -1) {
		struct stat st;
		const char *what = strerror(errno);

		/* connect() says "refused" for a file that is no socket: say what it is */
		if (errno == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			what = S_ISDIR(st.st_mode) ? "it is a directory, not a socket"
			                           : "it is not a socket";
		fprintf(stderr,
		        "sluicectl: cannot reach the control socket %s: %s (is sluice running "
		        "with control: {path: %s}, and may you open it?)\n",
		        path, what, path);
		return EXIT_UNREACHABLE;
	}
	if (send_all(fd, req, len) != 0) {
		send_err = errno;
		/* a server that refuses a client (too many) answers and closes without reading:
		 * the answer may be waiting while the request found the socket closed */
		if (send_err != EPIPE && send_err != ECONNRESET) {
			fprintf(stderr, "sluicectl: %s: %s\n", path, strerror(send_err));
			close(fd);
			return EXIT_UNREACHABLE;
		}
	}
	if (read_line(fd, timeout, &line, &why) != 0) {
		if (send_err != 0)
			fprintf(stderr, "sluicectl: %s: the request could not be sent: %s\n", path,
			        strerror(send_err));
		else
			fprintf(stderr, "sluicectl: %s: %s\n", path, why);
		close(fd);
		return EXIT_UNREACHABLE;
	}
	close(fd);
	doc = json_loads(line, 0, NULL);
	ok = json_object_get(doc, "ok");
	if (!json_is_boolean(ok)) {
		fprintf(stderr, "sluicectl: %s: the answer is not sluice's: %.200s\n", path, line);
		json_decref(doc);
		free(line);
		return EXIT_UNREACHABLE;
	}
	err = json_object_get(doc, "error");
	code = json_object_get(doc, "code");
	if (json)
		printf("%s\n", line);
	if (json_is_true(ok)) {
		if (!json) {
			char *words[REQUEST_WORDS_MAX];

			print_result(request_words(req, words, (int)ARRAY_LEN(words)), words,
			             json_object_get(doc, "result"));
		}
		rc = 0;
	} else {
		fprintf(stderr, "sluicectl: %s\n",
		        json_is_string(err) ? json_string_value(err) : "the command failed");
		rc = json_is_string(code) && strcmp(json_string_value(code), "usage") == 0
		             ? EXIT_USAGE
		             : EXIT_FAILED;
	}
	json_decref(doc);
	free(line);
	return fflush(stdout) == 0 ? rc : EXIT_FAILED;
}
