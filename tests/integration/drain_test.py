# SPDX-License-Identifier: MIT
"""Graceful shutdown: on SIGTERM sluice stops accepting, lets a live session finish within
the drain deadline without resetting it, then exits 0."""
import hashlib
import os
import signal
import socket
import threading
import unittest

from harness import SLOW, Server, Sluice, closed_by_peer, connect, digest_handler, free_port, recv_all


class Drain(unittest.TestCase):
    def test_sigterm_lets_a_live_session_finish_then_exits_zero(self):
        with Server(digest_handler) as d:
            port = free_port()
            px = Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "2",
                         "--drain-timeout", str(20000 * SLOW)], port=port)
            with px:
                s = connect(port)
                first = os.urandom(100_000)
                s.sendall(first)
                exited = threading.Event()
                rc = []

                def stop():
                    rc.append(px.stop(signal.SIGTERM))
                    exited.set()

                t = threading.Thread(target=stop)
                t.start()
                # new connections are refused once the listener is closed; the live one goes on
                refused = False
                for _ in range(200):
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=1):
                            pass
                    except OSError:
                        refused = True
                        break
                    threading.Event().wait(0.01)
                self.assertTrue(refused, "listener still accepting during drain")
                self.assertFalse(exited.is_set(), "exited before the live session ended")
                second = os.urandom(100_000)
                s.sendall(second)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(hashlib.sha256(first + second).digest(), recv_all(s))
                s.close()
                t.join(30 * SLOW)
                self.assertEqual([0], rc, px.stderr())

    def test_drain_deadline_closes_sessions_that_do_not_finish(self):
        with Server(digest_handler) as d:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "1",
                         "--drain-timeout", "300"], port=port) as px:
                s = connect(port)
                s.sendall(b"never finished")
                self.assertEqual(0, px.stop(signal.SIGTERM))
                self.assertTrue(closed_by_peer(s))
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
