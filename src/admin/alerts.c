// SPDX-License-Identifier: MIT
/*
 * Alerts (include/sluice/alerts.h): an evaluator thread reads the proxy's statistics registry
 * every interval and feeds each rule (alert_rule.c); an edge is logged and queued as one JSON
 * body for every webhook's own sender thread, which posts it with libcurl, retrying a failed
 * post with a doubling backoff up to the webhook's bound; a webhook that hangs holds up only
 * its own notifications. No thread here is a worker: the only contact with the workers is
 * sl_stats_collect() (their mailboxes) when a rule needs a p99. Shared: the queues, each
 * body's reference count and <stop> under <mu>; firing[] and the notification counters are
 * relaxed atomics written by these threads and read by any registry reader.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/alerts.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/log.h>
#include <sluice/proxy.h>
#include <sluice/stats.h>

#include "admin/alerts_int.h"

/* Backoff before the first retry; doubles per retry up to BACKOFF_MAX_MS. */
#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 2000u
/* a post opens one socket, two while happy eyeballs tries both families */
#define SOCKS_TRACKED 4
/* After a post gave up on its host name's lookup (the DNS did not answer within its timeout),
 * the webhook's posts fail at once this long: the lookup goes on in a thread of libcurl's
 * until the resolver's own timeout, and one per post would pile up while the DNS is down. */
#define DNS_HOLD_MS 30000u

enum { N_SENT, N_FAILED, N_DROPPED, N_RETRIES, N_COUNT };

/* A notification queued for the webhooks: freed by the last sender done with it (under mu). */
struct note {
	unsigned refs;
	char *body;
};

/* One webhook's sender thread and its queue (under the alerts' mu but <w>, <a>, <t>). */
struct sender {
	struct sl_alerts *a;
	const struct sl_config_webhook *w;
	/* its URL as the log shows it: the scheme, host and port only (url_shown()) */
	char shown[SL_CONFIG_URL_MAX];
	pthread_t t;
	bool running;
	/* its open sockets (-1: none), which a stop shuts down so that a post waiting on a
	 * silent webhook ends at once */
	int socks[SOCKS_TRACKED];
	struct note **q; /* <qcap> of the alerts, <qlen> from <qhead> */
	size_t qhead, qlen;
	uint64_t dns_hold_until_ns; /* DNS_HOLD_MS after a lookup given up; sender thread only */
};

struct sl_alerts {
	struct sl_proxy *p;
	struct sl_stats *reg;
	const struct sl_config_alerts *cfg;
	char instance[256];
	struct sl__alert_rule *rules; /* evaluator thread only, once started */
	atomic_bool *firing;          /* per rule: the registry's alert_firing */
	atomic_uint_fast64_t n[N_COUNT];

	/* readings: the registry's sets and definitions (NULL / -1 when absent) */
	const struct sl_stats_set *latency, *reasons, *process, *backends;
	int lat_idx[2]; /* connect, first byte */
	int reject_idx, err_idx[3], up_idx;
	double lat_scale[2];
	struct sl_hist_opts lat_opts[2];
	bool need_collect;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC: the evaluator's tick, the queue, the backoff */
	atomic_bool stop;  /* written under <mu>; read without it by the curl progress callback */
	bool eval_stop;    /* the evaluator stops (sl_alerts_quiesce()); under <mu> */
	struct sender *senders; /* one per webhook (cfg->nwebhooks) */
	size_t qcap;            /* each sender's queue */
	pthread_t eval;
	bool eval_running;
	bool curl_init;
};

/* relaxed: statistics; they order nothing */
static void
count(struct sl_alerts *a, unsigned k)
{
	atomic_fetch_add_explicit(&a->n[k], 1, memory_order_relaxed);
}

static bool
stopping(struct sl_alerts *a)
{
	/* relaxed: a flag polled to give up early; it publishes nothing */
	return atomic_load_explicit(&a->stop, memory_order_relaxed);
}

static uint64_t
now_ms(void)
{
	return sl_clock_ns() / 1000000;
}

static uint64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on <cv> until <deadline> (monotonic ns) or stop (for the evaluator, <eval>, also its
 * own stop); <mu> held. True if stopping. */
static bool
wait_until_locked(struct sl_alerts *a, uint64_t deadline_ns, bool eval)
{
	struct timespec dl = {.tv_sec = (time_t)(deadline_ns / 1000000000),
	                      .tv_nsec = (long)(deadline_ns % 1000000000)};

	while (!stopping(a) && !(eval && a->eval_stop) && sl_clock_ns() < deadline_ns)
		if (pthread_cond_timedwait(&a->cv, &a->mu, &dl) == ETIMEDOUT)
			break;
	return stopping(a) || (eval && a->eval_stop);
}

