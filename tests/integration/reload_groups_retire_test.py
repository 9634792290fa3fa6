# SPDX-License-Identifier: MIT
"""Reloads that add, remove and bring back groups with a warm pool or DNS discovery, real
processes on real sockets. A group added with a warm pool fills it on every worker (the backend
sees the idle connections). A removed group's warm pools close their idle connections on every
worker (the backend sees them go) and fill again when a later file names the group. A
removed group's discovery pauses (records changed meanwhile are not resolved, and nothing is
applied to the retired group) and resumes when it is named again: the new records are resolved
and its listener's sessions reach them. dnsmasq serves the records (dns_discovery_test.py)."""
import contextlib
import os
import time
import unittest

from dns_discovery_test import DNSMASQ, Dnsmasq, backends_on_one_port, who
from harness import (SLOW, connect, echo_handler, free_port, held, recv_exact, Server, stable_port,
                     wait_for, wait_for_text)
from reloading import ReloadCase


class ReloadGroupsRetire(ReloadCase):
    def write(self, listeners, groups):
        """<listeners>: [(name, port, group)], <groups>: [(name, yaml body)]."""
        self.write_listeners_groups("workers: 2\ndrain_timeout: 5s\n", listeners, groups)

    def start(self, port):
        return super().start(port, control=False)

    def test_a_removed_groups_warm_pools_close_and_fill_again_when_it_is_back(self):
        p1, p2 = free_port(), free_port()
        with Server(echo_handler) as a, Server(echo_handler) as b:
            web = ("web", f"    backends: [{{ address: {a.addr} }}]\n")
            pooled = ("pooled", f"    warm_pool: {{ size: 2, idle: 60s }}\n"
                                f"    backends: [{{ address: {b.addr} }}]\n")
            self.write([("one", p1, "web"), ("two", p2, "pooled")], [web, pooled])
            px = self.start(p1)
            wait_for(lambda: held(b) == 4, "two idle connections from each of two workers")

            self.write([("one", p1, "web")], [web])
            self.hup(px)
            wait_for_text(px, "group pooled: removed; its sessions run to their end (reload)")
            wait_for(lambda: held(b) == 0, "the pools to close their connections")
            accepted = b.accepted
            self.assertEqual(0, held(b))

            self.write([("one", p1, "web"), ("two", p2, "pooled")], [web, pooled])
            self.hup(px)
            wait_for_text(px, "group pooled: back (reload)")
            wait_for(lambda: held(b) == 4, "the pools to fill again")
            self.assertEqual(accepted + 4, b.accepted)
            self.assertEqual(0, px.stop())

    def test_a_group_added_with_a_warm_pool_fills_it_and_gives_it_up_when_removed(self):
        p1, p2 = free_port(), free_port()
        with Server(echo_handler) as a, Server(echo_handler) as b:
            web = ("web", f"    backends: [{{ address: {a.addr} }}]\n")
            pooled = ("pooled", f"    warm_pool: {{ size: 2, idle: 60s }}\n"
                                f"    backends: [{{ address: {b.addr} }}]\n")
            self.write([("one", p1, "web")], [web])
            px = self.start(p1)

            self.write([("one", p1, "web"), ("two", p2, "pooled")], [web, pooled])
            self.hup(px)
            wait_for_text(px, "group pooled: added (reload)")
            wait_for(lambda: held(b) == 4, "two idle connections from each of two workers")
            with connect(p2) as s:  # a session through the added group
                s.sendall(b"x" * 1000)
                self.assertEqual(b"x" * 1000, recv_exact(s, 1000))
            wait_for(lambda: held(b) == 4, "the pool to refill")

            self.write([("one", p1, "web")], [web])
            self.hup(px)
            wait_for(lambda: held(b) == 0, "the pools to close their connections")
            self.write([("one", p1, "web"), ("two", p2, "pooled")], [web, pooled])
            self.hup(px)
            wait_for_text(px, "group pooled: back (reload)")
            wait_for(lambda: held(b) == 4, "the pools to fill again")
            self.assertEqual(0, px.stop())

    def test_a_removed_groups_discovery_pauses_and_resumes_when_it_is_back(self):
        if not os.path.exists(DNSMASQ):
            self.skipTest("dnsmasq is not installed (scripts/install-deps.sh installs "
                          "dnsmasq-base)")
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)
        bport, servers = backends_on_one_port(["b2", "b3", "b4"])
        for s in servers:
            stack.enter_context(s)
        dns_port = stable_port(udp=True)
        dns = Dnsmasq(dns_port, [("127.0.0.2", "disc.test")])
        stack.callback(dns.close)
        dns.start()
        p1, p2 = free_port(), free_port()
        with Server(echo_handler) as a:
            web = ("web", f"    backends: [{{ address: {a.addr} }}]\n")
            disc = ("disc", f"    discover: {{ name: disc.test, type: a, port: {bport}, "
                            f"resolvers: [127.0.0.1:{dns_port}], ttl_min: 200ms, ttl_max: 1s, "
                            f"timeout: 300ms }}\n")
            self.write([("one", p1, "web"), ("two", p2, "disc")], [web, disc])
            px = self.start(p1)
            wait_for_text(px, "discover disc: disc.test gives 1 backend")
            wait_for(lambda: who(p2) == "b2", "a session through disc to b2")

            self.write([("one", p1, "web")], [web])
            self.hup(px)
            wait_for_text(px, "discover disc: paused: the group was removed (reload)")
            # records that change while it is paused: a resolution would find them within
            # ttl_max (1 s); two seconds later none has (an absence: no event to wait on)
            dns.reload_hosts([("127.0.0.4", "disc.test")], "disc.test", 1)
            time.sleep(2 * SLOW)
            self.assertNotIn(f"127.0.0.4:{bport}", px.stderr())
            self.assertNotIn("discover disc: cannot apply", px.stderr())

            self.write([("one", p1, "web"), ("two", p2, "disc")], [web, disc])
            self.hup(px)
            wait_for_text(px, "discover disc: resumed: the group is back (reload)")
            wait_for_text(px, f"discover disc: disc.test gives 1 backend (next in 1000ms): "
                              f"127.0.0.4:{bport} (weight 1)")
            wait_for(lambda: who(p2) == "b4", "a session through disc to b4")
            self.assertNotIn("discover disc: cannot apply", px.stderr())
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
