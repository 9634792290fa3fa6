/* SPDX-License-Identifier: MIT */
/*
 * Backends at run time: what an operator (sluicectl), DNS discovery or any embedding program
 * may change in a running sl_proxy without a reload: a backend's admin state and weight, and
 * the backend set of a group (add, remove, replace). Sessions already open keep the backend
 * they have; health state is kept for every backend that stays.
 *
 * Thread safety: any thread except a worker (-EDEADLK from a worker), while the proxy exists;
 * calls are serialised inside. Changes reach every worker through its mailbox; a call returns
 * once every worker has taken it, or after 5 s (logged) if one has not: that worker takes it
 * when it gets to its mailbox. Before sl_proxy_start() and after the drain the change is made
 * and the workers take it when they are set up. Errors are negative errno values.
 *
 * A group holds at most max_backends backends (its config key). A removed backend's slot is
 * reused only once no session holds it, so it counts against max_backends until then. Run-time
 * changes last until the process exits, or until a reload whose file changes the group's backend
 * list (sl_proxy_reload()); a reload that leaves the list as it was leaves them alone.
 */
#ifndef SLUICE_BACKENDS_H
#define SLUICE_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/common.h>
#include <sluice/config.h>

struct sl_proxy;

/* The operator's say over one backend, apart from its health. */
enum sl_backend_admin {
	SL_BACKEND_ENABLED,  /* takes new sessions while up */
	SL_BACKEND_DRAINING, /* no new sessions; open ones run on; still health-checked */
	SL_BACKEND_DISABLED, /* no new sessions; open ones run on; not health-checked */
	SL_BACKEND_ADMIN_KINDS
};

/* A backend to add (name unique in its group). */
struct sl_backend_spec {
	char name[SL_CONFIG_NAME_MAX]; /* "" = the address text */
	struct sl_addr addr;
	uint32_t weight;          /* 1 .. SL_CONFIG_WEIGHT_MAX */
	uint32_t max_connections; /* 0 = no cap */
	bool backup;              /* takes sessions only while no primary of its group serves */
};

/* One backend as it is now. */
struct sl_backend_info {
	char group[SL_CONFIG_NAME_MAX];
	char name[SL_CONFIG_NAME_MAX];
	struct sl_addr addr;
	uint32_t weight;
	uint32_t max_connections;
	enum sl_backend_admin admin;
	bool up;           /* health: checker's view (true without a health check) */
	bool checked;      /* its group runs health checks (false: up says nothing) */
	bool ejected;      /* passive ejection in force */
	bool discovered;   /* added by DNS discovery rather than the config file */
	bool backup;       /* serves only while no primary of its group does */
	uint64_t active;   /* sessions open to it now */
	uint64_t sessions; /* sessions it took since start */
	uint64_t connect_failures;
};

/*
 * Adds <spec> to <group>, enabled and (with health checks) checked from scratch, up until its
 * first verdict. 0; -ENOENT (no such group), -EEXIST (the name or the address is taken by a
 * backend of the group; sl_proxy_backend_name() says which has the address), -ELOOP (a connect
 * to the address reaches one of this proxy's own listeners, as the config file refuses too:
 * each session would open another; sl_proxy_listener_reached() says which; or its admin
 * endpoint: sl_proxy_admin_reached()), -ENOSPC (the group
 * holds max_backends), -EINVAL (a bad weight, an address unset or with port 0, or a name the
 * config file would refuse: sl_config_name_ok()),
 * -EAFNOSUPPORT (an address of another family than the group's source).
 */
SL_API int sl_proxy_backend_add(struct sl_proxy *p, const char *group,
                                const struct sl_backend_spec *spec);

/*
 * Copies the name of <group>'s backend at <addr> (removed ones aside) into <out> (<size>
 * bytes, truncated to fit). 0, -ENOENT (no such group, or no backend of it there), -EINVAL.
 */
SL_API int sl_proxy_backend_name(struct sl_proxy *p, const char *group, const struct sl_addr *addr,
                                 char *out, size_t size);

