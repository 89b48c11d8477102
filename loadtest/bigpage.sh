#!/usr/bin/env bash
# The big-page benchmark of issue 14, in one command: builds the service as run.sh does
# (release, `--features bench-baseline`, target/bench-baseline), then loadtest/bigpage.py
# fills one page with N new users (default 100 000) and runs heartbeats, churn and lists on
# it, and the same on pages of 100 viewers, each layout on a fresh loopback server; with
# --redis URL in Redis mode too. The report goes to loadtest/results/bigpage-latest.md.
#
#   loadtest/bigpage.sh [--users N] [--seconds N] [--fill-seconds N] [--redis URL] [--out FILE] ...
#   (every option is loadtest/bigpage.py's: python3 loadtest/bigpage.py --help)
set -euo pipefail
cd "$(dirname "$0")/.."
source loadtest/build.sh
# exec: Ctrl-C and SIGTERM reach the driver, which stops the servers on its way out.
exec python3 loadtest/bigpage.py --bin target/bench-baseline/release/presence "$@"
