# SPDX-License-Identifier: MIT
# pool_bench measures sl_pool against glibc; jemalloc, mimalloc and tcmalloc all replace malloc
# when linked, so each gets its own executable from the same source (-DSL_BENCH_<NAME>).
target_link_libraries(${b} PRIVATE ${CMAKE_DL_LIBS})
find_library(SL_JEMALLOC_LIB jemalloc)
find_library(SL_MIMALLOC_LIB mimalloc)
find_library(SL_TCMALLOC_LIB tcmalloc_minimal)
foreach(anchor JEMALLOC MIMALLOC TCMALLOC)
	if(SL_${anchor}_LIB)
		string(TOLOWER ${anchor} lower)
		add_executable(${b}_${lower} ${src})
		target_compile_definitions(${b}_${lower} PRIVATE SL_BENCH_${anchor}=1)
		target_link_libraries(${b}_${lower} PRIVATE ${SL_APP_LIB} ${SL_${anchor}_LIB}
			${CMAKE_DL_LIBS})
	endif()
endforeach()
