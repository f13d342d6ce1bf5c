#!/usr/bin/env python3
"""Helpers for scripts/e2e-prometheus.sh (standard library + PyYAML only; loopback only).

  e2e.py free-port                          print a free TCP port on 127.0.0.1
  e2e.py webhook PORT FILE                  serve 127.0.0.1:PORT, append every POST body
                                            (one JSON document per line) to FILE
  e2e.py shorten-for SRC OUT DURATION       copy a rules file with every `for:` and
                                            `keep_firing_for:` set to DURATION (the e2e
                                            only: the shipped ones are 15m / 5m)
  e2e.py wait-http URL TIMEOUT [SUBSTRING]  wait until URL answers 200 (and contains SUBSTRING)
  e2e.py wait-query PROM EXPR TIMEOUT       wait until an instant query returns a sample
  e2e.py wait-webhook FILE ALERT STATUS TIMEOUT [label=value ...] [annotation~substring ...]
                                            wait until Alertmanager delivered ALERT with STATUS
                                            (firing|resolved) and those labels/annotations
  e2e.py expect-empty PROM EXPR             an instant query returns no sample
  e2e.py label-values PROM LABEL SELECTOR VALUE... [!VALUE...]
                                            the label's values on SELECTOR's series include every
                                            VALUE and none of the !VALUEs
  e2e.py servicemonitor-honor-labels FILE   print the ServiceMonitor's endpoints' honorLabels
                                            (true/false); fails unless every endpoint sets true
  e2e.py not-firing PROM SECONDS ALERT...   none of the alerts is pending or firing in Prometheus,
                                            sampled every second for SECONDS
  e2e.py dashboard-queries PROM             every dashboard query returns data, or is listed
                                            in ALLOWED_EMPTY below with the reason
"""

import http.server
import json
import os
import socket
import sys
import time
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promql  # noqa: E402

