/* SPDX-License-Identifier: MIT */
/*
 * sl_privs: run with no more privilege than the configured features need. A user and group are
 * resolved by reading the passwd and group files directly (the static binary has no NSS), the
 * capabilities each feature needs come from one table, and sl_privs_drop() switches to the user
 * once every privileged port is bound, keeping only the capabilities of the features in use.
 * docs/operations.md (Privileges) is the operator's view.
 *
 * Thread safety: resolve and caps are pure apart from reading files; drop and check act on
 * the calling thread's credentials, so drop must run before the process starts any thread.
 */
#ifndef SLUICE_PRIVS_H
#define SLUICE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/common.h>

struct sl_config;

/* The most supplementary groups sl_privs_resolve() gathers for a user. */
#define SL_PRIVS_GROUPS_MAX 64

/* Who to become: filled by sl_privs_resolve(). */
struct sl_privs_id {
	uid_t uid;
	gid_t gid;
	size_t ngroups; /* supplementary groups, <gid> among them */
	gid_t groups[SL_PRIVS_GROUPS_MAX];
	char user[64];  /* the user's name, or its id when it has no passwd entry */
	char group[64]; /* the group's name, or its id when it has no group entry */
};

/* When a capability is needed: only to set up (bind), or for as long as sluice runs. */
enum sl_privs_phase {
	SL_PRIVS_BIND,
	SL_PRIVS_RUN,
};

/*
 * Resolves <user> and <group> (a name, or a decimal id; "" = not given) against the passwd
 * file <passwd> and the group file <groups> (NULL: /etc/passwd and /etc/group) into <*out>.
 * A named user takes its passwd entry's uid and primary group (unless <group> is given) and
 * the groups that list it as a member; a numeric one the same when an entry has that uid, else
 * no supplementary group, and then <group> is required. <user> "" keeps this process's uid.
 * Returns 0, or -ENOENT (an unknown name, or an id with no entry and no <group>), -EINVAL
 * (user root: nothing would be dropped), -E2BIG (more than SL_PRIVS_GROUPS_MAX groups), or the
 * errno of reading a file; <why> (<size> bytes) then says which and why. Blocks on file I/O.
 */
SL_API int sl_privs_resolve(struct sl_privs_id *out, const char *user, const char *group,
                            const char *passwd, const char *groups, char *why, size_t size);

/*
 * The capabilities (a mask of 1 << CAP_*) the features <cfg> uses need in <phase>, from the
 * feature table of privs.c. <why> (<size> bytes, may be NULL) names the feature of the lowest
 * capability. Pure, apart from reading /proc/sys/net/ipv4/ip_unprivileged_port_start.
 */
SL_API uint64_t sl_privs_caps(const struct sl_config *cfg, enum sl_privs_phase phase, char *why,
                              size_t size);

/*
 * Checks that this process holds (in its effective set) every capability in <need>. Returns 0,
 * or -EPERM with every capability missing named in <why> (<size> bytes), "cap_bpf" or
 * "cap_bpf, cap_perfmon", so one restart can give them all.
 */
SL_API int sl_privs_check(uint64_t need, char *why, size_t size);

/* true if this process holds any capability (permitted, effective or ambient). */
SL_API bool sl_privs_has_caps(void);

/*
 * Drops privileges for good: clears the capability bounding set but for <keep>, empties the
 * ambient set, sets the supplementary groups, gid and uid of <id> (NULL: keeps the ids, e.g. a
 * non-root start under systemd's AmbientCapabilities=), leaves exactly <keep> permitted and
 * effective (nothing inheritable), and sets no_new_privs. Then checks that uid 0 cannot be
 * regained. Returns 0, -EBUSY if this process already runs more than one thread (the
 * credentials are per thread), -EPERM (not allowed: not root), or another errno; <why> (<size>
 * bytes) names the step that failed. A failure may leave the process half-dropped: exit.
 */
SL_API int sl_privs_drop(const struct sl_privs_id *id, uint64_t keep, char *why, size_t size);

#endif /* SLUICE_PRIVS_H */
