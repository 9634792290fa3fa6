# SPDX-License-Identifier: MIT
"""The access log with real traffic through sluice: one valid JSON line per session with the
right fields and byte counts, a line for a rejected client, an idle timeout and no backend,
rotation (rename, SIGUSR1, later lines in a new file at the path, none lost across it, even with
sessions running through it), standard output (also a pipe or socket whose reader stopped
reading: lines counted lost, the exit not held), SIGUSR1 without an access log and during a
drain, under a tiny ring every session is either a line or counted as dropped in the exit
summary, and on a disk that fills up (a small tmpfs, as root) the file holds only whole lines
while every line it could not take is counted, in /metrics and in the exit summary."""
import contextlib
import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (SLOW, SLUICE, Server, Sluice, closed_by_peer, echo_handler, echo_roundtrip, free_port,
                     recv_exact, refused_address, scrape_metrics, wait_for, wait_for_text,
                     write_config)

FIELDS = {"time", "client", "listener", "backend", "backend_address", "bytes_in", "bytes_out",
          "connect_ms", "duration_ms", "termination"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config(port, backend, log, ring_size=None, workers=2, listener_extra="", top_extra=""):
    ring = f", ring_size: {ring_size}" if ring_size else ""
    return write_config(f"""
workers: {workers}
{top_extra}
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


def lines_waiting(fd):
    """The lines waiting in the non-blocking pipe or socket <fd>, each checked to be whole
    JSON."""
    got = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            got += chunk
    lines = got.decode().splitlines()
    for line in lines:
        json.loads(line)  # whole lines only
    return lines


def session(port, size):
    """One session through the echo backend moving <size> bytes each way."""
    got = echo_roundtrip(port, b"x" * size)
    assert len(got) == size, (size, len(got))


def sessions_on_threads(port, n, first_size):
    """<n> sessions through the echo backend, from 4 threads, each of its own size from
    <first_size> on."""
    threads = [threading.Thread(target=lambda k=k: [session(port, first_size + k * n + i)
                                                     for i in range(n // 4)])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLOW)


def dropped(err):
    """The exit summary's `access log: N lines dropped: reason n, ...` line of <err>:
    (N, {reason: n})."""
    m = re.search(r"access log: (\d+) lines dropped(?::(.*))?", err)
    assert m is not None, err
    reasons = dict((k, int(v)) for k, v in re.findall(r" (\w+) (\d+)", m.group(2) or ""))
    return int(m.group(1)), reasons


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

    def test_an_ipv4_client_a_proxy_header_writes_in_ipv6_form_is_logged_as_ipv4(self):
        """A dual-stack peer's PROXY header writes an IPv4 client as ::ffff:a.b.c.d; the
        filters take it as the IPv4 client, and so does the log (it wrote the mapped form,
        so one client showed two ways)."""
        proxy_in = "    proxy_protocol: { version: v1, trusted: [127.0.0.0/8] }\n"
        with self.sluice(listener_extra=proxy_in) as px:
            for header in ("PROXY TCP6 ::ffff:198.51.100.7 ::ffff:203.0.113.1 40000 80\r\n",
                           "PROXY TCP4 198.51.100.7 203.0.113.1 40001 80\r\n"):
                with socket.create_connection(("127.0.0.1", self.port), timeout=10 * SLOW) as c:
                    c.sendall(header.encode() + b"ping")
                    self.assertEqual(b"ping", recv_exact(c, 4))
            lines = wait_lines(self.log, 2)
            self.assertEqual(0, px.stop())
        self.assertEqual(["198.51.100.7:40000", "198.51.100.7:40001"],
                         sorted(json.loads(line)["client"] for line in lines))

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

    def dash_to_a_reader_that_stopped(self, r, w):
        """Standard output the <w> end of a pipe or socket pair whose <r> end nothing reads (a
        log shipper that hangs): the lines it cannot take are counted, SIGTERM still ends the
        process, and the description the process was given (shared with us) stays blocking."""
        px = self.sluice(log="-")
        px.out.close()
        px.out = w
        with px:
            for i in range(600):  # far more lines than the pipe's or socket's buffer holds
                self.assertEqual(b"ping", echo_roundtrip(self.port, b"ping"), i)
            self.assertEqual(0, px.stop(timeout=15), px.stderr())
        lost, _ = dropped(px.stderr())
        os.set_blocking(r.fileno(), False)
        lines = lines_waiting(r.fileno())
        self.assertEqual(600, len(lines) + lost, (len(lines), lost))
        self.assertGreater(lost, 0)
        self.assertTrue(os.get_blocking(w.fileno()))

    def test_a_dash_to_a_pipe_nothing_reads_costs_lines_not_the_exit(self):
        r, w = os.pipe()
        with os.fdopen(r, "rb") as rf:
            self.dash_to_a_reader_that_stopped(rf, os.fdopen(w, "wb"))

    def test_a_dash_to_a_socket_nothing_reads_costs_lines_not_the_exit(self):
        r, w = socket.socketpair()
        # small buffers, whatever the machine's defaults: 600 lines cannot all fit
        r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with r:
            self.dash_to_a_reader_that_stopped(r, w)

    def test_every_session_is_a_line_or_counted_as_dropped_with_a_tiny_ring(self):
        sessions = 200
        with self.sluice(ring_size=2) as px:
            sessions_on_threads(self.port, sessions, 10)
            self.assertEqual(0, px.stop())
            err = px.stderr()
        n, reasons = dropped(err)
        self.assertEqual(n, reasons.get("queue_full", 0), err)
        lines = read_lines(self.log)
        for l in lines:
            json.loads(l)
        self.assertEqual(sessions, len(lines) + n, err)


@unittest.skipUnless(os.geteuid() == 0, "a disk that fills up is a small tmpfs: mounting it "
                     "needs root")
class FullDisk(unittest.TestCase):
    """The access log on a 256 KiB tmpfs that a file fills but for 28 KiB (about a hundred
    lines); without that file it holds every line of the test."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sl-access-full-")
        self.addCleanup(os.rmdir, self.dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", self.dir],
                       check=True)
        self.addCleanup(subprocess.run, ["umount", self.dir], check=True)
        self.filler = os.path.join(self.dir, "filler")
        with open(self.filler, "wb") as f:
            f.write(bytes(232000))
        self.log = os.path.join(self.dir, "access.log")
        self.backend = Server(echo_handler).__enter__()
        self.addCleanup(self.backend.close)
        self.port = free_port()
        self.admin = free_port()
        cfg = config(self.port, self.backend.addr, self.log,
                     top_extra=f"admin: {{ address: 127.0.0.1:{self.admin} }}")
        self.addCleanup(os.unlink, cfg)
        self.px = Sluice(["-c", cfg], port=self.port)

    def lost(self):
        return scrape_metrics(self.admin).get(
            'sluice_access_log_dropped_total{reason="write_failed"}')

    def assert_whole_lines(self):
        """Every line of the file parses as JSON (no record cut short or glued onto another),
        and the file ends with a whole line; returns the lines."""
        with open(self.log, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(b"\n"), data[-300:])
        lines = data.decode().splitlines()
        for l in lines:
            self.assertEqual(FIELDS, set(json.loads(l)), l)
        return lines

    def test_the_file_holds_whole_lines_and_every_line_the_full_disk_lost_is_counted(self):
        # about 350 lines fill the disk and the logger's 64 KiB buffer: 600 lose some
        full, later = 600, 20
        with self.px as px:
            sessions_on_threads(self.port, full, 10)
            wait_for_text(px, "cannot write: No space left on device")
            lost = wait_for(self.lost, "lines lost to the full disk in /metrics")
            os.unlink(self.filler)
            wait_for_text(px, "writing again")
            for i in range(later):
                session(self.port, 5000 + i)
            wait_for(lambda: len(read_lines(self.log)) + self.lost() == full + later,
                     "every session written or counted",
                     detail=lambda: (len(read_lines(self.log)), self.lost()))
            lost = self.lost()
            self.assertEqual(0, px.stop())
            err = px.stderr()
        lines = self.assert_whole_lines()
        self.assertEqual(full + later, len(lines) + lost)
        self.assertEqual((lost, {"write_failed": lost}), dropped(err))
        # the sessions after the disk had room again all have their line
        sizes = {json.loads(l)["bytes_in"] for l in lines}
        self.assertTrue({5000 + i for i in range(later)} <= sizes, err)

    def test_lines_the_disk_still_refuses_at_exit_are_counted_and_the_file_ends_whole(self):
        sessions = 200
        with self.px as px:
            sessions_on_threads(self.port, sessions, 10)
            wait_for_text(px, "cannot write: No space left on device")
            self.assertEqual(0, px.stop())
            err = px.stderr()
        lines = self.assert_whole_lines()
        n, reasons = dropped(err)
        self.assertGreater(n, 0, err)
        self.assertEqual({"write_failed": n}, reasons)
        self.assertEqual(sessions, len(lines) + n, err)


class Fifo(unittest.TestCase):
    """A named pipe as the access log (a log shipper reading it): sluice never waits for it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sl-access-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.fifo = os.path.join(self.dir, "access.fifo")
        os.mkfifo(self.fifo)
        self.backend = Server(echo_handler).__enter__()
        self.addCleanup(self.backend.close)
        self.port = free_port()
        self.cfg = config(self.port, self.backend.addr, self.fifo)
        self.addCleanup(os.unlink, self.cfg)

    def test_a_fifo_nothing_reads_refuses_the_start_saying_so(self):
        r = subprocess.run([SLUICE, "-c", self.cfg], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn(f"access log {self.fifo}: cannot open: No such device or address (a FIFO "
                      "that nothing reads: start its reader first)", r.stderr)

    def test_a_fifo_its_reader_stops_emptying_costs_lines_not_service(self):
        reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        with Sluice(["-c", self.cfg], port=self.port) as px:
            # nothing reads the pipe (64 KiB): far more lines than it holds, every one served
            for i in range(600):
                self.assertEqual(b"ping", echo_roundtrip(self.port, b"ping"), i)
            # a rotation onto a FIFO nothing reads keeps the old one and says why
            os.rename(self.fifo, self.fifo + ".1")
            os.mkfifo(self.fifo)
            px.proc.send_signal(signal.SIGUSR1)
            wait_for_text(px, f"access log {self.fifo}: cannot reopen: No such device or "
                          "address (a FIFO that nothing reads")
            self.assertEqual(0, px.stop(), px.stderr())
        lost, _ = dropped(px.stderr())
        lines = lines_waiting(reader)
        self.assertEqual(600, len(lines) + lost, (len(lines), lost))
        self.assertGreater(lost, 0)


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
