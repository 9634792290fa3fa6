/* SPDX-License-Identifier: MIT */
/*
 * Shared definitions for every sluice header: export marker, cache-line size, assertions and
 * branch hints. Everything here is a macro or a static inline; nothing links.
 */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* Marks a public symbol; the library is built with -fvisibility=hidden. */
#define SL_API __attribute__((visibility("default")))

/* Cache line size on every target we build for (x86_64, aarch64 with 64-byte lines). */
#define SL_CACHELINE 64
#define SL_CACHELINE_ALIGNED __attribute__((aligned(SL_CACHELINE)))

#define sl_likely(x) __builtin_expect(!!(x), 1)
#define sl_unlikely(x) __builtin_expect(!!(x), 0)

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define sl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * SL_ASSERT(cond): an internal invariant. Checked in debug builds (SL_DEBUG), where a failure
 * prints the condition and its place and aborts; compiled out otherwise. Never use it on input,
 * configuration or resource exhaustion: those are errors to handle.
 */
#ifdef SL_DEBUG
#define SL_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (sl_unlikely(!(cond))) {                                                        \
			fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__,   \
			        __func__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#else
#define SL_ASSERT(cond) ((void)0)
#endif

/* SL_DEBUG_ENABLED is 1 in debug builds, 0 otherwise, for use in plain if () tests. */
#ifdef SL_DEBUG
#define SL_DEBUG_ENABLED 1
#else
#define SL_DEBUG_ENABLED 0
#endif

#endif /* SLUICE_COMMON_H */
