/* SPDX-License-Identifier: MIT */
/*
 * TCP sockets as the proxy uses them: nonblocking, close-on-exec listeners (SO_REUSEPORT so
 * every worker owns one), accept4 that inherits the listener's options, nonblocking connect
 * (-EINPROGRESS, then writable, then sl_sock_connect_result()), and close with a reset.
 * Thread safety: every function works on the fds it is given and may run on any thread.
 */
#ifndef SLUICE_SOCK_H
#define SLUICE_SOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/addr.h>
#include <sluice/common.h>

struct sl_sock_opts {
	bool nodelay;   /* TCP_NODELAY */
	bool keepalive; /* SO_KEEPALIVE */
	/* listeners only: IP_FREEBIND (IPV6_FREEBIND), so the bind takes an address this host does
	 * not have (yet), such as a virtual IP another host holds now */
	bool freebind;
	/* sl_sock_connect() only: the local address to connect from (sl_sock_bind_source());
	 * NULL or unset = the kernel's choice */
	const struct sl_addr *source;
};

/*
 * Opens a nonblocking, close-on-exec TCP listener bound to <a> (IPv4 or IPv6; an IPv6 listener
 * is IPv6-only) with SO_REUSEADDR, SO_REUSEPORT if <reuseport>, <o>'s freebind before the bind,
 * and its other options applied so accepted sockets inherit them. <backlog> 0 means SOMAXCONN.
 * Returns the fd, or a negative errno.
 */
SL_API int sl_sock_listen(const struct sl_addr *a, unsigned backlog, bool reuseport,
                          const struct sl_sock_opts *o);

/*
 * Accepts one connection from listener <lfd> as a nonblocking, close-on-exec socket; stores the
 * peer in <*peer> if not NULL. Returns the fd, -EAGAIN when the queue is empty, or another
 * negative errno (-ECONNABORTED: try again; -EMFILE/-ENFILE/-ENOBUFS/-ENOMEM: out of resources).
 * One syscall; the caller loops to accept in batches.
 */
SL_API int sl_sock_accept(int lfd, struct sl_addr *peer);

/*
 * true if <err> (a negative errno from socket(), connect() or accept()) is this host's shortage,
 * not the peer's doing: out of fds (EMFILE, ENFILE), memory or buffers (ENOMEM, ENOBUFS), or
 * local ports (EADDRNOTAVAIL). Such a failure must never be charged to a backend. Pure.
 */
SL_API bool sl_sock_error_is_local(int err);

/*
 * true if <fd>'s send queue still holds bytes its peer has not acknowledged (SIOCOUTQ): a close
 * would leave them, and the socket, in the kernel until the peer reads or the retries end.
 * false on any error. One ioctl; any thread.
 */
SL_API bool sl_sock_has_unsent(int fd);

/*
 * true if <fd> has received bytes its owner has not read (SIOCINQ), wherever the kernel keeps
 * them: a close then resets the peer only if they sit in the receive queue itself, not in a
 * sockmap's queues. false on any error. One ioctl; any thread.
 */
SL_API bool sl_sock_has_unread(int fd);

/*
 * What TCP socket <fd>'s kernel moved on its own: <*moved> the bytes its peer acknowledged plus
 * the bytes received from it (TCP_INFO's bytes_acked and bytes_received, RFC 4898), and
 * <*in_flight> whether bytes wait in it for the peer (sent and not acknowledged, or not sent
 * yet). A peer that reads slowly from a full send buffer moves the first while the process
 * writes nothing. 0, or a negative errno (-ENOTSUP: a kernel without these counts). One
 * getsockopt; any thread.
 */
SL_API int sl_sock_progress(int fd, uint64_t *moved, bool *in_flight);

/*
 * Probes whether another socket listens on <a> (a port other than 0): binds a fresh socket
 * with SO_REUSEADDR but not SO_REUSEPORT (and IP_FREEBIND if <freebind>), which fails with
 * -EADDRINUSE only when something listens there (or is bound to it), then closes it. 0 when
 * the address is free, else a negative errno (-EADDRNOTAVAIL: not an address of this host, and
 * not <freebind>). Lets a process that listens with SO_REUSEPORT refuse to share a port with a
 * process it does not know.
 */
SL_API int sl_sock_probe_free(const struct sl_addr *a, bool freebind);

