#!/usr/bin/env bash
# A real Kubernetes control plane for the tests: etcd, kube-apiserver and kube-controller-manager
# (namespace controller + garbage collector only), built from the Kubernetes Go modules pinned in
# test-cluster/go.mod. Test tooling only: nothing here is part of the product.
#
#   scripts/control-plane.sh build        build (or reuse) the binaries; prints their directory
#   scripts/control-plane.sh up DIR       build if needed, start all three on free loopback ports,
#                                         wait until /readyz is ok and both controllers run; writes
#                                         DIR/admin.kubeconfig, DIR/auditor.kubeconfig, the logs and
#                                         DIR/audit.log (every API request, metadata level)
#   scripts/control-plane.sh down DIR     stop everything `up DIR` started
#
# KGA_APISERVER_ARGS="--flag=value ..." adds flags to kube-apiserver (whitespace-separated), e.g.
# a fast etcd compaction or low in-flight limits for a plane that produces API faults.
#
# Nothing listens beyond 127.0.0.1. The binaries are cached under
# ${KGA_CONTROL_PLANE_CACHE:-~/.cache/kube-garbage-audit/control-plane}/<version>-<go.sum hash>/,
# so a warm `up` does not rebuild; Go's own build and module caches make a rebuild cheap.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
MODULE="$REPO/test-cluster"
# The pinned release: kube-apiserver's /version reports it, like a release binary.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$MODULE/go.mod")"
[ -n "$K8S_VERSION" ] || K8S_VERSION="$(awk '/k8s.io\/kubernetes v/ {print $2; exit}' "$MODULE/go.mod")"

die() { echo "control-plane.sh: $*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null 2>&1 || die "Go >= 1.26 is required to build the test control plane (install Go and give it access to a Go module proxy); the real-cluster tests cannot run without it"
  local v
  v="$(go env GOVERSION | sed 's/^go//')"
  case "$v" in
    1.2[6-9]*|1.[3-9][0-9]*|[2-9].*) ;;
    *) die "Go >= 1.26 is required (found go$v)" ;;
  esac
}

cache_dir() {
  local hash
  hash="$(cat "$MODULE/go.mod" "$MODULE/go.sum" | sha256sum | cut -c1-12)"
  echo "${KGA_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-garbage-audit/control-plane}/$K8S_VERSION-$hash"
}

