# SPDX-License-Identifier: MIT
"""Every configuration key with a range, at its edge: the largest value passes `sluice --check`
AND the binary starts with it (the listener proxies a round trip, then SIGTERM exits 0), and one
past it is refused with FILE:LINE:COLUMN at the value. Issues: --check once accepted values that
failed at start (workers past the pool table, more than 65535 backends) or reserved absurd
memory (buffer_size: 1024m), and YAML aliases could expand without bound."""
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import threading
import unittest

from harness import (FLAVOUR, SLOW, SLUICE, Sluice, echo_roundtrip, free_port, wait_for_text,
                     write_config)

U32 = 4294967295


class EchoMany:
    """An echo server on one thread (selectors): it holds thousands of connections (a warm pool
    of 1024) without a thread each. Bound to <host>; "0.0.0.0" serves every 127.x.y.z."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.r, self.w = os.pipe()
        self.sel.register(self.r, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def _run(self):
        while True:
            for key, _ in self.sel.select():
                if key.fileobj == self.r:
                    return
                if key.fileobj is self.sock:
                    try:
                        while True:
                            c, _ = self.sock.accept()
                            c.setblocking(False)
                            self.sel.register(c, selectors.EVENT_READ)
                    except (BlockingIOError, OSError):
                        continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(c)
                    c.close()
                    continue
                # small payloads in these tests: a blocking send of the echo is bounded
                c.setblocking(True)
                c.settimeout(10 * SLOW)
                try:
                    c.sendall(data)
                except OSError:
                    pass
                c.setblocking(False)

    def __exit__(self, *exc):
        os.write(self.w, b"x")
        self.thread.join(10 * SLOW)
        for key in list(self.sel.get_map().values()):
            if isinstance(key.fileobj, socket.socket):
                key.fileobj.close()
        os.close(self.r)
        os.close(self.w)


def config(port, backend, top="", listener="", group="", backend_extra="", backends=None):
    """A configuration with one listener on <port> and one group; each part may add keys."""
    if backends is None:
        backends = f"      - address: {backend}\n{backend_extra}"
    return (f"{top or 'workers: 1'}\n"
            f"listeners:\n  - address: 127.0.0.1:{port}\n{listener}"
            f"groups:\n  - name: g\n{group}    backends:\n{backends}")


# (name, where the key goes, its text, the largest value, one past it). "where" is the keyword of
# config(); its text is indented for that place, ADMIN_PORT in it becomes a free port. The error
# must point at the value.
CASES = [
    ("workers", "top", "workers: {}", "1024", "1025"),
    ("drain_timeout", "top", "workers: 1\ndrain_timeout: {}", f"{U32}ms", f"{U32 + 1}ms"),
    ("admin_max_connections", "top",
     "workers: 1\nadmin: {{ address: 127.0.0.1:ADMIN_PORT, max_connections: {} }}",
     "1024", "1025"),
    ("admin_max_per_source", "top",
     "workers: 1\nadmin: {{ address: 127.0.0.1:ADMIN_PORT, max_per_source: {} }}",
     "1024", "1025"),
    ("admin_timeout", "top",
     "workers: 1\nadmin: {{ address: 127.0.0.1:ADMIN_PORT, timeout: {} }}", "1h", "61m"),
    ("backlog", "listener", "    backlog: {}\n", "65535", "65536"),
    ("pipe_size", "listener", "    forward: splice\n    pipe_size: {}\n", "1m", "1048577"),
    ("buffer_size", "listener", "    forward: copy\n    buffer_size: {}\n", "1m", "1025k"),
    ("listener_max_connections", "listener", "    max_connections: {}\n", str(U32), str(U32 + 1)),
    ("timeouts_connect", "listener", "    timeouts: {{ connect: {} }}\n", f"{U32}ms", f"{U32 + 1}"),
    ("timeouts_client_idle", "listener", "    timeouts: {{ client_idle: {} }}\n", f"{U32}",
     f"{U32 + 1}"),
    ("timeouts_server_idle", "listener", "    timeouts: {{ server_idle: {} }}\n", "1193h",
     "1194h"),
    ("timeouts_session", "listener", "    timeouts: {{ session: {} }}\n", "71582m", "71583m"),
    ("timeouts_queue", "listener", "    timeouts: {{ queue: {} }}\n", f"{U32}ms", f"{U32 + 1}ms"),
    ("maglev_table_size", "group", "    balance: maglev\n    maglev_table_size: {}\n",
     "16777213", "16777214"),
    ("retries", "group", "    retries: {}\n", "7", "8"),
    ("max_queue", "group", "    max_queue: {}\n", "16777216", "16777217"),
    ("health_interval", "group", "    health: {{ interval: {}, timeout: 1s }}\n", f"{U32}ms",
     f"{U32 + 1}ms"),
    ("health_timeout", "group", f"    health: {{{{ interval: {U32}ms, timeout: {{}} }}}}\n",
     f"{U32}ms", f"{U32 + 1}ms"),
    ("health_rise", "group", "    health: {{ rise: {} }}\n", "1000", "1001"),
    ("health_fall", "group", "    health: {{ fall: {} }}\n", "1000", "1001"),
    ("passive_failures", "group", "    passive: {{ failures: {} }}\n", "1000", "1001"),
    ("passive_max_backoff", "group", "    passive: {{ max_backoff: {} }}\n", f"{U32}ms",
     f"{U32 + 1}ms"),
    ("passive_backoff", "group", f"    passive: {{{{ max_backoff: {U32}ms, backoff: {{}} }}}}\n",
     f"{U32}ms", f"{U32 + 1}ms"),
    ("warm_pool_size", "group", "    warm_pool: {{ size: {} }}\n", "1024", "1025"),
    ("warm_pool_idle", "group", "    warm_pool: {{ size: 1, idle: {} }}\n", f"{U32}ms",
     f"{U32 + 1}ms"),
    ("weight", "backend_extra", "        weight: {}\n", "1000000", "1000001"),
    ("backend_max_connections", "backend_extra", "        max_connections: {}\n", str(U32),
     str(U32 + 1)),
]


# 8 million lists, each the only item of the one before (16 MB), under the top mapping: the
# 65th "- " (line 2, column 3 + 2 * 64) opens the 65th level below it
DEEP = "x:\n  " + "- " * 8_000_000 + "1\n"
DEEP_AT = f"2:{3 + 2 * 64}"


def where(text, needle, after=""):
    """1-based line and column of the first <needle> in <text> after the start of <after>."""
    i = text.index(needle, text.index(after))
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


class Bounds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = EchoMany().__enter__()
        cls.backend = f"127.0.0.1:{cls.echo.port}"

    @classmethod
    def tearDownClass(cls):
        cls.echo.__exit__()

    def check(self, text):
        path = write_config(text)
        self.addCleanup(os.unlink, path)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                           timeout=60 * SLOW)
        return path, r

    def assert_starts(self, text, port, extra_args=()):
        path, r = self.check(text)
        self.assertEqual(0, r.returncode, r.stderr)
        m = re.search(r"^workers: (\d+)", text, re.M)
        if FLAVOUR == "thread" and m and int(m.group(1)) > 256:
            # ThreadSanitizer's shadow memory for ~1000 threads is more than this machine
            # maps ("ThreadSanitizer failed to allocate ... (errno: 12)"): --check is checked,
            # the start is left to the other flavours
            self.skipTest("TSan cannot map shadow memory for this many threads here")
        with Sluice(["-c", path, *extra_args], port=port) as px:
            self.assertEqual(b"edge", echo_roundtrip(port, b"edge"), px.stderr())
            self.assertEqual(0, px.stop(), px.stderr())

    def assert_refused_at(self, text, needle, after=""):
        path, r = self.check(text)
        self.assertNotEqual(0, r.returncode)
        line, col = where(text, needle, after)
        self.assertTrue(r.stderr.startswith(f"{path}:{line}:{col}: "), r.stderr)

    def run_case(self, key, place, fmt, top, past):
        for value, ok in ((top, True), (past, False)):
            port = free_port()
            part = fmt.format(value).replace("ADMIN_PORT", str(free_port()))
            text = config(port, self.backend, **{place: part})
            if key == "workers":
                # 1024 workers x 32 pipe fds of a splice listener pass 20000 open files: copy
                text = text.replace(f"127.0.0.1:{port}\n", f"127.0.0.1:{port}\n    forward: copy\n")
            with self.subTest(key=key, value=value):
                if ok:
                    self.assert_starts(text, port)
                else:
                    self.assert_refused_at(text, value, after=part)

    def test_health_send_and_expect_of_4096_bytes_start_and_4097_are_refused(self):
        for n, ok in ((4096, True), (4097, False)):
            port = free_port()
            probe = "p" * n
            # the echo server answers the probe with itself: the check passes
            text = config(port, self.backend,
                          group=f"    health: {{ type: send_expect, send: {probe}, "
                                f"expect: {probe} }}\n")
            with self.subTest(n=n):
                if ok:
                    self.assert_starts(text, port)
                else:
                    self.assert_refused_at(text, probe, after="send: ")

    def test_65535_backends_start_and_65536_are_refused(self):
        # 0.0.0.0: one server answers every 127.x.y.z of the list (traffic stays on loopback)
        with EchoMany("0.0.0.0") as wide:
            for n, ok in ((65535, True), (65536, False)):
                port = free_port()
                backends = "".join(f"      - address: 127.{1 + (i >> 16)}.{(i >> 8) & 255}."
                                   f"{i & 255}:{wide.port}\n" for i in range(n))
                text = config(port, None, backends=backends)
                with self.subTest(n=n):
                    if ok:
                        self.assert_starts(text, port)
                    else:
                        self.assert_refused_at(text, "- address: 127.1.0.0")

    def test_workers_at_the_pool_table_start_and_one_more_is_refused(self):
        # 3 listeners: 4096 / 4 = 1024 workers (copy: see run_case); 4 listeners: 819
        for nl, workers, ok in ((3, 1024, True), (4, 820, False)):
            ports = [free_port() for _ in range(nl)]
            listeners = "".join(f"  - {{ address: 127.0.0.1:{p}, forward: copy }}\n"
                                for p in ports)
            text = (f"workers: {workers}\nlisteners:\n{listeners}"
                    f"groups: [{{ name: g, backends: [{{ address: {self.backend} }}] }}]\n")
            with self.subTest(listeners=nl, workers=workers):
                if ok:
                    self.assert_starts(text, ports[-1])
                else:
                    self.assert_refused_at(text, str(workers), after="workers: ")

    def test_aliases_past_the_bound_are_refused(self):
        group = ("  - &g\n    name: g\n    backends:\n" +
                 "".join(f"      - address: 127.0.0.{i}:9001\n" for i in range(100)))
        text = ("listeners: [{ address: 127.0.0.1:8080 }]\ngroups:\n" + group +
                "  - *g\n" * 4000)
        path, r = self.check(text)
        self.assertNotEqual(0, r.returncode)
        self.assertRegex(r.stderr, rf"^{path}:\d+:\d+: YAML aliases expand the configuration "
                                   r"past 100000 nodes")
        self.assertEqual(1, len(r.stderr.splitlines()), r.stderr)

    # The nesting and node bounds are checked on libyaml's events before it composes the
    # document. Each hostile file below is near the 16 MiB cap; composed, it took 1.3 to 2.5 GB.
    # Under this cap on the address space the load can only succeed in refusing it if it never
    # builds the document (sanitizers reserve terabytes of address space: there the cap is off).
    CHECK_AS_MAX = 256 << 20

    def check_capped(self, text):
        """--check of <text> in a child whose address space is capped at CHECK_AS_MAX."""
        path = write_config(text)
        self.addCleanup(os.unlink, path)

        def cap():
            if FLAVOUR == "none":
                resource.setrlimit(resource.RLIMIT_AS, (self.CHECK_AS_MAX, self.CHECK_AS_MAX))

        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                           timeout=60 * SLOW, preexec_fn=cap)
        return path, r

    def test_block_nesting_past_64_levels_is_refused_before_the_document_is_built(self):
        path, r = self.check_capped(DEEP)
        self.assertEqual((1, f"{path}:{DEEP_AT}: lists and mappings nest deeper than 64 "
                             "levels here\n"), (r.returncode, r.stderr))

    def test_a_list_past_the_node_bound_is_refused_before_the_document_is_built(self):
        # nodes: the top mapping, "x", the list, then the items: item 999998 is node 1000001
        path, r = self.check_capped("x: [" + "1," * 8_000_000 + "1]\n")
        col = 5 + 2 * (999_998 - 1)
        self.assertEqual((1, f"{path}:1:{col}: the configuration passes 1000000 YAML nodes "
                             "(values, lists and mappings) here, the most a file may have\n"),
                         (r.returncode, r.stderr))

    @unittest.skipIf(FLAVOUR != "none", "a million nodes take minutes to check under a "
                     "sanitizer: the bound is the same in every build")
    def test_the_largest_configuration_padded_to_the_node_bound_passes_and_one_more_is_refused(self):
        # 4095 listeners (9 nodes each) and a group of 65535 backends with every backend key
        # (11 each): 757752 nodes with the rest; the first listener's allow list fills the
        # bound (2 nodes and one per prefix), and one prefix more passes it at the last node
        def text(prefixes):
            allow = ", ".join(f"10.{j >> 16}.{(j >> 8) & 255}.{j & 255}" for j in range(prefixes))
            listeners = "".join(
                f"  - {{ name: l{i}, address: 127.0.{i >> 8}.{i & 255}:{port}, group: g, "
                f"forward: copy{f', allow: [{allow}]' if i == 0 else ''} }}\n"
                for i in range(4095))
            backends = "".join(
                f"      - {{ name: b{i}, address: 127.{1 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}:9, "
                f"weight: 1000000, max_connections: {U32}, backup: false }}\n"
                for i in range(65535))
            return (f"workers: 1\nlisteners:\n{listeners}groups:\n  - name: g\n    backends:\n"
                    f"{backends}")

        port = free_port()
        fill = 1_000_000 - 757_752 - 2
        path, r = self.check(text(fill))
        self.assertEqual((0, f"{path}: ok (4095 listeners, 1 group)\n"), (r.returncode, r.stdout),
                         r.stderr)
        over = text(fill + 1)
        path, r = self.check(over)
        lines = over.splitlines()
        line, col = len(lines), lines[-1].index("false") + 1
        self.assertEqual((1, f"{path}:{line}:{col}: the configuration passes 1000000 YAML nodes "
                             "(values, lists and mappings) here, the most a file may have\n"),
                         (r.returncode, r.stderr))

    def test_a_reload_of_a_file_nested_past_the_bound_is_refused_without_growing_the_proxy(self):
        port = free_port()
        path = write_config(config(port, self.backend))
        self.addCleanup(os.unlink, path)
        with Sluice(["-c", path], port=port) as px:
            before = peak_rss_kib(px.proc.pid)
            with open(path, "w") as f:
                f.write(DEEP)
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, f"SIGHUP: {path} has errors (above): not reloaded", timeout=60)
            self.assertIn(f"{path}:{DEEP_AT}: lists and mappings nest deeper than 64 levels here",
                          px.stderr())
            # the 16 MB text, read once, and no document: composed, it took 2.5 GB
            self.assertLess(peak_rss_kib(px.proc.pid) - before, 256 << 10)
            self.assertEqual(b"edge", echo_roundtrip(port, b"edge"), px.stderr())
            self.assertEqual(0, px.stop(), px.stderr())


def peak_rss_kib(pid):
    """The process's peak resident set (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))


for _case in CASES:
    def _test(self, c=_case):
        self.run_case(*c)
    _test.__name__ = f"test_{_case[0]}_max_starts_and_one_more_is_refused"
    setattr(Bounds, _test.__name__, _test)


if __name__ == "__main__":
    unittest.main(verbosity=2)
