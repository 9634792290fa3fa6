# SPDX-License-Identifier: MIT
"""Shared parts of the integration tests: start sluice as a real process, real backend servers
on loopback, free ports, bounded waits. Every wait here is bounded and every process started
is stopped when the test ends."""
import contextlib
import fcntl
import hashlib
import os
import random
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

SLUICE = os.environ.get("SLUICE_BIN", "build/release/sluice")
SLUICECTL = os.environ.get("SLUICECTL_BIN", os.path.join(os.path.dirname(SLUICE), "sluicectl"))
FLAVOUR = os.environ.get("SLUICE_FLAVOUR", "none")
# SL_TEST_RUNTIME=io_uring (or epoll, auto): every sluice Sluice starts to serve runs on it
RUNTIME = os.environ.get("SL_TEST_RUNTIME", "")
# modes that do not run loops (or take no other flag): left as they are
_NO_RUNTIME_FLAGS = {"--check", "--list-keys", "--version", "-V", "--help", "-h", "--probe"}


def runtime_args(args):
    """<args> with --runtime $SL_TEST_RUNTIME in front when set and <args> runs a proxy."""
    args = list(args)
    if not RUNTIME or any(a in _NO_RUNTIME_FLAGS for a in args) or "--runtime" in args:
        return args
    return ["--runtime", RUNTIME] + args
# sanitizer builds run several times slower: scale bounded waits, not assertions
SLOW = 4 if FLAVOUR != "none" else 1


def free_port(host="127.0.0.1"):
    """A TCP port free on <host> for a server the test starts later: stable_port()'s, so no
    other test's connect() can be given it before the server binds."""
    return stable_port(host=host)


# Ports stable_port() has handed out in this process: a test often picks several before it binds
# any (a listener's, then the admin endpoint's), and each must be its own.
_GIVEN_PORTS = set()


def stable_port(udp=False, host="127.0.0.1"):
    """A port free on <host> (for TCP, and UDP too if <udp>) below the ephemeral range, for
    a test that binds it later, or closes a listener and binds the port again: in between, no
    connect() or bind to port 0 anywhere on the machine can be given it, as an ephemeral port
    could be; nor does this process hand it out again."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in _GIVEN_PORTS:
            continue
        kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
        socks = [socket.socket(family, k) for k in kinds]
        try:
            for s in socks:
                s.bind((host, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _GIVEN_PORTS.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@contextlib.contextmanager
def refused_address(host="127.0.0.1"):
    """HOST:PORT where connections are refused for the whole block: the port stays bound (so
    nothing else the test starts can be given it) but never listens, so a SYN gets a reset."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        yield f"[{host}]:{s.getsockname()[1]}" if family == socket.AF_INET6 else f"{host}:{s.getsockname()[1]}"


def is_listening(port):
    """True if a socket is in LISTEN state on <port> (the kernel's table; nothing connects)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits (bounded) until a socket listens on <port>; a probe connection would be proxied."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if is_listening(port):
            return
        if proc is not None and proc.poll() is not None:
            raise TimeoutError(f"process exited with {proc.returncode} before listening")
        select.select([], [], [], 0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout * SLOW}s")


def log_file():
    """An unnamed file for a child's stdout or stderr, read back while the child writes it.
    O_APPEND: the child shares the file offset with us, so without it our seek(0) before a
    read would send the child's next line over the start of the file."""
    f = tempfile.TemporaryFile()
    fcntl.fcntl(f.fileno(), fcntl.F_SETFL, fcntl.fcntl(f.fileno(), fcntl.F_GETFL) | os.O_APPEND)
    return f


