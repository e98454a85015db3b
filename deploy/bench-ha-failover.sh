#!/usr/bin/env bash
# The cost of losing the leading master, measured (not a test): an HA cluster (HA=1
# deploy/cluster.sh: 3-member etcd, 3 chainmasters, 3 nodes), chainload writing through the
# smart client; SIGKILL of the leading master, and 1 s later of a data node. Prints the time
# from the kill to another master leading, the time until the dead node is spliced out, and
# chainload's report (errors, write latency percentiles across the failover). Then how many
# heartbeating nodes the leader serves (deploy/bench-master-heartbeats.py).
#   usage: deploy/bench-ha-failover.sh [DURATION_S] [HEARTBEAT_NODES]
#   env: CHAIN_BIN (default: release build), CLIENTS (20), KILL_NODE (1; 0: the master alone)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${1:-20}
HB_NODES=${2:-1000}
export CHAIN_BIN=${CHAIN_BIN:-$ROOT/.build/release}
export CHAIN_DIR=$(mktemp -d /tmp/chainstore-ha-bench-XXXXXX) NODES=3 MASTER_PORT=24000 CLIENT_BASE=24010 PEER_BASE=24020 \
       HTTP_BASE=24030 ETCD_BASE=24040 ETCD_PEER_BASE=24050 CHAIN_DURABILITY=memory
M=127.0.0.1:24000,127.0.0.1:24001,127.0.0.1:24002
trap 'deploy/cluster.sh down >/dev/null 2>&1; rm -rf "$CHAIN_DIR"' EXIT
HA=1 deploy/cluster.sh up >"$CHAIN_DIR/up.out" 2>&1 || { tail -n 30 "$CHAIN_DIR/up.out"; exit 1; }

leader() { # the port of the master that leads now
  for p in 24000 24001 24002; do
    curl -s -m 0.5 "127.0.0.1:$p/metrics" 2>/dev/null | grep -qE '^chainmaster_leader 1(\.0)?$' && { echo "$p"; return; }
  done
  echo none
}
now() { date +%s.%N; }

"$CHAIN_BIN/chainload" --master "$M" --workload w --duration "$DURATION" --warmup 0 --clients "${CLIENTS:-20}" \
  --json "$CHAIN_DIR/load.json" >"$CHAIN_DIR/load.out" 2>&1 &
load=$!
sleep 5
old=$(leader)
pid=$(cat "$CHAIN_DIR/m$((old - 24000 + 1)).pid")
t0=$(now)
kill -KILL "$pid"
if [[ ${KILL_NODE:-1} == 1 ]]; then (sleep 1; kill -KILL "$(cat "$CHAIN_DIR/n3.pid")") & fi
new=none
while [[ $new == none || $new == "$old" ]]; do new=$(leader); sleep 0.02; done
t_lead=$(now)
t1=$(python3 -c "print($t0 + 1)"); t_splice=$t0
if [[ ${KILL_NODE:-1} == 1 ]]; then
  until "$CHAIN_BIN/chainctl" --master "$M" chains --json 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if all("n3" not in c["members"] for c in json.load(sys.stdin)) else 1)'; do sleep 0.05; done
  t_splice=$(now)
fi
wait "$load" || true
python3 - "$CHAIN_DIR/load.json" "$t0" "$t_lead" "$t1" "$t_splice" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t0, tl, t1, ts = map(float, sys.argv[2:])
s = r["operations"].get("set", {})
print(f"leader SIGKILL -> another master leads: {tl - t0:.2f} s")
if ts > t1: print(f"data node SIGKILL (1 s after the master) -> spliced out: {ts - t1:.2f} s")
print(f"chainload: {r['total_ops']} writes, {r['total_errors']} errors, {r['ops_per_s']:.0f} writes/s; "
      f"write latency p50 {s.get('p50_ms')} ms, p99 {s.get('p99_ms')} ms, p99.9 {s.get('p999_ms')} ms, max {s.get('max_ms')} ms")
print("per second (ops/s):", " ".join(str(int(t["ops_per_s"])) for t in r.get("timeline", [])))
PY
lp=$(leader)
lpid=$(cat "$CHAIN_DIR/m$((lp - 24000 + 1)).pid")
echo "heartbeat capacity of the leader (127.0.0.1:$lp), $HB_NODES simulated nodes every 500 ms:"
python3 deploy/bench-master-heartbeats.py --master "127.0.0.1:$lp" --nodes "$HB_NODES" --duration 15 --pid "$lpid"
