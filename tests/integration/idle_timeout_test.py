# SPDX-License-Identifier: MIT
"""Idle timeouts count bytes moved, not readiness events: a stream flowing one way keeps its
session for longer than both idle timeouts, in either direction and every forwarding mode,
while a session where no byte moves is cut."""
import hashlib
import os
import socket
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, digest_handler, echo_handler,
                     free_port, recv_all, write_config)

IDLE = "2s"
# the stream lasts three idle timeouts; a gap between chunks is a fortieth of one, so a sender
# starved of CPU for a second on a loaded machine still keeps its session
CHUNKS = 120
GAP = 0.05
CHUNK = 4096


def config(port, backend, forward):
    return write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
    forward: {forward}
    timeouts: {{ client_idle: {IDLE}, server_idle: {IDLE} }}
groups:
  - name: g
    backends:
      - address: {backend}
""")


def paced_chunks():
    """CHUNKS pseudo-random chunks; the sender pauses GAP seconds after each (pacing the stream
    is what is under test, not a wait for an event)."""
    for i in range(CHUNKS):
        yield os.urandom(CHUNK)
        time.sleep(GAP)


class IdleTimeout(unittest.TestCase):
    def upload_to_silent_backend(self, forward):
        """client -> backend only: the backend never sends until the client's EOF."""
        with Server(digest_handler) as d:
            port = free_port()
            with Sluice(["-c", config(port, d.addr, forward)], port=port) as px:
                s = connect(port)
                h = hashlib.sha256()
                for chunk in paced_chunks():
                    h.update(chunk)
                    s.sendall(chunk)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(h.digest(), recv_all(s), "the upload was cut")
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())

    def download_to_silent_client(self, forward):
        """backend -> client only: the client never sends a byte."""
        sent = []

        def stream(conn):
            h = hashlib.sha256()
            for chunk in paced_chunks():
                h.update(chunk)
                conn.sendall(chunk)
            sent.append(h.digest())

        with Server(stream) as d:
            port = free_port()
            with Sluice(["-c", config(port, d.addr, forward)], port=port) as px:
                s = connect(port)
                got = hashlib.sha256(recv_all(s)).digest()
                s.close()
                self.assertEqual(sent, [got], "the download was cut")
                self.assertEqual(0, px.stop(), px.stderr())

    def test_upload_to_silent_backend_outlives_idle_timeouts_with_splice(self):
        self.upload_to_silent_backend("splice")

    def test_upload_to_silent_backend_outlives_idle_timeouts_with_copy(self):
        self.upload_to_silent_backend("copy")

    def test_upload_to_silent_backend_outlives_idle_timeouts_with_auto(self):
        self.upload_to_silent_backend("auto")

    def test_upload_to_silent_backend_outlives_idle_timeouts_with_uring(self):
        self.upload_to_silent_backend("uring")

    def test_download_to_silent_client_outlives_idle_timeouts_with_splice(self):
        self.download_to_silent_client("splice")

    def test_download_to_silent_client_outlives_idle_timeouts_with_copy(self):
        self.download_to_silent_client("copy")

    def test_download_to_silent_client_outlives_idle_timeouts_with_auto(self):
        self.download_to_silent_client("auto")

    def test_download_to_silent_client_outlives_idle_timeouts_with_uring(self):
        self.download_to_silent_client("uring")

    def test_session_where_no_byte_moves_is_cut(self):
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                self.no_byte_moves(forward)

    def no_byte_moves(self, forward):
        with Server(echo_handler) as e:
            port = free_port()
            with Sluice(["-c", config(port, e.addr, forward)], port=port) as px:
                s = connect(port)
                s.sendall(b"ping")
                s.settimeout(10 * SLOW)
                self.assertEqual(b"ping", s.recv(4))
                # silent from here on both sides: an idle timeout must close it
                self.assertTrue(closed_by_peer(s, timeout=30))
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
