# SPDX-License-Identifier: MIT
"""Alerts: rules over the proxy's statistics fire once and resolve once, each edge logged and
POSTed as JSON to every webhook, here a real HTTP receiver on 127.0.0.1 that the test starts.
A backend killed under active health checks fires a backend_down rule and its return resolves
it (exactly one firing and one resolved POST per webhook); a webhook answering 500 once is
retried within its bound; refused clients fire a reject_rate rule; a webhook that accepts the
connection and never answers blocks neither the traffic nor the shutdown, and a full queue drops
and counts. A webhook URL without a host, or with a port outside 1-65535, is refused by --check
and the start, at its line and column. A build without alerts (sluice-static) refuses such a
file with the reason."""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import (SLOW, SLUICE, connect, echo_handler, echoed, free_port, name_handler, scrape_metrics,
                     Server, Sluice, wait_for, wait_for_text, write_config)

STATIC_BIN = os.environ.get("SLUICE_STATIC_BIN", "")


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST as (path, status, body); the first
    <fail> POSTs to a path in <failing> are answered 500."""

    def __init__(self, failing=(), fail=1):
        recv = self
        self.lock = threading.Condition()
        self.posts = []
        self.failures = {p: fail for p in failing}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recv.lock:
                    status = 200
                    if recv.failures.get(self.path, 0) > 0:
                        recv.failures[self.path] -= 1
                        status = 500
                    recv.posts.append((self.path, status, json.loads(body), self.headers.get("Content-Type")))
                    recv.lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self, path):
        """The bodies the receiver accepted (2xx) at <path>, in order."""
        with self.lock:
            return [b for p, s, b, _ in self.posts if p == path and s == 200]

    def wait(self, pred, timeout=20.0):
        """Waits (bounded) on each POST until pred(self) holds; returns its last value."""
        deadline = time.monotonic() + timeout * SLOW
        with self.lock:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(left)
            return pred(self)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def base(port, admin_port, backends, extra_listener="", health=True):
    lines = "\n".join(f"      - {{ name: {n}, address: {a} }}" for n, a in backends)
    hc = "health: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }" if health else ""
    return f"""
workers: 2
admin: {{ address: 127.0.0.1:{admin_port} }}
listeners:
  - address: 127.0.0.1:{port}
    group: g
{extra_listener}
groups:
  - name: g
    retries: 1
    passive: {{ failures: 0 }}
    {hc}
    backends:
{lines}
"""


class Alerts(unittest.TestCase):
    def test_backend_down_fires_once_and_resolves_once_with_a_retried_webhook(self):
        with Receiver(failing=("/flaky",)) as rx, Server(name_handler("a")) as a, \
                Server(name_handler("b")) as b:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("a", a.addr), ("b", b.addr)]) + f"""
