// SPDX-License-Identifier: MIT
/*
 * What holds a TCP port (sl_sock_port_users(), include/sluice/sock.h): the sockets of this
 * network namespace bound to it, from /proc/net/tcp and /proc/net/tcp6, by state, and whether
 * each is this process's; when those list none, a bind of its own finds whether a socket the
 * tables never list (bound, neither listening nor connected) has it. For the message of a bind
 * that failed with EADDRINUSE: an operator learns whether a process listens there, connections
 * linger in TIME_WAIT, a socket sits bound to it, or this process itself still holds the port.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/sock.h>

/* The kernel's TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
static const char *const tcp_states[] = {
        [1] = "ESTABLISHED", [2] = "SYN_SENT",  [3] = "SYN_RECV", [4] = "FIN_WAIT1",
        [5] = "FIN_WAIT2",   [6] = "TIME_WAIT", [7] = "CLOSE",    [8] = "CLOSE_WAIT",
        [9] = "LAST_ACK",    [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW_SYN_RECV",
};
#define NSTATES (sizeof(tcp_states) / sizeof(tcp_states[0]))

/* Whose a socket is: this process's, another's, or nobody's (TIME_WAIT, an orphan). */
enum owner { OWNER_US, OWNER_OTHER, OWNER_NONE, OWNERS };

static const char *const owner_names[OWNERS] = {
        [OWNER_US] = " (this process)",
        [OWNER_OTHER] = " (another process)",
        [OWNER_NONE] = "",
};

/* How many sockets on the port, by state and owner. */
struct port_count {
	unsigned n[NSTATES][OWNERS];
};

/* A local address as the table prints it: 4 words for IPv6, the first alone for IPv4. */
struct tab_addr {
	uint32_t w[4];
	bool v6;
};

/* Whether table address <t> can conflict with <a>: the same, or a wildcard on either side
 * (an IPv4 address also meets an IPv6 wildcard or its v4-mapped form). */
static bool
conflicts(const struct tab_addr *t, const struct sl_addr *a)
{
	static const uint32_t any6[4] = {0};
	uint32_t mine[4] = {0};
	bool v6 = a->ss.ss_family == AF_INET6;

	if (v6)
		memcpy(mine, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, sizeof(mine));
	else
		mine[0] = ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
	if (!t->v6) {
		if (t->w[0] == 0)
			return true;
		if (!v6)
			return mine[0] == 0 || mine[0] == t->w[0];
		/* an IPv6 address meets an IPv4 one only as its v4-mapped form, or as :: */
		return memcmp(mine, any6, sizeof(mine)) == 0 ||
		       (mine[0] == 0 && mine[1] == 0 && mine[2] == htonl(0xffff) &&
		        mine[3] == t->w[0]);
	}
	if (memcmp(t->w, any6, sizeof(any6)) == 0)
		return true;
	if (v6)
		return memcmp(mine, any6, sizeof(mine)) == 0 ||
		       memcmp(mine, t->w, sizeof(mine)) == 0;
	/* an IPv4 address meets an IPv6 one only as its v4-mapped form */
	return t->w[0] == 0 && t->w[1] == 0 && t->w[2] == htonl(0xffff) &&
	       (mine[0] == 0 || t->w[3] == mine[0]);
}

/* Whose socket inode <ino> is: one of this process's open files, or not; 0 is no file at all
 * (TIME_WAIT, an orphan). */
static enum owner
owner_of(unsigned long ino)
{
	char want[48], path[64], got[48];
	struct dirent *e;
	bool found = false;
	DIR *d;

	if (ino == 0)
		return OWNER_NONE;
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return OWNER_OTHER;
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	while (!found && (e = readdir(d)) != NULL) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%.24s", e->d_name); /* a number */
		n = readlink(path, got, sizeof(got) - 1);
		if (n <= 0)
			continue;
		got[n] = '\0';
		found = strcmp(got, want) == 0;
	}
	closedir(d);
	return found ? OWNER_US : OWNER_OTHER;
}

