# SPDX-License-Identifier: MIT
"""Start-up and signals of the sluice binary: flag mistakes are usage errors, every failed start
says why, worker counts that once failed silently start, SIGHUP is ignored, SIGUSR2 is ignored
(with what to send instead), and a second SIGTERM during a drain closes everything at once."""
import contextlib
import os
import resource
import signal
import socket
import subprocess
import unittest

from harness import (FLAVOUR, SLOW, SLUICE, Server, Sluice, closed_by_peer, connect,
                     echo_handler, echo_roundtrip, free_port, wait_for, wait_for_text, wait_port,
                     write_config)


class Flags(unittest.TestCase):
    # issue: -l ADDR without -b silently started the demo backends behind ADDR
    def test_listen_without_backends_is_a_usage_error(self):
        r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{free_port()}"], capture_output=True,
                           text=True, timeout=10 * SLOW)
        self.assertEqual(2, r.returncode)
        self.assertIn("-l needs -b ADDR:PORT", r.stderr)
        self.assertEqual("", r.stdout)  # no demo banner

    def test_backends_without_listen_is_a_usage_error(self):
        r = subprocess.run([SLUICE, "-b", "127.0.0.1:9001"], capture_output=True, text=True,
                           timeout=10 * SLOW)
        self.assertEqual(2, r.returncode)
        self.assertIn("-b needs -l ADDR:PORT", r.stderr)

    def test_demo_with_listen_flags_is_a_usage_error(self):
        r = subprocess.run([SLUICE, "--demo", "127.0.0.1:8080", "-l", "127.0.0.1:8081", "-b",
                            "127.0.0.1:9001"], capture_output=True, text=True, timeout=10 * SLOW)
        self.assertEqual(2, r.returncode)
        self.assertIn("--demo and -c/-l/-b are exclusive", r.stderr)

    def test_drain_timeout_takes_what_drain_timeout_in_a_file_takes(self):
        for bad in ("1.5s", "-1", "30 s", "25h", "5x", ""):
            r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{free_port()}", "-b",
                                "127.0.0.1:9001", "--drain-timeout", bad],
                               capture_output=True, text=True, timeout=10 * SLOW)
            self.assertEqual(2, r.returncode, bad)
            self.assertIn(f'--drain-timeout must be a duration from 0 to 24h (such as 500, '
                          f'250ms, 30s or 2m; a bare number is milliseconds), got "{bad}"',
                          r.stderr)
        for good, ms in (("2s", 2000), ("1500", 1500), ("24h", 86400000)):
            port = free_port()
            with Server(echo_handler) as b:
                with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "1",
                             "--drain-timeout", good], port=port) as px:
                    self.assertEqual(0, px.stop(), px.stderr())
                    self.assertIn(f"SIGTERM: draining (deadline {ms} ms;", px.stderr())


