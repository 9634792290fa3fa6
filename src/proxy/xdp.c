// SPDX-License-Identifier: MIT
/*
 * The XDP early-drop loader (include/sluice/xdp.h): opens the embedded BPF object with libbpf,
 * fills its two prefix maps (IPv4, IPv6) from the listeners' allow:/deny: lists and its port
 * map from their source_limits, attaches it through a bpf_link, adds the workers' bans to its
 * ban map, and reads its per-CPU drop counters for the stats registry. The program
 * itself is src/bpf/xdp_drop.bpf.c; the key layout they share is xdp_maps.h.
 */
#include <assert.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/stats.h>
#include <sluice/xdp.h>

#include "proxy/xdp_maps.h"
#include "proxy/xdp_obj.h"

static_assert(SL_XDP_REASON_COUNT == SL_XDP_REASONS && SL_XDP_BANNED == SL_XDP_REASON_BANNED,
              "enum sl_xdp_reason indexes the program's drop counters");

struct sl_xdp {
	struct bpf_object *obj;
	/* bpf_link fd: closing it detaches the program. Written by the main thread (a reattach),
	 * read by statistics on the admin thread */
	_Atomic int link;
	int prog;       /* the program's fd, owned by <obj> */
	uint32_t flags; /* its attach flags (the mode) */
	/* a statistics read saw the link detached and said so; cleared by a reattach */
	_Atomic bool said_detached;
	int acl4, acl6, limits, drops, bans; /* map fds, owned by <obj> */
	int ncpus;                           /* possible CPUs: the per-CPU array's value count */
	unsigned ifindex;
	const char *mode; /* "native" or "generic" */
	char ifname[SL_CONFIG_IFNAME_MAX];
};

/*
 * The entries one configuration wants in one map: keys of <ksize> bytes with values of <vsize>
 * bytes, key i at keys + i * ksize and its value at vals + i * vsize.
 */
struct want {
	unsigned char *keys, *vals;
	size_t n, cap, ksize, vsize;
};

static int
want_add(struct want *w, const void *key, const void *val)
{
	if (w->n == w->cap) {
		size_t cap = w->cap != 0 ? 2 * w->cap : 64;
		unsigned char *k = realloc(w->keys, cap * w->ksize), *v;

		if (k == NULL)
			return -ENOMEM;
		w->keys = k;
		v = realloc(w->vals, cap * w->vsize);
		if (v == NULL)
			return -ENOMEM;
		w->vals = v;
		w->cap = cap;
	}
	memcpy(w->keys + w->n * w->ksize, key, w->ksize);
	memcpy(w->vals + w->n * w->vsize, val, w->vsize);
	w->n++;
	return 0;
}

static void
want_fini(struct want *w)
{
	free(w->keys);
	free(w->vals);
}

/* qsort()/bsearch() orders of the two key types: bytes, since only equality matters */
static int
key4_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_xdp_key4));
}

static int
key6_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_xdp_key6));
}

static int
port_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(uint32_t));
}

/* Number of listeners on <port>: the map key has no destination address, so sharers clash. */
static size_t
listeners_on_port(const struct sl_config *cfg, unsigned port)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nlisteners; i++)
		n += sl_addr_port(&cfg->listeners[i].addr) == port;
	return n;
}

/* Whether <l> limits each source's new connections (source_limits rate). */
static bool
has_rate(const struct sl_config_listener *l)
{
	return l->source.on && l->source.limits.rate.rate != 0;
}

/* Whether <l> bans sources (source_limits.ban). */
static bool
has_ban(const struct sl_config_listener *l)
{
	return l->source.on && l->source.limits.ban.strikes != 0;
}

/* Adds one (port, prefix) entry to <w4> or <w6>. */
static int
add_prefix(struct want *w4, struct want *w6, unsigned port, int family, const uint8_t *addr,
           unsigned len, uint32_t val)
{
	uint8_t p[2] = {(uint8_t)(port >> 8), (uint8_t)port};

	if (family == AF_INET) {
		struct sl_xdp_key4 k = {.prefixlen = SL_XDP_PORT_BITS + len};

		memcpy(k.port, p, 2);
		if (addr != NULL)
			memcpy(k.addr, addr, 4);
		return want_add(w4, &k, &val);
	}
	struct sl_xdp_key6 k = {.prefixlen = SL_XDP_PORT_BITS + len};

	memcpy(k.port, p, 2);
	if (addr != NULL)
		memcpy(k.addr, addr, 16);
	return want_add(w6, &k, &val);
}

