#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: installs what it needs, checks formatting, then builds and tests every
# flavour (release/gcc, debug/clang, ASan+UBSan/gcc, TSan/clang), then runs every libFuzzer target
# for a bounded time (fuzz/clang, SL_FUZZ_SECONDS each). The release flavour also builds
# sluice-static, the fully static binary, and runs the integration tests a second time with
# every sluice on the epoll runtime (SL_TEST_RUNTIME=epoll: the first pass runs on the default,
# auto, which is io_uring where the kernel allows it). Exits non-zero on any failure.
#   scripts/test.sh               everything
#   FLAVOURS="release asan" scripts/test.sh   a subset
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/install-deps.sh || exit 1

FLAVOURS=${FLAVOURS:-"release debug asan tsan fuzz"}
jobs=$(nproc)
failed_steps=()
total_pass=0
total_fail=0

echo "== format check (clang-format --dry-run --Werror)"
mapfile -t sources < <(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null)
if [ ${#sources[@]} -gt 0 ] && ! clang-format --dry-run --Werror "${sources[@]}"; then
	failed_steps+=("format")
fi

configure_args() { # FLAVOUR -> cmake arguments
	case "$1" in
	release) echo "-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc" ;;
	debug) echo "-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang" ;;
	asan) echo "-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DSL_SANITIZE=address" ;;
	tsan) echo "-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DSL_SANITIZE=thread" ;;
	fuzz) echo "-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DSL_SANITIZE=address -DSL_BUILD_FUZZ=ON" ;;
	*) return 1 ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# Adds the pass/fail counts of the ctest log $1 to the totals; a step $2 (no summary: ctest
# failed) or $3 (some tests failed) goes to failed_steps.
count_ctest() {
	local summary nfail nall
	summary=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$1" | tail -n 1)
	if [ -z "$summary" ]; then
		failed_steps+=("$2")
		return
	fi
	nfail=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
	nall=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
	total_fail=$((total_fail + nfail))
	total_pass=$((total_pass + nall - nfail))
	[ "$nfail" = 0 ] || failed_steps+=("$3")
}

for f in $FLAVOURS; do
	args=$(configure_args "$f") || { echo "unknown flavour $f"; exit 2; }
	dir="build/$f"
	echo "== $f: configure and build ($dir)"
	# shellcheck disable=SC2086
	mkdir -p build
	if ! cmake -S . -B "$dir" $args >"$dir.configure.log" 2>&1; then
		cat "$dir.configure.log"
		failed_steps+=("$f:configure")
		continue
	fi
	targets=()
	ctest_args=()
	if [ "$f" = fuzz ]; then # the other flavours run the rest; here only the fuzz targets
		mapfile -t targets < <(cd fuzz && ls -- *_fuzz.c | sed 's/\.c$//; s/^/--target=/')
		ctest_args=(-L fuzz)
	fi
	if ! cmake --build "$dir" -j"$jobs" "${targets[@]}" >"$dir.build.log" 2>&1; then
		tail -n 60 "$dir.build.log"
		failed_steps+=("$f:build")
		continue
	fi
	# the release flavour also builds sluice-static (cmake/sluice-static.cmake), which the
	# static-chroot and container-image tests run; its absence here is a failure, not a skip
	if [ "$f" = release ] && [ ! -x "$dir/sluice-static" ]; then
		grep -m1 'sluice-static:' "$dir.configure.log"
		failed_steps+=("$f:sluice-static")
	fi
	echo "== $f: ctest"
	ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 "${ctest_args[@]}" 2>&1 | tee "$dir.ctest.log"
	count_ctest "$dir.ctest.log" "$f:ctest" "$f:tests"
	# the default runtime is auto (io_uring where the kernel allows it, as on this kind of
	# machine); the release flavour runs the integration tests again with every sluice on
	# --runtime epoll (tests/integration/harness.py), so both runtimes pass the whole suite
	if [ "$f" = release ]; then
		echo "== $f: integration tests on epoll (SL_TEST_RUNTIME=epoll)"
		SL_TEST_RUNTIME=epoll ctest --test-dir "$dir" --output-on-failure -j"$jobs" \
			--timeout 600 -L integration 2>&1 | tee "$dir.ctest-epoll.log"
		count_ctest "$dir.ctest-epoll.log" "$f:epoll-ctest" "$f:epoll-tests"
	fi
done

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
	echo "FAILED steps: ${failed_steps[*]}"
	[ "$total_fail" -gt 0 ] || total_fail=${#failed_steps[@]}
fi
echo "total: $total_pass passed, $total_fail failed"
[ ${#failed_steps[@]} -eq 0 ]
