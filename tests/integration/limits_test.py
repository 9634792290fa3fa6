# SPDX-License-Identifier: MIT
"""Per-source and per-listener limits hold across workers: a source's concurrent connections,
its new-connection rate, sources aggregated by prefix, and the listener's own rate. Refused
clients are closed at once and counted by reason; other sources are untouched."""
import os
import signal
import socket
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, echoed, free_port, rejected,
                     replace_config, wait_for_text, write_config)


def config(port, backend, listener_extra):
    return write_config(f"""
workers: 2
listeners:
  - address: 127.0.0.1:{port}
    group: g
{listener_extra}
groups:
  - name: g
    backends:
      - address: {backend}
""")


class SourceLimits(unittest.TestCase):
    def run_proxy(self, listener_extra, body):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = config(port, b.addr, listener_extra)
            with Sluice(["-c", cfg], port=port) as px:
                body(port)
                self.assertEqual(0, px.stop())
                err = px.stderr()
            os.unlink(cfg)
            return err

    def test_concurrent_connections_per_source_hold_across_workers(self):
        def body(port):
            held = [connect(port, source="127.0.0.10") for _ in range(3)]
            for s in held:  # SO_REUSEPORT spreads them over both workers
                self.assertTrue(echoed(s))
            extra = connect(port, source="127.0.0.10")
            self.assertTrue(closed_by_peer(extra, 10 * SLOW))
            other = connect(port, source="127.0.0.11")
            self.assertTrue(echoed(other))
            # a slot frees up: once sluice has closed the session, the source may come back
            held[0].shutdown(socket.SHUT_WR)
            self.assertEqual(b"", held[0].recv(16))
            held[0].close()
            again = connect(port, source="127.0.0.10")
            self.assertTrue(echoed(again))
            for s in held[1:] + [extra, other, again]:
                s.close()

        err = self.run_proxy("    source_limits: { max_connections: 3 }", body)
        self.assertEqual({"source_connections": 1}, rejected(err))

    def test_sources_in_one_prefix_share_a_limit(self):
        def body(port):
            a = connect(port, source="127.0.5.1")
            self.assertTrue(echoed(a))
            b = connect(port, source="127.0.5.2")  # same /24
            self.assertTrue(closed_by_peer(b, 10 * SLOW))
            c = connect(port, source="127.0.6.1")  # another /24
            self.assertTrue(echoed(c))
            for s in (a, b, c):
                s.close()

        err = self.run_proxy("    source_limits: { max_connections: 1, prefix4: 24 }", body)
        self.assertEqual({"source_connections": 1}, rejected(err))

    def test_new_connection_rate_per_source(self):
        counts = {}

        def body(port):
            ok, start = 0, time.monotonic()
            for _ in range(20):  # faster than 2/s: the burst of 4, and a token per 0.5 s
                s = connect(port, source="127.0.0.20")
                ok += echoed(s)
                s.close()
            counts["ok"], counts["spell"] = ok, time.monotonic() - start
            other = connect(port, source="127.0.0.21")
            self.assertTrue(echoed(other))
            other.close()

        err = self.run_proxy("    source_limits: { rate: 2, burst: 4 }", body)
        # the burst, plus what the rate gave over the loop's measured length
        self.assertGreaterEqual(counts["ok"], 4)
        self.assertLessEqual(counts["ok"], 4 + 2 * counts["spell"] + 1)
        self.assertEqual({"source_rate": 20 - counts["ok"]}, rejected(err))

    def test_listener_rate_holds_for_every_source_together(self):
        counts = {}

        def body(port):
            ok, start = 0, time.monotonic()
            for i in range(20):
                s = connect(port, source=f"127.0.1.{i + 1}")
                ok += echoed(s)
                s.close()
            counts["ok"], counts["spell"] = ok, time.monotonic() - start

        err = self.run_proxy("    rate: { per_second: 2, burst: 5 }", body)
        self.assertGreaterEqual(counts["ok"], 5)
        self.assertLessEqual(counts["ok"], 5 + 2 * counts["spell"] + 1)
        self.assertEqual({"listener_rate": 20 - counts["ok"]}, rejected(err))

    def test_a_listener_rate_a_reload_raises_applies_at_once(self):
        """A bucket emptied under 1/s with a burst of 2 owes two seconds: raised to 1000/s by a
        reload, it refills at the new rate from the reload on (empty, as it was), so the next
        clients are served within a tenth of a second, not refused until the old debt is
        paid."""
        with Server(echo_handler) as b:
            port = free_port()
            cfg = config(port, b.addr, "    rate: { per_second: 1, burst: 2 }")
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                served = []
                for _ in range(3):
                    with connect(port) as s:
                        served.append(echoed(s))
                self.assertEqual([True, True, False], served)
                replace_config(cfg, config(port, b.addr,
                                           "    rate: { per_second: 1000, burst: 1000 }"))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "rate.per_second changed")
                time.sleep(0.1)  # 100 tokens at the new rate (the bucket fits it empty)
                served = []
                for _ in range(5):
                    with connect(port) as s:
                        served.append(echoed(s))
                self.assertEqual([True] * 5, served)
                self.assertEqual(0, px.stop())
            self.assertEqual({"listener_rate": 1}, rejected(px.stderr()))


if __name__ == "__main__":
    unittest.main()
