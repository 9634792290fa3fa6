# SPDX-License-Identifier: MIT
"""Profiling: with `profiling: {perf: true, tcp_events: true}` /metrics has each worker's perf
counters (task-clock > 0 for every worker after bounded traffic) and per-backend TCP resets
from the kernel's tracepoints: a backend that closes with SO_LINGER 0 shows in
sluice_backend_tcp_resets_received_total. What this machine offers decides what the test
expects, read from the environment, not guessed: perf events need the kernel's perf support
(/proc/sys/kernel/perf_event_paranoid), tracefs needs root and the filesystem. An event that is
unavailable must be named on the "unavailable" log line with its errno, and absent from
/metrics (not 0)."""
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import unittest
import urllib.request

from harness import (SLOW, SLUICE, SLUICECTL, connect, echo_handler, echoed, free_port,
                     scrape_metrics, Server, Sluice, wait_for, wait_for_text, write_config)
from netns import NetNs, why_no_netns

PERF_NAMES = {"task-clock": "worker_cpu_seconds", "context-switches": "worker_context_switches",
              "page-faults": "worker_page_faults", "cpu-migrations": "worker_cpu_migrations",
              "cycles": "worker_cycles", "instructions": "worker_instructions"}


def has_perf():
    return os.path.exists("/proc/sys/kernel/perf_event_paranoid")


def has_tracefs():
    with open("/proc/filesystems") as f:
        known = "tracefs" in f.read()
    return known and os.geteuid() == 0 and os.path.isdir("/sys/kernel/tracing")


def pid_ns():
    """This pid namespace's inode, which names sluice's trace instances with its pid."""
    return os.stat("/proc/self/ns/pid").st_ino


def reset_handler(conn):
    """Reads one request, then closes with SO_LINGER 0: the kernel sends a reset."""
    conn.recv(100)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Profiling(unittest.TestCase):
    def test_worker_counters_and_backend_resets_or_the_reason_they_are_unavailable(self):
        workers = 2
        with Server(echo_handler) as echo, Server(reset_handler) as rst:
            port, rport, admin = free_port(), free_port(), free_port()
            cfg = write_config(f"""
workers: {workers}
admin: {{ address: 127.0.0.1:{admin} }}
profiling: {{ perf: true, tcp_events: true }}
listeners:
  - {{ address: 127.0.0.1:{port}, group: e }}
  - {{ address: 127.0.0.1:{rport}, group: r }}
groups:
  - name: e
    backends: [{{ name: echo, address: {echo.addr} }}]
  - name: r
    retries: 0
    passive: {{ failures: 0 }}
    backends: [{{ name: rst, address: {rst.addr} }}]
""")
            with Sluice(["-c", cfg], port=port) as px:
                for i in range(50):  # bounded traffic on both workers (SO_REUSEPORT spreads it)
                    s = connect(port)
                    self.assertTrue(echoed(s, b"x%d" % i))
                    s.close()
                for _ in range(5):
                    s = connect(rport)
                    s.sendall(b"hello")
                    s.settimeout(10 * SLOW)
                    try:
                        s.recv(10)
                    except OSError:
                        pass
                    s.close()
                if has_tracefs():
                    wait_for(lambda: scrape_metrics(admin).get(
                        'sluice_backend_tcp_resets_received_total{group="r",backend="rst"}', 0) >= 1,
                        "a reset from backend rst", detail=px.stderr)
                m = scrape_metrics(admin)
                self.assertEqual(0, px.stop(), px.stderr())
            err = px.stderr()

        # perf: every event is either counted on every worker or named unavailable, never both
        unavailable = re.search(r"profiling: perf events unavailable: (.*)", err)
        missing = dict(re.findall(r"([a-z-]+) \((E[A-Z0-9]+): [^)]*\)", unavailable.group(1))) \
            if unavailable else {}
        if has_perf():
            self.assertNotIn("task-clock", missing, err)
        for event, metric in PERF_NAMES.items():
            series = [f'sluice_{metric}_total{{worker="{w}"}}' for w in range(workers)]
            with self.subTest(event=event):
                if event in missing:
                    self.assertTrue(all(s not in m for s in series), m)
                else:
                    self.assertIn(f"profiling: perf events on {workers} workers", err)
                    self.assertTrue(all(s in m for s in series), (series, err))
        if "task-clock" not in missing:
            for w in range(workers):
                self.assertGreater(m[f'sluice_worker_cpu_seconds_total{{worker="{w}"}}'], 0)

        # tcp events: counted per backend, or one line saying why not and no series at all
        tcp = [k for k in m if k.startswith("sluice_backend_tcp_")]
        if has_tracefs():
            self.assertIn("profiling: tcp events from /sys/kernel/tracing/instances/sluice-", err)
            self.assertGreaterEqual(
                m['sluice_backend_tcp_resets_received_total{group="r",backend="rst"}'], 1)
            self.assertEqual(0, m['sluice_backend_tcp_resets_received_total{group="e",backend="echo"}'])
            # the trace instance is ours and goes at exit
            self.assertFalse([d for d in os.listdir("/sys/kernel/tracing/instances")
                              if d == f"sluice-{pid_ns()}-{px.proc.pid}"])
        else:
            self.assertRegex(err, r"profiling: tcp events unavailable: .*: E[A-Z]+: ")
            self.assertEqual([], tcp)