/*
 * The per-port entry of <l>, if it limits each source's new connections or bans sources: the
 * program checks the ban map only on a port whose entry says so.
 */
static int
add_limit(struct want *wl, const struct sl_config_listener *l, unsigned port)
{
	const struct sl_tbucket_rate *r = &l->source.limits.rate;
	struct sl_xdp_limit v = {
	        .prefix4 = (uint8_t)l->source.prefix4,
	        .prefix6 = (uint8_t)l->source.prefix6,
	};
	uint32_t key = port;

	if (has_rate(l)) {
		v.step_ns = r->step_ns;
		v.window_ns = r->window_ns;
		v.flags |= SL_XDP_LIMIT_RATE;
	}
	if (has_ban(l))
		v.flags |= SL_XDP_LIMIT_BAN;
	if (v.flags == 0)
		return 0;
	return want_add(wl, &key, &v);
}

/*
 * The entries <cfg> wants: each listener's allow (ALLOW) and deny (DENY) prefixes under its
 * port, and, for a listener with an allow list, the bare port (DENY: no prefix matched) in
 * its address family; the port entry of one with a source rate or a ban. Skipped (logged once
 * per call, at <log>): listeners taking PROXY headers (the address that counts is in the
 * header, not the packet) and ports shared by several listeners.
 */
static int
want_build(const struct sl_config *cfg, struct want *w4, struct want *w6, struct want *wl, bool log)
{
	int err;

	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &cfg->listeners[i];
		unsigned port = sl_addr_port(&l->addr);

		if (l->nacl_rules == 0 && !has_rate(l) && !has_ban(l))
			continue;
		if (l->proxy_in.versions != 0) {
			if (log)
				sl_log_info("xdp: listener %s takes PROXY headers: its allow/deny "
				            "lists, source rate and bans apply in sluice only",
				            l->name);
			continue;
		}
		if (listeners_on_port(cfg, port) > 1) {
			if (log)
				sl_log_info(
				        "xdp: listener %s shares port %u with another listener: "
				        "its allow/deny lists, source rate and bans apply in "
				        "sluice "
				        "only",
				        l->name, port);
			continue;
		}
		/* the catch-all first: a rule of the same key (an allowed /0) is written over it,
		 * as the access list's own prefix decides there */
		if (!l->acl_allows_unmatched) {
			err = add_prefix(w4, w6, port,
			                 l->addr.ss.ss_family == AF_INET6 ? AF_INET6 : AF_INET,
			                 NULL, 0, SL_XDP_DENY);
			if (err != 0)
				return err;
		}
		for (size_t j = 0; j < l->nacl_rules; j++) {
			const struct sl_cidr *c = &l->acl_rules[j].cidr;

			err = add_prefix(w4, w6, port, c->family, c->addr, c->len,
			                 l->acl_rules[j].allow ? SL_XDP_ALLOW : SL_XDP_DENY);
			if (err != 0)
				return err;
		}
		err = add_limit(wl, l, port);
		if (err != 0)
			return err;
	}
	return 0;
}

/* Writes every entry of <w> into map <fd>: 0, or -errno of the first write refused. */
static int
update_all(int fd, const struct want *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (bpf_map_update_elem(fd, w->keys + i * w->ksize, w->vals + i * w->vsize,
		                        BPF_ANY) != 0)
			return -errno;
	return 0;
}

