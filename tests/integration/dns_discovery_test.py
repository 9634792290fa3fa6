# SPDX-License-Identifier: MIT
"""DNS service discovery against a real DNS server: dnsmasq, started here on 127.0.0.1 and a free
port with records from files this test writes (--addn-hosts for A records, re-read on SIGHUP;
--srv-host in a config file, which dnsmasq reads only at start, so SRV changes restart it on
the same port). TTLs are 1s and ttl_min/ttl_max small, so sluice re-resolves every second.
Backends are servers on 127.0.0.2-127.0.0.5 sharing one port, each answering its own name.

Two kinds of test: the resolver side (resolutions, failures, the set found, in the log and in
/metrics), and the traffic side: sl_proxy_group_set_discovered() changes a running group's
backends, and the tests check where new connections go (a build that could not apply a set
would log "cannot change a group's backends at run time", which fails them with that reason)."""
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import (SLOW, Server, Sluice, connect, free_port, name_handler, replace_config,
                     stable_port, wait_for, wait_for_text, write_config)

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
NO_APPLY = "cannot change a group's backends at run time"
HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def dns_query(port, name, qtype):
    """(rcode, answer count) of one UDP query to 127.0.0.1:<port>, or None without an answer."""
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", 0x5153, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(msg, ("127.0.0.1", port))
            r = s.recv(4096)
        except OSError:
            return None
    flags, _, an = struct.unpack(">HHH", r[2:8])
    return flags & 15, an


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<port>: A records from a hosts file, SRV records from a config file."""

    def __init__(self, port, hosts, srv=()):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="sluice-dns-")
        self.hosts_path = os.path.join(self.dir, "hosts")
        self.conf_path = os.path.join(self.dir, "dnsmasq.conf")
        self.proc = None
        self.write(hosts, srv)

    def write(self, hosts, srv=()):
        """hosts: [(ip, name)], srv: [(service, target, port, priority, weight)]."""
        with open(self.hosts_path + ".new", "w") as f:
            f.writelines(f"{ip} {name}\n" for ip, name in hosts)
        os.rename(self.hosts_path + ".new", self.hosts_path)
        with open(self.conf_path, "w") as f:
            f.writelines(f"srv-host={s},{t},{p},{prio},{w}\n" for s, t, p, prio, w in srv)

    def start(self):
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", f"--conf-file={self.conf_path}", f"--port={self.port}",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             f"--addn-hosts={self.hosts_path}", "--local=/test/", "--local-ttl=1", "--auth-ttl=1",
             "--no-negcache", "--cache-size=0", "--pid-file=", "--user=root", "--group=root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # ready when it answers (the event), bounded
        wait_for(lambda: self.proc.poll() is not None or
                 dns_query(self.port, "ready.test", 1) is not None, "dnsmasq to answer")
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq exited: " + self.proc.stderr.read().decode())
        return self

    def reload_hosts(self, hosts, name, want_answers):
        """Rewrites the hosts file, SIGHUPs dnsmasq and waits until <name> has that many A records."""
        self.write(hosts)
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: dns_query(self.port, name, 1) == (0, want_answers),
                 f"dnsmasq to serve the new records of {name}")

    def restart(self, hosts, srv):
        self.stop()
        self.write(hosts, srv)
        self.start()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None:
            self.proc.stderr.close()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def backends_on_one_port(names):
    """A name_handler server per address of HOSTS (as many as <names>), all on one port."""
    for _ in range(20):
        port = free_port()
        servers = []
        try:
            for host, name in zip(HOSTS, names):
                servers.append(Server(name_handler(name), host=host, port=port))
            return port, servers
        except OSError:
            for s in servers:
                s.close()
    raise RuntimeError("no port free on every backend address")


def who(port):
    """The name of the backend that answers a new connection, or "" if none does."""
    try:
        s = connect(port)
    except OSError:
        return ""
    try:
        s.sendall(b"who\n")
        return s.makefile("rb").readline().strip().decode()
    except OSError:
        return ""
    finally:
        s.close()


def metrics(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10 * SLOW) as r:
        return r.read().decode()


def metric_of(admin_port, name, labels):
    m = re.search(rf'^{name}{{{re.escape(labels)}}} (\S+)$', metrics(admin_port), re.M)
    return float(m.group(1)) if m else None


def metric(admin_port, name, group):
    m = re.search(rf'^{name}{{group="{group}"}} (\S+)$', metrics(admin_port), re.M)
    return float(m.group(1)) if m else None


def sluice_config(port, admin, groups):
    return write_config(f"""
