#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds a release sluice and runs its demo: 127.0.0.1:8080 balanced
# over three backends inside the process, with /metrics, /stats, /healthz and /readyz on
# 127.0.0.1:9090 and a control socket for build/demo/sluicectl in $TMPDIR (else /tmp). Extra
# arguments go to sluice (e.g. --demo 127.0.0.1:9000, --admin off, --control off).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh demo # the binary's build needs only, not the test suite's
# its own build tree without tests and benchmarks, which need more packages
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -DSL_BUILD_TESTS=OFF \
	-DSL_BUILD_BENCH=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target sluice sluicectl >/dev/null
exec build/demo/sluice "$@"
