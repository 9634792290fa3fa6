# SPDX-License-Identifier: MIT
"""Reloads that add and remove backend groups in the running process, real processes on real
sockets: a group added with a listener takes traffic, is health-checked and shows in /stats,
/metrics (promtool-checked), `sluicectl status` and the backend API; a group removed together
with the listener that used it takes no new session (the listener refuses), its health checks
stop, a checksummed session through it runs to its end with its bytes intact, and the group is
shown until that session ends, then no more; named again by a later reload it takes traffic and
is checked again. Groups are matched by name: reordering them changes nothing, renaming one is a
removal and an addition. More new groups than the free group slots are refused (SIGHUP and
`sluicectl reload`), and nothing changes (groups with a warm pool or discovery:
reload_groups_retire_test.py)."""
import json
import select
import shutil
import socket
import subprocess
import threading
import unittest

from harness import (admin_get, connect, echo_checked, echo_handler, Server, stable_port, wait_for,
                     wait_for_text)
from reloading import ReloadCase


def refused(port):
    """True if a connect to <port> is refused (nothing listens)."""
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


class CountingEcho(Server):
    """An echo backend counting the connections it accepted (health checks included)."""

    def __init__(self):
        self.accepted = 0
        self.lock = threading.Lock()

        def handler(conn):
            with self.lock:
                self.accepted += 1
            echo_handler(conn)

        super().__init__(handler)

    def count(self):
        with self.lock:
            return self.accepted


