// SPDX-License-Identifier: MIT
/*
 * The first-byte stage of the filter chain (timeouts.first_byte, off by default since in
 * server-first protocols the client waits): a client-speaks-first service does not connect to
 * a backend for a client that says nothing. The stage waits, holding no buffer, until a peek
 * sees a byte, or closes the client at the deadline, counted as a first_byte timeout. A client
 * that leaves first (its FIN or reset before a byte) is closed as it left, no backend tried.
 * Runs last, so such a client holds its per-source slot while it waits.
 */
#include <errno.h>
#include <sys/socket.h>

#include "proxy/session.h"

enum sl_filter_verdict
sl__first_byte_run(struct sl_session *s)
{
	uint32_t ms = sl__first_byte_wait_ms(s);
	ssize_t n;
	char c;

	if (ms == 0)
		return SL_FILTER_ACCEPT;
	n = recv(s->cfd, &c, 1, MSG_PEEK);
	if (n > 0)
		return SL_FILTER_ACCEPT;
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		sl__session_defer(s, ms);
		return SL_FILTER_DEFER;
	}
	return n == 0 ? SL_FILTER_LEFT : SL_FILTER_RESET;
}

uint32_t
sl__first_byte_wait_ms(const struct sl_session *s)
{
	return sl__listener_live(s->l)->timeouts.first_byte_ms;
}

enum sl_ctr
sl__first_byte_timed_out(struct sl_session *s)
{
	(void)s;
	return SL_CTR_TIMEOUT_FIRST + SL_TIMEOUT_FIRST_BYTE;
}
