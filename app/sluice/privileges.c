// SPDX-License-Identifier: MIT
/*
 * Privileges of the sluice binary (privileges.h): the capability check before anything is
 * bound, and the switch to the configured user once every socket and file is open, through
 * sluice/privs.h.
 */
#include "privileges.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/privs.h>

/*
 * Before anything is bound: refuses to start when a feature of <cfg> needs a capability this
 * process lacks, naming both, or when the user or group to drop to does not exist here.
 * Returns 0 or -1 (logged).
 */
int
privileges_check(const struct sl_config *cfg)
{
	static const enum sl_privs_phase phases[] = {SL_PRIVS_BIND, SL_PRIVS_RUN};
	char what[200], cap[64];
	struct sl_privs_id id;

	/* the drop resolves them again, after binding; a name unknown here fails before */
	if ((cfg->user[0] != '\0' || cfg->group[0] != '\0') &&
	    sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, what, sizeof(what)) != 0) {
		sl_log_error("cannot start: %s", what);
		return -1;
	}

	for (size_t i = 0; i < SL_ARRAY_SIZE(phases); i++) {
		uint64_t need = sl_privs_caps(cfg, phases[i], what, sizeof(what));

		if (sl_privs_check(need, cap, sizeof(cap)) != 0) {
			sl_log_error(
			        "cannot start: %s needs %s, which this process does not have: "
			        "start sluice as root (with user: to drop to after binding), or "
			        "give it the capability (systemd: AmbientCapabilities=)",
			        what, cap);
			return -1;
		}
	}
	return 0;
}

/*
 * After the drop: the access log's file must stay writable by the new user, or SIGUSR1 (log
 * rotation) could not reopen it. A directory it cannot write only gets a warning: a rotation
 * that copies and truncates still works. Returns 0 or -1 (logged).
 */
static int
check_access_log(const struct sl_config *cfg, const struct sl_privs_id *id)
{
	char dir[4096];

	if (cfg->access_log.path == NULL || strcmp(cfg->access_log.path, "-") == 0)
		return 0;
	if (access(cfg->access_log.path, W_OK) != 0) {
		sl_log_error("cannot start: access_log %s is not writable by user %s (uid %u): "
		             "SIGUSR1 could not reopen it; give the file to that user (chown) or "
		             "choose a path it can write",
		             cfg->access_log.path, id->user, (unsigned)id->uid);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->access_log.path);
	if (access(dirname(dir), W_OK | X_OK) != 0)
		sl_log_warn(
		        "access_log: user %s (uid %u) cannot create files in %s: after a "
		        "rotation that moves %s away, SIGUSR1 cannot create it again (copytruncate "
		        "works)",
		        id->user, (unsigned)id->uid, dir, cfg->access_log.path);
	return 0;
}

/*
 * Once every socket and file is open and before any thread starts: switches to cfg->user and
 * cfg->group, keeping only the capabilities the features in use need while running
 * (sluice/privs.h). With neither set, root only gets a warning, and a non-root process still
 * sheds the capabilities it was started with (systemd's AmbientCapabilities=). Returns 0 or -1.
 */
int
privileges_drop(const struct sl_config *cfg)
{
	uint64_t keep = sl_privs_caps(cfg, SL_PRIVS_RUN, NULL, 0);
	bool root = geteuid() == 0;
	struct sl_privs_id id;
	char why[300];

	if (cfg->user[0] == '\0' && cfg->group[0] == '\0') {
		if (root) {
			sl_log_warn(
			        "sluice runs as root: set user: and group: in the configuration "
			        "(or --user and --group) to drop privileges after binding");
			return 0;
		}
		if (!sl_privs_has_caps())
			return 0;
		/* defence in depth only: a seccomp filter without capset must not stop the start */
		if (sl_privs_drop(NULL, keep, why, sizeof(why)) != 0)
			sl_log_warn(
			        "cannot drop the capabilities sluice was started with: %s (going "
			        "on with them)",
			        why);
		else
			sl_log_info("running as uid %u; capabilities kept: %s (the ones it was "
			            "started with are dropped now that it is bound)",
			            (unsigned)geteuid(),
			            keep == 0 ? "none" : "those the features need");
		return 0;
	}
	if (root && cfg->user[0] == '\0') {
		sl_log_error("cannot start: group: %s without user: would still run as root: set "
		             "user: too",
		             cfg->group);
		return -1;
	}
	if (sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return -1;
	}
	if (!root && (id.uid != geteuid() || id.gid != getegid())) {
		sl_log_error(
		        "cannot start: cannot switch to user %s (uid %u), group %s (gid %u): "
		        "sluice runs as uid %u, not root; start it as root, or leave user: and "
		        "group: out",
		        id.user, (unsigned)id.uid, id.group, (unsigned)id.gid, (unsigned)geteuid());
		return -1;
	}
	/* already that user (started by systemd's User=): only the capabilities to shed */
	if (sl_privs_drop(root ? &id : NULL, keep, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: cannot drop privileges to user %s (uid %u): %s",
		             id.user, (unsigned)id.uid, why);
		return -1;
	}
	sl_log_info("running as user %s (uid %u), group %s (gid %u), %zu group%s; capabilities "
	            "kept: %s",
	            id.user, (unsigned)id.uid, id.group, (unsigned)id.gid, id.ngroups,
	            id.ngroups == 1 ? "" : "s", keep == 0 ? "none" : "those the features need");
	return check_access_log(cfg, &id);
}
