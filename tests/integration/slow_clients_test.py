# SPDX-License-Identifier: MIT
"""Slow and idle clients: a client that never speaks is closed at first_byte without a backend
connection, a trickling client at min_rate, a half-closed session at client_fin or server_fin;
each counted by kind, while a prompt client on the same listener is served."""
import os
import re
import signal
import socket
import struct
import threading
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, free_port, recv_exact,
                     replace_config, scrape_metrics, wait_for, write_config)


def config(port, backend, timeouts, admin=None):
    top = f"admin: {{ address: 127.0.0.1:{admin} }}\n" if admin else ""
    return write_config(f"""{top}
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
    timeouts: {{ {timeouts} }}
groups:
  - name: g
    backends:
      - address: {backend}
""")


def wait_accepted(backend, n):
    """True once <backend> has accepted <n> connections (within 10 s)."""
    deadline = time.monotonic() + 10 * SLOW
    while backend.accepted < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return backend.accepted >= n


def timeouts(err):
    m = re.search(r"timeouts:(.*)", err)
    return dict((k, int(v)) for k, v in re.findall(r" (\w+) (\d+)", m.group(1))) if m else {}


RELEASE = threading.Event()  # set at the end of a test: handlers holding a session return
BACKEND_CLOSED = threading.Event()  # sluice closed the backend connection


def hold_handler(conn):
    """Reads to EOF and never answers nor closes: a backend that keeps a session open."""
    while conn.recv(65536):
        pass
    RELEASE.wait(30 * SLOW)


def answer_and_close_handler(conn):
    """Answers, sends its FIN, then notes when sluice closes the connection."""
    conn.recv(16)
    conn.sendall(b"bye")
    conn.shutdown(socket.SHUT_WR)
    if conn.recv(16) == b"":
        BACKEND_CLOSED.set()


class SlowClients(unittest.TestCase):
    def run_proxy(self, handler, tmo, body, admin=None):
        RELEASE.clear()
        BACKEND_CLOSED.clear()
        with Server(handler) as b:
            port = free_port()
            cfg = config(port, b.addr, tmo, admin)
            with Sluice(["-c", cfg], port=port) as px:
                try:
                    body(port, b)
                finally:
                    RELEASE.set()
                self.assertEqual(0, px.stop())
                err = px.stderr()
            os.unlink(cfg)
            return err

    def test_silent_client_is_closed_at_first_byte_without_a_backend_connection(self):
        def body(port, b):
            silent = connect(port)
            prompt = connect(port)
            prompt.sendall(b"hi")
            self.assertEqual(b"hi", recv_exact(prompt, 2))
            self.assertTrue(closed_by_peer(silent, 10 * SLOW))
            silent.close()
            prompt.close()
            self.assertEqual(1, b.accepted)  # only the prompt client reached the backend

        err = self.run_proxy(echo_handler, "first_byte: 300ms", body)
        self.assertEqual({"first_byte": 1}, timeouts(err))

    def test_a_reload_that_raises_first_byte_extends_a_wait_under_way(self):
        """The deadline is the current snapshot's when it comes: raised from 1 s to 30 s while a
        client waits, the client speaking at 2 s is served; lowered to 0 (off), a waiting
        client goes on to the backend at the old deadline."""
        with Server(echo_handler) as b:
            port = free_port()
            cfg = config(port, b.addr, "first_byte: 1s")
            with Sluice(["-c", cfg], port=port) as px:
                for value, speaks in (("30s", True), ("0", False)):
                    replace_config(cfg, config(port, b.addr, "first_byte: 1s"))
                    px.proc.send_signal(signal.SIGHUP)
                    wait_for(lambda: px.stderr().count("reloaded") >= (1 if speaks else 3),
                             "the reload")
                    with connect(port) as s:
                        replace_config(cfg, config(port, b.addr, f"first_byte: {value}"))
                        px.proc.send_signal(signal.SIGHUP)
                        wait_for(lambda: px.stderr().count("reloaded") >= (2 if speaks else 4),
                                 "the reload")
                        time.sleep(1.5)  # the scenario: past the old deadline
                        if speaks:
                            s.sendall(b"hi")
                            self.assertEqual(b"hi", recv_exact(s, 2), px.stderr())
                        else:
                            self.assertTrue(wait_accepted(b, 2), "not let on to the backend")
                            s.sendall(b"ok")
                            self.assertEqual(b"ok", recv_exact(s, 2), px.stderr())
                self.assertEqual(0, px.stop())
                self.assertEqual({}, timeouts(px.stderr()))
            os.unlink(cfg)

    def test_a_client_that_leaves_before_its_first_byte_reaches_no_backend(self):
        """A FIN or a reset before any byte says nothing either: the client is closed as it
        left (a reset counted as one), no backend is tried, and nothing counts as a
        first_byte cut (no strike towards a ban)."""
        admin = free_port()

        def body(port, b):
            left = connect(port)
            left.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(left, 10 * SLOW))
            left.close()
            reset = connect(port)
            time.sleep(0.05)
            reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            reset.close()
            prompt = connect(port)
            prompt.sendall(b"hi")
            self.assertEqual(b"hi", recv_exact(prompt, 2))
            prompt.close()
            deadline = time.monotonic() + 10 * SLOW
            m = {}
            while time.monotonic() < deadline:
                m = scrape_metrics(admin)
                if m.get("sluice_closed_total", 0) >= 3:
                    break
                time.sleep(0.02)
            self.assertEqual(3, m.get("sluice_closed_total"))
            self.assertEqual(1, m.get("sluice_resets_total"))
            self.assertEqual(1, b.accepted)  # only the prompt client reached the backend

        err = self.run_proxy(echo_handler, "first_byte: 5s", body, admin)
        self.assertEqual({}, timeouts(err))

    def test_trickling_client_is_closed_at_min_rate(self):
        def body(port, b):
            s = connect(port)
            closed = False
            for _ in range(int(40 * SLOW)):  # a byte every 100 ms, for at most 4 s
                try:
                    s.sendall(b"x")
                    recv_exact(s, 1)
                except (OSError, EOFError):
                    closed = True
                    break
                time.sleep(0.1)
            s.close()
            self.assertTrue(closed, "a client moving 2 bytes per 100 ms outlived min_rate")

        err = self.run_proxy(echo_handler, "min_rate: { bytes: 1k, window: 500ms }", body)
        self.assertEqual({"min_rate": 1}, timeouts(err))

    def test_bytes_sent_while_queued_count_in_the_first_min_rate_window(self):
        """A client that sends 30 KB while it waits in the backend queue and then nothing: its
        first window (from the start of forwarding) moves the 30 KB, so it is cut at the end
        of the second, not the first (the bytes were counted before the window began)."""
        def sink_handler(conn):  # reads to EOF, then closes
            while conn.recv(65536):
                pass

        with Server(sink_handler) as b:
            port = free_port()
            cfg = write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
    forward: copy
    timeouts: {{ queue: 30s, min_rate: {{ bytes: 1k, window: 1s }} }}
