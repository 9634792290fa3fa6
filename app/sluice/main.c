// SPDX-License-Identifier: MIT
/*
 * sluice: the proxy binary. Thin on purpose: flags (cli.c), the embedded demo (demo.c), the
 * health probe (probe.c), the start-up checks that say why a start failed, and the signal
 * handling: SIGTERM/SIGINT drain, a second one during the drain closes everything at once,
 * SIGHUP reloads the file's live fields, SIGUSR1 reopens the access log (log rotation).
 * Privileges: everything that needs them (listeners, the admin socket, log files) is opened
 * first, then privileges_drop() switches to the configured user before any thread starts
 * (sluice/privs.h). The control socket (sluicectl) reloads and shuts down through the same
 * paths.
 * Everything else lives in the proxy library (include/sluice/proxy.h).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sluice/addr.h>
#include <sluice/admin.h>
#include <sluice/alerts.h>
#include <sluice/config.h>
#include <sluice/ctl.h>
#include <sluice/log.h>
#include <sluice/loop.h>
#include <sluice/privs.h>
#include <sluice/proxy.h>
#include <sluice/sock.h>
#include <sluice/version.h>
#include <sluice/xdp.h>

#include "cli.h"
#include "demo.h"
#include "notify.h"
#include "privileges.h"
#include "probe.h"
#include "reload.h"
#include "signals.h"
#include "summary.h"
#include "upgrade.h"

#define DEMO_LISTEN "127.0.0.1:8080"
#define DEMO_ADMIN "127.0.0.1:9090"
#define DEMO_CONTROL "sluice-demo.sock" /* in $TMPDIR, else /tmp */

/*
 * Why sluice cannot make, as things stand, the file or socket <key> names at <file> (<socket>:
 * a unix socket; else the access log it appends to): something it will not replace is in the
 * way. A socket's place may hold only a socket (sl_sock_unix_listen() replaces one no process
 * answers on), the access log's neither a directory nor a socket. 0, or -EEXIST with the
 * reason in <why>. --check and the start both ask, so both say the same.
 */
static int
file_in_the_way(const char *key, const char *file, bool socket, char *why, size_t size)
{
	const char *what = NULL;
	bool dir = false;
	struct stat st;

	if (file == NULL || file[0] == '\0' || (!socket && strcmp(file, "-") == 0))
		return 0;
	if (socket) {
		what = sl_sock_unix_in_the_way(file);
	} else if (stat(file, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode))) {
		dir = S_ISDIR(st.st_mode);
		what = dir ? "a directory" : "a socket";
	}
	if (what == NULL)
		return 0;
	if (socket)
		snprintf(why, size,
		         "%s %s is %s, which sluice will not replace with its socket (it replaces "
		         "only a socket no process answers on)",
		         key, file, what);
	else
		snprintf(why, size,
		         "%s %s is %s, which sluice will not replace with its log file%s", key,
		         file, what, dir ? ": name a file in it" : "");
	return -EEXIST;
}

/*
 * The files and sockets <cfg> makes at start that something is in the way of
 * (file_in_the_way()), the control socket's only <with_control> (the demo's is optional).
 * 0, or -EEXIST with the reason in <why>.
 */
static int
files_in_the_way(const struct sl_config *cfg, bool with_control, char *why, size_t size)
{
	if (file_in_the_way("access_log.path", cfg->access_log.path, false, why, size) != 0 ||
	    (with_control &&
	     file_in_the_way("control.path", cfg->control.path, true, why, size) != 0) ||
	    file_in_the_way("upgrade_socket", cfg->upgrade_socket, true, why, size) != 0)
		return -EEXIST;
	return 0;
}

/* Whether a process accepts on unix socket <path> (stream: the control socket; seqpacket: the
 * upgrade socket), as the start's bind would find. Never waits: a full backlog answers too. */
static bool
socket_answers(const char *path)
{
	static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET};

	for (size_t i = 0; i < SL_ARRAY_SIZE(types); i++) {
		int fd = sl_sock_unix_connect(path, types[i] | SOCK_NONBLOCK);

		if (fd >= 0)
			close(fd);
		if (fd >= 0 || fd == -EAGAIN)
			return true;
	}
	return false;
}

/*
 * For --check, the place of <file> (a file or socket sluice makes at start, named by <key>;
 * <socket>: a unix socket): refuses it when something sluice will not replace is there
 * (file_in_the_way(): -EEXIST, printed), and warns when the directory it goes in does not exist
 * here: the start would fail unless something makes it first (systemd's RuntimeDirectory=
 * does, for /run/sluice). A warning, not a refusal: the directory may well exist where and when
 * sluice starts. 0 or -EEXIST.
 */
static int
check_file_place(const char *path, const char *key, const char *file, bool socket)
{
	char dir[4096], why[4096 + 200];
	struct stat st;
	char *slash;

	if (file == NULL || file[0] == '\0' || strcmp(file, "-") == 0)
		return 0;
	if (file_in_the_way(key, file, socket, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: cannot start on this host: %s\n", path, why);
		return -EEXIST;
	}
	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0'; /* the root */
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 && errno != ENOENT && errno != ENOTDIR)
		fprintf(stderr,
		        "%s: warning: %s %s: this user (uid %u) cannot reach the directory %s here "
		        "(%s); sluice cannot start as it unless that changes\n",
		        path, key, file, (unsigned)geteuid(), dir, strerror(errno));
	else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		fprintf(stderr,
		        "%s: warning: %s %s: the directory %s does not exist here; sluice cannot "
		        "start until it does\n",
		        path, key, file, dir);
	else if (access(dir, W_OK | X_OK) != 0)
		fprintf(stderr,
		        "%s: warning: %s %s: this user (uid %u) cannot create files in %s here "
		        "(%s); sluice cannot start as it unless that changes\n",
		        path, key, file, (unsigned)geteuid(), dir, strerror(errno));
	else if (socket && socket_answers(file))
		fprintf(stderr,
		        "%s: warning: %s %s: a running process answers on it here; sluice cannot "
		        "start until it stops (or start with --upgrade to take over from a running "
		        "sluice)\n",
		        path, key, file);
	return 0;
}

