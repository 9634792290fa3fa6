// SPDX-License-Identifier: MIT
/*
 * Link-time stand-ins for sluice-static (cmake/sluice-static.cmake links with
 * --wrap=getaddrinfo,--wrap=freeaddrinfo). sluice resolves no names; the only caller is libnuma's
 * numa_parse_nodestring() ("ip:" node syntax), which sluice never calls. Without these, glibc's
 * getaddrinfo and the NSS loader it drags in would be linked into the static binary.
 */
#include <errno.h>
#include <netdb.h>

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
