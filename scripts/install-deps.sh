#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that building, testing and benchmarking sluice needs; with
# "demo", only what building the sluice binary needs (scripts/demo.sh).
# Idempotent: when everything is present it runs no apt-get at all.
set -euo pipefail

# the sluice binary alone: compiler, build tools and the libraries it links
demo_packages=(build-essential cmake pkg-config libnuma-dev liburing-dev libyaml-dev libmicrohttpd-dev
	libjansson-dev libcap-dev libc-ares-dev)

packages=(
	# build
	build-essential cmake pkg-config clang clang-format clang-tidy libclang-rt-14-dev
	# libraries (libyaml-dev, libnuma-dev, libcap-dev and libc6-dev also ship the .a files of
	# sluice-static)
	libcmocka-dev libnuma-dev libyaml-dev liburing-dev libc6-dev libcap-dev
	libmicrohttpd-dev libjansson-dev
	# DNS service discovery (libc-ares-dev also ships the libcares.a of sluice-static), and the
	# DNS server of its test (dnsmasq-base: the daemon without a service)
	libc-ares-dev dnsmasq-base
	# alerts post to webhooks with libcurl (without it they are compiled out)
	libcurl4-openssl-dev
	# the XDP early-drop program: libbpf loads it (without it, or clang, it is compiled out);
	# libelf-dev and zlib1g-dev also ship the libelf.a and libz.a libbpf.a needs in sluice-static
	libbpf-dev libelf-dev zlib1g-dev
	# model checking, tools used by tests (podman: the container image test builds, never runs)
	spin strace valgrind curl netcat-openbsd iproute2 python3 podman
	# capsh: the privileges test starts sluice as systemd's AmbientCapabilities= would
	libcap2-bin
	# packaging tests: lintian, man pages, manifest parsing (systemd-analyze is used if present)
	lintian man-db python3-yaml
	# promtool checks the admin endpoint's metrics; headless Chromium drives its stats page
	# (fonts-dejavu-core: text in the page's screenshot without the recommended fonts)
	prometheus chromium chromium-driver fonts-dejavu-core
	# toolkit benchmark anchors
	libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libck-dev liburcu-dev
	# lpm_bench anchors (rte_lpm, rte_lpm6); without it lpm_bench measures sl_lpm alone
	libdpdk-dev
	# proxy benchmark anchors and load generators; iptables (nf_tables): the drop rule
	# bench/xdp-drop measures XDP against, and proxy-bench's kernel-nat system
	haproxy nginx libnginx-mod-stream wrk iperf3 gnuplot-nox iptables
)

[ "${1:-}" = demo ] && packages=("${demo_packages[@]}")
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}" >&2
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the distribution packages start these services; the benchmarks run their own instances, and
# prometheus would hold 9090, the demo's admin port
for s in haproxy nginx prometheus; do
	if command -v systemctl >/dev/null && systemctl is-active -q "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
	pkill -x "$s" 2>/dev/null || true
done
