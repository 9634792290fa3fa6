# SPDX-License-Identifier: MIT
"""forward: sockmap, the kernel moving the bytes (root only: loading the verdict needs CAP_BPF,
CAP_NET_ADMIN and CAP_PERFMON): many concurrent connections of random sizes intact both ways, and counted as
forwarded in the kernel; PROXY headers in and out with the client's bytes intact; half-close
in both directions; a backend that stops reading holds the
client back (the kernel's own queue has no bound: the forwarder's is what stops it) and then gets
every byte in order; the same after the process dropped to an unprivileged user; and a process
without the capabilities splices instead, saying why."""
import hashlib
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import (SLOW, EchoStream, Server, Sluice, closed_by_peer, connect, digest_handler,
                     echo_handler, echo_many, echo_roundtrip, echoed, finish_streams, free_port,
                     read_digest, recv_all, recv_exact, scrape_metrics, wait_for,
                     wait_for_text, write_config)


def admin_answers(admin):
    try:
        scrape_metrics(admin)
        return True
    except OSError:
        return False


def idle_config(port, admin, backend, idle):
    """A config file: one worker, the admin endpoint, a sockmap listener whose client and
    server idle timeouts are <idle> in front of <backend>."""
    return write_config(
        "workers: 1\n"
        f"admin: {{ address: 127.0.0.1:{admin} }}\n"
        "listeners:\n"
        f"  - {{ address: 127.0.0.1:{port}, group: g, forward: sockmap,\n"
        f"      timeouts: {{ client_idle: {idle}, server_idle: {idle} }} }}\n"
        "groups:\n  - name: g\n"
        f"    backends:\n      - address: {backend}\n")


def upgrade_config(sock_path, admin, port, echo, forward):
    """A config file for the upgrade tests: two workers, the upgrade socket and the admin
    endpoint, one listener with <forward> in front of the <echo> server."""
    return write_config(
        "workers: 2\ndrain_timeout: 60s\n"
        f"upgrade_socket: {sock_path}\n"
        f"admin: {{ address: 127.0.0.1:{admin} }}\n"
        "listeners:\n"
        f"  - {{ name: web, address: 127.0.0.1:{port}, group: g, forward: {forward} }}\n"
        "groups:\n  - name: g\n"
        f"    backends:\n      - address: {echo.addr}\n")


