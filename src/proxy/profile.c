// SPDX-License-Identifier: MIT
/*
 * Profiling (config key "profiling:", docs/operations.md "Profiling"): per-worker counters from
 * perf_event_open, opened by each worker on its own thread at start (a mailbox message), read
 * (one read() each) whenever the registry is read; and per-backend TCP retransmissions and
 * resets from the kernel's tcp tracepoints, through a trace instance of our own in tracefs,
 * whose trace_pipe a reader thread parses. Only the events that opened are in the registry:
 * a missing figure is absent, never 0. The start logs one line per part saying what is
 * unavailable and why. Shared: fd[] written by the workers before <opened> is counted under
 * <mu>, read-only after; the TCP counters are relaxed atomics (the reader writes, any thread
 * reads); <stop> is a relaxed flag the reader polls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/log.h>

#include "proxy/proxy_int.h"

#define TRACEFS "/sys/kernel/tracing"
#define TRACEFS_MAGIC 0x74726163
/* How long the start waits for every worker to open its counters. */
#define OPEN_TIMEOUT_MS 2000

/* The perf events, in registry order. */
static const struct {
	const char *name; /* as perf(1) names it, for the log */
	const char *metric;
	const char *help;
	uint32_t type;
	uint64_t config;
	double scale; /* exported = counted * scale; 0 = as counted */
} events[] = {
        {"task-clock", "worker_cpu_seconds", "CPU time the worker thread ran (task-clock).",
         PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, 1e-9},
        {"context-switches", "worker_context_switches", "Context switches of the worker thread.",
         PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, 0},
        {"page-faults", "worker_page_faults", "Page faults of the worker thread.",
         PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, 0},
        {"cpu-migrations", "worker_cpu_migrations", "Moves of the worker thread to another CPU.",
         PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS, 0},
        {"cycles", "worker_cycles", "CPU cycles of the worker thread.", PERF_TYPE_HARDWARE,
         PERF_COUNT_HW_CPU_CYCLES, 0},
        {"instructions", "worker_instructions", "Instructions the worker thread retired.",
         PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0},
};
#define NEVENTS SL_ARRAY_SIZE(events)
_Static_assert(NEVENTS == SL_PROFILE_EVENTS, "the fd budget counts SL_PROFILE_EVENTS per worker");

/* The tracepoints, and which counter each feeds (SL__PROFILE_* in proxy_int.h). */
enum {
	T_RETRANSMITS = SL__PROFILE_RETRANSMIT,
	T_RESETS_SENT = SL__PROFILE_RESET_SENT,
	T_RESETS_RECEIVED = SL__PROFILE_RESET_RECEIVED,
	T_COUNT
};
static const char *const tracepoints[T_COUNT] = {"tcp_retransmit_skb", "tcp_send_reset",
                                                 "tcp_receive_reset"};

struct sl_profile {
	struct sl_proxy *p;
	/* perf: [worker * NEVENTS + event], -1 if not open */
	int *fd;
	int err[NEVENTS]; /* the first worker's errno for each event that did not open */
	struct sl_msg *msgs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned opened;       /* workers done opening; under mu */
	unsigned map[NEVENTS]; /* registry definition -> event */

	/* tcp events */
	char inst[128]; /* the trace instance's directory; "" if none */
	int pipe;       /* its trace_pipe, -1 if none */
	pthread_t reader;
	bool reading;
	atomic_bool stop;
	atomic_uint_fast64_t *tcp; /* [flat backend * T_COUNT + kind] */
};

/* ---- perf ---- */

static int
perf_open(uint32_t type, uint64_t config, bool exclude_kernel)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = type;
	a.config = config;
	a.exclude_hv = 1;
	a.exclude_kernel = exclude_kernel;
	/* this thread only, any CPU */
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* On worker <w>: open this thread's counters, then report. */
static void
worker_open(struct sl_worker *wk, struct sl_msg *m)
{
	struct sl_profile *pr = m->data;
	unsigned i = sl_worker_index(wk);

	for (unsigned e = 0; e < NEVENTS; e++) {
		int fd = perf_open(events[e].type, events[e].config, false);

		/* perf_event_paranoid 2 lets an unprivileged process count user space only */
		if (fd == -1 && (errno == EACCES || errno == EPERM))
			fd = perf_open(events[e].type, events[e].config, true);
		pr->fd[i * NEVENTS + e] = fd;
		pthread_mutex_lock(&pr->mu);
		if (fd == -1 && pr->err[e] == 0)
			pr->err[e] = errno;
		pthread_mutex_unlock(&pr->mu);
	}
	pthread_mutex_lock(&pr->mu);
	pr->opened++;
	pthread_cond_broadcast(&pr->cv);
	pthread_mutex_unlock(&pr->mu);
}

