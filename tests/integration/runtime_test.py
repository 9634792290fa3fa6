# SPDX-License-Identifier: MIT
"""The event-loop runtime: --runtime epoll and io_uring each say which one runs and forward
bytes; runtime: in the file does the same; auto takes io_uring on this kernel, and epoll (saying
why) where io_uring_setup is refused; an explicit io_uring that cannot start exits non-zero
saying why. The refusal is a seccomp filter on the sluice process alone, not a system setting."""
import ctypes
import os
import platform
import struct
import subprocess
import unittest

from harness import (SLOW, SLUICE, Server, Sluice, echo_handler, echo_roundtrip, free_port,
                     wait_for_text, wait_port, write_config)

NR_IO_URING_SETUP = 425  # the same number on every architecture (asm-generic)


def deny_io_uring_setup():
    """preexec_fn: the child's io_uring_setup() fails with EPERM, every other call is allowed."""
    libc = ctypes.CDLL(None, use_errno=True)
    ld_nr, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET
    prog = [(ld_nr, 0, 0, 0),  # seccomp_data.nr
            (jeq, 0, 1, NR_IO_URING_SETUP),
            (ret, 0, 0, 0x00050000 | 1),  # SECCOMP_RET_ERRNO | EPERM
            (ret, 0, 0, 0x7fff0000)]  # SECCOMP_RET_ALLOW
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        os._exit(125)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        os._exit(125)


class NoUringSluice(Sluice):
    """A Sluice whose io_uring_setup() is refused. Its args are exactly the given ones."""

    def __init__(self, args, port=None):
        super().__init__(args, port=port)
        self.args = [SLUICE] + list(args)

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=self.err, env=self.env,
                                     preexec_fn=deny_io_uring_setup)
        if self.port:
            try:
                wait_port(self.port, self.host, proc=self.proc)
            except TimeoutError:
                self.stop()
                raise AssertionError("sluice did not start: " + self.stderr())
        return self


def io_uring_allowed_here():
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return f.read().strip() == "0"
    except OSError:
        return True  # kernels before 6.6 have no switch


