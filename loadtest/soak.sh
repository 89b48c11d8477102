#!/usr/bin/env bash
# The soak run, in one command: builds the release binary, then loadtest/soak.py starts it on
# a free loopback port and runs minutes of mixed traffic (tabs that join, heartbeat, leave
# or go quiet and expire, lists, streams), waits for every tab to expire, and writes the
# report (errors, latency, the server's RSS) to loadtest/results/soak-latest.md and stdout.
# Exits non-zero when a request failed, a tab did not expire or the memory did not come back.
#
#   loadtest/soak.sh [--minutes N (1 to 60, default 10, or SOAK_MINUTES)] [--tabs N] [--out FILE] [--keep]
#   (every option is loadtest/soak.py's: python3 loadtest/soak.py --help)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 > /dev/null || { echo "python3 is missing: apt-get install python3" >&2; exit 1; }
command -v cargo > /dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }

cargo build --release -q
# exec: Ctrl-C and SIGTERM reach the driver, which stops the server on its way out.
exec python3 loadtest/soak.py --bin target/release/presence "$@"
