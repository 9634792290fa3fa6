# SPDX-License-Identifier: MIT
"""Scale-out with Maglev: three independent sluice processes (no shared state) over the same
five backends send every client address to the same backend, and after a restart without one
backend only that backend's clients, plus a small bound of others, move (docs/scale-out.md).

Maglev hashes the client's IP address, not its port (src/proxy/group.c: the key is
sl_lb_hash_bytes() of sl_addr_ip_bytes(peer)), and places backends by name, so each client
gets its own source address: 127.0.0.0/8 is all loopback on Linux, and bind() to 127.20.x.y
works without any route or interface set-up."""
import concurrent.futures
import contextlib
import math
import socket
import unittest

from harness import SLOW, Server, Sluice, free_port, name_handler, recv_all, write_config

CLIENTS = 300
BACKENDS = 5
INSTANCES = 3
SOURCES = [f"127.20.{i // 250}.{i % 250 + 2}" for i in range(CLIENTS)]


def who(port, source_ip):
    """The name of the backend that answers a connection from <source_ip> through <port>."""
    s = socket.socket()
    s.settimeout(20 * SLOW)
    s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"who\n")
    s.shutdown(socket.SHUT_WR)
    data = recv_all(s).decode().strip()
    s.close()
    return data


def config(port, servers):
    backends = "\n".join(f"      - {{ name: b{i}, address: {s.addr} }}" for i, s in servers)
    return write_config(f"""
workers: 2
listeners:
  - address: 127.0.0.1:{port}
groups:
  - name: g
    balance: maglev
    backends:
{backends}
""")


def mapping(servers):
    """Starts INSTANCES sluice processes over <servers> ((index, Server) pairs) and returns, for
    each instance, {source: backend name} over every source in SOURCES."""
    ports = [free_port() for _ in range(INSTANCES)]
    with contextlib.ExitStack() as stack:
        for p in ports:
            stack.enter_context(Sluice(["-c", config(p, servers)], port=p))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return [dict(zip(SOURCES, pool.map(lambda src, p=p: who(p, src), SOURCES)))
                    for p in ports]


def within_sample_bound(got, n, p):
    """<got> of <n> clients is plausible for a backend with table share <p>: within 5 standard
    deviations of the binomial, plus 1 (as lb_maglev_test.c's helper of the same name)."""
    return abs(got - n * p) - 1 <= 5 * math.sqrt(n * p * (1 - p))


class ScaleOut(unittest.TestCase):
    def test_instances_agree_and_a_removed_backend_moves_only_its_clients(self):
        with contextlib.ExitStack() as stack:
            servers = [(i, stack.enter_context(Server(name_handler(f"b{i}"))))
                       for i in range(BACKENDS)]
            before = mapping(servers)
            for k in range(1, INSTANCES):
                diff = [s for s in SOURCES if before[k][s] != before[0][s]]
                self.assertEqual([], diff, f"instance {k} disagrees with instance 0")
            counts = {f"b{i}": 0 for i in range(BACKENDS)}
            for s in SOURCES:
                counts[before[0][s]] += 1
            for name, n in counts.items():
                self.assertTrue(within_sample_bound(n, CLIENTS, 1 / BACKENDS), counts)

            gone = "b2"
            after = mapping([(i, s) for i, s in servers if f"b{i}" != gone])
            for k in range(1, INSTANCES):
                diff = [s for s in SOURCES if after[k][s] != after[0][s]]
                self.assertEqual([], diff, f"after removal, instance {k} disagrees")
            self.assertNotIn(gone, set(after[0].values()))

            on_removed = [s for s in SOURCES if before[0][s] == gone]
            others_moved = [s for s in SOURCES
                            if before[0][s] != gone and after[0][s] != before[0][s]]
            moved = len(on_removed) + len(others_moved)
            print(f"{CLIENTS} clients, {INSTANCES} instances: {len(on_removed)} were on the "
                  f"removed backend, {len(others_moved)} others moved; "
                  f"{moved / CLIENTS:.3f} moved in all (1/{BACKENDS} = {1 / BACKENDS:.3f})")
            # Bound for the others: 2% of clients, the bound lb_maglev_test.c holds the table
            # to over 100000 random keys (observed there 0.27% for 1 of 10 removed). The
            # addresses here are fixed, so this count is the same on every run.
            self.assertLessEqual(len(others_moved), CLIENTS * 2 // 100, others_moved)


if __name__ == "__main__":
    unittest.main(verbosity=2)
