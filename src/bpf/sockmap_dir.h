/* SPDX-License-Identifier: MIT */
/*
 * One direction of a session forwarded in the kernel (forward: sockmap): an element of the
 * sl_sockmap_dirs array that src/bpf/sockmap_fwd.bpf.c updates for every segment it redirects
 * and src/net/fwd_sockmap.c reads and writes through a shared mapping of the array. Included by
 * both, so only the kernel's fixed-size types.
 */
#ifndef SLUICE_BPF_SOCKMAP_DIR_H
#define SLUICE_BPF_SOCKMAP_DIR_H

#include <linux/types.h>

/* What the verdict does with a direction's segments: the top bits of sl_sockmap_dir.state. */
enum sl_sockmap_mode {
	/* the session is being set up: the first segment turns the direction to PASS */
	SL_SOCKMAP_PENDING = 0,
	/* redirected to the peer's egress: the bytes never reach user space */
	SL_SOCKMAP_REDIRECT = 1,
	/* kept for user space to read, which copies them: a segment came before the redirect
	 * was on, or the peer fell SL_SOCKMAP_LAG_MAX behind */
	SL_SOCKMAP_PASS = 2,
};

#define SL_SOCKMAP_MODE_SHIFT 62
#define SL_SOCKMAP_PASSED_MASK ((1ull << SL_SOCKMAP_MODE_SHIFT) - 1)

/*
 * How far a direction's destination may fall behind (bytes meant for it that it has not taken
 * into its send queue) before the verdict turns the direction to PASS. The kernel's queue
 * between the verdict and the destination has no bound of its own, and the verdict takes each
 * segment out of the source's receive queue at once, so TCP's window would never close on a
 * destination that stops reading; PASS leaves the segments in the source socket, which TCP
 * bounds.
 */
#define SL_SOCKMAP_LAG_MAX (4u << 20)

struct sl_sockmap_dir {
	__u64 peer;  /* socket cookie of the destination (its key in sl_sockmap_socks) */
	__u64 bytes; /* bytes redirected to the peer so far */
	/*
	 * mode << SL_SOCKMAP_MODE_SHIFT | bytes kept for the process (PASS) so far, one word so
	 * that every change is one compare-and-swap: PENDING -> REDIRECT by the process, or
	 * PENDING -> PASS by the verdict (exactly one wins); REDIRECT -> PASS by the verdict;
	 * PASS -> REDIRECT by the process once it has read every byte kept for it, which fails if
	 * the verdict kept one more meanwhile. The verdict runs for one socket at a time.
	 */
	__u64 state;
	/* the bytes the destination's socket had taken to send when the session went in (sent
	 * once, plus queued): what it took since is counted against <bytes> and the kept ones */
	__u64 peer_taken0;
};

#endif /* SLUICE_BPF_SOCKMAP_DIR_H */
