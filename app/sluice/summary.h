/* SPDX-License-Identifier: MIT */
/*
 * The exit summary: what the proxy did, logged once it has stopped, from its statistics
 * registry (summary.c).
 */
#ifndef SLUICE_APP_SUMMARY_H
#define SLUICE_APP_SUMMARY_H

#include <sluice/config.h>
#include <sluice/proxy.h>

/* Logs the summary of <p>, which ran <cfg>. Main thread, after the drain. */
void summary_print(struct sl_proxy *p, const struct sl_config *cfg);

#endif /* SLUICE_APP_SUMMARY_H */
