/* SPDX-License-Identifier: MIT */
/*
 * Behaviour tests for sl_loop (include/sluice/loop.h): io readiness (edge- and level-triggered,
 * delete or forget inside a batch, hang-up), the timer wheel, deferred callbacks, the cross-thread
 * wake-up and stop, and the loop as an epoch participant. Every test runs once per runtime (epoll,
 * then io_uring when the kernel has it), plus cases that are tricky for io_uring's poll requests:
 * fd numbers reused after del or forget, mod, and a completion queue that overflows. Time is read
 * from the loop's own clock; nothing asserts wall-clock durations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sluice/epoch.h>
#include <sluice/loop.h>

#include "rt/loop_int.h"

struct pair {
	int fd[2];
};

static void
pair_open(struct pair *p)
{
	assert_int_equal(0,
	                 socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fd));
}

static void
pair_close(struct pair *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
}

static void
pair_send(struct pair *p)
{
	assert_int_equal(1, write(p->fd[1], "x", 1));
}

/* The runtime every loop of the running group uses (set by the group's setup). */
static enum sl_loop_runtime test_runtime;

static struct sl_loop *
loop_new_opts(struct sl_loop_opts o)
{
	struct sl_loop *l = NULL;

	o.runtime = test_runtime;
	assert_int_equal(0, sl_loop_create(&l, &o));
	assert_string_equal(sl_loop_runtime_name(test_runtime), sl_loop_backend_name(l));
	return l;
}

static struct sl_loop *
loop_new(void)
{
	return loop_new_opts((struct sl_loop_opts){0});
}

/* A log of small integers, one per callback, to check what ran and in which order. */
struct trace {
	int ev[16];
	int n;
};

static void
trace_add(struct trace *t, int v)
{
	if (t->n < (int)(sizeof(t->ev) / sizeof(t->ev[0])))
		t->ev[t->n] = v;
	t->n++;
}

static void
stop_timer_fn(struct sl_loop *l, struct sl_timer *t)
{
	(void)t;
	sl_loop_stop(l);
}

/* ---- io ---- */

static void
count_and_stop_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	int *count = io->data;

	(void)events;
	(*count)++;
	sl_loop_stop(l);
}

static void
io_callback_fires_on_socketpair_write(void **state)
{
	struct sl_loop *l = loop_new();
	struct pair p;
	struct sl_io io;
	int count = 0;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], count_and_stop_io, &count);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	pair_send(&p);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, count);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

struct edge {
	int count;
	unsigned events;
};

static void
record_io_no_read(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct edge *e = io->data;

	(void)l;
	e->count++;
	e->events = events;
}

static void
io_fires_again_only_after_new_data(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct edge e = {0};
	struct pair p;
	struct sl_io io;
	int count_while_unread;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	pair_send(&p);
	/* the byte stays unread: level-triggered would report it on every wait until the guard */
	sl_loop_timer_add(l, &guard, 20);
	assert_int_equal(0, sl_loop_run(l));
	count_while_unread = e.count;

	pair_send(&p);
	sl_loop_timer_add(l, &guard, 20);
	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, count_while_unread);
	assert_int_equal(2, e.count);
	assert_true(e.events & SL_IO_READ);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

struct racer {
	struct sl_io io;
	struct sl_io *other;
	int *count;
};

static void
delete_other_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct racer *r = io->data;

	(void)events;
	(*r->count)++;
	assert_int_equal(0, sl_loop_io_del(l, r->other));
	sl_loop_stop(l);
}

static void
io_del_in_callback_drops_other_io_pending_in_same_batch(void **state)
{
	struct sl_loop *l = loop_new();
	struct racer a, b;
	struct pair pa, pb;
	int count = 0;

	(void)state;
	pair_open(&pa);
	pair_open(&pb);
	a = (struct racer){.other = &b.io, .count = &count};
	b = (struct racer){.other = &a.io, .count = &count};
	sl_io_init(&a.io, pa.fd[0], delete_other_io, &a);
	sl_io_init(&b.io, pb.fd[0], delete_other_io, &b);
	assert_int_equal(0, sl_loop_io_add(l, &a.io, SL_IO_READ));
	assert_int_equal(0, sl_loop_io_add(l, &b.io, SL_IO_READ));
	/* both ready before the loop waits: one wait returns both in one batch */
	pair_send(&pa);
	pair_send(&pb);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, count);
	sl_loop_io_del(l, &a.io);
	sl_loop_io_del(l, &b.io);
	pair_close(&pa);
	pair_close(&pb);
	sl_loop_destroy(l);
}

static void
count_io_stop_at_three(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct edge *e = io->data;

	e->events = events;
	if (++e->count == 3)
		sl_loop_stop(l);
}

static void
io_level_triggered_fires_on_every_wait_while_unread(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct edge e = {0};
	struct pair p;
	struct sl_io io;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], count_io_stop_at_three, &e);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ | SL_IO_LEVEL));
	pair_send(&p); /* one byte, never read */
	/* edge-triggered would fire once and leave the stop to the guard */
	sl_loop_timer_add(l, &guard, 2000);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(3, e.count);
	assert_true(e.events & SL_IO_READ);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

struct closer {
	struct sl_io io;
	struct sl_io *other;
	int *count;
};

static void
forget_and_close_other_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct closer *c = io->data;

	(void)events;
	(*c->count)++;
	sl_loop_io_forget(l, c->other);
	close(c->other->fd);
	c->other->fd = -1;
	sl_loop_stop(l);
}

static void
io_forget_in_callback_drops_other_io_pending_in_same_batch(void **state)
{
	struct sl_loop *l = loop_new();
	struct closer a, b;
	struct pair pa, pb;
	int count = 0;

	(void)state;
	pair_open(&pa);
	pair_open(&pb);
	a = (struct closer){.other = &b.io, .count = &count};
	b = (struct closer){.other = &a.io, .count = &count};
	sl_io_init(&a.io, pa.fd[0], forget_and_close_other_io, &a);
	sl_io_init(&b.io, pb.fd[0], forget_and_close_other_io, &b);
	assert_int_equal(0, sl_loop_io_add(l, &a.io, SL_IO_READ));
	assert_int_equal(0, sl_loop_io_add(l, &b.io, SL_IO_READ));
	pair_send(&pa);
	pair_send(&pb);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, count);
	/* one of the two was closed by the other's callback */
	if (a.io.fd >= 0) {
		sl_loop_io_del(l, &a.io);
		close(a.io.fd);
	}
	if (b.io.fd >= 0) {
		sl_loop_io_del(l, &b.io);
		close(b.io.fd);
	}
	close(pa.fd[1]);
	close(pb.fd[1]);
	sl_loop_destroy(l);
}

static void
io_reports_hup_and_read_when_peer_closes(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct edge e = {0};
	struct pair p;
	struct sl_io io;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	close(p.fd[1]);
	sl_loop_timer_add(l, &guard, 10);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, e.count);
	assert_int_equal(SL_IO_READ | SL_IO_HUP, e.events & (SL_IO_READ | SL_IO_HUP));
	sl_loop_io_del(l, &io);
	close(p.fd[0]);
	sl_loop_destroy(l);
}

static void
drain_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct edge *e = io->data;
	char buf[64];

	(void)l;
	e->count++;
	e->events = events;
	while (read(io->fd, buf, sizeof(buf)) > 0)
		;
}

/* Runs the loop until a <ms> guard timer stops it. */
static void
run_for(struct sl_loop *l, uint64_t ms)
{
	struct sl_timer guard;

	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &guard, ms);
	assert_int_equal(0, sl_loop_run(l));
}

static void
io_drained_fd_fires_once_per_new_data(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], drain_io, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	pair_send(&p);
	run_for(l, 20);
	assert_int_equal(1, e.count);

	pair_send(&p);
	run_for(l, 20);
	assert_int_equal(2, e.count);

	/* nothing new: no report */
	run_for(l, 20);
	assert_int_equal(2, e.count);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
io_on_a_reused_fd_number_after_del_and_close_sees_only_its_own_events(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge old = {0}, fresh = {0};
	struct pair a, b;
	struct sl_io io_old, io_new;
	int fd;

	(void)state;
	pair_open(&a);
	sl_io_init(&io_old, a.fd[0], record_io_no_read, &old);
	assert_int_equal(0, sl_loop_io_add(l, &io_old, SL_IO_READ));
	pair_send(&a); /* ready, but deleted before the loop ever waits */
	assert_int_equal(0, sl_loop_io_del(l, &io_old));
	fd = a.fd[0];
	close(a.fd[0]);
	close(a.fd[1]);

	/* the lowest free numbers: the new pair's first fd takes the old number */
	pair_open(&b);
	assert_int_equal(fd, b.fd[0]);
	sl_io_init(&io_new, b.fd[0], record_io_no_read, &fresh);
	assert_int_equal(0, sl_loop_io_add(l, &io_new, SL_IO_READ));
	run_for(l, 20);
	assert_int_equal(0, old.count);
	assert_int_equal(0, fresh.count);

	pair_send(&b);
	run_for(l, 20);
	assert_int_equal(0, old.count);
	assert_int_equal(1, fresh.count);
	sl_loop_io_del(l, &io_new);
	pair_close(&b);
	sl_loop_destroy(l);
}

static void
io_on_a_reused_fd_number_after_forget_and_close_sees_only_its_own_events(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge old = {0}, fresh = {0};
	struct pair a, b;
	struct sl_io io_old, io_new;
	int fd;

	(void)state;
	pair_open(&a);
	sl_io_init(&io_old, a.fd[0], record_io_no_read, &old);
	assert_int_equal(0, sl_loop_io_add(l, &io_old, SL_IO_READ));
	run_for(l, 5); /* registered in the kernel by now */
	pair_send(&a);
	sl_loop_io_forget(l, &io_old);
	fd = a.fd[0];
	close(a.fd[0]);
	close(a.fd[1]);

	pair_open(&b);
	assert_int_equal(fd, b.fd[0]);
	sl_io_init(&io_new, b.fd[0], record_io_no_read, &fresh);
	assert_int_equal(0, sl_loop_io_add(l, &io_new, SL_IO_READ));
	pair_send(&b);
	run_for(l, 20);
	assert_int_equal(0, old.count);
	assert_int_equal(1, fresh.count);
	sl_loop_io_del(l, &io_new);
	pair_close(&b);
	sl_loop_destroy(l);
}

