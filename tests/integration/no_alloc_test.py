# SPDX-License-Identifier: MIT
"""No allocation on the hot path: after warm-up, new sessions and requests on open sessions
make zero calls to malloc/calloc/realloc/free, counted by an LD_PRELOAD interposer."""
import os
import re
import signal
import socket
import tempfile
import unittest

from harness import FLAVOUR, Server, Sluice, connect, echo_handler, free_port, recv_all, recv_exact

LIB = os.environ.get("SL_ALLOC_COUNT_LIB", "")


def read_counts(px, path, previous_lines):
    px.proc.send_signal(signal.SIGRTMAX)  # the interposer's: sluice handles SIGUSR2
    for _ in range(500):  # bounded: the handler writes within microseconds
        with open(path) as f:
            lines = f.read().splitlines()
        if len(lines) > previous_lines:
            m = re.match(r"allocs=(\d+) frees=(\d+)", lines[-1])
            return int(m.group(1)), int(m.group(2)), len(lines)
        select_wait(0.01)
    raise AssertionError("no allocation report")


def select_wait(t):
    import select
    select.select([], [], [], t)


def sessions(port, n, forward_bytes=b"x" * 100):
    for _ in range(n):
        s = connect(port)
        s.sendall(forward_bytes)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == forward_bytes
        s.close()


def requests(socks, n):
    for i in range(n):
        s = socks[i % len(socks)]
        s.sendall(b"r" * 64)
        recv_exact(s, 64)


@unittest.skipIf(FLAVOUR != "none" or not LIB, "sanitizers replace malloc: counted in plain builds")
class NoAlloc(unittest.TestCase):
    def check(self, forward, bulk=0):
        with Server(echo_handler) as backend:
            port = free_port()
            report = tempfile.NamedTemporaryFile(delete=False).name
            env = {"LD_PRELOAD": LIB, "SL_ALLOC_COUNT_FILE": report}
            args = ["-l", f"127.0.0.1:{port}", "-b", backend.addr, "-w", "1", "--forward", forward]
            with Sluice(args, port=port, env=env) as px:
                keep = [connect(port) for _ in range(8)]
                sessions(port, 300)
                requests(keep, 500)
                sessions(port, bulk, b"B" * 300_000)
                a0, f0, n = read_counts(px, report, 0)
                # the counter is really in the process: start-up allocates (config, pools)
                self.assertGreater(a0, 0)
                sessions(port, 1000)
                requests(keep, 5000)
                sessions(port, bulk, b"B" * 300_000)
                a1, f1, n = read_counts(px, report, n)
                for s in keep:
                    s.close()
                self.assertEqual(0, a1 - a0, f"{a1 - a0} allocations for 1000 sessions + 5000 requests")
                self.assertEqual(0, f1 - f0, f"{f1 - f0} frees for 1000 sessions + 5000 requests")

    def test_splice_sessions_and_requests_allocate_nothing_after_warmup(self):
        self.check("splice")

    def test_copy_sessions_and_requests_allocate_nothing_after_warmup(self):
        self.check("copy")

    def test_auto_sessions_requests_and_bulk_allocate_nothing_after_warmup(self):
        # bulk sessions switch a direction to splice and back: pipes and buffers are reused
        self.check("auto", bulk=20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
