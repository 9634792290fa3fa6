# SPDX-License-Identifier: MIT
"""Listener steering: with steering: cpu and two workers pinned one per CPU, a connection is
accepted by the worker of the CPU that received its SYN (on loopback, the connecting thread's
CPU), seen through the control socket's session list; a listener a reload re-opens on its
sockets steers by CPU again; steering: hash spreads one CPU's connections over both workers;
without the privilege to load the program, or with more workers than CPUs, sluice says so in
one line and steers by hash; and at a listener's max_connections a client queued on the
paused worker of its CPU is served once a session on the other worker closes (no stall)."""
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import SLOW, SLUICECTL, Server, Sluice, connect, echo_handler, echoed, free_port, wait_for_text

CPUS = sorted(os.sched_getaffinity(0))[:2]
# connections from one CPU: under hash all land on one of two workers with odds 2 * 2^-24
SPREAD_N = 24


def wait_until(pred, timeout=10.0):
    """Polls <pred> (bounded) until it is true; returns its last value."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        select.select([], [], [], 0.02)


@contextlib.contextmanager
def on_cpu(cpu):
    """Runs the block on this thread pinned to <cpu>: its SYNs are received on <cpu>."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@unittest.skipIf(len(CPUS) < 2, "needs two CPUs to run on")
