// SPDX-License-Identifier: MIT
/*
 * The generic forwarder driver (include/sluice/fwd.h): readiness bookkeeping, the per-direction
 * pump calls within their byte budget and the resume through the owner's loop, progress stamps,
 * the splice -> copy fallback, and the per-worker pipe cache. The byte moving itself is in
 * fwd_splice.c and fwd_copy.c; docs/internals/fwd.md has the invariants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <sluice/fwd.h>

/* The owner's io callback goes on with the directions that stopped at their budget. */
static void
fwd_resume(struct sl_loop *loop, struct sl_defer *d)
{
	struct sl_fwd *f = d->data;

	if (f->more != 0 && f->io != NULL)
		f->io->fn(loop, f->io, 0);
}

void
sl_fwd_init(struct sl_fwd *f, const struct sl_fwd_ops *ops, struct sl_fwd_env *env, int client_fd,
            int server_fd)
{
	f->ops = ops;
	f->env = env;
	f->fd[SL_FWD_CLIENT] = client_fd;
	f->fd[SL_FWD_SERVER] = server_fd;
	f->attached = false;
	f->consumed = 0;
	f->err = 0;
	f->err_side = 0;
	f->more = 0;
	f->limited = 0;
	f->paused = 0;
	f->hold = false;
	f->loop = NULL;
	f->io = NULL;
	sl_defer_init(&f->resume, fwd_resume, f);
	f->rewatch = 0;
	f->kernel = 0;
	f->sockmap_pair = UINT32_MAX;
	for (unsigned i = 0; i < 2; i++) {
		f->moved_ms[i] = 0;
		/* a fresh socket's send buffer is empty: writable until a write says otherwise */
		f->readable[i] = false;
		f->writable[i] = true;
		f->hup[i] = false;
		f->d[i] = (struct sl_fwd_dir){.pipe = {-1, -1}};
	}
}

void
sl_fwd_note(struct sl_fwd *f, unsigned side, unsigned events)
{
	if (events & SL_IO_READ)
		f->readable[side] = true;
	if (events & SL_IO_WRITE)
		f->writable[side] = true;
	if (events & SL_IO_HUP)
		f->hup[side] = true;
}

static int
fwd_status(const struct sl_fwd *f)
{
	unsigned done = (unsigned)f->d[0].shut + (unsigned)f->d[1].shut;

	return done == 2 ? SL_FWD_DONE : done == 1 ? SL_FWD_HALF_DONE : SL_FWD_RUNNING;
}

static bool
fwd_can_fall_back(const struct sl_fwd *f)
{
	return f->ops != &sl_fwd_copy_ops && f->d[0].pending == 0 && f->d[1].pending == 0 &&
	       !f->d[0].eof && !f->d[1].eof;
}

/* The kernel refused the variant for these fds (splice: EINVAL): continue by copying. */
static int
fwd_fall_back(struct sl_fwd *f)
{
	f->ops->detach(f);
	f->attached = false;
	f->ops = &sl_fwd_copy_ops;
	f->env->fallbacks++;
	if (f->ops->attach(f) != 0)
		return -ENOMEM;
	f->attached = true;
	return 0;
}

/*
 * Pumps direction <d>, limited: reads at most what the limiter grants (within <budget>), gives
 * back the rest, and pauses the direction when it stopped for want of bandwidth rather than at
 * its budget or a drained socket.
 */
static int
fwd_pump_limited(struct sl_fwd *f, unsigned d, uint32_t budget)
{
	const struct sl_fwd_limiter *lim = f->env->limiter;
	struct sl_fwd_dir *x = &f->d[d];
	uint32_t grant;
	int err;

	if (sl_unlikely(f->hold)) { /* sl_fwd_hold(): deliver, read nothing */
		x->quota = 0;
		return f->ops->pump(f, d);
	}
	grant = lim->take(f, d, budget);

	/* paused again below if the grant falls short again; an event may have run it meanwhile */
	f->paused &= (uint8_t) ~(1u << d);
	x->quota = grant;
	err = f->ops->pump(f, d);
	if (x->quota > 0)
		lim->put(f, d, x->quota);
	if ((f->more & (1u << d)) && grant < budget) {
		/* the grant ran out with input left: wait for the limit, not for a turn */
		f->more &= (uint8_t) ~(1u << d);
		f->paused |= (uint8_t)(1u << d);
		lim->pause(f, d);
	}
	return err;
}

/* Both directions, for fwd_run(). */
#define FWD_BOTH 3u

/* Stamps each side whose byte count moved since <before> with the owner loop's clock. */
static void
fwd_stamp(struct sl_fwd *f, const uint64_t before[2])
{
	for (unsigned side = 0; side < 2; side++)
		if (sl_fwd_side_bytes(f, side) != before[side])
			f->moved_ms[side] = sl_loop_now_ms(f->loop);
}

