// SPDX-License-Identifier: MIT
/*
 * sl_tbucket: token bucket as GCRA. Times are pairs (ns, rem) with rem < rate counting 1/rate ns,
 * so one token is exactly 1e9 / rate ns and sums never round: a bucket's arrival time after k
 * tokens is exactly k steps on, however the takes are spaced. Differences of times fit in u64 as
 * 1/rate ns units (they are at most a window, burst * 1e9 < 2^63). Interface and contract:
 * include/sluice/tbucket.h; the algorithm and its guards: docs/internals/srctab.md.
 */
#include <errno.h>
#include <stdint.h>

#include <sluice/tbucket.h>

#define NS_PER_SEC 1000000000ULL

/* a time or duration: ns + rem/rate ns, rem < rate */
struct tb_time {
	uint64_t ns;
	uint64_t rem;
};

int
sl_tbucket_rate_init(struct sl_tbucket_rate *r, uint32_t rate, uint32_t burst)
{
	uint64_t w;

	*r = (struct sl_tbucket_rate){.rate = rate, .burst = burst};
	if (rate == 0)
		return 0;
	if (burst == 0)
		return -EINVAL;
	r->step_ns = NS_PER_SEC / rate;
	r->step_rem = NS_PER_SEC % rate;
	/* < 2^32 * 1e9 < 2^62: no overflow */
	w = (uint64_t)burst * NS_PER_SEC;
	r->window_ns = w / rate;
	r->window_rem = w % rate;
	return 0;
}

void
sl_tbucket_init(struct sl_tbucket *b)
{
	b->tat = 0;
	b->frac = 0;
}

/* a < b */
static bool
tb_less(struct tb_time a, struct tb_time b)
{
	return a.ns < b.ns || (a.ns == b.ns && a.rem < b.rem);
}

static struct tb_time
tb_add(struct tb_time a, struct tb_time b, uint64_t rate)
{
	struct tb_time s = {a.ns + b.ns, a.rem + b.rem};

	if (s.rem >= rate) {
		s.rem -= rate;
		s.ns++;
	}
	return s;
}

/* a - b for b <= a */
static struct tb_time
tb_sub(struct tb_time a, struct tb_time b, uint64_t rate)
{
	struct tb_time d = {a.ns - b.ns, a.rem - b.rem};

	if (a.rem < b.rem) {
		d.rem = a.rem + rate - b.rem;
		d.ns--;
	}
	return d;
}

/* <n> tokens' worth of time: n * 1e9 / rate ns. n <= burst < 2^32 and step_rem < rate < 2^32 */
static struct tb_time
tb_cost(const struct sl_tbucket_rate *r, uint32_t n)
{
	uint64_t rem = (uint64_t)n * r->step_rem;

	return (struct tb_time){(uint64_t)n * r->step_ns + rem / r->rate, rem % r->rate};
}

/* The bucket's arrival time. A <frac> left by another rate (the owner changed limits) rounds up
 * to the next ns, so it can never make the bucket hold more. */
static struct tb_time
tb_tat(const struct sl_tbucket *b, const struct sl_tbucket_rate *r)
{
	if (b->frac >= r->rate)
		return (struct tb_time){b->tat + 1, 0};
	return (struct tb_time){b->tat, b->frac};
}

/* The bucket's arrival time, never earlier than <now> (a full bucket holds no more). */
static struct tb_time
tb_base(const struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now)
{
	struct tb_time t = tb_tat(b, r), n = {now, 0};

	return tb_less(t, n) ? n : t;
}

static struct tb_time
tb_window(const struct sl_tbucket_rate *r)
{
	return (struct tb_time){r->window_ns, r->window_rem};
}

bool
sl_tbucket_try_take(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now_ns,
                    uint32_t n)
{
	struct tb_time limit, next;

	if (r->rate == 0 || n == 0)
		return true;
	if (n > r->burst)
		return false;
	/* a take never leaves tat more than one window after its now: the clock went back */
	limit = tb_add((struct tb_time){now_ns, 0}, tb_window(r), r->rate);
	if (tb_less(limit, tb_tat(b, r))) {
		if (b->tat - limit.ns > SL_TBUCKET_MAX_SKEW_NS) {
			/* a real step: restart empty at the new clock rather than freeze until the
			 * clock catches up with the old one */
			b->tat = limit.ns;
			b->frac = (uint32_t)limit.rem;
		}
		return false;
	}
	next = tb_add(tb_base(b, r, now_ns), tb_cost(r, n), r->rate);
	if (tb_less(limit, next))
		return false;
	b->tat = next.ns;
	b->frac = (uint32_t)next.rem;
	return true;
}

void
sl_tbucket_fit(struct sl_tbucket *b, const struct sl_tbucket_rate *was,
               const struct sl_tbucket_rate *r, uint64_t now_ns)
{
	struct tb_time tat, debt, window;
	unsigned __int128 share;

	if (r->rate == 0)
		return;
	if (was->rate == 0) {
		sl_tbucket_init(b); /* nothing was counted: full */
		return;
	}
	tat = tb_tat(b, was);
	if (!tb_less((struct tb_time){now_ns, 0}, tat))
		return; /* full under either */
	/* the debt's share of <was>'s window, in ns of <r>'s: the whole window at most */
	debt = tb_sub(tat, (struct tb_time){now_ns, 0}, was->rate);
	window = tb_window(r);
	share = (unsigned __int128)debt.ns * window.ns / (was->window_ns > 0 ? was->window_ns : 1);
	if (share > window.ns)
		share = window.ns;
	b->tat = now_ns + (uint64_t)share;
	b->frac = 0;
}

