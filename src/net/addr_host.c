// SPDX-License-Identifier: MIT
/*
 * This host's interface addresses (include/sluice/addr.h): which addresses a wildcard listener
 * takes besides the loopback ones, so a backend at one of them is known to be sluice itself.
 * A snapshot from getifaddrs(); a copy of the IP bytes, nothing else kept.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>

struct sl_host_addrs {
	size_t n;
	struct sl_addr v[]; /* port 0 */
};

struct sl_host_addrs *
sl_host_addrs_load(void)
{
	struct ifaddrs *list, *i;
	struct sl_host_addrs *h;
	size_t n = 0;

	if (getifaddrs(&list) != 0)
		return NULL;
	for (i = list; i != NULL; i = i->ifa_next)
		n += i->ifa_addr != NULL &&
		     (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
	h = calloc(1, sizeof(*h) + n * sizeof(h->v[0]));
	if (h == NULL) {
		freeifaddrs(list);
		errno = ENOMEM;
		return NULL;
	}
	for (i = list; i != NULL; i = i->ifa_next) {
		struct sl_addr *a = &h->v[h->n];

		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a->len = sizeof(struct sockaddr_in);
		else if (i->ifa_addr->sa_family == AF_INET6)
			a->len = sizeof(struct sockaddr_in6);
		else
			continue;
		memcpy(&a->ss, i->ifa_addr, a->len);
		sl_addr_set_port(a, 0);
		h->n++;
	}
	freeifaddrs(list);
	return h;
}

void
sl_host_addrs_free(struct sl_host_addrs *h)
{
	free(h);
}

bool
sl_host_addrs_has(const struct sl_host_addrs *h, const struct sl_addr *a)
{
	const void *pa, *pv;
	size_t na, nv;

	if (h == NULL || a == NULL)
		return false;
	pa = sl_addr_ip_bytes(a, &na);
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i].ss.ss_family != a->ss.ss_family)
			continue;
		pv = sl_addr_ip_bytes(&h->v[i], &nv);
		if (nv == na && memcmp(pa, pv, na) == 0)
			return true;
	}
	return false;
}

bool
sl_addr_reaches_here(const struct sl_addr *to, const struct sl_addr *listener,
                     const struct sl_host_addrs *h)
{
	return sl_addr_reaches(to, listener) ||
	       (sl_addr_is_any(listener) && to->ss.ss_family == listener->ss.ss_family &&
	        sl_addr_port(to) == sl_addr_port(listener) && sl_host_addrs_has(h, to));
}
