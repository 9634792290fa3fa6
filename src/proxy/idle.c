// SPDX-License-Identifier: MIT
/*
 * Idle deadlines that a socket's own progress moves on. A side's idle clock runs from the last
 * byte sluice moved through its socket (sl_fwd_moved_ms()). A peer that reads slowly drains
 * bytes its socket already holds, and sluice writes to it again only once enough of the send
 * buffer is free, which at a slow rate can take longer than the timeout: the side would be cut
 * with bytes still flowing. So when an idle deadline passes, both sockets' own counts (bytes
 * the peer acknowledged, bytes received: sl_sock_progress()) are read, and if either moved
 * since they were last read (and sluice moved none through it since: those were stamped),
 * neither side is idle: the socket that moved may be draining the
 * other side's bytes (an upload that a backend takes slowly keeps the client side too), and a
 * session that is idle has both still. The first read has nothing to compare with: when bytes
 * wait in either socket for its peer, both sides' deadlines start again from it, so the next
 * read compares a whole timeout of the sockets' progress (idle is no progress for a timeout: a
 * shorter second look cut a reader that paused for a second at the wrong moment). Two
 * getsockopt calls per idle deadline that passes; nothing on the path bytes take.
 */
#include <stdint.h>

#include <sluice/sock.h>

#include "proxy/session.h"

/*
 * Reads side <side>'s socket: <*moved> if its count changed since the last read, <*in_flight>
 * if bytes wait in it for its peer. false at the first read (nothing to compare with). A socket
 * that cannot say is taken as still, with nothing in flight.
 */
static bool
look(struct sl_session *s, unsigned side, bool *moved, bool *in_flight)
{
	unsigned bit = 1u << side;
	uint32_t was = s->kmoved[side];
	/* bytes sluice moved through the socket since the last read are in its count too, and
	 * were stamped then: compared with that read, they would read as the socket's own
	 * progress now and restart a clock that ran from them (a cut at twice the timeout) */
	bool known = (s->kmoved_known & bit) != 0 &&
	             (uint16_t)sl_fwd_moved_ms(&s->fwd, side) == s->kseen[side];
	uint64_t count;

	*moved = *in_flight = false;
	if (sl_sock_progress(side == SL_FWD_CLIENT ? s->cfd : s->sfd, &count, in_flight) != 0)
		return true;
	s->kmoved[side] = (uint32_t)count;
	s->kmoved_known |= bit;
	*moved = known && was != (uint32_t)count;
	return known;
}

void
sl__idle_start(struct sl_session *s)
{
	s->kmoved_known = 0;
	s->kmoved[0] = s->kmoved[1] = 0;
}

void
sl__idle_look(struct sl_session *s, uint64_t now)
{
	bool moved[2], in_flight[2], known = true;

	for (unsigned side = 0; side < 2; side++)
		known &= look(s, side, &moved[side], &in_flight[side]);
	/* a socket that moved keeps both sides; with nothing to compare with yet and bytes in
	 * flight, both deadlines start again here, so the next read compares a whole timeout */
	if (moved[0] || moved[1] || (!known && (in_flight[0] || in_flight[1])))
		sl_fwd_set_moved_ms(&s->fwd, now);
	/* the stamps as this look leaves them: one sluice makes after it is its own bytes */
	for (unsigned side = 0; side < 2; side++)
		s->kseen[side] = (uint16_t)sl_fwd_moved_ms(&s->fwd, side);
}
