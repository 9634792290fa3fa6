/* SPDX-License-Identifier: MIT */
/*
 * The sluice command line: flags -> what to do, and for the one-line mode a configuration
 * snapshot built from the flags with every other setting at its documented default.
 */
#ifndef SLUICE_APP_CLI_H
#define SLUICE_APP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/config.h>

enum cli_mode {
	CLI_DEMO,      /* no config and no -l (or --demo ADDR): embedded demo */
	CLI_RUN,       /* -c FILE */
	CLI_CHECK,     /* --check -c FILE */
	CLI_ONELINE,   /* -l ADDR:PORT -b ADDR:PORT[,...] */
	CLI_PROBE,     /* --probe URL: one health-check GET (probe.h) */
	CLI_LIST_KEYS, /* --list-keys: every configuration key (sl_config_keys_print()) */
	CLI_VERSION,
	CLI_HELP,
};

/* Most backends the -b flag takes. */
#define CLI_MAX_BACKENDS 256

struct cli {
	enum cli_mode mode;
	const char *config_path;
	const char *listen;         /* -l */
	const char *backends;       /* -b, comma-separated */
	int balance;                /* --balance: an enum sl_lb_algo; -1 = not given */
	int forward;                /* --forward: an enum sl_fwd_mode; -1 = not given */
	long workers;               /* -w; -1 = not given */
	long drain_ms;              /* --drain-timeout; -1 = not given */
	int runtime;                /* --runtime: an enum sl_loop_runtime; -1 = not given */
	int log_level;              /* --log-level: an enum sl_log_level; -1 = not given */
	const char *demo_listen;    /* --demo; NULL = DEMO_LISTEN */
	const char *admin;          /* --admin ADDR: the admin endpoint; "off" disables it */
	const char *upgrade_socket; /* --upgrade-socket PATH */
	bool upgrade;               /* --upgrade: take over from the sluice serving that socket */
	const char *user;           /* --user NAME|UID: over the file's user: */
	const char *group;          /* --group NAME|GID: over the file's group: */
	const char *control;        /* --control PATH: the control socket; "off" disables it */
	const char *probe_url;      /* --probe URL */
};

/*
 * Parses argv. The values of -w, --drain-timeout, --runtime, --log-level, --balance and
 * --forward are checked here, in every mode; --balance and --forward with -c are refused (the
 * file's keys decide). Returns 0, or -EINVAL after printing the problem and a usage hint to
 * stderr.
 */
int cli_parse(struct cli *c, int argc, char **argv);

/* Prints the --help text to <f>. */
void cli_usage(FILE *f);

/*
 * Builds a snapshot for the one-line and demo modes: one listener on <listen> balancing over
 * <nbackends> addresses <backends>. Returns 0, or -EINVAL after printing the problem.
 */
int cli_build_config(struct sl_config **out, const struct cli *c, const char *listen,
                     const struct sl_addr *backends, size_t nbackends);

/* Parses the -b list into <out> (at most <max> entries). Returns the count or -EINVAL (printed). */
int cli_parse_backends(const char *list, struct sl_addr *out, size_t max);

/*
 * Applies -w, --drain-timeout, --runtime, --log-level, --admin, --control, --upgrade-socket,
 * --user and --group over a loaded config. -EINVAL (printed), -ENOMEM.
 */
int cli_apply_overrides(struct sl_config *cfg, const struct cli *c);

#endif /* SLUICE_APP_CLI_H */
