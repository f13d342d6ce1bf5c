#!/usr/bin/env bash
# Proves the artifact checkers can fail: each case breaks a copy of an artifact and expects the
# checker to reject it. Run by scripts/check-artifacts.sh; prints `negative: N cases rejected`.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bad=0
n=0
expect_fail() {
  local name=$1
  shift
  n=$((n + 1))
  if "$@" >"$T/out" 2>&1; then
    echo "NOT REJECTED: $name"
    bad=$((bad + 1))
  elif [ "${NEGATIVE_VERBOSE:-0}" = 1 ]; then
    echo "rejected: $name: $(grep -m1 -iE 'fail|error|drift' "$T/out")"
  fi
}

kubectl kustomize deploy/overlays/prometheus-operator >"$T/good.yaml" || exit 1
python3 - "$T" <<'PY' || exit 1
import sys, yaml
t = sys.argv[1]
def mutate(name, fn):
    docs = list(yaml.safe_load_all(open(f"{t}/good.yaml")))
    for d in docs:
        fn(d)
    yaml.safe_dump_all(docs, open(f"{t}/{name}.yaml", "w"))
def write_verb(d):
    if d["kind"] == "ClusterRole":
        d["rules"][0]["verbs"].append("delete")
def unknown_field(d):
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilegd"] = True
def root_user(d):
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0
def drifted_rule(d):
    if d["kind"] == "PrometheusRule":
        d["spec"]["groups"][0]["rules"][0]["expr"] = "vector(1)"
for f in (write_verb, unknown_field, root_user, drifted_rule):
    mutate(f.__name__, f)
PY
for c in write_verb unknown_field root_user drifted_rule; do
  expect_fail "manifests: $c" python3 tests/artifacts/check_manifests.py 1.33.0 "$T/$c.yaml"
done

# A misspelt dashboard field must fail the schema type check.
mkdir -p "$T/dash/dashboards"
cp -r dashboards/check "$T/dash/dashboards/check"
sed 's/"refresh": "1m"/"refresh": "1m", "refrsh": "1m"/' dashboards/kube-garbage-audit.json >"$T/dash/dashboards/kube-garbage-audit.json"
expect_fail "dashboard: unknown field" bash -c "cd '$T/dash/dashboards/check' && node generate-ts.mjs && npx tsc --noEmit -p ."

# An undocumented metric name must fail the metric-name check (copy of the tree's artifacts).
mkdir -p "$T/m/tests" "$T/m/docs" "$T/m/alerts"
cp -r tests/artifacts "$T/m/tests/" && cp docs/metrics.md "$T/m/docs/" && mkdir -p "$T/m/dashboards"
sed 's/garbage_audit_gc_blocked_objects) > 0/garbage_audit_gc_blocked_object) > 0/' alerts/garbage-audit.rules.yaml >"$T/m/alerts/garbage-audit.rules.yaml"
expect_fail "metric names: typo" python3 "$T/m/tests/artifacts/promql.py" metric-names

# A PromQL syntax error must fail the parse check.
sed 's/sum by (cluster, resource) (garbage_audit_uncollectable_orphans) > 0/sum by (cluster, resource (garbage_audit_uncollectable_orphans) > 0/' \
  alerts/garbage-audit.rules.yaml >"$T/m/alerts/garbage-audit.rules.yaml"
expect_fail "promql: syntax error" bash -c "python3 '$T/m/tests/artifacts/promql.py' parse-file '$T/e.yaml' && promtool check rules --lint=none '$T/e.yaml'"

if [ "$bad" -gt 0 ]; then
  echo "negative: $bad of $n broken artifacts were NOT rejected"
  exit 1
fi
echo "negative: $n broken artifacts rejected by their checkers"
