# SPDX-License-Identifier: MIT
"""Backup backends (`backup: true`), real processes on real sockets: each backend answers with
its name. While a primary of the group serves, no session reaches a backup; once none serves
(each disabled by sluicectl, or each down by its health checks), new sessions go to the backup,
and back to a primary as soon as one serves again. A primary that is only at its
max_connections keeps the backup out: its next client waits in the queue and gets the primary.
A reload turns a backup into a primary and back, and sluicectl adds one ("role backup");
`show backends` and /metrics say which backend is which."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, admin_get, ask_name, connect, free_port, name_handler,  # noqa: E402
                     parse_metrics, wait_for_text)
from reloading import ReloadCase  # noqa: E402

HEALTH = "    health: { type: tcp, interval: 100ms, timeout: 50ms, rise: 1, fall: 1 }\n"


class Backup(ReloadCase):
    def setUp(self):
        super().setUp()
        self.port, self.admin = free_port(), free_port()

    def write(self, backends, group_keys=""):
        """One listener and group web: <backends> are (name, address, backup[, extra keys])."""
        items = "".join(f"      - {{ name: {b[0]}, address: {b[1]}, backup: {str(b[2]).lower()}"
                        f"{', ' + b[3] if len(b) > 3 else ''} }}\n" for b in backends)
        self.write_file(f"workers: 2\ncontrol: {{ path: {self.sock} }}\n"
                        f"admin: {{ address: 127.0.0.1:{self.admin} }}\n"
                        f"listeners:\n  - {{ name: front, address: 127.0.0.1:{self.port}, group: web }}\n"
                        f"groups:\n  - name: web\n{group_keys}    backends:\n{items}")

    def who(self, n):
        """The names that answered <n> sessions, one after another."""
        names = []
        for _ in range(n):
            with connect(self.port) as s:
                names.append(ask_name(s))
        return names

    def roles(self):
        rc, out, err = self.ctl("--json", "show", "backends")
        self.assertEqual(0, rc, err)
        return {x["name"]: x["role"] for x in json.loads(out)["result"]}

    def test_the_backup_serves_only_while_no_primary_does(self):
        with Server(name_handler("p1")) as p1, Server(name_handler("p2")) as p2, \
                Server(name_handler("b")) as b:
            p1_port = p1.port
            self.write([("p1", p1.addr, False), ("p2", p2.addr, False), ("b", b.addr, True)], HEALTH)
            px = self.start(self.port)
            self.assertEqual({"p1", "p2"}, set(self.who(12)))
            self.assertEqual({"p1": "primary", "p2": "primary", "b": "backup"}, self.roles())
            wait_for_text(px, "admin endpoint on")
            m = parse_metrics(admin_get(self.admin, "/metrics")[1])
            self.assertEqual(1, m['sluice_backend_backup{group="web",backend="b"}'])
            self.assertEqual(0, m['sluice_backend_backup{group="web",backend="p1"}'])

            # both primaries disabled: the backup takes every new session, until one is back
            for name in ("p1", "p2"):
                self.assertEqual(0, self.ctl("disable", "backend", f"web/{name}")[0])
            self.assertEqual(["b"] * 6, self.who(6))
            self.assertEqual(0, self.ctl("enable", "backend", "web/p2")[0])
            self.assertEqual(["p2"] * 6, self.who(6))
            self.assertEqual(0, self.ctl("enable", "backend", "web/p1")[0])
            self.assertEqual({"p1", "p2"}, set(self.who(12)))

            # both primaries down by their health checks: the backup, until p1 is up again
            p1.close()
            p2.close()
            wait_for_text(px, "backend web/p1 is down")
            wait_for_text(px, "backend web/p2 is down")
            self.assertEqual(["b"] * 6, self.who(6))
            with Server(name_handler("p1"), port=p1_port):
                wait_for_text(px, "backend web/p1 is up")
                self.assertEqual(["p1"] * 6, self.who(6))
            self.assertEqual(0, px.stop())

    def test_a_full_primary_keeps_the_backup_out_and_its_next_client_queues(self):
        with Server(name_handler("p1")) as p1, Server(name_handler("b")) as b:
            self.write([("p1", p1.addr, False, "max_connections: 1"), ("b", b.addr, True)],
                       "    max_queue: 4\n")
            px = self.start(self.port)
            held = connect(self.port)
            self.assertEqual("p1", ask_name(held))
            # p1 is full, not down: the next client waits for it rather than going to b
            waiting = connect(self.port)
            waiting.sendall(b"who\n")
            held.close()
            self.assertEqual("p1\n", waiting.recv(64).decode())
            waiting.close()
            self.assertEqual(0, px.stop())

    def test_reload_and_sluicectl_change_which_backends_are_backups(self):
        with Server(name_handler("p1")) as p1, Server(name_handler("b")) as b, \
                Server(name_handler("b2")) as b2:
            self.write([("p1", p1.addr, False), ("b", b.addr, True)])
            px = self.start(self.port)
            self.assertEqual(["p1"] * 4, self.who(4))

            self.write([("p1", p1.addr, False), ("b", b.addr, False)])
            self.hup(px)
            wait_for_text(px, "group web: backend b is no longer a backup (reload)")
            self.assertEqual({"p1", "b"}, set(self.who(8)))

            self.write([("p1", p1.addr, False), ("b", b.addr, True)])
            self.hup(px)
            wait_for_text(px, "group web: backend b is a backup now (reload)")
            self.assertEqual(["p1"] * 4, self.who(4))

            rc, _, err = self.ctl("add", "backend", "web", "b2", b2.addr, "role", "backup")
            self.assertEqual(0, rc, err)
            self.assertEqual({"p1": "primary", "b": "backup", "b2": "backup"}, self.roles())
            self.assertEqual(["p1"] * 4, self.who(4))
            self.assertEqual(0, self.ctl("disable", "backend", "web/p1")[0])
            self.assertEqual({"b", "b2"}, set(self.who(8)))
            rc, _, err = self.ctl("add", "backend", "web", "b3", b2.addr, "role", "spare")
            self.assertEqual(2, rc)  # a usage error
            self.assertIn('role must be primary or backup, got "spare"', err)
            self.assertEqual(0, px.stop())


if __name__ == "__main__":
    import unittest
    unittest.main()
