# SPDX-License-Identifier: MIT
"""Reloads that change a group's backend list, real processes on real sockets: a backend added
takes new connections, one removed takes none while a session open to it runs on, a weight
change shifts the share, and a list that does not fit max_backends (a removed backend's slot is
still held by its open session) is refused with the reason and changes nothing, until the
session closes. A list that stays as it was keeps the run-time changes made with sluicectl.
Open sessions are listed with the backend they have."""
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (SLOW, SLUICECTL, ask_name, connect, free_port, name_handler, Server, Sluice,
                     wait_for_text)


def who_answers(port, n):
    """Names of the backends that answer <n> new connections, in order."""
    names = []
    for _ in range(n):
        with connect(port) as s:
            names.append(ask_name(s))
    return names


class ReloadBackends(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "sluice.yaml")
        self.sock = os.path.join(self.dir.name, "ctl.sock")
        self.port = None

    def write(self, backends):
        items = "".join(f"      - {{ name: {n}, address: {a}, weight: {w} }}\n"
                        for n, a, w in backends)
        with open(self.path, "w") as f:
            f.write(f"workers: 1\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                    f"listeners:\n  - name: front\n    address: 127.0.0.1:{self.port}\n"
                    f"    group: web\n"
                    f"groups:\n  - name: web\n    balance: weighted\n    max_backends: 3\n"
                    f"    backends:\n{items}")

    def ctl(self, *args):
        p = subprocess.run([SLUICECTL, "-s", self.sock] + list(args), capture_output=True,
                           text=True, timeout=60 * SLOW)
        return p.returncode, p.stdout, p.stderr

    def hup(self, px, n):
        """SIGHUP, and waits for the <n>th "reloaded" line."""
        px.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * SLOW
        while px.stderr().count(f"SIGHUP: {self.path} reloaded") < n:
            self.assertLess(time.monotonic(), deadline, px.stderr())
            self.assertNotIn("SIGHUP: not reloaded", px.stderr())
            select.select([], [], [], 0.02)

    def test_backends_added_removed_reweighted_and_an_overflow_refused(self):
        self.port = free_port()
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b, \
                Server(name_handler("c")) as c, Server(name_handler("d")) as d:
            self.write([("a", a.addr, 1)])
            px = Sluice(["-c", self.path], port=self.port)
            px.__enter__()
            self.addCleanup(px.stop)
            wait_for_text(px, "control socket on")
            self.assertEqual({"a"}, set(who_answers(self.port, 3)))

            # a run-time change, then a file whose list is unchanged: the change stays
            self.assertEqual(0, self.ctl("set", "weight", "web/a", "2")[0])
            self.write([("a", a.addr, 1)])
            self.hup(px, 1)
            rc, out, _ = self.ctl("--json", "show", "backends")
            self.assertEqual(0, rc)
            self.assertIn('"weight":2', out.replace(" ", ""))

            # added: b takes new connections
            self.write([("a", a.addr, 1), ("b", b.addr, 1)])
            self.hup(px, 2)
            wait_for_text(px, f"group web: backend b ({b.addr}) added (reload)")
            self.assertIn("a weight 2 -> 1 (reload)", px.stderr())  # the file is the truth
            self.assertEqual({"a", "b"}, set(who_answers(self.port, 6)))

            # removed: a session open to a runs on, new ones never reach a
            held = None
            for _ in range(4):
                s = connect(self.port)
                if ask_name(s) == "a":
                    held = s
                    break
                s.close()
            self.assertIsNotNone(held, "no session reached a")
            self.addCleanup(held.close)
            self.write([("b", b.addr, 1)])
            self.hup(px, 3)
            wait_for_text(px, "group web: backend a removed (reload)")
            before = a.accepted
            self.assertEqual({"b"}, set(who_answers(self.port, 5)))
            self.assertEqual(before, a.accepted)
            self.assertEqual("a", ask_name(held))
            # each open session is listed with the backend it has, the removed one included
            with connect(self.port) as other:
                self.assertEqual("b", ask_name(other))
                rc, out, _ = self.ctl("--json", "show", "sessions")
                self.assertEqual(0, rc)
                listed = {x["client"]: x["backend"]
                          for x in json.loads(out)["result"]["sessions"]}
                self.assertEqual("a", listed["%s:%d" % held.getsockname()])
                self.assertEqual("b", listed["%s:%d" % other.getsockname()])

            # reweighted (and c added): b takes 4 of every 5
            self.write([("b", b.addr, 4), ("c", c.addr, 1)])
            self.hup(px, 4)
            wait_for_text(px, "group web: backend b weight 1 -> 4 (reload)")
            names = who_answers(self.port, 10)
            self.assertEqual(8, names.count("b"), names)
            self.assertEqual(2, names.count("c"), names)

            # overflow: b, c and a's slot (held by the open session) fill max_backends 3
            self.write([("b", b.addr, 4), ("c", c.addr, 1), ("d", d.addr, 1)])
            rc, _, err = self.ctl("reload")
            self.assertEqual(1, rc)
            self.assertIn("group web: 1 backend(s) to add but 0 free of max_backends 3 "
                          "(1 held by removed backends' open sessions)", err)
            names = who_answers(self.port, 10)
            self.assertEqual(8, names.count("b"), names)  # nothing changed
            self.assertEqual(0, d.accepted)
            self.assertEqual("a", ask_name(held))

            # once the session closes, the slot is free and the same file is taken
            held.close()
            deadline = time.monotonic() + 10 * SLOW
            while self.ctl("reload")[0] != 0:
                self.assertLess(time.monotonic(), deadline, px.stderr())
                select.select([], [], [], 0.05)
            wait_for_text(px, f"group web: backend d ({d.addr}) added (reload)")
            self.assertIn("d", who_answers(self.port, 6))
            self.assertIsNone(px.proc.poll())
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
