// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol on a session (codec: src/net/proxyproto.c). In: the first filter stage of
 * a listener with proxy_protocol reads the header (peeked, then exactly its bytes consumed, so
 * no payload is ever taken), only from trusted sources, within the timeout; the address it
 * carries becomes the client address for the ACL, the limits and the logs. Out: a group with
 * send_proxy writes a header to each new backend connection before any client byte, carrying
 * the client address and the destination, and the v2 TLVs that came in; the version is the one
 * the group had when the session was accepted (s->send_proxy), so a reload changes new sessions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/log.h>
#include <sluice/lpm.h>
#include <sluice/pool.h>
#include <sluice/proxyproto.h>
#include <sluice/sock.h>

#include "proxy/session.h"

/* A header this long or shorter fits any receive buffer (tcp_rmem's least is 4096). */
#define PP_ROOM_CHECKED 2048

/* What the header in brought for the header out. */
struct sl_pp_keep {
	struct sl_addr dst;
	uint32_t tlv_len;
	uint8_t tlv[]; /* v2 TLVs as received, up to the listener's max_size */
};

static const struct sl_config_proxy_in *
proxy_in(const struct sl_session *s)
{
	return &sl__listener_live(s->l)->proxy_in;
}

static enum sl_filter_verdict
reject(struct sl_session *s, enum sl_reject_reason why)
{
	s->reject = (uint8_t)why;
	return SL_FILTER_REJECT;
}

/* Keeps the destination (a PROXY command's) and the TLVs (any command's) of <h> for the header
 * out, if the group sends one. */
static int
keep(struct sl_session *s, const struct sl_pp_hdr *h)
{
	struct sl_pworker *w = s->l->w;
	struct sl_pp_keep *k;

	if (s->send_proxy == 0 || (h->cmd != SL_PP_CMD_PROXY && h->tlv_len == 0))
		return 0;
	k = sl_pool_alloc(w->pp_keep);
	if (k == NULL)
		return -ENOMEM;
	k->dst = h->cmd == SL_PP_CMD_PROXY ? h->dst : (struct sl_addr){0};
	k->tlv_len = (uint32_t)h->tlv_len;
	if (h->tlv_len != 0)
		memcpy(k->tlv, h->tlv, h->tlv_len);
	s->pp = k;
	return 0;
}

/*
 * A header is read by peeking, so it completes only once the receive buffer holds all of it: a
 * long v2 header (large TLVs) on a small buffer (net.ipv4.tcp_rmem) would never do. Gives the
 * socket room for <need> bytes, twice over for the kernel's bookkeeping; that fixes the
 * connection's buffer size (no autotuning), so only for a header the buffer is short of.
 */
static void
room_for(int fd, size_t need)
{
	int have, want = (int)need * 2;
	socklen_t len = sizeof(have);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &have, &len) != 0 || have >= want)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) != 0)
		sl_log_debug("PROXY header: SO_RCVBUF %d: %s", want, strerror(errno));
}

enum sl_filter_verdict
sl__pp_in_run(struct sl_session *s)
{
	const struct sl_config_proxy_in *pi = proxy_in(s);
	struct sl_pworker *w = s->l->w;
	const char *why = NULL;
	struct sl_pp_hdr h;
	ssize_t n, len;

	if (pi->versions == 0)
		return SL_FILTER_ACCEPT;
	if (sl_lpm_lookup_sa(pi->trusted, &s->peer.sa) == SL_LPM_NONE)
		return reject(s, SL_REJECT_PROXY_UNTRUSTED);
	n = recv(s->cfd, w->pp_buf, pi->max_size, MSG_PEEK);
	if (n == 0)
		return reject(s, SL_REJECT_PROXY_INVALID); /* closed before a whole header */
	if (n < 0) {
		if (errno != EAGAIN)
			return reject(s, SL_REJECT_PROXY_INVALID);
		len = -EAGAIN;
	} else {
		len = sl_pp_parse(
		        &h, w->pp_buf, (size_t)n,
		        &(struct sl_pp_opts){.versions = pi->versions, .max_len = pi->max_size},
		        &why);
	}
	if (len == -EAGAIN) {
		/* the client hung up (or sent its FIN) with the header still short: it will not
		 * come; a peek never sees that EOF while the partial bytes are there */
		if (s->fwd.hup[SL_FWD_CLIENT])
			return reject(s, SL_REJECT_PROXY_INVALID);
		if (n > 0 && sl_pp_need(w->pp_buf, (size_t)n) > PP_ROOM_CHECKED)
			room_for(s->cfd, sl_pp_need(w->pp_buf, (size_t)n));
		sl__session_defer(s, pi->timeout_ms);
		return SL_FILTER_DEFER;
	}
	if (len < 0) {
		sl_log_debug("PROXY header refused: %s", why);
		return reject(s, SL_REJECT_PROXY_INVALID);
	}
	/* the peek saw all <len> bytes: this read takes exactly them, never payload */
	if (recv(s->cfd, w->pp_buf, (size_t)len, 0) != len)
		return reject(s, SL_REJECT_PROXY_INVALID);
	/* payload may have come with the header, in its segment: let the forwarder look */
	sl_fwd_note(&s->fwd, SL_FWD_CLIENT, SL_IO_READ);
	sl_fwd_note_consumed(&s->fwd, SL_FWD_CLIENT);
	if (h.cmd == SL_PP_CMD_PROXY) {
		/* an IPv4 client in IPv6 form is the IPv4 client, as the filters and limits take
		 * it: written so in the access log and show sessions too */
		sl_addr_unmap(&h.src);
		sl__session_peer_set(&s->peer, &h.src);
	}
	if (keep(s, &h) != 0) {
		sl__ctr_add(w, SL_CTR_LOCAL_ERRORS, 1);
		return reject(s, SL_REJECT_PROXY_INVALID);
	}
	return SL_FILTER_ACCEPT;
}

