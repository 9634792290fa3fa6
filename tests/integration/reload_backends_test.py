# SPDX-License-Identifier: MIT
"""Reloads that change a group's backend list, real processes on real sockets: a backend added
takes new connections, one removed takes none while a session open to it runs on, a weight
change shifts the share, and a list that does not fit max_backends (a removed backend's slot is
still held by its open session) is refused with the reason and changes nothing, until the
session closes. A list that stays as it was keeps the run-time changes made with sluicectl.
Open sessions are listed with the backend they have. A backend a reload replaces (another address
or max_connections) keeps its series: its counters go on from the old one's, and what a session
still open on the old one moves counts there too."""
import json
import unittest

from harness import (ask_name, connect, free_port, name_handler, scrape_metrics, Server, wait_for,
                     wait_for_text)
from reloading import ReloadCase


def who_answers(port, n):
    """Names of the backends that answer <n> new connections, in order."""
    names = []
    for _ in range(n):
        with connect(port) as s:
            names.append(ask_name(s))
    return names


class ReloadBackends(ReloadCase):
    def write(self, backends):
        self.write_one_group(self.port, backends, "    balance: weighted\n    max_backends: 3\n")

    def test_backends_added_removed_reweighted_and_an_overflow_refused(self):
        self.port = free_port()
        with Server(name_handler("a")) as a, Server(name_handler("b")) as b, \
                Server(name_handler("c")) as c, Server(name_handler("d")) as d:
            self.write([("a", a.addr, 1)])
            px = self.start(self.port)
            self.assertEqual({"a"}, set(who_answers(self.port, 3)))

            # a run-time change, then a file whose list is unchanged: the change stays
            self.assertEqual(0, self.ctl("set", "weight", "web/a", "2")[0])
            self.write([("a", a.addr, 1)])
            self.hup(px)
            rc, out, _ = self.ctl("--json", "show", "backends")
            self.assertEqual(0, rc)
            self.assertIn('"weight":2', out.replace(" ", ""))

            # added: b takes new connections
            self.write([("a", a.addr, 1), ("b", b.addr, 1)])
            self.hup(px)
            wait_for_text(px, f"group web: backend b ({b.addr}) added (reload)")
            self.assertIn("a weight 2 -> 1 (reload)", px.stderr())  # the file is the truth
            self.assertEqual({"a", "b"}, set(who_answers(self.port, 6)))

            # removed: a session open to a runs on, new ones never reach a
            held = None
            for _ in range(4):
                s = connect(self.port)
                if ask_name(s) == "a":
                    held = s
                    break
                s.close()
            self.assertIsNotNone(held, "no session reached a")
            self.addCleanup(held.close)
            self.write([("b", b.addr, 1)])
            self.hup(px)
            wait_for_text(px, "group web: backend a removed (reload)")
            before = a.accepted
            self.assertEqual({"b"}, set(who_answers(self.port, 5)))
            self.assertEqual(before, a.accepted)
            self.assertEqual("a", ask_name(held))
            # each open session is listed with the backend it has, the removed one included
            with connect(self.port) as other:
                self.assertEqual("b", ask_name(other))
                rc, out, _ = self.ctl("--json", "show", "sessions")
                self.assertEqual(0, rc)
                listed = {x["client"]: x["backend"]
                          for x in json.loads(out)["result"]["sessions"]}
                self.assertEqual("a", listed["%s:%d" % held.getsockname()])
                self.assertEqual("b", listed["%s:%d" % other.getsockname()])

            # reweighted (and c added): b takes 4 of every 5
            self.write([("b", b.addr, 4), ("c", c.addr, 1)])
            self.hup(px)
            wait_for_text(px, "group web: backend b weight 1 -> 4 (reload)")
            names = who_answers(self.port, 10)
            self.assertEqual(8, names.count("b"), names)
            self.assertEqual(2, names.count("c"), names)

            # overflow: b, c and a's slot (held by the open session) fill max_backends 3
            self.write([("b", b.addr, 4), ("c", c.addr, 1), ("d", d.addr, 1)])
            rc, _, err = self.ctl("reload")
            self.assertEqual(1, rc)
            self.assertIn("group web: 1 backend(s) to add but 0 free of max_backends 3 "
                          "(1 held by removed backends' open sessions)", err)
            names = who_answers(self.port, 10)
            self.assertEqual(8, names.count("b"), names)  # nothing changed
            self.assertEqual(0, d.accepted)
            self.assertEqual("a", ask_name(held))

            # once the session closes, the slot is free and the same file is taken
            held.close()
            wait_for(lambda: self.ctl("reload")[0] == 0, "the reload once the slot is free")
            wait_for_text(px, f"group web: backend d ({d.addr}) added (reload)")
            self.assertIn("d", who_answers(self.port, 6))
            self.assertIsNone(px.proc.poll())
            self.assertEqual(0, px.stop())


    def test_a_replaced_backend_keeps_its_counters_and_counts_its_old_sessions(self):
        self.port, admin = free_port(), free_port()

        def write(b_addr, b_cap):
            self.write_file(
                    f"workers: 1\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                    f"admin: {{ address: 127.0.0.1:{admin} }}\n"
                    f"listeners:\n  - {{ name: front, address: 127.0.0.1:{self.port}, "
                    f"group: web }}\n"
                    f"groups:\n  - name: web\n    backends:\n"
                    f"      - {{ name: a, address: {a.addr} }}\n"
                    f"      - {{ name: b, address: {b_addr}, max_connections: {b_cap} }}\n")

        def series(name, labels):
            return scrape_metrics(admin).get(f'sluice_backend_{name}{{group="web",backend="b"'
                                             f'{labels}}}', 0)

        with Server(name_handler("a")) as a, Server(name_handler("b")) as b, \
                Server(name_handler("b")) as b2:
            write(b.addr, 10)
            px = self.start(self.port)
            # two sessions on b, one of them kept open: "who\n" in, "b\n" out each time
            held = None
            for _ in range(4):
                s = connect(self.port)
                if ask_name(s) == "b" and held is None:
                    held = s
                    continue
                s.close()
            self.assertIsNotNone(held)
            self.addCleanup(held.close)
            wait_for(lambda: series("sessions_total", "") == 2, "b's two sessions counted")
            before = series("bytes_total", ',direction="out"')
            # its cap changed: replaced; then its address too, while the session runs
            for addr, cap in ((b.addr, 20), (b2.addr, 20)):
                write(addr, cap)
                self.hup(px)
                self.assertEqual(2, series("sessions_total", ""), px.stderr())
                self.assertEqual(before, series("bytes_total", ',direction="out"'))
            self.assertEqual("b", ask_name(held))  # on the old backend, 2 bytes more out
            held.close()
            with connect(self.port) as s:  # round robin: a, then the new b
                names = [ask_name(s)]
            with connect(self.port) as s:
                names.append(ask_name(s))
            self.assertIn("b", names)
            wait_for(lambda: series("sessions_total", "") == 3, "the new b's session counted")
            wait_for(lambda: series("bytes_total", ',direction="out"') == before + 4,
                     "the old session's last reply and the new one's counted on b")

if __name__ == "__main__":
    unittest.main()
