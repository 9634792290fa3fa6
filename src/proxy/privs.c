// SPDX-License-Identifier: MIT
/*
 * Privilege dropping (include/sluice/privs.h): users and groups read from the passwd and group
 * files (no NSS, so the static binary resolves names the same way), the table of features and
 * the capabilities they need, and the drop itself through libcap. app/sluice/main.c calls it
 * between sl_proxy_listen() and sl_proxy_start(); docs/operations.md says what an operator sees.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/config.h>
#include <sluice/privs.h>

/* ---- the passwd and group files ---- */

#define PASSWD_FIELDS 7
#define GROUP_FIELDS 4

/* Splits <line> at ':' into at most <max> fields; returns how many. Ends the line at '\n'. */
static size_t
split(char *line, char **f, size_t max)
{
	size_t n = 0;

	line[strcspn(line, "\n")] = '\0';
	f[n++] = line;
	for (char *c = line; *c != '\0' && n < max; c++)
		if (*c == ':') {
			*c = '\0';
			f[n++] = c + 1;
		}
	return n;
}

/* A decimal id from 0 to 4294967294 in <s>; false if <s> is anything else. */
static bool
parse_id(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* true if <name> is in the comma-separated <list>. */
static bool
in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *c = list; *c != '\0';) {
		size_t len = strcspn(c, ",");

		if (len == n && strncmp(c, name, n) == 0)
			return true;
		c += len + (c[len] == ',');
	}
	return false;
}

/*
 * Finds the passwd entry whose name is <name>, or (name NULL) whose uid is <*uid>; fills <*uid>,
 * <*gid> and <found> (the name). 1 if found, 0 if not, or the errno of reading <path>.
 */
static int
passwd_find(const char *path, const char *name, uid_t *uid, gid_t *gid, char *found, size_t size)
{
	char *line = NULL, *f[PASSWD_FIELDS];
	size_t cap = 0;
	int err = 0;
	uint32_t u, g;
	FILE *in;

	in = fopen(path, "re");
	if (in == NULL)
		return -errno;
	while (getline(&line, &cap, in) != -1) {
		/* "+" and "-" lines are NIS compat entries, not users */
		if (line[0] == '#' || line[0] == '+' || line[0] == '-' ||
		    split(line, f, PASSWD_FIELDS) < 4 || !parse_id(f[2], &u) || !parse_id(f[3], &g))
			continue;
		if (name != NULL ? strcmp(f[0], name) != 0 : u != *uid)
			continue;
		*uid = u;
		*gid = g;
		snprintf(found, size, "%s", f[0]);
		err = 1;
		break;
	}
	if (err == 0 && ferror(in))
		err = -EIO;
	free(line);
	fclose(in);
	return err;
}

/*
 * Reads the group file <path>: the gid of group <name> into <*gid> (name NULL: the name of
 * <*gid> into <gname>, if it has an entry), and when <member> is not NULL appends to <id> the
 * gid of every group listing <member>. 0, -ENOENT (<name> not found), -E2BIG, or a read errno.
 */
static int
group_scan(const char *path, const char *name, gid_t *gid, char *gname, size_t gsize,
           const char *member, struct sl_privs_id *id)
{
	char *line = NULL, *f[GROUP_FIELDS];
	bool found = name == NULL;
	size_t cap = 0;
	int err = 0;
	uint32_t g;
	FILE *in;

	in = fopen(path, "re");
	if (in == NULL)
		return -errno;
	while (err == 0 && getline(&line, &cap, in) != -1) {
		size_t n;

		if (line[0] == '#' || line[0] == '+' || line[0] == '-' ||
		    (n = split(line, f, GROUP_FIELDS)) < 3 || !parse_id(f[2], &g))
			continue;
		if (name != NULL && !found && strcmp(f[0], name) == 0) {
			*gid = g;
			found = true;
		}
		if (name == NULL && g == *gid && gname[0] == '\0')
			snprintf(gname, gsize, "%s", f[0]);
		if (member == NULL || n < 4 || !in_list(f[3], member))
			continue;
		if (id->ngroups == SL_PRIVS_GROUPS_MAX)
			err = -E2BIG;
		else
			id->groups[id->ngroups++] = g;
	}
	if (err == 0 && ferror(in))
		err = -EIO;
	free(line);
	fclose(in);
	return err == 0 && !found ? -ENOENT : err;
}

