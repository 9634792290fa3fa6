# SPDX-License-Identifier: MIT
"""Idle timeouts count bytes moved, not readiness events: a stream flowing one way keeps its
session for longer than both idle timeouts, in either direction and every forwarding mode,
while a session where no byte moves is cut. Bytes a slow peer takes from its socket's buffer
count too, though sluice writes nothing while it drains: a slow reader keeps its session, one
that never reads is cut."""
import concurrent.futures
import contextlib
import hashlib
import os
import socket
import threading
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


def config(port, backend, forward, idle=IDLE):
    return write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
    forward: {forward}
    timeouts: {{ client_idle: {idle}, server_idle: {idle} }}
groups:
  - name: g
    backends:
      - address: {backend}
""")


# slow peers: SLOW_TOTAL bytes at about SLOW_RATE bytes/s, a few times SLOW_IDLE; sluice writes
# them into the kernel's buffers at once, then nothing more, so only the sockets' own counts
# show the reader's progress
SLOW_TOTAL = 1500000
SLOW_RATE = 256 * 1024
SLOW_IDLE = "2s"


def read_slowly(sock, total, pause_at=None, pause_for=0.0):
    """Reads <total> bytes (or to EOF) a twentieth of SLOW_RATE at a time, pausing a twentieth
    of a second after each, and once <pause_for> seconds <pause_at> seconds after the start: the
    pace of the read is the scenario, not something measured. Returns the sha256 of what it
    read and how many bytes that was."""
    h, got, t0 = hashlib.sha256(), 0, time.monotonic()
    sock.settimeout(30 * SLOW)
    while got < total:
        data = sock.recv(SLOW_RATE // 20)
        if not data:
            break
        h.update(data)
        got += len(data)
        time.sleep(0.05)
        if pause_at is not None and time.monotonic() - t0 >= pause_at:
            time.sleep(pause_for)
            pause_at = None
    return h.digest(), got


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

    def test_one_way_streams_outlive_both_idle_timeouts_in_every_forwarding_mode(self):
        """Upload and download with each forwarder, the eight at once: each has its own proxy,
        backend and client, and they sleep between chunks far more than they work."""
        cases = [(way, forward) for way in ("upload", "download")
                 for forward in ("splice", "copy", "auto", "uring")]
        with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
            runs = {(way, forward): pool.submit(
                self.upload_to_silent_backend if way == "upload"
                else self.download_to_silent_client, forward) for way, forward in cases}
        for (way, forward), run in runs.items():
            with self.subTest(way=way, forward=forward):
                run.result()  # re-raises what failed in the case

    def slow_reading_client(self, forward, pause_at=None, pause_for=0.0):
        data = os.urandom(SLOW_TOTAL)

        def send_all(conn):
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)  # until the proxy closes

        with Server(send_all) as d:
            port = free_port()
            with Sluice(["-c", config(port, d.addr, forward, SLOW_IDLE)], port=port) as px:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                    s.connect(("127.0.0.1", port))
                    try:
                        digest, got = read_slowly(s, SLOW_TOTAL, pause_at, pause_for)
                    except ConnectionResetError:
                        px.stop()  # its exit summary says why it cut the session
                        self.fail(f"a client reading slowly was reset: {px.stderr()}")
                self.assertEqual((SLOW_TOTAL, hashlib.sha256(data).digest()), (got, digest),
                                 "a client reading slowly was cut")
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertNotIn("timeouts:", px.stderr())

    def test_client_reading_slowly_from_full_buffers_is_not_idle(self):
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                self.slow_reading_client(forward)

    def test_a_slow_reader_that_pauses_at_the_first_deadline_is_not_idle(self):
        """The first look at the sockets (at the idle deadline after sluice filled them) has
        nothing to compare with; the reader pauses from just before it for 1.5 s of the 2 s
        timeout. The next look compares a whole timeout of its progress, so it keeps its
        session (a second look a second later cut it)."""
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                self.slow_reading_client(forward, pause_at=1.8, pause_for=1.5)

    def test_backend_reading_slowly_from_full_buffers_is_not_idle(self):
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                self.slow_reading_backend(forward)

    def slow_reading_backend(self, forward):
        """The mirror: an upload the backend takes slowly keeps both sides of its session."""
        data = os.urandom(SLOW_TOTAL)
        taken = []

        def take_slowly(conn):
            taken.append(read_slowly(conn, SLOW_TOTAL))
            conn.sendall(b"done")

        with Server(take_slowly) as d:
            port = free_port()
            with Sluice(["-c", config(port, d.addr, forward, SLOW_IDLE)], port=port) as px:
                s = connect(port)
                s.sendall(data)
                s.settimeout(30 * SLOW)
                self.assertEqual(b"done", s.recv(4), "the upload was cut")
                s.close()
                self.assertEqual([(hashlib.sha256(data).digest(), SLOW_TOTAL)], taken)
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertNotIn("timeouts:", px.stderr())

    def test_client_that_never_reads_is_cut(self):
        """Bytes wait in its socket, but none leave it: idle (the first look at its socket has
        nothing to compare with, the next one a timeout later cuts it), and the backend's
        connection goes with it."""
        cut = threading.Event()

        def send_until_cut(conn):
            with contextlib.suppress(OSError):
                while True:  # until the proxy closes it: the buffers fill within a few MB
                    conn.sendall(bytes(65536))
            cut.set()

        with Server(send_until_cut) as d:
            port = free_port()
            with Sluice(["-c", config(port, d.addr, "auto", SLOW_IDLE)], port=port) as px:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                s.connect(("127.0.0.1", port))
                # the client reads nothing
                self.assertTrue(cut.wait(30 * SLOW), "a client that never reads was kept")
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertIn("timeouts: client_idle 1", px.stderr())

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


    def test_a_session_quiet_after_a_looked_at_backlog_is_cut_one_timeout_after_its_last_byte(self):
        """The backend sends more than the sockets hold at once and stays quiet; the client
        reads nothing until an idle deadline has passed (which looks at the sockets, bytes in
        flight: a grace), then reads it all and stays quiet too. The bytes sluice moved after
        that look are not the sockets' own progress at the next deadline: the session is cut
        one timeout after the last byte, not two."""
        size, idle = 8 * 1024 * 1024, 3.0
        go = threading.Event()

        def send_then_hold(conn):
            conn.sendall(b"b" * size)
            go.wait(60)

        self.addCleanup(go.set)
        for forward in ("copy", "auto"):
            with self.subTest(forward=forward), Server(send_then_hold) as d:
                port = free_port()
                with Sluice(["-c", config(port, d.addr, forward, f"{idle:g}s")], port=port):
                    with socket.socket() as s:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                        s.connect(("127.0.0.1", port))
                        time.sleep(idle + 0.6)  # the scenario: a deadline passes unread
                        s.settimeout(30 * SLOW)
                        got, last = 0, None
                        while data := s.recv(1 << 20):
                            got += len(data)
                            last = time.monotonic()
                        cut = time.monotonic() - last
                    self.assertEqual(size, got)
                    # the first deadline after the last byte, not the one after it
                    self.assertGreater(cut, idle * 0.9)
                    self.assertLess(cut, idle * 1.5, f"cut {cut:.1f} s after the last byte")

if __name__ == "__main__":
    unittest.main(verbosity=2)
