# SPDX-License-Identifier: MIT
"""The io_uring loops' registered-file tables, seen in the kernel's fdinfo of each ring: a process
whose start file has no forward: uring listener (auto, splice, copy) registers none on any ring,
workers' or health checker's, and forwards as before; one with a forward: uring listener gives
each worker's ring a table (not the checker's) and its sessions' sockets are in it while they
forward, bytes intact; a forward: uring listener a reload adds to a process without tables
forwards by plain fds, bytes intact, and says so once."""
import os
import re
import unittest

from harness import (Server, connect, echo_checked, echo_handler, echo_roundtrip, stable_port, wait_for,
                     wait_for_text)
from reloading import ReloadCase

WORKERS = 2


def rings(pid):
    """[(slots, files)] of every io_uring fd of process <pid>: the slots of its registered-file
    table (fdinfo "UserFiles:") and how many of them hold a socket (listed only while the
    ring's lock is free, so a caller that needs them waits for them)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[io_uring]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                text = f.read()
        except OSError:
            continue  # closed meanwhile
        m = re.search(r"^UserFiles:\s*(\d+)$", text, re.M)
        if m is None:
            raise unittest.SkipTest("this kernel's io_uring fdinfo has no UserFiles line")
        out.append((int(m.group(1)), len(re.findall(r"^\s*\d+: socket:\[", text, re.M))))
    return out


class UringFiles(ReloadCase):
    def write(self, listeners, backend):
        """A file of WORKERS workers, <listeners>: [(name, port, forward)], one group on
        <backend> with a TCP health check (so the checker's loop runs too)."""
        text = f"workers: {WORKERS}\nlisteners:\n"
        for name, port, forward in listeners:
            text += (f"  - {{ name: {name}, address: 127.0.0.1:{port}, group: g, "
                     f"forward: {forward} }}\n")
        text += ("groups:\n  - name: g\n"
                 "    health: { type: tcp, interval: 200ms, timeout: 100ms }\n"
                 f"    backends:\n      - {{ name: b, address: {backend} }}\n")
        self.write_file(text)

    def start_uring(self, port):
        px = self.start(port, control=False)
        wait_for_text(px, "runtime: ")
        if "runtime: io_uring" not in px.stderr():
            self.skipTest("registered files are io_uring's: " + px.stderr())
        return px

    def open_sessions(self, port, n):
        """<n> sessions through <port>, each checked to echo, left open."""
        socks = []
        for i in range(n):
            s = connect(port)
            self.addCleanup(s.close)
            self.assertTrue(echo_checked(s, 4096, seed=i))
            socks.append(s)
        return socks

    def test_no_ring_has_a_file_table_without_a_uring_listener(self):
        ports = [stable_port() for _ in range(3)]
        with Server(echo_handler) as b:
            self.write([("a", ports[0], "auto"), ("s", ports[1], "splice"),
                        ("c", ports[2], "copy")], b.addr)
            px = self.start_uring(ports[0])
            payload = os.urandom(300_000)
            for port in ports:
                self.assertEqual(payload, echo_roundtrip(port, payload))
                self.open_sessions(port, 2)
            got = rings(px.proc.pid)
            self.assertEqual(WORKERS + 1, len(got), got)  # the workers' and the checker's
            self.assertEqual([(0, 0)] * len(got), got)
            self.assertNotIn("registered files", px.stderr())

    def test_uring_listener_gives_each_worker_a_file_table_its_sessions_use(self):
        port, other = stable_port(), stable_port()
        with Server(echo_handler) as b:
            self.write([("u", port, "uring"), ("a", other, "auto")], b.addr)
            px = self.start_uring(port)
            if "runs as copy" in px.stderr():
                self.skipTest("forward: uring runs as copy here: " + px.stderr())
            payload = os.urandom(300_000)
            self.assertEqual(payload, echo_roundtrip(port, payload))
            self.assertEqual(payload, echo_roundtrip(other, payload))
            n = 4
            self.open_sessions(port, n)
            # each session's client and backend sockets, one per direction
            def listed():
                r = rings(px.proc.pid)
                return r if sum(files for _, files in r) >= 2 * n else None

            got = wait_for(listed, "the sessions' sockets in the tables",
                           detail=lambda: rings(px.proc.pid))
            self.assertEqual(WORKERS + 1, len(got), got)
            tables = sorted(slots for slots, _ in got)
            self.assertEqual(0, tables[0], got)  # the checker's
            for slots in tables[1:]:
                self.assertGreater(slots, 0, got)
            self.assertNotIn("registered files", px.stderr())

    def test_uring_listener_added_by_a_reload_copies_till_an_upgrade(self):
        """Without a file table its ops would name the sockets by fd number, and an op queued
        before a session's close would reach whichever socket another worker opened with that
        number next (another client's bytes): the listener copies instead, and says so."""
        port, added = stable_port(), stable_port()
        with Server(echo_handler) as b:
            self.write([("a", port, "auto")], b.addr)
            px = self.start_uring(port)
            if "runtime: io_uring" not in px.stderr():
                self.skipTest("not the io_uring runtime: " + px.stderr())
            self.write([("a", port, "auto"), ("u", added, "uring")], b.addr)
            self.hup(px)
            wait_for_text(px, "warn listener u: forward: uring runs as copy: the workers' rings "
                              "have a file table only when")
            payload = os.urandom(300_000)
            self.assertEqual(payload, echo_roundtrip(added, payload))
            self.open_sessions(added, 4)
            got = rings(px.proc.pid)
            self.assertEqual([(0, 0)] * (WORKERS + 1), got)
            self.assertEqual(1, px.stderr().count("forward: uring runs as copy"), px.stderr())


if __name__ == "__main__":
    unittest.main()
