#!/usr/bin/env bash
# Static checks of the non-Rust artifacts: alert rules, the generated PrometheusRule, the Grafana
# dashboard, the monitoring mixin they are generated from, the kustomize manifests, the Helm chart
# and the krew manifest. Exits non-zero if any check fails; the last line is
# `artifacts: N passed, M failed`.
#
# Tools: promtool (Debian `prometheus`), kubectl (with kustomize), python3 with PyYAML and
# kubernetes-validate, node + npm, Go >= 1.24 with a module proxy (helm, go-jsonnet and krew are
# built from tools/*/go.mod by scripts/go-tool.sh and cached under ~/.cache/kube-garbage-audit).
# Run as root on Debian and it installs what is missing (apt-get, pip, npm ci); otherwise it stops
# and names what to install. Optional extras (yamllint, shellcheck) are installed the same way when
# root, and reported as SKIP otherwise.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

# Pins: the Kubernetes version manifests are validated against (a version kubernetes-validate
# ships schemas for), and the Python packages (PyYAML also formats the generated PrometheusRule,
# so its version is part of the drift check).
K8S_VERSION=1.33.0
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3

passed=0
failed=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

apt_updated=0
apt_install() {
  if ! is_root || ! have apt-get; then
    return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    echo "installing (apt): $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; return 1; }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; return 1; }
}

python_ok() {
  python3 - "$KUBERNETES_VALIDATE_VERSION" "$PYYAML_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import yaml, kubernetes_validate  # noqa: F401
sys.exit(0 if version("kubernetes-validate") == sys.argv[1] and version("PyYAML") == sys.argv[2] else 1)
PY
}

npm_ok() {
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  node -e '
    const pkg = require("./package.json");
    for (const [name, want] of Object.entries(pkg.devDependencies)) {
      const have = require(`./node_modules/${name}/package.json`).version;
      if (have !== want) process.exit(1);
    }' 2>/dev/null
}

