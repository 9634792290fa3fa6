# SPDX-License-Identifier: MIT
"""The README's run command: `sluice` with no configuration serves a demo that answers curl
and echoes other bytes. Tested with the real curl. On the admin endpoint's port, the demo goes
without it and says so."""
import collections
import socket
import subprocess
import unittest

from harness import Sluice, connect, free_port, recv_all, recv_exact, wait_for_text


class Demo(unittest.TestCase):
    def test_demo_answers_curl_from_each_builtin_backend_in_turn(self):
        port = free_port()
        with Sluice(["--demo", f"127.0.0.1:{port}", "-w", "1"], port=port) as px:
            answers = []
            for _ in range(6):
                out = subprocess.run(["curl", "-sS", "--max-time", "20", f"http://127.0.0.1:{port}/"],
                                     capture_output=True, text=True, check=True).stdout
                self.assertRegex(out, r"^hello from sluice demo backend [123] \(127\.0\.0\.1:\d+\)\n$")
                answers.append(out.split()[5])
            self.assertEqual({"1": 2, "2": 2, "3": 2}, dict(collections.Counter(answers)))
            self.assertIn("curl http://127.0.0.1:", px.stdout())
            self.assertEqual(0, px.stop(), px.stderr())

    def test_demo_echoes_bytes_that_are_not_http(self):
        port = free_port()
        with Sluice(["--demo", f"127.0.0.1:{port}"], port=port):
            s = connect(port)
            s.sendall(b"\x00\x01 hello echo")
            self.assertEqual(b"\x00\x01 hello echo", recv_exact(s, 13))
            s.shutdown(1)
            self.assertEqual(b"", recv_all(s))

    def test_demo_on_the_admin_endpoints_port_goes_without_it_and_says_so(self):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", 9090))
        except OSError:
            self.skipTest("port 9090 is taken here (another demo's admin endpoint)")
        finally:
            probe.close()
        with Sluice(["--demo", "127.0.0.1:9090", "-w", "1"], port=9090) as px:
            wait_for_text(px, "listening on 127.0.0.1:9090")  # this process, not another
            self.assertIn("sluice: no admin endpoint: the demo listens on its port "
                          "(127.0.0.1:9090); --admin ADDR:PORT puts it on another", px.stderr())
            self.assertNotIn("/metrics", px.stdout())  # the banner sends no curl to the proxy
            s = connect(9090)
            s.sendall(b"echo")
            self.assertEqual(b"echo", recv_exact(s, 4))
            s.close()
            self.assertEqual(0, px.stop(), px.stderr())

    def test_version_and_help_exit_zero(self):
        from harness import SLUICE
        v = subprocess.run([SLUICE, "--version"], capture_output=True, text=True)
        self.assertEqual(0, v.returncode)
        self.assertRegex(v.stdout, r"^sluice \d+\.\d+\.\d+\n$")
        h = subprocess.run([SLUICE, "--help"], capture_output=True, text=True)
        self.assertEqual(0, h.returncode)
        self.assertIn("--check -c FILE", h.stdout)

    def test_bad_flags_exit_two_with_a_message(self):
        from harness import SLUICE
        r = subprocess.run([SLUICE, "-l", "127.0.0.1:80", "-b", "127.0.0.1:99999"],
                           capture_output=True, text=True)
        self.assertEqual(2, r.returncode)
        self.assertIn('bad backend address "127.0.0.1:99999": port out of range (1-65535)', r.stderr)

    def test_a_flag_or_backend_given_twice_is_refused_not_dropped(self):
        # a second -b or -l would replace the first; a backend listed twice would be two
        # backends of which a disable reaches one; a stray comma is an address left out
        from harness import SLUICE
        one = ["-l", "127.0.0.1:80"]
        cases = [
            (one + ["-b", "127.0.0.1:81", "-b", "127.0.0.1:82"],
             "-b (--backends) is given twice: give it once, with every backend in one "
             "comma-separated list"),
            (["-l", "127.0.0.1:79"] + one + ["-b", "127.0.0.1:81"],
             "-l (--listen) is given twice: give it once"),
            (one + ["-b", "127.0.0.1:81", "--balance", "p2c", "--balance=maglev"],
             "--balance is given twice: give it once"),
            (one + ["-b", "127.0.0.1:81,localhost:81"],
             "backend 127.0.0.1:81 is given twice in -b"),
            (one + ["-b", "127.0.0.1:81,"],
             'bad -b list "127.0.0.1:81,": an empty item (two commas in a row, or one at an end)'),
            (one + ["-b", "127.0.0.1:81,,127.0.0.1:82"],
             'bad -b list "127.0.0.1:81,,127.0.0.1:82": an empty item (two commas in a row, or '
             "one at an end)"),
            (one + ["-b", ""], "-b needs at least one ADDR:PORT"),
        ]
        for argv, said in cases:
            r = subprocess.run([SLUICE] + argv, capture_output=True, text=True, timeout=30)
            self.assertEqual((2, f"sluice: {said}\n"), (r.returncode, r.stderr), argv)


if __name__ == "__main__":
    unittest.main(verbosity=2)
