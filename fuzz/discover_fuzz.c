// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what DNS discovery reads of an answer (src/proxy/discover.c): the TTL
 * walk over the answer section (sluice's own framing, names checked by c-ares), the SRV
 * selection and the A/AAAA conversion (c-ares parsers), then the set's order and naming. Every
 * backend made must have its family's address, a NUL-terminated name and a weight >= 1, and
 * the normalised set must hold no address twice.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sluice/addr.h>

#include "proxy/discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_set(const struct sl__dset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct sl_backend_spec *b = &s->v[i];

		if (b->weight == 0 || memchr(b->name, '\0', sizeof(b->name)) == NULL ||
		    b->name[0] == '\0')
			abort();
		if (b->addr.ss.ss_family != AF_INET && b->addr.ss.ss_family != AF_INET6)
			abort();
		if (i > 0 && sl_addr_equal(&s->v[i - 1].addr, &b->addr))
			abort(); /* normalised: no address twice */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl__srv_target t[16];
	struct sl__dset set = {0};
	uint32_t ttl = UINT32_MAX;
	int len = size > 65535 ? 65535 : (int)size;
	size_t n = 0;

	sl__discover_answer_ttl(data, len, 33, &ttl);
	if (sl__discover_parse_srv(data, len, t, 16, &n) == 0) {
		if (n == 0 || n > 16)
			abort();
		for (size_t i = 0; i < n; i++)
			if (t[i].weight == 0 || t[i].port == 0 ||
			    memchr(t[i].host, '\0', sizeof(t[i].host)) == NULL)
				abort();
	}
	sl__discover_parse_addrs(data, len, AF_INET, 80, 1, NULL, &set, &ttl);
	sl__discover_parse_addrs(data, len, AF_INET6, 80, 2, "t.example:80", &set, &ttl);
	sl__dset_normalize(&set);
	check_set(&set);
	sl__dset_fini(&set);
	return 0;
}