static void
forgotten_and_closed_fd_is_closed_for_the_peer_after_one_iteration(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;
	char c;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	run_for(l, 5);
	/* a poll request holds the socket: the backend must end it, or the peer never sees EOF */
	sl_loop_io_forget(l, &io);
	close(p.fd[0]);
	run_for(l, 5);

	assert_int_equal(0, read(p.fd[1], &c, 1));
	assert_int_equal(0, e.count);
	close(p.fd[1]);
	sl_loop_destroy(l);
}

static void
forget_close_self_and_stop(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct edge *e = io->data;
	char buf[64];

	e->count++;
	e->events = events;
	/* read first: a unix socket closed with unread data resets its peer */
	while (read(io->fd, buf, sizeof(buf)) > 0)
		;
	sl_loop_io_forget(l, io);
	close(io->fd);
	io->fd = -1;
	sl_loop_stop(l);
}

static void
fd_closed_by_the_last_callback_before_stop_is_closed_for_the_peer(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;
	char c;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], forget_close_self_and_stop, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	pair_send(&p);
	/* the loop never waits again after this callback: run must not return holding it */
	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, e.count);
	assert_int_equal(0, read(p.fd[1], &c, 1));
	close(p.fd[1]);
	sl_loop_destroy(l);
}

static void
fd_forgotten_with_a_wakeup_pending_is_closed_for_the_peer(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;
	char c;
	ssize_t r;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	run_for(l, 5);
	/* data arrives while no wait runs: (io_uring) its wake-up is still to be processed when
	 * the removal goes in, which a plain POLL_REMOVE would refuse (-EALREADY) */
	pair_send(&p);
	sl_loop_io_forget(l, &io);
	close(p.fd[0]);
	run_for(l, 5);

	/* closed with the byte unread: a unix socket's peer sees a reset, or EOF */
	r = read(p.fd[1], &c, 1);
	assert_true(r == 0 || (r == -1 && errno == ECONNRESET));
	assert_int_equal(0, e.count);
	close(p.fd[1]);
	sl_loop_destroy(l);
}

static void
deleted_fd_closed_before_del_is_closed_for_the_peer(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;
	char c;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	run_for(l, 5);
	close(p.fd[0]);
	/* del may be given a closed fd */
	assert_int_equal(0, sl_loop_io_del(l, &io));
	run_for(l, 5);

	assert_int_equal(0, read(p.fd[1], &c, 1));
	assert_int_equal(0, e.count);
	close(p.fd[1]);
	sl_loop_destroy(l);
}

static void
io_mod_from_read_to_write_reports_write_and_not_read(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	run_for(l, 5);
	assert_int_equal(0, e.count); /* nothing to read yet */

	assert_int_equal(0, sl_loop_io_mod(l, &io, SL_IO_WRITE));
	assert_int_equal(SL_IO_WRITE, io.events);
	run_for(l, 20);
	assert_int_equal(1, e.count); /* writable at once: the mod polls the fd */
	assert_int_equal(SL_IO_WRITE, e.events);

	/* data arrives: not watched for any more, so no report */
	pair_send(&p);
	run_for(l, 20);
	assert_int_equal(1, e.count);

	/* back to READ: the unread byte is reported */
	assert_int_equal(0, sl_loop_io_mod(l, &io, SL_IO_READ));
	run_for(l, 20);
	assert_int_equal(2, e.count);
	assert_int_equal(SL_IO_READ, e.events);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
io_add_twice_fails_with_eexist(void **state)
{
	struct sl_loop *l = loop_new();
	struct edge e = {0};
	struct pair p;
	struct sl_io io;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_no_read, &e);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	assert_int_equal(-EEXIST, sl_loop_io_add(l, &io, SL_IO_READ));
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

#define MANY_IOS 300

struct many {
	struct pair p[MANY_IOS];
	struct sl_io io[MANY_IOS];
	struct edge e[MANY_IOS];
};

static void
every_ready_io_is_reported_when_they_outnumber_batch_and_queues(void **state)
{
	/* 4 events per wait: far more ready ios than one batch, and (io_uring) than the CQ */
	struct sl_loop *l = loop_new_opts((struct sl_loop_opts){.max_events = 4});
	struct many *m = calloc(1, sizeof(*m));
	int reported = 0;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < MANY_IOS; i++) {
		pair_open(&m->p[i]);
		sl_io_init(&m->io[i], m->p[i].fd[0], drain_io, &m->e[i]);
		assert_int_equal(0, sl_loop_io_add(l, &m->io[i], SL_IO_READ));
		pair_send(&m->p[i]);
	}
	run_for(l, 50);
	for (int i = 0; i < MANY_IOS; i++)
		reported += m->e[i].count >= 1;
	assert_int_equal(MANY_IOS, reported);

	/* and they keep working: one more byte each, one more report each */
	for (int i = 0; i < MANY_IOS; i++)
		pair_send(&m->p[i]);
	run_for(l, 50);
	for (int i = 0; i < MANY_IOS; i++) {
		assert_true(m->e[i].count >= 2);
		sl_loop_io_del(l, &m->io[i]);
		pair_close(&m->p[i]);
	}
	free(m);
	sl_loop_destroy(l);
}

static void
unknown_runtime_is_rejected(void **state)
{
	struct sl_loop *l = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_loop_create(&l, &(struct sl_loop_opts){
	                                                     .runtime = (enum sl_loop_runtime)7}));
}

/* A provided-buffer group is a power of two within the kernel's limit: another count is refused
 * at create, on either runtime, not later by sl_loop_bufs_open(). */
static void
a_bufs_count_that_is_no_power_of_two_is_rejected(void **state)
{
	struct sl_loop *l = NULL;

	(void)state;
	assert_int_equal(-EINVAL, sl_loop_create(&l, &(struct sl_loop_opts){
	                                                     .runtime = SL_LOOP_EPOLL, .bufs = 3}));
	assert_int_equal(-EINVAL,
	                 sl_loop_create(&l, &(struct sl_loop_opts){.runtime = SL_LOOP_EPOLL,
	                                                           .bufs = SL_LOOP_MAX_BUFS * 2}));
	assert_null(l);
	assert_int_equal(0, sl_loop_create(&l, &(struct sl_loop_opts){.runtime = SL_LOOP_EPOLL,
	                                                              .bufs = SL_LOOP_MAX_BUFS}));
	sl_loop_destroy(l);
}

static void
auto_runtime_picks_io_uring_when_the_probe_succeeds(void **state)
{
	struct sl_loop *l = NULL;
	const char *why = NULL;
	int probe = sl_loop_probe_io_uring(&why);

	(void)state;
	assert_int_equal(0, sl_loop_create(&l, NULL));
	assert_string_equal(probe == 0 ? "io_uring" : "epoll", sl_loop_backend_name(l));
	if (probe != 0)
		assert_non_null(why);
	sl_loop_destroy(l);
}

static void
runtime_names_parse_back(void **state)
{
	enum sl_loop_runtime rt;

	(void)state;
	for (int i = SL_LOOP_AUTO; i <= SL_LOOP_IO_URING; i++) {
		assert_int_equal(0, sl_loop_runtime_parse(sl_loop_runtime_name(i), &rt));
		assert_int_equal(i, rt);
	}
	assert_int_equal(-EINVAL, sl_loop_runtime_parse("kqueue", &rt));
	assert_null(sl_loop_runtime_name((enum sl_loop_runtime)3));
}

/* ---- timers ---- */

struct shot {
	struct sl_timer t;
	int id;
	int count;
	uint64_t fired_ms;
	struct trace *trace;
	int stop_after; /* stop the loop at this many firings; 0 = never */
	int rearm;      /* re-add itself this many times */
};

static void
shot_fn(struct sl_loop *l, struct sl_timer *t)
{
	struct shot *s = t->data;

	s->count++;
	s->fired_ms = sl_loop_now_ms(l);
	if (s->trace != NULL)
		trace_add(s->trace, s->id);
	if (s->rearm > 0) {
		s->rearm--;
		sl_loop_timer_add(l, t, 2);
	}
	if (s->stop_after != 0 && s->count == s->stop_after)
		sl_loop_stop(l);
}

static void
shot_init(struct shot *s, int id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	sl_timer_init(&s->t, shot_fn, s);
}

static void
timer_fires_once_not_before_its_deadline(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct shot s;
	uint64_t added_ms;

	(void)state;
	shot_init(&s, 1);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &s.t, 5);
	added_ms = sl_loop_now_ms(l);
	sl_loop_timer_add(l, &guard, 30);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, s.count);
	assert_true(s.fired_ms >= added_ms + 5);
	assert_false(sl_timer_is_pending(&s.t));
	sl_loop_destroy(l);
}

static void
timer_cancel_prevents_firing(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct shot s;

	(void)state;
	shot_init(&s, 1);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &s.t, 5);
	sl_loop_timer_add(l, &guard, 20);
	sl_loop_timer_cancel(l, &s.t);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(0, s.count);
	assert_false(sl_timer_is_pending(&s.t));
	sl_loop_destroy(l);
}

static void
timer_fires_after_an_earlier_timer_was_cancelled(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_timer guard;
	struct shot early, late;
	uint64_t added_ms;

	(void)state;
	shot_init(&early, 1);
	shot_init(&late, 2);
	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &early.t, 3);
	sl_loop_timer_add(l, &late.t, 12);
	added_ms = sl_loop_now_ms(l);
	sl_loop_timer_add(l, &guard, 40);
	sl_loop_timer_cancel(l, &early.t);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(0, early.count);
	assert_int_equal(1, late.count);
	assert_true(late.fired_ms >= added_ms + 12);
	sl_loop_destroy(l);
}

static void
timers_fire_in_expiry_order(void **state)
{
	struct sl_loop *l = loop_new();
	struct trace tr = {0};
	struct shot s30, s10, s20;

	(void)state;
	shot_init(&s30, 30);
	shot_init(&s10, 10);
	shot_init(&s20, 20);
	s30.trace = s10.trace = s20.trace = &tr;
	s30.stop_after = 1;
	sl_loop_timer_add(l, &s30.t, 30);
	sl_loop_timer_add(l, &s10.t, 10);
	sl_loop_timer_add(l, &s20.t, 20);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(3, tr.n);
	assert_int_equal(10, tr.ev[0]);
	assert_int_equal(20, tr.ev[1]);
	assert_int_equal(30, tr.ev[2]);
	sl_loop_destroy(l);
}

