# SPDX-License-Identifier: MIT
"""The control socket and sluicectl, real binaries on real sockets: each show command against
the admin endpoint's /stats or the configuration it ran (and the open sessions by client); backend changes take effect
(checked by where new connections go), close sessions (a removed or replaced backend's too); reload with a good file and
a bad one (FILE:LINE:COLUMN, the process serves on); shutdown drains and exits 0, the show
commands and the admin endpoint answering during the drain and changes refused; the socket's
mode; a second instance on the same path refuses to start; a stale socket file is replaced;
garbage, oversized requests and one client too many get an error and the server serves on."""
import fcntl
import json
import os
import select
import socket
import stat
import struct
import subprocess
import tempfile
import termios
import time
import unittest
import urllib.request

from harness import (SLOW, SLUICE, SLUICECTL, admin_get, ask_name, closed_by_peer, connect,
                     echo_handler, echoed, free_port, name_handler, parse_metrics, Server, Sluice,
                     wait_for_text)


def wait_until(pred, timeout=10.0):
    """Polls <pred> (bounded) until it is true; returns its last value."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        select.select([], [], [], 0.02)


def who_answers(port, n):
    """Names of the backends that answer <n> new connections, in order."""
    names = []
    for _ in range(n):
        s = connect(port)
        s.sendall(b"who\n")
        f = s.makefile("rb")
        names.append(f.readline().decode().strip())
        f.close()
        s.close()
    return names


class Ctl(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluicectl-")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.path = os.path.join(self.dir, "sluice.yaml")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir], check=False))

    def ctl(self, *args, sock=None, json_out=False):
        """Runs sluicectl; (exit status, stdout, stderr)."""
        cmd = ([SLUICECTL, "-s", self.sock if sock is None else sock] +
               (["--json"] if json_out else []) + list(args))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)
        return p.returncode, p.stdout, p.stderr

    def ctl_json(self, *args):
        rc, out, err = self.ctl(*args, json_out=True)
        self.assertEqual(1, len(out.splitlines()), out + err)
        return rc, json.loads(out), err

    def write(self, port, backends, extra="", balance="round_robin", listeners=None):
        items = "".join(f"      - {{ name: {n}, address: {a} }}\n" for n, a in backends)
        lst = listeners or f"  - name: front\n    address: 127.0.0.1:{port}\n    group: web\n"
        with open(self.path, "w") as f:
            f.write(f"workers: 2\ndrain_timeout: 10s\n{extra}"
                    f"control: {{ path: {self.sock} }}\n"
                    f"listeners:\n{lst}"
                    f"groups:\n  - name: web\n    balance: {balance}\n    backends:\n{items}")

    def start(self, port, args=()):
        px = Sluice(["-c", self.path] + list(args), port=port)
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, "control socket on")
        return px

    # ---- show ----

    def test_show_info_names_the_process_its_workers_and_bound_listeners(self):
        with Server(echo_handler) as b:
            port = free_port()
            port2 = free_port()
            self.write(port, [("b1", b.addr)], listeners=(
                f"  - name: front\n    address: 127.0.0.1:{port}\n    group: web\n"
                f"  - name: back\n    address: \"[::1]:{port2}\"\n    group: web\n"))
            px = self.start(port)
            rc, doc, _ = self.ctl_json("show", "info")
            self.assertEqual(0, rc)
            self.assertTrue(doc["ok"])
            info = doc["result"]
            self.assertEqual(px.proc.pid, info["pid"])
            self.assertEqual(2, info["workers"])
            self.assertEqual(self.path, info["config_file"])
            self.assertEqual(self.sock, info["control_socket"])
            self.assertGreaterEqual(info["uptime_seconds"], 0)
            version = subprocess.run([SLUICE, "--version"], capture_output=True, text=True)
            self.assertEqual(version.stdout.split()[1], info["version"])
            self.assertEqual([{"name": "front", "address": f"127.0.0.1:{port}", "group": "web"},
                              {"name": "back", "address": f"[::1]:{port2}", "group": "web"}],
                             info["listeners"])
            rc, out, _ = self.ctl("show", "info")
            self.assertEqual(0, rc)
            self.assertRegex(out, rf"pid\s+{px.proc.pid}\n")
            self.assertRegex(out, rf"(?m)^  back\s+\[::1\]:{port2}\s+web$")

    def test_show_stats_is_the_admin_endpoints_stats(self):
        with Server(echo_handler) as b:
            port, admin = free_port(), free_port()
            self.write(port, [("b1", b.addr)], extra=f"admin: {{ address: 127.0.0.1:{admin} }}\n")
            self.start(port)
            for _ in range(5):
                s = connect(port)
                self.assertTrue(echoed(s))
                s.close()
            # the five sessions are closed and counted by both readers alike
            rc, doc, _ = None, None, None

            def closed_five():
                nonlocal rc, doc
                rc, doc, _ = self.ctl_json("show", "stats")
                return doc["result"]["process"]["closed"] == 5
            self.assertTrue(wait_until(closed_five), doc)
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats", timeout=10) as r:
                http = json.load(r)
            got = doc["result"]
            self.assertEqual(0, rc)
            self.assertEqual(sorted(http.keys()), sorted(got.keys()))
            for key in ("accepted", "closed", "active"):
                self.assertEqual(http["process"][key], got["process"][key], key)
            self.assertEqual(5, got["process"]["accepted"])
            self.assertEqual(5, sum(x["sessions"] for x in got["backend"]))
            rc, out, _ = self.ctl("show", "stats")
            self.assertEqual(0, rc)
            self.assertRegex(out, r"(?m)^process .*\baccepted=5\b")
            self.assertRegex(out, r"(?m)^backend group=web backend=b1 .*\bsessions=5\b")

    def test_show_backends_lists_the_configured_backends(self):
        with Server(echo_handler) as b1, Server(echo_handler) as b2:
            port = free_port()
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)])
            self.start(port)
            rc, doc, _ = self.ctl_json("show", "backends")
            self.assertEqual(0, rc)
            got = {(x["group"], x["name"]): x for x in doc["result"]}
            self.assertEqual({("web", "b1"), ("web", "b2")}, set(got))
            self.assertEqual(b1.addr, got[("web", "b1")]["address"])
            self.assertEqual(b2.addr, got[("web", "b2")]["address"])
            for x in got.values():
                self.assertEqual(1, x["weight"])
                self.assertEqual("enabled", x["admin"])
                self.assertEqual("unchecked", x["health"])  # the group has no health checks
            rc, out, _ = self.ctl("show", "backends")
            self.assertEqual(0, rc)
            self.assertRegex(out.splitlines()[0], r"^GROUP\s+NAME\s+ADDRESS\s+WEIGHT")
            self.assertRegex(out, rf"(?m)^web\s+b2\s+{b2.addr}\s+1\s+primary\s+enabled\s+unchecked\b")

    def test_show_sessions_counts_open_sessions_per_listener_and_backend(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            held = [connect(port) for _ in range(3)]
            for s in held:
                self.assertTrue(echoed(s))
            doc = {}

            def three_open():
                nonlocal doc
                _, doc, _ = self.ctl_json("show", "sessions")
                return doc["result"]["active"] == 3
            self.assertTrue(wait_until(three_open), doc)
            r = doc["result"]
            self.assertEqual([{"listener": "front", "active": 3}], r["listeners"])
            self.assertEqual([{"group": "web", "backend": "b1", "active": 3}], r["backends"])
            # the sessions themselves, as their workers see them
            self.assertEqual(3, r["listed"])
            self.assertNotIn("sessions_error", r)
            clients = sorted("%s:%d" % s.getsockname() for s in held)
            self.assertEqual(clients, sorted(x["client"] for x in r["sessions"]))
            for x in r["sessions"]:
                self.assertEqual(("front", "web", "b1", "forwarding", 4, 4),
                                 (x["listener"], x["group"], x["backend"], x["state"],
                                  x["bytes_in"], x["bytes_out"]))
                self.assertGreaterEqual(x["age_ms"], 0)
            self.assertEqual(3, sum(w["listed"] for w in r["workers"]))
            self.assertEqual([0, 1], [w["worker"] for w in r["workers"]])
            rc, out, _ = self.ctl("show", "sessions")
            self.assertEqual(0, rc)
            self.assertIn("sessions listed: 3 of 3", out)
            for c in clients:
                self.assertRegex(out, rf"(?m)^\d+\s+{c}\s+front\s+b1\s+forwarding\s+\d+\s+4\s+4$")
            for s in held:
                s.close()
            self.assertTrue(wait_until(lambda: self.ctl_json("show", "sessions")[1]
                                       ["result"]["active"] == 0))

    # ---- backend changes ----

    def test_disable_and_enable_decide_where_new_connections_go(self):
        with Server(name_handler("b1")) as b1, Server(name_handler("b2")) as b2:
            port = free_port()
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)])
            self.start(port)
            self.assertIn("b1", who_answers(port, 4))
            rc, out, err = self.ctl("disable", "backend", "web/b1")
            self.assertEqual(0, rc, err)
            self.assertEqual(["b2"] * 20, who_answers(port, 20))
            backends = {x["name"]: x for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual("disabled", backends["b1"]["admin"])
            rc, _, err = self.ctl("enable", "backend", "web/b1")
            self.assertEqual(0, rc, err)
            self.assertIn("b1", who_answers(port, 20))

    def test_drain_keeps_open_sessions_and_takes_no_new_ones(self):
        with Server(echo_handler) as b1, Server(name_handler("b2")) as b2:
            port = free_port()
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)])
            self.start(port)
            held = connect(port)
            self.assertTrue(echoed(held))  # round robin: the first one goes to b1
            rc, _, err = self.ctl("drain", "backend", "web/b1")
            self.assertEqual(0, rc, err)
            self.assertEqual(["b2"] * 20, who_answers(port, 20))
            self.assertTrue(echoed(held, b"still here"))
            backends = {x["name"]: x for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual("draining", backends["b1"]["admin"])

    def test_set_weight_moves_the_share_of_new_connections(self):
        with Server(name_handler("b1")) as b1, Server(name_handler("b2")) as b2:
            port = free_port()
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)], balance="weighted")
            self.start(port)
            rc, _, err = self.ctl("set", "weight", "web/b1", "3")
            self.assertEqual(0, rc, err)
            backends = {x["name"]: x for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual(3, backends["b1"]["weight"])
            names = who_answers(port, 40)
            self.assertGreater(names.count("b1"), 2 * names.count("b2"), names)

    def test_add_and_remove_change_the_backend_set(self):
        with Server(name_handler("b1")) as b1, Server(name_handler("b3")) as b3:
            port = free_port()
            self.write(port, [("b1", b1.addr)])
            self.start(port)
            rc, _, err = self.ctl("add", "backend", "web", "b3", b3.addr, "weight", "1")
            self.assertEqual(0, rc, err)
            names = {x["name"] for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual({"b1", "b3"}, names)
            # a new backend is health-checked like the others: it serves within a bound
            self.assertTrue(wait_until(lambda: "b3" in who_answers(port, 4)))
            rc, _, err = self.ctl("remove", "backend", "web/b3")
            self.assertEqual(0, rc, err)
            self.assertEqual(["b1"] * 20, who_answers(port, 20))
            names = {x["name"] for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual({"b1"}, names)

    def test_close_sessions_closes_the_backends_open_sessions_on_every_worker(self):
        with Server(name_handler("b1")) as b1, Server(name_handler("b2")) as b2:
            port = free_port()
            log = os.path.join(self.dir, "access.log")
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)],
                       extra=f"access_log: {{ path: {log} }}\n")
            px = self.start(port)
            held, names = [], []

            def b1_workers():
                listed = self.ctl_json("show", "sessions")[1]["result"]["sessions"]
                return {x["worker"] for x in listed if x["backend"] == "b1"}

            # until b1 has sessions on both workers (SO_REUSEPORT spreads them), bounded
            while len(held) < 40 and (not held or len(b1_workers()) < 2):
                for _ in range(4):
                    held.append(connect(port))
                    names.append(ask_name(held[-1]))
            self.assertEqual({0, 1}, b1_workers())
            on_b1 = [s for s, n in zip(held, names) if n == "b1"]
            on_b2 = [s for s, n in zip(held, names) if n == "b2"]
            self.assertTrue(on_b2, names)
            rc, out, err = self.ctl("close", "sessions", "web/b1")
            self.assertEqual(0, rc, err)
            self.assertEqual(f"closed {len(on_b1)}\n", out)
            for s in on_b1:
                self.assertTrue(closed_by_peer(s))
            for s in on_b2:
                self.assertEqual("b2", ask_name(s))
            # its admin state is unchanged: new sessions reach it again
            self.assertIn("b1", who_answers(port, 4))
            stats = self.ctl_json("show", "stats")[1]["result"]
            self.assertEqual(len(on_b1), stats["process"]["admin_closes"])
            rc, _, err = self.ctl("close", "sessions", "web/nope")
            self.assertEqual(1, rc)
            self.assertIn("no backend web/nope", err)
            for s in held:
                s.close()
            self.assertEqual(0, px.stop())
            self.assertRegex(px.stderr(), rf"process: (.*, )?{len(on_b1)} admin_closes\b")
            self.assertIn(f"group web: backend b1: {len(on_b1)} open sessions closed",
                          px.stderr())
            # the access log's termination field says who closed them
            with open(log) as f:
                closed = [r["backend"] for r in map(json.loads, f)
                          if r["termination"] == "admin"]
            self.assertEqual(["b1"] * len(on_b1), closed)

    def test_close_sessions_reaches_the_sessions_a_removed_or_replaced_backend_holds(self):
        with Server(name_handler("old")) as old, Server(name_handler("new")) as new, \
                Server(name_handler("b2")) as b2:
            port = free_port()
            self.write(port, [("b1", old.addr), ("b2", b2.addr)])
            self.start(port)
            held, names = [], []
            # one worker's round robin each (SO_REUSEPORT): until both have a session, bounded
            while len(held) < 40 and ("old" not in names or "b2" not in names):
                held.append(connect(port))
                names.append(ask_name(held[-1]))
            self.assertIn("old", names)
            closing = names.count("old")
            # removed, then added again at another address: the old sessions run on
            self.assertEqual(0, self.ctl("remove", "backend", "web/b1")[0])
            rc, _, err = self.ctl("add", "backend", "web", "b1", new.addr, "weight", "100")
            self.assertEqual(0, rc, err)
            self.assertTrue(wait_until(lambda: "new" in who_answers(port, 4)))
            while len(held) < 80 and names.count("new") < 2:
                held.append(connect(port))
                names.append(ask_name(held[-1]))
            self.assertEqual(2, names.count("new"), names)
            closing += 2
            # the name's sessions: the removed backend's and the new one's
            rc, out, err = self.ctl("close", "sessions", "web/b1")
            self.assertEqual((0, f"closed {closing}\n"), (rc, out), err)
            for s, n in zip(held, names):
                if n == "b2":
                    self.assertEqual("b2", ask_name(s))
                else:
                    self.assertTrue(closed_by_peer(s), n)
                s.close()

    def test_a_change_to_a_missing_backend_says_which(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            for args in (("disable", "backend", "web/nope"), ("set", "weight", "web/nope", "2"),
                         ("remove", "backend", "web/nope")):
                rc, _, err = self.ctl(*args)
                self.assertEqual(1, rc, args)
                self.assertIn("no backend web/nope", err)
            rc, _, err = self.ctl("add", "backend", "nogroup", "x", "127.0.0.1:1")
            self.assertEqual(1, rc)
            self.assertIn("no group nogroup", err)

    def test_add_refuses_an_address_another_backend_of_the_group_has_and_names_it(self):
        with Server(name_handler("b1")) as b1, Server(name_handler("b2")) as b2:
            port = free_port()
            self.write(port, [("b1", b1.addr), ("b2", b2.addr)])
            self.start(port)
            rc, out, err = self.ctl("add", "backend", "web", "again", b2.addr)
            self.assertEqual((1, ""), (rc, out))
            self.assertEqual(f"sluicectl: group web already has a backend at {b2.addr}: web/b2\n",
                             err)
            rc, doc, _ = self.ctl_json("add", "backend", "web", "again", b2.addr)
            self.assertEqual((1, "EEXIST"), (rc, doc["code"]))
            names = {x["name"] for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual({"b1", "b2"}, names)
            # once its holder is removed, the address is free
            self.assertEqual(0, self.ctl("remove", "backend", "web/b2")[0])
            rc, _, err = self.ctl("add", "backend", "web", "again", b2.addr)
            self.assertEqual(0, rc, err)

    def test_add_refuses_one_of_sluices_own_listeners_and_names_it(self):
        with Server(echo_handler) as b:
            port, other = free_port(), free_port()
            self.write(port, [("b1", b.addr)],
                       listeners=f"  - name: front\n    address: 127.0.0.1:{port}\n"
                                 f"  - address: 127.0.0.1:{other}\n")
            self.start(port)
            rc, out, err = self.ctl("add", "backend", "web", "me", f"127.0.0.1:{port}")
            self.assertEqual((1, ""), (rc, out))
            self.assertEqual(f"sluicectl: 127.0.0.1:{port} is sluice's own listener front "
                             f"(127.0.0.1:{port}): the backend would connect to sluice itself\n",
                             err)
            # a connect to 0.0.0.0 goes to 127.0.0.1; a listener named by its address is not
            # named twice
            rc, doc, _ = self.ctl_json("add", "backend", "web", "me", f"0.0.0.0:{other}")
            self.assertEqual((1, "ELOOP"), (rc, doc["code"]))
            self.assertEqual(f"0.0.0.0:{other} reaches sluice's own listener 127.0.0.1:{other}: "
                             "the backend would connect to sluice itself", doc["error"])
            names = {x["name"] for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual({"b1"}, names)
            # and the one-line mode refuses it at the start (before it binds anything)
            p = subprocess.run([SLUICE, "-l", f"0.0.0.0:{other}", "-b", f"127.0.0.1:{other}"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((2, f"sluice: backend 127.0.0.1:{other} reaches the listen address "
                                 f"0.0.0.0:{other}: sluice would connect to itself\n"),
                             (p.returncode, p.stderr))

    def test_add_refuses_the_admin_endpoint_as_the_file_and_the_flags_do(self):
        """The admin endpoint speaks HTTP about sluice: `sluicectl add backend` refuses it as
        the file does, and so does the start when --admin gives its address."""
        with Server(echo_handler) as b:
            port, admin = free_port(), free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port, ["--admin", f"127.0.0.1:{admin}"])
            rc, doc, _ = self.ctl_json("add", "backend", "web", "me", f"127.0.0.1:{admin}")
            self.assertEqual((1, "ELOOP"), (rc, doc["code"]))
            self.assertEqual(f"127.0.0.1:{admin} reaches sluice's own admin endpoint, which is "
                             "no service to balance", doc["error"])
            names = {x["name"] for x in self.ctl_json("show", "backends")[1]["result"]}
            self.assertEqual({"b1"}, names)
        # the file's backend on the address --admin gives: --check and the start refuse it
        self.write(port, [("b1", f"127.0.0.1:{admin}")])
        said = (f"sluice: backend b1 of group web reaches sluice's own admin endpoint (--admin "
                f"0.0.0.0:{admin}), which is no service to balance\n")
        for check in (["--check"], []):
            p = subprocess.run([SLUICE] + check + ["-c", self.path, "--admin", f"0.0.0.0:{admin}"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((2, said), (p.returncode, p.stderr))
        p = subprocess.run([SLUICE, "-l", f"127.0.0.1:{port}", "-b", f"127.0.0.1:{admin}",
                            "--admin", f"127.0.0.1:{admin}"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(2, p.returncode, p.stderr)
        self.assertIn("reaches sluice's own admin endpoint", p.stderr)

    # ---- reload, shutdown ----

    def test_reload_takes_a_good_file_and_refuses_a_bad_one_with_its_position(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            self.write(port, [("b1", b.addr)], extra="log: { level: debug }\n")
            rc, out, err = self.ctl("reload")
            self.assertEqual(0, rc, err)
            self.assertEqual(f"reloaded {self.path}\n", out)
            wait_for_text(px, f"reload (control socket): {self.path} reloaded")

            with open(self.path, "a") as f:
                f.write("bogus_key: 1\n")
            rc, out, err = self.ctl("reload")
            self.assertEqual(1, rc)
            self.assertEqual("", out)
            with open(self.path) as f:
                line = len(f.read().splitlines())
            self.assertIn(f'{self.path}:{line}:1: unknown key "bogus_key"', err)
            self.assertIn("not reloaded", err)
            # the process serves on, with the previous configuration
            self.assertIsNone(px.proc.poll())
            self.assertTrue(echoed(connect(port)))

            # the listener moves to another port: re-opened there, the old one refuses
            other = free_port()
            self.write(other, [("b1", b.addr)])
            rc, _, err = self.ctl("reload")
            self.assertEqual(0, rc, err)
            self.assertTrue(echoed(connect(other)))
            with self.assertRaises(ConnectionRefusedError):
                connect(port).close()

            # what the process was built from does not change live
            self.write(other, [("b1", b.addr)], extra="max_connections: 10\n")
            rc, _, err = self.ctl("reload")
            self.assertEqual(1, rc)
            self.assertIn("max_connections changed (needs a restart", err)
            self.assertTrue(echoed(connect(other)))

    def test_shutdown_drains_open_sessions_then_exits_0(self):
        with Server(echo_handler) as b:
            port, admin_port = free_port(), free_port()
            self.write(port, [("b1", b.addr)], extra=f"admin: {{ address: 127.0.0.1:{admin_port} }}\n")
            px = self.start(port)
            held = connect(port)
            self.assertTrue(echoed(held))
            rc, out, err = self.ctl("shutdown")
            self.assertEqual(0, rc, err)
            self.assertIn("draining", out)
            wait_for_text(px, "shutdown (control socket): draining")
            # the open session runs on during the drain
            self.assertTrue(echoed(held, b"during the drain"))
            self.assertIsNone(px.proc.poll())
            # and the drain can be watched: the show commands answer, /metrics and /readyz too
            rc, doc, err = self.ctl_json("show", "sessions")
            self.assertEqual(0, rc, err)
            self.assertEqual(1, doc["result"]["active"])
            self.assertEqual(1, len(doc["result"]["sessions"]))
            status, body = admin_get(admin_port, "/metrics")
            self.assertEqual(200, status)
            self.assertEqual(1, parse_metrics(body)["sluice_active"])
            self.assertEqual(0, parse_metrics(body)["sluice_listening"])
            self.assertEqual(503, admin_get(admin_port, "/readyz")[0])
            # but no change is taken, nor a second shutdown
            for cmd in (["disable", "backend", "web/b1"], ["reload"], ["shutdown"], ["profile", "1"]):
                rc, _, err = self.ctl(*cmd)
                self.assertEqual(1, rc, cmd)
                self.assertIn("sluice is draining: it takes no command but help and show", err)
            self.assertEqual("enabled", self.ctl_json("show", "backends")[1]["result"][0]["admin"])
            held.close()
            self.assertEqual(0, px.proc.wait(30 * SLOW))
            self.assertIn("0 still open at exit", px.stderr())
            self.assertFalse(os.path.exists(self.sock))  # removed at exit

    # ---- the socket ----

    def test_socket_has_mode_0600_by_default_and_the_configured_one_otherwise(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            st = os.stat(self.sock)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(0o600, stat.S_IMODE(st.st_mode))
            px.stop()
            self.assertFalse(os.path.exists(self.sock))
            with open(self.path) as f:
                text = f.read().replace(f"control: {{ path: {self.sock} }}",
                                        f"control: {{ path: {self.sock}, mode: 0640 }}")
            with open(self.path, "w") as f:
                f.write(text)
            self.start(port)
            self.assertEqual(0o640, stat.S_IMODE(os.stat(self.sock).st_mode))

    def test_a_live_socket_whose_backlog_is_full_refuses_the_start_at_once(self):
        # a server that accepts nothing (busy), its backlog full: a connect to it would wait;
        # the start and --check take it for live without waiting
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(self.sock)
        srv.listen(0)
        queued = []
        self.addCleanup(lambda: [q.close() for q in queued])
        while True:
            q = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            q.setblocking(False)
            queued.append(q)
            try:
                q.connect(self.sock)
            except BlockingIOError:
                break
            self.assertLess(len(queued), 64, "the backlog never filled")
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            p = subprocess.run([SLUICE, "--check", "-c", self.path], capture_output=True,
                               text=True, timeout=30 * SLOW)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertIn(f"control.path {self.sock}: a running process answers on it", p.stderr)
            p = subprocess.run([SLUICE, "-c", self.path], capture_output=True, text=True,
                               timeout=30 * SLOW)
            self.assertEqual(1, p.returncode, p.stderr)
            self.assertIn("another running process answers on it", p.stderr)
            self.assertTrue(os.path.exists(self.sock))

    def test_a_second_instance_on_the_same_socket_refuses_to_start(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            first = self.start(port)
            # another file with another listener, the same control socket
            with open(self.path) as f:
                text = f.read().replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
            second = os.path.join(self.dir, "second.yaml")
            with open(second, "w") as f:
                f.write(text)
            # --check says so first, as a warning (the other may be gone by the start)
            p = subprocess.run([SLUICE, "--check", "-c", second], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertIn(f"warning: control.path {self.sock}: a running process answers on it "
                          "here; sluice cannot start until it stops", p.stderr)
            p = subprocess.run([SLUICE, "-c", second], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertEqual(1, p.returncode, p.stderr)
            self.assertIn(f"cannot open the control socket {self.sock}", p.stderr)
            self.assertIn("another running process answers on it", p.stderr)
            # the first one still serves on its socket
            rc, doc, _ = self.ctl_json("show", "info")
            self.assertEqual(first.proc.pid, doc["result"]["pid"])

    def test_at_exit_a_socket_another_process_bound_since_is_left_alone(self):
        """The first instance's socket file removed by hand and a second instance started on
        the path: when the first exits it removes nothing (the file is the second's now)."""
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            first = self.start(port)
            os.unlink(self.sock)
            with open(self.path) as f:
                text = f.read().replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
            with open(self.path, "w") as f:
                f.write(text)
            second = self.start(None)
            self.assertEqual(0, first.stop(), first.stderr())
            self.assertIn("stays behind: another process's socket is there now", first.stderr())
            rc, doc, _ = self.ctl_json("show", "info")
            self.assertEqual(0, rc)
            self.assertEqual(second.proc.pid, doc["result"]["pid"])

    def test_a_stale_socket_file_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sock)
        stale.close()  # the file stays, nothing listens: what a killed process leaves
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            self.assertIn("removing the stale socket", px.stderr())
            self.assertEqual(0, self.ctl("show", "info")[0])

    def test_a_file_in_the_way_is_not_removed(self):
        with open(self.sock, "w") as f:
            f.write("not a socket\n")
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            p = subprocess.run([SLUICE, "-c", self.path], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertEqual(1, p.returncode)
            self.assertIn(f"cannot start: control.path {self.sock} is a regular file, which "
                          "sluice will not replace with its socket", p.stderr)
            with open(self.sock) as f:
                self.assertEqual("not a socket\n", f.read())

    # ---- the protocol ----

    def raw(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10 * SLOW)
        s.connect(self.sock)
        return s, s.makefile("rb")

    def test_garbage_gets_an_error_and_the_connection_serves_on(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            s, f = self.raw()
            for junk in (b"\x00\xff\xfe garbage\n", b"\n", b"show\n", b"show info please\n",
                         b"set weight web/b1 lots\n", b"add backend web x nowhere:port\n",
                         b"\x1b[2J\r\n", b"a " * 40 + b"\n"):
                s.sendall(junk)
                doc = json.loads(f.readline())
                self.assertFalse(doc["ok"], junk)
                self.assertEqual("usage", doc["code"], junk)
                self.assertTrue(doc["error"], junk)
            s.sendall(b"show info\r\n")
            self.assertTrue(json.loads(f.readline())["ok"])
            s.close()

    def test_an_oversized_request_gets_an_error_and_the_server_serves_on(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            s, f = self.raw()
            s.sendall(b"x" * 5000)
            doc = json.loads(f.readline())
            self.assertEqual({"ok": False, "code": "E2BIG"},
                             {k: doc[k] for k in ("ok", "code")})
            try:  # then the server closes that client (a reset: its request was not read)
                self.assertEqual(b"", f.readline())
            except ConnectionResetError:
                pass
            s.close()
            self.assertEqual(0, self.ctl("show", "info")[0])
            self.assertIsNone(px.proc.poll())

    @unittest.skipUnless(os.geteuid() == 0, "raising the fd limit back needs root")
    def test_no_fd_left_for_a_client_mutes_the_accept_instead_of_spinning(self):
        """The process's fd limit lowered to its lowest free fd: the control thread cannot
        accept, and a poll on the readable socket would spin; it tries again every 100 ms,
        says so once, and serves the waiting client as soon as fds come back."""
        import resource
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            self.assertEqual(0, self.ctl("show", "info")[0])  # started whole: it serves
            pid = px.proc.pid
            # the lowest free fd number as the limit: the next fd the process makes is past it
            held = {int(f) for f in os.listdir(f"/proc/{pid}/fd")}
            lowest_free = min(set(range(len(held) + 1)) - held)
            old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, old[1]))

            def cpu_ticks():
                total = 0
                for t in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{t}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])  # utime, stime
                return total

            c = socket.socket(socket.AF_UNIX)
            c.settimeout(30 * SLOW)
            c.connect(self.sock)  # queued: no fd to accept it into
            c.sendall(b"show info\n")
            wait_for_text(px, "control: cannot accept a client: Too many open files")
            before = cpu_ticks()
            time.sleep(1.0)
            spent = cpu_ticks() - before  # in 1/100 s: a spin would take about 100
            self.assertLess(spent, 30, "the process spun while it could not accept")
            resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
            self.assertTrue(json.loads(c.makefile().readline())["ok"])
            c.close()
            self.assertEqual(1, px.stderr().count("control: cannot accept a client"))
            wait_for_text(px, "control: accepting clients again")

    def test_one_client_too_many_is_told_so_and_the_others_serve_on(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            clients = [self.raw() for _ in range(8)]
            for s, f in clients:  # each is accepted and served
                s.sendall(b"help\n")
                self.assertTrue(json.loads(f.readline())["ok"])
            s9, f9 = self.raw()
            doc = json.loads(f9.readline())
            self.assertEqual("EBUSY", doc["code"])
            self.assertIn("too many clients", doc["error"])
            f9.close()
            s9.close()
            clients[0][1].close()  # the file holds the socket open too
            clients[0][0].close()
            # a freed slot takes the next client (the close is seen within a bound)
            self.assertTrue(wait_until(lambda: self.ctl("show", "info")[0] == 0))
            for s, f in clients[1:]:
                s.sendall(b"show info\n")
                self.assertTrue(json.loads(f.readline())["ok"])
                f.close()
                s.close()

    def test_sluicectl_prints_the_too_many_clients_answer_even_when_its_request_met_a_close(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            clients = [self.raw() for _ in range(8)]
            # the server answers the ninth and closes it without reading: sluicectl's request
            # finds the socket open or closed as the two race, so run it often enough that
            # both orders come up
            for i in range(30):
                for s, f in clients:  # each spoke just now: none yields its place
                    s.sendall(b"help\n")
                    self.assertTrue(json.loads(f.readline())["ok"])
                rc, out, err = self.ctl("show", "info")
                self.assertEqual((1, "", "sluicectl: too many clients; try again\n"),
                                 (rc, out, err), f"run {i}")
            rc, doc, err = self.ctl_json("show", "info")
            self.assertEqual((1, False, "EBUSY"), (rc, doc["ok"], doc["code"]), err)
            for s, f in clients:
                f.close()
                s.close()

    def test_a_client_idle_while_another_waits_yields_its_place(self):
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            px = self.start(port)
            clients = [self.raw() for _ in range(8)]
            for s, f in clients:
                s.sendall(b"help\n")
                self.assertTrue(json.loads(f.readline())["ok"])
            time.sleep(2)
            clients[0][0].sendall(b"help\n")  # the first is busy again, the others not
            self.assertTrue(json.loads(clients[0][1].readline())["ok"])
            time.sleep(3.5)  # past 5 s of silence for the seven, not for the first
            rc, out, err = self.ctl("show", "info")
            self.assertEqual(0, rc, err)
            # the silent one of longest standing (the second: the first spoke since) was told
            # and closed; the others stay
            doc = json.loads(clients[1][1].readline())
            self.assertEqual("ETIMEDOUT", doc["code"])
            self.assertIn("idle while another client waited", doc["error"])
            self.assertEqual(b"", clients[1][0].recv(1))
            for s, _ in clients[2:]:
                self.assertEqual(([], [], []), select.select([s], [], [], 0), "still open, silent")
            clients[0][0].sendall(b"show info\n")
            self.assertTrue(json.loads(clients[0][1].readline())["ok"])
            self.assertIn("idle while pid", px.stderr())
            for s, f in clients:
                f.close()
                s.close()

    def test_bytes_that_complete_no_request_do_not_keep_a_client_busy(self):
        """Eight clients hold every place; the first trickles a byte a second and never ends a
        line. When a ninth comes after 5 s, the trickler is the one silent longest (it
        completed no request) and yields its place."""
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            clients = [self.raw() for _ in range(8)]
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5.5:
                clients[0][0].sendall(b"s")  # "show info", a byte at a time, never ended
                time.sleep(1.0)
            rc, out, err = self.ctl("show", "info")
            self.assertEqual(0, rc, err)
            doc = json.loads(clients[0][1].readline())
            self.assertEqual("ETIMEDOUT", doc["code"])
            for s, _ in clients[1:]:
                self.assertEqual(([], [], []), select.select([s], [], [], 0), "still open, silent")
            for s, f in clients:
                f.close()
                s.close()

    def test_a_client_that_does_not_read_its_answers_holds_up_no_other(self):
        """A client that sends many requests and reads no answer fills its socket: its next
        answer waits while the other clients are served, and it still gets every answer, in
        order, once it reads."""
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            slow, slow_f = self.raw()
            n = 4000  # "show info" answers: far more bytes than a unix socket holds
            slow.sendall(b"show info\n" * n)
            last = -1
            for _ in range(100):  # until the answers stop arriving: the socket is full
                time.sleep(0.1 * SLOW)
                queued = struct.unpack("i", fcntl.ioctl(slow.fileno(), termios.FIONREAD,
                                                        b"\0\0\0\0"))[0]
                if queued == last:
                    break
                last = queued
            self.assertLess(last, 400 * n, "every answer fit: nothing was held up")
            rc, doc, err = self.ctl_json("show", "info")
            self.assertEqual((0, True), (rc, doc["ok"]), err)
            lines = []
            for _ in range(n):
                line = slow_f.readline()
                self.assertTrue(line.endswith(b"\n"), f"answer {len(lines)} of {n} missing")
                lines.append(json.loads(line))
            self.assertTrue(all(d["ok"] for d in lines))
            slow_f.close()
            slow.close()

    # ---- sluicectl itself ----

    def test_sluicectl_exit_status_says_what_went_wrong(self):
        rc, _, err = self.ctl("show", "info", sock=os.path.join(self.dir, "none.sock"))
        self.assertEqual(3, rc)
        self.assertIn("cannot reach the control socket", err)
        # a path that is no socket is named for what it is, not "Connection refused"
        rc, _, err = self.ctl("show", "info", sock=self.dir)
        self.assertEqual(3, rc)
        self.assertIn("it is a directory, not a socket", err)
        rc, _, err = self.ctl("show", "info", sock="")
        self.assertEqual((2, "sluicectl: -s needs the control socket's path, got an empty "
                             "string\n"), (rc, err))
        p = subprocess.run([SLUICECTL], capture_output=True, text=True)
        self.assertEqual(2, p.returncode)
        self.assertIn("no command given", p.stderr)
        p = subprocess.run([SLUICECTL, "--bogus", "x"], capture_output=True, text=True)
        self.assertEqual(2, p.returncode)
        with Server(echo_handler) as b:
            port = free_port()
            self.write(port, [("b1", b.addr)])
            self.start(port)
            rc, out, err = self.ctl("frobnicate")
            self.assertEqual((2, ""), (rc, out))
            self.assertEqual('sluicectl: unknown command "frobnicate" (try "help")\n', err)
            rc, out, _ = self.ctl("help")
            self.assertEqual(0, rc)
            self.assertIn("set weight GROUP/NAME WEIGHT", out.splitlines())
            rc, out, _ = self.ctl("--json", "show", "info")
            self.assertEqual(0, rc)
            self.assertTrue(json.loads(out)["ok"])
            # the words are the server's, however the shell grouped them: one quoted
            # argument prints as the two would
            self.assertEqual(self.ctl("show", "backends"), self.ctl("show backends"))
            self.assertEqual(self.ctl("show", "backends"), self.ctl("show", "backends "))
            rc, out, err = self.ctl("show")
            self.assertEqual((2, "", 'sluicectl: "show" needs one more word: info, stats, '
                                     'backends, sessions, bans (try "help")\n'), (rc, out, err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