/* ---- the sender ---- */

static size_t
discard(char *ptr, size_t size, size_t n, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * n;
}

static int
progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return stopping(arg) ? 1 : 0; /* non-zero aborts the transfer */
}

/* libcurl's socket opener: the socket is tracked, so that a stop can shut it down. None once
 * stopping (the post fails at once). */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct sender *s = arg;
	struct sl_alerts *a = s->a;
	int fd = -1;

	(void)purpose;
	pthread_mutex_lock(&a->mu);
	if (!stopping(a))
		fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	for (size_t i = 0; fd != -1 && i < SOCKS_TRACKED; i++)
		if (s->socks[i] == -1) {
			s->socks[i] = fd;
			break;
		}
	pthread_mutex_unlock(&a->mu);
	return fd == -1 ? CURL_SOCKET_BAD : fd;
}

/* libcurl's socket closer: untracked and closed under <mu>, so a stop never shuts down an fd
 * number that was reused meanwhile. */
static int
close_socket(void *arg, curl_socket_t fd)
{
	struct sender *s = arg;

	pthread_mutex_lock(&s->a->mu);
	for (size_t i = 0; i < SOCKS_TRACKED; i++)
		if (s->socks[i] == fd)
			s->socks[i] = -1;
	close(fd);
	pthread_mutex_unlock(&s->a->mu);
	return 0;
}

/*
 * <url> for the log: its scheme, host and port, without a user and password or the path and
 * query (a webhook's secret is often one of them), "/..." standing for what is left out after
 * the host.
 */
static void
url_shown(const char *url, char *buf, size_t size)
{
	const char *sep = strstr(url, "://"), *host, *end, *at;

	if (sep == NULL) {
		snprintf(buf, size, "(a webhook)");
		return;
	}
	host = sep + 3;
	end = host + strcspn(host, "/?#");
	at = memrchr(host, '@', (size_t)(end - host)); /* the user information ends at it */
	if (at != NULL)
		host = at + 1;
	snprintf(buf, size, "%.*s%.*s%s", (int)(sep + 3 - url), url, (int)(end - host), host,
	         *end != '\0' ? "/..." : "");
}

/* One POST of <body> to <w>. 0 on a 2xx reply; else -1 with the reason in <why>. */
static int
post_once(struct sender *s, CURL *c, struct curl_slist *hdr, const char *body, char *why,
          size_t size)
{
	const struct sl_config_webhook *w = s->w;
	char err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, w->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice-alerts");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s->a);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, s);
	/* each post's connection closes with the post, through close_socket(): no socket is
	 * left in <socks> (or in a cache closed later without it) for a stop to shut down */
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	/* a post given up while its host name is being resolved (its timeout, or a stop) does
	 * not wait for the resolver thread, which a DNS server that never answers holds for
	 * resolv.conf's timeout times attempts: that thread is left to end on its own */
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87.0 */
	curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(why, size, "%s", err[0] != '\0' ? err : curl_easy_strerror(rc));
		/* libcurl's words for a lookup its timeout cut short */
		if (rc == CURLE_OPERATION_TIMEDOUT && strncmp(err, "Resolving timed out", 19) == 0)
			s->dns_hold_until_ns = sl_clock_ns() + (uint64_t)DNS_HOLD_MS * 1000000;
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return 0;
	snprintf(why, size, "HTTP status %ld", status);
	return -1;
}

