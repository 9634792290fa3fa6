# SPDX-License-Identifier: MIT
"""The admin endpoint's stats page (/) in headless Chromium, driven through chromedriver with
the W3C WebDriver protocol: it is served as text/html under a Content-Security-Policy, goes live
(polls /stats), draws its charts from real traffic, and its backend table and totals agree with
/stats fetched around the moment they were read: names, addresses and states exactly, counters
between an earlier and a later /stats. The browser logs no console error and fetches nothing
but the admin endpoint. A process that stops answering shows stale within seconds. A screenshot is saved under the build directory (artifacts/)."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import netns
from harness import (SLOW, SLUICE, Server, Sluice, connect, echo_handler, echo_roundtrip, echoed, free_port,
                     log_file, refused_address, wait_for, wait_port, write_config)

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def config(port, db_port, admin_port, b1, b2, down):
    # group web: b1 and an unnamed backup (its address is its name); group db: one backend whose
    # port refuses, down by its health checks
    return write_config(f"""
workers: 2
admin: {{ address: 127.0.0.1:{admin_port} }}
listeners:
  - address: 127.0.0.1:{port}
    group: web
  - address: 127.0.0.1:{db_port}
    group: db
groups:
  - name: web
    backends:
      - {{ name: b1, address: {b1}, weight: 3 }}
      - {{ address: {b2}, backup: true }}
  - name: db
    retries: 0
    health: {{ type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }}
    backends:
      - {{ name: primary, address: {down} }}
""")


def http(method, url, body=None, timeout=60):
    """(status, headers, body bytes) of one request; an HTTP error status is an answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class WebDriver:
    """A chromedriver process and one headless Chromium session in it (W3C WebDriver)."""

    def __init__(self, test):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="sluice-chromium-")
        test.addCleanup(shutil.rmtree, self.profile, True)
        self.log = log_file()
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        test.addCleanup(self.stop)
        wait_port(self.port, proc=self.proc)
        self.base = f"http://127.0.0.1:{self.port}"
        caps = {"browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1400,1300", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    f"--user-data-dir={self.profile}"]}}
        status, _, body = http("POST", self.base + "/session", {"capabilities": {"alwaysMatch": caps}})
        test.assertEqual(200, status, body)
        self.session = json.loads(body)["value"]["sessionId"]
        self.url = f"{self.base}/session/{self.session}"

    def cmd(self, method, path, body=None):
        status, _, raw = http(method, self.url + path, body)
        value = json.loads(raw)["value"]
        if status != 200:
            raise AssertionError(f"webdriver {method} {path}: {status} {value}")
        return value

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def stop(self):
        if self.proc.poll() is None:
            if getattr(self, "session", None):
                http("DELETE", self.url, timeout=30)
                self.session = None
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# the page as the test reads it: every backend row, the totals tiles and the charts
READ_PAGE = """
const v = (el) => el.dataset.v === undefined ? null : Number(el.dataset.v);
const rows = [...document.querySelectorAll('#backends tbody tr')].map((tr) => {
	const r = {group: tr.dataset.group, backend: tr.dataset.backend,
		cells: [...tr.children].map((td) => td.textContent)};
	for (const td of tr.querySelectorAll('td[data-k]'))
		r[td.dataset.k] = ['state', 'address', 'role'].includes(td.dataset.k) ? td.textContent : v(td);
	return r;
});
const tiles = {};
for (const id of ['uptime', 'active', 'accepted', 'rejected', 'connect_failures', 'backends_up'])
	tiles[id] = v(document.getElementById(id));
const charts = {};
for (const c of document.querySelectorAll('canvas'))
	charts[c.id] = {samples: Number(c.dataset.samples || 0), max: Number(c.dataset.max || 0)};
const refused = {};
for (const tr of document.querySelectorAll('#rejects tbody tr'))
	refused[tr.dataset.reason] = v(tr.lastElementChild);
return {seq: Number(document.body.dataset.seq || 0), rows, tiles, charts, refused,
	status: document.getElementById('status').textContent};
"""