/*
 * Pumps the directions in the bit mask <dirs> (bit d = direction d) and those waiting for their
 * next turn (f->more), each within its budget; with an owner, queues the resume for a direction
 * that stopped at it, without one goes on at once.
 */
static int
fwd_run(struct sl_fwd *f, unsigned dirs)
{
	uint32_t budget = f->env->budget != 0 ? f->env->budget : SL_FWD_BUDGET;
	uint64_t before[2] = {sl_fwd_side_bytes(f, 0), sl_fwd_side_bytes(f, 1)};
	int err;

	if (sl_unlikely(f->err != 0))
		return f->err;
	dirs |= f->more;
again:
	/* the two directions use disjoint flags (readable[d], writable[!d]): one pass each */
	for (unsigned d = 0; d < 2; d++) {
		if (!(dirs & (1u << d)))
			continue;
		f->more &= (uint8_t) ~(1u << d);
		if (sl_likely(!(f->limited & (1u << d)))) {
			f->d[d].quota = budget;
			err = f->ops->pump(f, d);
		} else {
			err = fwd_pump_limited(f, d, budget);
		}
		if (sl_likely(err == 0))
			continue;
		if (err == -EINVAL && fwd_can_fall_back(f)) {
			err = fwd_fall_back(f);
			if (err == 0) {
				d = (unsigned)-1; /* start over with the copy variant */
				dirs = FWD_BOTH;
				continue;
			}
		}
		f->err = err;
		return err;
	}
	if (sl_unlikely(f->more != 0)) {
		if (f->loop == NULL) {
			dirs = f->more; /* no one to call back: no turn to give */
			goto again;
		}
		sl_loop_defer(f->loop, &f->resume);
	}
	if (f->loop != NULL)
		fwd_stamp(f, before);
	return fwd_status(f);
}

int
sl_fwd_start(struct sl_fwd *f)
{
	int err;

	SL_ASSERT(!f->attached);
	err = f->ops->attach(f);
	if (err != 0) {
		f->ops->detach(f);
		return err;
	}
	f->attached = true;
	return fwd_run(f, FWD_BOTH);
}

int
sl_fwd_on_events(struct sl_fwd *f, unsigned side, unsigned events)
{
	unsigned dirs = 0;

	/*
	 * Only a direction whose flags this event changed can move: reading <side> feeds
	 * direction <side>; <side> turning writable unblocks direction !<side>. An edge reports
	 * every ready bit, so WRITE usually comes with READ on a socket that was writable all
	 * along: that changes nothing for direction !<side>, whose last pump stopped for another
	 * reason.
	 */
	if (events & (SL_IO_READ | SL_IO_HUP))
		dirs |= 1u << side;
	if ((events & SL_IO_WRITE) && !f->writable[side])
		dirs |= 1u << !side;
	sl_fwd_note(f, side, events);
	if (sl_unlikely(!f->attached))
		return SL_FWD_RUNNING;
	return fwd_run(f, dirs);
}

int
sl_fwd_resume(struct sl_fwd *f)
{
	unsigned dirs = f->paused;

	f->paused = 0;
	if (sl_unlikely(!f->attached))
		return SL_FWD_RUNNING;
	return fwd_run(f, dirs);
}

bool
sl_fwd_settled(const struct sl_fwd *f)
{
	if (sl_fwd_in_flight(f) != 0)
		return false;
	return !f->attached || f->ops->busy == NULL || !f->ops->busy(f);
}

void
sl_fwd_hold(struct sl_fwd *f, bool hold)
{
	/* every direction takes the limited path, which reads nothing while held: the fast
	 * path keeps its one test */
	if (hold && !f->hold) {
		f->held_limited = f->limited;
		f->limited = 3;
	} else if (!hold && f->hold) {
		f->limited = f->held_limited;
	}
	f->hold = hold;
	if (f->attached && f->ops->hold != NULL)
		f->ops->hold(f);
	if (hold || f->loop == NULL)
		return;
	/* a side left readable may hold bytes no edge will announce again */
	for (unsigned d = 0; d < 2; d++)
		if (f->readable[d] && !f->d[d].eof)
			f->more |= (uint8_t)(1u << d);
	if (f->more != 0)
		sl_loop_defer(f->loop, &f->resume);
}

void
sl_fwd_adopt(struct sl_fwd *f, unsigned d, uint64_t bytes, bool shut)
{
	f->d[d].bytes = bytes;
	f->d[d].eof = shut;
	f->d[d].shut = shut;
	/* the process it comes from read the source, and may have stopped inside a segment */
	sl_fwd_note_consumed(f, d);
}

