#!/usr/bin/env bash
# Functions here run through step/fatal/trap, which shellcheck cannot follow:
# shellcheck disable=SC2317
# End-to-end test of the alerting path: daemon (demo) -> real Prometheus -> real Alertmanager ->
# webhook, then a kubectl fix and the alert's resolution; plus every dashboard query and every
# metric name against the live data. Everything listens on 127.0.0.1 only and is killed on exit.
#
#   GARBAGE_AUDIT_BIN   the daemon binary (default target/debug/kube-garbage-audit)
#   E2E_WAIT_SECONDS    bound of each wait (default 90)
#   E2E_KEEP=1          keep the temp dir (configs, logs, webhook deliveries) for inspection
#
# The shipped rules wait 15m (`for:`) and keep firing 5m (`keep_firing_for:`); this test loads a
# COPY of them with both set to 2s (tests/artifacts/e2e.py shorten-for) so that pending -> firing
# -> resolved can be observed in seconds.
# Expressions, labels and annotations are the shipped ones.
#
# Needs: prometheus + promtool (apt-get install prometheus), /usr/bin/prometheus-alertmanager
# (apt-get install prometheus-alertmanager), kubectl, python3 with PyYAML. Installs the Debian
# packages when run as root; otherwise names what is missing.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

BIN=${GARBAGE_AUDIT_BIN:-target/debug/kube-garbage-audit}
WAIT=${E2E_WAIT_SECONDS:-90}
ALERTMANAGER=${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}
E2E_FOR=2s
HELPER=tests/artifacts/e2e.py

passed=0
failed=0
pids=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kga-e2e.XXXXXX")

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

have() { command -v "$1" >/dev/null 2>&1; }

finish() {
  echo "e2e: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# step NAME COMMAND...: a counted assertion.
step() {
  local name=$1
  shift
  if "$@" >"$TMP/step.out" 2>&1; then
    passed=$((passed + 1))
    printf 'PASS  %-60s %s\n' "$name" "$(grep -v '^[[:space:]]*$' "$TMP/step.out" | tail -n 1 | cut -c1-110)"
    return 0
  fi
  failed=$((failed + 1))
  printf 'FAIL  %s\n' "$name"
  sed 's/^/      /' "$TMP/step.out" | tail -n 40
  return 1
}

# fatal NAME COMMAND...: a counted assertion the rest depends on; stops the run when it fails.
fatal() {
  step "$@" || { dump_logs; finish; }
}

dump_logs() {
  local f
  for f in "$TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $(basename "$f")"
    tail -n 15 "$f"
  done
}

# --- prerequisites -------------------------------------------------------------------------------
if [ ! -x "$BIN" ]; then
  echo "e2e: daemon binary $BIN not found or not executable."
  echo "     Build it with 'cargo build -p kube-garbage-audit', or point GARBAGE_AUDIT_BIN at it."
  failed=1
  finish
fi
missing=()
if ! have prometheus || ! have promtool || [ ! -x "$ALERTMANAGER" ]; then
  if [ "$(id -u)" -eq 0 ] && have apt-get; then
    echo "installing (apt): prometheus prometheus-alertmanager"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager; } >"$TMP/apt.log" 2>&1 \
      || tail -20 "$TMP/apt.log"
  fi
  have prometheus && have promtool || missing+=("prometheus + promtool: apt-get install prometheus")
  [ -x "$ALERTMANAGER" ] || missing+=("$ALERTMANAGER: apt-get install prometheus-alertmanager")
fi
have kubectl || missing+=("kubectl")
python3 -c 'import yaml' 2>/dev/null || missing+=("python3 with PyYAML: pip install PyYAML")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "e2e: missing tools:"
  printf '  - %s\n' "${missing[@]}"
  failed=1
  finish
fi

port() { python3 "$HELPER" free-port; }
DAEMON_PORT=$(port)
PROM_PORT=$(port)
AM_PORT=$(port)
HOOK_PORT=$(port)
FIXTURE_PORT=$(port)
DAEMON=http://127.0.0.1:$DAEMON_PORT
PROM=http://127.0.0.1:$PROM_PORT
AM=http://127.0.0.1:$AM_PORT
HOOK_FILE=$TMP/webhook.jsonl
mkdir -p "$TMP/home" "$TMP/prometheus-data" "$TMP/alertmanager-data"

# --- daemon (demo: in-process simulated API server, aibrix scenario) ------------------------------
"$BIN" demo --listen "127.0.0.1:$DAEMON_PORT" --interval 2s --stuck-objects \
  --kubeconfig-out "$TMP/kubeconfig" >"$TMP/daemon.log" 2>&1 &
pids+=($!)

