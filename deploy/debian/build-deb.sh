#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds sluice-proxy_VERSION_ARCH.deb with dpkg-deb from an already built sluice binary and the
# sluicectl beside it:
#   deploy/debian/build-deb.sh SLUICE_BINARY OUT_DIR
# Contents: /usr/bin/sluice and /usr/bin/sluicectl (stripped), /lib/systemd/system/sluice.service,
# /etc/sluice/sluice.yaml (conffile), sluice(8), sluicectl(8) and sluice.yaml(5), copyright and
# changelog.
# Prints the path of the .deb on stdout. Use a release build: the binary is shipped as built.
# The package is sluice-proxy: Debian has a package named sluice already (a data piping tool,
# also /usr/bin/sluice, at a version that sorts higher), which it conflicts with.
set -euo pipefail

bin=$(readlink -f "$1")
ctl=$(dirname "$bin")/sluicectl
[ -x "$ctl" ] || { echo "build-deb: no sluicectl beside $bin (build the sluicectl target)" >&2; exit 1; }
out=$(mkdir -p "$2" && cd "$2" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
deb="$top/deploy/debian"

version=$("$bin" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
pkg=sluice-proxy
stage="$out/${pkg}_${version}_${arch}"
rm -rf "$stage"
umask 022

install -D -m 0755 "$bin" "$stage/usr/bin/sluice"
install -D -m 0755 "$ctl" "$stage/usr/bin/sluicectl"
# what dh_strip does; the debug information stays in the build tree
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/bin/sluice" \
	"$stage/usr/bin/sluicectl"
install -D -m 0644 "$top/deploy/sluice.service" "$stage/lib/systemd/system/sluice.service"
install -D -m 0644 "$deb/sluice.yaml" "$stage/etc/sluice/sluice.yaml"
install -d -m 0755 "$stage/usr/share/man/man8" "$stage/usr/share/man/man5"
gzip -9n -c "$top/docs/man/sluice.8" >"$stage/usr/share/man/man8/sluice.8.gz"
gzip -9n -c "$top/docs/man/sluicectl.8" >"$stage/usr/share/man/man8/sluicectl.8.gz"
gzip -9n -c "$top/docs/man/sluice.yaml.5" >"$stage/usr/share/man/man5/sluice.yaml.5.gz"
install -D -m 0644 "$deb/copyright" "$stage/usr/share/doc/$pkg/copyright"
gzip -9n -c "$deb/changelog" >"$stage/usr/share/doc/$pkg/changelog.gz"
chmod 0644 "$stage"/usr/share/man/man*/*.gz "$stage/usr/share/doc/$pkg/changelog.gz"

install -d -m 0755 "$stage/DEBIAN"
install -m 0644 "$deb/conffiles" "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$deb/$s" "$stage/DEBIAN/$s"
done

# shared-library dependencies as dpkg-shlibdeps computes them (it wants a debian/control)
shl=$(mktemp -d)
mkdir -p "$shl/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" >"$shl/debian/control"
depends=$(cd "$shl" && dpkg-shlibdeps -O -e"$stage/usr/bin/sluice" -e"$stage/usr/bin/sluicectl" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
rm -rf "$shl"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$depends/" "$deb/control.in" >"$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control"
# conffiles are left out, as dh_md5sums does: dpkg tracks their sums itself
(cd "$stage" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums"

# the changelog's date, so two builds of one version are the same bytes
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$deb/changelog" | head -n 1)" +%s)
export SOURCE_DATE_EPOCH
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
echo "$out/${pkg}_${version}_${arch}.deb"