/*
 * For --check: warns when <a> (what <key> names) is not an address of this host, so sluice
 * could not <use> ("listen on", "connect from") it here: a bind to port 0 on a fresh socket
 * finds out without touching the port itself. <hint>: how to start anyway, or "". A warning,
 * as for a directory: a virtual address may come to the host before sluice starts.
 */
static void
check_addr_here(const char *path, const char *key, const struct sl_addr *a, const char *use,
                const char *hint)
{
	char text[SL_ADDR_STRLEN];
	struct sl_addr any = *a;
	int fd;

	if (a->len == 0)
		return;
	sl_addr_set_port(&any, 0);
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return; /* no such family here: the start says so */
	if (sl_sock_bind_source(fd, &any) == -EADDRNOTAVAIL)
		fprintf(stderr,
		        "%s: warning: %s %s: not an address of this host; sluice cannot %s it here "
		        "until it is%s\n",
		        path, key,
		        sl_addr_port(a) != 0 ? sl_addr_format(a, text, sizeof(text))
		                             : sl_addr_format_ip(a, text, sizeof(text)),
		        use, hint);
	close(fd);
}

/* For --check: warns when xdp.interface does not exist here, saying what the start would do. */
static void
check_xdp_interface(const char *path, const struct sl_config_xdp *x)
{
	if (x->interface[0] == '\0' || if_nametoindex(x->interface) != 0)
		return;
	fprintf(stderr, "%s: warning: xdp.interface %s: no such interface here; %s\n", path,
	        x->interface,
	        x->required ? "sluice cannot start until it exists (xdp.required)"
	                    : "sluice would run without XDP (and apply every list itself)");
}

/*
 * Whether <cfg> fits this host's open-file limit (the hard one: sluice raises the soft limit to
 * it at start), as sl_proxy_create() will find. 0, or -EMFILE with the reason in <why>.
 */
static int
budget_fits(const struct sl_config *cfg, char *why, size_t size)
{
	struct sl_proxy_budget b;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_max = 1024;
	return sl_proxy_budget(cfg, sl_config_workers(cfg),
	                       rl.rlim_max == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_max,
	                       &b, why, size);
}

/*
 * Whether <cfg>'s workers fit the process's pool table: the loader checked a count the file
 * sets, but not the default (one per CPU, a property of this host), -w or the one-line mode.
 * 0, or -E2BIG with the reason in <why>.
 */
static int
workers_fit(const struct sl_config *cfg, char *why, size_t size)
{
	uint32_t n = sl_config_workers(cfg), max = sl_config_workers_max(cfg);

	if (n <= max)
		return 0;
	if (cfg->workers == 0)
		snprintf(why, size,
		         "one worker per CPU (%u CPUs here) is too many for %zu listener%s: each "
		         "worker holds %zu memory pools and a process at most %u; set workers: (or "
		         "-w) to at most %u",
		         n, cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", cfg->nlisteners + 1,
		         SL_CONFIG_POOLS_MAX, max);
	else
		snprintf(why, size,
		         "%u workers are too many for %zu listener%s: each worker holds %zu memory "
		         "pools and a process at most %u; use at most %u workers",
		         n, cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", cfg->nlisteners + 1,
		         SL_CONFIG_POOLS_MAX, max);
	return -E2BIG;
}

/* --check: the file, with the command line's overrides applied as the start applies them. */
static int
check_config(const struct cli *c)
{
	const char *path = c->config_path;
	struct privileges_plan plan;
	struct sl_config *cfg;
	char why[512];
	bool in_the_way;

	if (sl_config_load_file(&cfg, path, stderr) != 0)
		return 1;
	if (cli_apply_overrides(cfg, c) != 0) {
		sl_config_free(cfg);
		return 2;
	}
	/* what the file asks must also fit this host's open-file limit, or it would not start */
	if (workers_fit(cfg, why, sizeof(why)) != 0 || budget_fits(cfg, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: cannot start on this host: %s\n", path, why);
		sl_config_free(cfg);
		return 1;
	}
	/* the user and group must exist here, be reachable, and the features' capabilities be
	 * held: what the start refuses before binding, it refuses here */
	if (privileges_check(cfg, &plan, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: cannot start on this host: %s\n", path, why);
		sl_config_free(cfg);
		return 1;
	}
	/* the files and sockets it makes at start need their directories, and their places */
	in_the_way = check_file_place(path, "access_log.path", cfg->access_log.path, false) != 0;
	in_the_way |= check_file_place(path, "control.path", cfg->control.path, true) != 0;
	in_the_way |= check_file_place(path, "upgrade_socket", cfg->upgrade_socket, true) != 0;
	if (in_the_way) {
		sl_config_free(cfg);
		return 1;
	}
	/* and the addresses it listens on, this host's (unless a listener binds it free) */
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &cfg->listeners[i];
		char key[SL_CONFIG_NAME_MAX + 32], text[SL_ADDR_STRLEN];

		if (l->freebind)
			continue;
		/* a listener named by its address (the default) is not named twice */
		if (strcmp(l->name, sl_addr_format(&l->addr, text, sizeof(text))) == 0)
			snprintf(key, sizeof(key), "listener address");
		else
			snprintf(key, sizeof(key), "listener %s: address", l->name);
		check_addr_here(path, key, &l->addr, "listen on",
		                " (or set freebind: true on the listener to bind it before)");
	}
	check_addr_here(path, "admin.address", &cfg->admin.addr, "listen on", "");
	for (size_t i = 0; i < cfg->ngroups; i++) {
		char key[SL_CONFIG_NAME_MAX + 16];

		snprintf(key, sizeof(key), "group %s: source", cfg->groups[i].name);
		check_addr_here(path, key, &cfg->groups[i].source, "connect from", "");
	}
	check_xdp_interface(path, &cfg->xdp);
	if (cfg->profiling.tcp_events && cfg->user[0] != '\0')
		fprintf(stderr,
		        "%s: warning: profiling.tcp_events: the trace instance needs root, and "
		        "sluice "
		        "runs as user %s before it starts tracing: there will be no tcp events "
		        "(leave "
		        "out user: to have them)\n",
		        path, cfg->user);
	printf("%s: ok (%zu listener%s, %zu group%s)\n", path, cfg->nlisteners,
	       cfg->nlisteners == 1 ? "" : "s", cfg->ngroups, cfg->ngroups == 1 ? "" : "s");
	sl_config_free(cfg);
	return 0;
}

/* sluicectl beside this binary (a build tree), else the name alone (it is on the PATH). */
static const char *
sluicectl_path(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - sizeof("sluicectl"));
	char *slash;

	if (n <= 0 || (size_t)n >= size - sizeof("sluicectl"))
		return "sluicectl";
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL)
		return "sluicectl";
	snprintf(slash + 1, size - (size_t)(slash + 1 - buf), "sluicectl");
	return access(buf, X_OK) == 0 ? buf : "sluicectl";
}

