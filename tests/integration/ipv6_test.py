# SPDX-License-Identifier: MIT
"""IPv6 end to end: a listener on [::1], backends on [::1] and 127.0.0.1 (mixed families),
bytes checksummed both ways."""
import hashlib
import os
import unittest

from harness import Server, Sluice, echo_handler, echo_roundtrip, free_port


class IPv6(unittest.TestCase):
    def test_ipv6_listener_reaches_ipv6_and_ipv4_backends(self):
        with Server(echo_handler, host="::1") as v6, Server(echo_handler) as v4:
            port = free_port("::1")
            args = ["-l", f"[::1]:{port}", "-b", f"{v6.addr},{v4.addr}", "-w", "1"]
            with Sluice(args, port=port, host="::1") as px:
                for _ in range(4):
                    payload = os.urandom(200_000)
                    self.assertEqual(hashlib.sha256(payload).digest(),
                                     hashlib.sha256(echo_roundtrip(port, payload, host="::1")).digest())
                self.assertEqual(2, v6.accepted)
                self.assertEqual(2, v4.accepted)
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