/* Deletes from map <fd> each key not in <sorted> (the <n> keys of <w>, in <key_cmp>'s order). */
static int
delete_stale(int fd, const struct want *w, const unsigned char *sorted,
             int (*key_cmp)(const void *, const void *))
{
	unsigned char cur[sizeof(struct sl_xdp_key6)], next[sizeof(struct sl_xdp_key6)];
	unsigned char *stale = NULL;
	size_t nstale = 0, cap = 0;
	bool first = true;
	int err = 0;

	while (bpf_map_get_next_key(fd, first ? NULL : cur, next) == 0) {
		first = false;
		memcpy(cur, next, w->ksize);
		/* sorted, so each present key is looked up in log n */
		if (w->n != 0 && bsearch(cur, sorted, w->n, w->ksize, key_cmp) != NULL)
			continue;
		if (nstale == cap) {
			unsigned char *s = realloc(stale, (cap = cap ? 2 * cap : 16) * w->ksize);

			if (s == NULL) {
				err = -ENOMEM;
				goto out_free_stale;
			}
			stale = s;
		}
		memcpy(stale + nstale++ * w->ksize, cur, w->ksize);
	}
	/* deleting while walking would restart the walk: delete once it is done */
	for (size_t i = 0; i < nstale; i++)
		if (bpf_map_delete_elem(fd, stale + i * w->ksize) != 0 && errno != ENOENT) {
			err = -errno;
			break;
		}
out_free_stale:
	free(stale);
	return err;
}

/*
 * Makes map <fd> hold exactly the entries of <w>: writes them all, then deletes the rest, so
 * no entry kept is missing for a moment. A map too full to hold the old entries and the new
 * together (an LPM trie says ENOSPC, a hash E2BIG) has the stale ones deleted first and the
 * new written after: for that moment neither list is whole, rather than a mix of both for
 * good (the failed writes would be refused again at every reload).
 */
static int
sync_map(int fd, struct want *w, const char *name)
{
	int (*key_cmp)(const void *, const void *) =
	        w->ksize == sizeof(struct sl_xdp_key4)   ? key4_cmp
	        : w->ksize == sizeof(struct sl_xdp_key6) ? key6_cmp
	                                                 : port_cmp;
	unsigned char *sorted;
	int err;

	if (w->n > SL_XDP_RULES_MAX)
		return -E2BIG;
	sorted = malloc(w->n * w->ksize + 1);
	if (sorted == NULL)
		return -ENOMEM;
	if (w->n != 0)
		memcpy(sorted, w->keys, w->n * w->ksize);
	if (w->n > 1)
		qsort(sorted, w->n, w->ksize, key_cmp);
	err = update_all(fd, w);
	if (err == -ENOSPC || err == -E2BIG) {
		sl_log_info("xdp: map %s cannot hold the old entries and the new together: the "
		            "old go first",
		            name);
		err = delete_stale(fd, w, sorted, key_cmp);
		if (err == 0)
			err = update_all(fd, w);
	} else if (err == 0) {
		err = delete_stale(fd, w, sorted, key_cmp);
	}
	free(sorted);
	return err;
}

/*
 * Whether the program's ban entry <k> is one that can no longer match: its port's listener no
 * longer bans (not in <wl>), or bans by another prefix than the one the entry was made under
 * (a ban of before a reload that changed prefix4/prefix6, or one a session of the listener it
 * re-opened earned since under the old one). Nothing would lift such an entry.
 */
static bool
ban_orphaned(const struct want *wl, const struct sl_xdp_src *k)
{
	uint32_t port = (uint32_t)k->port[0] << 8 | k->port[1];

	for (size_t i = 0; i < wl->n; i++) {
		const struct sl_xdp_limit *v =
		        (const struct sl_xdp_limit *)(const void *)(wl->vals + i * wl->vsize);

		if (memcmp(wl->keys + i * wl->ksize, &port, sizeof(port)) != 0)
			continue;
		return !(v->flags & SL_XDP_LIMIT_BAN) ||
		       k->bits != (k->family == 4 ? v->prefix4 : v->prefix6);
	}
	return true;
}

/*
 * Deletes the ban entries that ended (the program deletes one only when its source comes back)
 * and those ban_orphaned() names, so the map holds no entry that cannot drop a packet. At every
 * update: start and each reload.
 */
