#!/usr/bin/env bash
# Every test of the project, as CI runs it: the Rust suites, the JS client's unit tests,
# the real-browser tests, then the README's curl walkthrough pasted as is.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" > /dev/null || { echo "$1 is missing: $2" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need curl "apt-get install curl"
need python3 "apt-get install python3"
need npm "install Node.js 20+ with npm"

if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { echo "Chromium is missing and only root can apt-get install it" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --lib --features bench-baseline --locked -- -D warnings # bench/run.sh's build
cargo test --all-targets --locked
cargo bench --no-run --locked
(cd clients/js && npm ci --no-audit --no-fund && npm test)
bash scripts/browser-tests.sh
bash scripts/readme-walkthrough.sh
