# SPDX-License-Identifier: MIT
"""A group's `source`, real processes on real sockets: the backend sees every connection of the
group come from that address (127.0.0.2 here, not the kernel's choice of 127.0.0.1): the
sessions', the warm pool's and the health checks'. A source this host lacks gets a warning from
--check and a start that refuses, saying why."""
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SLOW, SLUICE, SLUICECTL, Server, Sluice, ask_name, connect, free_port,  # noqa: E402
                     wait_for, wait_for_text, write_config)

SOURCE = "127.0.0.2"


class PeerServer(Server):
    """A backend that records the address of every connection it accepts and answers each line
    with that address."""

    def __init__(self):
        self.peers = []
        self.lock = threading.Lock()

        def handler(conn):
            peer = conn.getpeername()[0]
            with self.lock:
                self.peers.append(peer)
            for _ in conn.makefile("rb"):
                conn.sendall(peer.encode() + b"\n")

        super().__init__(handler)

    def seen(self):
        with self.lock:
            return list(self.peers)


def config(port, backend, source, control=None):
    ctl = f"control: {{ path: {control} }}" if control else ""
    return write_config(f"""
workers: 2
{ctl}
listeners:
  - address: 127.0.0.1:{port}
    group: web
groups:
  - name: web
    source: {source}
    health: {{ type: tcp, interval: 100ms, timeout: 50ms }}
    warm_pool: {{ size: 2 }}
    backends:
      - address: {backend}
""")


class Source(unittest.TestCase):
    def test_sessions_warm_pool_and_checks_come_from_the_source(self):
        with PeerServer() as b, tempfile.TemporaryDirectory() as d:
            port, ctl = free_port(), os.path.join(d, "ctl.sock")
            with Sluice(["-c", config(port, b.addr, SOURCE, ctl)], port=port) as px:
                for _ in range(6):
                    with connect(port) as s:
                        self.assertEqual(SOURCE, ask_name(s))
                # health checks (every 100 ms) and two warm connections per worker came too
                wait_for(lambda: len(b.seen()) >= 6 + 4 + 3, "checks and warm connections",
                         detail=px.stderr)
                self.assertEqual({SOURCE}, set(b.seen()))
                # a backend of the other family cannot be added: no socket bound to an IPv4
                # source connects to it
                wait_for_text(px, "control socket on")
                p = subprocess.run([SLUICECTL, "-s", ctl, "add", "backend", "web", "v6", "[::1]:9"],
                                   capture_output=True, text=True, timeout=60 * SLOW)
                self.assertEqual(1, p.returncode)
                self.assertIn("web/v6: its address is of another family than the group's source",
                              p.stderr)
                self.assertEqual(0, px.stop())

    def test_a_source_this_host_lacks_is_a_warning_at_check_and_refuses_the_start(self):
        with Server(lambda conn: None) as b:
            path = config(free_port(), b.addr, "192.0.2.1")  # for documentation: no host has it
            p = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertIn(f"{path}: warning: group web: source 192.0.2.1: not an address of this "
                          "host; sluice cannot connect from it here until it is", p.stderr)
            p = subprocess.run([SLUICE, "-c", path], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertEqual(1, p.returncode)
            self.assertIn("group web: cannot connect from its source 192.0.2.1: Cannot assign "
                          "requested address (not an address of this host)", p.stderr)


if __name__ == "__main__":
    unittest.main()
