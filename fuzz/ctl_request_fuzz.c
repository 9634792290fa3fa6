// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the control socket's request parser (src/admin/ctl_parse.c): the input
 * is one request line as a client sends it. Every refusal must say why; whatever parses must
 * name a known command, hold NUL-terminated, non-empty names for the backend commands and
 * (and for ban and unban, its listener unless "*") values in range, and parse the same again from
 * its own words (the canonical line).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>

#include "admin/ctl_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *s)
{
	size_t n = strnlen(s, SL_CONFIG_NAME_MAX);

	if (n == 0 || n == SL_CONFIG_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] >= 0x7f)
			abort(); /* a name is one word of printable ASCII */
}

/* The request <r> written back as a line, in canonical words. */
static int
canonical(const struct sl__ctl_req *r, char *buf, size_t size)
{
	char a[SL_ADDR_STRLEN];

	switch (r->cmd) {
	case SL__CTL_WEIGHT:
		return snprintf(buf, size, "set weight %s/%s %u", r->group, r->name, r->weight);
	case SL__CTL_ADD:
		return snprintf(buf, size, "add backend %s %s %s weight %u max_connections %u",
		                r->group, r->name, sl_addr_format(&r->addr, a, sizeof(a)),
		                r->weight, r->max_connections);
	case SL__CTL_ENABLE:
		return snprintf(buf, size, "enable backend %s/%s", r->group, r->name);
	case SL__CTL_DISABLE:
		return snprintf(buf, size, "disable backend %s/%s", r->group, r->name);
	case SL__CTL_DRAIN:
		return snprintf(buf, size, "drain backend %s/%s", r->group, r->name);
	case SL__CTL_REMOVE:
		return snprintf(buf, size, "remove backend %s/%s", r->group, r->name);
	case SL__CTL_CLOSE_SESSIONS:
		return snprintf(buf, size, "close sessions %s/%s", r->group, r->name);
	case SL__CTL_PROFILE:
		return snprintf(buf, size, "profile %u", r->seconds);
	case SL__CTL_UNBAN:
		return snprintf(buf, size, "unban %s %s", r->every ? "*" : r->name,
		                sl_addr_format(&r->addr, a, sizeof(a)));
	case SL__CTL_BAN:
		return snprintf(buf, size, "ban %s %s %u", r->every ? "*" : r->name,
		                sl_addr_format(&r->addr, a, sizeof(a)), r->seconds);
	default:
		return snprintf(buf, size, "%s", sl__ctl_usage[r->cmd]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl__ctl_req r, again;
	char why[256] = "", line[SL__CTL_REQUEST_MAX * 2];
	int n;

	if (sl__ctl_parse((const char *)data, size, &r, why, sizeof(why)) != 0) {
		if (why[0] == '\0' || strnlen(why, sizeof(why)) == sizeof(why))
			abort(); /* every refusal says why, NUL-terminated */
		return 0;
	}
	if ((size_t)r.cmd >= sl__ctl_nusage)
		abort();
	if (r.cmd >= SL__CTL_ENABLE && r.cmd <= SL__CTL_CLOSE_SESSIONS) { /* a backend command */
		check_name(r.group);
		check_name(r.name);
	}
	if ((r.cmd == SL__CTL_UNBAN || r.cmd == SL__CTL_BAN) && !r.every)
		check_name(r.name);
	if (r.cmd == SL__CTL_BAN && (r.seconds < 1 || r.seconds > SL__CTL_BAN_MAX))
		abort();
	if (r.weight < 1 || r.weight > SL_CONFIG_WEIGHT_MAX)
		abort();
	if (r.cmd == SL__CTL_PROFILE && (r.seconds < 1 || r.seconds > SL__CTL_PROFILE_MAX))
		abort();
	n = canonical(&r, line, sizeof(line));
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0;
	if (sl__ctl_parse(line, (size_t)n, &again, why, sizeof(why)) != 0)
		abort(); /* what parsed once parses again from its canonical words */
	if (again.cmd != r.cmd || strcmp(again.group, r.group) != 0 ||
	    strcmp(again.name, r.name) != 0 || again.weight != r.weight ||
	    again.max_connections != r.max_connections || again.every != r.every ||
	    again.seconds != r.seconds ||
	    ((r.cmd == SL__CTL_ADD || r.cmd == SL__CTL_UNBAN || r.cmd == SL__CTL_BAN) &&
	     !sl_addr_equal(&again.addr, &r.addr)))
		abort();
	return 0;
}
