# SPDX-License-Identifier: MIT
"""Per-source state across a binary upgrade: sessions moved to the new process count against
their source there (source_limits' max_connections), as they did in the old one, and give their
slot back when they close; a source the moved sessions do not fill is served at once."""
import os
import socket
import tempfile
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, free_port,
                     recv_exact, wait_for_text)


def echoed(s, data=b"ping"):
    s.sendall(data)
    return recv_exact(s, len(data)) == data


class UpgradeSources(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.sock_path = os.path.join(self.dir.name, "upgrade.sock")
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.port = free_port()

    def write(self, backend):
        with open(self.cfg, "w") as f:
            f.write(f"""
workers: 2
drain_timeout: 60s
upgrade_socket: {self.sock_path}
listeners:
  - name: web
    address: 127.0.0.1:{self.port}
    group: g
    source_limits: {{ max_connections: 2 }}
groups:
  - name: g
    backends:
      - address: {backend}
""")

    def start(self, args, text):
        px = Sluice(args, port=self.port if "--upgrade" not in args else None)
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, text, timeout=30)
        return px

    def test_moved_sessions_hold_their_source_slots_in_the_new_process(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            old = self.start(["-c", self.cfg], f"upgrade socket on {self.sock_path}")
            held = [connect(self.port, source="127.0.0.20") for _ in range(2)]
            self.addCleanup(lambda: [s.close() for s in held])
            for s in held:
                self.assertTrue(echoed(s))
            new = self.start(["-c", self.cfg, "--upgrade"], "this process serves")
            wait_for_text(old, "serves now: draining", timeout=30)
            # every session moved: the old process has nothing left to drain
            self.assertEqual(0, old.proc.wait(60 * SLOW), old.stderr())
            for s in held:
                self.assertTrue(echoed(s, b"moved"))
            # the two moved sessions fill the source's allowance in the new process
            extra = connect(self.port, source="127.0.0.20")
            self.assertTrue(closed_by_peer(extra, 10 * SLOW))
            extra.close()
            other = connect(self.port, source="127.0.0.21")
            self.assertTrue(echoed(other))
            other.close()
            # a moved session that ends gives its slot back (bounded: the close is seen by the
            # worker, then the slot is free)
            held[0].shutdown(socket.SHUT_WR)
            self.assertEqual(b"", held[0].recv(16))
            again = connect(self.port, source="127.0.0.20")
            self.assertTrue(echoed(again))
            again.close()
            for s in held:
                s.close()
            self.assertEqual(0, new.stop())


if __name__ == "__main__":
    unittest.main()
