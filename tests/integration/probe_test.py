# SPDX-License-Identifier: MIT
"""`sluice --probe URL` against a running sluice's admin endpoint: exit 0 on /healthz, 1 with
one line saying why on a 404 path, once the instance has stopped (connection refused), on a
server that never answers (the 2 s deadline) and on one that does not speak HTTP; the request
it sends is a minimal HTTP/1.0 GET of the URL's path."""
import subprocess
import threading
import unittest

from harness import SLOW, SLUICE, Server, Sluice, echo_handler, free_port, wait_port, write_config


def probe(url):
    r = subprocess.run([SLUICE, "--probe", url], capture_output=True, text=True,
                       timeout=30 * SLOW)
    return r.returncode, r.stdout, r.stderr


class ProbeTest(unittest.TestCase):
    def start(self):
        self.backend = Server(echo_handler).__enter__()
        self.addCleanup(self.backend.close)
        port, self.admin = free_port(), free_port()
        cfg = write_config(f"""
workers: 1
admin: {{ address: 127.0.0.1:{self.admin} }}
listeners:
  - address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    backends:
      - {{ name: b1, address: {self.backend.addr} }}
""")
        px = Sluice(["-c", cfg], port=port).__enter__()
        self.addCleanup(px.stop)
        wait_port(self.admin, proc=px.proc)
        return px

    def assert_fails_saying(self, url, why):
        rc, out, err = probe(url)
        self.assertEqual(1, rc, err)
        self.assertEqual("", out)
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertIn(why, err)

    def test_healthz_of_a_running_instance_exits_0_silently(self):
        self.start()
        self.assertEqual((0, "", ""), probe(f"http://127.0.0.1:{self.admin}/healthz"))

    def test_a_path_that_is_not_found_exits_1(self):
        self.start()
        self.assert_fails_saying(f"http://127.0.0.1:{self.admin}/nope", "404 Not Found")

    def test_a_stopped_instance_exits_1(self):
        px = self.start()
        url = f"http://127.0.0.1:{self.admin}/healthz"
        self.assertEqual(0, probe(url)[0])
        self.assertEqual(0, px.stop())
        self.assert_fails_saying(url, "connect: Connection refused")

    def test_a_server_that_never_answers_exits_1_at_the_deadline(self):
        done = threading.Event()
        with Server(lambda conn: done.wait(30 * SLOW)) as silent:
            try:
                self.assert_fails_saying(f"http://{silent.addr}/healthz",
                                         "read: no answer within 2000 ms")
            finally:
                done.set()

    def test_a_server_that_does_not_speak_http_exits_1(self):
        def hello(conn):
            conn.sendall(b"SSH-2.0-not-http\r\n")

        with Server(hello) as other:
            self.assert_fails_saying(f"http://{other.addr}/", "not an HTTP status line")

    def test_the_request_is_a_minimal_http_1_0_get_of_the_path(self):
        got = []

        def answer(conn):
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                buf += chunk
            got.append(buf)
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

        with Server(answer) as srv:
            self.assertEqual((0, "", ""), probe(f"http://{srv.addr}/stats?x=1"))
        self.assertEqual(1, len(got))
        lines = got[0].decode().split("\r\n")
        self.assertEqual("GET /stats?x=1 HTTP/1.0", lines[0])
        self.assertIn(f"Host: {srv.addr}", lines)

    def test_a_bad_url_exits_1_saying_why(self):
        self.assert_fails_saying("https://127.0.0.1:1/healthz", "https is not supported")

    def test_probe_with_any_other_option_is_a_usage_error(self):
        # an option the probe would ignore must not seem to apply
        alone = "--probe URL runs alone (no other option): it probes a running sluice"
        for extra, said in ((["-c", "x.yaml"], alone), (["-w", "4"], alone),
                            (["--log-level", "debug"], alone),
                            (["--probe", "http://127.0.0.1:2/"],
                             "--probe is given twice: give it once")):
            r = subprocess.run([SLUICE, "--probe", "http://127.0.0.1:1/"] + extra,
                               capture_output=True, text=True, timeout=30 * SLOW)
            self.assertEqual((2, f"sluice: {said}\n"), (r.returncode, r.stderr), extra)


if __name__ == "__main__":
    unittest.main()
