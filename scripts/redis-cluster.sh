#!/usr/bin/env bash
# A Redis Cluster on loopback for the tests: three masters with a replica each, every node a
# redis-server of this script's own, nothing saved to disk.
#
#   scripts/redis-cluster.sh start DIR   # starts it in DIR; prints the seed URLs, comma-separated
#   scripts/redis-cluster.sh stop DIR    # stops every node it started there (by PID)
#
# Ports are the first six free ones from 7100 (PRESENCE_CLUSTER_BASE_PORT moves them). A node
# is given up on after 2 s (cluster-node-timeout) and a replica may always take over
# (cluster-replica-validity-factor 0), so a killed master fails over in a few seconds; the
# script returns once every replica has caught up with its master.
set -euo pipefail
command="${1:?start or stop}"
dir="${2:?a directory for the nodes}"

# Stops every node started in $dir, and waits (at most 5 s each) until it is gone.
stop() {
  for pidfile in "$dir"/node-*.pid; do
    [ -e "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
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
    rm -rf "$node" # a node that remembers an earlier cluster would not join this one
    mkdir -p "$node"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$node/nodes.conf" \
      --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 --save '' --appendonly no --dir "$node" --daemonize yes \
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
# Ready once every replica has its master's data, so a master killed from now on fails over.
for _ in $(seq 100); do
  linked=0
  for address in "${nodes[@]}"; do
    redis-cli -p "${address#*:}" info replication | tr -d '\r' | grep -q master_link_status:up && linked=$((linked + 1))
  done
  [ "$linked" -ge 3 ] && break
  sleep 0.1
done
[ "$linked" -ge 3 ] || { echo "the replicas did not catch up with their masters" >&2; stop; exit 1; }
seeds=""
for address in "${nodes[@]}"; do seeds="${seeds:+$seeds,}redis://$address"; done
echo "$seeds"
