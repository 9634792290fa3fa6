/* SPDX-License-Identifier: MIT */
/*
 * The session object and its states (the state machine itself is drawn in session.c).
 * Internal to src/proxy; tests include it to check the transition table.
 */
#ifndef SLUICE_PROXY_SESSION_H
#define SLUICE_PROXY_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/addr.h>
#include <sluice/fwd.h>
#include <sluice/loop.h>
#include <sluice/tbucket.h>

#include "proxy/proxy_int.h"

enum sl_session_state {
	SL_SS_ACCEPTED,
	SL_SS_FILTERED,
	SL_SS_QUEUED, /* every backend it may use is at its max_connections: waits for a slot */
	/* the backend socket could not be made for want of fds, memory or ports on this host:
	 * tries again every SL_LOCAL_WAIT_RETRY_MS until timeouts.connect */
	SL_SS_LOCAL_WAIT,
	SL_SS_CONNECTING,
	SL_SS_FORWARDING,
	SL_SS_DRAINING,
	SL_SS_CLOSED,
	SL_SS_COUNT
};

/*
 * The client's address: what struct sl_addr holds for IPv4 and IPv6 (the only families a TCP
 * listener or a PROXY header gives), in 32 bytes where sl_addr's sockaddr_storage takes 128.
 * sl__session_peer_set() and sl__session_peer_get() convert at the few places that need an
 * sl_addr.
 */
struct sl_session_peer {
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	};
	socklen_t len; /* 0 = unset (or a family it cannot hold) */
};

static inline void
sl__session_peer_set(struct sl_session_peer *p, const struct sl_addr *a)
{
	sa_family_t af = a->ss.ss_family;

	p->len = 0;
	p->sa.sa_family = AF_UNSPEC;
	if ((af != AF_INET && af != AF_INET6) || a->len > sizeof(p->sin6))
		return;
	memcpy(&p->sin6, &a->ss, a->len);
	p->len = a->len;
}

static inline void
sl__session_peer_get(const struct sl_session_peer *p, struct sl_addr *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, &p->sin6, p->len);
	a->len = p->len;
}

/* Bytes of the IP address only (4 or 16) and their count in <*n>, as sl_addr_ip_bytes(). */
static inline const void *
sl__session_peer_ip(const struct sl_session_peer *p, size_t *n)
{
	if (p->sa.sa_family == AF_INET6) {
		*n = 16;
		return &p->sin6.sin6_addr;
	}
	*n = 4;
	return &p->sin.sin_addr;
}

struct sl_session {
	struct sl_plistener *l;
	int cfd, sfd;                 /* client and backend sockets; -1 when not open */
	struct sl_srctab_slot source; /* held in the listener's source table once admitted */
	uint32_t conn_ms;             /* accept to entering FORWARDING, ms; UINT32_MAX = not yet */
	struct sl_io cio, sio;        /* registered READ|WRITE edge-triggered, once each */
	struct sl_timer timer;        /* connect deadline, then idle / session deadlines */
	struct sl_fwd fwd;
	struct sl_session_peer peer; /* client address */
	int backend;                 /* index in the group; -1 when none is held */
	uint8_t ntried;
	bool deferred;         /* ACCEPTED: a filter stage waits for client bytes or its deadline */
	bool queued;           /* QUEUED: linked in its group's queue (qnext, qprev) */
	uint8_t filter_next;   /* ACCEPTED: the filter stage to run next (filter.c) */
	uint8_t reject;        /* enum sl_reject_reason, set by the stage that rejects */
	uint8_t state;         /* enum sl_session_state (a byte: the session stays in 8 lines) */
	uint8_t connected : 1; /* metrics.c: counted in its backend's active sessions */
	uint8_t warm : 1;      /* the backend connection came from the warm pool */
	/* the group's send_proxy when the session was accepted (0: none, 1: v1, 2: v2): a reload
	 * that changes it leaves the session's own (bits: the session stays in 8 cache lines) */
	uint8_t send_proxy : 2;
	uint8_t kmoved_known : 2; /* idle.c: bit side, kmoved[side] holds a count */
	uint8_t end;              /* enum sl_session_end (accesslog.h): why it closed */
	/* idle.c: the low 16 bits of each side's sl_fwd_moved_ms() when an idle deadline last
	 * looked at the sockets: a side stamped since has bytes sluice moved in its count */
	uint16_t kseen[2];
	/* what a PROXY header in brought for the header out (destination, v2 TLVs); NULL when
	 * none is kept. From the worker's pp_keep pool, freed once sent or at close */
	struct sl_pp_keep *pp;
	uint16_t tried[SL_SESSION_MAX_TRIES];
	/* bandwidth.session: a byte bucket per direction (enum sl_fwd_side of the source) */
	struct sl_tbucket bw[2];
	uint64_t start_ms;   /* loop clock at accept */
	uint64_t rate_until; /* loop clock: the minimum-rate window ends; 0 = not started */
	uint64_t rate_base;  /* bytes moved (both ways) when the window started */
	union {
		/* QUEUED: loop clock when the wait ends (timeouts.queue); 0 = never.
		 * LOCAL_WAIT: when it ends (timeouts.connect from the first failure) */
		uint64_t queue_until;
		/* ACCEPTED: loop clock when the deferred stage's wait began (filter.c) */
		uint64_t defer_at;
		/* FORWARDING, DRAINING (idle.c): the low 32 bits of each socket's own count
		 * (sl_sock_progress()) when an idle deadline last looked at it */
		uint32_t kmoved[2];
	};
	struct sl_session *qnext, *qprev; /* the group's queue on this worker (struct sl_wgroup) */
	/* metrics.c: clock (us) at accept; at connect start, then from connected until the
	 * backend's first byte (0 once recorded); bytes of each direction already counted */
	uint64_t open_us, mark_us;
	uint64_t counted[2];
	struct sl_session *next, *prev; /* the worker's live list */
};

/*
 * A filter stage waits (SL_FILTER_DEFER): arms the session timer for <timeout_ms> unless it is
 * armed already (the deadline runs from the first wait), after which the stage's timed_out hook
 * names the reject reason and the client is closed; client readiness before then runs the
 * chain again from the same stage.
 */
void sl__session_defer(struct sl_session *s, uint32_t timeout_ms);

/* true if the state machine allows <from> -> <to>. */
bool sl__session_can_transition(enum sl_session_state from, enum sl_session_state to);
/* Name of a state, for messages and tests. */
const char *sl__session_state_name(enum sl_session_state s);

#endif /* SLUICE_PROXY_SESSION_H */
