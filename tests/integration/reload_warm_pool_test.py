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

from harness import (SLOW, SLUICECTL, connect, echo_handler, free_port, held, recv_all, Server,
                     wait_for_text)
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
