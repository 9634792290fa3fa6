/* SPDX-License-Identifier: MIT */
/*
 * The compiled steering program (src/bpf/steer_cpu.bpf.c, clang -target bpf), embedded as
 * bytes by cmake/embed.cmake into the build's steer_obj.c; src/proxy/steer.c opens it.
 */
#ifndef SLUICE_PROXY_STEER_OBJ_H
#define SLUICE_PROXY_STEER_OBJ_H

#include <stddef.h>

extern const unsigned char sl__steer_obj[];
extern const size_t sl__steer_obj_len;

#endif
