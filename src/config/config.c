// SPDX-License-Identifier: MIT
/*
 * Entry points of the configuration loader (include/sluice/config.h): bounds the text's nesting
 * and size, reads it with libyaml, walks it (config_yaml.c), cross-checks it
 * (config_validate.c), then prints every error in file order or hands back the snapshot. Also
 * owns the error list, message helpers and the names of a few enums. Read config_keys.h and
 * config_yaml.c next.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include <sluice/config.h>
#include <sluice/lpm.h>
#include <sluice/pool.h>

#include "config/config_int.h"

/* Largest file sl_config_load_file() accepts. */
#define CONFIG_FILE_MAX (16u << 20)

/*
 * Deepest nesting of lists and mappings a text may open, in brackets or by indentation; the
 * schema needs a few. In brackets it is checked before libyaml reads a byte, since its scanner
 * does work in proportion to the flow depth for every token: a 40000-deep text (80 KB) took it
 * 2.7 s, and 16 MiB of brackets would take it hours. By indentation it is checked on the
 * parser's events (config_check_shape()): 16 MiB of "- - - ..." composed into 8 million nested
 * lists took 11 s and 2.5 GB.
 */
#define CONFIG_DEPTH_MAX 64

static_assert(SL_CONFIG_POOLS_MAX == SL__POOL_MAX, "the workers bound follows the pool table");

static _Thread_local long config_fail_after = -1;

void
sl__config_fail_alloc_after(long n)
{
	config_fail_after = n;
}

void *
sl__config_calloc(struct sl__config_load *x, size_t n, size_t size)
{
	void *p;

	if (config_fail_after == 0) {
		x->oom = true;
		return NULL;
	}
	if (config_fail_after > 0)
		config_fail_after--;
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		x->oom = true;
	return p;
}

void
sl__config_error(struct sl__config_load *x, yaml_mark_t m, const char *fmt, ...)
{
	struct sl__config_err *e;
	va_list ap;
	int n;

	if (sl__config_stopped(x))
		return;
	if (x->nerrs == x->caperrs) {
		size_t cap = x->caperrs ? 2 * x->caperrs : 16;
		struct sl__config_err *ne = sl__config_calloc(x, cap, sizeof(*ne));

		if (!ne)
			return;
		if (x->nerrs)
			memcpy(ne, x->errs, x->nerrs * sizeof(*ne));
		free(x->errs);
		x->errs = ne;
		x->caperrs = cap;
	}
	e = &x->errs[x->nerrs];
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		x->oom = true;
		return;
	}
	e->msg = sl__config_calloc(x, (size_t)n + 1, 1);
	if (!e->msg)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	e->line = m.line + 1;
	e->col = m.column + 1;
	e->seq = x->nerrs++;
}

char *
sl__config_where(const struct sl__config_load *x, yaml_mark_t m, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%zu:%zu", x->source, m.line + 1, m.column + 1);
	return buf;
}

char *
sl__config_quote(const char *s, size_t n, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 8 >= size) { /* room for the longest escape, "..." and the NUL */
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o] = '\0';
	return buf;
}

unsigned
sl__config_distance(const char *a, const char *b)
{
	/* optimal string alignment over three rows; words longer than 32 are never "close" */
	unsigned rows[3][33], *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *t;
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > 32 || lb > 32)
		return 3;
	if (la > lb + 2 || lb > la + 2)
		return 3;
	for (j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1], v = prev[j - 1] + cost;

			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb] > 2 ? 3 : prev[lb];
}

const char *
sl__config_closest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned bestd = 3;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned d = sl__config_distance(word, names[i]);

		/* a one-letter word is "close" to everything short: only suggest real near-misses
		 */
		if (d < bestd && d < strlen(word)) {
			best = names[i];
			bestd = d;
		}
	}
	return best;
}

/* Bytes of the line break at byte <i> of the text, as libyaml counts them (CR LF, CR, LF, and
 * NEL, LS and PS in UTF-8), or 0 if none starts there. */
static size_t
config_break_at(const struct sl__config_load *x, size_t i)
{
	const unsigned char *t = (const unsigned char *)x->text;
	size_t left = x->len - i;

	if (t[i] == '\r')
		return left > 1 && t[i + 1] == '\n' ? 2 : 1;
	if (t[i] == '\n')
		return 1;
	if (left > 1 && t[i] == 0xc2 && t[i + 1] == 0x85)
		return 2;
	if (left > 2 && t[i] == 0xe2 && t[i + 1] == 0x80 && (t[i + 2] == 0xa8 || t[i + 2] == 0xa9))
		return 3;
	return 0;
}

