// SPDX-License-Identifier: MIT
/*
 * The key table (config_keys.h) built from SL__CONFIG_KEYS, the names of the enums only the
 * file uses, the section lookup, the table's defaults, the compares the kinds alone cannot do,
 * and sl_config_keys_print() (`sluice --list-keys`).
 */
#include "config/config_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *const sl__config_xdp_modes[SL_XDP_MODES] = {"auto", "native", "generic"};
const char *const sl__config_steerings[SL_STEERINGS] = {"hash", "cpu"};
const char *const sl__config_cuts[SL_CUTS] = {"close", "reset"};
const char *const sl__config_proxy_versions[4] = {"off", "v1", "v2", "any"};
const char *const sl__config_health_types[3] = {"none", "tcp", "send_expect"};
const char *const sl__config_discover_types[4] = {"a", "aaaa", "any", "srv"};

const struct sl__config_key sl__config_keys[SL__KEYS] = {
#define SL__KEY_ENTRY(sec, id, nm, spec, rl)                                                       \
	[SL__KEY_##sec##_##                                                                        \
	        id] = {.section = SL__SEC_##sec, .name = (nm), spec, .reload = SL__RELOAD_##rl},
        SL__CONFIG_KEYS(SL__KEY_ENTRY)
#undef SL__KEY_ENTRY
};

const char *const sl__config_section_names[SL__SECTIONS] = {
        [SL__SEC_TOP] = "top",
        [SL__SEC_LOG] = "log",
        [SL__SEC_ADMIN] = "admin",
        [SL__SEC_CONTROL] = "control",
        [SL__SEC_ACCESS_LOG] = "access_log",
        [SL__SEC_ALERTS] = "alerts",
        [SL__SEC_WEBHOOK] = "webhook",
        [SL__SEC_RULE] = "rule",
        [SL__SEC_PROFILING] = "profiling",
        [SL__SEC_XDP] = "xdp",
        [SL__SEC_LISTENER] = "listener",
        [SL__SEC_TIMEOUT] = "timeout",
        [SL__SEC_MIN_RATE] = "min_rate",
        [SL__SEC_PROXY_IN] = "proxy_in",
        [SL__SEC_RATE] = "rate",
        [SL__SEC_SOURCE] = "source",
        [SL__SEC_BAN] = "ban",
        [SL__SEC_BANDWIDTH] = "bandwidth",
        [SL__SEC_BANDWIDTH_LIMIT] = "bandwidth_limit",
        [SL__SEC_GROUP] = "group",
        [SL__SEC_HEALTH] = "health",
        [SL__SEC_PASSIVE] = "passive",
        [SL__SEC_WARM] = "warm",
        [SL__SEC_DISCOVER] = "discover",
        [SL__SEC_BACKEND] = "backend",
};

size_t
sl__config_section_keys(enum sl__config_section section, size_t *first)
{
	size_t i = 0, n = 0;

	while (i < SL__KEYS && sl__config_keys[i].section != section)
		i++;
	*first = i;
	while (i + n < SL__KEYS && sl__config_keys[i + n].section == section)
		n++;
	return n;
}

void
sl__config_section_defaults(enum sl__config_section section, void *base)
{
	size_t first, n = sl__config_section_keys(section, &first);

	for (size_t i = first; i < first + n; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		unsigned e = k->def;
		bool b = k->def != 0;
		char *at;

		if (k->walker)
			continue;
		at = (char *)base + k->offset;
		switch (k->kind) {
		case SL__KIND_U32:
		case SL__KIND_MS:
		case SL__KIND_SIZE:
			memcpy(at, &k->def, sizeof(k->def));
			break;
		case SL__KIND_BOOL:
			memcpy(at, &b, sizeof(b));
			break;
		case SL__KIND_ENUM:
			memcpy(at, &e, sizeof(e));
			break;
		case SL__KIND_MAP:
			sl__config_section_defaults(k->child, at);
			break;
		default:
			break; /* zero: no name, no address, no items */
		}
	}
}

char *
sl__config_format_ms(uint32_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0");
	else if (ms % 3600000u == 0)
		snprintf(buf, size, "%" PRIu32 "h", ms / 3600000u);
	else if (ms % 60000u == 0)
		snprintf(buf, size, "%" PRIu32 "m", ms / 60000u);
	else if (ms % 1000u == 0)
		snprintf(buf, size, "%" PRIu32 "s", ms / 1000u);
	else
		snprintf(buf, size, "%" PRIu32 "ms", ms);
	return buf;
}

bool
sl__config_same_strbuf(const void *a, const void *b)
{
	return strcmp(a, b) == 0;
}

bool
sl__config_same_filebuf(const void *a, const void *b)
{
	const char *x = a, *y = b;

	if (x[0] == '\0' || y[0] == '\0')
		return x[0] == y[0];
	return sl_config_same_file(x, y);
}

bool
sl__config_same_fileptr(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0 ||
	       (strcmp(x, "-") != 0 && strcmp(y, "-") != 0 && sl_config_same_file(x, y));
}

bool
sl__config_same_addr(const void *a, const void *b)
{
	const struct sl_addr *x = a, *y = b;

	return x->len == y->len && (x->len == 0 || sl_addr_equal(x, y));
}

bool
sl__config_same_u32(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(uint32_t)) == 0;
}

