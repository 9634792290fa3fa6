// SPDX-License-Identifier: MIT
/*
 * The control socket's request parser (ctl_int.h): one line of words into a command and its
 * arguments. Every byte comes from a client, so everything is checked and bounded here and a
 * bad request becomes a message for the client, never an assertion. Read ctl.c next.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl_int.h"

const char *const sl__ctl_usage[] = {
        "help",
        "show info",
        "show stats",
        "show backends",
        "show sessions",
        "profile SECONDS",
        "enable backend GROUP/NAME",
        "disable backend GROUP/NAME",
        "drain backend GROUP/NAME",
        "set weight GROUP/NAME WEIGHT",
        "add backend GROUP NAME ADDRESS [weight N] [max_connections N] [role backup]",
        "remove backend GROUP/NAME",
        "close sessions GROUP/NAME",
        "show bans",
        "unban LISTENER|* ADDRESS",
        "ban LISTENER|* ADDRESS SECONDS",
        "reload",
        "shutdown",
};
const size_t sl__ctl_nusage = SL_ARRAY_SIZE(sl__ctl_usage);
/* usage_of() indexes the usage by command */
static_assert(SL_ARRAY_SIZE(sl__ctl_usage) == SL__CTL_SHUTDOWN + 1, "one usage per command");

/* A word of the request: a pointer into a NUL-terminated copy of the line. */
struct words {
	char buf[SL__CTL_REQUEST_MAX + 1];
	const char *w[SL__CTL_WORDS_MAX]; /* "" past n */
	size_t n;
};

static int __attribute__((format(printf, 3, 4))) fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
split(const char *line, size_t len, struct words *ws, char *why, size_t size)
{
	char *p;

	for (size_t i = 0; i < SL__CTL_WORDS_MAX; i++)
		ws->w[i] = "";
	ws->n = 0;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > SL__CTL_REQUEST_MAX)
		return fail(why, size, "request too long (at most %d bytes)", SL__CTL_REQUEST_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
			return fail(
			        why, size,
			        "request has a control or non-ASCII byte (0x%02x) at offset %zu",
			        ch, i);
	}
	memcpy(ws->buf, line, len);
	ws->buf[len] = '\0';
	ws->n = 0;
	p = ws->buf;
	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (ws->n == SL__CTL_WORDS_MAX)
			return fail(why, size, "too many words (at most %d)", SL__CTL_WORDS_MAX);
		ws->w[ws->n++] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	if (ws->n == 0)
		return fail(why, size, "empty request (try \"help\")");
	return 0;
}

static int
copy_name(char *dst, const char *src, size_t len, const char *what, char *why, size_t size)
{
	if (len == 0)
		return fail(why, size, "empty %s name", what);
	if (len >= SL_CONFIG_NAME_MAX)
		return fail(why, size, "%s name too long (at most %d bytes)", what,
		            SL_CONFIG_NAME_MAX - 1);
	/* as the config file: a name it refuses is none the proxy has, nor may be given */
	if (!sl_config_name_ok(src, len))
		return fail(why, size,
		            "bad %s name \"%.*s\": it may contain only " SL_CONFIG_NAME_RULE, what,
		            (int)len, src);
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* "GROUP/NAME" into r->group and r->name; the name is what follows the first '/'. */
static int
group_name(const char *s, struct sl__ctl_req *r, char *why, size_t size)
{
	const char *slash = strchr(s, '/');
	int err;

	if (slash == NULL)
		return fail(why, size, "expected GROUP/NAME, got \"%s\"", s);
	err = copy_name(r->group, s, (size_t)(slash - s), "group", why, size);
	if (err == 0)
		err = copy_name(r->name, slash + 1, strlen(slash + 1), "backend", why, size);
	return err;
}

static int
number(const char *s, const char *what, uint32_t lo, uint32_t hi, uint32_t *out, char *why,
       size_t size)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && v <= hi; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v < lo || v > hi)
		return fail(why, size, "%s must be an integer from %u to %u, got \"%s\"", what, lo,
		            hi, s);
	*out = (uint32_t)v;
	return 0;
}

