# SPDX-License-Identifier: MIT
# Sourced by the model-check scripts (tests/model/*_test.sh): one exhaustive spin run per call.
# spin_check NAME WANT MODEL [spin -D flags...] runs in ./NAME (a copy of $here/MODEL):
#   WANT=pass  errors: 0 over the full state space (no bitstate, not cut by depth or memory)
#   WANT=fail  spin reports an assertion violation (a planted bug: proves the assertions fire)
# Prints one "ok"/"FAIL" line; counts failures in $failures. Needs $here (the models' directory).
failures=${failures:-0}

spin_check() {
	local name=$1 want=$2 model=$3
	shift 3
	local dir="$name" out states errs
	rm -rf "$dir" && mkdir "$dir" && cp "$here/$model" "$dir/" || return 1
	if ! (cd "$dir" && spin "$@" -a "$model" >spin.log 2>&1); then
		echo "FAIL $name: spin -a failed"; cat "$dir/spin.log"; failures=$((failures + 1)); return
	fi
	# exhaustive: no BITSTATE; COLLAPSE only compresses stored states (lossless); -w: pan.c is
	# generated code; MEMLIM: stop (and fail) rather than swap if the model grows
	if ! (cd "$dir" && gcc -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c >cc.log 2>&1); then
		echo "FAIL $name: pan did not compile"; cat "$dir/cc.log"; failures=$((failures + 1)); return
	fi
	(cd "$dir" && ./pan -m200000 >pan.log 2>&1)
	out="$dir/pan.log"
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