/* Posts <body> to <s>'s webhook, retrying with backoff; counts the outcome. */
static void
post(struct sender *s, CURL *c, struct curl_slist *hdr, const char *body)
{
	struct sl_alerts *a = s->a;
	const struct sl_config_webhook *w = s->w;
	char why[CURL_ERROR_SIZE + 32] = "";
	uint32_t backoff = BACKOFF_FIRST_MS, tries = 0;

	for (uint32_t attempt = 0;; attempt++) {
		if (sl_clock_ns() < s->dns_hold_until_ns) {
			snprintf(
			        why, sizeof(why),
			        "its host name's lookup timed out less than %u s ago (the DNS does "
			        "not answer): not tried again until then",
			        DNS_HOLD_MS / 1000);
			break;
		}
		if (attempt > 0)
			count(a, N_RETRIES); /* a retry that goes out, not one a stop cut off */
		tries++;
		if (post_once(s, c, hdr, body, why, sizeof(why)) == 0) {
			count(a, N_SENT);
			return;
		}
		if (attempt >= w->retries || stopping(a))
			break;
		pthread_mutex_lock(&a->mu);
		bool stop =
		        wait_until_locked(a, sl_clock_ns() + (uint64_t)backoff * 1000000, false);
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	/* given up after every retry, or abandoned by the stop (as those still queued are) */
	count(a, stopping(a) ? N_DROPPED : N_FAILED);
	if (stopping(a))
		sl_log_warn("alerts: cannot notify %s: %s (abandoned at shutdown)", s->shown, why);
	else if (tries == 0)
		sl_log_warn("alerts: cannot notify %s: %s", s->shown, why);
	else
		sl_log_warn("alerts: cannot notify %s: %s (after %" PRIu32 " retries)", s->shown,
		            why, tries - 1);
}

/* <s>'s reference to <n> ends (<mu> held): the last one frees it. */
static void
note_put(struct note *n)
{
	if (--n->refs != 0)
		return;
	free(n->body);
	free(n);
}

static void *
send_run(void *arg)
{
	struct sender *s = arg;
	struct sl_alerts *a = s->a;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();

	if (c == NULL || hdr == NULL)
		sl_log_error("alerts: cannot set up libcurl for %s: its notifications are dropped",
		             s->shown);
	for (;;) {
		struct note *n;

		pthread_mutex_lock(&a->mu);
		while (!stopping(a) && s->qlen == 0)
			pthread_cond_wait(&a->cv, &a->mu);
		if (stopping(a)) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		n = s->q[s->qhead];
		s->q[s->qhead] = NULL;
		s->qhead = (s->qhead + 1) % a->qcap;
		s->qlen--;
		pthread_mutex_unlock(&a->mu);
		if (c == NULL || hdr == NULL || stopping(a))
			count(a, N_DROPPED);
		else
			post(s, c, hdr, n->body);
		pthread_mutex_lock(&a->mu);
		note_put(n);
		pthread_mutex_unlock(&a->mu);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	return NULL;
}

/* Queues <body> (taken) for every webhook; a webhook whose queue is full drops it, counted. */
static void
enqueue(struct sl_alerts *a, char *body)
{
	struct note *n = a->cfg->nwebhooks != 0 ? malloc(sizeof(*n)) : NULL;
	unsigned dropped = 0;

	if (n == NULL) {
		for (size_t i = 0; i < a->cfg->nwebhooks; i++)
			count(a, N_DROPPED);
		free(body);
		return;
	}
	n->refs = 1; /* this call's, until every queue has it */
	n->body = body;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->cfg->nwebhooks; i++) {
		struct sender *s = &a->senders[i];

		if (s->qlen == a->qcap) {
			dropped++;
			continue;
		}
		s->q[(s->qhead + s->qlen) % a->qcap] = n;
		s->qlen++;
		n->refs++;
	}
	pthread_cond_broadcast(&a->cv);
	note_put(n);
	pthread_mutex_unlock(&a->mu);
	for (unsigned i = 0; i < dropped; i++)
		count(a, N_DROPPED);
}

/* ---- the evaluator ---- */

static double
read_rss(void)
{
	unsigned long long rss;
	char buf[128], *end;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "size resident shared ...", in pages */
	(void)strtoull(buf, &end, 10);
	rss = strtoull(end, &end, 10);
	return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static double
read_down(struct sl_alerts *a, const struct sl_config_alert_rule *c)
{
	const struct sl_stats_set *s = a->backends;
	double down = 0;

	if (s == NULL || a->up_idx < 0)
		return 0;
	for (size_t i = 0; i < sl_stats_set_ninstances(s); i++) {
		char name[SL_STATS_LABEL_MAX];

		if (!sl_stats_instance_present(s, i)) /* an empty or removed slot */
			continue;
		if (c->group[0] != '\0' &&
		    strcmp(sl_stats_instance_label_now(s, i, 0, name, sizeof(name)), c->group) != 0)
			continue;
		if (c->backend[0] != '\0' &&
		    strcmp(sl_stats_instance_label_now(s, i, 1, name, sizeof(name)), c->backend) !=
		            0)
			continue;
		down += sl_stats_read_gauge(s, i, (unsigned)a->up_idx) == 0;
	}
	return down;
}

static double
read_sum(const struct sl_stats_set *s, const int *idx, size_t n)
{
	double sum = 0;

	for (size_t i = 0; s != NULL && i < sl_stats_set_ninstances(s); i++)
		for (size_t k = 0; k < n; k++)
			if (idx[k] >= 0)
				sum += (double)sl_stats_read(s, i, (unsigned)idx[k]);
	return sum;
}

/* One rule crossed an edge: log it and queue its notification. */
static void
announce(struct sl_alerts *a, size_t i, enum sl__alert_edge e)
{
	const struct sl__alert_rule *r = &a->rules[i];
	const char *metric = sl_alert_metric_names[r->cfg->metric];
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	/* relaxed: a statistic for the registry's readers */
	atomic_store_explicit(&a->firing[i], e == SL__ALERT_FIRE, memory_order_relaxed);
	if (e == SL__ALERT_FIRE)
		sl_log_warn("alert %s firing: %s is %.6g, above %.6g", r->cfg->name, metric,
		            r->value, r->cfg->above);
	else
		sl_log_info("alert %s resolved: %s is %.6g, at or below %.6g", r->cfg->name, metric,
		            r->value, r->cfg->clear_below);
	f = open_memstream(&body, &len);
	if (f != NULL) {
		bool rendered = sl__alert_render(f, r, e, unix_ms(), a->instance) == 0;

		if (fclose(f) != 0 || !rendered) {
			free(body);
			body = NULL;
		}
	}
	if (body == NULL) { /* out of memory: the notification is lost for every webhook */
		for (size_t k = 0; k < a->cfg->nwebhooks; k++)
			count(a, N_DROPPED);
		return;
	}
	enqueue(a, body);
}

static void
evaluate(struct sl_alerts *a)
{
	struct sl_hist lat[2];
	bool have[2] = {false, false};
	uint64_t t = now_ms();

	if (a->need_collect)
		(void)sl_stats_collect(a->reg); /* a worker late to answer: its older figures */
	for (unsigned k = 0; k < 2; k++)
		if (a->latency != NULL && a->lat_idx[k] >= 0)
			have[k] = sl_stats_read_hist(a->latency, 0, (unsigned)a->lat_idx[k],
			                             &lat[k]) == 0;
	for (size_t i = 0; i < a->cfg->nrules; i++) {
		struct sl__alert_rule *r = &a->rules[i];
		const struct sl_hist *h = NULL;
		enum sl__alert_edge e;
		double x = 0;

		switch (r->cfg->metric) {
		case SL_ALERT_CONNECT_P99:
			h = have[0] ? &lat[0] : NULL;
			break;
		case SL_ALERT_FIRST_BYTE_P99:
			h = have[1] ? &lat[1] : NULL;
			break;
		case SL_ALERT_RSS:
			x = read_rss();
			break;
		case SL_ALERT_BACKEND_DOWN:
			x = read_down(a, r->cfg);
			break;
		case SL_ALERT_REJECT_RATE:
			x = read_sum(a->reasons, &a->reject_idx, 1);
			break;
		case SL_ALERT_ERROR_RATE:
			x = read_sum(a->process, a->err_idx, 3);
			break;
		case SL_ALERT_METRICS:
			break;
		}
		e = sl__alert_rule_feed(r, t, x, h);
		if (e != SL__ALERT_NONE)
			announce(a, i, e);
	}
	for (unsigned k = 0; k < 2; k++)
		if (have[k])
			sl_hist_fini(&lat[k]);
}

static void *
eval_run(void *arg)
{
	struct sl_alerts *a = arg;
	uint64_t step = (uint64_t)a->cfg->interval_ms * 1000000, next = sl_clock_ns();

	for (;;) {
		evaluate(a);
		next += step;
		if (next < sl_clock_ns())
			next = sl_clock_ns() +
			       step; /* fell behind (a slow collect): skip, never burst */
		pthread_mutex_lock(&a->mu);
		bool stop = wait_until_locked(a, next, true);
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
	}
	return NULL;
}

/* ---- the registry ---- */

static uint64_t
read_rule(void *arg, size_t inst, unsigned idx)
{
	struct sl_alerts *a = arg;

	(void)idx;
	/* relaxed: a statistic */
	return atomic_load_explicit(&a->firing[inst], memory_order_relaxed);
}

static uint64_t
read_notes(void *arg, size_t inst, unsigned idx)
{
	struct sl_alerts *a = arg;

	(void)inst;
	/* relaxed: a statistic */
	return idx < N_COUNT ? atomic_load_explicit(&a->n[idx], memory_order_relaxed) : 0;
}

static int
add_sets(struct sl_alerts *a)
{
	static const char *const labels[] = {"rule"};
	const struct sl_stats_def firing = {
	        .name = "alert_firing",
	        .kind = SL_STATS_GAUGE,
	        .help = "1 while the alert rule fires, 0 once resolved.",
	        .offset = SL_STATS_READ};
	const struct sl_stats_def notes[N_COUNT] = {
	        [N_SENT] = {.name = "alert_notifications_sent",
	                    .kind = SL_STATS_COUNTER,
	                    .help = "Alert notifications a webhook accepted (2xx).",
	                    .offset = SL_STATS_READ},
	        [N_FAILED] = {.name = "alert_notifications_failed",
	                      .kind = SL_STATS_COUNTER,
	                      .help = "Alert notifications given up after every retry.",
	                      .offset = SL_STATS_READ},
	        [N_DROPPED] = {.name = "alert_notifications_dropped",
	                       .kind = SL_STATS_COUNTER,
	                       .help = "Alert notifications dropped: the queue was full, or "
	                               "they were still queued or being posted at the exit.",
	                       .offset = SL_STATS_READ},
	        [N_RETRIES] = {.name = "alert_notification_retries",
	                       .kind = SL_STATS_COUNTER,
	                       .help = "Webhook posts tried again after a failure.",
	                       .offset = SL_STATS_READ},
	};
	struct sl_stats_set *s;
	int err;

	err = sl_stats_add_set(a->reg,
	                       &(struct sl_stats_set_opts){.name = "alert",
	                                                   .labels = labels,
	                                                   .nlabels = 1,
	                                                   .defs = &firing,
	                                                   .ndefs = 1,
	                                                   .read = read_rule,
	                                                   .arg = a},
	                       &s);
	for (size_t i = 0; err == 0 && i < a->cfg->nrules; i++) {
		const char *v[] = {a->cfg->rules[i].name};

		err = sl_stats_add_instance(s, v, 0);
	}
	if (err != 0)
		return err;
	err = sl_stats_add_set(a->reg,
	                       &(struct sl_stats_set_opts){.name = "alert_notifications",
	                                                   .defs = notes,
	                                                   .ndefs = N_COUNT,
	                                                   .read = read_notes,
	                                                   .arg = a},
	                       &s);
	return err != 0 ? err : sl_stats_add_instance(s, NULL, 0);
}

static int
def_index(const struct sl_stats_set *s, const char *name)
{
	return s != NULL ? sl_stats_set_def_index(s, name) : -1;
}

/* Finds what the rules read in the registry. */
static void
find_sources(struct sl_alerts *a)
{
	static const char *const lat[2] = {"backend_connect_seconds", "backend_first_byte_seconds"};

	a->latency = sl_stats_find(a->reg, "latency");
	a->reasons = sl_stats_find(a->reg, "reason");
	a->process = sl_stats_find(a->reg, "process");
	a->backends = sl_stats_find(a->reg, "backend");
	for (unsigned k = 0; k < 2; k++) {
		a->lat_idx[k] = def_index(a->latency, lat[k]);
		a->lat_scale[k] = 1e-6;
		if (a->lat_idx[k] >= 0) {
			const struct sl_stats_def *d =
			        sl_stats_set_def(a->latency, (unsigned)a->lat_idx[k]);

			a->lat_scale[k] = d->scale;
			a->lat_opts[k] = d->hist;
		}
	}
	a->reject_idx = def_index(a->reasons, "rejects");
	a->err_idx[0] = def_index(a->process, "connect_failures");
	a->err_idx[1] = def_index(a->process, "no_backend");
	a->err_idx[2] = def_index(a->process, "resets");
	a->up_idx = def_index(a->backends, "backend_up");
}

int
sl_alerts_create(struct sl_alerts **out, struct sl_proxy *p, const struct sl_config_alerts *cfg)
{
	struct sl_alerts *a;
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (cfg->nrules == 0)
		return 0;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->p = p;
	a->reg = sl_proxy_stats_registry(p);
	a->cfg = cfg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&a->stop, false);
	for (unsigned k = 0; k < N_COUNT; k++)
		atomic_init(&a->n[k], 0);
	if (cfg->instance[0] != '\0')
		snprintf(a->instance, sizeof(a->instance), "%s", cfg->instance);
	else if (gethostname(a->instance, sizeof(a->instance) - 1) != 0)
		snprintf(a->instance, sizeof(a->instance), "sluice");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err = -EIO;
		goto err_free;
	}
	a->curl_init = true;
	a->qcap = cfg->queue_size ? cfg->queue_size : 1;
	a->senders = calloc(cfg->nwebhooks != 0 ? cfg->nwebhooks : 1, sizeof(a->senders[0]));
	a->rules = calloc(cfg->nrules, sizeof(a->rules[0]));
	a->firing = calloc(cfg->nrules, sizeof(a->firing[0]));
	if (a->senders == NULL || a->rules == NULL || a->firing == NULL) {
		err = -ENOMEM;
		goto err_free;
	}
	for (size_t i = 0; i < cfg->nwebhooks; i++) {
		struct sender *s = &a->senders[i];

		s->a = a;
		s->w = &cfg->webhooks[i];
		url_shown(s->w->url, s->shown, sizeof(s->shown));
		for (size_t k = 0; k < SOCKS_TRACKED; k++)
			s->socks[k] = -1;
		s->q = calloc(a->qcap, sizeof(struct note *));
		if (s->q == NULL) {
			err = -ENOMEM;
			goto err_free;
		}
	}
	find_sources(a);
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct sl_config_alert_rule *c = &cfg->rules[i];
		unsigned k = c->metric == SL_ALERT_FIRST_BYTE_P99;

		atomic_init(&a->firing[i], false);
		a->need_collect |= sl__alert_kind_of(c->metric) == SL__ALERT_P99;
		err = sl__alert_rule_init(&a->rules[i], c, cfg->interval_ms, &a->lat_opts[k],
		                          a->lat_scale[k]);
		if (err != 0)
			goto err_free;
	}
	if ((err = add_sets(a)) != 0)
		goto err_free;
	*out = a;
	return 0;