static void
purge_bans(struct sl_xdp *x, const struct want *wl)
{
	struct sl_xdp_src cur, next, *gone = NULL;
	size_t n = 0, cap = 0, live = 0;
	uint64_t now = sl_clock_ns(), until;
	bool first = true;

	while (bpf_map_get_next_key(x->bans, first ? NULL : &cur, &next) == 0) {
		bool running, orphaned;

		first = false;
		cur = next;
		running = bpf_map_lookup_elem(x->bans, &cur, &until) == 0 && until > now;
		orphaned = ban_orphaned(wl, &cur);
		if (running && !orphaned)
			continue;
		if (n == cap) {
			struct sl_xdp_src *g = realloc(gone, (cap ? cap * 2 : 64) * sizeof(*g));

			if (g == NULL)
				break; /* the rest stay until the next update */
			gone = g;
			cap = cap ? cap * 2 : 64;
		}
		gone[n++] = cur;
		live += orphaned && running;
	}
	for (size_t i = 0; i < n; i++) {
		/* an ended ban a worker started again since (same key) must stay: take the entry
		 * and its value at once, and put back one that runs now (unless a newer write
		 * is there already); orphans are never written again under their prefix */
		if (!ban_orphaned(wl, &gone[i]) &&
		    bpf_map_lookup_and_delete_elem(x->bans, &gone[i], &until) == 0) {
			if (until > now)
				(void)bpf_map_update_elem(x->bans, &gone[i], &until, BPF_NOEXIST);
			continue;
		}
		(void)bpf_map_delete_elem(x->bans, &gone[i]);
	}
	if (live != 0)
		sl_log_info("xdp: %zu bans dropped from the program: their listener no longer bans "
		            "by that prefix",
		            live);
	free(gone);
}

static int
update(struct sl_xdp *x, const struct sl_config *cfg, bool log)
{
	struct want w4 = {.ksize = sizeof(struct sl_xdp_key4), .vsize = sizeof(uint32_t)};
	struct want w6 = {.ksize = sizeof(struct sl_xdp_key6), .vsize = sizeof(uint32_t)};
	struct want wl = {.ksize = sizeof(uint32_t), .vsize = sizeof(struct sl_xdp_limit)};
	int err;

	err = want_build(cfg, &w4, &w6, &wl, log);
	if (err == 0)
		purge_bans(x, &wl);
	if (err == 0)
		err = sync_map(x->acl4, &w4, "sl_acl4");
	if (err == 0)
		err = sync_map(x->acl6, &w6, "sl_acl6");
	if (err == 0)
		err = wl.n > SL_XDP_PORTS_MAX ? -E2BIG : sync_map(x->limits, &wl, "sl_limits");
	if (err == 0 && log)
		sl_log_debug("xdp: %zu IPv4 and %zu IPv6 prefixes, %zu source-limited ports", w4.n,
		             w6.n, wl.n);
	want_fini(&w4);
	want_fini(&w6);
	want_fini(&wl);
	return err;
}

/*
 * Whether the link still holds the program on an interface here: the kernel detaches it when
 * the interface goes away (its ifindex reads 0 then); one moved to another network namespace
 * keeps it, under an index that names no interface here any more. A renamed one keeps its
 * index, and the program filters it still. Unknown (the info call fails): attached.
 */
static bool
attached(const struct sl_xdp *x)
{
	char name[IF_NAMESIZE];
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	/* relaxed: an fd number alone; one read during a reattach may ask the old link, closed
	 * or reused meanwhile, and a query that fails counts as attached */
	if (bpf_obj_get_info_by_fd(atomic_load_explicit(&x->link, memory_order_relaxed), &info,
	                           &len) != 0)
		return true;
	return info.xdp.ifindex != 0 && if_indextoname(info.xdp.ifindex, name) != NULL;
}

/* How the program on interface <idx> is attached: "native" (in the driver) or "generic". */
static const char *
attached_mode(unsigned idx)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	return bpf_xdp_query((int)idx, 0, &q) == 0 && q.attach_mode == XDP_ATTACHED_DRV ? "native"
	                                                                                : "generic";
}