/* The words of each command; the argument count is checked by the parse below. */
static const struct {
	const char *w0, *w1;
	enum sl__ctl_cmd cmd;
} commands[] = {
        {"help", NULL, SL__CTL_HELP},
        {"show", "info", SL__CTL_SHOW_INFO},
        {"show", "stats", SL__CTL_SHOW_STATS},
        {"show", "backends", SL__CTL_SHOW_BACKENDS},
        {"show", "sessions", SL__CTL_SHOW_SESSIONS},
        {"profile", NULL, SL__CTL_PROFILE},
        {"enable", "backend", SL__CTL_ENABLE},
        {"disable", "backend", SL__CTL_DISABLE},
        {"drain", "backend", SL__CTL_DRAIN},
        {"set", "weight", SL__CTL_WEIGHT},
        {"add", "backend", SL__CTL_ADD},
        {"remove", "backend", SL__CTL_REMOVE},
        {"close", "sessions", SL__CTL_CLOSE_SESSIONS},
        {"show", "bans", SL__CTL_SHOW_BANS},
        {"unban", NULL, SL__CTL_UNBAN},
        {"ban", NULL, SL__CTL_BAN},
        {"reload", NULL, SL__CTL_RELOAD},
        {"shutdown", NULL, SL__CTL_SHUTDOWN},
};

/* How many words each command takes in all (add: at least; its options come in pairs). */
static size_t
words_of(enum sl__ctl_cmd cmd)
{
	switch (cmd) {
	case SL__CTL_HELP:
	case SL__CTL_RELOAD:
	case SL__CTL_SHUTDOWN:
		return 1;
	case SL__CTL_SHOW_INFO:
	case SL__CTL_SHOW_STATS:
	case SL__CTL_SHOW_BACKENDS:
	case SL__CTL_SHOW_SESSIONS:
	case SL__CTL_SHOW_BANS:
	case SL__CTL_PROFILE:
		return 2;
	case SL__CTL_ENABLE:
	case SL__CTL_DISABLE:
	case SL__CTL_DRAIN:
	case SL__CTL_REMOVE:
	case SL__CTL_CLOSE_SESSIONS:
	case SL__CTL_UNBAN:
		return 3;
	case SL__CTL_WEIGHT:
	case SL__CTL_BAN:
		return 4;
	case SL__CTL_ADD:
		return 5;
	}
	return 0;
}

static const char *
usage_of(enum sl__ctl_cmd cmd)
{
	return (size_t)cmd < sl__ctl_nusage ? sl__ctl_usage[cmd] : "";
}

/* (un)ban LISTENER|* ADDRESS: the address is an IP, with or without a port */
static int
parse_unban(const struct words *ws, struct sl__ctl_req *r, char *why, size_t size)
{
	const char *ip = ws->w[2], *bad = NULL, *colon = strchr(ip, ':');
	char with_port[SL__CTL_REQUEST_MAX + 8];
	int err;

	r->every = strcmp(ws->w[1], "*") == 0;
	if (!r->every &&
	    (err = copy_name(r->name, ws->w[1], strlen(ws->w[1]), "listener", why, size)) != 0)
		return err;
	if (colon == NULL || (ip[0] == '[' && ip[strlen(ip) - 1] == ']'))
		snprintf(with_port, sizeof(with_port), "%s:0", ip); /* v4, [v6] */
	else if (ip[0] == '[' || strchr(colon + 1, ':') == NULL)
		snprintf(with_port, sizeof(with_port), "%s", ip); /* [v6]:port, v4:port */
	else                                                      /* a bare IPv6 address */
		snprintf(with_port, sizeof(with_port), "[%s]:0", ip);
	if (sl_addr_parse(&r->addr, with_port, true, &bad) != 0)
		return fail(why, size, "bad address \"%s\": %s", ip, bad);
	return 0;
}

static int
parse_add(const struct words *ws, struct sl__ctl_req *r, char *why, size_t size)
{
	char bad[128];
	int err;

	err = copy_name(r->group, ws->w[2], strlen(ws->w[2]), "group", why, size);
	if (err == 0)
		err = copy_name(r->name, ws->w[3], strlen(ws->w[3]), "backend", why, size);
	if (err != 0)
		return err;
	if (sl_addr_parse_configured(&r->addr, ws->w[4], false, bad, sizeof(bad)) != 0)
		return fail(why, size, "bad address \"%s\": %s", ws->w[4], bad);
	for (size_t i = 5; i < ws->n; i += 2) {
		if (i + 1 == ws->n)
			return fail(why, size, "\"%s\" needs a value; usage: %s", ws->w[i],
			            usage_of(SL__CTL_ADD));
		/* the last of two would win, silently */
		for (size_t j = 5; j < i; j += 2)
			if (strcmp(ws->w[j], ws->w[i]) == 0)
				return fail(why, size, "\"%s\" is given twice", ws->w[i]);
		if (strcmp(ws->w[i], "weight") == 0)
			err = number(ws->w[i + 1], "weight", 1, SL_CONFIG_WEIGHT_MAX, &r->weight,
			             why, size);
		else if (strcmp(ws->w[i], "max_connections") == 0)
			err = number(ws->w[i + 1], "max_connections", 0, UINT32_MAX,
			             &r->max_connections, why, size);
		else if (strcmp(ws->w[i], "role") == 0 && strcmp(ws->w[i + 1], "backup") == 0)
			r->backup = true;
		else if (strcmp(ws->w[i], "role") == 0 && strcmp(ws->w[i + 1], "primary") == 0)
			r->backup = false;
		else if (strcmp(ws->w[i], "role") == 0)
			err = fail(why, size, "role must be primary or backup, got \"%s\"",
			           ws->w[i + 1]);
		else
			err = fail(why, size, "unknown option \"%s\"; usage: %s", ws->w[i],
			           usage_of(SL__CTL_ADD));
		if (err != 0)
			return err;
	}
	return 0;
}

