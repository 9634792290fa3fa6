/* SPDX-License-Identifier: MIT */
/*
 * sl_stats: one registry of named statistics, iterated by every consumer (the exit summary, the
 * metrics endpoint, a control tool) so that a new counter is one definition, never one edit per
 * consumer. The registry holds sets; a set has a name, label names, a table of definitions
 * (counters, gauges, histograms) and instances, each with one value per label. A counter or
 * gauge of an instance is read from an sl_counter_set (summed over its slots) at the
 * instance's base index plus the definition's offset, or from the set's read callback; a
 * histogram is merged into the caller's sl_hist by the set's hist callback.
 *
 *   process    (no labels)        accepted, closed, active, ...
 *   reason     reason="..."       rejects
 *   backend    group=, backend=   sessions, connect_failures, ...
 *
 * Instances are fixed once built, but a set may have instances that come and go (a present
 * callback) and label values that change (a label callback): consumers skip an instance that
 * is not present and show sl_stats_instance_label_now().
 *
 * Thread safety: building (create, add_set, add_instance) happens on one thread before the
 * registry is shared; destroy after every reader is done. Everything else may be called from
 * any thread at any time in between, concurrently: the registry itself is then immutable, and
 * the values are relaxed reads (see sluice/counter.h) or whatever the set's callbacks promise.
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/common.h>
#include <sluice/counter.h>
#include <sluice/hist.h>

struct sl_stats;
struct sl_stats_set;

enum sl_stats_kind {
	SL_STATS_COUNTER = 0, /* monotonic, unsigned 64-bit (wraps) */
	SL_STATS_GAUGE = 1,   /* goes up and down, signed 64-bit */
	SL_STATS_HIST = 2,    /* a distribution: an sl_hist filled by the set's hist callback */
};

/* A definition's value comes from the set's read callback, not from its counter set. */
#define SL_STATS_READ UINT32_MAX

struct sl_stats_def {
	const char *name; /* [a-z0-9_]+, unit last ("bytes", "seconds"); copied */
	enum sl_stats_kind kind;
	const char *help;         /* one line for people; NULL = none; copied */
	uint32_t offset;          /* counter index from the instance's base, or SL_STATS_READ */
	struct sl_hist_opts hist; /* SL_STATS_HIST: options of the histogram to merge into */
	/* SL_STATS_HIST, and a COUNTER if not 0: exported value = recorded value * scale */
	double scale;
};

/*
 * Reads definition <idx> of instance <inst> (kind COUNTER: the value; GAUGE: the signed value in
 * two's complement). Called from any thread, concurrently: it must be safe to.
 */
typedef uint64_t (*sl_stats_read_fn)(void *arg, size_t inst, unsigned idx);
/*
 * Adds the samples of histogram definition <idx> of instance <inst> to <dst> (initialised with
 * the definition's options). 0 or a negative errno. Any thread, concurrently.
 */
typedef int (*sl_stats_hist_fn)(void *arg, size_t inst, unsigned idx, struct sl_hist *dst);
/* Brings the set's values up to date before a read (see sl_stats_collect()). 0 or -errno. */
typedef int (*sl_stats_collect_fn)(void *arg);

/*
 * For sets whose instances come and go (a backend table's slots): whether instance <inst> is
 * to be shown now. Any thread, concurrently.
 */
typedef bool (*sl_stats_present_fn)(void *arg, size_t inst);
/*
 * For sets whose label values change (a slot's backend name): writes the value of label <j> of
 * instance <inst> now into <buf> (<size> bytes, NUL-terminated) and returns true, or returns
 * false to keep the value given to sl_stats_add_instance(). Any thread, concurrently.
 */
typedef bool (*sl_stats_label_fn)(void *arg, size_t inst, unsigned j, char *buf, size_t size);

/* Room for one label value from sl_stats_instance_label_now(). */
#define SL_STATS_LABEL_MAX 128

struct sl_stats_set_opts {
	const char *name;          /* unique in the registry, [a-z0-9_]*; copied */
	const char *const *labels; /* <nlabels> label names; copied */
	unsigned nlabels;
	const struct sl_stats_def *defs; /* <ndefs> definitions; copied */
	unsigned ndefs;
	const struct sl_counter_set *ctr; /* source of defs with an offset; must outlive the set */
	sl_stats_read_fn read;            /* source of defs with SL_STATS_READ; NULL if none */
	sl_stats_hist_fn hist;            /* source of SL_STATS_HIST defs; NULL if none */
	sl_stats_collect_fn collect;      /* NULL = nothing to collect */
	sl_stats_present_fn present;      /* NULL = every instance is always shown */
	sl_stats_label_fn label;          /* NULL = label values are those given at add time */
	void *arg;                        /* passed to the callbacks */
};