class Workers(unittest.TestCase):
    # issue: -w 129 exited 1 with no message (the 256-entry pool table)
    def test_129_workers_start_and_proxy(self):
        port = free_port()
        with Server(echo_handler) as b:
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "129"], port=port) as px:
                self.assertEqual(b"through 129", echo_roundtrip(port, b"through 129"))
                self.assertEqual(0, px.stop(), px.stderr())

    # issue: 86 workers with 2 listeners exited 1 with no message
    def test_86_workers_with_two_listeners_start(self):
        p1, p2 = free_port(), free_port()
        with Server(echo_handler) as b:
            path = write_config(f"""workers: 86
listeners:
  - address: 127.0.0.1:{p1}
  - address: 127.0.0.1:{p2}
groups:
  - name: g
    backends: [{{ address: {b.addr} }}]
""")
            with Sluice(["-c", path], port=p1) as px:
                wait_port(p2, proc=px.proc)  # the listeners open one after the other
                self.assertEqual(b"two", echo_roundtrip(p2, b"two"))
                self.assertEqual(0, px.stop(), px.stderr())
            os.unlink(path)

    def test_worker_flag_past_the_pool_table_is_refused_with_why(self):
        ports = [free_port() for _ in range(4)]
        path = write_config("listeners:\n" + "".join(f"  - address: 127.0.0.1:{p}\n" for p in ports)
                            + "groups: [{ name: g, backends: [{ address: 127.0.0.1:9001 }] }]\n")
        r = subprocess.run([SLUICE, "-c", path, "-w", "820"], capture_output=True, text=True,
                           timeout=30 * SLOW)
        os.unlink(path)
        self.assertEqual(1, r.returncode)
        self.assertIn("cannot start: 820 workers are too many for 4 listeners", r.stderr)
        self.assertIn("use at most 819 workers", r.stderr)

    def test_start_out_of_file_descriptors_says_why(self):
        port = free_port()

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{port}", "-b", "127.0.0.1:9001", "-w", "8"],
                           capture_output=True, text=True, preexec_fn=low_limit,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        # what holds them, only what this configuration has: one-line mode has no health checks,
        # warm pools or admin endpoint
        self.assertIn("cannot start: 8 workers and 1 listener (1 that may splice: 8 pipe fds each "
                      "per worker) hold ", r.stderr)
        self.assertIn("the limit is 64 (raise `ulimit -n` or LimitNOFILE=", r.stderr)
        self.assertEqual(1, r.stderr.count("cannot start"), r.stderr)  # said once

    @unittest.skipIf(FLAVOUR != "none", "the sanitizers reserve terabytes of "
                     "address space at start")
    def test_start_out_of_address_space_names_the_limit_and_the_keys(self):
        port = free_port()
        path = write_config(f"""
workers: 64
access_log: {{ path: /dev/null, ring_size: 1048576 }}
listeners: [{{ address: 127.0.0.1:{port}, group: g }}]
groups: [{{ name: g, backends: [{{ address: 127.0.0.1:9001 }}] }}]
""")
        self.addCleanup(os.unlink, path)

        def low_limit():
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

        r = subprocess.run([SLUICE, "-c", path, "--admin", "off", "--control", "off"],
                           capture_output=True, text=True, preexec_fn=low_limit,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn("Cannot allocate memory (the address-space limit, ulimit -v, is 2048 MiB: "
                      "raise it, or use fewer workers, a smaller buffer_size, "
                      "source_limits.table_size, access_log.ring_size or warm pools)", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "needs root: runs sluice as nobody, whose thread "
                         "limit root's does not bound")
    def test_start_out_of_threads_names_the_limit(self):
        port = free_port()

        def few_threads():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            resource.setrlimit(resource.RLIMIT_NPROC, (8, 8))

        r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{port}", "-b", "127.0.0.1:9001", "-w", "32",
                            "--admin", "off", "--control", "off"], capture_output=True,
                           text=True, preexec_fn=few_threads, timeout=30 * SLOW)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn("Resource temporarily unavailable (this user's process and thread limit, "
                      "ulimit -u or systemd's TasksMax=", r.stderr)

    def test_listen_address_in_use_says_why(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)  # no SO_REUSEPORT: sluice cannot join this port
            addr = f"127.0.0.1:{taken.getsockname()[1]}"
            r = subprocess.run([SLUICE, "-l", addr, "-b", "127.0.0.1:9001", "-w", "2"],
                               capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot listen on {addr}: Address already in use "
                      "(held by: 1 LISTEN (another process))", r.stderr)
        # the worker count is no part of this failure: the last line does not name it
        self.assertIn("cannot start: Address already in use", r.stderr)
        self.assertNotIn("workers)", r.stderr)

    def test_a_port_bound_by_a_socket_that_does_not_listen_is_named_so(self):
        # such a socket is in no TCP table (/proc/net/tcp): the port is held all the same
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            addr = f"127.0.0.1:{taken.getsockname()[1]}"
            r = subprocess.run([SLUICE, "-l", addr, "-b", "127.0.0.1:9001", "-w", "1"],
                               capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot listen on {addr}: Address already in use "
                      "(held by: a socket bound to the port that does not listen)\n", r.stderr)
        self.assertNotIn("freed just now", r.stderr)

    def test_admin_address_in_use_says_who_holds_it(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            admin = f"127.0.0.1:{taken.getsockname()[1]}"
            r = subprocess.run([SLUICE, "-l", f"127.0.0.1:{free_port()}", "-b", "127.0.0.1:9001",
                                "-w", "1", "--admin", admin],
                               capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot start the admin endpoint on {admin}: Address already in use "
                      "(held by: 1 LISTEN (another process))", r.stderr)


class Signals(unittest.TestCase):
    @contextlib.contextmanager
    def holding_a_session(self):
        """A one-worker sluice with a drain deadline of an hour (only a signal ends a test in
        time) and one echo session held open: (px, port, held)."""
        port = free_port()
        with Server(echo_handler) as b:
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "1",
                         "--drain-timeout", "3600000"], port=port) as px:
                held = connect(port)
                held.sendall(b"held")
                self.assertEqual(b"held", held.recv(4))
                try:
                    yield px, port, held
                finally:
                    held.close()

    def test_sighup_without_a_file_says_so_and_serves_on(self):
        port = free_port()
        with Server(echo_handler) as b:
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "1"], port=port) as px:
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "SIGHUP: nothing to reload: sluice runs without a "
                                  "configuration file (-c)")
                self.assertIsNone(px.proc.poll())
                self.assertEqual(b"still here", echo_roundtrip(port, b"still here"))
                self.assertEqual(0, px.stop(), px.stderr())
                self.assertEqual(1, px.stderr().count("SIGHUP"))

    def test_sigusr2_is_ignored_with_what_to_send_instead_before_and_during_the_drain(self):
        # another proxy's reload (HAProxy) or upgrade (nginx) signal: by default it would end
        # the process and every session with it
        with self.holding_a_session() as (px, port, held):
            px.proc.send_signal(signal.SIGUSR2)
            wait_for_text(px, "SIGUSR2: ignored: SIGHUP reloads the configuration and "
                              "'sluice --upgrade' replaces the process")
            self.assertEqual(b"still here", echo_roundtrip(port, b"still here"))
            px.proc.send_signal(signal.SIGTERM)
            wait_for_text(px, "SIGTERM: draining")
            px.proc.send_signal(signal.SIGUSR2)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP during the drain: not reloaded")
            # pending together, the two may be taken in either order
            wait_for(lambda: px.stderr().count("SIGUSR2: ignored") == 2,
                     "the second SIGUSR2 logged")
            held.sendall(b"on")  # the session runs on through both
            self.assertEqual(b"on", held.recv(2))
            self.assertIsNone(px.proc.poll())
            held.close()  # the drain's last session
            self.assertEqual(0, px.proc.wait(30 * SLOW), px.stderr())

    def test_second_sigterm_during_drain_closes_at_once(self):
        with self.holding_a_session() as (px, _, held):
            px.proc.send_signal(signal.SIGTERM)
            wait_for_text(px, "SIGTERM: draining")
            self.assertIsNone(px.proc.poll())  # the held session keeps the drain waiting
            px.proc.send_signal(signal.SIGTERM)
            self.assertEqual(1, px.proc.wait(30 * SLOW))
            self.assertIn("SIGTERM during the drain: closing every connection at once",
                          px.stderr())
            # the cut ends the drain like its deadline: the summary counts what it closed
            self.assertIn("timeouts: drain 1", px.stderr())
            self.assertTrue(closed_by_peer(held))

    def test_single_sigterm_drains_and_exits_zero(self):
        port = free_port()
        with Server(echo_handler) as b:
            with Sluice(["-l", f"127.0.0.1:{port}", "-b", b.addr, "-w", "1"], port=port) as px:
                self.assertEqual(b"x", echo_roundtrip(port, b"x"))
                self.assertEqual(0, px.stop(signal.SIGTERM), px.stderr())
                self.assertNotIn("closing every connection at once", px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
