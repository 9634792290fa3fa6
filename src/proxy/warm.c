/* SPDX-License-Identifier: MIT */
/*
 * sl_warm: a worker's pool of pre-connected backend connections (include/sluice/warm.h). Each
 * backend owns <size> slots, allocated at create. A slot's life:
 *
 *   EMPTY --refill--> CONNECTING --writable, SO_ERROR 0--> READY --take--> EMPTY (fd handed over)
 *   CONNECTING --error, timeout--> EMPTY (+ backoff)
 *   READY --readable/hang-up, or dead at take--> EMPTY (+ backoff);  READY --idle_ms--> EMPTY
 *
 * A backend whose connect failed or whose idle connection died is "failing": nothing is
 * refilled until its retry timer fires (100 ms, doubling to 10 s), then one probe connect at
 * a time until one succeeds. The backoff resets once a connection proves useful (taken, or
 * lived to expiry). Single-threaded, on the owning loop; the stats counters are the only
 * fields read by other threads (written here only, relaxed). Docs: docs/internals/warm.md.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/loop.h>
#include <sluice/sock.h>
#include <sluice/warm.h>

enum slot_state {
	SLOT_EMPTY,
	SLOT_CONNECTING,
	SLOT_READY,
};

struct warm_backend;

struct slot {
	struct sl_io io;
	struct sl_timer timer; /* CONNECTING: connect timeout; READY: idle expiry */
	struct warm_backend *b;
	uint64_t since_ms; /* READY: loop clock when it became ready */
	int fd;            /* -1 when EMPTY */
	enum slot_state state;
};

struct warm_backend {
	struct sl_warm *w;
	struct sl_addr addr;
	struct slot *slots;     /* <w->size> of them */
	struct sl_timer retry;  /* pending while backing off */
	struct sl_defer refill; /* queued refill */
	uint32_t backoff_ms;    /* the next backoff delay */
	uint32_t ready;         /* slots READY */
	uint32_t connecting;    /* slots CONNECTING */
	bool enabled;
	bool failing; /* the last attempt failed or a connection died: probe one at a time */
};

struct sl_warm {
	struct sl_loop *loop;
	struct sl_addr source; /* connects come from it; unset: the kernel's choice */
	struct warm_backend *b;
	struct slot *slots;
	size_t n;
	uint32_t size;
	uint32_t idle_ms;

	struct sl_warm_counters own;
	struct sl_warm_counters *st; /* &own, or a block shared on the loop thread */
};

static void
stat_inc(_Atomic uint64_t *c)
{
	/* relaxed: the loop thread is the only writer; readers want a torn-free value only */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/* Closes a slot's socket, whatever its state, and leaves it EMPTY. Counts nothing. */
static void
slot_close(struct sl_warm *w, struct slot *s)
{
	struct warm_backend *b = s->b;

	if (s->state == SLOT_EMPTY)
		return;
	sl_loop_timer_cancel(w->loop, &s->timer);
	sl_loop_io_del(w->loop, &s->io);
	close(s->fd);
	if (s->state == SLOT_READY)
		b->ready--;
	else
		b->connecting--;
	s->fd = -1;
	s->state = SLOT_EMPTY;
}

static void
refill_queue(struct warm_backend *b)
{
	sl_loop_defer(b->w->loop, &b->refill);
}

/* Something failed: stop refilling <b> until its retry timer fires; the next wait doubles. */
static void
backoff(struct warm_backend *b)
{
	struct sl_warm *w = b->w;

	b->failing = true;
	/* several slots failing together (a backend restart) back off once, not once each */
	if (sl_timer_is_pending(&b->retry))
		return;
	sl_loop_timer_add(w->loop, &b->retry, b->backoff_ms);
	b->backoff_ms = b->backoff_ms >= SL_WARM_MAX_BACKOFF_MS / 2 ? SL_WARM_MAX_BACKOFF_MS
	                                                            : b->backoff_ms * 2;
}

/* The backend kept a connection until it was used or expired: forget past failures. */
static void
backoff_reset(struct warm_backend *b)
{
	b->backoff_ms = SL_WARM_BACKOFF_MS;
}

static void
connect_failed(struct sl_warm *w, struct slot *s)
{
	slot_close(w, s);
	stat_inc(&w->st->connect_failures);
	backoff(s->b);
}

/* An idle connection is closed, reset or sent unsolicited bytes: drop it. */
static void
slot_dead(struct sl_warm *w, struct slot *s)
{
	slot_close(w, s);
	stat_inc(&w->st->dead);
	backoff(s->b);
}

static void
slot_ready(struct sl_warm *w, struct slot *s)
{
	struct warm_backend *b = s->b;

	sl_loop_timer_cancel(w->loop, &s->timer);
	/* from now on, readable = EOF, reset or unsolicited data: all mean "do not use" */
	if (sl_loop_io_mod(w->loop, &s->io, SL_IO_READ) != 0) {
		connect_failed(w, s);
		return;
	}
	s->state = SLOT_READY;
	s->since_ms = sl_loop_now_ms(w->loop);
	b->connecting--;
	b->ready++;
	if (w->idle_ms != 0)
		sl_loop_timer_add(w->loop, &s->timer, w->idle_ms);
	if (b->failing) {
		/* the probe worked: fill the other slots */
		b->failing = false;
		refill_queue(b);
	}
}

static void
slot_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct slot *s = io->data;
	struct sl_warm *w = s->b->w;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)l;
	if (s->state == SLOT_READY) {
		slot_dead(w, s);
		return;
	}
	SL_ASSERT(s->state == SLOT_CONNECTING);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0 || !(events & SL_IO_WRITE))
		connect_failed(w, s);
	else
		slot_ready(w, s);
}

