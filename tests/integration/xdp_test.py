# SPDX-License-Identifier: MIT
"""The XDP early-drop program (docs/protection.md "XDP early drop"): two network namespaces
joined by a veth pair, sluice in one with xdp: on its end of the pair and a listener that
denies one of the client's two addresses. The denied address's SYNs never reach the stack
(its connect times out, sluice's own acl_denied stays 0, sluice_xdp_dropped_total counts
them); the other address is served; likewise over IPv6 on a third listener. sluice runs as nobody after binding, keeping the
capabilities privs.c lists for XDP; the reload updates the maps as nobody. A listener's source_limits rate is enforced there too:
the SYN over the burst is dropped and counted, and sluice's own source_rate stays 0. A reload that swaps the addresses swaps the outcome.
A source that source_limits.ban bans (two silent connections cut at first_byte) is banned in the
program too, for every address of its prefix: its next SYNs are dropped and counted (sluice
accepts nothing from it), another source is served, and once the ban ends it is served again;
`sluicectl unban` lifts it in the program too, at once. A ban by hand (`sluicectl ban`) is
dropped there too, and a shorter ban by hand does not shorten it.
Skipped, saying why, when the kernel or a sandbox refuses XDP (EPERM, EOPNOTSUPP). Without the
interface, sluice runs without XDP (one line), or refuses to start when xdp.required is set;
likewise with mode: native on lo, whose driver has no native XDP, the line naming that cause."""
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    SLOW,
    SLUICECTL,
    Server,
    Sluice,
    echo_handler,
    free_port,
    wait_for,
    wait_for_text,
    write_config,
)
from netns import NetNs, why_no_netns  # noqa: E402

SERVER, DENIED, ALLOWED = "10.201.0.1", "10.201.0.2", "10.201.0.3"
SERVER6, DENIED6, ALLOWED6 = "fd00:201::1", "fd00:201::2", "fd00:201::3"
SLOWLORIS, NEIGHBOUR = "10.201.0.5", "10.201.0.4"  # one /31: one source of "banning"
PORT, LIMITED, PORT6, BANNING, ADMIN = 8080, 8081, 8082, 8083, 9090
BAN_S = 3  # the ban's duration: past the checks made while banned
CTL = f"/tmp/sluice-xdp-{os.getpid()}.sock"  # the control socket (a file: any namespace)
# errnos that say this environment cannot do XDP (not that sluice is wrong)
REFUSALS = {errno.EPERM: "Operation not permitted", errno.EOPNOTSUPP: "Operation not supported"}




def config(deny, backend):
    return f"""
admin: {{address: "127.0.0.1:{ADMIN}"}}
control: {{path: "{CTL}"}}
user: nobody
xdp: {{interface: "{{ifname}}", required: true}}
listeners:
  - address: "0.0.0.0:{PORT}"
    group: g
    allow: ["0.0.0.0/0"]  # every source but the one denied: the program's catch-all too
    deny: ["{deny}/32"]
  - address: "0.0.0.0:{LIMITED}"
    group: g
    source_limits: {{rate: 1, burst: 2}}
  - address: "[::]:{PORT6}"
    group: g
    allow: ["::/0"]
    deny: ["{DENIED6}/128"]
  - name: banning
    address: "0.0.0.0:{BANNING}"
    group: g
    timeouts: {{first_byte: 300ms}}
    source_limits: {{prefix4: 31, ban: {{strikes: 2, within: 30s, duration: {BAN_S}s}}}}
groups:
  - name: g
    backends: [{{address: "{backend}"}}]
"""


def try_connect(source, timeout, port=PORT, server=SERVER):
    """True if a connection from <source> to the listener opens and echoes, False if the
    connect times out; anything else (a refusal, a reset) fails the test."""
    s = socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET)
    try:
        s.bind((source, 0))
        s.settimeout(timeout)
        try:
            s.connect((server, port))
        except socket.timeout:
            return False
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                break
            got += chunk
        if got != b"ping":
            raise AssertionError(f"echo from {source}: got {got!r}")
        return True
    finally:
        s.close()