static uint64_t
read_perf(void *arg, size_t inst, unsigned idx)
{
	const struct sl_profile *pr = arg;
	uint64_t v = 0;
	int fd = pr->fd[inst * NEVENTS + pr->map[idx]];

	if (fd >= 0 && read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

static bool
open_everywhere(const struct sl_profile *pr, unsigned e)
{
	for (unsigned i = 0; i < pr->p->nworkers; i++)
		if (pr->fd[i * NEVENTS + e] < 0)
			return false;
	return true;
}

static int
perf_start(struct sl_profile *pr)
{
	struct sl_proxy *p = pr->p;
	struct sl_stats_def defs[NEVENTS];
	static const char *const labels[] = {"worker"};
	char have[256] = "", missing[512] = "";
	struct sl_stats_set *s;
	struct timespec dl;
	unsigned n = 0;
	int err;

	pr->fd = malloc(sizeof(pr->fd[0]) * NEVENTS * p->nworkers);
	pr->msgs = calloc(p->nworkers, sizeof(pr->msgs[0]));
	if (pr->fd == NULL || pr->msgs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < NEVENTS * p->nworkers; i++)
		pr->fd[i] = -1;
	for (unsigned i = 0; i < p->nworkers; i++) {
		pr->msgs[i] = (struct sl_msg){.fn = worker_open, .data = pr};
		if (sl_worker_post(p->workers[i].w, &pr->msgs[i]) != 0) {
			pthread_mutex_lock(&pr->mu);
			pr->opened++; /* mailbox full: this worker has no counters */
			pthread_mutex_unlock(&pr->mu);
		}
	}
	sl_clock_deadline(&dl, (uint64_t)OPEN_TIMEOUT_MS * 1000);
	pthread_mutex_lock(&pr->mu);
	while (pr->opened < p->nworkers)
		if (pthread_cond_timedwait(&pr->cv, &pr->mu, &dl) == ETIMEDOUT)
			break;
	err = pr->opened < p->nworkers ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&pr->mu);
	if (err != 0) {
		/* a worker that has not run its message yet still will: it must find <pr> */
		sl_log_warn("profiling: perf: the workers did not answer in time: no counters");
		return err;
	}
	for (unsigned e = 0; e < NEVENTS; e++) {
		size_t h = strlen(have), m = strlen(missing);

		if (!open_everywhere(pr, e)) {
			int why = pr->err[e] ? pr->err[e] : EIO;

			snprintf(missing + m, sizeof(missing) - m, "%s%s (%s: %s)", m ? ", " : "",
			         events[e].name, strerrorname_np(why), strerror(why));
			continue;
		}
		snprintf(have + h, sizeof(have) - h, "%s%s", h ? ", " : "", events[e].name);
		pr->map[n] = e;
		defs[n++] = (struct sl_stats_def){.name = events[e].metric,
		                                  .kind = SL_STATS_COUNTER,
		                                  .help = events[e].help,
		                                  .offset = SL_STATS_READ,
		                                  .scale = events[e].scale};
	}
	if (missing[0] != '\0')
		sl_log_warn("profiling: perf events unavailable: %s", missing);
	if (n == 0)
		return 0;
	sl_log_info("profiling: perf events on %u worker%s: %s", p->nworkers,
	            p->nworkers == 1 ? "" : "s", have);
	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "worker_perf",
	                                                   .labels = labels,
	                                                   .nlabels = 1,
	                                                   .defs = defs,
	                                                   .ndefs = n,
	                                                   .read = read_perf,
	                                                   .arg = pr},
	                       &s);
	for (unsigned i = 0; err == 0 && i < p->nworkers; i++) {
		char w[16];
		const char *v[] = {w};

		snprintf(w, sizeof(w), "%u", i);
		err = sl_stats_add_instance(s, v, 0);
	}
	return err;
}

/* ---- tcp events ---- */

static bool
stopping(struct sl_profile *pr)
{
	/* relaxed: a flag polled to stop; it publishes nothing */
	return atomic_load_explicit(&pr->stop, memory_order_relaxed);
}

/* Writes <text> to the file <dir>/<name>. 0 or -errno. */
static int
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n != (ssize_t)strlen(text))
		err = n == -1 ? -errno : -EIO;
	close(fd);
	return err;
}