static void
timer_readded_from_its_callback_fires_again(void **state)
{
	struct sl_loop *l = loop_new();
	struct shot s;

	(void)state;
	shot_init(&s, 1);
	s.rearm = 2;
	s.stop_after = 3;
	sl_loop_timer_add(l, &s.t, 2);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(3, s.count);
	assert_false(sl_timer_is_pending(&s.t));
	sl_loop_destroy(l);
}

static void
timer_beyond_one_wheel_revolution_waits_for_its_expiry(void **state)
{
	struct sl_loop *l = loop_new_opts((struct sl_loop_opts){.tick_ms = 1});
	struct trace tr = {0};
	struct shot far, near;
	uint64_t added_ms;

	(void)state;
	shot_init(&far, 2);
	shot_init(&near, 1);
	far.trace = near.trace = &tr;
	far.stop_after = 1;
	/* 4096 slots of 1 ms: 4100 ms shares a slot with 4 ms, one revolution later */
	sl_loop_timer_add(l, &far.t, 4100);
	added_ms = sl_loop_now_ms(l);
	sl_loop_timer_add(l, &near.t, 4);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(2, tr.n);
	assert_int_equal(1, tr.ev[0]);
	assert_int_equal(2, tr.ev[1]);
	assert_true(far.fired_ms >= added_ms + 4100);
	sl_loop_destroy(l);
}

/* A timer of a wave that all pass at once: logs its id, pokes a pair at the first firing. */
struct wave {
	struct sl_timer t;
	int id;
	struct trace *trace;
	int *fired;        /* shared count of the wave's firings */
	int stop_at;       /* stop the loop when *fired reaches this */
	struct pair *poke; /* written by the first firing of the wave, then NULL for all */
	unsigned slow_us;  /* the first firing also takes this long (a slow callback) */
	struct wave *all;  /* the wave, to clear poke and slow_us in every member */
	int n;
};

static void
wave_fn(struct sl_loop *l, struct sl_timer *t)
{
	struct wave *w = t->data;

	trace_add(w->trace, w->id);
	if (w->poke != NULL)
		pair_send(w->poke);
	if (w->slow_us != 0)
		usleep(w->slow_us);
	for (int i = 0; i < w->n; i++) {
		w->all[i].poke = NULL;
		w->all[i].slow_us = 0;
	}
	if (++*w->fired == w->stop_at)
		sl_loop_stop(l);
}

static void
wave_init(struct wave *all, int n, struct trace *tr, int *fired)
{
	for (int i = 0; i < n; i++) {
		memset(&all[i], 0, sizeof(all[i]));
		all[i].id = i + 1;
		all[i].trace = tr;
		all[i].fired = fired;
		all[i].stop_at = n;
		all[i].all = all;
		all[i].n = n;
		sl_timer_init(&all[i].t, wave_fn, &all[i]);
	}
}

static void
record_io_and_drain(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	char c;

	(void)l;
	(void)events;
	assert_int_equal(1, read(io->fd, &c, 1));
	trace_add(io->data, 0);
}

static void
timers_past_the_budget_run_after_io_made_ready_meanwhile(void **state)
{
	struct sl_loop *l = loop_new_opts((struct sl_loop_opts){.max_timers = 4});
	struct trace tr = {0};
	struct wave w[10];
	struct pair p;
	struct sl_io io;
	int fired = 0, io_at = -1;

	(void)state;
	pair_open(&p);
	sl_io_init(&io, p.fd[0], record_io_and_drain, &tr);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	wave_init(w, 10, &tr, &fired);
	for (int i = 0; i < 10; i++) {
		w[i].poke = &p;
		sl_loop_timer_add(l, &w[i].t, 2); /* one tick: all due in the same iteration */
	}

	assert_int_equal(0, sl_loop_run(l));

	/* the first timer made the io ready: it ran after the budget of 4, before the other 6 */
	assert_int_equal(11, tr.n);
	for (int i = 0; i < tr.n; i++)
		if (tr.ev[i] == 0)
			io_at = i;
	assert_int_equal(4, io_at);
	assert_int_equal(10, fired);
	for (int i = 0; i < 10; i++)
		assert_false(sl_timer_is_pending(&w[i].t));
	sl_loop_io_del(l, &io);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
timers_past_the_budget_fire_before_a_later_tick_due_with_them(void **state)
{
	struct sl_loop *l = loop_new_opts((struct sl_loop_opts){.max_timers = 4});
	struct trace tr = {0};
	struct wave w[7];
	int fired = 0;

	(void)state;
	wave_init(w, 7, &tr, &fired);
	for (int i = 0; i < 6; i++) {
		/* the first of them to fire is slow: the 7th's tick passes meanwhile */
		w[i].slow_us = 20000;
		sl_loop_timer_add(l, &w[i].t, 2);
	}
	sl_loop_timer_add(l, &w[6].t, 5);

	assert_int_equal(0, sl_loop_run(l));

	/* 4, then the other 2 of the first tick, then the later one, though all were due */
	assert_int_equal(7, tr.n);
	assert_int_equal(7, tr.ev[6]);
	assert_int_equal(7, fired);
	sl_loop_destroy(l);
}

/* ---- defers ---- */

struct step {
	struct sl_defer d;
	struct sl_io io;
	int id;
	struct trace *trace;
	struct step *then;   /* defer this one from the callback */
	struct pair *poke;   /* write to this pair from the callback */
	struct step *defer1; /* io callback: defer these */
	struct step *defer2;
	bool stop;
};

static void
step_defer_fn(struct sl_loop *l, struct sl_defer *d)
{
	struct step *s = d->data;

	trace_add(s->trace, s->id);
	if (s->then != NULL)
		sl_loop_defer(l, &s->then->d);
	if (s->poke != NULL)
		pair_send(s->poke);
	if (s->stop)
		sl_loop_stop(l);
}

static void
step_io_fn(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	struct step *s = io->data;

	(void)events;
	trace_add(s->trace, s->id);
	if (s->defer1 != NULL)
		sl_loop_defer(l, &s->defer1->d);
	if (s->defer2 != NULL)
		sl_loop_defer(l, &s->defer2->d);
}

static void
step_init(struct step *s, int id, struct trace *tr)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->trace = tr;
	sl_defer_init(&s->d, step_defer_fn, s);
}

static void
defers_run_after_the_whole_batch_in_fifo_order(void **state)
{
	struct sl_loop *l = loop_new();
	struct trace tr = {0};
	struct step ioa, iob, d1, d2;
	struct pair pa, pb;

	(void)state;
	pair_open(&pa);
	pair_open(&pb);
	step_init(&ioa, 100, &tr);
	step_init(&iob, 100, &tr);
	step_init(&d1, 1, &tr);
	step_init(&d2, 2, &tr);
	/* whichever io runs first queues both defers; they must wait for the other io */
	ioa.defer1 = iob.defer1 = &d1;
	ioa.defer2 = iob.defer2 = &d2;
	d2.stop = true;
	sl_io_init(&ioa.io, pa.fd[0], step_io_fn, &ioa);
	sl_io_init(&iob.io, pb.fd[0], step_io_fn, &iob);
	assert_int_equal(0, sl_loop_io_add(l, &ioa.io, SL_IO_READ));
	assert_int_equal(0, sl_loop_io_add(l, &iob.io, SL_IO_READ));
	pair_send(&pa);
	pair_send(&pb);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(4, tr.n);
	assert_int_equal(100, tr.ev[0]);
	assert_int_equal(100, tr.ev[1]);
	assert_int_equal(1, tr.ev[2]);
	assert_int_equal(2, tr.ev[3]);
	sl_loop_io_del(l, &ioa.io);
	sl_loop_io_del(l, &iob.io);
	pair_close(&pa);
	pair_close(&pb);
	sl_loop_destroy(l);
}

static void
defer_queued_by_a_defer_runs_in_the_next_iteration(void **state)
{
	struct sl_loop *l = loop_new();
	struct trace tr = {0};
	struct step io, d1, d2, d3;
	struct pair p;

	(void)state;
	pair_open(&p);
	step_init(&io, 100, &tr);
	step_init(&d1, 1, &tr);
	step_init(&d2, 2, &tr);
	step_init(&d3, 3, &tr);
	/* d1 makes the io ready and queues d3: the io of the next iteration runs before d3 */
	d1.then = &d3;
	d1.poke = &p;
	d3.stop = true;
	sl_io_init(&io.io, p.fd[0], step_io_fn, &io);
	assert_int_equal(0, sl_loop_io_add(l, &io.io, SL_IO_READ));
	sl_loop_defer(l, &d1.d);
	sl_loop_defer(l, &d2.d);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(4, tr.n);
	assert_int_equal(1, tr.ev[0]);
	assert_int_equal(2, tr.ev[1]);
	assert_int_equal(100, tr.ev[2]);
	assert_int_equal(3, tr.ev[3]);
	sl_loop_io_del(l, &io.io);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
defer_cancel_prevents_running(void **state)
{
	struct sl_loop *l = loop_new();
	struct trace tr = {0};
	struct step d1, d2, d3;

	(void)state;
	step_init(&d1, 1, &tr);
	step_init(&d2, 2, &tr);
	step_init(&d3, 3, &tr);
	d3.stop = true;
	sl_loop_defer(l, &d1.d);
	sl_loop_defer(l, &d2.d);
	sl_loop_defer(l, &d3.d);
	sl_loop_defer_cancel(l, &d2.d);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(2, tr.n);
	assert_int_equal(1, tr.ev[0]);
	assert_int_equal(3, tr.ev[1]);
	assert_false(d2.d.queued);
	sl_loop_destroy(l);
}

/* ---- wake and stop ---- */

struct waker {
	struct sl_loop *l;
	int message; /* plain: written before sl_loop_wake(), read by the wake fn */
	int seen;
};

static void *
waker_main(void *arg)
{
	struct waker *w = arg;

	w->message = 42;
	assert_int_equal(0, sl_loop_wake(w->l));
	return NULL;
}

static void
record_and_stop_wake_fn(struct sl_loop *l, void *arg)
{
	struct waker *w = arg;

	w->seen = w->message;
	sl_loop_stop(l);
}

static void
wake_from_another_thread_runs_wake_fn_on_loop(void **state)
{
	struct waker w = {.l = loop_new()};
	pthread_t th;

	(void)state;
	sl_loop_set_wake_fn(w.l, record_and_stop_wake_fn, &w);
	assert_int_equal(0, pthread_create(&th, NULL, waker_main, &w));

	assert_int_equal(0, sl_loop_run(w.l));

	assert_int_equal(0, pthread_join(th, NULL));
	assert_int_equal(42, w.seen);
	sl_loop_destroy(w.l);
}

static void
stop_defer_fn(struct sl_loop *l, struct sl_defer *d)
{
	int *ran = d->data;

	(*ran)++;
	sl_loop_stop(l);
}

static void
stop_makes_run_return(void **state)
{
	struct sl_loop *l = loop_new();
	struct sl_defer d;
	int ran = 0;

	(void)state;
	sl_defer_init(&d, stop_defer_fn, &ran);
	sl_loop_defer(l, &d);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, ran);
	sl_loop_destroy(l);
}

