// SPDX-License-Identifier: MIT
/*
 * The filter chain: runs on every new session between ACCEPTED and FILTERED. Stages slot in
 * here, in this order: deny/allow CIDR -> per-source limits (concurrent connections, token
 * bucket) -> PROXY protocol in. Each stage accepts, or rejects with a counted reason. Today the
 * chain is empty and accepts everything.
 */
#include "proxy/session.h"

enum sl_filter_verdict
sl__filter_run(struct sl_session *s)
{
	(void)s;
	return SL_FILTER_ACCEPT;
}
