#!/usr/bin/env bash
# Builds (once) and prints the path of a Go command pinned by one of the test-only modules in
# tools/<module>/go.mod (its `tool` directives), e.g.
#
#   helm=$(bash scripts/go-tool.sh helm helm.sh/helm/v3/cmd/helm)
#
# The binary is cached under ${KGA_TOOLS_CACHE:-~/.cache/kube-garbage-audit/tools}/<module>-<hash of
# go.mod+go.sum>/, so a warm call costs nothing and a change of the pinned version rebuilds. Needs
# Go >= 1.24 (the `tool` directive) and a Go module proxy. Test tooling only: nothing the product
# ships depends on it.
set -euo pipefail

die() { echo "go-tool.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: go-tool.sh MODULE_DIR_UNDER_tools PACKAGE"
module=$1 pkg=$2
REPO="$(cd "$(dirname "$0")/.." && pwd)"
dir="$REPO/tools/$module"
[ -f "$dir/go.mod" ] || die "no tools/$module/go.mod"
grep -qF "$pkg" "$dir/go.mod" || die "$pkg is not a tool of tools/$module/go.mod"

hash="$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-12)"
out="${KGA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-garbage-audit/tools}/$module-$hash"
bin="$out/${pkg##*/}"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go >= 1.24 is required to build ${pkg##*/} (tools/$module/go.mod) and a Go module proxy must be reachable"
started=$(date +%s)
echo "go-tool.sh: building ${pkg##*/} from tools/$module/go.mod" >&2
mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
(cd "$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/" "$pkg") >&2 \
  || { rm -rf "$tmp"; die "building $pkg failed: (cd tools/$module && go build $pkg)"; }
mv "$tmp/${pkg##*/}" "$bin"
rm -rf "$tmp"
echo "go-tool.sh: built ${pkg##*/} in $(( $(date +%s) - started )) s" >&2
echo "$bin"
