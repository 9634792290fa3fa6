# SPDX-License-Identifier: MIT
"""Pipes cost descriptors only while sessions use them: an idle splice proxy holds no more
descriptors than a copying one, a session holds a pipe pair only for a direction whose bytes
are stuck (the destination does not read), and once many concurrent splice sessions have
closed, each worker's pipe cache is back to its idle bound."""
import hashlib
import os
import select
import threading
import time
import unittest

from harness import SLOW, Server, Sluice, echo_handler, echo_roundtrip, free_port, wait_for_text

WORKERS = 2
SESSIONS = 100
PAYLOAD = 4 << 20
KEEP = 4  # PIPE_CACHE_KEEP in src/proxy/proxy.c: spare pairs per listener per worker when idle


def fds(proc):
    return len(os.listdir(f"/proc/{proc.pid}/fd"))


def wait_until(pred, timeout=10.0):
    """Polls <pred> (there is no event for another process closing descriptors); bounded."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return True
        select.select([], [], [], 0.02)
    return pred()


def idle_fds(forward, backend):
    port = free_port()
    args = ["-l", f"127.0.0.1:{port}", "-b", backend, "-w", str(WORKERS), "--forward", forward]
    with Sluice(args, port=port) as px:
        wait_for_text(px, "listening on")  # start returned: every worker runs
        return fds(px.proc)


class PipeFds(unittest.TestCase):
    def test_idle_splice_proxy_holds_no_pipe(self):
        with Server(echo_handler) as e:
            self.assertEqual(idle_fds("copy", e.addr), idle_fds("splice", e.addr))
            self.assertEqual(idle_fds("copy", e.addr), idle_fds("auto", e.addr))

    def test_pipe_cache_is_trimmed_once_concurrent_splice_sessions_close(self):
        release = threading.Event()
        held = threading.Semaphore(0)

        def hold_then_echo(conn):
            held.release()
            if release.wait(60 * SLOW):
                echo_handler(conn)

        with Server(hold_then_echo) as e:
            port = free_port()
            args = ["-l", f"127.0.0.1:{port}", "-b", e.addr, "-w", str(WORKERS),
                    "--forward", "splice"]
            with Sluice(args, port=port) as px:
                wait_for_text(px, "listening on")  # start returned: every worker runs
                idle = fds(px.proc)
                # more than the sockets toward the backend take while it does not read, so
                # each session's client -> server direction is left holding its pipe
                payloads = [os.urandom(PAYLOAD) for _ in range(SESSIONS)]
                results = [None] * SESSIONS

                def work(i):
                    results[i] = echo_roundtrip(port, payloads[i])

                threads = [threading.Thread(target=work, args=(i,)) for i in range(SESSIONS)]
                for t in threads:
                    t.start()
                try:
                    for _ in range(SESSIONS):
                        self.assertTrue(held.acquire(timeout=30 * SLOW),
                                        "backend did not accept")
                    # every session open at once: two sockets and, for the stuck direction,
                    # one pipe pair each; the silent direction holds none
                    busy = idle + 4 * SESSIONS
                    self.assertTrue(wait_until(lambda: fds(px.proc) >= busy),
                                    f"{fds(px.proc)} descriptors, expected {busy}")
                finally:
                    release.set()
                    for t in threads:
                        t.join(60 * SLOW)
                for i in range(SESSIONS):
                    self.assertEqual(hashlib.sha256(payloads[i]).digest(),
                                     hashlib.sha256(results[i] or b"").digest(),
                                     f"session {i} corrupted")
                bound = idle + WORKERS * KEEP * 2
                self.assertTrue(wait_until(lambda: fds(px.proc) <= bound),
                                f"{fds(px.proc)} descriptors after the sessions closed, "
                                f"expected at most {bound}")
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
