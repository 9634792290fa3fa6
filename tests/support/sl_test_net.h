/* SPDX-License-Identifier: MIT */
/*
 * Socket helpers for tests: loopback TCP pairs, free ports, byte patterns with checksums, and
 * bounded blocking reads and writes (poll-based, never sleep-based).
 */
#ifndef SL_TEST_NET_H
#define SL_TEST_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sluice/addr.h>

/* A connected loopback TCP pair, both ends nonblocking. 0 or negative errno. */
int sl_test_tcp_pair(int *a, int *b);

/* A blocking listener on 127.0.0.1 with a kernel-chosen port, stored in <*addr>; the fd. */
int sl_test_listen(struct sl_addr *addr, int backlog);

/*
 * A port on 127.0.0.1 where nothing listens: a connect to it is refused. The port stays bound
 * (not listening) until the process exits, so no other socket takes it meanwhile: neither a
 * listener of a test running beside this one, nor a connect's own ephemeral port, which would
 * connect to itself.
 */
void sl_test_refused_addr(struct sl_addr *addr);

/*
 * A port on 127.0.0.1 with nobody listening (bound, then released), as a number; fails the
 * calling test (cmocka) if none can be bound.
 */
unsigned sl_test_closed_port(void);

/* Deterministic pseudo-random bytes from <seed>. */
void sl_test_fill(void *buf, size_t n, uint64_t seed);

/* FNV-1a over <n> bytes, continuing from <h> (start with SL_TEST_FNV_INIT). */
#define SL_TEST_FNV_INIT 0xcbf29ce484222325ull
uint64_t sl_test_fnv(uint64_t h, const void *p, size_t n);

/*
 * Writes all of <buf> to <fd> (blocking or not), waiting with poll() up to <timeout_ms> for each
 * step. Returns 0, or a negative errno (-ETIMEDOUT if poll waited that long for nothing).
 */
int sl_test_write_all(int fd, const void *buf, size_t n, int timeout_ms);

/*
 * Reads up to <n> bytes from <fd> until EOF or <n> bytes, polling as above. Returns bytes read,
 * or a negative errno.
 */
ssize_t sl_test_read_full(int fd, void *buf, size_t n, int timeout_ms);

#endif /* SL_TEST_NET_H */