static void
slot_timer(struct sl_loop *l, struct sl_timer *t)
{
	struct slot *s = t->data;
	struct sl_warm *w = s->b->w;

	(void)l;
	if (s->state == SLOT_CONNECTING) {
		connect_failed(w, s);
		return;
	}
	SL_ASSERT(s->state == SLOT_READY);
	slot_close(w, s);
	stat_inc(&w->st->expired);
	backoff_reset(s->b);
	refill_queue(s->b);
}

/* Starts a non-blocking connect in the EMPTY slot <s>. */
static void
slot_connect(struct sl_warm *w, struct slot *s)
{
	struct warm_backend *b = s->b;
	int fd;

	stat_inc(&w->st->connects);
	fd = socket(b->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		/* out of fds or memory: back off like a refused connect */
		stat_inc(&w->st->connect_failures);
		backoff(b);
		return;
	}
	s->fd = fd;
	s->state = SLOT_CONNECTING;
	b->connecting++;
	sl_io_init(&s->io, fd, slot_io, s);
	if (sl_sock_bind_source(fd, &w->source) != 0 ||
	    (connect(fd, (const struct sockaddr *)&b->addr.ss, b->addr.len) == -1 &&
	     errno != EINPROGRESS)) {
		connect_failed(w, s);
		return;
	}
	/* even a connect that completed at once goes through the writable edge: one code path */
	if (sl_loop_io_add(w->loop, &s->io, SL_IO_WRITE) != 0) {
		connect_failed(w, s);
		return;
	}
	sl_loop_timer_add(w->loop, &s->timer, SL_WARM_CONNECT_TIMEOUT_MS);
}

/* Starts connects for <b>'s empty slots: all of them, or one probe while failing. */
static void
refill(struct warm_backend *b)
{
	struct sl_warm *w = b->w;

	if (!b->enabled || sl_timer_is_pending(&b->retry))
		return;
	for (uint32_t i = 0; i < w->size; i++) {
		struct slot *s = &b->slots[i];

		if (b->failing && b->connecting > 0)
			return;
		if (s->state == SLOT_EMPTY)
			slot_connect(w, s);
		/* a connect that failed at once armed the retry timer: stop here */
		if (sl_timer_is_pending(&b->retry))
			return;
	}
}

static void
refill_defer(struct sl_loop *l, struct sl_defer *d)
{
	(void)l;
	refill(d->data);
}

static void
retry_timer(struct sl_loop *l, struct sl_timer *t)
{
	(void)l;
	refill(t->data);
}

/* ---- public ---- */

/* sl_warm_create(), with every backend <enabled> (refills queued) or not (the loop untouched) */
static int
warm_create(struct sl_warm **out, struct sl_loop *loop, const struct sl_addr *addrs, size_t n,
            const struct sl_config_warm_pool *cfg, bool enabled)
{
	struct sl_warm *w;

	if (n == 0 || cfg->size == 0 || cfg->size > SL_WARM_MAX_SIZE || n > SIZE_MAX / cfg->size)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (addrs[i].len == 0)
			return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->b = calloc(n, sizeof(w->b[0]));
	w->slots = calloc(n * cfg->size, sizeof(w->slots[0]));
	if (w->b == NULL || w->slots == NULL) {
		free(w->b);
		free(w->slots);
		free(w);
		return -ENOMEM;
	}
	w->loop = loop;
	w->n = n;
	w->size = cfg->size;
	w->idle_ms = cfg->idle_ms;
	sl_warm_counters_init(&w->own);
	w->st = &w->own;
	for (size_t i = 0; i < n; i++) {
		struct warm_backend *b = &w->b[i];

		b->w = w;
		b->addr = addrs[i];
		b->slots = &w->slots[i * cfg->size];
		b->backoff_ms = SL_WARM_BACKOFF_MS;
		b->enabled = enabled;
		sl_timer_init(&b->retry, retry_timer, b);
		sl_defer_init(&b->refill, refill_defer, b);
		for (uint32_t k = 0; k < cfg->size; k++) {
			b->slots[k].b = b;
			b->slots[k].fd = -1;
			b->slots[k].state = SLOT_EMPTY;
			sl_timer_init(&b->slots[k].timer, slot_timer, &b->slots[k]);
			sl_io_init(&b->slots[k].io, -1, slot_io, &b->slots[k]);
		}
		if (enabled)
			refill_queue(b);
	}
	*out = w;
	return 0;
}