/*
 * No command is <ws>: "unknown command", or, when its first word starts commands that take a
 * second ("show", "set"), which second words there are.
 */
static int
unknown(const struct words *ws, char *why, size_t size)
{
	char seconds[128];
	size_t n = 0, len = 0;

	seconds[0] = '\0';
	for (size_t i = 0; i < SL_ARRAY_SIZE(commands); i++)
		if (commands[i].w1 != NULL && strcmp(ws->w[0], commands[i].w0) == 0 &&
		    len < sizeof(seconds))
			len += (size_t)snprintf(seconds + len, sizeof(seconds) - len, "%s%s",
			                        n++ > 0 ? ", " : "", commands[i].w1);
	if (n == 0)
		return fail(why, size, "unknown command \"%s\" (try \"help\")", ws->w[0]);
	if (ws->n == 1)
		return fail(why, size, "\"%s\" needs one more word: %s (try \"help\")", ws->w[0],
		            seconds);
	return fail(why, size, "unknown command \"%s %s\": \"%s\" takes %s (try \"help\")",
	            ws->w[0], ws->w[1], ws->w[0], seconds);
}

int
sl__ctl_parse(const char *line, size_t len, struct sl__ctl_req *r, char *why, size_t size)
{
	struct words ws;
	size_t i, want;
	int err;

	memset(r, 0, sizeof(*r));
	r->weight = 1;
	err = split(line, len, &ws, why, size);
	if (err != 0)
		return err;
	for (i = 0; i < SL_ARRAY_SIZE(commands); i++)
		if (strcmp(ws.w[0], commands[i].w0) == 0 &&
		    (commands[i].w1 == NULL || (ws.n > 1 && strcmp(ws.w[1], commands[i].w1) == 0)))
			break;
	if (i == SL_ARRAY_SIZE(commands))
		return unknown(&ws, why, size);
	r->cmd = commands[i].cmd;
	want = words_of(r->cmd);
	if (r->cmd == SL__CTL_ADD && ws.n < want && ws.n > 2 && strchr(ws.w[2], '/') != NULL)
		return fail(why, size,
		            "add takes the group and the name as two words (GROUP NAME, not "
		            "GROUP/NAME); usage: %s",
		            usage_of(r->cmd));
	if (ws.n < want || (ws.n > want && r->cmd != SL__CTL_ADD))
		return fail(why, size, "%s arguments; usage: %s", ws.n < want ? "missing" : "extra",
		            usage_of(r->cmd));
	switch (r->cmd) {
	case SL__CTL_ENABLE:
	case SL__CTL_DISABLE:
	case SL__CTL_DRAIN:
	case SL__CTL_REMOVE:
	case SL__CTL_CLOSE_SESSIONS:
		return group_name(ws.w[2], r, why, size);
	case SL__CTL_WEIGHT:
		err = group_name(ws.w[2], r, why, size);
		if (err == 0)
			err = number(ws.w[3], "weight", 1, SL_CONFIG_WEIGHT_MAX, &r->weight, why,
			             size);
		return err;
	case SL__CTL_ADD:
		return parse_add(&ws, r, why, size);
	case SL__CTL_UNBAN:
		return parse_unban(&ws, r, why, size);
	case SL__CTL_BAN:
		err = parse_unban(&ws, r, why, size);
		if (err == 0)
			err = number(ws.w[3], "seconds", 1, SL__CTL_BAN_MAX, &r->seconds, why,
			             size);
		return err;
	case SL__CTL_PROFILE:
		return number(ws.w[1], "seconds", 1, SL__CTL_PROFILE_MAX, &r->seconds, why, size);
	default:
		return 0;
	}
}
