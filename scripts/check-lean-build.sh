#!/usr/bin/env bash
# The release/container build (`--no-default-features`) must contain neither the simulator nor
# anything only the simulator needs, and must still compile.
#
#   scripts/check-lean-build.sh           dependency-tree check + `cargo check` of the lean binary
#   scripts/check-lean-build.sh --tree    dependency-tree check only (no compilation)
#
# Cost: the tree check reads Cargo.lock only (< 1 s); `cargo check --no-default-features`
# re-checks k8s-openapi/kube without kube-sim's features (~1-2 min cold on 2 cores, ~1 s warm).
set -euo pipefail
cd "$(dirname "$0")/.."

tree=$(cargo tree --locked -e normal -p kube-garbage-audit --no-default-features --prefix none -f '{p} [{f}]')
bad=()
# Crates only kube-sim brings in, and the features it turns on in shared crates. (kube-runtime and
# json-patch are the daemon's own since the remediation queue: Events and JSON patches; fastrand
# comes with kube-runtime and jitters throttled retries. uuid is the daemon's own since listed
# objects keep 16-byte uids, but without the v4 generator kube-sim turns on.)
for crate in kube-sim schemars; do
  if grep -q "^$crate v" <<<"$tree"; then
    bad+=("$crate is in the lean dependency tree: $(cargo tree --locked -e normal -p kube-garbage-audit --no-default-features -i "$crate" 2>/dev/null | tail -n +2 | tr -s ' ' | head -c 300)")
  fi
done
if grep -E '^k8s-openapi v.*\[.*schemars' <<<"$tree" >/dev/null; then
  bad+=("k8s-openapi has kube-sim's schemars feature in the lean build")
fi
if grep -E '^uuid v.*\[.*v4' <<<"$tree" >/dev/null; then
  bad+=("uuid has kube-sim's v4 feature in the lean build")
fi
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'FAIL %s\n' "${bad[@]}"
  exit 1
fi
echo "lean tree: $(sort -u <<<"$tree" | wc -l) crates, no kube-sim, schemars, uuid's v4"

if [ "${1:-}" != "--tree" ]; then
  cargo check --locked --quiet -p kube-garbage-audit --no-default-features --bins
  echo "lean binary (--no-default-features) compiles"
fi