/* ---- epoch participation ---- */

/* The "free" of a retired bool: sets it. */
static void
mark_bool(void *p)
{
	*(bool *)p = true;
}

struct held {
	struct sl_epoch *d;
	struct sl_defer same, next;
	bool freed;        /* the retired object */
	size_t pending[3]; /* sl_epoch_reclaim() in the callback, the same and the next iteration */
};

static void
held_next(struct sl_loop *l, struct sl_defer *d)
{
	struct held *h = d->data;

	h->pending[2] = sl_epoch_reclaim(h->d);
	sl_loop_stop(l);
}

static void
held_same(struct sl_loop *l, struct sl_defer *d)
{
	struct held *h = d->data;

	h->pending[1] = sl_epoch_reclaim(h->d);
	sl_loop_defer(l, &h->next); /* queued by a defer: runs in the next iteration */
}

static void
held_timer(struct sl_loop *l, struct sl_timer *t)
{
	struct held *h = t->data;

	assert_int_equal(0, sl_epoch_retire(h->d, &h->freed, mark_bool));
	h->pending[0] = sl_epoch_reclaim(h->d);
	sl_loop_defer(l, &h->same);
}

static void
loop_stays_online_through_an_iteration_and_is_quiescent_between_them(void **state)
{
	struct sl_loop *l = loop_new();
	struct held h = {0};
	struct sl_timer t;
	bool after = false;

	(void)state;
	assert_int_equal(0, sl_epoch_create(&h.d, &(struct sl_epoch_opts){.participants = 1}));
	sl_loop_set_epoch(l, h.d, 0);
	sl_timer_init(&t, held_timer, &h);
	sl_defer_init(&h.same, held_same, &h);
	sl_defer_init(&h.next, held_next, &h);
	sl_loop_timer_add(l, &t, 1);

	assert_int_equal(0, sl_loop_run(l));

	assert_int_equal(1, h.pending[0]); /* retired inside a callback: the loop may hold it */
	assert_int_equal(1, h.pending[1]); /* the same iteration */
	assert_int_equal(0, h.pending[2]); /* the next one: a quiescent point came between */
	assert_true(h.freed);
	/* and after sl_loop_run() returned the loop is offline: a retire frees at once */
	assert_int_equal(0, sl_epoch_retire(h.d, &after, mark_bool));
	assert_true(after);
	sl_epoch_destroy(h.d);
	sl_loop_destroy(l);
}

struct idle {
	struct sl_loop *l;
	struct sl_defer first;
	atomic_bool ran; /* the loop ran its first iteration */
	bool stopped;
};

static void
idle_first(struct sl_loop *l, struct sl_defer *d)
{
	struct idle *i = d->data;

	(void)l;
	atomic_store(&i->ran, true);
}

static void
idle_stop_wake_fn(struct sl_loop *l, void *arg)
{
	struct idle *i = arg;

	i->stopped = true;
	sl_loop_stop(l);
}

static void *
idle_main(void *arg)
{
	struct idle *i = arg;

	assert_int_equal(0, sl_loop_run(i->l));
	return NULL;
}

/* Reclaims until nothing waits, up to about 10 s; returns how many still wait. */
static size_t
reclaim_within(struct sl_epoch *d)
{
	const struct timespec pause = {.tv_nsec = 1000000};
	size_t left = 1;

	for (int k = 0; k < 10000 && (left = sl_epoch_reclaim(d)) != 0; k++)
		nanosleep(&pause, NULL);
	return left;
}

static void
loop_blocked_in_its_wait_holds_no_reclamation_back(void **state)
{
	const struct timespec pause = {.tv_nsec = 1000000};
	struct idle i = {.l = loop_new()};
	bool first = false, second = false;
	struct sl_epoch *d;
	pthread_t th;

	(void)state;
	assert_int_equal(0, sl_epoch_create(&d, &(struct sl_epoch_opts){.participants = 1}));
	sl_loop_set_epoch(i.l, d, 0);
	sl_loop_set_wake_fn(i.l, idle_stop_wake_fn, &i);
	atomic_init(&i.ran, false);
	sl_defer_init(&i.first, idle_first, &i);
	sl_loop_defer(i.l, &i.first);
	assert_int_equal(0, pthread_create(&th, NULL, idle_main, &i));
	for (int k = 0; k < 10000 && !atomic_load(&i.ran); k++)
		nanosleep(&pause, NULL);
	assert_true(atomic_load(&i.ran));

	/* no io, no timer: the loop goes into an unbounded wait. Once <first> is freed the loop
	 * has passed its last quiescent point before that wait; only its being offline there can
	 * let <second> go, since it runs no further iteration until woken. */
	assert_int_equal(0, sl_epoch_retire(d, &first, mark_bool));
	assert_int_equal(0, reclaim_within(d));
	assert_int_equal(0, sl_epoch_retire(d, &second, mark_bool));
	assert_int_equal(0, reclaim_within(d));
	assert_true(first);
	assert_true(second);

	assert_int_equal(0, sl_loop_wake(i.l));
	assert_int_equal(0, pthread_join(th, NULL));
	assert_true(i.stopped);
	sl_epoch_destroy(d);
	sl_loop_destroy(i.l);
}

/* ---- completion ops (io_uring; epoll refuses them) ---- */

struct opt {
	struct sl_op op;
	int res[4];
	int n;
	int resubmit_fd; /* >= 0: the callback submits a recv on it again, once */
	char buf[64];
};

static void
opt_done(struct sl_loop *l, struct sl_op *op, int res)
{
	struct opt *o = op->data;

	if (o->n < 4)
		o->res[o->n] = res;
	o->n++;
	if (o->resubmit_fd >= 0) {
		int fd = o->resubmit_fd;

		o->resubmit_fd = -1;
		assert_int_equal(0, sl_loop_recv(l, op, fd, o->buf, sizeof(o->buf)));
		return;
	}
	sl_loop_stop(l);
}

static void
opt_init(struct opt *o)
{
	memset(o, 0, sizeof(*o));
	o->resubmit_fd = -1;
	sl_op_init(&o->op, opt_done, o);
}

/* Runs <l> until <o> saw <n> completions (or a guard of <ms>). */
static void
opt_run_ms(struct sl_loop *l, struct opt *o, int n, uint64_t ms)
{
	struct sl_timer guard;

	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &guard, ms);
	for (int i = 0; i < 100 && o->n < n && sl_timer_is_pending(&guard); i++)
		assert_int_equal(0, sl_loop_run(l));
	sl_loop_timer_cancel(l, &guard);
}

static void
opt_run(struct sl_loop *l, struct opt *o, int n)
{
	opt_run_ms(l, o, n, 10000);
}

static void
recv_and_send_ops_complete_with_what_they_moved(void **state)
{
	struct sl_loop *l = loop_new();
	struct opt rx, tx;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	opt_init(&tx);
	err = sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf));
	/* the capability query agrees with what the calls do */
	assert_int_equal(test_runtime != SL_LOOP_EPOLL, sl_loop_has_ops(l));
	if (test_runtime == SL_LOOP_EPOLL) {
		assert_int_equal(-EOPNOTSUPP, err);
		assert_int_equal(-EOPNOTSUPP, sl_loop_send(l, &tx.op, p.fd[1], "hello", 5));
		assert_int_equal(-EOPNOTSUPP, sl_loop_op_cancel(l, &rx.op));
		goto out;
	}
	assert_int_equal(0, err);
	assert_true(rx.op.busy);
	assert_int_equal(-EBUSY, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, sl_loop_send(l, &tx.op, p.fd[1], "hello", 5));

	opt_run(l, &rx, 1);
	opt_run(l, &tx, 1);

	assert_int_equal(1, rx.n);
	assert_int_equal(5, rx.res[0]);
	assert_memory_equal("hello", rx.buf, 5);
	assert_int_equal(1, tx.n);
	assert_int_equal(5, tx.res[0]);
	assert_false(rx.op.busy);
out:
	pair_close(&p);
	sl_loop_destroy(l);
}

/* A loop for the completion-op tests, which need io_uring: on epoll the test is skipped (epoll
 * refuses the ops: recv_and_send_ops_complete_with_what_they_moved()). */
static struct sl_loop *
op_loop_new_opts(struct sl_loop_opts o)
{
	if (test_runtime == SL_LOOP_EPOLL)
		skip();
	return loop_new_opts(o);
}

static struct sl_loop *
op_loop_new(void)
{
	return op_loop_new_opts((struct sl_loop_opts){0});
}

static void
recv_op_reports_eof_as_zero(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, shutdown(p.fd[1], SHUT_WR));

	opt_run(l, &rx, 1);

	assert_int_equal(1, rx.n);
	assert_int_equal(0, rx.res[0]);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
