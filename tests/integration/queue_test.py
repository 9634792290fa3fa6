# SPDX-License-Identifier: MIT
"""The backend queue (group max_queue, timeouts.queue): clients over a backend's max_connections
wait in a bounded FIFO queue instead of being refused; their bytes wait with them; one over the
queue is refused at once (queue_full); one that waits too long is closed (timeouts: queue); a
freed slot admits the oldest waiting client. Also across two workers, where the bound is
whole-process and slots freed on the other worker are found by the periodic retry."""
import os
import select
import socket
import struct
import unittest

from harness import SLOW, Server, Sluice, closed_by_peer, connect, echo_handler, free_port, recv_exact, write_config


def queue_config(port, backend, workers=1, max_queue=4, queue_timeout="10s"):
    return write_config(f"""
workers: {workers}
listeners:
  - address: 127.0.0.1:{port}
    group: g
    timeouts: {{ queue: {queue_timeout} }}
groups:
  - name: g
    max_queue: {max_queue}
    backends:
      - address: {backend}
        max_connections: 2
""")


def echoed(sock, payload, wait=10.0):
    """True if <payload> comes back within <wait> s (scaled for sanitizer builds)."""
    r, _, _ = select.select([sock], [], [], wait * SLOW)
    return bool(r) and recv_exact(sock, len(payload)) == payload


def hold_two(port):
    """Two sessions that hold both of the backend's slots (each has echoed once)."""
    held = [connect(port) for _ in range(2)]
    for i, s in enumerate(held):
        s.sendall(b"held%d" % i)
        assert echoed(s, b"held%d" % i), "a session below the cap was not served"
    return held


def readable(socks, wait):
    r, _, _ = select.select(socks, [], [], wait)
    return r


class OneWorker(unittest.TestCase):
    def test_clients_over_the_cap_wait_in_order_and_one_over_the_queue_is_refused(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr)
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                queued = []
                for i in range(4):  # each sends at once: its bytes wait with it
                    s = connect(port)
                    s.sendall(b"queued%d" % i)
                    queued.append(s)
                seventh = connect(port)
                self.assertTrue(closed_by_peer(seventh), "the client over the queue was kept")
                self.assertEqual([], readable(queued, 0.3 * SLOW), "a queued client was served")
                self.assertEqual(2, b.accepted)
                # every slot freed admits the oldest waiting client, and only it
                freeing = list(held)
                for i, s in enumerate(queued):
                    freeing.pop(0).close()
                    self.assertTrue(echoed(s, b"queued%d" % i),
                                    "queued client %d was not served once a slot freed" % i)
                    self.assertEqual([], readable(queued[i + 1:], 0),
                                     "a younger client was served before an older one")
                    freeing.append(s)
                for s in freeing + [seventh]:
                    s.close()
                self.assertEqual(0, px.stop())
                err = px.stderr()
                self.assertRegex(err, r"process: (.*, )?1 queue_full\b")
                self.assertRegex(err, r"sessions: 7 accepted")
                self.assertNotRegex(err, r"timeouts:.* queue \d")
            os.unlink(cfg)

    def test_a_client_that_waits_longer_than_the_queue_timeout_is_closed(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr, queue_timeout="300ms")
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                waiting = connect(port)
                waiting.sendall(b"late")
                self.assertTrue(closed_by_peer(waiting), "the queued client was never closed")
                # the slots are still held: the timeout, not a slot, ended the wait
                for i, s in enumerate(held):
                    s.sendall(b"again%d" % i)
                    self.assertTrue(echoed(s, b"again%d" % i))
                for s in held + [waiting]:
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertRegex(px.stderr(), r"timeouts:.* queue 1")
                self.assertEqual(2, b.accepted)
            os.unlink(cfg)

    def test_a_client_that_resets_while_queued_leaves_the_queue(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr)
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                gone, behind = connect(port), connect(port)
                behind.sendall(b"behind")
                # a reset (SO_LINGER 0): the session must leave the queue, not take a slot later
                gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                gone.close()
                held[0].close()
                self.assertTrue(echoed(behind, b"behind"), "the client behind was not served")
                # had the reset one stayed queued, it would have been admitted (a backend
                # connection) before the one behind it
                self.assertEqual(3, b.accepted)
                for s in held[1:] + [behind]:
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertRegex(px.stderr(), r"process: (.*, )?1 resets\b")  # and counted
            os.unlink(cfg)

    def test_a_client_that_half_closes_while_queued_keeps_its_place(self):
        # a request then shutdown(SHUT_WR), as many clients send one: the FIN waits in the
        # queue with the bytes before it, and the answer comes back once a slot frees
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr)
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                asked, fin_only = connect(port), connect(port)
                asked.sendall(b"request")
                asked.shutdown(socket.SHUT_WR)
                fin_only.shutdown(socket.SHUT_WR)
                self.assertEqual([], readable([asked, fin_only], 0.3 * SLOW),
                                 "a queued client was served or closed before a slot freed")
                for s in held:
                    s.close()
                self.assertTrue(echoed(asked, b"request"), "the half-closed client lost its place")
                self.assertTrue(closed_by_peer(asked))  # the backend's EOF follows the answer
                self.assertTrue(closed_by_peer(fin_only))
                self.assertEqual(4, b.accepted)  # both reached the backend
                for s in (asked, fin_only):
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertNotRegex(px.stderr(), r"process: (.*, )?\d+ resets\b")
            os.unlink(cfg)

    def test_without_max_queue_a_client_over_the_cap_is_closed_at_once(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr, max_queue=0)
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                third = connect(port)
                self.assertTrue(closed_by_peer(third), "a client over the cap was kept")
                for s in held + [third]:
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertNotIn("queue_full", px.stderr())
            os.unlink(cfg)


class TwoWorkers(unittest.TestCase):
    def test_the_queue_bound_is_whole_process_and_every_waiting_client_is_served(self):
        with Server(echo_handler) as b:
            port = free_port()
            cfg = queue_config(port, b.addr, workers=2)
            with Sluice(["-c", cfg], port=port) as px:
                held = hold_two(port)
                extra = []
                for i in range(5):  # the kernel spreads them over both workers
                    s = connect(port)
                    s.sendall(b"extra%d" % i)
                    extra.append(s)
                # exactly one of the five is refused, whichever worker took it
                closed = readable(extra, 10 * SLOW)
                self.assertEqual(1, len(closed), "not exactly one client refused")
                self.assertTrue(closed_by_peer(closed[0]))
                waiting = [s for s in extra if s is not closed[0]]
                self.assertEqual([], readable(waiting, 0.3 * SLOW), "a queued client was served")
                # free the slots; each client served frees its own slot in turn, on either worker
                for s in held:
                    s.close()
                served = 0
                for _ in range(len(waiting)):  # bounded: one client served per round
                    ready = readable(waiting, 10 * SLOW)
                    self.assertTrue(ready, "%d queued clients never served" % len(waiting))
                    s = ready[0]
                    i = extra.index(s)
                    self.assertEqual(b"extra%d" % i, recv_exact(s, 6))
                    waiting.remove(s)
                    s.close()
                    served += 1
                self.assertEqual(4, served)
                for s in extra:
                    s.close()
                self.assertEqual(0, px.stop())
                self.assertRegex(px.stderr(), r"process: (.*, )?1 queue_full\b")
                self.assertEqual(6, b.accepted)
            os.unlink(cfg)


if __name__ == "__main__":
    unittest.main()
