# SPDX-License-Identifier: MIT
"""The README's run command: `sluice` with no configuration serves a demo that answers curl
and echoes other bytes. Tested with the real curl."""
import collections
import subprocess
import unittest

from harness import Sluice, connect, free_port, recv_all, recv_exact


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
