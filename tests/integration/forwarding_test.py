# SPDX-License-Identifier: MIT
"""Bytes through the proxy: many concurrent connections of random sizes, checksummed each way,
in every forwarding mode; half-close in both directions; a backend that dies mid-session."""
import hashlib
import os
import random
import socket
import threading
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, digest_handler, echo_handler,
                     echo_many, echo_roundtrip, free_port, read_digest, recv_all, recv_exact)


# the default (auto) and the completion forwarder, which runs as copy on epoll
FORWARDS = ("auto", "uring")


class Forwarding(unittest.TestCase):
    def concurrent_echo(self, forward):
        with Server(echo_handler) as a, Server(echo_handler) as b:
            port = free_port()
            args = ["-l", f"127.0.0.1:{port}", "-b", f"{a.addr},{b.addr}", "-w", "2",
                    "--forward", forward]
            with Sluice(args, port=port) as px:
                rng = random.Random(7)
                sizes = [rng.choice([0, 1, 100, 4096, 65537, 300_000, 1_000_000])
                         for _ in range(120 // SLOW)]
                for i, r in enumerate(echo_many(port, sizes)):
                    self.assertIsNotNone(r, f"connection {i} did not finish")
                    self.assertEqual(r[0], r[1], f"connection {i} ({sizes[i]} bytes) corrupted")
                self.assertEqual(len(sizes), a.accepted + b.accepted)
                self.assertEqual(0, px.stop(), px.stderr())

    def test_concurrent_connections_with_splice_lose_no_byte(self):
        self.concurrent_echo("splice")

    def test_concurrent_connections_with_copy_lose_no_byte(self):
        self.concurrent_echo("copy")

    def test_concurrent_connections_with_auto_lose_no_byte(self):
        self.concurrent_echo("auto")

    def test_concurrent_connections_with_uring_lose_no_byte(self):
        self.concurrent_echo("uring")

    def test_uring_on_epoll_runs_as_copy_and_says_so_once(self):
        with Server(echo_handler) as a:
            port = free_port()
            args = ["-l", f"127.0.0.1:{port}", "-b", a.addr, "-w", "2", "--forward", "uring",
                    "--runtime", "epoll"]
            with Sluice(args, port=port) as px:
                payload = os.urandom(100_000)
                self.assertEqual(payload, echo_roundtrip(port, payload))
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertEqual(1, px.stderr().count("forward: uring runs as copy"),
                                 px.stderr())
                # a warning: the process cannot do what the file asks (an alert may follow)
                self.assertIn("warn listener ", px.stderr())

    def test_client_half_close_reaches_backend_and_reply_still_flows(self):
        for forward in FORWARDS:
            with self.subTest(forward=forward):
                self.client_half_close(forward)

    def client_half_close(self, forward):
        with Server(digest_handler) as d:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "1",
                         "--forward", forward], port=port):
                payload = os.urandom(2_000_000)
                s = connect(port)
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(hashlib.sha256(payload).digest(), recv_all(s))
                s.close()

    def test_backend_half_close_reaches_client_and_client_can_still_send(self):
        for forward in FORWARDS:
            with self.subTest(forward=forward):
                self.backend_half_close(forward)

    def backend_half_close(self, forward):
        received = []
        done = threading.Event()

        def speak_first(conn):
            conn.sendall(b"greeting")
            conn.shutdown(socket.SHUT_WR)
            received.append(read_digest(conn))
            done.set()

        with Server(speak_first) as d:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "1",
                         "--forward", forward], port=port):
                s = connect(port)
                self.assertEqual(b"greeting", recv_exact(s, 8))
                # the backend's FIN arrives; our direction must keep flowing
                s.settimeout(10 * SLOW)
                self.assertEqual(b"", s.recv(1))
                payload = os.urandom(500_000)
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(done.wait(30 * SLOW), "backend never saw the client's EOF")
                self.assertEqual([hashlib.sha256(payload).digest()], received)
                s.close()

    def test_backend_dying_mid_session_closes_the_client(self):
        for forward in FORWARDS:
            with self.subTest(forward=forward):
                self.backend_dying(forward)

    def backend_dying(self, forward):
        accepted = threading.Event()

        def die_later(conn):
            conn.recv(5)
            accepted.set()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

        with Server(die_later) as d:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "1",
                         "--forward", forward], port=port):
                s = connect(port, timeout=10)
                s.sendall(b"hello")
                self.assertTrue(accepted.wait(10 * SLOW))
                self.assertTrue(closed_by_peer(s))
                s.close()

    def test_what_a_backend_sent_before_its_reset_reaches_the_client(self):
        for forward in FORWARDS + ("copy",):
            with self.subTest(forward=forward):
                self.sent_then_reset(forward)

    def sent_then_reset(self, forward):
        """The backend answers 100000 bytes and resets at once: the bytes it sent are the
        client's, as they would be without the proxy; then the reset ends the session."""
        def answer_then_reset(conn):
            conn.recv(5)
            conn.sendall(b"y" * 100_000)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

        def client(port, out):
            for _ in range(10):
                s = connect(port, timeout=10 * SLOW)
                s.sendall(b"hello")
                got = 0
                try:
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        got += len(d)
                except OSError:
                    pass
                s.close()
                out.append(got)

        with Server(answer_then_reset) as d:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", d.addr, "-w", "2",
                         "--forward", forward], port=port) as px:
                got = []
                threads = [threading.Thread(target=client, args=(port, got)) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60 * SLOW)
                self.assertEqual([100_000] * 40, got)
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
