/* SPDX-License-Identifier: MIT */
/*
 * The binary-upgrade conversation's messages (app/sluice/upgrade.h has the conversation): a
 * pure parser of one message as it came from the peer, its bytes and how many descriptors came
 * with it, so that the unit tests and the fuzz target (fuzz/handover_msg_fuzz.c) drive it
 * without a peer; and the writer of the moved-session message. Internal to sluice.
 */
#ifndef SLUICE_PROXY_HANDOVER_MSG_H
#define SLUICE_PROXY_HANDOVER_MSG_H

#include <stddef.h>
#include <sys/types.h>

#include <sluice/cidr.h>
#include <sluice/config.h>
#include <sluice/fdpass.h>
#include <sluice/proxy.h>

/*
 * What a new process sends first. Version 2 also takes the old process's source bans ("K"
 * messages before "E"); version 3 also confirms, after "B", how many sessions it read ("T"),
 * and the old process counts the rest as lost. A process that does not know a version refuses
 * it ("X unknown request"), and the new process asks again with the one before.
 */
#define SL__HANDOVER_REQUEST "sluice-upgrade 1 take"
#define SL__HANDOVER_REQUEST_BANS "sluice-upgrade 2 take"
#define SL__HANDOVER_REQUEST_CONFIRM "sluice-upgrade 3 take"
/* The newest request this build makes and answers. */
#define SL__HANDOVER_VERSION 3
/* Longest message of the conversation, bytes (fdpass.h sends at most 4096). */
#define SL__HANDOVER_MSG_MAX 4096
/* Source bans in one "K" message: 64 of the longest lines (55 bytes) and a name fit 4096. */
#define SL__HANDOVER_BANS_PER_MSG 64
/* Source bans one upgrade carries, over every listener: the old process sends no more, the new
 * one takes no more. */
#define SL__HANDOVER_BANS_MAX 65536
/* Longest refusal reason kept from an "X" message, NUL included. */
#define SL__HANDOVER_REASON_MAX 256

enum sl__handover_kind {
	SL__HANDOVER_TAKE,      /* new -> old: SL__HANDOVER_REQUEST, _REQUEST_BANS or _CONFIRM */
	SL__HANDOVER_READY,     /* new -> old: "R <pid>" */
	SL__HANDOVER_LISTENERS, /* old -> new: "L", then "\n<name>" per listening socket */
	SL__HANDOVER_ADMIN,     /* old -> new: "A" with the admin endpoint's socket */
	SL__HANDOVER_CTL,       /* old -> new: "C" with the control socket's listener */
	SL__HANDOVER_UPGRADE,   /* old -> new: "U" with the upgrade socket */
	SL__HANDOVER_END,       /* old -> new: "E <pid>", the last of the sockets */
	SL__HANDOVER_REFUSED,   /* old -> new: "X<reason>", the take request was refused */
	SL__HANDOVER_MOVED,     /* old -> new: "M\n..." with one session's two sockets */
	SL__HANDOVER_BYE,       /* old -> new: "B", no more sessions */
	SL__HANDOVER_BANS,      /* old -> new: "K\n<listener>", then "\n<prefix> <ms>" per ban */
	SL__HANDOVER_TAKEN,     /* new -> old: "T <n>", it read n "M" messages (version 3) */
};

/* One source ban of a "K" message. */
struct sl__handover_ban {
	struct sl_cidr source; /* as the old process's table keys it */
	uint32_t remaining_ms; /* 1 .. UINT32_MAX: until the ban ends */
};

struct sl__handover_msg {
	enum sl__handover_kind kind;
	unsigned version; /* TAKE: 1, 2 (source bans too) or 3 (and "T") */
	pid_t pid;        /* READY, END: the sender's, 1 .. INT_MAX */
	size_t nnames;    /* LISTENERS: one name per descriptor, in their order */
	char names[SL_FDPASS_MAX][SL_CONFIG_NAME_MAX];
	char reason[SL__HANDOVER_REASON_MAX]; /* REFUSED: printable ASCII, others as '?' */
	struct sl_proxy_moved moved;          /* MOVED: cfd and sfd are -1 (the caller's) */
	char listener[SL_CONFIG_NAME_MAX];    /* BANS: whose bans */
	size_t nbans;                         /* BANS: 1 .. SL__HANDOVER_BANS_PER_MSG */
	uint32_t taken;                       /* TAKEN: "M" messages read, 0 .. UINT32_MAX */
	struct sl__handover_ban bans[SL__HANDOVER_BANS_PER_MSG];
};

/*
 * Parses message <buf> of <len> bytes, which came with <nfds> descriptors, into <*m>. Every
 * kind takes exactly its own descriptors: one per name for "L", one for "A", "C" and "U", two
 * for "M", none for the rest. A name is 1 .. SL_CONFIG_NAME_MAX - 1 bytes of printable ASCII
 * (spaces too); a pid is decimal, 1 .. INT_MAX; the count of "T" decimal, 0 .. UINT32_MAX. "M" is
 *   "M\n<listener>\n<backend or nothing>\n<client address>\n<start_ms> <conn_ms> <bytes in>
 *   <bytes out> <in ended> <out ended>"
 * with decimal numbers one space apart (conn_ms at most UINT32_MAX, the ended flags 0 or 1).
 * "K" is "K\n<listener>" and 1 .. SL__HANDOVER_BANS_PER_MSG lines "\n<prefix> <remaining_ms>",
 * the prefix as sl_cidr_format() writes it (no host bits), the ms 1 .. UINT32_MAX.
 * 0, or with the reason in <why> (<size> bytes, NUL-terminated; none if 0): -EMSGSIZE for an
 * empty message or one longer than SL__HANDOVER_MSG_MAX, -ERANGE for a number or name out of
 * range, -EPROTO for anything else (an unknown kind, a missing or extra field or byte, a bad
 * number, address or prefix, the wrong number of descriptors). Pure (the descriptors stay the
 * caller's); any thread.
 */
int sl__handover_msg_parse(const void *buf, size_t len, size_t nfds, struct sl__handover_msg *m,
                           char *why, size_t size);

/*
 * Writes session <m>'s "M" message (without its descriptors) into <buf> (<size> bytes), NUL-
 * terminated. Its length, or -EINVAL for a message sl__handover_msg_parse() would refuse (a
 * name out of range, a client that is not IPv4 or IPv6), -EMSGSIZE if it does not fit. Pure.
 */
int sl__handover_msg_format_moved(const struct sl_proxy_moved *m, char *buf, size_t size);

/*
 * Writes a "K" message of listener <listener>'s <n> bans <b> (1 .. SL__HANDOVER_BANS_PER_MSG)
 * into <buf> (<size> bytes), NUL-terminated. Its length, or -EINVAL for a message
 * sl__handover_msg_parse() would refuse (a bad name, prefix or count, a remaining time of 0),
 * -EMSGSIZE if it does not fit. Pure.
 */
int sl__handover_msg_format_bans(const char *listener, const struct sl__handover_ban *b, size_t n,
                                 char *buf, size_t size);

#endif /* SLUICE_PROXY_HANDOVER_MSG_H */
