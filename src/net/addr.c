// SPDX-License-Identifier: MIT
/*
 * Parsing and formatting of "HOST:PORT" socket addresses (include/sluice/addr.h). Numeric hosts
 * only (plus "localhost"), so parsing never blocks on DNS. Used by the config loader and the
 * command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>

static int
parse_port(const char *s, bool allow_port0, unsigned *port, const char **why)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9') {
		*why = "expected a port number after ':'";
		return -EINVAL;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0') {
		*why = "port must be a decimal number";
		return -EINVAL;
	}
	if (errno == ERANGE || v > 65535 || (v == 0 && !allow_port0)) {
		*why = allow_port0 ? "port out of range (0-65535)" : "port out of range (1-65535)";
		return -EINVAL;
	}
	*port = (unsigned)v;
	return 0;
}

/* an address written with a zone (fe80::1%eth0): the kernel needs one only for a link-local
 * address, which no configured address may be (sl_addr_check_configured()) */
#define ZONED                                                                                      \
	"an IPv6 address with a zone (%eth0), which sluice does not take: use a global or "        \
	"unique-local address"

int
sl_addr_parse(struct sl_addr *a, const char *text, bool allow_port0, const char **why)
{
	const char *dummy, *colon, *host_end, *host = text;
	char hostbuf[INET6_ADDRSTRLEN + 1];
	unsigned port;
	size_t hlen;
	int err;

	if (!why)
		why = &dummy;
	memset(a, 0, sizeof(*a));
	if (!text || !*text) {
		*why = "expected an address such as 127.0.0.1:8080 or [::1]:8080";
		return -EINVAL;
	}
	if (text[0] == '[') {
		host = text + 1;
		host_end = strchr(host, ']');
		if (!host_end) {
			*why = "missing ']' after the IPv6 address";
			return -EINVAL;
		}
		colon = host_end + 1;
		if (*colon != ':') {
			*why = "expected ':PORT' after ']'";
			return -EINVAL;
		}
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			*why = "expected HOST:PORT (IPv6 as [::1]:PORT)";
			return -EINVAL;
		}
		if (memchr(text, ':', (size_t)(colon - text))) {
			*why = "IPv6 addresses must be written in brackets: [::1]:PORT";
			return -EINVAL;
		}
		host_end = colon;
	}
	hlen = (size_t)(host_end - host);
	if (hlen == 0 || hlen >= sizeof(hostbuf)) {
		*why = "expected a numeric host before ':PORT'";
		return -EINVAL;
	}
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	err = parse_port(colon + 1, allow_port0, &port, why);
	if (err)
		return err;

	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, hostbuf, &s6->sin6_addr) != 1) {
			*why = strchr(hostbuf, '%') == NULL ? "not a valid IPv6 address" : ZONED;
			return -EINVAL;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

	if (strcmp(hostbuf, "localhost") == 0)
		strcpy(hostbuf, "127.0.0.1");
	if (inet_pton(AF_INET, hostbuf, &s4->sin_addr) != 1) {
		/* "127.0.0.050", "127.1", "0x7f000001": numbers, not a name */
		*why = strspn(hostbuf, "0123456789.") == strlen(hostbuf) ||
		                       strncmp(hostbuf, "0x", 2) == 0
		               ? "not a valid IPv4 address (four decimal numbers 0-255 with no "
		                 "leading zeros, as 127.0.0.1)"
		               : "not a valid IPv4 address (host names are not resolved)";
		return -EINVAL;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	a->len = sizeof(*s4);
	return 0;
}

char *
sl_addr_format(const struct sl_addr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, size, "(unset)");
	}
	return buf;
}

char *
sl_addr_format_ip(const struct sl_addr *a, char *buf, size_t size)
{
	const void *ip = a->ss.ss_family == AF_INET6
	                         ? (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr
	                         : (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family != AF_INET6 && a->ss.ss_family != AF_INET)
		snprintf(buf, size, "(unset)");
	else
		snprintf(buf, size, "%s", inet_ntop(a->ss.ss_family, ip, host, sizeof(host)));
	return buf;
}

unsigned
sl_addr_port(const struct sl_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return 0;
}

void
sl_addr_set_port(struct sl_addr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
	else if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
}

const void *
sl_addr_ip_bytes(const struct sl_addr *a, size_t *n)
{
	if (a->ss.ss_family == AF_INET6) {
		*n = 16;
		return &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	}
	*n = 4;
	return &((const struct sockaddr_in *)&a->ss)->sin_addr;
}

bool
sl_addr_is_v4_mapped(const struct sl_addr *a, char *why, size_t size)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	struct sl_addr v4 = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&v4.ss;
	char text[SL_ADDR_STRLEN];

	if (a->ss.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return false;
	if (why == NULL || size == 0)
		return true;
	s4->sin_family = AF_INET;
	s4->sin_port = s6->sin6_port;
	memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], sizeof(s4->sin_addr));
	if (s4->sin_port == 0)
		sl_addr_format_ip(&v4, text, sizeof(text));
	else
		sl_addr_format(&v4, text, sizeof(text));
	snprintf(why, size,
	         "an IPv4 address in IPv6 form (IPv4-mapped): write the IPv4 address, %s", text);
	return true;
}