cancelled_op_still_calls_back_once_with_ecanceled(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, sl_loop_op_cancel(l, &rx.op));

	opt_run(l, &rx, 1);
	/* nothing more comes: data sent now finds no recv */
	pair_send(&p);
	opt_run(l, &rx, 2);

	assert_int_equal(1, rx.n);
	assert_int_equal(-ECANCELED, rx.res[0]);
	assert_false(rx.op.busy);
	/* an op that is not in flight: cancel is a no-op */
	assert_int_equal(0, sl_loop_op_cancel(l, &rx.op));
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
settle_cancels_every_op_in_flight_and_runs_its_callback(void **state)
{
	struct sl_loop *l = loop_new();
	struct opt rx, again;
	struct pair p, q;

	(void)state;
	if (test_runtime == SL_LOOP_EPOLL) {
		assert_int_equal(0, sl_loop_settle(l, 0)); /* none can be in flight */
		sl_loop_destroy(l);
		return;
	}
	pair_open(&p);
	pair_open(&q);
	opt_init(&rx);
	opt_init(&again);
	again.resubmit_fd = q.fd[0]; /* its callback submits it again: that one ends too */
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, sl_loop_recv(l, &again.op, q.fd[0], again.buf, sizeof(again.buf)));
	opt_run_ms(l, &rx, 1, 20); /* in the kernel now, nothing to read */
	assert_int_equal(0, rx.n);

	assert_int_equal(0, sl_loop_settle(l, 5000));

	assert_int_equal(1, rx.n);
	assert_int_equal(-ECANCELED, rx.res[0]);
	assert_false(rx.op.busy);
	assert_int_equal(2, again.n);
	assert_int_equal(-ECANCELED, again.res[0]);
	assert_int_equal(-ECANCELED, again.res[1]);
	assert_false(again.op.busy);
	/* and nothing reads the sockets any more */
	pair_send(&p);
	assert_int_equal(1, recv(p.fd[0], rx.buf, sizeof(rx.buf), MSG_DONTWAIT));
	pair_close(&p);
	pair_close(&q);
	sl_loop_destroy(l);
}

static void
destroyed_loop_leaves_the_buffer_of_a_recv_in_flight_alone(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct pollfd pfd;
	struct opt *rx = malloc(sizeof(*rx));
	struct pair p;
	char got[8];

	(void)state;
	assert_non_null(rx);
	pair_open(&p);
	opt_init(rx);
	memset(rx->buf, 'a', sizeof(rx->buf));
	assert_int_equal(0, sl_loop_recv(l, &rx->op, p.fd[0], rx->buf, sizeof(rx->buf)));
	opt_run_ms(l, rx, 1, 20); /* in the kernel now */
	assert_int_equal(0, rx->n);

	sl_loop_destroy(l);
	assert_int_equal(5, write(p.fd[1], "hello", 5));

	/* the bytes wait in the socket: no recv of the gone ring took them */
	pfd = (struct pollfd){.fd = p.fd[0], .events = POLLIN};
	assert_int_equal(1, poll(&pfd, 1, 5000));
	assert_int_equal(5, recv(p.fd[0], got, sizeof(got), MSG_DONTWAIT));
	assert_memory_equal("hello", got, 5);
	for (size_t i = 0; i < sizeof(rx->buf); i++)
		assert_int_equal('a', rx->buf[i]);
	assert_int_equal(0, rx->n);
	free(rx);
	pair_close(&p);
}

static void
op_submitted_again_from_its_callback_completes_again(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	rx.resubmit_fd = p.fd[0];
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	pair_send(&p);
	opt_run(l, &rx, 1);
	pair_send(&p);
	opt_run(l, &rx, 2);

	assert_int_equal(2, rx.n);
	assert_int_equal(1, rx.res[0]);
	assert_int_equal(1, rx.res[1]);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
send_recv_pair_calls_back_once_with_the_reply(void **state)
{
	struct sl_loop *l = loop_new();
	struct opt o;
	struct pair p;
	char got[5];
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&o);
	opt_run_ms(l, &o, 1, 1); /* a ring submits once its loop ran */
	err = sl_loop_send_recv(l, &o.op, p.fd[0], "hello", 5, p.fd[0], o.buf, sizeof(o.buf));
	/* refused on epoll; io_uring needs Linux 6.0 for it, as the test machines have */
	assert_int_equal(test_runtime == SL_LOOP_EPOLL ? -EOPNOTSUPP : 0, err);
	if (err != 0)
		goto out;
	/* the peer reads the request, then replies: the one callback carries the reply */
	opt_run_ms(l, &o, 1, 20); /* submits; nothing completes before the reply */
	assert_int_equal(0, o.n);
	for (int i = 0; i < 100 && recv(p.fd[1], got, 5, MSG_PEEK) < 5; i++)
		opt_run_ms(l, &o, 1, 20);
	assert_int_equal(5, recv(p.fd[1], got, 5, 0));
	assert_memory_equal("hello", got, 5);
	assert_int_equal(2, write(p.fd[1], "ok", 2));
	opt_run(l, &o, 1);

	assert_int_equal(1, o.n);
	assert_int_equal(2, o.res[0]);
	assert_int_equal(5, o.op.sent);
	assert_memory_equal("ok", o.buf, 2);
out:
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
send_recv_pair_reports_a_failed_send_and_no_recv(void **state)
{
	struct sl_loop *l = loop_new();
	struct opt o;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&o);
	assert_int_equal(0, shutdown(p.fd[0], SHUT_WR));
	opt_run_ms(l, &o, 1, 1);
	err = sl_loop_send_recv(l, &o.op, p.fd[0], "hello", 5, p.fd[0], o.buf, sizeof(o.buf));
	assert_int_equal(test_runtime == SL_LOOP_EPOLL ? -EOPNOTSUPP : 0, err);
	if (err != 0)
		goto out;
	opt_run(l, &o, 1);

	assert_int_equal(1, o.n);
	assert_int_equal(-ECANCELED, o.res[0]);
	assert_int_equal(-EPIPE, o.op.sent);
out:
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
poll_first_recv_completes_when_data_arrives_later(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	rx.op.flags = SL_OP_POLL_FIRST;
	rx.resubmit_fd = p.fd[0]; /* again, with the same hint, on a drained socket */
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	opt_run_ms(l, &rx, 1, 20); /* in the kernel, waiting: nothing to read */
	assert_int_equal(0, rx.n);
	pair_send(&p);
	opt_run(l, &rx, 1);
	pair_send(&p);
	opt_run(l, &rx, 2);

	assert_int_equal(2, rx.n);
	assert_int_equal(1, rx.res[0]);
	assert_int_equal(1, rx.res[1]);
	assert_false(rx.op.busy);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
poll_first_recv_takes_data_already_waiting(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	assert_int_equal(5, write(p.fd[1], "hello", 5));
	rx.op.flags = SL_OP_POLL_FIRST; /* a wrong guess: the wait finds the data at once */
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	opt_run(l, &rx, 1);

	assert_int_equal(1, rx.n);
	assert_int_equal(5, rx.res[0]);
	assert_memory_equal("hello", rx.buf, 5);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
poll_first_send_recv_pair_calls_back_with_the_reply(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt o;
	struct pair p;
	char got[5];

	(void)state;
	pair_open(&p);
	opt_init(&o);
	o.op.flags = SL_OP_POLL_FIRST;
	opt_run_ms(l, &o, 1, 1); /* a ring submits once its loop ran */
	assert_int_equal(
	        0, sl_loop_send_recv(l, &o.op, p.fd[0], "hello", 5, p.fd[0], o.buf, sizeof(o.buf)));
	opt_run_ms(l, &o, 1, 20);
	assert_int_equal(0, o.n);
	for (int i = 0; i < 100 && recv(p.fd[1], got, 5, MSG_PEEK) < 5; i++)
		opt_run_ms(l, &o, 1, 20);
	assert_int_equal(5, recv(p.fd[1], got, 5, 0));
	assert_int_equal(2, write(p.fd[1], "ok", 2));
	opt_run(l, &o, 1);

	assert_int_equal(1, o.n);
	assert_int_equal(2, o.res[0]);
	assert_int_equal(5, o.op.sent);
	assert_memory_equal("ok", o.buf, 2);
	pair_close(&p);
	sl_loop_destroy(l);
}

/* Whether the peer of <fd> sees its end closed within <ms>. */
static bool
peer_sees_close(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
	char c;

	return poll(&pfd, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void
file_added_fd_carries_ops_and_its_close_waits_for_the_del(void **state)
{
	struct sl_loop *l = loop_new();
	struct opt rx, tx;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	opt_init(&tx);
	err = sl_loop_file_add(l, p.fd[0]);
	if (test_runtime == SL_LOOP_EPOLL) {
		assert_int_equal(-EOPNOTSUPP, err);
		goto out;
	}
	assert_int_equal(0, err);
	assert_int_equal(-EEXIST, sl_loop_file_add(l, p.fd[0]));
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, sl_loop_send(l, &tx.op, p.fd[0], "hello", 5));
	pair_send(&p);
	opt_run(l, &rx, 1);
	opt_run(l, &tx, 1);
	assert_int_equal(1, rx.res[0]);
	assert_int_equal(5, tx.res[0]);
	assert_int_equal(5, recv(p.fd[1], rx.buf, sizeof(rx.buf), MSG_DONTWAIT));

	/* the ring's table holds the socket open past the close, until the del lets it go */
	assert_int_equal(0, close(p.fd[0]));
	assert_false(peer_sees_close(p.fd[1], 50));
	sl_loop_file_del(l, p.fd[0]);
	assert_true(peer_sees_close(p.fd[1], 5000));
	p.fd[0] = -1;
out:
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
file_slot_is_reused_only_once_the_ops_naming_it_have_ended(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.max_files = 1});
	struct opt rx;
	struct pair a, b;
	char got[8];

	(void)state;
	pair_open(&a);
	pair_open(&b);
	opt_init(&rx);
	assert_int_equal(0, sl_loop_file_add(l, a.fd[0]));
	assert_int_equal(-ENOSPC, sl_loop_file_add(l, b.fd[0]));
	assert_int_equal(0, sl_loop_recv(l, &rx.op, a.fd[0], rx.buf, sizeof(rx.buf)));
	opt_run_ms(l, &rx, 1, 20); /* in the kernel, on the slot */
	sl_loop_file_del(l, a.fd[0]);
	/* the recv in flight still names the slot */
	assert_int_equal(-ENOSPC, sl_loop_file_add(l, b.fd[0]));
	pair_send(&a);
	opt_run(l, &rx, 1);
	assert_int_equal(1, rx.res[0]);

	/* the slot now holds b's socket: ops on b reach b, not a */
	assert_int_equal(0, sl_loop_file_add(l, b.fd[0]));
	assert_int_equal(2, write(a.fd[1], "aa", 2));
	assert_int_equal(3, write(b.fd[1], "bbb", 3));
	assert_int_equal(0, sl_loop_recv(l, &rx.op, b.fd[0], rx.buf, sizeof(rx.buf)));
	opt_run(l, &rx, 2);
	assert_int_equal(2, rx.n);
	assert_int_equal(3, rx.res[1]);
	assert_memory_equal("bbb", rx.buf, 3);
	assert_int_equal(2, recv(a.fd[0], got, sizeof(got), MSG_DONTWAIT));
	sl_loop_file_del(l, b.fd[0]);
	pair_close(&a);
	pair_close(&b);
	sl_loop_destroy(l);
}

static void
loop_without_a_file_table_runs_ops_by_fd(void **state)
{
	/* as on a kernel that refuses the table */
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.max_files = -1});
	struct opt rx, tx;
	struct pair p;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	opt_init(&tx);
	assert_int_equal(-EOPNOTSUPP, sl_loop_file_add(l, p.fd[0]));
	sl_loop_file_del(l, p.fd[0]); /* nothing added: nothing to do */
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	assert_int_equal(0, sl_loop_send(l, &tx.op, p.fd[1], "hello", 5));
	opt_run(l, &rx, 1);
	opt_run(l, &tx, 1);
	assert_int_equal(5, rx.res[0]);
	assert_int_equal(5, tx.res[0]);
	assert_memory_equal("hello", rx.buf, 5);
	pair_close(&p);
	sl_loop_destroy(l);
}

/* What the process writes to stderr (the log) between err_capture_start() and _stop(). */
struct err_capture {
	FILE *f;
	int saved; /* the real stderr */
};

static void
err_capture_start(struct err_capture *c)
{
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(STDERR_FILENO, dup2(fileno(c->f), STDERR_FILENO));
}

/* Ends the capture: how many of its lines contain <text>. */
static int
err_capture_stop(struct err_capture *c, const char *text)
{
	char line[1024];
	int n = 0;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	rewind(c->f);
	while (fgets(line, sizeof(line), c->f) != NULL) {
		fputs(line, stderr); /* still shown with the test's output */
		n += strstr(line, text) != NULL;
	}
	fclose(c->f);
	return n;
}

/* More slots than the kernel's bound on a file table (IORING_MAX_FIXED_FILES, 1 << 20). */
#define FILES_REFUSED ((1 << 20) + 1)

static void
loop_whose_file_table_is_refused_says_so_once_and_runs_ops_by_fd(void **state)
{
	struct sl_loop_opts o = {.runtime = test_runtime, .max_files = FILES_REFUSED};
	struct err_capture c;
	struct sl_loop *l = NULL;
	struct rlimit rl;
	struct opt rx;
	struct pair p;
	int err, said;

	(void)state;
	if (test_runtime == SL_LOOP_EPOLL)
		skip(); /* no ring, no table */
	pair_open(&p);
	opt_init(&rx);
	/* liburing raises the fd limit on a refusal and asks again: put it back after */
	assert_int_equal(0, getrlimit(RLIMIT_NOFILE, &rl));
	err_capture_start(&c);
	err = sl_loop_create(&l, &o);
	if (err == 0) {
		(void)sl_loop_file_add(l, p.fd[0]);
		(void)sl_loop_file_add(l, p.fd[1]);
	}
	said = err_capture_stop(&c, "runs without registered files");
	assert_int_equal(0, setrlimit(RLIMIT_NOFILE, &rl));

	assert_int_equal(0, err);
	assert_int_equal(1, said);
	assert_int_equal(-EOPNOTSUPP, sl_loop_file_add(l, p.fd[0]));
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	pair_send(&p);
	opt_run(l, &rx, 1);
	assert_int_equal(1, rx.res[0]);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
loop_without_a_file_table_by_choice_says_nothing(void **state)
{
	struct sl_loop_opts o = {.runtime = test_runtime, .max_files = -1};
	struct err_capture c;
	struct sl_loop *l = NULL;
	struct pair p;
	int err, said, added = 0;

	(void)state;
	pair_open(&p);
	err_capture_start(&c);
	err = sl_loop_create(&l, &o);
	if (err == 0)
		added = sl_loop_file_add(l, p.fd[0]);
	said = err_capture_stop(&c, "registered");

	assert_int_equal(0, err);
	assert_int_equal(-EOPNOTSUPP, added);
	assert_int_equal(0, said);
	pair_close(&p);
	sl_loop_destroy(l);
}

/* ---- the ring's registered fd ---- */

struct reg_seen {
	bool during; /* sl__loop_uring_registered() inside the run */
	int runs;
};

static void
reg_check_fn(struct sl_loop *l, struct sl_timer *t)
{
	struct reg_seen *seen = t->data;

	seen->during = sl__loop_uring_registered(l);
	seen->runs++;
	sl_loop_stop(l);
}

/*
 * Every run enters through the ring fd registered with its thread, and gives the registration
 * back when it returns: a thread's table holds 16, and this thread runs 40 loops one after the
 * other, plus a second run of one loop. Without the give-back the 17th would find it full.
 */
static void
uring_runs_register_the_ring_and_give_it_back(void **state)
{
	(void)state;
	if (test_runtime == SL_LOOP_EPOLL)
		skip(); /* no ring */
	for (int i = 0; i < 40; i++) {
		struct sl_loop *l = loop_new();
		struct reg_seen seen = {0};
		struct sl_timer t;

		assert_false(sl__loop_uring_registered(l));
		sl_timer_init(&t, reg_check_fn, &seen);
		for (int run = 1; run <= (i == 0 ? 2 : 1); run++) {
			seen.during = false;
			sl_loop_timer_add(l, &t, 0);
			assert_int_equal(0, sl_loop_run(l));
			assert_int_equal(run, seen.runs);
			assert_true(seen.during);
			assert_false(sl__loop_uring_registered(l));
		}
		sl_loop_destroy(l);
	}
}

static void
full_file_table_is_said_once_per_loop(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.max_files = 1});
	struct err_capture c;
	int got[4], said;
	struct pair a, b;

	(void)state;
	pair_open(&a);
	pair_open(&b);
	err_capture_start(&c);
	got[0] = sl_loop_file_add(l, a.fd[0]);
	got[1] = sl_loop_file_add(l, a.fd[1]);
	got[2] = sl_loop_file_add(l, b.fd[0]);
	got[3] = sl_loop_file_add(l, b.fd[1]);
	said = err_capture_stop(&c, "registered-file slots are full");

	assert_int_equal(0, got[0]);
	assert_int_equal(-ENOSPC, got[1]);
	assert_int_equal(-ENOSPC, got[2]);
	assert_int_equal(-ENOSPC, got[3]);
	assert_int_equal(1, said);
	sl_loop_file_del(l, a.fd[0]);
	pair_close(&a);
	pair_close(&b);
	sl_loop_destroy(l);
}

