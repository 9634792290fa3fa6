/* SPDX-License-Identifier: MIT */
/*
 * libbpf's messages while a loader (steer.c, sockmap.c) loads its program: none, the loader
 * reports a failure once, in one line of its own. Installed with libbpf_set_print() around the
 * load, the previous printer put back after.
 */
#ifndef SLUICE_PROXY_LIBBPF_QUIET_H
#define SLUICE_PROXY_LIBBPF_QUIET_H

#include <bpf/libbpf.h>
#include <stdarg.h>

static inline int __attribute__((format(printf, 2, 0)))
sl__libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

#endif /* SLUICE_PROXY_LIBBPF_QUIET_H */
