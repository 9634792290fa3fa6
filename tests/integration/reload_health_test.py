# SPDX-License-Identifier: MIT
"""Reloads that change a running group's health checks, real processes on real sockets. A
backend that fails its send_expect check is not marked down under a 10 s interval with fall 3;
a SIGHUP to 100 ms marks it down within a bounded wait, and its probes come often (counted at
the backend); a SIGHUP back to 10 s keeps it down (the state carries over) and the probes stop
coming often. A group without health: gets checks by a reload (the failing backend is marked
down and new sessions avoid it), and loses them by another (it is up again and takes
sessions)."""
import json
import subprocess
import threading
import time
import unittest

from harness import SLOW, SLUICECTL, connect, free_port, refused_address, Server, wait_for_text
from reloading import ReloadCase


class Probed(Server):
    """A backend that answers each line with <reply> (so a check expecting "ok" fails unless
    <reply> starts with it), counting the connections it accepted."""

    def __init__(self, reply):
        self.count = 0
        self.count_lock = threading.Lock()

        def handler(conn):
            with self.count_lock:
                self.count += 1
            f = conn.makefile("rb")
            for _ in f:
                conn.sendall(reply)

        super().__init__(handler)

    def probes(self):
        with self.count_lock:
            return self.count


def count_over(backend, seconds):
    """Connections <backend> accepted during a window of <seconds> (a measurement, not a wait
    for an event)."""
    before = backend.probes()
    time.sleep(seconds)
    return backend.probes() - before


class ReloadHealth(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port = free_port()

    def start(self):
        return super().start(self.port)

    def health_of(self):
        p = subprocess.run([SLUICECTL, "-s", self.sock, "--json", "show", "backends"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        return {x["name"]: x["health"] for x in json.loads(p.stdout)["result"]}

    def health_counts(self):
        """The process's health counters, from `sluicectl show stats`."""
        p = subprocess.run([SLUICECTL, "-s", self.sock, "--json", "show", "stats"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        return json.loads(p.stdout)["result"]["health"]

    def who(self, n):
        """Accepts counted at good and bad over <n> sequential sessions."""
        names = []
        for _ in range(n):
            with connect(self.port) as s:
                s.sendall(b"hi\n")
                s.settimeout(10 * SLOW)
                names.append(s.recv(64).decode().strip())
        return names

    @staticmethod
    def health(interval, fall=3):
        # the bad backend fails a check by its answer at once: the timeout, as long as the
        # interval allows, only has to let a good one's answer come on a loaded machine (50 ms
        # was too short under a sanitizer)
        return ("    health: { type: send_expect, send: \"ping\\n\", expect: \"ok\", "
                f"interval: {interval}, timeout: {interval}, rise: 1, fall: {fall} }}\n")

    def test_interval_change_marks_a_failing_backend_down_and_back_slower(self):
        with Probed(b"ok\n") as good, Probed(b"no\n") as bad:
            backends = [("good", good.addr), ("bad", bad.addr)]
            self.write_one_group(self.port, backends, self.health("10s"))
            px = self.start()
            # at most one probe each per 10 s: fall 3 is 20 s away
            self.assertEqual({"good": "up", "bad": "up"}, self.health_of())

            self.write_one_group(self.port, backends, self.health("100ms"))
            self.hup(px)
            wait_for_text(px, "group web: health checks every 100 ms, timeout 100 ms, rise 1, "
                          "fall 3 (reload)")
            wait_for_text(px, "backend web/bad is down", timeout=5)
            self.assertEqual({"good": "up", "bad": "down"}, self.health_of())
            # every 100 ms is about 20 probes in 2 s (at 10 s, none); 4 leaves room for a
            # loaded machine
            self.assertGreaterEqual(count_over(good, 2.0), 4)

            # back to 10 s: the state carries over, the probes come seldom
            self.write_one_group(self.port, backends, self.health("10s"))
            self.hup(px)
            wait_for_text(px, "group web: health checks every 10000 ms")
            self.assertLessEqual(count_over(good, 1.0) + count_over(bad, 1.0), 2)
            self.assertEqual({"good": "up", "bad": "down"}, self.health_of())
            self.assertNotIn("backend web/bad is up", px.stderr())

    def test_checks_turned_on_and_off_by_reload(self):
        with Probed(b"ok\n") as good, Probed(b"no\n") as bad:
            backends = [("good", good.addr), ("bad", bad.addr)]
            self.write_one_group(self.port, backends, "")
            px = self.start()
            self.assertEqual({"good": "unchecked", "bad": "unchecked"}, self.health_of())
            self.assertEqual({"ok", "no"}, set(self.who(4)))

            self.assertEqual(0, self.health_counts()["checks"])

            self.write_one_group(self.port, backends, self.health("100ms", fall=1))
            self.hup(px)
            wait_for_text(px, "backend web/bad is down", timeout=5)
            self.assertEqual({"good": "up", "bad": "down"}, self.health_of())
            self.assertEqual(["ok"] * 4, self.who(4))
            # the checks a reload turned on are counted (they were not: only the start
            # file's checker was read)
            on = self.health_counts()
            self.assertGreaterEqual(on["checks"], 1, on)
            self.assertGreaterEqual(on["failures"], 1, on)
            self.assertEqual(1, on["transitions_down"], on)

            self.write_one_group(self.port, backends, "")
            self.hup(px)
            wait_for_text(px, "group web: health checks off (reload)")
            wait_for_text(px, "backend web/bad is up: no more health checks")
            self.assertEqual({"good": "unchecked", "bad": "unchecked"}, self.health_of())
            self.assertEqual({"ok", "no"}, set(self.who(4)))
            self.assertLessEqual(count_over(bad, 0.5), 0)
            # and what they counted stays: the counters never go back
            off = self.health_counts()
            for k in on:
                self.assertGreaterEqual(off[k], on[k], (on, off))

    def test_a_reload_moves_the_checks_to_another_port_and_back(self):
        with Probed(b"ok\n") as good, refused_address() as closed:
            closed_port = int(closed.rsplit(":", 1)[1])
            tcp = "    health: { type: tcp, interval: 100ms, timeout: 50ms, rise: 1, fall: 1%s }\n"
            self.write_one_group(self.port, [("good", good.addr)], tcp % "")
            px = self.start()
            self.assertEqual({"good": "up"}, self.health_of())

            self.write_one_group(self.port, [("good", good.addr)], tcp % f", port: {closed_port}")
            self.hup(px)
            wait_for_text(px, f"rise 1, fall 1, on port {closed_port} (reload)")
            wait_for_text(px, f"backend web/good is down: connect to health port {closed_port}: "
                          "Connection refused", timeout=5)
            self.assertEqual({"good": "down"}, self.health_of())

            self.write_one_group(self.port, [("good", good.addr)], tcp % "")
            self.hup(px)
            wait_for_text(px, "backend web/good is up again", timeout=5)
            self.assertEqual({"good": "up"}, self.health_of())


if __name__ == "__main__":
    unittest.main()