static void
completion_and_readiness_of_one_wait_run_in_one_batch(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx;
	struct pair p, q;
	struct sl_io io;
	int count = 0;

	(void)state;
	pair_open(&p);
	pair_open(&q);
	opt_init(&rx);
	sl_io_init(&io, q.fd[0], count_and_stop_io, &count);
	assert_int_equal(0, sl_loop_io_add(l, &io, SL_IO_READ));
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	/* both ready before the loop waits: one wait reaps both, one run dispatches both */
	pair_send(&p);
	pair_send(&q);
	assert_int_equal(0, sl_loop_run(l)); /* each callback stops it: one iteration */

	assert_int_equal(1, rx.n);
	assert_int_equal(1, count);
	sl_loop_io_del(l, &io);
	pair_close(&p);
	pair_close(&q);
	sl_loop_destroy(l);
}

static int
use_epoll(void **state)
{
	(void)state;
	test_runtime = SL_LOOP_EPOLL;
	return 0;
}

static int
use_io_uring(void **state)
{
	(void)state;
	test_runtime = SL_LOOP_IO_URING;
	return 0;
}

/* ---- a listening socket's close ---- */

struct relisten {
	struct sl_io io;
	struct sockaddr_in addr;
	int rebind_err; /* 0: the port was free again inside the callback */
};

/* Deletes and closes the listening socket, then binds a new one to its port at once. */
static void
close_and_rebind_fn(struct sl_loop *l, struct sl_timer *t)
{
	struct relisten *r = t->data;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(0, sl_loop_io_del(l, &r->io));
	close(r->io.fd);
	assert_true(fd >= 0);
	r->rebind_err = bind(fd, (struct sockaddr *)&r->addr, sizeof(r->addr)) == 0 ? 0 : errno;
	if (r->rebind_err == 0)
		r->rebind_err = listen(fd, 1) == 0 ? 0 : errno;
	close(fd);
	sl_loop_stop(l);
}

static void
never_fires_io(struct sl_loop *l, struct sl_io *io, unsigned events)
{
	(void)l;
	(void)io;
	(void)events;
	fail_msg("nobody connects");
}

static void
io_level_listening_socket_closed_in_a_callback_frees_its_port_before_the_next_wait(void **state)
{
	struct sl_loop *l = loop_new();
	struct relisten r = {.rebind_err = -1};
	socklen_t len = sizeof(r.addr);
	struct sl_timer t;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	(void)state;
	assert_true(fd >= 0);
	r.addr.sin_family = AF_INET;
	r.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(0, bind(fd, (struct sockaddr *)&r.addr, sizeof(r.addr)));
	assert_int_equal(0, listen(fd, 8));
	assert_int_equal(0, getsockname(fd, (struct sockaddr *)&r.addr, &len));
	sl_io_init(&r.io, fd, never_fires_io, NULL);
	assert_int_equal(0, sl_loop_io_add(l, &r.io, SL_IO_READ | SL_IO_LEVEL));
	sl_timer_init(&t, close_and_rebind_fn, &r);
	sl_loop_timer_add(l, &t, 5); /* after a wait: the poll request is in the kernel */
	assert_int_equal(0, sl_loop_run(l));
	assert_int_equal(0, r.rebind_err);
	sl_loop_destroy(l);
}

/* ---- the provided-buffer group and the multishot recv ---- */

struct mt {
	struct sl_op op;
	char got[4096]; /* bytes in arrival order */
	size_t ngot;
	int calls, last; /* callbacks run; the result of the last one (it ended the recv) */
	bool ended;
	bool keep;              /* hold on to the buffers instead of putting them back */
	struct sl_buf *kept[8]; /* what <keep> held */
	int nkept;
};

static void
mt_done(struct sl_loop *l, struct sl_op *op, int res)
{
	struct mt *m = op->data;

	m->calls++;
	if (res > 0) {
		assert_non_null(op->buf);
		assert_int_equal(res, op->buf->len);
		assert_true(m->ngot + (size_t)res <= sizeof(m->got));
		memcpy(m->got + m->ngot, op->buf->data, (size_t)res);
		m->ngot += (size_t)res;
		if (m->keep && m->nkept < 8)
			m->kept[m->nkept++] = op->buf;
		else
			sl_loop_buf_put(l, op->buf);
	} else {
		assert_null(op->buf);
	}
	if (!op->busy) {
		m->ended = true;
		m->last = res;
	}
	sl_loop_stop(l);
}

