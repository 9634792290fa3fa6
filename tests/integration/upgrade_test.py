# SPDX-License-Identifier: MIT
"""Binary upgrade: a new sluice started with --upgrade takes the running one's listening
sockets (and its admin endpoint's) over upgrade_socket, then its forwarding sessions, and the old
one drains what stayed. Under continuous new connections and long-lived checksummed streams,
three upgrades in a row fail no connection, every stream moves to each new process with no byte
lost or duplicated, and each old process exits. A session that cannot empty its buffers in time
stays and drains. A refused, broken or aborted takeover leaves the running process serving."""
import array
import contextlib
import json
import os
import stat
import pwd
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import (SLOW, SLUICECTL, EchoStream, Server, Sluice, connect, echo_handler,
                     finish_streams, free_port, recv_exact, stable_port, wait_for_text)


class NewConnections(threading.Thread):
    """A new connection every few ms, each echoing one unique line; counts what failed."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.ok = 0
        self.failed = []

    def run(self):
        n = 0
        while not self.stop.is_set() and n < 20000:
            n += 1
            payload = f"conn {n}\n".encode()
            try:
                with connect(self.port, timeout=10) as s:
                    s.sendall(payload)
                    if recv_exact(s, len(payload), timeout=10) != payload:
                        raise AssertionError("wrong bytes")
                self.ok += 1
            except (OSError, EOFError, AssertionError) as e:
                self.failed.append(f"connection {n}: {e!r}")
            self.stop.wait(0.003)


def Stream(port, seed):
    """A long-lived checksummed session (harness.EchoStream) of chunks up to 32 KiB, 10 ms
    apart."""
    return EchoStream(port, seed, max_chunk=32768, pause=0.01)


@contextlib.contextmanager
def on_cpu(cpu):
    """Runs the block on this thread pinned to <cpu>: its SYNs are received on <cpu> (loopback),
    and steering: cpu sends them to the socket of that CPU's worker."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


CPUS = sorted(os.sched_getaffinity(0))[:2]


def healthz(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10 * SLOW) as r:
        return r.status, r.read()


