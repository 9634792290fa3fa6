# SPDX-License-Identifier: MIT
"""The container image of deploy/Containerfile, built with podman from the host-built
sluice-static in a temporary context: its root filesystem (podman create + podman export) holds
only the binary, the default config and the passwd/group entries; its entrypoint, run from that
root in a chroot inside a fresh network namespace, proxies a checksummed payload to the default
config's backends (their addresses held by a second namespace across a veth pair), as root, as
the image's uid 65532, and as root told to drop to the image's user (`--user sluice`). The
image records its HEALTHCHECK (`/sluice --probe` of the admin endpoint's /healthz, which the
default config serves on loopback); that command, run from the same root in the same namespace
as a running entrypoint, exits 0, and exits non-zero once the entrypoint has stopped.
`podman run` is not used: some sandboxes (this project's build machine among them) refuse it.
Image and container are removed at the end. Skips, saying why, without podman, root or
sluice-static."""
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

import netns
from harness import Server, echo_handler, echo_roundtrip, log_file, wait_for

DEPLOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy")
CONTEXT_FILES = ("Containerfile", "sluice.yaml", "passwd", "group")
IMAGE_FILES = ["etc", "etc/group", "etc/passwd", "etc/sluice", "etc/sluice/sluice.yaml", "sluice"]
ENTRYPOINT = ["/sluice", "-c", "/etc/sluice/sluice.yaml"]
ADMIN = ("127.0.0.1", 9090)
HEALTHCHECK = ["CMD", "/sluice", "--probe", "http://127.0.0.1:9090/healthz"]
PROBE_DEADLINE_NS = 2 * 10**9  # sluice --probe gives up after 2 s (app/sluice/probe.h)
UID = 65532
PAYLOAD_BYTES = 1 << 20
# sluice's end of the veth to the backends' namespace: the backends' documentation subnet
GATEWAY = "192.0.2.1"


