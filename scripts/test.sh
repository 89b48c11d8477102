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
need psql "apt-get install postgresql-client"

# The API suite runs a second time with the directory and stats on this PostgreSQL server
# (a fresh database per test); it must be reachable, or the run fails here.
postgres="${PRESENCE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
psql "$postgres/postgres" -Atqc 'select 1' > /dev/null || { echo "PostgreSQL at $postgres cannot be reached" >&2; exit 1; }
drop_test_databases() {
  psql "$postgres/postgres" -Atqc "select datname from pg_database where datname like 'presence_test_%'" |
    while read -r database; do psql "$postgres/postgres" -qc "drop database \"$database\" with (force)"; done
}

if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { echo "Chromium is missing and only root can apt-get install it" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --lib --features bench-baseline --locked -- -D warnings # bench/run.sh's build
cargo test --all-targets --locked
drop_test_databases
PRESENCE_TEST_DATABASE_URL="$postgres" cargo test --locked --test api
drop_test_databases
cargo bench --no-run --locked
(cd clients/js && npm ci --no-audit --no-fund && npm test)
bash scripts/browser-tests.sh
bash scripts/readme-walkthrough.sh
