# SPDX-License-Identifier: MIT
"""Health checks a reload adds count against the file descriptor limit, real processes under a
small limit (prlimit): with a configured max_connections, a reload adding a checked group of 64
backend slots is refused with the figures (`sluicectl reload`) and nothing changes, while one of
2 slots is taken and checked; turning checks on for a start file's group is counted the same
way, and so is a group added with a warm pool. With the cap the limit decided, the reload is
taken and the cap is lowered by what the checks hold, to the figure the budget's formula
gives. Checks a reload turns on that cannot start (the fds run out under way) leave the group
unchecked, and the next reload asking for them starts them."""
import os
import re
import resource
import subprocess
import select
import time
import unittest

from harness import (SLOW, SLUICECTL, connect, echo_handler, free_port, held, Server, wait_for,
                     wait_for_text)
from reloading import ReloadCase

LIMIT = 200


class ReloadHealthBudget(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port = free_port()

    def write(self, backend, max_conns, web_health=False, api_slots=0, api_warm=0):
        """Group web (one backend slot, checked with <web_health>), and with <api_slots> group
        api of that many backend slots, checked, no listener naming it."""
        check = "    health: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }\n"
        text = (f"workers: 1\ndrain_timeout: 5s\ncontrol: {{ path: {self.sock} }}\n"
                + (f"max_connections: {max_conns}\n" if max_conns else "")
                + f"listeners:\n  - {{ name: front, address: 127.0.0.1:{self.port}, "
                f"group: web }}\n"
                f"groups:\n  - name: web\n    max_backends: 1\n"
                + (check if web_health else "")
                + f"    backends:\n      - {{ name: a, address: {backend} }}\n")
        if api_slots:
            text += (f"  - name: api\n    max_backends: {api_slots}\n"
                     + (f"    warm_pool: {{ size: {api_warm}, idle: 60s }}\n" if api_warm
                        else check)
                     + f"    backends:\n      - {{ name: b, address: {backend} }}\n")
        self.write_file(text)

    def start(self):
        return super().start(self.port, prefix=["prlimit", f"--nofile={LIMIT}:{LIMIT}"])

    def ctl_reload(self):
        p = subprocess.run([SLUICECTL, "-s", self.sock, "reload"], capture_output=True,
                           text=True, timeout=60 * SLOW)
        return p.returncode, p.stderr

    def test_checks_that_do_not_fit_a_configured_cap_are_refused(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 20)
            px = self.start()

            # 64 sockets and a checker's loop more: 20 sessions of 6 fds no longer fit
            self.write(srv.addr, 20, api_slots=64)
            rc, err = self.ctl_reload()
            self.assertEqual(1, rc, err)
            self.assertIn(f"the fd limit is {LIMIT}: health checks 68 fds more", err)
            self.assertIn("max_connections 20 needs 6 each", err)
            self.assertNotIn("group api: added", px.stderr())

            # two slots fit: taken, and the new group's backend is checked
            before = srv.accepted
            self.write(srv.addr, 20, api_slots=2)
            self.hup(px)
            wait_for_text(px, "group api: added (reload)")
            deadline = time.monotonic() + 10 * SLOW
            while srv.accepted < before + 2:  # its checks connect, every 100 ms
                self.assertLess(time.monotonic(), deadline, px.stderr())
                select.select([], [], [], 0.02)

    def test_a_group_added_with_a_warm_pool_the_limit_cannot_hold_is_refused(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 20)
            px = self.start()
            # 10 idle connections for each of 4 backend slots in the one worker
            self.write(srv.addr, 20, api_slots=4, api_warm=10)
            rc, err = self.ctl_reload()
            self.assertEqual(1, rc, err)
            self.assertIn(f"the fd limit is {LIMIT}: warm pools 40 connections larger", err)
            self.assertNotIn("group api: added", px.stderr())
            # 2 x 2 fit: taken, and the backend holds the pool's two idle connections
            self.write(srv.addr, 20, api_slots=2, api_warm=2)
            self.hup(px)
            wait_for_text(px, "group api: added (reload)")
            deadline = time.monotonic() + 10 * SLOW
            while held(srv) != 2:
                self.assertLess(time.monotonic(), deadline, px.stderr())
                select.select([], [], [], 0.02)

    def idle_of(self, px):
        """The fds sluice <px> counted held while idle at start, from its log line."""
        m = re.search(r"what %d file descriptors allow \(6 per session, (\d+) held idle, 32 "
                      r"spare\)" % LIMIT, px.stderr())
        self.assertIsNotNone(m, px.stderr())
        return int(m.group(1))

    def test_checks_turned_on_for_a_start_group_are_counted(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 0)
            px = self.start()
            idle = self.idle_of(px)
            px.stop()
            # one socket and a checker's loop of its own: 5 fds more
            fit = (LIMIT - idle - 32 - 5) // 6
            for cap, taken in ((fit + 1, False), (fit, True)):
                self.write(srv.addr, cap)
                px = self.start()
                self.write(srv.addr, cap, web_health=True)
                rc, err = self.ctl_reload()
                if taken:
                    self.assertEqual(0, rc, err)
                    wait_for_text(px, "group web: health checks every 100 ms")
                else:
                    self.assertEqual(1, rc, err)
                    self.assertIn("health checks 5 fds more", err)
                    self.assertIn(f"max_connections {cap} needs 6 each", err)
                    self.assertNotIn("group web: health checks every", px.stderr())
                px.stop()

    def test_a_cap_the_limit_decided_is_lowered_by_what_the_checks_hold(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 0)
            px = self.start()
            idle = self.idle_of(px)
            m = re.search(r"max_connections (\d+): what %d file descriptors" % LIMIT,
                          px.stderr())
            before = int(m.group(1))

            self.write(srv.addr, 0, api_slots=64)
            self.hup(px)
            wait_for_text(px, "group api: added (reload)")
            want = (LIMIT - idle - 64 - 4 - 32) // 6
            self.assertLess(want, before)
            wait_for_text(px, f"max_connections {want}: what the file descriptors allow "
                              "with the health checks")

    def test_checks_that_cannot_start_stay_off_and_the_next_reload_starts_them(self):
        with Server(echo_handler) as srv:
            self.write(srv.addr, 0)
            px = super().start(self.port)
            pid = px.proc.pid
            # sessions hold fds, then the soft limit is lowered to one above what is open:
            # the reload reads its file, and the checker's loop cannot be opened (the cap the
            # limit decides is lowered, so the budget takes the reload)
            clients = [connect(self.port) for _ in range(60)]
            for c in clients:
                c.sendall(b"x")
                self.assertEqual(b"x", c.recv(1))
            was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            resource.prlimit(pid, resource.RLIMIT_NOFILE,
                             (len(os.listdir(f"/proc/{pid}/fd")) + 1, was[1]))
            self.write(srv.addr, 0, web_health=True)
            self.hup(px)
            wait_for_text(px, "its health checks: Too many open files")
            self.assertNotIn("group web: health checks every", px.stderr())
            rc, out, err = self.ctl("show", "backends")
            self.assertEqual(0, rc, err)
            self.assertIn("unchecked", out)

            for c in clients:
                c.close()
            wait_for(lambda: held(srv) == 0, "the sessions closed")
            resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
            before = srv.accepted
            self.hup(px)  # the same file: the checks it asks for are not in force yet
            wait_for_text(px, "group web: health checks every 100 ms")
            deadline = time.monotonic() + 10 * SLOW
            while srv.accepted < before + 2:  # its checks connect, every 100 ms
                self.assertLess(time.monotonic(), deadline, px.stderr())
                select.select([], [], [], 0.02)


if __name__ == "__main__":
    unittest.main()
