# SPDX-License-Identifier: MIT
"""Active health checks: a backend whose server stops is marked down (logged once) and every
new connection then goes to the other one; without retries, a pick of the stopped backend
would fail the client, so the answers prove the down backend is skipped. With health.port the
checks go to that port of the backend's address: the backend is down when its health port
closes though its traffic port still serves, and up again when the health port is back."""
import unittest

from harness import Server, Sluice, connect, echo_handler, free_port, name_handler, wait_for_text, write_config


def config(port, backends, health_port=0):
    lines = "\n".join(f"      - address: {b}" for b in backends)
    on_port = f", port: {health_port}" if health_port else ""
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
    health: {{ type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1{on_port} }}
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

    def test_checks_go_to_the_health_port_and_mark_the_backend_by_it(self):
        with Server(name_handler("a")) as a, Server(name_handler("b"), host="127.0.0.2") as b, \
                Server(echo_handler) as a_health:
            port, health_port = free_port(), a_health.port
            # a's health port is on its address, 127.0.0.1; nothing listens on that port of
            # b's, 127.0.0.2: only a is up by the checks, though both serve traffic
            with Sluice(["-c", config(port, [a.addr, b.addr], health_port)], port=port) as px:
                wait_for_text(px, f"is down: connect to health port {health_port}")
                self.assertEqual([b"a"] * 8, [who(port) for _ in range(8)])
                self.assertNotIn(f"g/{a.addr} is down", px.stderr())
                # a's health port closes: a is down though its traffic port serves
                a_health.close()
                wait_for_text(px, f"backend g/{a.addr} is down: connect to health port {health_port}")
                self.assertEqual([b""] * 4, [who(port) for _ in range(4)])
                with Server(echo_handler, port=health_port):
                    wait_for_text(px, f"backend g/{a.addr} is up again")
                    self.assertEqual([b"a"] * 8, [who(port) for _ in range(8)])
                self.assertEqual(0, px.stop(), px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