/*
 * Walks the text to byte <off> (reader errors carry only a byte offset) or to the position
 * <*m> (libyaml's other marks count characters): fills whichever of the two was not given.
 * Lines end as libyaml ends them; columns count characters (UTF-8 continuation bytes and a
 * leading BOM count none).
 */
static void
config_walk_to(const struct sl__config_load *x, size_t *off, yaml_mark_t *m, bool by_off)
{
	const unsigned char *t = (const unsigned char *)x->text;
	size_t i = x->len >= 3 && t[0] == 0xef && t[1] == 0xbb && t[2] == 0xbf ? 3 : 0;
	size_t line = 0, column = 0, b;

	while (i < x->len) {
		if (by_off ? i >= *off : line == m->line && column >= m->column)
			break;
		if ((b = config_break_at(x, i)) != 0) {
			if (!by_off && line == m->line)
				break; /* a column past the line's end: its end */
			line++;
			column = 0;
			i += b;
			continue;
		}
		i++;
		while (i < x->len && (t[i] & 0xc0) == 0x80)
			i++; /* the rest of a UTF-8 character */
		column++;
	}
	if (by_off) {
		*m = (yaml_mark_t){.index = *off, .line = line, .column = column};
		return;
	}
	*off = i;
}

/* The 1-based line and column of byte <off> of the text. */
static yaml_mark_t
config_mark_at(const struct sl__config_load *x, size_t off)
{
	yaml_mark_t m;

	config_walk_to(x, &off, &m, true);
	return m;
}

/* The byte of the text that libyaml's mark <m> (counted in characters) names. */
static size_t
config_byte_of(const struct sl__config_load *x, const yaml_mark_t *m)
{
	size_t off = 0;
	yaml_mark_t at = *m;

	config_walk_to(x, &off, &at, false);
	return off;
}

/*
 * The offset where <text> opens a flow list or mapping deeper than CONFIG_DEPTH_MAX, or
 * SIZE_MAX: a scan before libyaml reads it. Lexical only: brackets in comments and in quoted
 * scalars do not count; in plain and block scalars they do, which only dozens left unclosed
 * there could make matter.
 */
static size_t
config_flow_too_deep(const char *text, size_t len)
{
	static const char opens_scalar[] = " \t\n[{,:"; /* what a quote may follow */
	unsigned depth = 0;
	char quote = 0, prev = '\n';

	for (size_t i = 0; i < len; prev = text[i++]) {
		char c = text[i];

		if (quote == '"') {
			if (c == '\\' && i + 1 < len && text[i + 1] != '\n')
				i++; /* the escaped character */
			else if (c == '"')
				quote = 0;
		} else if (quote == '\'') {
			if (c == '\'' && i + 1 < len && text[i + 1] == '\'')
				i++; /* '' is a quote inside */
			else if (c == '\'')
				quote = 0;
		} else if (c == '#' && (prev == ' ' || prev == '\t' || prev == '\n')) {
			while (i + 1 < len && text[i + 1] != '\n')
				i++;
		} else if ((c == '"' || c == '\'') &&
		           memchr(opens_scalar, prev, sizeof(opens_scalar) - 1) != NULL) {
			quote = c;
		} else if (c == '[' || c == '{') {
			if (++depth > CONFIG_DEPTH_MAX)
				return i;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return SIZE_MAX;
}

/*
 * YAML tags would change what a value means (!!binary decodes it, !!null empties it) where
 * sluice reads every value as it is written: a node whose tag is not its kind's plain one is
 * refused, at its place. !!str, and no tag at all, are the plain scalar's.
 */
static void
config_check_tags(struct sl__config_load *x, yaml_document_t *doc)
{
	static const char core[] = "tag:yaml.org,2002:";

	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
		const char *tag = (const char *)n->tag;
		const char *plain = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
		                    : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
		                                                    : YAML_DEFAULT_MAPPING_TAG;

		if (tag == NULL || strcmp(tag, plain) == 0)
			continue;
		if (strncmp(tag, core, sizeof(core) - 1) == 0)
			sl__config_error(x, n->start_mark,
			                 "YAML tags are not supported (\"!!%s\"): write the value "
			                 "without one",
			                 tag + sizeof(core) - 1);
		else
			sl__config_error(x, n->start_mark,
			                 "YAML tags are not supported (\"%s\"): write the value "
			                 "without one",
			                 tag);
		if (sl__config_stopped(x))
			return;
	}
}
/*
 * A pass over the parser's events for the whole text, before libyaml composes any document (it
 * keeps every node of one in memory, about 160 bytes each): records one error at the first list
 * or mapping nested more than CONFIG_DEPTH_MAX levels below the top one, or at the first node
 * past SL_CONFIG_NODES_MAX counted over every document (a second one is composed too, to be
 * refused). The pass itself holds a few tokens and one state per open level. A syntax error
 * ends it quietly: the load that follows stops at the same place and says so, having composed
 * only what passed here. 0, -EINVAL (recorded) or -ENOMEM.
 */
static int
config_check_shape(struct sl__config_load *x)
{
	size_t nodes = 0;
	unsigned depth = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	int err = 0;

	if (!yaml_parser_initialize(&p)) {
		x->oom = true;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)(x->text ? x->text : ""), x->len);
	while (err == 0 && yaml_parser_parse(&p, &ev)) {
		yaml_event_type_t type = ev.type;
		yaml_mark_t at = ev.start_mark;
		bool opens = type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT;

		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		/* levels below the top one: "x: [[...]]" has always been allowed 64 brackets */
		if (opens && ++depth > CONFIG_DEPTH_MAX + 1) {
			sl__config_error(x, at,
			                 "lists and mappings nest deeper than %u levels here",
			                 CONFIG_DEPTH_MAX);
			err = -EINVAL;
		}
		/* an alias is no node of its own: the walk bounds what it expands to */
		if (err == 0 && (opens || type == YAML_SCALAR_EVENT) &&
		    ++nodes > SL_CONFIG_NODES_MAX) {
			sl__config_error(
			        x, at,
			        "the configuration passes %u YAML nodes (values, lists and "
			        "mappings) here, the most a file may have",
			        SL_CONFIG_NODES_MAX);
			err = -EINVAL;
		}
	}
	if (p.error == YAML_MEMORY_ERROR)
		x->oom = true;
	yaml_parser_delete(&p);
	return x->oom ? -ENOMEM : err;
}

