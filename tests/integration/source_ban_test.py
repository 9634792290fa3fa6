# SPDX-License-Identifier: MIT
"""source_limits.ban: a source whose connections first_byte or min_rate keep cutting is refused
for a while, across workers and for every address of its prefix; other sources are served, the
ban ends on time, and a reload can turn it on. Refusals and bans are counted in the metrics and
the exit summary; `sluicectl show bans` lists them, `sluicectl unban` lifts one and `sluicectl
ban` bans a source by hand."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (SLOW, SLUICECTL, Server, Sluice, closed_by_peer, connect, echo_handler, echoed,
                     held, rejected, scrape_metrics, stable_port, wait_for, wait_for_text,
                     write_config)

BAN = "    source_limits: { ban: { strikes: 2, within: 30s, duration: %s } }\n"


def config(port, admin, backend, listener_extra, top_extra=""):
    return write_config(f"""
workers: 2
admin: {{ address: 127.0.0.1:{admin} }}
{top_extra}
listeners:
  - name: front
    address: 127.0.0.1:{port}
    group: g
{listener_extra}
groups:
  - name: g
    backends:
      - address: {backend}
""")


def cut_silent(port, source):
    """Opens a connection from <source> that sends nothing; true once sluice has cut it."""
    s = connect(port, source=source)
    try:
        return closed_by_peer(s, 10 * SLOW)
    finally:
        s.close()


def cut_trickling(port, source):
    """Sends one byte, reads its echo, then waits: under min_rate, sluice cuts it; true once it
    has."""
    s = connect(port, source=source)
    try:
        s.sendall(b"x")
        return s.recv(1) == b"x" and closed_by_peer(s, 10 * SLOW)
    finally:
        s.close()


def served(port, source):
    """True if a connection from <source> echoes; False if sluice refused it."""
    s = connect(port, source=source)
    try:
        return echoed(s)
    finally:
        s.close()


def wait_ctl(sock):
    """Waits until the control socket answers: sluice opens it after its listeners."""
    wait_for(lambda: subprocess.run([SLUICECTL, "-s", sock, "show", "info"], capture_output=True,
                                    timeout=60 * SLOW).returncode == 0,
             "the control socket answers")


def sluicectl(sock, *args):
    """sluicectl on the control socket <sock>: (exit status, stdout, stderr)."""
    p = subprocess.run([SLUICECTL, "-s", sock] + list(args), capture_output=True, text=True,
                       timeout=60 * SLOW)
    return p.returncode, p.stdout, p.stderr


class SourceBan(unittest.TestCase):
    def control_socket(self):
        """A path for the control socket in a directory of its own, removed at the end."""
        d = tempfile.mkdtemp(prefix="sluice-ban-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d], check=False))
        return os.path.join(d, "ctl.sock")

    def run_proxy(self, listener_extra, body, top_extra=""):
        with Server(echo_handler) as b:
            port, admin = stable_port(), stable_port()
            cfg = config(port, admin, b.addr, listener_extra, top_extra)
            with Sluice(["-c", cfg], port=port) as px:
                body(port, admin, b, px, cfg)
                self.assertEqual(0, px.stop())
                err = px.stderr()
            os.unlink(cfg)
            return err

    def test_a_source_cut_at_first_byte_twice_is_refused_until_the_ban_ends(self):
        def body(port, admin, backend, px, cfg):
            self.assertTrue(cut_silent(port, "127.0.0.30"))
            self.assertTrue(cut_silent(port, "127.0.0.30"))
            start = time.monotonic()
            # banned: refused at once, whichever worker takes it, before any backend connect
            before = backend.accepted
            for _ in range(4):
                s = connect(port, source="127.0.0.30")
                self.assertFalse(echoed(s))
                s.close()
            self.assertEqual(before, backend.accepted)
            other = connect(port, source="127.0.0.31")
            self.assertTrue(echoed(other))
            other.close()
            m = scrape_metrics(admin)
            self.assertEqual(1, m["sluice_source_bans_total"])
            self.assertEqual(4, m['sluice_rejects_total{reason="source_banned"}'])
            self.assertEqual(2, m['sluice_timeouts_total{kind="first_byte"}'])
            # the ban lasts 3 s from the second cut; then the source is served again
            if time.monotonic() - start < 2.5:
                s = connect(port, source="127.0.0.30")
                self.assertFalse(echoed(s))
                s.close()
            time.sleep(max(0.0, start + 3.2 - time.monotonic()))

            wait_for(lambda: served(port, "127.0.0.30"), "the source served again after its ban",
                     timeout=5)

        err = self.run_proxy("    timeouts: { first_byte: 300ms }\n" + BAN % "3s", body)
        self.assertGreaterEqual(rejected(err).get("source_banned", 0), 4, err)
        self.assertEqual({"source_banned"}, set(rejected(err)), err)
        self.assertRegex(err, r"\b1 source_bans\b")

    def test_min_rate_cuts_ban_every_address_of_the_prefix(self):
        def body(port, admin, backend, px, cfg):
            self.assertTrue(cut_trickling(port, "127.0.7.1"))
            self.assertTrue(cut_trickling(port, "127.0.7.2"))  # same /24: the same source
            s = connect(port, source="127.0.7.3")
            self.assertFalse(echoed(s))
            s.close()
            other = connect(port, source="127.0.8.1")
            self.assertTrue(echoed(other))
            other.close()
            m = scrape_metrics(admin)
            self.assertEqual(2, m['sluice_timeouts_total{kind="min_rate"}'])
            self.assertEqual(1, m["sluice_source_bans_total"])

        err = self.run_proxy("    timeouts: { min_rate: { bytes: 1k, window: 300ms } }\n" +
                             BAN.replace("ban:", "prefix4: 24, ban:") % "60s", body)
        self.assertEqual({"source_banned": 1}, rejected(err), err)

    def test_without_a_ban_cut_sources_are_served(self):
        # the same cuts with source_limits but no ban: nothing is refused
        def body(port, admin, backend, px, cfg):
            for _ in range(3):
                self.assertTrue(cut_silent(port, "127.0.0.32"))
            s = connect(port, source="127.0.0.32")
            self.assertTrue(echoed(s))
            s.close()
            self.assertEqual(0, scrape_metrics(admin)["sluice_source_bans_total"])

        err = self.run_proxy("    timeouts: { first_byte: 300ms }\n"
                             "    source_limits: { max_connections: 100 }\n", body)
        self.assertEqual({}, rejected(err), err)

    def test_other_cuts_are_no_strikes(self):
        # client_idle cuts a client that stopped talking; it is no slow-client attack
        def body(port, admin, backend, px, cfg):
            for _ in range(3):
                s = connect(port, source="127.0.0.33")
                self.assertTrue(echoed(s))
                self.assertTrue(closed_by_peer(s, 10 * SLOW))
                s.close()
            s = connect(port, source="127.0.0.33")
            self.assertTrue(echoed(s))
            s.close()

        err = self.run_proxy("    timeouts: { client_idle: 300ms }\n" + BAN % "60s", body)
        self.assertEqual({}, rejected(err), err)
        self.assertNotRegex(err, r"source_bans")

    def test_a_reload_that_adds_a_ban_reopens_the_listener_and_bans(self):
        def body(port, admin, backend, px, cfg):
            for _ in range(2):
                self.assertTrue(cut_silent(port, "127.0.0.34"))
            s = connect(port, source="127.0.0.34")
            self.assertTrue(echoed(s))  # no ban yet
            with open(cfg) as f:
                text = f.read()
            with open(cfg, "w") as f:
                f.write(text.replace("    source_limits: { max_connections: 100 }\n",
                                     BAN % "60s"))
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener front: source_limits changed: re-opened")
            # logged once every worker left the old listener: until then a worker may still
            # accept on the shared socket under the old one, which counts no strike
            wait_for_text(px, "listener front: the previous listener closed; the sessions it "
                              "accepted run to their end")
            # the session opened before the reload goes on
            self.assertTrue(echoed(s))
            s.close()
            for _ in range(2):
                self.assertTrue(cut_silent(port, "127.0.0.34"))
            s = connect(port, source="127.0.0.34")
            self.assertFalse(echoed(s))
            s.close()
            wait_for(lambda: held(backend) == 0, "the backend sees every session closed")

        err = self.run_proxy("    timeouts: { first_byte: 300ms }\n"
                             "    source_limits: { max_connections: 100 }\n", body)
        self.assertEqual({"source_banned": 1}, rejected(err), err)

    def test_sluicectl_lists_bans_and_lifts_one(self):
        sock = self.control_socket()

        def ctl(*args):
            return sluicectl(sock, *args)

        def body(port, admin, backend, px, cfg):
            wait_ctl(sock)
            rc, out, err = ctl("--json", "show", "bans")
            self.assertEqual(0, rc, err)
            self.assertEqual({"banned": 0, "bans": []}, json.loads(out)["result"])
            for src in ("127.0.9.1", "127.0.9.2", "127.0.10.1", "127.0.10.2"):
                self.assertTrue(cut_silent(port, src))  # two strikes a /24
            rc, out, err = ctl("--json", "show", "bans")
            r = json.loads(out)["result"]
            self.assertEqual(2, r["banned"], out)
            self.assertEqual(["127.0.10.0/24", "127.0.9.0/24"],
                             sorted(b["source"] for b in r["bans"]))
            for b in r["bans"]:
                self.assertEqual("front", b["listener"])
                self.assertTrue(0 < b["remaining_ms"] <= 60000, b)
            rc, out, err = ctl("show", "bans")
            self.assertEqual(0, rc, err)
            self.assertIn("banned sources: 2", out)
            self.assertRegex(out, r"front\s+127\.0\.9\.0/24\s+\d+")
            # lifted by any address of the prefix, with or without a port
            self.assertFalse(served(port, "127.0.9.7"))
            rc, out, err = ctl("unban", "front", "127.0.9.200")
            self.assertEqual((0, "ok\n"), (rc, out), err)
            self.assertTrue(served(port, "127.0.9.7"))
            self.assertFalse(served(port, "127.0.10.7"))  # the other ban stands
            rc, out, err = ctl("unban", "*", "127.0.10.3:4000")
            self.assertEqual(0, rc, err)
            self.assertTrue(served(port, "127.0.10.7"))
            # errors say what is wrong
            rc, out, err = ctl("unban", "front", "127.0.10.3")
            self.assertNotEqual(0, rc)
            self.assertIn("127.0.10.3 is not banned on front", err)
            rc, out, err = ctl("unban", "back", "127.0.10.3")
            self.assertIn("no listener back", err)
            rc, out, err = ctl("unban", "front", "not-an-ip")
            self.assertIn('bad address "not-an-ip"', err)
            rc, out, err = ctl("--json", "show", "bans")
            self.assertEqual(0, json.loads(out)["result"]["banned"])
            wait_for_text(px, "control: pid")

        self.run_proxy("    timeouts: { first_byte: 300ms }\n" +
                       BAN.replace("ban:", "prefix4: 24, ban:") % "60s", body,
                       top_extra=f"control: {{ path: {sock} }}\n")

    def test_sluicectl_bans_a_source_by_hand_and_the_ban_ends_on_time(self):
        sock = self.control_socket()

        def ctl(*args):
            return sluicectl(sock, *args)

        def body(port, admin, backend, px, cfg):
            wait_ctl(sock)
            held_open = connect(port, source="127.0.11.5")
            self.assertTrue(echoed(held_open))
            rc, out, err = ctl("ban", "front", "127.0.11.1", "2")
            self.assertEqual((0, "ok\n"), (rc, out), err)
            r = json.loads(ctl("--json", "show", "bans")[1])["result"]
            self.assertEqual(["127.0.11.0/24"], [b["source"] for b in r["bans"]])
            self.assertTrue(0 < r["bans"][0]["remaining_ms"] <= 2000, r)
            # every address of the prefix, on both workers; its open session goes on
            for _ in range(4):
                self.assertFalse(served(port, "127.0.11.9"))
            self.assertTrue(served(port, "127.0.12.9"))
            self.assertTrue(echoed(held_open, b"still here"))
            held_open.close()
            m = scrape_metrics(admin)
            self.assertEqual(4, m['sluice_rejects_total{reason="source_banned"}'], m)
            # the ban ends on time, and unban would then say there is none
            wait_for(lambda: served(port, "127.0.11.9"), "the ban to end", timeout=10)
            self.assertIn("is not banned on front", ctl("unban", "front", "127.0.11.1")[2])
            # errors say what is wrong
            self.assertIn("no listener back", ctl("ban", "back", "127.0.11.1", "5")[2])
            rc, _, err = ctl("ban", "front", "127.0.11.1", "0")
            self.assertEqual(2, rc)
            self.assertIn("seconds must be an integer from 1 to 4294967", err)

        self.run_proxy("    source_limits: { prefix4: 24, ban: { strikes: 5 } }\n", body,
                       top_extra=f"control: {{ path: {sock} }}\n")

    def test_a_ban_by_hand_never_ends_another_and_says_when_there_is_no_room(self):
        """A small table: bans by hand until one finds no entry; every ban answered ok is
        still there (none took another's entry), and the refusal names the way out."""
        sock = self.control_socket()

        def body(port, admin, backend, px, cfg):
            wait_ctl(sock)
            ok, refused = [], None
            for i in range(1, 200):
                rc, out, err = sluicectl(sock, "ban", "front", f"127.0.{20 + i // 250}.{i % 250}",
                                         "60")
                if rc != 0:
                    refused = err
                    break
                ok.append(f"127.0.{20 + i // 250}.{i % 250}/32")
            self.assertIsNotNone(refused, "200 bans fit a table of 64")
            self.assertIn("no room to ban it on front", refused)
            self.assertIn("source_limits.table_size", refused)
            r = json.loads(sluicectl(sock, "--json", "show", "bans")[1])["result"]
            self.assertEqual(sorted(ok), sorted(b["source"] for b in r["bans"]))

        self.run_proxy("    source_limits: { table_size: 64, ban: {} }\n", body,
                       top_extra=f"control: {{ path: {sock} }}\n")

    def test_a_ban_by_hand_of_the_other_family_than_the_listeners_is_refused(self):
        """An IPv6 listener never sees an IPv4 client (nor an IPv4 one an IPv6 client): such a
        ban would hold a table entry for nothing. Refused on the listener named; with `*`, put
        on the listeners of its family only."""
        sock = self.control_socket()
        port6 = stable_port()

        def body(port, admin, backend, px, cfg):
            wait_ctl(sock)
            rc, _, err = sluicectl(sock, "ban", "front6", "127.0.0.5", "60")
            self.assertEqual(1, rc)
            self.assertIn("127.0.0.5 is an IPv4 client, and front6 takes IPv6 clients only",
                          err)
            rc, _, err = sluicectl(sock, "ban", "front", "::ffff:127.0.0.6", "60")
            self.assertEqual(0, rc, err)  # an IPv4-mapped address is the IPv4 client
            rc, _, err = sluicectl(sock, "ban", "*", "::1", "60")
            self.assertEqual(0, rc, err)
            r = json.loads(sluicectl(sock, "--json", "show", "bans")[1])["result"]
            self.assertEqual(sorted([("front", "127.0.0.6/32"), ("front6", "::1/128")]),
                             sorted((b["listener"], b["source"]) for b in r["bans"]))

        self.run_proxy("    source_limits: { prefix6: 128, ban: {} }\n"
                       f"  - name: front6\n    address: \"[::1]:{port6}\"\n    group: g\n"
                       "    source_limits: { prefix6: 128, ban: {} }\n", body,
                       top_extra=f"control: {{ path: {sock} }}\n")

    def test_unban_on_a_listener_without_bans_says_so(self):
        sock = self.control_socket()

        def body(port, admin, backend, px, cfg):
            wait_ctl(sock)
            p = subprocess.run([SLUICECTL, "-s", sock, "unban", "*", "::1"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertNotEqual(0, p.returncode)
            self.assertIn("no listener bans sources (none has source_limits.ban)", p.stderr)
            p = subprocess.run([SLUICECTL, "-s", sock, "ban", "front", "::1", "60"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertNotEqual(0, p.returncode)
            self.assertIn("listener front bans no source (it has no source_limits.ban)", p.stderr)

        self.run_proxy("    source_limits: { max_connections: 10 }\n", body,
                       top_extra=f"control: {{ path: {sock} }}\n")


if __name__ == "__main__":
    unittest.main()