/* Parses one table line's local address, port, state and inode. false if it is no entry. */
static bool
parse_line(const char *line, bool v6, struct tab_addr *t, unsigned *port, unsigned *state,
           unsigned long *ino)
{
	char local[64], remote[64];
	unsigned long st;
	char *colon;

	/* sl local rem st tx:rx tr:when retr uid timeout inode */
	if (sscanf(line, " %*s %63s %63s %lx %*s %*s %*s %*s %*s %lu", local, remote, &st, ino) !=
	    4)
		return false;
	colon = strchr(local, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	*port = (unsigned)strtoul(colon + 1, NULL, 16);
	*state = (unsigned)st;
	t->v6 = v6;
	memset(t->w, 0, sizeof(t->w));
	if (!v6)
		return sscanf(local, "%8" SCNx32, &t->w[0]) == 1;
	return strlen(local) == 32 && sscanf(local, "%8" SCNx32 "%8" SCNx32 "%8" SCNx32 "%8" SCNx32,
	                                     &t->w[0], &t->w[1], &t->w[2], &t->w[3]) == 4;
}

/* Counts the sockets of table <path> on <a>'s port into <c>. */
static void
count_table(const char *path, bool v6, const struct sl_addr *a, struct port_count *c)
{
	unsigned want = sl_addr_port(a);
	char line[512];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return; /* no IPv6 in this kernel, say */
	while (fgets(line, sizeof(line), f) != NULL) {
		struct tab_addr t;
		unsigned port, state;
		unsigned long ino;

		if (!parse_line(line, v6, &t, &port, &state, &ino) || port != want ||
		    state >= NSTATES || tcp_states[state] == NULL || !conflicts(&t, a))
			continue;
		c->n[state][owner_of(ino)]++;
	}
	fclose(f);
}

/*
 * Whether a socket the TCP tables do not list holds <a>: one that is bound and neither listens
 * nor is connected is kept in the kernel's bind table alone. A fresh socket binds <a> without
 * SO_REUSEADDR, which every socket bound there refuses (a TIME_WAIT one too, but the tables list
 * those), with IP_FREEBIND so an address this host lacks (a freebind listener's) is probed
 * all the same, and IPv6-only as sluice's IPv6 listeners are. 1 held, 0 free (a bind there
 * works now), or a negative errno (-EACCES: a privileged port).
 */
static int
bound_unlisted(const struct sl_addr *a)
{
	static const int one = 1;
	bool v6 = a->ss.ss_family == AF_INET6;
	int fd, r;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* best effort: without it an address this host lacks says EADDRNOTAVAIL */
	(void)setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, &one,
	                 sizeof(one));
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		r = -errno;
	else if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		r = 0;
	else
		r = errno == EADDRINUSE ? 1 : -errno;
	close(fd);
	return r;
}

int
sl_sock_port_users(const struct sl_addr *a, char *buf, size_t size)
{
	int held;

	struct port_count c = {0};
	size_t used = 0;

	if (a->len == 0 || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	count_table("/proc/net/tcp", false, a, &c);
	count_table("/proc/net/tcp6", true, a, &c);
	for (unsigned s = 0; s < NSTATES; s++)
		for (unsigned o = 0; o < OWNERS; o++) {
			int n;

			if (c.n[s][o] == 0 || used >= size)
				continue;
			n = snprintf(buf + used, size - used, "%s%u %s%s", used != 0 ? ", " : "",
			             c.n[s][o], tcp_states[s], owner_names[o]);
			used += n > 0 ? (size_t)n : 0;
		}
	if (used != 0)
		return 0;
	held = bound_unlisted(a);
	if (held == 1) {
		snprintf(buf, size, "a socket bound to the port that does not listen");
		return 0;
	}
	return held == 0 ? -ENOENT : held;
}
