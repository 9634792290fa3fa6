# SPDX-License-Identifier: MIT
"""Listeners on an address the host does not have yet (a virtual IP that moves between hosts),
in a fresh network namespace that starts with lo alone. With `freebind: true` sluice starts and
listens there before the address exists, and serves clients, bytes intact, once `ip addr add`
gives it, over IPv4 and IPv6; `--check` accepts the file without a warning. Without freebind
the same file passes `--check` with a warning that names the address and the key to set, and
the start refuses, saying why and what to set."""
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, SLUICE, Server, Sluice, echo_handler, echo_roundtrip, wait_for_text, write_config  # noqa: E402
from netns import NetNs, skip_module, why_no_netns  # noqa: E402

VIP4, VIP6, PORT = "10.202.0.1", "fd00:202::1", 8080


def config(backend, freebind):
    fb = ", freebind: true" if freebind else ""
    return write_config(f"""
listeners:
  - {{ name: vip4, address: {VIP4}:{PORT}{fb} }}
  - {{ name: vip6, address: "[{VIP6}]:{PORT}"{fb} }}
groups:
  - name: web
    backends:
      - {{ address: {backend} }}
""")


def reaches(host, port):
    """True if a TCP connect to host:port from the calling thread's namespace succeeds."""
    try:
        with socket.create_connection((host, port), timeout=2 * SLOW):
            return True
    except OSError:
        return False


def setUpModule():
    why = why_no_netns()
    if why:
        skip_module(why)


class Freebind(unittest.TestCase):
    def in_namespace(self, freebind, run):
        """run(ns, path) in a fresh namespace with an echo backend on its 127.0.0.1 and the
        configuration file written (freebind: true on both listeners, or not)."""
        with NetNs("slfb") as ns:
            backend = ns.call(Server, echo_handler, "127.0.0.1")
            with backend:
                path = config(backend.addr, freebind)
                self.addCleanup(os.unlink, path)
                run(ns, path)

    def check(self, ns, path):
        return subprocess.run(ns.exec_args([SLUICE, "--check", "-c", path]),
                              capture_output=True, text=True, timeout=60 * SLOW)

    def test_a_freebind_listener_starts_first_and_serves_once_the_address_arrives(self):
        def run(ns, path):
            p = self.check(ns, path)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertNotIn("warning", p.stderr)
            px = Sluice(["-c", path, "-w", "2"])
            px.args = ns.exec_args(px.args)
            with px:
                ns.wait_listening(PORT, px.proc, host=VIP4)
                wait_for_text(px, f"listening on [{VIP6}]:{PORT}")
                # the namespace has no such address yet: nothing reaches the listeners
                self.assertFalse(ns.call(reaches, VIP4, PORT))
                ns.ip("addr", "add", f"{VIP4}/32", "dev", "lo")
                ns.ip("addr", "add", f"{VIP6}/128", "dev", "lo", "nodad")
                for host in (VIP4, VIP6):
                    payload = os.urandom(256 * 1024)
                    self.assertEqual(payload, ns.call(echo_roundtrip, PORT, payload, host), host)
                self.assertEqual(0, px.stop())

        self.in_namespace(True, run)

    def test_without_freebind_check_warns_and_the_start_says_what_to_set(self):
        def run(ns, path):
            p = self.check(ns, path)
            self.assertEqual(0, p.returncode, p.stderr)
            for name, addr in (("vip4", f"{VIP4}:{PORT}"), ("vip6", f"[{VIP6}]:{PORT}")):
                self.assertIn(f"warning: listener {name}: address {addr}: not an address of this "
                              "host; sluice cannot listen on it here until it is (or set freebind: "
                              "true on the listener", p.stderr)
            p = subprocess.run(ns.exec_args([SLUICE, "-c", path]), capture_output=True,
                               text=True, timeout=60 * SLOW)
            self.assertNotEqual(0, p.returncode)
            self.assertIn(f"listener vip4: cannot listen on {VIP4}:{PORT}: Cannot assign requested "
                          "address (not an address of this host: give it one, or set freebind: "
                          "true on the listener", p.stderr)

        self.in_namespace(False, run)


if __name__ == "__main__":
    unittest.main()
