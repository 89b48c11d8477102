#!/usr/bin/env bash
# Spec-driven API testing: schemathesis (from PyPI, pinned below) generates requests for
# every operation in openapi.yaml, valid and invalid, and sends them with a bearer token to
# the debug server, started here on a free loopback port with a fresh SQLite file. A 5xx, an
# undocumented status, content type or header, or a body that breaks its schema fails the
# run; schemathesis prints a curl command that reproduces each finding.
#
#   bash scripts/schemathesis.sh [examples per operation]   (default 300, what CI runs: ~2 min)
#
#   SCHEMATHESIS_SEED=N     replay the generation of an earlier run (each run prints its seed)
#   SCHEMATHESIS_CHECKS=... other schemathesis checks than the five below (`all` for every one)
#   PRESENCE_...            passed on to the server, e.g. PRESENCE_REDIS_URL with a fresh
#                           PRESENCE_REDIS_PREFIX to run against the Redis registry
#
# Everything it keeps (the venv, schemathesis's caches) is in target/schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
max_examples="${1:-300}"
root="$PWD"
work="$root/target/schemathesis"
venv="$work/venv"

if [ "$("$venv/bin/schemathesis" --version 2> /dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
    [ "$(id -u)" = 0 ] || { echo "python3's venv module is missing: apt-get install python3-venv (as root)" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv > /dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked --quiet
presence="$root/target/debug/presence"
scratch="$(mktemp -d)"
server_pid=
stop() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null || true; fi
  rm -rf "$scratch"
}
trap stop EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export PRESENCE_JWT_SECRET="schemathesis-secret-of-at-least-32-bytes"
# Rate limits and the tab cap off: schemathesis sends far more than a browser would, as one
# user with a new tab id each time, and a throttled run would test the limits (which
# tests/api/limits.rs does) rather than the operations. Dev login on, so devSession is
# exercised rather than answering 404 to everything. Errors only in the log: generated
# cookies that fail to decrypt would drown out the `request failed` line behind a 5xx.
PRESENCE_LISTEN="127.0.0.1:$port" PRESENCE_DATABASE_URL="sqlite:$scratch/presence.db" PRESENCE_DEV_LOGIN=true \
  PRESENCE_RATE_LIMIT_PER_USER=0 PRESENCE_RATE_LIMIT_PER_IP=0 PRESENCE_MAX_TABS_PER_USER=1000000 RUST_LOG=error \
  "$presence" > "$scratch/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "$base/healthz" > /dev/null && break
  kill -0 "$server_pid" 2> /dev/null || { cat "$scratch/server.log" >&2; exit 1; }
  sleep 0.1
done
token="$("$presence" token --sub schemathesis --name Schemathesis --ttl 1h)"

# A stream never ends: read it up to its first event (the snapshot) rather than for the
# whole request timeout, or every stream case would take that long.
cat > "$scratch/schemathesis.toml" << 'TOML'
[[operations]]
include-operation-id = "streamPresence"
max-stream-events = 1
TOML

checks="${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance}"
echo "schemathesis $SCHEMATHESIS_VERSION: every operation of openapi.yaml against $base," \
  "at most $max_examples examples each, checks $checks"
mkdir -p "$work"
status=0
# From $work, where schemathesis keeps its caches (`st replay` works there).
(cd "$work" && timeout 600 "$venv/bin/schemathesis" --config-file "$scratch/schemathesis.toml" run "$root/openapi.yaml" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks "$checks" \
  --max-examples "$max_examples" \
  --seed "${SCHEMATHESIS_SEED:-$RANDOM}" \
  --request-timeout 5 \
  --no-color) || status=$?
[ "$status" = 124 ] && echo "schemathesis did not finish within 10 minutes" >&2
if [ "$status" != 0 ]; then
  echo "the server's errors (the NUL-byte header is schemathesis's own probe, which actix answers 400):" >&2
  tail -40 "$scratch/server.log" >&2
fi
exit "$status"