# Dashboard queries that may legitimately return nothing against the demo, and why. Matched on a
# substring of the (variable-substituted) expression.
ALLOWED_EMPTY = {
    "garbage_audit_discovery_failed{cluster=~\".*\"}) == 1":
        "lists failing API groups only; every group is discoverable in the aibrix scenario",
    "label_values(garbage_audit_build_info, cluster)":
        "no `cluster` label in a single-Prometheus setup; the variable's All value (.*) still matches",
}


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def instant(prom, expr):
    q = urllib.parse.urlencode({"query": expr})
    body = get_json(f"{prom}/api/v1/query?{q}")
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {body}")
    return body["data"]["result"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def webhook(port, path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                line = json.dumps(json.loads(body))
            except ValueError:
                line = json.dumps({"unparsable": body.decode("utf-8", "replace")})
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def shorten_for(src, out, duration):
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    n = 0
    for g in doc["groups"]:
        for r in g["rules"]:
            if "for" in r:
                r["for"] = duration
                n += 1
            if "keep_firing_for" in r:
                r["keep_firing_for"] = duration
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False, width=100000)
    print(f"{out}: {n} rules with for: {duration} (e2e copy; shipped rules unchanged)")
    return 0


def wait(timeout, probe, what):
    deadline = time.monotonic() + float(timeout)
    last = None
    while time.monotonic() < deadline:
        try:
            ok, last = probe()
            if ok:
                print(last)
                return 0
        except Exception as e:  # noqa: BLE001 — report the last error on timeout
            last = f"{type(e).__name__}: {e}"
        time.sleep(1)
    print(f"timed out after {timeout}s waiting for {what}; last: {last}")
    return 1


def wait_http(url, timeout, substring=None):
    def probe():
        with urllib.request.urlopen(url, timeout=3) as r:
            text = r.read().decode("utf-8", "replace")
            ok = r.status == 200 and (substring is None or substring in text)
            return ok, f"{url} answered {r.status}" + (f" with {substring!r}" if ok and substring else "")
    return wait(timeout, probe, url)


def wait_query(prom, expr, timeout):
    def probe():
        res = instant(prom, expr)
        return bool(res), f"{expr} -> {len(res)} series"
    return wait(timeout, probe, expr)


def wait_webhook(path, alert, status, timeout, conditions):
    labels, annotations = {}, {}
    for c in conditions:
        if "~" in c and ("=" not in c or c.index("~") < c.index("=")):
            k, v = c.split("~", 1)
            annotations[k] = v
        else:
            k, v = c.split("=", 1)
            labels[k] = v

    def probe():
        seen = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    for a in json.loads(line).get("alerts", []):
                        if a.get("labels", {}).get("alertname") != alert:
                            continue
                        seen.append((a.get("status"), a.get("labels")))
                        if a.get("status") != status:
                            continue
                        if any(a["labels"].get(k) != v for k, v in labels.items()):
                            continue
                        if any(v not in a.get("annotations", {}).get(k, "") for k, v in annotations.items()):
                            continue
                        return True, f"webhook got {alert} {status} {json.dumps(a['labels'], sort_keys=True)}"
        return False, f"deliveries of {alert} so far: {seen}"
    return wait(timeout, probe, f"{alert} {status} {labels} {annotations} at the webhook")


def not_firing(prom, seconds, alerts):
    deadline = time.monotonic() + float(seconds)
    samples = 0
    while True:
        body = get_json(f"{prom}/api/v1/alerts")
        samples += 1
        active = sorted({(a["labels"]["alertname"], a["state"]) for a in body["data"]["alerts"]
                         if a["labels"]["alertname"] in alerts and a["state"] in ("pending", "firing")})
        if active:
            print(f"unexpectedly active: {active}")
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    print(f"neither pending nor firing in {samples} samples over {seconds}s: {', '.join(alerts)}")
    return 0


def expect_empty(prom, expr):
    res = instant(prom, expr)
    if res:
        print(f"{expr} returned {len(res)} series, e.g. {res[0]['metric']}")
        return 1
    print(f"{expr} -> no series")
    return 0


def label_values(prom, label, selector, wanted):
    q = urllib.parse.urlencode({"match[]": selector})
    body = get_json(f"{prom}/api/v1/label/{label}/values?{q}")
    have = set(body.get("data") or [])
    missing = [w for w in wanted if not w.startswith("!") and w not in have]
    unwanted = [w[1:] for w in wanted if w.startswith("!") and w[1:] in have]
    if missing or unwanted:
        print(f"{label} values {sorted(have)}: missing {missing}, unwanted {unwanted}")
        return 1
    print(f"{label} values: {sorted(have)}")
    return 0


def servicemonitor_honor_labels(path):
    with open(path, encoding="utf-8") as f:
        sm = yaml.safe_load(f)
    eps = (sm.get("spec") or {}).get("endpoints") or []
    values = [ep.get("honorLabels") is True for ep in eps]
    print("true" if values and all(values) else "false")
    return 0 if values and all(values) else 1


def dashboard_queries(prom):
    bad = n = empty_ok = 0
    for source, expr, kind in promql.collect():
        if not source.startswith("dashboards/"):
            continue
        n += 1
        label = kind.split(":", 1)[1] if kind.startswith("label_values:") else None
        q = f"count by ({label}) ({expr})" if label else expr
        shown = f"label_values({expr}, {label})" if label else expr
        try:
            res = instant(prom, q)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {source}: {e}")
            bad += 1
            continue
        if label:
            res = [r for r in res if r["metric"].get(label)]
        if res:
            continue
        reason = next((r for k, r in ALLOWED_EMPTY.items() if k in shown), None)
        if reason:
            empty_ok += 1
            print(f"empty (allowed: {reason}): {source}")
        else:
            bad += 1
            print(f"FAIL no data: {source}: {shown}")
    print(f"{n} dashboard queries: {n - bad - empty_ok} with data, {empty_ok} allowed empty, {bad} failing")
    return 1 if bad else 0


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if cmd == "free-port":
        return free_port()
    if cmd == "webhook" and len(args) == 2:
        return webhook(*args)
    if cmd == "shorten-for" and len(args) == 3:
        return shorten_for(*args)
    if cmd == "wait-http" and len(args) in (2, 3):
        return wait_http(*args)
    if cmd == "wait-query" and len(args) == 3:
        return wait_query(*args)
    if cmd == "wait-webhook" and len(args) >= 4:
        return wait_webhook(args[0], args[1], args[2], args[3], args[4:])
    if cmd == "not-firing" and len(args) >= 3:
        return not_firing(args[0], args[1], args[2:])
    if cmd == "expect-empty" and len(args) == 2:
        return expect_empty(*args)
    if cmd == "label-values" and len(args) >= 4:
        return label_values(args[0], args[1], args[2], args[3:])
    if cmd == "servicemonitor-honor-labels" and len(args) == 1:
        return servicemonitor_honor_labels(args[0])
    if cmd == "dashboard-queries" and len(args) == 1:
        return dashboard_queries(args[0])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
