/* SPDX-License-Identifier: MIT */
/*
 * Promela model of the sl_ring MPMC queue (src/core/ring_mpmc.c): Vyukov's sequence-numbered
 * cells, with single and bulk push/pop (bulk claims several cells with one CAS). Each producer
 * pushes NI numbered items, choosing single or bulk calls at random; consumers pop, single or
 * bulk, until every item is out. Checked: every item delivered exactly once, each consumer sees
 * each producer's items in order, no consumer reads a cell that was never written.
 * Every Promela statement is one atomic step, so each shared load or store below is one step,
 * as in the C code; the CAS is one atomic block. The model is sequentially consistent: the
 * acquire/release pairs of the C code are checked by TSan in ring_stress_test.c instead.
 * Planted bugs for the self-test of the checker (tests/model/ring_mpmc_test.sh):
 *   BUG_PUBLISH_FIRST   producer stores the cell's seq before its data
 *   BUG_NO_SEQ_CHECK    producer claims cells without checking that they are free
 *   BUG_RELEASE_FIRST   consumer hands the cell back before reading its data
 */
#ifndef CAP
#define CAP 2
#endif
#ifndef NP
#define NP 2
#endif
#ifndef NI
#define NI 2
#endif
#ifndef NC
#define NC 2
#endif
#define TOTAL (NP * NI)
#define BULK 2

byte enq = 0;     /* next position to claim for a push */
byte deq = 0;     /* next position to claim for a pop */
byte seq[CAP];    /* per cell: == pos free for pos; == pos + 1 holds pos */
byte data[CAP];   /* per cell: item id, 1..TOTAL; 0 = never written */
byte seen[TOTAL]; /* times each item was delivered */
byte popped = 0;  /* items delivered, all consumers */

proctype producer(byte p)
{
	byte i = 0; /* items of this producer pushed so far */
	byte want, pos, m, k, s, id;
	bool ok;

	do
	:: i < NI ->
		/* one try_push (want = 1) or try_push_bulk call */
		if
		:: want = 1
		:: NI - i >= BULK -> want = BULK
		fi;
		pos = enq;
scan:
		m = 0;
		do
		:: m < want ->
			s = seq[(pos + m) % CAP];
#ifdef BUG_NO_SEQ_CHECK
			m++
#else
			if
			:: s == pos + m -> m++
			:: else -> break
			fi
#endif
		:: else -> break
		od;
		if
		:: m == 0 ->
			if
			:: s < pos -> goto done /* full: the call returns 0 */
			:: else -> pos = enq; goto scan
			fi
		:: else ->
			atomic {
				if
				:: enq == pos -> enq = pos + m; ok = true
				:: else -> pos = enq; ok = false
				fi
			};
			if
			:: ok
			:: else -> goto scan
			fi
		fi;
		k = 0;
		do
		:: k < m ->
			id = p * NI + i + k + 1;
#ifdef BUG_PUBLISH_FIRST
			seq[(pos + k) % CAP] = pos + k + 1;
			data[(pos + k) % CAP] = id;
#else
			data[(pos + k) % CAP] = id;
			seq[(pos + k) % CAP] = pos + k + 1;
#endif
			k++
		:: else -> break
		od;
		i = i + m;
done:
		skip;
		/* forget the call's temporaries, so equal queue states match */
		d_step { want = 0; pos = 0; m = 0; k = 0; s = 0; id = 0; ok = false }
	:: else -> break
	od
}

proctype consumer()
{
	byte last[NP]; /* per producer: 1 + the index of the last item seen, 0 = none */
	byte want, pos, m, k, s, id, pp, ix;
	bool ok;

	do
	:: popped == TOTAL -> break
	:: else ->
		/* one try_pop (want = 1) or try_pop_bulk call */
		if
		:: want = 1
		:: want = BULK
		fi;
		pos = deq;
scan:
		m = 0;
		do
		:: m < want ->
			s = seq[(pos + m) % CAP];
			if
			:: s == pos + m + 1 -> m++
			:: else -> break
			fi
		:: else -> break
		od;
		if
		:: m == 0 ->
			if
			:: s < pos + 1 -> goto done /* empty or unpublished: the call returns 0 */
			:: else -> pos = deq; goto scan
			fi
		:: else ->
			atomic {
				if
				:: deq == pos -> deq = pos + m; ok = true
				:: else -> pos = deq; ok = false
				fi
			};
			if
			:: ok
			:: else -> goto scan
			fi
		fi;
		k = 0;
		do
		:: k < m ->
#ifdef BUG_RELEASE_FIRST
			seq[(pos + k) % CAP] = pos + k + CAP;
			id = data[(pos + k) % CAP];
#else
			id = data[(pos + k) % CAP];
			seq[(pos + k) % CAP] = pos + k + CAP;
#endif
			assert(id >= 1 && id <= TOTAL);
			pp = (id - 1) / NI;
			ix = (id - 1) % NI;
			d_step {
				assert(seen[id - 1] == 0);
				seen[id - 1]++;
				popped++
			};
			assert(ix + 1 > last[pp]);
			last[pp] = ix + 1;
			k++
		:: else -> break
		od;
done:
		skip;
		d_step { want = 0; pos = 0; m = 0; k = 0; s = 0; id = 0; pp = 0; ix = 0; ok = false }
	od
}

init
{
	byte i;

	atomic {
		i = 0;
		do
		:: i < CAP -> seq[i] = i; i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NP -> run producer(i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NC -> run consumer(); i++
		:: else -> break
		od
	};
	/* every process gone: all items out, each exactly once, counters where they must be */
	_nr_pr == 1;
	i = 0;
	do
	:: i < TOTAL -> assert(seen[i] == 1); i++
	:: else -> break
	od;
	assert(enq == TOTAL && deq == TOTAL)
}