static struct tb_time tb_debt(const struct sl_tbucket *b, const struct sl_tbucket_rate *r,
                              uint64_t now);

uint32_t
sl_tbucket_take_upto(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now_ns,
                     uint32_t max)
{
	struct tb_time base, avail, next;
	uint64_t n;

	if (r->rate == 0)
		return max;
	/* what the bucket holds, as sl_tbucket_tokens(): a clock gone back leaves the debt at a
	 * whole window, so nothing */
	avail = tb_sub(tb_window(r), tb_debt(b, r, now_ns), r->rate);
	n = (avail.ns * r->rate + avail.rem) / NS_PER_SEC;
	if (n > max)
		n = max;
	if (n == 0)
		return 0;
	/* n tokens cost at most <avail>, so the bucket stays within a window of now: no check */
	base = tb_base(b, r, now_ns);
	next = tb_add(base, tb_cost(r, (uint32_t)n), r->rate);
	b->tat = next.ns;
	b->frac = (uint32_t)next.rem;
	return (uint32_t)n;
}

void
sl_tbucket_put(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint32_t n)
{
	struct tb_time t, c;

	if (r->rate == 0 || n == 0)
		return;
	t = tb_tat(b, r);
	c = tb_cost(r, n > r->burst ? r->burst : n);
	/* the bucket is full again at most: a tat at or before any now means full */
	t = tb_less(t, c) ? (struct tb_time){0, 0} : tb_sub(t, c, r->rate);
	b->tat = t.ns;
	b->frac = (uint32_t)t.rem;
}

/* time the bucket still needs to refill completely at <now>: 0 when full, capped at a window */
static struct tb_time
tb_debt(const struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now)
{
	struct tb_time d = tb_sub(tb_base(b, r, now), (struct tb_time){now, 0}, r->rate);
	struct tb_time w = tb_window(r);

	return tb_less(w, d) ? w : d;
}

void
sl_tbucket_follow(struct sl_tbucket *b, struct sl_tbucket_as *as, const struct sl_tbucket_rate *r,
                  uint64_t now_ns)
{
	struct sl_tbucket_rate was = {.rate = 0};

	if (sl_likely(as->rate == r->rate && as->burst == r->burst))
		return;
	/* a rate taken once was valid then: rebuilding it cannot fail */
	if (as->rate != 0 && sl_tbucket_rate_init(&was, as->rate, as->burst) != 0)
		was = (struct sl_tbucket_rate){.rate = 0};
	sl_tbucket_fit(b, &was, r, now_ns);
	*as = (struct sl_tbucket_as){.rate = r->rate, .burst = r->burst};
}

void
sl_tbucket_clamp(struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now_ns)
{
	struct tb_time limit;

	if (r->rate == 0)
		return;
	limit = tb_add((struct tb_time){now_ns, 0}, tb_window(r), r->rate);
	if (sl_likely(!tb_less(limit, tb_tat(b, r))))
		return;
	b->tat = limit.ns;
	b->frac = (uint32_t)limit.rem;
}

uint32_t
sl_tbucket_tokens(const struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now_ns)
{
	struct tb_time avail;

	if (r->rate == 0)
		return UINT32_MAX;
	avail = tb_sub(tb_window(r), tb_debt(b, r, now_ns), r->rate);
	/* in 1/rate ns units one token is 1e9; avail <= window, so avail * rate < 2^63 */
	return (uint32_t)((avail.ns * r->rate + avail.rem) / NS_PER_SEC);
}

uint64_t
sl_tbucket_wait_ns(const struct sl_tbucket *b, const struct sl_tbucket_rate *r, uint64_t now_ns,
                   uint32_t n)
{
	struct tb_time debt, need, w = tb_window(r);

	if (r->rate == 0 || n == 0)
		return 0;
	if (n > r->burst)
		return UINT64_MAX;
	/* the take succeeds once debt + cost <= window; a debt past the window is a clock behind
	 * another's, which the take waits out too, unless it is a step back past the skew that
	 * the take restarts empty from (sl_tbucket_try_take()) */
	debt = tb_sub(tb_base(b, r, now_ns), (struct tb_time){now_ns, 0}, r->rate);
	if (tb_less(w, debt) && debt.ns - w.ns > SL_TBUCKET_MAX_SKEW_NS)
		debt = w;
	need = tb_add(debt, tb_cost(r, n), r->rate);
	if (!tb_less(w, need))
		return 0;
	need = tb_sub(need, w, r->rate);
	return need.ns + (need.rem != 0);
}

bool
sl_tbucket_is_full(const struct sl_tbucket *b, uint64_t now_ns)
{
	return b->tat < now_ns || (b->tat == now_ns && b->frac == 0);
}
