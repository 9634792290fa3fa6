// SPDX-License-Identifier: MIT
/*
 * Bandwidth limits (listener bandwidth:): the forwarders' limiter. Each limited direction of a
 * session takes bytes from the session's byte bucket (in the session) and from its source's (in
 * the listener's source table, under the set lock), a chunk per forwarder call; when neither
 * grants a byte the direction stops reading and the session timer wakes it. Rates are read live
 * from the current snapshot. docs/protection.md#bandwidth has the design.
 */
#include <stddef.h>
#include <stdint.h>

#include "proxy/session.h"

static struct sl_session *
session_of(struct sl_fwd *f)
{
	return (struct sl_session *)(void *)((char *)f - offsetof(struct sl_session, fwd));
}

static const struct sl_config_bandwidth *
bandwidth_cfg(const struct sl_session *s)
{
	return &sl__listener_live(s->l)->bandwidth;
}

/* the loop's clock, in ns: to the microsecond, so bytes accrue within a millisecond */
static uint64_t
now_ns(const struct sl_session *s)
{
	return sl_loop_now_us(s->l->w->loop) * 1000u;
}

/* The source table, if direction <d>'s bytes count against the source: NULL otherwise. */
static struct sl_srctab *
source_table(const struct sl_session *s, const struct sl_config_bandwidth *bw, unsigned d)
{
	if (bw->source[d].rate == 0 || s->source.index == UINT32_MAX)
		return NULL;
	/* the table keeps byte buckets whenever the layout has a per-source bandwidth (snapshot.c
	 * restarts rather than reload a change of that) */
	return s->l->w->p->lshared[s->l->index].sources;
}

static uint32_t
bandwidth_take(struct sl_fwd *f, unsigned d, uint32_t want)
{
	struct sl_session *s = session_of(f);
	const struct sl_config_bandwidth *bw = bandwidth_cfg(s);
	struct sl_srctab *t = source_table(s, bw, d);
	uint64_t now = now_ns(s);
	uint32_t n, m;

	/* a reload's faster rate does not wait out the debt the slower one ran up */
	sl_tbucket_clamp(&s->bw[d], &bw->session[d], now);
	n = sl_tbucket_take_upto(&s->bw[d], &bw->session[d], now, want);

	if (t == NULL || n == 0)
		return n;
	/* one lock of the source's set for the whole chunk, not one per read */
	m = sl_srctab_bytes_take(t, s->source, d, &bw->source[d], now, n);
	if (m < n)
		sl_tbucket_put(&s->bw[d], &bw->session[d], n - m);
	return m;
}

static void
bandwidth_put(struct sl_fwd *f, unsigned d, uint32_t unused)
{
	struct sl_session *s = session_of(f);
	const struct sl_config_bandwidth *bw = bandwidth_cfg(s);
	struct sl_srctab *t = source_table(s, bw, d);

	sl_tbucket_put(&s->bw[d], &bw->session[d], unused);
	if (t != NULL)
		sl_srctab_bytes_put(t, s->source, d, &bw->source[d], unused);
}

static void
bandwidth_pause(struct sl_fwd *f, unsigned d)
{
	struct sl_session *s = session_of(f);
	struct sl_pworker *w = s->l->w;
	struct sl_loop *loop = w->loop;
	uint64_t now = sl_loop_now_ms(loop), wake = sl__bandwidth_wake_ms(s, now);

	sl_counter_add(w->p->mx.lctr, w->index,
	               (unsigned)s->l->index * SL_LCTR_COUNT + SL_LCTR_BANDWIDTH_PAUSES + d, 1);
	/* the session timer also holds the idle deadlines: only ever brought forward here, and
	 * the forwarding timeout re-arms it for the later of the two */
	if (!sl_timer_is_pending(&s->timer) || s->timer.expires_ms > wake)
		sl_loop_timer_add(loop, &s->timer, wake - now);
}

const struct sl_fwd_limiter sl__bandwidth_limiter = {
        .take = bandwidth_take,
        .put = bandwidth_put,
        .pause = bandwidth_pause,
};

void
sl__bandwidth_init(struct sl_session *s)
{
	unsigned dirs = bandwidth_cfg(s)->limited;

	sl_fwd_set_limited(&s->fwd, dirs);
	if (sl_likely(dirs == 0))
		return;
	sl_tbucket_init(&s->bw[0]);
	sl_tbucket_init(&s->bw[1]);
}

/*
 * Bytes worth waking for under <r>: a hundredth of a second of the rate (so a paused direction
 * wakes about every 10 ms at most), within the burst.
 */
static uint32_t
wake_chunk(const struct sl_tbucket_rate *r)
{
	uint32_t c = r->rate / 100;

	if (c == 0)
		c = 1;
	return c < r->burst ? c : r->burst;
}

uint64_t
sl__bandwidth_wake_ms(struct sl_session *s, uint64_t now_ms)
{
	const struct sl_config_bandwidth *bw = bandwidth_cfg(s);
	uint64_t now = now_ms * 1000000u, soonest = UINT64_MAX, ns;

	for (unsigned d = 0; d < 2; d++) {
		struct sl_srctab *t;

		if (!(s->fwd.paused & (1u << d)))
			continue;
		ns = 0;
		if (bw->session[d].rate != 0)
			ns = sl_tbucket_wait_ns(&s->bw[d], &bw->session[d], now,
			                        wake_chunk(&bw->session[d]));
		t = source_table(s, bw, d);
		if (t != NULL) {
			uint64_t w = sl_srctab_bytes_wait_ns(t, s->source, d, &bw->source[d], now,
			                                     wake_chunk(&bw->source[d]));

			ns = w > ns ? w : ns;
		}
		soonest = ns < soonest ? ns : soonest;
	}
	if (soonest == UINT64_MAX)
		soonest = 0;
	/* whole ms, rounded up, and at least the next tick */
	ns = (soonest + 999999u) / 1000000u;
	return now_ms + (ns > 0 ? ns : 1);
}
