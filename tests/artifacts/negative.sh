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
def wildcard_get(d):
    if d["kind"] == "ClusterRole":
        d["rules"][0]["verbs"].append("get")
def wildcard_watch(d):
    if d["kind"] == "ClusterRole":
        d["rules"][0]["verbs"].append("watch")
def no_honor_labels(d):
    if d["kind"] == "ServiceMonitor":
        d["spec"]["endpoints"][0].pop("honorLabels")
def pinned_namespace(d):
    if d["kind"] == "ServiceMonitor":
        d["spec"]["namespaceSelector"] = {"matchNames": ["kube-garbage-audit"]}
def bad_keep_firing_for(d):
    if d["kind"] == "PrometheusRule":
        d["spec"]["groups"][0]["rules"][0]["keep_firing_for"] = "five minutes"
for f in (write_verb, unknown_field, root_user, drifted_rule, wildcard_get, wildcard_watch,
          no_honor_labels, pinned_namespace, bad_keep_firing_for):
    mutate(f.__name__, f)
PY
for c in write_verb unknown_field root_user drifted_rule wildcard_get wildcard_watch no_honor_labels \
  pinned_namespace bad_keep_firing_for; do
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

# The promtool unit tests must catch regressions of the alert semantics they pin down.
mkdir -p "$T/a/alerts"
cp -r alerts/tests "$T/a/alerts/"
mutate_rules() {  # NAME SED-SCRIPT: promtool tests must fail against the mutated rules
  sed "$2" alerts/garbage-audit.rules.yaml >"$T/a/alerts/garbage-audit.rules.yaml"
  expect_fail "promtool tests: $1" bash -c "cd '$T/a' && promtool test rules alerts/tests/*.yaml"
}
mutate_rules "no keep_firing_for (restart gap resolves)" '/keep_firing_for/d'
mutate_rules "reason back in the alert identity" \
  's/max by (cluster, namespace) (garbage_audit_namespace_stuck)/max by (cluster, namespace, reason) (garbage_audit_namespace_stuck)/'
mutate_rules "discovery without max_over_time" \
  's/(max_over_time(garbage_audit_discovery_failed\[10m\]))/(garbage_audit_discovery_failed)/'
mutate_rules "scan failing on stale findings again" \
  's/time() - max by (cluster, job, instance, scanner) (garbage_audit_last_successful_scan_timestamp_seconds) > 900$/max by (cluster, job, instance, scanner) (garbage_audit_findings_stale) == 1/'
# (the rules file is generated: its one-line strings are double-quoted, so the quote is escaped)
# shellcheck disable=SC2016 # $labels is PromQL template text, not a shell expansion
mutate_rules "annotation query without cluster filter" 's/garbage_audit_namespace_blocking_objects{cluster=%q, namespace=%q}))\\" $labels.cluster/garbage_audit_namespace_blocking_objects{namespace=%q}))\\"/'
mutate_rules "global absent() instead of per cluster" 's/group by (cluster) (up)$/absent(up{job=~".*garbage-audit.*"} == 1)/'

# The structural check must notice an aggregation that drops `cluster`.
mkdir -p "$T/c/tests" "$T/c/docs" "$T/c/alerts" "$T/c/dashboards"
cp -r tests/artifacts "$T/c/tests/" && cp -r docs/runbooks "$T/c/docs/" && cp -r alerts/tests "$T/c/alerts/"
sed 's/sum by (cluster, resource) (garbage_audit_uncollectable_orphans)/sum by (resource) (garbage_audit_uncollectable_orphans)/' \
  alerts/garbage-audit.rules.yaml >"$T/c/alerts/garbage-audit.rules.yaml"
expect_fail "alerts: cluster dropped by an aggregation" python3 "$T/c/tests/artifacts/check_alerts_dashboard.py" alerts
sed 's/max by (cluster, instance, scanner) (garbage_audit_findings_stale/max by (scanner) (garbage_audit_findings_stale/' \
  dashboards/kube-garbage-audit.json >"$T/c/dashboards/kube-garbage-audit.json"
expect_fail "dashboard: cluster dropped by an aggregation" python3 "$T/c/tests/artifacts/check_alerts_dashboard.py" dashboard

if [ "$bad" -gt 0 ]; then
  echo "negative: $bad of $n broken artifacts were NOT rejected"
  exit 1
fi
echo "negative: $n broken artifacts rejected by their checkers"
