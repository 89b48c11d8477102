#!/usr/bin/env bash
# A Redis Cluster on loopback for the tests: three masters with a replica each, every node a
# redis-server of this script's own, nothing saved to disk.
#
#   scripts/redis-cluster.sh start DIR   # starts it in DIR; prints the seed URLs, comma-separated
#   scripts/redis-cluster.sh stop DIR    # stops every node it started there (by PID)
#
# Ports are the first six free ones from 7100 (PRESENCE_CLUSTER_BASE_PORT moves them). A node
# is given up on after 2 s (cluster-node-timeout), so a replica takes over a killed master in
# a few seconds.
set -euo pipefail
command="${1:?start or stop}"
dir="${2:?a directory for the nodes}"

stop() {
  for pidfile in "$dir"/node-*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2> /dev/null || true
    rm -f "$pidfile"
  done
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi
[ "$command" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"
port="${PRESENCE_CLUSTER_BASE_PORT:-7100}"
nodes=()
while [ "${#nodes[@]}" -lt 6 ]; do
  if ! redis-cli -p "$port" ping > /dev/null 2>&1; then
    node="$dir/node-$port"
    mkdir -p "$node"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$node/nodes.conf" \
      --cluster-node-timeout 2000 --save '' --appendonly no --dir "$node" --daemonize yes \
      --pidfile "$dir/node-$port.pid" --logfile "$node/log"
    nodes+=("127.0.0.1:$port")
  fi
  port=$((port + 1))
  [ "$port" -lt 65000 ] || { echo "no free ports for the cluster" >&2; stop; exit 1; }
done
for address in "${nodes[@]}"; do
  for _ in $(seq 50); do redis-cli -p "${address#*:}" ping > /dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes > "$dir/create.log" 2>&1 ||
  { cat "$dir/create.log" >&2; stop; exit 1; }
for _ in $(seq 100); do
  [ "$(redis-cli -p "${nodes[0]#*:}" cluster info | tr -d '\r' | grep cluster_state)" = cluster_state:ok ] && break
  sleep 0.1
done
seeds=""
for address in "${nodes[@]}"; do seeds="${seeds:+$seeds,}redis://$address"; done
echo "$seeds"
