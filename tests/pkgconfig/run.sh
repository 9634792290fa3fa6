#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the built library (the toolkit component) into a scratch prefix, then builds tests/pkgconfig/example.c
# against it with nothing but `pkg-config --cflags --libs sluice` (shared, then static) and runs
# both programs.   run.sh SOURCE_DIR BUILD_DIR SCRATCH_DIR
set -euo pipefail
src=$1 build=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" --component toolkit >"$scratch/install.log"
if [ -e "$scratch/prefix/bin" ]; then
	echo "the toolkit component installed programs: $(ls "$scratch/prefix/bin")" >&2
	exit 1
fi
export PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig:$scratch/prefix/lib/x86_64-linux-gnu/pkgconfig"
# every function an installed header declares (SL_API) is one the installed library defines
defined=$(nm -D --defined-only "$(pkg-config --variable=libdir sluice)/libsluice.so" | awk '{sub(/@.*/, "", $3); print $3}')
missing=0
for h in "$scratch"/prefix/include/sluice/*.h; do
	for f in $(grep -v '^ *#' "$h" | tr '\n' ' ' | grep -oE 'SL_API [^;{]*\bsl_[a-z0-9_]+ *\(' |
		grep -oE 'sl_[a-z0-9_]+ *\($' | tr -d '( '); do
		if ! grep -qx "$f" <<<"$defined"; then
			echo "installed $(basename "$h") declares $f, which libsluice does not define"
			missing=1
		fi
	done
done
[ "$missing" = 0 ]
echo "installed headers: $(ls "$scratch"/prefix/include/sluice | wc -l), every declared function defined"
# every exported symbol carries the ABI's version node (src/libsluice.map), none is unversioned
lib="$(pkg-config --variable=libdir sluice)/libsluice.so"
node="SLUICE_$(readelf -d "$lib" | grep -oE 'libsluice\.so\.[0-9]+' | head -1 | sed 's/.*\.//')"
unversioned=$(objdump -T "$lib" | awk '$2 != "l" && $4 != "*UND*" && $NF ~ /^sl_/ && $(NF-1) != "'"$node"'"')
if [ -n "$unversioned" ] || [ "$(objdump -T "$lib" | awk '$NF ~ /^sl_/' | wc -l)" -lt 100 ]; then
	echo "libsluice.so exports sl_ symbols outside $node:" >&2
	echo "$unversioned" | head >&2
	exit 1
fi
echo "exported symbols: all under $node"
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -std=gnu11 -Wall -Werror -o "$scratch/example-shared" "$src/tests/pkgconfig/example.c" \
	$(pkg-config --cflags --libs sluice)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir sluice)" "$scratch/example-shared"
# the program names the version node it needs
if ! readelf -V "$scratch/example-shared" | grep -q "Name: $node"; then
	echo "the shared example does not require $node" >&2
	exit 1
fi
# shellcheck disable=SC2046
# the command docs/toolkit.md gives for a static link
$cc -std=gnu11 -Wall -Werror -o "$scratch/example-static" "$src/tests/pkgconfig/example.c" \
	$(pkg-config --cflags sluice) \
	$(pkg-config --static --libs sluice | sed 's/-lsluice\b/-l:libsluice.a/')
if ldd "$scratch/example-static" | grep -q libsluice; then
	echo "the static example loads libsluice.so" >&2
	exit 1
fi
"$scratch/example-static"
echo "pkg-config example: shared and static builds ran"
