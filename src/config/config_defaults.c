// SPDX-License-Identifier: MIT
/*
 * The one place every configuration default lives (include/sluice/config.h,
 * docs/configuration.md). The YAML loader starts each object from these, and the one-line
 * command mode builds its snapshot from them.
 */
#include <string.h>

#include <sluice/config.h>

void
sl_config_defaults(struct sl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 0;
	c->drain_timeout_ms = 30000;
	c->max_connections = 0;
	c->log_level = SL_LOG_INFO;
	c->control.path[0] = '\0';
	c->control.mode = 0600;
	c->access_log.path = NULL;
	c->access_log.ring_size = 4096;
	c->alerts.interval_ms = 1000;
	c->alerts.queue_size = 64;
}

void
sl_config_group_defaults(struct sl_config_group *g)
{
	memset(g, 0, sizeof(*g));
	strcpy(g->balance, "round_robin");
	g->maglev_table_size = 65537;
	g->retries = 2;
	g->max_queue = 0;
	g->health.kind = SL_HEALTH_NONE;
	g->health.interval_ms = 2000;
	g->health.timeout_ms = 1000;
	g->health.rise = 2;
	g->health.fall = 3;
	g->passive.failures = 3;
	g->passive.backoff_ms = 1000;
	g->passive.max_backoff_ms = 30000;
	g->warm_pool.size = 0;
	g->warm_pool.idle_ms = 30000;
	g->send_proxy = 0;
	g->discover.type = SL_DISCOVER_NONE;
	g->discover.ttl_min_ms = 1000;
	g->discover.ttl_max_ms = 300000;
	g->discover.timeout_ms = 2000;
	g->discover.weight = 1;
}

void
sl_config_listener_defaults(struct sl_config_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->backlog = 4096;
	l->group = 0;
	l->forward = SL_FWD_AUTO;
	l->tcp_nodelay = true;
	l->keepalive = false;
	l->pipe_size = 262144;
	l->buffer_size = 16384;
	l->max_connections = 0;
	l->acl = NULL;
	l->acl_allows_unmatched = true;
	l->proxy_in = (struct sl_config_proxy_in){.timeout_ms = 3000, .max_size = 536};
	sl_tbucket_rate_init(&l->rate, 0, 1);
	l->source = (struct sl_config_source){.prefix4 = 32, .prefix6 = 64, .table_size = 65536};
	sl_tbucket_rate_init(&l->source.limits.rate, 0, 1);
	for (unsigned d = 0; d < 2; d++) {
		sl_tbucket_rate_init(&l->bandwidth.session[d], 0, 0);
		sl_tbucket_rate_init(&l->bandwidth.source[d], 0, 0);
	}
	l->timeouts.connect_ms = 5000;
	l->timeouts.client_idle_ms = 60000;
	l->timeouts.server_idle_ms = 60000;
	l->timeouts.session_ms = 0;
	l->timeouts.first_byte_ms = 0;
	l->timeouts.client_fin_ms = 0;
	l->timeouts.server_fin_ms = 0;
	l->timeouts.min_rate_bytes = 0;
	l->timeouts.min_rate_window_ms = 10000;
	l->timeouts.queue_ms = 5000;
}

void
sl_config_backend_defaults(struct sl_config_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->weight = 1;
	b->max_connections = 0;
}
