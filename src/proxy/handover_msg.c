// SPDX-License-Identifier: MIT
/*
 * The binary-upgrade conversation's messages (handover_msg.h): one message from the peer
 * process into its kind and fields, and the moved-session message written. Every byte comes
 * from the other process, so everything is checked and bounded here, on (bytes, length) that
 * need no NUL; a bad message becomes a reason, never an assertion. app/sluice/upgrade.c holds
 * the conversation; src/proxy/handover.c the sockets and sessions that move.
 */
#include "proxy/handover_msg.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>

static int __attribute__((format(printf, 4, 5)))
fail(char *why, size_t size, int err, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || size == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return err;
}

/* A byte a name or an address may hold: printable ASCII. */
static bool
is_printable(unsigned char ch)
{
	return ch >= 0x20 && ch < 0x7f;
}

/* Name [s, s + n) into <out>: 1 (0 if <may_be_empty>) .. SL_CONFIG_NAME_MAX - 1 printable. */
static int
take_name(const char *s, size_t n, bool may_be_empty, char out[SL_CONFIG_NAME_MAX],
          const char *what, char *why, size_t size)
{
	if (n == 0 && !may_be_empty)
		return fail(why, size, -EPROTO, "empty %s name", what);
	if (n >= SL_CONFIG_NAME_MAX)
		return fail(why, size, -ERANGE, "%s name too long (%zu bytes, at most %d)", what, n,
		            SL_CONFIG_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!is_printable((unsigned char)s[i]))
			return fail(why, size, -EPROTO,
			            "%s name has a control or non-ASCII byte (0x%02x)", what,
			            (unsigned char)s[i]);
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Decimal number [s, s + n) into <*out>: digits only, at most <max>. */
static int
take_number(const char *s, size_t n, uint64_t max, uint64_t *out, const char *what, char *why,
            size_t size)
{
	uint64_t v = 0;

	if (n == 0)
		return fail(why, size, -EPROTO, "missing %s", what);
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - (unsigned)'0';

		if (d > 9)
			return fail(why, size, -EPROTO, "%s is not a decimal number", what);
		if (v > (UINT64_MAX - d) / 10)
			return fail(why, size, -ERANGE, "%s out of range (at most %llu)", what,
			            (unsigned long long)max);
		v = v * 10 + d;
	}
	if (v > max)
		return fail(why, size, -ERANGE, "%s out of range (at most %llu)", what,
		            (unsigned long long)max);
	*out = v;
	return 0;
}

/* "<kind> <pid>" of <len> bytes: the pid into <*pid>. */
static int
take_pid(const char *s, size_t len, pid_t *pid, char *why, size_t size)
{
	uint64_t v = 0;
	int err;

	if (len < 2 || s[1] != ' ')
		return fail(why, size, -EPROTO, "expected \"%c <pid>\"", s[0]);
	err = take_number(s + 2, len - 2, INT_MAX, &v, "pid", why, size);
	if (err != 0)
		return err;
	if (v == 0)
		return fail(why, size, -ERANGE, "pid out of range (1 .. %d)", INT_MAX);
	*pid = (pid_t)v;
	return 0;
}

/* "L" then "\n<name>" per listening socket, one per descriptor. */
static int
parse_listeners(const char *s, size_t len, size_t nfds, struct sl__handover_msg *m, char *why,
                size_t size)
{
	const char *at = s + 1, *end = s + len;

	if (len > 1 && s[1] != '\n')
		return fail(why, size, -EPROTO, "expected \"L\" and a name per line");
	m->nnames = 0;
	while (at < end) {
		const char *name = at + 1; /* past the '\n' */
		const char *nl = memchr(name, '\n', (size_t)(end - name));
		const char *stop = nl != NULL ? nl : end;
		int err;

		if (m->nnames == SL_ARRAY_SIZE(m->names))
			return fail(why, size, -ERANGE, "more than %zu listener names",
			            SL_ARRAY_SIZE(m->names));
		err = take_name(name, (size_t)(stop - name), false, m->names[m->nnames], "listener",
		                why, size);
		if (err != 0)
			return err;
		m->nnames++;
		at = stop;
	}
	if (m->nnames != nfds)
		return fail(why, size, -EPROTO, "%zu listener names for %zu descriptors", m->nnames,
		            nfds);
	return 0;
}

/* "X<reason>": what is printable of the reason, without the space after "X". */
static void
parse_refused(const char *s, size_t len, struct sl__handover_msg *m)
{
	size_t i = 1, k = 0;

	if (i < len && s[i] == ' ')
		i++;
	for (; i < len && k < sizeof(m->reason) - 1; i++, k++) {
		char c = s[i];

		if (!is_printable((unsigned char)c))
			c = '?';
		m->reason[k] = c;
	}
	m->reason[k] = '\0';
}

