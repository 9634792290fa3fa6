// SPDX-License-Identifier: MIT
/*
 * The access-list stage of the filter chain: a listener's allow: and deny: prefixes, built
 * into one longest-prefix-match table by the config loader (allow = 1, deny = 0), decide on the
 * client address (the one a PROXY header carried, if any). The longest matching prefix wins;
 * an address no prefix matches is allowed unless the listener has an allow list.
 */
#include <sluice/lpm.h>

#include "proxy/session.h"

enum sl_filter_verdict
sl__acl_run(struct sl_session *s)
{
	const struct sl_config_listener *lc = sl__listener_live(s->l);
	uint32_t v;

	if (lc->acl == NULL)
		return SL_FILTER_ACCEPT;
	v = sl_lpm_lookup_sa(lc->acl, &s->peer.sa);
	if (v == 1 || (v == SL_LPM_NONE && lc->acl_allows_unmatched))
		return SL_FILTER_ACCEPT;
	s->reject = SL_REJECT_ACL_DENIED;
	return SL_FILTER_REJECT;
}