/*
 * What holds TCP address <a>'s port, for the message of a bind that failed with EADDRINUSE:
 * the sockets of this network namespace on that port whose address meets <a>'s (the same, or
 * a wildcard either side), counted by TCP state and owner, e.g. "1 LISTEN (another process)"
 * or "2 TIME_WAIT, 1 LISTEN (this process)", into <buf> (truncated to <size>). Reads
 * /proc/net/tcp, /proc/net/tcp6 and /proc/self/fd. A socket that is bound and neither listens
 * nor is connected is in neither table: when they list none, a bind of <a> without
 * SO_REUSEADDR finds out, and <buf> says "a socket bound to the port that does not listen"
 * (whose, the kernel does not say). 0; -ENOENT when no socket holds it any more (that bind
 * works now); another negative errno when it cannot tell (-EACCES: a privileged port), or
 * -EINVAL. Slow: an error path's.
 */
SL_API int sl_sock_port_users(const struct sl_addr *a, char *buf, size_t size);

/*
 * Starts a nonblocking connect to <a> with <o> applied. On 0 (connected at once, e.g. some
 * loopback cases) or -EINPROGRESS (wait for writable, then sl_sock_connect_result()) stores the
 * socket in <*fd>; any other negative errno means no socket is left open.
 */
SL_API int sl_sock_connect(const struct sl_addr *a, const struct sl_sock_opts *o, int *fd);

/*
 * Binds <fd>, a TCP socket not yet connected, to <source> before its connect: its address, its
 * port if not 0, else IP_BIND_ADDRESS_NO_PORT so the kernel picks the port at the connect (per
 * destination, so a source does not run out of ports sooner than the kernel's own choice).
 * <source> NULL or unset: nothing. 0 or a negative errno (-EADDRNOTAVAIL: not an address of
 * this host; -EINVAL, -EAFNOSUPPORT: of another family than <fd>).
 */
SL_API int sl_sock_bind_source(int fd, const struct sl_addr *source);

/* Outcome of a nonblocking connect once <fd> is writable or hung up: 0 or the negative errno. */
SL_API int sl_sock_connect_result(int fd);

/* Applies <o> to a connected or listening socket. 0 or negative errno. */
SL_API int sl_sock_apply(int fd, const struct sl_sock_opts *o);

/* The address <fd> is bound to (e.g. the port chosen for port 0). 0 or negative errno. */
SL_API int sl_sock_local_addr(int fd, struct sl_addr *a);

/* Closes <fd> so that the peer sees a reset (SO_LINGER {1, 0}), not a FIN. */
SL_API void sl_sock_close_reset(int fd);

/*
 * Unix sockets for local control (src/net/sock_unix.c). Listens on <path> with socket <type>
 * (SOCK_STREAM or SOCK_SEQPACKET), close-on-exec, file mode <mode>, backlog 16. A socket file
 * left by a process that is gone (nothing accepts on it) is replaced; one a live process serves
 * is not: -EADDRINUSE; a file that is not a socket is never removed: -EEXIST. Returns the fd,
 * or a negative errno (-ENAMETOOLONG past 107 bytes).
 */
SL_API int sl_sock_unix_listen(const char *path, int type, unsigned mode);

/*
 * What is at <path> that sl_sock_unix_listen() will not replace, as a phrase: "a regular
 * file", "a directory", "a character device", "a block device", "a FIFO", "a symbolic link"
 * (a link is not followed, even to a socket). NULL when nothing is there, or a socket is (one
 * a live process serves is refused all the same, for another reason). One lstat(); any thread.
 */
SL_API const char *sl_sock_unix_in_the_way(const char *path);

/* Connects to the unix socket <path> of <type>, close-on-exec, blocking unless <type> has
 * SOCK_NONBLOCK (then a full backlog is -EAGAIN). The fd or -errno. */
SL_API int sl_sock_unix_connect(const char *path, int type);

/* The identity of a file: its device and inode; zeros for no file. */
struct sl_sock_unix_file {
	uint64_t dev, ino;
};

/* The identity of what is at <path> (lstat(), no link followed): zeros when nothing is. */
SL_API void sl_sock_unix_file_of(const char *path, struct sl_sock_unix_file *out);

/*
 * Removes <path> if it is still the file <was> (its identity when this process bound it or
 * took its socket over): 0; -ESTALE when another file is there now (another process bound the
 * path since: its socket is left alone); -ENOENT when nothing is; or unlink()'s negative errno.
 */
SL_API int sl_sock_unix_remove(const char *path, const struct sl_sock_unix_file *was);

#endif /* SLUICE_SOCK_H */
