#!/usr/bin/env bash
# Time to bring a node to full replication: a 3-node cluster (release build, R=3, fsync) is
# preloaded with DATA_KEYS × VALUE_BYTES (default 100 000 × 10 000 = 1 GB), then
#   MODE=spare (default): a spare n4 is started, n3 is SIGKILLed, and the time from the kill until
#     `chainctl wait --healthy` (n4 has copied every chain and been promoted) is printed;
#   MODE=return: n3 is SIGKILLed, OUTAGE_S seconds (default 10) of writes follow, n3 is started
#     again, and the time from its start until healthy is printed with how its chains caught up
#     (suffix or snapshot). CHAIN_NODE_FLAGS="--catchup-backlog-mb 0" forces full copies.
# Both print the bytes of snapshots the survivors sent.
#   usage: deploy/bench-rejoin.sh        env: MODE, DATA_KEYS, VALUE_BYTES, OUTAGE_S, CHAIN_NODE_FLAGS
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh
swift build -c release 2>&1 | tail -n 1
export CHAIN_BIN=$PWD/.build/release CHAIN_DIR=${CHAIN_DIR:-/tmp/chainstore-rejoin} NODES=3 MASTER_PORT=7600 \
       CLIENT_BASE=7610 PEER_BASE=7620 HTTP_BASE=7630 CHAIN_DURABILITY=fsync
export CHAIN_MASTER=127.0.0.1:7600 PATH=$CHAIN_BIN:$PATH
keys=${DATA_KEYS:-100000}; vbytes=${VALUE_BYTES:-10000}
rm -rf "$CHAIN_DIR"
trap 'deploy/cluster.sh down >/dev/null 2>&1 || true' EXIT
deploy/cluster.sh up >"$CHAIN_DIR.up.log" 2>&1 || { tail "$CHAIN_DIR.up.log"; exit 1; }
t=$(date +%s.%N)
chainload --master "$CHAIN_MASTER" --workload w --keys "$keys" --value-bytes "$vbytes" --preload --duration 1 --warmup 0 --clients 16 >/dev/null
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$(date +%s.%N)"; }
echo "preloaded $keys × $vbytes bytes in $(elapsed "$t") s"
du -sh "$CHAIN_DIR"/n1 "$CHAIN_DIR"/n2 "$CHAIN_DIR"/n3
if [[ ${MODE:-spare} == return ]]; then
  deploy/cluster.sh kill-node 3 >/dev/null
  for _ in $(seq 1 100); do chainctl chains | grep -q n3 || break; sleep 0.2; done
  chainload --master "$CHAIN_MASTER" --workload w --keys "$keys" --value-bytes 100 --duration "${OUTAGE_S:-10}" --warmup 0 --clients 16 \
    --json "$CHAIN_DIR.outage.json" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("writes while n3 was down: %d (%d errors)" % (r["total_ops"], r["total_errors"]))' "$CHAIN_DIR.outage.json"
  t0=$(date +%s.%N)
  deploy/cluster.sh start-node 3 >/dev/null
  chainctl wait --healthy --timeout 900 >/dev/null
  echo "n3 started -> healthy, back in every chain: $(elapsed "$t0") s"
  curl -s 127.0.0.1:7633/metrics | grep "^chainstore_chain_catchups_total"
else
  deploy/cluster.sh start-node 4
  for _ in $(seq 1 50); do chainctl nodes | grep -q "^n4 *spare" && break; sleep 0.2; done
  t0=$(date +%s.%N)
  deploy/cluster.sh kill-node 3
  chainctl wait --healthy --timeout 900 >/dev/null
  echo "SIGKILL n3 -> healthy with n4 in every chain: $(elapsed "$t0") s"
fi
python3 - <<'PY'
import urllib.request
sent = 0
for port in (7631, 7632):
    for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode().splitlines():
        if line.startswith("chainstore_transfer_sent_bytes_total "):
            sent += float(line.split()[1])
print(f"snapshot bytes sent by the survivors: {int(sent)}")
PY
