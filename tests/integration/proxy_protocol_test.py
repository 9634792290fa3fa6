# SPDX-License-Identifier: MIT
"""The PROXY protocol against a real implementation: HAProxy in front of sluice sending v1 and
v2 (sluice takes the client address from the header and passes it on), sluice in front of
HAProxy's accept-proxy (HAProxy sees the real client), health checks that send the header, and
the refusals: an untrusted sender, a malformed header, a header that never completes."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (SLOW, Server, Sluice, closed_by_peer, echo_handler, free_port, recv_all,
                     recv_exact, wait_port, write_config)

HAPROXY = shutil.which("haproxy")


def line_handler(conn):
    """Answers with the first line it got (the PROXY header sluice sent), then closes."""
    f = conn.makefile("rb")
    conn.sendall(f.readline())


def client(port, source, payload=b"hello\n"):
    s = socket.socket()
    s.settimeout(20 * SLOW)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = recv_all(s)
    except OSError:  # refused by sluice: closed or reset
        data = b""
    s.close()
    return data


@contextlib.contextmanager
def haproxy(cfg_text, port):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg_text)
    p = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        wait_port(port, proc=p)
        yield p
    finally:
        p.terminate()
        p.wait(30)
        p.stderr.close()
        shutil.rmtree(d)


HAPROXY_DEFAULTS = """
global
    maxconn 100
defaults
    timeout connect 5s
    timeout client 20s
    timeout server 20s
"""


def sluice_config(port, backend, proxy_in="", send_proxy="off", extra_listener="", health=""):
    return write_config(f"""
workers: 2
listeners:
  - address: 127.0.0.1:{port}
    group: g
{proxy_in}{extra_listener}
groups:
  - name: g
    send_proxy: {send_proxy}
{health}
    backends:
      - address: {backend}
""")


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps.sh installs it)")
class FromHAProxy(unittest.TestCase):
    def through_haproxy(self, send_proxy_kw, version):
        with Server(line_handler) as b:
            sport, hport = free_port(), free_port()
            cfg = sluice_config(sport, b.addr, send_proxy="v1", proxy_in=f"""    proxy_protocol:
      version: {version}
      trusted: [127.0.0.1/32]
""")
            hcfg = HAPROXY_DEFAULTS + f"""
listen front
    mode tcp
    bind 127.0.0.1:{hport}
    server s 127.0.0.1:{sport} {send_proxy_kw}
"""
            with Sluice(["-c", cfg], port=sport) as px, haproxy(hcfg, hport):
                got = client(hport, "127.0.0.77")
                self.assertEqual(0, px.stop())
            os.unlink(cfg)
            # sluice passed on the address HAProxy told it, not HAProxy's own 127.0.0.1
            self.assertRegex(got.decode(), rf"^PROXY TCP4 127\.0\.0\.77 127\.0\.0\.1 \d+ {hport}\r\n$")

    def test_v1_from_haproxy_gives_the_client_address(self):
        self.through_haproxy("send-proxy", "v1")

    def test_v2_from_haproxy_gives_the_client_address(self):
        self.through_haproxy("send-proxy-v2", "v2")


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (scripts/install-deps.sh installs it)")
class ToHAProxy(unittest.TestCase):
    def test_haproxy_accept_proxy_sees_the_client_behind_sluice(self):
        for version in ("v1", "v2"):
            with self.subTest(version=version):
                sport, hport = free_port(), free_port()
                hcfg = HAPROXY_DEFAULTS + f"""
frontend f
    mode http
    bind 127.0.0.1:{hport} accept-proxy
    http-request return status 200 content-type text/plain lf-string "seen %[src]\\n"
"""
                # the health check sends the header too: without it HAProxy drops the check
                health = """    health: { type: send_expect, interval: 100ms, timeout: 100ms, rise: 1, fall: 1,
              send: "GET / HTTP/1.0\\r\\n\\r\\n", expect: "HTTP/1.1 200" }
"""
                cfg = sluice_config(sport, f"127.0.0.1:{hport}", send_proxy=version, health=health)
                with haproxy(hcfg, hport), Sluice(["-c", cfg], port=sport) as px:
                    # requests for a bounded 0.6 s: several check intervals pass meanwhile
                    end = time.monotonic() + 0.6
                    while time.monotonic() < end:
                        got = client(sport, "127.0.0.88", b"GET / HTTP/1.0\r\n\r\n")
                        self.assertIn(b"seen 127.0.0.88", got)
                    self.assertEqual(0, px.stop())
                    self.assertNotIn("is down", px.stderr())
                    self.assertRegex(px.stderr(), r"health checks: [1-9]\d* run, 0 failed")
                os.unlink(cfg)


class Refusals(unittest.TestCase):
    def run_client(self, port, source, payload):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        if payload:
            s.sendall(payload)
        return s

    def test_untrusted_malformed_and_late_headers_are_refused_and_counted(self):
        with Server(line_handler) as b:
            port = free_port()
            cfg = sluice_config(port, b.addr, proxy_in="""    proxy_protocol:
      trusted: [127.0.0.1/32]
      timeout: 300ms