/* Mounts tracefs at TRACEFS unless it is there. 0, or -errno with <why> set. */
static int
tracefs_ready(const char **why)
{
	struct statfs st;

	if (statfs(TRACEFS, &st) == 0 && (unsigned long)st.f_type == TRACEFS_MAGIC)
		return 0;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) == -1) {
		*why = "cannot mount tracefs at " TRACEFS;
		return -errno;
	}
	sl_log_info("profiling: mounted tracefs at %s", TRACEFS);
	return 0;
}

/* Where the value of "<key>=" starts in <line>, or NULL. */
static const char *
value_of(const char *line, const char *key)
{
	const char *at = line;
	size_t klen = strlen(key);

	while ((at = strstr(at, key)) != NULL) {
		if ((at == line || at[-1] == ' ') && at[klen] == '=')
			return at + klen + 1;
		at += klen;
	}
	return NULL;
}

/* The value of "<key>=" in <line> up to the next space, into <out>. */
static bool
field(const char *line, const char *key, char *out, size_t size)
{
	const char *at = value_of(line, key);
	size_t n;

	if (at == NULL)
		return false;
	n = strcspn(at, " \n");
	if (n >= size)
		return false;
	memcpy(out, at, n);
	out[n] = '\0';
	return true;
}

/* The remote end of the event in <line> as the kernel prints addresses, "ip:port" or
 * "[ip6]:port"; kind T_*. A sent reset names it "dest=" from Linux 6.10 on; before, its line
 * has the socket's fields as the others do (family=, dport=, daddr=, daddrv6=). */
static bool
remote_of(const char *line, unsigned kind, char *out, size_t size)
{
	char fam[16], addr[64], port[8];

	/* by the layout the line has: one too long for <out> fails, never reads as the other */
	if (kind == T_RESETS_SENT && value_of(line, "dest") != NULL)
		return field(line, "dest", out, size);
	if (!field(line, "family", fam, sizeof(fam)) || !field(line, "dport", port, sizeof(port)))
		return false;
	if (strcmp(fam, "AF_INET6") == 0) {
		if (!field(line, "daddrv6", addr, sizeof(addr)))
			return false;
		return (size_t)snprintf(out, size, "[%s]:%s", addr, port) < size;
	}
	if (!field(line, "daddr", addr, sizeof(addr)))
		return false;
	return (size_t)snprintf(out, size, "%s:%s", addr, port) < size;
}

bool
sl__profile_parse_line(const char *line, unsigned *kind, char *remote, size_t size)
{
	unsigned k;

	for (k = 0; k < T_COUNT; k++) {
		const char *at = strstr(line, tracepoints[k]);

		if (at != NULL && at[strlen(tracepoints[k])] == ':')
			break;
	}
	if (k == T_COUNT || !remote_of(line, k, remote, size))
		return false;
	*kind = k;
	return true;
}

/* Counts the event of one trace_pipe line against the backend it went to, if any. */
static void
count_line(struct sl_profile *pr, const char *line)
{
	char remote[SL_ADDR_STRLEN + 8];
	struct sl_addr to;
	const char *bad;
	unsigned kind;

	/* compared as addresses: the kernel and glibc write some IPv6 ones differently
	 * (::2:3 and ::0.2.0.3, a dotted ISATAP tail or none) */
	if (!sl__profile_parse_line(line, &kind, remote, sizeof(remote)) ||
	    sl_addr_parse(&to, remote, false, &bad) != 0)
		return;
	/* the slots' addresses change at run time (backends.c): read them under bk_mu; trace
	 * events are rare (a reset, a retransmission), so the walk is cheap enough */
	pthread_mutex_lock(&pr->p->bk_mu);
	for (size_t b = 0; b < pr->p->mx.nbackends; b++) {
		const struct sl_backend *be = sl__metrics_backend_at(pr->p, b);

		/* relaxed: written under bk_mu, which this thread holds */
		if (atomic_load_explicit(&be->state, memory_order_relaxed) == SL_SLOT_LIVE &&
		    sl_addr_equal(&be->addr, &to))
			/* relaxed: a statistic */
			atomic_fetch_add_explicit(&pr->tcp[b * T_COUNT + kind], 1,
			                          memory_order_relaxed);
	}
	pthread_mutex_unlock(&pr->p->bk_mu);
}