class ReloadGroups(ReloadCase):
    def setUp(self):
        super().setUp()
        self.admin = stable_port()

    def write(self, listeners, groups):
        """<listeners>: [(name, port, group)], <groups>: [(name, [addr], extra yaml)]."""
        self.write_listeners_groups(
                f"workers: 2\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                f"admin: {{ address: 127.0.0.1:{self.admin} }}\n", listeners,
                [(name, f"{extra}    backends:\n" +
                  "".join(f"      - {{ address: {a} }}\n" for a in addrs))
                 for name, addrs, extra in groups])

    def metrics(self):
        status, body = admin_get(self.admin, "/metrics")
        self.assertEqual(200, status, body)
        return body

    def promtool_ok(self, text):
        if shutil.which("promtool") is None:
            return
        check = subprocess.run(["promtool", "check", "metrics"], input=text,
                               capture_output=True, text=True)
        self.assertEqual(0, check.returncode, check.stdout + check.stderr)

    def test_group_removed_with_its_listener_while_a_session_runs(self):
        p1, p2 = stable_port(), stable_port()
        checks = "    health: { type: tcp, interval: 50ms, timeout: 50ms, rise: 1, fall: 100 }\n"
        with Server(echo_handler) as a, CountingEcho() as e:
            both = [("web", [a.addr], ""), ("echo", [e.addr], checks)]
            self.write([("one", p1, "web"), ("two", p2, "echo")], both)
            px = self.start(p1)
            wait_for(lambda: e.count() >= 3, "health checks of group echo")

            # a checksummed session through group echo, open across the reload removing it
            held = connect(p2)
            self.addCleanup(held.close)
            self.assertTrue(echo_checked(held, 64 * 1024, 1))
            self.write([("one", p1, "web")], [("web", [a.addr], "")])
            self.hup(px)
            self.assertTrue(refused(p2))
            with connect(p1) as s:
                self.assertTrue(echo_checked(s, 1000, 2))
            # its checks stop: nothing new reaches its backend in 20 intervals (after 4, for
            # a check the checker began as the reload paused it)
            select.select([], [], [], 0.2)
            before = e.count()
            select.select([], [], [], 1.0)
            self.assertEqual(before, e.count(), "health checks of a removed group go on")
            # held: still shown, still forwarding both ways with its bytes intact
            self.assertEqual({"web", "echo"}, self.groups_shown())
            self.assertIn('group="echo"', self.metrics())
            rc, out, err = self.ctl("--json", "show", "backends")
            self.assertEqual(0, rc, err)
            self.assertIn('"echo"', out)  # as /stats and /metrics show it
            for i in range(3):
                self.assertTrue(echo_checked(held, 256 * 1024, 3 + i))
            held.shutdown(socket.SHUT_WR)
            self.assertEqual(b"", held.recv(1))  # the backend's end comes through
            held.close()

            # released: gone from /stats and /metrics, which stays valid
            wait_for(lambda: self.groups_shown() == {"web"}, "the group to go from /stats")
            text = self.metrics()
            self.assertNotIn('group="echo"', text)
            self.assertIn('group="web"', text)
            self.promtool_ok(text)
            status, _ = admin_get(self.admin, "/readyz")
            self.assertEqual(200, status)
            rc, out, err = self.ctl("--json", "show", "backends")
            self.assertEqual(0, rc, err)
            self.assertNotIn('"echo"', out)

            # named again (with its listener): it takes traffic and is checked again
            self.write([("one", p1, "web"), ("two", p2, "echo")], both)
            self.hup(px)
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 100000, 9))
            before = e.count()
            wait_for(lambda: e.count() >= before + 3, "health checks to start again")
            self.assertEqual({"web", "echo"}, self.groups_shown())
            self.promtool_ok(self.metrics())
            self.assertEqual(0, px.stop())

    def test_a_removed_group_whose_sessions_run_counts_for_no_ones_readiness(self):
        """A backend drained, then its group removed by a reload while a session of it runs
        (the usual way to retire one): the group is still shown, marked retired, and /readyz
        leaves it out: it takes no session, so its lack of a serving backend is not the
        process's."""
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as a, Server(echo_handler) as e:
            self.write([("one", p1, "web"), ("two", p2, "echo")],
                       [("web", [a.addr], ""), ("echo", [e.addr], "")])
            px = self.start(p1)
            held = connect(p2)
            self.addCleanup(held.close)
            self.assertTrue(echo_checked(held, 1000, 1))
            self.assertEqual(0, self.ctl("drain", "backend", f"echo/{e.addr}")[0])
            status, body = admin_get(self.admin, "/readyz")
            self.assertEqual(503, status, body)  # a group of the file with none serving
            self.write([("one", p1, "web")], [("web", [a.addr], "")])
            self.hup(px)
            groups = {g["group"]: g for g in self.stats()["group"]}
            self.assertEqual((1, 0), (groups["echo"]["retired"], groups["echo"]["backends_serving"]))
            self.assertEqual(0, groups["web"]["retired"])
            self.assertIn('sluice_group_retired{group="echo"} 1', self.metrics())
            status, body = admin_get(self.admin, "/readyz")
            self.assertEqual(200, status, body)
            self.assertTrue(echo_checked(held, 1000, 2))  # the session still runs
            self.assertEqual(0, px.stop())

    def test_groups_reordered_change_nothing(self):
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as a, Server(echo_handler) as b:
            ga, gb = ("ga", [a.addr], ""), ("gb", [b.addr], "")
            self.write([("one", p1, "ga"), ("two", p2, "gb")], [ga, gb])
            px = self.start(p1)
            held = connect(p2)
            self.addCleanup(held.close)
            self.assertTrue(echo_checked(held, 1000, 1))
            self.write([("one", p1, "ga"), ("two", p2, "gb")], [gb, ga])
            self.hup(px)
            self.assertNotIn("re-opened", px.stderr())
            self.assertTrue(echo_checked(held, 100000, 2))
            with connect(p1) as s:
                self.assertTrue(echo_checked(s, 1000, 3))
            self.assertEqual({"ga", "gb"}, self.groups_shown())
            self.assertEqual(0, px.stop())

    def test_group_added_with_its_listener_takes_traffic_and_is_checked(self):
        p1, p2 = stable_port(), stable_port()
        checks = "    health: { type: tcp, interval: 50ms, timeout: 50ms, rise: 1, fall: 100 }\n"
        with Server(echo_handler) as a, CountingEcho() as n:
            web = ("web", [a.addr], "")
            self.write([("one", p1, "web")], [web])
            px = self.start(p1)
            self.assertTrue(refused(p2))

            self.write([("one", p1, "web"), ("two", p2, "new")], [web, ("new", [n.addr], checks)])
            self.hup(px)
            wait_for_text(px, "group new: added (reload)")
            before = n.count()
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 200000, 1))
            wait_for(lambda: n.count() >= before + 4, "health checks of the added group")
            self.assertEqual({"web", "new"}, self.groups_shown())
            backends = [b for b in self.stats()["backend"] if b["group"] == "new"]
            self.assertEqual(1, len(backends), backends)
            self.assertEqual((1, "up"), (backends[0]["sessions"], backends[0]["state"]))
            text = self.metrics()
            self.assertIn('group="new"', text)
            self.promtool_ok(text)
            rc, out, err = self.ctl("--json", "show", "info")
            self.assertEqual(0, rc, err)
            self.assertIn({"name": "two", "address": f"127.0.0.1:{p2}", "group": "new"},
                          json.loads(out)["result"]["listeners"])
            # the backend API finds it
            rc, out, err = self.ctl("add", "backend", "new", "n2", a.addr)
            self.assertEqual(0, rc, out + err)

            # renamed: the old name retires, the new one takes a free slot
            self.write([("one", p1, "web"), ("two", p2, "renamed")],
                       [web, ("renamed", [a.addr], "")])
            self.hup(px)
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 1000, 2))
            wait_for(lambda: self.groups_shown() == {"web", "renamed"}, "the rename")
            select.select([], [], [], 0.2)  # a check begun as the reload paused it
            before = n.count()
            select.select([], [], [], 1.0)  # 20 intervals: the retired group is not checked
            self.assertEqual(before, n.count())
            self.promtool_ok(self.metrics())
            self.assertEqual(0, px.stop())

    def test_more_groups_than_free_slots_are_refused_and_nothing_changes(self):
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as a:
            web = ("web", [a.addr], "")
            self.write([("one", p1, "web")], [web])
            px = self.start(p1)
            many = [(f"g{i}", [a.addr], "") for i in range(17)]  # 16 slots are kept free
            self.write([("one", p1, "web"), ("two", p2, "g0")], [web] + many)
            line = self.hup_refused(px)
            self.assertIn("17 group(s) to add but 16 free", line)
            rc, out, err = self.ctl("reload")
            self.assertNotEqual(0, rc)
            self.assertIn("17 group(s) to add but 16 free", out + err)
            self.assertTrue(refused(p2))
            self.assertEqual({"web"}, self.groups_shown())
            with connect(p1) as s:
                self.assertTrue(echo_checked(s, 1000, 1))
            # 16 fit; by sluicectl reload
            self.write([("one", p1, "web"), ("two", p2, "g0")], [web] + many[:16])
            rc, out, err = self.ctl("reload")
            self.assertEqual(0, rc, out + err)
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 1000, 2))
            self.assertEqual(17, len(self.groups_shown()))
            self.promtool_ok(self.metrics())
            # none is left: one more is refused, the others stay
            self.write([("one", p1, "web"), ("two", p2, "g0")], [web] + many)
            self.assertIn("1 group(s) to add but 0 free", self.hup_refused(px))
            self.assertEqual(17, len(self.groups_shown()))
            # renaming them all in one file: the old ones' slots are theirs until this
            # reload retires them, and the message says how to do it in two
            renamed = [(f"h{i}", [a.addr], "") for i in range(16)]
            self.write([("one", p1, "web"), ("two", p2, "h0")], [web] + renamed)
            self.assertIn("16 group(s) to add but 0 free of the 16 group slots a process keeps "
                          "for them (0 held by removed groups whose sessions are still open, 16 "
                          "by groups this file removes, which give theirs up only after this "
                          "reload: reload once without those, then with the new ones)",
                          self.hup_refused(px))
            self.write([("one", p1, "web")], [web])
            rc, out, err = self.ctl("reload")
            self.assertEqual(0, rc, out + err)
            self.write([("one", p1, "web"), ("two", p2, "h0")], [web] + renamed)
            # the removed groups' slots are free once every worker gave them back
            wait_for(lambda: self.ctl("reload")[0] == 0, "the reload adding the new names",
                     detail=lambda: self.ctl("reload"))
            self.assertEqual({"web"} | {f"h{i}" for i in range(16)}, self.groups_shown())
            with connect(p2) as s:
                self.assertTrue(echo_checked(s, 1000, 3))
            self.assertEqual(0, px.stop())

    def test_group_added_by_a_reload_fits_its_default_room_to_its_slot(self):
        # a start file's group gets 16 backend slots beyond its list; a group added by a
        # reload has 64 in all, so 50 backends and no max_backends fit, 65 do not
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as a:
            web = ("web", [a.addr], "")
            self.write([("one", p1, "web")], [web])
            px = self.start(p1)
            addrs = [a.addr] + [f"127.0.0.{i}:9" for i in range(2, 66)]
            self.write([("one", p1, "web"), ("two", p2, "big")], [web, ("big", addrs, "")])
            self.assertIn("group big: a group added by a reload has at most 64 backend slots, "
                          "it lists 65 backends (needs a restart)", self.hup_refused(px))
            self.write([("one", p1, "web"), ("two", p2, "big")],
                       [web, ("big", addrs[:50], "    max_backends: 65\n")])
            self.assertIn("group big: a group added by a reload has at most 64 backend slots, "
                          "max_backends asks 65 (set it to 64 at most, or restart)",
                          self.hup_refused(px))
            self.write([("one", p1, "web"), ("two", p2, "big")], [web, ("big", addrs[:50], "")])
            rc, out, err = self.ctl("reload")
            self.assertEqual(0, rc, out + err)
            rc, out, err = self.ctl("add", "backend", "big", "extra1", "127.0.0.200:9")
            self.assertEqual(0, rc, out + err)
            for i in range(2, 15):  # 64 in all: the 65th has no slot
                self.assertEqual(0, self.ctl("add", "backend", "big", f"extra{i}",
                                             f"127.0.0.{200 + i}:9")[0])
            rc, out, err = self.ctl("add", "backend", "big", "extra15", "127.0.0.250:9")
            self.assertEqual(1, rc, out + err)
            self.assertIn("ENOSPC", self.ctl("--json", "add", "backend", "big", "extra15",
                                             "127.0.0.250:9")[1])
            self.assertEqual(0, px.stop())

    def test_group_removed_by_sluicectl_reload(self):
        p1, p2 = stable_port(), stable_port()
        with Server(echo_handler) as a, Server(echo_handler) as b:
            both = [("web", [a.addr], ""), ("other", [b.addr], "")]
            self.write([("one", p1, "web"), ("two", p2, "other")], both)
            px = self.start(p1)
            self.assertEqual({"web", "other"}, self.groups_shown())
            self.write([("one", p1, "web")], [("web", [a.addr], "")])
            rc, out, err = self.ctl("reload")
            self.assertEqual(0, rc, out + err)
            self.assertTrue(refused(p2))
            wait_for(lambda: self.groups_shown() == {"web"}, "the group to go from /stats")
            # the backend API no longer finds it
            rc, out, err = self.ctl("add", "backend", "other", "x", b.addr)
            self.assertNotEqual(0, rc)
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
