# SPDX-License-Identifier: MIT
"""source_limits.ban across a listener re-open: a source banned before is still refused after a
SIGHUP that re-opens its listener, with the time its ban had left (`sluicectl show bans`), not a
fresh duration; other sources are served.
A prefix4 made longer on re-open drops the bans it cannot express, and says so."""
import json
import os
import signal
import subprocess
import tempfile
import unittest

from harness import (SLOW, SLUICECTL, Server, Sluice, closed_by_peer, connect, echo_handler, echoed,
                     free_port, wait_for_text)


def cut_silent(port, source):
    """Opens a connection from <source> that sends nothing; true once sluice has cut it."""
    s = connect(port, source=source)
    try:
        return closed_by_peer(s, 10 * SLOW)
    finally:
        s.close()


def served(port, source):
    """True if a connection from <source> echoes; False if sluice refused it."""
    s = connect(port, source=source)
    try:
        return echoed(s)
    finally:
        s.close()


class SourceBanCarry(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="sluice-bancarry-")
        self.addCleanup(self.dir.cleanup)
        self.ctl_sock = os.path.join(self.dir.name, "ctl.sock")
        self.up_sock = os.path.join(self.dir.name, "upgrade.sock")
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.port = free_port()

    def write(self, backend, source_limits):
        with open(self.cfg, "w") as f:
            f.write(f"""
workers: 2
drain_timeout: 5s
upgrade_socket: {self.up_sock}
control: {{ path: {self.ctl_sock} }}
listeners:
  - name: front
    address: 127.0.0.1:{self.port}
    group: g
    timeouts: {{ first_byte: 300ms }}
    source_limits: {source_limits}
groups:
  - name: g
    backends:
      - address: {backend}
""")

    def start(self, args, text):
        px = Sluice(args, port=self.port if "--upgrade" not in args else None)
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, text, timeout=30 * SLOW)
        return px

    def bans(self):
        """{source: remaining_ms} as `sluicectl show bans` lists them."""
        p = subprocess.run([SLUICECTL, "-s", self.ctl_sock, "--json", "show", "bans"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        r = json.loads(p.stdout)["result"]
        return {b["source"]: b["remaining_ms"] for b in r["bans"] if b["listener"] == "front"}

    def ban(self, source):
        """Bans <source> (two first_byte cuts); the time its ban has left."""
        self.assertTrue(cut_silent(self.port, source))
        self.assertTrue(cut_silent(self.port, source))
        self.assertFalse(served(self.port, source))
        return self.bans()[source + "/32"]

    def test_a_ban_survives_a_reload_that_reopens_the_listener(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 60s } }")
            px = self.start(["-c", self.cfg], "listening on")
            before = self.ban("127.0.0.40")
            self.assertTrue(served(self.port, "127.0.0.41"))
            # table_size re-opens the listener (a new source table); the longer duration
            # would show if the ban started again
            self.write(b.addr, "{ table_size: 1024, "
                               "ban: { strikes: 2, within: 30s, duration: 600s } }")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.table_size changed: re-opened")
            self.assertFalse(served(self.port, "127.0.0.40"))
            self.assertTrue(served(self.port, "127.0.0.41"))
            after = self.bans()
            self.assertEqual(["127.0.0.40/32"], list(after))
            self.assertTrue(0 < after["127.0.0.40/32"] <= before, (before, after))
            self.assertIn("listener front: 1 source ban carried over from before the re-open",
                          px.stderr())
            self.assertEqual(0, px.stop())

    def test_a_ban_on_a_prefix_wider_than_the_new_prefix4_is_dropped_on_reopen(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ prefix4: 24, ban: { strikes: 2, within: 30s, duration: 60s } }")
            px = self.start(["-c", self.cfg], "listening on")
            self.assertTrue(cut_silent(self.port, "127.0.12.1"))
            self.assertTrue(cut_silent(self.port, "127.0.12.2"))
            self.assertFalse(served(self.port, "127.0.12.3"))
            self.assertEqual(["127.0.12.0/24"], list(self.bans()))
            # one /32 entry would ban one address of the 256: none is carried, and it is said
            self.write(b.addr, "{ prefix4: 32, ban: { strikes: 2, within: 30s, duration: 60s } }")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.prefix4 changed: re-opened")
            self.assertEqual({}, self.bans())
            self.assertTrue(served(self.port, "127.0.12.3"))
            self.assertIn("listener front: 1 source ban of before the re-open dropped: "
                          "1 on a prefix wider than prefix4/prefix6 now", px.stderr())
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
