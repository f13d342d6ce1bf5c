#!/usr/bin/env bash
# The project's test command: everything the project tests, in one go.
#   0. The real control plane (etcd, kube-apiserver, kube-controller-manager) built from the
#      Kubernetes Go modules (scripts/control-plane.sh build; reused when already built)
#   1. Rust unit + integration tests (kube-sim, the auditor against kube-sim, kubectl fidelity,
#      and tests/real_cluster.rs: the auditor against the real control plane)
#   2. Static checks of alerts, dashboards and deploy manifests (promtool, tsc, kustomize, ...)
#   3. End-to-end: demo + real Prometheus + real Alertmanager
# Tools it needs are installed when running as root on Debian; otherwise it fails naming them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus, Alertmanager, promtool, Node.js packages and Python packages are installed (as root
# on Debian) or named by scripts/check-artifacts.sh and scripts/e2e-prometheus.sh themselves.
command -v kubectl >/dev/null 2>&1 || { echo "test.sh: kubectl (v1.32 or newer) is required for the fidelity tests; install it and re-run" >&2; exit 2; }
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo (Rust 1.89 or newer) is required" >&2; exit 2; }
# The real-cluster suite is never skipped: without Go it fails here, naming what to install.
command -v go >/dev/null 2>&1 || { echo "test.sh: Go >= 1.26 with access to a Go module proxy is required to build the real control plane for tests/real_cluster.rs (install Go; GOPROXY must reach k8s.io/kubernetes)" >&2; exit 2; }
for tool in openssl curl python3 jq ss pgrep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test.sh: $tool is required (control-plane.sh, tests/docs.rs)" >&2; exit 2; }
done

echo "== real control plane (build or reuse)"
started=$(date +%s)
bash scripts/control-plane.sh build >/dev/null
echo "control plane binaries ready in $(( $(date +%s) - started )) s"

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== lean release build (--no-default-features: no kube-sim)"
bash scripts/check-lean-build.sh

echo "== artifacts (alerts, dashboards, mixin, deploy, Helm chart, krew manifest)"
bash scripts/check-artifacts.sh

echo "== Helm chart installed into the real control plane"
helm_cp=$(mktemp -d)
trap 'bash scripts/control-plane.sh down "$helm_cp" >/dev/null 2>&1 || true; rm -rf "$helm_cp"' EXIT
bash scripts/control-plane.sh up "$helm_cp" >/dev/null
bash scripts/check-helm.sh --install "$helm_cp/admin.kubeconfig"
bash scripts/control-plane.sh down "$helm_cp" >/dev/null

echo "== end-to-end with Prometheus and Alertmanager"
cargo build --workspace --locked --bins
GARBAGE_AUDIT_BIN="$PWD/target/debug/kube-garbage-audit" bash scripts/e2e-prometheus.sh

echo "== fuzzing every parser of outside input (cargo fuzz, 60 s per target)"
bash scripts/fuzz.sh 60

echo "== CI outputs (scan -o sarif against the SARIF 2.1.0 schema, -o junit)"
bash scripts/check-ci-outputs.sh