/* A reload with the link detached: attaches the program again if the interface is back. */
static void
reattach(struct sl_xdp *x)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = x->flags);
	unsigned idx = if_nametoindex(x->ifname);
	int link;

	if (idx == 0) {
		sl_log_warn(
		        "xdp: not attached to %s any more (the interface went away or moved to "
		        "another network namespace): its drops "
		        "stopped, sluice's own filters go on; a reload once it is back attaches "
		        "the program again",
		        x->ifname);
		return;
	}
	link = bpf_link_create(x->prog, (int)idx, BPF_XDP, &lo);
	if (link < 0) {
		sl_log_warn("xdp: %s is back, but the program cannot attach to it: %s", x->ifname,
		            strerror(errno));
		return;
	}
	/* relaxed: as in attached(); the new link first, then the old one closes */
	close(atomic_exchange_explicit(&x->link, link, memory_order_relaxed));
	x->ifindex = idx;
	/* relaxed: a flag that only keeps the line from repeating */
	atomic_store_explicit(&x->said_detached, false, memory_order_relaxed);
	x->mode = attached_mode(idx); /* the interface back may have another driver */
	sl_log_info("xdp: attached to %s again (it had gone away), %s mode", x->ifname, x->mode);
}

int
sl_xdp_update(struct sl_xdp *x, const struct sl_config *cfg)
{
	if (!attached(x))
		reattach(x);
	return update(x, cfg, true);
}

/* libbpf's own messages: only its warnings, through the log (it is chatty at debug). */
static int __attribute__((format(printf, 2, 0)))
libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	sl_log_debug("xdp: libbpf: %s", line);
	return 0;
}

static int
map_fd(struct sl_xdp *x, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, name);

	return m != NULL ? bpf_map__fd(m) : -ENOENT;
}

static uint32_t
attach_flags(enum sl_xdp_mode mode)
{
	switch (mode) {
	case SL_XDP_NATIVE:
		return XDP_FLAGS_DRV_MODE;
	case SL_XDP_GENERIC:
		return XDP_FLAGS_SKB_MODE;
	default:
		return 0; /* the kernel picks native when the driver has it */
	}
}

/* What an attach refusal <err> in <mode> means, in parentheses, or "". */
static const char *
attach_hint(enum sl_xdp_mode mode, int err)
{
	if (err == -EBUSY)
		return " (another XDP program is attached there)";
	/* dev_xdp_attach(): a driver without ndo_bpf has no native mode */
	if (err == -EOPNOTSUPP && mode == SL_XDP_NATIVE)
		return " (its driver has no native XDP: use mode: auto or generic)";
	return "";
}

bool
sl_xdp_is_built_in(void)
{
	return true;
}

int
sl_xdp_create(struct sl_xdp **out, const struct sl_config *cfg, char *why, size_t size)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "sluice_xdp");
	struct bpf_program *prog;
	struct sl_xdp *x;
	int err, fd;

	*out = NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	snprintf(x->ifname, sizeof(x->ifname), "%s", cfg->xdp.interface);
	x->ifindex = if_nametoindex(x->ifname);
	if (x->ifindex == 0) {
		err = -errno;
		snprintf(why, size, "no interface %s: %s", x->ifname, strerror(-err));
		goto err_free;
	}
	x->ncpus = libbpf_num_possible_cpus();
	if (x->ncpus <= 0) {
		err = x->ncpus < 0 ? x->ncpus : -EINVAL;
		snprintf(why, size, "cannot count the possible CPUs: %s", strerror(-err));
		goto err_free;
	}
	libbpf_set_print(libbpf_print);
	x->obj = bpf_object__open_mem(sl__xdp_obj, sl__xdp_obj_len, &oo);
	if (x->obj == NULL) {
		err = -errno;
		snprintf(why, size, "cannot open the embedded BPF object: %s", strerror(-err));
		goto err_free;
	}
	err = bpf_object__load(x->obj);
	if (err != 0) {
		snprintf(why, size, "the kernel refused to load the XDP program: %s",
		         strerror(-err));
		goto err_close_obj;
	}
	x->acl4 = map_fd(x, "sl_acl4");
	x->acl6 = map_fd(x, "sl_acl6");
	x->limits = map_fd(x, "sl_limits");
	x->drops = map_fd(x, "sl_drops");
	x->bans = map_fd(x, "sl_bans");
	prog = bpf_object__find_program_by_name(x->obj, "sl_xdp_drop");
	if (x->acl4 < 0 || x->acl6 < 0 || x->limits < 0 || x->drops < 0 || x->bans < 0 ||
	    prog == NULL) {
		err = -ENOENT;
		snprintf(why, size, "the embedded BPF object lacks a map or its program");
		goto err_close_obj;
	}
	/* the maps before the program: it never runs with lists half filled */
	err = update(x, cfg, true);
	if (err != 0) {
		snprintf(why, size, "cannot fill the XDP maps: %s", strerror(-err));
		goto err_close_obj;
	}
	fd = bpf_program__fd(prog);
	x->prog = fd;
	x->flags = attach_flags(cfg->xdp.mode);
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = x->flags);
	err = bpf_link_create(fd, (int)x->ifindex, BPF_XDP, &lo);
	if (err < 0) {
		err = -errno;
		snprintf(why, size, "cannot attach to %s%s: %s%s", x->ifname,
		         cfg->xdp.mode == SL_XDP_NATIVE ? " in native mode" : "", strerror(-err),
		         attach_hint(cfg->xdp.mode, err));
		goto err_close_obj;
	}
	/* relaxed: no other thread has <x> yet */
	atomic_init(&x->link, err);
	x->mode = attached_mode(x->ifindex);
	*out = x;
	return 0;