workers: 2
admin: {{ address: 127.0.0.1:{admin} }}
listeners:
  - address: 127.0.0.1:{port}
    group: {groups[0][0]}
groups:
""" + "".join(f"""  - name: {name}
    balance: {balance}
{body}""" for name, balance, body in groups))


class DnsDiscovery(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(DNSMASQ):
            self.skipTest("dnsmasq is not installed (scripts/install-deps.sh installs dnsmasq-base)")
        self.stack = contextlib.ExitStack()
        self.addCleanup(self.stack.close)
        self.bport, servers = backends_on_one_port(["b2", "b3", "b4", "b5"])
        for s in servers:
            self.stack.enter_context(s)
        self.dns_port = stable_port(udp=True)
        self.dns = Dnsmasq(self.dns_port, [("127.0.0.2", "web.test"), ("127.0.0.3", "web.test")])
        self.stack.callback(self.dns.close)
        self.dns.start()
        self.port, self.admin = free_port(), free_port()

    def discover(self, name, kind="a", extra=""):
        port = "" if kind == "srv" else f", port: {self.bport}"
        return (f"    discover: {{ name: {name}, type: {kind}{port}, resolvers: [127.0.0.1:{self.dns_port}],"
                f" ttl_min: 200ms, ttl_max: 1s, timeout: 300ms{extra} }}\n")

    def start(self, groups):
        px = Sluice(["-c", sluice_config(self.port, self.admin, groups)], port=self.port)
        self.stack.enter_context(px)
        return px

    def require_apply(self, px):
        self.assertNotIn(NO_APPLY, px.stderr(),
                         "sl_proxy_group_set_discovered() refused the set (-ENOSYS): discovered "
                         "backends cannot take traffic")

    # ---- the resolver side: every build ----

    def test_resolution_is_logged_and_counted(self):
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" + self.discover("web.test"))])
        b = self.bport
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.assertIn(f"127.0.0.2:{b} (weight 1), 127.0.0.3:{b} (weight 1)", px.stderr())
        # resolved again within a TTL or two, with no failure
        wait_for(lambda: (metric(self.admin, "sluice_discover_resolutions_total", "web") or 0) >= 2,
                 "a second resolution")
        self.assertEqual(0, metric(self.admin, "sluice_discover_failures_total", "web"))
        self.assertEqual(2, metric(self.admin, "sluice_discover_backends", "web"))
        self.assertGreater(metric(self.admin, "sluice_discover_last_change_timestamp_seconds", "web"),
                           time.time() - 3600)
        # the exit summary gives the figures, not that point in time
        self.assertEqual(0, px.stop())
        self.assertRegex(px.stderr(), r"info discover: web: \d+ resolutions")
        self.assertNotIn("timestamp", px.stderr())

    def test_a_record_change_is_resolved_again(self):
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" + self.discover("web.test"))])
        b = self.bport
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.dns.reload_hosts([("127.0.0.2", "web.test"), ("127.0.0.4", "web.test"),
                               ("127.0.0.5", "web.test")], "web.test", 3)
        wait_for_text(px, f"gives 3 backends (next in 1000ms): 127.0.0.2:{b} (weight 1), "
                          f"127.0.0.4:{b} (weight 1), 127.0.0.5:{b} (weight 1)")

    def test_stopped_dns_keeps_the_last_set_and_counts_failures(self):
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" + self.discover("web.test"))])
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.dns.stop()
        wait_for(lambda: (metric(self.admin, "sluice_discover_failures_total", "web") or 0) >= 2,
                 "two failed resolutions")
        wait_for_text(px, "discover web: cannot resolve web.test: no DNS server gave an answer "
                          "(each was unreachable, or answered SERVFAIL or REFUSED)")
        self.assertIn("keeping the 2 backends found last", px.stderr())
        self.assertEqual(2, metric(self.admin, "sluice_discover_backends", "web"))
        # and it comes back
        self.dns.start()
        wait_for_text(px, "discover web: web.test resolves again")

    def test_nxdomain_is_a_failure(self):
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" +
                          self.discover("nothere.test", kind="any"))])
        wait_for_text(px, "discover web: cannot resolve nothere.test: Domain name not found")
        wait_for(lambda: (metric(self.admin, "sluice_discover_failures_total", "web") or 0) >= 1,
                 "a failed resolution")
        self.assertEqual(0, metric(self.admin, "sluice_discover_backends", "web"))

    def test_srv_follows_the_lowest_priority_with_its_weights(self):
        self.dns.restart([("127.0.0.2", "t2.test"), ("127.0.0.3", "t3.test"), ("127.0.0.4", "t4.test")],
                         [("_echo._tcp.test", "t2.test", self.bport, 0, 1),
                          ("_echo._tcp.test", "t3.test", self.bport, 0, 3),
                          ("_echo._tcp.test", "t4.test", self.bport, 1, 5)])
        fixed = free_port()
        px = self.start([("web", "weighted",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" +
                          self.discover("_echo._tcp.test", kind="srv"))])
        b = self.bport
        wait_for_text(px, f"discover web: _echo._tcp.test gives 2 backends (next in 1000ms): "
                          f"t2.test:{b} (weight 1), t3.test:{b} (weight 3)")

    def test_a_record_that_is_sluices_own_listener_is_not_applied(self):
        """A discovered address that reaches one of sluice's listeners would have each session
        open another through the proxy: the set is refused, said once, and the group keeps what
        it had."""
        self.dns.restart([("127.0.0.1", "me.test")], [("_me._tcp.test", "me.test", self.port, 0, 1)])
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n" +
                          self.discover("_me._tcp.test", kind="srv"))])
        said = (f"discover web: cannot apply the 1 backends found: me.test:{self.port} "
                f"(127.0.0.1:{self.port}) reaches listener 127.0.0.1:{self.port} "
                f"(127.0.0.1:{self.port}): sluice would connect to itself")
        wait_for_text(px, said)
        wait_for(lambda: (metric(self.admin, "sluice_discover_resolutions_total", "web") or 0) >= 3,
                 "more resolutions")
        self.assertEqual(1, px.stderr().count(said))
        self.assertNotIn("discovery added", px.stderr())

    def test_the_static_binary_resolves_without_nss(self):
        static = os.environ.get("SLUICE_STATIC_BIN", "")
        if not static:
            self.skipTest("sluice-static is not built here (SLUICE_STATIC_BIN unset; release builds)")
        fixed = free_port()
        # no admin endpoint in sluice-static: the log is the evidence
        path = write_config(f"""