class TraceInstances(unittest.TestCase):
    def test_an_instance_a_killed_process_left_is_removed_by_the_next_start(self):
        """SIGKILL leaves the trace instance behind, its events enabled; the next start in the
        same pid namespace removes it, and leaves a live process's alone."""
        if not has_tracefs():
            self.skipTest("tcp events need root and tracefs")
        inst = "/sys/kernel/tracing/instances"

        def start():
            port = free_port()
            cfg = write_config(f"""
profiling: {{ tcp_events: true }}
listeners:
  - {{ address: 127.0.0.1:{port}, group: g }}
groups:
  - name: g
    backends: [{{ address: 127.0.0.1:9 }}]
""")
            px = Sluice(["-c", cfg], port=port)
            px.__enter__()
            self.addCleanup(px.stop)
            wait_for_text(px, "profiling: tcp events from")
            return px
        live = start()
        killed = start()
        name = f"sluice-{pid_ns()}-{killed.proc.pid}"
        self.assertIn(name, os.listdir(inst))
        killed.proc.kill()
        killed.proc.wait()
        self.assertIn(name, os.listdir(inst))  # left behind
        nxt = start()
        # (others, if an earlier process was killed too)
        self.assertRegex(nxt.stderr(), r"profiling: removed \d+ trace instances? left by sluice "
                                       r"processes that are gone")
        self.assertNotIn(name, os.listdir(inst))
        self.assertIn(f"sluice-{pid_ns()}-{live.proc.pid}", os.listdir(inst))
        for px in (live, nxt):
            self.assertEqual(0, px.stop(), px.stderr())


class ProfilingIPv6(unittest.TestCase):
    def test_resets_from_ipv6_backends_the_kernel_writes_otherwise_are_counted(self):
        """Backends at IPv6 addresses the kernel's trace lines and sluice write differently
        (::2:3, which glibc writes ::0.2.0.3; a dotted ISATAP tail, which glibc writes in
        hex), in a namespace of the test's: each backend's reset is counted against it. The
        two texts were compared, and these resets went uncounted."""
        if not has_tracefs():
            self.skipTest("tcp events need root and tracefs")
        why = why_no_netns()
        if why:
            self.skipTest(why)
        addrs = {"plain": "fd00:e::2", "compat": "::2:3", "isatap": "fd00:e::5efe:a00:1"}
        with NetNs("slp") as ns:
            for a in addrs.values():
                ns.ip("addr", "add", f"{a}/128", "dev", "lo", "nodad")
            servers = {k: ns.call(Server, reset_handler, a) for k, a in addrs.items()}
            for srv in servers.values():
                srv.__enter__()
                self.addCleanup(srv.close)
            port, admin = free_port(), free_port()
            groups = "".join(f"""
  - name: {k}
    retries: 0
    passive: {{ failures: 0 }}
    backends: [{{ name: b, address: "{srv.addr}" }}]""" for k, srv in servers.items())
            listeners = "".join(f"""
  - {{ address: "[::1]:{port + i}", group: {k} }}""" for i, k in enumerate(servers))
            cfg = write_config(f"""
workers: 1
admin: {{ address: "[::1]:{admin}" }}
profiling: {{ tcp_events: true }}
listeners:{listeners}
groups:{groups}
""")
            px = Sluice([])
            px.args = ns.exec_args([px.args[0], "-c", cfg])
            with px:
                for i in range(len(servers)):
                    ns.wait_listening(port + i, px.proc)
                wait_for_text(px, "profiling: tcp events from")
                wait_for_text(px, "admin endpoint on")

                def one(p):
                    s = socket.create_connection(("::1", p), timeout=10 * SLOW)
                    s.sendall(b"hello")
                    try:
                        s.recv(10)
                    except OSError:
                        pass
                    s.close()

                def resets():
                    with urllib.request.urlopen(f"http://[::1]:{admin}/metrics",
                                                timeout=10 * SLOW) as r:
                        text = r.read().decode()
                    return {k: int(m.group(1)) if m else 0 for k in servers for m in [re.search(
                        r'^sluice_backend_tcp_resets_received_total\{group="%s",backend="b"\} '
                        r'(\d+)$' % k, text, re.M)]}

                def each_counted():
                    """A reset from each backend not counted yet (bounded by the wait's
                    polls: a slow build's reader may start reading after the first ones)."""
                    seen = ns.call(resets)
                    for i, k in enumerate(servers):
                        if seen[k] == 0:
                            ns.call(one, port + i)
                    return all(v >= 1 for v in seen.values())
                wait_for(each_counted, "a reset counted for each backend",
                         detail=lambda: ns.call(resets))
                self.assertEqual(0, px.stop(), px.stderr())