def syn_answered(source, timeout, port):
    """True if the listener answers a SYN from <source> (the connect completes, whatever
    follows), False if the connect times out."""
    s = socket.socket(socket.AF_INET)
    try:
        s.bind((source, 0))
        s.settimeout(timeout)
        try:
            s.connect((SERVER, port))
        except socket.timeout:
            return False
        return True
    finally:
        s.close()


def cut_seen(s):
    """True once the connected socket <s> (its timeout set) sees sluice cut it: EOF or a
    reset; False if its timeout passes first."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def cut_silent(source, port):
    """Opens a connection from <source> that sends nothing; True once sluice has cut it (EOF
    or a reset within 10 s)."""
    s = socket.socket(socket.AF_INET)
    try:
        s.bind((source, 0))
        s.settimeout(10 * SLOW)
        s.connect((SERVER, port))
        return cut_seen(s)
    finally:
        s.close()


def cut_trickling(source, port):
    """Opens a connection from <source>, sends a byte and reads its echo (the session
    forwards), then waits; True once sluice has cut it (EOF or a reset within 10 s)."""
    s = socket.socket(socket.AF_INET)
    try:
        s.bind((source, 0))
        s.settimeout(10 * SLOW)
        s.connect((SERVER, port))
        s.sendall(b"x")
        return s.recv(1) == b"x" and cut_seen(s)
    finally:
        s.close()


def veth_again(srv, cli, veth_s, veth_c):
    """A new veth pair, <veth_s> in <srv> with the server's address, <veth_c> in <cli> with
    the denied and the allowed client's, both up: an interface back after one went away."""
    srv.ip("link", "add", veth_s, "type", "veth", "peer", "name", veth_c, "netns", cli.name)
    srv.ip("addr", "add", f"{SERVER}/24", "dev", veth_s)
    srv.ip("link", "set", veth_s, "up")
    for a in (DENIED, ALLOWED):
        cli.ip("addr", "add", f"{a}/24", "dev", veth_c)
    cli.ip("link", "set", veth_c, "up")


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/metrics", timeout=10 * SLOW) as r:
        return r.read().decode()


def metric(text, name, labels):
    """The value of <name>{<labels>} (<labels> None: <name> unlabelled) in <text>."""
    key = name if labels is None else name + "{" + labels + "}"
    m = re.search(r"^" + re.escape(key) + r" (\d+)$", text, re.M)
    if not m:
        raise AssertionError(f"no {name}{{{labels}}} in /metrics:\n{text}")
    return int(m.group(1))


class XdpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = why_no_netns()
        if why:
            print(f"SKIPPED (XdpTest): {why}", flush=True)
            raise unittest.SkipTest(why)

    def test_denied_source_syns_are_dropped_before_sluice_and_counted(self):
        self.in_namespaces(self.run_sluice)

    def test_banned_source_syns_are_dropped_until_the_ban_ends(self):
        self.in_namespaces(self.run_banned)

    def test_an_unbanned_source_syns_pass_at_once(self):
        self.in_namespaces(self.run_unbanned)

    def run_unbanned(self, srv, cli, path, veth_s, backend):
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "2"])
        with px:
            self.start(px, srv, veth_s)
            for i in range(2):
                self.assertTrue(cli.call(cut_silent, SLOWLORIS, BANNING), f"silent connection {i} cut")
            banned_at = time.monotonic()
            self.assertFalse(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "banned in the program")
            p = subprocess.run([SLUICECTL, "-s", CTL, "unban", "banning", NEIGHBOUR],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((0, "ok\n"), (p.returncode, p.stdout), p.stderr)
            self.assertTrue(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "lifted in the program")
            self.assertLess(time.monotonic() - banned_at, BAN_S - 0.5, "lifted before the ban's end")
            self.assertEqual(0, px.stop())

    def test_a_source_banned_by_hand_is_dropped_in_the_program(self):
        self.in_namespaces(self.run_banned_by_hand)

    def run_banned_by_hand(self, srv, cli, path, veth_s, backend):
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "2"])
        with px:
            self.start(px, srv, veth_s)
            self.assertTrue(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "served before")
            p = subprocess.run([SLUICECTL, "-s", CTL, "ban", "banning", SLOWLORIS, "60"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((0, "ok\n"), (p.returncode, p.stdout), p.stderr)
            self.assertFalse(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "dropped")
            self.assertFalse(cli.call(syn_answered, NEIGHBOUR, 0.5, BANNING), "its /31 too")
            text = srv.call(scrape)
            self.assertLessEqual(1, metric(text, "sluice_xdp_dropped_total", 'reason="banned"'))
            self.assertEqual(0, metric(text, "sluice_rejects_total", 'reason="source_banned"'))
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW, BANNING), "another source")
            # a shorter ban does not shorten it, in the program as in sluice
            p = subprocess.run([SLUICECTL, "-s", CTL, "ban", "banning", SLOWLORIS, "1"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((0, "ok\n"), (p.returncode, p.stdout), p.stderr)
            time.sleep(1.5)
            self.assertFalse(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "still dropped")
            p = subprocess.run([SLUICECTL, "-s", CTL, "unban", "banning", SLOWLORIS],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertTrue(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "lifted")
            self.assertEqual(0, px.stop())

    def test_a_ban_the_listener_stops_keeping_leaves_the_program_too(self):
        self.in_namespaces(self.run_ban_turned_off_and_on)

    def run_ban_turned_off_and_on(self, srv, cli, path, veth_s, backend):
        """A reload that turns the listener's ban off forgets its bans; one that turns it on
        again must not bring the program's old copy back: sluice would not list it, and
        `unban` could not lift it (the source was dropped until the old ban ended)."""
        with open(path) as f:
            banning = f.read()
        no_ban = banning.replace(f"ban: {{strikes: 2, within: 30s, duration: {BAN_S}s}}",
                                 "max_connections: 1000")
        self.assertNotEqual(banning, no_ban)
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "2"])
        with px:
            self.start(px, srv, veth_s)
            p = subprocess.run([SLUICECTL, "-s", CTL, "ban", "banning", SLOWLORIS, "60"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual((0, "ok\n"), (p.returncode, p.stdout), p.stderr)
            self.assertFalse(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "dropped")
            for text, n in ((no_ban, 1), (banning, 2)):
                with open(path, "w") as f:
                    f.write(text)
                px.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: px.stderr().count("SIGHUP: " + path + " reloaded") == n,
                         "the reload", detail=px.stderr)
            self.assertTrue(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "no ban is left")
            self.assertIn("xdp: 1 bans dropped from the program", px.stderr())
            p = subprocess.run([SLUICECTL, "-s", CTL, "show", "bans"], capture_output=True,
                               text=True, timeout=60 * SLOW)
            self.assertIn("banned sources: 0", p.stdout)
            self.assertEqual(0, px.stop())

    def test_a_ban_a_reopened_listeners_session_earns_drops_under_the_new_prefix(self):
        self.in_namespaces(self.run_ban_after_reopen)

    def run_ban_after_reopen(self, srv, cli, path, veth_s, backend):
        """A session of the banning listener still forwarding when a reload re-opens it with
        prefix4 24 (was 31) is cut by min_rate and earns its source's ban: the ban goes to the
        live listener, which lists it by its /24 and refuses the source, and to the program
        under the /24, which drops the SYNs of another address of it. (Banned by the old /31 in
        the old listener's table alone, the source was served, and the program's entry, keyed
        by the /31, matched nothing.)"""
        with open(path) as f:
            cfg = f.read()
        slow = cfg.replace("timeouts: {first_byte: 300ms}",
                           "timeouts: {first_byte: 300ms, min_rate: {bytes: 1k, window: 3s}}")
        self.assertNotEqual(cfg, slow)
        with open(path, "w") as f:
            f.write(slow)
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "2"])
        with px:
            self.start(px, srv, veth_s)
            self.assertTrue(cli.call(cut_silent, SLOWLORIS, BANNING), "the first strike")
            cut = []
            t = threading.Thread(target=lambda: cut.append(
                cli.call(cut_trickling, SLOWLORIS, BANNING)), daemon=True)
            t.start()
            wait_for(lambda: metric(srv.call(scrape), "sluice_listener_active",
                                    'listener="banning"') == 1, "the trickling session")
            with open(path, "w") as f:
                f.write(slow.replace("prefix4: 31", "prefix4: 24"))
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "listener banning: source_limits.prefix4 changed: re-opened")
            t.join(30 * SLOW)
            self.assertEqual([True], cut, "the old listener's session was cut")
            p = subprocess.run([SLUICECTL, "-s", CTL, "--json", "show", "bans"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertEqual(["10.201.0.0/24"], [b["source"] for b in
                                                 json.loads(p.stdout)["result"]["bans"]])
            # another address of the /24, never cut: dropped before sluice sees it
            self.assertFalse(cli.call(syn_answered, ALLOWED, 0.5, BANNING), "dropped")
            text = srv.call(scrape)
            self.assertLessEqual(1, metric(text, "sluice_xdp_dropped_total", 'reason="banned"'))
            self.assertEqual(0, px.stop())

    def test_an_interface_that_goes_away_is_said_and_a_reload_attaches_again(self):
        self.in_namespaces(self.run_interface_gone)

    def run_interface_gone(self, srv, cli, path, veth_s, backend):
        """The kernel detaches the program when its interface is deleted: the gauge says 0,
        the log says so once; once the interface is back, a reload attaches it again and the
        denied source is dropped again."""
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "1"])
        with px:
            self.start(px, srv, veth_s)

            def attached():
                try:  # the endpoint serves a little after the workers (slow sanitizer starts)
                    return metric(srv.call(scrape), "sluice_xdp_attached", None)
                except OSError:
                    return None

            wait_for(lambda: attached() == 1, "the gauge to say attached", timeout=10 * SLOW)
            veth_c = veth_s.replace("slxs", "slxc")
            srv.ip("link", "del", veth_s)
            wait_for(lambda: attached() == 0, "the gauge to say detached", timeout=10 * SLOW)
            wait_for_text(px, f"xdp: not attached to {veth_s} any more")
            self.assertEqual(1, px.stderr().count(f"xdp: not attached to {veth_s} any more"))
            veth_again(srv, cli, veth_s, veth_c)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP: " + path + " reloaded")
            self.assertIn(f"xdp: attached to {veth_s} again", px.stderr())
            self.assertEqual(1, metric(srv.call(scrape), "sluice_xdp_attached", None))
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW), "the allowed source")
            before = metric(srv.call(scrape), "sluice_xdp_dropped_total", 'reason="denied"')
            self.assertFalse(cli.call(try_connect, DENIED, 1.0), "dropped again")
            self.assertLess(before, metric(srv.call(scrape), "sluice_xdp_dropped_total",
                                           'reason="denied"'))
            self.assertEqual(0, px.stop())

    def test_a_reload_of_lists_too_long_for_both_at_once_lifts_the_old_denies(self):
        self.in_namespaces(self.run_lists_past_the_room)

    def run_lists_past_the_room(self, srv, cli, path, veth_s, backend):
        """40000 denies swapped for 40000 others by a reload: the prefix map (65536 entries)
        cannot hold both lists, so the old go first and then the new; the source only the
        old list denied is served again, and one only the new list denies is dropped. (The
        new entries used to be written first, the map filled partway, and the reload kept
        the old denies in the program for good.)"""
        def big(third, denied):
            prefixes = ", ".join(f'"10.{third}.{i >> 8}.{i & 255}/32"' for i in range(40000))
            return config(denied, f"127.0.0.1:{backend.port}").replace("{ifname}", veth_s).replace(
                f'deny: ["{denied}/32"]', f'deny: ["{denied}/32", {prefixes}]')
        with open(path, "w") as f:
            f.write(big(100, DENIED))
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "1"])
        with px:
            self.start(px, srv, veth_s)
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW), "the allowed source")
            self.assertFalse(cli.call(try_connect, DENIED, 1.0), "the denied source's SYN is dropped")
            with open(path, "w") as f:
                f.write(big(101, ALLOWED))
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP: " + path + " reloaded", timeout=30)
            self.assertIn("xdp: map sl_acl4 cannot hold the old entries and the new together: "
                          "the old go first", px.stderr())
            self.assertNotIn("cannot update the XDP maps", px.stderr())
            self.assertTrue(cli.call(try_connect, DENIED, 10 * SLOW), "the source allowed now is served")
            before = metric(srv.call(scrape), "sluice_xdp_dropped_total", 'reason="denied"')
            self.assertFalse(cli.call(try_connect, ALLOWED, 1.0), "the source denied now is dropped")
            self.assertLess(before, metric(srv.call(scrape), "sluice_xdp_dropped_total",
                                           'reason="denied"'))
            self.assertEqual(0, metric(srv.call(scrape), "sluice_rejects_total", 'reason="acl_denied"'))
            self.assertEqual(0, px.stop())

    def test_an_interface_moved_to_another_namespace_counts_as_gone(self):
        self.in_namespaces(self.run_interface_moved)

    def run_interface_moved(self, srv, cli, path, veth_s, backend):
        """The interface moved to another network namespace keeps the program in the kernel,
        but it no longer filters sluice's traffic: the gauge says 0 and the log says so; a
        new interface of that name and a reload attach the program to it, and detach it from
        the moved one. (The gauge used to stay 1, and the reload never attached again.)"""
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "1"])
        with NetNs("slx") as away, px:
            self.start(px, srv, veth_s)

            def attached():
                try:
                    return metric(srv.call(scrape), "sluice_xdp_attached", None)
                except OSError:
                    return None

            wait_for(lambda: attached() == 1, "the gauge to say attached", timeout=10 * SLOW)
            # renamed, it keeps the program, which still filters it: attached
            srv.ip("link", "set", veth_s, "name", veth_s + "r")
            self.assertFalse(cli.call(try_connect, DENIED, 1.0), "dropped on the renamed one")
            self.assertEqual(1, attached())
            srv.ip("link", "set", veth_s + "r", "name", veth_s)
            srv.ip("link", "set", veth_s, "netns", away.name)
            wait_for(lambda: attached() == 0, "the gauge to say detached", timeout=10 * SLOW)
            wait_for_text(px, f"xdp: not attached to {veth_s} any more (the interface went "
                              "away or moved to another network namespace)")

            def on_moved():
                return subprocess.run(["ip", "-n", away.name, "-d", "link", "show", veth_s],
                                      capture_output=True, text=True, check=True).stdout
            self.assertIn("prog/xdp", on_moved())  # the kernel kept it there
            veth_c = veth_s.replace("slxs", "slxm")
            # the client's addresses go on the new pair (the old one stays, for the check below)
            cli.ip("addr", "flush", "dev", veth_s.replace("slxs", "slxc"))
            veth_again(srv, cli, veth_s, veth_c)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP: " + path + " reloaded")
            self.assertIn(f"xdp: attached to {veth_s} again", px.stderr())
            self.assertEqual(1, attached())
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW), "the allowed source")
            self.assertFalse(cli.call(try_connect, DENIED, 1.0), "dropped again")
            self.assertNotIn("prog/xdp", on_moved())
            self.assertEqual(0, px.stop())

    def in_namespaces(self, run):
        """run(srv, cli, path, veth_s, backend) with both namespaces, the backend and the
        configuration file set up."""
        with NetNs("slx") as srv, NetNs("slx") as cli:
            veth_s, veth_c = f"slxs{os.getpid() % 100000}", f"slxc{os.getpid() % 100000}"
            srv.ip("link", "add", veth_s, "type", "veth", "peer", "name", veth_c, "netns", cli.name)
            srv.ip("addr", "add", f"{SERVER}/24", "dev", veth_s)
            srv.ip("link", "set", veth_s, "up")
            cli.ip("addr", "add", f"{DENIED}/24", "dev", veth_c)
            cli.ip("addr", "add", f"{ALLOWED}/24", "dev", veth_c)
            cli.ip("addr", "add", f"{SLOWLORIS}/24", "dev", veth_c)
            cli.ip("addr", "add", f"{NEIGHBOUR}/24", "dev", veth_c)
            srv.ip("addr", "add", f"{SERVER6}/64", "dev", veth_s, "nodad")
            cli.ip("addr", "add", f"{DENIED6}/64", "dev", veth_c, "nodad")
            cli.ip("addr", "add", f"{ALLOWED6}/64", "dev", veth_c, "nodad")
            cli.ip("link", "set", veth_c, "up")
            backend = srv.call(Server, echo_handler, "127.0.0.1")
            with backend:
                path = write_config(config(DENIED, f"127.0.0.1:{backend.port}").replace("{ifname}", veth_s))
                os.chmod(path, 0o644)  # read again at the reload, as nobody
                try:
                    run(srv, cli, path, veth_s, backend)
                finally:
                    os.unlink(path)

    def start(self, px, srv, veth_s):
        """Waits until <px> serves with the program attached; skips where XDP is refused."""
        try:
            srv.wait_listening(PORT, px.proc)
        except AssertionError:
            err = px.stderr()
            for code, text in REFUSALS.items():
                if f"cannot attach to {veth_s}: {text}" in err or "refused to load" in err and text in err:
                    self.skipTest(f"this environment refuses XDP ({errno.errorcode[code]}): {err.strip()}")
            raise AssertionError("sluice did not start: " + err)
        wait_for_text(px, f"xdp: early-drop program attached to {veth_s}")
        wait_for_text(px, "control socket on")  # the tests ban by hand through it

    def run_banned(self, srv, cli, path, veth_s, backend):
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "2"])
        with px:
            self.start(px, srv, veth_s)
            conns = 'listener="banning"'
            # two silent connections cut at first_byte: the second starts the ban
            for i in range(2):
                self.assertTrue(cli.call(cut_silent, SLOWLORIS, BANNING), f"silent connection {i} cut")
            banned_at = time.monotonic()
            text = srv.call(scrape)
            self.assertEqual(1, metric(text, "sluice_source_bans_total", None))
            self.assertEqual(0, metric(text, "sluice_xdp_dropped_total", 'reason="banned"'))
            accepted = metric(text, "sluice_listener_connections_total", conns)
            self.assertEqual(2, accepted)
            # banned: the SYN never reaches the stack (its first retransmit would come after
            # 1 s, past the 0.5 s wait), and sluice neither accepts nor refuses it
            self.assertFalse(cli.call(syn_answered, SLOWLORIS, 0.5, BANNING), "the banned source's SYN is dropped")
            # the ban is the source's prefix (prefix4 31), masked in the program as in sluice
            self.assertFalse(cli.call(syn_answered, NEIGHBOUR, 0.5, BANNING), "the same /31 is banned")
            self.assertLess(time.monotonic() - banned_at, BAN_S - 0.5, "checked within the ban")
            text = srv.call(scrape)
            self.assertLessEqual(1, metric(text, "sluice_xdp_dropped_total", 'reason="banned"'))
            self.assertEqual(accepted, metric(text, "sluice_listener_connections_total", conns))
            self.assertEqual(0, metric(text, "sluice_rejects_total", 'reason="source_banned"'))
            # only that source: another one (another /31) is served on the same listener
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW, BANNING), "another source is served")
            # the ban ends: the program lets the source's SYNs through again, and it is served
            time.sleep(max(0.0, banned_at + BAN_S - time.monotonic()))
            wait_for(lambda: cli.call(try_connect, SLOWLORIS, 0.5, BANNING),
                     "the source served again after its ban", timeout=10)
            self.assertEqual(0, metric(srv.call(scrape), "sluice_rejects_total", 'reason="source_banned"'))
            self.assertEqual(0, px.stop())
            self.assertNotIn("running without XDP", px.stderr())

    def run_sluice(self, srv, cli, path, veth_s, backend):
        px = Sluice([])
        px.args = srv.exec_args([px.args[0], "-c", path, "-w", "1"])
        with px:
            self.start(px, srv, veth_s)
            wait_for_text(px, "running as user nobody")
            self.assertIn("capabilities kept: those the features need", px.stderr())
            self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW), "the allowed source is served")
            self.assertFalse(cli.call(try_connect, DENIED, 1.0), "the denied source's SYN is dropped")
            text = srv.call(scrape)
            self.assertLessEqual(1, metric(text, "sluice_xdp_dropped_total", 'reason="denied"'))
            # sluice never saw the denied client: the drop was the program's
            self.assertEqual(0, metric(text, "sluice_rejects_total", 'reason="acl_denied"'))

            # IPv6: the same, through the other map
            self.assertTrue(cli.call(try_connect, ALLOWED6, 10 * SLOW, PORT6, SERVER6), "allowed over IPv6")
            self.assertFalse(cli.call(try_connect, DENIED6, 1.0, PORT6, SERVER6), "denied over IPv6")
            text6 = srv.call(scrape)
            self.assertLess(metric(text, "sluice_xdp_dropped_total", 'reason="denied"'),
                            metric(text6, "sluice_xdp_dropped_total", 'reason="denied"'))
            self.assertEqual(0, metric(text6, "sluice_rejects_total", 'reason="acl_denied"'))

            # source_limits rate 1/s, burst 2: two new connections pass, the third SYN is
            # dropped (its first retransmit would come after 1 s, past the 0.5 s wait)
            self.assertEqual(0, metric(text, "sluice_xdp_dropped_total", 'reason="rate"'))
            for _ in range(2):
                self.assertTrue(cli.call(try_connect, ALLOWED, 10 * SLOW, LIMITED), "within the burst")
            self.assertFalse(cli.call(try_connect, ALLOWED, 0.5, LIMITED), "over the rate")
            text = srv.call(scrape)
            self.assertLessEqual(1, metric(text, "sluice_xdp_dropped_total", 'reason="rate"'))
            self.assertEqual(0, metric(text, "sluice_rejects_total", 'reason="source_rate"'))

            # a reload swaps the lists: the maps follow
            with open(path, "w") as f:
                f.write(config(ALLOWED, f"127.0.0.1:{backend.port}").replace("{ifname}", veth_s))
            before = metric(srv.call(scrape), "sluice_xdp_dropped_total", 'reason="denied"')
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP: " + path + " reloaded")
            self.assertTrue(cli.call(try_connect, DENIED, 10 * SLOW), "the source allowed now is served")
            self.assertFalse(cli.call(try_connect, ALLOWED, 1.0), "the source denied now is dropped")
            after = metric(srv.call(scrape), "sluice_xdp_dropped_total", 'reason="denied"')
            self.assertLess(before, after)
            self.assertEqual(0, px.stop())
            self.assertNotIn("running without XDP", px.stderr())


