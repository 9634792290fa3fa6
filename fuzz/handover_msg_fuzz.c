// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the binary-upgrade conversation's message parser
 * (src/proxy/handover_msg.c): the input's first byte is how many descriptors came with the
 * message, the rest is the message as the peer process sent it. Every refusal must say why with
 * a known error; whatever parses must hold its kind's descriptors and bounded, printable,
 * NUL-terminated names, and parse the same again from its canonical text (for a moved session,
 * the text the old process writes, sl__handover_msg_format_moved(); for source bans,
 * sl__handover_msg_format_bans()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/addr.h>

#include "proxy/handover_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* true if <s>, an array of <cap> bytes, holds 1 (0 if <may_be_empty>) .. cap - 1 printable. */
static bool
check_text(const char *s, size_t cap, bool may_be_empty)
{
	size_t n = strnlen(s, cap);

	if (n == cap || (n == 0 && !may_be_empty))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The canonical text of <m> into <buf>: its length, or 0 when it does not fit. */
static size_t
canonical(const struct sl__handover_msg *m, char *buf, size_t size)
{
	static const char single[] = {
	        [SL__HANDOVER_ADMIN] = 'A',
	        [SL__HANDOVER_CTL] = 'C',
	        [SL__HANDOVER_UPGRADE] = 'U',
	        [SL__HANDOVER_BYE] = 'B',
	};
	size_t len = 0;
	int n;

	switch (m->kind) {
	case SL__HANDOVER_TAKE:
		if (m->version < 1 || m->version > SL__HANDOVER_VERSION)
			abort(); /* a request of a version this build does not know parsed */
		n = snprintf(buf, size, "%s",
		             m->version == 3   ? SL__HANDOVER_REQUEST_CONFIRM
		             : m->version == 2 ? SL__HANDOVER_REQUEST_BANS
		                               : SL__HANDOVER_REQUEST);
		break;
	case SL__HANDOVER_TAKEN:
		n = snprintf(buf, size, "T %u", (unsigned)m->taken);
		break;
	case SL__HANDOVER_READY:
	case SL__HANDOVER_END:
		n = snprintf(buf, size, "%c %d", m->kind == SL__HANDOVER_READY ? 'R' : 'E',
		             (int)m->pid);
		break;
	case SL__HANDOVER_LISTENERS:
		buf[len++] = 'L';
		for (size_t i = 0; i < m->nnames; i++) {
			n = snprintf(buf + len, size - len, "\n%s", m->names[i]);
			if (n < 0 || (size_t)n >= size - len)
				return 0;
			len += (size_t)n;
		}
		return len;
	case SL__HANDOVER_REFUSED:
		n = snprintf(buf, size, "X %s", m->reason);
		break;
	case SL__HANDOVER_MOVED:
		n = sl__handover_msg_format_moved(&m->moved, buf, size);
		if (n < 0)
			abort(); /* what parsed can be written */
		break;
	case SL__HANDOVER_BANS:
		n = sl__handover_msg_format_bans(m->listener, m->bans, m->nbans, buf, size);
		if (n < 0 && n != -EMSGSIZE)
			abort(); /* what parsed can be written */
		break;
	default:
		n = snprintf(buf, size, "%c", single[m->kind]);
		break;
	}
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

static size_t
want_fds(const struct sl__handover_msg *m)
{
	switch (m->kind) {
	case SL__HANDOVER_LISTENERS:
		return m->nnames;
	case SL__HANDOVER_ADMIN:
	case SL__HANDOVER_CTL:
	case SL__HANDOVER_UPGRADE:
		return 1;
	case SL__HANDOVER_MOVED:
		return 2;
	default:
		return 0;
	}
}

static void
check_same(const struct sl__handover_msg *a, const struct sl__handover_msg *b)
{
	if (a->kind != b->kind || a->pid != b->pid || a->nnames != b->nnames ||
	    a->version != b->version || a->taken != b->taken || strcmp(a->reason, b->reason) != 0 ||
	    strcmp(a->listener, b->listener) != 0 || a->nbans != b->nbans)
		abort();
	for (size_t i = 0; i < a->nbans; i++)
		if (memcmp(&a->bans[i].source, &b->bans[i].source, sizeof(a->bans[i].source)) !=
		            0 ||
		    a->bans[i].remaining_ms != b->bans[i].remaining_ms)
			abort();
	for (size_t i = 0; i < a->nnames; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			abort();
	if (a->kind == SL__HANDOVER_MOVED &&
	    (strcmp(a->moved.listener, b->moved.listener) != 0 ||
	     strcmp(a->moved.backend, b->moved.backend) != 0 ||
	     !sl_addr_equal(&a->moved.client, &b->moved.client) ||
	     a->moved.start_ms != b->moved.start_ms || a->moved.conn_ms != b->moved.conn_ms ||
	     a->moved.bytes[0] != b->moved.bytes[0] || a->moved.bytes[1] != b->moved.bytes[1] ||
	     a->moved.shut[0] != b->moved.shut[0] || a->moved.shut[1] != b->moved.shut[1]))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* static: each is 16 KiB, and libFuzzer runs one input at a time */
	static struct sl__handover_msg m, again;
	static char line[SL__HANDOVER_MSG_MAX + 1];
	char why[256] = "";
	size_t nfds, n;
	int rc;

	if (size < 1)
		return 0;
	nfds = data[0];
	rc = sl__handover_msg_parse(data + 1, size - 1, nfds, &m, why, sizeof(why));
	if (rc != 0) {
		if (rc != -EMSGSIZE && rc != -ERANGE && rc != -EPROTO)
			abort();
		if (why[0] == '\0' || strnlen(why, sizeof(why)) == sizeof(why))
			abort(); /* every refusal says why, NUL-terminated */
		return 0;
	}
	if ((unsigned)m.kind > SL__HANDOVER_TAKEN || want_fds(&m) != nfds)
		abort();
	if (m.kind == SL__HANDOVER_BANS && (m.nbans == 0 || m.nbans > SL__HANDOVER_BANS_PER_MSG ||
	                                    !check_text(m.listener, sizeof(m.listener), false)))
		abort();
	for (size_t i = 0; i < m.nbans; i++)
		if (!sl_cidr_is_valid(&m.bans[i].source) || m.bans[i].remaining_ms == 0)
			abort();
	if ((m.kind == SL__HANDOVER_READY || m.kind == SL__HANDOVER_END) && m.pid < 1)
		abort();
	for (size_t i = 0; i < m.nnames; i++)
		if (!check_text(m.names[i], sizeof(m.names[i]), false))
			abort();
	if (!check_text(m.reason, sizeof(m.reason), true))
		abort();
	if (m.kind == SL__HANDOVER_MOVED &&
	    (!check_text(m.moved.listener, sizeof(m.moved.listener), false) ||
	     !check_text(m.moved.backend, sizeof(m.moved.backend), true) ||
	     (m.moved.client.ss.ss_family != AF_INET && m.moved.client.ss.ss_family != AF_INET6) ||
	     m.moved.cfd != -1 || m.moved.sfd != -1))
		abort();
	n = canonical(&m, line, sizeof(line));
	if (n == 0)
		return 0;
	if (sl__handover_msg_parse(line, n, nfds, &again, why, sizeof(why)) != 0)
		abort(); /* what parsed once parses again from its canonical text */
	check_same(&m, &again);
	return 0;
}
