#!/usr/bin/env bash
# The registry's own benchmarks, without HTTP: criterion times per operation at 1 k, 100 k
# and 1 M live tabs (benches/store.rs), then RSS per tab, RSS once every tab expired, and
# heartbeat latency while a sweep of 1 M expired tabs runs (benches/memory.rs). Results
# and how to read them: loadtest/README.md. Takes about 6 minutes on 2 cores; run it on a
# quiet machine (it prints the load average before and after).
#
#   bash loadtest/store.sh              # everything
#   bash loadtest/store.sh heartbeat    # criterion benches whose name matches, then memory
#   STORE_BENCH_TABS=1000,100000 bash loadtest/store.sh   # other sizes (MEMORY_BENCH_TABS too)
set -euo pipefail
cd "$(dirname "$0")/.."

load() { echo "load average $1: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"; }
load before
if awk -v cores="$(nproc)" '{ exit !($1 > cores / 4) }' /proc/loadavg; then
  echo "warning: the machine is busy; the figures will be noisy" >&2
fi
cargo bench --locked --bench store -- --warm-up-time 1 --measurement-time 5 "$@"
cargo bench --locked --bench memory
load after
