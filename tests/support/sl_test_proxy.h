/* SPDX-License-Identifier: MIT */
/*
 * Pieces for in-process proxy tests: a loopback listener config with small buffers and long
 * timeouts, a backend config at a given address, and starting the proxy. Each test file keeps
 * its own rig around them.
 */
#ifndef SL_TEST_PROXY_H
#define SL_TEST_PROXY_H

#include <sluice/addr.h>
#include <sluice/config.h>
#include <sluice/proxy.h>

/*
 * Sets <l> to listener "test" on 127.0.0.1 port 0: backlog 1024, forwarder <fwd>, TCP_NODELAY,
 * 64 KiB pipes, 16 KiB buffers, connect timeout 5 s, idle timeouts 60 s. Other fields are left
 * as they are. Fails the calling test (cmocka) if the address does not parse.
 */
void sl_test_proxy_listener(struct sl_config_listener *l, enum sl_fwd_mode fwd);

/* Sets <b> to address <a>, weight 1, named by its address. Other fields are left as they are. */
void sl_test_proxy_backend(struct sl_config_backend *b, const struct sl_addr *a);

/*
 * Creates and starts a proxy from <cfg> into <*p>, and stores the bound address of each of its
 * cfg->nlisteners listeners in <addr> (that many entries). Fails the calling test (cmocka) if
 * any step fails. The caller stops and destroys the proxy.
 */
void sl_test_proxy_start(struct sl_proxy **p, const struct sl_config *cfg, struct sl_addr *addr);

#endif /* SL_TEST_PROXY_H */
