# SPDX-License-Identifier: MIT
# sluice-static: the sluice binary linked fully static against glibc (-static-pie), for FROM
# scratch images and empty chroots. Included from CMakeLists.txt in unsanitized Release builds;
# it adds the target only when static libc, libyaml.a, libnuma.a, libcap.a and libcares.a are
# all found, and otherwise says why not. docs/operations.md says why glibc rather than musl.
#
# No NSS at run time: sluice resolves names only through c-ares (DNS discovery), which reads
# /etc/resolv.conf itself and asks DNS servers directly, and the user: and group: names by
# reading /etc/passwd and /etc/group itself (src/proxy/privs.c). libnuma's
# numa_parse_nodestring() ("ip:" node syntax, never called by sluice) is the only caller of
# getaddrinfo, and c-ares's ares_getaddrinfo()/ares_getnameinfo() (never called) of
# getservbyname/getservbyport_r; app/static/no_nss.c stands in for them (--wrap) so glibc's NSS
# loader is not linked at all. --fatal-warnings turns glibc's "Using 'getpwnam' in statically
# linked applications requires at run time the shared libraries..." link warnings into errors,
# so a future NSS user cannot slip in silently.
#
# The admin endpoint is in: libmicrohttpd.a and libjansson.a. Debian's libmicrohttpd.a is built
# with HTTPS support, and GnuTLS cannot be linked statically (no libp11-kit.a; it calls
# getpwuid_r): sluice never enables MHD's TLS, so app/static/no_tls.c defines the gnutls_*
# functions the archive refers to as stubs that fail, and libgnutls is not linked at all.
# So is the control socket (src/admin/ctl.c), which answers with jansson too. The XDP loader
# is in when libbpf.a, libelf.a and libz.a are found (Debian's libbpf-dev, libelf-dev and
# zlib1g-dev ship them), and so is the steering program's; otherwise app/static/no_xdp.c and
# no_steer.c and no_sockmap.c stand in: a configuration with xdp: refuses to start, saying so,
# one with steering: cpu steers by hash and one with forward: sockmap splices, saying why.
# Alerts are not: libcurl.a needs NSS and archives Debian does not ship (no_alerts.c).
include(CheckCSourceCompiles)

find_library(SL_YAML_STATIC_LIB NAMES libyaml.a HINTS ${YAML_LIBRARY_DIRS}
	DOC "static libyaml for sluice-static")
find_library(SL_NUMA_STATIC_LIB NAMES libnuma.a HINTS ${NUMA_LIBRARY_DIRS}
	DOC "static libnuma for sluice-static")
find_library(SL_URING_STATIC_LIB NAMES liburing.a HINTS ${URING_LIBRARY_DIRS}
	DOC "static liburing for sluice-static")
find_library(SL_CAP_STATIC_LIB NAMES libcap.a HINTS ${CAP_LIBRARY_DIRS}
	DOC "static libcap for sluice-static")
# c-ares for DNS discovery: only the query and parse objects are pulled in, none of which calls
# NSS (ares_getaddrinfo, which does, is never used); --fatal-warnings would catch it
find_library(SL_CARES_STATIC_LIB NAMES libcares.a HINTS ${CARES_LIBRARY_DIRS}
	DOC "static c-ares for sluice-static")
find_library(SL_MHD_STATIC_LIB NAMES libmicrohttpd.a HINTS ${MHD_LIBRARY_DIRS}
	DOC "static libmicrohttpd for sluice-static")
find_library(SL_JANSSON_STATIC_LIB NAMES libjansson.a HINTS ${JANSSON_LIBRARY_DIRS}
	DOC "static jansson for sluice-static")
find_library(SL_BPF_STATIC_LIB NAMES libbpf.a HINTS ${BPF_LIBRARY_DIRS}
	DOC "static libbpf for sluice-static's XDP loader")