alerts:
  interval: 100ms
  instance: test-1
  webhooks:
    - {{ url: "{rx.url('/ok')}", timeout: 2s, retries: 0 }}
    - {{ url: "{rx.url('/flaky')}", timeout: 2s, retries: 2 }}
  rules:
    - {{ name: a-down, metric: backend_down, group: g, backend: a, above: 0 }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alerts: 1 rule every 100 ms, 2 webhooks")
                a.close()
                self.assertTrue(rx.wait(lambda r: len(r.accepted("/flaky")) == 1), rx.posts)
                self.assertEqual(1, scrape_metrics(admin)['sluice_alert_firing{rule="a-down"}'])
                with Server(name_handler("a"), port=a.port):
                    self.assertTrue(rx.wait(lambda r: len(r.accepted("/flaky")) == 2), rx.posts)
                    self.assertEqual(0, scrape_metrics(admin)['sluice_alert_firing{rule="a-down"}'])
                    # the sender counts a post once its answer is read: after the receiver saw it
                    wait_for(lambda: scrape_metrics(admin).get("sluice_alert_notifications_sent_total") == 4,
                             "4 notifications sent", timeout=20.0, detail=lambda: scrape_metrics(admin))
                    m = scrape_metrics(admin)
                    self.assertEqual(0, px.stop(), px.stderr())
            err = px.stderr()
        ok, flaky = rx.accepted("/ok"), rx.accepted("/flaky")
        self.assertEqual(["firing", "resolved"], [b["state"] for b in ok])
        self.assertEqual(ok, flaky)
        fire, resolve = ok
        self.assertEqual({"alert": "a-down", "state": "firing", "metric": "backend_down",
                          "value": 1, "threshold": 0, "instance": "test-1"},
                         {k: v for k, v in fire.items() if k != "time"})
        self.assertRegex(fire["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(0, resolve["value"])
        # the one 500 was retried: three POSTs at /flaky, two accepted
        self.assertEqual([500, 200, 200], [s for p, s, _, _ in rx.posts if p == "/flaky"])
        self.assertTrue(all(ct == "application/json" for _, _, _, ct in rx.posts))
        self.assertEqual(4, m["sluice_alert_notifications_sent_total"])
        self.assertEqual(1, m["sluice_alert_notification_retries_total"])
        self.assertEqual(0, m["sluice_alert_notifications_failed_total"])
        self.assertEqual(1, err.count("alert a-down firing: backend_down is 1, above 0"), err)
        self.assertEqual(1, err.count("alert a-down resolved: backend_down is 0"), err)

    def test_a_webhook_failing_past_its_retries_is_counted_failed(self):
        with Receiver(failing=("/down",), fail=10) as rx, Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)], health=False) + f"""
alerts:
  interval: 100ms
  webhooks:
    - {{ url: "http://user:s3cret@127.0.0.1:{rx.port}/down", retries: 2 }}
  rules:
    - {{ name: mem, metric: rss, above: 1 }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alert mem firing: rss is")
                wait_for(lambda: scrape_metrics(admin).get("sluice_alert_notifications_failed_total") == 1,
                         "1 notification failed", timeout=20.0)
                m = scrape_metrics(admin)
                self.assertEqual(0, px.stop(), px.stderr())
        # one try and exactly two retries, then given up
        self.assertEqual(3, len([p for p, _, _, _ in rx.posts if p == "/down"]))
        self.assertEqual(2, m["sluice_alert_notification_retries_total"])
        self.assertEqual(0, m["sluice_alert_notifications_sent_total"])
        # named by its scheme, host and port: the password (or a token in the path) is not
        # the log's
        self.assertIn(f"alerts: cannot notify http://127.0.0.1:{rx.port}/...: HTTP status",
                      px.stderr())
        self.assertNotIn("s3cret", px.stderr())

    def test_refused_clients_fire_the_reject_rate_rule_and_it_resolves_when_they_stop(self):
        with Receiver() as rx, Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)],
                       extra_listener="    deny: [127.0.0.0/8]", health=False) + f"""
alerts:
  interval: 100ms
  webhooks:
    - {{ url: "{rx.url('/hook')}" }}
  rules:
    - {{ name: refused, metric: reject_rate, above: 20, clear_below: 1, window: 1s }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alerts: 1 rule")
                for _ in range(200):  # bounded: stops once the rule fires
                    s = connect(port)
                    s.close()
                    if rx.accepted("/hook"):
                        break
                    time.sleep(0.005)
                self.assertTrue(rx.wait(lambda r: len(r.accepted("/hook")) == 1), px.stderr())
                # nobody connects now: the rate falls to 0 within the window, and resolves
                self.assertTrue(rx.wait(lambda r: len(r.accepted("/hook")) == 2), px.stderr())
                self.assertEqual(0, px.stop(), px.stderr())
        fire, resolve = rx.accepted("/hook")
        self.assertEqual(("firing", "reject_rate"), (fire["state"], fire["metric"]))
        self.assertGreater(fire["value"], 20)
        self.assertEqual(("resolved", 1), (resolve["state"], resolve["threshold"]))
        self.assertLessEqual(resolve["value"], 1)

    def test_a_webhook_that_never_answers_blocks_neither_traffic_nor_shutdown(self):
        # accepts connections (the backlog) and never reads: each post waits for its timeout
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        url = f"http://127.0.0.1:{hang.getsockname()[1]}/hook"
        with Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)], health=False) + f"""
alerts:
  interval: 100ms
  queue_size: 1
  webhooks:
    - {{ url: "{url}", timeout: 30s, retries: 10 }}
  rules:
    - {{ name: m1, metric: rss, above: 1 }}
    - {{ name: m2, metric: rss, above: 1 }}
    - {{ name: m3, metric: rss, above: 1 }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alert m3 firing")
                # all three fire in one evaluation: the queue holds one, the sender may have
                # taken one already, and the others are dropped
                wait_for(lambda: scrape_metrics(admin).get("sluice_alert_notifications_dropped_total", 0) >= 1,
                         "a notification dropped", timeout=20.0)
                self.assertIn(scrape_metrics(admin)["sluice_alert_notifications_dropped_total"], (1, 2))
                for i in range(20):
                    s = connect(port)
                    self.assertTrue(echoed(s, b"ping %d" % i))
                    s.close()
                self.assertEqual(0, px.stop(), px.stderr())
        hang.close()

    def test_a_silent_webhook_holds_up_no_other_webhook(self):
        """The first webhook accepts and never answers (each post waits its 30 s timeout);
        the second gets the notification while that post still waits: each webhook has its
        own sender."""
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        url = f"http://127.0.0.1:{hang.getsockname()[1]}/hook"
        with Receiver() as rx, Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)], health=False) + f"""