ensure_tools() {
  local missing=()
  if ! have promtool; then
    apt_install prometheus || missing+=("promtool: apt-get install prometheus")
  fi
  if ! have kubectl; then
    missing+=("kubectl (any release with the built-in kustomize, >= 1.14; not packaged by Debian)")
  fi
  if ! have go; then
    missing+=("go >= 1.24 and a Go module proxy (builds helm, jsonnet and krew from tools/*/go.mod)")
  fi
  if ! have python3; then
    apt_install python3 python3-pip || missing+=("python3: apt-get install python3 python3-pip")
  fi
  if have python3 && ! python_ok; then
    if is_root; then
      echo "installing (pip): kubernetes-validate==$KUBERNETES_VALIDATE_VERSION PyYAML==$PYYAML_VERSION"
      python3 -m pip install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION" >"$WORK/pip.log" 2>&1 \
        || python3 -m pip install -q --break-system-packages "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION" >>"$WORK/pip.log" 2>&1 \
        || cat "$WORK/pip.log"
    fi
    python_ok || missing+=("python packages: pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION PyYAML==$PYYAML_VERSION")
  fi
  if ! have node || ! have npm; then
    apt_install nodejs npm || missing+=("node >= 18 and npm: apt-get install nodejs npm")
  fi
  if have npm && ! (cd dashboards/check && npm_ok); then
    echo "installing (npm ci) in dashboards/check"
    (cd dashboards/check && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 || cat "$WORK/npm.log"
    (cd dashboards/check && npm_ok) || missing+=("npm packages: (cd dashboards/check && npm ci)")
  fi
  # Optional linters.
  have yamllint || apt_install yamllint || true
  have shellcheck || apt_install shellcheck || true
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "check-artifacts: missing tools; install them (or run as root on Debian to install automatically):" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "artifacts: 0 passed, 1 failed"
    exit 1
  fi
}

# check NAME COMMAND...: runs COMMAND, prints PASS/FAIL with its output on failure.
check() {
  local name=$1
  shift
  if "$@" >"$WORK/out" 2>&1; then
    passed=$((passed + 1))
    printf 'PASS  %-58s %s\n' "$name" "$(grep -v '^[[:space:]]*$' "$WORK/out" | tail -n 1 | cut -c1-100)"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$WORK/out" | tail -n 60
  fi
}

skip() {
  printf 'SKIP  %-58s %s\n' "$1" "$2"
}

# --- the checks ----------------------------------------------------------------------------------

promql_parse() {
  python3 tests/artifacts/promql.py parse-file "$WORK/exprs.rules.yaml" && promtool check rules --lint=none "$WORK/exprs.rules.yaml"
}

render() {
  local dir=$1 out=$2
  kubectl kustomize "$dir" >"$out" && [ -s "$out" ] && echo "rendered $dir: $(grep -c '^kind:' "$out") objects"
}

ensure_tools

check "promtool check rules (alerts/garbage-audit.rules.yaml)" promtool check rules alerts/garbage-audit.rules.yaml
check "promtool test rules (alerts/tests/*.yaml)" promtool test rules alerts/tests/*.yaml
check "runbook durations match the alert rules" python3 tests/artifacts/check_runbook_durations.py
check "every alert: labels, annotations, runbook, fire+silent tests" python3 tests/artifacts/check_alerts_dashboard.py alerts
check "PrometheusRule + dashboard copy in sync (alerts/generate.py)" python3 alerts/generate.py --check
check "dashboard type-checks against @grafana/schema (tsc)" bash -c 'cd dashboards/check && npm run --silent check'
check "dashboard structure (uid, variables, datasource, cluster)" python3 tests/artifacts/check_alerts_dashboard.py dashboard
check "every PromQL expression parses (promtool)" promql_parse
check "metric names used are in docs/metrics.md" python3 tests/artifacts/promql.py metric-names

renders=()
# deploy/components/* are kustomize Components: rendered through the test kustomizations in
# tests/artifacts/kustomize/ (with both components, and with a namespace override).
for dir in deploy/base deploy/overlays/*/ tests/artifacts/kustomize/*/; do
  dir=${dir%/}
  out="$WORK/$(echo "$dir" | tr '/' '_').yaml"
  check "kubectl kustomize $dir" render "$dir" "$out"
  [ -s "$out" ] && renders+=("$out")
done
if [ "${#renders[@]}" -gt 0 ]; then
  check "manifests valid (k8s $K8S_VERSION), read-only RBAC, hardened pod" \
    python3 tests/artifacts/check_manifests.py "$K8S_VERSION" "${renders[@]}"
fi

component_labels() {
  python3 - "$WORK/tests_artifacts_kustomize_kube-prometheus-stack.yaml" "$WORK/tests_artifacts_kustomize_namespace-override.yaml" <<'PY'
import sys, yaml
kps = list(yaml.safe_load_all(open(sys.argv[1])))
bad = []
for d in kps:
    rel = ((d.get("metadata") or {}).get("labels") or {}).get("release")
    want = "kube-prometheus-stack" if d["kind"] in ("ServiceMonitor", "PrometheusRule") else None
    if rel != want:
        bad.append(f"{d['kind']}: release={rel!r}, want {want!r}")
    if d["kind"] == "ServiceMonitor" and "release" in (d["spec"]["selector"].get("matchLabels") or {}):
        bad.append("ServiceMonitor selector got the release label (includeSelectors must be false)")
if not any(d["kind"] == "NetworkPolicy" for d in kps):
    bad.append("network-policy component rendered no NetworkPolicy")
ns = list(yaml.safe_load_all(open(sys.argv[2])))
for d in ns:
    n = (d.get("metadata") or {}).get("namespace")
    if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding") and n != "audit-system":
        bad.append(f"namespace override: {d['kind']} is in {n!r}")
    if d["kind"] == "ServiceMonitor" and (d["spec"].get("namespaceSelector") or {}).get("matchNames"):
        bad.append("namespace override: ServiceMonitor still pins namespaceSelector.matchNames")
    if d["kind"] == "ClusterRoleBinding" and d["subjects"][0]["namespace"] != "audit-system":
        bad.append("namespace override: ClusterRoleBinding subject not moved")
for b in bad:
    print("FAIL", b)
if bad:
    sys.exit(1)
print("release label on ServiceMonitor + PrometheusRule only; NetworkPolicy; namespace override follows")
PY
}
check "components: kube-prometheus-stack labels, namespace override" component_labels

check "checkers reject broken artifacts (tests/artifacts/negative.sh)" bash tests/artifacts/negative.sh

check "monitoring mixin renders alerts/ + dashboards/ (jsonnet)" bash scripts/check-mixin.sh
check "Helm chart: lint, template, schemas, = kustomize, RBAC" bash scripts/check-helm.sh
check "krew manifest: krew's validator, install, kubectl plugin" bash scripts/check-krew.sh

if have yamllint; then
  check "yamllint" yamllint -c tests/artifacts/yamllint.yaml alerts deploy tests/artifacts \
    charts/kube-garbage-audit/Chart.yaml charts/kube-garbage-audit/values.yaml
else
  skip "yamllint" "optional; apt-get install yamllint"
fi
if have shellcheck; then
  check "shellcheck scripts" shellcheck scripts/check-artifacts.sh scripts/e2e-prometheus.sh tests/artifacts/negative.sh \
    scripts/check-mixin.sh scripts/check-helm.sh scripts/check-krew.sh scripts/krew-manifest.sh scripts/go-tool.sh \
    scripts/check-lean-build.sh scripts/check-ci-outputs.sh
else
  skip "shellcheck" "optional; apt-get install shellcheck"
fi

echo "artifacts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
