/* SPDX-License-Identifier: MIT */
/*
 * Inside the control socket (ctl.c): the request parser, a pure function of one line so that
 * the unit tests and the fuzz target (fuzz/ctl_request_fuzz.c) drive it without a server.
 */
#ifndef SLUICE_ADMIN_CTL_INT_H
#define SLUICE_ADMIN_CTL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/config.h>

/* Longest request line, bytes, newline included; a longer one is refused and its client closed. */
#define SL__CTL_REQUEST_MAX 1024
/* Most words in a request. */
#define SL__CTL_WORDS_MAX 16

enum sl__ctl_cmd {
	SL__CTL_HELP,
	SL__CTL_SHOW_INFO,
	SL__CTL_SHOW_STATS,
	SL__CTL_SHOW_BACKENDS,
	SL__CTL_SHOW_SESSIONS,
	SL__CTL_PROFILE,        /* profile SECONDS */
	SL__CTL_ENABLE,         /* enable backend GROUP/NAME */
	SL__CTL_DISABLE,        /* disable backend GROUP/NAME */
	SL__CTL_DRAIN,          /* drain backend GROUP/NAME */
	SL__CTL_WEIGHT,         /* set weight GROUP/NAME N */
	SL__CTL_ADD,            /* add backend GROUP NAME ADDR [weight N] [max_connections N]
	                           [role primary|backup] */
	SL__CTL_REMOVE,         /* remove backend GROUP/NAME */
	SL__CTL_CLOSE_SESSIONS, /* close sessions GROUP/NAME */
	SL__CTL_SHOW_BANS,
	SL__CTL_UNBAN, /* unban LISTENER|* ADDRESS */
	SL__CTL_BAN,   /* ban LISTENER|* ADDRESS SECONDS */
	SL__CTL_RELOAD,
	SL__CTL_SHUTDOWN,
};

struct sl__ctl_req {
	enum sl__ctl_cmd cmd;
	char group[SL_CONFIG_NAME_MAX];
	char name[SL_CONFIG_NAME_MAX];
	struct sl_addr addr;      /* SL__CTL_ADD; SL__CTL_UNBAN (port 0) */
	uint32_t weight;          /* SL__CTL_WEIGHT, SL__CTL_ADD (default 1) */
	uint32_t max_connections; /* SL__CTL_ADD (default 0: no cap) */
	bool backup;              /* SL__CTL_ADD: "role backup" (default primary) */
	uint32_t seconds;         /* SL__CTL_PROFILE: 1 .. SL__CTL_PROFILE_MAX; SL__CTL_BAN */
	bool every;               /* SL__CTL_(UN)BAN: on every listener ("*"); else <name>'s */
};

/* Longest "profile SECONDS" the control thread gives its time to, in seconds. */
#define SL__CTL_PROFILE_MAX 60
/* Longest "ban ... SECONDS": what a ban's end in milliseconds holds (UINT32_MAX ms). */
#define SL__CTL_BAN_MAX 4294967

/*
 * Parses one request line of <len> bytes (no newline; a trailing "\r" is ignored) into <*r>.
 * Words are separated by spaces or tabs. 0, or -EINVAL with a message for the client in <why>
 * (<size> bytes): an empty line, a control or non-ASCII byte, too many words, an unknown
 * command, a missing or extra argument, a name too long, a bad number or address. Pure; any
 * thread.
 */
int sl__ctl_parse(const char *line, size_t len, struct sl__ctl_req *r, char *why, size_t size);

/* The usage of every command, one per line, as "help" answers it. */
extern const char *const sl__ctl_usage[];
extern const size_t sl__ctl_nusage;

#endif /* SLUICE_ADMIN_CTL_INT_H */