/* Turns a libyaml failure into one error (or -ENOMEM). */
static int
config_syntax_error(struct sl__config_load *x, const yaml_parser_t *p)
{
	char ctx[SL__CONFIG_WHERE_MAX] = "";
	const char *hint = "";
	yaml_mark_t m = p->problem_mark;
	size_t at, bol, eol;

	if (p->error == YAML_MEMORY_ERROR) {
		x->oom = true;
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR)
		m = config_mark_at(x, p->problem_offset);
	/* the byte the mark names, and its line's: libyaml's index counts characters */
	at = p->error == YAML_READER_ERROR ? p->problem_offset : config_byte_of(x, &m);
	for (bol = at; bol > 0 && x->text[bol - 1] != '\n' && x->text[bol - 1] != '\r'; bol--)
		;
	if (p->context && p->context_mark.index == m.index)
		snprintf(ctx, sizeof(ctx), " (%s)", p->context);
	else if (p->context)
		snprintf(ctx, sizeof(ctx), " (%s that started at line %zu, column %zu)", p->context,
		         p->context_mark.line + 1, p->context_mark.column + 1);
	if (at < x->len && x->text[at] == '\t')
		hint = "; YAML does not allow tabs for indentation";
	/* an unquoted "[::1]:80" starts a YAML list: say so */
	for (eol = at; eol < x->len && x->text[eol] != '\n' && x->text[eol] != '\r'; eol++)
		;
	if (memmem(x->text + bol, eol - bol, "[", 1) && memmem(x->text + bol, eol - bol, "]:", 2))
		hint = "; write IPv6 addresses in quotes: \"[::1]:8080\"";
	sl__config_error(x, m, "%s%s%s", p->problem ? p->problem : "syntax error", ctx, hint);
	return x->oom ? -ENOMEM : -EINVAL;
}

