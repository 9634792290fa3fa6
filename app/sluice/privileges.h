/* SPDX-License-Identifier: MIT */
/*
 * Privileges of the sluice binary: refuse at once (and in --check) what the switch to the
 * configured user or a missing capability would refuse later, and drop to that user after
 * binding (privileges.c, over sluice/privs.h).
 */
#ifndef SLUICE_APP_PRIVILEGES_H
#define SLUICE_APP_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>

#include <sluice/config.h>
#include <sluice/proxy.h>

/* What privileges_check() found before anything was opened, for privileges_drop(). */
struct privileges_plan {
	bool access_log_new; /* the access log's file did not exist: the start makes it */
};

/*
 * Before anything is opened or bound: -1 with the reason in <why> (<size> bytes) when the
 * start would fail over privileges: a user or group unknown here, group: without user: as
 * root, a user other than this process's without root, a capability a feature of <cfg> needs
 * and this process lacks, or an existing access log the user cannot write. 0 otherwise, with
 * <*plan> filled. Reads the file system and the user database; logs nothing.
 */
int privileges_check(const struct sl_config *cfg, struct privileges_plan *plan, char *why,
                     size_t size);

/*
 * Once every socket and file is open and before any thread starts: switches to cfg->user and
 * cfg->group, keeping only the capabilities the features in use need while running; an access
 * log file this start made (<plan>) is given to that user first. With neither set, root only
 * gets a warning, and a non-root process still sheds the capabilities it was started with
 * (systemd's AmbientCapabilities=). A configuration file <reload_from> (NULL: none) that the
 * user cannot read gets a warning: every reload would fail. Returns 0 or -1 (logged).
 */
int privileges_drop(struct sl_proxy *p, const struct sl_config *cfg,
                    const struct privileges_plan *plan, const char *reload_from);

#endif /* SLUICE_APP_PRIVILEGES_H */