/* The host a client on this machine reaches the demo's listener <a> at: loopback for a
 * wildcard address, else the address itself. */
static const char *
demo_host(const struct sl_addr *a, char *buf, size_t size)
{
	if (sl_addr_is_any(a))
		return a->ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1";
	return sl_addr_format_ip(a, buf, size);
}

static void
print_demo_banner(const struct sl_config *cfg, const struct sl_addr *backends)
{
	char listen[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN], ctl[4096];

	sl_addr_format(&cfg->listeners[0].addr, listen, sizeof(listen));
	printf("sluice %s demo: proxying %s to %d built-in backends (round robin, TCP health "
	       "checks)\n",
	       sl_version(), listen, DEMO_BACKENDS);
	for (int i = 0; i < DEMO_BACKENDS; i++)
		printf("  backend %d: %s\n", i + 1, sl_addr_format(&backends[i], b, sizeof(b)));
	printf("try it from another terminal:\n"
	       "  curl http://%s/      # each request names the backend that answered\n"
	       "  nc %s %u    # anything that is not HTTP is echoed back\n",
	       listen, demo_host(&cfg->listeners[0].addr, b, sizeof(b)),
	       sl_addr_port(&cfg->listeners[0].addr));
	if (cfg->admin.addr.len != 0)
		printf("  curl http://%s/metrics   # Prometheus metrics; /stats for JSON\n",
		       sl_addr_format(&cfg->admin.addr, b, sizeof(b)));
	if (cfg->control.path[0] != '\0')
		printf("  %s -s %s show backends   # also: show info, show stats, help\n",
		       sluicectl_path(ctl, sizeof(ctl)), cfg->control.path);
	printf("stop with Ctrl-C (sluice drains open connections, then exits)\n");
	fflush(stdout);
}

/* The demo's control socket: DEMO_CONTROL in $TMPDIR (if it fits a socket path), else /tmp. */
static void
demo_control_path(struct sl_config *cfg)
{
	const char *dir = getenv("TMPDIR");
	int n;

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	n = snprintf(cfg->control.path, sizeof(cfg->control.path), "%s/%s", dir, DEMO_CONTROL);
	if (n < 0 || (size_t)n >= sizeof(cfg->control.path))
		snprintf(cfg->control.path, sizeof(cfg->control.path), "/tmp/%s", DEMO_CONTROL);
}

static const char *
signal_name(int sig)
{
	if (sig == SHUTDOWN_SIGNAL)
		return "shutdown (control socket)";
	return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
}

/* The signals main() blocks in every thread; only sigwait() sees them. */
static void
handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2); /* its default would end the process with every session */
	sigaddset(set, WAKE_SIGNAL);
	sigaddset(set, UPGRADE_SIGNAL);
	sigaddset(set, SHUTDOWN_SIGNAL);
}

