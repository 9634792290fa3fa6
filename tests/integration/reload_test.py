# SPDX-License-Identifier: MIT
"""SIGHUP reloads the file: live fields (here allow/deny and the source limits) apply to new
clients at once while an open session goes on untouched; a file that changes what was built at
start (the worker count; 0 and the count it stands for are one), or one with errors, is refused with the reason and the previous
configuration goes on. Listener changes that re-open a listener: reload_listeners_test.py."""
import os
import select
import signal
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, echoed, free_port,
                     wait_for_text)


def write(path, port, backend, listener_extra="", address=None, workers=2):
    with open(path, "w") as f:
        f.write(f"""
workers: {workers}
listeners:
  - name: web
    address: {address or f"127.0.0.1:{port}"}
    group: g
{listener_extra}
groups:
  - name: g
    backends:
      - address: {backend}
""")


class Reload(unittest.TestCase):
    def setUp(self):
        self.path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"reload-{os.getpid()}.yaml")
        self.addCleanup(lambda: os.path.exists(self.path) and os.unlink(self.path))

    def hup_and_wait(self, px, text):
        """SIGHUP, then waits (bounded) for the reload's own log line <text>."""
        before = px.stderr().count(text)
        px.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * SLOW
        while px.stderr().count(text) == before and time.monotonic() < deadline:
            select.select([], [], [], 0.02)
        self.assertGreater(px.stderr().count(text), before, px.stderr())

    def test_live_fields_apply_to_new_clients_and_open_sessions_go_on(self):
        with Server(echo_handler) as b:
            port = free_port()
            write(self.path, port, b.addr, "    deny: [127.0.0.5/32]\n"
                  "    source_limits: { max_connections: 100 }")
            with Sluice(["-c", self.path], port=port) as px:
                kept = connect(port, source="127.0.0.6")
                self.assertTrue(echoed(kept))
                denied = connect(port, source="127.0.0.5")
                self.assertTrue(closed_by_peer(denied, 10 * SLOW))
                denied.close()

                # now 127.0.0.5 is allowed, and a source may hold one connection only; the
                # log says which keys the reload changed
                write(self.path, port, b.addr, "    source_limits: { max_connections: 1 }")
                self.hup_and_wait(px, f"SIGHUP: {self.path} reloaded (listener web: deny "
                                      "changed, listener web: source_limits.max_connections changed)")
                welcome = connect(port, source="127.0.0.5")
                self.assertTrue(echoed(welcome))
                second = connect(port, source="127.0.0.5")
                self.assertTrue(closed_by_peer(second, 10 * SLOW))
                second.close()
                self.assertTrue(echoed(kept, b"still here"))  # untouched by the reload

                # what was built at start cannot change live: refused, the old file goes on
                write(self.path, port, b.addr, "    source_limits: { max_connections: 1 }",
                      workers=3)
                self.hup_and_wait(px, "SIGHUP: not reloaded: workers changed (needs a restart)")
                with open(self.path, "w") as f:
                    f.write("listeners: [\n")
                self.hup_and_wait(px, f"SIGHUP: {self.path} has errors (above): not reloaded")
                self.assertTrue(echoed(welcome, b"after two refusals"))
                for s in (kept, welcome):
                    s.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
            self.assertIn("rejected: 2 clients: acl_denied 1, source_connections 1", err)

    def test_workers_0_and_the_count_it_stands_for_are_the_same_file(self):
        """workers: 0 runs one worker per CPU the process may use: a file that writes that
        count out reloads (nothing changes), and so does 0 again; another count is refused."""
        cpus = len(os.sched_getaffinity(0))
        with Server(echo_handler) as b:
            port = free_port()
            write(self.path, port, b.addr, workers=0)
            with Sluice(["-c", self.path], port=port) as px:
                for workers in (cpus, 0):
                    write(self.path, port, b.addr, workers=workers)
                    self.hup_and_wait(px, f"SIGHUP: {self.path} reloaded")
                write(self.path, port, b.addr, workers=cpus + 1)
                self.hup_and_wait(px, "SIGHUP: not reloaded: workers changed (needs a restart)")
                s = connect(port)
                self.assertTrue(echoed(s))
                s.close()
                self.assertEqual(0, px.stop())
                self.assertEqual(2, px.stderr().count(f"SIGHUP: {self.path} reloaded"))
                # the same file again: said so
                self.assertIn(f"SIGHUP: {self.path} reloaded (nothing changed)", px.stderr())

    def stop_beside_a_pending_sighup(self, stop, said):
        """Makes a SIGHUP and <stop> pending at once (the process stopped meanwhile): the stop
        is taken first (its log line <said>), and the SIGHUP then finds the drain under way."""
        with Server(echo_handler) as b:
            port = free_port()
            write(self.path, port, b.addr)
            with Sluice(["-c", self.path], port=port) as px:
                s = connect(port)
                self.assertTrue(echoed(s))  # held open: the drain lasts until it closes
                px.proc.send_signal(signal.SIGSTOP)
                px.proc.send_signal(signal.SIGHUP)
                px.proc.send_signal(stop)
                px.proc.send_signal(signal.SIGCONT)
                wait_for_text(px, "SIGHUP during the drain: not reloaded")
                err = px.stderr()
                self.assertIn(said, err)
                self.assertNotIn(f"SIGHUP: {self.path} reloaded", err)
                s.close()
                self.assertEqual(0, px.proc.wait(timeout=30 * SLOW))

    def test_a_pending_sigterm_is_taken_before_a_pending_sighup(self):
        """sigwait() hands out the lowest-numbered pending signal first: with a SIGHUP pending
        beside it, SIGTERM (and the real-time signals of an upgrade's handover and of the
        control socket's shutdown) waited for the reload, and a stream of SIGHUPs held it back
        for as long as it lasted."""
        self.stop_beside_a_pending_sighup(signal.SIGTERM, "SIGTERM: draining")

    def test_a_pending_control_socket_shutdown_is_taken_before_a_pending_sighup(self):
        """The same for the control socket's shutdown, which its thread passes to main as the
        real-time signal SIGRTMIN+1 (app/sluice/signals.h): sent here directly."""
        self.stop_beside_a_pending_sighup(signal.SIGRTMIN + 1,
                                          "shutdown (control socket): draining")


if __name__ == "__main__":
    unittest.main()
