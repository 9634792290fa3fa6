/* SPDX-License-Identifier: MIT */
/*
 * Promela model of sl_queue (src/core/queue.c): segments of NS slots; producers fetch-and-add
 * a segment's enq and CAS the slot from EMPTY to the item, linking a new segment (holding their
 * item in slot 0) when the segment is full; consumers CAS a segment's deq past a filled slot,
 * may abandon a claimed but empty slot (CAS EMPTY -> TAKEN; at most MAXAB times, which bounds
 * the state space), and unlink an exhausted segment after moving the tail past it.
 * Checked: every item delivered exactly once; each consumer sees each producer's items in
 * order; a consumer that finds the queue empty once every producer has finished has seen every
 * item delivered (nothing lost); a segment is retired only when neither head nor tail leads
 * to it, and no thread loads a retired segment from head or tail (what sl_epoch needs: new
 * readers cannot reach it). Segments are fresh, never reused: reuse is sl_epoch's business,
 * modelled in epoch.pml. Every shared load, store, FAA or CAS is one atomic step; the model is
 * sequentially consistent, the memory orders are checked by TSan (queue_stress_test.c).
 * The "not yet" answer of the real dequeue (patience, bounded spin) is a nondeterministic
 * choice here: at any empty-but-claimed slot a consumer may return empty-handed or abandon.
 * Planted bugs for the self-test of the checker (tests/model/queue_test.sh):
 *   BUG_PLAIN_FILL      producer fills its slot with a store, not a CAS (overwrites TAKEN)
 *   BUG_PLAIN_ABANDON   consumer marks TAKEN with a store, not a CAS (overwrites an item)
 *   BUG_PLAIN_DEQ       consumer moves deq with a store, not a CAS
 *   BUG_NO_TAIL_HELP    consumer unlinks a segment without moving the tail past it first
 *   BUG_PLAIN_LINK      producer links its new segment with a store, not a CAS
 */
#ifndef NS
#define NS 2
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
#ifndef MAXAB
#define MAXAB 1
#endif
#ifndef NSEG
#define NSEG 6
#endif
#define TOTAL (NP * NI)
#define EMPTY 0
#define TAKEN 255
#define NONE 255

byte enq[NSEG];        /* per segment: next slot to claim (FAA; may pass NS) */
byte deq[NSEG];        /* per segment: next slot to take (CAS) */
byte nxt[NSEG];        /* per segment: successor, NONE until linked */
byte slot[NSEG * NS];  /* EMPTY, TAKEN or an item id 1..TOTAL */
bool retired[NSEG];
byte head = 0, tail = 0;
byte nalloc = 1;       /* segments handed out; segment 0 is the first */
byte abandons = 0;
byte seen[TOTAL];      /* times each item was delivered */
byte popped = 0;
byte producers_done = 0;

proctype producer(byte p)
{
	byte i = 0, id, s, t, n, fresh;

	do
	:: i < NI ->
		id = p * NI + i + 1;
retry:
		atomic { s = tail; assert(!retired[s]) };
		atomic { t = enq[s]; enq[s] = enq[s] + 1 };
		if
		:: t < NS ->
#ifdef BUG_PLAIN_FILL
			slot[s * NS + t] = id; goto filled
#else
			atomic {
				if
				:: slot[s * NS + t] == EMPTY -> slot[s * NS + t] = id; goto filled
				:: else -> skip
				fi
			};
			goto retry
#endif
		:: else
		fi;
		/* full: follow or make the successor */
		n = nxt[s];
		if
		:: n == NONE ->
			/* a fresh segment, private until linked, holding our item in slot 0 */
			atomic {
				assert(nalloc < NSEG);
				fresh = nalloc; nalloc++;
				enq[fresh] = 1; deq[fresh] = 0; nxt[fresh] = NONE;
				slot[fresh * NS] = id
			};
#ifdef BUG_PLAIN_LINK
			nxt[s] = fresh;
			atomic { if :: tail == s -> tail = fresh :: else fi };
			goto filled;
#else
			atomic {
				if
				:: nxt[s] == NONE -> nxt[s] = fresh; n = NONE
				:: else -> n = nxt[s]
				fi
			};
			if
			:: n == NONE ->
				atomic { if :: tail == s -> tail = fresh :: else fi };
				goto filled
			:: else /* lost the race: the fresh segment is never seen */
			fi
#endif
		:: else
		fi;
		atomic { if :: tail == s -> tail = n :: else fi };
		goto retry;
filled:
		i++;
		d_step { id = 0; s = 0; t = 0; n = 0; fresh = 0 }
	:: else -> break
	od;
	producers_done++
}

proctype consumer()
{
	byte last[NP]; /* per producer: 1 + the index of the last item seen, 0 = none */
	byte s, h, v, t, n, pp, ix;
	bool ok;

	do
	:: popped == TOTAL -> break
	:: else ->
		atomic { s = head; assert(!retired[s]) };
		h = deq[s];
		if
		:: h >= NS ->
			/* no successor: empty. If every producer is done by then, nothing may be
			 * missing (checked in the step that observes it) */
			atomic {
				n = nxt[s];
				assert(n != NONE || producers_done < NP || popped == TOTAL)
			};
			if
			:: n == NONE -> goto done
			:: else
			fi;
#ifndef BUG_NO_TAIL_HELP
			atomic { if :: tail == s -> tail = n :: else fi };
#endif
			atomic {
				if
				:: head == s ->
					head = n;
					/* retire: no new reader may reach s any more */
					assert(tail != s);
					retired[s] = true
				:: else
				fi
			};
			goto done
		:: else
		fi;
		v = slot[s * NS + h];
		if
		:: v == EMPTY ->
			/* nobody claimed slot h: empty (checked as above) */
			atomic {
				t = enq[s];
				assert(t > h || producers_done < NP || popped == TOTAL)
			};
			if
			:: t <= h -> goto done
			:: else
			fi;
			/* claimed, not filled: say "nothing yet", or abandon the slot */
			if
			:: goto done
			:: abandons < MAXAB ->
#ifdef BUG_PLAIN_ABANDON
				atomic { slot[s * NS + h] = TAKEN; v = TAKEN; abandons++ }
#else
				atomic {
					if
					:: slot[s * NS + h] == EMPTY ->
						slot[s * NS + h] = TAKEN; v = TAKEN; abandons++
					:: else -> v = slot[s * NS + h]
					fi
				}
#endif
			fi
		:: else
		fi;
		/* take slot h: move deq past it and, unless TAKEN, return the item (one step, so
		 * that "popped" counts every item a consumer owns) */
		atomic {
#ifdef BUG_PLAIN_DEQ
			deq[s] = h + 1;
			ok = true;
#else
			if
			:: deq[s] == h -> deq[s] = h + 1; ok = true
			:: else -> ok = false
			fi;
#endif
			if
			:: ok && v != TAKEN ->
				assert(v >= 1 && v <= TOTAL);
				assert(seen[v - 1] == 0);
				seen[v - 1]++;
				popped++;
				pp = (v - 1) / NI;
				ix = (v - 1) % NI;
				assert(ix + 1 > last[pp]);
				last[pp] = ix + 1
			:: else
			fi
		};
done:
		skip;
		d_step { s = 0; h = 0; v = 0; t = 0; n = 0; pp = 0; ix = 0; ok = false }
	od
}

init
{
	byte i;

	d_step {
		i = 0;
		do
		:: i < NSEG -> nxt[i] = NONE; i++
		:: else -> break
		od;
		i = 0
	};
	atomic {
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
	}
}
