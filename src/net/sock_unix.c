// SPDX-License-Identifier: MIT
/*
 * Unix sockets for local control (include/sluice/sock.h): a listener that replaces a stale
 * socket file but never a live one, and a connect.
 * Who may connect is the file's mode; a server should still check SO_PEERCRED, as the mode is
 * set just after the listen().
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/sock.h>

static int
unix_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	return 0;
}

int
sl_sock_unix_connect(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, err = unix_addr(&sa, path);

	if (err != 0)
		return err;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

const char *
sl_sock_unix_in_the_way(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0 || S_ISSOCK(st.st_mode))
		return NULL;
	if (S_ISREG(st.st_mode))
		return "a regular file";
	if (S_ISDIR(st.st_mode))
		return "a directory";
	if (S_ISCHR(st.st_mode))
		return "a character device";
	if (S_ISBLK(st.st_mode))
		return "a block device";
	if (S_ISFIFO(st.st_mode))
		return "a FIFO";
	if (S_ISLNK(st.st_mode))
		return "a symbolic link";
	return "a file that is not a socket";
}

/*
 * Whether a server answers on <path>: 1 (it took the connect, or its backlog is full), 0 (the
 * connect was refused: no socket listens there), or -errno. Never waits: a non-blocking
 * connect, so a busy live server is not waited for.
 */
static int
unix_answers(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, err = unix_addr(&sa, path);

	if (err != 0)
		return err;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ? -errno : 0;
	close(fd);
	if (err == 0 || err == -EAGAIN || err == -EINPROGRESS)
		return 1;
	return err == -ECONNREFUSED ? 0 : err;
}

int
sl_sock_unix_listen(const char *path, int type, unsigned mode)
{
	struct sockaddr_un sa;
	int fd, err = unix_addr(&sa, path), live;

	if (err != 0)
		return err;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* the file bind() makes takes the socket's mode less the umask (Linux), so it is never
	 * wider than <mode>; the chmod after listen() sets it exactly (the umask is the
	 * process's, not this thread's, so it is left alone). listen() comes right after the
	 * bind: until then a connect is refused, which another start would take for a stale
	 * file. Servers check the peer's credentials too. */
	if (fchmod(fd, (mode_t)mode) == -1) {
		err = -errno;
		goto out;
	}
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ? -errno : 0;
	if (err == -EADDRINUSE) {
		/* never remove what is not a socket */
		if (sl_sock_unix_in_the_way(path) != NULL) {
			err = -EEXIST;
			goto out;
		}
		live = unix_answers(path, type);
		if (live != 0) {
			if (live < 0)
				err = live;
			goto out; /* a live server: keep -EADDRINUSE */
		}
		/* stale: its process is gone */
		sl_log_info("removing the stale socket %s (no process answers on it)", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ? -errno : 0;
	}
	if (err == 0 && listen(fd, 16) == -1)
		err = -errno;
	if (err == 0 && chmod(path, (mode_t)mode) == -1)
		err = -errno;
out:
	if (err != 0) {
		close(fd);
		return err;
	}
	return fd;
}

void
sl_sock_unix_file_of(const char *path, struct sl_sock_unix_file *out)
{
	struct stat st;

	*out = (struct sl_sock_unix_file){0};
	if (lstat(path, &st) == 0)
		*out = (struct sl_sock_unix_file){.dev = st.st_dev, .ino = st.st_ino};
}

int
sl_sock_unix_remove(const char *path, const struct sl_sock_unix_file *was)
{
	struct sl_sock_unix_file now;

	sl_sock_unix_file_of(path, &now);
	if (now.dev == 0 && now.ino == 0)
		return -ENOENT;
	if (now.dev != was->dev || now.ino != was->ino)
		return -ESTALE;
	return unlink(path) == 0 ? 0 : -errno;
}
