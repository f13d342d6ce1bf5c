#!/usr/bin/env python3
"""PromQL expressions of the shipped artifacts: list them, make promtool parse them, check the
metric names they use.

  promql.py list                 one JSON object per line: {"source", "expr"} for every alert/
                                 record expr in alerts/*.rules.yaml, every dashboard target expr and
                                 every `query` template in rule annotations (with Grafana
                                 variables substituted: $cluster/$namespace -> .*, $__rate_interval/
                                 $__interval -> 1m, $__range -> 1h)
  promql.py parse-file OUT       write a Prometheus rules file with one recording rule per
                                 expression, for `promtool check rules OUT` to parse
  promql.py metric-names [LIVE]  every metric name used must be in docs/metrics.md's tables (or be
                                 a Prometheus-made series such as `up`); with LIVE (a saved
                                 /metrics body), must also be exported by the running daemon
"""

import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBSTITUTIONS = [
    ("$__rate_interval", "1m"), ("${__rate_interval}", "1m"),
    ("$__interval", "1m"), ("${__interval}", "1m"),
    ("$__range", "1h"), ("${__range}", "1h"),
    ("${cluster}", ".*"), ("$cluster", ".*"),
    ("${namespace}", ".*"), ("$namespace", ".*"),
]
# Series that Prometheus itself makes; allowed although the daemon does not export them.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Families a healthy daemon may legitimately not export at all (a labelled gauge with no series
# has no `# TYPE` line either), and why. Only consulted by the live check.
LIVE_MAY_BE_ABSENT = {
    "garbage_audit_discovery_failed": "has a series only per failing API group/version; none fails in the demo",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}


def substitute(expr):
    for var, value in SUBSTITUTIONS:
        expr = expr.replace(var, value)
    return expr


def rule_files():
    return sorted(glob.glob(os.path.join(ROOT, "alerts", "*.rules.yaml")))


def dashboards():
    return sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


QUERY_TEMPLATE = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"[^|]*\|\s*query')


def collect():
    """[(source, expr_with_variables_substituted, kind)]; kind is promql, label_values:<label>
    (expr is then the selector) or unsupported."""
    out = []
    for path in rule_files():
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                name = r.get("alert") or r.get("record")
                out.append((f"{rel} {name}", str(r["expr"]).strip(), "promql"))
                for key, text in (r.get("annotations") or {}).items():
                    for m in QUERY_TEMPLATE.finditer(text):
                        # Template arguments (%q) become a concrete quoted value.
                        q = json.loads('"' + m.group(1) + '"').replace("%q", '"x"')
                        out.append((f"{rel} {name} annotations.{key} query", q, "promql"))
    for path in dashboards():
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        for p in walk_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                if "expr" in t:
                    out.append((f"{rel} panel {p.get('id')} \"{p.get('title')}\" {t.get('refId')}",
                                substitute(t["expr"]), "promql"))
        for v in (dash.get("templating") or {}).get("list", []):
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            if v.get("type") == "query" and isinstance(q, str):
                m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q, re.S)
                if not m:
                    out.append((f"{rel} variable ${v['name']}", q, "unsupported"))
                else:
                    out.append((f"{rel} variable ${v['name']}", substitute(m.group(1)), f"label_values:{m.group(2)}"))
    return out


def metric_names(expr):
    """Metric names an expression selects (a small tokenizer, enough for our expressions)."""
    names = set()
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names.update(n for n in m.group(1).split("|") if n)
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in re.finditer(r"(?<![0-9.a-zA-Z_:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        tok, call = m.group(1), m.group(2)
        if call or tok.lower() in KEYWORDS:
            continue
        names.add(tok)
    return names


def documented():
    """{name: type} from docs/metrics.md's tables."""
    docs = {}
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|", line)
            if m:
                docs[m.group(1)] = m.group(2)
    return docs


def family(name, types):
    """The metric family a series name belongs to, given {family: type}."""
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return None


def live_families(path):
    types = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#\s*TYPE\s+(\S+)\s+(\S+)", line)
            if m:
                types[m.group(1)] = m.group(2)
    return types


def cmd_list():
    for source, expr, kind in collect():
        print(json.dumps({"source": source, "expr": expr, "kind": kind}))
    return 0


def cmd_parse_file(out):
    rules = []
    bad = 0
    for i, (source, expr, kind) in enumerate(collect()):
        if kind == "unsupported":
            print(f"FAIL {source}: variable query is not label_values(selector, label): {expr}")
            bad += 1
            continue
        if "$" in expr:
            print(f"FAIL {source}: unknown template variable left after substitution: {expr}")
            bad += 1
            continue
        if kind.startswith("label_values:"):
            expr = f"count by ({kind.split(':', 1)[1]}) ({expr})"
        rules.append({"record": f"artifact_check:expr_{i:03d}", "expr": expr})
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "artifact-expressions", "rules": rules}]}, f, width=100000)
    print(f"{len(rules)} expressions written to {out}")
    return 1 if bad else 0


def cmd_metric_names(live=None):
    docs = documented()
    if not docs:
        print("FAIL docs/metrics.md: no metric table rows found")
        return 1
    live_types = live_families(live) if live else None
    used = {}
    for source, expr, kind in collect():
        for n in metric_names(expr):
            used.setdefault(n, []).append(source)
    # Belt and braces: any garbage_audit_* token anywhere in the artifacts.
    for path in rule_files() + dashboards():
        with open(path, encoding="utf-8") as f:
            for n in re.findall(r"\bgarbage_audit_[a-zA-Z0-9_]+", f.read()):
                used.setdefault(n, []).append(os.path.relpath(path, ROOT))
    bad = 0
    for n in sorted(used):
        where = used[n][0]
        if n in PROMETHEUS_SERIES:
            continue
        fam = family(n, docs)
        if fam is None:
            print(f"FAIL {n} (used in {where}) is not in docs/metrics.md")
            bad += 1
            continue
        if live_types is not None and family(n, live_types) is None:
            if fam in LIVE_MAY_BE_ABSENT:
                print(f"absent from the live /metrics (allowed: {LIVE_MAY_BE_ABSENT[fam]}): {n}")
                continue
            print(f"FAIL {n} (used in {where}) is documented but not exported by the live daemon")
            bad += 1
    checked = len([n for n in used if n not in PROMETHEUS_SERIES])
    what = "docs/metrics.md and the live /metrics" if live else "docs/metrics.md"
    print(f"{checked} metric names used by alerts and dashboards checked against {what}; {bad} unknown")
    return 1 if bad else 0


def main(argv):
    if argv[1:2] == ["list"]:
        return cmd_list()
    if argv[1:2] == ["parse-file"] and len(argv) == 3:
        return cmd_parse_file(argv[2])
    if argv[1:2] == ["metric-names"] and len(argv) in (2, 3):
        return cmd_metric_names(argv[2] if len(argv) == 3 else None)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