int
sl_privs_resolve(struct sl_privs_id *out, const char *user, const char *group, const char *passwd,
                 const char *groups, char *why, size_t size)
{
	char gname[sizeof(out->group)] = "";
	bool have_entry = false;
	uint32_t num;
	int err;

	passwd = passwd != NULL ? passwd : "/etc/passwd";
	groups = groups != NULL ? groups : "/etc/group";
	memset(out, 0, sizeof(*out));
	out->uid = getuid();
	out->gid = getgid();
	snprintf(out->user, sizeof(out->user), "%u", (unsigned)out->uid);
	if (user[0] != '\0' && parse_id(user, &num)) {
		out->uid = num;
		snprintf(out->user, sizeof(out->user), "%s", user);
		err = passwd_find(passwd, NULL, &out->uid, &out->gid, out->user, sizeof(out->user));
		if (err < 0)
			goto err_read_passwd;
		have_entry = err == 1;
		if (!have_entry && group[0] == '\0') {
			snprintf(
			        why, size,
			        "user %s has no entry in %s, so it has no primary group: set group "
			        "too",
			        user, passwd);
			return -ENOENT;
		}
	} else if (user[0] != '\0') {
		err = passwd_find(passwd, user, &out->uid, &out->gid, out->user, sizeof(out->user));
		if (err == 0) {
			snprintf(why, size, "unknown user \"%s\": %s has no such entry", user,
			         passwd);
			return -ENOENT;
		}
		if (err < 0)
			goto err_read_passwd;
		have_entry = true;
	}
	if (user[0] != '\0' && out->uid == 0) {
		snprintf(why, size,
		         "user %s is root: nothing would be dropped (leave user: out to run as "
		         "root)",
		         user);
		return -EINVAL;
	}
	if (group[0] != '\0' && parse_id(group, &num)) {
		out->gid = num;
	} else if (group[0] != '\0') {
		err = group_scan(groups, group, &out->gid, NULL, 0, NULL, NULL);
		if (err == -ENOENT) {
			snprintf(why, size, "unknown group \"%s\": %s has no such entry", group,
			         groups);
			return err;
		}
		if (err != 0)
			goto err_read_group;
	}
	/* the primary group first, then every group that lists the user (named users only) */
	out->groups[out->ngroups++] = out->gid;
	err = group_scan(groups, NULL, &out->gid, gname, sizeof(gname),
	                 have_entry ? out->user : NULL, out);
	if (err == -E2BIG) {
		snprintf(why, size, "user %s is in more than %d groups", out->user,
		         SL_PRIVS_GROUPS_MAX);
		return err;
	}
	/* no group file (a scratch image may have none): the primary group alone */
	if (err != 0 && err != -ENOENT)
		goto err_read_group;
	if (gname[0] != '\0')
		snprintf(out->group, sizeof(out->group), "%s", gname);
	else
		snprintf(out->group, sizeof(out->group), "%u", (unsigned)out->gid);
	return 0;

err_read_passwd:
	snprintf(why, size, "cannot read %s: %s", passwd, strerror(-err));
	return err;
err_read_group:
	snprintf(why, size, "cannot read %s: %s", groups, strerror(-err));
	return err;
}

/* ---- which feature needs which capability ---- */

/* The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start). */
static unsigned
unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	unsigned long v = 1024;
	char buf[16], *end;

	if (f == NULL)
		return 1024;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		v = strtoul(buf, &end, 10);
		if (end == buf || v > 65536)
			v = 1024;
	}
	fclose(f);
	return (unsigned)v;
}

