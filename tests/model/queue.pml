/* SPDX-License-Identifier: MIT */
/*
 * Promela model of sl_queue (src/core/queue.c): segments of NS slots; a producer reads the tail
 * segment's enq hint and CASes slots from there on from EMPTY to its item until one CAS wins,
 * then stores the hint (a separate step, so hints may be stale or move back); when every slot
 * is filled it links a new segment (holding its item in slot 0) or follows the one linked.
 * Consumers read the slot at a segment's deq, optionally also the next one (a batch of 2),
 * and CAS deq past what they read; an empty slot at deq means "empty"; an exhausted segment is
 * unlinked after the tail is moved past it.
 * Checked: the queue is linearizable: the k-th item taken (counting every item of a batch) is
 * the k-th placed (fill or link CAS), so every item is delivered exactly once and in the
 * order the fills took effect; every "empty" answer happens while every placed item has been
 * taken; a segment is retired only when neither head nor tail leads to it, and no thread loads
 * a retired segment from head or tail (what sl_epoch needs: new readers cannot reach it).
 * Segments are fresh, never reused: reuse is sl_epoch's business, modelled in epoch.pml. Every
 * shared load, store or CAS is one atomic step; the model is sequentially consistent, the
 * memory orders are checked by TSan (queue_stress_test.c). The producer's skip over filled slots
 * with plain loads is modelled as failing CASes (the same outcome for a filled slot).
 * Planted bugs for the self-test of the checker (tests/model/queue_test.sh):
 *   BUG_PLAIN_FILL      producer fills its slot with a load and a store, not a CAS
 *   BUG_PLAIN_DEQ       consumer moves deq with a store, not a CAS
 *   BUG_NO_TAIL_HELP    consumer unlinks a segment without moving the tail past it first
 *   BUG_PLAIN_LINK      producer links its new segment with a store, not a CAS
 *   BUG_HINT_AHEAD      producer stores a hint one past the slot after the one it filled
 *   BUG_BATCH_NO_CHECK  a batch consumer takes the second slot without checking it is filled
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
#ifndef NSEG
#define NSEG 6
#endif
#define TOTAL (NP * NI)
#define EMPTY 0
#define NONE 255

byte enq[NSEG];        /* per segment: producers' hint; every slot below it is filled */
byte deq[NSEG];        /* per segment: next slot to take (CAS) */
byte nxt[NSEG];        /* per segment: successor, NONE until linked */
byte slot[NSEG * NS];  /* EMPTY or an item id 1..TOTAL */
bool retired[NSEG];
byte head = 0, tail = 0;
byte nalloc = 1;       /* segments handed out; segment 0 is the first */
byte placed = 0;       /* items in the queue so far (fill or link CAS) */
byte order[TOTAL];     /* per item: 1 + its place in that sequence, 0 = not placed */
byte popped = 0;       /* items taken so far */

/* item <v> is taken: it must be the oldest placed item not yet taken */
inline take(v)
{
	assert(v >= 1 && v <= TOTAL);
	assert(order[v - 1] == popped + 1);
	popped++
}

proctype producer(byte p)
{
	byte i = 0, id, s, t, n, fresh;

	do
	:: i < NI ->
		id = p * NI + i + 1;
retry:
		atomic { s = tail; assert(!retired[s]) };
		t = enq[s];
		do
		:: t < NS ->
#ifdef BUG_PLAIN_FILL
			if
			:: slot[s * NS + t] == EMPTY ->
				atomic { slot[s * NS + t] = id; placed++; order[id - 1] = placed };
				goto hint
			:: else -> t++
			fi
#else
			atomic {
				if
				:: slot[s * NS + t] == EMPTY ->
					slot[s * NS + t] = id; placed++; order[id - 1] = placed;
					goto hint
				:: else -> t++
				fi
			}
#endif
		:: else -> break
		od;
		/* every slot filled: follow or make the successor */
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
			if
			:: nxt[s] == NONE ->
				atomic { nxt[s] = fresh; placed++; order[id - 1] = placed };
				atomic { if :: tail == s -> tail = fresh :: else fi };
				goto filled
			:: else -> n = nxt[s]
			fi;
#else
			atomic {
				if
				:: nxt[s] == NONE ->
					nxt[s] = fresh; n = NONE; placed++; order[id - 1] = placed
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
hint:
#ifdef BUG_HINT_AHEAD
		enq[s] = (t + 2 < NS -> t + 2 : NS);
#else
		enq[s] = t + 1;
#endif
filled:
		i++;
		d_step { id = 0; s = 0; t = 0; n = 0; fresh = 0 }
	:: else -> break
	od
}

proctype consumer()
{
	byte s, h, v, v2, n;
	bool ok;

	do
	:: popped == TOTAL -> break
	:: else ->
		atomic { s = head; assert(!retired[s]) };
		h = deq[s];
		if
		:: h >= NS ->
			/* no successor: empty, and then every placed item has been taken */
			atomic {
				n = nxt[s];
				assert(n != NONE || placed == popped)
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
		/* an empty slot at deq: empty, and then every placed item has been taken */
		atomic {
			v = slot[s * NS + h];
			assert(v != EMPTY || placed == popped)
		};
		if
		:: v == EMPTY -> goto done
		:: else
		fi;
		/* a single item, or (a batch) also the next slot if it is filled */
		n = 1;
		if
		:: skip
		:: h + 1 < NS ->
			v2 = slot[s * NS + h + 1];
#ifdef BUG_BATCH_NO_CHECK
			n = 2
#else
			if
			:: v2 != EMPTY -> n = 2
			:: else
			fi
#endif
		fi;
		/* take slots h .. h + n - 1: move deq past them and record the items (one step,
		 * so that "popped" counts every item a consumer owns) */
		atomic {
#ifdef BUG_PLAIN_DEQ
			deq[s] = h + n;
			ok = true;
#else
			if
			:: deq[s] == h -> deq[s] = h + n; ok = true
			:: else -> ok = false
			fi;
#endif
			if
			:: ok ->
				take(v);
				if
				:: n == 2 -> take(v2)
				:: else
				fi
			:: else
			fi
		};
done:
		skip;
		d_step { s = 0; h = 0; v = 0; v2 = 0; n = 0; ok = false }
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
