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
. "$here/spin_check.sh"

# 2 readers x 2 online periods x up to 2 quiescent points each, 3 swaps (about 8 M states);
# 3 readers x 1 online period x up to 1 quiescent point, 2 swaps (about 14 M states).
spin_check r2_s3 pass epoch.pml -DREADERS=2 -DSWAPS=3 -DROUNDS=2 -DQUIESCE=2
spin_check r3_s2 pass epoch.pml -DREADERS=3 -DSWAPS=2 -DROUNDS=1 -DQUIESCE=1
spin_check bug_load_before_online fail epoch.pml -DBUG_LOAD_BEFORE_ONLINE
spin_check bug_step_before_swap fail epoch.pml -DBUG_STEP_BEFORE_SWAP
spin_check bug_stamp_old_epoch fail epoch.pml -DBUG_STAMP_OLD_EPOCH
spin_check bug_no_scan fail epoch.pml -DBUG_NO_SCAN
spin_check bug_offline_blocks fail epoch.pml -DBUG_OFFLINE_BLOCKS

if [ "$failures" -ne 0 ]; then
	echo "$failures model check(s) failed"
	exit 1
fi
echo "all model checks as expected"
