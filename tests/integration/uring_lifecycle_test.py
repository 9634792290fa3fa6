# SPDX-License-Identifier: MIT
"""forward: uring sessions at the end of a process's life: recv and send requests are still in
flight in the kernel when sluice stops (SIGTERM with the drain deadline cutting them, a second
SIGTERM, a backend that never reads so sends stay queued), and sluice must cancel and reap them
before it frees the buffers they point at: it exits 0 with no sanitizer report and no warning
that a buffer was left to the kernel. On a binary upgrade the sessions move to the new process
once their cancelled requests have completed, with no byte lost or duplicated."""
import contextlib
import hashlib
import os
import re
import select
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import (SLOW, EchoStream, Server, Sluice, connect, echo_handler, finish_streams,
                     stable_port, wait_for_text)

BAD_SIGNS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "still held by the kernel",
             "still in flight")


class UringLifecycle(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.sock_path = os.path.join(self.dir.name, "upgrade.sock")
        self.port = stable_port()

    def write(self, backend, drain="30s", workers=2):
        with open(self.cfg, "w") as f:
            f.write(f"""
workers: {workers}
drain_timeout: {drain}
upgrade_socket: {self.sock_path}
listeners:
  - name: web
    address: 127.0.0.1:{self.port}
    group: g
    forward: uring
groups:
  - name: g
    backends:
      - address: {backend}
""")

    def start(self):
        px = Sluice(["-c", self.cfg], port=self.port)
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, f"upgrade socket on {self.sock_path}")
        if "runs as copy" in px.stderr():
            self.skipTest("forward: uring runs as copy here: " + px.stderr())
        return px

    def assert_clean_exit(self, px, code, want=0):
        self.assertEqual(want, code, px.stderr())
        for sign in BAD_SIGNS:
            self.assertNotIn(sign, px.stderr())

    def test_sigterm_with_streams_mid_transfer_cut_by_the_drain_deadline_exits_cleanly(self):
        with Server(echo_handler) as b:
            self.write(b.addr, drain="300ms")
            px = self.start()
            streams = [EchoStream(self.port, seed) for seed in range(8)]
            for s in streams:
                s.start()
            for s in streams:
                s.wait_rounds(3)  # every session forwards, requests in flight both ways
            px.proc.send_signal(signal.SIGTERM)
            code = px.proc.wait(60 * SLOW)
            for s in streams:
                s.stop.set()
                s.join(60 * SLOW)
            self.assert_clean_exit(px, code)
            self.assertRegex(px.stderr(), r"draining")

    def test_a_second_sigterm_with_streams_mid_transfer_exits_cleanly(self):
        with Server(echo_handler) as b:
            self.write(b.addr, drain="120s")
            px = self.start()
            streams = [EchoStream(self.port, seed) for seed in range(8)]
            for s in streams:
                s.start()
            for s in streams:
                s.wait_rounds(3)
            px.proc.send_signal(signal.SIGTERM)
            wait_for_text(px, "draining")
            px.proc.send_signal(signal.SIGTERM)  # cuts the drain: every session closes at once
            code = px.proc.wait(60 * SLOW)
            for s in streams:
                s.stop.set()
                s.join(60 * SLOW)
            self.assert_clean_exit(px, code, want=1)  # 1: the drain was cut, not completed

    def test_sigterm_with_sends_stuck_on_a_backend_that_never_reads_exits_cleanly(self):
        stuck = threading.Event()
        self.addCleanup(stuck.set)

        def never_reads(conn):
            stuck.wait(120)

        with Server(never_reads) as b:
            self.write(b.addr, drain="300ms")
            px = self.start()
            clients = []
            for _ in range(4):
                c = connect(self.port)
                c.setblocking(False)
                clients.append(c)
                self.addCleanup(c.close)
            # until every buffer on the way is full (sluice's send to the backend in flight):
            # each client stays unwritable for half a second (bounded by the deadline)
            for c in clients:
                deadline = time.monotonic() + 30 * SLOW
                while time.monotonic() < deadline:
                    if not select.select([], [c], [], 0.5)[1]:
                        break
                    with contextlib.suppress(BlockingIOError):
                        c.send(b"x" * 65536)
            code = px.stop()
            self.assert_clean_exit(px, code)

    def test_an_upgrade_moves_uring_streams_with_no_byte_lost(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            old = self.start()
            streams = [EchoStream(self.port, seed, pause=0.01) for seed in range(4)]
            for s in streams:
                s.start()
            for s in streams:
                s.wait_rounds(3)
            new = Sluice(["-c", self.cfg, "--upgrade"])
            new.__enter__()
            self.addCleanup(new.stop)
            wait_for_text(new, "this process serves", timeout=30)
            wait_for_text(old, "serves now: draining", timeout=30)
            # every stream moved: the old process has nothing left to drain
            self.assert_clean_exit(old, old.proc.wait(60 * SLOW))
            took = re.search(r"took (\d+) sessions? over", new.stderr())
            self.assertIsNotNone(took, new.stderr())
            self.assertEqual(len(streams), int(took.group(1)), new.stderr())
            for s in streams:
                s.wait_rounds(3)  # and they go on in the new process
            finish_streams(self, streams)
            self.assert_clean_exit(new, new.stop())

    def test_an_upgrade_while_the_backend_reads_nothing_loses_no_byte_moved_or_drained(self):
        """The session's send waits on a backend that reads nothing. The hold cancels it (what
        it moved is counted, the rest goes plainly): if that empties the block the session
        moves, else it stays and the old process drains it. Either way, once the backend
        reads, it gets every byte the client sent, in order, and both processes exit clean."""
        release = threading.Event()
        self.addCleanup(release.set)
        got = {"bytes": 0, "hash": hashlib.sha256(), "eof": threading.Event()}

        def reads_when_released(conn):
            release.wait(120)
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                got["bytes"] += len(data)
                got["hash"].update(data)
            got["eof"].set()

        with Server(reads_when_released) as b:
            self.write(b.addr)
            old = self.start()
            c = connect(self.port)
            self.addCleanup(c.close)
            c.setblocking(False)
            sent, sent_hash, n = 0, hashlib.sha256(), 0
            # until every buffer on the way is full: the client stays unwritable for half a
            # second (bounded by the deadline)
            deadline = time.monotonic() + 30 * SLOW
            while time.monotonic() < deadline:
                if not select.select([], [c], [], 0.5)[1]:
                    break
                chunk = bytes([n % 251]) * 65536  # each chunk its own byte: order shows
                n += 1
                with contextlib.suppress(BlockingIOError):
                    k = c.send(chunk)
                    sent += k
                    sent_hash.update(chunk[:k])
            new = Sluice(["-c", self.cfg, "--upgrade"])
            new.__enter__()
            self.addCleanup(new.stop)
            wait_for_text(new, "this process serves", timeout=30)
            took = re.search(r"took (\d+) sessions? over", new.stderr())
            self.assertIsNotNone(took, new.stderr())
            self.assertIn(int(took.group(1)), (0, 1), new.stderr())
            if int(took.group(1)) == 0:
                self.assertIsNone(old.proc.poll(), "the old process left its stuck session")
            release.set()
            c.setblocking(True)
            c.shutdown(socket.SHUT_WR)
            self.assertTrue(got["eof"].wait(60 * SLOW), "the backend never saw the end")
            self.assertEqual(sent, got["bytes"])
            self.assertEqual(sent_hash.digest(), got["hash"].digest())
            c.close()
            self.assert_clean_exit(old, old.proc.wait(60 * SLOW))
            self.assert_clean_exit(new, new.stop())

if __name__ == "__main__":
    unittest.main()
