/* SPDX-License-Identifier: MIT */
/*
 * sl_xdp: the optional XDP early-drop program (docs/protection.md "XDP early drop"). On the
 * interface named by the configuration's xdp: it drops the SYNs that the listeners' allow:
 * and deny: prefixes refuse, whose source the proxy banned (source_limits.ban, sl_xdp_ban()),
 * or whose source is over its listener's source_limits rate, before the network stack, and
 * counts them. Its maps follow the configuration: sl_xdp_update() after each reload.
 *
 * Thread safety: create, update and destroy from one thread at a time (the main thread and the
 * reload path, which app/sluice/main.c serialises); sl_xdp_ban() and sl_xdp_dropped() from any
 * thread, between create and destroy.
 */
#ifndef SLUICE_XDP_H
#define SLUICE_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>

struct sl_addr;
struct sl_config;
struct sl_config_listener;
struct sl_proxy;
struct sl_xdp;

/* Why a packet was dropped; the reason label of sluice_xdp_dropped_total. */
enum sl_xdp_reason {
	SL_XDP_DENIED = 0, /* a listener's allow:/deny: refuse its source */
	SL_XDP_RATE = 1,   /* its source is over the listener's source_limits rate */
	SL_XDP_BANNED = 2, /* the proxy banned its source (source_limits.ban) */
	SL_XDP_REASON_COUNT
};

/*
 * Whether this sluice has the XDP program: false in a build without libbpf or clang (and in
 * sluice-static without libbpf.a), whose sl_xdp_create() always fails. Ask it before
 * sl_xdp_create() to tell that apart from a refusal by the kernel. Any thread.
 */
SL_API bool sl_xdp_is_built_in(void);

/*
 * Loads the program (embedded in the binary), fills its maps from <cfg>'s listeners and
 * attaches it to <cfg>->xdp.interface in <cfg>->xdp.mode, through a bpf_link: closing it (at
 * sl_xdp_destroy(), or when the process dies) detaches the program. Needs CAP_BPF and
 * CAP_NET_ADMIN. Returns 0 and stores the handle in <*out>, or a negative errno with <why>
 * (<size> bytes) saying what failed: -ENODEV (no such interface), -EPERM (privileges or the
 * kernel's lockdown), -EBUSY (another XDP program is attached), -EOPNOTSUPP (mode native on
 * an interface whose driver has no native XDP; without sl_xdp_is_built_in(), always this),
 * or what libbpf and the kernel said. Blocks briefly (bpf syscalls). Main thread.
 */
SL_API int sl_xdp_create(struct sl_xdp **out, const struct sl_config *cfg, char *why, size_t size);

/*
 * Brings the maps in step with <cfg>'s listeners (after a reload): adds or updates every entry
 * first, then removes the stale ones, so a prefix in both the old and the new lists is never
 * absent. <cfg>->xdp itself is not reread (it needs a restart). 0 or a negative errno (the
 * maps may then hold a mix: the caller logs it). Same thread rules as create.
 */
SL_API int sl_xdp_update(struct sl_xdp *x, const struct sl_config *cfg);
/* (sl_xdp_update() also attaches the program again when the kernel detached it, the interface
 * having gone away, and the interface is back; or says it is still gone.) */

/*
 * Drops the SYNs of <peer> (masked by <l>'s source_limits prefix4/prefix6) to <l>'s port until
 * <until_ns> (CLOCK_MONOTONIC, ns): one ban of the proxy (source_limits.ban). The program
 * checks bans only on the ports whose listener bans (the last sl_xdp_update()) and takes no
 * PROXY headers or shares no port; <l> taking PROXY headers adds nothing. A ban that ends
 * later stays (two threads banning one source at once may leave either end); <until_ns> 0
 * lifts the ban. Two bpf syscalls at most: for a ban, never per connection. 0 or a negative errno.
 * NULL <x> is ignored. Any thread.
 */
SL_API int sl_xdp_ban(struct sl_xdp *x, const struct sl_config_listener *l,
                      const struct sl_addr *peer, uint64_t until_ns);

/*
 * Deletes the program's ban of <peer> on <l>'s port (masked as sl_xdp_ban() masks), whatever
 * sluice's own table says: true if one was there and ran past <now_ns>. For an operator's
 * unban of a source the proxy no longer tracks (its table entry was taken by another source).
 * NULL <x> is ignored. Any thread.
 */
SL_API bool sl_xdp_unban(struct sl_xdp *x, const struct sl_config_listener *l,
                         const struct sl_addr *peer, uint64_t now_ns);

/* Adds the drop counters (set "xdp") and whether the program is attached (set "xdp_link",
 * gauge xdp_attached) to <p>'s stats registry. 0 or a negative errno. */
SL_API int sl_xdp_add_stats(struct sl_xdp *x, struct sl_proxy *p);

/* Packets dropped for <reason>, summed over every CPU. Any thread. */
SL_API uint64_t sl_xdp_dropped(const struct sl_xdp *x, enum sl_xdp_reason reason);

/* "native" or "generic": how the program ended up attached. */
SL_API const char *sl_xdp_mode_name(const struct sl_xdp *x);

/* Detaches the program and frees everything. NULL is ignored. After the last stats reader. */
SL_API void sl_xdp_destroy(struct sl_xdp *x);

#endif
