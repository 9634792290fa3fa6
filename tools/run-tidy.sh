#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# clang-tidy over every C file of the library, the proxy and the binary, with the checks and
# the errors-vs-warnings split of .clang-tidy. Fails on any error-level finding.
#   tools/run-tidy.sh BUILD_DIR   (a clang build that exported compile_commands.json)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: run-tidy.sh BUILD_DIR}
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json" >&2; exit 2; }
out=$(run-clang-tidy -quiet -p "$build" -j "$(nproc)" "$top/(src|app)/.*\\.c\$" 2>&1)
rc=$?
out=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$out") # it colours its output even into a pipe
# keep the findings (file:line:col: severity: ...) and their notes; drop per-file banners
grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning|note):' <<<"$out" || true
if [ $rc -ne 0 ] || grep -qE '^[^ ]+:[0-9]+:[0-9]+: error:' <<<"$out"; then
	echo "clang-tidy: error-level findings (or clang-tidy failed, exit $rc)" >&2
	exit 1
fi
echo "clang-tidy: no error-level findings"