err_close_obj:
	bpf_object__close(x->obj);
err_free:
	free(x);
	return err;
}

/* The ban map's key for <peer> on <l>'s port, masked as the program masks. 0 or -EAFNOSUPPORT. */
static int
ban_key(const struct sl_config_listener *l, const struct sl_addr *peer, struct sl_xdp_src *out)
{
	unsigned port = sl_addr_port(&l->addr);
	struct sl_xdp_src k = {.port = {(uint8_t)(port >> 8), (uint8_t)port}};
	const uint8_t *a;
	unsigned bits;

	if (peer->ss.ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)&peer->ss)->sin6_addr.s6_addr;
		k.family = 6;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			/* a dual-stack socket's IPv4 client: its SYNs are IPv4 packets */
			a += 12;
			k.family = 4;
		}
	} else if (peer->ss.ss_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)&peer->ss)->sin_addr;
		k.family = 4;
	} else {
		return -EAFNOSUPPORT;
	}
	/* masked as the program masks (mask() in xdp_drop.bpf.c), and named by that prefix */
	bits = k.family == 4 ? l->source.prefix4 : l->source.prefix6;
	k.bits = (uint8_t)bits;
	for (unsigned i = 0; i < (k.family == 4 ? 4u : 16u); i++) {
		unsigned keep = bits > 8 * i ? bits - 8 * i : 0;

		k.addr[i] = keep >= 8 ? a[i] : (uint8_t)(a[i] & (0xff00u >> keep));
	}
	*out = k;
	return 0;
}

int
sl_xdp_ban(struct sl_xdp *x, const struct sl_config_listener *l, const struct sl_addr *peer,
           uint64_t until_ns)
{
	struct sl_xdp_src k;
	uint64_t old;
	int err;

	/* the packets come from the PROXY peer, not from the banned client */
	if (x == NULL || l->proxy_in.versions != 0)
		return 0;
	if ((err = ban_key(l, peer, &k)) != 0)
		return err;
	/* a lifted ban leaves no entry behind */
	if (until_ns == 0)
		return bpf_map_delete_elem(x->bans, &k) == 0 || errno == ENOENT ? 0 : -errno;
	/* a ban never shortens one that ends later (as sl_srctab_import_ban() keeps the later) */
	if (bpf_map_lookup_elem(x->bans, &k, &old) == 0 && old >= until_ns)
		return 0;
	if (bpf_map_update_elem(x->bans, &k, &until_ns, BPF_ANY) != 0)
		return -errno;
	return 0;
}

