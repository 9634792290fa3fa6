// SPDX-License-Identifier: MIT
/*
 * Configuration defaults: the key table's (config_keys.h) for every typed key, and here the
 * few that are not one field's value (rates, the allow-all ACL, fields the walker reads). The
 * YAML loader starts each object from these, and the one-line command mode builds its
 * snapshot from them.
 */
#include <string.h>

#include <sluice/config.h>

#include "config/config_keys.h"

void
sl_config_defaults(struct sl_config *c)
{
	memset(c, 0, sizeof(*c));
	sl__config_section_defaults(SL__SEC_TOP, c);
	c->control.mode = 0600;
}

void
sl_config_group_defaults(struct sl_config_group *g)
{
	memset(g, 0, sizeof(*g));
	sl__config_section_defaults(SL__SEC_GROUP, g);
	g->maglev_table_size = SL_LB_MAGLEV_DEFAULT_SIZE;
	g->health.kind = SL_HEALTH_NONE;
	g->discover.type = SL_DISCOVER_NONE;
}

void
sl_config_listener_defaults(struct sl_config_listener *l)
{
	memset(l, 0, sizeof(*l));
	sl__config_section_defaults(SL__SEC_LISTENER, l);
	l->acl_allows_unmatched = true;
	sl_tbucket_rate_init(&l->rate, 0, 1);
	sl_tbucket_rate_init(&l->source.limits.rate, 0, 1);
	for (unsigned d = 0; d < 2; d++) {
		sl_tbucket_rate_init(&l->bandwidth.session[d], 0, 0);
		sl_tbucket_rate_init(&l->bandwidth.source[d], 0, 0);
	}
}

void
sl_config_backend_defaults(struct sl_config_backend *b)
{
	memset(b, 0, sizeof(*b));
	sl__config_section_defaults(SL__SEC_BACKEND, b);
}
