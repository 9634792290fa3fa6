# SPDX-License-Identifier: MIT
"""Reloads and upgrades under load, the acceptance test: a new connection every few ms (each
echoing unique bytes) and three long-lived streams checksummed both ways run through ten reloads
(SIGHUP and sluicectl mixed: live fields, backends added, removed and reweighted, a listener
added, removed and added again, and one file with an error, refused with FILE:LINE:COLUMN while
serving goes on) and three binary upgrades. A stream opened on the listener that is later
removed outlives its listener's removal and an upgrade. No connection fails, every stream's
bytes come back intact and every stream lives to the end, and each old process exits 0."""
import json
import os
import re
import select
import subprocess
import tempfile
import time
import unittest

from harness import (SLOW, SLUICECTL, connect, echo_handler, finish_streams, recv_exact,
                     Server, Sluice, stable_port, wait_for_text)
from upgrade_test import NewConnections, Stream


def wait_until(pred, timeout=10.0):
    """Polls <pred> (bounded) until it is true; returns its last value."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        select.select([], [], [], 0.02)


class ReloadUpgrade(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.upgrade_sock = os.path.join(self.dir.name, "upgrade.sock")
        self.port = stable_port()
        self.other_port = stable_port()
        self.hups = 0  # reloads by SIGHUP the current process took

    def ctl_path(self):
        """One control socket for every process: an upgrade hands it over with the rest."""
        return os.path.join(self.dir.name, "ctl.sock")

    def write(self, backends, idle="60s", allow="127.0.0.0/8", other=False, bogus=False):
        """The file: listener web (and other), group g over <backends> [(server, weight)]."""
        listeners = f"""  - name: web
    address: 127.0.0.1:{self.port}
    group: g
    allow: [{allow}]
    timeouts: {{ client_idle: {idle}, server_idle: {idle} }}
"""
        if other:
            listeners += f"""  - name: other
    address: 127.0.0.1:{self.other_port}
    group: g
