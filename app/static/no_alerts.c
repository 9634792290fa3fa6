// SPDX-License-Identifier: MIT
/*
 * The alerts' stand-in where libcurl is missing (sluice-static: there is no static libcurl to
 * link; or a build without libcurl4-openssl-dev; see CMakeLists.txt): a configuration with
 * alert rules refuses to start with -ENOTSUP, and main.c says why. One without rules runs.
 */
#include <errno.h>
#include <stddef.h>

#include <sluice/alerts.h>
#include <sluice/config.h>

int
sl_alerts_create(struct sl_alerts **out, struct sl_proxy *p, const struct sl_config_alerts *cfg)
{
	(void)p;
	*out = NULL;
	return cfg->nrules == 0 ? 0 : -ENOTSUP;
}

int
sl_alerts_start(struct sl_alerts *a)
{
	(void)a;
	return 0;
}

void
sl_alerts_quiesce(struct sl_alerts *a)
{
	(void)a;
}

void
sl_alerts_stop(struct sl_alerts *a)
{
	(void)a;
}

void
sl_alerts_destroy(struct sl_alerts *a)
{
	(void)a;
}
