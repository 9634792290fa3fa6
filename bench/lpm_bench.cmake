# SPDX-License-Identifier: MIT
# lpm_bench compares sl_lpm with DPDK's rte_lpm and rte_lpm6 when libdpdk's pkg-config is there
# (Debian: libdpdk-dev); without it the benchmark builds with sl_lpm rows only.
pkg_check_modules(DPDK IMPORTED_TARGET libdpdk)
if(DPDK_FOUND)
	target_compile_definitions(${b} PRIVATE SL_BENCH_DPDK=1)
	target_link_libraries(${b} PRIVATE PkgConfig::DPDK)
else()
	message(STATUS "lpm_bench: libdpdk not found (libdpdk-dev); building without the rte_lpm anchors")
endif()