alerts:
  interval: 100ms
  webhooks:
    - {{ url: "{url}", timeout: 30s, retries: 0 }}
    - {{ url: "{rx.url('/ok')}", timeout: 2s, retries: 0 }}
  rules:
    - {{ name: m1, metric: rss, above: 1 }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alert m1 firing")
                t0 = time.monotonic()
                self.assertTrue(rx.wait(lambda r: len(r.accepted("/ok")) == 1, timeout=20.0),
                                rx.posts)
                # before the silent webhook's post could end (its 30 s timeout)
                self.assertLess(time.monotonic() - t0, 30.0)
                self.assertEqual("firing", rx.accepted("/ok")[0]["state"])
                self.assertEqual(0, px.stop(), px.stderr())
        hang.close()

    def test_a_post_waiting_on_a_silent_webhook_holds_up_neither_the_drain_nor_the_exit(self):
        """SIGTERM while a post waits on a webhook that accepted it and says nothing: the
        listeners close and the drain begins at once, the post goes on during the drain (it may
        still be answered), and once the drain is over it is abandoned and the process exits.
        The sender used to be stopped before the drain, which kept the listeners accepting
        until libcurl's next progress call (up to a second or two)."""
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        self.addCleanup(hang.close)
        url = f"http://127.0.0.1:{hang.getsockname()[1]}/hook"
        held, closed = [], threading.Event()

        def hold():
            c, _ = hang.accept()
            held.append(c)
            try:
                while c.recv(4096):
                    pass
            except OSError:
                pass
            closed.set()
        threading.Thread(target=hold, daemon=True).start()
        with Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)], health=False) + f"""
drain_timeout: 60s
alerts:
  interval: 100ms
  webhooks:
    - {{ url: "{url}", timeout: 60s, retries: 10 }}
  rules:
    - {{ name: m1, metric: rss, above: 1 }}
"""
            with Sluice(["-c", write_config(cfg)], port=port) as px:
                wait_for_text(px, "alert m1 firing")
                wait_for(lambda: held, "the post to reach the webhook")
                s = connect(port)  # an open session: the drain lasts until it closes
                self.assertTrue(echoed(s, b"ping"))
                px.proc.send_signal(signal.SIGTERM)
                wait_for_text(px, "SIGTERM: draining")
                self.assertFalse(closed.is_set(), "the post was abandoned before the drain")

                def refused():
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    except ConnectionRefusedError:
                        return True
                    return False
                # the line comes just before the listeners close: bounded wait for them
                wait_for(refused, "the listeners to close for the drain")
                s.close()  # the drain ends
                self.assertEqual(0, px.proc.wait(20 * SLOW), px.stderr())
                self.assertTrue(closed.wait(10 * SLOW), "the post outlived the process")
                for c in held:
                    c.close()
                self.assertIn("(abandoned at shutdown)", px.stderr())
                # abandoned by the stop, as queued ones are: dropped, not failed
                line = re.search(r"alert_notifications: .*", px.stderr())
                self.assertIsNotNone(line, px.stderr())
                self.assertIn("1 dropped", line.group(0))
                self.assertNotIn("failed", line.group(0))

    def test_a_reload_that_changes_a_rule_is_refused_and_one_that_does_not_is_taken(self):
        with Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            text = base(port, admin, [("e", e.addr)], health=False) + """
alerts:
  rules:
    - { name: mem, metric: rss, above: 1e15 }
"""
            path = write_config(text)
            with Sluice(["-c", path], port=port) as px:
                wait_for_text(px, "alerts: 1 rule")
                px.proc.send_signal(signal.SIGHUP)
                wait_for_text(px, "reloaded")
                with open(path, "w") as f:
                    f.write(text.replace("1e15", "1e14"))
                px.proc.send_signal(signal.SIGHUP)
                # every change is named (clear_below follows above when not given)
                wait_for_text(px, "not reloaded: alerts.rule mem: above changed, alerts.rule "
                                  "mem: clear_below changed (needs a restart")
                self.assertEqual(0, px.stop(), px.stderr())

    def test_a_host_name_whose_dns_never_answers_holds_neither_its_post_nor_the_exit(self):
        """Webhooks named by host names that the DNS server in resolv.conf never answers
        (sluice runs in its own mount namespace with a resolv.conf of its own, whose server is
        a UDP socket here that reads and says nothing, for a 30 s timeout): the post with a
        1 s timeout fails at its timeout, its retries failing at once while that lookup may
        still be pending, and a stop while the other post (60 s) is still resolving exits at
        once, that post counted dropped. libcurl used to wait for its resolver thread, past
        both, for the 30 s."""
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare(1) for a mount namespace")
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sink.close)
        for last in range(2, 250):  # a DNS server listens on port 53: an address of its own
            try:
                sink.bind((f"127.53.0.{last}", 53))
                break
            except OSError:
                continue
        else:
            self.skipTest("no free 127.53.0.x:53 for the silent DNS server")
        resolv = write_config(f"nameserver {sink.getsockname()[0]}\n"
                              "options timeout:30 attempts:1\n")
        self.addCleanup(os.unlink, resolv)
        with Server(echo_handler) as e:
            port, admin = free_port(), free_port()
            cfg = base(port, admin, [("e", e.addr)], health=False) + """
alerts:
  interval: 100ms
  webhooks:
    - { url: "http://short.webhook.sluice.test:8080/hook", timeout: 1s, retries: 2 }
    - { url: "http://long.webhook.sluice.test:8080/hook", timeout: 60s, retries: 0 }
  rules:
    - { name: m1, metric: rss, above: 1 }
"""
            px = Sluice(["-c", write_config(cfg)], port=port)
            px.args = ["unshare", "-m", "sh", "-c",
                       'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv] + px.args
            with px:
                wait_for_text(px, "alert m1 firing")
                # the resolver's 30 s would be past this wait's bound; its retry is not
                # tried while the lookup it gave up may still be pending (one lookup thread
                # per webhook, not one per post)
                wait_for_text(px, "alerts: cannot notify http://short.webhook.sluice.test:8080"
                                  "/...: its host name's lookup timed out less than 30 s ago "
                                  "(the DNS does not answer): not tried again until then "
                                  "(after 0 retries)",
                              timeout=15.0)
                self.assertNotIn("long.webhook", px.stderr())  # still resolving
                px.proc.send_signal(signal.SIGTERM)
                self.assertEqual(0, px.proc.wait(15 * SLOW), px.stderr())
            err = px.stderr()
        self.assertIn("cannot notify http://long.webhook.sluice.test:8080/...", err)
        self.assertIn("(abandoned at shutdown)", err)
        line = re.search(r"alert_notifications: .*", err)
        self.assertIsNotNone(line, err)
        self.assertIn("1 failed", line.group(0))
        self.assertIn("1 dropped", line.group(0))
        self.assertNotIn("retries", line.group(0))  # the held retry never went out

    def test_check_and_the_start_refuse_a_webhook_url_no_post_could_reach(self):
        port = free_port()
        for url, why in (("http://", '"url" has no host'),
                         ("http://127.0.0.1:99999/", '"url" has port "99999"'),
                         ("http://127.0.0.1:0/", '"url" has port "0"')):
            path = write_config(base(port, free_port(), [("e", "127.0.0.1:9")], health=False) + f"""
alerts:
  webhooks: [{{ url: "{url}" }}]
  rules: [{{ name: mem, metric: rss, above: 1 }}]
""")
            try:
                for args in (["--check", "-c", path], ["-c", path]):
                    r = subprocess.run([SLUICE, *args], capture_output=True, text=True,
                                       timeout=30 * SLOW)
                    self.assertEqual(1, r.returncode, r.stderr)
                    self.assertIn(f"{path}:17:21: {why}", r.stderr)
            finally:
                os.unlink(path)

    def test_a_build_without_alerts_refuses_a_file_with_rules(self):
        if not STATIC_BIN:
            self.skipTest("sluice-static is built in release builds only (SLUICE_STATIC_BIN unset)")
        port = free_port()
        cfg = base(port, free_port(), [("e", "127.0.0.1:9")], health=False).replace(
            "admin:", "#admin:") + """
alerts:
  rules:
    - { name: mem, metric: rss, above: 1 }
"""
        r = subprocess.run([STATIC_BIN, "-c", write_config(cfg)], capture_output=True, text=True,
                           timeout=30 * SLOW)
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertIn("built without alerts", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
