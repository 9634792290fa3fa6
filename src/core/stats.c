// SPDX-License-Identifier: MIT
/*
 * sl_stats: the statistics registry (include/sluice/stats.h). Sets are built once and then only
 * read, so nothing here is shared mutable state: values come from sl_counter sums (relaxed
 * reads, counter.c) or from the owners' callbacks. Every string is copied at add time.
 * Consumers: app/sluice/main.c (exit summary), src/admin/ (metrics, stats).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/stats.h>

struct sl_stats_set {
	char *name;
	char **labels;
	unsigned nlabels;
	struct sl_stats_def *defs; /* names and help copied */
	unsigned ndefs;
	const struct sl_counter_set *ctr;
	sl_stats_read_fn read;
	sl_stats_hist_fn hist;
	sl_stats_collect_fn collect;
	sl_stats_present_fn present;
	sl_stats_label_fn label;
	void *arg;
	char **values;   /* ninst * nlabels */
	unsigned *bases; /* ninst */
	size_t ninst, cap;
};

struct sl_stats {
	struct sl_stats_set **sets;
	size_t n, cap;
};

int
sl_stats_create(struct sl_stats **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? -ENOMEM : 0;
}

static void
set_free(struct sl_stats_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->values != NULL && i < s->ninst * s->nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->bases);
	for (unsigned j = 0; s->labels != NULL && j < s->nlabels; j++)
		free(s->labels[j]);
	free(s->labels);
	for (unsigned j = 0; s->defs != NULL && j < s->ndefs; j++) {
		free((char *)s->defs[j].name);
		free((char *)s->defs[j].help);
	}
	free(s->defs);
	free(s->name);
	free(s);
}

void
sl_stats_destroy(struct sl_stats *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		set_free(r->sets[i]);
	free(r->sets);
	free(r);
}

