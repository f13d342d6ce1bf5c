#!/usr/bin/env bash
# The project's test command: everything the project tests, in one go.
#   1. Rust unit + integration tests (kube-sim, the auditor against kube-sim, kubectl fidelity)
#   2. Static checks of alerts, dashboards and deploy manifests (promtool, tsc, kustomize, ...)
#   3. End-to-end: demo + real Prometheus + real Alertmanager
# Tools it needs are installed when running as root on Debian; otherwise it fails naming them.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { # need TOOL DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing $2 for $1"
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 is required: install the Debian package '$2'" >&2; exit 2; }
}

need kubectl kubectl
need cargo cargo

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== artifacts (alerts, dashboards, deploy)"
bash scripts/check-artifacts.sh

echo "== end-to-end with Prometheus and Alertmanager"
cargo build --workspace --locked --bins
GARBAGE_AUDIT_BIN="$PWD/target/debug/kube-garbage-audit" bash scripts/e2e-prometheus.sh
