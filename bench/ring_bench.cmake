# SPDX-License-Identifier: MIT
# ring_bench's anchors: Concurrency Kit's ck_ring (header-only use) and liburcu's wfcqueue
# (_LGPL_SOURCE selects its inline operations, as liburcu recommends for speed).
pkg_check_modules(SL_BENCH_CK REQUIRED IMPORTED_TARGET ck)
pkg_check_modules(SL_BENCH_URCU REQUIRED IMPORTED_TARGET liburcu-cds)
target_compile_definitions(${b} PRIVATE _LGPL_SOURCE=1)
target_link_libraries(${b} PRIVATE PkgConfig::SL_BENCH_CK PkgConfig::SL_BENCH_URCU)
