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
. "$here/spin_check.sh"

# MPMC: 2 producers x 2 items, 2 consumers, single and bulk calls, capacity 2 and 4.
spin_check mpmc_cap2 pass ring_mpmc.pml -DCAP=2
spin_check mpmc_cap4 pass ring_mpmc.pml -DCAP=4
spin_check mpmc_bug_publish_first fail ring_mpmc.pml -DCAP=2 -DBUG_PUBLISH_FIRST
spin_check mpmc_bug_no_seq_check fail ring_mpmc.pml -DCAP=2 -DBUG_NO_SEQ_CHECK
spin_check mpmc_bug_release_first fail ring_mpmc.pml -DCAP=2 -DBUG_RELEASE_FIRST
# capacity 1 is refused by sl_ring_mpmc_create(): "free for the next lap" (pos + 1) would read
# as "holds pos"
spin_check mpmc_capacity_one fail ring_mpmc.pml -DCAP=1

# SPSC: 12 items through capacity 4, single and bulk calls.
spin_check spsc_cap4 pass ring_spsc.pml -DCAP=4 -DN=12
spin_check spsc_bug_publish_first fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_PUBLISH_FIRST
spin_check spsc_bug_release_first fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_RELEASE_FIRST
spin_check spsc_bug_no_full_check fail ring_spsc.pml -DCAP=4 -DN=12 -DBUG_NO_FULL_CHECK

if [ "$failures" -ne 0 ]; then
	echo "$failures model check(s) failed"
	exit 1
fi
echo "all model checks as expected"
