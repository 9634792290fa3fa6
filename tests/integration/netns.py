# SPDX-License-Identifier: MIT
"""Network namespaces for the tests that run sluice-static (static_chroot_test,
container_image_test): a fresh namespace with lo up, two joined by a veth pair, code run inside
one (a thread that setns()es into it, so the sockets it makes live there), a listen check from
inside, and an ELF check that a binary needs no dynamic loader. Every wait is bounded; every
namespace (and so every veth) is deleted at the end."""
import contextlib
import ctypes
import itertools
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import SLOW

CLONE_NEWNET = 0x40000000
STATIC_BIN = os.environ.get("SLUICE_STATIC_BIN", "")
# printed when every test of a file is skipped: ctest reports such a file as skipped, not passed
SKIP_MARK = "SKIPPED (every test): "
_names = itertools.count()


def skip_module(reason):
    """Skips every test of the calling module (call from setUpModule), visibly."""
    print(SKIP_MARK + reason, flush=True)
    raise unittest.SkipTest(reason)


def why_no_netns():
    """Why the namespace tests cannot run here (not root, no ip or chroot, or the kernel or a
    sandbox refuses a namespace: one is made and deleted to find out), or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns add, chroot)"
    for tool in ("ip", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    probe = f"sl-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"network namespaces unavailable: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NetNs:
    """A fresh network namespace with lo up; deleted on exit. Call why_no_netns() first: here a
    namespace that cannot be made is a failure."""

    def __init__(self, prefix="sl"):
        self.name = f"{prefix}-{os.getpid()}-{next(_names)}"

    def __enter__(self):
        r = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"ip netns add {self.name}: {r.stderr.strip()}")
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise
        return self

    def ip(self, *args):
        r = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"ip -n {self.name} {' '.join(args)}: {r.stderr.strip()}")

    def exec_args(self, argv):
        """argv run inside the namespace (ip netns exec execs it: the pid stays the same)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on a thread that entered the namespace; its result or exception."""
        out = {}

        def run():
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {self.name}: {os.strerror(err)}")
                finally:
                    os.close(fd)
                out["value"] = fn(*args, **kwargs)
            except BaseException as e:  # handed to the caller
                out["error"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    def wait_listening(self, port, proc, host=None, timeout=10.0):
        """Waits (bounded) until a socket in this namespace listens on <port> (on IPv4 <host>
        only, if given); fails early if <proc> exits first."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if self.call(_listening_here, port, host):
                return
            if proc.poll() is not None:
                raise AssertionError(f"exited with {proc.returncode} before listening")
            select.select([], [], [], 0.02)
        raise AssertionError(f"nothing listens on port {port} in {self.name} after {timeout * SLOW}s")

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __exit__(self, *exc):
        self.delete()


def require_static_and_netns():
    """Skips the calling test module, saying why, unless the static binary and network
    namespaces are both there: the chroot and image tests need both."""
    if not STATIC_BIN:
        skip_module("sluice-static is built only in unsanitized Release builds "
                    "(SLUICE_STATIC_BIN unset)")
    reason = why_no_netns()
    if reason:
        skip_module(reason)


def join(a, b, a_addrs, b_addrs):
    """Joins namespaces <a> and <b> with a veth pair (veth0 in a, veth1 in b; the names are the
    namespaces' own), each end holding its IPv4 addresses (CIDR strings) and up."""
    a.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b.name)
    for ns, dev, addrs in ((a, "veth0", a_addrs), (b, "veth1", b_addrs)):
        for addr in addrs:
            ns.ip("addr", "add", addr, "dev", dev)
        ns.ip("link", "set", dev, "up")


def _listening_here(port, host=None):
    """True if a socket of the calling thread's namespace listens on <port> (on IPv4 <host>
    only, if given: the kernel's table writes it as the in-memory u32, so little-endian hex)."""
    want = None if host is None else "%08X" % struct.unpack("<I", socket.inet_aton(host))[0]
    for table in ("tcp",) if host else ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/thread-self/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                addr, hexport = fields[1].rsplit(":", 1)
                if fields[3] == "0A" and int(hexport, 16) == port and want in (None, addr):
                    return True
    return False


def elf_dynamic_needs(path):
    """(interpreter or None, [DT_NEEDED offsets]) of a 64-bit little-endian ELF file: a fully
    static binary has neither a program interpreter nor a needed library."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise AssertionError(f"{path}: not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    interp, needed = None, []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == 2:  # PT_DYNAMIC: static-pie has one, for self-relocation, with no DT_NEEDED
            for off in range(p_offset, p_offset + p_filesz, 16):
                tag, val = struct.unpack_from("<qQ", data, off)
                if tag == 0:  # DT_NULL
                    break
                if tag == 1:  # DT_NEEDED
                    needed.append(val)
    return interp, needed


def stop(proc, timeout=30.0):
    """SIGTERM, then the exit status (bounded; killed if it does not drain in time)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
