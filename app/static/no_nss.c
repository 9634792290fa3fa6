// SPDX-License-Identifier: MIT
/*
 * Link-time stand-ins for sluice-static (cmake/sluice-static.cmake links with --wrap for each).
 * sluice resolves names only through c-ares's own DNS client. getaddrinfo: the only caller is
 * libnuma's numa_parse_nodestring() ("ip:" node syntax), never called. getservbyname and
 * getservbyport_r: called only by ares_getaddrinfo() and ares_getnameinfo(), never called, whose
 * objects the parsers pull in. Without these, glibc's NSS loader would be linked in.
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
void __wrap_freeaddrinfo(struct addrinfo *res);

/* Refuses every lookup: EAI_SYSTEM with errno ENOSYS; *<res> is left alone. */
int
__wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	(void)res;
	errno = ENOSYS;
	return EAI_SYSTEM;
}

/* Nothing to free: __wrap_getaddrinfo() never returns a list. */
void
__wrap_freeaddrinfo(struct addrinfo *res)
{
	(void)res;
}

struct servent *__wrap_getservbyname(const char *name, const char *proto);
int __wrap_getservbyport_r(int port, const char *proto, struct servent *buf, char *data, size_t len,
                           struct servent **res);

/* No service is known: NULL. */
struct servent *
__wrap_getservbyname(const char *name, const char *proto)
{
	(void)name;
	(void)proto;
	return NULL;
}

/* No service is known: 0 with *<res> NULL, as glibc reports "not found". */
int
__wrap_getservbyport_r(int port, const char *proto, struct servent *buf, char *data, size_t len,
                       struct servent **res)
{
	(void)port;
	(void)proto;
	(void)buf;
	(void)data;
	(void)len;
	*res = NULL;
	return 0;
}
