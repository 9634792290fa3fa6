/* SPDX-License-Identifier: MIT */
/*
 * The access log, inside the proxy layer: one JSON line per session (accesslog.c). Workers copy
 * a fixed-size record into their own SPSC channel at close; one logger thread formats, writes
 * and flushes, so a slow disk never stalls forwarding. Off (NULL) without an access_log: key.
 * Tests include this to check the formatting and the channel.
 */
#ifndef SLUICE_PROXY_ACCESSLOG_H
#define SLUICE_PROXY_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/config.h>
#include <sluice/proxy.h>

/* Why a session ended, as the access log says it (one byte in struct sl_session). */
enum sl_session_end {
	SL_END_NORMAL,        /* both ways ended, or closed by the close mode (reset: err_side) */
	SL_END_NO_BACKEND,    /* no backend could be reached */
	SL_END_LOCAL_ERROR,   /* no fd, memory or port on this host */
	SL_END_QUEUE_FULL,    /* every backend at its cap and the group's queue full */
	SL_END_ADMIN,         /* closed by the control socket (close sessions) */
	SL_END_TIMEOUT_FIRST, /* SL_TIMEOUT_KINDS values follow, in enum sl_timeout_kind order */
	/* SL_REJECT_KINDS values follow, in enum sl_reject_reason order */
	SL_END_REJECT_FIRST = SL_END_TIMEOUT_FIRST + SL_TIMEOUT_KINDS,
	SL_END_COUNT = SL_END_REJECT_FIRST + SL_REJECT_KINDS
};

/* What a worker hands over per session: no pointer, nothing to free. */
struct sl_accesslog_rec {
	uint64_t end_ms;      /* loop clock (CLOCK_MONOTONIC ms) at close */
	uint64_t bytes_in;    /* client -> backend */
	uint64_t bytes_out;   /* backend -> client */
	uint32_t duration_ms; /* accept to close */
	uint32_t connect_ms;  /* accept to backend connected; UINT32_MAX = never connected */
	int32_t backend;      /* index in the listener's group; -1 = none */
	uint16_t listener;    /* its slot; the layout's index while it is a layout listener */
	uint16_t port;        /* client port */
	uint8_t family;       /* client address family: AF_INET or AF_INET6 */
	uint8_t end;          /* enum sl_session_end */
	uint8_t reset;        /* 0, or 1 + the sl_fwd_side that failed (a reset close) */
	uint8_t ip[16];       /* client address, network order (4 bytes used for AF_INET) */
	/* the backend as it was when the session closed (its table slot may hold another one by
	 * the time the line is written); bname "" = look it up in the configuration by index */
	char bname[SL_CONFIG_NAME_MAX];
	/* the listener's name (a reload may have reused its slot by the time the line is
	 * written); "" = look it up in the configuration by index */
	char lname[SL_CONFIG_NAME_MAX];
	uint8_t bfamily;
	uint16_t bport;
	uint8_t bip[16];
};

struct sl_accesslog;
struct sl_session;

/* Longest line sl__accesslog_format() makes, newline included. */
#define SL_ACCESSLOG_LINE_MAX 2048

/*
 * Opens <cfg>'s access_log (append, created 0644 less the umask; "-" is standard output) and
 * makes one channel of ring_size records per worker (<nworkers>). No thread runs yet. <cfg>
 * is borrowed (names and addresses are read from it when lines are formatted) and must
 * outlive the log. 0 and <*out>, or -errno (logged: the file could not be opened), -EINVAL,
 * -ENOMEM. Controlling thread.
 */
int sl__accesslog_create(struct sl_accesslog **out, const struct sl_config *cfg, unsigned nworkers);
/* Starts the logger thread. 0 or -errno. Controlling thread. */
int sl__accesslog_start(struct sl_accesslog *a);
/*
 * Stops the logger thread, if it runs, after it wrote every record queued (or, if it never
 * ran, writes them here), and gives up on lines the file still cannot take: they are counted
 * as SL_ACCESSLOG_WRITE_FAILED, and a part of a line the file holds is cut off it when it is
 * a regular file nobody wrote to since. Then the counts are final. Every producer must have
 * stopped. sl__accesslog_start() may run the thread again. NULL is ignored. Controlling thread.
 */
void sl__accesslog_stop(struct sl_accesslog *a);
/* sl__accesslog_stop(), then closes the file and frees the log. NULL is ignored. */
void sl__accesslog_destroy(struct sl_accesslog *a);

/*
 * Queues a copy of <r> in worker <worker>'s channel. false if the channel is full: the record
 * is dropped and counted. Never blocks, allocates or makes a system call. Only the thread that
 * runs worker <worker> (or the controlling thread while it is stopped).
 */
bool sl__accesslog_push(struct sl_accesslog *a, unsigned worker, const struct sl_accesslog_rec *r);
/* Why a session got no line. */
enum sl_accesslog_drop {
	SL_ACCESSLOG_QUEUE_FULL,   /* its worker's channel was full (the logger fell behind) */
	SL_ACCESSLOG_WRITE_FAILED, /* the file took no more (disk full, I/O error) */
	SL_ACCESSLOG_DROPS
};

/* Lines dropped so far for <why>, every worker. Any thread. */
uint64_t sl__accesslog_dropped(const struct sl_accesslog *a, enum sl_accesslog_drop why);
/*
 * Asks the logger thread to reopen the file at its path (after a rotation moved it), once
 * everything queued before is written to the old one. Returns at once. Any thread.
 */
void sl__accesslog_reopen(struct sl_accesslog *a);
/* fchown() of the open file (not of its path); 0 for standard output, or -errno. */
int sl__accesslog_chown(struct sl_accesslog *a, uid_t uid, gid_t gid);

/*
 * Session <s> closes (session.c, before it is freed): its record into its worker's channel.
 * <reset>: the close resets the side that failed (s->fwd.err_side). No-op without a log.
 */
void sl__accesslog_session_closed(struct sl_session *s, bool reset);

/*
 * Formats <r> as one JSON line, newline-terminated, into <buf> (<size> bytes, NUL-terminated):
 * names and addresses come from <cfg> (the layout snapshot), the time is r->end_ms plus
 * <wall_offset_ms> (CLOCK_REALTIME - CLOCK_MONOTONIC, ms). Returns the length, or -ENOSPC if
 * <size> is too small (SL_ACCESSLOG_LINE_MAX always suffices). Pure; any thread.
 */
int sl__accesslog_format(const struct sl_accesslog_rec *r, const struct sl_config *cfg,
                         int64_t wall_offset_ms, char *buf, size_t size);

/* The termination name of a record ("normal", "timeout:client_idle", ...). */
const char *sl__accesslog_end_name(const struct sl_accesslog_rec *r, char *buf, size_t size);

#endif /* SLUICE_PROXY_ACCESSLOG_H */
