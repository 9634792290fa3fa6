// SPDX-License-Identifier: MIT
/*
 * sl_srctab: per-source connection counts and new-connection buckets, in a set-associative table
 * of 7-entry, 256-byte sets, each behind a test-and-test-and-set spinlock in its first line.
 * Shared fields: set.lock (any thread, atomics); everything else in a set is read and written only
 * by the thread holding set.lock. The table header is written only by sl_srctab_create().
 * Policy and reasons: docs/internals/srctab.md. Bucket arithmetic: src/core/tbucket.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include <sluice/srctab.h>

#include "net/srctab_int.h"

/*
 * One source. All zeroes is the fresh state of key 0 (::/prefix), so an unused entry needs no
 * marker: matching it for key 0 hands out a fresh entry, as inserting would. Keys in a set are
 * unique apart from unused all-zero entries, and key 0 only ever matches the first of those.
 */
struct entry {
	uint64_t key[2];          /* masked address; see sl__srctab_key() */
	struct sl_tbucket bucket; /* new connections */
	uint32_t conns;           /* live connections; > 0 pins the entry */
};
static_assert(sizeof(struct entry) == 32, "two entries per cache line");

struct set {
	_Atomic uint32_t lock; /* 0 free, 1 held */
	uint32_t pad;
	uint64_t inserts; /* statistics, under lock */
	uint64_t evictions;
	uint64_t table_full;
	struct entry e[SL_SRCTAB_WAYS];
} __attribute__((aligned(2 * SL_CACHELINE)));
static_assert(sizeof(struct set) == (size_t)4 * SL_CACHELINE, "a set is four cache lines");

/* A source's strikes and ban (a table made with o->ban), by entry index, under its set's lock. */
struct ban_state {
	uint64_t first_ns; /* the first strike of the current count */
	uint64_t until_ns; /* refused before this; 0 = never banned */
	uint32_t strikes;  /* strikes since first_ns; 0 = none */
};

struct sl_srctab {
	struct set *sets;
	/* with o->bandwidth: two byte buckets per entry, by entry index, under its set's lock */
	struct sl_tbucket (*bw)[2];
	/* with o->bandwidth: the rates each bw[] was last used under (a reload changes them) */
	struct sl_tbucket_as (*bw_as)[2];
	struct ban_state *ban; /* with o->ban */
	uint64_t *bans;        /* with o->ban: bans started, by set, under its lock */
	uint32_t nsets;
	uint32_t mask4; /* host order */
	uint64_t mask6[2];
	uint64_t seed[2]; /* SipHash key */
};

/* Spins before each sched_yield() while a set is held: the holder may have been preempted. */
#define SPINS_BEFORE_YIELD 128

/* a spin-wait hint: lets the sibling hyperthread run, saves power */
#if defined(__x86_64__) || defined(__i386__)
static inline void
cpu_relax(void)
{
	__builtin_ia32_pause();
}
#elif defined(__aarch64__)
static inline void
cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}
#else
static inline void
cpu_relax(void)
{
	__asm__ volatile("" ::: "memory");
}
#endif

static void
set_lock(struct set *s)
{
	unsigned spins = 0;

	for (;;) {
		/* A1: pairs with R1 in set_unlock(); the last holder's writes to the set are seen
		 */
		if (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire) == 0)
			return;
		/* relaxed: only says when to retry the exchange, which does the ordering */
		while (atomic_load_explicit(&s->lock, memory_order_relaxed) != 0) {
			if (++spins < SPINS_BEFORE_YIELD) {
				cpu_relax();
			} else {
				spins = 0;
				sched_yield();
			}
		}
	}
}