/* The client address [s, s + n) into <*a>. */
static int
take_client(const char *s, size_t n, struct sl_addr *a, char *why, size_t size)
{
	char text[SL_ADDR_STRLEN];
	const char *bad = NULL;

	if (n == 0)
		return fail(why, size, -EPROTO, "missing client address");
	if (n >= sizeof(text))
		return fail(why, size, -ERANGE, "client address too long (%zu bytes, at most %zu)",
		            n, sizeof(text) - 1);
	for (size_t i = 0; i < n; i++)
		if (!is_printable((unsigned char)s[i]) || s[i] == ' ')
			return fail(
			        why, size, -EPROTO,
			        "client address has a space, control or non-ASCII byte (0x%02x)",
			        (unsigned char)s[i]);
	memcpy(text, s, n);
	text[n] = '\0';
	if (sl_addr_parse(a, text, true, &bad) != 0)
		return fail(why, size, -EPROTO, "client address \"%s\": %s", text, bad);
	return 0;
}

/* "start_ms conn_ms bytes_in bytes_out in_ended out_ended" [s, s + n) into <*mv>. */
static int
take_counts(const char *s, size_t n, struct sl_proxy_moved *mv, char *why, size_t size)
{
	static const struct {
		const char *what;
		uint64_t max;
	} f[] = {
	        {"start_ms", UINT64_MAX},  {"conn_ms", UINT32_MAX}, {"bytes_in", UINT64_MAX},
	        {"bytes_out", UINT64_MAX}, {"in_ended", 1},         {"out_ended", 1},
	};
	const char *at = s, *end = s + n;
	uint64_t v[SL_ARRAY_SIZE(f)] = {0};

	for (size_t k = 0; k < SL_ARRAY_SIZE(f); k++) {
		const char *sp = memchr(at, ' ', (size_t)(end - at));
		bool last = k + 1 == SL_ARRAY_SIZE(f);
		int err;

		if (at == end)
			return fail(why, size, -EPROTO, "missing %s", f[k].what);
		if (last && sp != NULL)
			return fail(why, size, -EPROTO, "more than %zu numbers", SL_ARRAY_SIZE(f));
		if (!last && sp == NULL)
			return fail(why, size, -EPROTO, "missing %s", f[k + 1].what);
		err = take_number(at, (size_t)((last ? end : sp) - at), f[k].max, &v[k], f[k].what,
		                  why, size);
		if (err != 0)
			return err;
		at = last ? end : sp + 1;
	}
	mv->start_ms = v[0];
	mv->conn_ms = (uint32_t)v[1];
	mv->bytes[0] = v[2];
	mv->bytes[1] = v[3];
	mv->shut[0] = v[4] != 0;
	mv->shut[1] = v[5] != 0;
	return 0;
}

/* "M\n<listener>\n<backend>\n<client>\n<numbers>", with two descriptors. */
static int
parse_moved(const char *s, size_t len, size_t nfds, struct sl_proxy_moved *mv, char *why,
            size_t size)
{
	static const char *const what[] = {"listener name", "backend name", "client address",
	                                   "numbers"};
	const char *field[SL_ARRAY_SIZE(what)];
	size_t n[SL_ARRAY_SIZE(what)], at = 2;
	int err;

	if (len < 2 || s[1] != '\n')
		return fail(why, size, -EPROTO, "expected \"M\" and a field per line");
	/* one field per line, the last one to the end */
	for (size_t i = 0; i < SL_ARRAY_SIZE(what); i++) {
		const char *nl = memchr(s + at, '\n', len - at);
		bool last = i + 1 == SL_ARRAY_SIZE(what);

		if (last && nl != NULL)
			return fail(why, size, -EPROTO, "a line after the numbers");
		if (!last && nl == NULL)
			return fail(why, size, -EPROTO, "missing %s", what[i + 1]);
		field[i] = s + at;
		n[i] = last ? len - at : (size_t)(nl - field[i]);
		at += n[i] + 1;
	}
	err = take_name(field[0], n[0], false, mv->listener, "listener", why, size);
	if (err == 0)
		err = take_name(field[1], n[1], true, mv->backend, "backend", why, size);
	if (err == 0)
		err = take_client(field[2], n[2], &mv->client, why, size);
	if (err == 0)
		err = take_counts(field[3], n[3], mv, why, size);
	if (err == 0 && nfds != 2)
		err = fail(why, size, -EPROTO, "a moved session with %zu descriptors, not 2", nfds);
	return err;
}