/* true if <s> is made of [a-z0-9_] only (and non-empty unless <empty_ok>). */
static bool
name_is_valid(const char *s, bool empty_ok)
{
	if (s == NULL || (*s == '\0' && !empty_ok))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int
def_check(const struct sl_stats_set_opts *o, const struct sl_stats_def *d)
{
	if (!name_is_valid(d->name, false))
		return -EINVAL;
	switch (d->kind) {
	case SL_STATS_COUNTER:
	case SL_STATS_GAUGE:
		if (d->offset == SL_STATS_READ)
			return o->read != NULL ? 0 : -EINVAL;
		/* the kinds are checked per instance, against the counters its base selects */
		return o->ctr != NULL && d->offset < sl_counter_len(o->ctr) ? 0 : -EINVAL;
	case SL_STATS_HIST:
		return o->hist != NULL ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static char *
dup_or_null(const char *s, bool *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*failed = true;
	return d;
}

int
sl_stats_add_set(struct sl_stats *r, const struct sl_stats_set_opts *o, struct sl_stats_set **out)
{
	struct sl_stats_set *s;
	bool failed = false;
	int err;

	if (o == NULL || !name_is_valid(o->name, true) || o->defs == NULL || o->ndefs == 0 ||
	    (o->nlabels > 0 && o->labels == NULL) || sl_stats_find(r, o->name) != NULL)
		return -EINVAL;
	for (unsigned j = 0; j < o->nlabels; j++)
		if (!name_is_valid(o->labels[j], false))
			return -EINVAL;
	for (unsigned j = 0; j < o->ndefs; j++)
		if ((err = def_check(o, &o->defs[j])) != 0)
			return err;
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 8 : r->cap * 2;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		struct sl_stats_set **sets = realloc(r->sets, cap * sizeof(*sets));

		if (sets == NULL)
			return -ENOMEM;
		r->sets = sets;
		r->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->name = dup_or_null(o->name, &failed);
	s->labels = calloc(o->nlabels + 1, sizeof(s->labels[0]));
	s->defs = calloc(o->ndefs, sizeof(s->defs[0]));
	if (s->labels == NULL || s->defs == NULL)
		goto err_free_set;
	s->nlabels = o->nlabels;
	for (unsigned j = 0; j < o->nlabels; j++)
		s->labels[j] = dup_or_null(o->labels[j], &failed);
	s->ndefs = o->ndefs;
	for (unsigned j = 0; j < o->ndefs; j++) {
		s->defs[j] = o->defs[j];
		s->defs[j].name = dup_or_null(o->defs[j].name, &failed);
		s->defs[j].help = dup_or_null(o->defs[j].help, &failed);
	}
	if (failed)
		goto err_free_set;
	s->ctr = o->ctr;
	s->read = o->read;
	s->hist = o->hist;
	s->collect = o->collect;
	s->present = o->present;
	s->label = o->label;
	s->arg = o->arg;
	r->sets[r->n++] = s;
	if (out != NULL)
		*out = s;
	return 0;

err_free_set:
	set_free(s);
	return -ENOMEM;
}

int
sl_stats_add_instance(struct sl_stats_set *s, const char *const *values, unsigned base)
{
	bool failed = false;
	size_t at;

	for (unsigned j = 0; j < s->nlabels; j++)
		if (values == NULL || values[j] == NULL)
			return -EINVAL;
	for (unsigned j = 0; j < s->ndefs; j++) {
		const struct sl_stats_def *d = &s->defs[j];

		if (d->kind == SL_STATS_HIST || d->offset == SL_STATS_READ)
			continue;
		/* the counter set enforces its own kinds: they must agree */
		if ((uint64_t)base + d->offset >= sl_counter_len(s->ctr) ||
		    (sl_counter_def(s->ctr, base + d->offset)->kind == SL_COUNTER_GAUGE) !=
		            (d->kind == SL_STATS_GAUGE))
			return -EINVAL;
	}
	if (s->ninst == s->cap) {
		size_t cap = s->cap == 0 ? 4 : s->cap * 2;
		unsigned *bases = realloc(s->bases, cap * sizeof(*bases));
		char **v;

		if (bases == NULL)
			return -ENOMEM;
		s->bases = bases;
		v = realloc(s->values, cap * (s->nlabels + 1) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->values = v;
		s->cap = cap;
	}
	at = s->ninst * s->nlabels;
	for (unsigned j = 0; j < s->nlabels; j++)
		s->values[at + j] = dup_or_null(values[j], &failed);
	if (failed) {
		for (unsigned j = 0; j < s->nlabels; j++)
			free(s->values[at + j]);
		return -ENOMEM;
	}
	s->bases[s->ninst++] = base;
	return 0;
}

int
sl_stats_collect(struct sl_stats *r)
{
	int err = 0, e;

	for (size_t i = 0; i < r->n; i++) {
		const struct sl_stats_set *s = r->sets[i];

		if (s->collect != NULL && (e = s->collect(s->arg)) != 0 && err == 0)
			err = e;
	}
	return err;
}

size_t
sl_stats_len(const struct sl_stats *r)
{
	return r->n;
}

const struct sl_stats_set *
sl_stats_at(const struct sl_stats *r, size_t i)
{
	return i < r->n ? r->sets[i] : NULL;
}

const struct sl_stats_set *
sl_stats_find(const struct sl_stats *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->sets[i]->name, name) == 0)
			return r->sets[i];
	return NULL;
}

const char *
sl_stats_set_name(const struct sl_stats_set *s)
{
	return s->name;
}

unsigned
sl_stats_set_nlabels(const struct sl_stats_set *s)
{
	return s->nlabels;
}

const char *
sl_stats_set_label(const struct sl_stats_set *s, unsigned j)
{
	return j < s->nlabels ? s->labels[j] : NULL;
}

unsigned
sl_stats_set_ndefs(const struct sl_stats_set *s)
{
	return s->ndefs;
}

const struct sl_stats_def *
sl_stats_set_def(const struct sl_stats_set *s, unsigned idx)
{
	return idx < s->ndefs ? &s->defs[idx] : NULL;
}

int
sl_stats_set_def_index(const struct sl_stats_set *s, const char *name)
{
	for (unsigned j = 0; j < s->ndefs; j++)
		if (strcmp(s->defs[j].name, name) == 0)
			return (int)j;
	return -ENOENT;
}

size_t
sl_stats_set_ninstances(const struct sl_stats_set *s)
{
	return s->ninst;
}

const char *
sl_stats_instance_label(const struct sl_stats_set *s, size_t inst, unsigned j)
{
	if (inst >= s->ninst || j >= s->nlabels)
		return NULL;
	return s->values[inst * s->nlabels + j];
}

const char *
sl_stats_instance_label_now(const struct sl_stats_set *s, size_t inst, unsigned j, char *buf,
                            size_t size)
{
	if (inst >= s->ninst || j >= s->nlabels)
		return NULL;
	if (s->label != NULL && size > 0 && s->label(s->arg, inst, j, buf, size)) {
		buf[size - 1] = '\0';
		return buf;
	}
	return s->values[inst * s->nlabels + j];
}

bool
sl_stats_instance_present(const struct sl_stats_set *s, size_t inst)
{
	return inst < s->ninst && (s->present == NULL || s->present(s->arg, inst));
}

uint64_t
sl_stats_read(const struct sl_stats_set *s, size_t inst, unsigned idx)
{
	const struct sl_stats_def *d;

	SL_ASSERT(inst < s->ninst && idx < s->ndefs);
	d = &s->defs[idx];
	SL_ASSERT(d->kind != SL_STATS_HIST);
	if (d->offset == SL_STATS_READ)
		return s->read(s->arg, inst, idx);
	return sl_counter_sum(s->ctr, s->bases[inst] + d->offset);
}

int64_t
sl_stats_read_gauge(const struct sl_stats_set *s, size_t inst, unsigned idx)
{
	uint64_t v = sl_stats_read(s, inst, idx);
	int64_t r;

	memcpy(&r, &v, sizeof(r)); /* two's complement, as sl_counter_gauge_sum() */
	return r;
}

int
sl_stats_read_hist(const struct sl_stats_set *s, size_t inst, unsigned idx, struct sl_hist *dst)
{
	const struct sl_stats_def *d;
	int err;

	if (inst >= s->ninst || idx >= s->ndefs || s->defs[idx].kind != SL_STATS_HIST)
		return -EINVAL;
	d = &s->defs[idx];
	err = sl_hist_init(dst, &d->hist);
	if (err != 0)
		return err;
	err = s->hist(s->arg, inst, idx, dst);
	if (err != 0)
		sl_hist_fini(dst);
	return err;
}
