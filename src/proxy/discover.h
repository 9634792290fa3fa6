/* SPDX-License-Identifier: MIT */
/*
 * DNS service discovery inside the proxy layer (discover.c): one resolver thread with one c-ares
 * channel per discovering group, which re-resolves each group's name when its TTL runs out and
 * hands the result to sl_proxy_group_set_discovered(). The pure parts (DNS answer -> backend
 * set, TTL clamping, SRV priority and weight) are declared here for the unit tests.
 */
#ifndef SLUICE_PROXY_DISCOVER_H
#define SLUICE_PROXY_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/backends.h>
#include <sluice/config.h>

struct sl_proxy;
struct sl_discover;

/* One group's figures, as the statistics registry reads them (any thread, relaxed). */
struct sl_discover_stats {
	uint64_t resolutions;   /* resolutions finished, whatever the outcome */
	uint64_t failures;      /* timeouts, SERVFAIL, NXDOMAIN, unparsable answers */
	uint64_t empty;         /* answers with no usable record: the last set is kept */
	uint64_t apply_errors;  /* sl_proxy_group_set_discovered() refused a set */
	uint64_t backends;      /* in the last good set */
	uint64_t last_change_s; /* Unix time the set last changed; 0 = never resolved */
};

/*
 * Creates the resolver for every group of p->cfg with a discover: key (none: *<out> = NULL and
 * 0) and its c-ares channels. 0, -ENOMEM, or -EIO (c-ares could not start; logged).
 * Controlling thread.
 */
int sl__discover_create(struct sl_discover **out, struct sl_proxy *p);
/* Starts the resolver thread; the first resolutions start at once. 0 or -errno. */
int sl__discover_start(struct sl_discover *d);
/* Stops and joins the thread (in-flight queries are cancelled). Idempotent; NULL ignored. */
void sl__discover_stop(struct sl_discover *d);
/* Stops it if running and frees everything. NULL is ignored. */
void sl__discover_destroy(struct sl_discover *d);
/* Discovering groups, in group order: their number, and the group index of the <k>th. */
size_t sl__discover_ngroups(const struct sl_discover *d);
size_t sl__discover_group(const struct sl_discover *d, size_t k);
/* Copies the <k>th discovering group's figures into <*out>. Any thread. */
void sl__discover_stats(const struct sl_discover *d, size_t k, struct sl_discover_stats *out);

/* ---- the pure parts ---- */

/* A growing set of backend specs. Zero-initialise; free with sl__dset_fini(). */
struct sl__dset {
	struct sl_backend_spec *v;
	size_t n, cap;
};

/* Appends <b>. 0, -ENOMEM, or -ENOSPC past SL_CONFIG_BACKENDS_MAX entries. */
int sl__dset_push(struct sl__dset *s, const struct sl_backend_spec *b);
/*
 * Sorts by address, drops later entries with an address seen before, and makes repeated names
 * unique ("NAME", "NAME#2", ... in address order), so the same answer in another record order
 * gives the same set.
 */
void sl__dset_normalize(struct sl__dset *s);
/* true if both (normalised) sets hold the same names, addresses and weights in order. */
bool sl__dset_equal(const struct sl__dset *a, const struct sl__dset *b);
void sl__dset_fini(struct sl__dset *s);

/*
 * The interval until the next resolution for an answer with TTL <ttl_s> seconds: the TTL in ms
 * clamped to [ttl_min, ttl_max] of <d>.
 */
uint32_t sl__discover_interval_ms(const struct sl_config_discover *d, uint32_t ttl_s);

/*
 * Appends to <set> one backend per address record of family <family> (AF_INET: A, AF_INET6:
 * AAAA) in the answer <abuf> (<alen> bytes), each with <port> and <weight>, named <name> (an
 * SRV target's "host:port"; sl__dset_normalize() numbers repeats) or, when <name> is NULL or
 * too long, by its address text. Lowers <*ttl_s> to the smallest TTL seen. 0, -ENODATA (no such
 * record), -EBADMSG (not a DNS answer c-ares can parse), -ENOMEM, -ENOSPC.
 */
int sl__discover_parse_addrs(const unsigned char *abuf, int alen, int family, uint16_t port,
                             uint32_t weight, const char *name, struct sl__dset *set,
                             uint32_t *ttl_s);

/*
 * Lowers <*ttl_s> to the smallest TTL of the answer records of <type> (ns_t_srv, ...) in
 * <abuf> (<alen> bytes); a TTL with its top bit set counts as 0 (RFC 2181). Only the header,
 * question and answer sections are read; names are checked by c-ares. 0, or -EBADMSG when the
 * message is cut short or a name is bad (<*ttl_s> may then be lowered already).
 */
int sl__discover_answer_ttl(const unsigned char *abuf, int alen, unsigned type, uint32_t *ttl_s);

/* One SRV record picked from an answer. */
struct sl__srv_target {
	char host[SL_CONFIG_DNS_NAME_MAX];
	uint16_t port;
	uint32_t weight; /* the record's weight, 0 raised to 1 (the balancers need >= 1) */
};

/*
 * Parses SRV answer <abuf> (<alen> bytes) and stores in <out> (at most <max>) the records of
 * the lowest priority present, in answer order, and their number in <*n>. A record whose
 * target is "." (the service is not offered) or longer than a DNS name is skipped. 0,
 * -ENODATA (no usable record), -EBADMSG.
 */
int sl__discover_parse_srv(const unsigned char *abuf, int alen, struct sl__srv_target *out,
                           size_t max, size_t *n);

#endif /* SLUICE_PROXY_DISCOVER_H */
