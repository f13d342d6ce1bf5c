#!/usr/bin/env bash
# The monitoring mixin (mixin/, jsonnet) is the source of the alert rules and the dashboard:
#
#   scripts/check-mixin.sh           fail unless alerts/garbage-audit.rules.yaml and
#                                    dashboards/kube-garbage-audit.json are byte-identical to what
#                                    mixin/ renders, the jsonnet is jsonnetfmt-formatted, and a
#                                    non-default _config (selector, cluster label, thresholds,
#                                    runbook base) reaches every expression, label and URL
#   scripts/check-mixin.sh --write   render them (then alerts/generate.py refreshes the copies in
#                                    deploy/ and charts/)
#
# jsonnet and jsonnetfmt are go-jsonnet, built once from tools/jsonnet/go.mod by
# scripts/go-tool.sh (cold: ~15 s with a warm Go module cache; warm: nothing). Last line:
# `mixin: ok` or the reason it failed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

jsonnet=$(bash scripts/go-tool.sh jsonnet github.com/google/go-jsonnet/cmd/jsonnet)
jsonnetfmt=$(bash scripts/go-tool.sh jsonnet github.com/google/go-jsonnet/cmd/jsonnetfmt)
RULES=alerts/garbage-audit.rules.yaml
DASHBOARD=dashboards/kube-garbage-audit.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$jsonnet" -J mixin -S mixin/alerts.jsonnet >"$work/rules.yaml"
"$jsonnet" -J mixin mixin/dashboards.jsonnet >"$work/dashboard.json"

if [ "${1:-}" = "--write" ]; then
  cp "$work/rules.yaml" "$RULES"
  cp "$work/dashboard.json" "$DASHBOARD"
  "$jsonnetfmt" -i mixin/*.libsonnet mixin/*.jsonnet
  echo "wrote $RULES and $DASHBOARD; now run: python3 alerts/generate.py"
  exit 0
fi

failed=0
for pair in "$RULES:$work/rules.yaml" "$DASHBOARD:$work/dashboard.json"; do
  committed=${pair%%:*} rendered=${pair#*:}
  if ! cmp -s "$committed" "$rendered"; then
    echo "DRIFT: $committed is not what mixin/ renders (run: bash scripts/check-mixin.sh --write && python3 alerts/generate.py)"
    diff -u "$committed" "$rendered" | head -40
    failed=1
  fi
done
if ! "$jsonnetfmt" --test mixin/*.libsonnet mixin/*.jsonnet >"$work/fmt" 2>&1; then
  echo "not jsonnetfmt-formatted (run: bash scripts/check-mixin.sh --write): $(tr '\n' ' ' <"$work/fmt")"
  failed=1
fi

# The _config knobs must really reach the output: render with every one changed.
cat >"$work/custom.jsonnet" <<'EOF'
local mixin = (import 'mixin.libsonnet') + {
  _config+:: {
    selector: 'job="kga-custom"',
    clusterLabel: 'k8s_cluster',
    jobSelector: 'job="kga-custom"',
    findingFor: '42m',
    scanFailingAfterSeconds: 1800,
    runbookURLBase: 'https://runbooks.example/kga/',
    dashboardUid: 'kga-custom',
  },
};
{ alerts: mixin.prometheusAlerts, dashboard: mixin.grafanaDashboards['kube-garbage-audit.json'] }
EOF
"$jsonnet" -J mixin "$work/custom.jsonnet" >"$work/custom.json"
python3 - "$work/custom.json" <<'PY' || failed=1
import json, re, sys
doc = json.load(open(sys.argv[1]))
bad = []
rules = [r for g in doc["alerts"]["groups"] for r in g["rules"]]
exprs = [r["expr"] for r in rules]
for p in doc["dashboard"]["panels"]:
    exprs += [t["expr"] for t in p.get("targets", [])]
for e in exprs:
    # every selector of the daemon's metrics carries the configured selector
    for m in re.finditer(r"\b(garbage_audit_\w+)(\{[^}]*\})?", e):
        if 'job="kga-custom"' not in (m.group(2) or ""):
            bad.append(f"selector missing on {m.group(0)!r} in {e!r}")
    for g in re.finditer(r"\b(?:by|on)\s*\(([^)]*)\)", e):
        labels = [x.strip() for x in g.group(1).split(",")]
        if "cluster" in labels or "k8s_cluster" not in labels:
            bad.append(f"cluster label not configured in {g.group(0)!r}")
for r in rules:
    if not r["annotations"]["runbook_url"].startswith("https://runbooks.example/kga/"):
        bad.append(f"{r['alert']}: runbook_url ignores runbookURLBase")
    text = json.dumps(r["annotations"])
    if "$labels.cluster " in text or "$labels.cluster}" in text:
        bad.append(f"{r['alert']}: annotations still read $labels.cluster")
fors = {r["alert"]: r["for"] for r in rules}
if fors["KubeNamespaceStuckTerminating"] != "42m":
    bad.append("findingFor not applied")
if "> 1800" not in next(r["expr"] for r in rules if r["alert"] == "GarbageAuditScanFailing"):
    bad.append("scanFailingAfterSeconds not applied")
if doc["dashboard"]["uid"] != "kga-custom":
    bad.append("dashboardUid not applied")
for b in bad:
    print("CONFIG:", b)
sys.exit(1 if bad else 0)
PY

if [ "$failed" -ne 0 ]; then
  echo "mixin: FAILED"
  exit 1
fi
echo "mixin: ok ($RULES and $DASHBOARD match mixin/; _config overrides reach every query)"
