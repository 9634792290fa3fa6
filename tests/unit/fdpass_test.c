// SPDX-License-Identifier: MIT
/* Behaviour of descriptor passing (src/net/fdpass.c) and unix sockets (src/net/sock_unix.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/fdpass.h>
#include <sluice/sock.h>

/* Nobody holds the read end of the pipe whose write end is <w>: a write fails (EPIPE). */
static void
assert_no_reader(int w)
{
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(-1, write(w, "x", 1));
	assert_int_equal(EPIPE, errno);
}

static void
fdpass_message_and_descriptors_arrive_together(void **state)
{
	int sv[2], p[2], got[4];
	size_t n = 0;
	char buf[16], byte = 0;
	long len;

	(void)state;
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	assert_int_equal(0, pipe(p));
	assert_int_equal(0, sl_fdpass_send(sv[0], "pipe", 4, p, 2));
	len = sl_fdpass_recv(sv[1], buf, sizeof(buf), got, 4, &n);

	assert_int_equal(4, len);
	assert_memory_equal("pipe", buf, 4);
	assert_int_equal(2, n);
	/* the same pipe: written through the sender's end, read through the received one */
	assert_int_equal(1, write(p[1], "x", 1));
	assert_int_equal(1, read(got[0], &byte, 1));
	assert_int_equal('x', byte);
	assert_true((fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(got[i]);
		close(sv[i]);
	}
}

static void
fdpass_more_descriptors_than_room_are_closed_and_refused(void **state)
{
	int sv[2], p[2], got[1];
	size_t n = 9;
	char buf[16];

	(void)state;
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	assert_int_equal(0, pipe(p));
	assert_int_equal(0, sl_fdpass_send(sv[0], "two", 3, p, 2));
	close(p[0]);
	assert_int_equal(-EMSGSIZE, sl_fdpass_recv(sv[1], buf, sizeof(buf), got, 1, &n));
	assert_int_equal(0, n);
	assert_no_reader(p[1]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
fdpass_bad_counts_are_refused(void **state)
{
	int fds[SL_FDPASS_MAX + 1] = {0};

	(void)state;
	assert_int_equal(-EINVAL, sl_fdpass_send(0, "x", 1, fds, SL_FDPASS_MAX + 1));
	assert_int_equal(-EINVAL, sl_fdpass_send(0, "", 0, NULL, 0));
	assert_int_equal(-EINVAL, sl_fdpass_send(0, "x", 1, NULL, 1));
}

static void
fdpass_peer_close_reads_as_zero(void **state)
{
	int sv[2], got[1];
	size_t n;
	char buf[4];

	(void)state;
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	close(sv[0]);
	assert_int_equal(0, sl_fdpass_recv(sv[1], buf, sizeof(buf), got, 1, &n));
	close(sv[1]);
}

/* An empty message (what no sluice sends) with descriptors: read as the peer's end, and the
 * descriptors that came with it closed, not left open in the receiver. */
static void
fdpass_descriptors_on_an_empty_message_are_closed(void **state)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = "", .iov_len = 0};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int sv[2], p[2], got[2];
	size_t n = 9;
	char buf[16];

	(void)state;
	assert_int_equal(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	assert_int_equal(0, pipe(p));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &p[0], sizeof(int));
	assert_int_equal(0, sendmsg(sv[0], &mh, 0));
	close(p[0]);
	assert_int_equal(0, sl_fdpass_recv(sv[1], buf, sizeof(buf), got, 2, &n));
	assert_int_equal(0, n);
	assert_no_reader(p[1]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
unix_listen_replaces_a_stale_file_but_not_a_live_server(void **state)
{
	char path[64];
	struct stat st;
	int stale, live, c;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sl-unix-test-%ld.sock", (long)getpid());
	unlink(path);
	/* a server that went away: its file stays, nothing accepts */
	stale = sl_sock_unix_listen(path, SOCK_SEQPACKET, 0600);
	assert_true(stale >= 0);
	close(stale);

	live = sl_sock_unix_listen(path, SOCK_SEQPACKET, 0640);
	assert_true(live >= 0);
	assert_int_equal(0, stat(path, &st));
	assert_int_equal(0640, st.st_mode & 0777);
	assert_int_equal(-EADDRINUSE, sl_sock_unix_listen(path, SOCK_SEQPACKET, 0600));
	c = sl_sock_unix_connect(path, SOCK_SEQPACKET);
	assert_true(c >= 0);
	close(c);
	close(live);
	unlink(path);
	assert_int_equal(-ENOENT, sl_sock_unix_connect(path, SOCK_SEQPACKET));
}

static void
unix_listen_never_removes_a_file_that_is_not_a_socket(void **state)
{
	char path[64];
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sl-unix-test-file-%ld", (long)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(-EEXIST, sl_sock_unix_listen(path, SOCK_STREAM, 0600));
	assert_int_equal(0, stat(path, &st));
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
}

static void
unix_in_the_way_names_what_is_not_a_socket(void **state)
{
	char path[64], link[80];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sl-unix-test-way-%ld", (long)getpid());
	snprintf(link, sizeof(link), "%s.link", path);
	unlink(path);
	assert_null(sl_sock_unix_in_the_way(path)); /* nothing there */
	assert_int_equal(0, mkdir(path, 0700));
	assert_string_equal("a directory", sl_sock_unix_in_the_way(path));
	assert_int_equal(0, rmdir(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal("a regular file", sl_sock_unix_in_the_way(path));
	assert_int_equal(0, unlink(path));
	assert_string_equal("a character device", sl_sock_unix_in_the_way("/dev/null"));
	/* a socket is no obstacle (a stale one is replaced); a link to one is not followed */
	fd = sl_sock_unix_listen(path, SOCK_STREAM, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(sl_sock_unix_in_the_way(path));
	assert_int_equal(0, symlink(path, link));
	assert_string_equal("a symbolic link", sl_sock_unix_in_the_way(link));
	unlink(link);
	unlink(path);
}

static void
unix_names_past_sun_path_are_refused(void **state)
{
	char path[200];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(-ENAMETOOLONG, sl_sock_unix_listen(path, SOCK_STREAM, 0600));
	assert_int_equal(-ENAMETOOLONG, sl_sock_unix_connect(path, SOCK_STREAM));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fdpass_message_and_descriptors_arrive_together),
	        cmocka_unit_test(fdpass_more_descriptors_than_room_are_closed_and_refused),
	        cmocka_unit_test(fdpass_bad_counts_are_refused),
	        cmocka_unit_test(fdpass_peer_close_reads_as_zero),
	        cmocka_unit_test(fdpass_descriptors_on_an_empty_message_are_closed),
	        cmocka_unit_test(unix_listen_replaces_a_stale_file_but_not_a_live_server),
	        cmocka_unit_test(unix_listen_never_removes_a_file_that_is_not_a_socket),
	        cmocka_unit_test(unix_in_the_way_names_what_is_not_a_socket),
	        cmocka_unit_test(unix_names_past_sun_path_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