void
sl_fwd_fini(struct sl_fwd *f)
{
	if (f->attached) {
		f->ops->detach(f);
		f->attached = false;
	}
	if (f->loop != NULL)
		sl_loop_defer_cancel(f->loop, &f->resume);
	f->more = 0;
	f->paused = 0;
}

unsigned
sl_fwd_interest(const struct sl_fwd *f, unsigned side)
{
	if (f->ops->interest == NULL || !f->attached)
		return SL_IO_READ | SL_IO_WRITE;
	return f->ops->interest(f, side);
}

void
sl_fwd_sync(struct sl_fwd *f)
{
	uint64_t before[2];

	if (f->ops->sync == NULL || !f->attached)
		return;
	before[0] = sl_fwd_side_bytes(f, 0);
	before[1] = sl_fwd_side_bytes(f, 1);
	f->ops->sync(f);
	if (f->loop != NULL)
		fwd_stamp(f, before);
}

/* ---- pipe cache ---- */

struct sl_pipe_cache {
	int (*pairs)[2];
	size_t n, cap;
	size_t keep;        /* spare pairs kept beyond those out: the idle bound */
	size_t out;         /* pairs handed out by get and not yet put back */
	uint32_t pipe_size; /* bytes, as the kernel set it */
	uint32_t want_size; /* bytes asked for; 0 = kernel default */
	struct sl_pipe_cache_stats st;
};

static int
pipe_make(struct sl_pipe_cache *c, int fds[2])
{
	int sz;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -errno;
	/* best effort: above /proc/sys/fs/pipe-max-size an unprivileged process gets EPERM */
	if (c->want_size != 0)
		(void)fcntl(fds[1], F_SETPIPE_SZ, (int)c->want_size);
	if (c->pipe_size == 0) {
		sz = fcntl(fds[1], F_GETPIPE_SZ);
		c->pipe_size = sz > 0 ? (uint32_t)sz : 65536u;
	}
	return 0;
}

int
sl_pipe_cache_create(struct sl_pipe_cache **out, size_t capacity, size_t keep, uint32_t pipe_size)
{
	struct sl_pipe_cache *c;
	int err, fds[2];

	if (keep > capacity)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->pairs = calloc(capacity == 0 ? 1 : capacity, sizeof(c->pairs[0]));
	if (c->pairs == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->cap = capacity;
	c->keep = keep;
	c->want_size = pipe_size;
	/*
	 * learn the real size now so that sessions know their bound before the first get; the
	 * probe is closed at once: an idle cache holds no descriptor
	 */
	err = pipe_make(c, fds);
	if (err != 0) {
		sl_pipe_cache_destroy(c);
		return err;
	}
	close(fds[0]);
	close(fds[1]);
	*out = c;
	return 0;
}

void
sl_pipe_cache_destroy(struct sl_pipe_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		close(c->pairs[i][0]);
		close(c->pairs[i][1]);
	}
	free(c->pairs);
	free(c);
}

int
sl_pipe_cache_get(struct sl_pipe_cache *c, int fds[2])
{
	int err;

	if (sl_likely(c->n > 0)) {
		c->n--;
		fds[0] = c->pairs[c->n][0];
		fds[1] = c->pairs[c->n][1];
		c->st.reused++;
		c->out++;
		return 0;
	}
	err = pipe_make(c, fds);
	if (err != 0)
		return err;
	c->st.created++;
	c->out++;
	return 0;
}

static void
pipe_close(struct sl_pipe_cache *c, const int fds[2])
{
	close(fds[0]);
	close(fds[1]);
	c->st.discarded++;
}

void
sl_pipe_cache_put(struct sl_pipe_cache *c, int fds[2], bool empty)
{
	if (fds[0] < 0)
		return;
	SL_ASSERT(c->out > 0);
	if (c->out > 0)
		c->out--;
	if (empty && c->n < c->cap) {
		c->pairs[c->n][0] = fds[0];
		c->pairs[c->n][1] = fds[1];
		c->n++;
	} else {
		pipe_close(c, fds);
	}
	fds[0] = fds[1] = -1;
	/* spares beyond keep + out would outlive the load that made them (at most two here) */
	while (c->n > c->keep + c->out) {
		c->n--;
		pipe_close(c, c->pairs[c->n]);
	}
}

void
sl_pipe_cache_close_spares(struct sl_pipe_cache *c)
{
	if (c == NULL)
		return;
	while (c->n > 0) {
		c->n--;
		pipe_close(c, c->pairs[c->n]);
	}
	c->cap = 0;
	c->keep = 0;
}

uint32_t
sl_pipe_cache_pipe_size(const struct sl_pipe_cache *c)
{
	return c->pipe_size;
}

void
sl_pipe_cache_stats(const struct sl_pipe_cache *c, struct sl_pipe_cache_stats *st)
{
	*st = c->st;
	st->cached = c->n;
}
