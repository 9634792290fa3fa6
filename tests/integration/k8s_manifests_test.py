# SPDX-License-Identifier: MIT
"""deploy/k8s: the manifests parse, fit together (selectors, port names, the ConfigMap the pods
mount), and hold a configuration sluice accepts (`sluice --check`), listening on the port the
container declares, with probes that ask the admin endpoint's /healthz and /readyz on the port
it serves, and a drain that ends before Kubernetes kills the pod."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import SLUICE

K8S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "k8s")


def duration_seconds(v):
    """A sluice duration (docs/configuration.md: 250ms, 5s, 2m, 1h, bare = ms) in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(v))
    if not m:
        raise ValueError(f"not a sluice duration: {v!r}")
    n, unit = int(m.group(1)), m.group(2) or "ms"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def cpu_cores(v):
    s = str(v)
    return int(s[:-1]) / 1000 if s.endswith("m") else float(s)


def load_all():
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name)) as f:
                for d in yaml.safe_load_all(f):
                    if d is not None:
                        docs[(d["kind"], d["metadata"]["name"] if "metadata" in d else name)] = d
    return docs


def one(docs, kind, name=None):
    found = [d for (k, n), d in docs.items() if k == kind and (name is None or n == name)]
    assert len(found) == 1, f"want one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container_port(container, port):
    """<port> (a number or a port name) resolved against <container>'s ports."""
    for p in container["ports"]:
        if port in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    raise AssertionError(f"port {port!r} is not declared by container {container['name']}")


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_all()
        cls.dep = one(cls.docs, "Deployment", "sluice")
        cls.pod = cls.dep["spec"]["template"]["spec"]
        cls.ctr = cls.pod["containers"][0]
        vol = next(v for v in cls.pod["volumes"] if "configMap" in v)
        cls.cm = one(cls.docs, "ConfigMap", vol["configMap"]["name"])
        cls.config_text = cls.cm["data"]["sluice.yaml"]
        cls.config = yaml.safe_load(cls.config_text)

    def test_every_manifest_parses_and_names_its_kind(self):
        self.assertGreaterEqual(len(self.docs), 6)
        for (kind, name), d in self.docs.items():
            self.assertIn("apiVersion", d, name)
            self.assertTrue(kind and name)
        kinds = {k for k, _ in self.docs}
        self.assertLessEqual({"Deployment", "ConfigMap", "Service", "PodDisruptionBudget"}, kinds)

    def test_configmap_config_passes_sluice_check(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "sluice.yaml")
            with open(path, "w") as f:
                f.write(self.config_text)
            r = subprocess.run([SLUICE, "--check", "-c", path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            self.assertIn("ok", r.stdout)
        finally:
            shutil.rmtree(d)

    def test_pods_run_the_image_binary_once_with_the_mounted_config(self):
        # command replaces the image's ENTRYPOINT; args would be appended to it (a second -c)
        self.assertNotIn("args", self.ctr)
        cmd = self.ctr["command"]
        with open(os.path.join(K8S, "..", "Containerfile")) as f:
            entry = json.loads(re.search(r"(?m)^ENTRYPOINT (\[.*\])$", f.read()).group(1))
        self.assertEqual(entry[0], cmd[0], "not the image's binary")
        self.assertEqual(1, cmd.count("-c") + cmd.count("--config"), cmd)
        path = cmd[cmd.index("-c") + 1]
        mount = next(m for m in self.ctr["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
        vol = next(v for v in self.pod["volumes"] if v["name"] == mount["name"])
        items = {i["path"]: i["key"] for i in vol["configMap"].get("items", [])}
        key = items.get(os.path.basename(path), os.path.basename(path))
        self.assertIn(key, self.cm["data"])

    def admin_port(self):
        return int(self.config["admin"]["address"].rsplit(":", 1)[1])

    def test_container_ports_are_the_listener_and_admin_ports(self):
        listener_ports = {int(l["address"].rsplit(":", 1)[1]) for l in self.config["listeners"]}
        declared = {p["containerPort"] for p in self.ctr["ports"]}
        self.assertEqual(listener_ports | {self.admin_port()}, declared)

    def test_probes_ask_the_admin_endpoint_for_health_and_readiness(self):
        # the paths src/admin serves (docs/metrics.md)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = self.ctr[probe]["httpGet"]
            self.assertEqual(path, get["path"], probe)
            self.assertEqual(self.admin_port(), container_port(self.ctr, get["port"]), probe)

    def test_admin_endpoint_is_not_published_by_the_service(self):
        svc = one(self.docs, "Service", "sluice")
        for p in svc["spec"]["ports"]:
            self.assertNotEqual(self.admin_port(), container_port(self.ctr, p["targetPort"]))

    def test_listeners_and_admin_bind_every_pod_address(self):
        # 127.0.0.1 inside a pod would be unreachable from the Service and the kubelet
        for address in [l["address"] for l in self.config["listeners"]] + [
                self.config["admin"]["address"]]:
            host = address.rsplit(":", 1)[0]
            self.assertIn(host, ("0.0.0.0", "[::]", '"[::]"'), address)

    def test_drain_ends_before_the_grace_period(self):
        drain = duration_seconds(self.config.get("drain_timeout", "30s"))
        pre = self.ctr.get("lifecycle", {}).get("preStop", {})
        pre_s = pre.get("sleep", {}).get("seconds", 0)
        grace = self.pod["terminationGracePeriodSeconds"]
        self.assertLess(pre_s + drain, grace, f"preStop {pre_s}s + drain {drain}s vs {grace}s")

    def test_workers_fit_the_cpu_limit(self):
        workers = self.config.get("workers", 0)
        limit = cpu_cores(self.ctr["resources"]["limits"]["cpu"])
        self.assertGreater(workers, 0, "workers: 0 means one per node CPU, not per CPU limit")
        self.assertLessEqual(workers, max(1, int(limit + 0.999)))
        self.assertIn("memory", self.ctr["resources"]["limits"])
        self.assertIn("cpu", self.ctr["resources"]["requests"])

    def test_service_and_budget_select_the_pods(self):
        labels = self.dep["spec"]["template"]["metadata"]["labels"]
        svc = one(self.docs, "Service", "sluice")
        self.assertLessEqual(svc["spec"]["selector"].items(), labels.items())
        for p in svc["spec"]["ports"]:
            self.assertIn(container_port(self.ctr, p["targetPort"]),
                          {p["containerPort"] for p in self.ctr["ports"]})
        pdb = one(self.docs, "PodDisruptionBudget")
        self.assertLessEqual(pdb["spec"]["selector"]["matchLabels"].items(), labels.items())
        self.assertLess(pdb["spec"].get("maxUnavailable", 0), self.dep["spec"]["replicas"])

    def test_backend_example_is_a_headless_service(self):
        headless = [d for (k, _), d in self.docs.items()
                    if k == "Service" and d["spec"].get("clusterIP") == "None"]
        self.assertEqual(1, len(headless))
        svc = headless[0]
        ports = {p["port"] for p in svc["spec"]["ports"]}
        namespace = svc["metadata"].get("namespace", "default")
        discovering = [g for g in self.config["groups"] if "discover" in g]
        self.assertTrue(discovering, "no group discovers its backends through the Service")
        for g in discovering:
            # the Service's full DNS name (no search domains) and one of its ports
            self.assertEqual(f"{svc['metadata']['name']}.{namespace}.svc.cluster.local",
                             g["discover"]["name"])
            self.assertIn(g["discover"]["port"], ports)
        for g in self.config["groups"]:
            for b in g.get("backends", []):
                self.assertIn(int(b["address"].rsplit(":", 1)[1]), ports, b)

    def test_kustomization_lists_every_manifest(self):
        k = one(self.docs, "Kustomization")
        files = {n for n in os.listdir(K8S) if n.endswith(".yaml") and n != "kustomization.yaml"}
        self.assertEqual(files, set(k["resources"]))

    def test_kustomize_builds_every_resource(self):
        files = {n for n in os.listdir(K8S) if n.endswith(".yaml") and n != "kustomization.yaml"}
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            self.skipTest("kubectl is not installed: kustomize build not run")
        r = subprocess.run([kubectl, "kustomize", K8S], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual(len(files), sum(1 for d in yaml.safe_load_all(r.stdout) if d))


if __name__ == "__main__":
    unittest.main(verbosity=2)