/* Creates an empty registry. 0 or -ENOMEM. Release with sl_stats_destroy(). */
SL_API int sl_stats_create(struct sl_stats **out);
/* Frees the registry, its sets and their instances. NULL is ignored. */
SL_API void sl_stats_destroy(struct sl_stats *r);

/*
 * Adds a set described by <o> (copied; the counter set and callback argument are borrowed).
 * Refuses (-EINVAL) a missing name or one already in use, no definitions, a bad name, a
 * definition with an offset but no counter set (or an offset beyond it), SL_STATS_READ without
 * a read callback, or a histogram without a hist callback. -ENOMEM. Stores the set in <*out>
 * (may be NULL) on success. Building thread only.
 */
SL_API int sl_stats_add_set(struct sl_stats *r, const struct sl_stats_set_opts *o,
                            struct sl_stats_set **out);

/*
 * Adds an instance to <s> with one value per label (<values>, copied) whose counters start at
 * index <base> of the set's counter set. -EINVAL if a value is NULL, or a counter would fall
 * outside the counter set or be of the other kind (a gauge for a counter definition, or the
 * reverse); -ENOMEM. Building thread only.
 */
SL_API int sl_stats_add_instance(struct sl_stats_set *s, const char *const *values, unsigned base);

/* Runs every set's collect callback, in order; the first error, or 0. Any thread. */
SL_API int sl_stats_collect(struct sl_stats *r);

/* Number of sets, and set <i> in the order they were added (NULL if out of range). */
SL_API size_t sl_stats_len(const struct sl_stats *r);
SL_API const struct sl_stats_set *sl_stats_at(const struct sl_stats *r, size_t i);
/* The set named <name>, or NULL. */
SL_API const struct sl_stats_set *sl_stats_find(const struct sl_stats *r, const char *name);

/* A set's name, label names, definitions and instances. */
SL_API const char *sl_stats_set_name(const struct sl_stats_set *s);
SL_API unsigned sl_stats_set_nlabels(const struct sl_stats_set *s);
SL_API const char *sl_stats_set_label(const struct sl_stats_set *s, unsigned j);
SL_API unsigned sl_stats_set_ndefs(const struct sl_stats_set *s);
SL_API const struct sl_stats_def *sl_stats_set_def(const struct sl_stats_set *s, unsigned idx);
/* Index of the definition named <name>, or -ENOENT. */
SL_API int sl_stats_set_def_index(const struct sl_stats_set *s, const char *name);
SL_API size_t sl_stats_set_ninstances(const struct sl_stats_set *s);
/* Value of label <j> of instance <inst> as given at add time. */
SL_API const char *sl_stats_instance_label(const struct sl_stats_set *s, size_t inst, unsigned j);
/*
 * Value of label <j> of instance <inst> now: the set's label callback's (written into <buf>,
 * <size> bytes, SL_STATS_LABEL_MAX is enough) or the one given at add time. NULL if out of
 * range. What every consumer shows.
 */
SL_API const char *sl_stats_instance_label_now(const struct sl_stats_set *s, size_t inst,
                                               unsigned j, char *buf, size_t size);
/* false if instance <inst> is not to be shown now (the set's present callback says so). */
SL_API bool sl_stats_instance_present(const struct sl_stats_set *s, size_t inst);

/* Counter <idx> of instance <inst>, summed over the counter set's slots. */
SL_API uint64_t sl_stats_read(const struct sl_stats_set *s, size_t inst, unsigned idx);
/* Gauge <idx> of instance <inst>, signed. */
SL_API int64_t sl_stats_read_gauge(const struct sl_stats_set *s, size_t inst, unsigned idx);
/*
 * Initialises <dst> for histogram <idx> of <s> and merges instance <inst>'s samples into it.
 * 0 (release <dst> with sl_hist_fini()), or a negative errno (<dst> is not initialised).
 */
SL_API int sl_stats_read_hist(const struct sl_stats_set *s, size_t inst, unsigned idx,
                              struct sl_hist *dst);

#endif /* SLUICE_STATS_H */