@unittest.skipUnless(os.geteuid() == 0, "the verdict program loads as root only")
class Sockmap(unittest.TestCase):
    def start(self, backends, extra=(), wrap=()):
        port = free_port()
        admin = free_port()
        args = ["-l", f"127.0.0.1:{port}", "-b", ",".join(backends), "-w", "2",
                "--forward", "sockmap", "--admin", f"127.0.0.1:{admin}", *extra]
        px = Sluice(args, port=port)
        if wrap:
            px.args = list(wrap) + px.args
        return px, port, admin

    def test_concurrent_connections_lose_no_byte_and_go_through_the_kernel(self):
        with Server(echo_handler) as a, Server(echo_handler) as b:
            px, port, admin = self.start([a.addr, b.addr])
            with px:
                wait_for_text(px, "forward: sockmap: verdict attached")
                rng = random.Random(11)
                sizes = [rng.choice([1, 100, 4096, 65537, 300_000, 1_000_000, 6_000_000])
                         for _ in range(80 // SLOW)]
                for i, r in enumerate(echo_many(port, sizes)):
                    self.assertIsNotNone(r, f"connection {i} did not finish")
                    self.assertEqual(r[0], r[1], f"connection {i} ({sizes[i]} bytes) corrupted")
                # the sockmap counters count a session when it closes
                wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= len(sizes),
                         "every session to close")
                m = scrape_metrics(admin)
                # a client that sends everything and its FIN before the backend answers is
                # refused by the kernel's map (it takes established sockets only) and copied:
                # most are not
                self.assertGreater(m["sluice_sockmap_sessions_total"], len(sizes) / 2, m)
                # most bytes went through the kernel (a reader that fell behind had some copied)
                self.assertGreater(m["sluice_sockmap_bytes_total"], sum(sizes), m)
                self.assertEqual(0, m["sluice_resets_total"], px.stderr())
                self.assertEqual(0, px.stop(), px.stderr())

    def test_half_close_passes_both_ways(self):
        def banner_then_echo(conn):
            conn.sendall(b"banner")
            conn.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                got += data
            self.backend_got = got

        with Server(echo_handler) as echo:
            px, port, _ = self.start([echo.addr])
            with px:
                wait_for_text(px, "verdict attached")
                s = connect(port)
                time.sleep(0.2)  # in the maps before the first byte
                s.sendall(b"hello")
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(b"hello", recv_all(s))  # the reply still flows, then EOF
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())
        with Server(banner_then_echo) as srv:
            px, port, _ = self.start([srv.addr])
            with px:
                wait_for_text(px, "verdict attached")
                s = connect(port)
                self.assertEqual(b"banner", recv_all(s, timeout=10))  # the backend's FIN came
                s.sendall(b"still here")  # and the client may still send
                s.shutdown(socket.SHUT_WR)
                s.close()
                deadline = time.monotonic() + 10 * SLOW
                while not hasattr(self, "backend_got") and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(b"still here", getattr(self, "backend_got", None))
                self.assertEqual(0, px.stop(), px.stderr())

    def test_a_client_that_closes_without_reading_ends_its_session(self):
        # it sends, closes with the echo unread (the kernel resets it), and the backend's
        # echo, which the verdict redirected to the reset socket, can never be taken: the
        # session must end at once, not wait for the idle timeout (60 s by default)
        with Server(echo_handler) as echo:
            px, port, admin = self.start([echo.addr])
            with px:
                wait_for_text(px, "verdict attached")
                wait_for_text(px, "admin endpoint on")  # the end is read from /metrics
                n = 40 // SLOW
                for _ in range(n):
                    with connect(port) as s:
                        s.sendall(b"x" * 1_000_000)
                wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= n,
                         "every session to end", timeout=20,
                         detail=lambda: scrape_metrics(admin))
                m = scrape_metrics(admin)
                # counted as the copying forwarders count them: the client's reset
                self.assertEqual((0, n), (m["sluice_active"], m["sluice_resets_total"]), m)
                self.assertEqual(0, px.stop(), px.stderr())

    def test_clients_gone_before_the_maps_are_no_fallbacks(self):
        """Clients that close or reset as soon as they connect, before the sockets could go
        into the maps: each session ends, and none counts as a fallback to copy (the metric
        is for the kernel path failing: full maps, sockets refused)."""
        import struct
        with Server(echo_handler) as echo:
            px, port, admin = self.start([echo.addr])
            with px:
                wait_for_text(px, "verdict attached")
                # the endpoint serves a little after the workers (slow sanitizer starts)
                wait_for(lambda: admin_answers(admin), "the admin endpoint", timeout=10 * SLOW)
                for i in range(60):
                    s = socket.create_connection(("127.0.0.1", port))
                    if i % 2:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= 60,
                         "every session to end", timeout=20)
                with connect(port) as stays:
                    self.assertTrue(echoed(stays, b"and one that stays"))
                m = scrape_metrics(admin)
                self.assertEqual(0, m["sluice_splice_fallbacks_total"], m)
                self.assertEqual(0, px.stop(), px.stderr())

    def test_sessions_that_reach_no_backend_are_not_counted_as_the_kernels(self):
        """sluice_sockmap_sessions_total counts sessions the kernel forwarded: clients closed
        before any backend connected (every connect refused) are not among them."""
        dead = f"127.0.0.1:{free_port()}"  # nothing listens there
        px, port, admin = self.start([dead])
        with px:
            wait_for_text(px, "verdict attached")
            wait_for(lambda: admin_answers(admin), "the admin endpoint", timeout=10 * SLOW)
            for _ in range(5):
                with connect(port) as s:
                    s.sendall(b"x")
                    self.assertTrue(closed_by_peer(s, 10 * SLOW))
            wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= 5,
                     "every session to end", timeout=20)
            m = scrape_metrics(admin)
            self.assertEqual(5, m["sluice_no_backend_total"], m)
            self.assertEqual(0, m.get("sluice_sockmap_sessions_total", 0), m)
            self.assertEqual(0, m.get("sluice_sockmap_copied_total", 0), m)
            px.stop()

    def test_idle_timeouts_see_the_kernels_bytes(self):
        """The idle deadlines read the kernel's counts: a session the kernel keeps busy for
        three idle timeouts lives on; one that goes quiet is cut at its deadline."""
        with Server(echo_handler) as echo:
            port, admin = free_port(), free_port()
            cfg = idle_config(port, admin, echo.addr, "1s")
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "verdict attached")
                busy, quiet = connect(port), connect(port)
                time.sleep(0.2)
                self.assertTrue(echoed(quiet, b"q"))
                end = time.monotonic() + 3.0
                while time.monotonic() < end:
                    self.assertTrue(echoed(busy, b"ping"))
                    time.sleep(0.2)
                self.assertTrue(closed_by_peer(quiet, timeout=5), "the quiet one was not cut")
                self.assertTrue(echoed(busy, b"ping"))
                m = scrape_metrics(admin)
                self.assertEqual(1, m['sluice_timeouts_total{kind="client_idle"}'] +
                                 m['sluice_timeouts_total{kind="server_idle"}'], m)
                busy.close()
                self.assertEqual(0, px.stop(), px.stderr())
            os.unlink(cfg)

    def test_an_idle_cut_resets_a_client_whose_bytes_the_kernel_holds(self):
        """A backend that never reads: the client's bytes wait in the forwarder's queues, not
        in the socket's receive queue, where the close would look for them. The idle cut
        must still reset the client (its bytes were not read), as every other forwarder's
        does, not leave it sending into a window that never opens."""
        stop = threading.Event()

        def never_reads(conn):
            stop.wait(60 * SLOW)

        with Server(never_reads) as srv:
            port, admin = free_port(), free_port()
            cfg = idle_config(port, admin, srv.addr, "2s")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "verdict attached")
                s = connect(port)
                s.settimeout(20 * SLOW)
                outcome = None
                start = time.monotonic()
                try:
                    while time.monotonic() - start < 30 * SLOW:
                        s.sendall(b"x" * 65536)
                except (ConnectionResetError, BrokenPipeError) as e:
                    outcome = type(e).__name__
                except socket.timeout:
                    outcome = "timeout"
                s.close()
                self.assertIn(outcome, ("ConnectionResetError", "BrokenPipeError"),
                              f"after {time.monotonic() - start:.1f} s")
                m = scrape_metrics(admin)
                self.assertEqual(1, m['sluice_timeouts_total{kind="client_idle"}'] +
                                 m['sluice_timeouts_total{kind="server_idle"}'], m)
                stop.set()
                self.assertEqual(0, px.stop(), px.stderr())

    def stalled_reader(self, extra=()):
        """A backend that reads nothing until told: the client's sends stop at a bound, and once
        the backend reads, every byte arrives in order."""
        go = threading.Event()
        digest = {}

        def late_reader(conn):
            go.wait(60 * SLOW)
            digest["got"] = read_digest(conn)
            conn.sendall(b"done")

        with Server(late_reader) as srv:
            px, port, admin = self.start([srv.addr], extra)
            with px:
                wait_for_text(px, "verdict attached")
                s = connect(port)
                time.sleep(0.2)
                s.setblocking(False)
                rng = random.Random(5)
                h = hashlib.sha256()
                sent = 0
                quiet_since = time.monotonic()
                # push until the chain has taken nothing for 1 s (or 256 MiB went in: the bound
                # failed), bounded in time either way
                deadline = time.monotonic() + 60 * SLOW
                while time.monotonic() - quiet_since < 1.0 and sent < (256 << 20) \
                        and time.monotonic() < deadline:
                    chunk = rng.randbytes(65536)
                    try:
                        n = s.send(chunk)
                    except BlockingIOError:
                        time.sleep(0.01)
                        continue
                    h.update(chunk[:n])
                    sent += n
                    quiet_since = time.monotonic()
                # the kernel's queue may hold 4 MiB, the sockets' buffers a few more each
                self.assertLess(sent, 64 << 20, "the client was never held back")
                go.set()
                s.setblocking(True)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(b"done", recv_exact(s, 4))
                self.assertEqual(h.digest(), digest.get("got"), f"{sent} bytes sent")
                s.close()
                # the sockmap counters count a session when it closes
                wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= 1,
                         "the session to close")
                m = scrape_metrics(admin)
                self.assertGreaterEqual(m["sluice_sockmap_copied_total"], 1, m)
                self.assertEqual(0, px.stop(), px.stderr())
                return px.stderr()

    def test_a_backend_that_stops_reading_holds_the_client_back_and_loses_nothing(self):
        self.stalled_reader()

    def test_forwards_in_the_kernel_after_dropping_to_an_unprivileged_user(self):
        err = self.stalled_reader(("--user", "nobody", "--group", "nogroup"))
        self.assertIn("verdict attached", err)

    def test_an_upgrade_leaves_its_sessions_to_drain_in_the_old_process(self):
        """A session whose bytes sit in the kernel's queues cannot move to the new process: it
        stays in the old one, which drains it (streams intact both ways), while the new process
        loads its own program and serves new clients through it."""
        with Server(echo_handler) as echo, tempfile.TemporaryDirectory() as tmp:
            port, admin = free_port(), free_port()
            sock_path = os.path.join(tmp, "upgrade.sock")
            cfg = upgrade_config(sock_path, admin, port, echo, "sockmap")
            old = Sluice(["-c", cfg], port=port)
            with old:
                wait_for_text(old, f"upgrade socket on {sock_path}")
                streams = [EchoStream(port, seed, max_chunk=32768, pause=0.01)
                           for seed in range(3)]
                for st in streams:
                    st.start()
                for st in streams:
                    st.wait_rounds(5)
                with Sluice(["-c", cfg, "--upgrade"]) as new:
                    wait_for_text(new, "this process serves", timeout=30)
                    wait_for_text(old, "serves now: draining", timeout=30)
                    self.assertIn("verdict attached", new.stderr())
                    self.assertNotRegex(new.stderr(), r"took [1-9]\d* sessions? over")
                    payload = os.urandom(200_000)
                    self.assertEqual(payload, echo_roundtrip(port, payload))
                    for st in streams:
                        st.wait_rounds(5)  # still flowing, through the old process
                    finish_streams(self, streams)
                    # its last sessions gone, the old process ends, having forwarded them
                    self.assertEqual(0, old.proc.wait(30 * SLOW), old.stderr())
                    kept = re.search(r"(\d+) sockmap_sessions", old.stderr())
                    self.assertGreaterEqual(int(kept.group(1)) if kept else 0, len(streams),
                                            old.stderr())
                    self.assertEqual(0, new.stop(), new.stderr())
            os.unlink(cfg)

    def test_proxy_headers_in_and_out_leave_the_stream_intact(self):
        """A listener that takes a PROXY header, in front of a group that sends one: the
        kernel hands its verdict a queued segment whole, so the bytes that came in the
        header's segment are read by the process before the socket goes in (else the header
        would reach the backend again). The backend gets sluice's header, with the client
        address the incoming one gave, then exactly the client's bytes: data in the header's
        segment, data after the attach, and more data than a buffer while the client waits
        in the backend queue (that session is copied, with the bytes the process read)."""
        headers = []

        def header_then_echo(conn):
            got = b""
            while b"\r\n" not in got:
                data = conn.recv(65536)
                if not data:
                    break
                got += data
            line, _, rest = got.partition(b"\r\n")
            headers.append(line)
            if rest:
                conn.sendall(rest)
            echo_handler(conn)

        def header_seen(i):
            return any(h.startswith(f"PROXY TCP4 10.9.8.{i} ".encode()) for h in headers)

        def exchange(port, i, payload, together, queued_behind=None):
            header = f"PROXY TCP4 10.9.8.{i} 10.0.0.1 400{i} 80\r\n".encode()
            s = connect(port)
            if together:  # header and data in one segment, before the attach
                s.sendall(header + payload[:1000])
                rest = payload[1000:]
            else:  # the header alone; the data once the session forwards
                s.sendall(header)
                rest = payload
            if queued_behind is None:  # the rest once the session forwards (its header is in)
                wait_for(lambda: header_seen(i), f"the backend to read connection {i}'s header")
            sender = threading.Thread(target=s.sendall, args=(rest,))
            sender.start()
            if queued_behind is not None:  # let the client fill its socket, then free the slot
                time.sleep(0.5)
                self.assertTrue(echoed(queued_behind, b"x"))
                queued_behind.close()
            got = recv_exact(s, len(payload), timeout=60 * SLOW)
            sender.join(60 * SLOW)
            s.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_by_peer(s), f"connection {i} did not end")
            s.close()
            self.assertEqual(hashlib.sha256(payload).hexdigest(), hashlib.sha256(got).hexdigest(),
                             f"connection {i}")
            wait_for(lambda: header_seen(i), f"the backend to read connection {i}'s header")
            self.assertIn(f"PROXY TCP4 10.9.8.{i} 10.0.0.1 400{i} 80".encode(), headers)

        with Server(header_then_echo) as b:
            port, admin = free_port(), free_port()
            cfg = write_config(
                "workers: 1\n"
                f"admin: {{ address: 127.0.0.1:{admin} }}\n"
                "listeners:\n"
                f"  - address: 127.0.0.1:{port}\n    group: g\n    forward: sockmap\n"
                "    proxy_protocol:\n      version: v1\n      trusted: [127.0.0.1/32]\n"
                "groups:\n  - name: g\n    send_proxy: v1\n    max_queue: 4\n"
                f"    backends:\n      - address: {b.addr}\n        max_connections: 1\n")
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "verdict attached")
                rng = random.Random(5)
                exchange(port, 0, rng.randbytes(3000), together=True)
                m = scrape_metrics(admin)
                # the process delivered what came with the header, then handed the
                # direction to the kernel
                self.assertEqual(1, m["sluice_sockmap_copied_total"], m)
                exchange(port, 1, rng.randbytes(3_000_000), together=True)
                exchange(port, 2, rng.randbytes(3_000_000), together=False)
                self.assertEqual(0, scrape_metrics(admin)["sluice_splice_fallbacks_total"])
                holder = connect(port)
                holder.sendall(b"PROXY TCP4 10.9.8.9 10.0.0.1 4009 80\r\n")
                self.assertTrue(echoed(holder, b"x"))  # it holds the backend's slot
                exchange(port, 3, rng.randbytes(3_000_000), together=True, queued_behind=holder)
                wait_for(lambda: scrape_metrics(admin)["sluice_closed_total"] >= 5,
                         "every session to close")
                m = scrape_metrics(admin)
                # the queued one held more than a buffer at its attach: copied, not in the maps
                self.assertEqual(1, m["sluice_splice_fallbacks_total"], m)
                self.assertEqual(4, m["sluice_sockmap_sessions_total"], m)
                self.assertGreater(m["sluice_sockmap_bytes_total"], 6_000_000, m)
                self.assertEqual(0, m["sluice_resets_total"], px.stderr())
                self.assertEqual(0, px.stop(), px.stderr())
            os.unlink(cfg)

    def test_an_upgrade_into_a_sockmap_listener_moves_copied_sessions_into_the_maps(self):
        """Sessions an old process copied (forward: copy) move to a new process whose listener
        says sockmap: the new process puts their sockets into the maps, and streams that were
        running through the upgrade stay intact both ways. The old process may have stopped
        reading inside a segment, so the new one reads what the sockets hold first (less than
        a buffer here: each stream waits for the echo of a chunk under 8000 bytes)."""
        with Server(echo_handler) as echo, tempfile.TemporaryDirectory() as tmp:
            port, admin = free_port(), free_port()
            sock_path = os.path.join(tmp, "upgrade.sock")
            old_cfg = upgrade_config(sock_path, admin, port, echo, "copy")
            new_cfg = upgrade_config(sock_path, admin, port, echo, "sockmap")
            old = Sluice(["-c", old_cfg], port=port)
            with old:
                wait_for_text(old, f"upgrade socket on {sock_path}")
                streams = [EchoStream(port, seed, max_chunk=8000) for seed in range(4)]
                for st in streams:
                    st.start()
                for st in streams:
                    st.wait_rounds(3)
                with Sluice(["-c", new_cfg, "--upgrade"]) as new:
                    wait_for_text(new, "this process serves", timeout=30)
                    self.assertEqual(0, old.proc.wait(30 * SLOW), old.stderr())
                    self.assertRegex(new.stderr(), rf"took {len(streams)} sessions over")
                    for st in streams:
                        st.wait_rounds(3)  # through the new process, in the kernel
                    finish_streams(self, streams)
                    wait_for(lambda: scrape_metrics(admin)["sluice_active"] == 0,
                             "the moved sessions to close")
                    m = scrape_metrics(admin)
                    self.assertEqual(len(streams), m["sluice_sockmap_sessions_total"], m)
                    self.assertGreater(m["sluice_sockmap_bytes_total"], 0, m)
                    self.assertEqual(0, new.stop(), new.stderr())
            os.unlink(old_cfg)
            os.unlink(new_cfg)

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
    def test_without_the_capabilities_splices_and_says_why(self):
        with Server(digest_handler) as srv:
            # root without CAP_BPF, CAP_SYS_ADMIN (which also allows BPF), CAP_NET_ADMIN and
            # CAP_PERFMON, for the process and everything it could gain
            drop = "-bpf,-sys_admin,-net_admin,-perfmon"
            px, port, _ = self.start([srv.addr], wrap=(
                "setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--"))
            with px:
                wait_for_text(px, "forward: sockmap runs as splice on listener ")
                # every capability missing, in one line
                self.assertIn(": loading its program needs cap_net_admin, cap_perfmon, cap_bpf, "
                              "which this process does not have", px.stderr())
                payload = os.urandom(1_000_000)
                s = connect(port)
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(hashlib.sha256(payload).digest(), recv_exact(s, 32))
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertEqual(1, px.stderr().count("runs as splice"), px.stderr())


if __name__ == "__main__":
    unittest.main()