/*
 * The listener of <p> (one running now, or configured before sl_proxy_listen()) that a connect
 * to <addr> would reach (sl_addr_reaches(): its own address, or a loopback one on a wildcard
 * listener's port): its name into <name> (<size> bytes, truncated to fit) and its address into
 * <*at>. 0, -ENOENT (none), -EINVAL. Any thread but a worker.
 */
SL_API int sl_proxy_listener_reached(struct sl_proxy *p, const struct sl_addr *addr, char *name,
                                     size_t size, struct sl_addr *at);

/*
 * Whether a connect to <addr> reaches <p>'s admin endpoint (its address, or a loopback one on a
 * wildcard address's port), which sl_proxy_backend_add() and the group sets refuse (-ELOOP) as
 * the config file does. Any thread but a worker.
 */
SL_API bool sl_proxy_admin_reached(struct sl_proxy *p, const struct sl_addr *addr);

/* Removes backend <name> from <group>: no new sessions; open ones run on. 0, -ENOENT. */
SL_API int sl_proxy_backend_remove(struct sl_proxy *p, const char *group, const char *name);

/*
 * Closes every open session on <group>/<name> now, on every worker (as the drain deadline
 * does: each side gets a FIN, or a reset if it had unread bytes), counted as admin_closes; its
 * admin state does not change (disable or drain it first to keep new sessions off it). The
 * sessions of a backend removed under that name (or replaced: its address changed) are closed
 * too, as long as they run; -ENOENT only when the name has neither. Stores
 * how many were closed in <*closed>. 0, -ENOENT, -ENOMEM, or -ETIMEDOUT when a worker did not
 * answer in time (it closes its own later; <*closed> counts the others').
 */
SL_API int sl_proxy_backend_close_sessions(struct sl_proxy *p, const char *group, const char *name,
                                           uint64_t *closed);

/* Sets the weight of <group>/<name>. 0, -ENOENT, -EINVAL (out of 1 .. SL_CONFIG_WEIGHT_MAX). */
SL_API int sl_proxy_backend_set_weight(struct sl_proxy *p, const char *group, const char *name,
                                       uint32_t weight);

/* Sets the admin state of <group>/<name>. 0, -ENOENT, -EINVAL. */
SL_API int sl_proxy_backend_set_admin(struct sl_proxy *p, const char *group, const char *name,
                                      enum sl_backend_admin admin);

/*
 * Makes <set> (<n> entries; <set> may be NULL when <n> is 0) the discovered backends of
 * <group>: those with an address already present (in any backend of the group) stay (health,
 * counters, sessions; a discovered one takes the entry's weight), the discovered ones whose
 * address is not in <set> are removed, the others added. Backends from the config file are
 * left alone. -ENOENT, -EINVAL (an entry as for add), -EEXIST (a new entry's name is taken by a
 * backend that stays, or by another new entry) and -ELOOP (a new entry would reach one of
 * sluice's own listeners, as for add) change nothing. Room is not all or nothing, so a set
 * that replaces the group's can be applied over a few calls: the removals and the new entries
 * that find a free slot are applied, and -ENOSPC says some did not (the group holds
 * max_backends); a slot removed here is free for a later call once no session holds it. 0
 * when all of it is applied (but for running out of memory while rebuilding, which is logged).
 */
SL_API int sl_proxy_group_set_discovered(struct sl_proxy *p, const char *group,
                                         const struct sl_backend_spec *set, size_t n);

/*
 * Copies up to <max> backends (every group, in group order, then table order; removed ones are
 * not listed) into <out> (may be NULL when <max> is 0) and their number into <*n> (which may
 * exceed <max>: call again with more room). A snapshot: each value is read alone. 0.
 */
SL_API int sl_proxy_backends(struct sl_proxy *p, struct sl_backend_info *out, size_t max,
                             size_t *n);

/* The name of an admin state ("enabled", "draining", "disabled"), or NULL if out of range. */
SL_API const char *sl_backend_admin_name(enum sl_backend_admin a);

#endif /* SLUICE_BACKENDS_H */
