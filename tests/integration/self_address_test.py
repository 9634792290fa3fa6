# SPDX-License-Identifier: MIT
"""A backend at an address of this host other than a loopback one, on the port of a wildcard
listener, is sluice itself (the listener takes every address of the host): refused by --check,
the start, the one-line mode and a backend added at run time, as a backend at the listener's own
address is. Played in a network namespace the test makes, whose lo also holds 10.77.0.1; the
same configuration in a namespace without that address is accepted."""
import os
import subprocess
import tempfile
import unittest

import netns
from harness import SLOW, SLUICE, SLUICECTL, echo_handler, log_file, wait_for, Server

HOST_ADDR = "10.77.0.1"
PORT = 9000


def setUpModule():
    reason = netns.why_no_netns()
    if reason:
        netns.skip_module(reason)


class SelfAddress(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="self-address-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir], check=False))
        self.ns = netns.NetNs("sl-self")
        self.ns.__enter__()
        self.addCleanup(self.ns.delete)
        self.ns.ip("addr", "add", f"{HOST_ADDR}/32", "dev", "lo")
        self.sock = os.path.join(self.dir, "ctl.sock")

    def write(self, backend):
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(f"control: {{ path: {self.sock} }}\n"
                    f"listeners:\n  - address: 0.0.0.0:{PORT}\n    group: g\n"
                    f"groups:\n  - name: g\n    backends:\n      - address: {backend}\n")
        return path

    def run_in(self, ns, argv):
        return subprocess.run(ns.exec_args(argv), capture_output=True, text=True,
                              timeout=60 * SLOW)

    def test_check_and_start_refuse_a_backend_at_another_address_of_this_host(self):
        path = self.write(f"{HOST_ADDR}:{PORT}")
        said = (f'{path}:8:18: backend address "{HOST_ADDR}:{PORT}" is an address of this host, '
                f"which the listener at {path}:3:14 (0.0.0.0:{PORT}) takes too: sluice would "
                "connect to itself\n")
        for mode in (["--check"], []):
            r = self.run_in(self.ns, [SLUICE] + mode + ["-c", path])
            self.assertEqual((1, "", said), (r.returncode, r.stdout, r.stderr), mode)
        r = self.run_in(self.ns, [SLUICE, "-l", f"0.0.0.0:{PORT}", "-b", f"{HOST_ADDR}:{PORT}"])
        self.assertEqual((2, f"sluice: backend {HOST_ADDR}:{PORT} is an address of this host, "
                             f"which the listen address 0.0.0.0:{PORT} takes too: sluice would "
                             "connect to itself\n"), (r.returncode, r.stderr))
        # another port, or a host without the address: no loop, accepted
        for ns, backend in ((self.ns, f"{HOST_ADDR}:{PORT + 1}"), (None, f"{HOST_ADDR}:{PORT}")):
            with self.subTest(backend=backend, here=ns is not None):
                other = ns or netns.NetNs("sl-self-bare")
                if ns is None:
                    other.__enter__()
                    self.addCleanup(other.delete)
                r = self.run_in(other, [SLUICE, "--check", "-c", self.write(backend)])
                self.assertEqual(0, r.returncode, r.stdout + r.stderr)

    def test_a_backend_added_at_run_time_at_another_address_of_this_host_is_refused(self):
        # a real backend in the namespace, so the start's own backend is a healthy one
        backend = self.ns.call(lambda: Server(echo_handler, host="127.0.0.1").__enter__())
        self.addCleanup(backend.close)
        path = self.write(f"127.0.0.1:{backend.port}")
        err = log_file()
        self.addCleanup(err.close)
        proc = subprocess.Popen(self.ns.exec_args([SLUICE, "-w", "1", "-c", path]),
                                stdout=subprocess.DEVNULL, stderr=err)
        self.addCleanup(netns.stop, proc)

        def said():
            err.seek(0)
            return err.read().decode(errors="replace")

        wait_for(lambda: "control socket on" in said() or proc.poll() is not None,
                 "the control socket", detail=said)
        self.assertIsNone(proc.poll(), said())
        r = subprocess.run([SLUICECTL, "-s", self.sock, "add", "backend", "g", "me",
                            f"{HOST_ADDR}:{PORT}"], capture_output=True, text=True,
                           timeout=60 * SLOW)
        self.assertEqual((1, "", f"sluicectl: {HOST_ADDR}:{PORT} reaches sluice's own listener "
                                 f"0.0.0.0:{PORT}: the backend would connect to sluice itself\n"),
                         (r.returncode, r.stdout, r.stderr))
        r = subprocess.run([SLUICECTL, "-s", self.sock, "add", "backend", "g", "other",
                            f"{HOST_ADDR}:{PORT + 1}"], capture_output=True, text=True,
                           timeout=60 * SLOW)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertEqual(0, netns.stop(proc), said())


if __name__ == "__main__":
    unittest.main(verbosity=2)
