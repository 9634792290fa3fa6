# SPDX-License-Identifier: MIT
"""Group slots taken back by reloads, real processes on real sockets. A process keeps 16 spare
group slots for groups a reload adds; a removed group keeps its slot while a session or a queued
client holds it. Once nothing holds it, a new name takes the slot: reloads adding and removing
21 distinct names one after another all succeed, each new group's backend takes the traffic,
its counters start from zero, and /metrics (promtool-checked) names only the live and held
groups. A removed group a checksummed session still uses keeps its slot until that session
ends, with its bytes intact; and when every spare slot is held so, one more new group is
refused until one of the sessions ends."""
import re
import shutil
import subprocess
import unittest

from harness import admin_get, connect, echo_checked, echo_handler, Server, stable_port, wait_for
from reloading import ReloadCase

SPARE = 16  # SL_GSLOTS_SPARE


class ReloadGroupsReclaim(ReloadCase):
    def setUp(self):
        super().setUp()
        self.admin = stable_port()

    def write(self, listeners, groups):
        """<listeners>: [(name, port, group)], <groups>: [(name, addr)]."""
        self.write_listeners_groups(
                f"workers: 2\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                f"admin: {{ address: 127.0.0.1:{self.admin} }}\n", listeners,
                [(name, f"    backends:\n      - {{ address: {addr} }}\n") for name, addr in groups])

    def metrics_groups(self):
        """The group labels /metrics names, after promtool checked it."""
        status, text = admin_get(self.admin, "/metrics")
        self.assertEqual(200, status, text)
        if shutil.which("promtool") is not None:
            check = subprocess.run(["promtool", "check", "metrics"], input=text,
                                   capture_output=True, text=True)
            self.assertEqual(0, check.returncode, check.stdout + check.stderr)
        return set(re.findall(r'group="([^"]*)"', text))

    def backend_row(self, group):
        """The /stats row of <group>'s one backend."""
        rows = [b for b in self.stats()["backend"] if b["group"] == group]
        self.assertEqual(1, len(rows), rows)
        return rows[0]

    def test_new_names_take_the_slots_of_removed_groups_nothing_holds(self):
        p1, p2 = stable_port(), stable_port()
        held_at = 2  # its group retires early: the first slot a reclaim would take
        with Server(echo_handler) as web, Server(echo_handler) as even, \
                Server(echo_handler) as odd:
            backs = [even, odd]
            self.write([("one", p1, "web")], [("web", web.addr)])
            px = self.start(p1)
            held = None
            for i in range(SPARE + 5):
                name, back = f"n{i}", backs[i % 2]
                # each reload removes the previous name and adds a new one
                self.write([("one", p1, "web"), ("two", p2, name)],
                           [("web", web.addr), (name, back.addr)])
                self.hup(px)
                with connect(p2) as s:
                    self.assertTrue(echo_checked(s, 20000, i))
                # the session went to the new group's backend, whose counters start from
                # zero, in a reclaimed slot too
                self.assertEqual(back.addr, self.backend_row(name)["address"])
                wait_for(lambda: self.backend_row(name)["sessions"] == 1,
                         f"{name}'s one session")
                if i == held_at:
                    held = connect(p2)
                    self.addCleanup(held.close)
                    self.assertTrue(echo_checked(held, 64 * 1024, 100))
                want = {"web", name} | ({f"n{held_at}"} if held is not None else set())
                self.assertEqual(want, self.groups_shown(), f"after adding {name}")
                self.assertEqual(want, self.metrics_groups(), f"after adding {name}")
            log = px.stderr()
            # 16 spare slots, 21 names: 4 reloads took the slots of removed groups, never
            # that of the held one
            self.assertEqual(SPARE + 5 - SPARE, log.count("takes the slot of removed group"))
            self.assertNotIn(f"takes the slot of removed group n{held_at},", log)
            for k in (0, 1, 3, 4):
                self.assertIn(f"takes the slot of removed group n{k},", log)

            # the held session kept its group and its bytes all along
            for k in range(3):
                self.assertTrue(echo_checked(held, 256 * 1024, 101 + k))
            held.close()
            wait_for(lambda: f"n{held_at}" not in self.groups_shown(),
                     "the held group to go from /stats")
            # released: its slot, retired longest ago, goes to the next new name
            last = SPARE + 5
            self.write([("one", p1, "web"), ("two", p2, f"n{last}")],
                       [("web", web.addr), (f"n{last}", even.addr)])
            self.hup(px)
            self.assertIn(f"group n{last}: takes the slot of removed group n{held_at},",
                          px.stderr())
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 1000, 7))
            self.assertEqual({"web", f"n{last}"}, self.metrics_groups())
            status, _ = admin_get(self.admin, "/readyz")
            self.assertEqual(200, status)
            self.assertEqual(0, px.stop())

    def test_new_group_is_refused_while_every_spare_slot_is_held(self):
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as web, Server(echo_handler) as b:
            self.write([("one", p1, "web")], [("web", web.addr)])
            px = self.start(p1)
            held = []
            for i in range(SPARE):
                name = f"h{i}"
                self.write([("one", p1, "web"), ("two", p2, name)],
                           [("web", web.addr), (name, b.addr)])
                self.hup(px)
                s = connect(p2)
                self.addCleanup(s.close)
                self.assertTrue(echo_checked(s, 1000, i))
                held.append(s)
            # h0 .. h14 retired and held, h15 live: one more name has no slot
            self.write([("one", p1, "web"), ("two", p2, "late")],
                       [("web", web.addr), ("late", b.addr)])
            line = self.hup_refused(px)
            self.assertIn("1 group(s) to add but 0 free", line)
            self.assertIn("15 held by removed groups", line)
            self.assertEqual(SPARE + 1, len(self.groups_shown()))
            for i, s in enumerate(held):  # nothing changed: each still forwards
                self.assertTrue(echo_checked(s, 1000, 50 + i))

            # one session ends: its group's slot goes to the new name
            held[0].close()
            wait_for(lambda: "h0" not in self.groups_shown(), "h0 to go from /stats")
            self.hup(px)
            self.assertIn("group late: takes the slot of removed group h0,", px.stderr())
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 100000, 99))
            shown = {f"h{i}" for i in range(1, SPARE)} | {"web", "late"}
            self.assertEqual(shown, self.groups_shown())
            self.assertEqual(shown, self.metrics_groups())
            for i, s in enumerate(held[1:]):
                self.assertTrue(echo_checked(s, 1000, 70 + i))
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
