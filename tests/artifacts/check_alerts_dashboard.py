#!/usr/bin/env python3
"""Structural checks of the alert rules and dashboards that promtool and tsc do not make.

  check_alerts_dashboard.py alerts      every alert: severity, summary, description, runbook_url
                                        pointing at docs/runbooks/<alert>.md (which must exist),
                                        and at least one promtool unit test where it fires and
                                        one where it stays silent; `cluster` survives every
                                        aggregation (in each by()/on() of the expression) and
                                        every annotation query filters on $labels.cluster
  check_alerts_dashboard.py dashboard   stable uid, tags, 1m refresh, $datasource/$cluster/
                                        $namespace variables ($cluster All = .*), every query on
                                        the ${datasource} variable and filtered by cluster=~"$cluster",
                                        unique panel ids, `cluster` in every by() of a panel query
"""

import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
def _package_version():
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "Cargo.toml"), encoding="utf-8") as f:
        in_package = False
        for line in f:
            if line.strip() == "[package]":
                in_package = True
            elif line.startswith("["):
                in_package = False
            elif in_package and line.startswith("version"):
                return line.split('"')[1]
    raise SystemExit("no [package] version in Cargo.toml")


# Runbook URLs are versioned: they point at the release tag of the Cargo package version, so a
# version bump without regenerating the rules (mixin/config.libsonnet runbookURLBase) fails here.
RUNBOOK_BASE = f"https://github.com/kube-garbage-audit/kube-garbage-audit/blob/v{_package_version()}/docs/runbooks/"
errors = []


def fail(msg):
    errors.append(msg)


GROUPING = re.compile(r"\b(by|on)\s*\(([^)]*)\)")


def cluster_dropped(expr):
    """The by()/on() clauses of a PromQL expression that leave out `cluster`."""
    return [m.group(0) for m in GROUPING.finditer(expr)
            if "cluster" not in [x.strip() for x in m.group(2).split(",")]]


def check_alerts():
    alerts = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "alerts", "*.rules.yaml"))):
        with open(path, encoding="utf-8") as f:
            for g in yaml.safe_load(f)["groups"]:
                for r in g["rules"]:
                    if "alert" in r:
                        alerts.setdefault(r["alert"], []).append(r)
    if not alerts:
        fail("no alerts found in alerts/*.rules.yaml")
    for name, rules in alerts.items():
        for r in rules:
            labels, ann = r.get("labels") or {}, r.get("annotations") or {}
            if labels.get("severity") not in ("critical", "warning", "info"):
                fail(f"{name}: severity label must be critical|warning|info")
            for a in ("summary", "description", "runbook_url"):
                if not ann.get(a):
                    fail(f"{name}: missing annotation {a}")
            if ann.get("runbook_url") != f"{RUNBOOK_BASE}{name}.md":
                fail(f"{name}: runbook_url must be {RUNBOOK_BASE}{name}.md")
            if not r.get("for"):
                fail(f"{name}: no `for:`; every alert here rides out short blips")
            for clause in cluster_dropped(r.get("expr", "")):
                fail(f"{name}: `{clause}` drops the `cluster` label (multi-cluster alerts would merge)")
            for key, text in ann.items():
                for q in re.findall(r'printf\s+"((?:[^"\\]|\\.)*)"([^|]*)\|\s*query', text):
                    if "cluster=%q" not in q[0] or "$labels.cluster" not in q[1]:
                        fail(f"{name}: annotation {key} queries without filtering on cluster=$labels.cluster: {q[0]}")
                    for clause in cluster_dropped(q[0]):
                        if clause.startswith("on"):
                            fail(f"{name}: annotation {key}: `{clause}` drops `cluster`")
        if not os.path.isfile(os.path.join(ROOT, "docs", "runbooks", f"{name}.md")):
            fail(f"{name}: docs/runbooks/{name}.md does not exist")
    fires, silent = set(), set()
    for path in sorted(glob.glob(os.path.join(ROOT, "alerts", "tests", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for t in doc.get("tests", []):
            for a in t.get("alert_rule_test", []):
                (fires if a.get("exp_alerts") else silent).add(a.get("alertname"))
    for name in alerts:
        if name not in fires:
            fail(f"{name}: no unit test in alerts/tests/ where it fires")
        if name not in silent:
            fail(f"{name}: no unit test in alerts/tests/ where it stays silent")
    return f"{len(alerts)} alerts, each with runbook and firing + silent unit tests"


def panels_of(panels):
    for p in panels or []:
        yield p
        yield from panels_of(p.get("panels"))


def check_dashboard():
    paths = sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    if not paths:
        fail("no dashboards/*.json")
    n_queries = 0
    for path in paths:
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if not re.fullmatch(r"[a-zA-Z0-9_-]{8,40}", d.get("uid") or ""):
            fail(f"{rel}: uid must be a stable 8-40 character identifier")
        if not d.get("tags"):
            fail(f"{rel}: needs tags")
        if d.get("refresh") != "1m":
            fail(f"{rel}: refresh should be 1m")
        if d.get("id") is not None:
            fail(f"{rel}: must not carry an instance-specific numeric id")
        variables = {v["name"]: v for v in (d.get("templating") or {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            fail(f"{rel}: needs a prometheus `datasource` variable")
        for name in ("cluster", "namespace"):
            v = variables.get(name)
            if not v or v.get("type") != "query" or not v.get("includeAll") or v.get("allValue") != ".*":
                fail(f"{rel}: needs a query variable ${name} with includeAll and allValue .*")
        ids = [p.get("id") for p in panels_of(d.get("panels"))]
        if len(ids) != len(set(ids)) or None in ids:
            fail(f"{rel}: panel ids must be present and unique")
        for p in panels_of(d.get("panels")):
            if p.get("type") == "row":
                continue
            where = f"{rel} panel {p.get('id')} \"{p.get('title')}\""
            if (p.get("datasource") or {}).get("uid") != "${datasource}":
                fail(f"{where}: panel datasource must be ${{datasource}}")
            if not p.get("targets"):
                fail(f"{where}: no queries")
            for t in p.get("targets") or []:
                n_queries += 1
                if (t.get("datasource") or {}).get("uid") != "${datasource}":
                    fail(f"{where} {t.get('refId')}: query datasource must be ${{datasource}}")
                for clause in cluster_dropped(t.get("expr", "")):
                    fail(f"{where} {t.get('refId')}: `{clause}` drops the `cluster` label: {t['expr']}")
                for sel in re.findall(r"\bgarbage_audit_[a-z_]+(\{[^}]*\})?", t.get("expr", "")):
                    if 'cluster=~"$cluster"' not in sel:
                        fail(f"{where} {t.get('refId')}: every selector needs cluster=~\"$cluster\": {t['expr']}")
    return f"{len(paths)} dashboard(s), {n_queries} queries"


def main(argv):
    what = argv[1:] and argv[1]
    if what == "alerts":
        summary = check_alerts()
    elif what == "dashboard":
        summary = check_dashboard()
    else:
        print(__doc__)
        return 2
    for e in errors:
        print(f"FAIL {e}")
    print(f"{'FAILED' if errors else 'ok'}: {summary}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