/* Whether SIGTERM or SIGINT waits to be taken (blocked, it stays pending until sigwait()). */
static bool
stop_pending(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/*
 * Waits for SIGTERM, SIGINT or SIGHUP and returns it; with <wake>, WAKE_SIGNAL too. A SIGUSR1
 * on the way asks <p>'s access log to reopen its file (its logger thread does it); a SIGUSR2
 * (another proxy's reload or upgrade signal) is ignored, saying what to send instead.
 */
static int
wait_for_signal(struct sl_proxy *p, bool wake)
{
	sigset_t set, first;
	int sig = 0;

	handled_signals(&set);
	if (!wake)
		sigdelset(&set, WAKE_SIGNAL);
	/* sigwait() takes the lowest-numbered pending signal, so a stream of SIGHUP or SIGUSR1
	 * would hold back SIGTERM and the real-time signals that end the service (the upgrade's
	 * handover, the control socket's shutdown): those are taken first */
	first = set;
	sigdelset(&first, SIGHUP);
	sigdelset(&first, SIGUSR1);
	sigdelset(&first, SIGUSR2);
	for (;;) {
		sig = sigtimedwait(&first, NULL, &(const struct timespec){0, 0});
		if (sig <= 0 && sigwait(&set, &sig) != 0)
			continue;
		/* a SIGHUP taken in the wake-up that brought one of those too: that one first, the
		 * SIGHUP pending again behind it */
		if (sig == SIGHUP) {
			int before = sigtimedwait(&first, NULL, &(const struct timespec){0, 0});

			if (before > 0) {
				kill(getpid(), SIGHUP);
				return before;
			}
		}
		if (sig == SIGUSR2) {
			sl_log_warn("SIGUSR2: ignored: SIGHUP reloads the configuration and "
			            "'sluice --upgrade' replaces the process");
			continue;
		}
		if (sig != SIGUSR1)
			return sig;
		if (sl_proxy_reopen_logs(p) == -ENOENT)
			sl_log_info("SIGUSR1: no access_log is configured; nothing to reopen");
	}
}

/*
 * The drain's watcher: a second SIGTERM or SIGINT while sl_proxy_drain() waits for open
 * sessions cuts the drain short: every session still open is closed at once (counted as drain
 * timeouts), and the process exits 1 after its summary.
 */
struct drain_watch {
	pthread_mutex_t mu;
	struct sl_proxy *p;
	bool done; /* the drain returned: a late signal changes nothing */
	bool cut;  /* a second signal cut it short */
};

static void *
drain_watch_run(void *arg)
{
	struct drain_watch *dw = arg;
	bool done;
	int sig;

	do {
		sig = wait_for_signal(dw->p, true);
		pthread_mutex_lock(&dw->mu);
		done = dw->done;
		if (!done && (sig == SIGTERM || sig == SIGINT) && !dw->cut) {
			sl_log_warn("%s during the drain: closing every connection at once",
			            signal_name(sig));
			dw->cut = true;
			sl_proxy_drain_cut(dw->p);
		} else if (!done && sig == SIGHUP) {
			sl_log_info("SIGHUP during the drain: not reloaded");
		}
		pthread_mutex_unlock(&dw->mu);
	} while (!done);
	return NULL;
}

/* Unprivileged, F_SETPIPE_SZ past /proc/sys/fs/pipe-max-size fails and the pipes keep the
 * kernel's default size: say so rather than run with less than configured. A root start with
 * user: runs unprivileged too once bound (pipes are made as sessions need them). */
static void
warn_pipe_size(const struct sl_config *cfg)
{
	unsigned long max = 0;
	char buf[32];
	FILE *f;

	if (geteuid() == 0 && cfg->user[0] == '\0')
		return;
	f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f))
		max = strtoul(buf, NULL, 10); /* 0 (no warning) if it is not a number */
	fclose(f);
	for (size_t i = 0; max != 0 && i < cfg->nlisteners; i++) {
		const struct sl_config_listener *l = &cfg->listeners[i];

		if (sl_config_fwd_pipes(l->forward) && l->pipe_size > max)
			sl_log_warn(
			        "listener %s: pipe_size %u is above /proc/sys/fs/pipe-max-size "
			        "(%lu) and sluice is not root: its pipes keep the kernel's default "
			        "size",
			        l->name, l->pipe_size, max);
	}
}

/*
 * A new process took over: the control socket (whose file is the new one's now) and the
 * admin endpoint stop here, once (*ctl and *admin NULL after).
 */
static void
handed_over_stop(struct sl_ctl **ctl, struct sl_admin **admin)
{
	if (*ctl != NULL)
		sl_ctl_handed_over(*ctl);
	sl_ctl_stop(*ctl);
	sl_admin_stop(*admin);
	*ctl = NULL;
	*admin = NULL;
}

/* What an operator can do about a start of <cfg> that failed with <err>, or "". */
static const char *
start_hint(int err, const struct sl_config *cfg, char *buf, size_t size)
{
	struct rlimit rl;

	switch (-err) {
	case EMFILE:
	case ENFILE:
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = 0;
		snprintf(buf, size,
		         " (the open-file limit is %llu: raise it with ulimit -n or systemd's "
		         "LimitNOFILE=, or use fewer workers or listeners)",
		         (unsigned long long)rl.rlim_cur);
		return buf;
	case ENOMEM:
		/* io_uring asked for by name, its rings short of locked memory (auto would have run
		 * on epoll instead): the io_uring line above says what to do */
		if (cfg->runtime == SL_LOOP_IO_URING && sl_loop_io_uring_memlock_short())
			return " (the locked-memory limit: see the io_uring line above)";
		if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			snprintf(buf, size,
			         " (the address-space limit, ulimit -v, is %llu MiB: raise it, or "
			         "use fewer workers, a smaller buffer_size, source_limits."
			         "table_size, access_log.ring_size or warm pools)",
			         (unsigned long long)(rl.rlim_cur >> 20));
			return buf;
		}
		return " (use fewer workers, a smaller buffer_size, source_limits.table_size, "
		       "access_log.ring_size or warm pools)";
	case ENOSPC:
		return " (too many memory pools: use fewer workers or listeners)";
	case EACCES:
		/* a listener's port or the access log's file: each names itself in a line above */
		return " (refused: the error above says what)";
	default:
		return "";
	}
}

/* start_hint(), and for an address in use or not this host's, who holds it or what to do. */
static const char *
addr_hint(int err, const struct sl_config *cfg, const struct sl_addr *a, char *buf, size_t size)
{
	char users[160];

	if (err == -EADDRINUSE && sl_sock_port_users(a, users, sizeof(users)) == 0) {
		snprintf(buf, size, " (held by: %s)", users);
		return buf;
	}
	if (err == -EADDRNOTAVAIL)
		return " (not an address of this host)";
	if (err == -EACCES)
		return " (ports below net.ipv4.ip_unprivileged_port_start, 1024 by default, need "
		       "root or CAP_NET_BIND_SERVICE)";
	return start_hint(err, cfg, buf, size);
}

