#!/usr/bin/env bash
# Prints the krew plugin manifest (plugins/garbage-audit.yaml in a krew index) for a release:
#
#   scripts/krew-manifest.sh VERSION OS/ARCH=ARCHIVE [OS/ARCH=ARCHIVE ...] > garbage-audit.yaml
#
# e.g. scripts/krew-manifest.sh v0.1.0 linux/amd64=dist/kube-garbage-audit-v0.1.0-linux-amd64.tar.gz
# Each ARCHIVE is a .tar.gz holding the lean binary `kube-garbage-audit` and LICENSE at its top level (scripts/check-krew.sh builds one); its sha256 goes into the manifest and its file name is
# appended to the release download URL. krew installs the binary as `kubectl-garbage_audit`, which
# kubectl runs for `kubectl garbage-audit`. The manifest's text is krew/garbage-audit.yaml with
# the platforms filled in.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 2 ] || { echo "usage: krew-manifest.sh VERSION OS/ARCH=ARCHIVE..." >&2; exit 2; }
version=$1
shift
case "$version" in v[0-9]*) ;; *) echo "krew-manifest.sh: VERSION must look like v0.1.0" >&2; exit 2 ;; esac
base="${KREW_DOWNLOAD_BASE:-https://github.com/kube-garbage-audit/kube-garbage-audit/releases/download}/$version"

platforms=""
for pair in "$@"; do
  platform=${pair%%=*} archive=${pair#*=}
  os=${platform%/*} arch=${platform#*/}
  [ -f "$archive" ] || { echo "krew-manifest.sh: no archive $archive" >&2; exit 2; }
  sha=$(sha256sum "$archive" | cut -d' ' -f1)
  platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $base/$(basename "$archive")
    sha256: $sha
    bin: kube-garbage-audit
    files:
      - from: kube-garbage-audit
        to: .
      - from: LICENSE
        to: .
"
done
sed -e "s|@VERSION@|$version|" "$REPO/krew/garbage-audit.yaml"
printf '%s' "$platforms"