find_library(SL_ELF_STATIC_LIB NAMES libelf.a DOC "static libelf, which libbpf.a needs")
find_library(SL_Z_STATIC_LIB NAMES libz.a DOC "static zlib, which libelf.a needs")
if(SL_BPF_STATIC_LIB AND SL_ELF_STATIC_LIB AND SL_Z_STATIC_LIB)
	set(SL_STATIC_XDP_LIBS ${SL_BPF_STATIC_LIB} ${SL_ELF_STATIC_LIB} ${SL_Z_STATIC_LIB})
	set(SL_STATIC_XDP_SRC "")
	set(SL_STATIC_XDP_NOTE "XDP with ${SL_BPF_STATIC_LIB}")
else()
	set(SL_STATIC_XDP_LIBS "")
	set(SL_STATIC_XDP_SRC ${PROJECT_SOURCE_DIR}/app/static/no_xdp.c
		${PROJECT_SOURCE_DIR}/app/static/no_steer.c ${PROJECT_SOURCE_DIR}/app/static/no_sockmap.c)
	set(SL_STATIC_XDP_NOTE "no XDP (needs libbpf.a, libelf.a, libz.a)")
endif()
set(CMAKE_REQUIRED_FLAGS -fPIE)
set(CMAKE_REQUIRED_LINK_OPTIONS -static-pie -pthread)
check_c_source_compiles("int main(void) { return 0; }" SL_HAVE_STATIC_PIE_LIBC)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)

set(SL_STATIC_MISSING "")
if(NOT SL_HAVE_STATIC_PIE_LIBC)
	list(APPEND SL_STATIC_MISSING "static libc (-static-pie)")
endif()
if(NOT SL_YAML_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libyaml.a")
endif()
if(NOT SL_NUMA_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libnuma.a")
endif()
if(NOT SL_URING_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "liburing.a")
endif()
if(NOT SL_CAP_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libcap.a")
endif()
if(NOT SL_CARES_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libcares.a")
endif()
if(NOT TARGET sluice_admin)
	list(APPEND SL_STATIC_MISSING "the admin layer (src/admin)")
endif()
if(NOT SL_MHD_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libmicrohttpd.a")
endif()
if(NOT SL_JANSSON_STATIC_LIB)
	list(APPEND SL_STATIC_MISSING "libjansson.a")
endif()

if(SL_STATIC_MISSING)
	message(STATUS "sluice-static: not built, missing ${SL_STATIC_MISSING}")
else()
	message(STATUS "sluice-static: built (glibc -static-pie, ${SL_YAML_STATIC_LIB}, ${SL_NUMA_STATIC_LIB}, ${SL_URING_STATIC_LIB}, ${SL_CAP_STATIC_LIB}, ${SL_CARES_STATIC_LIB}, ${SL_MHD_STATIC_LIB} without TLS, ${SL_JANSSON_STATIC_LIB}, ${SL_STATIC_XDP_NOTE})")
	add_executable(sluice-static ${SL_APP_SOURCES} ${PROJECT_SOURCE_DIR}/app/static/no_nss.c
		${PROJECT_SOURCE_DIR}/app/static/no_tls.c ${PROJECT_SOURCE_DIR}/app/static/no_alerts.c
		${SL_STATIC_XDP_SRC})
	target_include_directories(sluice-static PRIVATE ${PROJECT_SOURCE_DIR}/include
		${PROJECT_SOURCE_DIR}/src ${MHD_INCLUDE_DIRS})
	# the archives by path: the imported pkg-config targets name the shared libraries
	add_dependencies(sluice-static sluice_admin sluice_proxy sluice_static)
	target_link_libraries(sluice-static PRIVATE
		$<TARGET_FILE:sluice_admin> $<TARGET_FILE:sluice_proxy> $<TARGET_FILE:sluice_static>
		${SL_MHD_STATIC_LIB} ${SL_JANSSON_STATIC_LIB}
		${SL_YAML_STATIC_LIB} ${SL_NUMA_STATIC_LIB} ${SL_URING_STATIC_LIB} ${SL_CAP_STATIC_LIB}
		${SL_CARES_STATIC_LIB} ${SL_STATIC_XDP_LIBS} Threads::Threads)
	target_link_options(sluice-static PRIVATE -static-pie -Wl,--fatal-warnings
		-Wl,--wrap=getaddrinfo -Wl,--wrap=freeaddrinfo
		-Wl,--wrap=getservbyname -Wl,--wrap=getservbyport_r)
	install(TARGETS sluice-static RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT programs)
endif()
