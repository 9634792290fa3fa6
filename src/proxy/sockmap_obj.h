/* SPDX-License-Identifier: MIT */
/*
 * The compiled sockmap verdict program (src/bpf/sockmap_fwd.bpf.c, clang -target bpf), embedded
 * as bytes by cmake/embed.cmake into the build's sockmap_obj.c; src/proxy/sockmap.c opens it.
 */
#ifndef SLUICE_PROXY_SOCKMAP_OBJ_H
#define SLUICE_PROXY_SOCKMAP_OBJ_H

#include <stddef.h>

extern const unsigned char sl__sockmap_obj[];
extern const size_t sl__sockmap_obj_len;

#endif
