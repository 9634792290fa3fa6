# SPDX-License-Identifier: MIT
"""systemd's side of the sd_notify protocol: a unix datagram socket named by NOTIFY_SOCKET,
and the messages sluice sends to it (READY=1 once the port accepts connections, STOPPING=1
when SIGTERM starts the drain, WATCHDOG=1 pings at half of WATCHDOG_USEC)."""
import contextlib
import os
import shutil
import signal
import socket
import statistics
import tempfile
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, free_port,
                     is_listening, recv_exact, write_config)


class NotifySocket:
    """The receiving end systemd would hold: a bound AF_UNIX datagram socket."""

    def __init__(self, abstract=False):
        self.dir = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"\0sluice-notify-test-{os.getpid()}-{id(self)}"
            self.sock.bind(name)
            self.env = "@" + name[1:]
        else:
            self.dir = tempfile.mkdtemp()
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env = path

    def recv(self, timeout=10.0):
        """The next datagram as a dict (VAR -> VALUE); raises TimeoutError after <timeout>."""
        self.sock.settimeout(timeout * SLOW)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise TimeoutError("no notify message") from None
        return dict(line.split("=", 1) for line in data.decode().split("\n") if line)

    def recv_until(self, key, timeout=10.0):
        """Datagrams up to and including the first that has <key>; bounded by <timeout>."""
        got = []
        deadline = time.monotonic() + timeout * SLOW
        while not got or key not in got[-1]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {key} among {got}")
            got.append(self.recv(left / SLOW))
        return got

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir)


@contextlib.contextmanager
def notify_socket(abstract=False):
    n = NotifySocket(abstract)
    try:
        yield n
    finally:
        n.close()


def config(port, backend, drain="10s"):
    return write_config(f"""
workers: 1
drain_timeout: {drain}
listeners:
  - address: 127.0.0.1:{port}
groups:
  - name: g
    backends:
      - address: {backend.addr}
""")


def without_systemd_vars():
    return {k: v for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}


def start(args, port, env):
    """Sluice with exactly <env> (the harness adds os.environ, so drop the systemd vars first)."""
    s = Sluice(args, port=port, env=env)
    s.env = dict(without_systemd_vars(), **env)
    return s


class Notify(unittest.TestCase):
    def test_ready_comes_after_the_port_accepts_and_stopping_after_sigterm(self):
        with Server(echo_handler) as backend, notify_socket() as n:
            port = free_port()
            with start(["-c", config(port, backend)], port, {"NOTIFY_SOCKET": n.env}) as s:
                ready = n.recv()
                # the port accepts and proxies the moment READY=1 is read, with no retry
                self.assertTrue(is_listening(port))
                c = connect(port)
                c.sendall(b"ping")
                self.assertEqual(b"ping", recv_exact(c, 4))
                c.close()
                self.assertEqual("1", ready.get("READY"), ready)
                self.assertEqual(str(s.proc.pid), ready.get("MAINPID"))
                self.assertIn(f"127.0.0.1:{port}", ready.get("STATUS", ""))
                self.assertNotIn("STOPPING", ready)
                s.proc.send_signal(signal.SIGTERM)
                stopping = n.recv()
                self.assertEqual("1", stopping.get("STOPPING"), stopping)
                self.assertIn("draining", stopping.get("STATUS", ""))
                self.assertEqual(0, s.proc.wait(30 * SLOW))
                # nothing after STOPPING=1: no second READY, no stray message
                with self.assertRaises(TimeoutError):
                    n.recv(timeout=0.2)

    def test_stopping_is_sent_while_sessions_are_still_draining(self):
        with Server(echo_handler) as backend, notify_socket() as n:
            port = free_port()
            with start(["-c", config(port, backend, drain="20s")], port,
                       {"NOTIFY_SOCKET": n.env}) as s:
                self.assertEqual("1", n.recv().get("READY"))
                c = connect(port)
                c.sendall(b"hold")
                self.assertEqual(b"hold", recv_exact(c, 4))
                s.proc.send_signal(signal.SIGTERM)
                self.assertEqual("1", n.recv().get("STOPPING"))
                # the open session holds the drain: sluice has said STOPPING but not exited
                self.assertIsNone(s.proc.poll())
                c.sendall(b"more")
                self.assertEqual(b"more", recv_exact(c, 4))
                c.shutdown(socket.SHUT_WR)
                self.assertTrue(closed_by_peer(c))
                c.close()
                self.assertEqual(0, s.proc.wait(30 * SLOW))

    def test_abstract_socket_names_work(self):
        with Server(echo_handler) as backend, notify_socket(abstract=True) as n:
            port = free_port()
            with start(["-c", config(port, backend)], port, {"NOTIFY_SOCKET": n.env}) as s:
                self.assertEqual("1", n.recv().get("READY"))
                self.assertTrue(is_listening(port))
                s.stop()
                self.assertEqual("1", n.recv().get("STOPPING"))

    def test_no_ready_when_the_listener_cannot_bind(self):
        with Server(echo_handler) as backend, notify_socket() as n:
            taken = socket.socket()
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            s = start(["-c", config(port, backend)], None, {"NOTIFY_SOCKET": n.env})
            with s:
                self.assertEqual(1, s.proc.wait(30 * SLOW))
            taken.close()
            with self.assertRaises(TimeoutError):
                n.recv(timeout=0.2)

    def test_watchdog_pings_keep_arriving(self):
        with Server(echo_handler) as backend, notify_socket() as n:
            port = free_port()
            env = {"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "200000"}
            with start(["-c", config(port, backend)], port, env) as s:
                self.assertEqual("1", n.recv().get("READY"))
                stamps = []
                while len(stamps) < 11:  # bounded: recv() raises after its timeout
                    msg = n.recv(timeout=5)
                    self.assertEqual({"WATCHDOG": "1"}, msg)
                    stamps.append(time.monotonic())
                gaps = [b - a for a, b in zip(stamps, stamps[1:])]
                # systemd kills at 200 ms without a ping; sluice aims at 100 ms. The gaps
                # are shown, not asserted: on a loaded machine this reader, not sluice, sets
                # when a datagram is seen (tests assert behaviour, never timing)
                print(f"watchdog gaps: median {statistics.median(gaps) * 1000:.1f} ms, "
                      f"max {max(gaps) * 1000:.1f} ms")
                s.proc.send_signal(signal.SIGTERM)
                after = n.recv_until("STOPPING")
                self.assertTrue(all(m == {"WATCHDOG": "1"} for m in after[:-1]), after)
                self.assertEqual(0, s.proc.wait(30 * SLOW))

    def test_no_watchdog_pings_for_another_pid(self):
        with Server(echo_handler) as backend, notify_socket() as n:
            port = free_port()
            env = {"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "20000", "WATCHDOG_PID": "1"}
            with start(["-c", config(port, backend)], port, env) as s:
                self.assertEqual("1", n.recv().get("READY"))
                # 15 intervals of 20 ms: a pinging sluice would have sent several by now
                with self.assertRaises(TimeoutError):
                    n.recv(timeout=0.3)
                s.proc.send_signal(signal.SIGTERM)
                self.assertEqual("1", n.recv().get("STOPPING"))

    def test_without_notify_socket_sluice_runs_and_stops_as_before(self):
        with Server(echo_handler) as backend:
            port = free_port()
            with start(["-c", config(port, backend)], port, {}) as s:
                c = connect(port)
                c.sendall(b"x")
                self.assertEqual(b"x", recv_exact(c, 1))
                c.close()
                self.assertEqual(0, s.stop())
                self.assertNotIn("NOTIFY_SOCKET", s.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