static void
set_unlock(struct set *s)
{
	/* R1: pairs with A1 in set_lock(); publishes this holder's writes to the set */
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

static uint64_t
be64_load(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
sl__srctab_key(const struct sl_srctab *t, const struct sl_addr *a, uint64_t key[2])
{
	const unsigned char *p;
	uint32_t v4;

	if (a->ss.ss_family == AF_INET6) {
		p = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
		if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)p)) {
			key[0] = be64_load(p) & t->mask6[0];
			key[1] = be64_load(p + 8) & t->mask6[1];
			return 0;
		}
		/* a dual-stack socket's IPv4 client: the same source as over AF_INET */
		p += 12;
	} else if (a->ss.ss_family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
	} else {
		return -EAFNOSUPPORT;
	}
	v4 = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	key[0] = 0;
	key[1] = 0xffff00000000ULL | (v4 & t->mask4);
	return 0;
}

static inline uint64_t
rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

/* SipHash-1-3 of the 16 bytes <key> (as two little-endian words), keyed by the table's seed */
uint64_t
sl__srctab_hash(const struct sl_srctab *t, const uint64_t key[2])
{
	uint64_t v0 = t->seed[0] ^ 0x736f6d6570736575ULL, v1 = t->seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = t->seed[0] ^ 0x6c7967656e657261ULL, v3 = t->seed[1] ^ 0x7465646279746573ULL;
	const uint64_t last = (uint64_t)16 << 56;

	for (int i = 0; i < 2; i++) {
		v3 ^= key[i];
		SIPROUND;
		v0 ^= key[i];
	}
	v3 ^= last;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

int
sl_srctab_create(struct sl_srctab **out, const struct sl_srctab_opts *o)
{
	unsigned p4 = o->prefix4 ? o->prefix4 : 32, p6 = o->prefix6 ? o->prefix6 : 64;
	struct sl_srctab *t;
	size_t nsets;
	ssize_t got;

	*out = NULL;
	if (o->capacity == 0 || o->capacity > SL_SRCTAB_MAX_CAPACITY || p4 > 32 || p6 > 128)
		return -EINVAL;
	nsets = (o->capacity + SL_SRCTAB_WAYS - 1) / SL_SRCTAB_WAYS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nsets = (uint32_t)nsets;
	t->mask4 = (uint32_t)(0xffffffffULL << (32 - p4));
	t->mask6[0] = p6 >= 64 ? UINT64_MAX : ~(UINT64_MAX >> p6);
	t->mask6[1] = p6 <= 64 ? 0 : p6 == 128 ? UINT64_MAX : ~(UINT64_MAX >> (p6 - 64));
	if (o->seed[0] != 0 || o->seed[1] != 0) {
		t->seed[0] = o->seed[0];
		t->seed[1] = o->seed[1];
	} else {
		got = getrandom(t->seed, sizeof(t->seed), 0);
		if (got != (ssize_t)sizeof(t->seed)) {
			int err = got == -1 ? -errno : -EIO;

			free(t);
			return err;
		}
	}
	t->sets = aligned_alloc(_Alignof(struct set), nsets * sizeof(struct set));
	if (!t->sets) {
		free(t);
		return -ENOMEM;
	}
	/* all zero: every lock free, every entry the fresh state of key 0 */
	memset(t->sets, 0, nsets * sizeof(struct set));
	/* all zero: full buckets, no strikes, no bans */
	if (o->bandwidth) {
		t->bw = calloc(nsets * SL_SRCTAB_WAYS, sizeof(t->bw[0]));
		t->bw_as = calloc(nsets * SL_SRCTAB_WAYS, sizeof(t->bw_as[0]));
	}
	if (o->ban) {
		t->ban = calloc(nsets * SL_SRCTAB_WAYS, sizeof(t->ban[0]));
		t->bans = calloc(nsets, sizeof(t->bans[0]));
	}
	if ((o->bandwidth && (!t->bw || !t->bw_as)) || (o->ban && (!t->ban || !t->bans))) {
		sl_srctab_destroy(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void
sl_srctab_destroy(struct sl_srctab *t)
{
	if (!t)
		return;
	free(t->bans);
	free(t->ban);
	free(t->bw);
	free(t->bw_as);
	free(t->sets);
	free(t);
}

/* maps the hash onto [0, nsets) by multiply-shift: any number of sets, no division */
static uint32_t
set_of(const struct sl_srctab *t, uint64_t h)
{
	return (uint32_t)(((unsigned __int128)h * t->nsets) >> 64);
}

static bool
debt_less(const struct entry *a, const struct entry *b)
{
	return a->bucket.tat < b->bucket.tat ||
	       (a->bucket.tat == b->bucket.tat && a->bucket.frac < b->bucket.frac);
}

/* the index of entry <e> of set <s>: what slots and the side arrays go by */
static uint32_t
entry_index(const struct sl_srctab *t, const struct set *s, const struct entry *e)
{
	return (uint32_t)(s - t->sets) * SL_SRCTAB_WAYS + (uint32_t)(e - s->e);
}

/* whether the source at entry index <k> is banned at <now> */
static bool
is_banned(const struct sl_srctab *t, uint32_t k, uint64_t now)
{
	return t->ban && t->ban[k].until_ns > now;
}

/* whether the entry at <k> remembers nothing a fresh entry would not */
static bool
is_stateless(const struct sl_srctab *t, const struct entry *e, uint32_t k, uint64_t now)
{
	return sl_tbucket_is_full(&e->bucket, now) &&
	       (!t->ban || (t->ban[k].strikes == 0 && t->ban[k].until_ns <= now));
}

/* the entry for <key> in <s>, or NULL. Caller holds the set's lock. */
static struct entry *
entry_find_locked(struct set *s, const uint64_t key[2])
{
	for (int i = 0; i < SL_SRCTAB_WAYS; i++)
		if (s->e[i].key[0] == key[0] && s->e[i].key[1] == key[1])
			return &s->e[i];
	return NULL;
}

/*
 * The entry of <s> a new source takes over: an idle entry that remembers nothing (*stateless
 * true), else the idle unbanned entry with the least rate debt, else the banned entry whose
 * ban ends first. NULL when every entry holds live connections. Caller holds the set's lock.
 */
static struct entry *
victim_locked(const struct sl_srctab *t, struct set *s, uint64_t now, bool *stateless)
{
	struct entry *e, *victim = NULL;
	bool victim_banned = false;
	uint32_t k;

	*stateless = false;
	for (int i = 0; i < SL_SRCTAB_WAYS; i++) {
		e = &s->e[i];
		k = entry_index(t, s, e);
		if (e->conns != 0)
			continue;
		if (is_stateless(t, e, k, now)) {
			*stateless = true;
			return e;
		}
		if (is_banned(t, k, now)) {
			/* a ban goes only if nothing else can: else an attacker's fresh addresses
			 * would flush its banned ones out */
			if (!victim ||
			    (victim_banned &&
			     t->ban[k].until_ns < t->ban[entry_index(t, s, victim)].until_ns)) {
				victim = e;
				victim_banned = true;
			}
		} else if (!victim || victim_banned || debt_less(e, victim)) {
			victim = e;
			victim_banned = false;
		}
	}
	return victim;
}

/* Gives <victim> of <s> to <key> as a fresh entry (an eviction unless <stateless>). Locked. */
static void
entry_take_locked(struct sl_srctab *t, struct set *s, struct entry *victim, const uint64_t key[2],
                  bool stateless)
{
	uint32_t k = entry_index(t, s, victim);

	if (!stateless)
		s->evictions++;
	s->inserts++;
	victim->key[0] = key[0];
	victim->key[1] = key[1];
	sl_tbucket_init(&victim->bucket);
	if (t->bw) {
		/* the new source starts with full byte buckets, like a fresh entry */
		sl_tbucket_init(&t->bw[k][0]);
		sl_tbucket_init(&t->bw[k][1]);
		t->bw_as[k][0] = t->bw_as[k][1] = (struct sl_tbucket_as){.rate = 0};
	}
	if (t->ban)
		t->ban[k] = (struct ban_state){0};
}

/*
 * The entry for <key> in <s>, taking one over if the key is new (victim_locked(), counted as
 * an eviction unless it remembered nothing). NULL when every entry holds live connections.
 * Caller holds the set's lock.
 */
static struct entry *
entry_get_locked(struct sl_srctab *t, struct set *s, const uint64_t key[2], uint64_t now)
{
	struct entry *e = entry_find_locked(s, key);
	bool stateless;

	if (e != NULL)
		return e;
	e = victim_locked(t, s, now, &stateless);
	if (e != NULL)
		entry_take_locked(t, s, e, key, stateless);
	return e;
}

int
sl_srctab_acquire(struct sl_srctab *t, const struct sl_addr *src,
                  const struct sl_srctab_limits *lim, uint64_t now_ns, struct sl_srctab_slot *slot)
{
	uint64_t key[2];
	uint32_t si;
	struct set *s;
	struct entry *e;
	int verdict = SL_SRCTAB_ALLOWED;

	if (sl__srctab_key(t, src, key) != 0)
		return -EAFNOSUPPORT;
	si = set_of(t, sl__srctab_hash(t, key));
	s = &t->sets[si];
	set_lock(s);
	e = entry_get_locked(t, s, key, now_ns);
	if (sl_unlikely(!e)) {
		/* fail closed: see "Every entry pinned" in docs/internals/srctab.md */
		s->table_full++;
		verdict = SL_SRCTAB_TABLE_FULL;
	} else if (lim->ban.strikes != 0 && is_banned(t, entry_index(t, s, e), now_ns)) {
		verdict = SL_SRCTAB_BANNED;
	} else if (lim->max_conns != 0 && e->conns >= lim->max_conns) {
		verdict = SL_SRCTAB_OVER_CONNS;
	} else if (!sl_tbucket_try_take(&e->bucket, &lim->rate, now_ns, 1)) {
		verdict = SL_SRCTAB_OVER_RATE;
	} else {
		e->conns++;
		slot->index = entry_index(t, s, e);
	}
	set_unlock(s);
	return verdict;
}

void
sl_srctab_release(struct sl_srctab *t, struct sl_srctab_slot slot)
{
	struct set *s = &t->sets[slot.index / SL_SRCTAB_WAYS];
	struct entry *e = &s->e[slot.index % SL_SRCTAB_WAYS];

	SL_ASSERT(slot.index / SL_SRCTAB_WAYS < t->nsets);
	set_lock(s);
	SL_ASSERT(e->conns > 0);
	e->conns--;
	set_unlock(s);
}

bool
sl_srctab_strike(struct sl_srctab *t, struct sl_srctab_slot slot, const struct sl_srctab_ban *ban,
                 uint64_t now_ns)
{
	struct set *s = &t->sets[slot.index / SL_SRCTAB_WAYS];
	struct ban_state *b;
	bool started = false;

	SL_ASSERT(slot.index / SL_SRCTAB_WAYS < t->nsets);
	if (!t->ban || ban->strikes == 0)
		return false;
	b = &t->ban[slot.index];
	set_lock(s);
	if (b->until_ns <= now_ns) { /* a strike while banned changes nothing */
		if (b->strikes == 0 || now_ns - b->first_ns >= ban->within_ns) {
			b->first_ns = now_ns;
			b->strikes = 0;
		}
		if (++b->strikes >= ban->strikes) {
			b->until_ns = now_ns + ban->duration_ns;
			b->strikes = 0;
			t->bans[slot.index / SL_SRCTAB_WAYS]++;
			started = true;
		}
	}
	set_unlock(s);
	return started;
}

/* key <key> as the prefix it stands for, into <*c> */
static void
key_cidr(const struct sl_srctab *t, const uint64_t key[2], struct sl_cidr *c)
{
	uint8_t bytes[16];

	for (int i = 0; i < 16; i++)
		bytes[i] = (uint8_t)(key[i / 8] >> (56 - 8 * (i % 8)));
	memset(c, 0, sizeof(*c));
	if (key[0] == 0 && key[1] >> 32 == 0xffff) { /* ::ffff:a.b.c.d: an IPv4 source */
		c->family = AF_INET;
		memcpy(c->addr, bytes + 12, 4);
		c->len = (uint8_t)__builtin_popcount(t->mask4);
		return;
	}
	c->family = AF_INET6;
	memcpy(c->addr, bytes, 16);
	c->len = (uint8_t)(__builtin_popcountll(t->mask6[0]) + __builtin_popcountll(t->mask6[1]));
}

size_t
sl_srctab_bans(struct sl_srctab *t, uint64_t now_ns, struct sl_srctab_banned *out, size_t max)
{
	size_t n = 0;

	if (!t->ban)
		return 0;
	for (uint32_t i = 0; i < t->nsets; i++) {
		struct set *s = &t->sets[i];

		set_lock(s);
		for (int w = 0; w < SL_SRCTAB_WAYS; w++) {
			const struct entry *e = &s->e[w];

			if (!is_banned(t, entry_index(t, s, e), now_ns))
				continue;
			if (n < max) {
				key_cidr(t, e->key, &out[n].source);
				out[n].until_ns = t->ban[entry_index(t, s, e)].until_ns;
			}
			n++;
		}
		set_unlock(s);
	}
	return n;
}

bool
sl_srctab_unban(struct sl_srctab *t, const struct sl_addr *src, uint64_t now_ns)
{
	uint64_t key[2];
	struct set *s;
	bool was = false;

	if (!t->ban || sl__srctab_key(t, src, key) != 0)
		return false;
	s = &t->sets[set_of(t, sl__srctab_hash(t, key))];
	set_lock(s);
	for (int w = 0; w < SL_SRCTAB_WAYS; w++) {
		struct entry *e = &s->e[w];
		uint32_t k = entry_index(t, s, e);

		if (e->key[0] != key[0] || e->key[1] != key[1])
			continue;
		was = is_banned(t, k, now_ns);
		t->ban[k] = (struct ban_state){0};
		break;
	}
	set_unlock(s);
	return was;
}

/* the prefix length of the table's keys for <c>'s family (an IPv4-mapped IPv6 prefix counts
 * from its IPv4 part) into <*len>, and <c> as an address into <*a>. false if <c> is not valid or
 * maps to no key. */
static bool
cidr_key_len(const struct sl_srctab *t, const struct sl_cidr *c, struct sl_addr *a, unsigned *len,
             unsigned *want)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	if (!sl_cidr_is_valid(c))
		return false;
	memset(a, 0, sizeof(*a));
	if (c->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, c->addr, 4);
		a->len = sizeof(*in);
		*len = c->len;
		*want = (unsigned)__builtin_popcount(t->mask4);
		return true;
	}
	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, c->addr, 16);
	a->len = sizeof(*in6);
	if (memcmp(c->addr, mapped, sizeof(mapped)) == 0) {
		/* keyed as the IPv4 source; a prefix reaching above the IPv4 part is no key */
		if (c->len < 96)
			return false;
		*len = c->len - 96u;
		*want = (unsigned)__builtin_popcount(t->mask4);
		return true;
	}
	*len = c->len;
	*want = (unsigned)(__builtin_popcountll(t->mask6[0]) + __builtin_popcountll(t->mask6[1]));
	return true;
}

int
sl_srctab_import_ban(struct sl_srctab *t, const struct sl_cidr *src, uint64_t until_ns,
                     uint64_t now_ns, bool over_bans)
{
	struct sl_addr a;
	unsigned len, want;
	uint64_t key[2];
	struct set *s;
	struct entry *e;
	uint32_t k;
	bool stateless, displaced = false;
	int err = 0;

	if (!t->ban || until_ns <= now_ns || !cidr_key_len(t, src, &a, &len, &want))
		return -EINVAL;
	/* a wider prefix than the keys: one entry would ban less than the source was */
	if (len < want)
		return -ERANGE;
	if (sl__srctab_key(t, &a, key) != 0)
		return -EINVAL;
	s = &t->sets[set_of(t, sl__srctab_hash(t, key))];
	set_lock(s);
	e = entry_find_locked(s, key);
	if (e == NULL) {
		e = victim_locked(t, s, now_ns, &stateless);
		/* as for a new source, and never for a ban that ends no sooner than this one
		 * (without <over_bans>, for none) */
		if (e == NULL ||
		    (is_banned(t, entry_index(t, s, e), now_ns) &&
		     (!over_bans || t->ban[entry_index(t, s, e)].until_ns >= until_ns))) {
			err = -ENOSPC;
			goto out_unlock;
		}
		/* a ban ending sooner gives way: it is gone, which the caller counts */
		displaced = is_banned(t, entry_index(t, s, e), now_ns);
		entry_take_locked(t, s, e, key, stateless);
	}
	k = entry_index(t, s, e);
	if (t->ban[k].until_ns < until_ns)
		t->ban[k].until_ns = until_ns;
out_unlock:
	set_unlock(s);
	return err != 0 ? err : displaced ? 1 : 0;
}

static struct set *
slot_set(const struct sl_srctab *t, struct sl_srctab_slot slot)
{
	SL_ASSERT(slot.index / SL_SRCTAB_WAYS < t->nsets && t->bw);
	return &t->sets[slot.index / SL_SRCTAB_WAYS];
}

uint32_t
sl_srctab_bytes_take(struct sl_srctab *t, struct sl_srctab_slot slot, unsigned dir,
                     const struct sl_tbucket_rate *r, uint64_t now_ns, uint32_t max)
{
	struct set *s = slot_set(t, slot);
	uint32_t n;

	set_lock(s);
	/* a reload's new rate takes over the bucket's share of its burst, not its old debt */
	sl_tbucket_follow(&t->bw[slot.index][dir & 1], &t->bw_as[slot.index][dir & 1], r, now_ns);
	n = sl_tbucket_take_upto(&t->bw[slot.index][dir & 1], r, now_ns, max);
	set_unlock(s);
	return n;
}

void
sl_srctab_bytes_put(struct sl_srctab *t, struct sl_srctab_slot slot, unsigned dir,
                    const struct sl_tbucket_rate *r, uint32_t n)
{
	struct set *s = slot_set(t, slot);

	set_lock(s);
	sl_tbucket_put(&t->bw[slot.index][dir & 1], r, n);
	set_unlock(s);
}

uint64_t
sl_srctab_bytes_wait_ns(struct sl_srctab *t, struct sl_srctab_slot slot, unsigned dir,
                        const struct sl_tbucket_rate *r, uint64_t now_ns, uint32_t n)
{
	struct set *s = slot_set(t, slot);
	uint64_t ns;

	set_lock(s);
	ns = sl_tbucket_wait_ns(&t->bw[slot.index][dir & 1], r, now_ns, n);
	set_unlock(s);
	return ns;
}

void
sl_srctab_stats_get(struct sl_srctab *t, uint64_t now_ns, struct sl_srctab_stats *st)
{
	*st = (struct sl_srctab_stats){.capacity = (size_t)t->nsets * SL_SRCTAB_WAYS};
	for (uint32_t i = 0; i < t->nsets; i++) {
		struct set *s = &t->sets[i];

		set_lock(s);
		st->inserts += s->inserts;
		st->evictions += s->evictions;
		st->table_full += s->table_full;
		st->bans += t->bans ? t->bans[i] : 0;
		for (int w = 0; w < SL_SRCTAB_WAYS; w++) {
			const struct entry *e = &s->e[w];
			uint32_t k = entry_index(t, s, e);

			st->conns += e->conns;
			st->pinned += e->conns != 0;
			st->in_use += e->conns != 0 || !is_stateless(t, e, k, now_ns);
			st->banned += is_banned(t, k, now_ns);
		}
		set_unlock(s);
	}
}