static void *
reader_run(void *arg)
{
	struct sl_profile *pr = arg;
	char buf[8192];
	size_t len = 0;

	while (!stopping(pr)) {
		struct pollfd pf = {.fd = pr->pipe, .events = POLLIN};
		ssize_t n;
		char *nl;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(pr->pipe, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			continue;
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			count_line(pr, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
			buf[len] = '\0';
		}
		if (len == sizeof(buf) - 1)
			len = 0; /* a line longer than the buffer: not one of ours */
	}
	return NULL;
}

static uint64_t
read_tcp(void *arg, size_t inst, unsigned idx)
{
	struct sl_profile *pr = arg;

	/* relaxed: a statistic */
	return atomic_load_explicit(&pr->tcp[inst * T_COUNT + idx], memory_order_relaxed);
}

static bool
present_tcp(void *arg, size_t inst)
{
	return sl__metrics_backend_present(((struct sl_profile *)arg)->p, inst);
}

static bool
label_tcp(void *arg, size_t inst, unsigned j, char *buf, size_t size)
{
	return sl__metrics_backend_label(((struct sl_profile *)arg)->p, inst, j, buf, size);
}

static int
tcp_add_set(struct sl_profile *pr)
{
	struct sl_proxy *p = pr->p;
	static const char *const labels[] = {"group", "backend"};
	const struct sl_stats_def defs[T_COUNT] = {
	        [T_RETRANSMITS] = {.name = "backend_tcp_retransmits",
	                           .kind = SL_STATS_COUNTER,
	                           .help = "TCP segments retransmitted to the backend "
	                                   "(tcp:tcp_retransmit_skb).",
	                           .offset = SL_STATS_READ},
	        [T_RESETS_SENT] = {.name = "backend_tcp_resets_sent",
	                           .kind = SL_STATS_COUNTER,
	                           .help = "TCP resets sent to the backend (tcp:tcp_send_reset).",
	                           .offset = SL_STATS_READ},
	        [T_RESETS_RECEIVED] = {.name = "backend_tcp_resets_received",
	                               .kind = SL_STATS_COUNTER,
	                               .help = "TCP resets received from the backend "
	                                       "(tcp:tcp_receive_reset).",
	                               .offset = SL_STATS_READ},
	};
	struct sl_stats_set *s;
	int err;

	err = sl_stats_add_set(p->mx.reg,
	                       &(struct sl_stats_set_opts){.name = "backend_tcp",
	                                                   .labels = labels,
	                                                   .nlabels = 2,
	                                                   .defs = defs,
	                                                   .ndefs = T_COUNT,
	                                                   .read = read_tcp,
	                                                   .present = present_tcp,
	                                                   .label = label_tcp,
	                                                   .arg = pr},
	                       &s);
	/* an instance per backend slot, in flat order, like the backend set (metrics.c) */
	for (size_t g = 0; err == 0 && g < p->gcap; g++) {
		for (uint32_t i = 0; err == 0 && i < p->bsets[g].cap; i++) {
			const char *v[] = {sl__group_cfg(p, g)->name, ""};

			err = sl_stats_add_instance(s, v, 0);
		}
	}
	return err;
}

/*
 * Removes the trace instances of sluice processes of this pid namespace <ns> that are gone (a
 * SIGKILL leaves one behind, its tracepoints enabled, its buffers filling). Another
 * namespace's are left alone: their pids mean other processes here.
 */
static void
remove_orphans(unsigned long ns)
{
	DIR *d = opendir(TRACEFS "/instances");
	char path[300];
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		unsigned long their_ns;
		int pid, end = 0;

		if (sscanf(e->d_name, "sluice-%lu-%d%n", &their_ns, &pid, &end) != 2 ||
		    e->d_name[end] != '\0' || their_ns != ns || pid <= 0 || pid == getpid() ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), TRACEFS "/instances/%s", e->d_name);
		n += rmdir(path) == 0;
	}
	closedir(d);
	if (n > 0)
		sl_log_info("profiling: removed %u trace instance%s left by sluice processes that "
		            "are gone",
		            n, n == 1 ? "" : "s");
}