class XdpUnavailableTest(unittest.TestCase):
    """No such interface: without required, one line and sluice serves; with it, no start."""

    def conf(self, port, required):
        return write_config(f"""
xdp: {{interface: sl-no-such0, required: {str(required).lower()}}}
listeners:
  - address: "127.0.0.1:{port}"
    group: g
    deny: ["192.0.2.0/24"]
groups:
  - name: g
    backends: [{{address: "127.0.0.1:9"}}]
""")

    def test_missing_interface_runs_without_xdp_unless_required(self):
        port = free_port()
        path = self.conf(port, False)
        try:
            with Sluice(["-c", path], port=port) as px:
                wait_for_text(px, "xdp on sl-no-such0: no interface sl-no-such0: No such device: "
                              "running without XDP")
                self.assertEqual(0, px.stop())
        finally:
            os.unlink(path)

    def test_missing_interface_refuses_the_start_when_required(self):
        path = self.conf(free_port(), True)
        try:
            with Sluice(["-c", path]) as px:
                self.assertEqual(1, px.proc.wait(30 * SLOW))
                self.assertIn("cannot start: xdp on sl-no-such0 is required: no interface "
                              "sl-no-such0: No such device", px.stderr())
        finally:
            os.unlink(path)


class XdpNativeModeTest(unittest.TestCase):
    """mode: native on an interface whose driver has no native XDP (lo, in a namespace of its
    own): the kernel refuses the attach, and sluice says so as a refusal of this interface,
    never as a build without XDP. Without required it runs without XDP; with it, no start.
    mode: generic on the same lo attaches, so the binary has XDP."""

    @classmethod
    def setUpClass(cls):
        why = why_no_netns()
        if why:
            print(f"SKIPPED (XdpNativeModeTest): {why}", flush=True)
            raise unittest.SkipTest(why)

    def run_in_namespace(self, mode, required, check):
        """check(px, ns) on a sluice started in a fresh namespace with xdp on its lo."""
        path = write_config(f"""
xdp: {{interface: lo, mode: {mode}, required: {str(required).lower()}}}
listeners:
  - address: "127.0.0.1:{PORT}"
    group: g
    deny: ["192.0.2.0/24"]
groups:
  - name: g
    backends: [{{address: "127.0.0.1:9"}}]
""")
        try:
            with NetNs("slxn") as ns:
                px = Sluice([])
                px.args = ns.exec_args([px.args[0], "-c", path, "-w", "1"])
                with px:
                    check(px, ns)
        finally:
            os.unlink(path)

    def skip_if_refused(self, err):
        """Skips where this environment refuses BPF before the attach is even tried."""
        if "the kernel refused to load the XDP program" in err:
            self.skipTest(f"this environment refuses XDP: {err.strip()}")

    def test_generic_mode_on_lo_attaches(self):
        def check(px, ns):
            try:
                ns.wait_listening(PORT, px.proc)
            except AssertionError:
                self.skip_if_refused(px.stderr())
                raise AssertionError("sluice did not start: " + px.stderr())
            wait_for_text(px, "xdp: early-drop program attached to lo (generic mode)")
            self.assertEqual(0, px.stop())

        self.run_in_namespace("generic", True, check)

    def test_native_mode_on_lo_runs_without_xdp_saying_the_driver_has_none(self):
        def check(px, ns):
            ns.wait_listening(PORT, px.proc)
            self.skip_if_refused(px.stderr())
            wait_for_text(px, "xdp on lo: cannot attach to lo in native mode: Operation not "
                          "supported (its driver has no native XDP: use mode: auto or generic): "
                          "running without XDP")
            self.assertEqual(0, px.stop())
            self.assertNotIn("built without XDP", px.stderr())

        self.run_in_namespace("native", False, check)

    def test_native_mode_on_lo_refuses_the_start_when_required_saying_why(self):
        def check(px, ns):
            code = px.proc.wait(30 * SLOW)
            err = px.stderr()
            self.skip_if_refused(err)
            self.assertEqual(1, code, err)
            self.assertIn("cannot start: xdp on lo is required: cannot attach to lo in native "
                          "mode: Operation not supported (its driver has no native XDP: use "
                          "mode: auto or generic)", err)
            self.assertNotIn("built without XDP", err)

        self.run_in_namespace("native", True, check)


if __name__ == "__main__":
    unittest.main()
