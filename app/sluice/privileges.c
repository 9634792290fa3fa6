// SPDX-License-Identifier: MIT
/*
 * Privileges of the sluice binary (privileges.h): the checks before anything is bound, which
 * --check runs too, and the switch to the configured user once every socket and file is open,
 * through sluice/privs.h.
 */
#include "privileges.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/privs.h>
#include <sluice/proxy.h>

/* The access log's file name, or NULL when it has none (off, or standard output). */
static const char *
access_log_file(const struct sl_config *cfg)
{
	const char *path = cfg->access_log.path;

	return path == NULL || path[0] == '\0' || strcmp(path, "-") == 0 ? NULL : path;
}

/*
 * Whether <id> may do what <user_bit> (S_IWUSR: write; S_IXUSR: search a directory) allows on
 * a file of <st>'s owner and mode, as the kernel's mode check decides.
 */
static bool
may(const struct sl_privs_id *id, const struct stat *st, mode_t user_bit)
{
	bool member = st->st_gid == id->gid;

	if (id->uid == 0)
		return true;
	if (st->st_uid == id->uid)
		return (st->st_mode & user_bit) != 0;
	for (size_t i = 0; i < id->ngroups; i++)
		member |= st->st_gid == id->groups[i];
	/* the group's bit is the user's three places down, the others' six */
	return (st->st_mode & (member ? user_bit >> 3 : user_bit >> 6)) != 0;
}

/*
 * The first directory on the way to <path> that <id> may not enter, in <dir>: true if there is
 * one (the user could then neither write nor reopen the file, whatever its own mode).
 */
static bool
unreachable_dir(const struct sl_privs_id *id, const char *path, char *dir, size_t size)
{
	struct stat st;

	if (path[0] != '/')
		return false; /* relative: from the working directory, which the start keeps */
	for (const char *s = strchr(path + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		snprintf(dir, size, "%.*s", (int)(s - path), path);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && !may(id, &st, S_IXUSR))
			return true;
	}
	return false;
}

/* The reason an access log <log> that user <id> cannot write refuses the start, in <why>. */
static void
say_not_writable(char *why, size_t size, const char *log, const struct sl_privs_id *id)
{
	snprintf(why, size,
	         "access_log %s is not writable by user %s (uid %u): SIGUSR1 could not reopen it; "
	         "give the file to that user (chown) or choose a path it can write",
	         log, id->user, (unsigned)id->uid);
}

int
privileges_check(const struct sl_config *cfg, struct privileges_plan *plan, char *why, size_t size)
{
	static const enum sl_privs_phase phases[] = {SL_PRIVS_BIND, SL_PRIVS_RUN};
	bool root = geteuid() == 0, named = cfg->user[0] != '\0' || cfg->group[0] != '\0';
	const char *log = access_log_file(cfg);
	char what[200], cap[64];
	struct sl_privs_id id;
	struct stat st;

	*plan = (struct privileges_plan){0};
	if (log != NULL && lstat(log, &st) != 0 && errno == ENOENT)
		plan->access_log_new = true;
	/* opened as root, in a directory the user may write: a link could name any file */
	if (log != NULL && !plan->access_log_new && lstat(log, &st) == 0 && S_ISLNK(st.st_mode) &&
	    !sl_proxy_access_log_link_trusted(log)) {
		snprintf(why, size,
		         "access_log %s is a symbolic link in a directory others than root may "
		         "write, or not root's: sluice opens it as root and does not follow such "
		         "links; name the file itself",
		         log);
		return -1;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(phases); i++) {
		uint64_t need = sl_privs_caps(cfg, phases[i], what, sizeof(what));

		if (sl_privs_check(need, cap, sizeof(cap)) != 0) {
			snprintf(why, size,
			         "%s needs %s, which this process does not have: start sluice as "
			         "root (with user: to drop to after binding), or give it the "
			         "capability (systemd: AmbientCapabilities=)",
			         what, cap);
			return -1;
		}
	}
	if (!named)
		return 0;
	if (sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, why, size) != 0)
		return -1;
	if (root && cfg->user[0] == '\0') {
		snprintf(why, size,
		         "group: %s without user: would still run as root: set user: too",
		         cfg->group);
		return -1;
	}
	if (!root && (id.uid != geteuid() || id.gid != getegid())) {
		snprintf(why, size,
		         "cannot switch to user %s (uid %u), group %s (gid %u): sluice runs as uid "
		         "%u, not root; start it as root, or leave user: and group: out",
		         id.user, (unsigned)id.uid, id.group, (unsigned)id.gid,
		         (unsigned)geteuid());
		return -1;
	}
	/* a file the start makes is given to the user; one that exists (a file, a FIFO, a device)
	 * must be writable by it */
	if (root && log != NULL && !plan->access_log_new && stat(log, &st) == 0 &&
	    !may(&id, &st, S_IWUSR)) {
		say_not_writable(why, size, log, &id);
		return -1;
	}
	if (root && log != NULL && unreachable_dir(&id, log, what, sizeof(what))) {
		snprintf(why, size,
		         "access_log %s is out of reach of user %s (uid %u): it may not enter %s; "
		         "SIGUSR1 could not reopen the file, nor the start write it after the drop",
		         log, id.user, (unsigned)id.uid, what);
		return -1;
	}
	return 0;
}