/* Creates the trace instance, enables the tracepoints and opens trace_pipe. */
static int
tcp_open(struct sl_profile *pr, const char **why)
{
	struct stat ns;
	unsigned long nsid;
	char dir[256];
	int err;

	if ((err = tracefs_ready(why)) != 0)
		return err;
	/* named by pid namespace and pid: one left behind is known for ours, and removed */
	nsid = stat("/proc/self/ns/pid", &ns) == 0 ? (unsigned long)ns.st_ino : 0;
	remove_orphans(nsid);
	snprintf(pr->inst, sizeof(pr->inst), TRACEFS "/instances/sluice-%lu-%d", nsid,
	         (int)getpid());
	if (mkdir(pr->inst, 0700) == -1 && errno != EEXIST) {
		err = -errno;
		*why = "cannot create a trace instance under " TRACEFS "/instances";
		pr->inst[0] = '\0';
		return err;
	}
	for (unsigned k = 0; k < T_COUNT; k++) {
		snprintf(dir, sizeof(dir), "%s/events/tcp/%s", pr->inst, tracepoints[k]);
		if ((err = write_file(dir, "enable", "1")) != 0) {
			*why = "cannot enable the tcp tracepoints";
			return err;
		}
	}
	snprintf(dir, sizeof(dir), "%s/trace_pipe", pr->inst);
	pr->pipe = open(dir, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (pr->pipe == -1) {
		*why = "cannot open trace_pipe";
		return -errno;
	}
	return 0;
}

static void
tcp_close(struct sl_profile *pr)
{
	if (pr->reading) {
		/* relaxed: the reader polls it; the join orders the rest */
		atomic_store_explicit(&pr->stop, true, memory_order_relaxed);
		pthread_join(pr->reader, NULL);
		pr->reading = false;
	}
	if (pr->pipe >= 0)
		close(pr->pipe);
	pr->pipe = -1;
	if (pr->inst[0] != '\0' && rmdir(pr->inst) == -1)
		sl_log_warn("profiling: cannot remove the trace instance %s: %s", pr->inst,
		            strerror(errno));
	pr->inst[0] = '\0';
}

static int
tcp_start(struct sl_profile *pr)
{
	struct sl_proxy *p = pr->p;
	const char *why = "";
	size_t nb = p->mx.nbackends;
	int err;

	pr->tcp = calloc((nb ? nb : 1) * T_COUNT, sizeof(pr->tcp[0]));
	if (pr->tcp == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nb * T_COUNT; i++)
		atomic_init(&pr->tcp[i], 0);
	if (p->cfg->user[0] != '\0' && geteuid() != 0) {
		/* tracefs is root's: its instances, its event switches, its trace pipe */
		sl_log_warn("profiling: tcp events unavailable: the trace instance needs root, and "
		            "this process runs as user %s (uid %u) by then",
		            p->cfg->user, (unsigned)geteuid());
		tcp_close(pr);
		return 0;
	}
	if ((err = tcp_open(pr, &why)) != 0) {
		sl_log_warn("profiling: tcp events unavailable: %s: %s: %s", why,
		            strerrorname_np(-err), strerror(-err));
		tcp_close(pr);
		return 0;
	}
	if ((err = pthread_create(&pr->reader, NULL, reader_run, pr)) != 0) {
		sl_log_warn("profiling: tcp events unavailable: cannot start the reader: %s",
		            strerror(err));
		tcp_close(pr);
		return 0;
	}
	pr->reading = true;
	sl_log_info("profiling: tcp events from %s (retransmits and resets per backend)", pr->inst);
	return tcp_add_set(pr);
}

/* ---- the proxy's side ---- */

int
sl__profile_start(struct sl_proxy *p)
{
	const struct sl_config_profiling *c = &p->cfg->profiling;
	struct sl_profile *pr;
	pthread_condattr_t ca;
	int err = 0;

	if (!c->perf && !c->tcp_events)
		return 0;
	pr = calloc(1, sizeof(*pr));
	if (pr == NULL)
		return -ENOMEM;
	pr->p = p;
	pr->pipe = -1;
	atomic_init(&pr->stop, false);
	pthread_mutex_init(&pr->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pr->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->profile = pr;
	if (c->perf && (err = perf_start(pr)) != 0 && err != -ETIMEDOUT)
		return err;
	if (c->tcp_events)
		err = tcp_start(pr);
	return err == -ETIMEDOUT ? 0 : err;
}

void
sl__profile_stop(struct sl_proxy *p)
{
	if (p->profile != NULL)
		tcp_close(p->profile);
}

void
sl__profile_destroy(struct sl_proxy *p)
{
	struct sl_profile *pr = p->profile;

	if (pr == NULL)
		return;
	tcp_close(pr);
	for (size_t i = 0; pr->fd != NULL && i < NEVENTS * p->nworkers; i++)
		if (pr->fd[i] >= 0)
			close(pr->fd[i]);
	free(pr->fd);
	free(pr->msgs);
	free((void *)pr->tcp);
	pthread_cond_destroy(&pr->cv);
	pthread_mutex_destroy(&pr->mu);
	free(pr);
	p->profile = NULL;
}