@unittest.skipIf(os.geteuid() != 0, "loading the steering program needs root")
class Steering(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="steering-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.backend = Server(echo_handler).__enter__()
        self.addCleanup(self.backend.close)

    def start(self, steering, workers=2, extra="", prefix=(), top=""):
        """sluice on the two CPUs (worker i pinned to CPUS[i] under cpu steering)."""
        port = free_port()
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(f"workers: {workers}\ncontrol: {{ path: {self.sock} }}\n{top}"
                    f"listeners:\n  - name: front\n    address: 127.0.0.1:{port}\n    group: g\n"
                    f"    steering: {steering}\n{extra}"
                    f"groups:\n  - name: g\n    backends:\n      - address: {self.backend.addr}\n")
        px = Sluice(["-c", path], port=port)
        px.args = ["taskset", "-c", ",".join(map(str, CPUS))] + list(prefix) + px.args
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, "control socket on")
        return px, port

    def sessions(self):
        """{client "ip:port": worker index} of the open sessions."""
        p = subprocess.run([SLUICECTL, "-s", self.sock, "--json", "show", "sessions"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(0, p.returncode, p.stderr)
        return {x["client"]: x["worker"] for x in json.loads(p.stdout)["result"]["sessions"]}

    def workers_of(self, port, cpu, n):
        """Opens <n> connections from <cpu>, each echoing once; the workers that serve them."""
        held = []
        with on_cpu(cpu):
            for _ in range(n):
                s = connect(port)
                self.addCleanup(s.close)
                held.append(s)
        for s in held:
            self.assertTrue(echoed(s))
        clients = ["%s:%d" % s.getsockname() for s in held]
        seen = {}
        self.assertTrue(wait_until(lambda: all(c in seen for c in clients) or
                                   seen.update(self.sessions())), seen)
        for s in held:
            s.close()
        return [seen[c] for c in clients]

    def test_cpu_steering_keeps_each_connection_on_the_worker_of_its_cpu(self):
        px, port = self.start("cpu")
        self.assertIn("listener front: steering by CPU: 2 workers, one per CPU", px.stderr())
        self.assertEqual([0] * 8, self.workers_of(port, CPUS[0], 8))
        self.assertEqual([1] * 8, self.workers_of(port, CPUS[1], 8))

    def test_a_listener_a_reload_re_opens_on_its_sockets_steers_by_cpu_again(self):
        """A backlog change re-opens the listener on the same sockets, which are still in the
        previous program's map (the kernel puts a socket in one such map only): the new
        program replaces it and steers."""
        px, port = self.start("cpu", extra="    backlog: 100\n")
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("backlog: 100", "backlog: 200"))
        px.proc.send_signal(signal.SIGHUP)
        wait_for_text(px, "reloaded")
        self.assertIn("listener front: takes over the sockets", px.stderr())
        self.assertEqual(2, px.stderr().count("listener front: steering by CPU: 2 workers"),
                         px.stderr())
        self.assertEqual([0] * 8, self.workers_of(port, CPUS[0], 8))
        self.assertEqual([1] * 8, self.workers_of(port, CPUS[1], 8))

    def test_a_re_open_after_the_privilege_drop_keeps_the_sockets_steering_program(self):
        """Run as another user, sluice keeps no CAP_BPF: a reload that re-opens the listener
        on its sockets cannot load a new program, and keeps the one they carry (its map holds
        the same sockets) rather than steering by hash."""
        os.chmod(self.dir, 0o755)  # the reload reads the file as that user
        px, port = self.start("cpu", extra="    backlog: 100\n", top="user: nobody\n")
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("backlog: 100", "backlog: 200"))
        os.chmod(path, 0o644)
        px.proc.send_signal(signal.SIGHUP)
        wait_for_text(px, "reloaded")
        self.assertIn("listener front: steering: cpu: the kernel refused to load the steering "
                      "program: Operation not permitted (it needs CAP_BPF or root): the sockets "
                      "keep the steering program they had", px.stderr())
        self.assertEqual([0] * 8, self.workers_of(port, CPUS[0], 8))
        self.assertEqual([1] * 8, self.workers_of(port, CPUS[1], 8))

    def test_hash_steering_spreads_one_cpus_connections_over_both_workers(self):
        px, port = self.start("hash")
        self.assertNotIn("listener front: steering", px.stderr())
        self.assertEqual({0, 1}, set(self.workers_of(port, CPUS[0], SPREAD_N)))
        self.assertEqual({0, 1}, set(self.workers_of(port, CPUS[1], SPREAD_N)))

    def test_cpu_steering_without_the_privilege_to_load_the_program_steers_by_hash(self):
        drop = ["setpriv", "--bounding-set=-bpf,-sys_admin", "--inh-caps=-bpf,-sys_admin", "--"]
        px, port = self.start("cpu", prefix=drop)
        self.assertIn("warn listener front: steering: cpu: the kernel refused to load the steering "
                      "program: Operation not permitted (it needs CAP_BPF or root): steering by hash",
                      px.stderr())
        self.assertEqual({0, 1}, set(self.workers_of(port, CPUS[0], SPREAD_N)))

    def test_cpu_steering_with_more_workers_than_cpus_steers_by_hash(self):
        px, port = self.start("cpu", workers=3)
        self.assertIn("warn listener front: steering: cpu needs one worker per CPU (3 workers, 2 "
                      "CPUs to run on): steering by hash", px.stderr())
        self.assertEqual(3, len(set(self.workers_of(port, CPUS[0], 48))))

    def test_cpu_steering_at_max_connections_serves_the_paused_workers_client_when_a_slot_frees(self):
        px, port = self.start("cpu", extra="    max_connections: 1\n")
        with on_cpu(CPUS[1]):
            first = connect(port)
        self.addCleanup(first.close)
        self.assertTrue(echoed(first))
        with on_cpu(CPUS[0]):
            queued = connect(port)  # in worker 0's backlog, worker 0 paused at the cap
        self.addCleanup(queued.close)
        queued.sendall(b"ping")
        self.assertEqual(["127.0.0.1:%d" % first.getsockname()[1]], list(self.sessions()))
        first.close()  # the slot frees on worker 1; worker 0's client is taken within its retry
        self.assertEqual(b"ping", queued.recv(4))
        self.assertEqual({"127.0.0.1:%d" % queued.getsockname()[1]: 0}, self.sessions())



if __name__ == "__main__":
    unittest.main(verbosity=2)
