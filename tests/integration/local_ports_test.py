# SPDX-License-Identifier: MIT
"""A backend connect that finds no local port (EADDRNOTAVAIL) is this host's shortage, not the
backend's fault, as one that finds no fd (resources_test): in a fresh network namespace whose
ephemeral port range holds one port, the first session takes it; a second client, on another
worker or the same, waits (LOCAL_WAIT, tried again every 100 ms) instead of being closed, and
is served once the first session has given the port back. The backend is never charged: no
connect failure, no "is down", no local_errors."""
import os
import select
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, Server, Sluice, connect, echo_handler, echoed, recv_exact, wait_for_text, write_config  # noqa: E402
from netns import NetNs, skip_module, why_no_netns  # noqa: E402

PORT, LOCAL_PORT = 8080, 40000


def setUpModule():
    why = why_no_netns()
    if why:
        skip_module(why)


class NoLocalPort(unittest.TestCase):
    def test_a_client_whose_backend_connect_finds_no_local_port_waits_and_is_served(self):
        with NetNs("sllp") as ns:
            backend = ns.call(Server, echo_handler, "127.0.0.1")
            with backend:
                # after the backend's bind to port 0, which takes its port from the range
                r = subprocess.run(ns.exec_args(["sysctl", "-qw", "net.ipv4.ip_local_port_range="
                                                 f"{LOCAL_PORT} {LOCAL_PORT}"]),
                                   capture_output=True, text=True)
                self.assertEqual(0, r.returncode, r.stderr)
                cfg = write_config(f"""
workers: 2
listeners:
  - address: 127.0.0.1:{PORT}
    group: g
    forward: copy
    timeouts: {{ connect: 20s }}
groups:
  - name: g
    backends:
      - address: {backend.addr}
""")
                self.addCleanup(os.unlink, cfg)
                px = Sluice(["-c", cfg])
                px.args = ns.exec_args(px.args)
                with px:
                    ns.wait_listening(PORT, px.proc)
                    first = ns.call(connect, PORT, source_port=50001)
                    self.assertTrue(echoed(first), px.stderr())
                    second = ns.call(connect, PORT, source_port=50002)
                    second.sendall(b"pong")
                    wait_for_text(px, "cannot open a backend connection: Cannot assign "
                                      "requested address; this host's shortage")
                    r, _, _ = select.select([second], [], [], 0.5 * SLOW)
                    self.assertEqual([], r, "served or closed while the port was taken")
                    first.close()
                    # the port comes back once the first session's backend connection is gone
                    # (reusable from TIME_WAIT on loopback about a second later)
                    self.assertEqual(b"pong", recv_exact(second, 4, timeout=15))
                    self.assertTrue(echoed(second, b"again"))
                    second.close()
                    self.assertEqual(0, px.stop())
                    err = px.stderr()
        self.assertNotIn("is down", err)
        self.assertNotIn("connect_failures", err)  # the summary leaves out counts of 0
        self.assertNotIn("local_errors", err)


if __name__ == "__main__":
    unittest.main()