build() {
  local out; out="$(cache_dir)"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/etcd" ]; then
    echo "$out"; return 0
  fi
  need_go
  local minor major started
  major="$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')"
  minor="$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"
  started=$(date +%s)
  echo "control-plane.sh: building kube-apiserver, kube-controller-manager and etcd $K8S_VERSION (cold: ~20 min on 2 cores)" >&2
  mkdir -p "$out.tmp"
  local pkg="k8s.io/component-base/version"
  (cd "$MODULE" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
    -o "$out.tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager go.etcd.io/etcd/server/v3) \
    || die "building the control plane failed: (cd test-cluster && go build k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager go.etcd.io/etcd/server/v3)"
  mv "$out.tmp/server" "$out.tmp/etcd"
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "control-plane.sh: build took $(( $(date +%s) - started )) s" >&2
  echo "$out"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.2
  done
}

kubeconfig() { # FILE SERVER CA TOKEN USER
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test-control-plane
  cluster:
    server: $2
    certificate-authority: $3
users:
- name: $5
  user:
    token: $4
contexts:
- name: $5@test-control-plane
  context:
    cluster: test-control-plane
    user: $5
current-context: $5@test-control-plane
EOF
}

start() { # NAME LOG COMMAND...: starts COMMAND in the background, records its pid
  local name=$1 log=$2; shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

alive() { kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

fail_up() {
  echo "control-plane.sh: $*" >&2
  for f in etcd kube-apiserver kube-controller-manager; do
    [ -f "$DIR/$f.log" ] && { echo "--- last lines of $DIR/$f.log" >&2; tail -n 15 "$DIR/$f.log" >&2; }
  done
  down
  exit 1
}

up() {
  local started bin
  started=$(date +%s)
  bin="$(build)"
  local built=$(( $(date +%s) - started ))
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  [ -f "$DIR/kube-apiserver.pid" ] && alive kube-apiserver && die "$DIR already has a running control plane (run: $0 down $DIR)"
  command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
  command -v kubectl >/dev/null || die "kubectl is required"
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)

  mkdir -p "$DIR/etcd" "$DIR/pki"
  openssl genrsa -out "$DIR/pki/service-account.key" 2048 2>/dev/null
  local admin_token auditor_token
  admin_token="$(openssl rand -hex 16)"; auditor_token="$(openssl rand -hex 16)"
  # The auditor is the ServiceAccount deploy/base binds its ClusterRole to, as a static token user:
  # RBAC matches a ServiceAccount subject by that user name.
  cat >"$DIR/tokens.csv" <<EOF
$admin_token,admin,admin-uid,"system:masters"
$auditor_token,system:serviceaccount:kube-garbage-audit:kube-garbage-audit,auditor-uid,"system:serviceaccounts,system:serviceaccounts:kube-garbage-audit"
EOF

  start etcd "$DIR/etcd.log" "$bin/etcd" --name test --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "test=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
  wait_for 60 etcd curl -sf "http://127.0.0.1:$etcd_port/health" || fail_up "etcd did not become healthy"

  # Every request is audited (metadata only): tests prove from it which identity wrote what.
  cat >"$DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
EOF
  local extra_args=()
  read -r -a extra_args <<<"${KGA_APISERVER_ARGS:-}"
  start kube-apiserver "$DIR/kube-apiserver.log" "$bin/kube-apiserver" \
    --audit-policy-file "$DIR/audit-policy.yaml" --audit-log-path "$DIR/audit.log" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$DIR/pki" \
    --service-cluster-ip-range 10.96.0.0/24 \
    --endpoint-reconciler-type none \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$DIR/pki/service-account.key" \
    --service-account-signing-key-file "$DIR/pki/service-account.key" \
    --authorization-mode RBAC \
    --token-auth-file "$DIR/tokens.csv" \
    --disable-admission-plugins ServiceAccount \
    --v 1 ${extra_args[@]+"${extra_args[@]}"}
  local url="https://127.0.0.1:$api_port"
  local ca="$DIR/pki/apiserver.crt"
  wait_for 120 kube-apiserver curl -sf --cacert "$ca" "$url/readyz" \
    || fail_up "kube-apiserver did not answer /readyz ok within 120 s"
  kubeconfig "$DIR/admin.kubeconfig" "$url" "$ca" "$admin_token" admin
  kubeconfig "$DIR/auditor.kubeconfig" "$url" "$ca" "$auditor_token" kube-garbage-audit

  # The auditor gets exactly the project's own read-only RBAC, rendered from deploy/base.
  kubectl kustomize "$REPO/deploy/base" >"$DIR/rbac-all.yaml"
  python3 - "$DIR/rbac-all.yaml" "$DIR/rbac.yaml" <<'EOF'
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
keep = [d for d in docs if any(f"kind: {k}\n" in d for k in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"))]
open(sys.argv[2], "w").write("\n---\n".join(keep))
EOF
  HOME="$DIR" kubectl --kubeconfig "$DIR/admin.kubeconfig" apply -f "$DIR/rbac.yaml" >"$DIR/rbac-apply.log" 2>&1 \
    || fail_up "applying deploy/base RBAC failed: $(cat "$DIR/rbac-apply.log")"

  start kube-controller-manager "$DIR/kube-controller-manager.log" "$bin/kube-controller-manager" \
    --kubeconfig "$DIR/admin.kubeconfig" \
    --controllers namespace-controller,garbage-collector-controller \
    --leader-elect=false --use-service-account-credentials=false --secure-port 0 \
    --kube-api-qps 200 --kube-api-burst 400 \
    --v 2 --vmodule 'garbagecollector=5'
  wait_for 120 controllers grep -q "all resource monitors have synced" "$DIR/kube-controller-manager.log" \
    || fail_up "the garbage collector did not sync within 120 s"
  wait_for 30 controllers grep -q "Starting namespace controller" "$DIR/kube-controller-manager.log" \
    || fail_up "the namespace controller did not start within 30 s"
  for p in etcd kube-apiserver kube-controller-manager; do alive "$p" || fail_up "$p exited"; done

  cat >"$DIR/env" <<EOF
KUBE_APISERVER_URL=$url
KUBERNETES_VERSION=$K8S_VERSION
EOF
  echo "control-plane.sh: up in $DIR: $url ($K8S_VERSION); build ${built} s, start $(( $(date +%s) - started - built )) s"
  echo "  admin:   KUBECONFIG=$DIR/admin.kubeconfig"
  echo "  auditor: KUBECONFIG=$DIR/auditor.kubeconfig"
}

stop_one() { # NAME: SIGTERM its process group, then SIGKILL after 10 s
  local f="$DIR/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  [ -d "$DIR" ] || return 0
  stop_one kube-controller-manager
  stop_one kube-apiserver
  stop_one etcd
}

case "${1:-}" in
  build) build ;;
  up) [ $# -eq 2 ] || die "usage: $0 up DIR"; DIR="$2"; up ;;
  down) [ $# -eq 2 ] || die "usage: $0 down DIR"; DIR="$2"; down; echo "control-plane.sh: down: $DIR" ;;
  *) echo "usage: $0 build | up DIR | down DIR" >&2; exit 2 ;;
esac
