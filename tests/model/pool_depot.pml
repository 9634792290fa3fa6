/* SPDX-License-Identifier: MIT */
/*
 * Model of the sl_pool depot stack (src/core/pool.c: stack_push, stack_pop): a Treiber stack of
 * magazine indexes whose head packs {generation, index}; every successful CAS bumps the
 * generation. Workers pop and push magazines in any order, holding up to two at once, so the
 * ABA pattern (load top A with next B; others pop A, pop B, push A; CAS) is in the search.
 * Checked at every head change: no magazine is popped while owned, the stack is acyclic, holds
 * no owned magazine, and every magazine is either on the stack or owned; at the end all are
 * back. Planted bugs that must fail: -DNO_GENERATION (plain Treiber stack, index only) and
 * -DGEN_WRAP (generation one change too narrow). Driven by pool_depot_test.sh.
 */

#ifndef NODES
#define NODES 3 /* magazines */
#endif
#ifndef PROCS
#define PROCS 3 /* worker threads */
#endif
#ifndef OPS
#define OPS 2 /* pops + pushes per worker, before giving back what it holds */
#endif

/*
 * Head changes (successful CAS) one worker can make: OPS, plus two final give-back pushes. A pop
 * or push of one worker sees at most (PROCS - 1) * CHANGES changes by the others between its load
 * and its CAS, so a generation modulo GEN_MOD = that + 1 never wraps inside one operation, as
 * 2^32 does not in pool.c. -DGEN_WRAP takes one less: a wrap becomes possible, and must be found.
 */
#define CHANGES (OPS + 2)
#ifdef GEN_WRAP
#define GEN_MOD ((PROCS - 1) * CHANGES)
#else
#define GEN_MOD ((PROCS - 1) * CHANGES + 1)
#endif

#define NIL 255 /* SL_POOL_NIL */
#define FREE 0  /* owner[] value: not held by a worker (on the stack) */

byte head_gen; /* head: generation << 32 | index in pool.c; two bytes here, updated together */
byte head_idx;
byte next[NODES];  /* mag->next */
byte owner[NODES]; /* ghost: _pid of the worker holding the magazine, or FREE */
byte finished;     /* workers done */

hidden byte scan_n, scan_c, scan_free; /* scratch of check_stack, dead between steps */

/* Walk the stack from the head: acyclic (reaches NIL within NODES hops), no owned magazine on it,
 * and it holds exactly the magazines no worker owns. */
inline check_stack()
{
	scan_n = 0;
	scan_c = head_idx;
	do
	:: scan_c == NIL -> break
	:: else ->
		assert(scan_n < NODES);       /* a cycle never reaches NIL */
		assert(owner[scan_c] == FREE); /* an owned magazine is on the stack */
		scan_n++;
		scan_c = next[scan_c]
	od;
	scan_free = 0;
	scan_c = 0;
	do
	:: scan_c == NODES -> break
	:: else ->
		if
		:: owner[scan_c] == FREE -> scan_free++
		:: else -> skip
		fi;
		scan_c++
	od;
	assert(scan_n == scan_free); /* a free magazine fell off the stack */
	scan_n = 0;
	scan_c = 0;
	scan_free = 0
}

#ifdef NO_GENERATION
#define HEAD_IS(g, i) (head_idx == (i))
#define GEN_NEXT(g) 0
#else
#define HEAD_IS(g, i) (head_gen == (g) && head_idx == (i))
#define GEN_NEXT(g) (((g) + 1) % GEN_MOD)
#endif

/*
 * stack_pop. A1: old = head. Loop: i = old.idx; NIL -> empty; next = mag[i].next (relaxed, maybe
 * stale); CAS head old -> {old.gen + 1, next} (A2); a failure reloads old from the head. Each
 * d_step is one indivisible access of the real code. A spurious failure of the weak CAS is left
 * out: it leads to the same state as a fresh start of the pop, which the search already covers.
 * The popped index goes to r; locals are zeroed once dead to keep the state space small.
 */
