# SPDX-License-Identifier: MIT
"""Privilege dropping (docs/operations.md, Privileges): started as root with `user:` and `group:`,
sluice binds a port below 1024, then runs as that user with no capability, an empty bounding
set and no_new_privs, in every thread (/proc/PID/task/*/status); it still proxies, serves the
admin endpoint, reopens its access log on SIGUSR1, refuses a reload that adds a privileged port,
and drains. Numeric ids work the same; an access log the start makes is given to the user; an
unknown user, an access log the user cannot write and a low port without root are refused with
a message that says so, by --check as by the start. sluice-static (no NSS) is
checked too where it is built. Needs root; skips otherwise."""
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import netns
from harness import (SLOW, SLUICE, Server, Sluice, connect, echo_handler, echoed, free_port,
                     wait_for_text, write_config)

USER, GROUP = "nobody", "nogroup"


def low_port():
    """A port in 600-999 free on 127.0.0.1 (bound and released: nothing else here takes it)."""
    for port in range(600, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise unittest.SkipTest("no free port in 600-999")


def status(pid):
    """{task id: {field: value}} of /proc/PID/task/*/status: credentials are per thread."""
    tasks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            tasks[tid] = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return tasks


def expected_groups(user, gid):
    return {gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}


def readable(path):
    os.chmod(path, 0o644)  # the dropped process reads it again on SIGHUP
    return path


def config(port, backend, extra="", access_log=None, admin=None):
    text = extra
    if access_log:
        text += f"access_log: {{path: {access_log}}}\n"
    if admin:
        text += f'admin: {{address: "127.0.0.1:{admin}"}}\n'
    text += (f'listeners:\n  - {{name: web, address: "127.0.0.1:{port}", group: g}}\n'
             f'groups:\n  - {{name: g, backends: [{{address: "127.0.0.1:{backend}"}}]}}\n')
    return text


def http_status(port, path):
    with connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        s.settimeout(10 * SLOW)
        return s.recv(64).split(b"\r\n", 1)[0]


@unittest.skipUnless(os.geteuid() == 0, "needs root: it starts sluice as root and drops")
class PrivilegesTest(unittest.TestCase):
    def setUp(self):
        self.pw = pwd.getpwnam(USER)
        self.gid = grp.getgrnam(GROUP).gr_gid
        self.backend = Server(echo_handler)
        self.backend.__enter__()
        self.addCleanup(self.backend.close)
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.chown(self.dir, self.pw.pw_uid, self.gid)

    def write(self, text):
        path = readable(write_config(text))
        self.addCleanup(os.unlink, path)
        return path

    def assert_dropped(self, pid, uid, gid, groups):
        tasks = status(pid)
        self.assertGreater(len(tasks), 1)  # workers, logger, admin: every one checked
        for tid, st in tasks.items():
            with self.subTest(task=tid):
                self.assertEqual([str(uid)] * 4, st["Uid"].split())
                self.assertEqual([str(gid)] * 4, st["Gid"].split())
                self.assertEqual(sorted(groups), sorted(int(g) for g in st["Groups"].split()))
                for field in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
                    self.assertEqual(0, int(st[field], 16), field)
                self.assertEqual("1", st["NoNewPrivs"])

    def run_dropped(self, binary, user, group):
        port, admin = low_port(), free_port()
        log = os.path.join(self.dir, "access.log")
        with open(log, "w"):
            pass
        os.chown(log, self.pw.pw_uid, self.gid)
        cfg = self.write(config(port, self.backend.port, f"user: {user}\ngroup: {group}\n",
                                access_log=log, admin=admin))
        px = Sluice(["-c", cfg, "-w", "2"], port=port)
        px.args[0] = binary
        with px:
            wait_for_text(px, f"running as user {USER} (uid {self.pw.pw_uid})")
            # the drop comes before any thread starts: wait until the workers run
            wait_for_text(px, "listening on")
            self.assert_dropped(px.proc.pid, self.pw.pw_uid, self.gid,
                                expected_groups(USER, self.gid))
            with connect(port) as s:
                self.assertTrue(echoed(s, b"through a dropped proxy"))
            self.assertEqual(b"HTTP/1.1 200 OK", http_status(admin, "/healthz"))
            # log rotation: move the file away; SIGUSR1 has the new user create it again
            os.rename(log, log + ".1")
            px.proc.send_signal(signal.SIGUSR1)
            wait_for_text(px, f"access log {log}: reopened")
            self.assertEqual(self.pw.pw_uid, os.stat(log).st_uid)
            with connect(port) as s:
                self.assertTrue(echoed(s, b"into the reopened log"))
            # a reload that adds a privileged port cannot bind it any more: refused, and the
            # proxy goes on
            with open(cfg, "w") as f:
                f.write(config(port, self.backend.port, f"user: {user}\ngroup: {group}\n",
                               access_log=log, admin=admin).replace(
                    "groups:\n", f'  - {{name: low2, address: "127.0.0.1:{low_port()}", '
                                  "group: g}\ngroups:\n"))
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, "SIGHUP: not reloaded: listener low2: cannot listen on")
            self.assertIn("Permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE, "
                          "which this process does not have once it dropped its privileges: "
                          "restart sluice)", px.stderr())
            with connect(port) as s:
                self.assertTrue(echoed(s, b"after the refused reload"))
            self.assertEqual(0, px.stop())
        self.assertIn("draining", px.stderr())
        self.assertIn("sessions: 3 accepted", px.stderr())
        self.assertNotIn("group root", px.stderr())
        # one line per session, none lost; the two after the reopen in the file the new user
        # created (the first may land in either: the logger writes behind the sessions)
        with open(log) as new, open(log + ".1") as old:
            after, before = len(new.readlines()), len(old.readlines())
        self.assertEqual(3, after + before)
        self.assertGreaterEqual(after, 2)

    def test_named_user_runs_with_no_privilege_left(self):
        self.run_dropped(SLUICE, USER, GROUP)

    def test_numeric_ids_run_with_no_privilege_left(self):
        self.run_dropped(SLUICE, str(self.pw.pw_uid), str(self.gid))

    def test_a_user_left_in_group_root_is_warned(self):
        """group: 0 drops the user but keeps the root group: the start says so."""
        port = free_port()
        cfg = self.write(config(port, self.backend.port, f"user: {USER}\ngroup: 0\n"))
        with Sluice(["-c", cfg], port=port) as px:
            wait_for_text(px, f"running as user {USER} (uid {self.pw.pw_uid}), group root (gid 0)")
            wait_for_text(px, f"user {USER} is still in group root (gid 0) as its primary group: "
                              "it keeps that group's access to files; set group: to an "
                              "unprivileged group")
            with connect(port) as s:
                self.assertTrue(echoed(s))
            self.assertEqual(0, px.stop())

    @unittest.skipUnless(netns.STATIC_BIN, "sluice-static is built only in Release builds")
    def test_static_binary_resolves_names_without_nss(self):
        self.run_dropped(netns.STATIC_BIN, USER, GROUP)

    @unittest.skipUnless(shutil.which("capsh"), "capsh (libcap2-bin) not found")
    def test_started_as_the_user_with_the_capability_sheds_it_once_bound(self):
        # systemd's way (User=, AmbientCapabilities=CAP_NET_BIND_SERVICE), played by capsh
        port = low_port()
        cfg = self.write(config(port, self.backend.port))
        px = Sluice([], port=port)
        px.args = ["capsh", "--caps=cap_net_bind_service+eip cap_setpcap,cap_setuid,cap_setgid+ep",
                   "--keep=1", f"--user={USER}", "--addamb=cap_net_bind_service", "--",
                   "-c", f"exec {SLUICE} -c {cfg} -w 2"]
        with px:
            wait_for_text(px, f"running as uid {self.pw.pw_uid}; capabilities kept: none")
            for tid, st in status(px.proc.pid).items():
                with self.subTest(task=tid):
                    self.assertEqual([str(self.pw.pw_uid)] * 4, st["Uid"].split())
                    for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                        self.assertEqual(0, int(st[field], 16), field)
                    self.assertEqual("1", st["NoNewPrivs"])
            with connect(port) as s:
                self.assertTrue(echoed(s, b"bound with an ambient capability"))
            self.assertEqual(0, px.stop())

    def test_unknown_user_refuses_to_start(self):
        log = os.path.join(self.dir, "access.log")
        cfg = self.write(config(low_port(), self.backend.port,
                                f"user: no-such-user-sluice\naccess_log: {{ path: {log} }}\n"))
        r = subprocess.run([SLUICE, "-c", cfg], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn('cannot start: unknown user "no-such-user-sluice": /etc/passwd has no '
                      "such entry", r.stderr)
        # refused before sluice opened or bound anything: no access log was made
        self.assertFalse(os.path.exists(log))

    def test_check_refuses_an_unknown_user_and_accepts_a_known_one(self):
        for user, rc, text in (("no-such-user-sluice", 1, 'cannot start on this host: unknown '
                                "user \"no-such-user-sluice\""), (USER, 0, ": ok (1 listener")):
            with self.subTest(user=user):
                cfg = self.write(config(free_port(), self.backend.port, f"user: {user}\n"))
                r = subprocess.run([SLUICE, "--check", "-c", cfg], capture_output=True,
                                   text=True, timeout=30 * SLOW)
                self.assertEqual(rc, r.returncode, r.stderr)
                self.assertIn(text, r.stdout + r.stderr)

    def refused_by_check_and_start(self, cfg, said):
        """--check and the start of <cfg> both exit 1 saying <said>; their outputs."""
        outs = []
        for args in (["--check", "-c", cfg], ["-c", cfg]):
            with self.subTest(args=args[0]):
                r = subprocess.run([SLUICE] + args, capture_output=True, text=True,
                                   timeout=30 * SLOW)
                self.assertEqual(1, r.returncode, r.stdout + r.stderr)
                self.assertIn(said, r.stdout + r.stderr)
                outs.append(r.stdout + r.stderr)
        return outs

    def test_access_log_the_user_cannot_write_refuses_to_start(self):
        log = os.path.join(self.dir, "root-only.log")
        with open(log, "w"):
            pass
        os.chmod(log, 0o600)  # root's, and the user is not root
        cfg = self.write(config(low_port(), self.backend.port, f"user: {USER}\n",
                                access_log=log))
        r = subprocess.run([SLUICE, "-c", cfg], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot start: access_log {log} is not writable by user {USER}", r.stderr)
        self.assertIn("SIGUSR1 could not reopen it", r.stderr)

    def test_access_log_fifo_follows_the_same_rule_in_check_and_start(self):
        """A FIFO is checked as a file is: one the user cannot write refuses both --check and
        the start, saying why; one it can write carries the lines once privileges are gone."""
        fifo = os.path.join(self.dir, "access.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            os.chmod(fifo, 0o600)  # root's
            port = free_port()
            cfg = self.write(config(port, self.backend.port, f"user: {USER}\n",
                                    access_log=fifo))
            self.refused_by_check_and_start(
                cfg, f"access_log {fifo} is not writable by user {USER}")
            os.chmod(fifo, 0o666)
            with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
                wait_for_text(px, "listening on")
                with connect(port) as s:
                    self.assertTrue(echoed(s, b"through the FIFO"))
                self.assertEqual(0, px.stop(), px.stderr())
            got = b""
            while True:
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                got += chunk
            self.assertEqual(1, got.count(b"\n"), got)
        finally:
            os.close(reader)

    def test_access_log_through_a_link_the_user_could_plant_is_refused(self):
        """The access log's directory is the user's (as the docs advise, for rotation); the user
        puts a link there to a file in a directory only root may write. Root neither creates
        nor hands over the link's target: --check and the start refuse it, saying why."""
        logs = os.path.join(self.dir, "logs")
        victim = os.path.join(self.dir, "victim")
        os.mkdir(logs)
        os.mkdir(victim, 0o755)
        os.chown(logs, self.pw.pw_uid, self.gid)
        log = os.path.join(logs, "access.log")
        target = os.path.join(victim, "owned_by_user")
        os.symlink(target, log)
        os.lchown(log, self.pw.pw_uid, self.gid)
        cfg = self.write(config(free_port(), self.backend.port, f"user: {USER}\n",
                                access_log=log))
        self.refused_by_check_and_start(cfg, f"access_log {log} is a symbolic link")
        self.assertFalse(os.path.exists(target), "root made the link's target")

    def test_access_log_in_a_directory_the_user_cannot_enter_is_refused_by_check_too(self):
        """The file is the user's, but its directory is root's with mode 0700: the user could
        not write it after the drop. --check says so, as the start does, before anything is
        bound."""
        closed = os.path.join(self.dir, "root-only")
        os.mkdir(closed, 0o700)
        log = os.path.join(closed, "access.log")
        with open(log, "w"):
            pass
        os.chown(log, self.pw.pw_uid, self.gid)
        cfg = self.write(config(free_port(), self.backend.port, f"user: {USER}\n",
                                access_log=log))
        for out in self.refused_by_check_and_start(
                cfg, f"access_log {log} is out of reach of user {USER}"):
            self.assertIn(f"it may not enter {closed}", out)
            self.assertNotIn("listening on", out)

    def test_access_log_through_a_link_only_root_can_change_is_taken(self):
        """/dev/stdout (root's link in root's /dev): the lines go to standard output."""
        port = free_port()
        cfg = self.write(config(port, self.backend.port, access_log="/dev/stdout"))
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "listening on")
            with connect(port) as s:
                self.assertTrue(echoed(s, b"to standard output"))
            self.assertEqual(0, px.stop(), px.stderr())
            out = px.stdout()
        self.assertEqual(1, len(out.splitlines()), out)

    def test_access_log_the_start_makes_is_the_users(self):
        """A path that does not exist yet is made by root before the drop and given to the
        user, so the start goes on and SIGUSR1 can reopen it."""
        port = free_port()
        log = os.path.join(self.dir, "new.log")
        cfg = self.write(config(port, self.backend.port, f"user: {USER}\n", access_log=log))
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "listening on")
            st = os.stat(log)
            self.assertEqual((self.pw.pw_uid, self.gid), (st.st_uid, st.st_gid))
            with connect(port) as s:
                self.assertTrue(echoed(s, b"logged by the user"))
            self.assertEqual(0, px.stop(), px.stderr())
        with open(log) as f:
            self.assertEqual(1, len(f.readlines()))

    def test_a_configuration_the_user_cannot_read_is_said_at_start(self):
        """Root reads the file at start; every reload reads it as the user. A file only root
        may read starts, with a warning that reloads will fail; the first reload says why."""
        port = free_port()
        cfg = self.write(config(port, self.backend.port, f"user: {USER}\n"))
        os.chmod(cfg, 0o600)
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "listening on")
            self.assertIn(f"user {USER} (uid {self.pw.pw_uid}) cannot read {cfg} (Permission "
                          "denied): every reload (SIGHUP, sluicectl reload) will fail",
                          px.stderr())
            px.proc.send_signal(signal.SIGHUP)
            wait_for_text(px, f"SIGHUP: {cfg} cannot be read (above): not reloaded")
            self.assertIn(f"{cfg}: cannot read: Permission denied", px.stderr())
            with connect(port) as s:
                self.assertTrue(echoed(s, b"after the refused reload"))
            self.assertEqual(0, px.stop(), px.stderr())
        os.chmod(cfg, 0o644)  # readable: no warning
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "listening on")
            self.assertEqual(0, px.stop(), px.stderr())
        self.assertNotIn("cannot read", px.stderr())

    def test_control_socket_the_user_cannot_remove_is_said_at_exit(self):
        root_dir = tempfile.mkdtemp()  # root's, mode 0700 -> 0755: the user may not write it
        self.addCleanup(shutil.rmtree, root_dir, True)
        os.chmod(root_dir, 0o755)
        sock = os.path.join(root_dir, "ctl.sock")
        port = free_port()
        cfg = self.write(config(port, self.backend.port,
                                f"user: {USER}\ncontrol: {{ path: {sock} }}\n"))
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "listening on")
            self.assertEqual(0, px.stop(), px.stderr())
        self.assertIn(f"control socket {sock} stays behind: Permission denied (the next start "
                      "replaces it)", px.stderr())
        # and the next start does
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, f"control socket on {sock}")

    def test_check_refuses_what_the_start_refuses_over_privileges(self):
        """Each case --check passed and the start refused: now both refuse, alike."""
        log = os.path.join(self.dir, "root-only.log")
        with open(log, "w"):
            pass
        os.chmod(log, 0o600)
        uid, gid = self.pw.pw_uid, self.gid

        def become_nobody():
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        cases = [  # config, runs as nobody, what both say
            (config(free_port(), self.backend.port, f"group: {GROUP}\n"), False,
             f"group: {GROUP} without user: would still run as root: set user: too"),
            (config(free_port(), self.backend.port, f"user: {USER}\n", access_log=log), False,
             f"access_log {log} is not writable by user {USER}"),
            (config(free_port(), self.backend.port, "user: daemon\n"), True,
             "cannot switch to user daemon"),
            (config(low_port(), self.backend.port), True, "needs cap_net_bind_service"),
        ]
        for text, as_nobody, said in cases:
            cfg = self.write(text)
            for mode in (["--check"], []):
                with self.subTest(said=said, mode=mode):
                    r = subprocess.run([SLUICE] + mode + ["-c", cfg], capture_output=True,
                                       text=True, timeout=30 * SLOW,
                                       preexec_fn=become_nobody if as_nobody else None)
                    self.assertEqual(1, r.returncode, r.stdout + r.stderr)
                    self.assertIn(said, r.stderr)

    def test_running_as_root_without_user_warns(self):
        port = free_port()
        cfg = self.write(config(port, self.backend.port))
        with Sluice(["-c", cfg, "-w", "1"], port=port) as px:
            wait_for_text(px, "sluice runs as root: set user: and group:")

    def test_low_port_without_root_is_refused(self):
        port = low_port()
        cfg = self.write(config(port, self.backend.port))
        uid, gid = self.pw.pw_uid, self.gid

        def become_nobody():
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        r = subprocess.run([SLUICE, "-c", cfg], capture_output=True, text=True,
                           preexec_fn=become_nobody, timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot start: listener web on 127.0.0.1:{port} (ports below", r.stderr)
        self.assertIn("needs cap_net_bind_service, which this process does not have", r.stderr)

    def test_switching_user_without_root_is_refused(self):
        port = free_port()
        cfg = self.write(config(port, self.backend.port, f"user: {USER}\n"))
        other = 1  # daemon on Debian: any uid that is not nobody's
        r = subprocess.run([SLUICE, "-c", cfg], capture_output=True, text=True,
                           preexec_fn=lambda: (os.setgroups([]), os.setgid(other),
                                               os.setuid(other)), timeout=30 * SLOW)
        self.assertEqual(1, r.returncode)
        self.assertIn(f"cannot start: cannot switch to user {USER} (uid {self.pw.pw_uid})",
                      r.stderr)
        self.assertIn("not root", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