/*
 * Opens the admin endpoint's listener if the configuration has one (no thread yet): on
 * <*inherited> (the previous process's socket, binary upgrade; taken, and set to -1) when it
 * listens on the configured address. Returns 0 (*a may stay NULL), or -EIO (logged) when it
 * cannot open and is not <optional> (the demo's is: the proxy runs without it).
 */
static int
admin_open(struct sl_admin **a, struct sl_proxy *p, const struct sl_config *cfg, bool optional,
           int *inherited)
{
	char addr[SL_ADDR_STRLEN], hint[256];
	struct sl_addr was;
	int err, fd = *inherited;

	*a = NULL;
	*inherited = -1;
	if (fd >= 0 &&
	    (cfg->admin.addr.len == 0 || sl_sock_local_addr(fd, &was) != 0 ||
	     (sl_addr_port(&cfg->admin.addr) != 0 && !sl_addr_equal(&was, &cfg->admin.addr)))) {
		close(fd); /* the admin endpoint is gone or moved */
		fd = -1;
	}
	if (cfg->admin.addr.len == 0)
		return 0;
	sl_addr_format(&cfg->admin.addr, addr, sizeof(addr));
	err = fd >= 0 ? sl_admin_open_fd(a, p, fd) : sl_admin_open(a, p, &cfg->admin.addr);
	if (err == 0) {
		/* whole seconds, rounded up: libmicrohttpd's unit */
		struct sl_admin_limits lim = {.max_connections = cfg->admin.max_connections,
		                              .max_per_source = cfg->admin.max_per_source,
		                              .timeout_s = (cfg->admin.timeout_ms + 999) / 1000};

		err = sl_admin_set_limits(*a, &lim);
		if (err != 0) {
			sl_admin_stop(*a);
			*a = NULL;
		}
	}
	if (err != 0 && optional) {
		sl_log_warn("cannot start the admin endpoint on %s: %s (going on without it)", addr,
		            strerror(-err));
		return 0;
	}
	if (err != 0) {
		sl_log_error("cannot start the admin endpoint on %s: %s%s", addr, strerror(-err),
		             addr_hint(err, cfg, &cfg->admin.addr, hint, sizeof(hint)));
		return -EIO;
	}
	return 0;
}

/*
 * Starts serving on <*a>'s listener, if any (after sl_proxy_start(): a scrape needs running
 * workers). Returns 0, or -EIO (logged) unless <optional>; on failure <*a> is stopped (NULL).
 */
static int
admin_serve(struct sl_admin **a, bool optional)
{
	char addr[SL_ADDR_STRLEN];
	struct sl_addr bound;
	int err;

	if (*a == NULL)
		return 0;
	sl_admin_addr(*a, &bound);
	sl_addr_format(&bound, addr, sizeof(addr));
	err = sl_admin_serve(*a);
	if (err != 0) {
		if (optional)
			sl_log_warn("cannot start the admin endpoint on %s: %s (going on without "
			            "it)",
			            addr, strerror(-err));
		else
			sl_log_error("cannot start the admin endpoint on %s: %s", addr,
			             strerror(-err));
		sl_admin_stop(*a);
		*a = NULL;
		return optional ? 0 : -EIO;
	}
	sl_log_info("admin endpoint on http://%s/: / (stats page) /metrics /stats /healthz /readyz",
	            addr);
	return 0;
}

/*
 * Opens the control socket if the configuration has one (no thread yet: sl_ctl_serve() after
 * sl_proxy_start()). Returns 0 (*ctl may stay NULL), or -EIO (logged) when it cannot open and
 * is not <optional> (the demo's is).
 */
static int
ctl_open(struct sl_ctl **ctl, struct sl_proxy *p, const struct sl_config *cfg, bool optional,
         struct reloader *rl, int *inherited)
{
	const char *path = cfg->control.path;
	struct sl_ctl_opts o = {
	        .path = path,
	        .mode = cfg->control.mode,
	        .cfg = cfg,
	        .config_path = rl->c != NULL ? rl->c->config_path : NULL,
	        .reload = reload_from_ctl,
	        .shutdown = shutdown_from_ctl,
	        .arg = rl,
	};
	const char *hint = "", *in_the_way;
	char what[96];
	struct sockaddr_un was = {0};
	socklen_t len = sizeof(was);
	int err, fd = *inherited;

	*ctl = NULL;
	*inherited = -1;
	/* the previous process's socket (binary upgrade), if it is still this path's */
	if (fd >= 0 &&
	    (path[0] == '\0' || getsockname(fd, (struct sockaddr *)&was, &len) != 0 ||
	     was.sun_family != AF_UNIX || strncmp(was.sun_path, path, sizeof(was.sun_path)) != 0)) {
		close(fd);
		fd = -1;
	}
	if (path[0] == '\0')
		return 0;
	err = fd >= 0 ? sl_ctl_open_fd(ctl, p, &o, fd) : sl_ctl_open(ctl, p, &o);
	if (err == -EADDRINUSE)
		hint = " (another running process answers on it: stop that one, or choose "
		       "another path)";
	else if (err == -EEXIST && (in_the_way = sl_sock_unix_in_the_way(path)) != NULL) {
		snprintf(what, sizeof(what),
		         " (%s is there, which sluice will not replace with its socket)",
		         in_the_way);
		hint = what;
	}
	if (err != 0 && optional) {
		sl_log_warn("cannot open the control socket %s: %s%s (going on without it)", path,
		            strerror(-err), hint);
		return 0;
	}
	if (err != 0) {
		sl_log_error("cannot open the control socket %s: %s%s", path, strerror(-err), hint);
		return -EIO;
	}
	sl_log_info("control socket on %s (mode %04o): sluicectl -s %s help", path,
	            (unsigned)cfg->control.mode, path);
	return 0;
}

