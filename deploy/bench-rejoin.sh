#!/usr/bin/env bash
# Time to bring a replacement node to full replication: a 3-node cluster (release build, R=3,
# fsync) is preloaded with DATA_KEYS × VALUE_BYTES (default 100 000 × 10 000 = 1 GB), a spare n4
# is started, n3 is SIGKILLed, and the time from the kill until `chainctl wait --healthy` (n4 has
# copied every chain and been promoted) is printed, with the bytes the survivors sent.
#   usage: deploy/bench-rejoin.sh        env: DATA_KEYS, VALUE_BYTES, TRANSFER_RATE_MB (0 = no cap)
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
deploy/cluster.sh start-node 4
for _ in $(seq 1 50); do chainctl nodes | grep -q "^n4 *spare" && break; sleep 0.2; done
t0=$(date +%s.%N)
deploy/cluster.sh kill-node 3
chainctl wait --healthy --timeout 900 >/dev/null
echo "SIGKILL n3 -> healthy with n4 in every chain: $(elapsed "$t0") s"
python3 - <<'PY'
import urllib.request
sent = 0
for port in (7631, 7632):
    for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode().splitlines():
        if line.startswith("chainstore_transfer_sent_bytes_total "):
            sent += float(line.split()[1])
print(f"bytes copied to n4: {int(sent)}")
PY
du -sh "$CHAIN_DIR"/n4
