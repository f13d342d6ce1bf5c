#!/usr/bin/env bash
# `scan -o sarif` and `scan -o junit` as a CI job consumes them, from the real binary against
# kube-sim (scenario aibrix, with and without an unavailable API group):
#   - every SARIF log validates against the OASIS SARIF 2.1.0 JSON schema (the schema file ships in
#     the npm package @microsoft/jest-sarif; validated with ajv, tests/sarif/), and a broken log is
#     rejected;
#   - the JUnit XML parses, has one test case per check and one failure per SARIF result, its
#     counts add up, and discovery failures are errors, not failures;
#   - the exit statuses are the documented ones (1 findings) in every format.
# Binaries: $GARBAGE_AUDIT_BIN and $KUBE_SIM_BIN, else target/debug/{kube-garbage-audit,kube-sim}
# (built when missing). Cost: ~5 s, plus `npm ci` in tests/sarif the first time (~2 s, 27 packages).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bin=${GARBAGE_AUDIT_BIN:-$ROOT/target/debug/kube-garbage-audit}
sim=${KUBE_SIM_BIN:-$ROOT/target/debug/kube-sim}
if [ ! -x "$bin" ] || [ ! -x "$sim" ]; then
  cargo build --locked --quiet --bin kube-garbage-audit --bin kube-sim
fi
for tool in node npm python3; do
  command -v "$tool" >/dev/null || { echo "check-ci-outputs: $tool is required (apt-get install nodejs npm python3)"; exit 1; }
done
npm_ok() {
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  (cd tests/sarif && node -e '
    const pkg = require("./package.json");
    for (const [name, want] of Object.entries(pkg.devDependencies)) {
      if (require(`./node_modules/${name}/package.json`).version !== want) process.exit(1);
    }' 2>/dev/null)
}
if ! npm_ok; then
  (cd tests/sarif && npm ci --no-audit --no-fund --loglevel=error) >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start_sim NAME ARGS...: a kube-sim on a free loopback port; its kubeconfig is $work/NAME.kubeconfig.
start_sim() {
  local name=$1
  shift
  "$sim" --scenario aibrix --kubeconfig-out "$work/$name.kubeconfig" "$@" >"$work/$name.sim.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do [ -s "$work/$name.kubeconfig" ] && return 0; sleep 0.1; done
  echo "check-ci-outputs: kube-sim ($name) did not start:"
  cat "$work/$name.sim.log"
  exit 1
}

# scan NAME FORMAT [ARGS...]: runs scan -o FORMAT, keeps stdout in $work/NAME.FORMAT, checks exit 1.
scan() {
  local name=$1 format=$2
  shift 2
  local code=0
  "$bin" scan -o "$format" --kubeconfig "$work/$name.kubeconfig" --log-level=error "$@" \
    >"$work/$name.$format" 2>"$work/$name.$format.err" || code=$?
  if [ "$code" -ne 1 ]; then
    echo "FAIL scan -o $format ($name) exited $code, want 1 (findings):"
    cat "$work/$name.$format.err"
    exit 1
  fi
}

start_sim aibrix
start_sim degraded --fail-discovery metrics.k8s.io/v1beta1
for name in aibrix degraded; do
  scan "$name" sarif --stuck-objects
  scan "$name" junit --stuck-objects
done

node tests/sarif/validate-sarif.mjs "$work/aibrix.sarif" "$work/degraded.sarif"

python3 - "$work/aibrix.sarif" "$work/bad.sarif" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
log["runs"][0]["results"][0]["level"] = "fatal"
del log["runs"][0]["tool"]["driver"]["name"]
json.dump(log, open(sys.argv[2], "w"))
PY
if node tests/sarif/validate-sarif.mjs "$work/bad.sarif" >"$work/bad.out" 2>&1; then
  echo "FAIL the SARIF validator accepted a log with level \"fatal\" and no driver name"
  exit 1
fi

python3 - "$work" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
work = sys.argv[1]
bad = []
for name in ("aibrix", "degraded"):
    sarif = json.load(open(os.path.join(work, name + ".sarif")))
    results = sarif["runs"][0]["results"]
    root = ET.parse(os.path.join(work, name + ".junit")).getroot()
    cases = root.findall("./testsuite/testcase")
    failures = root.findall("./testsuite/testcase/failure")
    errors = root.findall("./testsuite/testcase/error")
    if len(cases) != 21:
        bad.append(f"{name}: {len(cases)} test cases, want 21 (one per check)")
    if len(failures) != len(results):
        bad.append(f"{name}: {len(failures)} JUnit failures vs {len(results)} SARIF results")
    if sorted(f.get("type") for f in failures) != sorted(r["ruleId"] for r in results):
        bad.append(f"{name}: failure types differ from SARIF rule ids")
    for suite in root.findall("testsuite"):
        n_fail = sum(1 for c in suite.findall("testcase") if c.find("failure") is not None)
        if int(suite.get("tests")) != len(suite.findall("testcase")) or int(suite.get("failures")) != n_fail:
            bad.append(f"{name}: suite {suite.get('name')} counts do not add up")
    if int(root.get("failures")) != sum(int(s.get("failures")) for s in root.findall("testsuite")):
        bad.append(f"{name}: testsuites failures do not add up")
    discovery_errors = [e for e in errors if "metrics.k8s.io/v1beta1" in (e.get("message") or "")]
    if (name == "degraded") != bool(discovery_errors):
        bad.append(f"{name}: discovery failure reported as error: {bool(discovery_errors)}")
    notes = sarif["runs"][0]["invocations"][0].get("toolExecutionNotifications", [])
    if (name == "degraded") != any("metrics.k8s.io/v1beta1" in n["message"]["text"] for n in notes):
        bad.append(f"{name}: SARIF notifications do not match the discovery state")
    print(f"{name}: {len(results)} SARIF results = {len(failures)} JUnit failures in {len(cases)} test cases, {len(errors)} errors")
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PY
echo "ci-outputs: SARIF schema-valid, JUnit consistent, exit statuses as documented"