/*
 * Before the drop: an access log file this start made (owned by root) goes to the user, so a
 * rotation's reopen (SIGUSR1) can write it. Returns 0 or -1 (logged).
 */
static int
give_access_log(struct sl_proxy *p, const struct sl_config *cfg, const struct privileges_plan *plan,
                const struct sl_privs_id *id)
{
	const char *log = access_log_file(cfg);
	int err;

	if (log == NULL || !plan->access_log_new || geteuid() != 0)
		return 0;
	/* the file the proxy opened (never through a symbolic link), not what the path names
	 * now: the directory may be the user's, who could swap in a link to any file */
	err = sl_proxy_access_log_chown(p, id->uid, id->gid);
	if (err != 0) {
		sl_log_error("cannot start: access_log %s: cannot give it to user %s (uid %u): %s",
		             log, id->user, (unsigned)id->uid, strerror(-err));
		return -1;
	}
	return 0;
}

/*
 * After the drop: a directory the user cannot write only gets a warning (a rotation that
 * copies and truncates still works). The file itself was checked before.
 */
static void
warn_access_log_dir(const struct sl_config *cfg, const struct sl_privs_id *id)
{
	const char *log = access_log_file(cfg);
	char dir[4096];

	if (log == NULL)
		return;
	snprintf(dir, sizeof(dir), "%s", log);
	if (access(dirname(dir), W_OK | X_OK) != 0)
		sl_log_warn(
		        "access_log: user %s (uid %u) cannot create files in %s: after a "
		        "rotation that moves %s away, SIGUSR1 cannot create it again (copytruncate "
		        "works)",
		        id->user, (unsigned)id->uid, dir, log);
}

/* After the drop: a user still in group root (gid 0, its primary group or another) keeps that
 * group's access to every file owned by it. */
static void
warn_root_group(const struct sl_privs_id *id)
{
	for (size_t i = 0; i < id->ngroups; i++) {
		if (id->groups[i] != 0)
			continue;
		sl_log_warn(
		        "user %s is still in group root (gid 0)%s: it keeps that group's access "
		        "to files; set group: to an unprivileged group",
		        id->user, i == 0 ? " as its primary group" : "");
		return;
	}
}

int
privileges_drop(struct sl_proxy *p, const struct sl_config *cfg, const struct privileges_plan *plan,
                const char *reload_from)
{
	uint64_t keep = sl_privs_caps(cfg, SL_PRIVS_RUN, NULL, 0);
	const char *log = access_log_file(cfg);
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
	/* privileges_check() refused what cannot work; the names are resolved again here */
	if (sl_privs_resolve(&id, cfg->user, cfg->group, NULL, NULL, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return -1;
	}
	if (give_access_log(p, cfg, plan, &id) != 0)
		return -1;
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
	/* the mode bits were checked before; an ACL or a read-only mount shows only now */
	if (log != NULL && access(log, W_OK) != 0) {
		say_not_writable(why, sizeof(why), log, &id);
		sl_log_error("cannot start: %s", why);
		return -1;
	}
	warn_access_log_dir(cfg, &id);
	warn_root_group(&id);
	if (reload_from != NULL && access(reload_from, R_OK) != 0)
		sl_log_warn("user %s (uid %u) cannot read %s (%s): every reload (SIGHUP, sluicectl "
		            "reload) will fail until it can; keep the file readable by it (mode "
		            "0644 is the norm)",
		            id.user, (unsigned)id.uid, reload_from, strerror(errno));
	return 0;
}