inline pop(r)
{
	d_step { og = head_gen; oi = head_idx }
	do
	:: oi == NIL -> r = NIL; og = 0; oi = 0; break
	:: else ->
		d_step {
			nx = next[oi];
			printf("w%d pop: head {%d,%d}, reads next[%d] = %d\n", _pid, og, oi, oi, nx)
		}
		if
		:: atomic { HEAD_IS(og, oi) -> d_step {
			assert(owner[oi] == FREE); /* two workers hold one magazine */
			owner[oi] = _pid;
			head_gen = GEN_NEXT(og);
			head_idx = nx;
			printf("w%d pop: CAS ok, holds %d, head {%d,%d}\n", _pid, oi, head_gen, head_idx);
			check_stack();
			r = oi;
			og = 0; oi = 0; nx = 0
		} }; break
		:: atomic { !HEAD_IS(og, oi) -> og = head_gen; oi = head_idx; nx = 0 }
		fi
	od
}

/*
 * stack_push. old = head (relaxed). Loop: mag[i].next = old.idx (relaxed); CAS head
 * old -> {old.gen + 1, i} (R1); a failure reloads old.
 */
inline push(i)
{
	assert(owner[i] == _pid);
	d_step { og = head_gen; oi = head_idx }
	do
	:: next[i] = oi;
		if
		:: atomic { HEAD_IS(og, oi) -> d_step {
			owner[i] = FREE;
			head_gen = GEN_NEXT(og);
			head_idx = i;
			printf("w%d push %d: CAS ok, head {%d,%d}, next[%d] = %d\n", _pid, i, head_gen,
			       head_idx, i, next[i]);
			check_stack();
			i = NIL; /* handed to the stack */
			og = 0; oi = 0
		} }; break
		:: atomic { !HEAD_IS(og, oi) -> og = head_gen; oi = head_idx }
		fi
	od
}

proctype worker()
{
	byte a = NIL, b = NIL; /* magazines held */
	byte n, og, oi, nx; /* n: operations done; og, oi: old head; nx: next read by a pop */

	do
	:: n < OPS && a == NIL -> pop(a); n++
	:: n < OPS && a != NIL && b == NIL -> pop(b); n++
	:: n < OPS && a != NIL -> push(a); n++
	:: n < OPS && b != NIL -> push(b); n++
#ifndef NO_ASIDE
	/* depot_put_slow_locked() and sl_pool_trim() link held magazines into private lists through
	 * the same next field, while stale poppers may still read it. (A magazine on the other
	 * stack of the depot counts as held: only its pusher wrote its next.) */
	:: d_step {
		a != NIL && next[a] != NIL -> next[a] = NIL;
		printf("w%d aside: next[%d] = %d\n", _pid, a, NIL)
	}
	:: d_step {
		a != NIL && b != NIL && next[b] != a -> next[b] = a;
		printf("w%d aside: next[%d] = %d\n", _pid, b, a)
	}
#endif
	:: n == OPS -> break
	od;
	/* give back whatever is still held, then the last one out checks the full stack */
	if
	:: a != NIL -> push(a)
	:: else -> skip
	fi;
	if
	:: b != NIL -> push(b)
	:: else -> skip
	fi;
	n = 0;
	d_step {
		finished++;
		if
		:: finished == PROCS ->
			check_stack();
			scan_c = 0;
			do
			:: scan_c == NODES -> break
			:: else -> assert(owner[scan_c] == FREE); scan_c++ /* a magazine was lost */
			od;
			scan_c = 0
		:: else -> skip
		fi
	}
}

init
{
	byte k;

	d_step {
		/* the stack 0 -> 1 -> ... -> NODES-1 -> NIL, generation 0 */
		k = 0;
		do
		:: k == NODES - 1 -> next[k] = NIL; break
		:: else -> next[k] = k + 1; k++
		od;
		head_idx = 0;
		head_gen = 0;
		k = 0
	}
	atomic {
		k = 0;
		do
		:: k == PROCS -> break
		:: else -> run worker(); k++
		od;
		k = 0
	}
}