@unittest.skipUnless(platform.machine() in ("x86_64", "aarch64"), "seccomp filter numbers")
class Runtime(unittest.TestCase):
    def forwards(self, px, port):
        payload = os.urandom(200_000)
        self.assertEqual(payload, echo_roundtrip(port, payload))
        self.assertEqual(0, px.stop(), px.stderr())

    def run_flag(self, runtime):
        with Server(echo_handler) as e:
            port = free_port()
            args = ["--runtime", runtime, "-l", f"127.0.0.1:{port}", "-b", e.addr, "-w", "2"]
            with Sluice(args, port=port) as px:
                wait_for_text(px, f"runtime: {runtime}")
                self.forwards(px, port)
                self.assertEqual(1, px.stderr().count("runtime: "), px.stderr())

    def test_runtime_flag_epoll_logs_epoll_and_forwards(self):
        self.run_flag("epoll")

    @unittest.skipUnless(io_uring_allowed_here(), "kernel.io_uring_disabled is set")
    def test_runtime_flag_io_uring_logs_io_uring_and_forwards(self):
        self.run_flag("io_uring")

    def run_file(self, runtime):
        """Starts with runtime: <runtime> in the file, no flag; returns the runtime line."""
        with Server(echo_handler) as e:
            port = free_port()
            path = write_config(f"""
runtime: {runtime}
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:{port}
    group: g
groups:
  - name: g
    backends:
      - address: {e.addr}
""")
            px = Sluice(["-c", path], port=port)
            px.args = [SLUICE, "-c", path]  # the file decides, whatever SL_TEST_RUNTIME says
            with px:
                wait_for_text(px, "runtime: ")
                self.forwards(px, port)
                return [ln for ln in px.stderr().splitlines() if "runtime: " in ln][0]

    def test_runtime_epoll_in_the_file_runs_epoll(self):
        self.assertTrue(self.run_file("epoll").endswith("runtime: epoll"))

    def test_runtime_auto_in_the_file_picks_io_uring_on_this_kernel(self):
        line = self.run_file("auto")
        if io_uring_allowed_here():
            self.assertTrue(line.endswith("runtime: io_uring"), line)
        else:
            self.assertIn("runtime: epoll (io_uring unavailable: ", line)

    def test_auto_without_io_uring_falls_back_to_epoll_saying_why(self):
        with Server(echo_handler) as e:
            port = free_port()
            args = ["-l", f"127.0.0.1:{port}", "-b", e.addr, "-w", "1"]
            with NoUringSluice(args, port=port) as px:
                wait_for_text(px, "runtime: ")
                self.assertIn("runtime: epoll (io_uring unavailable: ", px.stderr())
                self.assertIn("Operation not permitted", px.stderr())
                self.forwards(px, port)

    def test_explicit_io_uring_that_cannot_start_exits_non_zero_saying_why(self):
        port = free_port()
        r = subprocess.run([SLUICE, "--runtime", "io_uring", "-l", f"127.0.0.1:{port}", "-b",
                            "127.0.0.1:9", "-w", "1"], capture_output=True, text=True,
                           timeout=30 * SLOW, preexec_fn=deny_io_uring_setup)
        self.assertNotEqual(0, r.returncode, r.stderr)
        self.assertNotEqual(125, r.returncode, "the seccomp filter was not installed")
        self.assertIn("runtime: io_uring cannot start: ", r.stderr)
        self.assertIn("Operation not permitted", r.stderr)

    @unittest.skipIf(os.geteuid() != 0, "running as another user needs root")
    def test_io_uring_under_a_small_locked_memory_limit_names_the_limit(self):
        """Its rings take locked memory: an unprivileged process under 64 KiB of
        RLIMIT_MEMLOCK (a container's default) cannot make one, and the start says which
        limit to raise, where it blamed the workers and buffer sizes."""
        port = free_port()
        p = subprocess.Popen(["prlimit", "--memlock=65536:65536", "setpriv", "--reuid=nobody",
                              "--regid=nogroup", "--clear-groups", SLUICE, "--runtime",
                              "io_uring", "-l", f"127.0.0.1:{port}", "-b", "127.0.0.1:9", "-w",
                              "1", "--admin", "off", "--control", "off"],
                             stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=15 * SLOW)
        except subprocess.TimeoutExpired:  # it runs: this kernel needs no locked memory
            p.kill()
            p.communicate()
            self.skipTest("this kernel makes rings under 64 KiB of locked memory")
        self.assertNotEqual(0, p.returncode, err)
        self.assertIn("raise ulimit -l, or systemd's LimitMEMLOCK=", err)
        self.assertIn("the locked-memory limit, ulimit -l, is 64 KiB", err)
        # the start's own line points there, not at workers and buffer sizes
        self.assertIn("cannot start: Cannot allocate memory (the locked-memory limit: see the "
                      "io_uring line above)", err)
        self.assertNotIn("smaller buffer_size", err)

    @unittest.skipIf(os.geteuid() != 0, "running as another user needs root")
    def test_memory_short_on_epoll_names_the_address_space_not_locked_memory(self):
        """An epoll process takes no locked memory: a start short of memory under a small
        RLIMIT_MEMLOCK and a small RLIMIT_AS names the address-space limit, and never tells
        the operator to raise ulimit -l (the hint only io_uring's rings deserve)."""
        port = free_port()
        for mib in range(30, 90, 5):  # bounded: from too small to load the libraries, up
            p = subprocess.Popen(["prlimit", "--memlock=65536:65536", f"--as={mib << 20}",
                                  "setpriv", "--reuid=nobody", "--regid=nogroup",
                                  "--clear-groups", SLUICE, "--runtime", "epoll", "-l",
                                  f"127.0.0.1:{port}", "-b", "127.0.0.1:9", "-w", "2",
                                  "--admin", "off", "--control", "off"],
                                 stderr=subprocess.PIPE, text=True)
            try:
                _, err = p.communicate(timeout=5 * SLOW)
            except subprocess.TimeoutExpired:  # it runs: no limit below this one failed it
                p.kill()
                p.communicate()
                break
            if "cannot start" in err:
                self.assertNotEqual(0, p.returncode, err)
                self.assertIn("the address-space limit, ulimit -v, is", err)
                self.assertNotIn("ulimit -l", err)
                return
        self.skipTest("no address-space limit let the libraries load and the start fail")

    def test_bad_runtime_flag_is_refused(self):
        r = subprocess.run([SLUICE, "--runtime", "kqueue", "-l", "127.0.0.1:1", "-b",
                            "127.0.0.1:9"], capture_output=True, text=True, timeout=30 * SLOW)
        self.assertNotEqual(0, r.returncode)
        self.assertIn("--runtime must be auto, io_uring or epoll", r.stderr)


if __name__ == "__main__":
    unittest.main()