def podman(*args):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited with {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def setUpModule():
    netns.require_static_and_netns()
    if shutil.which("podman") is None:
        netns.skip_module("podman not found (scripts/install-deps.sh installs it)")


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def addresses(config):
    """(listener, [backends], admin) of a config as (HOST, PORT) pairs; admin None if off."""
    c = yaml.safe_load(config)
    backends = [host_port(b["address"]) for g in c["groups"] for b in g["backends"]]
    admin = host_port(c["admin"]["address"]) if "admin" in c else None
    return host_port(c["listeners"][0]["address"]), backends, admin


class ContainerImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tag = f"localhost/sluice-test-{os.getpid()}:latest"
        ctx = tempfile.mkdtemp(prefix="sl-image-ctx-")
        cls.addClassCleanup(shutil.rmtree, ctx)
        for name in CONTEXT_FILES:
            shutil.copy(os.path.join(DEPLOY, name), ctx)
        shutil.copy(netns.STATIC_BIN, os.path.join(ctx, "sluice-static"))
        # --layers=false: no intermediate images are left behind; --format docker: an OCI image
        # has no HEALTHCHECK (podman drops it with a warning)
        podman("build", "--format", "docker", "--layers=false", "-q", "-t", tag, "-f",
               os.path.join(ctx, "Containerfile"), ctx)
        cls.addClassCleanup(subprocess.run, ["podman", "rmi", "-f", tag], capture_output=True)
        image = json.loads(podman("image", "inspect", tag))[0]
        cls.config = image["Config"]
        # podman reports it beside the config, docker inside it
        cls.healthcheck = image.get("Healthcheck") or cls.config.get("Healthcheck")

        name = f"sluice-test-{os.getpid()}"
        podman("create", "--name", name, tag)
        cls.addClassCleanup(subprocess.run, ["podman", "rm", "-f", name], capture_output=True)
        cls.root = tempfile.mkdtemp(prefix="sl-image-root-")
        cls.addClassCleanup(shutil.rmtree, cls.root)
        os.chmod(cls.root, 0o755)  # after chroot it is /, which uid 65532 must traverse
        with subprocess.Popen(["podman", "export", name], stdout=subprocess.PIPE) as export:
            subprocess.run(["tar", "-x", "-C", cls.root], stdin=export.stdout, check=True, timeout=120)
            export.stdout.close()
        if export.returncode != 0:
            raise AssertionError(f"podman export exited with {export.returncode}")
        with open(os.path.join(cls.root, "etc/sluice/sluice.yaml")) as f:
            cls.listen, cls.backends, cls.admin = addresses(f.read())

    def image_files(self):
        found = []
        for top, dirs, files in os.walk(self.root):
            for n in dirs + files:
                found.append(os.path.relpath(os.path.join(top, n), self.root))
        return sorted(found)

    def test_image_holds_only_the_binary_the_config_and_the_user_entries(self):
        self.assertEqual(IMAGE_FILES, self.image_files())
        self.assertTrue(os.access(os.path.join(self.root, "sluice"), os.X_OK))
        with open(os.path.join(self.root, "etc/passwd")) as f:
            self.assertIn(f"sluice:x:{UID}:{UID}:", f.read())
        with open(os.path.join(self.root, "etc/group")) as f:
            self.assertIn(f"sluice:x:{UID}:", f.read())

    def test_image_runs_the_entrypoint_as_uid_65532_and_exposes_the_listener(self):
        self.assertEqual(f"{UID}:{UID}", self.config["User"])
        self.assertEqual(ENTRYPOINT, self.config["Entrypoint"])
        self.assertEqual(("0.0.0.0", 8080), self.listen)
        self.assertIn(f"{self.listen[1]}/tcp", self.config["ExposedPorts"])

    def test_image_records_a_healthcheck_probing_healthz_on_the_configured_admin_address(self):
        hc = self.healthcheck
        self.assertIsNotNone(hc, "the image records no HEALTHCHECK")
        self.assertEqual(HEALTHCHECK, hc["Test"])
        self.assertEqual(ADMIN, self.admin)
        self.assertEqual(f"http://{ADMIN[0]}:{ADMIN[1]}/healthz", hc["Test"][-1])
        # the runtime's timeout leaves the probe its own 2 s deadline
        self.assertGreater(hc["Timeout"], PROBE_DEADLINE_NS)
        self.assertGreaterEqual(hc["Interval"], hc["Timeout"])
        self.assertGreaterEqual(hc["Retries"], 1)
        self.assertNotIn(f"{ADMIN[1]}/tcp", self.config["ExposedPorts"])

    def run_healthcheck(self, ns):
        """The image's HEALTHCHECK command, run as the image's user from its root in <ns>."""
        argv = ["chroot", f"--userspec={self.config['User']}", self.root,
                *self.healthcheck["Test"][1:]]
        return subprocess.run(ns.exec_args(argv), capture_output=True, text=True, timeout=30)

    def test_healthcheck_passes_while_the_entrypoint_runs_and_fails_once_it_stopped(self):
        with netns.NetNs("sl-image-hc") as ns, log_file() as err:
            argv = ["chroot", f"--userspec={self.config['User']}", self.root,
                    *self.config["Entrypoint"]]
            proc = subprocess.Popen(ns.exec_args(argv), stdout=subprocess.DEVNULL, stderr=err)
            try:
                ns.wait_listening(self.admin[1], proc, host=self.admin[0])
                alive = self.run_healthcheck(ns)
            finally:
                rc = netns.stop(proc)
                err.seek(0)
                log = err.read().decode(errors="replace")
            dead = self.run_healthcheck(ns)
        self.assertEqual((0, ""), (alive.returncode, alive.stderr), log)
        self.assertEqual(0, rc, log)
        self.assertNotEqual(0, dead.returncode)
        self.assertIn("Connection refused", dead.stderr)

    def proxy_through_entrypoint(self, chroot_opts, args=()):
        """Runs the image's entrypoint from its root (chroot <chroot_opts>) in a fresh namespace
        joined by a veth pair to a second one that holds the default config's backend addresses,
        each an echo server; proxies a checksummed payload; returns the credentials sluice ran with
(Uid, Gid, Groups, CapEff of /proc/PID/status)."""
        payload = os.urandom(PAYLOAD_BYTES)
        with netns.NetNs("sl-image") as ns, netns.NetNs("sl-backends") as far:
            netns.join(ns, far, [f"{GATEWAY}/24"], [f"{h}/24" for h, _ in self.backends])
            with contextlib.ExitStack() as servers, log_file() as err:
                for host, port in self.backends:
                    servers.enter_context(far.call(Server, echo_handler, host, port))
                argv = ["chroot", *chroot_opts, self.root, *self.config["Entrypoint"], *args]
                proc = subprocess.Popen(ns.exec_args(argv), stdout=subprocess.DEVNULL, stderr=err)
                try:
                    ns.wait_listening(self.listen[1], proc, host=self.listen[0])
                    if "--user" in args:  # it listens first, then drops to the user

                        def dropped():
                            err.seek(0)
                            return b"running as user" in err.read()
                        wait_for(dropped, "the privilege drop's log line")
                    with open(f"/proc/{proc.pid}/status") as f:
                        fields = re.findall(r"^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):(.*)$",
                                            f.read(), re.M)
                    status = {k: " ".join(v.split()) for k, v in fields}
                    got = ns.call(echo_roundtrip, self.listen[1], payload)
                except BaseException as e:
                    netns.stop(proc)
                    err.seek(0)
                    raise AssertionError(f"{e}; sluice said: {err.read().decode(errors='replace')}")
                rc = netns.stop(proc)
                err.seek(0)
                log = err.read().decode(errors="replace")
        self.assertEqual(len(payload), len(got), log)
        self.assertEqual(hashlib.sha256(payload).hexdigest(), hashlib.sha256(got).hexdigest())
        self.assertEqual(0, rc, log)
        self.assertIn(f"bytes: {PAYLOAD_BYTES} in, {PAYLOAD_BYTES} out", log)
        return status

    def test_entrypoint_proxies_from_the_image_root_in_a_network_namespace(self):
        status = self.proxy_through_entrypoint([])
        self.assertEqual("0 0 0 0", status["Uid"])

    def test_entrypoint_proxies_as_the_image_user_on_an_unprivileged_port(self):
        self.assertGreaterEqual(self.listen[1], 1024)
        status = self.proxy_through_entrypoint([f"--userspec={self.config['User']}"])
        want = " ".join([str(UID)] * 4)
        self.assertEqual((want, want, "0" * 16), (status["Uid"], status["Gid"], status["CapEff"]))
        # chroot takes supplementary groups from the image's /etc/group: its own gid, never root's
        self.assertLessEqual(set(status["Groups"].split()), {str(UID)})

    def test_entrypoint_started_as_root_with_user_sluice_drops_to_the_image_user(self):
        # the static binary has no NSS: it reads the image's /etc/passwd and /etc/group itself
        status = self.proxy_through_entrypoint([], ["--user", "sluice", "--group", "sluice"])
        want = " ".join([str(UID)] * 4)
        self.assertEqual((want, want, str(UID)), (status["Uid"], status["Gid"], status["Groups"]))
        self.assertEqual(("0" * 16, "0" * 16, "1"),
                         (status["CapEff"], status["CapBnd"], status["NoNewPrivs"]))

if __name__ == "__main__":
    unittest.main()
