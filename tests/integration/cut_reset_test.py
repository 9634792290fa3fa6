# SPDX-License-Identifier: MIT
"""timeouts.cut: how a session that a timeout ends is closed. With `cut: reset` a client idle past
client_idle reads a reset (ECONNRESET), the backend's connection is reset too, and the proxy
keeps no TIME_WAIT for either; by default (`cut: close`) both read an end of stream and the
proxy, which closed first, holds the TIME_WAITs. A first_byte cut resets the same way, and a
reload turns the option on for the next cut (it is live)."""
import os
import queue
import signal
import subprocess
import unittest

from harness import SLOW, Server, Sluice, connect, free_port, wait_for, wait_for_text, write_config

IDLE = "300ms"


def config(port, backend, forward, extra=""):
    return f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
    forward: {forward}
    timeouts: {{ client_idle: {IDLE}, server_idle: 0{extra} }}
groups:
  - name: g
    backends:
      - address: {backend}
"""


class Backend:
    """An echo handler that notes how each connection ended ("eof" or "reset") and the port the
    proxy connected from."""

    def __init__(self):
        self.ends = queue.Queue()
        self.peers = queue.Queue()

    def handler(self, conn):
        self.peers.put(conn.getpeername()[1])
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    self.ends.put("eof")
                    return
                conn.sendall(data)
        except ConnectionResetError:
            self.ends.put("reset")

    def end(self):
        return self.ends.get(timeout=10 * SLOW)


def how_it_ends(sock):
    """"eof" or "reset": what the next read of <sock> sees (bounded; a timeout fails)."""
    sock.settimeout(10 * SLOW)
    try:
        data = sock.recv(16)
    except ConnectionResetError:
        return "reset"
    return "eof" if data == b"" else f"data {data!r}"


def time_waits(local_port, peer_port):
    """The proxy's TIME_WAIT sockets from <local_port> to <peer_port> on loopback (ss)."""
    r = subprocess.run(["ss", "-Htan", "state", "time-wait",
                        f"( sport = :{local_port} and dport = :{peer_port} )"],
                       capture_output=True, text=True, timeout=10, check=True)
    return [line for line in r.stdout.splitlines() if line.strip()]


class CutReset(unittest.TestCase):
    def idle_session(self, port, b):
        """A forwarding session that then goes idle: (client socket, proxy's port to the
        backend)."""
        s = connect(port)
        s.sendall(b"ping")
        self.assertEqual(b"ping", s.recv(4))
        return s, b.peers.get(timeout=10 * SLOW)

    def client_idle_cut(self, forward, cut):
        b = Backend()
        with Server(b.handler) as srv:
            port = free_port()
            extra = f", cut: {cut}" if cut else ""
            path = write_config(config(port, srv.addr, forward, extra))
            self.addCleanup(os.unlink, path)
            with Sluice(["-c", path], port=port) as px:
                s, out_port = self.idle_session(port, b)
                client_port = s.getsockname()[1]
                client_end = how_it_ends(s)
                backend_end = b.end()
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())
        return client_end, backend_end, (port, client_port), (out_port, srv.port)

    def test_client_idle_cut_resets_both_connections_and_leaves_no_time_wait(self):
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                client_end, backend_end, to_client, to_backend = self.client_idle_cut(
                    forward, "reset")
                self.assertEqual("reset", client_end)
                self.assertEqual("reset", backend_end)
                # both resets were read: the proxy's sockets closed with SO_LINGER 0, which
                # skips TIME_WAIT; a FIN close would have left them there (next test)
                self.assertEqual([], time_waits(*to_client))
                self.assertEqual([], time_waits(*to_backend))

    def test_client_idle_cut_closes_both_connections_by_default(self):
        for forward in ("auto", "uring"):
            with self.subTest(forward=forward):
                client_end, backend_end, to_client, to_backend = self.client_idle_cut(
                    forward, None)
                self.assertEqual("eof", client_end)
                self.assertEqual("eof", backend_end)
                # the proxy closed first: it holds TIME_WAIT once each peer closed too
                wait_for(lambda: time_waits(*to_client), "the client side's TIME_WAIT")
                wait_for(lambda: time_waits(*to_backend), "the backend side's TIME_WAIT")

    def test_cut_close_is_the_default_spelled_out(self):
        client_end, backend_end, _, _ = self.client_idle_cut("auto", "close")
        self.assertEqual(("eof", "eof"), (client_end, backend_end))

    def test_first_byte_cut_resets_the_silent_client(self):
        b = Backend()
        with Server(b.handler) as srv:
            port = free_port()
            path = write_config(config(port, srv.addr, "auto", ", first_byte: 300ms, cut: reset"))
            self.addCleanup(os.unlink, path)
            with Sluice(["-c", path], port=port) as px:
                s = connect(port)
                client_port = s.getsockname()[1]
                self.assertEqual("reset", how_it_ends(s))
                s.close()
                self.assertEqual([], time_waits(port, client_port))
                self.assertEqual(0, srv.accepted)  # no backend connection was made
                self.assertEqual(0, px.stop(), px.stderr())

    def test_a_reload_turns_reset_on_for_the_next_cut(self):
        b = Backend()
        with Server(b.handler) as srv:
            port = free_port()
            path = write_config(config(port, srv.addr, "auto"))
            self.addCleanup(os.unlink, path)
            with Sluice(["-c", path], port=port) as px:
                s, _ = self.idle_session(port, b)
                self.assertEqual("eof", how_it_ends(s))
                self.assertEqual("eof", b.end())
                s.close()

                with open(path, "w") as f:
                    f.write(config(port, srv.addr, "auto", ", cut: reset"))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, f"SIGHUP: {path} reloaded")
                s, _ = self.idle_session(port, b)
                self.assertEqual("reset", how_it_ends(s))
                self.assertEqual("reset", b.end())
                s.close()
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
