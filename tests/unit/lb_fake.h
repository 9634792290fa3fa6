/* SPDX-License-Identifier: MIT */
/*
 * A simulated backend group for the sl_lb tests: per-backend up flag and load behind the
 * sl_lb_ctx callbacks, and a deterministic PRNG for keys and simulations (fixed seeds).
 */
#ifndef SLUICE_TESTS_LB_FAKE_H
#define SLUICE_TESTS_LB_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/lb.h>

#define FAKE_MAX 128

struct fake {
	size_t n;
	bool up[FAKE_MAX];
	uint32_t load[FAKE_MAX];
	struct sl_lb_target t[FAKE_MAX];
	char names[FAKE_MAX][32];
};

static inline bool
fake_eligible(void *arg, size_t i)
{
	const struct fake *f = arg;

	if (i >= f->n) {
		fprintf(stderr, "eligible() called with index %zu of %zu\n", i, f->n);
		return false;
	}
	return f->up[i];
}

static inline uint32_t
fake_load(void *arg, size_t i)
{
	const struct fake *f = arg;

	return i < f->n ? f->load[i] : UINT32_MAX;
}

/* <n> backends "10.0.0.<i>:80", all up, load 0, weight 1 */
static inline void
fake_init(struct fake *f, size_t n)
{
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		f->up[i] = true;
		f->load[i] = 0;
		snprintf(f->names[i], sizeof(f->names[i]), "10.0.%zu.%zu:80", i / 256, i % 256);
		f->t[i].name = f->names[i];
		f->t[i].weight = 1;
	}
}

static inline struct sl_lb_ctx
fake_ctx(struct fake *f, uint64_t key)
{
	struct sl_lb_ctx c = {.key = key, .eligible = fake_eligible, .load = fake_load, .arg = f};

	return c;
}

/* splitmix64: the tests' own deterministic stream */
static inline uint64_t
test_rand(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline size_t
test_rand_below(uint64_t *s, size_t n)
{
	return (size_t)(test_rand(s) % n);
}

#endif /* SLUICE_TESTS_LB_FAKE_H */