static void
mt_init(struct mt *m)
{
	memset(m, 0, sizeof(*m));
	sl_op_init(&m->op, mt_done, m);
}

/* Runs <l> until <m> holds <n> bytes or ended (or a guard of 5 s). */
static void
mt_run(struct sl_loop *l, struct mt *m, size_t n)
{
	struct sl_timer guard;

	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &guard, 5000);
	for (int i = 0; i < 1000 && m->ngot < n && !m->ended && sl_timer_is_pending(&guard); i++)
		assert_int_equal(0, sl_loop_run(l));
	sl_loop_timer_cancel(l, &guard);
}

static void
multishot_recv_delivers_every_arrival_in_order_from_one_submission(void **state)
{
	struct sl_loop *l = loop_new_opts((struct sl_loop_opts){.bufs = 8});
	struct sl_loop_bufs_stats st;
	struct mt m;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	mt_init(&m);
	err = sl_loop_bufs_open(l, 16);
	if (test_runtime == SL_LOOP_EPOLL) {
		assert_int_equal(-EOPNOTSUPP, err);
		assert_int_equal(-EOPNOTSUPP, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));
		goto out;
	}
	if (err == -EOPNOTSUPP || err == -EINVAL)
		skip(); /* a kernel without buffer rings or multishot recv (before Linux 6.0) */
	assert_int_equal(0, err);
	assert_int_equal(0, sl_loop_bufs_open(l, 64)); /* again: the first size stays */
	assert_int_equal(16, sl_loop_bufs_size(l));
	assert_int_equal(0, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));
	assert_int_equal(-EBUSY, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));

	/* three arrivals, one of them larger than a buffer */
	for (int i = 0; i < 3; i++) {
		char msg[40];
		int n = snprintf(msg, sizeof(msg), "%d:abcdefghijklmnopqrstuvwxyz", i);

		assert_int_equal(n, write(p.fd[1], msg, (size_t)n));
		mt_run(l, &m, m.ngot + (size_t)n);
	}
	assert_int_equal(0, shutdown(p.fd[1], SHUT_WR));
	mt_run(l, &m, SIZE_MAX);
	sl_loop_bufs_stats(l, &st);

	assert_int_equal(84, m.ngot);
	assert_memory_equal("0:abcdefghijklmnopqrstuvwxyz1:abcdefghijklmnopqrstuvwxyz"
	                    "2:abcdefghijklmnopqrstuvwxyz",
	                    m.got, 84);
	assert_true(m.ended);
	assert_int_equal(0, m.last); /* EOF ends it */
	assert_false(m.op.busy);
	assert_int_equal(0, st.lent);
	assert_int_equal(8, st.count);
out:
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
multishot_recv_waits_for_a_put_back_buffer_when_the_group_is_empty(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.bufs = 2});
	struct sl_loop_bufs_stats st;
	struct mt m;
	struct pair p;

	(void)state;
	if (sl_loop_bufs_open(l, 4) != 0)
		skip(); /* a kernel without buffer rings or multishot recv (before Linux 6.0) */
	pair_open(&p);
	mt_init(&m);
	m.keep = true;
	assert_int_equal(0, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));
	/* 12 bytes: two 4-byte buffers take 8, the rest waits in the socket */
	assert_int_equal(12, write(p.fd[1], "abcdefghijkl", 12));
	mt_run(l, &m, 12);
	sl_loop_bufs_stats(l, &st);

	assert_int_equal(8, m.ngot);
	assert_int_equal(2, st.lent);
	assert_true(st.nobufs >= 1);
	assert_int_equal(1, st.parked);
	assert_true(m.op.busy); /* still armed, holding no buffer */

	/* one buffer back: the recv goes on with the next 4 bytes, none lost, none reordered */
	sl_loop_buf_put(l, m.kept[0]);
	mt_run(l, &m, 12);
	sl_loop_bufs_stats(l, &st);

	assert_int_equal(12, m.ngot);
	assert_memory_equal("abcdefghijkl", m.got, 12);
	assert_int_equal(0, st.parked);
	for (int i = 1; i < m.nkept; i++)
		sl_loop_buf_put(l, m.kept[i]);
	assert_int_equal(0, sl_loop_op_cancel(l, &m.op));
	mt_run(l, &m, SIZE_MAX);
	assert_true(m.ended);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
parked_multishot_recv_cancelled_calls_back_once_with_ecanceled(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.bufs = 1});
	struct sl_loop_bufs_stats st;
	struct mt m;
	struct pair p;

	(void)state;
	if (sl_loop_bufs_open(l, 4) != 0)
		skip(); /* a kernel without buffer rings or multishot recv (before Linux 6.0) */
	pair_open(&p);
	mt_init(&m);
	m.keep = true;
	assert_int_equal(0, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));
	assert_int_equal(8, write(p.fd[1], "abcdefgh", 8));
	mt_run(l, &m, 8);
	sl_loop_bufs_stats(l, &st);
	assert_int_equal(1, st.parked);

	assert_int_equal(0, sl_loop_op_cancel(l, &m.op));
	mt_run(l, &m, SIZE_MAX);
	sl_loop_bufs_stats(l, &st);

	assert_true(m.ended);
	assert_int_equal(-ECANCELED, m.last);
	assert_int_equal(2, m.calls); /* the 4 bytes, then the cancel */
	assert_int_equal(0, st.parked);
	/* the buffer coming back re-arms nothing */
	sl_loop_buf_put(l, m.kept[0]);
	assert_false(m.op.busy);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
loop_without_a_group_by_choice_refuses_multishot_recv(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.bufs = -1});
	struct mt m;
	struct pair p;

	(void)state;
	pair_open(&p);
	mt_init(&m);

	assert_int_equal(-EOPNOTSUPP, sl_loop_bufs_open(l, 4096));
	assert_int_equal(0, sl_loop_bufs_size(l));
	assert_int_equal(-EOPNOTSUPP, sl_loop_recv_multi(l, &m.op, p.fd[0], 0));
	assert_false(m.op.busy);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
quiet_send_that_all_goes_calls_back_with_the_next_wakeup(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct opt rx, tx;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	opt_init(&tx);
	err = sl_loop_send_quiet(l, &tx.op, p.fd[1], "hello", 5);
	if (err == -EOPNOTSUPP)
		skip(); /* a kernel before Linux 6.0 */
	assert_int_equal(0, err);
	/* the recv's completion is the wake-up that reports the send too */
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));

	opt_run(l, &rx, 1);
	opt_run(l, &tx, 1);

	assert_int_equal(1, tx.n);
	assert_int_equal(5, tx.res[0]);
	assert_int_equal(5, rx.res[0]);
	assert_memory_equal("hello", rx.buf, 5);
	pair_close(&p);
	sl_loop_destroy(l);
}

/*
 * Nothing else will wake the loop (the armed recv's peer says nothing more): a hurried quiet
 * send calls back at once, where an unhurried one waits for that wake-up (here the guard).
 */
static void
hurried_quiet_send_calls_back_without_another_wakeup(void **state)
{
	struct sl_loop *l = op_loop_new();
	struct sl_timer guard;
	struct opt rx, tx;
	struct pair p;
	int err;

	(void)state;
	pair_open(&p);
	opt_init(&rx);
	opt_init(&tx);
	assert_int_equal(0, sl_loop_recv(l, &rx.op, p.fd[0], rx.buf, sizeof(rx.buf)));
	err = sl_loop_send_quiet(l, &tx.op, p.fd[0], "hello", 5);
	if (err == -EOPNOTSUPP)
		skip(); /* a kernel before Linux 6.0 */
	assert_int_equal(0, err);
	sl_loop_op_hurry(l, &tx.op);
	sl_loop_op_hurry(l, &rx.op); /* not a quiet send: nothing to do */
	sl_timer_init(&guard, stop_timer_fn, NULL);
	sl_loop_timer_add(l, &guard, 10000);

	for (int i = 0; i < 100 && tx.n == 0 && sl_timer_is_pending(&guard); i++)
		assert_int_equal(0, sl_loop_run(l));

	assert_true(sl_timer_is_pending(&guard)); /* the callback came before the guard */
	sl_loop_timer_cancel(l, &guard);
	assert_int_equal(1, tx.n);
	assert_int_equal(5, tx.res[0]);
	assert_int_equal(0, rx.n);
	assert_int_equal(0, sl_loop_op_cancel(l, &rx.op));
	opt_run(l, &rx, 1);
	pair_close(&p);
	sl_loop_destroy(l);
}

static void
quiet_send_to_a_full_socket_calls_back_with_what_went(void **state)
{
	struct sl_loop *l = op_loop_new();
	static char big[1u << 20];
	struct opt tx;
	struct pair p;
	int sz = 4096, err;

	(void)state;
	pair_open(&p);
	opt_init(&tx);
	assert_int_equal(0, setsockopt(p.fd[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)));
	err = sl_loop_send_quiet(l, &tx.op, p.fd[1], big, sizeof(big));
	if (err == -EOPNOTSUPP)
		skip(); /* a kernel before Linux 6.0 */
	assert_int_equal(0, err);

	opt_run(l, &tx, 1);

	/* the socket took part (or nothing): the rest is the caller's to send */
	assert_int_equal(1, tx.n);
	assert_true(tx.res[0] == -EAGAIN || (tx.res[0] > 0 && tx.res[0] < (int)sizeof(big)));
	pair_close(&p);
	sl_loop_destroy(l);
}

/*
 * A multishot recv whose final completion (its EOF) came in the same batch as its last bytes: its
 * slot went back when that completion was taken, and an op submitted from the first callback
 * takes it. A cancel of the ended recv from that callback must leave the new op alone, which
 * sl_loop_settle() then cancels (it skipped an op marked cancelled by another's cancel, and
 * timed out).
 */
struct stale_cancel {
	struct mt m;
	struct opt *other;
	int other_fd;
	bool done;
};

static void
stale_cancel_done(struct sl_loop *l, struct sl_op *op, int res)
{
	struct stale_cancel *st = op->data;

	st->m.calls++;
	if (op->buf != NULL)
		sl_loop_buf_put(l, op->buf);
	if (!st->done && op->busy) {
		st->done = true;
		assert_int_equal(0, sl_loop_recv(l, &st->other->op, st->other_fd, st->other->buf,
		                                 sizeof(st->other->buf)));
		assert_int_equal(0, sl_loop_op_cancel(l, op));
	}
	if (!op->busy) {
		st->m.ended = true;
		st->m.last = res;
	}
}