/* Says (in <why>) whether <cfg> binds a port below ip_unprivileged_port_start. */
static bool
uses_low_port(const struct sl_config *cfg, char *why, size_t size)
{
	unsigned start = unprivileged_port_start();
	char a[SL_ADDR_STRLEN];
	unsigned port;

	for (size_t i = 0; i < cfg->nlisteners; i++) {
		port = sl_addr_port(&cfg->listeners[i].addr);
		if (port != 0 && port < start) {
			snprintf(why, size, "listener %s on %s (ports below %u)",
			         cfg->listeners[i].name,
			         sl_addr_format(&cfg->listeners[i].addr, a, sizeof(a)), start);
			return true;
		}
	}
	port = cfg->admin.addr.len != 0 ? sl_addr_port(&cfg->admin.addr) : 0;
	if (port != 0 && port < start) {
		snprintf(why, size, "the admin endpoint on %s (ports below %u)",
		         sl_addr_format(&cfg->admin.addr, a, sizeof(a)), start);
		return true;
	}
	return false;
}

/*
 * Says whether <cfg> attaches the XDP program: it needs CAP_BPF (load, and read and update its
 * maps after the drop: reloads and /metrics) and CAP_NET_ADMIN (attach) as long as it runs.
 * An XDP that is not required and whose capabilities this process lacks needs none: sluice
 * then runs without it (app/sluice/main.c says so).
 */
static bool
uses_xdp(const struct sl_config *cfg, char *why, size_t size)
{
	uint64_t caps = UINT64_C(1) << CAP_BPF | UINT64_C(1) << CAP_NET_ADMIN;
	char cap[64];

	if (cfg->xdp.interface[0] == '\0')
		return false;
	if (!cfg->xdp.required && sl_privs_check(caps, cap, sizeof(cap)) != 0)
		return false;
	snprintf(why, size, "xdp on %s", cfg->xdp.interface);
	return true;
}

/*
 * Every feature that needs a capability, and when. A feature that needs one while it runs
 * (XDP: CAP_NET_ADMIN, CAP_BPF) has a SL_PRIVS_RUN line here, and sl_privs_drop() keeps it.
 * forward: sockmap needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON only to load its program,
 * before the drop: putting sockets in its maps goes through the maps' fds, which need none.
 */
static const struct {
	cap_value_t cap;
	enum sl_privs_phase phase;
	bool (*uses)(const struct sl_config *cfg, char *why, size_t size);
} features[] = {
        {CAP_NET_BIND_SERVICE, SL_PRIVS_BIND, uses_low_port},
        {CAP_NET_ADMIN, SL_PRIVS_RUN, uses_xdp},
        {CAP_BPF, SL_PRIVS_RUN, uses_xdp},
};

uint64_t
sl_privs_caps(const struct sl_config *cfg, enum sl_privs_phase phase, char *why, size_t size)
{
	uint64_t need = 0;
	char what[200];

	for (size_t i = 0; i < SL_ARRAY_SIZE(features); i++) {
		if (features[i].phase != phase || !features[i].uses(cfg, what, sizeof(what)))
			continue;
		if (why != NULL && need == 0)
			snprintf(why, size, "%s", what);
		need |= UINT64_C(1) << features[i].cap;
	}
	return need;
}

/* "cap_net_bind_service" into <buf>. */
static const char *
cap_name(cap_value_t c, char *buf, size_t size)
{
	char *name = cap_to_name(c);

	snprintf(buf, size, "%s", name != NULL ? name : "?");
	cap_free(name);
	return buf;
}

