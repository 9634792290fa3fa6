/* SPDX-License-Identifier: MIT */
/*
 * The compiled XDP program (src/bpf/xdp_drop.bpf.c, clang -target bpf), embedded as bytes by
 * cmake/embed.cmake into the build's xdp_obj.c; src/proxy/xdp.c opens it with libbpf.
 */
#ifndef SLUICE_PROXY_XDP_OBJ_H
#define SLUICE_PROXY_XDP_OBJ_H

#include <stddef.h>

extern const unsigned char sl__xdp_obj[];
extern const size_t sl__xdp_obj_len;

#endif