uint32_t
sl__pp_in_wait_ms(const struct sl_session *s)
{
	return proxy_in(s)->timeout_ms;
}

enum sl_ctr
sl__pp_in_timed_out(struct sl_session *s)
{
	s->reject = SL_REJECT_PROXY_TIMEOUT;
	return SL_CTR_REJECT_FIRST + SL_REJECT_PROXY_TIMEOUT;
}

void
sl__pp_keep_put(struct sl_session *s)
{
	if (s->pp == NULL)
		return;
	sl_pool_free(s->l->w->pp_keep, s->pp);
	s->pp = NULL;
}

int
sl__pp_out_send(struct sl_session *s)
{
	unsigned version = s->send_proxy;
	/* the longer of a v1 line (two IPv6 addresses: 104 bytes) and a v2 header's addresses */
	uint8_t buf[SL_PP_V1_MAX_LEN > SL_PP_V2_FIXED_LEN + 36 ? SL_PP_V1_MAX_LEN
	                                                       : SL_PP_V2_FIXED_LEN + 36];
	uint8_t *out = buf;
	struct sl_pp_hdr h = {.cmd = SL_PP_CMD_PROXY};
	size_t size = sizeof(buf);
	ssize_t len, sent;
	int err = 0;

	sl__session_peer_get(&s->peer, &h.src);
	if (s->pp != NULL) {
		h.dst = s->pp->dst;
		h.tlv = s->pp->tlv;
		h.tlv_len = s->pp->tlv_len;
		if (version == SL_CONFIG_PP_V2 && h.tlv_len != 0) {
			/* build in the worker's scratch buffer: the TLVs make it long */
			out = s->l->w->pp_buf;
			size = s->l->w->pp_buf_size;
		}
	}
	/* no destination from the header in (none, or one with no address: LOCAL, UNSPEC,
	 * unix, UDP): the socket's, as for a client that sent none */
	if (h.dst.len == 0 && sl_sock_local_addr(s->cfd, &h.dst) != 0)
		h.dst.len = 0; /* no destination: the builder writes UNKNOWN */
	len = sl_pp_build(out, size, version, &h);
	if (len < 0) {
		err = (int)len;
		goto out_put;
	}
	/* a fresh connection's send buffer is empty: the whole header goes, or the socket failed */
	sent = send(s->sfd, out, (size_t)len, MSG_NOSIGNAL);
	if (sent != len)
		err = sent < 0 ? -errno : -EIO;
out_put:
	sl__pp_keep_put(s);
	return err;
}

bool
sl__pp_worker_fits(const struct sl_pworker *w, const struct sl_config_listener *c)
{
	if (c->proxy_in.versions == 0)
		return true;
	return w->pp_keep != NULL &&
	       (size_t)c->proxy_in.max_size + SL_PP_V2_FIXED_LEN + 36 <= w->pp_buf_size;
}

int
sl__pp_worker_init(struct sl_pworker *w)
{
	const struct sl_config *cfg = w->p->cfg;
	uint32_t most = 0;
	int err;

	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].proxy_in.versions != 0 &&
		    cfg->listeners[i].proxy_in.max_size > most)
			most = cfg->listeners[i].proxy_in.max_size;
	/* the header out with the most TLVs that can come in, plus an IPv6 block to spare */
	w->pp_buf_size = (size_t)most + SL_PP_V2_FIXED_LEN + 36;
	w->pp_buf = calloc(1, w->pp_buf_size);
	if (w->pp_buf == NULL)
		return -ENOMEM;
	if (most == 0)
		return 0;
	err = sl_pool_create(&w->pp_keep, &(struct sl_pool_opts){
	                                          .name = "proxy-headers",
	                                          .block_size = sizeof(struct sl_pp_keep) + most});
	return err;
}

void
sl__pp_worker_fini(struct sl_pworker *w)
{
	sl_pool_destroy(w->pp_keep);
	free(w->pp_buf);
	w->pp_keep = NULL;
	w->pp_buf = NULL;
}