int
sl_privs_check(uint64_t need, char *why, size_t size)
{
	cap_t now = cap_get_proc();
	cap_flag_value_t v;
	char name[64];
	size_t len = 0;
	int err = 0;

	if (now == NULL) {
		int e = errno;

		snprintf(why, size, "cannot read this process's capabilities: %s", strerror(e));
		return -e;
	}
	for (cap_value_t c = 0; c < 64; c++) {
		int w;

		if (!(need & (UINT64_C(1) << c)))
			continue;
		if (cap_get_flag(now, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
			continue;
		/* each one missing, so one restart can give them all */
		w = len < size ? snprintf(why + len, size - len, "%s%s", err == 0 ? "" : ", ",
		                          cap_name(c, name, sizeof(name)))
		               : 0;
		if (w > 0)
			len = len + (size_t)w < size ? len + (size_t)w : size;
		err = -EPERM;
	}
	cap_free(now);
	return err;
}

/* ---- the drop ---- */

bool
sl_privs_has_caps(void)
{
	cap_t now = cap_get_proc(), none = cap_init();
	bool any = now == NULL || none == NULL || cap_compare(now, none) != 0;

	if (CAP_AMBIENT_SUPPORTED())
		for (cap_value_t c = 0; !any && c <= CAP_LAST_CAP; c++)
			any = cap_get_ambient(c) == 1;
	cap_free(now);
	cap_free(none);
	return any;
}

/* true if this process runs more than one thread; false when /proc cannot tell (a chroot). */
static bool
has_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 1;
}

/* Sets exactly <keep> permitted and effective, nothing inheritable. */
static int
set_caps(uint64_t keep)
{
	cap_value_t list[64];
	int n = 0, err = 0;
	cap_t caps;

	for (cap_value_t c = 0; c < 64; c++)
		if (keep & (UINT64_C(1) << c))
			list[n++] = c;
	caps = cap_init(); /* every flag clear */
	if (caps == NULL)
		return -errno;
	if ((n > 0 && (cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) != 0 ||
	               cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) != 0)) ||
	    cap_set_proc(caps) != 0)
		err = -errno;
	cap_free(caps);
	return err;
}

/* Drops from the bounding set every capability not in <keep> (needs CAP_SETPCAP). */
static int
drop_bounding(uint64_t keep)
{
	for (cap_value_t c = 0; c <= CAP_LAST_CAP || CAP_IS_SUPPORTED(c); c++) {
		if (c < 64 && (keep & (UINT64_C(1) << c)))
			continue;
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) != 0)
			return -errno;
	}
	return 0;
}

/* true if this process may change its bounding set. */
static bool
has_setpcap(void)
{
	char why[8];

	return sl_privs_check(UINT64_C(1) << CAP_SETPCAP, why, sizeof(why)) == 0;
}

int
sl_privs_drop(const struct sl_privs_id *id, uint64_t keep, char *why, size_t size)
{
	const char *step;
	int err = 0;

	if (has_threads()) {
		snprintf(why, size, "threads already run (privileges are per thread)");
		return -EBUSY;
	}
	/* the bounding set first: dropping it needs CAP_SETPCAP, gone with uid 0 */
	step = "clear the capability bounding set";
	if (has_setpcap() && (err = drop_bounding(keep)) != 0)
		goto err_step;
	step = "clear the ambient capability set";
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0) {
		err = -errno;
		goto err_step;
	}
	if (id != NULL) {
		/* keep the permitted set across setuid; set_caps() trims it to <keep> */
		step = "keep capabilities across setuid (PR_SET_KEEPCAPS)";
		if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == -1)
			goto err_errno;
		step = "set the supplementary groups (setgroups)";
		if (setgroups(id->ngroups, id->groups) == -1)
			goto err_errno;
		step = "set the group (setresgid)";
		if (setresgid(id->gid, id->gid, id->gid) == -1)
			goto err_errno;
		step = "set the user (setresuid)";
		if (setresuid(id->uid, id->uid, id->uid) == -1)
			goto err_errno;
		step = "stop keeping capabilities across setuid (PR_SET_KEEPCAPS)";
		if (keep != 0 && prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) == -1)
			goto err_errno;
	}
	step = "set the capability sets (capset)";
	if ((err = set_caps(keep)) != 0)
		goto err_step;
	step = "set no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == -1)
		goto err_errno;
	/* defensive: the kernel must refuse uid 0 back now */
	if (id != NULL && (setuid(0) != -1 || (id->gid != 0 && setgid(0) != -1))) {
		snprintf(why, size, "uid or gid 0 could be regained after the drop");
		return -EPERM;
	}
	return 0;

err_errno:
	err = -errno;
err_step:
	snprintf(why, size, "cannot %s: %s", step, strerror(-err));
	return err;
}
