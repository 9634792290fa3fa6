# SPDX-License-Identifier: MIT
"""The access log with real traffic through sluice: one valid JSON line per session with the
right fields and byte counts, a line for a rejected client, an idle timeout and no backend,
rotation (rename, SIGUSR1, later lines in a new file at the path, none lost across it, even with
sessions running through it), standard output, SIGUSR1 without an access log and during a
drain, and under a tiny ring every session is either a line or counted as dropped in the exit
summary."""
import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, echo_handler, echo_roundtrip, free_port,
                     recv_exact, refused_address, wait_for_text, write_config)

FIELDS = {"time", "client", "listener", "backend", "backend_address", "bytes_in", "bytes_out",
          "connect_ms", "duration_ms", "termination"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config(port, backend, log, ring_size=None, workers=2, listener_extra=""):
    ring = f", ring_size: {ring_size}" if ring_size else ""
    return write_config(f"""
workers: {workers}
access_log: {{ path: "{log}"{ring} }}
listeners:
  - name: front
    address: 127.0.0.1:{port}
    deny: [127.0.9.0/24]
{listener_extra}
groups:
  - name: g
    backends:
      - address: {backend}
        name: echo1
""")


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path, n, timeout=10.0):
    """Waits (bounded) until <path> holds at least <n> lines; the logger flushes within
    100 ms of a line, and a file is all there is to wait on."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        lines = read_lines(path)
        if len(lines) >= n:
            return lines
        select.select([], [], [], 0.02)
    raise AssertionError(f"{path}: want {n} lines, have {read_lines(path)}")


def session(port, size):
    """One session through the echo backend moving <size> bytes each way."""
    got = echo_roundtrip(port, b"x" * size)
    assert len(got) == size, (size, len(got))


class AccessLog(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sl-access-")
        self.log = os.path.join(self.dir, "access.log")
        self.backend = Server(echo_handler).__enter__()
        self.port = free_port()
        self.cfgs = []

    def tearDown(self):
        self.backend.close()
        for c in self.cfgs:
            os.unlink(c)
        shutil.rmtree(self.dir)

    def sluice(self, **kw):
        backend = kw.pop("backend", self.backend.addr)
        cfg = config(self.port, backend, kw.pop("log", self.log), **kw)
        self.cfgs.append(cfg)
        return Sluice(["-c", cfg], port=self.port)

    def test_one_json_line_per_session_with_its_fields_and_bytes(self):
        sizes = [1000 + i for i in range(6)]
        with self.sluice() as px:
            before = datetime.datetime.now(datetime.timezone.utc)
            for n in sizes:
                session(self.port, n)
            lines = wait_lines(self.log, len(sizes))
            self.assertEqual(0, px.stop())
        after = datetime.datetime.now(datetime.timezone.utc)
        lines = read_lines(self.log)
        self.assertEqual(len(sizes), len(lines), lines)
        records = [json.loads(l) for l in lines]
        self.assertEqual(sorted(sizes), sorted(r["bytes_in"] for r in records))
        for r in records:
            self.assertEqual(FIELDS, set(r), r)
            self.assertRegex(r["time"], TIME)
            t = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc)
            self.assertTrue(before - datetime.timedelta(seconds=1) <= t
                            <= after + datetime.timedelta(seconds=1), (before, t, after))
            self.assertRegex(r["client"], r"^127\.0\.0\.1:\d+$")
            self.assertEqual("front", r["listener"])
            self.assertEqual("echo1", r["backend"])
            self.assertEqual(self.backend.addr, r["backend_address"])
            self.assertEqual(r["bytes_in"], r["bytes_out"])
            self.assertIsInstance(r["connect_ms"], int)
            self.assertLessEqual(0, r["connect_ms"])
            self.assertLessEqual(r["connect_ms"], r["duration_ms"])
            self.assertEqual("normal", r["termination"])

    def test_a_rejected_client_gets_a_line_with_the_reason(self):
        with self.sluice() as px:
            s = socket.socket()
            s.settimeout(10 * SLOW)
            s.bind(("127.0.9.5", 0))
            s.connect(("127.0.0.1", self.port))
            source_port = s.getsockname()[1]
            self.assertTrue(closed_by_peer(s))
            s.close()
            lines = wait_lines(self.log, 1)
            self.assertEqual(0, px.stop())
        r = json.loads(lines[0])
        self.assertEqual(f"127.0.9.5:{source_port}", r["client"])
        self.assertEqual("rejected:acl_denied", r["termination"])
        self.assertIsNone(r["backend"])
        self.assertIsNone(r["backend_address"])
        self.assertIsNone(r["connect_ms"])
        self.assertEqual(0, r["bytes_in"])
        self.assertEqual(0, r["bytes_out"])

    def test_an_idle_client_is_logged_as_a_client_idle_timeout(self):
        with self.sluice(listener_extra="    timeouts: { client_idle: 300ms }") as px:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10 * SLOW)
            s.sendall(b"abc")
            self.assertEqual(b"abc", recv_exact(s, 3))
            self.assertTrue(closed_by_peer(s))  # then nothing: the idle timeout closes it
            s.close()
            lines = wait_lines(self.log, 1)
            self.assertEqual(0, px.stop())
        r = json.loads(lines[0])
        self.assertEqual("timeout:client_idle", r["termination"])
        self.assertEqual("echo1", r["backend"])
        self.assertEqual((3, 3), (r["bytes_in"], r["bytes_out"]))
        self.assertGreaterEqual(r["duration_ms"], 300)

    def test_a_client_no_backend_could_take_is_logged_as_no_backend(self):
        with refused_address() as refused:
            with self.sluice(backend=refused) as px:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10 * SLOW)
                self.assertTrue(closed_by_peer(s))
                s.close()
                lines = wait_lines(self.log, 1)
                self.assertEqual(0, px.stop())
        r = json.loads(lines[0])
        self.assertEqual("no_backend", r["termination"])
        self.assertIsNone(r["backend"])
        self.assertIsNone(r["backend_address"])
        self.assertIsNone(r["connect_ms"])

    def test_sigusr1_after_a_rename_moves_later_lines_to_a_new_file_losing_none(self):
        rotated = self.log + ".1"
        first = [2000 + i for i in range(5)]
        during = [3000 + i for i in range(40)]
        after = [4000 + i for i in range(5)]
        with self.sluice() as px:
            for n in first:
                session(self.port, n)
            wait_lines(self.log, len(first))
            # sessions keep running on another thread through the rename and the reopen
            errors = []

            def background():
                try:
                    for n in during:
                        session(self.port, n)
                except Exception as e:  # reported below: the test must not hang on it
                    errors.append(e)

            t = threading.Thread(target=background)
            t.start()
            os.rename(self.log, rotated)
            px.proc.send_signal(signal.SIGUSR1)
            wait_for_text(px, f"access log {self.log}: reopened")
            t.join(60 * SLOW)
            self.assertFalse(t.is_alive())
            self.assertEqual([], errors)
            for n in after:
                session(self.port, n)
            self.assertEqual(0, px.stop())
        old, new = read_lines(rotated), read_lines(self.log)
        sizes = sorted(json.loads(l)["bytes_in"] for l in old + new)
        self.assertEqual(sorted(first + during + after), sizes, "a line lost or doubled")
        old_sizes = {json.loads(l)["bytes_in"] for l in old}
        new_sizes = {json.loads(l)["bytes_in"] for l in new}
        self.assertTrue(set(first) <= old_sizes, old_sizes)
        self.assertTrue(set(after) <= new_sizes, new_sizes)

    def test_a_dash_writes_the_lines_to_standard_output(self):
        with self.sluice(log="-") as px:
            session(self.port, 777)
            self.assertEqual(0, px.stop())
            out = px.stdout()
        records = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        self.assertEqual([777], [r["bytes_in"] for r in records])

    def test_every_session_is_a_line_or_counted_as_dropped_with_a_tiny_ring(self):
        sessions = 200
        with self.sluice(ring_size=2) as px:
            threads = [threading.Thread(target=lambda k=k: [session(self.port, 10 + k * 50 + i)
                                                             for i in range(sessions // 4)])
                       for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120 * SLOW)
            self.assertEqual(0, px.stop())
            err = px.stderr()
        m = re.search(r"access log: (\d+) lines dropped", err)
        self.assertIsNotNone(m, err)
        lines = read_lines(self.log)
        for l in lines:
            json.loads(l)
        self.assertEqual(sessions, len(lines) + int(m.group(1)), err)


class Signals(unittest.TestCase):
    def test_sigusr1_without_an_access_log_is_logged_and_harmless(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = write_config(f"""
