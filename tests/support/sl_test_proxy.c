// SPDX-License-Identifier: MIT
/* Pieces for in-process proxy tests (sl_test_proxy.h). */
#include "sl_test_proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

void
sl_test_proxy_listener(struct sl_config_listener *l, enum sl_fwd_mode fwd)
{
	strcpy(l->name, "test");
	assert_int_equal(0, sl_addr_parse(&l->addr, "127.0.0.1:0", true, NULL));
	l->backlog = 1024;
	l->forward = fwd;
	l->tcp_nodelay = true;
	l->pipe_size = 65536;
	l->buffer_size = 16384;
	l->timeouts = (struct sl_config_timeouts){
	        .connect_ms = 5000, .client_idle_ms = 60000, .server_idle_ms = 60000};
}

void
sl_test_proxy_backend(struct sl_config_backend *b, const struct sl_addr *a)
{
	b->addr = *a;
	b->weight = 1;
	sl_addr_format(a, b->name, sizeof(b->name));
}

void
sl_test_proxy_start(struct sl_proxy **p, const struct sl_config *cfg, struct sl_addr *addr)
{
	assert_int_equal(0, sl_proxy_create(p, cfg));
	assert_int_equal(0, sl_proxy_start(*p));
	for (size_t i = 0; i < cfg->nlisteners; i++)
		assert_int_equal(0, sl_proxy_listener_addr(*p, i, &addr[i]));
}