void
sl_warm_set_source(struct sl_warm *w, const struct sl_addr *source)
{
	if (source != NULL)
		w->source = *source;
	else
		memset(&w->source, 0, sizeof(w->source));
}

int
sl_warm_create(struct sl_warm **out, struct sl_loop *loop, const struct sl_addr *addrs, size_t n,
               const struct sl_config_warm_pool *cfg)
{
	return warm_create(out, loop, addrs, n, cfg, true);
}

int
sl_warm_create_disabled(struct sl_warm **out, struct sl_loop *loop, const struct sl_addr *addrs,
                        size_t n, const struct sl_config_warm_pool *cfg)
{
	return warm_create(out, loop, addrs, n, cfg, false);
}

/* Closes all of <b>'s sockets and cancels its timers and queued refill. */
static void
backend_clear(struct warm_backend *b)
{
	struct sl_warm *w = b->w;

	for (uint32_t k = 0; k < w->size; k++)
		slot_close(w, &b->slots[k]);
	sl_loop_timer_cancel(w->loop, &b->retry);
	sl_loop_defer_cancel(w->loop, &b->refill);
}

void
sl_warm_destroy(struct sl_warm *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++)
		backend_clear(&w->b[i]);
	free(w->slots);
	free(w->b);
	free(w);
}

