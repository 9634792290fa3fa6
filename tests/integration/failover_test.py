# SPDX-License-Identifier: MIT
"""Failover: a refused backend and a backend that never accepts are skipped, the client is
served by the next backend; with no backend left the client is closed, not left hanging; a
retry is counted only when another backend is tried."""
import os
import re
import signal
import socket
import struct
import time
import unittest

from harness import (Server, Sluice, black_hole, closed_by_peer, connect, free_port, recv_all,
                     refused_address, replace_config, scrape_metrics, wait_for, wait_for_text,
                     write_config)


def config(port, backends, connect_ms=300, retries=2, passive_failures=0, admin=None, workers=1,
           passive_more=""):
    lines = "\n".join(f"      - address: {b}" for b in backends)
    admin_key = f"admin: {{ address: 127.0.0.1:{admin} }}" if admin else ""
    return write_config(f"""
workers: {workers}
{admin_key}
listeners:
  - address: 127.0.0.1:{port}
    group: g
    timeouts: {{ connect: {connect_ms}ms }}
groups:
  - name: g
    balance: round_robin
    retries: {retries}
    passive: {{ failures: {passive_failures}{passive_more} }}
    backends:
{lines}
""")


def ask(port):
    s = connect(port)
    s.sendall(b"ping\n")
    s.shutdown(socket.SHUT_WR)
    data = recv_all(s, timeout=20)
    s.close()
    return data


def echo(conn):
    data = conn.recv(100)
    conn.sendall(data)


