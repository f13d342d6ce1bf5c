#!/usr/bin/env bash
# The kubectl plugin's krew manifest, checked with krew itself (sigs.k8s.io/krew v0.4.3, built
# from tools/krew/go.mod by scripts/go-tool.sh):
#   1. package the binary as a release archive (kube-garbage-audit + LICENSE), render the manifest
#      with scripts/krew-manifest.sh, serve the archive on 127.0.0.1;
#   2. krew's validate-krew-manifest: structure, platforms, and a real `kubectl krew install` of
#      every platform from the served URI (sha256 checked, LICENSE extracted);
#   3. `kubectl krew install --manifest --archive` into a scratch KREW_ROOT, then
#      `kubectl garbage-audit --help` through kubectl's plugin mechanism.
# The binary: $GARBAGE_AUDIT_BIN, else target/debug/kube-garbage-audit (built if missing).
# Cost: ~20 s cold (krew build with a warm Go module cache), ~2 s warm.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bin=${GARBAGE_AUDIT_BIN:-$ROOT/target/debug/kube-garbage-audit}
if [ ! -x "$bin" ]; then
  cargo build --locked --quiet --bin kube-garbage-audit
fi
krew=$(bash scripts/go-tool.sh krew sigs.k8s.io/krew/cmd/krew)
validate=$(bash scripts/go-tool.sh krew sigs.k8s.io/krew/cmd/validate-krew-manifest)
command -v kubectl >/dev/null || { echo "check-krew: kubectl is required"; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
version=v$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)
mkdir -p "$work/pkg" "$work/www/$version" "$work/path"
cp "$bin" "$work/pkg/kube-garbage-audit"
cp LICENSE "$work/pkg/LICENSE"
archive="$work/www/$version/kube-garbage-audit-$version-linux-amd64.tar.gz"
# gzip -1: a debug binary is large, and compression ratio is not what is tested here.
tar -C "$work/pkg" -cf - kube-garbage-audit LICENSE | gzip -1 >"$archive"

# A loopback HTTP server for the archive (krew downloads what the manifest names).
python3 - "$work/www" "$work/port" <<'PY' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
open(sys.argv[2] + ".tmp", "w").write(str(srv.server_address[1]))
__import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
PY
server=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "check-krew: archive server did not start"; exit 1; }

manifest="$work/garbage-audit.yaml"
KREW_DOWNLOAD_BASE="http://127.0.0.1:$(cat "$work/port")" \
  bash scripts/krew-manifest.sh "$version" "linux/amd64=$archive" >"$manifest"
ln -s "$krew" "$work/path/kubectl-krew"
export PATH="$work/path:$PATH"

if ! "$validate" -manifest "$manifest" >"$work/validate.log" 2>&1; then
  echo "FAIL validate-krew-manifest:"
  sed 's/^/  /' "$work/validate.log" | grep -v '^  \(goroutine\|\t\|k8s.io/klog\|main\.\|created by\)' | head -20
  exit 1
fi

# ... and it must notice a manifest whose digest does not match the archive.
mkdir -p "$work/bad"
sed -E 's/sha256: [0-9a-f]{64}/sha256: '"$(printf '0%.0s' $(seq 64))"'/' "$manifest" >"$work/bad/garbage-audit.yaml"
if "$validate" -manifest "$work/bad/garbage-audit.yaml" >"$work/bad.log" 2>&1; then
  echo "FAIL validate-krew-manifest accepted a manifest with a wrong sha256"
  exit 1
fi

export KREW_ROOT="$work/krew-root"
kubectl krew install --manifest="$manifest" --archive="$archive" >"$work/install.log" 2>&1 \
  || { echo "FAIL kubectl krew install:"; cat "$work/install.log"; exit 1; }
export PATH="$KREW_ROOT/bin:$PATH"
help=$(kubectl garbage-audit scan --help 2>&1) || { echo "FAIL kubectl garbage-audit scan --help: $help"; exit 1; }
grep -q "Usage: kubectl garbage-audit scan" <<<"$help" || { echo "FAIL plugin help does not name kubectl garbage-audit: $help"; exit 1; }
echo "krew: manifest valid (krew's validator, $(awk '$1 == "sigs.k8s.io/krew" {print $2}' tools/krew/go.mod)), installs, runs as kubectl garbage-audit"
