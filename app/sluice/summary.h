/* SPDX-License-Identifier: MIT */
/*
 * The exit summary: what the proxy did, logged once it has stopped, from its statistics
 * registry (summary.c).
 */
#ifndef SLUICE_APP_SUMMARY_H
#define SLUICE_APP_SUMMARY_H

#include <sluice/proxy.h>

/* Logs the summary of <p>. Main thread, after the drain. */
void summary_print(struct sl_proxy *p);

#endif /* SLUICE_APP_SUMMARY_H */
