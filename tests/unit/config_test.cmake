# SPDX-License-Identifier: MIT
# config_test loads examples/sluice.yaml from the source tree.
target_compile_definitions(${t} PRIVATE SL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
