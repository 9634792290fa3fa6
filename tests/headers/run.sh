#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every public header compiles on its own, as the first and only include of a file, with the
# project's warnings as errors (CONTRIBUTING.md, "Headers").   run.sh SOURCE_DIR SCRATCH_DIR
set -euo pipefail
src=$1 scratch=$2
mkdir -p "$scratch"
n=0
for h in "$src"/include/sluice/*.h; do
	name=$(basename "$h")
	printf '#include <sluice/%s>\n' "$name" >"$scratch/only_$name.c"
	${CC:-cc} -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -Wformat=2 -Wvla -I"$src/include" \
		-c "$scratch/only_$name.c" -o "$scratch/only_$name.o"
	n=$((n + 1))
done
echo "headers: $n compile alone"
