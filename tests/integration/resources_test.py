# SPDX-License-Identifier: MIT
"""Running out is normal: the process-wide and per-listener session caps hold across workers
(clients over them wait in the backlog and are served once a session closes, each wait one
accept pause however long it lasts), the fd limit decides the default cap and refuses what it
cannot hold, a process that runs out of fds anyway (its limit lowered under it) says so once
and serves the waiting clients once fds are free, and a second process on the same port is
refused instead of silently taking half the traffic."""
import os
import re
import resource
import select
import subprocess
import time
import unittest

from harness import (SLOW, SLUICE, Server, Sluice, black_hole, closed_by_peer, connect, echo_handler,
                     free_port, recv_exact, scrape_metrics, wait_for, wait_for_text, write_config)


def capped_config(port, backend, top_cap=0, listener_cap=0, workers=2, admin=None,
                  forward="auto"):
    admin_key = f"admin: {{ address: 127.0.0.1:{admin} }}" if admin else ""
    return write_config(f"""
workers: {workers}
max_connections: {top_cap}
{admin_key}
listeners:
  - address: 127.0.0.1:{port}
    group: g
    forward: {forward}
    max_connections: {listener_cap}
groups:
  - name: g
    backends:
      - address: {backend}
""")


def echoes(sock, payload=b"ping", wait=10.0):
    """True if <payload> comes back within <wait> s (the session reached the backend)."""
    sock.sendall(payload)
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return False
    return recv_exact(sock, len(payload)) == payload