"""
        items = "".join(f"      - {{ name: b{i}, address: {s.addr}, weight: {w} }}\n"
                        for (i, s), w in backends)
        text = (f"workers: 2\ndrain_timeout: 60s\nupgrade_socket: {self.upgrade_sock}\n"
                f"control: {{ path: {self.ctl_path()} }}\n"
                f"listeners:\n{listeners}"
                f"groups:\n  - name: g\n    balance: weighted\n    backends:\n{items}")
        if bogus:
            text += "bogus_key: 1\n"
        with open(self.cfg, "w") as f:
            f.write(text)
        return len(text.splitlines())

    def hup(self, px):
        """SIGHUP, then waits until the process says it reloaded."""
        self.hups += 1
        px.proc.send_signal(1)
        self.assertTrue(wait_until(
            lambda: px.stderr().count(f"SIGHUP: {self.cfg} reloaded") >= self.hups),
            px.stderr())

    def ctl_reload(self, px):
        p = subprocess.run([SLUICECTL, "-s", self.ctl_path(), "reload"], capture_output=True,
                           text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr + px.stderr())
        self.assertEqual(f"reloaded {self.cfg}\n", p.stdout)

    def reaches(self, server):
        """New connections reach <server> (bounded wait)."""
        before = server.accepted
        self.assertTrue(wait_until(lambda: server.accepted >= before + 3), "not reached")

    def reached_no_more(self, server, load):
        """After the load made progress, <server> takes no new connection."""
        start = load.ok
        self.assertTrue(wait_until(lambda: load.ok >= start + 20))  # what was under way ends
        before = server.accepted
        start = load.ok
        self.assertTrue(wait_until(lambda: load.ok >= start + 60))
        self.assertEqual(before, server.accepted)

    def progress(self):
        """Waits until new connections went on and every stream moved bytes both ways."""
        start, got = self.load.ok, [s.ngot for s in self.streams]
        self.assertTrue(wait_until(lambda: self.load.ok >= start + 40 and all(
            s.ngot > n or s.error for s, n in zip(self.streams, got)), 30))
        self.assertEqual([None] * len(self.streams), [s.error for s in self.streams])

    def upgrade(self, old, streams):
        """The next process takes over with the file as it is; the old one exits 0."""
        new = Sluice(["-c", self.cfg, "--upgrade"])
        new.__enter__()
        self.addCleanup(new.stop)
        wait_for_text(new, "this process serves", timeout=30)
        wait_for_text(old, "serves now: draining", timeout=30)
        self.assertEqual(0, old.proc.wait(60 * SLOW), old.stderr())
        took = re.search(r"took (\d+) sessions? over", new.stderr())
        self.assertIsNotNone(took, new.stderr())
        self.assertGreaterEqual(int(took.group(1)), len(streams), new.stderr())
        wait_for_text(new, "control socket on")
        # the control socket came with the rest: sluicectl reaches the new process (the old
        # one answered on it too until its main thread closed its copy: the exit above)
        p = subprocess.run([SLUICECTL, "--json", "-s", self.ctl_path(), "show", "info"],
                           capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        self.assertEqual(new.proc.pid, json.loads(p.stdout)["result"]["pid"])
        self.hups = 0
        return new

    def test_ten_reloads_and_three_upgrades_fail_no_connection_and_keep_every_stream(self):
        with Server(echo_handler) as s0, Server(echo_handler) as s1, \
                Server(echo_handler) as s2, Server(echo_handler) as s3:
            b0, b1, b2, b3 = (0, s0), (1, s1), (2, s2), (3, s3)
            self.write([(b0, 1), (b1, 1)])
            px = Sluice(["-c", self.cfg], port=self.port)
            px.__enter__()
            self.addCleanup(px.stop)
            wait_for_text(px, f"upgrade socket on {self.upgrade_sock}")
            streams = [Stream(self.port, seed) for seed in range(3)]
            for s in streams:
                s.start()
            load = NewConnections(self.port)
            load.start()
            self.load, self.streams = load, streams
            self.progress()

            # 1: SIGHUP, live fields (idle timeouts, allow list)
            self.write([(b0, 1), (b1, 1)], idle="45s", allow="127.0.0.0/8, 10.0.0.0/8")
            self.hup(px)
            self.progress()
            # 2: sluicectl, a backend added
            self.write([(b0, 1), (b1, 1), (b2, 1)], idle="45s")
            self.ctl_reload(px)
            wait_for_text(px, f"backend b2 ({s2.addr}) added (reload)")
            self.reaches(s2)
            self.progress()
            # 3: SIGHUP, a file with an error: refused with its position, serving goes on
            line = self.write([(b0, 1), (b1, 1)], idle="45s", bogus=True)
            px.proc.send_signal(1)
            wait_for_text(px, f"SIGHUP: {self.cfg} has errors (above): not reloaded")
            self.assertIn(f'{self.cfg}:{line}:1: unknown key "bogus_key"', px.stderr())
            self.reaches(s2)  # the previous file goes on: b2 still takes connections
            self.progress()
            # 4: sluicectl, b0 removed and b1 reweighted
            self.write([(b1, 3), (b2, 1)], idle="45s")
            self.ctl_reload(px)
            wait_for_text(px, "backend b0 removed (reload)")
            wait_for_text(px, "backend b1 weight 1 -> 3 (reload)")
            self.reached_no_more(s0, load)
            self.progress()

            # upgrade 1, to the file as it stands
            self.write([(b1, 3), (b2, 1)], idle="45s")
            px = self.upgrade(px, streams)
            self.progress()
            # 5: SIGHUP, a backend and a listener added and the timeouts changed
            self.write([(b1, 3), (b2, 1), (b3, 1)], idle="30s", other=True)
            self.hup(px)
            wait_for_text(px, f"backend b3 ({s3.addr}) added (reload)")
            self.reaches(s3)
            other_load = NewConnections(self.other_port)
            other_load.start()
            other_stream = Stream(self.other_port, 3)  # outlives its listener (9)
            other_stream.start()
            streams.append(other_stream)
            self.progress()
            # 6: sluicectl, b1 removed
            self.write([(b2, 1), (b3, 1)], idle="30s", other=True)
            self.ctl_reload(px)
            wait_for_text(px, "backend b1 removed (reload)")
            self.reached_no_more(s1, load)
            self.progress()

            # upgrade 2
            self.write([(b2, 1), (b3, 1)], idle="30s", other=True)
            px = self.upgrade(px, streams)
            with connect(self.other_port) as c:
                c.sendall(b"other")
                self.assertEqual(b"other", recv_exact(c, 5))
            self.progress()
            # 7: SIGHUP, b2 reweighted, b0 back
            self.write([(b2, 5), (b3, 1), (b0, 1)], idle="30s", other=True)
            self.hup(px)
            wait_for_text(px, "backend b2 weight 1 -> 5 (reload)")
            wait_for_text(px, f"backend b0 ({s0.addr}) added (reload)")
            self.reaches(s0)
            self.progress()
            # 8: sluicectl, the allow list changed
            self.write([(b2, 5), (b3, 1), (b0, 1)], idle="30s", allow="127.0.0.1/32",
                       other=True)
            self.ctl_reload(px)
            self.progress()
            # 9: SIGHUP, b3 and the listener other removed (its load stops first; its
            # stream goes on)
            other_load.stop.set()
            other_load.join(60 * SLOW)
            self.assertEqual([], other_load.failed[:10],
                             f"{len(other_load.failed)} of {other_load.ok} failed")
            self.assertGreater(other_load.ok, 50)
            self.write([(b2, 5), (b0, 1)], idle="30s", allow="127.0.0.1/32")
            self.hup(px)
            wait_for_text(px, "backend b3 removed (reload)")
            with self.assertRaises(ConnectionRefusedError):
                connect(self.other_port).close()
            self.reached_no_more(s3, load)
            self.progress()

            # upgrade 3
            self.write([(b2, 5), (b0, 1)], idle="30s", allow="127.0.0.1/32")
            sent = [s.nsent for s in streams]
            px = self.upgrade(px, streams)
            self.progress()
            # 10: sluicectl, b1 and the listener other back, the timeouts changed
            self.write([(b2, 5), (b0, 1), (b1, 1)], idle="50s", allow="127.0.0.1/32",
                       other=True)
            self.ctl_reload(px)
            wait_for_text(px, f"backend b1 ({s1.addr}) added (reload)")
            self.reaches(s1)
            with connect(self.other_port) as c:
                c.sendall(b"back")
                self.assertEqual(b"back", recv_exact(c, 4))
            self.progress()
            self.assertNotIn("SIGHUP: not reloaded", px.stderr())

            load.stop.set()
            load.join(60 * SLOW)
            self.assertEqual([], load.failed[:10], f"{len(load.failed)} of {load.ok} failed")
            self.assertGreater(load.ok, 50)
            # every stream moved on past the last upgrade, then ends cleanly, intact
            self.assertTrue(wait_until(
                lambda: all(s.nsent > n for s, n in zip(streams, sent)), 30))
            finish_streams(self, streams)
            self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main()