/* "<prefix> <remaining_ms>" [s, s + n) into <*b>. */
static int
take_ban(const char *s, size_t n, struct sl__handover_ban *b, char *why, size_t size)
{
	const char *sp = memchr(s, ' ', n), *bad = NULL;
	char text[SL_CIDR_STRLEN];
	size_t plen = sp != NULL ? (size_t)(sp - s) : n;
	uint64_t ms = 0;
	int err;

	if (sp == NULL)
		return fail(why, size, -EPROTO, "a ban without its remaining time");
	if (plen == 0 || plen >= sizeof(text))
		return fail(why, size, -EPROTO, "a ban's prefix of %zu bytes", plen);
	for (size_t i = 0; i < plen; i++)
		if (!is_printable((unsigned char)s[i]))
			return fail(why, size, -EPROTO,
			            "a ban's prefix has a control or non-ASCII byte (0x%02x)",
			            (unsigned char)s[i]);
	memcpy(text, s, plen);
	text[plen] = '\0';
	if (strchr(text, '/') == NULL || sl_cidr_parse(&b->source, text, 0, &bad) != 0)
		return fail(why, size, -EPROTO, "ban prefix \"%s\": %s", text,
		            bad != NULL ? bad : "no /length");
	err = take_number(sp + 1, n - plen - 1, UINT32_MAX, &ms, "remaining_ms", why, size);
	if (err != 0)
		return err;
	if (ms == 0)
		return fail(why, size, -ERANGE, "remaining_ms out of range (1 .. %u)", UINT32_MAX);
	b->remaining_ms = (uint32_t)ms;
	return 0;
}

/* "K\n<listener>" then "\n<prefix> <remaining_ms>" per ban, no descriptors. */
static int
parse_bans(const char *s, size_t len, size_t nfds, struct sl__handover_msg *m, char *why,
           size_t size)
{
	const char *end = s + len, *at, *nl;
	int err;

	if (nfds != 0)
		return fail(why, size, -EPROTO, "\"K\" message with %zu descriptors", nfds);
	if (len < 2 || s[1] != '\n')
		return fail(why, size, -EPROTO, "expected \"K\", a listener and a ban per line");
	at = s + 2;
	nl = memchr(at, '\n', (size_t)(end - at));
	if (nl == NULL)
		return fail(why, size, -EPROTO, "a \"K\" message without bans");
	err = take_name(at, (size_t)(nl - at), false, m->listener, "listener", why, size);
	if (err != 0)
		return err;
	m->nbans = 0;
	while (nl != NULL) {
		const char *line = nl + 1;
		const char *stop;

		nl = memchr(line, '\n', (size_t)(end - line));
		stop = nl != NULL ? nl : end;
		if (m->nbans == SL__HANDOVER_BANS_PER_MSG)
			return fail(why, size, -ERANGE, "more than %d bans in one message",
			            SL__HANDOVER_BANS_PER_MSG);
		err = take_ban(line, (size_t)(stop - line), &m->bans[m->nbans], why, size);
		if (err != 0)
			return err;
		m->nbans++;
	}
	return 0;
}

/* The kinds that are one byte and a fixed number of descriptors. */
static int
parse_single(const char *s, size_t len, size_t nfds, struct sl__handover_msg *m, char *why,
             size_t size)
{
	size_t want = s[0] == 'B' ? 0 : 1;

	if (len != 1)
		return fail(why, size, -EPROTO, "\"%c\" message with %zu more bytes", s[0],
		            len - 1);
	if (nfds != want)
		return fail(why, size, -EPROTO, "\"%c\" message with %zu descriptors, not %zu",
		            s[0], nfds, want);
	m->kind = s[0] == 'A'   ? SL__HANDOVER_ADMIN
	          : s[0] == 'C' ? SL__HANDOVER_CTL
	          : s[0] == 'U' ? SL__HANDOVER_UPGRADE
	                        : SL__HANDOVER_BYE;
	return 0;
}

/* The version of take request [s, s + len), or 0 if it is none. */
static unsigned
take_version(const char *s, size_t len)
{
	static const char *const requests[] = {SL__HANDOVER_REQUEST, SL__HANDOVER_REQUEST_BANS,
	                                       SL__HANDOVER_REQUEST_CONFIRM};

	static_assert(SL_ARRAY_SIZE(requests) == SL__HANDOVER_VERSION, "a request per version");
	for (size_t i = 0; i < SL_ARRAY_SIZE(requests); i++)
		if (len == strlen(requests[i]) && memcmp(s, requests[i], len) == 0)
			return (unsigned)i + 1;
	return 0;
}

/* "T <n>": how many "M" messages the new process read. */
static int
parse_taken(const char *s, size_t len, size_t nfds, struct sl__handover_msg *m, char *why,
            size_t size)
{
	uint64_t v = 0;
	int err;

	if (nfds != 0)
		return fail(why, size, -EPROTO, "\"T\" message with %zu descriptors", nfds);
	if (len < 2 || s[1] != ' ')
		return fail(why, size, -EPROTO, "expected \"T <sessions read>\"");
	err = take_number(s + 2, len - 2, UINT32_MAX, &v, "sessions read", why, size);
	if (err == 0)
		m->taken = (uint32_t)v;
	return err;
}

