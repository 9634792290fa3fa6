// SPDX-License-Identifier: MIT
/*
 * The proxy's counters: the names of the per-worker counter set (enum sl_ctr, proxy_int.h) and
 * of the timeout kinds, and sl_proxy_stats(), which sums the workers' counters, the health
 * checker's and the warm pools' figures.
 */
#include <string.h>

#include "proxy/proxy_int.h"

const struct sl_counter_def sl__ctr_defs[SL_CTR_COUNT] = {
        [SL_CTR_ACCEPTED] = {"accepted", SL_COUNTER_MONOTONIC},
        [SL_CTR_ACTIVE] = {"active", SL_COUNTER_GAUGE},
        [SL_CTR_CLOSED] = {"closed", SL_COUNTER_MONOTONIC},
        [SL_CTR_BYTES_IN] = {"bytes_in", SL_COUNTER_MONOTONIC},
        [SL_CTR_BYTES_OUT] = {"bytes_out", SL_COUNTER_MONOTONIC},
        [SL_CTR_CONNECT_FAILURES] = {"connect_failures", SL_COUNTER_MONOTONIC},
        [SL_CTR_RETRIES] = {"retries", SL_COUNTER_MONOTONIC},
        [SL_CTR_NO_BACKEND] = {"no_backend", SL_COUNTER_MONOTONIC},
        [SL_CTR_FILTERED] = {"filtered", SL_COUNTER_MONOTONIC},
        [SL_CTR_RESETS] = {"resets", SL_COUNTER_MONOTONIC},
        [SL_CTR_ACCEPT_ERRORS] = {"accept_errors", SL_COUNTER_MONOTONIC},
        [SL_CTR_EJECTIONS] = {"ejections", SL_COUNTER_MONOTONIC},
        [SL_CTR_SPLICE_FALLBACKS] = {"splice_fallbacks", SL_COUNTER_MONOTONIC},
        [SL_CTR_WARM_FAILED] = {"warm_failed", SL_COUNTER_MONOTONIC},
        [SL_CTR_LOCAL_ERRORS] = {"local_errors", SL_COUNTER_MONOTONIC},
        [SL_CTR_ACCEPT_PAUSES] = {"accept_pauses", SL_COUNTER_MONOTONIC},
        [SL_CTR_SOURCE_BANS] = {"source_bans", SL_COUNTER_MONOTONIC},
        [SL_CTR_QUEUE_FULL] = {"queue_full", SL_COUNTER_MONOTONIC},
        [SL_CTR_MOVED_OUT] = {"moved_out", SL_COUNTER_MONOTONIC},
        [SL_CTR_MOVED_IN] = {"moved_in", SL_COUNTER_MONOTONIC},
        [SL_CTR_SOCKMAP_SESSIONS] = {"sockmap_sessions", SL_COUNTER_MONOTONIC},
        [SL_CTR_SOCKMAP_COPIED] = {"sockmap_copied", SL_COUNTER_MONOTONIC},
        [SL_CTR_SOCKMAP_BYTES] = {"sockmap_bytes", SL_COUNTER_MONOTONIC},
        [SL_CTR_ADMIN_CLOSES] = {"admin_closes", SL_COUNTER_MONOTONIC},
#define TIMEOUT_DEF(k, name) [SL_CTR_TIMEOUT_FIRST + (k)] = {"timeouts_" name, SL_COUNTER_MONOTONIC}
        TIMEOUT_DEF(SL_TIMEOUT_CONNECT, "connect"),
        TIMEOUT_DEF(SL_TIMEOUT_CLIENT_IDLE, "client_idle"),
        TIMEOUT_DEF(SL_TIMEOUT_SERVER_IDLE, "server_idle"),
        TIMEOUT_DEF(SL_TIMEOUT_SESSION, "session"),
        TIMEOUT_DEF(SL_TIMEOUT_FIRST_BYTE, "first_byte"),
        TIMEOUT_DEF(SL_TIMEOUT_MIN_RATE, "min_rate"),
        TIMEOUT_DEF(SL_TIMEOUT_CLIENT_FIN, "client_fin"),
        TIMEOUT_DEF(SL_TIMEOUT_SERVER_FIN, "server_fin"),
        TIMEOUT_DEF(SL_TIMEOUT_QUEUE, "queue"),
        TIMEOUT_DEF(SL_TIMEOUT_DRAIN, "drain"),
#undef TIMEOUT_DEF
#define REJECT_DEF(r, name) [SL_CTR_REJECT_FIRST + (r)] = {"rejects_" name, SL_COUNTER_MONOTONIC}
        REJECT_DEF(SL_REJECT_PROXY_UNTRUSTED, "proxy_untrusted"),
        REJECT_DEF(SL_REJECT_PROXY_INVALID, "proxy_invalid"),
        REJECT_DEF(SL_REJECT_PROXY_TIMEOUT, "proxy_timeout"),
        REJECT_DEF(SL_REJECT_ACL_DENIED, "acl_denied"),
        REJECT_DEF(SL_REJECT_LISTENER_RATE, "listener_rate"),
        REJECT_DEF(SL_REJECT_SOURCE_CONNECTIONS, "source_connections"),
        REJECT_DEF(SL_REJECT_SOURCE_RATE, "source_rate"),
        REJECT_DEF(SL_REJECT_SOURCE_TABLE_FULL, "source_table_full"),
        REJECT_DEF(SL_REJECT_SOURCE_BANNED, "source_banned"),
#undef REJECT_DEF
};