static void
a_cancel_after_the_last_completion_leaves_the_slots_next_op_alone(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.bufs = 8});
	struct stale_cancel st;
	struct opt other;
	struct pair p, q;

	(void)state;
	if (sl_loop_bufs_open(l, 16) != 0)
		skip();
	pair_open(&p);
	pair_open(&q);
	memset(&st, 0, sizeof(st));
	opt_init(&other);
	st.other = &other;
	st.other_fd = q.fd[0];
	sl_op_init(&st.m.op, stale_cancel_done, &st);
	assert_int_equal(0, sl_loop_recv_multi(l, &st.m.op, p.fd[0], 0));
	run_for(l, 20); /* armed in the kernel */
	/* bytes and EOF: two completions, the second the last, in one harvest */
	assert_int_equal(3, write(p.fd[1], "abc", 3));
	assert_int_equal(0, shutdown(p.fd[1], SHUT_WR));
	usleep(20000);
	run_for(l, 50);
	assert_true(st.m.ended);
	assert_int_equal(0, other.n); /* nothing came for it, and no cancel reached it */
	assert_int_equal(0, sl_loop_settle(l, 2000));
	assert_int_equal(1, other.n);
	assert_int_equal(-ECANCELED, other.res[0]);
	pair_close(&p);
	pair_close(&q);
	sl_loop_destroy(l);
}

/*
 * As above, the new op a multishot recv that may not park: finding the group empty, it must end
 * with -ENOBUFS (its owner receives into a buffer of its own then), not with the -ECANCELED a
 * stray cancel mark turned it into (which its owner took for a hold, and never armed again).
 */
struct stale_nopark {
	struct sl_op op;
	struct mt *other;
	int other_fd;
	bool done;
	bool ended;
};

static void
stale_nopark_done(struct sl_loop *l, struct sl_op *op, int res)
{
	struct stale_nopark *st = op->data;

	(void)res;
	if (op->buf != NULL)
		sl_loop_buf_put(l, op->buf);
	if (!st->done && op->busy) {
		st->done = true;
		st->other->op.flags = SL_OP_NO_PARK;
		assert_int_equal(0, sl_loop_recv_multi(l, &st->other->op, st->other_fd, 0));
		assert_int_equal(0, sl_loop_op_cancel(l, op));
	}
	if (!op->busy)
		st->ended = true;
}

static void
a_cancel_after_the_last_completion_leaves_a_no_park_recvs_enobufs(void **state)
{
	struct sl_loop *l = op_loop_new_opts((struct sl_loop_opts){.bufs = 2});
	struct stale_nopark st;
	struct mt other;
	struct pair p, q;

	(void)state;
	if (sl_loop_bufs_open(l, 4) != 0)
		skip();
	pair_open(&p);
	pair_open(&q);
	memset(&st, 0, sizeof(st));
	mt_init(&other);
	other.keep = true;
	st.other = &other;
	st.other_fd = q.fd[0];
	sl_op_init(&st.op, stale_nopark_done, &st);
	assert_int_equal(0, sl_loop_recv_multi(l, &st.op, p.fd[0], 0));
	run_for(l, 20);
	assert_int_equal(3, write(p.fd[1], "abc", 3));
	assert_int_equal(0, shutdown(p.fd[1], SHUT_WR));
	usleep(20000);
	run_for(l, 50);
	assert_true(st.ended);
	/* more than the group's two buffers hold */
	assert_int_equal(12, write(q.fd[1], "abcdefghijkl", 12));
	mt_run(l, &other, SIZE_MAX);
	assert_true(other.ended);
	assert_int_equal(-ENOBUFS, other.last);
	for (int i = 0; i < other.nkept; i++)
		sl_loop_buf_put(l, other.kept[i]);
	pair_close(&p);
	pair_close(&q);
	sl_loop_destroy(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a_cancel_after_the_last_completion_leaves_the_slots_next_op_alone),
	        cmocka_unit_test(a_cancel_after_the_last_completion_leaves_a_no_park_recvs_enobufs),
	        cmocka_unit_test(io_callback_fires_on_socketpair_write),
	        cmocka_unit_test(io_fires_again_only_after_new_data),
	        cmocka_unit_test(io_del_in_callback_drops_other_io_pending_in_same_batch),
	        cmocka_unit_test(io_level_triggered_fires_on_every_wait_while_unread),
	        cmocka_unit_test(
	                io_level_listening_socket_closed_in_a_callback_frees_its_port_before_the_next_wait),
	        cmocka_unit_test(io_forget_in_callback_drops_other_io_pending_in_same_batch),
	        cmocka_unit_test(io_reports_hup_and_read_when_peer_closes),
	        cmocka_unit_test(io_drained_fd_fires_once_per_new_data),
	        cmocka_unit_test(
	                io_on_a_reused_fd_number_after_del_and_close_sees_only_its_own_events),
	        cmocka_unit_test(
	                io_on_a_reused_fd_number_after_forget_and_close_sees_only_its_own_events),
	        cmocka_unit_test(
	                forgotten_and_closed_fd_is_closed_for_the_peer_after_one_iteration),
	        cmocka_unit_test(deleted_fd_closed_before_del_is_closed_for_the_peer),
	        cmocka_unit_test(fd_forgotten_with_a_wakeup_pending_is_closed_for_the_peer),
	        cmocka_unit_test(fd_closed_by_the_last_callback_before_stop_is_closed_for_the_peer),
	        cmocka_unit_test(io_mod_from_read_to_write_reports_write_and_not_read),
	        cmocka_unit_test(io_add_twice_fails_with_eexist),
	        cmocka_unit_test(every_ready_io_is_reported_when_they_outnumber_batch_and_queues),
	        cmocka_unit_test(timer_fires_once_not_before_its_deadline),
	        cmocka_unit_test(timer_cancel_prevents_firing),
	        cmocka_unit_test(timer_fires_after_an_earlier_timer_was_cancelled),
	        cmocka_unit_test(timers_fire_in_expiry_order),
	        cmocka_unit_test(timer_readded_from_its_callback_fires_again),
	        cmocka_unit_test(timer_beyond_one_wheel_revolution_waits_for_its_expiry),
	        cmocka_unit_test(timers_past_the_budget_run_after_io_made_ready_meanwhile),
	        cmocka_unit_test(timers_past_the_budget_fire_before_a_later_tick_due_with_them),
	        cmocka_unit_test(defers_run_after_the_whole_batch_in_fifo_order),
	        cmocka_unit_test(defer_queued_by_a_defer_runs_in_the_next_iteration),
	        cmocka_unit_test(defer_cancel_prevents_running),
	        cmocka_unit_test(wake_from_another_thread_runs_wake_fn_on_loop),
	        cmocka_unit_test(stop_makes_run_return),
	        cmocka_unit_test(
	                loop_stays_online_through_an_iteration_and_is_quiescent_between_them),
	        cmocka_unit_test(loop_blocked_in_its_wait_holds_no_reclamation_back),
	        cmocka_unit_test(recv_and_send_ops_complete_with_what_they_moved),
	        cmocka_unit_test(recv_op_reports_eof_as_zero),
	        cmocka_unit_test(cancelled_op_still_calls_back_once_with_ecanceled),
	        cmocka_unit_test(settle_cancels_every_op_in_flight_and_runs_its_callback),
	        cmocka_unit_test(destroyed_loop_leaves_the_buffer_of_a_recv_in_flight_alone),
	        cmocka_unit_test(op_submitted_again_from_its_callback_completes_again),
	        cmocka_unit_test(completion_and_readiness_of_one_wait_run_in_one_batch),
	        cmocka_unit_test(send_recv_pair_calls_back_once_with_the_reply),
	        cmocka_unit_test(send_recv_pair_reports_a_failed_send_and_no_recv),
	        cmocka_unit_test(poll_first_recv_completes_when_data_arrives_later),
	        cmocka_unit_test(poll_first_recv_takes_data_already_waiting),
	        cmocka_unit_test(poll_first_send_recv_pair_calls_back_with_the_reply),
	        cmocka_unit_test(file_added_fd_carries_ops_and_its_close_waits_for_the_del),
	        cmocka_unit_test(file_slot_is_reused_only_once_the_ops_naming_it_have_ended),
	        cmocka_unit_test(loop_without_a_file_table_runs_ops_by_fd),
	        cmocka_unit_test(loop_whose_file_table_is_refused_says_so_once_and_runs_ops_by_fd),
	        cmocka_unit_test(loop_without_a_file_table_by_choice_says_nothing),
	        cmocka_unit_test(uring_runs_register_the_ring_and_give_it_back),
	        cmocka_unit_test(full_file_table_is_said_once_per_loop),
	        cmocka_unit_test(
	                multishot_recv_delivers_every_arrival_in_order_from_one_submission),
	        cmocka_unit_test(
	                multishot_recv_waits_for_a_put_back_buffer_when_the_group_is_empty),
	        cmocka_unit_test(parked_multishot_recv_cancelled_calls_back_once_with_ecanceled),
	        cmocka_unit_test(loop_without_a_group_by_choice_refuses_multishot_recv),
	        cmocka_unit_test(quiet_send_that_all_goes_calls_back_with_the_next_wakeup),
	        cmocka_unit_test(quiet_send_to_a_full_socket_calls_back_with_what_went),
	        cmocka_unit_test(hurried_quiet_send_calls_back_without_another_wakeup),
	};
	const struct CMUnitTest runtime_tests[] = {
	        cmocka_unit_test(unknown_runtime_is_rejected),
	        cmocka_unit_test(a_bufs_count_that_is_no_power_of_two_is_rejected),
	        cmocka_unit_test(auto_runtime_picks_io_uring_when_the_probe_succeeds),
	        cmocka_unit_test(runtime_names_parse_back),
	};
	int fails;

	/* every test on both runtimes: a kernel without io_uring fails the second group */
	fails = cmocka_run_group_tests_name("loop_epoll", tests, use_epoll, NULL);
	fails += cmocka_run_group_tests_name("loop_io_uring", tests, use_io_uring, NULL);
	fails += cmocka_run_group_tests_name("loop_runtime", runtime_tests, NULL, NULL);
	return fails;
}
