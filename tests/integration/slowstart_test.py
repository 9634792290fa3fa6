# SPDX-License-Identifier: MIT
"""A group's slowstart, real processes on real sockets, least_conn on one worker: while b is
disabled, ten held sessions go to a; once b is enabled it would take every new session (it
has none) but for slowstart, which ramps its share from 1/16: b gets only a few of the next ten
held sessions, and all of them in a group without slowstart. Once the ramp is over, b takes new
sessions until it has as many as a. A backend back from passive ejection ramps the same way. A
reload changes slowstart live."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, Server, ask_name, connect, free_port, name_handler, wait_for_text  # noqa: E402
from reloading import ReloadCase  # noqa: E402

RAMP_S = 5


class Slowstart(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.held = []

    def write(self, a, b, slowstart):
        self.write_one_group(self.port, [("a", a.addr), ("b", b.addr)],
                             f"    balance: least_conn\n    slowstart: {slowstart}\n")

    def hold(self, n):
        """<n> sessions opened one after another and kept open: who answered each."""
        names = []
        for _ in range(n):
            s = connect(self.port)
            self.held.append(s)
            names.append(ask_name(s))
        return names

    def stop(self, px):
        """Closes the held sessions, then stops sluice (its drain has nothing to wait for)."""
        for s in self.held:
            s.close()
        self.assertEqual(0, px.stop())

    def enabled_b_takes(self, a, b, slowstart):
        """Holds 10 sessions on a (b disabled), enables b, and returns the names that answer
        10 more held sessions, the process, and the seconds those took."""
        self.write(a, b, slowstart)
        px = self.start(self.port)
        self.assertEqual(0, self.ctl("disable", "backend", "web/b")[0])
        self.assertEqual(["a"] * 10, self.hold(10))
        self.assertEqual(0, self.ctl("enable", "backend", "web/b")[0])
        enabled = time.monotonic()
        after = self.hold(10)
        return after, px, time.monotonic() - enabled

    def test_a_balancer_that_ignores_slowstart_says_so_at_start(self):
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b:
            for balance, said in (("weighted", True), ("round_robin", True), ("maglev", True),
                                  ("least_conn", False), ("p2c", False)):
                self.write_one_group(self.port, [("a", a.addr), ("b", b.addr)],
                                     f"    balance: {balance}\n    slowstart: 2s\n")
                px = self.start(self.port)
                line = (f"group web: slowstart does nothing with balance: {balance} (only "
                        "least_conn and p2c ramp a backend up)")
                self.assertEqual(said, line in px.stderr(), balance)
                self.stop(px)

    def test_an_enabled_backend_ramps_up_over_slowstart(self):
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b:
            after, px, took = self.enabled_b_takes(a, b, f"{RAMP_S}s")
            if took < RAMP_S / 2:  # the ramp was still low for all ten: a few went to b
                self.assertLessEqual(after.count("b"), 4, after)
            # the ramp over, b catches up: it has far fewer sessions than a
            time.sleep(max(0.0, RAMP_S + 0.5 - took))
            later = self.hold(10)
            print(f"slowstart: b took {after.count('b')} of 10 in the first {took:.2f} s, then "
                  f"{later.count('b')} of 10")
            self.assertGreaterEqual(later.count("b"), 8, (after, later))
            self.stop(px)

    def test_without_slowstart_the_enabled_backend_takes_every_new_session(self):
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b:
            after, px, _ = self.enabled_b_takes(a, b, "0")
            self.assertEqual(["b"] * 10, after)
            self.stop(px)

    def ejected_b_takes(self, slowstart):
        """b refuses the first session's connect and is ejected for 500 ms (the session goes
        on to a, as do nine more, held); then b serves, and once its ejection is over, the
        names that answer 10 more held sessions."""
        b_port = free_port()
        with Server(name_handler("a")) as a:
            self.write_one_group(self.port, [("a", a.addr), ("b", f"127.0.0.1:{b_port}")],
                                 f"    balance: least_conn\n    slowstart: {slowstart}\n"
                                 "    passive: { failures: 1, backoff: 500ms }\n")
            px = self.start(self.port)
            self.assertEqual(["a"] * 10, self.hold(10))
            wait_for_text(px, "backend web/b ejected for 500 ms", timeout=10 * SLOW)
            with Server(name_handler("b"), port=b_port):
                time.sleep(0.6)  # past the ejection: b is eligible again
                after = self.hold(10)
                self.stop(px)
        return after

    def test_a_backend_back_from_passive_ejection_ramps_up_over_slowstart(self):
        # a ten-minute ramp, begun as the ejection ended: b is at 1/16 of its share throughout
        after = self.ejected_b_takes("10m")
        self.assertLessEqual(after.count("b"), 2, after)

    def test_without_slowstart_a_backend_back_from_ejection_takes_every_new_session(self):
        self.assertEqual(["b"] * 10, self.ejected_b_takes("0"))

    def test_a_reload_changes_slowstart_live(self):
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b:
            self.write(a, b, "0")
            px = self.start(self.port)
            self.write(a, b, "10m")
            self.hup(px)
            self.assertEqual(0, self.ctl("disable", "backend", "web/b")[0])
            self.assertEqual(["a"] * 10, self.hold(10))
            self.assertEqual(0, self.ctl("enable", "backend", "web/b")[0])
            # a ten-minute ramp: b is at 1/16 of its share for the whole test
            after = self.hold(10)
            self.assertLessEqual(after.count("b"), 2, after)
            wait_for_text(px, "backend b disabled -> enabled", timeout=10 * SLOW)
            self.stop(px)


if __name__ == "__main__":
    import unittest
    unittest.main()
