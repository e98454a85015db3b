#!/usr/bin/env bash
# SCAN of a large keyspace, and GETs meanwhile (Docs/BENCHMARKS.md, "SCAN of a million keys").
# Needs a running cluster from deploy/cluster.sh (same CHAIN_DIR/MASTER_PORT/CLIENT_BASE/NODES)
# and redis-py. Writes KEYS keys of 100 B, measures GETs alone for 10 s, then GETs while one
# thread per node walks that node's keys with SCAN cursor COUNT 1000 to the end, over and over.
#   usage: deploy/bench-scan.sh [KEYS]        (default 1000000)
#   env:   CHAIN_BIN (default .build/release), MASTER_PORT (7000), CLIENT_BASE (6380), NODES (3),
#          SCAN_RATE (keys/s per node the scanners aim at; default 0: as fast as they can),
#          SCANNER_NICE (nice value of the scanning client, default 0; 19 stands in for a client
#          on another machine, whose own CPU would not compete with the nodes and the GETs)
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-1000000}
BIN=${CHAIN_BIN:-.build/release}
MASTER=127.0.0.1:${MASTER_PORT:-7000}
NODES=${NODES:-3}
CLIENT_BASE=${CLIENT_BASE:-6380}
PY=/usr/bin/python3
"$PY" -c 'import redis' 2>/dev/null || { echo "bench-scan: needs redis-py (python3-redis)" >&2; exit 2; }
[[ -x $BIN/chainload ]] || { echo "bench-scan: no $BIN/chainload (swift build -c release, or set CHAIN_BIN)" >&2; exit 2; }
WORK=$(mktemp -d)
SCANNER=
trap '[[ -n $SCANNER ]] && kill "$SCANNER" 2>/dev/null; rm -rf "$WORK"' EXIT

echo "== writing $KEYS keys"
"$BIN/chainload" --master "$MASTER" --workload c --keys "$KEYS" --preload --duration 1 --clients 32 >/dev/null
get_load() {
  "$BIN/chainload" --master "$MASTER" --workload c --keys "$KEYS" --clients 8 --duration 10 --json "$WORK/$1.json" >/dev/null
  "$PY" - "$WORK/$1.json" "$1" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
g = r["operations"].get("get", {})
print(f"{sys.argv[2]}: GET {r['ops_per_s']:.0f} ops/s, p99 {g.get('p99_ms', 0):.3f} ms, "
      f"p99.9 {g.get('p999_ms', 0):.3f} ms, max {g.get('max_ms', 0):.1f} ms, errors {r['total_errors']}")
PYEOF
}
echo "== GETs alone"
get_load idle
echo "== GETs while every node is scanned"
ports=$(for i in $(seq 1 "$NODES"); do echo $((CLIENT_BASE + i)); done)
nice -n "${SCANNER_NICE:-0}" "$PY" - "${SCAN_RATE:-0}" $ports > "$WORK/scan.txt" <<'PYEOF' &
import sys, threading, time, redis
# Each thread walks its node's keys to the end, again and again, for as long as the GET run
# lasts (its 1 s warm-up and 10 s), so every GET is measured against scanning.
stop = time.time() + 11
rate = float(sys.argv[1])
def walk(port, out):
    r = redis.Redis(port=int(port))
    keys = calls = walks = 0
    t0 = time.time()
    while time.time() < stop:
        cursor = 0
        while True:
            cursor, batch = r.scan(cursor=cursor, count=1000)
            keys += len(batch); calls += 1
            if rate > 0:
                time.sleep(max(0.0, t0 + keys / rate - time.time()))
            if cursor == 0: break
        walks += 1
    out[port] = (keys, calls, walks, time.time() - t0)
out = {}
ts = [threading.Thread(target=walk, args=(p, out)) for p in sys.argv[2:]]
t0 = time.time()
[t.start() for t in ts]; [t.join() for t in ts]
total = sum(v[0] for v in out.values())
took = time.time() - t0
print(f"scanned {total} keys in {took:.1f} s ({total / took:.0f} keys/s); per node (keys, calls, full walks, s): {out}")
PYEOF
SCANNER=$!
get_load scanning
wait "$SCANNER"; SCANNER=
cat "$WORK/scan.txt"
