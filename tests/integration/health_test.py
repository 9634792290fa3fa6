# SPDX-License-Identifier: MIT
"""Active health checks: a backend whose server stops is marked down (logged once) and every
new connection then goes to the other one; without retries, a pick of the stopped backend
would fail the client, so the answers prove the down backend is skipped."""
import unittest

from harness import Server, Sluice, connect, free_port, name_handler, wait_for_text, write_config


def config(port, backends):
    lines = "\n".join(f"      - address: {b}" for b in backends)
    return write_config(f"""
workers: 2
listeners:
  - address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    balance: round_robin
    retries: 0
    passive: {{ failures: 0 }}
    health: {{ type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }}
    backends:
{lines}
""")


def who(port):
    """The name of the backend that answers a new connection, or b"" if none does."""
    s = connect(port)
    try:
        s.sendall(b"who\n")
        return s.makefile("rb").readline().strip()
    except OSError:
        return b""
    finally:
        s.close()


class Health(unittest.TestCase):
    def test_stopped_backend_is_marked_down_and_skipped(self):
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b:
            port = free_port()
            with Sluice(["-c", config(port, [a.addr, b.addr])], port=port) as px:
                # both serve while up (round robin over two workers' own balancers)
                seen = {who(port) for _ in range(8)}
                self.assertEqual({b"a", b"b"}, seen)
                a.close()
                wait_for_text(px, "is down")
                answers = [who(port) for _ in range(20)]
                self.assertEqual([b"b"] * 20, answers)
                self.assertEqual(0, px.stop(), px.stderr())
                err = px.stderr()
                self.assertEqual(1, err.count(" is down"), err)
                self.assertRegex(err, r"backend g/127\.0\.0\.1:\d+ is down")
                self.assertIn("health checks:", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