def with_nofile(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


class Caps(unittest.TestCase):
    def assert_third_client_waits_for_a_slot(self, top_cap, listener_cap):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = capped_config(port, b.addr, top_cap=top_cap, listener_cap=listener_cap)
            with Sluice(["-c", cfg], port=port) as px:
                first = [connect(port) for _ in range(2)]
                for s in first:
                    self.assertTrue(echoes(s))
                third = connect(port)  # the kernel completes it; sluice leaves it queued
                self.assertFalse(echoes(third, wait=0.5 * SLOW),
                                 "a client over the cap was served")
                first[0].close()
                r, _, _ = select.select([third], [], [], 10 * SLOW)
                self.assertTrue(r and recv_exact(third, 4) == b"ping",
                                "the queued client was not served once a slot was free")
                for s in first[1:] + [third]:
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertRegex(px.stderr(), r"sessions: 3 accepted")
                # the pause names the cap that held the client
                self.assertIn("at its max_connections (2)" if listener_cap
                              else "at max_connections (2 sessions in the process)",
                              px.stderr())
            os.unlink(cfg)

    def test_process_cap_queues_clients_over_it_across_workers(self):
        self.assert_third_client_waits_for_a_slot(top_cap=2, listener_cap=0)

    def test_listener_cap_queues_clients_over_it_across_workers(self):
        self.assert_third_client_waits_for_a_slot(top_cap=0, listener_cap=2)

    def test_a_pause_at_the_cap_counts_once_however_long_clients_wait(self):
        """One worker, max_connections 4, four sessions held: the two clients that come next
        wait, one pause while the worker looks for a slot every 10 ms; a session that closes
        lets one in, and the other waits on: a second pause. The first is logged."""
        with Server(echo_handler) as b:
            port, admin = free_port(), free_port()
            cfg = capped_config(port, b.addr, top_cap=4, workers=1, admin=admin)
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                held = [connect(port) for _ in range(4)]
                for s in held:
                    self.assertTrue(echoes(s))
                waiting = [connect(port) for _ in range(2)]
                for s in waiting:
                    self.assertFalse(echoes(s, wait=0.5 * SLOW), "a client over the cap was served")
                self.assertEqual(1, scrape_metrics(admin)["sluice_accept_pauses_total"])
                held.pop().close()
                r, _, _ = select.select(waiting, [], [], 10 * SLOW)
                self.assertEqual(1, len(r), "not one waiting client was served")
                served, still = r[0], [s for s in waiting if s is not r[0]][0]
                self.assertEqual(b"ping", recv_exact(served, 4))
                r, _, _ = select.select([still], [], [], 0.5 * SLOW)
                self.assertEqual([], r, "a client over the cap was served")
                self.assertEqual(2, scrape_metrics(admin)["sluice_accept_pauses_total"])
                held.pop().close()
                r, _, _ = select.select([still], [], [], 10 * SLOW)
                self.assertTrue(r and recv_exact(still, 4) == b"ping",
                                "the last waiting client was not served")
                for s in held + waiting:
                    s.close()
                self.assertEqual(0, px.stop())
                # said, once for the two pauses (at most once a minute), naming the cap
                self.assertEqual(1, px.stderr().count("at max_connections (4 sessions in the "
                                                      "process): new clients wait in the backlog"),
                                 px.stderr())


def one_worker_config(port, backends, listener_extra, group_extra=""):
    """A file with one worker, a listener on <port> with <listener_extra> (YAML lines for the
    listener) and group g of <backends> with <group_extra>."""
    lines = "".join(f"      - address: {a}\n" for a in backends)
    return write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
{listener_extra}groups:
  - name: g
{group_extra}    backends:
{lines}""")


def lower_nofile(pid, free):
    """Lowers the RLIMIT_NOFILE of the running process <pid> so that <free> fds are left below
    it (the next accept4() gets the lowest free fd); returns the limit."""
    was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    for _ in range(50):  # until no fd below the limit was freed meanwhile
        held = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        free_fds = [n for n in range(len(held) + free + 1) if n not in held]
        limit = free_fds[free]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, was[1]))
        now = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        if len(set(range(limit)) - now) == free:
            return limit
    raise AssertionError(f"the fds of {pid} kept changing")


class FdLimit(unittest.TestCase):
    def default_cap(self, forward, more=(), config=None):
        """(cap, fds per session, fds held idle) from the start-up line of a one-worker sluice
        with --forward <forward> (and the flags <more>), or of one started with the
        configuration text <config> (PORT and BACKEND filled in), under a limit of 256
        fds; asserts the cap follows from them."""
        with Server(echo_handler) as b:
            port = free_port()
            if config is not None:
                path = write_config(config.replace("PORT", str(port)).replace("BACKEND", b.addr))
                self.addCleanup(os.unlink, path)
                args = ["-c", path]
            else:
                args = ["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "1", "--forward", forward,
                        *more]
            px = subprocess.Popen([SLUICE, *args],
                                  stderr=subprocess.PIPE, preexec_fn=with_nofile(256))
            try:
                line = px.stderr.readline().decode()
                m = re.search(r"max_connections (\d+): what 256 file descriptors allow \((\d+) per "
                              r"session, (\d+) held idle, (\d+) spare\)", line)
                self.assertIsNotNone(m, line)
                cap, per, idle, spare = map(int, m.groups())
                self.assertEqual((256 - idle - spare) // per, cap)
                self.assertGreater(cap, 0)
                return cap, per, idle
            finally:
                px.terminate()
                px.wait(30)
                px.stderr.close()

    def test_default_cap_is_what_the_fd_limit_holds(self):
        self.default_cap("auto")

    def test_only_forwarders_that_splice_budget_pipes(self):
        """auto and splice may hold a pipe pair per direction and keep spare pairs while idle;
        copy and uring never open a pipe, so their sessions cost their two sockets alone."""
        auto, splice, copy, uring = (self.default_cap(f)
                                     for f in ("auto", "splice", "copy", "uring"))
        self.assertEqual(6, auto[1])
        self.assertEqual(6, splice[1])
        self.assertEqual(2, copy[1])
        self.assertEqual(copy, uring)
        self.assertGreater(auto[2], copy[2])  # the pipe cache's spare pairs

    def test_the_admin_endpoint_budgets_its_listener_and_its_connections(self):
        """admin.max_connections is 64 by default: 65 fds more held for the endpoint."""
        plain = self.default_cap("copy")
        admin = self.default_cap("copy", ["--admin", f"127.0.0.1:{free_port()}"])
        self.assertEqual(plain[2] + 65, admin[2])

    def test_perf_profiling_budgets_its_counters_per_worker(self):
        """profiling.perf opens up to 6 perf counters on each worker: 18 fds more with 3."""
        cfg = """
workers: 3
PROFILING
listeners:
  - { address: "127.0.0.1:PORT", group: g, forward: copy }
groups:
  - { name: g, backends: [{ address: "BACKEND" }] }
"""
        plain = self.default_cap("copy", config=cfg.replace("PROFILING", ""))
        perf = self.default_cap("copy",
                                config=cfg.replace("PROFILING", "profiling: { perf: true }"))
        self.assertEqual(plain[2] + 18, perf[2])

    def test_an_admin_endpoint_the_limit_cannot_hold_is_named_in_the_refusal(self):
        cfg = write_config(f"""
workers: 1
admin: {{ address: 127.0.0.1:{free_port()}, max_connections: 1024 }}
listeners:
  - {{ address: 127.0.0.1:{free_port()}, group: g, forward: copy }}
groups:
  - {{ name: g, backends: [{{ address: 127.0.0.1:9 }}] }}
""")
        self.addCleanup(os.unlink, cfg)
        for args in (["--check", "-c", cfg], ["-c", cfg]):
            r = subprocess.run([SLUICE, *args], capture_output=True, text=True,
                               preexec_fn=with_nofile(1024), timeout=30)
            self.assertEqual(1, r.returncode, r.stderr)
            self.assertIn("1 listener and the admin endpoint (1025 fds) hold", r.stderr)
            self.assertIn("or a smaller admin.max_connections)", r.stderr)

    def test_health_checks_the_limit_cannot_hold_name_max_backends_in_the_refusal(self):
        # a check holds an fd per backend slot, which max_backends sizes, listed or not
        cfg = write_config(f"""
workers: 1
listeners:
  - {{ address: 127.0.0.1:{free_port()}, group: g, forward: copy }}
groups:
  - name: g
    max_backends: 4000
    health: {{ interval: 1s }}
    backends: [{{ address: 127.0.0.1:9 }}]
""")
        self.addCleanup(os.unlink, cfg)
        for args in (["--check", "-c", cfg], ["-c", cfg]):
            r = subprocess.run([SLUICE, *args], capture_output=True, text=True,
                               preexec_fn=with_nofile(1024), timeout=30)
            self.assertEqual(1, r.returncode, r.stderr)
            self.assertIn("1 listener and health checks (4000 fds) hold", r.stderr)
            self.assertIn("or use fewer workers, or a smaller max_backends)", r.stderr)

    def test_limit_too_low_for_the_workers_is_refused_with_why(self):
        r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{free_port()}", "-b", "127.0.0.1:9", "-w",
                            "4"], capture_output=True, preexec_fn=with_nofile(40), timeout=30)
        self.assertEqual(1, r.returncode)
        self.assertIn(b"the limit is 40 (raise `ulimit -n`", r.stderr)

    def test_configured_cap_over_the_fd_limit_is_refused_with_why(self):
        port = free_port()
        cfg = capped_config(port, "127.0.0.1:9", top_cap=100000, workers=1)
        r = subprocess.run([SLUICE, "-c", cfg], capture_output=True,
                           preexec_fn=with_nofile(1024), timeout=30)
        os.unlink(cfg)
        self.assertEqual(1, r.returncode)
        self.assertRegex(r.stderr.decode(), r"max_connections 100000 needs \d+ file descriptors")

    def test_check_refuses_what_would_not_start_under_the_fd_limit(self):
        cfg = capped_config(free_port(), "127.0.0.1:9", top_cap=100000, workers=1)
        r = subprocess.run([SLUICE, "--check", "-c", cfg], capture_output=True,
                           preexec_fn=with_nofile(1024), timeout=30)
        os.unlink(cfg)
        self.assertEqual(1, r.returncode)
        self.assertRegex(r.stderr.decode(), r"cannot start on this host: max_connections 100000 "
                         r"needs \d+ file descriptors .* the limit is 1024")

    def test_running_out_of_fds_at_accept_is_logged_once_and_service_resumes(self):
        """The running process's RLIMIT_NOFILE lowered to the fds it holds (prlimit): clients
        wait in the backlog while every accept4() fails with EMFILE, one warning names the
        limit however many fail, and once the limit is back they are served and one line
        says so."""
        with Server(echo_handler) as b:
            port = free_port()
            # copy: no pipe cache whose fds come and go with sessions
            cfg = capped_config(port, b.addr, forward="copy")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                # every worker started: none opens or closes an fd of its own from here on
                wait_for_text(px, "listening on")
                pid = px.proc.pid
                was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                limit = lower_nofile(pid, 0)
                try:
                    clients = [connect(port) for _ in range(4)]
                    for s in clients:
                        s.sendall(b"ping")
                    r, _, _ = select.select(clients, [], [], 0.5 * SLOW)
                    self.assertEqual([], r, "a client was served with no fd to spare")
                    wait_for_text(px, "cannot accept: this process has no file descriptor left")
                finally:
                    resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
                for s in clients:
                    r, _, _ = select.select([s], [], [], 10 * SLOW)
                    self.assertTrue(r and recv_exact(s, 4) == b"ping",
                                    "a waiting client was not served once fds were free")
                    s.close()
                wait_for_text(px, "accepting again: file descriptors are free")
                self.assertEqual(0, px.stop())
                err = px.stderr()
        self.assertEqual(1, err.count("cannot accept:"), err)
        # sessions open then: 0, or one whose accept got an fd the process freed after the
        # limit came down (its backend connect then waits for one)
        self.assertRegex(err, rf"\(EMFILE: its RLIMIT_NOFILE is {limit}; [01] sessions open\)")
        self.assertIn("this host's limit, not a backend's fault", err)
        self.assertEqual(1, err.count("accepting again"), err)
        failed = re.search(r"(\d+) accept_errors", err)
        self.assertTrue(failed and int(failed.group(1)) > 1, err)  # several, one warning


def answer(sock):
    """The 4 bytes a client got back: b"" if its connection was closed or reset first."""
    try:
        return recv_exact(sock, 4)
    except (ConnectionError, EOFError):
        return b""


class BackendSocketShortage(unittest.TestCase):
    """The limit lowered under the running process so that an accept takes the last fd: the
    client's backend socket cannot be made (EMFILE). That is this host's shortage: the client
    waits (LOCAL_WAIT, tried again every 100 ms) rather than being closed, the backend is not
    charged, and a wait longer than timeouts.connect closes it as local_errors."""

    def run_short(self, connect_timeout, raise_after):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = one_worker_config(port, [b.addr], "    forward: copy\n"
                                    f"    timeouts: {{ connect: {connect_timeout} }}\n")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "listening on")
                pid = px.proc.pid
                was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                lower_nofile(pid, 1)  # one fd: the client's, none for its backend
                try:
                    clients = [connect(port) for _ in range(3)]
                    for s in clients:
                        s.sendall(b"ping")
                    wait_for_text(px, "cannot open a backend connection: Too many open files")
                    time.sleep(raise_after)
                    r, _, _ = select.select(clients, [], [], 0)
                    served_short = [s for s in r if answer(s) == b"ping"]
                finally:
                    resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
                served = []
                for s in clients:
                    r, _, _ = select.select([s], [], [], 10 * SLOW)
                    if r and answer(s) == b"ping":
                        served.append(s)
                    s.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
        self.assertEqual([], served_short, "a client was served with no fd for its backend")
        self.assertEqual(1, err.count("cannot open a backend connection"), err)
        self.assertNotIn("connect_failures", err)  # the summary leaves out counts of 0
        self.assertNotIn("is down", err)
        return len(served), err

    def test_a_client_whose_backend_socket_finds_no_fd_waits_and_is_served(self):
        served, err = self.run_short("10s", 0.6 * SLOW)
        self.assertEqual(3, served, err)
        self.assertNotIn("local_errors", err)

    def test_a_wait_longer_than_the_connect_timeout_closes_it_as_local_errors(self):
        served, err = self.run_short("300ms", 1.0 * SLOW)
        # each client accepted while the limit stayed low gave up after 300 ms (the next one
        # took the fd it freed); the rest were served once the limit was back
        closed = re.search(r"(\d+) local_errors", err)
        self.assertTrue(closed and int(closed.group(1)) >= 1, err)
        self.assertEqual(3, served + int(closed.group(1)), err)


class PipeShortMidStream(unittest.TestCase):
    def test_a_session_that_finds_no_pipe_mid_stream_is_a_local_error_and_both_are_reset(self):
        """forward: splice, a session connected while fds were free; the limit then lowered
        under the process so that its first bytes find no pipe (EMFILE). That is this host's
        shortage, not the client's reset: counted as local_errors (not resets), and both
        sides are reset, so neither takes the stream cut short for a whole one."""
        with Server(echo_handler) as b:
            port = free_port()
            cfg = one_worker_config(port, [b.addr], "    forward: splice\n")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "listening on")
                pid = px.proc.pid
                was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                c = connect(port)
                wait_for(lambda: b.accepted == 1, "the backend connection")
                try:
                    lower_nofile(pid, 0)
                    c.sendall(b"ping")
                    c.settimeout(10 * SLOW)
                    with self.assertRaises(ConnectionResetError):  # not an end of stream
                        c.recv(4)
                finally:
                    resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
                c.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
        self.assertRegex(err, r"process: (.*, )?1 local_errors\b")
        self.assertNotRegex(err, r"\bresets\b")


class RetryShortOfFds(unittest.TestCase):
    def test_a_retry_that_waits_for_an_fd_counts_once_when_its_connect_goes_out(self):
        """The first backend's connect times out; the retry finds no fd (the limit lowered
        below the fd that connect held) and waits in LOCAL_WAIT, tried again every 100 ms. It is
        one retry, counted when its connect goes out once the limit is back, not at each try."""
        with black_hole() as first, black_hole() as second:
            port = free_port()
            cfg = one_worker_config(port, [first, second], "    forward: copy\n"
                                    f"    timeouts: {{ connect: {int(1000 * SLOW)}ms }}\n",
                                    "    retries: 1\n")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                wait_for_text(px, "listening on")
                pid = px.proc.pid
                was = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                base = len(os.listdir(f"/proc/{pid}/fd"))
                c = connect(port)
                c.sendall(b"ping")
                # the client's fd and its backend connect's, the highest
                wait_for(lambda: len(os.listdir(f"/proc/{pid}/fd")) >= base + 2,
                         "the first connect")
                top = max(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
                try:
                    # every fd below the limit taken, the connect's fd above it: once that
                    # connect times out, the retry's socket() fails
                    resource.prlimit(pid, resource.RLIMIT_NOFILE, (top, was[1]))
                    wait_for_text(px, "cannot open a backend connection: Too many open files")
                    time.sleep(0.4)  # tried again a few times meanwhile, within the connect timeout
                finally:
                    resource.prlimit(pid, resource.RLIMIT_NOFILE, was)
                self.assertTrue(closed_by_peer(c, 10 * SLOW))  # the retry timed out too
                c.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
        self.assertRegex(err, r"process: 2 connect_failures, 1 retries, 1 no_backend\b")


class SamePort(unittest.TestCase):
    def test_second_instance_on_the_same_port_is_refused_and_the_first_serves_on(self):
        with Server(echo_handler) as b:
            port = free_port()
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "2"], port=port):
                r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{port}", "-b", b.addr],
                                   capture_output=True, timeout=30)
                self.assertEqual(1, r.returncode)
                # the first instance's two workers, each with its own socket
                self.assertIn(b"Address already in use (held by: 2 LISTEN (another process))",
                              r.stderr)
                for _ in range(20):  # every connection reaches the first instance's backend
                    with connect(port) as s:
                        self.assertTrue(echoes(s))
                self.assertEqual(20, b.accepted)


if __name__ == "__main__":
    unittest.main()
