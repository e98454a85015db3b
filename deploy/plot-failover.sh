#!/usr/bin/env bash
# A picture of a failover: a local cluster (release build, 4 nodes, R=3, default lease) runs
# YCSB B through chainload for 20 s; 8 s in, a node is SIGKILLed. Writes Docs/img/failover-b.svg
# (throughput and p50/p99 over time, configuration changes marked) and /tmp/failover-b.json.
#   usage: deploy/plot-failover.sh [OUT.svg]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
out=${1:-Docs/img/failover-b.svg}
mkdir -p "$(dirname "$out")"
deploy/install-deps.sh
swift build -c release 2>&1 | tail -n 1
export CHAIN_BIN=$PWD/.build/release CHAIN_DIR=${CHAIN_DIR:-/tmp/chainstore-plot} NODES=4 MASTER_PORT=7700 \
       CLIENT_BASE=7710 PEER_BASE=7720 HTTP_BASE=7730
export CHAIN_MASTER=127.0.0.1:7700
rm -rf "$CHAIN_DIR"
trap 'deploy/cluster.sh down >/dev/null 2>&1 || true' EXIT
deploy/cluster.sh up >"$CHAIN_DIR.up.log" 2>&1 || { tail "$CHAIN_DIR.up.log"; exit 1; }
"$CHAIN_BIN/chainload" --master "$CHAIN_MASTER" --workload b --duration 20 --warmup 0 --clients 20 --keys 10000 \
  --plot "$out" --json /tmp/failover-b.json &
load=$!
sleep 8
deploy/cluster.sh kill-node 2
wait "$load"
