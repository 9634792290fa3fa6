// SPDX-License-Identifier: MIT
/*
 * Listening sockets handed from one sluice process to the next (binary upgrade): the new
 * process's listeners take the old one's sockets instead of opening their own
 * (sl_proxy_inherit(), sl__handover_take()), and the old one lists what it listens on
 * (sl_proxy_sockets()). Passing them between the processes is the application's (fdpass.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/log.h>
#include <sluice/sock.h>

#include "proxy/proxy_int.h"

int
sl_proxy_inherit(struct sl_proxy *p, const struct sl_proxy_socket *s, size_t n)
{
	struct sl_proxy_socket *copy;

	if (p->running)
		return -EALREADY;
	copy = realloc(p->inherited, (p->ninherited + n) * sizeof(*copy));
	if (copy == NULL && p->ninherited + n > 0)
		return -ENOMEM;
	p->inherited = copy;
	memcpy(p->inherited + p->ninherited, s, n * sizeof(*s));
	p->ninherited += n;
	return 0;
}

size_t
sl_proxy_sockets(const struct sl_proxy *p, struct sl_proxy_socket *out, size_t max)
{
	size_t nl = p->cfg->nlisteners, k = 0;

	if (p->lfds == NULL)
		return 0;
	for (size_t i = 0; i < nl; i++) {
		for (unsigned w = 0; w < p->nworkers; w++) {
			int fd = p->lfds[(size_t)w * nl + i];

			if (fd < 0)
				continue;
			if (k < max) {
				snprintf(out[k].name, sizeof(out[k].name), "%s",
				         p->cfg->listeners[i].name);
				out[k].fd = fd;
			}
			k++;
		}
	}
	return k;
}

/*
 * true if inherited socket <s> serves listener <c>: it listens on <c>'s address, or, for a
 * listener on port 0 (the kernel's choice), it has <c>'s name and address family.
 */
static bool
serves(const struct sl_proxy_socket *s, const struct sl_config_listener *c)
{
	struct sl_addr a;

	if (sl_sock_local_addr(s->fd, &a) != 0)
		return false;
	if (sl_addr_port(&c->addr) != 0)
		return sl_addr_equal(&a, &c->addr);
	return strcmp(s->name, c->name) == 0 && a.ss.ss_family == c->addr.ss.ss_family;
}

int
sl__handover_take(struct sl_proxy *p, const struct sl_config_listener *c)
{
	for (size_t k = 0; k < p->ninherited; k++) {
		struct sl_proxy_socket *s = &p->inherited[k];
		int fd = s->fd;

		if (fd >= 0 && serves(s, c)) {
			s->fd = -1;
			return fd;
		}
	}
	return -1;
}

void
sl__handover_close_rest(struct sl_proxy *p, bool warn)
{
	for (size_t k = 0; k < p->ninherited; k++) {
		struct sl_proxy_socket *s = &p->inherited[k];

		if (s->fd < 0)
			continue;
		if (warn)
			sl_log_warn(
			        "upgrade: a socket of the previous process's listener %s was "
			        "not taken (the listener is gone or moved, or has fewer workers "
			        "now); clients waiting in its queue are reset when that process "
			        "closes it",
			        s->name);
		close(s->fd);
		s->fd = -1;
	}
}
