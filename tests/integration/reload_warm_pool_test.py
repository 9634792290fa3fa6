# SPDX-License-Identifier: MIT
"""Reloads that resize a running group's warm pool, real processes on real sockets: size 2 -> 5
-> 0 -> 2 by SIGHUP, and the backend holds that many idle connections from sluice each time
(the two it had are kept on the way up), while sessions over the pool keep their bytes intact.
Under a small fd limit (prlimit), a size the budget cannot hold is refused with the reason and
nothing changes; a size it holds is taken."""
import hashlib
import select
import socket
import subprocess
import time
import unittest

from harness import (SLOW, SLUICECTL, connect, echo_handler, free_port, held, recv_all,
                     scrape_metrics, Server, wait_for_text)
from reloading import ReloadCase


def echo_intact(port, n, seed):
    data = bytes((i * 13 + seed) % 251 for i in range(n))
    s = connect(port)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    return hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


class ReloadWarmPool(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port = free_port()

    def write(self, backend, size):
        with open(self.path, "w") as f:
            f.write(f"workers: 1\nmax_connections: 20\ndrain_timeout: 10s\n"
                    f"control: {{ path: {self.sock} }}\n"
                    f"listeners:\n  - name: front\n    address: 127.0.0.1:{self.port}\n"
                    f"    group: web\n"
                    f"groups:\n  - name: web\n    max_backends: 1\n"
                    f"    warm_pool: {{ size: {size}, idle: 60s }}\n"
                    f"    backends:\n      - {{ name: a, address: {backend} }}\n")

    def start(self, prefix=()):
        return super().start(self.port, prefix=prefix)

    def wait_held(self, srv, n):
        deadline = time.monotonic() + 10 * SLOW
        while held(srv) != n:
            self.assertLess(time.monotonic(), deadline, f"{held(srv)} held, want {n}")
            select.select([], [], [], 0.01)

    def test_pool_follows_the_size_up_down_off_and_on(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 2)
            px = self.start()
            self.wait_held(srv, 2)
            self.assertEqual(2, srv.accepted)

            self.write(srv.addr, 5)
            self.hup(px)
            wait_for_text(px, "group web: warm_pool size 2 -> 5, idle 60000 ms -> 60000 ms")
            self.wait_held(srv, 5)
            self.assertEqual(5, srv.accepted)  # the two it had were kept
            self.assertTrue(echo_intact(self.port, 300000, 1))  # over a pooled connection
            self.wait_held(srv, 5)  # refilled

            self.write(srv.addr, 0)
            self.hup(px)
            self.wait_held(srv, 0)
            before = srv.accepted
            self.assertTrue(echo_intact(self.port, 100000, 2))  # connects on its own
            self.assertEqual(before + 1, srv.accepted)
            self.wait_held(srv, 0)

            self.write(srv.addr, 2)
            self.hup(px)
            self.wait_held(srv, 2)

    def test_a_pool_of_a_group_a_reload_adds_follows_health_and_is_counted(self):
        """The start file has no warm pool anywhere; a reload adds a group with one and a tcp
        check on a port nothing listens on yet. Its pool lets go of the backend once the check
        marks it down, fills once it is up again, and its hits count in the metrics."""
        admin, port2, check = free_port(), free_port(), free_port()
        with Server(echo_handler) as first, Server(echo_handler) as srv:
            head = (f"workers: 1\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                    f"admin: {{ address: 127.0.0.1:{admin} }}\n")
            self.write_listeners_groups(
                head, [("front", self.port, "web")],
                [("web", f"    backends:\n      - {{ address: {first.addr} }}\n")])
            px = self.start()
            self.write_listeners_groups(
                head, [("front", self.port, "web"), ("front2", port2, "b")],
                [("web", f"    backends:\n      - {{ address: {first.addr} }}\n"),
                 ("b", "    health: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, "
                       f"fall: 1, port: {check} }}\n"
                       "    warm_pool: { size: 2, idle: 60s }\n"
                       f"    backends:\n      - {{ address: {srv.addr} }}\n")])
            self.hup(px)
            wait_for_text(px, "is down")
            self.wait_held(srv, 0)  # what the pool may have opened first is let go
            with Server(echo_handler, port=check):
                wait_for_text(px, "is up")
                self.wait_held(srv, 2)
                self.assertTrue(echo_intact(port2, 1000, 3))  # over a pooled connection
                self.assertEqual(1, scrape_metrics(admin)["sluice_warm_hits_total"])

    def test_a_size_the_fd_limit_cannot_hold_is_refused(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 2)
            px = self.start(["prlimit", "--nofile=200:200"])
            self.wait_held(srv, 2)

            self.write(srv.addr, 60)
            p = subprocess.run([SLUICECTL, "-s", self.sock, "reload"], capture_output=True,
                               text=True, timeout=60 * SLOW)
            self.assertEqual(1, p.returncode)
            self.assertIn("the fd limit is 200: warm pools 58 connections larger", p.stderr)
            self.assertIn("use a smaller warm_pool", p.stderr)
            self.assertNotIn("warm_pool size", px.stderr())
            self.assertEqual(2, held(srv))
            self.assertTrue(echo_intact(self.port, 10000, 3))

            self.write(srv.addr, 4)
            self.hup(px)
            self.wait_held(srv, 4)


if __name__ == "__main__":
    unittest.main()
