#!/usr/bin/env bash
# Every test of the project, as CI runs it: the Rust suites (their Redis cases against the
# Redis at PRESENCE_TEST_REDIS_URL and a Redis Cluster this script starts, the API suite
# again on PostgreSQL), schemathesis over
# every operation of openapi.yaml, a short run of each fuzz target, the JS client's unit
# tests, the real-browser tests, then the README's curl walkthrough pasted as is.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" > /dev/null || { echo "$1 is missing: $2" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need curl "apt-get install curl"
need python3 "apt-get install python3"
need npm "install Node.js 20+ with npm"
need psql "apt-get install postgresql-client"

# The API suite runs a second time with the directory and stats on this PostgreSQL server
# (a fresh database per test); it must be reachable, or the run fails here.
postgres="${PRESENCE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
psql "$postgres/postgres" -Atqc 'select 1' > /dev/null || { echo "PostgreSQL at $postgres cannot be reached" >&2; exit 1; }
drop_test_databases() {
  psql "$postgres/postgres" -Atqc "select datname from pg_database where datname like 'presence_test_%'" |
    while read -r database; do psql "$postgres/postgres" -qc "drop database \"$database\" with (force)"; done
}

# Installs the Debian packages named, which only root can.
install() {
  [ "$(id -u)" = 0 ] || { echo "$* is missing and only root can apt-get install it" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" > /dev/null
}
[ -x /usr/bin/chromium ] || install chromium
# redis-server for the test that stops and restarts a Redis of its own, redis-cli for the check below.
{ command -v redis-server && command -v redis-cli; } > /dev/null || install redis-server

# The Redis cases are skipped without this; here they must run, so a Redis that does not
# answer fails the run.
export PRESENCE_TEST_REDIS_URL="${PRESENCE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if [ "$(redis-cli -u "$PRESENCE_TEST_REDIS_URL" ping 2>&1)" != PONG ]; then
  echo "Redis does not answer at $PRESENCE_TEST_REDIS_URL: start one, e.g." \
    "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" >&2
  exit 1
fi

# The Redis cases run on a Redis Cluster too: one of this run's own (three masters with a
# replica each, on loopback), unless PRESENCE_TEST_REDIS_CLUSTER names one already.
if [ -z "${PRESENCE_TEST_REDIS_CLUSTER:-}" ]; then
  cluster_dir="$(mktemp -d)"
  trap 'bash scripts/redis-cluster.sh stop "$cluster_dir"; rm -rf "$cluster_dir"' EXIT
  PRESENCE_TEST_REDIS_CLUSTER="$(bash scripts/redis-cluster.sh start "$cluster_dir")"
  export PRESENCE_TEST_REDIS_CLUSTER
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --lib --examples --features bench-baseline --locked -- -D warnings # loadtest/run.sh's build and its bare app
cargo test --all-targets --locked
drop_test_databases
PRESENCE_TEST_DATABASE_URL="$postgres" cargo test --locked --test api
drop_test_databases
bash scripts/schemathesis.sh
cargo bench --no-run --locked
bash scripts/fuzz.sh 15
(cd clients/js && npm ci --no-audit --no-fund && npm test)
bash scripts/browser-tests.sh
bash scripts/readme-walkthrough.sh
