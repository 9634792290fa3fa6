#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds a release sluice and runs its demo: 127.0.0.1:8080 balanced
# over three backends inside the process, with /metrics, /stats, /healthz and /readyz on
# 127.0.0.1:9090. Extra arguments go to sluice (e.g. --demo 127.0.0.1:9000, --admin off).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/release -j"$(nproc)" --target sluice >/dev/null
exec build/release/sluice "$@"