bool
sl__config_same_strptr(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

bool
sl__config_same_size(const void *a, const void *b)
{
	return *(const size_t *)a == *(const size_t *)b;
}

/* a source_limits: key with a limit, or none, and a ban or none: the source table is built
 * at start */
bool
sl__config_same_source_on(const void *a, const void *b)
{
	const struct sl_config_source *x = a, *y = b;

	/* the table keeps strike and ban state only when built with a ban */
	return x->on == y->on && (x->limits.ban.strikes != 0) == (y->limits.ban.strikes != 0);
}

bool
sl__config_has_admin(const void *m)
{
	return ((const struct sl_config_admin *)m)->addr.len != 0;
}

bool
sl__config_has_access_log(const void *m)
{
	return ((const struct sl_config_access_log *)m)->path != NULL;
}

bool
sl__config_has_control(const void *m)
{
	return ((const struct sl_config_control *)m)->path[0] != '\0';
}

bool
sl__config_has_alerts(const void *m)
{
	return ((const struct sl_config_alerts *)m)->nrules != 0;
}

bool
sl__config_has_xdp(const void *m)
{
	return ((const struct sl_config_xdp *)m)->interface[0] != '\0';
}

bool
sl__config_has_discover(const void *m)
{
	return ((const struct sl_config_discover *)m)->type != SL_DISCOVER_NONE;
}

static bool
same_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* The struct that holds the field at <field>, <offset> bytes into it. */
static const void *
holder(const void *field, size_t offset)
{
	return (const char *)field - offset;
}

/*
 * Whether a listener keeps its socket from bandwidth <a> to <b>: bandwidth.source set or not
 * (the source table keeps byte buckets only when built so), and, on a listener whose forwarder
 * cannot pause a direction, any limit set or not (it is opened as another forwarder while it
 * has one: sl_config_fwd_pauses()).
 */
bool
sl__config_bandwidth_keeps_listener(const void *a, const void *b)
{
	const struct sl_config_bandwidth *x = a, *y = b;
	const struct sl_config_listener *lx =
	        holder(a, offsetof(struct sl_config_listener, bandwidth));
	const struct sl_config_listener *ly =
	        holder(b, offsetof(struct sl_config_listener, bandwidth));
	bool fallback = !sl_config_fwd_pauses(lx->forward) || !sl_config_fwd_pauses(ly->forward);

	if (fallback && (x->limited != 0) != (y->limited != 0))
		return false;
	return (x->source[0].rate != 0 || x->source[1].rate != 0) ==
	       (y->source[0].rate != 0 || y->source[1].rate != 0);
}

/*
 * workers: the same value, or the same count (0 and the count it stands for are the same; for
 * a running file, the count it started, whatever CPUs the process may use now)
 */
bool
sl__config_same_workers(const void *a, const void *b)
{
	const struct sl_config *x = holder(a, offsetof(struct sl_config, workers));
	const struct sl_config *y = holder(b, offsetof(struct sl_config, workers));

	return x->workers == y->workers || sl_config_workers(x) == sl_config_workers(y);
}

bool
sl__config_same_health_send(const void *a, const void *b)
{
	const struct sl_config_health *x = holder(a, offsetof(struct sl_config_health, send));
	const struct sl_config_health *y = holder(b, offsetof(struct sl_config_health, send));

	return same_bytes(x->send, x->send_len, y->send, y->send_len);
}

bool
sl__config_same_health_expect(const void *a, const void *b)
{
	const struct sl_config_health *x = holder(a, offsetof(struct sl_config_health, expect));
	const struct sl_config_health *y = holder(b, offsetof(struct sl_config_health, expect));

	return same_bytes(x->expect, x->expect_len, y->expect, y->expect_len);
}

bool
sl__config_same_resolvers(const void *a, const void *b)
{
	const struct sl_config_discover *x =
	        holder(a, offsetof(struct sl_config_discover, resolvers));
	const struct sl_config_discover *y =
	        holder(b, offsetof(struct sl_config_discover, resolvers));

	if (x->nresolvers != y->nresolvers)
		return false;
	for (size_t i = 0; i < x->nresolvers; i++)
		if (!sl_addr_equal(&x->resolvers[i], &y->resolvers[i]))
			return false;
	return true;
}

static bool
same_cidr(const struct sl_cidr *x, const struct sl_cidr *y)
{
	return x->family == y->family && x->len == y->len &&
	       memcmp(x->addr, y->addr, sizeof(x->addr)) == 0;
}

/* true if listeners <x> and <y> hold the same <allow> (or deny) prefixes, in the same order */
static bool
same_acl_list(const struct sl_config_listener *x, const struct sl_config_listener *y, bool allow)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < x->nacl_rules && x->acl_rules[i].allow != allow)
			i++;
		while (j < y->nacl_rules && y->acl_rules[j].allow != allow)
			j++;
		if (i == x->nacl_rules || j == y->nacl_rules)
			return i == x->nacl_rules && j == y->nacl_rules;
		if (!same_cidr(&x->acl_rules[i].cidr, &y->acl_rules[j].cidr))
			return false;
		i++;
		j++;
	}
}

