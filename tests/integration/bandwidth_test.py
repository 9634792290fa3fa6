# SPDX-License-Identifier: MIT
"""Bandwidth limits (listener bandwidth:): a limited session moves no faster than its rate plus
its burst, upload and download, with the copy and the splice forwarders; two sessions of one
source share the source's limit while another source keeps its own; a fast sender into a limited
session is paused, not buffered (sluice's memory stays put); pauses are counted per listener.

The timing assertions are lower bounds (a limited transfer of N bytes cannot end before
(N - burst) / rate seconds after its session opened, however slow the machine) and broad "not
far below the limit" bands."""
import re
import signal
import socket
import struct
import threading
import time
import unittest
import urllib.request

from harness import (SLOW, Server, Sluice, connect, free_port, recv_exact, replace_config, wait_for,
                     wait_for_text, write_config)

KIB = 1024
RATE = 256 * KIB  # bytes per second
BURST = 32 * KIB


def config(port, backend, forward, bandwidth, admin=None, workers=2):
    """<bandwidth> None: none."""
    admin_line = f"admin: {{ address: 127.0.0.1:{admin} }}\n" if admin else ""
    bandwidth_line = f"    bandwidth: {bandwidth}\n" if bandwidth is not None else ""
    return write_config(f"""
workers: {workers}
{admin_line}listeners:
  - address: 127.0.0.1:{port}
    name: bw
    group: g
    forward: {forward}
{bandwidth_line}groups:
  - name: g
    backends:
      - address: {backend}
""")


def count_handler(conn):
    """Upload sink: reads to EOF, answers how many bytes it read (8 bytes, big-endian)."""
    n = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        n += len(data)
    conn.sendall(n.to_bytes(8, "big"))


def send_handler(conn):
    """Download source: reads an 8-byte count, sends that many bytes, closes."""
    n = int.from_bytes(recv_exact(conn, 8), "big")
    chunk = b"d" * 65536
    while n > 0:
        k = conn.send(chunk[: min(n, len(chunk))])
        n -= k


def upload(port, n, source=None):
    """Sends <n> bytes and half-closes; returns (bytes the backend counted, seconds from connect
    to its answer)."""
    t0 = time.monotonic()
    s = connect(port, source=source, timeout=60)
    chunk = b"u" * 65536
    left = n
    while left > 0:
        left -= s.send(chunk[: min(left, len(chunk))])
    s.shutdown(socket.SHUT_WR)
    got = int.from_bytes(recv_exact(s, 8, timeout=60), "big")
    took = time.monotonic() - t0
    s.close()
    return got, took


def download(port, n):
    t0 = time.monotonic()
    s = connect(port, timeout=60)
    s.sendall(n.to_bytes(8, "big"))
    got = len(recv_exact(s, n, timeout=60))
    took = time.monotonic() - t0
    s.close()
    return got, took