err_free:
	sl_alerts_destroy(a);
	return err;
}

int
sl_alerts_start(struct sl_alerts *a)
{
	int err;

	if (a == NULL)
		return 0;
	for (size_t i = 0; i < a->cfg->nwebhooks; i++) {
		if ((err = pthread_create(&a->senders[i].t, NULL, send_run, &a->senders[i])) != 0) {
			sl_alerts_stop(a);
			return -err;
		}
		a->senders[i].running = true;
	}
	if ((err = pthread_create(&a->eval, NULL, eval_run, a)) != 0) {
		sl_alerts_stop(a);
		return -err;
	}
	a->eval_running = true;
	return 0;
}

void
sl_alerts_quiesce(struct sl_alerts *a)
{
	if (a == NULL || !a->eval_running)
		return;
	pthread_mutex_lock(&a->mu);
	a->eval_stop = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->eval, NULL);
	a->eval_running = false;
}

void
sl_alerts_stop(struct sl_alerts *a)
{
	size_t n;

	if (a == NULL)
		return;
	sl_alerts_quiesce(a);
	n = a->senders != NULL ? a->cfg->nwebhooks : 0; /* none: a create that failed */
	pthread_mutex_lock(&a->mu);
	/* relaxed: the mutex orders it for the waiters; the progress callback only polls it */
	atomic_store_explicit(&a->stop, true, memory_order_relaxed);
	pthread_cond_broadcast(&a->cv);
	/* a post waiting on a webhook that says nothing: its read or connect ends now */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < SOCKS_TRACKED; k++)
			if (a->senders[i].socks[k] != -1)
				shutdown(a->senders[i].socks[k], SHUT_RDWR);
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < n; i++) {
		if (a->senders[i].running)
			pthread_join(a->senders[i].t, NULL);
		a->senders[i].running = false;
	}
	/* no sender runs now: the notes' counts need no lock */
	for (size_t i = 0; i < n; i++) {
		struct sender *s = &a->senders[i];

		for (; s->qlen > 0; s->qlen--, s->qhead = (s->qhead + 1) % a->qcap) {
			note_put(s->q[s->qhead]);
			s->q[s->qhead] = NULL;
			count(a, N_DROPPED);
		}
	}
}

void
sl_alerts_destroy(struct sl_alerts *a)
{
	if (a == NULL)
		return;
	sl_alerts_stop(a);
	for (size_t i = 0; a->rules != NULL && i < a->cfg->nrules; i++)
		sl__alert_rule_fini(&a->rules[i]);
	free(a->rules);
	free((void *)a->firing);
	for (size_t i = 0; a->senders != NULL && i < a->cfg->nwebhooks; i++)
		free(a->senders[i].q);
	free(a->senders);
	if (a->curl_init)
		curl_global_cleanup();
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
