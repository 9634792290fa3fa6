#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Exhaustive spin check of the sl_pool depot stack (pool_depot.pml). For each configuration the
# real model must verify with errors: 0 over the full state space, while the plain Treiber stack
# (-DNO_GENERATION) and a generation one change too narrow (-DGEN_WRAP) must both be caught.
# pool_depot_test.sh SCRATCH_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1/pool_depot
rm -rf "$work"
mkdir -p "$work"
cd "$work"
cp "$here/pool_depot.pml" .

# Configurations: magazines, workers, operations per worker.
configs=("NODES=3 PROCS=3 OPS=2" "NODES=3 PROCS=2 OPS=6")
depth=100000
incomplete='Search not completed|max search depth too small|out of memory|MEMLIM|Bit statespace'
fail=0

# verify NAME DEFINES...: builds and runs pan in ./NAME, leaves its output in NAME/pan.out
verify() {
	local name=$1
	shift
	mkdir -p "$name"
	(
		cd "$name"
		cp ../pool_depot.pml .
		spin "$@" -a pool_depot.pml >spin.out
		# -w: pan.c is generated code; MEMLIM: fail rather than swap if the model grows
		gcc -O2 -w -DSAFETY -DMEMLIM=1024 -o pan pan.c
		./pan -m$depth >pan.out 2>&1 || true
	)
}

field() { # field FILE REGEX: first number captured by REGEX's (group)
	sed -nE "s/$2/\1/p" "$1" | head -n 1
}

for cfg in "${configs[@]}"; do
	defs=()
	for kv in $cfg; do
		defs+=("-D$kv")
	done
	tag=$(echo "$cfg" | tr -d ' =')

	verify "$tag" "${defs[@]}"
	out=$tag/pan.out
	errors=$(field "$out" '.*errors: ([0-9]+).*')
	states=$(field "$out" '^ *([0-9.e+]+) states, stored.*')
	trans=$(field "$out" '^ *([0-9.e+]+) transitions.*')
	reached=$(field "$out" '.*depth reached ([0-9]+),.*')
	# complete: full (not bitstate) search, not cut by depth or memory
	if [ "$errors" = 0 ] && grep -q '^Full statespace search for:' "$out" &&
		! grep -qE "$incomplete" "$out" && [ "$reached" -lt "$depth" ]; then
		echo "ok   $cfg: errors 0, full search, $states states, $trans transitions, depth $reached"
	else
		echo "FAIL $cfg: the real depot model did not verify completely:"
		sed 's/^/    /' "$out"
		fail=1
	fi

	for bug in NO_GENERATION GEN_WRAP; do
		verify "$tag-$bug" "${defs[@]}" "-D$bug"
		out=$tag-$bug/pan.out
		errors=$(field "$out" '.*errors: ([0-9]+).*')
		states=$(field "$out" '^ *([0-9.e+]+) states, stored.*')
		if [ -n "$errors" ] && [ "$errors" -ge 1 ] && grep -q 'assertion violated' "$out"; then
			echo "ok   $cfg -D$bug: caught after $states states: $(grep -m1 'assertion violated' "$out")"
		else
			echo "FAIL $cfg -D$bug: the planted bug was not caught:"
			sed 's/^/    /' "$out"
			fail=1
		fi
	done
done

# Show the textbook ABA run on the plain Treiber stack: the shortest counterexample (-i) with
# only pops and pushes (NO_ASIDE). Informational: the checks above decide the result.
verify show "-DNODES=3" "-DPROCS=2" "-DOPS=6" -DNO_GENERATION -DNO_ASIDE
if (cd show && gcc -O2 -w -DSAFETY -DREACH -o pan pan.c && ./pan -i -m200 >pan.out 2>&1); then
	echo "shortest ABA counterexample without the generation (w<pid>, head {generation,index}):"
	(cd show && spin -DNODES=3 -DPROCS=2 -DOPS=6 -DNO_GENERATION -DNO_ASIDE -t pool_depot.pml) |
		grep -E '^ *w[0-9]|text of failed' | awk '/text of failed/ && f++ { next } 1' |
		sed -E 's/^ +/    /' || true
fi
exit $fail
