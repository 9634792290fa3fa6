// SPDX-License-Identifier: MIT
/*
 * The walk from libyaml's node tree to a struct sl_config: one function per mapping of the
 * schema (top level, log, listener, timeouts, group, health, passive, warm_pool, backend), each
 * checking its keys against a table and each value's type and range, recording an error at the
 * node and carrying on. Checks across nodes (names, references) are in config_validate.c.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <sluice/addr.h>
#include <sluice/cidr.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/lpm.h>

#include "config/config_int.h"
#include "config/config_keys.h"

/* Longest access_log path, bytes (PATH_MAX less its NUL). */
#define ACCESS_LOG_PATH_MAX 4095

/* The walker's values of one mapping, by key id: vals[SL__KEY_LISTENER_BACKLOG]. */
typedef yaml_node_t *key_vals[SL__KEYS];

/*
 * The node at <index>, as the walk reaches it. A node reached a second time was reached through
 * an alias; past SL_CONFIG_ALIAS_NODES_MAX such visits the load stops with one error (at the
 * node reached: libyaml keeps no mark of the alias itself) and this returns NULL.
 */
static yaml_node_t *
node_at(struct sl__config_load *x, int index)
{
	yaml_node_t *n = yaml_document_get_node(x->doc, index);
	size_t i = (size_t)index - 1;

	if (!n || !x->seen || i >= x->nseen)
		return n;
	if (!x->seen[i]) {
		x->seen[i] = 1;
		return n;
	}
	if (++x->alias_nodes <= SL_CONFIG_ALIAS_NODES_MAX)
		return n;
	sl__config_error(x, n->start_mark,
	                 "YAML aliases expand the configuration past %u nodes (this node is "
	                 "reached again and again through an alias); write the repeated parts out",
	                 SL_CONFIG_ALIAS_NODES_MAX);
	x->too_big = true;
	return NULL;
}

