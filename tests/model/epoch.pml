/* SPDX-License-Identifier: MIT */
/*
 * Promela model of sl_epoch (src/core/epoch.c) used as the proxy uses it for its config
 * snapshot: a writer swaps the shared pointer <cur> to a new object, retires the old one (one
 * step of the global epoch; the object is stamped with the new value) and reclaims (reads the
 * participant slots one by one, takes the smallest online one, frees every retired object
 * stamped at or below it). Readers are event loops: online (slot = epoch, then load <cur>), use
 * the object over several steps, quiescent points (slot = epoch, load <cur> again), offline
 * (slot = OFFLINE) around a blocking wait, and online again.
 * Checked: a reader never uses a freed object (assert at every use, any number of writer steps
 * after its load); and once every reader is offline, one reclaim frees every retired object
 * (an idle reader holds nothing back). Each shared load or store is one step; the model is
 * sequentially consistent, which the fences F1/F2 of epoch.c provide for the one store-load
 * pair that needs it (online); the other orders are checked by TSan (epoch_test.c).
 * Planted bugs for the self-test of the checker (tests/model/epoch_test.sh):
 *   BUG_LOAD_BEFORE_ONLINE  online loads <cur> before its slot store (F1 missing)
 *   BUG_STEP_BEFORE_SWAP    the writer steps the epoch before it swaps <cur>
 *   BUG_STAMP_OLD_EPOCH     retired objects are stamped with the epoch before the step
 *   BUG_NO_SCAN             reclaim frees without looking at the slots
 *   BUG_OFFLINE_BLOCKS      reclaim counts an OFFLINE slot as epoch 0 (idle readers block)
 */
#ifndef READERS
#define READERS 2
#endif
#ifndef SWAPS
#define SWAPS 3 /* objects published after the first */
#endif
#ifndef ROUNDS
#define ROUNDS 2 /* online .. offline periods per reader */
#endif
#ifndef QUIESCE
#define QUIESCE 2 /* quiescent points per online period, at most */
#endif
#define NOBJ (SWAPS + 1)
#define OFFLINE 0
#define NONE 255

byte epoch = 1;       /* global epoch; epochs start at 1 */
byte slot[READERS];   /* OFFLINE, or the epoch seen at the last quiescent point */
byte cur = 0;         /* the object readers reach: 0 .. SWAPS */
bool freed[NOBJ];     /* ghost: the object was freed */
byte stamp[NOBJ];     /* epoch its retire made; 0 = not retired */
byte done = 0;        /* readers that finished (offline for good) */

/*
 * The reader uses the object it loaded, then lets go of it (its next step is a quiescent point
 * or going offline). Any number of other steps may come between the load and the use, so one
 * use stands for every use until the quiescent point.
 */
#define USE(o) d_step { assert(!freed[o]); o = NONE }

proctype reader(byte i)
{
	byte e, mine, r = 0, q;

	do
	:: r < ROUNDS ->
		/* sl_epoch_online(): e = epoch (A1); slot = e; F1; then the caller's load (A1 of
		 * proxy_int.h) */
#ifdef BUG_LOAD_BEFORE_ONLINE
		mine = cur;
		e = epoch;
		d_step { slot[i] = e; e = 0 }
#else
		e = epoch;
		d_step { slot[i] = e; e = 0 }
		mine = cur;
#endif
		USE(mine);
		q = 0;
		do
		:: q < QUIESCE ->
			/* loop iteration ends: sl_epoch_quiescent() (A2, R3), then new events */
			e = epoch;
			d_step { slot[i] = e; e = 0 }
			mine = cur;
			USE(mine);
			q++
		:: break
		od;
		/* sl_epoch_offline() before the blocking wait (R2): holds nothing from here */
		slot[i] = OFFLINE;
		d_step { q = 0; r++ }
	:: else -> break
	od;
	done++
}

/*
 * The writer's reclaim: slots read one at a time (readers move meanwhile), then the frees.
 * <min>, <k>, <v> are the writer's locals.
 */
inline reclaim()
{
	min = NONE;
#ifndef BUG_NO_SCAN
	k = 0;
	do
	:: k < READERS ->
		v = slot[k];
		if
#ifdef BUG_OFFLINE_BLOCKS
		:: v < min -> min = v
#else
		:: v != OFFLINE && v < min -> min = v
#endif
		:: else
		fi;
		k++
	:: else -> break
	od;
#endif
	skip; /* the break above may not jump into the d_step */
	d_step {
		k = 0;
		do
		:: k < NOBJ ->
			if
			:: stamp[k] != 0 && !freed[k] && stamp[k] <= min -> freed[k] = true
			:: else
			fi;
			k++
		:: else -> break
		od;
		k = 0;
		v = 0
	}
}

active proctype writer()
{
	byte n = 1, old, extra = 0;
	byte min, k, v;

	do
	:: n <= SWAPS ->
		old = cur;
#ifdef BUG_STEP_BEFORE_SWAP
		epoch++;
		stamp[old] = epoch;
		cur = n;
#else
		/* the publish (R3 in snapshot.c), then sl_epoch_retire(): the epoch step (R1) */
		cur = n;
#ifdef BUG_STAMP_OLD_EPOCH
		stamp[old] = epoch;
		epoch++;
#else
		epoch++;
		stamp[old] = epoch;
#endif
#endif
		reclaim();
		n++
	:: n > 1 && extra < 1 ->
		/* a reclaim on its own (sl_epoch_reclaim()), later */
		reclaim();
		extra++
	:: n > SWAPS -> break
	od;
	/* every reader offline for good: a reclaim now must free everything retired */
	(done == READERS);
	reclaim();
	n = 0;
	do
	:: n < NOBJ ->
		assert(stamp[n] == 0 || freed[n]);
		n++
	:: else -> break
	od
}

init
{
	byte i = 0;

	atomic {
		do
		:: i < READERS ->
			run reader(i);
			i++
		:: else -> break
		od
	}
}
