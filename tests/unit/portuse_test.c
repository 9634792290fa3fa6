// SPDX-License-Identifier: MIT
/* What holds a TCP port (sl_sock_port_users(), src/net/portuse.c), with real sockets on
 * loopback: this process's listener, another process's, TIME_WAIT, wildcards, a socket bound
 * without listening, and none. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/sock.h>

/*
 * Listens on <host> at a port below the ephemeral range that nothing holds: no connection
 * elsewhere on the machine is given it as its source port, so what holds it from then on is
 * this test's sockets alone (a port from bind(0) may carry another test's connection in
 * TIME_WAIT).
 */
static int
listen_on(struct sl_addr *a, const char *host)
{
	const struct sl_sock_opts o = {0};
	unsigned low = 32768, high;
	char text[SL_ADDR_STRLEN + 8];
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f != NULL) {
		if (fscanf(f, "%u %u", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	assert_true(low > 1024 + 4000);
	for (unsigned i = 0, start = (unsigned)getpid() * 7919u % 4000u; i < 4000; i++) {
		int lfd;

		int probe;

		snprintf(text, sizeof(text), "%s:%u", host, low - 4000 + (start + i) % 4000);
		assert_int_equal(0, sl_addr_parse(a, text, true, NULL));
		/* a bind without SO_REUSEADDR also fails on a port a TIME_WAIT connection keeps
		 * (an earlier run's): take only a port nothing at all holds */
		probe = socket(a->ss.ss_family, SOCK_STREAM, 0);
		assert_true(probe >= 0);
		lfd = bind(probe, (const struct sockaddr *)&a->ss, a->len);
		close(probe);
		if (lfd != 0)
			continue;
		lfd = sl_sock_listen(a, 16, false, &o);
		if (lfd >= 0)
			return lfd;
	}
	fail_msg("no free port below the ephemeral range");
	return -1;
}

/* <a> with its port replaced by <b>'s. */
static void
same_port(struct sl_addr *a, const char *text, const struct sl_addr *b)
{
	char buf[SL_ADDR_STRLEN + 8];

	snprintf(buf, sizeof(buf), "%s:%u", text, sl_addr_port(b));
	assert_int_equal(0, sl_addr_parse(a, buf, true, NULL));
}

static void
port_users_names_this_process_listener_and_nothing_once_closed(void **state)
{
	char buf[160];
	struct sl_addr a;
	int lfd = listen_on(&a, "127.0.0.1");

	(void)state;
	assert_int_equal(0, sl_sock_port_users(&a, buf, sizeof(buf)));
	assert_string_equal("1 LISTEN (this process)", buf);
	close(lfd);
	assert_int_equal(-ENOENT, sl_sock_port_users(&a, buf, sizeof(buf)));
}

static void
port_users_names_another_process_listener(void **state)
{
	int ready[2], lfd;
	struct sl_addr a;
	char buf[160];
	pid_t pid;

	(void)state;
	assert_int_equal(0, pipe(ready));
	lfd = listen_on(&a, "127.0.0.1");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* the other process: keeps the socket, we let go of ours */
		close(ready[0]);
		(void)!write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(1, read(ready[0], buf, 1));
	close(lfd);
	assert_int_equal(0, sl_sock_port_users(&a, buf, sizeof(buf)));
	assert_string_equal("1 LISTEN (another process)", buf);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
}

static void
port_users_counts_a_time_wait_connection_as_nobody_s(void **state)
{
	struct sl_addr a;
	char buf[160] = "";
	int lfd = listen_on(&a, "127.0.0.1"), cfd, sfd;

	(void)state;
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(0, connect(cfd, (const struct sockaddr *)&a.ss, a.len));
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	close(lfd);
	/* the accepting side closes first: its socket on the port ends in TIME_WAIT */
	close(sfd);
	assert_int_equal(0, shutdown(cfd, SHUT_WR));
	for (int i = 0; i < 500 && strcmp(buf, "1 TIME_WAIT") != 0; i++) {
		(void)sl_sock_port_users(&a, buf, sizeof(buf));
		poll(NULL, 0, 10);
	}
	assert_string_equal("1 TIME_WAIT", buf);
	close(cfd);
}

static void
port_users_sees_a_wildcard_on_either_side_and_not_another_address(void **state)
{
	struct sl_addr any, lo, lo2, lo6;
	char buf[160];
	int lfd = listen_on(&any, "0.0.0.0");

	(void)state;
	same_port(&lo, "127.0.0.1", &any);
	assert_int_equal(0, sl_sock_port_users(&lo, buf, sizeof(buf)));
	assert_string_equal("1 LISTEN (this process)", buf);
	close(lfd);

	lfd = listen_on(&lo, "127.0.0.1");
	same_port(&lo2, "127.0.0.2", &lo);
	assert_int_equal(-ENOENT, sl_sock_port_users(&lo2, buf, sizeof(buf)));
	same_port(&any, "0.0.0.0", &lo);
	assert_int_equal(0, sl_sock_port_users(&any, buf, sizeof(buf)));
	assert_string_equal("1 LISTEN (this process)", buf);
	same_port(&lo6, "[::1]", &lo);
	assert_int_equal(-ENOENT, sl_sock_port_users(&lo6, buf, sizeof(buf)));
	close(lfd);
}

/* a socket bound and not listening is in no TCP table: only a bind of the port finds it */
static void
port_users_names_a_socket_bound_to_the_port_that_does_not_listen(void **state)
{
	struct sl_addr a, a6;
	char buf[160];
	int lfd = listen_on(&a, "127.0.0.1"), fd;

	(void)state;
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(0, bind(fd, (const struct sockaddr *)&a.ss, a.len));
	assert_int_equal(0, sl_sock_port_users(&a, buf, sizeof(buf)));
	assert_string_equal("a socket bound to the port that does not listen", buf);
	/* an IPv6 listener is IPv6-only: the IPv4 socket does not hold its port */
	same_port(&a6, "[::1]", &a);
	assert_int_equal(-ENOENT, sl_sock_port_users(&a6, buf, sizeof(buf)));
	close(fd);
	assert_int_equal(-ENOENT, sl_sock_port_users(&a, buf, sizeof(buf)));
}

static void
port_users_truncates_to_the_buffer(void **state)
{
	struct sl_addr a;
	char buf[6];
	int lfd = listen_on(&a, "127.0.0.1");

	(void)state;
	assert_int_equal(0, sl_sock_port_users(&a, buf, sizeof(buf)));
	assert_string_equal("1 LIS", buf);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(port_users_names_this_process_listener_and_nothing_once_closed),
	        cmocka_unit_test(port_users_names_another_process_listener),
	        cmocka_unit_test(port_users_counts_a_time_wait_connection_as_nobody_s),
	        cmocka_unit_test(port_users_sees_a_wildcard_on_either_side_and_not_another_address),
	        cmocka_unit_test(port_users_names_a_socket_bound_to_the_port_that_does_not_listen),
	        cmocka_unit_test(port_users_truncates_to_the_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
