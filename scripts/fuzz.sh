#!/usr/bin/env bash
# Fuzzes every parser of outside input (fuzz/fuzz_targets/*: apiVersion strings, namespace
# condition messages, aggregated discovery documents, list items, command lines) with cargo fuzz
# (libFuzzer), each for a bounded time, starting from the committed corpus in fuzz/corpus/.
# New inputs go to a temp dir (the committed corpus stays as it is); a crash fails the run and
# its input is kept in fuzz/artifacts/<target>/ — add it to tests as a regression.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      default 60
#
# Needs a nightly Rust toolchain (cargo fuzz's sanitizer flags) and cargo-fuzz; it installs
# cargo-fuzz from crates.io when missing. It never installs a toolchain: without nightly it fails
# naming what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
rustup run nightly rustc --version >/dev/null 2>&1 || { echo "fuzz.sh: a nightly Rust toolchain is required for cargo fuzz (rustup toolchain install nightly)" >&2; exit 2; }
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo +nightly install cargo-fuzz --locked --version 0.13.2 >/dev/null
fi
started=$(date +%s)
cargo +nightly fuzz build -O >/dev/null 2>&1 || cargo +nightly fuzz build -O
echo "fuzz: targets built in $(( $(date +%s) - started )) s"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$target"
  if cargo +nightly fuzz run -O "$target" "$work/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$work/$target.log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/$target.log" | grep -Eo '[0-9]+$' || echo '?')
    echo "PASS  $target: $runs inputs in ${seconds} s, no crash"
  else
    failed=1
    echo "FAIL  $target: crash (input kept in fuzz/artifacts/$target/)"
    tail -n 30 "$work/$target.log"
  fi
done
exit $failed