static int
config_err_cmp(const void *pa, const void *pb)
{
	const struct sl__config_err *a = pa, *b = pb;

	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
config_print_errors(struct sl__config_load *x, FILE *errs)
{
	size_t i;

	qsort(x->errs, x->nerrs, sizeof(x->errs[0]), config_err_cmp);
	if (!errs)
		return;
	for (i = 0; i < x->nerrs; i++)
		fprintf(errs, "%s:%zu:%zu: %s\n", x->source, x->errs[i].line, x->errs[i].col,
		        x->errs[i].msg);
	if (x->nerrs >= SL__CONFIG_ERRORS_MAX)
		fprintf(errs, "%s: too many errors, stopped after %d\n", x->source,
		        SL__CONFIG_ERRORS_MAX);
	fflush(errs);
}

static void
config_load_fini(struct sl__config_load *x)
{
	size_t i;

	for (i = 0; i < x->nerrs; i++)
		free(x->errs[i].msg);
	free(x->errs);
	for (i = 0; x->gm && i < x->ngm; i++)
		free(x->gm[i].bm);
	free(x->gm);
	free(x->lm);
	free(x->seen);
	sl_config_free(x->c);
}

int
sl_config_load_string(struct sl_config **out, const char *source, const char *text, size_t len,
                      FILE *errs)
{
	struct sl__config_load x = {
	        .source = source ? source : "<string>", .text = text, .len = len};
	yaml_document_t doc, extra;
	yaml_parser_t parser;
	yaml_node_t *more;
	size_t deep;
	int err = 0;

	*out = NULL;
	if (!text)
		x.len = len = 0;
	if (!yaml_parser_initialize(&parser)) {
		if (errs)
			fprintf(errs, "%s: cannot load: out of memory\n", x.source);
		return -ENOMEM;
	}
	deep = config_flow_too_deep(text, len);
	if (deep != SIZE_MAX) {
		sl__config_error(
		        &x, config_mark_at(&x, deep),
		        "lists and mappings in [ ] and { } nest deeper than %u levels here",
		        CONFIG_DEPTH_MAX);
		err = x.oom ? -ENOMEM : -EINVAL;
		goto out_parser;
	}
	err = config_check_shape(&x);
	if (err != 0)
		goto out_parser;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		err = config_syntax_error(&x, &parser);
		goto out_parser;
	}
	x.doc = &doc;
	x.c = sl__config_calloc(&x, 1, sizeof(*x.c));
	if (x.c) {
		sl_config_defaults(x.c);
		x.c->source = sl__config_calloc(&x, strlen(x.source) + 1, 1);
		if (x.c->source)
			memcpy(x.c->source, x.source, strlen(x.source));
	}
	/* one flag per node: a second visit is an alias, counted against the expansion bound */
	x.nseen = (size_t)(doc.nodes.top - doc.nodes.start);
	x.seen = sl__config_calloc(&x, x.nseen, 1);
	if (!x.oom)
		config_check_tags(&x, &doc);
	if (!x.oom && !sl__config_stopped(&x))
		sl__config_walk(&x);
	if (!sl__config_stopped(&x))
		sl__config_validate(&x);
	if (!sl__config_stopped(&x) && yaml_document_get_root_node(&doc)) {
		/* a second document is almost always a merge mistake: refuse it */
		if (!yaml_parser_load(&parser, &extra)) {
			config_syntax_error(&x, &parser);
		} else {
			more = yaml_document_get_root_node(&extra);
			if (more)
				sl__config_error(
				        &x, more->start_mark,
				        "only one YAML document is allowed (remove the \"---\" "
				        "line or the text after it)");
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	if (x.oom)
		err = -ENOMEM;
	else if (x.nerrs)
		err = -EINVAL;
out_parser:
	yaml_parser_delete(&parser);
	if (err == -EINVAL)
		config_print_errors(&x, errs);
	if (err == -ENOMEM && errs) {
		fprintf(errs, "%s: cannot load: out of memory\n", x.source);
		fflush(errs);
	}
	if (!err) {
		*out = x.c;
		x.c = NULL;
	}
	config_load_fini(&x);
	return err;
}

static int
config_read_error(const char *path, FILE *errs, int err, const char *why)
{
	char buf[128];

	if (errs) {
		if (!why)
			why = strerror_r(-err, buf, sizeof(buf));
		fprintf(errs, "%s: cannot read: %s\n", path, why);
		fflush(errs);
	}
	return err;
}

int
sl_config_load_file(struct sl_config **out, const char *path, FILE *errs)
{
	size_t cap, got = 0;
	struct stat st;
	char *buf, *nb;
	ssize_t n;
	int fd, err;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse non-regular files */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return config_read_error(path, errs, -errno, NULL);
	if (fstat(fd, &st) == -1) {
		err = config_read_error(path, errs, -errno, NULL);
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = config_read_error(path, errs, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
		                        S_ISDIR(st.st_mode) ? NULL : "not a regular file");
		goto out_close;
	}
	if (st.st_size > (off_t)CONFIG_FILE_MAX) {
		err = config_read_error(path, errs, -EFBIG, "larger than 16 MiB");
		goto out_close;
	}
	/* st_size is a hint only (files in /proc say 0): read until EOF, growing, up to the cap */
	cap = (size_t)st.st_size + 1 < 4096 ? 4096 : (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		err = config_read_error(path, errs, -ENOMEM, NULL);
		goto out_close;
	}
	for (;;) {
		if (got == cap) {
			if (cap > CONFIG_FILE_MAX) {
				err = config_read_error(path, errs, -EFBIG, "larger than 16 MiB");
				goto out_free;
			}
			cap = cap * 2 > CONFIG_FILE_MAX + 1 ? CONFIG_FILE_MAX + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = config_read_error(path, errs, -ENOMEM, NULL);
				goto out_free;
			}
			buf = nb;
		}
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err = config_read_error(path, errs, -errno, NULL);
			goto out_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONFIG_FILE_MAX) {
		err = config_read_error(path, errs, -EFBIG, "larger than 16 MiB");
		goto out_free;
	}
	err = sl_config_load_string(out, path, buf, got, errs);
out_free:
	free(buf);
out_close:
	close(fd);
	return err;
}

uint32_t
sl_config_workers(const struct sl_config *c)
{
	cpu_set_t set;
	long online;
	int n;

	if (c->workers != 0)
		return c->workers;
	if (c->workers_started != 0)
		return c->workers_started;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return (uint32_t)n;
	online = sysconf(_SC_NPROCESSORS_ONLN);
	return online > 0 ? (uint32_t)online : 1;
}

uint32_t
sl_config_workers_max(const struct sl_config *c)
{
	size_t n = SL_CONFIG_POOLS_MAX / (c->nlisteners + 1);

	return n < SL_CONFIG_WORKERS_MAX ? (uint32_t)n : SL_CONFIG_WORKERS_MAX;
}

void
sl_config_free(struct sl_config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; c->groups && i < c->ngroups; i++) {
		free(c->groups[i].health.send);
		free(c->groups[i].health.expect);
		free(c->groups[i].backends);
	}
	free(c->groups);
	for (i = 0; c->listeners && i < c->nlisteners; i++) {
		sl_lpm_destroy(c->listeners[i].acl);
		free(c->listeners[i].acl_rules);
		sl_lpm_destroy(c->listeners[i].proxy_in.trusted);
		free(c->listeners[i].proxy_in.trusted_prefixes);
	}
	free(c->listeners);
	free(c->access_log.path);
	free(c->upgrade_socket);
	free(c->alerts.webhooks);
	free(c->alerts.rules);
	free(c->source);
	free(c);
}