class Sluice:
    """A sluice process. Use as a context manager; stderr is kept for assertions."""

    def __init__(self, args, port=None, host="127.0.0.1", env=None):
        self.args = [SLUICE] + runtime_args(args)
        self.port = port
        self.host = host
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.err = log_file()
        self.out = log_file()

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=self.err, env=self.env)
        if self.port:
            try:
                wait_port(self.port, self.host, proc=self.proc)
            except TimeoutError:
                self.stop()
                raise AssertionError("sluice did not start: " + self.stderr())
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        # the logs outlive the process (tests read them after it exits), not this object
        self.err.close()
        self.out.close()

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stdout(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")


def wait_for_text(px, text, timeout=10.0):
    """Waits (bounded) until <text> shows in the Sluice <px>'s stderr; the log line is the event."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if text in px.stderr():
            return
        if px.proc.poll() is not None:
            break
        select.select([], [], [], 0.02)
    raise AssertionError(f"no {text!r} in stderr: {px.stderr()}")


def wait_for(pred, what, timeout=10.0, detail=None):
    """Polls <pred> (bounded) until it returns something true, and returns that; fails naming
    <what>, and what <detail>() says then if given, if it never does."""
    deadline = time.monotonic() + timeout * SLOW
    while not (got := pred()):
        if time.monotonic() > deadline:
            more = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out waiting for {what}{more}")
        select.select([], [], [], 0.02)
    return got


class Server:
    """A threaded TCP server on loopback; handler(conn) runs per connection in its own thread."""

    def __init__(self, handler, host="127.0.0.1", port=0, backlog=512):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.addr = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.handler = handler
        self.accepted = 0
        self.lock = threading.Lock()
        self.conns = set()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(conn)
            conn.close()

    def close(self):
        self.stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            for c in list(self.conns):
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)

    def __exit__(self, *exc):
        self.close()


def echo_handler(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def read_digest(conn):
    """Reads to EOF; returns the sha256 of what it read."""
    h = hashlib.sha256()
    while True:
        data = conn.recv(65536)
        if not data:
            return h.digest()
        h.update(data)


def digest_handler(conn):
    """Reads to EOF, then answers the sha256 of what it read and closes."""
    conn.sendall(read_digest(conn))


def name_handler(name):
    """Answers each line with name + newline: who answered."""

    def handler(conn):
        f = conn.makefile("rb")
        for _ in f:
            conn.sendall(name.encode() + b"\n")

    return handler


def ask_name(s):
    """Sends one line on the open connection <s> and returns the line that answers it (from a
    name_handler backend: its name)."""
    s.sendall(b"who\n")
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            raise EOFError("closed")
        got += chunk
    return got.decode().strip()


def recv_all(sock, timeout=30.0):
    sock.settimeout(timeout * SLOW)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def recv_exact(sock, n, timeout=30.0):
    """Exactly <n> bytes; raises EOFError if the peer closes first (never loops on EOF)."""
    sock.settimeout(timeout * SLOW)
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            raise EOFError(f"EOF after {len(got)} of {n} bytes")
        got += chunk
    return got


class EchoStream(threading.Thread):
    """One long-lived session to an echo backend: sends seeded random chunks of up to
    <max_chunk> bytes and reads each one's echo, hashing both (sent, got), pausing <pause> s
    between chunks, until told to stop (stop.set()); then half-closes and reads to EOF. A broken
    connection is noted in error, not raised. wait_rounds(n) waits for n more echoed chunks."""

    def __init__(self, port, seed, max_chunk=65536, pause=0.0):
        super().__init__(daemon=True)
        self.sock = connect(port)
        self.rng = random.Random(seed)
        self.max_chunk = max_chunk
        self.pause = pause
        self.stop = threading.Event()
        self.sent = hashlib.sha256()
        self.got = hashlib.sha256()
        self.nsent = self.ngot = 0
        self.error = None
        self.rounds = threading.Semaphore(0)  # released once per echoed chunk

    def run(self):
        try:
            while not self.stop.is_set():
                chunk = self.rng.randbytes(self.rng.randint(1, self.max_chunk))
                self.sock.sendall(chunk)
                self.sent.update(chunk)
                self.nsent += len(chunk)
                back = recv_exact(self.sock, len(chunk))
                self.got.update(back)
                self.ngot += len(back)
                self.rounds.release()
                if self.pause:
                    self.stop.wait(self.pause)
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(30 * SLOW)
            if self.sock.recv(1) != b"":
                self.error = "bytes after the last echo"
        except (OSError, EOFError) as e:
            self.error = repr(e)
        finally:
            self.sock.close()

    def wait_rounds(self, n):
        for _ in range(n):
            if not self.rounds.acquire(timeout=30 * SLOW):
                raise AssertionError("no echo")


def finish_streams(tc, streams):
    """Stops every EchoStream in <streams> and asserts, on the TestCase <tc>, that each ended,
    broke nothing, moved bytes, and got back every byte it sent, in order."""
    for s in streams:
        s.stop.set()
    for s in streams:
        s.join(60 * SLOW)
        tc.assertFalse(s.is_alive(), "an echo stream did not end")
        tc.assertIsNone(s.error)
        tc.assertGreater(s.nsent, 0)
        tc.assertEqual(s.nsent, s.ngot)
        tc.assertEqual(s.sent.digest(), s.got.digest())


def closed_by_peer(sock, timeout=10.0):
    """True if the peer closed: the next read sees EOF or a reset (a reset is how sluice
    passes on a reset, or closes a session it had to abort)."""
    sock.settimeout(timeout * SLOW)
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True


def echo_checked(s, n, seed):
    """Sends <n> bytes of a pattern (<seed>) on <s> and reads them back from an echo; true if
    they came back intact."""
    data = bytes((i * 7 + seed) % 251 for i in range(n))
    s.sendall(data)
    return hashlib.sha256(recv_exact(s, n)).digest() == hashlib.sha256(data).digest()


def held(srv):
    """Connections the Server <srv> has accepted and not yet seen closed."""
    with srv.lock:
        return len(srv.conns)


def connect(port, host="127.0.0.1", timeout=10.0, source=None, source_port=0):
    """A client connection to <host>:<port>, from the address <source> (127.x.y.z) if given,
    and from <source_port> if given (else an ephemeral one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    if source is not None or source_port != 0:
        s.bind((source or ("::1" if family == socket.AF_INET6 else "127.0.0.1"), source_port))
    s.connect((host, port))
    return s


def echoed(sock, payload=b"ping"):
    """True if <payload> comes back through an echo backend; False if the proxy closed or reset
    the connection instead (a refused client)."""
    try:
        sock.sendall(payload)
        return recv_exact(sock, len(payload)) == payload
    except (OSError, EOFError):
        return False


def echo_roundtrip(port, payload, host="127.0.0.1"):
    """Sends <payload> through an echo path, half-closes, returns everything that came back
    (a reader thread drains while the writer sends, so large payloads cannot deadlock)."""
    s = connect(port, host=host)
    got = []
    t = threading.Thread(target=lambda: got.append(recv_all(s)))
    t.start()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    t.join(60 * SLOW)
    s.close()
    return got[0] if got else b""


def echo_many(port, sizes):
    """Echoes a random payload of each size in <sizes> (seeded by its index) through <port>, all
    at once, one connection each: [(sha256 sent, sha256 echoed)], None for one that did not
    finish."""
    results = [None] * len(sizes)

    def work(i):
        payload = random.Random(i).randbytes(sizes[i])
        results[i] = (hashlib.sha256(payload).digest(),
                      hashlib.sha256(echo_roundtrip(port, payload)).digest())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sizes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLOW)
    return results


def write_config(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def replace_config(path, new):
    """Writes the config file <new> (a write_config path) over <path> in place, the way an
    operator edits a file, and removes <new>."""
    with open(new) as src, open(path, "w") as dst:
        dst.write(src.read())
    os.unlink(new)


def rejected(err):
    """The exit summary's `rejected: N clients: reason n, ...` line of <err> as a dict."""
    m = re.search(r"rejected: \d+ clients:(.*)", err)
    return dict((k, int(v)) for k, v in re.findall(r" (\w+) (\d+)", m.group(1))) if m else {}


def parse_metrics(text):
    """{'name{labels}': value} of every sample line of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def admin_get(admin_port, path, host="127.0.0.1"):
    """(status, body) of GET <path> on the admin endpoint; an HTTP error status is an answer,
    not an exception."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{host}:{admin_port}{path}", timeout=10 * SLOW) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape_metrics(admin_port, host="127.0.0.1"):
    """The admin endpoint's /metrics, parsed (parse_metrics())."""
    return parse_metrics(admin_get(admin_port, "/metrics", host)[1])


@contextlib.contextmanager
def black_hole():
    """A listener whose accept queue is full and never drained: further SYNs are dropped."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for c in fillers:
            c.close()
        lsock.close()

