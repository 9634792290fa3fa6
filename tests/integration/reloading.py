# SPDX-License-Identifier: MIT
"""What the reload tests share: a test case whose configuration file and control socket live in
a temporary directory, a sluice started on them, SIGHUP reloads and refusals waited for by their
log lines (the log line is the event), and sluicectl on the control socket."""
import json
import os
import signal
import subprocess
import tempfile
import unittest

from harness import SLOW, SLUICECTL, Sluice, admin_get, wait_for, wait_for_text


class ReloadCase(unittest.TestCase):
    """self.path: the configuration file (write it with write_file()); self.sock: the control
    socket a file may name; hup() and hup_refused() count the reloads and refusals; stats()
    reads the admin endpoint on self.admin, which a subclass sets if its file has one."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "sluice.yaml")
        self.sock = os.path.join(self.dir.name, "ctl.sock")
        self.reloads = 0
        self.refusals = 0

    def write_file(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def write_one_group(self, port, backends, group_keys=""):
        """A file with one worker, one listener on <port> and one group, web: its <group_keys>
        (YAML lines indented for a group) and then its <backends>, each (name, address) or
        (name, address, weight)."""
        items = "".join("      - { name: %s, address: %s%s }\n"
                        % (b[0], b[1], f", weight: {b[2]}" if len(b) > 2 else "")
                        for b in backends)
        self.write_file(f"workers: 1\ndrain_timeout: 10s\ncontrol: {{ path: {self.sock} }}\n"
                        f"listeners:\n  - name: front\n    address: 127.0.0.1:{port}\n"
                        f"    group: web\n"
                        f"groups:\n  - name: web\n{group_keys}    backends:\n{items}")

    def write_listeners_groups(self, head, listeners, groups):
        """A file of <head> (top-level keys, whole lines), <listeners>: [(name, port, group)]
        on 127.0.0.1, and <groups>: [(name, YAML lines indented for a group)]."""
        text = head + "listeners:\n"
        for name, port, group in listeners:
            text += f"  - {{ name: {name}, address: 127.0.0.1:{port}, group: {group} }}\n"
        text += "groups:\n"
        for name, body in groups:
            text += f"  - name: {name}\n{body}"
        self.write_file(text)

    def start(self, port, prefix=(), control=True):
        """sluice on the file, listening on <port>, run under <prefix> (e.g. prlimit); with
        <control>, once its control socket is up."""
        px = Sluice(["-c", self.path], port=port)
        px.args = list(prefix) + px.args
        px.__enter__()
        self.addCleanup(px.stop)
        if control:
            wait_for_text(px, "control socket on")
        return px

    def hup(self, px):
        """SIGHUP, and waits for its "reloaded" line; a refusal fails the test."""
        self.reloads += 1
        px.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: px.stderr().count(f"SIGHUP: {self.path} reloaded") >= self.reloads
                 or px.stderr().count("SIGHUP: not reloaded") > self.refusals, "the reload")
        self.assertEqual(self.refusals, px.stderr().count("SIGHUP: not reloaded"),
                         px.stderr())

    def hup_refused(self, px):
        """SIGHUP that must be refused; returns the refusal line."""
        self.refusals += 1
        px.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: px.stderr().count("SIGHUP: not reloaded") >= self.refusals,
                 "the refusal")
        return [ln for ln in px.stderr().splitlines() if "SIGHUP: not reloaded" in ln][-1]

    def ctl(self, *args):
        """sluicectl on the control socket: (exit status, stdout, stderr)."""
        p = subprocess.run([SLUICECTL, "-s", self.sock] + list(args), capture_output=True,
                           text=True, timeout=60 * SLOW)
        return p.returncode, p.stdout, p.stderr

    def stats(self):
        """/stats from the admin endpoint on port self.admin."""
        status, body = admin_get(self.admin, "/stats")
        self.assertEqual(200, status, body)
        return json.loads(body)

    def groups_shown(self):
        """The groups /stats lists."""
        return {g["group"] for g in self.stats().get("group", [])}