class Failover(unittest.TestCase):
    def test_refused_backend_fails_over_to_the_next(self):
        with refused_address() as dead, Server(echo) as live:
            port = free_port()
            with Sluice(["-c", config(port, [dead, live.addr])], port=port) as px:
                for _ in range(6):
                    self.assertEqual(b"ping\n", ask(port))
                self.assertEqual(6, live.accepted)
                self.assertEqual(0, px.stop(), px.stderr())

    def test_backend_that_never_accepts_times_out_and_fails_over(self):
        with black_hole() as hole, Server(echo) as live:
            port = free_port()
            with Sluice(["-c", config(port, [hole, live.addr], connect_ms=200)], port=port):
                for _ in range(4):
                    self.assertEqual(b"ping\n", ask(port))
                self.assertEqual(4, live.accepted)

    def test_client_is_closed_when_every_backend_fails(self):
        """...and the log says so, once per worker per 10 s with the count since its last
        line (3 clients at once: one line, for the first)."""
        port = free_port()
        with refused_address() as dead1, refused_address() as dead2, \
                Sluice(["-c", config(port, [dead1, dead2])], port=port) as px:
            for _ in range(3):
                s = connect(port, timeout=10)
                self.assertTrue(closed_by_peer(s))
                s.close()
            self.assertEqual(0, px.stop())
        err = px.stderr()
        self.assertEqual(1, err.count("no backend could be reached"), err)
        self.assertIn(f"listener 127.0.0.1:{port}: group g: no backend could be reached (none up "
                      "and taking sessions, or every connect its retries allow failed): 1 client "
                      "closed (no_backend)\n", err)
        self.assertIn("3 no_backend", err)  # the exit summary

    def test_the_no_backend_line_is_rate_limited_per_worker(self):
        """With two workers, 16 clients closed for want of a backend give one line per worker
        that closed any (each for its first client), not one per client nor one in all; the
        exit summary counts every client."""
        port = free_port()
        with refused_address() as dead, \
                Sluice(["-c", config(port, [dead], retries=0, workers=2)], port=port) as px:
            for _ in range(16):
                s = connect(port, timeout=10)
                self.assertTrue(closed_by_peer(s))
                s.close()
            self.assertEqual(0, px.stop())
        err = px.stderr()
        lines = [ln for ln in err.splitlines() if "no backend could be reached" in ln]
        self.assertIn(len(lines), (1, 2), err)
        for ln in lines:
            self.assertTrue(ln.endswith(": 1 client closed (no_backend)"), ln)
        self.assertIn("16 no_backend", err)

    def counts_for_one_client(self, backends):
        """One client through a group of <backends> that all refuse, with retries: 2; the
        client is closed. {metric: value} of the process's connect and retry counters."""
        port, admin = free_port(), free_port()
        cfg = config(port, backends, admin=admin)
        self.addCleanup(os.unlink, cfg)
        with Sluice(["-c", cfg], port=port) as px:
            s = connect(port, timeout=10)
            self.assertTrue(closed_by_peer(s))
            s.close()
            m = scrape_metrics(admin)
            self.assertEqual(0, px.stop(), px.stderr())
        names = ("connect_failures", "retries", "no_backend")
        return {n: m[f"sluice_{n}_total"] for n in names}

    def test_a_failed_connect_with_no_other_backend_counts_no_retry(self):
        with refused_address() as dead:
            self.assertEqual({"connect_failures": 1, "retries": 0, "no_backend": 1},
                             self.counts_for_one_client([dead]))

    def test_a_retry_is_counted_for_each_other_backend_tried(self):
        with refused_address() as dead1, refused_address() as dead2:
            self.assertEqual({"connect_failures": 2, "retries": 1, "no_backend": 1},
                             self.counts_for_one_client([dead1, dead2]))

    def test_a_client_that_resets_while_its_connect_is_pending_is_closed_at_once(self):
        """A client reset while the backend connect is under way ends the session then (as a
        reset, counted), not at timeouts.connect as no_backend; the connect given up is not
        charged to the backend."""
        with black_hole() as hole:
            port, admin = free_port(), free_port()
            cfg = config(port, [hole], connect_ms=30000, retries=0, admin=admin)
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                s = connect(port, timeout=10)
                s.sendall(b"ping\n")
                wait_for(lambda: scrape_metrics(admin).get("sluice_active") == 1,
                         "the session connecting")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                # long before the 30 s connect timeout
                wait_for(lambda: scrape_metrics(admin).get("sluice_active") == 0,
                         "the session closed by the client's reset")
                m = scrape_metrics(admin)
                self.assertEqual(0, px.stop(), px.stderr())
            self.assertEqual({"resets": 1, "no_backend": 0, "connect_failures": 0},
                             {n: m[f"sluice_{n}_total"] for n in ("resets", "no_backend",
                                                                   "connect_failures")})

    def test_passive_ejection_stops_sending_to_a_failing_backend(self):
        with refused_address() as dead, Server(echo) as live:
            port = free_port()
            cfg = config(port, [dead, live.addr], retries=0, passive_failures=2)
            with Sluice(["-c", cfg, "--log-level", "info"], port=port) as px:
                outcomes = []
                for _ in range(12):
                    try:
                        outcomes.append(ask(port))
                    except OSError:
                        outcomes.append(b"")
                # without retries the first picks of the dead backend fail; once ejected,
                # every later connection goes to the live one
                self.assertEqual([b"ping\n"] * 6, outcomes[-6:])
                px.stop()
                # the log names the backend as GROUP/NAME, as its other lines do
                self.assertRegex(px.stderr(), rf"backend g/{re.escape(dead)} ejected for \d+ ms "
                                 r"after 2 consecutive connect failures\n")

    def test_a_limit_lowered_below_a_running_streak_ejects_at_the_next_failure(self):
        """4 failures in a row under failures: 10, then a reload to failures: 3: the backend is
        past the new limit, so its next failure ejects it (it never equalled 3 again, and a
        dead backend never succeeds to restart the count)."""
        with refused_address() as dead, Server(echo) as live:
            port = free_port()
            path = config(port, [dead, live.addr], retries=1, passive_failures=10)
            with Sluice(["-c", path], port=port) as px:
                for _ in range(4):  # each tries the dead one, then the live one
                    self.assertEqual(b"ping\n", ask(port))
                self.assertNotIn("ejected", px.stderr())
                replace_config(path, config(port, [dead, live.addr], retries=1,
                                            passive_failures=3))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "reloaded")
                self.assertEqual(b"ping\n", ask(port))
                wait_for_text(px, f"backend g/{dead} ejected for ")
                self.assertIn("after 5 consecutive connect failures", px.stderr())
                self.assertEqual(0, px.stop())

    def test_a_max_backoff_lowered_by_a_reload_bounds_the_next_ejection(self):
        """A backend that keeps failing doubles its backoff, stored under the limits of then:
        a reload that lowers max_backoff bounds the next ejection at once, not after a
        success that a dead backend never has."""
        with refused_address() as dead, Server(echo) as live:
            port = free_port()

            def eject_once(px):
                n = px.stderr().count("ejected for")
                for _ in range(20):  # round robin: one in two clients tries the dead one
                    self.assertEqual(b"ping\n", ask(port))
                    if px.stderr().count("ejected for") > n:
                        return
                self.fail(px.stderr())

            path = config(port, [dead, live.addr], retries=1, passive_failures=1,
                          passive_more=", backoff: 400ms, max_backoff: 60s")
            with Sluice(["-c", path], port=port) as px:
                eject_once(px)
                self.assertIn(f"backend g/{dead} ejected for 400 ms", px.stderr())
                time.sleep(0.5)
                eject_once(px)
                self.assertIn(f"backend g/{dead} ejected for 800 ms", px.stderr())
                replace_config(path, config(port, [dead, live.addr], retries=1,
                                            passive_failures=1,
                                            passive_more=", backoff: 100ms, max_backoff: 300ms"))
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "passive.max_backoff changed")
                time.sleep(0.9)  # past the 800 ms
                eject_once(px)
                self.assertIn(f"backend g/{dead} ejected for 300 ms", px.stderr())
                self.assertNotIn("ejected for 1600 ms", px.stderr())
                self.assertEqual(0, px.stop())

    def test_a_burst_of_failed_connects_ejects_once(self):
        """30 clients at once towards a backend that never accepts: their connects were all
        under way when the third failure ejected it, and the ones failing after that are not
        repeats (no connect starts while it is ejected): one ejection of the first backoff,
        not one per three failures, doubling to max_backoff."""
        with black_hole() as hole, Server(echo) as live:
            port, admin = free_port(), free_port()
            cfg = config(port, [hole, live.addr], connect_ms=300, retries=1, passive_failures=3,
                         admin=admin)
            self.addCleanup(os.unlink, cfg)
            with Sluice(["-c", cfg], port=port) as px:
                socks = [connect(port) for _ in range(30)]
                for s in socks:
                    s.sendall(b"ping\n")
                    s.shutdown(socket.SHUT_WR)
                for s in socks:
                    self.assertEqual(b"ping\n", recv_all(s, timeout=20))
                    s.close()
                m = scrape_metrics(admin)
                self.assertEqual(0, px.stop(), px.stderr())
            self.assertGreaterEqual(m["sluice_connect_failures_total"], 3, m)
            self.assertEqual(1, m["sluice_ejections_total"], m)
            self.assertEqual(1, px.stderr().count(f"backend g/{hole} ejected for 1000 ms"),
                             px.stderr())
            self.assertNotIn("ejected for 2000 ms", px.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
