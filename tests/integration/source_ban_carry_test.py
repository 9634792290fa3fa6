# SPDX-License-Identifier: MIT
"""source_limits.ban across a listener re-open and a binary upgrade: a source banned before is
still refused after a SIGHUP that re-opens its listener and after `sluice --upgrade`, with the
time its ban had left (`sluicectl show bans`), not a fresh duration; other sources are served.
A prefix4 made longer on re-open drops the bans it cannot express, and says so. Both sides of
the handover stay compatible with a process from before bans were handed over: asked the old way
("sluice-upgrade 1 take") the old process sends none, and a new process refused the new way asks
again the old way."""
import array
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

from harness import (SLOW, SLUICECTL, Server, Sluice, closed_by_peer, connect, echo_handler,
                     free_port, recv_exact, wait_for_text)
from source_ban_test import cut_silent, served


class SourceBanCarry(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="sluice-bancarry-")
        self.addCleanup(self.dir.cleanup)
        self.ctl_sock = os.path.join(self.dir.name, "ctl.sock")
        self.up_sock = os.path.join(self.dir.name, "upgrade.sock")
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.port = free_port()

    def write(self, backend, source_limits, timeouts="{ first_byte: 300ms }"):
        with open(self.cfg, "w") as f:
            f.write(f"""
workers: 2
drain_timeout: 5s
upgrade_socket: {self.up_sock}
control: {{ path: {self.ctl_sock} }}
listeners:
  - name: front
    address: 127.0.0.1:{self.port}
    group: g
    timeouts: {timeouts}
    source_limits: {source_limits}
groups:
  - name: g
    backends:
      - address: {backend}
""")

    def start(self, args, text):
        px = Sluice(args, port=self.port if "--upgrade" not in args else None)
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, text, timeout=30 * SLOW)
        return px

    def bans(self):
        """{source: remaining_ms} as `sluicectl show bans` lists them."""
        p = subprocess.run([SLUICECTL, "-s", self.ctl_sock, "--json", "show", "bans"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        r = json.loads(p.stdout)["result"]
        return {b["source"]: b["remaining_ms"] for b in r["bans"] if b["listener"] == "front"}

    def ban(self, source):
        """Bans <source> (two first_byte cuts); the time its ban has left."""
        self.assertTrue(cut_silent(self.port, source))
        self.assertTrue(cut_silent(self.port, source))
        self.assertFalse(served(self.port, source))
        return self.bans()[source + "/32"]

    def test_a_ban_survives_a_reload_that_reopens_the_listener(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 60s } }")
            px = self.start(["-c", self.cfg], "listening on")
            before = self.ban("127.0.0.40")
            self.assertTrue(served(self.port, "127.0.0.41"))
            # table_size re-opens the listener (a new source table); the longer duration
            # would show if the ban started again
            self.write(b.addr, "{ table_size: 1024, "
                               "ban: { strikes: 2, within: 30s, duration: 600s } }")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.table_size changed: re-opened")
            self.assertFalse(served(self.port, "127.0.0.40"))
            self.assertTrue(served(self.port, "127.0.0.41"))
            after = self.bans()
            self.assertEqual(["127.0.0.40/32"], list(after))
            self.assertTrue(0 < after["127.0.0.40/32"] <= before, (before, after))
            self.assertIn("listener front: 1 source ban carried over from before the re-open",
                          px.stderr())
            self.assertEqual(0, px.stop())

    def test_a_ban_earned_on_a_reopened_listener_goes_to_the_live_one(self):
        """A session still forwarding when a reload re-opens its listener (prefix4 24 and a
        longer duration) is cut by min_rate after it: its source's ban is the live listener's,
        by its /24 and for its duration, and refuses the source (it stayed in the old table,
        which refuses nobody). When the live listener bans no source, there is no ban, and
        none is counted."""
        slow = "{ first_byte: 300ms, min_rate: { bytes: 1k, window: 3s } }"  # past the reload

        def trickling(source):
            s = connect(self.port, source=source)
            self.addCleanup(s.close)
            s.sendall(b"x")
            self.assertEqual(b"x", recv_exact(s, 1))
            return s
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 1, duration: 30s } }", slow)
            px = self.start(["-c", self.cfg], "listening on")
            s = trickling("127.0.0.44")
            self.write(b.addr, "{ prefix4: 24, ban: { strikes: 1, duration: 600s } }", slow)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.prefix4 changed: re-opened")
            self.assertTrue(closed_by_peer(s))
            bans = self.bans()
            self.assertEqual(["127.0.0.0/24"], list(bans))
            self.assertGreater(bans["127.0.0.0/24"], 30000)  # the live listener's duration
            self.assertFalse(served(self.port, "127.0.0.45"))

            s = trickling("127.0.1.44")
            self.write(b.addr, "{ table_size: 2048, max_connections: 1000 }", slow)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits changed: re-opened")
            self.assertTrue(closed_by_peer(s))
            self.assertTrue(served(self.port, "127.0.1.44"))
            self.assertEqual(0, px.stop())
            self.assertRegex(px.stderr(), r"\b1 source_bans\b")

    def test_the_log_counts_the_bans_a_smaller_table_keeps(self):
        """200 bans of varied lengths into a 64-entry table: a ban ending later takes the entry
        of one ending sooner that was carried before it. The log said those were carried (138
        carried for 70 kept): carried plus dropped is the 200, and carried is what show bans
        lists. The 200 go into a table of 4096 first: one of 1024 (146 sets of 7, hashed with
        a per-process key) leaves a set more than 7 of them about once in a hundred runs."""
        import re
        with Server(echo_handler) as b:
            self.write(b.addr, "{ max_connections: 5, table_size: 4096, "
                               "ban: { strikes: 1, duration: 30s } }")
            px = self.start(["-c", self.cfg], "listening on")
            for i in range(200):
                p = subprocess.run([SLUICECTL, "-s", self.ctl_sock, "ban", "front",
                                    f"127.20.{i // 250}.{i % 250 + 1}", str(60 + i)],
                                   capture_output=True, text=True, timeout=60 * SLOW)
                self.assertEqual(0, p.returncode, p.stderr)
            self.assertEqual(200, len(self.bans()))
            self.write(b.addr, "{ max_connections: 5, table_size: 64, "
                               "ban: { strikes: 1, duration: 30s } }")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.table_size changed: re-opened")
            wait_for_text(px, "before the re-open dropped")
            kept = len(self.bans())
            carried = re.search(r"listener front: (\d+) source bans? carried over", px.stderr())
            dropped = re.search(r"listener front: (\d+) source bans? of before the re-open "
                                r"dropped: \d+ on a prefix wider than prefix4/prefix6 now, \d+ "
                                r"found no entry in the source table, (\d+) gave way",
                                px.stderr())
            self.assertIsNotNone(dropped, px.stderr())
            self.assertEqual(kept, int(carried.group(1)) if carried else 0)
            self.assertEqual(200, kept + int(dropped.group(1)))
            self.assertEqual(0, px.stop())

    def test_a_ban_on_a_prefix_wider_than_the_new_prefix4_is_dropped_on_reopen(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ prefix4: 24, ban: { strikes: 2, within: 30s, duration: 60s } }")
            px = self.start(["-c", self.cfg], "listening on")
            self.assertTrue(cut_silent(self.port, "127.0.12.1"))
            self.assertTrue(cut_silent(self.port, "127.0.12.2"))
            self.assertFalse(served(self.port, "127.0.12.3"))
            self.assertEqual(["127.0.12.0/24"], list(self.bans()))
            # one /32 entry would ban one address of the 256: none is carried, and it is said
            self.write(b.addr, "{ prefix4: 32, ban: { strikes: 2, within: 30s, duration: 60s } }")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits.prefix4 changed: re-opened")
            self.assertEqual({}, self.bans())
            self.assertTrue(served(self.port, "127.0.12.3"))
            self.assertIn("listener front: 1 source ban of before the re-open dropped: "
                          "1 on a prefix wider than prefix4/prefix6 now", px.stderr())
            self.assertEqual(0, px.stop())

    def test_a_ban_survives_a_binary_upgrade(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 60s } }")
            old = self.start(["-c", self.cfg], f"upgrade socket on {self.up_sock}")
            before = self.ban("127.0.0.50")
            self.assertTrue(served(self.port, "127.0.0.51"))
            # the new process's duration would show if the ban started again there
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 600s } }")
            new = self.start(["-c", self.cfg, "--upgrade"], "this process serves")
            self.assertEqual(0, old.proc.wait(60 * SLOW), old.stderr())
            # only the new process serves now, and it refuses the banned source
            self.assertFalse(served(self.port, "127.0.0.50"))
            self.assertTrue(served(self.port, "127.0.0.51"))
            after = self.bans()
            self.assertEqual(["127.0.0.50/32"], list(after))
            self.assertTrue(0 < after["127.0.0.50/32"] <= before, (before, after))
            self.assertIn("upgrade: handed 1 source ban over", old.stderr())
            self.assertIn("upgrade: 1 source ban carried over from pid", new.stderr())
            self.assertNotIn("dropped", new.stderr())  # the one ban was carried, not dropped
            self.assertEqual(0, new.stop())

    def converse(self, request):
        """Plays a new process that sends <request>; every message up to "E" or "X"."""
        msgs = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(10 * SLOW)
            c.connect(self.up_sock)
            c.send(request)
            for _ in range(1000):
                a = array.array("i")
                msg, anc, _, _ = c.recvmsg(8192, socket.CMSG_SPACE(64 * a.itemsize))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        a.frombytes(data[:len(data) - len(data) % a.itemsize])
                for fd in a:
                    os.close(fd)
                msgs.append(msg)
                if not msg or msg[:1] in (b"E", b"X"):
                    break
        return msgs

    def test_the_old_process_sends_bans_only_to_a_new_process_that_asks_for_them(self):
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 60s } }")
            px = self.start(["-c", self.cfg], f"upgrade socket on {self.up_sock}")
            before = self.ban("127.0.0.60")
            msgs = self.converse(b"sluice-upgrade 1 take")
            self.assertTrue(msgs[-1].startswith(b"E "), msgs)
            self.assertEqual([], [m for m in msgs if m.startswith(b"K")])
            wait_for_text(px, "went away before it was ready")
            msgs = self.converse(b"sluice-upgrade 2 take")
            self.assertTrue(msgs[-1].startswith(b"E "), msgs)
            bans = [m for m in msgs if m.startswith(b"K")]
            self.assertEqual(1, len(bans), msgs)
            lines = bans[0].decode().split("\n")
            self.assertEqual(["K", "front"], lines[:2])
            prefix, ms = lines[2].split(" ")
            self.assertEqual("127.0.0.60/32", prefix)
            self.assertTrue(0 < int(ms) <= before, (before, ms))
            # still serving, still banning
            self.assertFalse(served(self.port, "127.0.0.60"))
            self.assertTrue(served(self.port, "127.0.0.61"))
            self.assertEqual(0, px.stop())

    def test_a_new_process_refused_the_new_way_takes_over_the_old_way(self):
        """An old process from before bans were handed over, played here: it refuses versions 3
        and 2 as unknown requests, then hands its listening socket and the upgrade socket over
        for version 1."""
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as sluice opens them
        lsock.bind(("127.0.0.1", self.port))
        lsock.listen(64)
        self.addCleanup(lsock.close)
        up = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        up.bind(self.up_sock)
        up.listen(4)
        self.addCleanup(up.close)
        up.settimeout(30 * SLOW)
        seen = []

        def old_process():
            for _ in range(3):
                c, _ = up.accept()
                with c:
                    c.settimeout(30 * SLOW)
                    req = c.recv(128)
                    seen.append(req)
                    if req != b"sluice-upgrade 1 take":
                        c.send(b'X unknown request: expected "sluice-upgrade 1 take"')
                        continue
                    c.sendmsg([b"L\nfront"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                array.array("i", [lsock.fileno()]))])
                    c.sendmsg([b"U"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", [up.fileno()]))])
                    c.send(b"E %d" % os.getpid())
                    seen.append(c.recv(128))  # "R <pid>"
                    c.send(b"B")
                    return

        t = threading.Thread(target=old_process, daemon=True)
        t.start()
        with Server(echo_handler) as b:
            self.write(b.addr, "{ ban: { strikes: 2, within: 30s, duration: 60s } }")
            new = self.start(["-c", self.cfg, "--upgrade"], "this process serves")
            t.join(30 * SLOW)
            self.assertEqual([b"sluice-upgrade 3 take", b"sluice-upgrade 2 take",
                              b"sluice-upgrade 1 take"], seen[:3])
            self.assertTrue(seen[3].startswith(b"R "), seen)
            self.assertIn("the running sluice takes no count of the sessions this process "
                          "reads", new.stderr())
            self.assertIn("the running sluice hands no source bans over", new.stderr())
            lsock.close()  # the new process's now
            self.assertTrue(served(self.port, "127.0.0.70"))
            self.assertEqual(0, new.stop())


if __name__ == "__main__":
    unittest.main()
