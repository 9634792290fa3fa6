#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A bounded libFuzzer run of one target: run.sh TARGET FUZZ_DIR NAME SCRATCH
# Seeds: FUZZ_DIR/corpus/NAME (copied to SCRATCH, never written); dictionary FUZZ_DIR/NAME.dict
# if present. SL_FUZZ_SECONDS (default 20) bounds the run; any crash, leak or sanitizer report
# fails it and leaves the input in SCRATCH/artifacts.
set -euo pipefail
target=$1 dir=$2 name=$3 scratch=$4
rm -rf "$scratch"
mkdir -p "$scratch/corpus" "$scratch/artifacts"
cp "$dir/corpus/$name"/* "$scratch/corpus/"
dict=()
[ -f "$dir/$name.dict" ] && dict=(-dict="$dir/$name.dict")
"$target" -max_total_time="${SL_FUZZ_SECONDS:-20}" -max_len=4096 -print_final_stats=1 \
	-artifact_prefix="$scratch/artifacts/" "${dict[@]}" "$scratch/corpus" 2>&1 | tail -n 12
