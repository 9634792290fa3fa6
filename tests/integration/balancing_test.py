# SPDX-License-Identifier: MIT
"""Each balancer's distribution, observed through the real proxy: who answered each connection."""
import collections
import contextlib
import math
import socket
import unittest

from harness import Server, Sluice, connect, free_port, name_handler, recv_all, write_config


def who(port, source_ip="127.0.0.1"):
    s = socket.socket()
    s.settimeout(20)
    s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"who\n")
    s.shutdown(socket.SHUT_WR)
    data = recv_all(s).decode().strip()
    s.close()
    return data


@contextlib.contextmanager
def named_servers(n):
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(Server(name_handler(f"b{i}"))) for i in range(n)]


def config(port, servers, balance, weights=None, reverse=False, proxy_protocol=None):
    """A one-group config; backend i is named b<i>; <reverse> lists the backends backwards;
    <proxy_protocol>, the listener's value of that key if given."""
    weights = weights or [1] * len(servers)
    entries = list(enumerate(zip(servers, weights)))
    if reverse:
        entries.reverse()
    backends = "\n".join(f"      - {{ address: {s.addr}, weight: {w}, name: b{i} }}"
                         for i, (s, w) in entries)
    pp = f"    proxy_protocol: {proxy_protocol}\n" if proxy_protocol else ""
    return write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{port}
    group: g
{pp}groups:
  - name: g
    balance: {balance}
    backends:
{backends}
""")


class Balancing(unittest.TestCase):
    def test_round_robin_spreads_connections_evenly(self):
        with named_servers(3) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "round_robin")], port=port):
                counts = collections.Counter(who(port) for _ in range(60))
                self.assertEqual({"b0": 20, "b1": 20, "b2": 20}, dict(counts))

    def test_weighted_follows_the_weights_exactly_over_whole_cycles(self):
        with named_servers(3) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "weighted", [3, 1, 1])], port=port):
                counts = collections.Counter(who(port) for _ in range(50))
                self.assertEqual({"b0": 30, "b1": 10, "b2": 10}, dict(counts))

    def test_maglev_sends_one_client_address_to_one_backend(self):
        with named_servers(4) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "maglev")], port=port):
                seen = {}
                for i in range(2, 42):
                    src = f"127.0.0.{i}"
                    answers = {who(port, src) for _ in range(3)}
                    self.assertEqual(1, len(answers), f"{src} moved between backends")
                    seen[src] = answers.pop()
                # 40 client addresses over 4 backends: every backend gets some
                self.assertEqual(4, len(set(seen.values())))

    def test_maglev_maps_clients_alike_in_two_processes_whatever_the_backend_order(self):
        with named_servers(4) as servers:
            p1, p2 = free_port(), free_port()
            cfg1 = config(p1, servers, "maglev")
            # the same backends, listed in reverse order, in a second process
            backends = "\n".join(f"      - {{ address: {s.addr}, name: b{i} }}"
                                 for i, s in reversed(list(enumerate(servers))))
            cfg2 = write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{p2}
    group: g
groups:
  - name: g
    balance: maglev
    backends:
{backends}
""")
            with Sluice(["-c", cfg1], port=p1), Sluice(["-c", cfg2], port=p2):
                for i in range(2, 34):
                    src = f"127.0.1.{i}"
                    self.assertEqual(who(p1, src), who(p2, src), f"{src} maps differently")

    def test_maglev_maps_an_ipv4_client_alike_written_as_ipv4_mapped_ipv6(self):
        # a PROXY header from a dual-stack peer writes an IPv4 client as ::ffff:a.b.c.d: it
        # must hash as a.b.c.d does, one client, one backend
        def ask(port, header):
            with connect(port) as s:
                s.sendall(header.encode() + b"who\n")
                s.shutdown(socket.SHUT_WR)
                return recv_all(s).decode().strip()

        with named_servers(4) as servers:
            port = free_port()
            cfg = config(port, servers, "maglev",
                         proxy_protocol="{ version: v1, trusted: [127.0.0.0/8] }")
            with Sluice(["-c", cfg], port=port):
                seen = set()
                for i in range(1, 33):
                    ip = f"198.51.100.{i}"
                    a = ask(port, f"PROXY TCP4 {ip} 203.0.113.1 40000 80\r\n")
                    b = ask(port, f"PROXY TCP6 ::ffff:{ip} ::ffff:203.0.113.1 40000 80\r\n")
                    self.assertEqual(a, b, f"{ip} maps differently as ::ffff:{ip}")
                    seen.add(a)
                self.assertEqual({"b0", "b1", "b2", "b3"}, seen)

    def test_maglev_maps_weighted_clients_alike_in_two_processes_whatever_the_order(self):
        with named_servers(4) as servers:
            p1, p2 = free_port(), free_port()
            weights = [3, 1, 1, 2]
            cfg1 = config(p1, servers, "maglev", weights)
            cfg2 = config(p2, servers, "maglev", weights, reverse=True)
            with Sluice(["-c", cfg1], port=p1), Sluice(["-c", cfg2], port=p2):
                seen = set()
                for i in range(2, 66):
                    src = f"127.0.2.{i}"
                    a = who(p1, src)
                    self.assertEqual(a, who(p2, src), f"{src} maps differently")
                    seen.add(a)
                self.assertEqual({"b0", "b1", "b2", "b3"}, seen)

    def test_maglev_splits_client_addresses_by_weight(self):
        # Key = hash of the client address (not the port), so every sample needs its own source
        # address: 127.0.0.0/8 is all loopback on Linux, so bind() to 127.3.x.y works unrouted.
        # The table shares are 3/5, 1/5, 1/5 within 3 slots of 65537, so the counts are
        # binomial in the number of addresses: allow 5 standard deviations (sqrt(n p (1 - p)),
        # 12 for b0 and 10 for b1, b2 at 600 addresses). An even split (200 each) is outside.
        samples = 600
        weights = {"b0": 3, "b1": 1, "b2": 1}
        with named_servers(3) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "maglev", list(weights.values()))],
                        port=port):
                counts = collections.Counter(
                    who(port, f"127.3.{i // 250}.{i % 250 + 1}") for i in range(samples))
        total = sum(weights.values())
        for name, w in weights.items():
            p = w / total
            want, slack = samples * p, 5 * math.sqrt(samples * p * (1 - p))
            self.assertLessEqual(abs(counts[name] - want), slack,
                                 f"{name}: {counts[name]} of {samples}, want {want:.0f}")

    def test_least_conn_avoids_the_backend_holding_open_sessions(self):
        with named_servers(2) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "least_conn")], port=port):
                held = []
                for _ in range(3):  # open sessions land on alternating backends at first
                    s = connect(port)
                    s.sendall(b"who\n")
                    held.append((s, s.recv(10).decode().strip()))
                busy = collections.Counter(name for _, name in held).most_common(1)[0][0]
                # b? with two held sessions vs one: the next new sessions go to the other one
                self.assertNotEqual(busy, who(port))
                for s, _ in held:
                    s.close()

    def test_p2c_uses_every_backend(self):
        with named_servers(3) as servers:
            port = free_port()
            with Sluice(["-c", config(port, servers, "p2c")], port=port):
                counts = collections.Counter(who(port) for _ in range(60))
                self.assertEqual({"b0", "b1", "b2"}, set(counts))


if __name__ == "__main__":
    unittest.main(verbosity=2)