bool
sl_xdp_unban(struct sl_xdp *x, const struct sl_config_listener *l, const struct sl_addr *peer,
             uint64_t now_ns)
{
	struct sl_xdp_src k;
	uint64_t until;

	if (x == NULL || l->proxy_in.versions != 0 || ban_key(l, peer, &k) != 0 ||
	    bpf_map_lookup_elem(x->bans, &k, &until) != 0)
		return false;
	(void)bpf_map_delete_elem(x->bans, &k);
	return until > now_ns;
}

uint64_t
sl_xdp_dropped(const struct sl_xdp *x, enum sl_xdp_reason reason)
{
	uint32_t key = (uint32_t)reason;
	uint64_t sum = 0, *v;

	if (x == NULL || reason >= SL_XDP_REASON_COUNT)
		return 0;
	v = calloc((size_t)x->ncpus, sizeof(*v));
	if (v == NULL)
		return 0;
	if (bpf_map_lookup_elem(x->drops, &key, v) == 0)
		for (int i = 0; i < x->ncpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

static uint64_t
read_dropped(void *arg, size_t inst, unsigned idx)
{
	(void)idx;
	return sl_xdp_dropped(arg, (enum sl_xdp_reason)inst);
}

/* 1 while attached; the first read that finds it detached says so in the log */
static uint64_t
read_attached(void *arg, size_t inst, unsigned idx)
{
	struct sl_xdp *x = arg;

	(void)inst;
	(void)idx;
	if (attached(x))
		return 1;
	/* relaxed: a flag that only keeps the line from repeating */
	if (!atomic_exchange_explicit(&x->said_detached, true, memory_order_relaxed))
		sl_log_warn(
		        "xdp: not attached to %s any more (the interface went away or moved to "
		        "another network namespace): its drops "
		        "stopped, sluice's own filters go on; a reload once it is back attaches "
		        "the program again",
		        x->ifname);
	return 0;
}

int
sl_xdp_add_stats(struct sl_xdp *x, struct sl_proxy *p)
{
	static const char *const labels[] = {"reason"};
	const struct sl_stats_def attached_def = {
	        .name = "xdp_attached",
	        .kind = SL_STATS_GAUGE,
	        .help = "1 while the XDP program is attached to its interface (0: the interface "
	                "went away or moved to another network namespace).",
	        .offset = SL_STATS_READ};
	static const char *const reasons[SL_XDP_REASON_COUNT] = {
	        [SL_XDP_DENIED] = "denied", [SL_XDP_RATE] = "rate", [SL_XDP_BANNED] = "banned"};
	const struct sl_stats_def def = {
	        .name = "xdp_dropped",
	        .kind = SL_STATS_COUNTER,
	        .help = "SYNs the XDP program dropped before the network stack, by reason.",
	        .offset = SL_STATS_READ};
	struct sl_stats_set *s;
	int err;

	err = sl_stats_add_set(sl_proxy_stats_registry(p),
	                       &(struct sl_stats_set_opts){.name = "xdp",
	                                                   .labels = labels,
	                                                   .nlabels = 1,
	                                                   .defs = &def,
	                                                   .ndefs = 1,
	                                                   .read = read_dropped,
	                                                   .arg = x},
	                       &s);
	for (unsigned r = 0; err == 0 && r < SL_XDP_REASON_COUNT; r++)
		err = sl_stats_add_instance(s, &reasons[r], 0);
	if (err == 0)
		err = sl_stats_add_set(sl_proxy_stats_registry(p),
		                       &(struct sl_stats_set_opts){.name = "xdp_link",
		                                                   .defs = &attached_def,
		                                                   .ndefs = 1,
		                                                   .read = read_attached,
		                                                   .arg = x},
		                       &s);
	if (err == 0)
		err = sl_stats_add_instance(s, NULL, 0);
	return err;
}

const char *
sl_xdp_mode_name(const struct sl_xdp *x)
{
	return x->mode;
}

void
sl_xdp_destroy(struct sl_xdp *x)
{
	if (x == NULL)
		return;
	/* relaxed: the statistics that read it are gone by now */
	close(atomic_load_explicit(&x->link, memory_order_relaxed));
	bpf_object__close(x->obj);
	free(x);
}