def receive_to_the_end(c, fds, ends=(b"E", b"X"), kinds=None):
    """Receives what an old process sends a new one on <c> until a message whose first byte is
    in <ends> (by default "E", the end of the sockets, or "X", a refusal) or the end of the
    conversation (b""), adding the descriptors that come to <fds> and, if <kinds> is a list,
    each message's first byte to it; returns the last message."""
    while True:
        a = array.array("i")
        msg, anc, _, _ = c.recvmsg(8192, socket.CMSG_SPACE(64 * a.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a.frombytes(data[:len(data) - len(data) % a.itemsize])
                fds.extend(a)
        if kinds is not None:
            kinds.append(msg[:1])
        if not msg or msg[:1] in ends:
            return msg


class Upgrade(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.sock_path = os.path.join(self.dir.name, "upgrade.sock")
        self.cfg = os.path.join(self.dir.name, "sluice.yaml")
        self.port = stable_port()
        self.admin = stable_port()

    def write(self, backend, workers=2, extra="", more_listeners="", steering=""):
        with open(self.cfg, "w") as f:
            f.write(f"""{extra}
workers: {workers}
drain_timeout: 120s
upgrade_socket: {self.sock_path}
admin: {{ address: 127.0.0.1:{self.admin} }}
listeners:
  - name: web
    address: 127.0.0.1:{self.port}
    group: g
{f"    steering: {steering}{chr(10)}" if steering else ""}{more_listeners}groups:
  - name: g
    backends:
      - address: {backend}
""")

    def start(self, args, cpus=None):
        """Starts sluice (on <cpus>, if given) and waits until it serves upgrades (its last
        start-up step)."""
        px = Sluice(args, port=self.port)
        if cpus is not None:
            px.args = ["taskset", "-c", ",".join(map(str, cpus))] + px.args
        px.__enter__()
        self.addCleanup(px.stop)
        wait_for_text(px, f"upgrade socket on {self.sock_path}")
        return px

    def upgrade(self, old, workers, cpus=None):
        """Starts the next process (on <cpus>, if given) with --upgrade and waits for both sides
        to say so."""
        new = Sluice(["-c", self.cfg, "--upgrade", "-w", str(workers)])
        if cpus is not None:
            new.args = ["taskset", "-c", ",".join(map(str, cpus))] + new.args
        new.__enter__()
        self.addCleanup(new.stop)
        wait_for_text(new, "this process serves", timeout=30)
        wait_for_text(old, "serves now: draining", timeout=30)
        return new

    def test_three_upgrades_fail_no_connection_and_every_stream_survives(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            first = self.start(["-c", self.cfg])
            streams = [Stream(self.port, seed) for seed in range(3)]
            for s in streams:
                s.start()
            load = NewConnections(self.port)
            load.start()
            time.sleep(0.3)  # traffic before the first upgrade

            procs = [first]
            for workers in (3, 1, 2):  # the worker count may change with the binary
                new = self.upgrade(procs[-1], workers)
                procs.append(new)
                self.assertEqual(200, healthz(self.admin)[0])
                # the streams moved: the old process has nothing left to drain
                self.assertEqual(0, procs[-2].proc.wait(60 * SLOW), procs[-2].stderr())
                took = re.search(r"took (\d+) sessions? over", new.stderr())
                self.assertIsNotNone(took, new.stderr())
                self.assertGreaterEqual(int(took.group(1)), len(streams), new.stderr())
                # the new process confirmed what it read: the old one counts them moved
                old_err = procs[-2].stderr()
                self.assertIn(f"upgrade: moved {took.group(1)} sessions to pid {new.proc.pid}",
                              old_err)
                self.assertNotIn("moves_lost", old_err)  # the summary leaves out a 0
                time.sleep(0.3)  # traffic on the new process before the next upgrade

            load.stop.set()
            load.join(60 * SLOW)
            self.assertEqual([], load.failed[:10], f"{len(load.failed)} of {load.ok} failed")
            self.assertGreater(load.ok, 100)
            finish_streams(self, streams)
            last = procs[-1]
            self.assertTrue(os.path.exists(self.sock_path), "the last process lost the socket")
            self.assertEqual(0, last.stop())
            self.assertFalse(os.path.exists(self.sock_path), "the socket file outlived sluice")
            # the streams ended on the last process, and were counted there as moved in; every
            # process's sessions add up: accepted + moved in = closed + moved out + still open
            self.assertRegex(last.stderr(), r"sessions: \d+ accepted, \d+ closed, 0 still open "
                             r"at exit \([1-9]\d* moved in, 0 moved out by upgrades\)")
            for p in procs:
                m = re.search(r"sessions: (\d+) accepted, (\d+) closed, (\d+) still open at exit"
                              r"(?: \((\d+) moved in, (\d+) moved out by upgrades\))?", p.stderr())
                self.assertIsNotNone(m, p.stderr())
                acc, closed, still, moved_in, moved_out = (int(g or 0) for g in m.groups())
                self.assertEqual(acc + moved_in, closed + moved_out + still, m.group(0))

    @unittest.skipIf(os.geteuid() != 0, "dropping to another user needs root")
    def test_processes_that_dropped_privileges_hand_over_to_each_other(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        with Server(echo_handler) as b:
            self.write(b.addr, extra="user: nobody\ngroup: nogroup\n")
            first = self.start(["-c", self.cfg])
            stream = Stream(self.port, 7)
            stream.start()
            time.sleep(0.2)
            new = self.upgrade(first, 2)
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            stream.stop.set()
            stream.join(60 * SLOW)
            self.assertIsNone(stream.error)
            self.assertEqual(stream.sent.digest(), stream.got.digest())
            with open(f"/proc/{new.proc.pid}/status") as f:
                uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
            self.assertEqual([str(nobody)] * 4, uids)
            self.assertEqual(0, new.stop())

    def test_an_upgrade_to_a_file_with_another_listener_applies_it_and_keeps_the_streams(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            first = self.start(["-c", self.cfg])
            stream = Stream(self.port, 11)
            stream.start()
            time.sleep(0.2)
            second_port = stable_port()  # what SIGHUP refuses: a listener added
            self.write(b.addr, more_listeners=f"""  - name: other
    address: 127.0.0.1:{second_port}
    group: g
""")
            new = self.upgrade(first, 2)
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            for port in (self.port, second_port):
                with connect(port) as s:
                    s.sendall(b"z")
                    self.assertEqual(b"z", recv_exact(s, 1))
            stream.stop.set()
            stream.join(60 * SLOW)
            self.assertIsNone(stream.error)
            self.assertEqual(stream.sent.digest(), stream.got.digest())
            self.assertEqual(0, new.stop())

    def test_an_upgrade_that_moves_the_control_socket_leaves_no_file_behind(self):
        # the same path: the new process takes the socket over, and its file stays; another
        # path: the old file would be a socket nothing serves, and goes
        one, two = (os.path.join(self.dir.name, n) for n in ("one.sock", "two.sock"))
        with Server(echo_handler) as b:
            self.write(b.addr, extra=f"control: {{ path: {one} }}")
            first = self.start(["-c", self.cfg])
            second = self.upgrade(first, 2)
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            self.assertTrue(stat.S_ISSOCK(os.stat(one).st_mode))
            self.write(b.addr, extra=f"control: {{ path: {two} }}")
            third = self.upgrade(second, 2)
            self.assertEqual(0, second.proc.wait(60 * SLOW), second.stderr())
            self.assertFalse(os.path.exists(one), second.stderr())
            self.assertIn(f"control socket {one} removed: the new process serves another path",
                          second.stderr())
            self.assertTrue(stat.S_ISSOCK(os.stat(two).st_mode))
            self.assertEqual(0, third.stop())
            self.assertFalse(os.path.exists(two))

    def test_an_upgrade_applies_the_new_files_control_mode_to_the_socket_it_takes_over(self):
        path = os.path.join(self.dir.name, "ctl.sock")
        with Server(echo_handler) as b:
            self.write(b.addr, extra=f"control: {{ path: {path}, mode: 0666 }}")
            first = self.start(["-c", self.cfg])
            self.assertEqual(0o666, stat.S_IMODE(os.stat(path).st_mode))
            # tightened by the upgrade: the file the new process serves on says so
            self.write(b.addr, extra=f"control: {{ path: {path}, mode: 0600 }}")
            second = self.upgrade(first, 2)
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            self.assertEqual(0o600, stat.S_IMODE(os.stat(path).st_mode), second.stderr())
            self.assertIn(f"control socket {path}: mode 0666 -> 0600", second.stderr())
            self.assertEqual(0, second.stop())

    def test_a_session_that_cannot_empty_stays_and_drains_in_the_old_process(self):
        stuck = threading.Event()

        def never_reads(conn):
            stuck.wait(120)  # holds the connection, reads nothing, until the test ends

        self.addCleanup(stuck.set)
        with Server(never_reads) as b:
            self.write(b.addr)
            first = self.start(["-c", self.cfg])
            c = connect(self.port)
            c.setblocking(False)
            # until every buffer on the way is full, sluice's own included: the client's stays
            # unwritable for half a second (bounded by the deadline)
            deadline = time.monotonic() + 30 * SLOW
            while time.monotonic() < deadline:
                if not select.select([], [c], [], 0.5)[1]:
                    break
                with contextlib.suppress(BlockingIOError):
                    c.send(b"x" * 65536)
            new = self.upgrade(first, 2)
            wait_for_text(new, "took 0 sessions over")
            self.assertIsNone(first.proc.poll(), "the old process left its stuck session")
            c.close()
            stuck.set()
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            self.assertEqual(0, new.stop())

    def test_while_sessions_move_only_the_new_process_answers_and_a_stop_keeps_its_socket(self):
        """Once the new process said it serves, the old one stops answering on the control
        socket (and the admin endpoint) even while its sessions still move (a stuck one holds
        the move for its 2 s): a change made then is the new process's. A SIGTERM to the old
        one meanwhile is a stop after a takeover: its exit leaves the new one's socket file."""
        ctl = os.path.join(self.dir.name, "ctl.sock")
        stuck = threading.Event()

        def never_reads(conn):
            stuck.wait(120)  # holds the connection, reads nothing, until the test ends

        self.addCleanup(stuck.set)
        with Server(never_reads) as b:
            self.write(b.addr, extra=f"control: {{ path: {ctl} }}")
            first = self.start(["-c", self.cfg])
            c = connect(self.port)
            c.setblocking(False)
            deadline = time.monotonic() + 30 * SLOW  # every buffer on the way full
            while time.monotonic() < deadline:
                if not select.select([], [c], [], 0.5)[1]:
                    break
                with contextlib.suppress(BlockingIOError):
                    c.send(b"x" * 65536)
            new = Sluice(["-c", self.cfg, "--upgrade", "-w", "2"])
            new.__enter__()
            self.addCleanup(new.stop)
            wait_for_text(new, "upgrade: took 2 listening sockets", timeout=30)
            time.sleep(0.3 * SLOW)  # its "ready", then the move that waits for the stuck one
            first.proc.send_signal(signal.SIGTERM)
            pids = set()
            for _ in range(8):
                r = subprocess.run([SLUICECTL, "-s", ctl, "--json", "show", "info"],
                                   capture_output=True, text=True, timeout=30 * SLOW)
                if r.returncode == 0:
                    pids.add(json.loads(r.stdout)["result"]["pid"])
                time.sleep(0.1)
            self.assertEqual({new.proc.pid}, pids)
            c.close()
            stuck.set()
            # 1 when the signal cut the stuck session (a drain cut short), 0 when it had gone
            self.assertIn(first.proc.wait(60 * SLOW), (0, 1), first.stderr())
            self.assertIn("serves now: draining", first.stderr())
            self.assertTrue(stat.S_ISSOCK(os.stat(ctl).st_mode), first.stderr())
            r = subprocess.run([SLUICECTL, "-s", ctl, "--json", "show", "info"],
                               capture_output=True, text=True, timeout=30 * SLOW)
            self.assertEqual(0, r.returncode, r.stderr)
            self.assertEqual(new.proc.pid, json.loads(r.stdout)["result"]["pid"])
            self.assertEqual(0, new.stop())

    def queued_clients_are_served(self, old_workers, new_workers, steering="", old_cpus=None,
                                  new_cpus=None, spread=False, nwaiting=30):
        """<old_workers> hand over to <new_workers> (each process on its CPUs, if given), so
        the old process closes the listening sockets the new one has no worker for. Clients
        waiting in their queues at that moment (here: the old process sat at its connection cap)
        move to a socket of the new process instead of being reset, and are served. With
        <spread>, they connect from each CPU in turn (steering: cpu queues them on the socket of
        that CPU's worker). Returns the new process."""
        with Server(echo_handler) as b:
            cap = f"max_connections: {old_workers}"
            self.write(b.addr, workers=old_workers, extra=cap, steering=steering)
            first = self.start(["-c", self.cfg], cpus=old_cpus)
            held = [connect(self.port) for _ in range(old_workers)]
            for n, c in enumerate(held):  # the cap is full once each is served
                c.sendall(f"held {n}\n".encode())
                self.assertEqual(f"held {n}\n".encode(), recv_exact(c, len(f"held {n}\n")))
            waiting = []
            for n in range(nwaiting):  # accepted by the kernel, not by sluice
                with on_cpu(CPUS[n % len(CPUS)]) if spread else contextlib.nullcontext():
                    c = connect(self.port)
                c.sendall(f"waiting {n}\n".encode())
                waiting.append(c)
            # room for every client at once: the test reads them one by one, in order
            self.write(b.addr, workers=new_workers, extra="max_connections: 1000",
                       steering=steering)
            new = self.upgrade(first, new_workers, cpus=new_cpus)
            wait_for_text(new, "move to this process's sockets")
            self.assertEqual(0, first.proc.wait(60 * SLOW), first.stderr())
            for n, c in enumerate(waiting + held):
                want = (f"waiting {n}\n" if n < len(waiting) else "again\n").encode()
                if n >= len(waiting):
                    c.sendall(want)
                try:
                    self.assertEqual(want, recv_exact(c, len(want)), f"client {n}")
                finally:
                    c.close()
            return new

    def test_clients_queued_on_sockets_the_new_process_has_no_worker_for_are_served(self):
        """Three workers hand over to one: two of the three sockets close, on two threads at
        once, and their queued clients go to the one that stays open, never to the other
        closing one (which would reset them if it stopped listening just then)."""
        new = self.queued_clients_are_served(3, 1)
        self.assertEqual(0, new.stop())

    @unittest.skipIf(len(CPUS) < 2, "needs two CPUs to run on")
    @unittest.skipIf(os.geteuid() != 0, "loading the steering program needs root")
    def test_queued_clients_are_served_by_a_new_process_that_steers_by_cpu(self):
        """As above with steering: cpu: six workers on two CPUs (so the old process steers by
        hash) hand over to one on the first CPU, which steers by CPU. The five sockets without
        a worker close on both CPUs at once (with 120 clients waiting, their moves overlap), and
        one that closes on the second CPU, which has no worker, sends its clients to the first
        CPU's socket, never to another closing one."""
        new = self.queued_clients_are_served(6, 1, "cpu", old_cpus=CPUS, new_cpus=CPUS[:1],
                                             nwaiting=120)
        self.assertIn("listener web: steering by CPU: 1 workers, one per CPU", new.stderr())
        self.assertEqual(0, new.stop())

    @unittest.skipIf(len(CPUS) < 2, "needs two CPUs to run on")
    @unittest.skipIf(os.geteuid() != 0, "loading the steering program needs root")
    def test_a_new_process_that_steers_by_cpu_takes_the_steering_over(self):
        """Two workers steering by CPU hand over to one on the first CPU: the new process
        replaces the old one's program and map, which held the sockets it takes, with its own
        (the kernel puts a socket in one socket map only), and the clients queued on the
        second CPU's socket move to its socket."""
        new = self.queued_clients_are_served(2, 1, "cpu", old_cpus=CPUS, new_cpus=CPUS[:1],
                                             spread=True)
        self.assertIn("listener web: steering by CPU: 1 workers, one per CPU", new.stderr())
        self.assertEqual(0, new.stop())

    @unittest.skipIf(len(CPUS) < 2, "needs two CPUs to run on")
    @unittest.skipIf(os.geteuid() != 0, "loading the steering program needs root")
    def test_a_new_process_that_steers_by_hash_takes_the_steering_over(self):
        """Two workers steering by CPU hand over to one on both CPUs, which steers by hash (it
        needs one worker per CPU): it removes the old program, and its own moves the clients
        queued on the second CPU's socket to its socket once the old map lets that go."""
        new = self.queued_clients_are_served(2, 1, "cpu", old_cpus=CPUS, new_cpus=CPUS,
                                             spread=True)
        self.assertIn("steering: cpu needs one worker per CPU", new.stderr())
        self.assertEqual(0, new.stop())

    def test_upgrade_with_nothing_to_take_over_fails_with_the_reason(self):
        self.write("127.0.0.1:1")
        with Sluice(["-c", self.cfg, "--upgrade"]) as px:
            self.assertEqual(1, px.proc.wait(30 * SLOW))
            self.assertIn(f"cannot take over: nothing serves {self.sock_path}", px.stderr())

    def test_upgrade_without_an_upgrade_socket_is_refused(self):
        with Sluice(["-l", f"127.0.0.1:{self.port}", "-b", "127.0.0.1:1", "--upgrade"]) as px:
            self.assertEqual(1, px.proc.wait(30 * SLOW))
            self.assertIn("none is configured", px.stderr())

    def test_a_second_plain_start_on_the_same_upgrade_socket_is_refused(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            self.start(["-c", self.cfg])
            other = Sluice(["-l", f"127.0.0.1:{free_port()}", "-b", b.addr, "--admin", "off",
                            "--upgrade-socket", self.sock_path])
            with other:
                self.assertEqual(1, other.proc.wait(30 * SLOW))
            self.assertIn("a running sluice serves it", other.stderr())

    def test_a_stale_socket_file_is_replaced(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.bind(self.sock_path)  # bound, never listening, then gone: stale
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            self.assertEqual(0o600, os.stat(self.sock_path).st_mode & 0o777)
            self.assertEqual(0, px.stop())

    def take_and_vanish(self, request, meanwhile=None, send_fd=None):
        """Plays a new process that sends <request> (with the descriptor <send_fd>, if given),
        receives what comes, calls <meanwhile> (if given) and goes away."""
        fds = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(10 * SLOW)
            c.connect(self.sock_path)
            if send_fd is None:
                c.send(request)
            else:
                c.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       array.array("i", [send_fd]))])
            msg = receive_to_the_end(c, fds)
            if meanwhile is not None:
                meanwhile()
        for fd in fds:
            os.close(fd)
        return msg, len(fds)

    def test_a_stop_before_the_new_process_is_ready_abandons_the_upgrade(self):
        """SIGTERM to the new process while it starts (a slow or hung upgrade given up): it
        never tells the old one it is ready, so the old one serves on, its socket files in
        place; the new one drains what it took and exits 0; a later upgrade goes through.
        The signal is blocked and raised in the child before its exec, so it is pending from
        the start (as one that came during a slow start would be)."""
        with Server(echo_handler) as b:
            self.write(b.addr, extra=f"control: {{ path: {self.dir.name}/ctl.sock }}")
            px = self.start(["-c", self.cfg])
            # systemd's end: an abandoned upgrade never says it is the service (no READY=1
            # and MAINPID, no STOPPING=1), or systemd would follow it and stop the unit
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(os.path.join(self.dir.name, "notify"))
            self.addCleanup(notify.close)
            new = Sluice(["-c", self.cfg, "--upgrade"],
                         env={"NOTIFY_SOCKET": os.path.join(self.dir.name, "notify")})
            new.args = ["python3", "-c", "import os, signal, sys; "
                        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); "
                        "os.kill(os.getpid(), signal.SIGTERM); "
                        "os.execv(sys.argv[1], sys.argv[1:])"] + new.args
            new.__enter__()
            self.addCleanup(new.stop)
            self.assertEqual(0, new.proc.wait(60 * SLOW), new.stderr())
            self.assertIn("a stop signal came before this process was ready: the upgrade is "
                          f"abandoned, pid {px.proc.pid} serves on", new.stderr())
            notify.setblocking(False)
            with self.assertRaises(BlockingIOError, msg="the abandoned upgrade notified"):
                notify.recv(4096)
            wait_for_text(px, "went away before it was ready")
            self.assertTrue(os.path.exists(self.sock_path))
            self.assertTrue(os.path.exists(f"{self.dir.name}/ctl.sock"))
            with connect(self.port) as s:
                s.sendall(b"x")
                self.assertEqual(b"x", recv_exact(s, 1))
            self.assertEqual(200, healthz(self.admin)[0])
            nxt = self.upgrade(px, 2)
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            self.assertEqual(0, nxt.stop())

    def test_a_takeover_that_breaks_off_or_is_garbage_leaves_the_old_process_serving(self):
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            msg, _ = self.take_and_vanish(b"hello?")
            self.assertTrue(msg.startswith(b"X unknown request"), msg)
            r, w = os.pipe()
            self.addCleanup(os.close, r)
            self.addCleanup(os.close, w)
            msg, _ = self.take_and_vanish(b"sluice-upgrade 1 take", send_fd=r)
            self.assertEqual(b"X a request carries no file descriptors", msg)
            wait_for_text(px, "sent file descriptors, which no request carries; refused")
            msg, nfds = self.take_and_vanish(b"sluice-upgrade 1 take")
            self.assertTrue(msg.startswith(b"E "), msg)
            self.assertEqual(2 + 1 + 1, nfds)  # two workers' listeners, admin, upgrade
            wait_for_text(px, "went away before it was ready (it closed the connection); "
                          "serving on")
            # still serving, and still upgradable
            with connect(self.port) as s:
                s.sendall(b"x")
                self.assertEqual(b"x", recv_exact(s, 1))
            new = self.upgrade(px, 2)
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            with connect(self.port) as s:
                s.sendall(b"y")
                self.assertEqual(b"y", recv_exact(s, 1))
            self.assertEqual(0, new.stop())

    def test_a_stop_during_a_takeover_says_it_waits_and_serves_until_the_takeover_ends(self):
        """SIGTERM to the old process while a new one (played here) has taken the sockets and
        not said it is ready: the old one says the stop waits for that takeover, serves on
        meanwhile, and once the new one goes away drains and exits 0."""
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])

            def stop_meanwhile():
                px.proc.send_signal(signal.SIGTERM)
                wait_for_text(px, f"upgrade: the stop waits for pid {os.getpid()}'s takeover "
                                  "to end")
                with connect(self.port) as s:  # still serving
                    s.sendall(b"x")
                    self.assertEqual(b"x", recv_exact(s, 1))
                self.assertIsNone(px.proc.poll())
            msg, _ = self.take_and_vanish(b"sluice-upgrade 1 take", meanwhile=stop_meanwhile)
            self.assertTrue(msg.startswith(b"E "), msg)
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            self.assertIn("went away before it was ready", px.stderr())
            self.assertIn("SIGTERM: draining", px.stderr())

    def forwarding_clients(self, n):
        """<n> clients through the proxy, each with a byte echoed: sessions that forward."""
        clients = [connect(self.port) for _ in range(n)]
        for c in clients:
            self.addCleanup(c.close)
            c.sendall(b"x")
            self.assertEqual(b"x", recv_exact(c, 1))
        return clients

    def play_ready(self, u, fds):
        """Plays a new process on <u> up to its "R": asks with version 3, takes the sockets
        into <fds> and says it is ready."""
        u.settimeout(10 * SLOW)
        u.connect(self.sock_path)
        u.send(b"sluice-upgrade 3 take")
        msg = receive_to_the_end(u, fds)
        self.assertTrue(msg.startswith(b"E "), msg)
        u.send(f"R {os.getpid()}".encode())

    def assert_closed(self, clients):
        """Each of <clients> sees its session end (EOF or a reset)."""
        for c in clients:
            c.settimeout(10 * SLOW)
            try:
                self.assertEqual(b"", c.recv(1))
            except ConnectionResetError:
                pass

    def test_sessions_a_new_process_never_receives_are_closed_and_counted_lost(self):
        """A new process (played here) that takes the sockets, says it is ready and stops
        reading before the sessions come (its socket shut for reading, as one that died):
        the old one cannot send them, closes them, says so, and counts them in moves_lost
        beside moved_out, so the counts still add up across the two processes."""
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            clients = self.forwarding_clients(3)
            fds = []
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as u:
                u.settimeout(10 * SLOW)
                u.connect(self.sock_path)
                u.send(b"sluice-upgrade 1 take")
                msg = receive_to_the_end(u, fds)
                self.assertTrue(msg.startswith(b"E "), msg)  # b"": the old process closed
                u.shutdown(socket.SHUT_RD)  # the sessions that come next find no reader
                u.send(f"R {os.getpid()}".encode())
                wait_for_text(px, "could not hand 3 of 3 sessions")
            for fd in fds:
                os.close(fd)
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            self.assert_closed(clients)  # closed by the old process, not moved
            err = px.stderr()
            self.assertRegex(err, r"process: .*\b3 moves_lost\b")
            self.assertRegex(err, r"sessions: 3 accepted, 0 closed")
            self.assertIn("upgrade: moved 0 sessions to pid", err)

    def test_sessions_a_new_process_does_not_confirm_are_counted_lost(self):
        """A new process (played here) that asks with version 3, takes the sockets, says it is
        ready, receives the sessions and goes away without confirming how many it read ("T"):
        the old one cannot know that any was taken, so it says so and counts every one it sent
        in moves_lost, not as moved; the clients' sockets closed with the new process's."""
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            clients = self.forwarding_clients(3)
            fds, kinds = [], []
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as u:
                self.play_ready(u, fds)
                self.assertEqual(b"B", receive_to_the_end(u, fds, (b"B",), kinds))
                # goes away here with no "T"
            for fd in fds:
                os.close(fd)
            self.assertEqual([b"M"] * 3 + [b"B"], kinds)
            wait_for_text(px, f"upgrade: pid {os.getpid()} did not confirm the 3 sessions sent "
                              "to it (it went away): counted as lost")
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            self.assert_closed(clients)  # their sockets went with the played process's
            err = px.stderr()
            self.assertRegex(err, r"process: .*\b3 moves_lost\b")
            self.assertIn("3 moved out by upgrades", err)
            self.assertIn(f"upgrade: moved 0 sessions to pid {os.getpid()}", err)

    def test_a_new_process_that_confirms_part_leaves_the_rest_counted_lost(self):
        """The played new process reads one session of 150, confirms it ("T 1") and goes
        away with the rest unread or not yet sent: whether the old one was still sending
        (its sends fail, and its read of the count finds the reset the unread messages cause
        first) or already waiting for the count, it counts that one moved and the other 149
        lost, those it sent and those it could not."""
        n = 150
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            self.forwarding_clients(n)
            fds, kinds = [], []
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as u:
                self.play_ready(u, fds)
                receive_to_the_end(u, fds, (b"M",), kinds)
                self.assertEqual([b"M"], kinds)
                u.send(b"T 1")
            for fd in fds:
                os.close(fd)
            self.assertEqual(0, px.proc.wait(60 * SLOW), px.stderr())
            err = px.stderr()
            self.assertNotIn("did not confirm", err)
            self.assertRegex(err, rf"process: .*\b{n - 1} moves_lost\b")
            self.assertIn(f"upgrade: moved 1 session to pid {os.getpid()}", err)

    def test_no_reload_changes_a_listener_while_its_sockets_are_being_handed_over(self):
        """The sockets go to the new process as fds by number: from its request until it says
        it is ready or goes away, a reload is refused, saying why, so no fd sent is closed or
        becomes another socket meanwhile; once the takeover failed, reloads apply again."""
        with Server(echo_handler) as b:
            self.write(b.addr)
            px = self.start(["-c", self.cfg])
            two = (f"  - name: two\n    address: 127.0.0.1:{free_port()}\n"
                   "    group: g\n")

            def reload_refused():
                self.write(b.addr, more_listeners=two)
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "not reloaded: the listening sockets are being handed to a "
                              "new process (binary upgrade)")

            msg, _ = self.take_and_vanish(b"sluice-upgrade 1 take", reload_refused)
            self.assertTrue(msg.startswith(b"E "), msg)
            wait_for_text(px, "went away before it was ready")
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, f"SIGHUP: {self.cfg} reloaded (listeners were added or removed)")
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    unittest.main()