bool
sl__config_same_allow(const void *a, const void *b)
{
	return same_acl_list(holder(a, offsetof(struct sl_config_listener, acl_rules)),
	                     holder(b, offsetof(struct sl_config_listener, acl_rules)), true);
}

bool
sl__config_same_deny(const void *a, const void *b)
{
	return same_acl_list(holder(a, offsetof(struct sl_config_listener, acl_rules)),
	                     holder(b, offsetof(struct sl_config_listener, acl_rules)), false);
}

bool
sl__config_same_trusted(const void *a, const void *b)
{
	const struct sl_config_proxy_in *x =
	        holder(a, offsetof(struct sl_config_proxy_in, trusted_prefixes));
	const struct sl_config_proxy_in *y =
	        holder(b, offsetof(struct sl_config_proxy_in, trusted_prefixes));

	if (x->ntrusted_prefixes != y->ntrusted_prefixes)
		return false;
	for (size_t i = 0; i < x->ntrusted_prefixes; i++)
		if (!same_cidr(&x->trusted_prefixes[i], &y->trusted_prefixes[i]))
			return false;
	return true;
}

/* The reload column of --list-keys: live, reopen (the listener re-opens) or restart. */
static const char *
reload_text(const struct sl__config_key *k)
{
	/* the reload adds and removes groups (greload.c); the list's class is only how the compare
	 * walks into the groups it keeps, whose own keys say what each needs */
	if (k->kind == SL__KIND_LIST && k->child == SL__SEC_GROUP)
		return "live";
	switch (k->reload) {
	case SL__RELOAD_LIVE:
		return "live";
	case SL__RELOAD_REOPEN:
		return "reopen";
	default:
		return "restart";
	}
}

static const char *
kind_text(const struct sl__config_key *k)
{
	static const char *const text[] = {
	        [SL__KIND_U32] = "integer",   [SL__KIND_MS] = "duration",
	        [SL__KIND_SIZE] = "size",     [SL__KIND_BOOL] = "boolean",
	        [SL__KIND_ENUM] = "enum",     [SL__KIND_NAME] = "name",
	        [SL__KIND_ADDR] = "address",  [SL__KIND_OTHER] = "other",
	        [SL__KIND_MAP] = "mapping",   [SL__KIND_LIST] = "list",
	        [SL__KIND_NUMBER] = "number",
	};

	return k->type != NULL ? k->type : text[k->kind];
}

void
sl_config_keys_print(FILE *out)
{
	fprintf(out, "section\tkey\ttype\tmin\tmax\tdefault\treload\n");
	for (size_t i = 0; i < SL__KEYS; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		char lo[24] = "", hi[24] = "", def[256] = "";
		bool ranged = k->kind == SL__KIND_U32 || k->kind == SL__KIND_MS ||
		              k->kind == SL__KIND_SIZE;
		bool defaulted = !k->walker;

		if (ranged && k->kind == SL__KIND_MS) {
			sl__config_format_ms(k->lo, lo, sizeof(lo));
			if (k->hi != UINT32_MAX)
				sl__config_format_ms(k->hi, hi, sizeof(hi));
			if (defaulted)
				sl__config_format_ms(k->def, def, sizeof(def));
		} else if (ranged) {
			snprintf(lo, sizeof(lo), "%" PRIu32, k->lo);
			snprintf(hi, sizeof(hi), "%" PRIu32, k->hi);
			if (defaulted)
				snprintf(def, sizeof(def), "%" PRIu32, k->def);
		} else if (k->kind == SL__KIND_BOOL && defaulted) {
			snprintf(def, sizeof(def), "%s", k->def ? "true" : "false");
		}
		if (k->kind == SL__KIND_ENUM) {
			size_t o = 0;

			for (size_t e = 0; e < k->nnames && o < sizeof(def); e++)
				o += (size_t)snprintf(def + o, sizeof(def) - o, "%s%s",
				                      e ? "|" : "", k->names[e]);
			/* the type column lists the names; the default is the default's name */
			fprintf(out, "%s\t%s\tone of %s\t\t\t%s\t%s\n",
			        sl__config_section_names[k->section], k->name, def,
			        k->def_text != NULL ? k->def_text
			        : defaulted         ? k->names[k->def]
			                            : "",
			        reload_text(k));
			continue;
		}
		if (k->def_text != NULL)
			snprintf(def, sizeof(def), "%s", k->def_text);
		fprintf(out, "%s\t%s\t%s%s%s\t%s\t%s\t%s\t%s\n",
		        sl__config_section_names[k->section], k->name, kind_text(k),
		        k->kind == SL__KIND_MAP || k->kind == SL__KIND_LIST ? " of " : "",
		        k->kind == SL__KIND_MAP || k->kind == SL__KIND_LIST
		                ? sl__config_section_names[k->child]
		                : "",
		        lo, hi, def, reload_text(k));
	}
}