groups:
  - name: g
    max_queue: 4
    backends:
      - {{ address: "{b.addr}", max_connections: 1 }}
""")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                holder = connect(port)
                holder.sendall(b"h" * 2000)  # holds the backend's one slot
                self.assertTrue(wait_accepted(b, 1), "the holder reached the backend")
                queued = connect(port)
                queued.sendall(b"q" * 30000)
                time.sleep(0.5)
                holder.sendall(b"h" * 2000)  # a busy holder: no min_rate cut for it
                holder.shutdown(socket.SHUT_WR)  # its session ends: the queued one goes on
                freed = time.monotonic()
                self.assertTrue(closed_by_peer(queued, 10 * SLOW), "never cut at min_rate")
                cut = time.monotonic() - freed
                queued.close()
                holder.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
        # forwarding began after <freed>; its first window moved 30 KB, its second none
        self.assertGreaterEqual(cut, 1.9, f"cut {cut:.2f} s after the slot freed")
        self.assertEqual({"min_rate": 1}, timeouts(err))

    def test_half_closed_by_the_client_is_closed_at_client_fin(self):
        def body(port, b):
            s = connect(port)
            s.sendall(b"request")
            s.shutdown(socket.SHUT_WR)  # the backend never answers
            self.assertTrue(closed_by_peer(s, 10 * SLOW))
            s.close()

        err = self.run_proxy(hold_handler, "client_fin: 300ms", body)
        self.assertEqual({"client_fin": 1}, timeouts(err))

    def test_half_closed_by_the_backend_is_closed_at_server_fin(self):
        def body(port, b):
            s = connect(port)
            s.sendall(b"request")
            self.assertEqual(b"bye", recv_exact(s, 3))
            # the client neither sends nor closes: only server_fin can end this in time
            self.assertTrue(BACKEND_CLOSED.wait(10 * SLOW))
            s.close()

        err = self.run_proxy(answer_and_close_handler, "server_fin: 300ms", body)
        self.assertEqual({"server_fin": 1}, timeouts(err))


if __name__ == "__main__":
    unittest.main()
