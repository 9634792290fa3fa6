#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian package from a release build and checks it:
#   tests/packaging/deb_test.sh SOURCE_DIR SLUICE_BINARY SCRATCH_DIR
# - lintian reports no error (warnings are printed, not fatal);
# - the files, conffile and dependencies are the ones promised;
# - systemd-analyze verify accepts the unit inside the unpacked package (skipped, saying why,
#   when systemd-analyze is not installed);
# - the packaged default config and the man page's example pass sluice --check;
# - the man pages render without a groff warning (that sluice(8) names every flag and
#   sluice.yaml(5) every key is tests/integration/docs_keys_test.py's job, in every flavour).
set -euo pipefail

src=$1
bin=$2
scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}

deb=$(bash "$src/deploy/debian/build-deb.sh" "$bin" "$scratch")
echo "built $deb"

echo "== lintian"
lint=$(lintian --no-cfg --display-level '>=warning' "$deb" 2>&1) || true
echo "${lint:-(nothing at warning level or above)}"
if grep -q '^E: ' <<<"$lint"; then
	bad "lintian reports errors"
fi

echo "== contents"
dpkg-deb -c "$deb" | awk '{print $1, $6}'
want=(./usr/bin/sluice ./usr/bin/sluicectl ./lib/systemd/system/sluice.service
	./etc/sluice/sluice.yaml ./usr/share/man/man8/sluice.8.gz ./usr/share/man/man8/sluicectl.8.gz
	./usr/share/man/man5/sluice.yaml.5.gz
	./usr/share/doc/sluice-proxy/copyright ./usr/share/doc/sluice-proxy/changelog.gz)
for f in "${want[@]}"; do
	dpkg-deb -c "$deb" | awk '{print $6}' | grep -qxF "$f" || bad "missing $f"
done
# Debian's own "sluice" (a data piping tool, also /usr/bin/sluice) sorts higher: another name,
# and a conflict with it
[ "$(dpkg-deb -f "$deb" Package)" = sluice-proxy ] || bad "package name"
[ "$(dpkg-deb -f "$deb" Conflicts)" = sluice ] || bad "no Conflicts: sluice"
# ExecReload= runs /bin/kill, which procps (not Essential) brings
dpkg-deb -f "$deb" Depends | grep -qw 'procps' || bad "Depends lacks procps"
dpkg-deb -f "$deb" Depends | grep -q 'libyaml' || bad "Depends lacks libyaml: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qxF /etc/sluice/sluice.yaml ||
	bad "/etc/sluice/sluice.yaml is not a conffile"

root="$scratch/root"
dpkg-deb -x "$deb" "$root"
[ -x "$root/usr/bin/sluice" ] || bad "/usr/bin/sluice is not executable"
"$root/usr/bin/sluice" --version | grep -q '^sluice ' || bad "the packaged binary does not run"
"$root/usr/bin/sluicectl" --version | grep -q '^sluicectl ' || bad "the packaged sluicectl does not run"
# hardened as dpkg-buildflags would build it (lintian says so at the info level only)
# (the outputs are read whole first: grep -q leaving early would fail the pipe under pipefail)
for b in sluice sluicectl; do
	dyn=$(readelf -d "$root/usr/bin/$b")
	grep -q 'BIND_NOW' <<<"$dyn" || bad "$b: no BIND_NOW (full RELRO)"
	syms=$(nm -D "$root/usr/bin/$b")
	grep -q '__stack_chk_fail' <<<"$syms" || bad "$b: no stack protector"
	grep -q '_chk@' <<<"$syms" || bad "$b: no _FORTIFY_SOURCE function"
done

echo "== the packaged config and the man page's example pass --check"
"$root/usr/bin/sluice" --check -c "$root/etc/sluice/sluice.yaml" || bad "default config refused"
MANWIDTH=100 man -l "$root/usr/share/man/man5/sluice.yaml.5.gz" 2>/dev/null |
	sed -n '/^EXAMPLE/,/^SEE ALSO/p' | sed '1d;$d' | sed 's/^       //' >"$scratch/example.yaml"
grep -q 'listeners:' "$scratch/example.yaml" || bad "no example found in sluice.yaml(5)"
"$root/usr/bin/sluice" --check -c "$scratch/example.yaml" || bad "sluice.yaml(5) example refused"

echo "== man pages render without warnings"
for m in "$root"/usr/share/man/man8/sluice.8.gz "$root"/usr/share/man/man8/sluicectl.8.gz \
	"$root"/usr/share/man/man5/sluice.yaml.5.gz; do
	# what lintian's manpage check runs
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$m" 2>&1 >/dev/null) || true
	[ -z "$warn" ] || bad "$(basename "$m"): $warn"
done

echo "== systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed (package systemd)"
else
	# a root with the package unpacked, the targets the unit names, and /bin/kill (ExecReload)
	mkdir -p "$root/usr/lib/systemd/system" "$root/usr/bin"
	cp /lib/systemd/system/*.target "$root/usr/lib/systemd/system/"
	cp "$(type -P kill)" "$root/usr/bin/kill"
	[ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
	# the unit's Documentation= pages are looked up with man: point it at the package's
	out=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" \
		/lib/systemd/system/sluice.service 2>&1) || bad "systemd-analyze verify failed"
	# unknown keys are only warnings to verify: any output at all is a failure here
	[ -z "$out" ] || bad "systemd-analyze verify: $out"
	echo "${out:-ok}"
fi

[ "$fail" = 0 ] && echo "deb test: ok"
exit "$fail"