/*
 * Sets up the configured alerts (none: *al stays NULL) and starts them. 0, or -1 after saying
 * why not. Before the admin endpoint: the alerts add their sets to the registry it reads.
 */
static int
alerts_start(struct sl_alerts **al, struct sl_proxy *p, const struct sl_config *cfg)
{
	int err = sl_alerts_create(al, p, &cfg->alerts);

	if (err == -ENOTSUP) {
		sl_log_error("cannot start: this sluice was built without alerts (no libcurl; "
		             "sluice-static never has them): remove \"alerts:\" from the "
		             "configuration, or run a sluice built with libcurl");
		return -1;
	}
	if (err == 0 && (err = sl_alerts_start(*al)) != 0) {
		sl_alerts_destroy(*al);
		*al = NULL;
	}
	if (err != 0) {
		sl_log_error("cannot start the alerts: %s", strerror(-err));
		return -1;
	}
	if (*al != NULL)
		sl_log_info("alerts: %zu rule%s every %u ms, %zu webhook%s", cfg->alerts.nrules,
		            cfg->alerts.nrules == 1 ? "" : "s", cfg->alerts.interval_ms,
		            cfg->alerts.nwebhooks, cfg->alerts.nwebhooks == 1 ? "" : "s");
	return 0;
}

/*
 * Attaches the XDP early-drop program if <cfg> asks for one (*x stays NULL otherwise, or when
 * it cannot and xdp.required is off: one line says why). 0, or -1 (logged) when a required
 * one cannot be attached. Before the privilege drop: it needs CAP_BPF and CAP_NET_ADMIN.
 */
static int
xdp_start(struct sl_xdp **x, struct sl_proxy *p, const struct sl_config *cfg)
{
	char why[300];
	int err;

	*x = NULL;
	if (cfg->xdp.interface[0] == '\0')
		return 0;
	if (!sl_xdp_is_built_in()) {
		sl_log_error("cannot start: this sluice was built without XDP (no libbpf or clang "
		             "at build time): remove \"xdp:\" from the configuration, or run a "
		             "sluice built with libbpf");
		return -1;
	}
	/* from here every failure is the host's (interface, driver, privileges, kernel) */
	err = sl_xdp_create(x, cfg, why, sizeof(why));
	if (err != 0) {
		if (cfg->xdp.required) {
			sl_log_error("cannot start: xdp on %s is required: %s", cfg->xdp.interface,
			             why);
			return -1;
		}
		sl_log_warn("xdp on %s: %s: running without XDP (sluice still applies every "
		            "list itself)",
		            cfg->xdp.interface, why);
		return 0;
	}
	err = sl_xdp_add_stats(*x, p);
	if (err != 0) {
		sl_log_error("cannot start: xdp: cannot add its counters: %s", strerror(-err));
		sl_xdp_destroy(*x);
		*x = NULL;
		return -1;
	}
	sl_proxy_use_xdp(p, *x); /* the workers add their bans to it */
	sl_log_info("xdp: early-drop program attached to %s (%s mode)", cfg->xdp.interface,
	            sl_xdp_mode_name(*x));
	return 0;
}

/*
 * Binary upgrade, the new process's first step: takes the running sluice's sockets into <t>
 * and gives the proxy its listening ones. 0, or 1 (logged).
 */
static int
take_over(struct upgrade_take *t, struct sl_proxy *p, const struct sl_config *cfg)
{
	int err;

	if (cfg->upgrade_socket == NULL) {
		sl_log_error("cannot start: --upgrade takes over through the upgrade socket, and "
		             "none is configured (upgrade_socket in the file, or --upgrade-socket "
		             "PATH)");
		return 1;
	}
	if (upgrade_take(t, cfg->upgrade_socket) != 0)
		return 1;
	err = sl_proxy_inherit(p, t->socks, t->nsocks);
	if (err != 0) {
		sl_log_error("cannot start: %s", strerror(-err));
		upgrade_take_release(t);
		return 1;
	}
	/* the proxy's now */
	free(t->socks);
	t->socks = NULL;
	t->nsocks = 0;
	/* before this process listens: a banned source finds no way in */
	upgrade_import_bans(t, p);
	return 0;
}

/*
 * Runs the proxy until SIGTERM or SIGINT, or until a new process took over (upgrade_socket);
 * SIGHUP reloads from <reload_from> (NULL: no file). With <upgrade>, first takes the running
 * sluice's listeners over.
 */