const char *
sl_timeout_kind_name(enum sl_timeout_kind k)
{
	/* the counter's name less its "timeouts_" prefix: one list of names */
	if ((unsigned)k >= SL_TIMEOUT_KINDS)
		return NULL;
	return sl__ctr_defs[SL_CTR_TIMEOUT_FIRST + k].name + sizeof("timeouts_") - 1;
}

const char *
sl_reject_reason_name(enum sl_reject_reason r)
{
	/* the counter's name less its "rejects_" prefix: one list of names */
	if ((unsigned)r >= SL_REJECT_KINDS)
		return NULL;
	return sl__ctr_defs[SL_CTR_REJECT_FIRST + r].name + sizeof("rejects_") - 1;
}

void
sl_proxy_stats(const struct sl_proxy *p, struct sl_proxy_stats *st)
{
	const struct sl_counter_set *c = p->ctr;
	int64_t active;

	memset(st, 0, sizeof(*st));
	if (c == NULL)
		return;
	st->accepted = sl_counter_sum(c, SL_CTR_ACCEPTED);
	active = sl_counter_gauge_sum(c, SL_CTR_ACTIVE);
	st->active = active > 0 ? (uint64_t)active : 0;
	st->closed = sl_counter_sum(c, SL_CTR_CLOSED);
	st->bytes_in = sl_counter_sum(c, SL_CTR_BYTES_IN);
	st->bytes_out = sl_counter_sum(c, SL_CTR_BYTES_OUT);
	st->connect_failures = sl_counter_sum(c, SL_CTR_CONNECT_FAILURES);
	st->retries = sl_counter_sum(c, SL_CTR_RETRIES);
	st->no_backend = sl_counter_sum(c, SL_CTR_NO_BACKEND);
	st->queue_full = sl_counter_sum(c, SL_CTR_QUEUE_FULL);
	st->filtered = sl_counter_sum(c, SL_CTR_FILTERED);
	st->resets = sl_counter_sum(c, SL_CTR_RESETS);
	st->accept_errors = sl_counter_sum(c, SL_CTR_ACCEPT_ERRORS);
	st->ejections = sl_counter_sum(c, SL_CTR_EJECTIONS);
	st->splice_fallbacks = sl_counter_sum(c, SL_CTR_SPLICE_FALLBACKS);
	st->warm_failed = sl_counter_sum(c, SL_CTR_WARM_FAILED);
	st->local_errors = sl_counter_sum(c, SL_CTR_LOCAL_ERRORS);
	st->accept_pauses = sl_counter_sum(c, SL_CTR_ACCEPT_PAUSES);
	st->source_bans = sl_counter_sum(c, SL_CTR_SOURCE_BANS);
	/* relaxed: a statistic */
	st->max_connections = atomic_load_explicit(&p->max_conns, memory_order_relaxed);
	for (unsigned k = 0; k < SL_TIMEOUT_KINDS; k++)
		st->timeouts[k] = sl_counter_sum(c, SL_CTR_TIMEOUT_FIRST + k);
	for (unsigned r = 0; r < SL_REJECT_KINDS; r++)
		st->rejects[r] = sl_counter_sum(c, SL_CTR_REJECT_FIRST + r);
	{
		struct sl_health_stats hs;

		/* the lock the sum takes is the proxy's inner state, not what the caller reads */
		sl__health_stats_sum((struct sl_proxy *)p, &hs);
		st->health_checks = hs.checks;
		st->health_failures = hs.failures;
		st->health_ups = hs.transitions_up;
		st->health_downs = hs.transitions_down;
		st->health_local_errors = hs.local_errors;
	}
	for (unsigned i = 0; i < p->nworkers && p->workers != NULL; i++) {
		struct sl_warm_stats ws;

		sl_warm_counters_read(&p->workers[i].warm_counts, &ws);
		st->warm_hits += ws.hits;
		st->warm_misses += ws.misses;
		st->warm_expired += ws.expired;
		st->warm_dead += ws.dead;
	}
}
