// SPDX-License-Identifier: MIT
/*
 * An LD_PRELOAD allocation counter for the no-allocation-on-the-hot-path test. It forwards
 * malloc, calloc, realloc, free and the aligned variants to glibc and counts each call. On
 * SIGRTMAX (a signal sluice leaves alone) it appends "allocs=N frees=M\n" to the file named by
 * SL_ALLOC_COUNT_FILE.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* relaxed: plain event counters, read only by the signal handler's snapshot */
static _Atomic uint64_t alloc_calls, free_calls;
static int report_fd = -1;

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);
int posix_memalign(void **out, size_t align, size_t n);
void *aligned_alloc(size_t align, size_t n);
void *memalign(size_t align, size_t n);

void *
malloc(size_t n)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	if (p)
		atomic_fetch_add_explicit(&free_calls, 1, memory_order_relaxed);
	__libc_free(p);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	*out = __libc_memalign(align, n);
	return *out ? 0 : 12; /* ENOMEM */
}

void *
aligned_alloc(size_t align, size_t n)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	return __libc_memalign(align, n);
}

void *
memalign(size_t align, size_t n)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
	return __libc_memalign(align, n);
}

/* async-signal-safe decimal formatting */
static char *
put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void
on_report(int sig)
{
	char line[80], *p = line;

	(void)sig;
	memcpy(p, "allocs=", 7);
	p = put_u64(p + 7, atomic_load_explicit(&alloc_calls, memory_order_relaxed));
	memcpy(p, " frees=", 7);
	p = put_u64(p + 7, atomic_load_explicit(&free_calls, memory_order_relaxed));
	*p++ = '\n';
	if (report_fd >= 0 && write(report_fd, line, (size_t)(p - line)) < 0)
		return;
}

__attribute__((constructor)) static void
alloc_count_init(void)
{
	const char *path = getenv("SL_ALLOC_COUNT_FILE");
	struct sigaction sa;

	if (!path)
		return;
	report_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_report;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGRTMAX, &sa, NULL);
}