int
sl__handover_msg_parse(const void *buf, size_t len, size_t nfds, struct sl__handover_msg *m,
                       char *why, size_t size)
{
	const char *s = buf;

	memset(m, 0, sizeof(*m));
	m->moved.cfd = m->moved.sfd = -1;
	if (why != NULL && size > 0)
		why[0] = '\0';
	if (len == 0)
		return fail(why, size, -EMSGSIZE, "empty message");
	if (len > SL__HANDOVER_MSG_MAX)
		return fail(why, size, -EMSGSIZE, "message too long (%zu bytes, at most %d)", len,
		            SL__HANDOVER_MSG_MAX);
	m->version = take_version(s, len);
	if (m->version != 0) {
		m->kind = SL__HANDOVER_TAKE;
		return nfds == 0 ? 0
		                 : fail(why, size, -EPROTO, "take request with %zu descriptors",
		                        nfds);
	}
	switch (s[0]) {
	case 'R':
	case 'E':
		m->kind = s[0] == 'R' ? SL__HANDOVER_READY : SL__HANDOVER_END;
		if (nfds != 0)
			return fail(why, size, -EPROTO, "\"%c\" message with %zu descriptors", s[0],
			            nfds);
		return take_pid(s, len, &m->pid, why, size);
	case 'L':
		m->kind = SL__HANDOVER_LISTENERS;
		return parse_listeners(s, len, nfds, m, why, size);
	case 'A':
	case 'C':
	case 'U':
	case 'B':
		return parse_single(s, len, nfds, m, why, size);
	case 'X':
		m->kind = SL__HANDOVER_REFUSED;
		if (nfds != 0)
			return fail(why, size, -EPROTO, "refusal with %zu descriptors", nfds);
		parse_refused(s, len, m);
		return 0;
	case 'M':
		m->kind = SL__HANDOVER_MOVED;
		return parse_moved(s, len, nfds, &m->moved, why, size);
	case 'K':
		m->kind = SL__HANDOVER_BANS;
		return parse_bans(s, len, nfds, m, why, size);
	case 'T':
		m->kind = SL__HANDOVER_TAKEN;
		return parse_taken(s, len, nfds, m, why, size);
	default:
		return fail(why, size, -EPROTO, "unknown message (first byte 0x%02x)",
		            (unsigned char)s[0]);
	}
}

/* true if <s> (an array of SL_CONFIG_NAME_MAX) is a name the parser takes. */
static bool
name_ok(const char *s, bool may_be_empty)
{
	size_t n = strnlen(s, SL_CONFIG_NAME_MAX);

	if (n == SL_CONFIG_NAME_MAX || (n == 0 && !may_be_empty))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_printable((unsigned char)s[i]))
			return false;
	return true;
}

int
sl__handover_msg_format_moved(const struct sl_proxy_moved *m, char *buf, size_t size)
{
	char client[SL_ADDR_STRLEN];
	sa_family_t af = m->client.ss.ss_family;
	int n;

	if ((af != AF_INET && af != AF_INET6) || !name_ok(m->listener, false) ||
	    !name_ok(m->backend, true))
		return -EINVAL;
	n = snprintf(buf, size, "M\n%s\n%s\n%s\n%llu %u %llu %llu %d %d", m->listener, m->backend,
	             sl_addr_format(&m->client, client, sizeof(client)),
	             (unsigned long long)m->start_ms, m->conn_ms, (unsigned long long)m->bytes[0],
	             (unsigned long long)m->bytes[1], m->shut[0], m->shut[1]);
	if (n < 0 || (size_t)n >= size)
		return -EMSGSIZE;
	return n;
}

int
sl__handover_msg_format_bans(const char *listener, const struct sl__handover_ban *b, size_t n,
                             char *buf, size_t size)
{
	char text[SL_CIDR_STRLEN];
	size_t len;
	int k;

	if (n == 0 || n > SL__HANDOVER_BANS_PER_MSG || !name_ok(listener, false))
		return -EINVAL;
	k = snprintf(buf, size, "K\n%s", listener);
	if (k < 0 || (size_t)k >= size)
		return -EMSGSIZE;
	len = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		if (b[i].remaining_ms == 0 ||
		    sl_cidr_format(&b[i].source, text, sizeof(text)) == NULL)
			return -EINVAL;
		k = snprintf(buf + len, size - len, "\n%s %u", text, b[i].remaining_ms);
		if (k < 0 || (size_t)k >= size - len)
			return -EMSGSIZE;
		len += (size_t)k;
	}
	return (int)len;
}
