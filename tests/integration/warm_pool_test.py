# SPDX-License-Identifier: MIT
"""Warm pool: the backend accepts sluice's pre-established connections before any client
connects, and client sessions then run over them with their bytes intact."""
import os
import socket
import time
import unittest

from harness import SLOW, Server, Sluice, connect, echo_handler, free_port, recv_all, write_config

SIZE = 4


def config(port, backend):
    return write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    warm_pool: {{ size: {SIZE} }}
    backends:
      - address: {backend}
""")


def echo_once(port, payload):
    s = connect(port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    data = recv_all(s)
    s.close()
    return data


class WarmPool(unittest.TestCase):
    def test_backend_accepts_before_clients_and_sessions_work(self):
        with Server(echo_handler) as srv:
            port = free_port()
            with Sluice(["-c", config(port, srv.addr), "--log-level", "info"], port=port) as px:
                deadline = time.monotonic() + 10 * SLOW
                while srv.accepted < SIZE and time.monotonic() < deadline:
                    time.sleep(0.01)
                # no client has connected yet: these are the pool's connections
                self.assertEqual(SIZE, srv.accepted)
                for i in range(10):
                    payload = os.urandom(1000 + 997 * i)
                    self.assertEqual(payload, echo_once(port, payload))
                self.assertEqual(0, px.stop(), px.stderr())
                err = px.stderr()
                self.assertRegex(err, r"warm pools: [1-9]\d* hits", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
