# SPDX-License-Identifier: MIT
"""`sluice --check -c FILE`: a valid file passes, a bad one prints FILE:LINE:COLUMN: message
for every error and exits non-zero (each message is pinned by the config unit tests). What this
host lacks but may have by the start (a directory, an address, an interface) is a warning with
status 0, and the start then fails saying why. The command line's overrides (-w, --admin,
--control, ...) are checked as the start applies them: what --check refuses, the start refuses."""
import os
import socket
import subprocess
import tempfile
import unittest

from harness import SLUICE, write_config

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "sluice.yaml")
# a valid file's listener and group, after the top-level keys a test is about
ONE_LISTENER = """listeners:
  - address: 127.0.0.1:9000
    group: g
groups:
  - name: g
    backends:
      - address: 127.0.0.1:9001
"""


class Check(unittest.TestCase):
    def test_example_configuration_passes(self):
        r = subprocess.run([SLUICE, "--check", "-c", EXAMPLE], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn(": ok (", r.stdout)

    def test_every_error_is_reported_with_file_line_and_column(self):
        path = write_config("""listeners:
  - address: 127.0.0.1:70000
    group: nowhere
    backlogg: 10
groups:
  - name: g
    backends:
      - address: 127.0.0.1:9001
""")
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True)
        self.assertNotEqual(0, r.returncode)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(3, len(lines), r.stderr)
        self.assertTrue(lines[0].startswith(f"{path}:2:14: "), lines[0])
        self.assertIn("port out of range (1-65535)", lines[0])
        self.assertTrue(any(l.startswith(f"{path}:3:12: ") and '"nowhere"' in l for l in lines), r.stderr)
        self.assertTrue(any(l.startswith(f"{path}:4:5: ") and '"backlogg"' in l for l in lines), r.stderr)

    @unittest.skipIf(len(os.sched_getaffinity(0)) < 2, "needs 2 CPUs for the default to overflow")
    def test_the_default_worker_count_too_large_for_the_listeners_is_rescued_by_w(self):
        """workers: unset means one per CPU, which with this many listeners exceeds the pool
        table: --check and the start refuse it, naming -w; `-w 1` makes the same file fit."""
        cpus = len(os.sched_getaffinity(0))
        n = 4096 // cpus  # cpus x (n + 1) pools > 4096
        listeners = "".join(f"  - {{ address: 127.0.0.1:{20000 + i}, group: g, forward: copy }}\n"
                            for i in range(n))
        group = ONE_LISTENER[ONE_LISTENER.index("groups:"):]
        path = write_config("listeners:\n" + listeners + group)
        self.addCleanup(os.unlink, path)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn(f"{path}: cannot start on this host: one worker per CPU ({cpus} CPUs here) "
                      f"is too many for {n} listeners", r.stderr)
        self.assertIn("set workers: (or -w) to at most", r.stderr)
        r = subprocess.run([SLUICE, "--check", "-c", path, "-w", "1"], capture_output=True,
                           text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn(f": ok ({n} listeners, 1 group)", r.stdout)

    def test_a_socket_or_log_in_a_missing_directory_is_named_in_a_warning(self):
        # the directory may be made before the start (systemd's RuntimeDirectory=): a warning
        path = write_config("""access_log: { path: /nonexistent-sluice-dir/access.log }
control: { path: /nonexistent-sluice-dir/ctl.sock }
upgrade_socket: /nonexistent-sluice-dir/upgrade.sock
""" + ONE_LISTENER)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        for key, name in (("access_log.path", "access.log"), ("control.path", "ctl.sock"),
                          ("upgrade_socket", "upgrade.sock")):
            self.assertIn(f"{path}: warning: {key} /nonexistent-sluice-dir/{name}: the directory "
                          "/nonexistent-sluice-dir does not exist here", r.stderr)
        # and the start fails, saying why
        r = subprocess.run([SLUICE, "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(1, r.returncode)
        self.assertIn("/nonexistent-sluice-dir/access.log: cannot open: No such file or directory",
                      r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to check as another user")
    def test_a_directory_the_user_cannot_write_is_named_in_a_warning(self):
        d = tempfile.mkdtemp(prefix="sluice-check-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d], check=False))
        os.chmod(d, 0o755)  # root's: another user may not create files in it
        path = write_config(f"control: {{ path: {d}/ctl.sock }}\n" + ONE_LISTENER)
        os.chmod(path, 0o644)
        r = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                            "--clear-groups", SLUICE, "--check", "-c", path],
                           capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn(f"{path}: warning: control.path {d}/ctl.sock: this user (uid 65534) cannot "
                      f"create files in {d} here (Permission denied)", r.stderr)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True)
        self.assertEqual((0, ""), (r.returncode, r.stderr))  # root may
        self.assertEqual(f"{path}: ok (1 listener, 1 group)\n", r.stdout)
        # a directory under one it cannot enter: not "does not exist", which it does
        os.mkdir(f"{d}/shut")
        os.chmod(f"{d}/shut", 0o700)
        os.mkdir(f"{d}/shut/sub")
        path = write_config(f"control: {{ path: {d}/shut/sub/ctl.sock }}\n" + ONE_LISTENER)
        os.chmod(path, 0o644)
        r = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                            "--clear-groups", SLUICE, "--check", "-c", path],
                           capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn(f"{path}: warning: control.path {d}/shut/sub/ctl.sock: this user (uid "
                      f"65534) cannot reach the directory {d}/shut/sub here (Permission denied)",
                      r.stderr)

    def test_a_file_in_the_way_of_a_socket_or_the_access_log_is_refused_by_check_and_start(self):
        d = tempfile.mkdtemp(prefix="sluice-check-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d], check=False))
        os.mkdir(f"{d}/dir")
        with open(f"{d}/file", "w") as f:
            f.write("not a socket\n")
        replace = "which sluice will not replace with its socket (it replaces only a socket no " \
                  "process answers on)"
        cases = [  # the file's keys, the flags, what --check and the start both say
            (f"control: {{ path: {d}/file }}\n", [],
             f"control.path {d}/file is a regular file, {replace}"),
            (f"control: {{ path: {d}/dir }}\n", [], f"control.path {d}/dir is a directory, {replace}"),
            ("", ["--control", "/dev/null"], f"control.path /dev/null is a character device, {replace}"),
            (f"upgrade_socket: {d}/file\n", [], f"upgrade_socket {d}/file is a regular file, {replace}"),
            ("", ["--upgrade-socket", f"{d}/dir"], f"upgrade_socket {d}/dir is a directory, {replace}"),
            (f"access_log: {{ path: {d}/dir }}\n", [],
             f"access_log.path {d}/dir is a directory, which sluice will not replace with its log "
             "file: name a file in it"),
        ]
        for text, flags, said in cases:
            path = write_config(text + ONE_LISTENER)
            self.addCleanup(os.unlink, path)
            r = subprocess.run([SLUICE, "--check", "-c", path] + flags, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual((1, "", f"{path}: cannot start on this host: {said}\n"),
                             (r.returncode, r.stdout, r.stderr), flags)
            r = subprocess.run([SLUICE, "-c", path] + flags, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(1, r.returncode, r.stderr)
            self.assertIn(f" error cannot start: {said}\n", r.stderr)
        # nothing was replaced
        self.assertTrue(os.path.isdir(f"{d}/dir"))
        with open(f"{d}/file") as f:
            self.assertEqual("not a socket\n", f.read())
        # a socket file a process left is no obstacle: the start replaces it
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(f"{d}/stale")
        stale.close()
        path = write_config(f"control: {{ path: {d}/stale }}\nupgrade_socket: {d}/stale2\n"
                            + ONE_LISTENER)
        self.addCleanup(os.unlink, path)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual((0, ""), (r.returncode, r.stderr))

    def test_an_address_or_interface_this_host_lacks_is_named_in_a_warning(self):
        # 192.0.2.0/24 is for documentation: no host has it (freebind_test has the listener's
        # own warning, in a namespace of its own)
        path = write_config("""admin: { address: 192.0.2.1:9090 }
xdp: { interface: nosuchif0, required: true }
""" + ONE_LISTENER)
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn(f"{path}: warning: admin.address 192.0.2.1:9090: not an address of this host; "
                      "sluice cannot listen on it here until it is\n", r.stderr)
        self.assertIn(f"{path}: warning: xdp.interface nosuchif0: no such interface here; sluice "
                      "cannot start until it exists (xdp.required)", r.stderr)
        self.assertNotIn("listener", r.stderr)  # 127.0.0.1 is this host's
        # and the start fails, saying why
        r = subprocess.run([SLUICE, "-c", path, "--control", "off"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(1, r.returncode)
        self.assertIn("cannot start: xdp on nosuchif0 is required: no interface nosuchif0", r.stderr)

    def test_the_command_lines_overrides_are_checked_as_the_start_applies_them(self):
        four = "listeners:\n" + "".join(f"  - address: 127.0.0.1:{9010 + i}\n    group: g\n"
                                         for i in range(4)) + ONE_LISTENER.split("\n", 3)[3]
        d = tempfile.mkdtemp(prefix="sluice-check-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d], check=False))
        cases = [  # flags, what --check and the start both say, the status of each
            (four, ["-w", "820"], "820 workers are too many for 4 listeners", 1),
            (ONE_LISTENER, ["--admin", "0.0.0.0:9000"],
             "--admin 0.0.0.0:9000 takes the port of listener 127.0.0.1:9000", 2),
            (ONE_LISTENER, ["--control", f"{d}/s", "--upgrade-socket", f"{d}/s"],
             f"upgrade_socket and control.path are both {d}/s: give each its own file", 2),
            (f"access_log: {{ path: {d}/s }}\n" + ONE_LISTENER, ["--control", f"{d}/s"],
             f"access_log.path and control.path are both {d}/s", 2),
            (f"access_log: {{ path: {d}/s }}\n" + ONE_LISTENER, ["--control", f"{d}/./s"],
             f"access_log.path {d}/s and control.path {d}/./s are one file", 2),
            (ONE_LISTENER, ["--log-level", "loud"], "--log-level must be error, warn", 2),
            # a bad value refused as -l refuses it, and a good one refused with -c: each
            # group's balance and each listener's forward decide
            (ONE_LISTENER, ["--balance", "bogus"],
             '--balance must be round_robin, weighted, least_conn, p2c or maglev, got "bogus"', 2),
            (ONE_LISTENER, ["--forward", "zerocopy"],
             '--forward must be auto, splice, copy, uring or sockmap, got "zerocopy"', 2),
            (ONE_LISTENER, ["--forward", "copy"],
             "--forward is for -l and the demo; with -c FILE set forward: in the file", 2),
            (ONE_LISTENER, ["--balance", "maglev"],
             "--balance is for -l and the demo; with -c FILE set balance: in the file", 2),
        ]
        for text, flags, said, status in cases:
            path = write_config(text)
            self.addCleanup(os.unlink, path)
            for mode in (["--check"], []):
                r = subprocess.run([SLUICE] + mode + ["-c", path] + flags, capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual((status, ""), (r.returncode, r.stdout), (mode, flags, r.stderr))
                self.assertIn(said, r.stderr, (mode, flags))
        # and flags that fit pass
        path = write_config(ONE_LISTENER)
        self.addCleanup(os.unlink, path)
        r = subprocess.run([SLUICE, "--check", "-c", path, "-w", "3", "--admin", "127.0.0.1:9100"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((0, ""), (r.returncode, r.stderr))
        # the one-line mode refuses them with the same words
        for flag, value, said in (("--balance", "bogus", "--balance must be round_robin"),
                                  ("--forward", "zerocopy", "--forward must be auto")):
            r = subprocess.run([SLUICE, "-l", "127.0.0.1:9000", "-b", "127.0.0.1:9001", flag,
                                value], capture_output=True, text=True, timeout=30)
            self.assertEqual(2, r.returncode, r.stderr)
            self.assertIn(said, r.stderr)

    def test_an_ipv4_mapped_address_is_refused_naming_the_ipv4_address(self):
        # an IPv6 listener is IPv6-only: the start could only fail with "Invalid argument"
        advice = "an IPv4 address in IPv6 form (IPv4-mapped): write the IPv4 address, "
        path = write_config(ONE_LISTENER.replace("127.0.0.1:9000", '"[::ffff:127.0.0.1]:9000"'))
        self.addCleanup(os.unlink, path)
        for mode in (["--check"], []):
            r = subprocess.run([SLUICE] + mode + ["-c", path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(1, r.returncode, (mode, r.stderr))
            self.assertIn(f'{path}:2:14: bad address "[::ffff:127.0.0.1]:9000": {advice}'
                          "127.0.0.1:9000\n", r.stderr)
        # the command line's addresses are usage errors, wherever they are given
        path = write_config(ONE_LISTENER)
        self.addCleanup(os.unlink, path)
        cases = [
            (["--check", "-c", path, "--admin", "[::ffff:127.0.0.1]:9100"],
             'bad --admin address "[::ffff:127.0.0.1]:9100": ' + advice + "127.0.0.1:9100"),
            (["-c", path, "--admin", "[::ffff:127.0.0.1]:9100"],
             'bad --admin address "[::ffff:127.0.0.1]:9100": ' + advice + "127.0.0.1:9100"),
            (["-l", "[::ffff:127.0.0.1]:9000", "-b", "127.0.0.1:9001"],
             'bad listen address "[::ffff:127.0.0.1]:9000": ' + advice + "127.0.0.1:9000"),
            # as the file's admin.address: port 0 would put the endpoint on a port nobody knows
            (["--check", "-c", path, "--admin", "127.0.0.1:0"],
             'bad --admin address "127.0.0.1:0": port out of range (1-65535)'),
            (["-l", "127.0.0.1:9000", "-b", "127.0.0.1:9001,[::ffff:127.0.0.1]:9002"],
             'bad backend address "[::ffff:127.0.0.1]:9002": ' + advice + "127.0.0.1:9002"),
        ]
        for flags, said in cases:
            r = subprocess.run([SLUICE] + flags, capture_output=True, text=True, timeout=30)
            self.assertEqual((2, f"sluice: {said}\n"), (r.returncode, r.stderr), flags)

    def test_a_backend_that_is_one_of_the_listeners_is_refused_by_check_and_start(self):
        # each client's session would open another through the proxy
        path = write_config(ONE_LISTENER.replace("127.0.0.1:9001", "127.0.0.1:9000"))
        self.addCleanup(os.unlink, path)
        for mode in (["--check"], []):
            r = subprocess.run([SLUICE] + mode + ["-c", path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual((1, "", f'{path}:7:18: backend address "127.0.0.1:9000" is the '
                                     f"listener at {path}:2:14: sluice would connect to itself\n"),
                             (r.returncode, r.stdout, r.stderr), mode)

    def test_an_access_log_that_is_the_configuration_file_itself_is_refused(self):
        """Appending log lines to the file would break every later reload and start."""
        d = tempfile.mkdtemp(prefix="sluice-check-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d], check=False))
        path = f"{d}/sluice.yaml"
        text = f"access_log: {{ path: {d}/./sluice.yaml }}\n" + ONE_LISTENER
        with open(path, "w") as f:
            f.write(text)
        said = (f"{path}:1:21: access_log.path \"{d}/./sluice.yaml\" is this configuration "
                "file: give it a file of its own")
        r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual((1, said), (r.returncode, r.stderr.strip()))
        r = subprocess.run([SLUICE, "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn(said, r.stderr)
        with open(path) as f:
            self.assertEqual(text, f.read())

    def test_missing_file_is_reported(self):
        r = subprocess.run([SLUICE, "--check", "-c", "/nonexistent/sluice.yaml"],
                           capture_output=True, text=True)
        self.assertNotEqual(0, r.returncode)
        self.assertIn("/nonexistent/sluice.yaml", r.stderr)
        for args in (["--check", "-c", ""], ["-c", ""]):
            r = subprocess.run([SLUICE] + args, capture_output=True, text=True)
            self.assertEqual((2, "sluice: -c needs a configuration file, got an empty string\n"),
                             (r.returncode, r.stderr))


if __name__ == "__main__":
    unittest.main(verbosity=2)
