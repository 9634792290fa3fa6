# SPDX-License-Identifier: MIT
"""The admin endpoint of a running sluice: /metrics passes `promtool check metrics` and holds
the figures of the traffic the test generated (bytes of a session still open included), /stats
is JSON with the same figures, /healthz answers, another method than GET or HEAD is 405 with
Allow, and /readyz is 503 with a reason while the only backend is down by its active health
checks and 200 once it is back. Its connection limits keep clients that hold connections open
(half a request each) from keeping a probe out, and count the connections closed for their
source. Every metric's HELP says more than its name."""
import ctypes
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (SLOW, SLUICECTL, admin_get, connect, echo_handler, echo_roundtrip, free_port,
                     parse_metrics, recv_exact, Server, Sluice, wait_for, wait_for_text,
                     write_config)


def config(port, admin_port, backend, health=False, control=None):
    check = "    health: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }\n" if health else ""
    ctl = f"control: {{ path: {control} }}\n" if control else ""
    return write_config(f"""
workers: 2
{ctl}admin: {{ address: 127.0.0.1:{admin_port} }}
listeners:
  - address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    retries: 0
    passive: {{ failures: 0 }}
{check}    backends:
      - {{ name: b1, address: {backend} }}
""")


class Admin(unittest.TestCase):
    def start(self, backend, health=False, control=None):
        port, admin_port = free_port(), free_port()
        px = Sluice(["-c", config(port, admin_port, backend, health, control)], port=port)
        px.__enter__()
        self.addCleanup(px.__exit__, None, None, None)
        wait_for_text(px, "admin endpoint on")
        return px, port, admin_port

    def metrics(self, admin_port):
        status, body = admin_get(admin_port, "/metrics")
        self.assertEqual(200, status, body)
        return body

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) is not installed")
    def test_metrics_pass_promtool_and_count_the_traffic_sent(self):
        with Server(echo_handler) as b:
            _, port, admin_port = self.start(b.addr)
            sizes = [1000, 2000, 3000, 4000, 5000]
            for n in sizes:
                self.assertEqual(b"x" * n, echo_roundtrip(port, b"x" * n))
            wait_for(lambda: parse_metrics(self.metrics(admin_port)).get("sluice_closed_total") == 5,
                     "5 closed sessions in /metrics")
            # a session still open: its bytes are counted at the scrape, not only at its close
            s = connect(port)
            s.sendall(b"y" * 777)
            self.assertEqual(b"y" * 777, recv_exact(s, 777))
            text = self.metrics(admin_port)
            s.close()

        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(0, check.returncode, check.stdout + check.stderr)
        m = parse_metrics(text)
        total = sum(sizes) + 777
        self.assertEqual(6, m["sluice_accepted_total"])
        self.assertEqual(5, m["sluice_closed_total"])
        self.assertEqual(1, m["sluice_active"])
        self.assertEqual(total, m['sluice_bytes_total{direction="in"}'])
        self.assertEqual(total, m['sluice_bytes_total{direction="out"}'])
        self.assertEqual(6, m['sluice_backend_sessions_total{group="g",backend="b1"}'])
        self.assertEqual(1, m['sluice_backend_active{group="g",backend="b1"}'])
        # no health checks: up, and said to be unchecked
        self.assertEqual(1, m['sluice_backend_up{group="g",backend="b1"}'])
        self.assertEqual(0, m['sluice_backend_checked{group="g",backend="b1"}'])
        self.assertEqual(total, m['sluice_backend_bytes_total{group="g",backend="b1",direction="in"}'])
        self.assertEqual(6, m[f'sluice_listener_connections_total{{listener="127.0.0.1:{port}"}}'])
        self.assertEqual(6, m["sluice_backend_connect_seconds_count"])
        self.assertEqual(6, m["sluice_backend_first_byte_seconds_count"])
        self.assertEqual(5, m["sluice_session_duration_seconds_count"])
        self.assertEqual(5, m['sluice_session_duration_seconds_bucket{le="+Inf"}'])
        self.assertEqual(0, m['sluice_rejects_total{reason="acl_denied"}'])
        self.assertIn("# TYPE sluice_session_duration_seconds histogram", text)

    def test_a_worker_late_to_a_scrape_keeps_its_histograms_in_it(self):
        """One worker thread stopped (ptrace) past the scrape's 1 s wait: the scrape shows
        the copy of its histograms it gave back last, so no histogram goes back, then
        catches up once it answers."""
        with Server(echo_handler) as b:
            px, port, admin_port = self.start(b.addr)
            for _ in range(40):  # over both workers (the kernel spreads new connections)
                self.assertEqual(b"ping", echo_roundtrip(port, b"ping"))
            key = "sluice_backend_connect_seconds_count"
            wait_for(lambda: parse_metrics(self.metrics(admin_port)).get(key) == 40,
                     "40 connects in /metrics")
            pid = px.proc.pid
            tids = []
            for t in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{t}/comm") as f:
                    if f.read().strip() == "sl-worker-0":
                        tids.append(int(t))
            self.assertEqual(1, len(tids))
            libc = ctypes.CDLL(None, use_errno=True)
            libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                    ctypes.c_void_p]
            seize, interrupt, detach = 0x4206, 0x4207, 17
            if libc.ptrace(seize, tids[0], None, None) != 0:
                self.skipTest(f"ptrace refused: {os.strerror(ctypes.get_errno())}")
            try:
                libc.ptrace(interrupt, tids[0], None, None)
                os.waitpid(tids[0], 0x40000000)  # __WALL: the thread has stopped
                late = parse_metrics(self.metrics(admin_port))  # waits its 1 s for it
            finally:
                libc.ptrace(detach, tids[0], None, None)
            self.assertEqual(40, late[key])
            self.assertEqual(40, late['sluice_backend_connect_seconds_bucket{le="+Inf"}'])
            wait_for_text(px, "did not answer")

    def test_every_metric_has_a_help_text_other_than_its_name(self):
        with Server(echo_handler) as b:
            _, port, admin_port = self.start(b.addr, health=True)
            self.assertEqual(b"x", echo_roundtrip(port, b"x"))
            helps = [line.split(" ", 3)[2:] for line in self.metrics(admin_port).splitlines()
                     if line.startswith("# HELP ")]
        self.assertGreater(len(helps), 40)
        for name, text in helps:
            bare = name.removeprefix("sluice_").removesuffix("_total")
            self.assertNotIn(text.strip(), ("", name, bare), name)

    def test_stats_json_matches_the_traffic_sent(self):
        with Server(echo_handler) as b:
            _, port, admin_port = self.start(b.addr)
            for _ in range(3):
                self.assertEqual(b"z" * 100, echo_roundtrip(port, b"z" * 100))
            wait_for(lambda: json.loads(admin_get(admin_port, "/stats")[1])["process"]["closed"] == 3,
                     "3 closed sessions in /stats")
            status, body = admin_get(admin_port, "/stats")

        self.assertEqual(200, status)
        st = json.loads(body)
        self.assertEqual(3, st["process"]["accepted"])
        self.assertEqual({"direction": "in", "bytes": 300}, st["bytes"][0])
        be = st["backend"][0]
        self.assertEqual(("g", "b1", "unchecked"), (be["group"], be["backend"], be["state"]))
        self.assertEqual((1, 3, 0, 0), (be["weight"], be["sessions"], be["active"], be["connect_failures"]))
        self.assertEqual(3, st["latency"]["session_duration_seconds"]["count"])

    def test_healthz_answers_while_the_process_runs(self):
        with Server(echo_handler) as b:
            _, _, admin_port = self.start(b.addr)
            self.assertEqual((200, "ok\n"), admin_get(admin_port, "/healthz"))
            self.assertEqual(404, admin_get(admin_port, "/nowhere")[0])

    def test_one_connection_serves_request_after_request_and_pipelined_ones(self):
        # a scraper keeps its connection; requests sent back to back are each answered
        with Server(echo_handler) as b:
            _, _, admin_port = self.start(b.addr)
            c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
            self.addCleanup(c.close)
            for path, status in (("/healthz", 200), ("/metrics", 200), ("/nowhere", 404),
                                 ("/stats", 200)):
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                self.assertEqual((status, None), (r.status, r.getheader("Connection")), path)
            self.assertIsNotNone(c.sock, "the connection was closed between requests")
            with connect(admin_port) as s:
                # the second carries a body, which is read and dropped, not taken for a request
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET "
                          b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                s.settimeout(10)
                got = b""
                while chunk := s.recv(65536):
                    got += chunk
            self.assertEqual(3, got.count(b"HTTP/1.1 200 OK\r\n"), got)
            self.assertEqual(3, got.count(b"\r\n\r\nok\n"), got)

    def test_another_method_than_get_or_head_is_405_with_the_allowed_ones(self):
        with Server(echo_handler) as b:
            _, _, admin_port = self.start(b.addr)
            for method, path, body in (("POST", "/metrics", b"x=1"), ("PUT", "/stats", b"{}"),
                                       ("DELETE", "/", None), ("OPTIONS", "/healthz", None)):
                c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
                c.request(method, path, body=body)
                r = c.getresponse()
                r.read()
                c.close()
                # RFC 9110: a 405 says which methods the resource takes
                self.assertEqual((405, "GET, HEAD"), (r.status, r.getheader("Allow")), method)
            c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
            c.request("HEAD", "/healthz")
            r = c.getresponse()
            self.assertEqual((200, b""), (r.status, r.read()))
            c.close()

    def test_readyz_is_503_while_the_only_backend_takes_no_session(self):
        # up by its checks, but disabled or draining: every client would be refused
        sock = os.path.join(tempfile.mkdtemp(prefix="readyz-"), "ctl.sock")
        self.addCleanup(shutil.rmtree, os.path.dirname(sock), True)
        with Server(echo_handler) as b:
            _, _, admin_port = self.start(b.addr, health=True, control=sock)
            wait_for(lambda: admin_get(admin_port, "/readyz")[0] == 200, "/readyz to answer 200")
            for state in ("disable", "drain"):
                r = subprocess.run([SLUICECTL, "-s", sock, state, "backend", "g/b1"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(0, r.returncode, r.stderr)
                self.assertEqual(503, admin_get(admin_port, "/readyz")[0], state)
                metrics = parse_metrics(self.metrics(admin_port))
                self.assertEqual((1, 0), (metrics['sluice_group_backends_up{group="g"}'],
                                          metrics['sluice_group_backends_serving{group="g"}']))
                # the operator's state is in the metrics and in /stats (the page's source)
                self.assertEqual((state == "drain", state == "disable"),
                                 (metrics['sluice_backend_draining{group="g",backend="b1"}'] == 1,
                                  metrics['sluice_backend_disabled{group="g",backend="b1"}'] == 1))
                be = json.loads(admin_get(admin_port, "/stats")[1])["backend"][0]
                self.assertEqual({"drain": "draining", "disable": "disabled"}[state], be["state"])
                r = subprocess.run([SLUICECTL, "-s", sock, "enable", "backend", "g/b1"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(0, r.returncode, r.stderr)
                self.assertEqual(200, admin_get(admin_port, "/readyz")[0], state)

    def test_readyz_is_503_while_the_only_backend_is_down(self):
        b = Server(echo_handler).__enter__()
        backend_port = b.port
        px, _, admin_port = self.start(b.addr, health=True)
        wait_for(lambda: admin_get(admin_port, "/readyz")[0] == 200, "/readyz to answer 200")
        b.close()
        wait_for(lambda: admin_get(admin_port, "/readyz")[0] == 503, "/readyz to answer 503", detail=px.stderr)
        status, body = admin_get(admin_port, "/readyz")
        self.assertEqual({"ready": False, "reason": "group g has no backend that takes sessions "
                                             "(up, enabled, not ejected)"}, json.loads(body))
        self.assertEqual("down", json.loads(admin_get(admin_port, "/stats")[1])["backend"][0]["state"])
        self.assertEqual(1, parse_metrics(self.metrics(admin_port))['sluice_backend_checked{group="g",backend="b1"}'])
        with Server(echo_handler, port=backend_port):
            wait_for(lambda: admin_get(admin_port, "/readyz")[0] == 200, "/readyz to answer 200 again",
                     detail=px.stderr)
            self.assertEqual({"ready": True}, json.loads(admin_get(admin_port, "/readyz")[1]))


def still_open(sock):
    """True while the endpoint has not closed <sock> (a read would block)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def accept_queue(port):
    """Connections waiting to be accepted on the listener of 127.0.0.1:<port> (the accept
    queue, /proc/net/tcp's rx_queue of a listening socket), or None if it does not listen."""
    local = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    return None


class AdminLimits(unittest.TestCase):
    """admin: max_connections, max_per_source and timeout, with clients that open connections
    and send half a request line, as a slow or hostile client on the admin network would."""

    def start(self):
        port, admin_port = free_port(), free_port()
        cfg = write_config(f"""
workers: 1
admin: {{ address: 127.0.0.1:{admin_port}, max_connections: 12, max_per_source: 4, timeout: 1s }}
listeners:
  - address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    backends:
      - address: 127.0.0.1:9
""")
        px = Sluice(["-c", cfg], port=port)
        px.__enter__()
        self.addCleanup(px.__exit__, None, None, None)
        wait_for_text(px, "admin endpoint on")
        self.px = px
        return admin_port

    def hold(self, admin_port, source, n):
        socks = []
        for _ in range(n):
            s = connect(admin_port, source=source)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            socks.append(s)
            self.addCleanup(s.close)
        return socks

    def test_one_source_gets_its_share_and_a_probe_from_another_is_answered(self):
        admin_port = self.start()
        socks = self.hold(admin_port, "127.0.0.2", 10)
        wait_for(lambda: sum(map(still_open, socks)) == 4,
                 "the endpoint to keep 4 of one source's 10 connections")
        self.assertTrue(all(still_open(s) for s in socks[:4]))
        self.assertEqual((200, "ok\n"), admin_get(admin_port, "/healthz"))
        # the 6 closed at once are counted
        status, body = admin_get(admin_port, "/metrics")
        self.assertEqual(6, parse_metrics(body)["sluice_admin_refused_total"], body)
        # and its places come back as its connections close (once the endpoint has seen them
        # close: one opened before may still be refused): 4 answered and kept open again
        for s in socks[:4]:
            s.close()
        answered = 0
        deadline = time.monotonic() + 10 * SLOW
        while answered < 4 and time.monotonic() < deadline:  # bounded: at most 10 s
            s = connect(admin_port, source="127.0.0.2")
            self.addCleanup(s.close)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                ok = s.recv(12).startswith(b"HTTP/1.1 200")
            except OSError:
                ok = False
            answered += ok
            if not ok:  # refused: the endpoint has not seen a close yet; give it the time
                time.sleep(0.05)
        self.assertEqual(4, answered)
        status, body = admin_get(admin_port, "/metrics")
        self.assertLessEqual(6, parse_metrics(body)["sluice_admin_refused_total"], body)

    def test_past_the_cap_in_all_clients_wait_in_the_backlog_until_the_timeout_frees_places(self):
        admin_port = self.start()
        socks = []
        for k in range(2, 6):  # 4 sources x 4 = 16 connections for 12 places
            socks += self.hold(admin_port, f"127.0.0.{k}", 4)
        wait_for(lambda: accept_queue(admin_port) == 4,
                 "12 of 16 connections accepted, 4 waiting in the listen backlog")
        probe = connect(admin_port)
        self.addCleanup(probe.close)
        probe.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        wait_for(lambda: accept_queue(admin_port) == 5, "the probe waiting in the backlog")
        # the 12 send nothing more and are closed a second after their last byte: the 4 and
        # the probe are accepted then, and the probe is answered
        self.assertRegex(recv_exact(probe, 12), rb"^HTTP/1\.[01] 200")
        wait_for(lambda: not any(map(still_open, socks)), "the timeout to close all 16",
                 timeout=10)
        self.assertEqual(0, accept_queue(admin_port))

    @unittest.skipUnless(os.geteuid() == 0, "raising the fd limit back needs root")
    def test_no_fd_left_for_a_connection_mutes_the_accept_instead_of_spinning(self):
        """The process's fd limit lowered to its lowest free fd, with no admin connection open:
        the endpoint cannot accept, and a poll on the readable listener would spin (as
        libmicrohttpd's own accept did, at a whole CPU); it tries again every 100 ms, says so
        once, and answers the waiting client as soon as fds come back."""
        import resource
        admin_port = self.start()
        pid = self.px.proc.pid
        self.assertEqual((200, "ok\n"), admin_get(admin_port, "/healthz"))
        wait_for(lambda: open_admin_connections(pid, admin_port) == 0,
                 "the endpoint to close the probe's connection")
        held = {int(f) for f in os.listdir(f"/proc/{pid}/fd")}
        lowest_free = min(set(range(len(held) + 1)) - held)
        old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, old[1]))
        try:
            c = connect(admin_port)  # queued: no fd to accept it into
            self.addCleanup(c.close)
            c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            wait_for_text(self.px, "admin: cannot accept a connection: Too many open files")
            before = cpu_ticks(pid)
            time.sleep(1.0)
            spent = cpu_ticks(pid) - before  # in 1/100 s: a spin would take about 100
            self.assertLess(spent, 30, "the process spun while it could not accept")
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
        self.assertRegex(recv_exact(c, 12), rb"^HTTP/1\.[01] 200")
        wait_for_text(self.px, "admin: accepting connections again")
        self.assertEqual(1, self.px.stderr().count("admin: cannot accept a connection"))


def cpu_ticks(pid):
    """utime + stime of every thread of <pid>, in 1/100 s."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def open_admin_connections(pid, admin_port):
    """Established TCP connections of <pid> on its admin port (from /proc/net/tcp)."""
    inodes = set()
    for f in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{f}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[3] == "01" and int(cols[1].split(":")[1], 16) == admin_port and cols[9] in inodes:
                n += 1
    return n

if __name__ == "__main__":
    unittest.main()