/* true if the idle connection shows no sign of death: no EOF, no error, no data. */
static bool
slot_is_alive(const struct slot *s)
{
	char c;

	return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

int
sl_warm_take(struct sl_warm *w, size_t backend)
{
	struct warm_backend *b = &w->b[backend];

	SL_ASSERT(backend < w->n);
	if (w->size == 0)
		return -EAGAIN; /* resized to nothing: the pool is off, no miss */
	while (b->enabled && b->ready > 0) {
		struct slot *s = NULL;
		int fd;

		/* the newest: the least likely to have met the backend's own idle timeout */
		for (uint32_t k = 0; k < w->size; k++)
			if (b->slots[k].state == SLOT_READY &&
			    (s == NULL || b->slots[k].since_ms > s->since_ms))
				s = &b->slots[k];
		SL_ASSERT(s != NULL);
		if (!slot_is_alive(s)) {
			slot_dead(w, s);
			continue;
		}
		sl_loop_timer_cancel(w->loop, &s->timer);
		sl_loop_io_del(w->loop, &s->io);
		fd = s->fd;
		s->fd = -1;
		s->state = SLOT_EMPTY;
		b->ready--;
		stat_inc(&w->st->hits);
		backoff_reset(b);
		refill_queue(b);
		return fd;
	}
	stat_inc(&w->st->misses);
	refill_queue(b);
	return -EAGAIN;
}

void
sl_warm_set_enabled(struct sl_warm *w, size_t backend, bool enabled)
{
	struct warm_backend *b = &w->b[backend];

	SL_ASSERT(backend < w->n);
	if (b->enabled == enabled)
		return;
	b->enabled = enabled;
	if (!enabled) {
		backend_clear(b);
		return;
	}
	b->failing = false;
	backoff_reset(b);
	refill_queue(b);
}

void
sl_warm_set_addr(struct sl_warm *w, size_t backend, const struct sl_addr *addr)
{
	struct warm_backend *b = &w->b[backend];

	SL_ASSERT(backend < w->n && addr->len != 0);
	if (sl_addr_equal(&b->addr, addr))
		return;
	backend_clear(b);
	b->addr = *addr;
	b->failing = false;
	backoff_reset(b);
	if (b->enabled)
		refill_queue(b);
}

size_t
sl_warm_ready(const struct sl_warm *w, size_t backend)
{
	SL_ASSERT(backend < w->n);
	return w->b[backend].ready;
}

void
sl_warm_counters_init(struct sl_warm_counters *c)
{
	atomic_init(&c->hits, 0);
	atomic_init(&c->misses, 0);
	atomic_init(&c->expired, 0);
	atomic_init(&c->dead, 0);
	atomic_init(&c->connects, 0);
	atomic_init(&c->connect_failures, 0);
}

void
sl_warm_counters_read(const struct sl_warm_counters *c, struct sl_warm_stats *st)
{
	/* relaxed: independent monotonic counters; no snapshot across fields is promised */
	st->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
	st->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
	st->expired = atomic_load_explicit(&c->expired, memory_order_relaxed);
	st->dead = atomic_load_explicit(&c->dead, memory_order_relaxed);
	st->connects = atomic_load_explicit(&c->connects, memory_order_relaxed);
	st->connect_failures = atomic_load_explicit(&c->connect_failures, memory_order_relaxed);
}

void
sl_warm_count_into(struct sl_warm *w, struct sl_warm_counters *c)
{
	w->st = c;
}

void
sl_warm_stats(const struct sl_warm *w, struct sl_warm_stats *st)
{
	sl_warm_counters_read(w->st, st);
}

/* ---- resizing ---- */

struct sl_warm_room {
	size_t n;
	uint32_t size;
	struct slot *slots; /* n * size; NULL when size is 0 */
};

struct sl_warm_room *
sl_warm_room_new(size_t n, uint32_t size)
{
	struct sl_warm_room *r;

	if (size > SL_WARM_MAX_SIZE || (size != 0 && n > SIZE_MAX / size))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->n = n;
	r->size = size;
	if (size != 0 && n != 0 && (r->slots = calloc(n * size, sizeof(r->slots[0]))) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
sl_warm_room_free(struct sl_warm_room *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

/* Moves READY slot <from> of <b> into EMPTY slot <to> (new memory): re-registered, its idle
 * limit from when it became ready. */
static void
slot_move(struct sl_warm *w, struct slot *from, struct slot *to, uint64_t now)
{
	struct warm_backend *b = from->b;
	uint64_t age = now - from->since_ms;

	sl_loop_timer_cancel(w->loop, &from->timer);
	sl_loop_io_del(w->loop, &from->io); /* no callback for it after this */
	to->fd = from->fd;
	to->since_ms = from->since_ms;
	to->state = SLOT_READY;
	from->fd = -1;
	from->state = SLOT_EMPTY;
	sl_io_init(&to->io, to->fd, slot_io, to);
	if (sl_loop_io_add(w->loop, &to->io, SL_IO_READ) != 0) {
		close(to->fd);
		to->fd = -1;
		to->state = SLOT_EMPTY;
		b->ready--;
		return;
	}
	if (w->idle_ms != 0)
		sl_loop_timer_add(w->loop, &to->timer, age >= w->idle_ms ? 0 : w->idle_ms - age);
}

int
sl_warm_resize(struct sl_warm *w, struct sl_warm_room *room, const struct sl_config_warm_pool *cfg)
{
	uint64_t now = sl_loop_now_ms(w->loop);
	struct slot *old = w->slots;
	uint32_t old_size = w->size;

	if (room->n != w->n || room->size != cfg->size || (cfg->size != 0 && room->slots == NULL))
		return -EINVAL;
	w->idle_ms = cfg->idle_ms;
	for (size_t i = 0; i < w->n; i++) {
		struct warm_backend *b = &w->b[i];
		struct slot *ns = room->slots != NULL ? &room->slots[i * cfg->size] : NULL;
		uint32_t kept = 0;

		sl_loop_defer_cancel(w->loop, &b->refill);
		for (uint32_t k = 0; k < cfg->size; k++) {
			ns[k].b = b;
			ns[k].fd = -1;
			ns[k].state = SLOT_EMPTY;
			sl_timer_init(&ns[k].timer, slot_timer, &ns[k]);
			sl_io_init(&ns[k].io, -1, slot_io, &ns[k]);
		}
		/* the newest idle connections first would need a sort; any kept one will do */
		for (uint32_t k = 0; k < old_size; k++) {
			struct slot *s = &b->slots[k];

			if (s->state == SLOT_READY && kept < cfg->size)
				slot_move(w, s, &ns[kept++], now);
			else
				slot_close(w, s); /* an extra, or still connecting */
		}
		b->slots = ns;
	}
	w->slots = room->slots;
	w->size = cfg->size;
	room->slots = old;
	room->size = old_size;
	for (size_t i = 0; i < w->n && w->size != 0; i++)
		if (w->b[i].enabled)
			refill_queue(&w->b[i]);
	return 0;
}
