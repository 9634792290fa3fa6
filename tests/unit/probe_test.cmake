# SPDX-License-Identifier: MIT
# probe_test: the URL parsing of `sluice --probe` lives in the application (app/sluice/probe.c).
target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/app/sluice/probe.c)
target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/app/sluice)
