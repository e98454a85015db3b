#!/usr/bin/env bash
# Standalone benchmark: chainserver --standalone --durability memory against redis-server without
# persistence, on this machine in one run, with the peer harness's redis-benchmark driver
# (../shared/bench/lib). For each configuration the two systems run back to back, so both see the
# same machine state; each configuration is repeated REPEATS times.
#   env: REPEATS (3), BENCH_HARNESS (../shared/bench), N (200000), KEYS (100000)
# Prints RESULT lines, then a markdown table of medians and ratios (chainstore / redis).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
[[ -f $HARNESS/lib/common.sh ]] || { echo "peer harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
WITH_REDIS_SERVER=1 deploy/install-deps.sh
swift build -c release --product chainserver 2>&1 | tail -n 1 >&2

source "$HARNESS/lib/common.sh"
source "$HARNESS/lib/resp.sh"
need_bin redis-server redis-benchmark
bench_init standalone
N=${N:-200000}

RPORT=$((20000 + RANDOM % 10000)); CPORT=$((RPORT + 1))
mkdir -p "$BENCH_WORKDIR/redis"
start_bg "$BENCH_WORKDIR/redis.log" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$BENCH_WORKDIR/redis"
REDIS_PID=$LAST_PID
start_bg "$BENCH_WORKDIR/chainserver.log" "$ROOT/.build/release/chainserver" --standalone \
  --data-dir "$BENCH_WORKDIR/chain-data" --listen "127.0.0.1:$CPORT" --durability memory
CHAIN_PID=$LAST_PID
wait_port "$RPORT"; wait_port "$CPORT"

out="$BENCH_WORKDIR/results.log"
for r in $(seq 1 "$REPEATS"); do
  for P in 1 16; do
    for t in set get; do
      SRV_PIDS=("$REDIS_PID"); R rb_run "system=redis persist=none run=$r" 127.0.0.1 "$RPORT" "$t" 50 "$P" "$N" 100 | tee -a "$out"
      SRV_PIDS=("$CHAIN_PID"); R rb_run "system=chainstore persist=memory run=$r" 127.0.0.1 "$CPORT" "$t" 50 "$P" "$N" 100 | tee -a "$out"
    done
  done
done

python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT") or "status=fail" in line: continue
    kv = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
    key = (kv["workload"], kv["P"])
    rows.setdefault(key, {}).setdefault(kv["system"], []).append(
        (float(kv["ops_per_s"]), float(kv["srv_cpu_pct"]), float(kv["cli_cpu_pct"]), float(kv["p50_ms"])))
print("\n| test | pipeline | redis ops/s | chainstore ops/s | ratio | redis srv/cli CPU % | chainstore srv/cli CPU % | p50 ms redis / chainstore | runs |")
print("|---|---|---|---|---|---|---|---|---|")
for (w, p), systems in sorted(rows.items(), key=lambda x: (int(x[0][1]), x[0][0])):
    r, c = systems.get("redis", []), systems.get("chainstore", [])
    if not r or not c: continue
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    spread = lambda xs: f"{min(x[0] for x in xs):.0f}–{max(x[0] for x in xs):.0f}"
    print(f"| {w.upper()} | {p} | {med(r,0):.0f} ({spread(r)}) | {med(c,0):.0f} ({spread(c)}) | **{med(c,0)/med(r,0):.2f}×** "
          f"| {med(r,1):.0f} / {med(r,2):.0f} | {med(c,1):.0f} / {med(c,2):.0f} | {med(r,3):.3f} / {med(c,3):.3f} | {min(len(r),len(c))} |")
PY
