// SPDX-License-Identifier: MIT
/*
 * The filter chain: runs on every new session between ACCEPTED and FILTERED, one stage after
 * another. A stage accepts (the next one runs), rejects with a counted reason (s->reject), or
 * defers: it waits for client bytes or its deadline (sl__session_defer()), and runs again when
 * the client is readable. A stage that holds something for the session's lifetime (a per-source
 * slot) gives it back in its release hook, called at close for every stage that accepted.
 * Order: PROXY protocol in (the address it carries is the client address for what follows) ->
 * CIDR allow/deny -> listener rate -> per-source limits -> first byte (a client that says
 * nothing holds its per-source slot while it waits, and no backend connection).
 */
#include "proxy/session.h"

struct filter_stage {
	/* ACCEPT, REJECT (s->reject set) or DEFER (sl__session_defer() called) */
	enum sl_filter_verdict (*run)(struct sl_session *s);
	/* DEFER's deadline passed: the counter to count it under (setting s->reject for a
	 * reject); NULL if the stage never defers */
	enum sl_ctr (*timed_out)(struct sl_session *s);
	/* the wait's length as the current snapshot says (ms; 0: no wait): a reload's new value
	 * applies to a wait under way. NULL if the stage never defers */
	uint32_t (*wait_ms)(const struct sl_session *s);
	/* the session closes after run accepted: give back what it took; NULL if nothing */
	void (*release)(struct sl_session *s);
};

static const struct filter_stage stages[] = {
        {sl__pp_in_run, sl__pp_in_timed_out, sl__pp_in_wait_ms, NULL},
        {sl__acl_run, NULL, NULL, NULL},
        {sl__listener_rate_run, NULL, NULL, NULL},
        {sl__source_run, NULL, NULL, sl__source_release},
        {sl__first_byte_run, sl__first_byte_timed_out, sl__first_byte_wait_ms, NULL},
};

enum sl_filter_verdict
sl__filter_run(struct sl_session *s)
{
	enum sl_filter_verdict v;

	while (s->filter_next < SL_ARRAY_SIZE(stages)) {
		const struct filter_stage *f = &stages[s->filter_next];

		v = f->run(s);
		if (v != SL_FILTER_ACCEPT)
			return v;
		/* a deadline armed by this stage's wait is not the next stage's */
		if (s->deferred) {
			sl_loop_timer_cancel(s->l->w->loop, &s->timer);
			s->deferred = false;
		}
		s->filter_next++;
	}
	return SL_FILTER_ACCEPT;
}

uint32_t
sl__filter_wait_ms(const struct sl_session *s)
{
	SL_ASSERT(s->filter_next < SL_ARRAY_SIZE(stages));
	return stages[s->filter_next].wait_ms(s);
}

enum sl_ctr
sl__filter_timed_out(struct sl_session *s)
{
	SL_ASSERT(s->filter_next < SL_ARRAY_SIZE(stages));
	return stages[s->filter_next].timed_out(s);
}

void
sl__filter_adopt(struct sl_session *s)
{
	sl__source_adopt(s);
	s->filter_next = SL_ARRAY_SIZE(stages);
}

void
sl__filter_release(struct sl_session *s)
{
	for (unsigned i = 0; i < s->filter_next && i < SL_ARRAY_SIZE(stages); i++)
		if (stages[i].release != NULL)
			stages[i].release(s);
	s->filter_next = 0;
}
