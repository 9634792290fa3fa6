// SPDX-License-Identifier: MIT
/*
 * CIDR prefix parsing and formatting (include/sluice/cidr.h). Addresses go through inet_pton()
 * and inet_ntop(), which neither allocate nor consult the resolver; this file adds the "/LEN"
 * part, the host-bit check and IPv4-mapped normalisation. The prefixes feed the longest-prefix
 * match table in lpm.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <sluice/cidr.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* true if any bit of <addr> (<nbytes> bytes) at or beyond bit <len> is set */
static bool
has_host_bits(const uint8_t *addr, unsigned nbytes, unsigned len)
{
	unsigned i = len / 8;

	if (i < nbytes && (addr[i] & (uint8_t)(0xffu >> (len % 8))))
		return true;
	for (i++; i < nbytes; i++)
		if (addr[i])
			return true;
	return false;
}

static void
clear_host_bits(uint8_t *addr, unsigned nbytes, unsigned len)
{
	unsigned i = len / 8;

	if (i < nbytes)
		addr[i] &= (uint8_t) ~(0xffu >> (len % 8));
	for (i++; i < nbytes; i++)
		addr[i] = 0;
}

static int
parse_len(const char *s, unsigned max, unsigned *len, const char **why)
{
	unsigned v = 0;
	size_t i;

	if (*s == '\0') {
		*why = "expected a prefix length after '/'";
		return -EINVAL;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = "prefix length must be a decimal number";
			return -EINVAL;
		}
		if (i > 0 && s[0] == '0') {
			*why = "prefix length has a leading zero";
			return -EINVAL;
		}
		/* out of range, however long: the message below says the range */
		if (i >= 3) {
			v = max + 1;
			continue;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max) {
		*why = max == 32 ? "prefix length out of range (0-32 for IPv4)"
		                 : "prefix length out of range (0-128 for IPv6)";
		return -EINVAL;
	}
	*len = v;
	return 0;
}

int
sl_cidr_parse(struct sl_cidr *c, const char *text, unsigned flags, const char **why)
{
	const char *dummy, *slash;
	char host[INET6_ADDRSTRLEN];
	struct sl_cidr r;
	unsigned max, len;
	size_t n;
	int err;

	if (!why)
		why = &dummy;
	if (flags & ~(unsigned)SL_CIDR_MASK_HOST_BITS) {
		*why = "unknown flags";
		return -EINVAL;
	}
	slash = strchr(text, '/');
	n = slash ? (size_t)(slash - text) : strlen(text);
	if (n == 0) {
		*why = "expected an IPv4 or IPv6 address";
		return -EINVAL;
	}
	if (n >= sizeof(host)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(host, text, n);
	host[n] = '\0';
	memset(&r, 0, sizeof(r));
	if (inet_pton(AF_INET, host, r.addr) == 1) {
		r.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, r.addr) == 1) {
		r.family = AF_INET6;
		max = 128;
	} else {
		*why = strchr(host, '%') != NULL   ? "an IPv6 address with a zone (%eth0), which a "
		                                     "prefix cannot have"
		       : strchr(host, ':') != NULL ? "not a numeric IPv6 address"
		                                   : "not a numeric IPv4 address";
		return -EINVAL;
	}
	len = max;
	if (slash && (err = parse_len(slash + 1, max, &len, why)) < 0)
		return err;
	if (has_host_bits(r.addr, max / 8, len)) {
		if (!(flags & SL_CIDR_MASK_HOST_BITS)) {
			*why = "host bits set beyond the prefix length";
			return -EINVAL;
		}
		clear_host_bits(r.addr, max / 8, len);
	}
	r.len = (uint8_t)len;
	/* ::ffff:a.b.c.d/n names IPv4 space when it fixes all 96 mapping bits; lookups unmap
	 * addresses the same way, so the prefix must live in the IPv4 table to ever match */
	if (r.family == AF_INET6 && len >= 96 && memcmp(r.addr, v4mapped_prefix, 12) == 0) {
		memmove(r.addr, r.addr + 12, 4);
		memset(r.addr + 4, 0, 12);
		r.family = AF_INET;
		r.len = (uint8_t)(len - 96);
	}
	*c = r;
	return 0;
}

bool
sl_cidr_is_valid(const struct sl_cidr *c)
{
	if (c->family == AF_INET)
		return c->len <= 32 && !has_host_bits(c->addr, 16, c->len);
	if (c->family == AF_INET6)
		return c->len <= 128 && !has_host_bits(c->addr, 16, c->len);
	return false;
}

char *
sl_cidr_format(const struct sl_cidr *c, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (!sl_cidr_is_valid(c))
		return NULL;
	if (!inet_ntop(c->family, c->addr, host, sizeof(host)))
		return NULL;
	n = snprintf(buf, size, "%s/%u", host, (unsigned)c->len);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

bool
sl_cidr_contains(const struct sl_cidr *c, int family, const void *addr)
{
	const uint8_t *a = addr;
	unsigned full = c->len / 8, rest = c->len % 8;

	if (family != c->family)
		return false;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	return rest == 0 || !((a[full] ^ c->addr[full]) & (uint8_t) ~(0xffu >> rest));
}

bool
sl_cidr_unmap(const uint8_t a6[16], uint8_t a4[4])
{
	if (memcmp(a6, v4mapped_prefix, 12) != 0)
		return false;
	memcpy(a4, a6 + 12, 4);
	return true;
}
