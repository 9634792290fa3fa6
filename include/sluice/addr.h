/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses as users write them: "HOST:PORT" with a numeric IPv4 host, "[V6]:PORT" for
 * IPv6, or "localhost:PORT". Parsing never resolves names through DNS, so it never blocks.
 * Thread safety: all functions are pure and may be called from any thread.
 */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sluice/common.h>

/* Longest text sl_addr_format() writes, with its NUL: "[" v6 "]:" port. */
#define SL_ADDR_STRLEN 56

struct sl_addr {
	struct sockaddr_storage ss;
	socklen_t len; /* 0 = unset */
};

/*
 * Parses <text> into <*a>. Returns 0, or -EINVAL with a static explanation in <*why> (if not
 * NULL) such as "port out of range (1-65535)". Port 0 is refused unless <allow_port0>.
 */
SL_API int sl_addr_parse(struct sl_addr *a, const char *text, bool allow_port0, const char **why);

/* Writes "1.2.3.4:80" or "[::1]:80" into <buf> (SL_ADDR_STRLEN bytes). Returns <buf>. */
SL_API char *sl_addr_format(const struct sl_addr *a, char *buf, size_t size);

/* Writes the IP alone, "1.2.3.4" or "::1", into <buf> (SL_ADDR_STRLEN bytes). Returns <buf>. */
SL_API char *sl_addr_format_ip(const struct sl_addr *a, char *buf, size_t size);

/* Port in host order. */
SL_API unsigned sl_addr_port(const struct sl_addr *a);

/* Sets <a>'s port (host order, 0-65535); an unset address is left as it is. */
SL_API void sl_addr_set_port(struct sl_addr *a, unsigned port);

/* true if both hold the same family, address and port. */
SL_API bool sl_addr_equal(const struct sl_addr *a, const struct sl_addr *b);

/*
 * true if sockets listening on <a> and on <b> would take the same port: the same family and port,
 * and the same address or the wildcard (0.0.0.0, ::) on either side. IPv6 listeners are
 * V6ONLY (sl_sock_listen()), so an IPv6 address never overlaps an IPv4 one.
 */
SL_API bool sl_addr_overlap(const struct sl_addr *a, const struct sl_addr *b);

/*
 * true if a connect to <to> from this host reaches a socket listening on <listener>, on any
 * host: the same family and port, and the same address; or <listener> a wildcard (0.0.0.0, ::)
 * and <to> a loopback address (127.0.0.0/8, ::1); a connect to the unspecified address
 * (0.0.0.0, ::) goes to the loopback one (127.0.0.1, ::1). Whether <to> is another address of
 * this host, which a wildcard listener takes too, only the host can tell: sl_addr_reaches_here().
 */
SL_API bool sl_addr_reaches(const struct sl_addr *to, const struct sl_addr *listener);

/* true if <a>'s IP is the wildcard (0.0.0.0, ::), whatever its port. */
SL_API bool sl_addr_is_any(const struct sl_addr *a);

/*
 * This host's interface addresses, loaded at one moment (getifaddrs()): the addresses other
 * than loopback ones that a wildcard listener takes too. sl_host_addrs_load() returns NULL
 * with errno set if they cannot be read (then sl_addr_reaches_here() is sl_addr_reaches()).
 */
struct sl_host_addrs;
SL_API struct sl_host_addrs *sl_host_addrs_load(void);
SL_API void sl_host_addrs_free(struct sl_host_addrs *h);
/* true if <a>'s IP (its port aside) is one of <h>'s; false for a NULL <h>. */
SL_API bool sl_host_addrs_has(const struct sl_host_addrs *h, const struct sl_addr *a);

/*
 * sl_addr_reaches(), and also: <listener> a wildcard and <to> one of this host's addresses
 * <h> (NULL: none known) with the listener's family and port, e.g. a backend 10.0.0.5:80 on a
 * host that has 10.0.0.5, with a listener on 0.0.0.0:80.
 */
SL_API bool sl_addr_reaches_here(const struct sl_addr *to, const struct sl_addr *listener,
                                 const struct sl_host_addrs *h);

/*
 * true if <a> is an IPv4-mapped IPv6 address ([::ffff:10.0.0.5]:80): an IPv4 address in IPv6
 * form, which sluice refuses wherever an address is configured, since its IPv6 listeners are
 * IPv6-only (and a connect to one works only from a socket that is not). Then, if <why> is not
 * NULL, writes what to do instead into it (<size> bytes): "an IPv4 address in IPv6 form
 * (IPv4-mapped): write the IPv4 address, 10.0.0.5:80" (the IP alone when the port is 0).
 */
SL_API bool sl_addr_is_v4_mapped(const struct sl_addr *a, char *why, size_t size);

/* Rewrites <a>, if IPv4-mapped (::ffff:a.b.c.d), as the IPv4 address it stands for, port kept:
 * true if it did. */
SL_API bool sl_addr_unmap(struct sl_addr *a);

/*
 * Why TCP cannot use <a>'s IP, as a phrase ("a multicast address", 224.0.0.0/4 or ff00::/8;
 * "the broadcast address", 255.255.255.255), or NULL if it may (or <a> is not IP). Pure.
 */
SL_API const char *sl_addr_tcp_unusable(const struct sl_addr *a);

/*
 * An address as sluice takes one wherever it is configured (a file, a flag, sluicectl):
 * sl_addr_parse(), then refused if IPv4-mapped (sl_addr_is_v4_mapped()), if TCP cannot use
 * it (a multicast address, 224.0.0.0/4 or ff00::/8, or 255.255.255.255: a listen there takes
 * no client, a connect fails) or if it is IPv6 link-local (fe80::/10: the kernel takes one only
 * with an interface, which the address cannot name). Returns 0, or -EINVAL with the reason in
 * <why> (<size> bytes).
 */
SL_API int sl_addr_parse_configured(struct sl_addr *a, const char *text, bool allow_port0,
                                    char *why, size_t size);

/* sl_addr_parse_configured()'s refusals of an address parsed otherwise (an IP without a port,
 * say): 0, or -EINVAL with the reason in <why> (<size> bytes). Pure. */
SL_API int sl_addr_check_configured(const struct sl_addr *a, char *why, size_t size);

/* Bytes of the IP address only (4 or 16), for flow hashing; sets <*n>. */
SL_API const void *sl_addr_ip_bytes(const struct sl_addr *a, size_t *n);

#endif /* SLUICE_ADDR_H */
