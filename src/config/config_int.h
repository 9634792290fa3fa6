/* SPDX-License-Identifier: MIT */
/*
 * Internals of the configuration loader, shared by its files: config.c (entry points, error
 * list), config_keys.c (the key table), config_yaml.c (walks the libyaml node tree into a
 * snapshot), config_validate.c (checks that span several nodes: names, references) and
 * config_defaults.c. Nothing here is public; the loader is single-threaded per load.
 */
#ifndef SLUICE_CONFIG_INT_H
#define SLUICE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include <sluice/config.h>

/* One error, kept until the load ends so the list can be printed in file order. */
struct sl__config_err {
	size_t line; /* 1-based */
	size_t col;  /* 1-based */
	size_t seq;  /* discovery order, breaks ties */
	char *msg;
};

/* Where each backend's values came from, for messages that span nodes. */
struct sl__config_bmeta {
	yaml_mark_t map;
	yaml_node_t *name; /* NULL when defaulted */
	yaml_node_t *addr; /* NULL when missing */
	bool addr_ok;
};

struct sl__config_gmeta {
	yaml_mark_t map;
	yaml_node_t *name;           /* NULL when missing or bad */
	yaml_node_t *maglev;         /* maglev_table_size value, NULL when defaulted */
	yaml_node_t *max_backends;   /* NULL when defaulted */
	yaml_node_t *backends;       /* the list, NULL when missing */
	yaml_node_t *source;         /* NULL when absent */
	struct sl__config_bmeta *bm; /* one per backend */
};

struct sl__config_lmeta {
	yaml_mark_t map;
	yaml_node_t *name;    /* NULL when defaulted */
	yaml_node_t *addr;    /* NULL when missing */
	yaml_node_t *group;   /* NULL when missing */
	yaml_node_t *allow;   /* NULL when missing */
	yaml_node_t *trusted; /* proxy_protocol.trusted, NULL when missing */
	bool addr_ok;
	bool group_ok; /* the group value is a usable string */
};

/* The state of one load. */
struct sl__config_load {
	const char *source;
	const char *text;
	size_t len;
	yaml_document_t *doc;
	struct sl_config *c; /* the snapshot being built */
	struct sl__config_err *errs;
	size_t nerrs, caperrs;
	bool oom;                    /* an allocation failed: the load returns -ENOMEM */
	struct sl__config_lmeta *lm; /* c->nlisteners entries */
	struct sl__config_gmeta *gm; /* ngm == c->ngroups entries */
	size_t ngm;
	yaml_mark_t root;
	bool have_listeners_key, have_groups_key;
	yaml_node_t *workers;    /* the workers value, NULL when defaulted */
	yaml_node_t *admin_addr; /* the admin address value, NULL when absent or unreadable */
	/* the values of the files sluice makes or opens, NULL when absent or unreadable */
	yaml_node_t *access_log_path, *upgrade_socket, *control_path;
	yaml_node_t *listeners; /* the listeners list, NULL when missing */
	unsigned char *seen;    /* one per document node: the walk has reached it */
	size_t nseen;
	size_t alias_nodes; /* nodes the walk reached again (through YAML aliases) */
	bool too_big;       /* alias_nodes passed SL_CONFIG_ALIAS_NODES_MAX: the walk stopped */
};

/* A load stops collecting (and walking) after this many errors: aliases could multiply them. */
#define SL__CONFIG_ERRORS_MAX 100

/* true once the load should stop walking: out of memory, too many errors, or aliases. */
static inline bool
sl__config_stopped(const struct sl__config_load *x)
{
	return x->oom || x->too_big || x->nerrs >= SL__CONFIG_ERRORS_MAX;
}

/* calloc() that honours the test hook below; sets <x>->oom on failure. */
void *sl__config_calloc(struct sl__config_load *x, size_t n, size_t size);

/*
 * Test hook: the <n>-th following sl__config_calloc() on this thread fails (0 = the next one);
 * negative turns the hook off. Only for tests of the out-of-memory paths.
 */
void sl__config_fail_alloc_after(long n);

/* Records "message" at <m> (0-based libyaml mark). printf-style. */
void sl__config_error(struct sl__config_load *x, yaml_mark_t m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes "SOURCE:LINE:COLUMN" for <m> into <buf>. Returns <buf>. */
char *sl__config_where(const struct sl__config_load *x, yaml_mark_t m, char *buf, size_t size);

/*
 * Writes <s> (<n> bytes) into <buf> as it may appear inside double quotes in a message: control
 * and non-ASCII bytes escaped as \xNN, quotes and backslashes escaped, long text cut with "...".
 */
char *sl__config_quote(const char *s, size_t n, char *buf, size_t size);

/* Edit distance (insert, delete, substitute, swap neighbours) if <= 2, else 3. */
unsigned sl__config_distance(const char *a, const char *b);

/* The closest of <names> to <word> within distance 2, or NULL. */
const char *sl__config_closest(const char *word, const char *const *names, size_t n);

/* Walks the document root into <x>->c and the meta arrays, recording errors. */
void sl__config_walk(struct sl__config_load *x);

/* Checks names, references and cross-field rules after the walk. */
void sl__config_validate(struct sl__config_load *x);

#define SL__CONFIG_QUOTE_MAX 160 /* buffer size for sl__config_quote() in messages */
#define SL__CONFIG_WHERE_MAX 320 /* buffer size for sl__config_where() */

#endif /* SLUICE_CONFIG_INT_H */
