# SPDX-License-Identifier: MIT
"""sluice-static needs nothing from the filesystem: no dynamic loader, no shared library, no NSS.
It runs in an empty chroot holding only itself and its configuration, inside a network namespace
this test creates, proxies a checksummed payload to an echo backend in that namespace, and
serves the admin endpoint's /healthz (libmicrohttpd and jansson linked in, GnuTLS stubbed out),
which its own `--probe` reads from the same chroot, and its control socket (jansson too), which
sluicectl reads from outside it.
Runs where sluice-static is built (release), as root, where network namespaces work; elsewhere
every test skips, saying why."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import netns
from harness import SLOW, SLUICECTL, echo_handler, echo_roundtrip, log_file, Server

PAYLOAD_BYTES = 4 << 20
CONFIG = """\
workers: 1
drain_timeout: 5s
admin: { address: 127.0.0.1:9090 }
listeners:
  - name: front
    address: 127.0.0.1:8080
    group: back
groups:
  - name: back
    backends:
      - address: 127.0.0.1:9001
"""


def http_get(port, path):
    """The raw answer to GET <path> on 127.0.0.1:<port>, read to the server's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out.decode(errors="replace")


def wait_unix_socket(path, proc, timeout=10.0):
    """Until <path> takes a connection (bounded); fails if <proc> exits first."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"sluice exited with {proc.returncode} before serving {path}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(path)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answers on {path}")
        time.sleep(0.05)


def setUpModule():
    netns.require_static_and_netns()


class StaticBinaryTest(unittest.TestCase):
    def test_static_binary_has_no_interpreter_and_no_needed_library(self):
        interp, needed = netns.elf_dynamic_needs(netns.STATIC_BIN)
        self.assertIsNone(interp)
        self.assertEqual([], needed)

    def test_static_binary_links_no_gnutls(self):
        # the gnutls_* names are app/static/no_tls.c's stubs, not the library
        syms = subprocess.run(["nm", "--defined-only", netns.STATIC_BIN], check=True,
                              capture_output=True, text=True).stdout.split()
        self.assertIn("gnutls_global_init", syms)
        self.assertEqual([], [s for s in syms if s.startswith(("_gnutls_", "p11_kit_"))])

    def test_static_binary_links_no_name_service_code(self):
        syms = subprocess.run(["nm", "--defined-only", netns.STATIC_BIN], check=True,
                              capture_output=True, text=True).stdout.split()
        nss = sorted({s for s in syms if s.startswith(("__nss_", "_nss_")) or s in (
            "getaddrinfo", "gethostbyname", "getpwnam", "getpwuid", "getgrnam", "getservbyname")})
        self.assertEqual([], nss)


class EmptyChrootTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sl-chroot-")
        self.addCleanup(shutil.rmtree, self.root)
        os.chmod(self.root, 0o755)
        shutil.copy(netns.STATIC_BIN, os.path.join(self.root, "sluice"))
        with open(os.path.join(self.root, "sluice.yaml"), "w") as f:
            f.write(CONFIG)
        self.assertEqual(["sluice", "sluice.yaml"], sorted(os.listdir(self.root)))

    def test_config_check_runs_in_an_empty_chroot(self):
        r = subprocess.run(["chroot", self.root, "/sluice", "--check", "-c", "/sluice.yaml"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn("/sluice.yaml: ok (1 listener, 1 group)", r.stdout)

    def test_proxies_a_checksummed_payload_from_an_empty_chroot_in_a_network_namespace(self):
        payload = os.urandom(PAYLOAD_BYTES)
        with netns.NetNs("sl-static") as ns:
            backend = ns.call(Server, echo_handler, "127.0.0.1", 9001)
            with backend, log_file() as err:
                proc = subprocess.Popen(
                    ns.exec_args(["chroot", self.root, "/sluice", "-c", "/sluice.yaml"]),
                    stdout=subprocess.DEVNULL, stderr=err)
                try:
                    ns.wait_listening(8080, proc, host="127.0.0.1")
                    got = ns.call(echo_roundtrip, 8080, payload)
                    ns.wait_listening(9090, proc, host="127.0.0.1")
                    healthz = ns.call(http_get, 9090, "/healthz")
                    probe = subprocess.run(
                        ns.exec_args(["chroot", self.root, "/sluice", "--probe",
                                      "http://127.0.0.1:9090/healthz"]),
                        capture_output=True, text=True, timeout=30)
                finally:
                    rc = netns.stop(proc)
                    err.seek(0)
                    log = err.read().decode(errors="replace")
            self.assertEqual(len(payload), len(got), log)
            self.assertEqual(hashlib.sha256(payload).hexdigest(), hashlib.sha256(got).hexdigest())
            self.assertEqual(1, backend.accepted)
            self.assertRegex(healthz, r"^HTTP/1\.[01] 200 OK\r\n")
            self.assertTrue(healthz.endswith("\r\n\r\nok\n"), healthz)
            self.assertEqual((0, ""), (probe.returncode, probe.stderr))
            self.assertEqual(0, rc, log)
            self.assertIn(f"sessions: 1 accepted, 1 closed, 0 still open at exit; bytes: "
                          f"{PAYLOAD_BYTES} in, {PAYLOAD_BYTES} out", log)

    def test_serves_sluicectl_on_its_control_socket_from_an_empty_chroot(self):
        with open(os.path.join(self.root, "sluice.yaml"), "a") as f:
            f.write("control: { path: /sluice.sock }\n")
        sock = os.path.join(self.root, "sluice.sock")
        with netns.NetNs("sl-sctl") as ns, log_file() as err:
            proc = subprocess.Popen(
                ns.exec_args(["chroot", self.root, "/sluice", "-c", "/sluice.yaml"]),
                stdout=subprocess.DEVNULL, stderr=err)
            try:
                wait_unix_socket(sock, proc)
                text = subprocess.run([SLUICECTL, "-s", sock, "show", "info"],
                                      capture_output=True, text=True, timeout=30)
                raw = subprocess.run([SLUICECTL, "-s", sock, "--json", "show", "info"],
                                     capture_output=True, text=True, timeout=30)
            finally:
                rc = netns.stop(proc)
                err.seek(0)
                log = err.read().decode(errors="replace")
        self.assertEqual((0, ""), (text.returncode, text.stderr), log)
        self.assertIn(f"pid             {proc.pid}\n", text.stdout)
        self.assertIn("config_file     /sluice.yaml\n", text.stdout)
        self.assertIn("control_socket  /sluice.sock\n", text.stdout)
        self.assertRegex(text.stdout, r"\n  front +127\.0\.0\.1:8080 +back\n")
        self.assertEqual(0, raw.returncode, raw.stderr)
        doc = json.loads(raw.stdout)
        self.assertEqual(True, doc["ok"])
        self.assertEqual((proc.pid, 1), (doc["result"]["pid"], doc["result"]["workers"]))
        self.assertEqual([{"name": "front", "address": "127.0.0.1:8080", "group": "back"}],
                         doc["result"]["listeners"])
        self.assertEqual(0, rc, log)


if __name__ == "__main__":
    unittest.main()
