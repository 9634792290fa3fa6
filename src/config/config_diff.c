// SPDX-License-Identifier: MIT
/*
 * The reload compare: which key that a running process was built from differs between two
 * snapshots, walked from the key table (config_keys.h), so a new key is compared the day it is
 * added (groups matched by name: a group added or removed is the proxy's to build or retire), and
 * which key of a listener differs that re-opens it. The caller decides what a difference means
 * (sluice refuses the reload; the proxy re-opens the listener).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/config.h>

#include "config/config_keys.h"

/* Adds a difference to <why> (of <size>), after the ones found before it; truncates quietly. */
static void __attribute__((format(printf, 3, 4)))
add_reason(char *why, size_t size, const char *fmt, ...)
{
	size_t len = strnlen(why, size);
	va_list ap;

	if (len + 2 >= size)
		return;
	if (len > 0) {
		memcpy(why + len, ", ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + len, size - len, fmt, ap);
	va_end(ap);
}

/* true if the fields of typed key <k> at <a> and <b> hold the same value */
static bool
same_value(const struct sl__config_key *k, const char *a, const char *b)
{
	if (k->same != NULL)
		return k->same(a, b);
	switch (k->kind) {
	case SL__KIND_NAME:
		return strcmp(a, b) == 0;
	case SL__KIND_ADDR:
		return sl_addr_equal((const struct sl_addr *)(const void *)a,
		                     (const struct sl_addr *)(const void *)b);
	default:
		return memcmp(a, b, k->size) == 0;
	}
}

/* "listener web" for an item with a name key, else "webhooks item 2" */
static void
item_label(enum sl__config_section sec, const struct sl__config_key *list, const char *item,
           size_t i, char *buf, size_t size)
{
	size_t first, n = sl__config_section_keys(sec, &first);

	for (size_t j = first; j < first + n; j++) {
		const struct sl__config_key *k = &sl__config_keys[j];

		if (k->kind == SL__KIND_NAME && strcmp(k->name, "name") == 0 && item[k->offset]) {
			snprintf(buf, size, "%s %s", sl__config_section_names[sec],
			         item + k->offset);
			return;
		}
	}
	snprintf(buf, size, "%s item %zu", list->name, i + 1);
}

static bool differs(enum sl__config_section sec, const char *a, const char *b, const char *path,
                    enum sl__config_reload from, char *why, size_t size);

/*
 * Two lists' items paired by name (names are unique within a list: validation refuses a repeat):
 * <a>'s names sorted once, each of <b>'s found by a binary search, so a reload of tens of
 * thousands of backends is compared in milliseconds (pairing them by a scan of the other list
 * took seconds at 20000). The caller sets the names (a[], b[]; <text> has room for the ones it
 * formats, <text_size> bytes each, a's first), then pairing_match() sets in_a[] and in_b[].
 */
struct name_ref {
	const char *name;
	size_t at;
};

struct pairing {
	const char **a, **b;
	size_t na, nb;
	size_t *in_a;            /* [nb]: index in <a> of b's item, SIZE_MAX if <a> has none */
	bool *in_b;              /* [na]: a's item has one of the same name in <b> */
	struct name_ref *sorted; /* [na] */
	char *text;              /* [(na + nb) * text_size] */
	size_t text_size;
};

static void
pairing_fini(struct pairing *pr)
{
	free(pr->a);
	free(pr->in_a);
	free(pr->in_b);
	free(pr->sorted);
	free(pr->text);
}

/* false: out of memory */
static bool
pairing_init(struct pairing *pr, size_t na, size_t nb, size_t text_size)
{
	size_t n = na + nb;

	memset(pr, 0, sizeof(*pr));
	pr->na = na;
	pr->nb = nb;
	pr->text_size = text_size;
	pr->a = calloc(n + 1, sizeof(*pr->a));
	pr->in_a = calloc(nb + 1, sizeof(*pr->in_a));
	pr->in_b = calloc(na + 1, sizeof(*pr->in_b));
	pr->sorted = calloc(na + 1, sizeof(*pr->sorted));
	pr->text = text_size > 0 ? calloc(n + 1, text_size) : NULL;
	if (pr->a == NULL || pr->in_a == NULL || pr->in_b == NULL || pr->sorted == NULL ||
	    (text_size > 0 && pr->text == NULL)) {
		pairing_fini(pr);
		return false;
	}
	pr->b = pr->a + na;
	return true;
}

/* Room for the name of item <k> (a's first, then b's) that the caller formats. */
static char *
pairing_text(struct pairing *pr, size_t k)
{
	return pr->text + k * pr->text_size;
}

static int
name_ref_cmp(const void *x, const void *y)
{
	return strcmp(((const struct name_ref *)x)->name, ((const struct name_ref *)y)->name);
}

static void
pairing_match(struct pairing *pr)
{
	for (size_t i = 0; i < pr->na; i++)
		pr->sorted[i] = (struct name_ref){.name = pr->a[i], .at = i};
	qsort(pr->sorted, pr->na, sizeof(pr->sorted[0]), name_ref_cmp);
	for (size_t j = 0; j < pr->nb; j++) {
		struct name_ref key = {.name = pr->b[j]};
		const struct name_ref *hit =
		        bsearch(&key, pr->sorted, pr->na, sizeof(pr->sorted[0]), name_ref_cmp);

		pr->in_a[j] = hit != NULL ? hit->at : SIZE_MAX;
		if (hit != NULL)
			pr->in_b[hit->at] = true;
	}
}

/*
 * Groups are matched by name, not by place: each of <b>'s that is one of <a>'s must have the
 * same keys of class <from> or above. One <b> adds or <a> has and <b> leaves out is no reason
 * for a restart (the proxy fills or retires a group slot, or refuses: greload.c), but it is a
 * change the reload applies.
 */
static bool
groups_differ(const struct sl__config_key *k, const char *a, const char *b, const char *path,
              enum sl__config_reload from, char *why, size_t size)
{
	const struct sl_config_group *ga =
	        *(const struct sl_config_group *const *)(const void *)(a + k->offset);
	const struct sl_config_group *gb =
	        *(const struct sl_config_group *const *)(const void *)(b + k->offset);
	size_t na = *(const size_t *)(const void *)(a + k->count_offset);
	size_t nb = *(const size_t *)(const void *)(b + k->count_offset);
	struct pairing pr;
	bool any = false;

	if (!pairing_init(&pr, na, nb, 0)) {
		add_reason(why, size, "%sgroups could not be compared (out of memory)", path);
		return true;
	}
	for (size_t i = 0; i < na; i++)
		pr.a[i] = ga[i].name;
	for (size_t j = 0; j < nb; j++)
		pr.b[j] = gb[j].name;
	pairing_match(&pr);
	for (size_t j = 0; j < nb; j++) {
		char sub[SL_CONFIG_NAME_MAX + 64];

		if (pr.in_a[j] == SIZE_MAX) {
			if (from < SL__RELOAD_RESTART) {
				add_reason(why, size, "%sgroup %s was added", path, gb[j].name);
				any = true;
			}
			continue;
		}
		snprintf(sub, sizeof(sub), "%sgroup %s: ", path, gb[j].name);
		any |= differs(k->child, (const char *)&ga[pr.in_a[j]], (const char *)&gb[j], sub,
		               from, why, size);
	}
	for (size_t i = 0; i < na && from < SL__RELOAD_RESTART; i++) {
		if (!pr.in_b[i]) {
			add_reason(why, size, "%sgroup %s was removed", path, ga[i].name);
			any = true;
		}
	}
	pairing_fini(&pr);
	return any;
}

/* Backend <b>'s name as the reload knows it: its name, or its address text. */
static const char *
backend_name(const struct sl_config_backend *b, char *buf, size_t size)
{
	return b->name[0] != '\0' ? b->name : sl_addr_format(&b->addr, buf, size);
}

/*
 * A group's backends are matched by name, as the reload applies them (backends.c): one of <b>'s
 * that <a> lacks is added, one of <a>'s that <b> lacks removed, and each kept one is compared
 * key by key; their order is nobody's concern.
 */
static bool
backends_differ(const struct sl__config_key *k, const char *a, const char *b, const char *path,
                enum sl__config_reload from, char *why, size_t size)
{
	const struct sl_config_backend *ba =
	        *(const struct sl_config_backend *const *)(const void *)(a + k->offset);
	const struct sl_config_backend *bb =
	        *(const struct sl_config_backend *const *)(const void *)(b + k->offset);
	size_t na = *(const size_t *)(const void *)(a + k->count_offset);
	size_t nb = *(const size_t *)(const void *)(b + k->count_offset);
	struct pairing pr;
	bool any = false;

	if (!pairing_init(&pr, na, nb, SL_ADDR_STRLEN)) {
		add_reason(why, size, "%sbackends could not be compared (out of memory)", path);
		return true;
	}
	for (size_t i = 0; i < na; i++)
		pr.a[i] = backend_name(&ba[i], pairing_text(&pr, i), SL_ADDR_STRLEN);
	for (size_t j = 0; j < nb; j++)
		pr.b[j] = backend_name(&bb[j], pairing_text(&pr, na + j), SL_ADDR_STRLEN);
	pairing_match(&pr);
	for (size_t j = 0; j < nb; j++) {
		char sub[SL_CONFIG_NAME_MAX + 64];

		if (pr.in_a[j] == SIZE_MAX) {
			add_reason(why, size, "%sbackend %s was added", path, pr.b[j]);
			any = true;
			continue;
		}
		snprintf(sub, sizeof(sub), "%sbackend %s: ", path, pr.b[j]);
		any |= differs(k->child, (const char *)&ba[pr.in_a[j]], (const char *)&bb[j], sub,
		               from, why, size);
	}
	for (size_t i = 0; i < na; i++) {
		if (!pr.in_b[i]) {
			add_reason(why, size, "%sbackend %s was removed", path, pr.a[i]);
			any = true;
		}
	}
	pairing_fini(&pr);
	return any;
}

static bool
list_differs(const struct sl__config_key *k, const char *a, const char *b, const char *path,
             enum sl__config_reload from, char *why, size_t size)
{
	const char *ia = *(const char *const *)(const void *)(a + k->offset);
	const char *ib = *(const char *const *)(const void *)(b + k->offset);
	size_t na = *(const size_t *)(const void *)(a + k->count_offset);
	size_t nb = *(const size_t *)(const void *)(b + k->count_offset);
	char label[SL_CONFIG_NAME_MAX + 32];
	bool any = false;

	if (k->child == SL__SEC_GROUP)
		return groups_differ(k, a, b, path, from, why, size);
	if (k->child == SL__SEC_BACKEND)
		return backends_differ(k, a, b, path, from, why, size);
	if (na != nb) {
		add_reason(why, size, "%s%s were added or removed", path, k->name);
		return true;
	}
	for (size_t i = 0; i < na; i++) {
		const char *x = ia + i * k->item_size, *y = ib + i * k->item_size;
		char sub[SL_CONFIG_NAME_MAX + 64];

		item_label(k->child, k, x, i, label, sizeof(label));
		snprintf(sub, sizeof(sub), "%s%s: ", path, label);
		any |= differs(k->child, x, y, sub, from, why, size);
	}
	return any;
}

/*
 * true if a key of section <sec> (struct at <a> and <b>) whose reload class is <from> or
 * above differs, or one of a mapping or list inside it; "<path><key> changed" is added to
 * <why> for each one (add_reason()).
 */
static bool
differs(enum sl__config_section sec, const char *a, const char *b, const char *path,
        enum sl__config_reload from, char *why, size_t size)
{
	size_t first, n = sl__config_section_keys(sec, &first);
	bool any = false;

	for (size_t i = first; i < first + n; i++) {
		const struct sl__config_key *k = &sl__config_keys[i];
		char sub[160];

		if (k->kind == SL__KIND_LIST) {
			/* a live list (backends, listeners) is the reload's to apply */
			if (k->reload >= from)
				any |= list_differs(k, a, b, path, from, why, size);
			continue;
		}
		if (k->kind == SL__KIND_MAP) {
			if (k->present != NULL && k->reload >= from &&
			    k->present(a + k->offset) != k->present(b + k->offset)) {
				if (k->present(b + k->offset))
					add_reason(why, size, "%s%s added", path, k->name);
				else
					add_reason(why, size, "%s%s removed", path, k->name);
				any = true;
				continue;
			}
			if (k->same != NULL && k->reload >= from &&
			    !k->same(a + k->offset, b + k->offset)) {
				add_reason(why, size, "%s%s changed", path, k->name);
				any = true;
				continue;
			}
			snprintf(sub, sizeof(sub), "%s%s.", path, k->name);
			any |= differs(k->child, a + k->offset, b + k->offset, sub, from, why,
			               size);
			continue;
		}
		if (k->reload >= from && !same_value(k, a + k->offset, b + k->offset)) {
			add_reason(why, size, "%s%s changed", path, k->name);
			any = true;
		}
	}
	return any;
}

/* differs() from the top of a compare: <why> starts empty */
static bool
compare(enum sl__config_section sec, const char *a, const char *b, const char *path,
        enum sl__config_reload from, char *why, size_t size)
{
	if (size > 0)
		why[0] = '\0';
	return differs(sec, a, b, path, from, why, size);
}

bool
sl_config_needs_restart(const struct sl_config *a, const struct sl_config *b, char *why,
                        size_t size)
{
	return compare(SL__SEC_TOP, (const char *)a, (const char *)b, "", SL__RELOAD_RESTART, why,
	               size);
}

bool
sl_config_changes(const struct sl_config *a, const struct sl_config *b, char *why, size_t size)
{
	return compare(SL__SEC_TOP, (const char *)a, (const char *)b, "", SL__RELOAD_LIVE, why,
	               size);
}

bool
sl_config_listener_needs_reopen(const struct sl_config_listener *a,
                                const struct sl_config_listener *b, char *why, size_t size)
{
	return compare(SL__SEC_LISTENER, (const char *)a, (const char *)b, "", SL__RELOAD_REOPEN,
	               why, size);
}

bool
sl_config_group_needs_restart(const struct sl_config_group *a, const struct sl_config_group *b,
                              char *why, size_t size)
{
	char path[SL_CONFIG_NAME_MAX + 16];

	snprintf(path, sizeof(path), "group %s: ", b->name);
	return compare(SL__SEC_GROUP, (const char *)a, (const char *)b, path, SL__RELOAD_RESTART,
	               why, size);
}
