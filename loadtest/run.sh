#!/usr/bin/env bash
# The load figures of presence, in one command: builds the service with the bench-only
# baseline route (`--features bench-baseline`, in its own target dir so no shipped binary
# has it), then loadtest/driver.py builds the bare actix-web app (examples/bare_baseline.rs,
# the same target dir), starts both on loopback, opens sessions, joins the tabs and runs
# every scenario with wrk and loadtest/load.lua, each bounded in time, the baselines on both.
# The table is printed and written to loadtest/results/latest.md.
#
#   loadtest/run.sh [--seconds N (1 to 30, default 10)] [--perf] [--out FILE] ...
#   (every option is loadtest/driver.py's: python3 loadtest/driver.py --help)
set -euo pipefail
cd "$(dirname "$0")/.."
source loadtest/build.sh
exec python3 loadtest/driver.py --bin target/bench-baseline/release/presence "$@"