/* The IP bytes of <a> and <b> in <*pa>, <*pb> (<*n> each), if both have one family and port. */
static bool
same_family_and_port(const struct sl_addr *a, const struct sl_addr *b, const void **pa,
                     const void **pb, size_t *n)
{
	if (a->ss.ss_family != b->ss.ss_family || sl_addr_port(a) != sl_addr_port(b))
		return false;
	*pa = sl_addr_ip_bytes(a, n);
	*pb = sl_addr_ip_bytes(b, n); /* the same family: the same length */
	return true;
}

bool
sl_addr_equal(const struct sl_addr *a, const struct sl_addr *b)
{
	const void *pa, *pb;
	size_t n;

	return same_family_and_port(a, b, &pa, &pb, &n) && memcmp(pa, pb, n) == 0;
}

/* true if <n> bytes at <p> are all zero: the wildcard address */
static bool
ip_is_any(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

bool
sl_addr_is_any(const struct sl_addr *a)
{
	const void *p;
	size_t n;

	if (a == NULL || (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6))
		return false;
	p = sl_addr_ip_bytes(a, &n);
	return ip_is_any(p, n);
}

bool
sl_addr_unmap(struct sl_addr *a)
{
	static const unsigned char prefix[12] = {[10] = 0xff, [11] = 0xff};
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (a->ss.ss_family != AF_INET6 || memcmp(s6->sin6_addr.s6_addr, prefix, 12) != 0)
		return false;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	memset(&a->ss, 0, sizeof(a->ss));
	memcpy(&a->ss, &s4, sizeof(s4));
	a->len = sizeof(s4);
	return true;
}

const char *
sl_addr_tcp_unusable(const struct sl_addr *a)
{
	const unsigned char *b;
	size_t n;

	if (a == NULL || (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6))
		return NULL;
	b = sl_addr_ip_bytes(a, &n);
	if (n == 4 && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return "the broadcast address";
	if ((n == 4 && (b[0] & 0xf0) == 0xe0) || (n == 16 && b[0] == 0xff))
		return "a multicast address";
	return NULL;
}

int
sl_addr_parse_configured(struct sl_addr *a, const char *text, bool allow_port0, char *why,
                         size_t size)
{
	const char *bad = NULL;

	if (sl_addr_parse(a, text, allow_port0, &bad) != 0) {
		snprintf(why, size, "%s", bad);
		return -EINVAL;
	}
	return sl_addr_check_configured(a, why, size);
}

int
sl_addr_check_configured(const struct sl_addr *a, char *why, size_t size)
{
	const char *bad;

	if (sl_addr_is_v4_mapped(a, why, size))
		return -EINVAL;
	if ((bad = sl_addr_tcp_unusable(a)) != NULL) {
		snprintf(why, size, "%s, which TCP cannot use", bad);
		return -EINVAL;
	}
	if (a->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr)) {
		/* the kernel takes one only with an interface (a zone: fe80::1%eth0), which an
		 * address here cannot name: every bind or connect would fail */
		snprintf(why, size,
		         "a link-local address (fe80::/10), which needs an interface "
		         "sluice cannot name: use a global or unique-local one");
		return -EINVAL;
	}
	return 0;
}

bool
sl_addr_overlap(const struct sl_addr *a, const struct sl_addr *b)
{
	const void *pa, *pb;
	size_t n;

	return same_family_and_port(a, b, &pa, &pb, &n) &&
	       (memcmp(pa, pb, n) == 0 || ip_is_any(pa, n) || ip_is_any(pb, n));
}

/* true if <n> IP bytes at <p> are a loopback address: 127.0.0.0/8 or ::1 */
static bool
ip_is_loopback(const void *p, size_t n)
{
	const unsigned char *b = p;

	if (n == 4)
		return b[0] == 127;
	return ip_is_any(b, 15) && b[15] == 1;
}

bool
sl_addr_reaches(const struct sl_addr *to, const struct sl_addr *listener)
{
	static const unsigned char loopback4[4] = {127, 0, 0, 1};
	static const unsigned char loopback6[16] = {[15] = 1};
	const void *pt, *pl;
	size_t n;

	if (!same_family_and_port(to, listener, &pt, &pl, &n))
		return false;
	if (ip_is_any(pt, n))
		pt = n == 4 ? loopback4 : loopback6;
	return memcmp(pt, pl, n) == 0 || (ip_is_any(pl, n) && ip_is_loopback(pt, n));
}
