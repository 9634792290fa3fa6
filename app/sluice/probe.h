/* SPDX-License-Identifier: MIT */
/*
 * `sluice --probe URL`: a health probe for images with no curl (the FROM-scratch container's
 * HEALTHCHECK). One HTTP/1.0 GET to an address literal, 2 s for all of it; only the status line
 * is read. Hand-written on purpose: libcurl does not link into the static binary (Debian's
 * libcurl.a calls getaddrinfo and getpwuid_r, which need NSS, and needs GSSAPI, LDAP, libssh2,
 * nghttp2 and other archives), and a probe needs no more than this.
 */
#ifndef SLUICE_APP_PROBE_H
#define SLUICE_APP_PROBE_H

#include <stdio.h>

#include <sluice/addr.h>

/* Connect, send and read the status line: this long in all. */
#define PROBE_TIMEOUT_MS 2000
/* Longest path (with its query) a probe URL may have, with its NUL. */
#define PROBE_PATH_MAX 1024

struct probe_url {
	struct sl_addr addr;       /* from a literal (or localhost): sluice resolves no names */
	char path[PROBE_PATH_MAX]; /* from the first '/'; "/" when the URL has none */
};

/*
 * Parses "http://HOST[:PORT][/PATH]" into <*out>: HOST an IPv4 address, [IPv6] or localhost
 * (no name lookup), PORT 80 if not given. Returns 0, or -EINVAL with a static explanation in
 * <*why>.
 */
int probe_parse_url(struct probe_url *out, const char *url, const char **why);

/*
 * Probes <url>: 0 if it answers with a 2xx status within PROBE_TIMEOUT_MS, else 1 after
 * printing one line saying why to <err>. The process exit status of --probe.
 */
int probe_run(const char *url, FILE *err);

#endif /* SLUICE_APP_PROBE_H */
