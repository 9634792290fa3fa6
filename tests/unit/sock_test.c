// SPDX-License-Identifier: MIT
/* Behaviour of the socket helpers (src/net/sock.c) on loopback. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/sock.h>

#include "sl_test_net.h"

static int
listen_any(struct sl_addr *a, const char *text, const struct sl_sock_opts *o)
{
	int lfd;

	assert_int_equal(0, sl_addr_parse(a, text, true, NULL));
	lfd = sl_sock_listen(a, 16, true, o);
	assert_true(lfd >= 0);
	assert_int_equal(0, sl_sock_local_addr(lfd, a));
	return lfd;
}

static void
sock_accepted_socket_inherits_nodelay(void **state)
{
	const struct sl_sock_opts o = {.nodelay = true};
	struct sl_addr a, peer;
	int lfd, c, s, v = 0;
	socklen_t len = sizeof(v);
	struct pollfd pfd;

	(void)state;
	lfd = listen_any(&a, "127.0.0.1:0", &o);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(0, connect(c, (struct sockaddr *)&a.ss, a.len));
	pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
	assert_int_equal(1, poll(&pfd, 1, 5000));
	s = sl_sock_accept(lfd, &peer);

	assert_true(s >= 0);
	assert_int_equal(0, getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len));
	assert_int_not_equal(0, v);
	assert_int_equal(AF_INET, peer.ss.ss_family);
	close(s);
	close(c);
	close(lfd);
}

static void
sock_accept_says_eagain_when_queue_is_empty(void **state)
{
	struct sl_addr a;
	int lfd;

	(void)state;
	lfd = listen_any(&a, "127.0.0.1:0", NULL);
	assert_int_equal(-EAGAIN, sl_sock_accept(lfd, NULL));
	close(lfd);
}

static void
sock_listens_on_ipv6_loopback(void **state)
{
	struct sl_addr a;
	int lfd;

	(void)state;
	assert_int_equal(0, sl_addr_parse(&a, "[::1]:0", true, NULL));
	lfd = sl_sock_listen(&a, 0, true, NULL);
	if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)
		skip(); /* no IPv6 loopback in this environment */
	assert_true(lfd >= 0);
	assert_int_equal(0, sl_sock_local_addr(lfd, &a));
	assert_int_equal(AF_INET6, a.ss.ss_family);
	assert_int_not_equal(0, sl_addr_port(&a));
	close(lfd);
}

static void
sock_two_reuseport_listeners_share_a_port(void **state)
{
	struct sl_addr a;
	int l1, l2;

	(void)state;
	l1 = listen_any(&a, "127.0.0.1:0", NULL);
	l2 = sl_sock_listen(&a, 16, true, NULL);

	assert_true(l2 >= 0);
	close(l2);
	close(l1);
}

static void
sock_connect_to_closed_port_reports_refused(void **state)
{
	struct sl_addr a;
	struct pollfd pfd;
	int fd = -1, err;

	(void)state;
	sl_test_refused_addr(&a);
	err = sl_sock_connect(&a, NULL, &fd);
	if (err == -EINPROGRESS) {
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		assert_int_equal(1, poll(&pfd, 1, 5000));
		err = sl_sock_connect_result(fd);
		close(fd);
	}
	assert_int_equal(-ECONNREFUSED, err);
}

static void
sock_close_reset_makes_peer_see_reset(void **state)
{
	char c;
	int a, b;

	(void)state;
	assert_int_equal(0, sl_test_tcp_pair(&a, &b));
	sl_sock_close_reset(a);

	assert_int_equal(-ECONNRESET, sl_test_read_full(b, &c, 1, 5000));
	close(b);
}

static void
sock_error_is_local_for_host_shortages_only(void **state)
{
	(void)state;
	assert_true(sl_sock_error_is_local(-EMFILE));
	assert_true(sl_sock_error_is_local(-ENFILE));
	assert_true(sl_sock_error_is_local(-ENOBUFS));
	assert_true(sl_sock_error_is_local(-ENOMEM));
	assert_true(sl_sock_error_is_local(-EADDRNOTAVAIL));
	assert_false(sl_sock_error_is_local(-ECONNREFUSED));
	assert_false(sl_sock_error_is_local(-ENETUNREACH));
	assert_false(sl_sock_error_is_local(-ETIMEDOUT));
	assert_false(sl_sock_error_is_local(-EINPROGRESS));
}

static void
sock_probe_says_in_use_only_while_something_listens(void **state)
{
	const struct sl_sock_opts o = {0};
	struct sl_addr a;
	int lfd;

	(void)state;
	lfd = listen_any(&a, "127.0.0.1:0", &o);
	assert_int_equal(-EADDRINUSE, sl_sock_probe_free(&a, false));
	close(lfd);
	assert_int_equal(0, sl_sock_probe_free(&a, false));
}

/* true if the sysctl at <path> reads 0 (a bind to an address this host lacks is refused) */
static bool
nonlocal_bind_off(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[16] = "";

	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	return strcmp(line, "0\n") == 0;
}

/* One family's case: <text> is an address of no host here (a documentation prefix; nothing is
 * sent to it). <sysctl>: the knob that would let any socket bind it. */
static void
freebind_case(const char *text, const char *sysctl)
{
	const struct sl_sock_opts fb = {.freebind = true};
	struct sl_addr a;
	int lfd;

	assert_int_equal(0, sl_addr_parse(&a, text, true, NULL));
	lfd = sl_sock_listen(&a, 16, true, &fb);
	if (lfd == -EAFNOSUPPORT) /* no IPv6 in this kernel */
		return;
	assert_true(lfd >= 0);
	assert_int_equal(0, sl_sock_local_addr(lfd, &a)); /* the port it took */
	assert_int_equal(-EADDRINUSE, sl_sock_probe_free(&a, true));
	close(lfd);
	assert_int_equal(0, sl_sock_probe_free(&a, true));
	if (nonlocal_bind_off(sysctl)) {
		assert_int_equal(-EADDRNOTAVAIL, sl_sock_listen(&a, 16, true, NULL));
		assert_int_equal(-EADDRNOTAVAIL, sl_sock_probe_free(&a, false));
	}
}

static void
sock_freebind_listens_on_an_address_this_host_lacks(void **state)
{
	(void)state;
	freebind_case("192.0.2.1:0", "/proc/sys/net/ipv4/ip_nonlocal_bind");
	freebind_case("[2001:db8::1]:0", "/proc/sys/net/ipv6/ip_nonlocal_bind");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(sock_accepted_socket_inherits_nodelay),
	        cmocka_unit_test(sock_freebind_listens_on_an_address_this_host_lacks),
	        cmocka_unit_test(sock_accept_says_eagain_when_queue_is_empty),
	        cmocka_unit_test(sock_listens_on_ipv6_loopback),
	        cmocka_unit_test(sock_two_reuseport_listeners_share_a_port),
	        cmocka_unit_test(sock_connect_to_closed_port_reports_refused),
	        cmocka_unit_test(sock_close_reset_makes_peer_see_reset),
	        cmocka_unit_test(sock_error_is_local_for_host_shortages_only),
	        cmocka_unit_test(sock_probe_says_in_use_only_while_something_listens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
