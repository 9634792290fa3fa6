/* SPDX-License-Identifier: MIT */
/*
 * sl_log: one line per event on stderr, "2026-11-25T20:31:07.123Z warn backend web/a down: ...".
 * Off the hot path only: it formats with vfprintf and takes stdio's lock. A message below the
 * current level costs one relaxed load. Thread safety: any thread.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <sluice/common.h>

enum sl_log_level {
	SL_LOG_ERROR,
	SL_LOG_WARN,
	SL_LOG_INFO,
	SL_LOG_DEBUG,
	SL_LOG_LEVELS /* count */
};

/* "error", "warn", "info", "debug", indexed by enum sl_log_level: the one list of names. */
SL_API extern const char *const sl_log_level_names[SL_LOG_LEVELS];

/* Sets <*out> to the level named <name>. 0, or -EINVAL for an unknown name. */
SL_API int sl_log_level_parse(const char *name, enum sl_log_level *out);

/* Messages above <lvl> are dropped (a value past SL_LOG_DEBUG is taken as it). Default:
 * SL_LOG_INFO. Any thread. */
SL_API void sl_log_set_level(enum sl_log_level lvl);
SL_API enum sl_log_level sl_log_get_level(void);

/* Writes one line at <lvl>; the format must not end with a newline. */
SL_API void sl_log(enum sl_log_level lvl, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#define sl_log_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define sl_log_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_log_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_log_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

#endif /* SLUICE_LOG_H */