""")
            with Sluice(["-c", cfg], port=port) as px:
                untrusted = self.run_client(port, "127.0.0.9", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")
                malformed = self.run_client(port, "127.0.0.1", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n")
                late = self.run_client(port, "127.0.0.1", b"PROXY TCP4 1.2.3")
                for s in (untrusted, malformed, late):
                    self.assertTrue(closed_by_peer(s, 10 * SLOW))
                    s.close()
                good = client(port, "127.0.0.1", b"PROXY TCP4 10.9.8.7 10.0.0.1 4000 80\r\nhi\n")
                self.assertEqual(b"hi\n", good)  # the header was consumed, payload intact
                self.assertEqual(0, px.stop())
                err = px.stderr()
            os.unlink(cfg)
            self.assertEqual(0, b.accepted - 1)  # only the good client reached the backend
            self.assertIn("rejected: 3 clients: proxy_untrusted 1, proxy_invalid 1, proxy_timeout 1", err)


def v2_header(cmd, fam, addrs=b"", tlvs=b""):
    """A PROXY v2 header: <cmd> 0 LOCAL, 1 PROXY; <fam> the family-and-protocol byte."""
    body = addrs + tlvs
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | cmd, fam]) + len(body).to_bytes(2, "big")
            + body)


def v2_handler(conn):
    """Answers with the v2 header sluice sent, whole, then closes."""
    head = recv_exact(conn, 16)
    conn.sendall(head + recv_exact(conn, int.from_bytes(head[14:16], "big")))


class PassOn(unittest.TestCase):
    def test_tlvs_are_passed_on_whatever_the_command_and_family_that_brought_them(self):
        """A header in with TLVs but no address (LOCAL, UNSPEC, unix, UDP): the header out
        carries the TLVs, and the socket's own addresses (it carried the TLVs of TCP4 and TCP6
        headers only)."""
        authority = b"\x02\x00\x0bexample.com"
        unix = bytes(108) + bytes(108)
        udp4 = bytes([10, 1, 2, 3, 10, 0, 0, 1, 0x0f, 0xa0, 0, 80])
        with Server(v2_handler) as b:
            port = free_port()
            cfg = sluice_config(port, b.addr, send_proxy="v2", proxy_in="""    proxy_protocol:
      version: v2
      trusted: [127.0.0.1/32]
""")
            with Sluice(["-c", cfg], port=port) as px:
                for name, head in (("LOCAL", v2_header(0, 0x00, tlvs=authority)),
                                   ("UNSPEC", v2_header(1, 0x00, tlvs=authority)),
                                   ("unix", v2_header(1, 0x31, unix, authority)),
                                   ("UDP4", v2_header(1, 0x12, udp4, authority))):
                    got = client(port, "127.0.0.1", head)
                    self.assertEqual(16 + 12 + len(authority), len(got), name)
                    self.assertEqual(0x21, got[12], name)  # v2 PROXY
                    self.assertEqual(0x11, got[13], name)  # TCP4: the socket's addresses
                    self.assertEqual(bytes([127, 0, 0, 1, 127, 0, 0, 1]), got[16:24], name)
                    self.assertEqual(port, int.from_bytes(got[26:28], "big"), name)
                    self.assertEqual(authority, got[28:], name)
                self.assertEqual(0, px.stop())
            os.unlink(cfg)


def crc32c(data):
    """CRC32C (Castagnoli, reflected), the v2 CRC32C TLV's checksum."""
    c = 0xffffffff
    for byte in data:
        c ^= byte
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff


class Rebuilt(unittest.TestCase):
    def test_the_longest_addresses_go_out_in_a_v1_line(self):
        """A v1 line out holds two IPv6 addresses of 39 characters and two 5-digit ports
        (104 bytes), and the longest IPv4 one: the session is not reset for want of room."""
        v6 = "2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:1234:5678:9abc:def0:1234:5679"
        with Server(line_handler) as b:
            port = free_port()
            cfg = sluice_config(port, b.addr, send_proxy="v1", proxy_in="""    proxy_protocol:
      trusted: [127.0.0.1/32]
""")
            with Sluice(["-c", cfg], port=port) as px:
                for line in (f"PROXY TCP6 {v6[0]} {v6[1]} 65535 65534\r\n",
                             "PROXY TCP4 255.255.255.254 255.255.255.253 65535 65534\r\n"):
                    self.assertEqual(line.encode(), client(port, "127.0.0.1", line.encode()),
                                     px.stderr())
                self.assertEqual(0, px.stop())
            os.unlink(cfg)

    def test_a_crc32c_tlv_is_the_checksum_of_the_header_that_goes_out(self):
        """A LOCAL header in (a health check's) with a CRC32C TLV goes out as PROXY with the
        socket's addresses: its checksum is the new header's, which a receiver that checks it
        (HAProxy does) accepts; a PROXY header's as well."""
        self.assertEqual(0xe3069283, crc32c(b"123456789"))  # the CRC32C check value
        authority = b"\x02\x00\x0bexample.com"
        with Server(v2_handler) as b:
            port = free_port()
            cfg = sluice_config(port, b.addr, send_proxy="v2", proxy_in="""    proxy_protocol:
      version: v2
      trusted: [127.0.0.1/32]
""")
            tcp4 = bytes([10, 1, 2, 3, 10, 0, 0, 1, 0x0f, 0xa0, 0, 80])
            with Sluice(["-c", cfg], port=port) as px:
                for name, cmd, fam, addrs in (("LOCAL", 0, 0x00, b""), ("TCP4", 1, 0x11, tcp4)):
                    head = bytearray(v2_header(cmd, fam, addrs, authority + b"\x03\x00\x04" + bytes(4)))
                    head[-4:] = crc32c(head).to_bytes(4, "big")  # a correct one in
                    got = bytearray(client(port, "127.0.0.1", bytes(head)))
                    self.assertEqual(16 + 12 + len(authority) + 7, len(got), name)
                    self.assertEqual(0x21, got[12], name)  # v2 PROXY
                    sent = int.from_bytes(got[-4:], "big")
                    got[-4:] = bytes(4)
                    self.assertEqual(crc32c(got), sent, name)
                self.assertEqual(0, px.stop())
            os.unlink(cfg)


class LongHeader(unittest.TestCase):
    def test_a_v2_header_longer_than_the_receive_buffer_completes(self):
        """A header is read by peeking, so it completes only once the receive buffer holds it:
        with net.ipv4.tcp_rmem at 4096 16384 32768 (in a namespace of its own) a 20000- or
        65551-byte header waited out the timeout; sluice now gives that socket room."""
        from netns import NetNs, why_no_netns
        why = why_no_netns()
        if why:
            self.skipTest(why)
        with NetNs("slpp") as ns:
            ns.call(subprocess.run, ["sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 16384 32768"],
                    check=True)
            backend = ns.call(lambda: Server(echo_handler).__enter__())
            self.addCleanup(backend.__exit__, None, None, None)
            port = free_port()
            cfg = sluice_config(port, backend.addr, proxy_in="""    proxy_protocol:
      version: v2
      trusted: [127.0.0.1/32]
      timeout: 20s
      max_size: 65551
""")
            self.addCleanup(os.unlink, cfg)
            px = Sluice(["-c", cfg])
            px.args = ns.exec_args(px.args)
            with px:
                ns.wait_listening(port, px.proc)
                for size in (20000, 65551):
                    head = v2_header(1, 0x11, bytes([10, 1, 2, 3, 10, 0, 0, 1, 0x0f, 0xa0, 0, 80]),
                                     noop_tlvs(size - 16 - 12))
                    self.assertEqual(size, len(head))
                    got = ns.call(client, port, "127.0.0.1", head + b"hello\n")
                    self.assertEqual(b"hello\n", got, size)
                self.assertEqual(0, px.stop())
                self.assertNotIn("rejected", px.stderr())


def noop_tlvs(n):
    """<n> bytes of PP2_TYPE_NOOP TLVs."""
    out = b""
    while n > 0:
        k = min(n - 3, 60000)
        out += b"\x04" + k.to_bytes(2, "big") + bytes(k)
        n -= 3 + k
    return out


class Acl(unittest.TestCase):
    def test_longest_prefix_decides_and_refusals_are_counted(self):
        with Server(line_handler) as b:
            port = free_port()
            cfg = sluice_config(port, b.addr, extra_listener="""    allow: [127.0.0.0/8]
    deny: [127.0.1.0/24]
""")
            with Sluice(["-c", cfg], port=port) as px:
                self.assertEqual(b"a\n", client(port, "127.0.0.5", b"a\n"))
                self.assertEqual(b"", client(port, "127.0.1.5", b"b\n"))  # denied: closed
                self.assertEqual(b"c\n", client(port, "127.0.2.5", b"c\n"))
                self.assertEqual(0, px.stop())
                err = px.stderr()
            os.unlink(cfg)
            self.assertEqual(2, b.accepted)
            self.assertIn("rejected: 1 clients: acl_denied 1", err)


if __name__ == "__main__":
    unittest.main()
