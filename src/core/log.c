// SPDX-License-Identifier: MIT
/*
 * Line-oriented logging to stderr (include/sluice/log.h). The level is a relaxed atomic: a
 * stale level for one message is harmless. Each line is formatted into a local buffer and
 * written with one fputs so lines from different threads do not interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sluice/log.h>

static _Atomic int sl_log_current_level = SL_LOG_INFO;

const char *const sl_log_level_names[SL_LOG_LEVELS] = {"error", "warn", "info", "debug"};

int
sl_log_level_parse(const char *name, enum sl_log_level *out)
{
	for (int i = 0; i < SL_LOG_LEVELS; i++) {
		if (strcmp(name, sl_log_level_names[i]) == 0) {
			*out = (enum sl_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
sl_log_set_level(enum sl_log_level lvl)
{
	/* a value past the last level is the last (debug): everything is written */
	if ((unsigned)lvl >= SL_LOG_LEVELS)
		lvl = SL_LOG_DEBUG;
	/* relaxed: a reader that sees the old level for a moment logs or drops one line */
	atomic_store_explicit(&sl_log_current_level, (int)lvl, memory_order_relaxed);
}

enum sl_log_level
sl_log_get_level(void)
{
	/* relaxed: see sl_log_set_level() */
	return (enum sl_log_level)atomic_load_explicit(&sl_log_current_level, memory_order_relaxed);
}

void
sl_log(enum sl_log_level lvl, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)lvl > (int)sl_log_get_level())
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             ts.tv_nsec / 1000000, sl_log_level_names[lvl]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n] = '\n';
	line[n + 1] = '\0';
	fputs(line, stderr);
}