const char *const sl_alert_metric_names[SL_ALERT_METRICS] = {
        [SL_ALERT_CONNECT_P99] = "connect_p99",
        [SL_ALERT_FIRST_BYTE_P99] = "first_byte_p99",
        [SL_ALERT_RSS] = "rss",
        [SL_ALERT_BACKEND_DOWN] = "backend_down",
        [SL_ALERT_REJECT_RATE] = "reject_rate",
        [SL_ALERT_ERROR_RATE] = "error_rate",
};

const char *const sl_fwd_mode_names[SL_FWD_MODES] = {
        [SL_FWD_SPLICE] = "splice", [SL_FWD_COPY] = "copy",       [SL_FWD_AUTO] = "auto",
        [SL_FWD_URING] = "uring",   [SL_FWD_SOCKMAP] = "sockmap",
};

int
sl_config_duration_parse(const char *s, uint32_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	uint64_t n = 0;
	size_t nd, i;

	for (nd = 0; s[nd] >= '0' && s[nd] <= '9'; nd++) {
		unsigned d = (unsigned)(s[nd] - '0');

		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	if (nd == 0)
		return -EINVAL;
	for (i = 0; i < SL_ARRAY_SIZE(units); i++)
		if (strcmp(s + nd, units[i].unit) == 0)
			break;
	if (i == SL_ARRAY_SIZE(units))
		return -EINVAL;
	if (n > UINT32_MAX / units[i].ms)
		return -ERANGE;
	*ms = (uint32_t)(n * units[i].ms);
	return 0;
}

int
sl_fwd_mode_parse(const char *name, enum sl_fwd_mode *out)
{
	for (int i = 0; i < SL_FWD_MODES; i++) {
		if (strcmp(name, sl_fwd_mode_names[i]) == 0) {
			*out = (enum sl_fwd_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}