daemon_kubeconfig() {
  local i line
  for ((i = 0; i < WAIT; i++)); do
    line=$(grep -m1 -o 'export KUBECONFIG=[^[:space:]]*' "$TMP/daemon.log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      KUBECONFIG_PATH=${line#export KUBECONFIG=}
      [ -s "$KUBECONFIG_PATH" ] && { echo "KUBECONFIG=$KUBECONFIG_PATH"; return 0; }
    fi
    kill -0 "${pids[0]}" 2>/dev/null || { echo "the daemon exited"; return 1; }
    sleep 1
  done
  echo "no 'export KUBECONFIG=<path>' line in the demo's output within ${WAIT}s"
  return 1
}
KUBECONFIG_PATH=
fatal "demo prints its kubeconfig" daemon_kubeconfig
KUBECONFIG_PATH=$(grep -m1 -o 'export KUBECONFIG=[^[:space:]]*' "$TMP/daemon.log")
KUBECONFIG_PATH=${KUBECONFIG_PATH#export KUBECONFIG=}
fatal "daemon /metrics serves garbage_audit_build_info" python3 "$HELPER" wait-http "$DAEMON/metrics" "$WAIT" garbage_audit_build_info
fatal "daemon /readyz turns 200 after the first scan" python3 "$HELPER" wait-http "$DAEMON/readyz" "$WAIT"

# --- Alertmanager with a loopback webhook receiver ------------------------------------------------
python3 "$HELPER" webhook "$HOOK_PORT" "$HOOK_FILE" >"$TMP/webhook.log" 2>&1 &
pids+=($!)
cat >"$TMP/alertmanager.yml" <<YAML
route:
  receiver: webhook
  group_by: [alertname, cluster, namespace, reason, resource, scanner, group_version]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:$HOOK_PORT/
        send_resolved: true
YAML
"$ALERTMANAGER" --config.file="$TMP/alertmanager.yml" --storage.path="$TMP/alertmanager-data" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$TMP/alertmanager.log" 2>&1 &
pids+=($!)
fatal "alertmanager ready" python3 "$HELPER" wait-http "$AM/-/ready" "$WAIT"

# --- Prometheus with the shipped rules (for: shortened) -------------------------------------------
# The fixture: one cluster-scoped problem that no alert selects (no gc_blocked series).
mkdir -p "$TMP/fixture"
cat >"$TMP/fixture/metrics" <<'PROM'
garbage_audit_owner_reference_problem_info{name="e2e-fixture-clusterrole",namespace="",owner_api_version="v1",owner_kind="ConfigMap",reason="NamespacedOwnerOfClusterScoped",resource="clusterroles.rbac.authorization.k8s.io",suggested_kind=""} 1
PROM
python3 -m http.server "$FIXTURE_PORT" --bind 127.0.0.1 --directory "$TMP/fixture" >"$TMP/fixture.log" 2>&1 &
pids+=($!)
HONOR_LABELS=
fatal "ServiceMonitor sets honorLabels: true (read for the scrape config)" python3 "$HELPER" servicemonitor-honor-labels \
  deploy/overlays/prometheus-operator/servicemonitor.yaml
HONOR_LABELS=$(python3 "$HELPER" servicemonitor-honor-labels deploy/overlays/prometheus-operator/servicemonitor.yaml)
fatal "e2e copy of the rules (for: $E2E_FOR)" python3 "$HELPER" shorten-for alerts/garbage-audit.rules.yaml "$TMP/rules.yaml" "$E2E_FOR"
cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $TMP/rules.yaml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$AM_PORT']
scrape_configs:
  # Mimics what prometheus-operator generates from deploy/overlays/prometheus-operator's
  # ServiceMonitor: job = the Service's name (GarbageAuditAbsent: job=~".*garbage-audit.*"), the
  # target labels namespace/pod/service/endpoint/container of the daemon's pod, and honor_labels
  # taken from the ServiceMonitor (honorLabels). Without honor_labels the daemon's own namespace
  # label (the namespace a finding is about) would become exported_namespace and every alert
  # would name kube-garbage-audit.
  - job_name: kube-garbage-audit
    honor_labels: $HONOR_LABELS
    static_configs:
      - targets: ['127.0.0.1:$DAEMON_PORT']
        labels:
          namespace: kube-garbage-audit
          pod: kube-garbage-audit-5d8f7c9b6d-x2x7q
          service: kube-garbage-audit
          endpoint: metrics
          container: kube-garbage-audit
  # A fixed /metrics body with a cluster-scoped finding (namespace=""), scraped the same way: with
  # honor_labels its namespace must stay empty, not become the target's kube-garbage-audit.
  - job_name: honor-labels-fixture
    honor_labels: $HONOR_LABELS
    static_configs:
      - targets: ['127.0.0.1:$FIXTURE_PORT']
        labels:
          namespace: kube-garbage-audit
          pod: fixture
YAML
fatal "promtool check config" promtool check config "$TMP/prometheus.yml"
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prometheus-data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --rules.alert.resend-delay=1s >"$TMP/prometheus.log" 2>&1 &
pids+=($!)
fatal "prometheus ready" python3 "$HELPER" wait-http "$PROM/-/ready" "$WAIT"
fatal "prometheus scrapes the daemon (up == 1)" python3 "$HELPER" wait-query "$PROM" 'up{job="kube-garbage-audit"} == 1' "$WAIT"
step "findings keep the daemon's namespace label (honor_labels), target labels attached" \
  python3 "$HELPER" wait-query "$PROM" 'garbage_audit_namespace_stuck{namespace="aibrix-system", pod!="", service="kube-garbage-audit", endpoint="metrics", container!=""}' "$WAIT"
step "no exported_namespace label anywhere" python3 "$HELPER" expect-empty "$PROM" '{exported_namespace!=""}'
step "cluster-scoped finding keeps an empty namespace" \
  python3 "$HELPER" wait-query "$PROM" 'garbage_audit_owner_reference_problem_info{name="e2e-fixture-clusterrole", namespace=""}' "$WAIT"

# --- alerts reach Alertmanager's webhook ----------------------------------------------------------
step "KubeNamespaceStuckTerminating firing (aibrix-system, FinalizersRemaining)" \
  python3 "$HELPER" wait-webhook "$HOOK_FILE" KubeNamespaceStuckTerminating firing "$WAIT" \
  namespace=aibrix-system severity=warning 'summary~(FinalizersRemaining)' \
  'summary~adapter.model.aibrix.ai/finalizer' 'summary~modeladapters.model.aibrix.ai'
step "KubeOwnerReferenceUnresolvable firing (HPAs, KindCaseMismatch)" \
  python3 "$HELPER" wait-webhook "$HOOK_FILE" KubeOwnerReferenceUnresolvable firing "$WAIT" \
  resource=horizontalpodautoscalers.autoscaling reason=KindCaseMismatch severity=warning \
  'description~llm-serving/llama-3-8b-hpa' 'description~llm-serving/mistral-7b-hpa' 'description~PodAutoscaler'
step "KubeOrphanNotCollectable firing (mistral-7b-hpa's owner is gone)" \
  python3 "$HELPER" wait-webhook "$HOOK_FILE" KubeOrphanNotCollectable firing "$WAIT" \
  resource=horizontalpodautoscalers.autoscaling severity=warning

# --- dashboards and metric names against live data (before the fix changes the picture) -----------
step "every dashboard query returns data (or is allowed empty)" python3 "$HELPER" dashboard-queries "$PROM"
curl_metrics() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "$DAEMON/metrics" >"$TMP/metrics.txt" && python3 tests/artifacts/promql.py metric-names "$TMP/metrics.txt"
}
step "every metric name used is exported by the live daemon" curl_metrics
step "dashboard \$namespace variable lists the findings' namespaces" \
  python3 "$HELPER" label-values "$PROM" namespace \
  '{__name__=~"garbage_audit_namespace_terminating_seconds|garbage_audit_owner_reference_problem_info"}' \
  aibrix-system llm-serving '!kube-garbage-audit'
step "health alerts neither pending nor firing on a healthy demo (sampled 10s)" \
  python3 "$HELPER" not-firing "$PROM" 10 GarbageAuditAbsent GarbageAuditScanFailing GarbageAuditScanPartial GarbageAuditDiscoveryFailing

# --- fix the namespace with kubectl, the alert resolves -------------------------------------------
fix_namespace() {
  HOME="$TMP/home" KUBECONFIG="$KUBECONFIG_PATH" kubectl patch modeladapter qwen-code-lora -n aibrix-system \
    --type=json -p '[{"op":"test","path":"/metadata/finalizers/0","value":"adapter.model.aibrix.ai/finalizer"},{"op":"remove","path":"/metadata/finalizers/0"}]'
}
step "kubectl removes only the dead finalizer (guarded JSON patch)" fix_namespace
step "KubeNamespaceStuckTerminating resolved at the webhook" \
  python3 "$HELPER" wait-webhook "$HOOK_FILE" KubeNamespaceStuckTerminating resolved "$WAIT" \
  namespace=aibrix-system
step "KubeOwnerReferenceUnresolvable still firing (not fixed)" \
  python3 "$HELPER" wait-query "$PROM" 'ALERTS{alertname="KubeOwnerReferenceUnresolvable", alertstate="firing"}' "$WAIT"

if [ "$failed" -gt 0 ]; then
  dump_logs
fi
finish