def close_reset(s):
    """Closes with a reset: a paused session would otherwise read the unsent bytes at its rate
    before it saw the FIN, and hold sluice's stop for as long."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def metric(admin, name, direction):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10 * SLOW) as r:
        body = r.read().decode()
    m = re.search(r"^sluice_%s_total\{[^}]*listener=\"bw\"[^}]*direction=\"%s\"[^}]*\} (\d+)" %
                  (name, direction), body, re.M)
    if m is None:
        raise AssertionError(f"no {name} {direction} in /metrics")
    return int(m.group(1))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class Bandwidth(unittest.TestCase):
    def check_limited(self, n, took, rate, burst):
        # a lower bound that slowness cannot break: the bucket started full at accept, after
        # the client's connect, and refills at <rate>
        self.assertGreaterEqual(took, (n - burst) / rate * 0.98, f"{n} bytes in {took:.2f}s")
        self.assertLessEqual(n / took, 1.3 * rate + burst / took)
        # and not far below the limit: at least a quarter of it
        self.assertGreater(n / took, rate / 4, f"{n} bytes took {took:.2f}s")

    def run_one_way(self, forward, direction):
        n = 640 * KIB
        handler = count_handler if direction == "upload" else send_handler
        with Server(handler) as b:
            port, admin = free_port(), free_port()
            bw = f"{{ session: {{ {direction}: {RATE}, burst: {BURST} }} }}"
            with Sluice(["-c", config(port, b.addr, forward, bw, admin)], port=port) as px:
                got, took = upload(port, n) if direction == "upload" else download(port, n)
                self.assertEqual(n, got, px.stderr())
                self.check_limited(n, took, RATE, BURST)
                self.assertGreater(metric(admin, "listener_bandwidth_pauses", direction), 0)
                other = "download" if direction == "upload" else "upload"
                self.assertEqual(0, metric(admin, "listener_bandwidth_pauses", other))

    def test_copy_upload_is_held_to_the_session_rate(self):
        self.run_one_way("copy", "upload")

    def test_splice_upload_is_held_to_the_session_rate(self):
        self.run_one_way("splice", "upload")

    def test_copy_download_is_held_to_the_session_rate(self):
        self.run_one_way("copy", "download")

    def test_splice_download_is_held_to_the_session_rate(self):
        self.run_one_way("splice", "download")

    def test_unlimited_direction_is_not_held(self):
        # only download is limited: an upload of many times the rate ends well before the
        # download limit would let it (a broad band: 4 s for what the limit would need 16 s)
        n = 4 * 1024 * KIB
        with Server(count_handler) as b:
            port = free_port()
            bw = f"{{ session: {{ download: {RATE // 4}, burst: {BURST} }} }}"
            with Sluice(["-c", config(port, b.addr, "copy", bw)], port=port):
                got, took = upload(port, n)
                self.assertEqual(n, got)
                self.assertLess(took, 4 * SLOW)

    def share(self, forward):
        n = 384 * KIB
        with Server(count_handler) as b:
            port = free_port()
            bw = f"{{ source: {{ upload: {RATE}, burst: {BURST} }} }}"
            with Sluice(["-c", config(port, b.addr, forward, bw)], port=port) as px:
                res = [None, None]

                def run(i):
                    res[i] = upload(port, n, source="127.0.0.20")

                t0 = time.monotonic()
                ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(60 * SLOW)
                took = time.monotonic() - t0
                self.assertEqual([n, n], [r[0] for r in res], px.stderr())
                # one bucket for both: 2n bytes cannot pass sooner than (2n - burst) / rate
                self.check_limited(2 * n, took, RATE, BURST)
                # and each session alone was held below the source rate
                for _, t in res:
                    self.assertGreaterEqual(t, (n - BURST) / RATE)

    def test_copy_sessions_of_one_source_share_its_limit(self):
        self.share("copy")

    def test_splice_sessions_of_one_source_share_its_limit(self):
        self.share("splice")

    def test_another_source_keeps_its_own_limit(self):
        # source A keeps two sessions pushing for as long as source B transfers; B alone would
        # get the whole rate, sharing A's bucket a third of it. B must get well over a third.
        n = 512 * KIB
        stop = threading.Event()
        with Server(count_handler) as b:
            port, admin = free_port(), free_port()
            bw = f"{{ source: {{ upload: {RATE}, burst: {BURST} }} }}"
            with Sluice(["-c", config(port, b.addr, "copy", bw, admin)], port=port) as px:
                wait_for_text(px, "admin endpoint on")  # the pause is read from /metrics

                def hammer():
                    s = connect(port, source="127.0.0.30")
                    s.settimeout(0.2)
                    chunk = b"a" * 65536
                    deadline = time.monotonic() + 60 * SLOW
                    while not stop.is_set() and time.monotonic() < deadline:
                        try:
                            s.send(chunk)
                        except socket.timeout:
                            pass
                    close_reset(s)

                hs = [threading.Thread(target=hammer) for _ in range(2)]
                for h in hs:
                    h.start()
                # A has spent its burst once one of its sessions paused
                deadline = time.monotonic() + 10 * SLOW
                while metric(admin, "listener_bandwidth_pauses", "upload") == 0:
                    self.assertLess(time.monotonic(), deadline, "source A never paused")
                    time.sleep(0.02)
                try:
                    got, took = upload(port, n, source="127.0.0.31")
                finally:
                    stop.set()
                    for h in hs:
                        h.join(10 * SLOW)
                self.assertEqual(n, got, px.stderr())
                # B is limited by its own bucket (a lower bound), and gets more than the third
                # of the rate a shared bucket would leave it (a broad band: 0.6 of the rate)
                self.assertGreaterEqual(took, (n - BURST) / RATE * 0.98)
                self.assertGreater(n / took, 0.6 * RATE, f"{n} bytes took {took:.2f}s")

    def test_reload_changes_the_rate_of_a_session_already_open(self):
        n = 256 * KIB
        slow = 64 * KIB
        with Server(count_handler) as b:
            port = free_port()
            path = config(port, b.addr, "copy", f"{{ session: {{ upload: 64m, burst: {BURST} }} }}")
            with Sluice(["-c", path], port=port) as px:
                s = connect(port, timeout=60)
                s.sendall(b"x")  # the session is open (and forwarding) under the fast limit
                replace_config(path, config(port, b.addr, "copy",
                                            f"{{ session: {{ upload: {slow}, burst: {BURST} }} }}"))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, f"SIGHUP: {path} reloaded")
                t0 = time.monotonic()
                chunk = b"u" * 65536
                left = n
                while left > 0:
                    left -= s.send(chunk[: min(left, len(chunk))])
                s.shutdown(socket.SHUT_WR)
                got = int.from_bytes(recv_exact(s, 8, timeout=60), "big")
                took = time.monotonic() - t0
                s.close()
                self.assertEqual(n + 1, got)
                # held to the new rate: its bucket held at most a burst when the reload came
                self.assertGreaterEqual(took, (n - BURST) / slow * 0.98, f"took {took:.2f}s")

    def reload_raises_a_rate(self, scope):
        """A session that spent its <scope> bucket's burst at 1k/s (a debt of 256 s) goes on
        at the raised rate at once, not once the old debt is paid."""
        burst = 256 * KIB
        slow = f"{{ {scope}: {{ upload: 1k, burst: {burst} }} }}"
        fast = f"{{ {scope}: {{ upload: 64m, burst: {burst} }} }}"
        with Server(count_handler) as b:
            port, admin = free_port(), free_port()
            path = config(port, b.addr, "copy", slow, admin=admin)
            with Sluice(["-c", path], port=port) as px:
                wait_for_text(px, "admin endpoint on")  # the pause is read from /metrics
                s = connect(port, timeout=60)
                # past the whole burst by 16 KiB: the bucket refills 1 byte a millisecond while
                # the burst goes through (a slow build takes tens of ms), so one byte more
                # might be granted from that and never pause; 16 KiB is 16 s of the old rate
                over = 16 * KIB
                s.sendall(b"u" * (burst + over))
                wait_for(lambda: metric(admin, "listener_bandwidth_pauses", "upload") > 0,
                         "the session paused")
                replace_config(path, config(port, b.addr, "copy", fast, admin=admin))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, f"SIGHUP: {path} reloaded")
                s.sendall(b"u" * (4 * burst))
                s.shutdown(socket.SHUT_WR)
                # at 64m the rest takes milliseconds; the old debt would hold it 256 s
                got = int.from_bytes(recv_exact(s, 8, timeout=40), "big")
                s.close()
                self.assertEqual(5 * burst + over, got)

    def test_reload_raising_the_session_rate_ends_the_old_debt(self):
        self.reload_raises_a_rate("session")

    def test_reload_raising_the_source_rate_ends_the_old_debt(self):
        self.reload_raises_a_rate("source")

    def reload_adds_a_limit(self, forward):
        """A reload that gives a uring or sockmap listener a session limit re-opens it as copy
        or splice (neither forwarder can pause a direction): its next session is held to it."""
        n = 256 * KIB
        slow = 64 * KIB
        with Server(count_handler) as b:
            port = free_port()
            path = config(port, b.addr, forward, None)
            with Sluice(["-c", path], port=port) as px:
                self.assertEqual(1000, upload(port, 1000)[0])
                replace_config(path, config(port, b.addr, forward,
                                            f"{{ session: {{ upload: {slow}, burst: {BURST} }} }}"))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, f"SIGHUP: {path} reloaded")
                # until every worker has left the old listener, one may still accept on the
                # shared socket under it (unlimited)
                wait_for_text(px, "listener bw: the previous listener closed")
                got, took = upload(port, n)
                self.assertEqual(n, got)
                self.assertGreaterEqual(took, (n - BURST) / slow * 0.98, f"took {took:.2f}s")

    def test_reload_adding_a_limit_to_a_uring_listener_holds_its_sessions(self):
        self.reload_adds_a_limit("uring")

    def test_reload_adding_a_limit_to_a_sockmap_listener_holds_its_sessions(self):
        self.reload_adds_a_limit("sockmap")

    def paused_not_buffered(self, forward):
        rate = 64 * KIB
        with Server(count_handler) as b:
            port = free_port()
            bw = f"{{ session: {{ upload: {rate}, burst: {BURST} }} }}"
            with Sluice(["-c", config(port, b.addr, forward, bw, workers=1)], port=port) as px:
                # warm up: one short session, so pools and pipes exist before the baseline
                self.assertEqual(1000, upload(port, 1000)[0])
                base = rss_kib(px.proc.pid)
                s = connect(port)
                s.setblocking(False)
                chunk = b"f" * 65536
                sent = 0
                t0 = time.monotonic()
                # push as fast as the kernel takes it for 2 s (bounded: time, not bytes)
                while time.monotonic() - t0 < 2.0:
                    try:
                        sent += s.send(chunk)
                    except BlockingIOError:
                        time.sleep(0.01)
                grown = rss_kib(px.proc.pid) - base
                close_reset(s)
                # the sender was stopped by TCP flow control: it got nowhere near what an
                # unpaused 2 s on loopback moves (gigabytes) ...
                self.assertLess(sent, 64 * 1024 * KIB, f"sent {sent}")
                # ... and sluice held none of it: its memory did not follow the sender
                self.assertLess(grown, 4 * 1024, f"RSS grew {grown} KiB while {sent} bytes were "
                                "pushed")

    def test_copy_fast_sender_is_paused_not_buffered(self):
        self.paused_not_buffered("copy")

    def test_splice_fast_sender_is_paused_not_buffered(self):
        self.paused_not_buffered("splice")


if __name__ == "__main__":
    unittest.main()
