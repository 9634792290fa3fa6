#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Model checks of sl_ring with spin: exhaustive safety runs of the MPMC model (ring_mpmc.pml) and
# the SPSC model (ring_spsc.pml) must find no error, and every planted-bug variant (and the
# refused capacity 1) must make spin report one, which proves the assertions can fire.
# Usage: ring_mpmc_test.sh SCRATCH_DIR. Exits non-zero on any unexpected outcome.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scratch=${1:?usage: $0 SCRATCH_DIR}
command -v spin >/dev/null || { echo "spin not installed (apt-get install spin)"; exit 1; }
mkdir -p "$scratch/ring" || exit 1
cd "$scratch/ring" || exit 1
failures=0

# check NAME WANT MODEL [spin -D flags...]: WANT is "pass" (errors: 0, search complete) or
# "fail" (spin reports an error).
check() {
	local name=$1 want=$2 model=$3
	shift 3
	local dir="$name" out
	rm -rf "$dir" && mkdir "$dir" && cp "$here/$model" "$dir/" || return 1
	if ! (cd "$dir" && spin "$@" -a "$model" >spin.log 2>&1); then
		echo "FAIL $name: spin -a failed"; cat "$dir/spin.log"; failures=$((failures + 1)); return
	fi
	# exhaustive: no BITSTATE; COLLAPSE only compresses stored states (lossless)
	if ! (cd "$dir" && gcc -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c >cc.log 2>&1); then
		echo "FAIL $name: pan did not compile"; cat "$dir/cc.log"; failures=$((failures + 1)); return
	fi
	(cd "$dir" && ./pan -m200000 >pan.log 2>&1)
	out="$dir/pan.log"
	local states errs
	states=$(grep -E 'states, stored' "$out" | awk '{print $1}')
	errs=$(grep -oE 'errors: [0-9]+' "$out" | awk '{print $2}')
	if [ "$want" = pass ]; then
		if [ "$errs" = 0 ] && grep -q '^Full statespace search for:' "$out" &&
			! grep -qE 'max search depth too small|out of memory|MEMLIM|truncated' "$out"; then
			echo "ok   $name: errors: 0, $states states stored (exhaustive)"
			return
		fi
	elif [ -n "$errs" ] && [ "$errs" != 0 ]; then
		echo "ok   $name: spin found the planted error ($(grep -m1 -oE 'assertion violated.*\(at' "$out" | sed 's/ (at$//'))"
		return
	fi
	echo "FAIL $name: wanted $want"
	tail -n 40 "$out"
	failures=$((failures + 1))
}

# MPMC: 2 producers x 2 items, 2 consumers, single and bulk calls, capacity 2 and 4.
check mpmc_cap2 pass ring_mpmc.pml -DCAP=2
check mpmc_cap4 pass ring_mpmc.pml -DCAP=4
check mpmc_bug_publish_first fail ring_mpmc.pml -DCAP=2 -DBUG_PUBLISH_FIRST
check mpmc_bug_no_seq_check fail ring_mpmc.pml -DCAP=2 -DBUG_NO_SEQ_CHECK
check mpmc_bug_release_first fail ring_mpmc.pml -DCAP=2 -DBUG_RELEASE_FIRST
# capacity 1 is refused by sl_ring_mpmc_create(): "free for the next lap" (pos + 1) would read
# as "holds pos"
check mpmc_capacity_one fail ring_mpmc.pml -DCAP=1

# SPSC: 12 items through capacity 4, single and bulk calls.
check spsc_cap4 pass ring_spsc.pml -DCAP=4 -DN=12
check spsc_bug_publish_first fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_PUBLISH_FIRST
check spsc_bug_release_first fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_RELEASE_FIRST
check spsc_bug_no_full_check fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_NO_FULL_CHECK

if [ "$failures" -ne 0 ]; then
	echo "$failures model check(s) failed"
	exit 1
fi
echo "all model checks as expected"
