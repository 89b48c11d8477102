#!/usr/bin/env bash
# Measures what one poll of a 200-viewer page costs: bytes and time per `list` with and
# without If-None-Match, beside GET /healthz (a bare handler) as the baseline of the same
# run. Loopback only; every load is bounded in time.
#
#   bench/poll.sh [seconds per load, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
viewers=200
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release -q
bin=target/release/presence
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scratch=$(mktemp -d)
export PRESENCE_JWT_SECRET=bench-secret-that-is-long-enough-for-hs256
PRESENCE_LISTEN="127.0.0.1:$port" PRESENCE_DATABASE_URL="sqlite:$scratch/bench.db" RUST_LOG=warn "$bin" > "$scratch/server.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null; rm -rf "$scratch"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done

echo "joining $viewers viewers to /big ..."
for i in $(seq $viewers); do
  token=$("$bin" token --sub "user-$i" --name "User $i" --picture "https://example.com/avatars/$i.png")
  curl -sf -o /dev/null -X POST "$base/api/presence/join" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "{\"pagePath\":\"/big\",\"tabId\":\"tab-$i\"}"
  [ "$i" = 1 ] && echo "$token" > "$scratch/token"
done
token=$(cat "$scratch/token")
list="$base/api/presence/list?pagePath=/big&limit=1000"
etag=$(curl -sf -D - -o "$scratch/body" -H "Authorization: Bearer $token" "$list" | tr -d '\r' | sed -n 's/^etag: //Ip')
body_bytes=$(wc -c < "$scratch/body")
not_modified=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Authorization: Bearer $token" -H "If-None-Match: $etag" "$list")
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['viewerCount'] == $viewers, s['viewerCount']" "$scratch/body"

run() { # name, then wrk arguments; prints "name req/s p50 p99"
  local name=$1; shift
  local out; out=$(wrk --latency -d "${seconds}s" "$@")
  local rps; rps=$(sed -n 's/^Requests\/sec: *//p' <<< "$out")
  local p50; p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
  local p99; p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  printf '%s %s %s %s\n' "$name" "$rps" "$p50" "$p99"
}
auth=(-H "Authorization: Bearer $token")
{
  run baseline -t2 -c32 "$base/healthz"
  run list-200 -t2 -c32 "${auth[@]}" "$list"
  run list-304 -t2 -c32 "${auth[@]}" -H "If-None-Match: $etag" "$list"
  run baseline-1conn -t1 -c1 "$base/healthz"
  run list-200-1conn -t1 -c1 "${auth[@]}" "$list"
  run list-304-1conn -t1 -c1 "${auth[@]}" -H "If-None-Match: $etag" "$list"
} > "$scratch/results"

python3 - "$scratch/results" "$body_bytes" "$not_modified" <<'PY'
import sys
rows = {name: (float(rps), p50, p99) for name, rps, p50, p99 in (line.split() for line in open(sys.argv[1]))}
status, bytes_304 = sys.argv[3].split()
print(f"\n200-viewer page: a full answer is {sys.argv[2]} bytes of JSON; with If-None-Match it is {status} and {bytes_304} bytes")
print(f"\n| load | requests/s | ratio to /healthz | p50 | p99 |")
print("|---|---|---|---|---|")
for name in rows:
    base = rows["baseline-1conn" if name.endswith("1conn") else "baseline"][0]
    rps, p50, p99 = rows[name]
    print(f"| {name} | {rps:,.0f} | {rps / base:.2f} | {p50} | {p99} |")
PY
