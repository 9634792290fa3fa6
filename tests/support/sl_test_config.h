/* SPDX-License-Identifier: MIT */
/*
 * Configuration pieces for in-process proxy tests: a loopback listener with small buffers and
 * long timeouts, and a backend at a given address. Each test file keeps its own rig around them.
 */
#ifndef SL_TEST_CONFIG_H
#define SL_TEST_CONFIG_H

#include <sluice/addr.h>
#include <sluice/config.h>

/*
 * Sets <l> to listener "test" on 127.0.0.1 port 0: backlog 1024, forwarder <fwd>, TCP_NODELAY,
 * 64 KiB pipes, 16 KiB buffers, connect timeout 5 s, idle timeouts 60 s. Other fields are left
 * as they are. Fails the calling test (cmocka) if the address does not parse.
 */
void sl_test_config_listener(struct sl_config_listener *l, enum sl_fwd_mode fwd);

/* Sets <b> to address <a>, weight 1, named by its address. Other fields are left as they are. */
void sl_test_config_backend(struct sl_config_backend *b, const struct sl_addr *a);

#endif /* SL_TEST_CONFIG_H */
