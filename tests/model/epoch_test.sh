#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Model check of sl_epoch with spin (epoch.pml): exhaustive safety runs must find no error (no
# reader uses a freed object; offline readers hold nothing back), and every planted-bug variant
# must make spin report an assertion violation, which proves the assertions can fire.
# Usage: epoch_test.sh SCRATCH_DIR. Exits non-zero on any unexpected outcome.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scratch=${1:?usage: $0 SCRATCH_DIR}
command -v spin >/dev/null || { echo "spin not installed (apt-get install spin)"; exit 1; }
mkdir -p "$scratch/epoch" || exit 1
cd "$scratch/epoch" || exit 1
failures=0

# check NAME WANT [spin -D flags...]: WANT is "pass" (errors: 0, search complete) or "fail"
# (spin reports an assertion violation).
check() {
	local name=$1 want=$2
	shift 2
	local dir="$name" out
	rm -rf "$dir" && mkdir "$dir" && cp "$here/epoch.pml" "$dir/" || return 1
	if ! (cd "$dir" && spin "$@" -a epoch.pml >spin.log 2>&1); then
		echo "FAIL $name: spin -a failed"; cat "$dir/spin.log"; failures=$((failures + 1)); return
	fi
	# exhaustive: no BITSTATE; COLLAPSE only compresses stored states (lossless)
	if ! (cd "$dir" && gcc -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c >cc.log 2>&1); then
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
	elif [ -n "$errs" ] && [ "$errs" != 0 ] && grep -q 'assertion violated' "$out"; then
		echo "ok   $name: spin found the planted error ($(grep -m1 -oE 'assertion violated.*\(at' "$out" | sed 's/ (at$//'))"
		return
	fi
	echo "FAIL $name: wanted $want"
	tail -n 40 "$out"
	failures=$((failures + 1))
}

# 2 readers x 2 online periods x up to 2 quiescent points each, 3 swaps (about 8 M states);
# 3 readers x 1 online period x up to 1 quiescent point, 2 swaps (about 14 M states).
check r2_s3 pass -DREADERS=2 -DSWAPS=3 -DROUNDS=2 -DQUIESCE=2
check r3_s2 pass -DREADERS=3 -DSWAPS=2 -DROUNDS=1 -DQUIESCE=1
check bug_load_before_online fail -DBUG_LOAD_BEFORE_ONLINE
check bug_step_before_swap fail -DBUG_STEP_BEFORE_SWAP
check bug_stamp_old_epoch fail -DBUG_STAMP_OLD_EPOCH
check bug_no_scan fail -DBUG_NO_SCAN
check bug_offline_blocks fail -DBUG_OFFLINE_BLOCKS

if [ "$failures" -ne 0 ]; then
	echo "$failures model check(s) failed"
	exit 1
fi
echo "all model checks as expected"
