#!/usr/bin/env bash
# Every test of the project, as CI runs it: the Rust suites, then the README's curl
# walkthrough pasted as is.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo > /dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }
command -v curl > /dev/null || { echo "curl is missing: apt-get install curl" >&2; exit 1; }

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
bash scripts/readme-walkthrough.sh