static int
run(struct sl_config *cfg, bool admin_optional, const struct cli *reload_from, bool upgrade)
{
	struct reloader rl = {.mu = PTHREAD_MUTEX_INITIALIZER,
	                      .layout = cfg,
	                      .cur = cfg,
	                      .c = reload_from,
	                      .drain_ms = cfg->drain_timeout_ms,
	                      .main = pthread_self()};
	struct sl_ctl *ctl = NULL;
	struct upgrade_take take = {.admin_fd = -1, .ctl_fd = -1, .upgrade_fd = -1, .conn = -1};
	struct upgrade *up = NULL;
	struct sl_admin *admin = NULL;
	struct sl_alerts *alerts = NULL;
	struct sl_xdp *xdp = NULL;
	pid_t handed_to;
	struct drain_watch dw = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct privileges_plan plan;
	uint32_t n = sl_config_workers(cfg);
	struct sl_proxy *p;
	pthread_t watcher;
	char hint[200], why[512], in_the_way[4096 + 200];
	bool watching, abandoned;
	int err, sig;

	sl_log_set_level(cfg->log_level);
	if (workers_fit(cfg, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return 1;
	}
	cfg->workers_started = n; /* a reload compares with what runs */
	warn_pipe_size(cfg);
	if (privileges_check(cfg, &plan, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return 1;
	}
	/* said here, once: sl_proxy_create() would log it and then fail with a bare -EMFILE */
	if (budget_fits(cfg, why, sizeof(why)) != 0) {
		sl_log_error("cannot start: %s", why);
		return 1;
	}
	/* said here, once, as --check says it: the opens would fail with a bare EEXIST, EISDIR */
	if (files_in_the_way(cfg, !admin_optional, in_the_way, sizeof(in_the_way)) != 0) {
		sl_log_error("cannot start: %s", in_the_way);
		return 1;
	}
	/* the access log's file is opened here */
	err = sl_proxy_create(&p, cfg);
	if (err) {
		sl_log_error("cannot start: %s%s", strerror(-err),
		             start_hint(err, cfg, hint, sizeof(hint)));
		return 1;
	}
	if (upgrade && take_over(&take, p, cfg) != 0) {
		sl_proxy_destroy(p);
		return 1;
	}
	/* every privileged thing first (sockets, files), then the drop, then the threads */
	err = sl_proxy_listen(p);
	if (err == 0 && xdp_start(&xdp, p, cfg) != 0)
		err = -EIO;
	rl.xdp = xdp;
	if (err == 0)
		err = admin_open(&admin, p, cfg, admin_optional, &take.admin_fd);
	rl.p = p;
	if (err == 0)
		err = ctl_open(&ctl, p, cfg, admin_optional, &rl, &take.ctl_fd);
	if (err == 0 && cfg->upgrade_socket != NULL) {
		err = upgrade_open(&up, cfg->upgrade_socket, take.upgrade_fd, p) != 0 ? -EIO : 0;
		take.upgrade_fd = -1; /* upgrade_open()'s, even when it fails */
	}
	if (err == 0 && privileges_drop(p, cfg, &plan,
	                                reload_from != NULL ? reload_from->config_path : NULL) != 0)
		err = -EPERM;
	if (err == 0)
		err = sl_proxy_start(p);
	/* before the admin endpoint serves: the alerts add their sets to the registry it reads */
	if (err == 0 && alerts_start(&alerts, p, cfg) != 0)
		err = -EIO;
	if (err == 0)
		err = admin_serve(&admin, admin_optional);
	if (err == 0 && ctl != NULL && (err = sl_ctl_serve(ctl)) != 0)
		sl_log_error("cannot serve the control socket %s: %s", cfg->control.path,
		             strerror(-err));
	if (err == 0 && up != NULL &&
	    upgrade_serve(up, admin, ctl != NULL ? sl_ctl_listen_fd(ctl) : -1, pthread_self()) != 0)
		err = -EIO;
	if (err) {
		/* the proxy names a listener that failed, not every cause: say it here too, with
		 * the number of workers where that is what ran out */
		if (err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -ENOSPC)
			sl_log_error("cannot start (%u worker%s): %s%s", n, n == 1 ? "" : "s",
			             strerror(-err), start_hint(err, cfg, hint, sizeof(hint)));
		else if (err != -EPERM && err != -EIO)
			sl_log_error("cannot start: %s%s", strerror(-err),
			             start_hint(err, cfg, hint, sizeof(hint)));
		upgrade_stop(up);
		sl_ctl_stop(ctl);
		sl_admin_stop(admin);
		sl_alerts_destroy(alerts);
		upgrade_take_release(&take);
		sl_proxy_destroy(p);
		sl_xdp_destroy(xdp);
		return 1;
	}
	abandoned = upgrade && stop_pending();
	/* systemd: READY=1, MAINPID and watchdog pings (notify.h); not from an upgrade abandoned
	 * before it was ready: the old process stays the service's main one */
	if (!abandoned)
		notify_started(cfg);
	if (abandoned) {
		/* told to stop before it said it was ready: the old process serves on, and this
		 * one drains what it took meanwhile (the wait below returns the signal) */
		sl_log_warn(
		        "upgrade: a stop signal came before this process was ready: the upgrade "
		        "is abandoned, pid %ld serves on",
		        (long)take.old_pid);
		upgrade_take_release(&take);
		/* the socket files are the old process's still: they stay at the exit */
		upgrade_keep_file(up);
		if (ctl != NULL)
			sl_ctl_handed_over(ctl);
	} else if (upgrade) {
		upgrade_finish(&take, p); /* its sessions move here; it drains the rest */
	}
	for (;;) {
		sig = wait_for_signal(p, false);
		if (sig == SIGHUP)
			reload(&rl, "SIGHUP", NULL);
		else if (sig != UPGRADE_SIGNAL || upgrade_handed_over(up) != 0)
			break;
	}
	/* a new process serves: the control socket's file and the admin endpoint's port are
	 * its, so this one stops answering on them now, while its sessions still move there */
	if (upgrade_handed_over(up) != 0)
		handed_over_stop(&ctl, &admin);
	/* no takeover once the listeners close; first: its thread reads the admin endpoint's
	 * fd. A takeover under way (a stop signal came meanwhile) ends in it */
	handed_to = upgrade_stop(up);
	if (handed_to != 0) {
		handed_over_stop(&ctl, &admin);
	} else {
		/* both serve the drain: show sessions, /metrics, /readyz (503: not listening) */
		sl_ctl_draining(ctl); /* changes end here; joins a reload in progress */
	}
	/* an evaluation asks the workers; none fires on a drain (what is queued still goes out,
	 * so a hung webhook never holds the listeners open) */
	sl_alerts_quiesce(alerts);
	/* said once the changes ended (after an upgrade, the control socket and admin endpoint
	 * closed): the line means so */
	if (handed_to != 0) {
		/* systemd follows the new process's MAINPID: no STOPPING=1 from here */
		sl_log_info("upgrade: pid %ld serves now: draining (deadline %u ms; SIGTERM closes "
		            "every connection at once)",
		            (long)handed_to, rl.drain_ms);
	} else {
		sl_log_info("%s: draining (deadline %u ms; send %s to close every connection at "
		            "once)",
		            signal_name(sig), rl.drain_ms,
		            sig == SHUTDOWN_SIGNAL ? "SIGTERM" : "it again");
		if (!abandoned) /* an abandoned upgrade never told systemd it was the service */
			notify_draining(rl.drain_ms); /* systemd: STOPPING=1 */
	}
	dw.p = p;
	watching = pthread_create(&watcher, NULL, drain_watch_run, &dw) == 0;
	if (!watching)
		sl_log_warn("cannot watch for a second signal: the drain runs to its deadline");
	sl_proxy_drain(p, rl.drain_ms);
	pthread_mutex_lock(&dw.mu);
	dw.done = true;
	pthread_mutex_unlock(&dw.mu);
	if (watching) {
		/* wake the watcher: a signal aimed at its thread is what its sigwait() takes */
		pthread_kill(watcher, WAKE_SIGNAL);
		pthread_join(watcher, NULL);
	}
	/* before the summary: a scrape or show stats asks the workers, gone now (1 s at most) */
	sl_ctl_stop(ctl);
	sl_admin_stop(admin);
	sl_alerts_stop(alerts); /* a post still waiting is abandoned: the drain is over */
	summary_print(p);
	sl_proxy_destroy(p);
	sl_alerts_destroy(alerts); /* after the last registry reader */
	sl_xdp_destroy(xdp);       /* likewise; closing its link detaches the program */
	notify_stop();
	return dw.cut ? 1 : 0;
}

static int
build_from_flags(struct sl_config **cfg, const struct cli *c)
{
	struct sl_addr backends[CLI_MAX_BACKENDS];
	int n = cli_parse_backends(c->backends, backends, CLI_MAX_BACKENDS);

	if (n < 0)
		return n;
	return cli_build_config(cfg, c, c->listen, backends, (size_t)n);
}

/* cli.c prints every -EINVAL; an allocation failure there prints nothing: say it here. */
static int
build_failed(int err)
{
	if (err == -ENOMEM)
		fputs("sluice: cannot start: out of memory\n", stderr);
	return err == -ENOMEM ? 1 : 2;
}

int
main(int argc, char **argv)
{
	struct sl_addr demo_addrs[DEMO_BACKENDS];
	struct sl_config *cfg = NULL;
	struct demo *demo = NULL;
	struct cli c;
	sigset_t set;
	int rc;

	if (cli_parse(&c, argc, argv) != 0)
		return 2;
	switch (c.mode) {
	case CLI_VERSION:
		printf("sluice %s\n", sl_version());
		return 0;
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_CHECK:
		return check_config(&c);
	case CLI_PROBE:
		return probe_run(c.probe_url, stderr);
	case CLI_LIST_KEYS:
		sl_config_keys_print(stdout);
		return 0;
	default:
		break;
	}

	/* before any thread exists: every thread inherits the mask, only sigwait() sees these */
	handled_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a write past the file-size limit fails with EFBIG (the access log counts its loss) */
	signal(SIGXFSZ, SIG_IGN);

	switch (c.mode) {
	case CLI_RUN:
		if (sl_config_load_file(&cfg, c.config_path, stderr) != 0)
			return 1;
		if (cli_apply_overrides(cfg, &c) != 0) {
			sl_config_free(cfg);
			return 2;
		}
		break;
	case CLI_ONELINE:
		rc = build_from_flags(&cfg, &c);
		if (rc != 0)
			return build_failed(rc);
		break;
	default: /* CLI_DEMO */
		rc = demo_start(&demo, demo_addrs,
		                c.runtime >= 0 ? (enum sl_loop_runtime)c.runtime : SL_LOOP_AUTO);
		if (rc) {
			fprintf(stderr, "sluice: cannot start the demo backends: %s\n",
			        strerror(-rc));
			return 1;
		}
		rc = cli_build_config(&cfg, &c, c.demo_listen ? c.demo_listen : DEMO_LISTEN,
		                      demo_addrs, DEMO_BACKENDS);
		if (rc != 0) {
			demo_stop(demo);
			return build_failed(rc);
		}
		cfg->drain_timeout_ms = c.drain_ms >= 0 ? (uint32_t)c.drain_ms : 5000;
		if (!c.admin)
			sl_addr_parse(&cfg->admin.addr, DEMO_ADMIN, false, NULL);
		/* --demo on the admin endpoint's port: no banner line may send curl to the proxy */
		if (!c.admin && sl_addr_overlap(&cfg->admin.addr, &cfg->listeners[0].addr)) {
			cfg->admin.addr.len = 0;
			fprintf(stderr,
			        "sluice: no admin endpoint: the demo listens on its port (%s); "
			        "--admin ADDR:PORT puts it on another\n",
			        DEMO_ADMIN);
		}
		if (!c.control)
			demo_control_path(cfg);
		/* show the active checks at work: every 2 s, a TCP connect to each backend */
		cfg->groups[0].health.kind = SL_HEALTH_TCP;
		print_demo_banner(cfg, demo_addrs);
		break;
	}
	rc = run(cfg, c.mode == CLI_DEMO, c.mode == CLI_RUN ? &c : NULL, c.upgrade);
	demo_stop(demo);
	sl_config_free(cfg);
	return rc;
}