class ProfileCommand(unittest.TestCase):
    def test_sluicectl_profile_reports_what_each_worker_counted_over_the_seconds(self):
        workers = 2
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        ctl = os.path.join(tmp.name, "ctl.sock")
        with Server(echo_handler) as echo:
            port = free_port()
            cfg = write_config(f"""
workers: {workers}
profiling: {{ perf: true }}
control: {{ path: {ctl} }}
listeners:
  - {{ address: 127.0.0.1:{port}, group: e }}
groups:
  - name: e
    backends: [{{ address: {echo.addr} }}]
""")
            with Sluice(["-c", cfg], port=port) as px:
                stop = threading.Event()

                def traffic():  # new connections while the profile runs (bounded)
                    for i in range(5000):
                        if stop.is_set():
                            return
                        with connect(port) as s:
                            echoed(s, b"p%d" % i)

                t = threading.Thread(target=traffic, daemon=True)
                t.start()
                r = subprocess.run([SLUICECTL, "--json", "-s", ctl, "profile", "1"],
                                   capture_output=True, text=True, timeout=30 * SLOW)
                stop.set()
                t.join(30 * SLOW)
                doc = json.loads(r.stdout)
                if not has_perf():
                    self.assertEqual((1, "ENOENT"), (r.returncode, doc["code"]), r.stderr)
                    return
                self.assertEqual(0, r.returncode, r.stderr + px.stderr())
                rows = doc["result"]["workers"]
                self.assertEqual(list(range(workers)), [w["worker"] for w in rows])
                self.assertEqual(1, doc["result"]["seconds"])
                # the workers did the traffic's work within the second: CPU time and switches
                self.assertGreater(sum(w["cpu_seconds"] for w in rows), 0, rows)
                self.assertGreater(sum(w["context_switches"] for w in rows), 0, rows)
                bad = subprocess.run([SLUICECTL, "-s", ctl, "profile", "61"],
                                     capture_output=True, text=True, timeout=30 * SLOW)
                self.assertEqual(2, bad.returncode)
                self.assertIn("seconds must be an integer from 1 to 60", bad.stderr)


class ProfilingAsUser(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "user: needs root")
    def test_tcp_events_with_user_are_named_unavailable_by_check_and_start(self):
        """The trace instance is root's, and sluice runs as the user before it starts
        tracing: --check warns, the start says why in one line (not an EACCES from tracefs)."""
        with Server(echo_handler) as echo:
            port = free_port()
            cfg = write_config(f"""
user: nobody
profiling: {{ tcp_events: true }}
listeners:
  - {{ address: 127.0.0.1:{port}, group: e }}
groups:
  - name: e
    backends: [{{ name: echo, address: {echo.addr} }}]
""")
            os.chmod(cfg, 0o644)
            r = subprocess.run([SLUICE, "--check", "-c", cfg], capture_output=True, text=True,
                               timeout=30 * SLOW)
            self.assertEqual(0, r.returncode, r.stderr)
            self.assertIn("warning: profiling.tcp_events: the trace instance needs root, and "
                          "sluice runs as user nobody before it starts tracing", r.stderr)
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "profiling: tcp events unavailable: the trace instance needs "
                                  "root, and this process runs as user nobody")
                s = connect(port)
                self.assertTrue(echoed(s, b"x"))
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())
            self.assertNotIn("EACCES", px.stderr())
            os.unlink(cfg)

if __name__ == "__main__":
    unittest.main(verbosity=2)
