#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each: PagePath and TabId parsing,
# and the request body decoder. `bash scripts/fuzz.sh [seconds a target]` (default 60; CI
# runs 15). Installs cargo-fuzz if missing; the toolchain is stable, and RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass the sanitizer flags it needs. A crash fails the run and leaves its
# input in fuzz/artifacts/<target>/: fix it and keep that input as a unit test beside the
# type it broke.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  echo "fuzzing $target for ${seconds} s"
  if ! cargo fuzz run -O "$target" -- -max_total_time="$seconds" > "$log" 2>&1; then
    tail -60 "$log" >&2
    echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^Done' "$log"
done
