#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Model checks of sl_queue with spin (queue.pml): exhaustive safety runs of several thread and
# item counts must find no error, and every planted-bug variant must make spin report one, which
# proves the assertions can fire. Usage: queue_test.sh SCRATCH_DIR. Exits non-zero on any
# unexpected outcome.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scratch=${1:?usage: $0 SCRATCH_DIR}
command -v spin >/dev/null || { echo "spin not installed (apt-get install spin)"; exit 1; }
mkdir -p "$scratch/queue" || exit 1
cd "$scratch/queue" || exit 1
. "$here/spin_check.sh"

# 2-slot segments (3 in one run), so every run links, unlinks and batches across or up to a
# segment end. producers x items, consumers
spin_check p2i2_c2 pass queue.pml -DNP=2 -DNI=2 -DNC=2
spin_check p2i2_c1 pass queue.pml -DNP=2 -DNI=2 -DNC=1
spin_check p1i3_c2 pass queue.pml -DNP=1 -DNI=3 -DNC=2
spin_check p3i1_c2 pass queue.pml -DNP=3 -DNI=1 -DNC=2
spin_check p3i1_c1 pass queue.pml -DNP=3 -DNI=1 -DNC=1
spin_check s3_p2i2_c2 pass queue.pml -DNS=3 -DNP=2 -DNI=2 -DNC=2

# planted bugs: each weakens one step; spin must find the assertion it breaks
spin_check bug_plain_fill fail queue.pml -DNP=2 -DNI=1 -DNC=2 -DBUG_PLAIN_FILL
spin_check bug_plain_deq fail queue.pml -DNP=2 -DNI=1 -DNC=2 -DBUG_PLAIN_DEQ
spin_check bug_no_tail_help fail queue.pml -DNP=3 -DNI=1 -DNC=1 -DBUG_NO_TAIL_HELP
spin_check bug_plain_link fail queue.pml -DNP=2 -DNI=2 -DNC=1 -DBUG_PLAIN_LINK
spin_check bug_hint_ahead fail queue.pml -DNP=1 -DNI=2 -DNC=1 -DBUG_HINT_AHEAD
spin_check bug_batch_no_check fail queue.pml -DNP=1 -DNI=2 -DNC=1 -DBUG_BATCH_NO_CHECK

if [ "$failures" -ne 0 ]; then
	echo "$failures model check(s) failed"
	exit 1
fi
echo "all model checks as expected"
