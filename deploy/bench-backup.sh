#!/usr/bin/env bash
# chainctl backup of a large keyspace, and client traffic meanwhile (Docs/BENCHMARKS.md,
# "Backup"). Needs a running cluster from deploy/cluster.sh (same MASTER_PORT). Writes KEYS keys
# of 100 B, measures chainload workload B (95% GET, 5% SET) for 10 s alone, then the same load
# while `chainctl backup` copies every chain over and over, flat out and then at RATE MB/s, and
# alone again (the two idle runs show how much the machine's noise moves the figures).
#   usage: deploy/bench-backup.sh [KEYS]       (default 500000)
#   env:   CHAIN_BIN (default .build/release), MASTER_PORT (7000), RATE (MB/s of the paced run; 5)
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-500000}
BIN=${CHAIN_BIN:-.build/release}
MASTER=127.0.0.1:${MASTER_PORT:-7000}
RATE=${RATE:-5}
[[ -x $BIN/chainload && -x $BIN/chainctl ]] || { echo "bench-backup: no $BIN/chainload or chainctl (swift build -c release, or set CHAIN_BIN)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== writing $KEYS keys"
"$BIN/chainload" --master "$MASTER" --workload c --keys "$KEYS" --preload --duration 1 --clients 32 >/dev/null
load() {
  "$BIN/chainload" --master "$MASTER" --workload b --keys "$KEYS" --clients 8 --duration 10 --json "$WORK/$1.json" >/dev/null
  python3 - "$WORK/$1.json" "$1" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
g, s = r["operations"].get("get", {}), r["operations"].get("set", {})
print(f"{sys.argv[2]}: {r['ops_per_s']:.0f} ops/s; GET p99 {g.get('p99_ms', 0):.3f} ms, p99.9 {g.get('p999_ms', 0):.3f} ms, "
      f"max {g.get('max_ms', 0):.1f} ms; SET p99 {s.get('p99_ms', 0):.3f} ms; errors {r['total_errors']}")
PYEOF
}
backup_during_load() {
  local name=$1; shift
  # Backups one after another for the whole load run (its 1 s warm-up and 10 s), so that every
  # measured operation meets one.
  (
    end=$((SECONDS + 11)); n=0
    while ((SECONDS < end)); do
      n=$((n + 1))
      "$BIN/chainctl" --master "$MASTER" backup "$WORK/$name-$n" "$@" | tail -n 1 | sed "s|$WORK/||" >> "$WORK/$name.out"
      rm -rf "${WORK:?}/$name-$n"
    done
  ) &
  local pid=$!
  load "$name"
  wait "$pid"
  sed 's/^/   /' "$WORK/$name.out"
}
echo "== settling after the writes (10 s of load, not reported: the store compacts what was just written)"
load settle >/dev/null
echo "== load alone"
load idle
echo "== load during backups, flat out"
backup_during_load backup-flat-out
echo "== load during backups at $RATE MB/s"
backup_during_load backup-paced --max-rate "$RATE"
echo "== load alone, again"
load idle-again