def setUpModule():
    if not (CHROMIUM and CHROMEDRIVER):
        netns.skip_module("chromium or chromedriver is not installed (Debian packages chromium, "
                          "chromium-driver; scripts/install-deps.sh)")


class StatsPage(unittest.TestCase):
    def stats(self):
        status, _, body = http("GET", f"{self.admin}/stats")
        self.assertEqual(200, status, body)
        return json.loads(body)

    def test_page_shows_the_live_figures_of_stats_with_no_error_and_no_outside_request(self):
        with Server(echo_handler) as b1, Server(echo_handler) as b2, refused_address() as down:
            port, db_port, admin_port = free_port(), free_port(), free_port()
            px = Sluice(["-c", config(port, db_port, admin_port, b1.addr, b2.addr, down)], port=port)
            with px:
                self.admin = f"http://127.0.0.1:{admin_port}"
                wait_for(lambda: "admin endpoint on" in px.stderr(), what="the admin endpoint")
                # web's backends have no health checks: unchecked, not up
                wait_for(lambda: [b["state"] for b in self.stats()["backend"]] == ["unchecked", "unchecked", "down"],
                         what="db's backend down by its health checks")

                # the page as served
                status, headers, body = http("GET", self.admin + "/")
                self.assertEqual(200, status)
                self.assertEqual("text/html; charset=utf-8", headers["Content-Type"])
                csp = headers["Content-Security-Policy"]
                self.assertIn("default-src 'none'", csp)
                self.assertIn("connect-src 'self'", csp)
                self.assertNotIn("unsafe", csp)  # the inline script and style by their hashes
                self.assertIn("script-src 'sha256-", csp)
                self.assertNotIn("://", body.decode(), "the page names no URL")

                wd = WebDriver(self)
                wd.cmd("POST", "/url", {"url": self.admin + "/"})
                try:
                    wait_for(lambda: wd.js(READ_PAGE)["seq"] >= 1, what="the page's first /stats")
                except AssertionError as e:
                    raise AssertionError(f"{e}; browser log: {wd.cmd('POST', '/se/log', {'type': 'browser'})}")

                # bounded traffic until both rate charts have drawn a non-zero point
                payload = b"x" * 4096
                sent = 0
                deadline = time.monotonic() + 30 * SLOW
                while time.monotonic() < deadline and sent < 2000:
                    for _ in range(10):
                        self.assertEqual(payload, echo_roundtrip(port, payload))
                        sent += 1
                    ch = wd.js(READ_PAGE)["charts"]
                    if ch["c-conn"]["max"] > 0 and ch["c-bytes"]["max"] > 0:
                        break
                page = wd.js(READ_PAGE)
                self.assertGreater(page["charts"]["c-conn"]["max"], 0, page)
                self.assertGreater(page["charts"]["c-bytes"]["max"], 0, page)
                self.assertGreater(page["charts"]["c-lsession"]["samples"], 0, page)
                # one client the proxy refuses for want of a backend (db is down)
                with connect(db_port) as c:
                    self.assertFalse(echoed(c))

                # three sessions held open, so "active" is not 0 while the page is read
                held = [connect(port) for _ in range(3)]
                try:
                    for c in held:
                        self.assertTrue(echoed(c))
                    wait_for(lambda: self.stats()["process"]["active"] == 3, what="3 active sessions")

                    before = self.stats()
                    seq = wd.js(READ_PAGE)["seq"]
                    # two polls later: the page's figures were fetched after <before>
                    page = wait_for(lambda: (lambda p: p if p["seq"] >= seq + 2 else None)(wd.js(READ_PAGE)),
                                    what="two more polls of the page")
                    after = self.stats()
                finally:
                    for c in held:
                        c.close()
                self.check_table(before, page, after)
                self.check_totals(before, page, after)
                self.assertTrue(page["status"].startswith("live"), page["status"])

                # nothing but the admin endpoint was asked for, and nothing went wrong
                names = wd.js("return performance.getEntriesByType('navigation')"
                              ".concat(performance.getEntriesByType('resource')).map((e) => e.name);")
                origins = {urllib.parse.urlsplit(n)[:2] for n in names}
                self.assertEqual({("http", f"127.0.0.1:{admin_port}")}, origins, names)
                self.assertIn(self.admin + "/stats", names)
                logs = wd.cmd("POST", "/se/log", {"type": "browser"})
                self.assertEqual([], [e for e in logs if e["level"] == "SEVERE"], logs)

                shot = os.path.join(os.path.dirname(os.path.abspath(SLUICE)), "artifacts", "stats-page.png")
                os.makedirs(os.path.dirname(shot), exist_ok=True)
                with open(shot, "wb") as f:
                    f.write(base64.b64decode(wd.cmd("GET", "/screenshot")))
                print(f"stats page screenshot: {shot}")

                # a process that stops answering (here: stopped; a hang, or a tunnel whose far
                # side is gone) shows stale within the page's answer timeout, not its last
                # figures as live; answering again, it is live again
                px.proc.send_signal(signal.SIGSTOP)
                try:
                    status = wait_for(lambda: (lambda t: t if t.startswith("no answer") else None)(
                        wd.js(READ_PAGE)["status"]), what="the page stale", timeout=20)
                    self.assertIn("none in 3 s", status)
                finally:
                    px.proc.send_signal(signal.SIGCONT)
                wait_for(lambda: wd.js(READ_PAGE)["status"].startswith("live"),
                         what="the page live again", timeout=20)

    def check_table(self, before, page, after):
        want = [(b["group"], b["backend"]) for b in after["backend"]]
        self.assertEqual(want, [(r["group"], r["backend"]) for r in page["rows"]])
        for b0, row, b1 in zip(before["backend"], page["rows"], after["backend"]):
            self.assertEqual(b1["address"], row["address"])
            self.assertEqual(b1["state"], row["state"])
            self.assertEqual(b0["state"], row["state"])
            self.assertEqual(b1["weight"], row["weight"])
            self.assertEqual([b1["group"], b1["backend"], b1["address"], b1["state"]], row["cells"][:4])
            self.assertEqual("backup" if b1["backup"] else "primary", row["role"])
            for k in ("sessions", "connect_failures"):
                self.assertLessEqual(b0[k], row[k], (k, row))
                self.assertLessEqual(row[k], b1[k], (k, row))
            # a gauge: the sessions held open do not move while the page is read
            self.assertEqual(b0["active"], b1["active"])
            self.assertEqual(b1["active"], row["active"], row)
        rows = {r["backend"]: r for r in page["rows"]}
        self.assertEqual(3, rows["b1"]["weight"])
        self.assertEqual("backup", rows[after["backend"][1]["backend"]]["role"])
        self.assertEqual("primary", rows["b1"]["role"])
        self.assertEqual("down", rows["primary"]["state"])
        self.assertEqual(3, rows["b1"]["active"] + rows[after["backend"][1]["backend"]]["active"])
        self.assertGreater(rows["b1"]["sessions"], 0)

    def check_totals(self, before, page, after):
        t = page["tiles"]
        for k in ("accepted", "connect_failures"):
            self.assertLessEqual(before["process"][k], t[k], k)
            self.assertLessEqual(t[k], after["process"][k], k)
        self.assertEqual(3, t["active"])
        self.assertEqual(2, t["backends_up"])  # web's two, unchecked, serve; db's is down
        rejected = lambda s: sum(r["rejects"] for r in s["reason"])
        self.assertLessEqual(rejected(before), t["rejected"])
        self.assertLessEqual(t["rejected"], rejected(after))
        self.assertEqual(1, page["refused"]["no_backend"])  # the client sent to db
        for r in before["reason"]:
            self.assertLessEqual(r["rejects"], page["refused"][r["reason"]], r)
            self.assertLessEqual(page["refused"][r["reason"]], after["reason"][before["reason"].index(r)]["rejects"])
        self.assertLessEqual(before["process"]["uptime_seconds"], t["uptime"])
        self.assertLessEqual(t["uptime"], after["process"]["uptime_seconds"])


if __name__ == "__main__":
    unittest.main()