listeners:
  - address: 127.0.0.1:{port}
groups:
  - name: g
    backends: [{{address: {b.addr}}}]
""")
            try:
                with Sluice(["-c", cfg], port=port) as px:
                    px.proc.send_signal(signal.SIGUSR1)
                    wait_for_text(px, "SIGUSR1: no access_log is configured")
                    self.assertEqual(b"ping", echo_roundtrip(port, b"ping"))
                    self.assertEqual(0, px.stop())
            finally:
                os.unlink(cfg)

    def test_a_reload_that_changes_the_access_log_is_refused(self):
        d = tempfile.mkdtemp(prefix="sl-access-")
        log = os.path.join(d, "access.log")
        with Server(echo_handler) as b:
            port = free_port()
            cfg = config(port, b.addr, log)
            try:
                with Sluice(["-c", cfg], port=port) as px:
                    other = config(port, b.addr, log + ".other")
                    os.replace(other, cfg)
                    px.proc.send_signal(signal.SIGHUP)
                    wait_for_text(px, "not reloaded: access_log.path changed (needs a restart")
                    self.assertEqual(b"ping", echo_roundtrip(port, b"ping"))
                    self.assertEqual(0, px.stop())
                self.assertEqual(1, len(read_lines(log)))
                self.assertFalse(os.path.exists(log + ".other"))
            finally:
                os.unlink(cfg)
                shutil.rmtree(d)

    def test_sigusr1_during_a_drain_reopens_and_the_drain_still_ends(self):
        d = tempfile.mkdtemp(prefix="sl-access-")
        log = os.path.join(d, "access.log")
        with Server(echo_handler) as b:
            port = free_port()
            cfg = config(port, b.addr, log)
            try:
                with Sluice(["-c", cfg], port=port) as px:
                    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
                    s.sendall(b"held")
                    self.assertEqual(b"held", s.recv(4))
                    px.proc.send_signal(signal.SIGTERM)
                    wait_for_text(px, "draining")
                    os.rename(log, log + ".1")
                    px.proc.send_signal(signal.SIGUSR1)
                    wait_for_text(px, f"access log {log}: reopened")
                    s.shutdown(socket.SHUT_WR)
                    self.assertTrue(closed_by_peer(s))
                    s.close()
                    px.proc.wait(30 * SLOW)
                    self.assertEqual(0, px.proc.returncode, px.stderr())
                lines = read_lines(log)
                self.assertEqual(1, len(lines), lines)
                self.assertEqual(4, json.loads(lines[0])["bytes_in"])
            finally:
                os.unlink(cfg)
                shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
