#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CONTRIBUTING.md, "Atomics and memory ordering": every acquire, release, acq_rel or seq_cst order and every fence carries a
# tag comment (A1:, R1:, F1: ...) within the 4 lines above it (or on its own line), and every
# relaxed access says why relaxed is enough ("relaxed:" in a comment nearby).
# check-atomics.sh [FILE...] (default: every tracked .c/.h file). Exits 1 listing offenders.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	mapfile -t files < <(git ls-files 'src/*.c' 'src/*.h' 'include/*.h')
else
	files=("$@")
fi
python3 - "${files[@]}" <<'PY'
import re, sys
strong = re.compile(r"memory_order_(acquire|release|acq_rel|seq_cst)|atomic_thread_fence|atomic_signal_fence")
relaxed = re.compile(r"memory_order_relaxed")
tag = re.compile(r"\b[ARF][0-9]+[a-z]?\b\s*:|\b[ARF][0-9]+[a-z]?\b")
why_relaxed = re.compile(r"relaxed", re.I)
bad = []
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    for i, line in enumerate(lines):
        code = line.split("//")[0]
        if line.lstrip().startswith(("*", "/*", "//")) and "memory_order" not in code.replace("/*", ""):
            continue
        window = "\n".join(lines[max(0, i - 6): i + 1])
        comments = " ".join(re.findall(r"/\*.*?\*/|//.*|^\s*\*.*", window, re.M | re.S))
        if strong.search(code):
            if not re.search(r"\b[ARF][0-9]+[a-z]?\b", comments):
                bad.append(f"{path}:{i + 1}: ordering without a tag (A1/R1/F1) comment: {line.strip()}")
        elif relaxed.search(code):
            if not why_relaxed.search(comments):
                bad.append(f"{path}:{i + 1}: relaxed access without a 'relaxed: why' comment: {line.strip()}")
for b in bad:
    print(b)
print(f"check-atomics: {len(sys.argv) - 1} files, {len(bad)} problems")
sys.exit(1 if bad else 0)
PY
