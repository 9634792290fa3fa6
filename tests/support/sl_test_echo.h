/* SPDX-License-Identifier: MIT */
/*
 * A loopback echo server on its own thread (poll-based, nonblocking): echoes every byte, and
 * after the client's EOF sends its own FIN once everything is echoed. Bounded buffering, so a
 * client that does not read is pushed back. For proxy tests.
 */
#ifndef SL_TEST_ECHO_H
#define SL_TEST_ECHO_H

#include <pthread.h>
#include <stdatomic.h>

#include <sluice/addr.h>

#define SL_TEST_ECHO_MAX_CONNS 256

struct sl_test_echo {
	struct sl_addr addr; /* where it listens (127.0.0.1, kernel-chosen port) */
	atomic_uint accepted;
	atomic_uint live; /* connections open now */
	int lfd;
	int stop_fd[2]; /* pipe: a byte on [1] stops the thread */
	pthread_t thread;
};

/* Starts the server; 0 or negative errno. */
int sl_test_echo_start(struct sl_test_echo *e);
/* Stops and joins the thread, closes every connection. */
void sl_test_echo_stop(struct sl_test_echo *e);

#endif /* SL_TEST_ECHO_H */
