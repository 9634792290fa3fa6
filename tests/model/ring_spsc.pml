/* SPDX-License-Identifier: MIT */
/*
 * Promela model of the sl_ring SPSC ring (src/core/ring_spsc.c): one producer, one consumer,
 * each with a private cached copy of the other's index, refreshed only when the copy says
 * full/empty; single and bulk calls chosen at random. Checked: the consumer gets exactly the
 * items 1..N, in order, and never an unwritten slot. Sequentially consistent, as ring_mpmc.pml.
 * Planted bugs for the self-test of the checker (tests/model/ring_mpmc_test.sh):
 *   BUG_PUBLISH_FIRST   producer advances tail before writing the slot
 *   BUG_RELEASE_FIRST   consumer advances head before reading the slot
 *   BUG_NO_FULL_CHECK   producer writes without checking for room (overwrites)
 */
#ifndef CAP
#define CAP 2
#endif
#ifndef N
#define N 6
#endif
#define BULK 2

byte head = 0;  /* written by the consumer */
byte tail = 0;  /* written by the producer */
byte slot[CAP]; /* item numbers 1..N; 0 = never written */

active proctype producer()
{
	byte next = 1; /* next item to push */
	byte hc = 0;   /* cached head */
	byte t, want, room, k;

	do
	:: next <= N ->
		if
		:: want = 1
		:: N - next + 1 >= BULK -> want = BULK
		fi;
		t = tail;
#ifdef BUG_NO_FULL_CHECK
		room = want;
#else
		room = CAP - (t - hc);
		if
		:: room < want -> hc = head; room = CAP - (t - hc)
		:: else
		fi;
#endif
		if
		:: room > want -> room = want
		:: else
		fi;
		k = 0;
		do
		:: k < room ->
#ifdef BUG_PUBLISH_FIRST
			tail = t + k + 1;
			slot[(t + k) % CAP] = next + k;
#else
			slot[(t + k) % CAP] = next + k;
#endif
			k++
		:: else -> break
		od;
#ifndef BUG_PUBLISH_FIRST
		tail = t + room;
#endif
		next = next + room;
		skip;
		d_step { want = 0; t = 0; room = 0; k = 0 }
	:: else -> break
	od
}

active proctype consumer()
{
	byte expect = 1; /* next item due */
	byte tc = 0;     /* cached tail */
	byte h, want, ready, k, it;

	do
	:: expect <= N ->
		if
		:: want = 1
		:: want = BULK
		fi;
		h = head;
		ready = tc - h;
		if
		:: ready < want -> tc = tail; ready = tc - h
		:: else
		fi;
		if
		:: ready > want -> ready = want
		:: else
		fi;
		k = 0;
		do
		:: k < ready ->
#ifdef BUG_RELEASE_FIRST
			head = h + k + 1;
#endif
			it = slot[(h + k) % CAP];
			assert(it == expect);
			expect++;
			k++
		:: else -> break
		od;
#ifndef BUG_RELEASE_FIRST
		head = h + ready;
#endif
		skip;
		d_step { want = 0; h = 0; ready = 0; k = 0; it = 0 }
	:: else -> break
	od
}