static bool
scalar_is_null(const yaml_node_t *v)
{
	const char *s = (const char *)v->data.scalar.value;

	return v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (v->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

/* What a node holds, for "got ..." in messages: "\"text\"", nothing, a list or a mapping. */
static const char *
describe(const yaml_node_t *v, char *buf, size_t size)
{
	char q[SL__CONFIG_QUOTE_MAX];

	if (v->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (v->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (scalar_is_null(v))
		return "nothing";
	sl__config_quote((const char *)v->data.scalar.value, v->data.scalar.length, q, sizeof(q));
	snprintf(buf, size, "\"%s\"", q);
	return buf;
}

/* "a, b, c" */
static char *
join(const char *const *names, size_t n, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
	return buf;
}

/* The scalar's text if it is a scalar with no NUL inside, else NULL. */
static const char *
scalar_text(const yaml_node_t *v)
{
	const char *s;

	if (v->type != YAML_SCALAR_NODE)
		return NULL;
	s = (const char *)v->data.scalar.value;
	return strlen(s) == v->data.scalar.length ? s : NULL;
}

static void
type_error(struct sl__config_load *x, const yaml_node_t *v, const char *expected, const char *key)
{
	char got[SL__CONFIG_QUOTE_MAX + 2];

	sl__config_error(x, v->start_mark, "expected %s for \"%s\", got %s", expected, key,
	                 describe(v, got, sizeof(got)));
}

/*
 * Where a rule between two keys of <map> is reported: at <a> if written, else at <b> if written
 * (the other holds its default), else at the mapping.
 */
static yaml_mark_t
pair_mark(const yaml_node_t *a, const yaml_node_t *b, const yaml_node_t *map)
{
	return (a != NULL ? a : b != NULL ? b : map)->start_mark;
}

/* The key (a MAP or LIST) whose mapping or items are <section>'s keys; NULL for the top. */
static const struct sl__config_key *
holder_of(enum sl__config_section section)
{
	for (size_t j = 0; j < SL__KEYS; j++) {
		const struct sl__config_key *m = &sl__config_keys[j];

		if ((m->kind == SL__KIND_MAP || m->kind == SL__KIND_LIST) && m->child == section)
			return m;
	}
	return NULL;
}

/*
 * For a key <name> unknown in <section> that the mapping around it or one inside it has (an
 * indentation slip moves a key one level): "; \"type\" is a key of \"health:\": check its
 * indentation", in <buf>; "" if neither has it.
 */
static const char *
elsewhere_hint(const char *name, enum sl__config_section section, char *buf, size_t size)
{
	const struct sl__config_key *outer = holder_of(section);
	size_t len = 0;
	unsigned found = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < SL__KEYS && len < size; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		const struct sl__config_key *in = holder_of(k->section);

		if (k->section == section || strcmp(k->name, name) != 0)
			continue;
		/* one level in (its holder is a key of <section>) or out (it holds <section>) */
		if (!(in != NULL && in->section == section) &&
		    !(outer != NULL && outer->section == k->section))
			continue;
		if (found == 0)
			len += (size_t)snprintf(buf, size, "; \"%s\" is a key of ", name);
		else
			len += (size_t)snprintf(buf + len, size - len, " or ");
		if (len < size)
			len += in == NULL ? (size_t)snprintf(buf + len, size - len, "the top level")
			                  : (size_t)snprintf(buf + len, size - len, "\"%s:\"",
			                                     in->name);
		found++;
	}
	if (found != 0 && len < size)
		snprintf(buf + len, size - len, ": check its indentation");
	return buf;
}

/*
 * Checks that <map> is a mapping and sorts its values into <vals> by key id; the keys it may
 * have are those of <section> in the key table. Reports keys that are not scalars, unknown keys
 * (with a suggestion) and repeated keys. <desc> says what the mapping is for ("for
 * \"timeouts\""), <where> where the keys live ("in listener"). Returns false (after an error)
 * if <map> is not a mapping.
 */
static bool
walk_map(struct sl__config_load *x, yaml_node_t *map, const char *desc, const char *where,
         enum sl__config_section section, key_vals vals)
{
	char q[SL__CONFIG_QUOTE_MAX], got[SL__CONFIG_QUOTE_MAX + 2], list[256],
	        at[SL__CONFIG_WHERE_MAX];
	const char *names[SL__SECTION_KEYS_MAX];
	yaml_node_t *keys[SL__SECTION_KEYS_MAX] = {0};
	yaml_node_pair_t *p;
	size_t i, first, n = sl__config_section_keys(section, &first);

	SL_ASSERT(n <= SL__SECTION_KEYS_MAX);
	for (i = 0; i < n; i++) {
		names[i] = sl__config_keys[first + i].name;
		vals[first + i] = NULL;
	}
	if (map->type != YAML_MAPPING_NODE) {
		/* "backends: [127.0.0.1:9001]": say how an item with an address is written */
		bool bare = map->type == YAML_SCALAR_NODE && !scalar_is_null(map);
		const char *hint = "";

		for (i = 0; bare && i < n; i++)
			if (strcmp(names[i], "address") == 0)
				hint = "; an item is written \"- address: ...\" or \"{ address: "
				       "... }\"";
		sl__config_error(x, map->start_mark, "expected a mapping %s, got %s%s", desc,
		                 describe(map, got, sizeof(got)), hint);
		return false;
	}
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top && !sl__config_stopped(x); p++) {
		yaml_node_t *k = node_at(x, p->key), *v = node_at(x, p->value);
		const char *name, *near;

		if (!k || !v)
			continue;
		name = scalar_text(k);
		if (!name) {
			sl__config_error(x, k->start_mark, "expected a key name %s, got %s", where,
			                 describe(k, got, sizeof(got)));
			continue;
		}
		for (i = 0; i < n; i++)
			if (strcmp(name, names[i]) == 0)
				break;
		if (i == n) {
			char other[160];

			sl__config_quote(name, strlen(name), q, sizeof(q));
			join(names, n, list, sizeof(list));
			near = sl__config_closest(name, names, n);
			if (near)
				sl__config_error(
				        x, k->start_mark,
				        "unknown key \"%s\" %s (expected one of: %s); did you "
				        "mean \"%s\"?",
				        q, where, list, near);
			else
				sl__config_error(
				        x, k->start_mark,
				        "unknown key \"%s\" %s (expected one of: %s)%s", q, where,
				        list, elsewhere_hint(name, section, other, sizeof(other)));
			continue;
		}
		if (keys[i]) {
			sl__config_error(x, k->start_mark,
			                 "duplicate key \"%s\" (first defined at %s)", name,
			                 sl__config_where(x, keys[i]->start_mark, at, sizeof(at)));
			continue;
		}
		keys[i] = k;
		vals[first + i] = v;
	}
	return true;
}

/* Reports "<key>" outside [lo, hi]; <lo>/<hi> are texts with units, NULL when unbounded. */
static void
range_error(struct sl__config_load *x, const yaml_node_t *v, const char *key, const char *lo,
            const char *hi)
{
	char q[SL__CONFIG_QUOTE_MAX];

	sl__config_quote((const char *)v->data.scalar.value, v->data.scalar.length, q, sizeof(q));
	if (lo && hi)
		sl__config_error(x, v->start_mark, "\"%s\" must be between %s and %s, got %s", key,
		                 lo, hi, q);
	else if (lo)
		sl__config_error(x, v->start_mark, "\"%s\" must be at least %s, got %s", key, lo,
		                 q);
	else
		sl__config_error(x, v->start_mark, "\"%s\" must be at most %s, got %s", key, hi, q);
}

/*
 * Reads the leading decimal digits of <s> into <*v> (saturating at UINT64_MAX). Returns the
 * number of digits.
 */
static size_t
parse_digits(const char *s, uint64_t *v)
{
	size_t i;

	*v = 0;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
	}
	return i;
}

static bool
get_u32(struct sl__config_load *x, const yaml_node_t *v, const char *key, uint32_t lo, uint32_t hi,
        uint32_t *out)
{
	char los[16], his[16];
	const char *s = scalar_text(v);
	bool neg;
	uint64_t n;
	size_t i;

	if (!s || scalar_is_null(v)) {
		type_error(x, v, "an integer", key);
		return false;
	}
	neg = s[0] == '-';
	i = parse_digits(s + neg, &n);
	if (i == 0 || s[neg + i] != '\0') {
		type_error(x, v, "an integer", key);
		return false;
	}
	if (neg && n == 0)
		neg = false;
	if (neg || n < lo || n > hi) {
		snprintf(los, sizeof(los), "%" PRIu32, lo);
		snprintf(his, sizeof(his), "%" PRIu32, hi);
		/* say the bound that was crossed; a number past UINT32_MAX crossed the top */
		range_error(x, v, key, lo || neg ? los : NULL,
		            hi != UINT32_MAX || (!lo && !neg) ? his : NULL);
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

/* Durations: sl_config_duration_parse(), at least <lo> (0 or 1). */
static bool
get_ms(struct sl__config_load *x, const yaml_node_t *v, const char *key, uint32_t lo, uint32_t *out)
{
	const char *s = scalar_text(v);
	uint32_t n;
	int err;

	if (!s || scalar_is_null(v) || (err = sl_config_duration_parse(s, &n)) == -EINVAL) {
		type_error(x, v, "a duration such as 250ms, 5s or 2m", key);
		return false;
	}
	if (err != 0) {
		range_error(x, v, key, NULL, "4294967295ms (about 49 days)");
		return false;
	}
	if (n < lo) {
		range_error(x, v, key, "1ms", NULL);
		return false;
	}
	*out = n;
	return true;
}

/* Sizes: integer bytes, or an integer with k or m (KiB, MiB), either case. */
static bool
get_size(struct sl__config_load *x, const yaml_node_t *v, const char *key, uint32_t lo, uint32_t hi,
         uint32_t *out)
{
	char los[24], his[24];
	const char *s = scalar_text(v);
	uint64_t n, mult = 1;
	size_t nd;

	if (!s || scalar_is_null(v))
		goto bad;
	nd = parse_digits(s, &n);
	if (nd == 0)
		goto bad;
	if (s[nd] == 'k' || s[nd] == 'K')
		mult = 1024;
	else if (s[nd] == 'm' || s[nd] == 'M')
		mult = (uint64_t)1024 * 1024;
	else if (s[nd] != '\0')
		goto bad;
	if (mult > 1 && s[nd + 1] != '\0')
		goto bad;
	n = n > UINT64_MAX / mult ? UINT64_MAX : n * mult;
	if (n < lo || n > hi) {
		snprintf(los, sizeof(los), "%" PRIu32 " bytes", lo);
		snprintf(his, sizeof(his), "%" PRIu32 " bytes", hi);
		range_error(x, v, key, los, his);
		return false;
	}
	*out = (uint32_t)n;
	return true;
bad:
	type_error(x, v, "a size such as 4096, 64k or 1m", key);
	return false;
}

static bool
get_bool(struct sl__config_load *x, const yaml_node_t *v, const char *key, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
	                                                                          "FALSE"};
	const char *s = scalar_text(v);
	size_t i;

	for (i = 0; s && i < SL_ARRAY_SIZE(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	type_error(x, v, "true or false", key);
	return false;
}

/* One of <names>; stores its index. */
static bool
get_enum(struct sl__config_load *x, const yaml_node_t *v, const char *key, const char *const *names,
         size_t n, unsigned *out)
{
	char list[128], want[160], got[SL__CONFIG_QUOTE_MAX + 2];
	const char *s = scalar_text(v), *near;
	size_t i;

	for (i = 0; s && i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (unsigned)i;
			return true;
		}
	}
	join(names, n, list, sizeof(list));
	near = s ? sl__config_closest(s, names, n) : NULL;
	snprintf(want, sizeof(want), "one of %s", list);
	if (near)
		sl__config_error(x, v->start_mark,
		                 "expected %s for \"%s\", got %s; did you mean \"%s\"?", want, key,
		                 describe(v, got, sizeof(got)), near);
	else
		type_error(x, v, want, key);
	return false;
}

/* A name: 1 to SL_CONFIG_NAME_MAX - 1 bytes that sl_config_name_ok() takes. */
static bool
get_name(struct sl__config_load *x, const yaml_node_t *v, const char *key,
         char out[SL_CONFIG_NAME_MAX])
{
	const char *s = scalar_text(v);
	size_t n;

	if (!s || v->type != YAML_SCALAR_NODE || scalar_is_null(v)) {
		type_error(x, v, "a name", key);
		return false;
	}
	n = v->data.scalar.length;
	if (n == 0) { /* a quoted '' or "": scalar_is_null() takes only the plain empty one */
		sl__config_error(x, v->start_mark,
		                 "expected a name for \"%s\", got an empty string", key);
		return false;
	}
	if (n >= SL_CONFIG_NAME_MAX) {
		sl__config_error(x, v->start_mark, "\"%s\" is too long (at most %d bytes)", key,
		                 SL_CONFIG_NAME_MAX - 1);
		return false;
	}
	if (!sl_config_name_ok(s, n)) {
		sl__config_error(x, v->start_mark, "\"%s\" may contain only " SL_CONFIG_NAME_RULE,
		                 key);
		return false;
	}
	memcpy(out, s, n + 1);
	return true;
}

/*
 * A user or group: a name as get_name() takes it, or a decimal id from 0 to 4294967294 (-1 is
 * no id to the kernel). Whether the name exists is checked at start, on the host that runs it.
 */
static bool
get_id(struct sl__config_load *x, const yaml_node_t *v, const char *key,
       char out[SL_CONFIG_NAME_MAX])
{
	unsigned long long id;
	char *end;

	if (!get_name(x, v, key, out))
		return false;
	if (out[0] < '0' || out[0] > '9')
		return true;
	errno = 0;
	id = strtoull(out, &end, 10);
	if (errno != 0 || *end != '\0' || id >= UINT32_MAX) {
		sl__config_error(x, v->start_mark,
		                 "expected a name or an id from 0 to 4294967294 for \"%s\", got "
		                 "\"%s\"",
		                 key, out);
		out[0] = '\0';
		return false;
	}
	return true;
}

static bool
get_addr(struct sl__config_load *x, const yaml_node_t *v, const char *key, struct sl_addr *a)
{
	char q[SL__CONFIG_QUOTE_MAX], got[SL__CONFIG_QUOTE_MAX + 2], why[128];
	const char *s = scalar_text(v);

	if (v->type != YAML_SCALAR_NODE || scalar_is_null(v)) {
		sl__config_error(x, v->start_mark,
		                 "expected an address such as 127.0.0.1:8080 for \"%s\", got %s "
		                 "(write IPv6 addresses in quotes: \"[::1]:8080\")",
		                 key, describe(v, got, sizeof(got)));
		return false;
	}
	sl__config_quote((const char *)v->data.scalar.value, v->data.scalar.length, q, sizeof(q));
	if (!s) {
		sl__config_error(x, v->start_mark, "bad address \"%s\": contains a NUL byte", q);
		return false;
	}
	if (sl_addr_parse_configured(a, s, false, why, sizeof(why)) != 0) {
		sl__config_error(x, v->start_mark, "bad address \"%s\": %s", q, why);
		return false;
	}
	return true;
}

/*
 * An IP address alone, port 0: "10.0.0.5", "2001:db8::5" or "[2001:db8::5]" (a source: the
 * kernel picks the port).
 */
static void
get_source_ip(struct sl__config_load *x, const yaml_node_t *v, const char *key, struct sl_addr *a)
{
	char q[SL__CONFIG_QUOTE_MAX], got[SL__CONFIG_QUOTE_MAX + 2], ip[INET6_ADDRSTRLEN + 1];
	char unusable[160];
	const char *s = scalar_text(v), *bad = NULL;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (v->type != YAML_SCALAR_NODE || scalar_is_null(v) || s == NULL) {
		sl__config_error(x, v->start_mark,
		                 "expected an IP address such as 10.0.0.5 for \"%s\", got %s", key,
		                 describe(v, got, sizeof(got)));
		return;
	}
	n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n < sizeof(ip)) {
		memcpy(ip, s, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			a->len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			a->len = sizeof(*s6);
		}
		/* as everywhere an address is configured: not mapped, multicast, link-local */
		if (a->len != 0 && sl_addr_check_configured(a, unusable, sizeof(unusable)) != 0)
			bad = unusable;
		if (a->len != 0 && bad == NULL)
			return;
		if (bad != NULL) {
			memset(a, 0, sizeof(*a));
			sl__config_quote((const char *)v->data.scalar.value, v->data.scalar.length,
			                 q, sizeof(q));
			sl__config_error(x, v->start_mark, "bad %s \"%s\": %s", key, q, bad);
			return;
		}
	}
	memset(a, 0, sizeof(*a));
	sl__config_quote((const char *)v->data.scalar.value, v->data.scalar.length, q, sizeof(q));
	sl__config_error(x, v->start_mark,
	                 "bad %s \"%s\": expected an IPv4 or IPv6 address with no port, such as "
	                 "10.0.0.5 or \"2001:db8::5\"",
	                 key, q);
}

/*
 * Any bytes (a YAML string may hold escapes such as "\r\n"), at most SL_CONFIG_HEALTH_BYTES_MAX;
 * a NUL-terminated copy.
 */
static bool
get_bytes(struct sl__config_load *x, const yaml_node_t *v, const char *key, char **out, size_t *len)
{
	if (v->type != YAML_SCALAR_NODE) {
		type_error(x, v, "a string", key);
		return false;
	}
	if (v->data.scalar.length > SL_CONFIG_HEALTH_BYTES_MAX) {
		sl__config_error(x, v->start_mark, "\"%s\" is too long (at most %u bytes, got %zu)",
		                 key, SL_CONFIG_HEALTH_BYTES_MAX, v->data.scalar.length);
		return false;
	}
	*len = v->data.scalar.length;
	*out = sl__config_calloc(x, *len + 1, 1);
	if (!*out)
		return false;
	memcpy(*out, v->data.scalar.value, *len);
	return true;
}

static bool get_number(struct sl__config_load *x, const yaml_node_t *v, const char *key,
                       double *out);

/*
 * Reads the value <v> of key <id> as the key table says (its kind and bounds) into <out>, the
 * field's storage. Returns false after an error.
 */
static bool
get_key(struct sl__config_load *x, const yaml_node_t *v, enum sl__config_key_id id, void *out)
{
	const struct sl__config_key *k = &sl__config_keys[id];
	char los[24], his[24];
	uint32_t n;
	unsigned e;
	bool b;

	switch (k->kind) {
	case SL__KIND_U32:
		if (!get_u32(x, v, k->name, k->lo, k->hi, &n))
			return false;
		break;
	case SL__KIND_SIZE:
		if (!get_size(x, v, k->name, k->lo, k->hi, &n))
			return false;
		break;
	case SL__KIND_MS:
		/* "at least 1ms" alone when that is the only bound; else both bounds at once */
		if (!get_ms(x, v, k->name, k->lo == 1 && k->hi == UINT32_MAX, &n))
			return false;
		if (n < k->lo || n > k->hi) {
			range_error(x, v, k->name,
			            k->lo ? sl__config_format_ms(k->lo, los, sizeof(los)) : NULL,
			            k->hi != UINT32_MAX
			                    ? sl__config_format_ms(k->hi, his, sizeof(his))
			                    : NULL);
			return false;
		}
		break;
	case SL__KIND_BOOL:
		if (!get_bool(x, v, k->name, &b))
			return false;
		memcpy(out, &b, sizeof(b));
		return true;
	case SL__KIND_ENUM:
		if (!get_enum(x, v, k->name, k->names, k->nnames, &e))
			return false;
		memcpy(out, &e, sizeof(e));
		return true;
	case SL__KIND_NAME:
		return get_name(x, v, k->name, out);
	case SL__KIND_ADDR:
		return get_addr(x, v, k->name, out);
	case SL__KIND_NUMBER:
		return get_number(x, v, k->name, out);
	default:
		SL_ASSERT(!"a key of this kind is read by its walker");
		return false;
	}
	memcpy(out, &n, sizeof(n));
	return true;
}

/*
 * walk_map(), then reads every key of <section> that the table types and stores into <base>,
 * the section's struct. <ok>, if not NULL, tells per key id whether its value was read.
 */
static bool
walk_section(struct sl__config_load *x, yaml_node_t *map, const char *desc, const char *where,
             enum sl__config_section section, key_vals vals, void *base, bool *ok)
{
	size_t first, n = sl__config_section_keys(section, &first);

	if (!walk_map(x, map, desc, where, section, vals))
		return false;
	for (size_t i = first; i < first + n && !sl__config_stopped(x); i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		bool read = false;

		if (vals[i] && !k->walker && k->kind != SL__KIND_MAP && k->kind != SL__KIND_LIST &&
		    k->kind != SL__KIND_OTHER)
			read = get_key(x, vals[i], (enum sl__config_key_id)i,
			               (char *)base + k->offset);
		if (ok)
			ok[i] = read;
	}
	return true;
}

/* The list under <key>, or NULL after an error. */
static bool
is_list(struct sl__config_load *x, const yaml_node_t *v, const char *key)
{
	if (v->type == YAML_SEQUENCE_NODE)
		return true;
	type_error(x, v, "a list", key);
	return false;
}

static size_t
list_len(const yaml_node_t *v)
{
	return (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
}

/*
 * Makes room in the array at <*p> of <n> items of <size> bytes for one more: it holds the
 * next power of two from <n> (at least 4) items, so it grows only when <n> is 0 or a power of
 * two from 4 on, doubling (one realloc per item made a list of 40000 prefixes quadratic: a
 * minute and a half under ASan, whose realloc always copies). false when out of memory.
 */
static bool
room_for_one(struct sl__config_load *x, void **p, size_t n, size_t size)
{
	void *r;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return true;
	r = realloc(*p, (n < 4 ? 4 : 2 * n) * size);
	if (r == NULL) {
		x->oom = true;
		return false;
	}
	*p = r;
	return true;
}

/* Appends <c> to <l>'s list of allow/deny prefixes (the XDP maps are filled from it). */
static void
add_acl_rule(struct sl__config_load *x, struct sl_config_listener *l, const struct sl_cidr *c,
             bool allow)
{
	if (room_for_one(x, (void **)&l->acl_rules, l->nacl_rules, sizeof(*l->acl_rules)))
		l->acl_rules[l->nacl_rules++] =
		        (struct sl_config_acl_rule){.cidr = *c, .allow = allow};
}

/* Appends <c> to <pi>'s trusted prefixes as written (the reload compares them). */
static void
add_trusted_prefix(struct sl__config_load *x, struct sl_config_proxy_in *pi,
                   const struct sl_cidr *c)
{
	if (room_for_one(x, (void **)&pi->trusted_prefixes, pi->ntrusted_prefixes,
	                 sizeof(*pi->trusted_prefixes)))
		pi->trusted_prefixes[pi->ntrusted_prefixes++] = *c;
}

/*
 * Adds every prefix of the list <v> under <key> to <b> with <value>, and as written to <l>'s
 * allow/deny rules, or else to <pi>'s trusted prefixes; a bad item is reported.
 */
static void
add_cidr_list(struct sl__config_load *x, yaml_node_t *v, const char *key, struct sl_lpm_builder *b,
              uint32_t value, struct sl_config_listener *l, struct sl_config_proxy_in *pi)
{
	char q[SL__CONFIG_QUOTE_MAX], got[SL__CONFIG_QUOTE_MAX + 2];
	yaml_node_item_t *it;

	if (!is_list(x, v, key))
		return;
	for (it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top && !sl__config_stopped(x); it++) {
		yaml_node_t *p = node_at(x, *it);
		const char *s, *why = NULL;
		struct sl_cidr c;
		int err;

		if (!p)
			continue;
		s = scalar_text(p);
		if (p->type != YAML_SCALAR_NODE || !s || scalar_is_null(p)) {
			sl__config_error(
			        x, p->start_mark,
			        "expected a prefix such as 10.0.0.0/8 or \"2001:db8::/32\" in "
			        "\"%s\", got %s",
			        key, describe(p, got, sizeof(got)));
			continue;
		}
		if (sl_cidr_parse(&c, s, 0, &why) != 0) {
			sl__config_quote(s, strlen(s), q, sizeof(q));
			sl__config_error(x, p->start_mark, "bad prefix \"%s\" in \"%s\": %s", q,
			                 key, why);
			continue;
		}
		err = sl_lpm_builder_add(b, &c, value);
		if (err == -ENOMEM)
			x->oom = true;
		if (err == 0 && l != NULL)
			add_acl_rule(x, l, &c, value == 1);
		else if (err == 0)
			add_trusted_prefix(x, pi, &c);
	}
}

/* A prefix of a list read again to find the one listed twice (duplicate_report()). */
struct listed_prefix {
	struct sl_cidr c;
	const yaml_node_t *node;
	const char *list;
	size_t order; /* in the file: lists in the order given, items in theirs */
};

static int
listed_prefix_cmp(const void *pa, const void *pb)
{
	const struct listed_prefix *a = pa, *b = pb;
	int d = memcmp(&a->c, &b->c, sizeof(a->c));

	if (d != 0)
		return d;
	return a->order < b->order ? -1 : a->order > b->order;
}

/*
 * Reports the first prefix (in the file's order) that lists[0..n-1] (named names[]) hold
 * twice, however each was written (10.0.0.0/8 and "::ffff:10.0.0.0/104" are one), at its
 * second place, naming the first; or, should none be found, at <at>. Only once a table
 * build said one is there: sorting every prefix costs nothing on the way that succeeds.
 */
static void
duplicate_report(struct sl__config_load *x, yaml_node_t *const *lists, const char *const *names,
                 size_t n, const yaml_node_t *at)
{
	struct listed_prefix *v = NULL, *dup = NULL;
	size_t count = 0, cap = 0;
	char text[SL_CIDR_STRLEN];

	for (size_t k = 0; k < n; k++) {
		if (lists[k] == NULL || lists[k]->type != YAML_SEQUENCE_NODE)
			continue;
		for (yaml_node_item_t *it = lists[k]->data.sequence.items.start;
		     it < lists[k]->data.sequence.items.top; it++) {
			yaml_node_t *p = node_at(x, *it);
			const char *s = p != NULL ? scalar_text(p) : NULL;
			struct sl_cidr c;

			if (s == NULL || sl_cidr_parse(&c, s, 0, NULL) != 0)
				continue;
			if (count == cap) {
				struct listed_prefix *w =
				        realloc(v, (cap ? 2 * cap : 64) * sizeof(*v));

				if (w == NULL) {
					x->oom = true;
					free(v);
					return;
				}
				v = w;
				cap = cap ? 2 * cap : 64;
			}
			memset(&v[count], 0, sizeof(v[count]));
			v[count].c = c;
			v[count].node = p;
			v[count].list = names[k];
			v[count].order = count;
			count++;
		}
	}
	if (count > 0)
		qsort(v, count, sizeof(*v), listed_prefix_cmp);
	for (size_t i = 1; i < count; i++)
		if (memcmp(&v[i].c, &v[i - 1].c, sizeof(v[i].c)) == 0 &&
		    (dup == NULL || v[i].order < dup[1].order))
			dup = &v[i - 1];
	if (dup == NULL) {
		sl__config_error(x, at->start_mark, "a prefix is listed more than once");
	} else {
		sl_cidr_format(&dup[0].c, text, sizeof(text));
		sl__config_error(x, dup[1].node->start_mark,
		                 "prefix %s is listed twice: in \"%s\" at line %zu, and here in "
		                 "\"%s\"",
		                 text, dup[0].list, dup[0].node->start_mark.line + 1, dup[1].list);
	}
	free(v);
}

/*
 * Builds the table of <b> into <*out>; a prefix that lists[0..n-1] (named names[]) hold twice
 * is reported at its second place (duplicate_report()). Frees nothing: the caller destroys
 * <b>.
 */
static void
build_lpm(struct sl__config_load *x, struct sl_lpm_builder *b, yaml_node_t *const *lists,
          const char *const *names, size_t n, struct sl_lpm **out)
{
	const yaml_node_t *at = lists[n - 1] != NULL ? lists[n - 1] : lists[0];
	int err = sl_lpm_build(out, b);

	if (err == -ENOMEM)
		x->oom = true;
	else if (err == -EEXIST)
		duplicate_report(x, lists, names, n, at);
	else if (err != 0)
		sl__config_error(x, at->start_mark, "cannot build the prefix table of \"%s\": %s",
		                 names[n - 1], strerror(-err));
}

/* allow: and deny: of a listener, into one table (allow 1, deny 0: the longest match wins). */
static void
walk_acl(struct sl__config_load *x, yaml_node_t *allow, yaml_node_t *deny,
         struct sl_config_listener *l)
{
	struct sl_lpm_builder *b;

	if (sl_lpm_builder_create(&b) != 0) {
		x->oom = true;
		return;
	}
	if (allow)
		add_cidr_list(x, allow, "allow", b, 1, l, NULL);
	if (deny)
		add_cidr_list(x, deny, "deny", b, 0, l, NULL);
	if (!sl__config_stopped(x)) {
		yaml_node_t *const lists[2] = {allow, deny};
		static const char *const names[2] = {"allow", "deny"};

		build_lpm(x, b, lists, names, 2, &l->acl);
	}
	/* an allow list, even one whose every item was refused, means "only these" */
	l->acl_allows_unmatched = !allow;
	sl_lpm_builder_destroy(b);
}

static void
walk_proxy_in(struct sl__config_load *x, yaml_node_t *map, struct sl_config_proxy_in *pi,
              struct sl__config_lmeta *m)
{
	key_vals v = {0};
	struct sl_lpm_builder *b;
	unsigned ver = SL_CONFIG_PP_V1 | SL_CONFIG_PP_V2;

	if (!walk_section(x, map, "for \"proxy_protocol\"", "in proxy_protocol", SL__SEC_PROXY_IN,
	                  v, pi, NULL))
		return;
	if (v[SL__KEY_PROXY_IN_VERSION])
		get_key(x, v[SL__KEY_PROXY_IN_VERSION], SL__KEY_PROXY_IN_VERSION, &ver);
	pi->versions = ver;
	/* with the header off, a list written anyway is still checked: what --check takes, a
	 * reload that turns the header on takes too */
	if (ver == 0 && !v[SL__KEY_PROXY_IN_TRUSTED])
		return;
	if (!v[SL__KEY_PROXY_IN_TRUSTED]) {
		sl__config_error(
		        x, map->start_mark,
		        "proxy_protocol needs \"trusted\": the sources allowed to send the "
		        "header, such as [127.0.0.1/32, 10.0.0.0/8]");
		return;
	}
	if (sl_lpm_builder_create(&b) != 0) {
		x->oom = true;
		return;
	}
	m->trusted = v[SL__KEY_PROXY_IN_TRUSTED];
	add_cidr_list(x, m->trusted, "trusted", b, 1, NULL, pi);
	if (!sl__config_stopped(x)) {
		yaml_node_t *const lists[1] = {v[SL__KEY_PROXY_IN_TRUSTED]};
		static const char *const names[1] = {"trusted"};

		build_lpm(x, b, lists, names, 1, &pi->trusted);
	}
	sl_lpm_builder_destroy(b);
}

/* rate: {per_second, burst} of a listener: new connections, whole process. */
static void
walk_rate(struct sl__config_load *x, yaml_node_t *map, struct sl_tbucket_rate *r)
{
	key_vals v = {0};
	uint32_t per_second = 0, burst = 0;

	if (!walk_map(x, map, "for \"rate\"", "in rate", SL__SEC_RATE, v))
		return;
	if (!v[SL__KEY_RATE_PER_SECOND]) {
		sl__config_error(x, map->start_mark, "rate needs \"per_second\"");
		return;
	}
	if (!get_key(x, v[SL__KEY_RATE_PER_SECOND], SL__KEY_RATE_PER_SECOND, &per_second))
		return;
	burst = per_second;
	if (v[SL__KEY_RATE_BURST] && !get_key(x, v[SL__KEY_RATE_BURST], SL__KEY_RATE_BURST, &burst))
		return;
	sl_tbucket_rate_init(r, per_second, burst);
}

/* source_limits.ban: {strikes, within, duration}; any may be left to its default. */
static void
walk_ban(struct sl__config_load *x, yaml_node_t *map, struct sl_srctab_ban *b)
{
	key_vals v = {0};
	uint32_t strikes = SL_CONFIG_BAN_STRIKES_DEFAULT, within = SL_CONFIG_BAN_WITHIN_DEFAULT_MS,
	         duration = SL_CONFIG_BAN_DURATION_DEFAULT_MS;

	if (!walk_map(x, map, "for \"ban\"", "in ban", SL__SEC_BAN, v))
		return;
	if (v[SL__KEY_BAN_STRIKES])
		get_key(x, v[SL__KEY_BAN_STRIKES], SL__KEY_BAN_STRIKES, &strikes);
	if (v[SL__KEY_BAN_WITHIN])
		get_key(x, v[SL__KEY_BAN_WITHIN], SL__KEY_BAN_WITHIN, &within);
	if (v[SL__KEY_BAN_DURATION])
		get_key(x, v[SL__KEY_BAN_DURATION], SL__KEY_BAN_DURATION, &duration);
	*b = (struct sl_srctab_ban){.strikes = strikes,
	                            .within_ns = (uint64_t)within * 1000000u,
	                            .duration_ns = (uint64_t)duration * 1000000u};
}

static void
walk_source_limits(struct sl__config_load *x, yaml_node_t *map, struct sl_config_source *sl)
{
	key_vals v = {0};
	uint32_t rate = 0, burst = 0;

	if (!walk_section(x, map, "for \"source_limits\"", "in source_limits", SL__SEC_SOURCE, v,
	                  sl, NULL))
		return;
	if (v[SL__KEY_SOURCE_MAXCONN])
		get_key(x, v[SL__KEY_SOURCE_MAXCONN], SL__KEY_SOURCE_MAXCONN,
		        &sl->limits.max_conns);
	if (v[SL__KEY_SOURCE_RATE])
		get_key(x, v[SL__KEY_SOURCE_RATE], SL__KEY_SOURCE_RATE, &rate);
	burst = rate;
	if (v[SL__KEY_SOURCE_BURST] &&
	    get_key(x, v[SL__KEY_SOURCE_BURST], SL__KEY_SOURCE_BURST, &burst) && rate == 0)
		sl__config_error(x, v[SL__KEY_SOURCE_BURST]->start_mark,
		                 "\"burst\" needs a \"rate\" above 0");
	sl_tbucket_rate_init(&sl->limits.rate, rate, burst ? burst : 1);
	if (v[SL__KEY_SOURCE_BAN])
		walk_ban(x, v[SL__KEY_SOURCE_BAN], &sl->limits.ban);
	sl->on = sl->limits.max_conns != 0 || rate != 0 || sl->limits.ban.strikes != 0;
	if (!sl->on && !v[SL__KEY_SOURCE_BAN]) /* a ban that is not a mapping said so */
		sl__config_error(x, map->start_mark,
		                 "source_limits needs \"max_connections\", \"rate\" or \"ban\"");
}

/* bandwidth.session or .source: {upload, download, burst}, in bytes per second and bytes. */
static void
walk_bandwidth_limit(struct sl__config_load *x, yaml_node_t *map, const char *name,
                     struct sl_tbucket_rate r[2])
{
	static const enum sl__config_key_id dir[2] = {SL__KEY_BANDWIDTH_LIMIT_UPLOAD,
	                                              SL__KEY_BANDWIDTH_LIMIT_DOWNLOAD};
	key_vals v = {0};
	uint32_t rate[2] = {0, 0}, burst = 0;
	char what[32], where[32];

	snprintf(what, sizeof(what), "for \"%s\"", name);
	snprintf(where, sizeof(where), "in bandwidth.%s", name);
	if (!walk_map(x, map, what, where, SL__SEC_BANDWIDTH_LIMIT, v))
		return;
	if (!v[dir[0]] && !v[dir[1]]) {
		sl__config_error(x, map->start_mark,
		                 "bandwidth.%s needs \"upload\" or \"download\"", name);
		return;
	}
	for (unsigned d = 0; d < 2; d++)
		if (v[dir[d]] && !get_key(x, v[dir[d]], dir[d], &rate[d]))
			return;
	if (v[SL__KEY_BANDWIDTH_LIMIT_BURST] &&
	    !get_key(x, v[SL__KEY_BANDWIDTH_LIMIT_BURST], SL__KEY_BANDWIDTH_LIMIT_BURST, &burst))
		return;
	for (unsigned d = 0; d < 2; d++) {
		uint32_t b = burst;

		if (b == 0) {
			b = rate[d] / 10;
			if (b < SL_CONFIG_BANDWIDTH_BURST_DEFAULT_MIN)
				b = SL_CONFIG_BANDWIDTH_BURST_DEFAULT_MIN;
		}
		sl_tbucket_rate_init(&r[d], rate[d], b);
	}
}

/* bandwidth: {session, source}: bytes per second each direction, per session and per source. */
static void
walk_bandwidth(struct sl__config_load *x, yaml_node_t *map, struct sl_config_bandwidth *bw)
{
	key_vals v = {0};

	if (!walk_map(x, map, "for \"bandwidth\"", "in bandwidth", SL__SEC_BANDWIDTH, v))
		return;
	if (!v[SL__KEY_BANDWIDTH_SESSION] && !v[SL__KEY_BANDWIDTH_SOURCE]) {
		sl__config_error(x, map->start_mark, "bandwidth needs \"session\" or \"source\"");
		return;
	}
	if (v[SL__KEY_BANDWIDTH_SESSION])
		walk_bandwidth_limit(x, v[SL__KEY_BANDWIDTH_SESSION], "session", bw->session);
	if (v[SL__KEY_BANDWIDTH_SOURCE])
		walk_bandwidth_limit(x, v[SL__KEY_BANDWIDTH_SOURCE], "source", bw->source);
	for (unsigned d = 0; d < 2; d++)
		if (bw->session[d].rate != 0 || bw->source[d].rate != 0)
			bw->limited |= (uint8_t)(1u << d);
}

/* min_rate: {bytes, window}: the least that must move per window, both ways together. */
static void
walk_min_rate(struct sl__config_load *x, yaml_node_t *map, struct sl_config_timeouts *t)
{
	key_vals v = {0};

	if (!walk_section(x, map, "for \"min_rate\"", "in min_rate", SL__SEC_MIN_RATE, v, t, NULL))
		return;
	if (!v[SL__KEY_MIN_RATE_BYTES])
		sl__config_error(x, map->start_mark, "min_rate needs \"bytes\"");
}

static void
walk_timeouts(struct sl__config_load *x, yaml_node_t *map, struct sl_config_timeouts *t)
{
	key_vals v = {0};

	if (!walk_section(x, map, "for \"timeouts\"", "in timeouts", SL__SEC_TIMEOUT, v, t, NULL))
		return;
	if (v[SL__KEY_TIMEOUT_MIN_RATE])
		walk_min_rate(x, v[SL__KEY_TIMEOUT_MIN_RATE], t);
}

static void
walk_listener(struct sl__config_load *x, yaml_node_t *map, size_t i)
{
	struct sl_config_listener *l = &x->c->listeners[i];
	struct sl__config_lmeta *m = &x->lm[i];
	bool ok[SL__KEYS] = {false};
	key_vals v = {0};

	m->map = map->start_mark;
	if (!walk_section(x, map, "for each item of \"listeners\"", "in listener", SL__SEC_LISTENER,
	                  v, l, ok))
		return;
	if (ok[SL__KEY_LISTENER_NAME])
		m->name = v[SL__KEY_LISTENER_NAME];
	if (v[SL__KEY_LISTENER_ADDRESS]) {
		m->addr = v[SL__KEY_LISTENER_ADDRESS];
		m->addr_ok = ok[SL__KEY_LISTENER_ADDRESS];
	} else {
		sl__config_error(x, map->start_mark,
		                 "listener is missing required key \"address\"");
	}
	if (v[SL__KEY_LISTENER_GROUP]) {
		m->group = v[SL__KEY_LISTENER_GROUP];
		m->group_ok = scalar_text(m->group) && !scalar_is_null(m->group);
		if (!m->group_ok)
			type_error(x, m->group, "a group name", "group");
	}
	if (v[SL__KEY_LISTENER_TIMEOUTS])
		walk_timeouts(x, v[SL__KEY_LISTENER_TIMEOUTS], &l->timeouts);
	m->allow = v[SL__KEY_LISTENER_ALLOW];
	if (v[SL__KEY_LISTENER_ALLOW] || v[SL__KEY_LISTENER_DENY])
		walk_acl(x, v[SL__KEY_LISTENER_ALLOW], v[SL__KEY_LISTENER_DENY], l);
	if (v[SL__KEY_LISTENER_PROXY])
		walk_proxy_in(x, v[SL__KEY_LISTENER_PROXY], &l->proxy_in, m);
	if (v[SL__KEY_LISTENER_RATE])
		walk_rate(x, v[SL__KEY_LISTENER_RATE], &l->rate);
	if (v[SL__KEY_LISTENER_SOURCE])
		walk_source_limits(x, v[SL__KEY_LISTENER_SOURCE], &l->source);
	if (v[SL__KEY_LISTENER_BANDWIDTH])
		walk_bandwidth(x, v[SL__KEY_LISTENER_BANDWIDTH], &l->bandwidth);
	if (!m->name && m->addr_ok)
		sl_addr_format(&l->addr, l->name, sizeof(l->name));
}

static void
walk_health(struct sl__config_load *x, yaml_node_t *map, struct sl_config_health *h)
{
	key_vals v = {0};
	unsigned kind = SL_HEALTH_TCP;
	bool kind_ok = true;

	if (!walk_section(x, map, "for \"health\"", "in health", SL__SEC_HEALTH, v, h, NULL))
		return;
	/* a health: mapping turns checks on; type defaults to tcp */
	h->kind = SL_HEALTH_TCP;
	if (v[SL__KEY_HEALTH_TYPE]) {
		kind_ok = get_key(x, v[SL__KEY_HEALTH_TYPE], SL__KEY_HEALTH_TYPE, &kind);
		if (kind_ok)
			h->kind = (enum sl_health_kind)kind;
	}
	if (v[SL__KEY_HEALTH_SEND])
		get_bytes(x, v[SL__KEY_HEALTH_SEND], "send", &h->send, &h->send_len);
	if (v[SL__KEY_HEALTH_EXPECT] &&
	    get_bytes(x, v[SL__KEY_HEALTH_EXPECT], "expect", &h->expect, &h->expect_len) &&
	    h->expect_len == 0)
		sl__config_error(x, v[SL__KEY_HEALTH_EXPECT]->start_mark,
		                 "\"expect\" must not be empty");
	if (!kind_ok)
		return;
	if (h->kind == SL_HEALTH_SEND_EXPECT) {
		if (!v[SL__KEY_HEALTH_SEND])
			sl__config_error(x, map->start_mark,
			                 "health type send_expect needs a \"send\" string");
		if (!v[SL__KEY_HEALTH_EXPECT])
			sl__config_error(x, map->start_mark,
			                 "health type send_expect needs an \"expect\" string");
	} else {
		if (v[SL__KEY_HEALTH_SEND])
			sl__config_error(x, v[SL__KEY_HEALTH_SEND]->start_mark,
			                 "\"send\" is only used with type: send_expect");
		if (v[SL__KEY_HEALTH_EXPECT])
			sl__config_error(x, v[SL__KEY_HEALTH_EXPECT]->start_mark,
			                 "\"expect\" is only used with type: send_expect");
	}
	/* the default timeout, longer than a short interval: the interval */
	if (!v[SL__KEY_HEALTH_TIMEOUT] && h->timeout_ms > h->interval_ms)
		h->timeout_ms = h->interval_ms;
	if (h->timeout_ms > h->interval_ms)
		sl__config_error(
		        x, pair_mark(v[SL__KEY_HEALTH_TIMEOUT], v[SL__KEY_HEALTH_INTERVAL], map),
		        "health \"timeout\" (%" PRIu32 "ms) must not be longer than "
		        "\"interval\" (%" PRIu32 "ms)",
		        h->timeout_ms, h->interval_ms);
}

static void
walk_passive(struct sl__config_load *x, yaml_node_t *map, struct sl_config_passive *p)
{
	key_vals v = {0};

	if (!walk_section(x, map, "for \"passive\"", "in passive", SL__SEC_PASSIVE, v, p, NULL))
		return;
	if (p->backoff_ms > p->max_backoff_ms)
		sl__config_error(
		        x,
		        pair_mark(v[SL__KEY_PASSIVE_BACKOFF], v[SL__KEY_PASSIVE_MAX_BACKOFF], map),
		        "passive \"backoff\" (%" PRIu32 "ms) must not be longer than "
		        "\"max_backoff\" (%" PRIu32 "ms)",
		        p->backoff_ms, p->max_backoff_ms);
}

static void
walk_warm_pool(struct sl__config_load *x, yaml_node_t *map, struct sl_config_warm_pool *w)
{
	key_vals v = {0};

	walk_section(x, map, "for \"warm_pool\"", "in warm_pool", SL__SEC_WARM, v, w, NULL);
}

static void
walk_backend(struct sl__config_load *x, yaml_node_t *map, struct sl_config_backend *b,
             struct sl__config_bmeta *m)
{
	bool ok[SL__KEYS] = {false};
	key_vals v = {0};

	m->map = map->start_mark;
	if (!walk_section(x, map, "for each item of \"backends\"", "in backend", SL__SEC_BACKEND, v,
	                  b, ok))
		return;
	if (v[SL__KEY_BACKEND_ADDRESS]) {
		m->addr = v[SL__KEY_BACKEND_ADDRESS];
		m->addr_ok = ok[SL__KEY_BACKEND_ADDRESS];
	} else {
		sl__config_error(x, map->start_mark, "backend is missing required key \"address\"");
	}
	if (ok[SL__KEY_BACKEND_NAME])
		m->name = v[SL__KEY_BACKEND_NAME];
	if (!m->name && m->addr_ok)
		sl_addr_format(&b->addr, b->name, sizeof(b->name));
}

/*
 * A DNS name: 1 to 253 characters in dot-separated labels of 1 to 63 letters, digits, '-' and
 * '_' (SRV names start with "_service._proto."), with an optional final dot.
 */
static bool
get_dns_name(struct sl__config_load *x, const yaml_node_t *v, const char *key,
             char out[SL_CONFIG_DNS_NAME_MAX])
{
	const char *s = scalar_text(v);
	size_t i, n, label = 0;

	if (!s || scalar_is_null(v)) {
		type_error(x, v, "a DNS name such as backend.example.com", key);
		return false;
	}
	n = v->data.scalar.length;
	if (n > 0 && s[n - 1] == '.')
		n--; /* the root label */
	if (n == 0 || n > SL_CONFIG_DNS_NAME_MAX - 1) {
		sl__config_error(x, v->start_mark,
		                 "\"%s\" must be a DNS name of 1 to %d characters", key,
		                 SL_CONFIG_DNS_NAME_MAX - 1);
		return false;
	}
	for (i = 0; i <= n; i++) {
		char c = '.'; /* past the end: the last label ends */

		if (i < n)
			c = s[i];

		if (c == '.') {
			if (label == 0 || label > 63) {
				sl__config_error(
				        x, v->start_mark,
				        "\"%s\": each dot-separated label of a DNS name has 1 "
				        "to 63 characters",
				        key);
				return false;
			}
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '_') {
			label++;
		} else {
			sl__config_error(
			        x, v->start_mark,
			        "\"%s\" may contain only letters, digits, '-', '_' and dots", key);
			return false;
		}
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static void
walk_discover(struct sl__config_load *x, yaml_node_t *map, struct sl_config_discover *d)
{
	key_vals v = {0};
	uint32_t port = 0;
	unsigned type = 0;
	bool type_ok = true;

	if (!walk_section(x, map, "for \"discover\"", "in discover", SL__SEC_DISCOVER, v, d, NULL))
		return;
	/* type first: whether "port" is needed depends on it */
	if (v[SL__KEY_DISCOVER_TYPE])
		type_ok = get_key(x, v[SL__KEY_DISCOVER_TYPE], SL__KEY_DISCOVER_TYPE, &type);
	d->type = (enum sl_discover_type)(type + 1); /* default "a" */
	if (!v[SL__KEY_DISCOVER_NAME])
		sl__config_error(x, map->start_mark, "discover is missing required key \"name\"");
	else
		get_dns_name(x, v[SL__KEY_DISCOVER_NAME], "name", d->name);
	if (v[SL__KEY_DISCOVER_PORT] &&
	    get_key(x, v[SL__KEY_DISCOVER_PORT], SL__KEY_DISCOVER_PORT, &port))
		d->port = (uint16_t)port;
	if (!v[SL__KEY_DISCOVER_PORT] && type_ok && d->type != SL_DISCOVER_SRV)
		sl__config_error(x, map->start_mark,
		                 "discover is missing required key \"port\" (needed unless type is "
		                 "srv: A and AAAA records carry no port)");
	if (v[SL__KEY_DISCOVER_RESOLVERS] &&
	    is_list(x, v[SL__KEY_DISCOVER_RESOLVERS], "resolvers")) {
		yaml_node_t *rl = v[SL__KEY_DISCOVER_RESOLVERS];
		size_t n = list_len(rl);

		if (n == 0 || n > SL_CONFIG_RESOLVERS_MAX) {
			sl__config_error(x, rl->start_mark,
			                 "\"resolvers\" must list 1 to %u addresses such as "
			                 "10.0.0.2:53, got %zu (leave it out for /etc/resolv.conf)",
			                 SL_CONFIG_RESOLVERS_MAX, n);
		} else {
			for (size_t j = 0; j < n && !sl__config_stopped(x); j++) {
				yaml_node_t *item = node_at(x, rl->data.sequence.items.start[j]);

				if (item && get_addr(x, item, "resolvers", &d->resolvers[j]))
					d->nresolvers++;
			}
		}
	}
	if (d->ttl_min_ms > d->ttl_max_ms)
		sl__config_error(
		        x, pair_mark(v[SL__KEY_DISCOVER_TTL_MIN], v[SL__KEY_DISCOVER_TTL_MAX], map),
		        "discover \"ttl_min\" (%" PRIu32 "ms) must not be longer than "
		        "\"ttl_max\" (%" PRIu32 "ms)",
		        d->ttl_min_ms, d->ttl_max_ms);
}

static bool
is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return false;
	for (d = 2; d <= n / d; d++)
		if (n % d == 0)
			return false;
	return true;
}

static void
walk_maglev_size(struct sl__config_load *x, const yaml_node_t *v, uint32_t *out)
{
	uint32_t n, lo, hi;

	if (!get_key(x, v, SL__KEY_GROUP_MAGLEV, &n))
		return;
	if (is_prime(n)) {
		*out = n;
		return;
	}
	/* 3 <= lo: primes are at most a few hundred apart here; the maximum is a prime, so hi
	 * stays in range too */
	for (lo = n - 1; !is_prime(lo); lo--)
		;
	for (hi = n + 1; !is_prime(hi); hi++)
		;
	sl__config_error(x, v->start_mark,
	                 "\"maglev_table_size\" must be a prime number, got %" PRIu32
	                 " (nearest primes: %" PRIu32 " and %" PRIu32 ")",
	                 n, lo, hi);
}

static void
walk_group(struct sl__config_load *x, yaml_node_t *map, size_t i)
{
	struct sl_config_group *g = &x->c->groups[i];
	struct sl__config_gmeta *m = &x->gm[i];
	bool ok[SL__KEYS] = {false};
	key_vals v = {0};
	yaml_node_t *bl;
	size_t j, n;

	m->map = map->start_mark;
	if (!walk_section(x, map, "for each item of \"groups\"", "in group", SL__SEC_GROUP, v, g,
	                  ok))
		return;
	if (!v[SL__KEY_GROUP_NAME])
		sl__config_error(x, map->start_mark, "group is missing required key \"name\"");
	else if (ok[SL__KEY_GROUP_NAME])
		m->name = v[SL__KEY_GROUP_NAME];
	if (v[SL__KEY_GROUP_MAGLEV]) {
		m->maglev = v[SL__KEY_GROUP_MAGLEV];
		walk_maglev_size(x, v[SL__KEY_GROUP_MAGLEV], &g->maglev_table_size);
	}
	if (v[SL__KEY_GROUP_MAX_BACKENDS])
		m->max_backends = v[SL__KEY_GROUP_MAX_BACKENDS];
	if (v[SL__KEY_GROUP_HEALTH])
		walk_health(x, v[SL__KEY_GROUP_HEALTH], &g->health);
	if (v[SL__KEY_GROUP_PASSIVE])
		walk_passive(x, v[SL__KEY_GROUP_PASSIVE], &g->passive);
	if (v[SL__KEY_GROUP_WARM])
		walk_warm_pool(x, v[SL__KEY_GROUP_WARM], &g->warm_pool);
	if (v[SL__KEY_GROUP_DISCOVER])
		walk_discover(x, v[SL__KEY_GROUP_DISCOVER], &g->discover);
	if (v[SL__KEY_GROUP_SOURCE]) {
		m->source = v[SL__KEY_GROUP_SOURCE];
		get_source_ip(x, v[SL__KEY_GROUP_SOURCE], "source", &g->source);
	}
	bl = v[SL__KEY_GROUP_BACKENDS];
	if (bl && !is_list(x, bl, "backends"))
		return;
	if (v[SL__KEY_GROUP_DISCOVER] && (!bl || list_len(bl) == 0))
		return; /* discovery alone: backends arrive at run time */
	if (!bl || list_len(bl) == 0) {
		if (m->name)
			sl__config_error(x, (bl ? bl : map)->start_mark,
			                 "group \"%s\" has no backends", g->name);
		else
			sl__config_error(x, (bl ? bl : map)->start_mark, "group has no backends");
		return;
	}
	m->backends = bl;
	n = list_len(bl);
	if (n > SL_CONFIG_BACKENDS_MAX) {
		sl__config_error(x, bl->start_mark,
		                 "a group may have at most %u backends, got %zu (the balancers "
		                 "number backends with 16 bits)",
		                 SL_CONFIG_BACKENDS_MAX, n);
		return;
	}
	g->backends = sl__config_calloc(x, n, sizeof(g->backends[0]));
	m->bm = sl__config_calloc(x, n, sizeof(m->bm[0]));
	if (!g->backends || !m->bm)
		return;
	g->nbackends = n;
	for (j = 0; j < n; j++)
		sl_config_backend_defaults(&g->backends[j]);
	for (j = 0; j < n && !sl__config_stopped(x); j++) {
		yaml_node_t *item = node_at(x, bl->data.sequence.items.start[j]);

		if (item)
			walk_backend(x, item, &g->backends[j], &m->bm[j]);
	}
}

/* The list under a top-level key: allocates the arrays and walks each item. */
static void
walk_listeners(struct sl__config_load *x, yaml_node_t *v)
{
	size_t i, n;

	if (!is_list(x, v, "listeners"))
		return;
	n = list_len(v);
	if (n == 0) {
		sl__config_error(x, v->start_mark, "at least one listener is required");
		return;
	}
	x->c->listeners = sl__config_calloc(x, n, sizeof(x->c->listeners[0]));
	x->lm = sl__config_calloc(x, n, sizeof(x->lm[0]));
	if (!x->c->listeners || !x->lm)
		return;
	x->c->nlisteners = n;
	for (i = 0; i < n; i++)
		sl_config_listener_defaults(&x->c->listeners[i]);
	for (i = 0; i < n && !sl__config_stopped(x); i++) {
		yaml_node_t *item = node_at(x, v->data.sequence.items.start[i]);

		if (item)
			walk_listener(x, item, i);
	}
}

static void
walk_groups(struct sl__config_load *x, yaml_node_t *v)
{
	size_t i, n;

	if (!is_list(x, v, "groups"))
		return;
	n = list_len(v);
	if (n == 0) {
		sl__config_error(x, v->start_mark, "at least one group is required");
		return;
	}
	x->c->groups = sl__config_calloc(x, n, sizeof(x->c->groups[0]));
	x->gm = sl__config_calloc(x, n, sizeof(x->gm[0]));
	if (!x->c->groups || !x->gm)
		return;
	x->c->ngroups = n;
	x->ngm = n;
	for (i = 0; i < n; i++)
		sl_config_group_defaults(&x->c->groups[i]);
	for (i = 0; i < n && !sl__config_stopped(x); i++) {
		yaml_node_t *item = node_at(x, v->data.sequence.items.start[i]);

		if (item)
			walk_group(x, item, i);
	}
}

/* false, said, when file name <v> (the value of <key>) holds a control byte. */
static bool
path_bytes_ok(struct sl__config_load *x, const yaml_node_t *v, const char *key)
{
	long at = sl_config_path_control_byte((const char *)v->data.scalar.value,
	                                      v->data.scalar.length);

	if (at < 0)
		return true;
	sl__config_error(x, v->start_mark,
	                 "\"%s\" holds a control character (byte 0x%02x at offset %ld), which a "
	                 "file name here may not",
	                 key, (unsigned)((const unsigned char *)v->data.scalar.value)[at], at);
	return false;
}

static void
walk_access_log(struct sl__config_load *x, yaml_node_t *map, struct sl_config_access_log *al)
{
	yaml_node_t *p;
	key_vals v = {0};
	const char *s;

	if (!walk_section(x, map, "for \"access_log\"", "in access_log", SL__SEC_ACCESS_LOG, v, al,
	                  NULL))
		return;
	p = v[SL__KEY_ACCESS_LOG_PATH];
	if (!p) {
		sl__config_error(x, map->start_mark, "access_log is missing required key \"path\"");
		return;
	}
	s = scalar_text(p);
	if (!s || scalar_is_null(p) || s[0] == '\0') {
		type_error(x, p, "a file name, or \"-\" for standard output", "path");
		return;
	}
	if (p->data.scalar.length > ACCESS_LOG_PATH_MAX) {
		sl__config_error(x, p->start_mark,
		                 "\"path\" is too long (at most %d bytes, got %zu)",
		                 ACCESS_LOG_PATH_MAX, p->data.scalar.length);
		return;
	}
	if (!path_bytes_ok(x, p, "path"))
		return;
	al->path = sl__config_calloc(x, p->data.scalar.length + 1, 1);
	if (al->path)
		memcpy(al->path, s, p->data.scalar.length);
	x->access_log_path = p;
}

/* upgrade_socket: the unix socket a new process takes the listeners over (binary upgrade). */
static void
walk_upgrade_socket(struct sl__config_load *x, yaml_node_t *v, char **out)
{
	const char *s = scalar_text(v);
	size_t len;

	if (!s || scalar_is_null(v) || s[0] != '/') {
		type_error(x, v, "an absolute file name", "upgrade_socket");
		return;
	}
	len = v->data.scalar.length;
	if (len > SL_CONFIG_UNIX_PATH_MAX) {
		sl__config_error(x, v->start_mark,
		                 "\"upgrade_socket\" is too long (a unix socket name holds at most "
		                 "%u bytes, got %zu)",
		                 SL_CONFIG_UNIX_PATH_MAX, len);
		return;
	}
	if (!path_bytes_ok(x, v, "upgrade_socket"))
		return;
	*out = sl__config_calloc(x, len + 1, 1);
	if (*out)
		memcpy(*out, s, len);
	x->upgrade_socket = v;
}

/* A file mode in octal, "0600" or "0o600" (YAML 1.1 and 1.2 spellings), 0 .. <hi>. */
static bool
get_mode(struct sl__config_load *x, const yaml_node_t *v, const char *key, uint32_t hi,
         uint32_t *out)
{
	const char *s = scalar_text(v);
	uint32_t m = 0;
	size_t i = 0;

	if (s && s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		i = 2;
	if (!s || s[i] == '\0' || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		type_error(x, v, "an octal file mode such as 0600", key);
		return false;
	}
	for (; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7' || m > hi) {
			type_error(x, v, "an octal file mode such as 0600", key);
			return false;
		}
		m = m * 8 + (uint32_t)(s[i] - '0');
	}
	if (m > hi) {
		sl__config_error(x, v->start_mark, "\"%s\" must be at most 0%o, got %s", key, hi,
		                 s);
		return false;
	}
	*out = m;
	return true;
}

static void
walk_control(struct sl__config_load *x, yaml_node_t *map, struct sl_config_control *ctl)
{
	yaml_node_t *p;
	key_vals v = {0};
	const char *s;

	if (!walk_section(x, map, "for \"control\"", "in control", SL__SEC_CONTROL, v, ctl, NULL))
		return;
	if (v[SL__KEY_CONTROL_MODE])
		get_mode(x, v[SL__KEY_CONTROL_MODE], "mode", SL_CONFIG_CONTROL_MODE_MAX,
		         &ctl->mode);
	p = v[SL__KEY_CONTROL_PATH];
	if (!p) {
		sl__config_error(x, map->start_mark, "control is missing required key \"path\"");
		return;
	}
	s = scalar_text(p);
	if (!s || scalar_is_null(p) || s[0] == '\0') {
		type_error(x, p, "a socket file name", "path");
		return;
	}
	if (p->data.scalar.length > SL_CONFIG_CONTROL_PATH_MAX) {
		sl__config_error(
		        x, p->start_mark,
		        "\"path\" is too long for a unix socket (at most %d bytes, got %zu)",
		        SL_CONFIG_CONTROL_PATH_MAX, p->data.scalar.length);
		return;
	}
	if (!path_bytes_ok(x, p, "path"))
		return;
	memcpy(ctl->path, s, p->data.scalar.length + 1);
	x->control_path = p;
}

/* A number (integer or decimal, optional exponent, no hex), finite and not negative. */
static bool
get_number(struct sl__config_load *x, const yaml_node_t *v, const char *key, double *out)
{
	const char *s = scalar_text(v);
	char *end;
	double d;

	if (!s || scalar_is_null(v) || s[0] == '\0' || s[0] == ' ')
		goto bad;
	/* decimal only: strtod() also reads hex ("0x10", "0x1p3"), inf and nan */
	for (const char *c = s; *c != '\0'; c++)
		if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' ||
		      *c == '+' || *c == '-'))
			goto bad;
	d = strtod(s, &end);
	if (*end != '\0' || d != d || d < 0 || d > 1e300)
		goto bad;
	*out = d + 0.0; /* -0 is 0: a file that says either is the same file */
	return true;
bad:
	type_error(x, v, "a number from 0 to 1e300 such as 0.25 or 5e8", key);
	return false;
}

/* A byte of a host name or IPv4 address in a webhook URL (RFC 3986's unreserved ones). */
static bool
is_host_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Whether the authority of <url> (printable ASCII, after "http://" or "https://"), RFC 3986's
 * [userinfo@]host[:port], has a host (a name, an IPv4 address, or an IPv6 address in brackets
 * with an optional %25 zone) and, if it has a port, one from 1 to 65535. If not, <why> (<size>
 * bytes) says what is wrong, to follow "\"url\" ".
 */
static bool
url_has_host_and_port(const char *url, char *why, size_t size)
{
	const char *a = strstr(url, "://") + 3, *end, *at, *p, *d;
	char ip[INET6_ADDRSTRLEN + 1], q[SL__CONFIG_QUOTE_MAX];
	unsigned long port = 0;

	/* where libcurl would read another host than the one below: it takes a backslash for a
	 * slash (http://h1\@h2/ goes to h1), and refuses two @ */
	if (strchr(url, '\\') != NULL) {
		snprintf(why, size, "has a backslash: write / (and %%5C in a path)");
		return false;
	}
	end = a + strcspn(a, "/?#");
	at = memrchr(a, '@', (size_t)(end - a));
	if (at != NULL && memchr(a, '@', (size_t)(at - a)) != NULL) {
		snprintf(why, size,
		         "has two @ before its host: write an @ of the user or password "
		         "as %%40");
		return false;
	}
	if (at != NULL)
		a = at + 1; /* user:password@ is libcurl's to send */
	if (*a == '[') {
		const char *close = memchr(a, ']', (size_t)(end - a)), *zone;
		struct in6_addr in6;
		size_t n;

		if (close == NULL) {
			snprintf(why, size, "has an IPv6 address without its closing ']'");
			return false;
		}
		zone = memchr(a, '%', (size_t)(close - a));
		n = (size_t)((zone != NULL ? zone : close) - (a + 1));
		if (n < sizeof(ip)) {
			memcpy(ip, a + 1, n);
			ip[n] = '\0';
		}
		if (n >= sizeof(ip) || inet_pton(AF_INET6, ip, &in6) != 1 ||
		    (zone != NULL && (strncmp(zone, "%25", 3) != 0 || zone + 3 == close))) {
			sl__config_quote(a, (size_t)(close + 1 - a), q, sizeof(q));
			snprintf(why, size,
			         "has \"%s\" for a host, not an IPv6 address (a zone is written "
			         "%%25eth0)",
			         q);
			return false;
		}
		p = close + 1;
	} else {
		for (p = a; p < end && is_host_name_char(*p);)
			p++;
		if (p == a && (p == end || *p == ':')) {
			snprintf(why, size, "has no host: expected %s",
			         p < end && memchr(p + 1, ':', (size_t)(end - p - 1)) != NULL
			                 ? "an IPv6 address in brackets, as in http://[::1]:8080/"
			                 : "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH");
			return false;
		}
		if (p < end && *p != ':') {
			const char *colon = memchr(p, ':', (size_t)(end - p));

			sl__config_quote(a, (size_t)((colon != NULL ? colon : end) - a), q,
			                 sizeof(q));
			snprintf(
			        why, size,
			        "has \"%s\" for a host: a name may hold only letters, digits, '-', "
			        "'.' and '_', and an IPv6 address goes in brackets",
			        q);
			return false;
		}
	}
	if (p == end)
		return true; /* the scheme's port */
	if (*p != ':') {
		sl__config_quote(p, (size_t)(end - p), q, sizeof(q));
		snprintf(why, size, "has \"%s\" after its host, where only :PORT may follow", q);
		return false;
	}
	for (d = p + 1; d < end && *d >= '0' && *d <= '9' && port <= 65535; d++)
		port = port * 10 + (unsigned long)(*d - '0');
	if (d == end && d > p + 1 && port >= 1 && port <= 65535)
		return true;
	sl__config_quote(p + 1, (size_t)(end - p - 1), q, sizeof(q));
	snprintf(why, size, "has port \"%s\": expected a number from 1 to 65535", q);
	return false;
}

static void
walk_webhook(struct sl__config_load *x, yaml_node_t *map, struct sl_config_webhook *w)
{
	char why[2 * SL__CONFIG_QUOTE_MAX];
	yaml_node_t *u;
	key_vals v = {0};
	const char *s;
	size_t n;

	if (!walk_section(x, map, "for each item of \"webhooks\"", "in webhook", SL__SEC_WEBHOOK, v,
	                  w, NULL))
		return;
	u = v[SL__KEY_WEBHOOK_URL];
	if (!u) {
		sl__config_error(x, map->start_mark, "webhook is missing required key \"url\"");
		return;
	}
	s = scalar_text(u);
	if (!s || scalar_is_null(u) ||
	    (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
		type_error(x, u, "an http:// or https:// URL", "url");
		return;
	}
	n = u->data.scalar.length;
	if (n >= SL_CONFIG_URL_MAX) {
		sl__config_error(x, u->start_mark, "\"url\" is too long (at most %d bytes)",
		                 SL_CONFIG_URL_MAX - 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] >= 0x7f) {
			sl__config_error(x, u->start_mark,
			                 "\"url\" may contain only printable ASCII without spaces "
			                 "(percent-encode the others)");
			return;
		}
	}
	if (!url_has_host_and_port(s, why, sizeof(why))) {
		sl__config_error(x, u->start_mark, "\"url\" %s", why);
		return;
	}
	memcpy(w->url, s, n + 1);
}

static const struct sl_config_group *
alert_group(const struct sl__config_load *x, const char *name)
{
	for (size_t g = 0; g < x->c->ngroups; g++)
		if (strcmp(x->c->groups[g].name, name) == 0)
			return &x->c->groups[g];
	return NULL;
}

static void
walk_rule(struct sl__config_load *x, yaml_node_t *map, struct sl_config_alert_rule *r)
{
	const struct sl_config_group *g = NULL;
	yaml_node_t *gv, *bv;
	bool ok[SL__KEYS] = {false};
	key_vals v = {0};

	if (!walk_section(x, map, "for each item of \"rules\"", "in rule", SL__SEC_RULE, v, r, ok))
		return;
	if (!v[SL__KEY_RULE_NAME])
		sl__config_error(x, map->start_mark, "rule is missing required key \"name\"");
	if (!v[SL__KEY_RULE_METRIC])
		sl__config_error(x, map->start_mark, "rule is missing required key \"metric\"");
	if (!v[SL__KEY_RULE_ABOVE])
		sl__config_error(x, map->start_mark, "rule is missing required key \"above\"");
	r->clear_below = r->above;
	if (v[SL__KEY_RULE_CLEAR] &&
	    get_key(x, v[SL__KEY_RULE_CLEAR], SL__KEY_RULE_CLEAR, &r->clear_below) &&
	    ok[SL__KEY_RULE_ABOVE] && r->clear_below > r->above)
		sl__config_error(x, v[SL__KEY_RULE_CLEAR]->start_mark,
		                 "\"clear_below\" must be at most \"above\" (%g), got %g", r->above,
		                 r->clear_below);
	gv = v[SL__KEY_RULE_GROUP];
	bv = v[SL__KEY_RULE_BACKEND];
	if ((gv || bv) && ok[SL__KEY_RULE_METRIC] && r->metric != SL_ALERT_BACKEND_DOWN) {
		sl__config_error(x, (gv ? gv : bv)->start_mark,
		                 "\"group\" and \"backend\" apply to metric backend_down only");
		return;
	}
	if (gv && ok[SL__KEY_RULE_GROUP] && (g = alert_group(x, r->group)) == NULL)
		sl__config_error(x, gv->start_mark, "no group named \"%s\"", r->group);
	if (bv && !gv) {
		sl__config_error(x, bv->start_mark,
		                 "\"backend\" needs the \"group\" it belongs to");
		return;
	}
	if (bv && ok[SL__KEY_RULE_BACKEND] && g) {
		size_t i;

		for (i = 0; i < g->nbackends; i++)
			if (strcmp(g->backends[i].name, r->backend) == 0)
				break;
		if (i == g->nbackends)
			sl__config_error(x, bv->start_mark,
			                 "group \"%s\" has no backend named \"%s\"", g->name,
			                 r->backend);
	}
}

/* A list of at most <max> mappings under <key>; its items, zeroed, in <*out>. */
static size_t
alloc_list(struct sl__config_load *x, yaml_node_t *v, const char *key, size_t max, size_t size,
           void **out)
{
	size_t n;

	*out = NULL;
	if (!is_list(x, v, key))
		return 0;
	n = list_len(v);
	if (n > max) {
		sl__config_error(x, v->start_mark, "at most %zu items in \"%s\", got %zu", max, key,
		                 n);
		return 0;
	}
	if (n == 0)
		return 0;
	*out = sl__config_calloc(x, n, size);
	return *out ? n : 0;
}

static void
walk_alerts(struct sl__config_load *x, yaml_node_t *map, struct sl_config_alerts *a)
{
	key_vals v = {0};
	void *items;
	size_t i, n;

	if (!walk_section(x, map, "for \"alerts\"", "in alerts", SL__SEC_ALERTS, v, a, NULL))
		return;
	if (v[SL__KEY_ALERTS_WEBHOOKS]) {
		yaml_node_t *wl = v[SL__KEY_ALERTS_WEBHOOKS];

		n = alloc_list(x, wl, "webhooks", SL_CONFIG_WEBHOOKS_MAX, sizeof(a->webhooks[0]),
		               &items);
		a->webhooks = items;
		a->nwebhooks = n;
		for (i = 0; i < n && !sl__config_stopped(x); i++) {
			yaml_node_t *item = node_at(x, wl->data.sequence.items.start[i]);

			sl__config_section_defaults(SL__SEC_WEBHOOK, &a->webhooks[i]);
			if (item)
				walk_webhook(x, item, &a->webhooks[i]);
		}
	}
	if (!v[SL__KEY_ALERTS_RULES]) {
		sl__config_error(x, map->start_mark, "alerts is missing required key \"rules\"");
		return;
	}
	n = alloc_list(x, v[SL__KEY_ALERTS_RULES], "rules", SL_CONFIG_ALERT_RULES_MAX,
	               sizeof(a->rules[0]), &items);
	a->rules = items;
	a->nrules = n;
	/* alerts with no rule would run nothing and say nothing: leave out alerts: instead */
	if (v[SL__KEY_ALERTS_RULES]->type == YAML_SEQUENCE_NODE &&
	    list_len(v[SL__KEY_ALERTS_RULES]) == 0)
		sl__config_error(x, v[SL__KEY_ALERTS_RULES]->start_mark,
		                 "\"rules\" is empty: give 1 to %d rules, or leave out alerts",
		                 SL_CONFIG_ALERT_RULES_MAX);
	for (i = 0; i < n && !sl__config_stopped(x); i++) {
		yaml_node_t *item =
		        node_at(x, v[SL__KEY_ALERTS_RULES]->data.sequence.items.start[i]);

		sl__config_section_defaults(SL__SEC_RULE, &a->rules[i]);
		if (item)
			walk_rule(x, item, &a->rules[i]);
		for (size_t j = 0; j < i && item; j++)
			if (a->rules[i].name[0] != '\0' &&
			    strcmp(a->rules[i].name, a->rules[j].name) == 0)
				sl__config_error(x, item->start_mark, "two rules named \"%s\"",
				                 a->rules[i].name);
	}
}

static void
walk_profiling(struct sl__config_load *x, yaml_node_t *map, struct sl_config_profiling *p)
{
	key_vals v = {0};

	walk_section(x, map, "for \"profiling\"", "in profiling", SL__SEC_PROFILING, v, p, NULL);
}

static void
walk_xdp(struct sl__config_load *x, yaml_node_t *map, struct sl_config_xdp *xdp)
{
	char name[SL_CONFIG_NAME_MAX];
	yaml_node_t *ifv;
	key_vals v = {0};

	if (!walk_section(x, map, "for \"xdp\"", "in xdp", SL__SEC_XDP, v, xdp, NULL))
		return;
	ifv = v[SL__KEY_XDP_INTERFACE];
	if (!ifv)
		sl__config_error(x, map->start_mark, "\"xdp\" needs an \"interface\"");
	else if (get_name(x, ifv, "interface", name)) {
		if (strlen(name) >= SL_CONFIG_IFNAME_MAX || strchr(name, '/') != NULL)
			sl__config_error(x, ifv->start_mark,
			                 "expected a network interface name of at most %d bytes "
			                 "without '/' for \"interface\", got \"%s\"",
			                 SL_CONFIG_IFNAME_MAX - 1, name);
		else
			memcpy(xdp->interface, name, strlen(name) + 1);
	}
}

void
sl__config_walk(struct sl__config_load *x)
{
	yaml_node_t *root = yaml_document_get_root_node(x->doc);
	yaml_mark_t start = {0, 0, 0};
	struct sl_config *c = x->c;
	key_vals v = {0}, sub = {0};
	bool ok[SL__KEYS] = {false};

	if (!root || (root->type == YAML_SCALAR_NODE && scalar_is_null(root))) {
		sl__config_error(x, start, "at least one listener is required");
		sl__config_error(x, start, "at least one group is required");
		return;
	}
	x->root = root->start_mark;
	if (!walk_section(x, root, "at the top level", "at the top level", SL__SEC_TOP, v, c, NULL))
		return;
	if (v[SL__KEY_TOP_WORKERS])
		x->workers = v[SL__KEY_TOP_WORKERS];
	if (v[SL__KEY_TOP_LOG])
		walk_section(x, v[SL__KEY_TOP_LOG], "for \"log\"", "in log", SL__SEC_LOG, sub, c,
		             NULL);
	if (v[SL__KEY_TOP_ADMIN] &&
	    walk_section(x, v[SL__KEY_TOP_ADMIN], "for \"admin\"", "in admin", SL__SEC_ADMIN, sub,
	                 &c->admin, ok) &&
	    ok[SL__KEY_ADMIN_ADDRESS])
		x->admin_addr = sub[SL__KEY_ADMIN_ADDRESS]; /* validation compares it (read well) */
	if (v[SL__KEY_TOP_ACCESS_LOG])
		walk_access_log(x, v[SL__KEY_TOP_ACCESS_LOG], &c->access_log);
	if (v[SL__KEY_TOP_UPGRADE_SOCKET])
		walk_upgrade_socket(x, v[SL__KEY_TOP_UPGRADE_SOCKET], &c->upgrade_socket);
	if (v[SL__KEY_TOP_USER])
		get_id(x, v[SL__KEY_TOP_USER], "user", c->user);
	if (v[SL__KEY_TOP_GROUP])
		get_id(x, v[SL__KEY_TOP_GROUP], "group", c->group);
	if (v[SL__KEY_TOP_CONTROL])
		walk_control(x, v[SL__KEY_TOP_CONTROL], &c->control);
	/* groups first: listeners name them, and validation wants both arrays sized */
	if (v[SL__KEY_TOP_GROUPS])
		walk_groups(x, v[SL__KEY_TOP_GROUPS]);
	else
		sl__config_error(x, root->start_mark, "at least one group is required");
	/* after the groups: a backend_down rule names one */
	if (v[SL__KEY_TOP_ALERTS])
		walk_alerts(x, v[SL__KEY_TOP_ALERTS], &c->alerts);
	if (v[SL__KEY_TOP_PROFILING])
		walk_profiling(x, v[SL__KEY_TOP_PROFILING], &c->profiling);
	if (v[SL__KEY_TOP_XDP])
		walk_xdp(x, v[SL__KEY_TOP_XDP], &c->xdp);
	if (v[SL__KEY_TOP_LISTENERS]) {
		x->listeners = v[SL__KEY_TOP_LISTENERS];
		walk_listeners(x, v[SL__KEY_TOP_LISTENERS]);
	} else
		sl__config_error(x, root->start_mark, "at least one listener is required");
}