workers: 1
listeners:
  - address: 127.0.0.1:{self.port}
groups:
  - name: web
    backends: [{{ address: 127.0.0.1:{fixed} }}]
""" + self.discover("web.test"))
        px = Sluice(["-c", path], port=self.port)
        px.args[0] = static
        self.stack.enter_context(px)
        wait_for_text(px, f"discover web: web.test gives 2 backends (next in 1000ms): "
                          f"127.0.0.2:{self.bport} (weight 1), 127.0.0.3:{self.bport} (weight 1)")

    # ---- the traffic side: needs the run-time backend set ----

    def test_traffic_reaches_the_resolved_backends(self):
        px = self.start([("web", "round_robin", self.discover("web.test"))])
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.require_apply(px)
        seen = set()
        for _ in range(100):
            seen.add(who(self.port))
            if seen >= {"b2", "b3"}:
                break
        self.assertEqual({"b2", "b3"}, seen)

    def test_changed_records_move_new_sessions_and_keep_a_long_one(self):
        px = self.start([("web", "round_robin", self.discover("web.test"))])
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.require_apply(px)
        # a long session on b3, the backend about to go
        long = None
        for _ in range(50):
            s = connect(self.port)
            s.sendall(b"who\n")
            f = s.makefile("rb")
            if f.readline().strip() == b"b3":
                long = (s, f)
                break
            s.close()
        self.assertIsNotNone(long, "no session reached b3")
        self.stack.callback(long[0].close)
        self.dns.reload_hosts([("127.0.0.2", "web.test"), ("127.0.0.4", "web.test")], "web.test", 2)
        wait_for_text(px, f"127.0.0.2:{self.bport} (weight 1), 127.0.0.4:{self.bport} (weight 1)")
        answers = [who(self.port) for _ in range(40)]
        self.assertNotIn("b3", answers)
        self.assertIn("b4", answers)
        self.assertEqual({"b2", "b4"}, set(answers))
        # the long session to the removed backend still works
        long[0].sendall(b"again\n")
        self.assertEqual(b"b3", long[1].readline().strip())

    def test_stopped_dns_keeps_traffic_on_the_last_set(self):
        px = self.start([("web", "round_robin", self.discover("web.test"))])
        wait_for_text(px, "discover web: web.test gives 2 backends")
        self.require_apply(px)
        self.dns.stop()
        wait_for(lambda: (metric(self.admin, "sluice_discover_failures_total", "web") or 0) >= 2,
                 "two failed resolutions")
        answers = {who(self.port) for _ in range(20)}
        self.assertEqual({"b2", "b3"}, answers)

    def test_srv_weights_share_the_sessions(self):
        self.dns.restart([("127.0.0.2", "t2.test"), ("127.0.0.3", "t3.test"), ("127.0.0.4", "t4.test")],
                         [("_echo._tcp.test", "t2.test", self.bport, 0, 1),
                          ("_echo._tcp.test", "t3.test", self.bport, 0, 3),
                          ("_echo._tcp.test", "t4.test", self.bport, 1, 5)])
        px = self.start([("web", "weighted", self.discover("_echo._tcp.test", kind="srv"))])
        wait_for_text(px, "discover web: _echo._tcp.test gives 2 backends")
        self.require_apply(px)
        answers = [who(self.port) for _ in range(200)]
        self.assertEqual(0, answers.count("b4"), "a priority-1 target took sessions")
        self.assertEqual(200, answers.count("b2") + answers.count("b3"))
        # weights 1:3, per worker's smooth weighted round robin: about 50 and 150
        self.assertGreater(answers.count("b3"), 2 * answers.count("b2"))

    def test_a_changed_srv_weight_is_applied(self):
        self.dns.restart([("127.0.0.2", "t2.test"), ("127.0.0.3", "t3.test")],
                         [("_echo._tcp.test", "t2.test", self.bport, 0, 1),
                          ("_echo._tcp.test", "t3.test", self.bport, 0, 3)])
        px = self.start([("web", "weighted", self.discover("_echo._tcp.test", kind="srv"))])
        wait_for_text(px, "discover web: _echo._tcp.test gives 2 backends")
        self.require_apply(px)
        self.dns.restart([("127.0.0.2", "t2.test"), ("127.0.0.3", "t3.test")],
                         [("_echo._tcp.test", "t2.test", self.bport, 0, 3),
                          ("_echo._tcp.test", "t3.test", self.bport, 0, 1)])
        wait_for_text(px, "group web: discovery added 0 backend(s), removed 0, reweighed 2")
        b = self.bport
        self.assertEqual(3, metric_of(self.admin, "sluice_backend_weight",
                                      f'group="web",backend="t2.test:{b}"'))
        answers = [who(self.port) for _ in range(200)]
        self.assertGreater(answers.count("b2"), 2 * answers.count("b3"))

    def test_a_lower_address_for_a_kept_srv_target_is_added_under_a_free_name(self):
        """Discovery names the addresses of one SRV target NAME, NAME#2, ... in address order;
        a new address below the one the group keeps is named NAME in the new set, which the
        kept backend holds: it is added under a free NAME#m, the kept one keeps its name (and
        its metrics), and the group follows DNS on."""
        b = self.bport
        self.dns.restart([("127.0.0.3", "t2.test")], [("_echo._tcp.test", "t2.test", b, 0, 1)])
        px = self.start([("web", "weighted", self.discover("_echo._tcp.test", kind="srv"))])
        wait_for_text(px, "group web: discovery added 1 backend(s), removed 0")
        self.require_apply(px)
        self.dns.restart([("127.0.0.2", "t2.test"), ("127.0.0.3", "t2.test")],
                         [("_echo._tcp.test", "t2.test", b, 0, 1)])
        wait_for(lambda: metric(self.admin, "sluice_group_backends", "web") == 2,
                 "the new address added", detail=px.stderr)
        self.assertEqual(1, metric_of(self.admin, "sluice_backend_up",
                                      f'group="web",backend="t2.test:{b}"'))
        self.assertEqual(1, metric_of(self.admin, "sluice_backend_up",
                                      f'group="web",backend="t2.test:{b}#2"'))
        self.assertEqual({"b2", "b3"}, {who(self.port) for _ in range(20)})
        # the line names each backend as the group holds it, not as the set numbered it
        wait_for_text(px, f"gives 2 backends (next in 1000ms): t2.test:{b}#2 (weight 1), "
                          f"t2.test:{b} (weight 1)")
        self.dns.restart([("127.0.0.2", "t2.test")], [("_echo._tcp.test", "t2.test", b, 0, 1)])
        wait_for_text(px, f"gives 1 backend (next in 1000ms): t2.test:{b}#2 (weight 1)")
        self.assertEqual({"b2"}, {who(self.port) for _ in range(5)})
        self.assertEqual(0, metric(self.admin, "sluice_discover_apply_errors_total", "web"))

    def test_a_set_that_replaces_the_group_is_applied_as_slots_free(self):
        # room for 3 discovered backends beside the file's one: 2 found, then 3 others (a
        # rolling update); only 1 slot is free at first, the others once the 2 left go
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    max_backends: 4\n    backends: [{{ address: 127.0.0.1:{fixed} }}]\n"
                          + self.discover("web.test"))])
        wait_for_text(px, "group web: discovery added 2 backend(s), removed 0")
        self.dns.reload_hosts([("127.0.0.4", "web.test"), ("127.0.0.5", "web.test"),
                               ("127.0.0.6", "web.test")], "web.test", 3)
        # no session holds the 2 that left: their slots take the other 2 in the same change
        # (they waited for the next resolution, and the group went without them meanwhile)
        wait_for_text(px, "group web: discovery added 1 backend(s), removed 2")
        wait_for_text(px, "group web: discovery added 2 more backend(s), in the slots of those "
                          "removed")
        self.assertEqual(4, metric(self.admin, "sluice_group_backends", "web"))
        self.assertNotIn("not all fit", px.stderr())

    def test_an_address_a_reload_lets_go_of_is_discovered_again(self):
        # the file's backend has an address the name gives too: the group holds it once, as
        # the file's; once a reload removes it from the file, the next answer adds it back
        b = self.bport
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.2:{b} }}]\n"
                          + self.discover("web.test"))])
        path = px.args[px.args.index("-c") + 1]
        wait_for_text(px, "group web: discovery added 1 backend(s), removed 0")
        self.assertEqual(2, metric(self.admin, "sluice_group_backends", "web"))
        replace_config(path, sluice_config(self.port, self.admin, [
            ("web", "round_robin", f"    backends: [{{ address: 127.0.0.1:{free_port()} }}]\n"
             + self.discover("web.test"))]))
        px.proc.send_signal(signal.SIGHUP)
        wait_for_text(px, "reloaded")
        wait_for(lambda: px.stderr().count("group web: discovery added 1 backend(s), removed 0")
                 == 2, "the address added back")
        self.assertEqual(3, metric(self.admin, "sluice_group_backends", "web"))

    def test_each_kind_of_failure_is_logged(self):
        # an empty answer, then a name that does not exist: each says so once
        self.dns.reload_hosts([("::1", "web.test"), ("127.0.0.3", "other.test")], "other.test", 1)
        fixed = free_port()
        px = self.start([("web", "round_robin",
                          f"    backends: [{{ address: 127.0.0.1:{fixed} }}]\n"
                          + self.discover("web.test"))])
        wait_for_text(px, "discover web: web.test has no usable record")
        self.dns.reload_hosts([("127.0.0.3", "other.test")], "other.test", 1)
        wait_for_text(px, "discover web: cannot resolve web.test: Domain name not found")
        self.assertEqual(1, px.stderr().count("has no usable record"))


if __name__ == "__main__":
    unittest.main()
