# SPDX-License-Identifier: MIT
"""Reloads that change a running group's balancing and PROXY sending, real processes on real
sockets. balance: round_robin alternates new connections between two backends while two long
sessions are held on one of them; after a SIGHUP to least_conn every new connection goes to the
other backend (the per-backend counts carry over into the new balancer), and the held sessions'
bytes stay intact (checksummed); maglev with a table no larger than the group's backend slots is
refused and changes nothing. send_proxy: a backend that parses the PROXY header sees none before
the reload, a v1 header after the first and a v2 header after the second, while a session
opened before each reload goes on without one (or with its own version)."""
import socket
import unittest

from harness import (SLOW, ask_name, connect, echo_checked, free_port, recv_exact, Server,
                     wait_for_text)
from reloading import ReloadCase

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_line(f):
    line = f.readline()
    if not line:
        raise EOFError("closed")
    return line


def tagged_handler(tag):
    """Answers the first line with <tag> (plus what PROXY header came first: none, v1 or v2),
    then echoes every byte after it: a backend that says who it is and carries a checksum."""

    def handler(conn):
        f = conn.makefile("rb", buffering=0)
        head = recv_exact(conn, 4)
        seen = "none"
        if head == b"PROX":
            rest = read_line(f)
            if not rest.startswith(b"Y "):
                return
            seen = "v1"
            head = b""
        elif head == V2_SIG[:4]:
            fixed = recv_exact(conn, 12)
            if head + fixed[:8] != V2_SIG:
                return
            length = int.from_bytes(fixed[10:12], "big")
            recv_exact(conn, length)
            seen = "v2"
            head = b""
        line = head + (b"" if head.endswith(b"\n") else read_line(f))
        if line != b"who\n":
            return
        conn.sendall(f"{tag} {seen}\n".encode())
        while True:
            data = conn.recv(65536)
            if not data:
                conn.shutdown(socket.SHUT_WR)
                return
            conn.sendall(data)

    return handler


def close_waited(s):
    """Closes <s> once the backend's end came back through the proxy: the session is over (or
    at its last step) before the next connection is made."""
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10 * SLOW)
    while s.recv(65536):
        pass
    s.close()


def who_answers(port, n):
    """The tags of the backends that answer <n> sequential new connections."""
    names = []
    for _ in range(n):
        s = connect(port)
        names.append(ask_name(s).split()[0])
        close_waited(s)
    return names


class ReloadGroupKeys(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port = free_port()

    def start(self):
        return super().start(self.port)

    def test_a_file_name_spelled_another_way_is_no_change(self):
        """control.path, access_log.path and upgrade_socket compared as files: "/d/x" and
        "/d/./x" are one file, so a reload that respells them is taken; another file is
        refused as a change that needs a restart."""
        with Server(echo_checked) as e:
            port = self.port
            d = self.dir.name
            self.write_one_group(port, [("e", e.addr)])
            with open(self.path) as f:
                base = f.read()
            extra = (f"access_log: {{ path: {d}/access.log }}\n"
                     f"upgrade_socket: {d}/upgrade.sock\n")
            self.write_file(extra + base)
            px = self.start()
            self.write_file(extra.replace(f"{d}/", f"{d}/./")
                            + base.replace(self.sock, self.sock.replace(f"{d}/", f"{d}/./")))
            self.hup(px)
            self.write_file(extra.replace("access.log", "other.log") + base)
            refused = self.hup_refused(px)
            self.assertIn("access_log.path changed", refused)

    def test_round_robin_to_least_conn_follows_the_held_sessions(self):
        with Server(tagged_handler("a")) as a, Server(tagged_handler("b")) as b:
            backends = [("a", a.addr), ("b", b.addr)]
            self.write_one_group(self.port, backends, "    balance: round_robin\n")
            px = self.start()

            # two long sessions on a (round robin alternates: within 4 tries)
            held = []
            for _ in range(4):
                s = connect(self.port)
                if ask_name(s).split()[0] == "a" and len(held) < 2:
                    held.append(s)
                    self.addCleanup(s.close)
                else:
                    close_waited(s)
            self.assertEqual(2, len(held))
            self.assertTrue(all(echo_checked(s, 100000, k) for k, s in enumerate(held)))

            names = who_answers(self.port, 6)
            self.assertEqual(3, names.count("a"), names)
            self.assertTrue(all(x != y for x, y in zip(names, names[1:])), names)

            # least_conn: a holds two sessions, b none, so every new one goes to b
            self.write_one_group(self.port, backends, "    balance: least_conn\n")
            self.hup(px)
            wait_for_text(px, "group web: balance round_robin -> least_conn")
            names = who_answers(self.port, 8)
            self.assertEqual(["b"] * 8, names)
            # the held sessions run on, bytes intact
            self.assertTrue(all(echo_checked(s, 200000, 9 + k) for k, s in enumerate(held)))

            # with them closed a and b are even again: least_conn's ties take both
            for s in held:
                close_waited(s)
            self.assertEqual({"a", "b"}, set(who_answers(self.port, 6)))

            # maglev over more backend slots (2 backends + 16 by default) than its table:
            # refused
            self.write_one_group(self.port, backends, "    balance: maglev\n    maglev_table_size: 17\n")
            rc, _, err = self.ctl("reload")
            self.assertEqual(1, rc)
            self.assertIn("group web: maglev_table_size 17 must be larger than the group's 18 "
                          "backend slots", err)
            self.assertNotIn("least_conn -> maglev", px.stderr())

            # maglev with a table that fits: one client address always lands on one backend
            self.write_one_group(self.port, backends, "    balance: maglev\n    maglev_table_size: 65537\n")
            self.hup(px)
            wait_for_text(px, "group web: balance least_conn -> maglev")
            self.assertEqual(1, len(set(who_answers(self.port, 6))))

    def test_send_proxy_changes_for_new_sessions_only(self):
        with Server(tagged_handler("a")) as a:
            self.write_one_group(self.port, [("a", a.addr)], "    send_proxy: off\n")
            px = self.start()
            early = connect(self.port)
            self.addCleanup(early.close)
            self.assertEqual("a none", ask_name(early))

            self.write_one_group(self.port, [("a", a.addr)], "    send_proxy: v1\n")
            self.hup(px)
            with connect(self.port) as s:
                self.assertEqual("a v1", ask_name(s))
            v1 = connect(self.port)
            self.addCleanup(v1.close)
            self.assertEqual("a v1", ask_name(v1))

            self.write_one_group(self.port, [("a", a.addr)], "    send_proxy: v2\n")
            self.hup(px)
            with connect(self.port) as s:
                self.assertEqual("a v2", ask_name(s))

            # the sessions from before run on as they began, bytes intact
            self.assertTrue(echo_checked(early, 100000, 1))
            self.assertTrue(echo_checked(v1, 100000, 2))

            self.write_one_group(self.port, [("a", a.addr)], "    send_proxy: off\n")
            self.hup(px)
            with connect(self.port) as s:
                self.assertEqual("a none", ask_name(s))


if __name__ == "__main__":
    unittest.main()
