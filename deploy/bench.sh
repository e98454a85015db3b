#!/usr/bin/env bash
# The benchmark suite: chainstore beside the systems a user would pick instead (Redis single
# node, Redis primary + 2 replicas with WAIT 2, a 3-member etcd cluster), all on this machine in
# one run, every configuration repeated REPEATS times. Sections (default: all, in this order):
#   loadgen   chainload vs redis-benchmark against one redis-server (is the load generator the limit?)
#   ycsb      YCSB A/B/C and W (writes only) at 100-byte and 4-KiB values on every system
#   chainlen  write latency and throughput versus chain length 1-5
#   chains    read throughput: 1 chain versus the interleaved table
#   kill      a node SIGKILLed during a YCSB B run, drawn as a picture
# Results: RESULT lines in $OUT (kept), then deploy/bench-report.py turns them into the tables
# (medians, [min-max] spread, ratios) between the bench.sh markers in Docs/BENCHMARKS.md
# (UPDATE_DOCS=0 prints them instead). The kill section writes Docs/img/bench-kill-b.svg.
#   usage: deploy/bench.sh [SECTION...]
#   env:   REPEATS (3) DURATION (8) WARMUP (2) CLIENTS (50) ETCD_CLIENTS (100) KEYS (100000)
#          KEYS_4K (20000) WORKLOADS ("a b c w") VALUE_SIZES ("100 4096") UPDATE_DOCS (1)
#          YCSB_SYSTEMS ("redis redis-wait2 chainstore-memory chainstore-fsync etcd"; also
#          chainstore-memory-untagged, chainstore-fsync-untagged: chainload --untagged-writes)
#          OUT (/tmp/chainstore-bench-TIMESTAMP.log) BENCH_HARNESS
#          (UPDATE_DOCS=1 reports every file in Docs/bench/ plus OUT; keep the raw logs there)
# Needs the peer harness (../shared/bench; its setup.sh once, for etcd and etcdload).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
[[ -f $HARNESS/lib/common.sh ]] || { echo "peer harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
SECTIONS=${*:-loadgen ycsb chainlen chains kill}
for s in $SECTIONS; do
  [[ " loadgen ycsb chainlen chains kill " == *" $s "* ]] || { echo "unknown section '$s' (loadgen ycsb chainlen chains kill)" >&2; exit 64; }
done
YCSB_SYSTEMS=${YCSB_SYSTEMS:-redis redis-wait2 chainstore-memory chainstore-fsync etcd}
for s in $YCSB_SYSTEMS; do
  [[ " redis redis-wait2 chainstore-memory chainstore-fsync chainstore-memory-untagged chainstore-fsync-untagged etcd " == *" $s "* ]] \
    || { echo "unknown system '$s' in YCSB_SYSTEMS" >&2; exit 64; }
done
WITH_REDIS_SERVER=1 deploy/install-deps.sh
swift build -c release 2>&1 | tail -n 1 >&2
BIN=$ROOT/.build/release
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-50}
ETCD_CLIENTS=${ETCD_CLIENTS:-100}
KEYS=${KEYS:-100000}
KEYS_4K=${KEYS_4K:-20000}
WORKLOADS=${WORKLOADS:-a b c w}
VALUE_SIZES=${VALUE_SIZES:-100 4096}
OUT=${OUT:-/tmp/chainstore-bench-$(date +%Y%m%d-%H%M%S).log}
source "$HARNESS/lib/common.sh"
source "$HARNESS/lib/resp.sh"
need_bin redis-server redis-benchmark etcd etcdctl "$BENCH_BIN/etcdload"
bench_init suite
: >"$OUT"
log "results: $OUT"
SECRET=$BENCH_WORKDIR/secret
echo "bench-suite-cluster-secret-0123456789" >"$SECRET"
port_base() { echo $((20000 + (RANDOM % 400) * 25)); }

# ---------------------------------------------------------------- systems
start_redis_single() {
  RPORT=$(port_base)
  # Each Redis gets a directory of its own (a replica's sync writes a dump file there), never the checkout.
  mkdir -p "$BENCH_WORKDIR/redis-$RPORT"
  start_bg "$BENCH_WORKDIR/redis-$RPORT.log" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$BENCH_WORKDIR/redis-$RPORT"
  SRV_PIDS=("$LAST_PID"); wait_port "$RPORT"
}

start_redis_repl() { # primary + 2 replicas, no persistence
  RPORT=$(port_base); SRV_PIDS=()
  for i in 0 1 2; do mkdir -p "$BENCH_WORKDIR/r$i-$RPORT"; done
  start_bg "$BENCH_WORKDIR/r0-$RPORT.log" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$BENCH_WORKDIR/r0-$RPORT"; SRV_PIDS+=("$LAST_PID")
  for i in 1 2; do
    start_bg "$BENCH_WORKDIR/r$i-$RPORT.log" redis-server --port $((RPORT + i)) --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$BENCH_WORKDIR/r$i-$RPORT" --replicaof 127.0.0.1 "$RPORT"
    SRV_PIDS+=("$LAST_PID")
  done
  for i in 0 1 2; do wait_port $((RPORT + i)); done
  # connected is not enough: WAIT counts only replicas whose initial sync is done
  for _ in $(seq 1 100); do [[ $(redis-cli -p "$RPORT" info replication | grep -c 'state=online') == 2 ]] && break; sleep 0.1; done
}

start_chain() { # start_chain NODES REPLICATION DURABILITY [CHAINS] -> MASTER, SRV_PIDS (nodes), CHAIN_PIDS (all), HTTP_BASE
  local nodes=$1 r=$2 dur=$3 chains=${4:-} base d i
  base=$(port_base); d=$BENCH_WORKDIR/chain-$base
  mkdir -p "$d"; MASTER=127.0.0.1:$base; HTTP_BASE=$((base + 16))
  start_bg "$d/master.log" "$BIN/chainmaster" --listen "$MASTER" --data-dir "$d/m" --replication "$r" --initial-nodes "$nodes" \
    ${chains:+--chains "$chains"}
  CHAIN_PIDS=("$LAST_PID"); SRV_PIDS=()
  for i in $(seq 1 "$nodes"); do
    start_bg "$d/n$i.log" "$BIN/chainserver" --id "n$i" --master "$MASTER" --listen "127.0.0.1:$((base + i))" \
      --peer-listen "127.0.0.1:$((base + 8 + i))" --http-listen "127.0.0.1:$((HTTP_BASE + i))" --data-dir "$d/n$i" \
      --cluster-secret-file "$SECRET" --durability "$dur"
    CHAIN_PIDS+=("$LAST_PID"); SRV_PIDS+=("$LAST_PID")
  done
  "$BIN/chainctl" --master "$MASTER" wait --healthy --timeout 60 >&2
}

start_etcd() {
  local eb cl="" i
  eb=$(port_base); EPS=""; SRV_PIDS=()
  for i in 1 2 3; do cl+="${cl:+,}e$i=http://127.0.0.1:$((eb + 10 + i))"; EPS+="${EPS:+,}127.0.0.1:$((eb + i))"; done
  for i in 1 2 3; do
    start_bg "$BENCH_WORKDIR/etcd$i-$eb.log" etcd --name "e$i" --data-dir "$BENCH_WORKDIR/etcd$i-$eb" \
      --listen-client-urls "http://127.0.0.1:$((eb + i))" --advertise-client-urls "http://127.0.0.1:$((eb + i))" \
      --listen-peer-urls "http://127.0.0.1:$((eb + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((eb + 10 + i))" \
      --initial-cluster "$cl" --initial-cluster-state new --quota-backend-bytes 8589934592 --logger zap --log-level warn
    SRV_PIDS+=("$LAST_PID")
  done
  for i in 1 2 3; do wait_port $((eb + i)) 30; done
  for _ in $(seq 1 100); do ETCDCTL_API=3 etcdctl --endpoints="$EPS" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
}

CHAIN_PIDS=(); SRV_PIDS=()
stop_system() { # the chain's master too, when the system is a chainstore cluster
  if ((${#CHAIN_PIDS[@]} > 0)); then stop_pids "${CHAIN_PIDS[@]}"; else stop_pids "${SRV_PIDS[@]}"; fi
  CHAIN_PIDS=(); SRV_PIDS=()
}

# ---------------------------------------------------------------- loads
# cl_run LABELS CHAINLOAD-ARGS... : one measured chainload run -> a RESULT line (stdout)
cl_run() {
  local labels=$1; shift
  local json=$BENCH_WORKDIR/cl.$RANDOM$RANDOM.json
  measure_begin "${SRV_PIDS[@]}"
  run_timed "$json.out" $((DURATION + WARMUP + 90)) "$BIN/chainload" --duration "$DURATION" --warmup "$WARMUP" --json "$json" "$@" || true
  measure_end
  python3 - "$json" "$labels tool=chainload srv_cpu_pct=$SRV_CPU cli_cpu_pct=$CLI_CPU other_cpu_pct=$(other_cpu "$CLI_CPU")" <<'PY'
import json, sys
try: r = json.load(open(sys.argv[1]))
except Exception: print(f"RESULT {sys.argv[2]} status=fail"); sys.exit()
ops = r["operations"]; w = ops.get("set", {}); g = ops.get("get", {})
print(f"RESULT {sys.argv[2]} ops_per_s={r['ops_per_s']:.0f} errors={r['total_errors']} "
      f"set_p50_ms={w.get('p50_ms', 0):.3f} set_p99_ms={w.get('p99_ms', 0):.3f} "
      f"get_p50_ms={g.get('p50_ms', 0):.3f} get_p99_ms={g.get('p99_ms', 0):.3f} max_ms={max([o['max_ms'] for o in ops.values()] or [0]):.1f}")
PY
}

# etcd_run LABELS GET-CLIENTS PUT-CLIENTS VALUE-BYTES KEYS : etcdload has one operation per
# process, so a mix is two loaders at once, its proportions set by clients (not by operations).
etcd_run() {
  local labels=$1 gc=$2 pc=$3 vs=$4 keys=$5 go=$BENCH_WORKDIR/eg.$RANDOM pout=$BENCH_WORKDIR/ep.$RANDOM gp="" pp=""
  : >"$go"; : >"$pout"
  measure_begin "${SRV_PIDS[@]}"
  local t0; t0=$(date +%s.%N)
  if ((gc > 0)); then
    /usr/bin/time -f '%U %S %e' -o "$go.time" timeout -k 5 $((DURATION + 60)) "$BENCH_BIN/etcdload" -endpoints "$EPS" \
      -duration "${DURATION}s" -key-space "$keys" -op get -consistency l -clients "$gc" -conns 10 -total 100000000 >"$go" 2>&1 &
    gp=$!
  fi
  if ((pc > 0)); then
    /usr/bin/time -f '%U %S %e' -o "$pout.time" timeout -k 5 $((DURATION + 60)) "$BENCH_BIN/etcdload" -endpoints "$EPS" \
      -duration "${DURATION}s" -key-space "$keys" -op put -clients "$pc" -conns "$(( pc < 10 ? pc : 10 ))" -total 100000000 -val-size "$vs" >"$pout" 2>&1 &
    pp=$!
  fi
  wait $gp $pp || true
  measure_end
  local wall cli; wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
  cli=$(_cli_cpu2 "$go.time" "$pout.time" "$wall")
  python3 - "$go" "$pout" "$labels tool=etcdload srv_cpu_pct=$SRV_CPU cli_cpu_pct=$cli other_cpu_pct=$(other_cpu "$cli")" <<'PY'
import re, sys
def parse(path):
    for line in open(path):
        if line.startswith("ETCDLOAD"):
            return dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
    return {}
g, p = parse(sys.argv[1]), parse(sys.argv[2])
f = lambda d, k: float(d.get(k, 0) or 0)
ops = f(g, "ops_per_s") + f(p, "ops_per_s")
print(f"RESULT {sys.argv[3]} ops_per_s={ops:.0f} errors={int(f(g, 'errors') + f(p, 'errors'))} "
      f"set_p50_ms={f(p, 'p50_ms'):.3f} set_p99_ms={f(p, 'p99_ms'):.3f} get_p50_ms={f(g, 'p50_ms'):.3f} get_p99_ms={f(g, 'p99_ms'):.3f}"
      + ("" if ops > 0 else " status=fail"))
PY
}

# ycsb_system SYSTEM VALUE-BYTES KEYS RUN : start, preload, A/B/C, stop
ycsb_system() {
  local sys=$1 vs=$2 keys=$3 run=$4 wl target=()
  case $sys in
    redis) start_redis_single; target=(--resp "127.0.0.1:$RPORT") ;;
    redis-wait2) start_redis_repl; target=(--resp "127.0.0.1:$RPORT" --wait-replicas 2) ;;
    chainstore-memory) start_chain 3 3 memory; target=(--master "$MASTER") ;;
    chainstore-fsync) start_chain 3 3 fsync; target=(--master "$MASTER") ;;
    # Plain SETs without the smart client's idempotency tags (no record per write on any replica).
    chainstore-memory-untagged) start_chain 3 3 memory; target=(--master "$MASTER" --untagged-writes) ;;
    chainstore-fsync-untagged) start_chain 3 3 fsync; target=(--master "$MASTER" --untagged-writes) ;;
    etcd) start_etcd ;;
  esac
  if [[ $sys == etcd ]]; then
    "$BENCH_BIN/etcdload" -endpoints "$EPS" -op prefill -clients 100 -conns 10 -key-space "$keys" -val-size "$vs" >&2
    local -A readPct=([a]=50 [b]=95 [c]=100 [w]=0)
    for wl in $WORKLOADS; do
      local g=$((ETCD_CLIENTS * ${readPct[$wl]} / 100))
      R etcd_run "section=ycsb system=etcd workload=$wl value=$vs c=$ETCD_CLIENTS run=$run" "$g" $((ETCD_CLIENTS - g)) "$vs" "$keys" | tee -a "$OUT"
    done
  else
    "$BIN/chainload" "${target[@]}" --workload w --keys "$keys" --value-bytes "$vs" --preload --duration 0.1 --warmup 0 --clients 20 >/dev/null 2>&1 || true
    for wl in $WORKLOADS; do
      R cl_run "section=ycsb system=$sys workload=$wl value=$vs c=$CLIENTS run=$run" "${target[@]}" --workload "$wl" \
        --keys "$keys" --value-bytes "$vs" --clients "$CLIENTS" | tee -a "$OUT"
    done
  fi
  stop_system
}

reads_per_node() { for i in 1 2 3; do curl -s "127.0.0.1:$((HTTP_BASE + i))/metrics" | awk '/^chainstore_reads_served_total/{print $2}'; done | paste -sd,; }

# ---------------------------------------------------------------- sections
for section in $SECTIONS; do
  log "== $section"
  case $section in
  loadgen)
    start_redis_single
    for run in $(seq 1 "$REPEATS"); do
      for P in 1 16; do
        R rb_run "section=loadgen system=redis run=$run" 127.0.0.1 "$RPORT" get "$CLIENTS" "$P" $((P == 1 ? 400000 : 3000000)) 100 | tee -a "$OUT"
        R cl_run "section=loadgen system=redis run=$run P=$P workload=get" --resp "127.0.0.1:$RPORT" --workload c --clients "$CLIENTS" \
          --pipeline "$P" | tee -a "$OUT"
      done
    done
    stop_system ;;
  ycsb)
    for run in $(seq 1 "$REPEATS"); do
      for vs in $VALUE_SIZES; do
        keys=$KEYS; [[ $vs == 4096 ]] && keys=$KEYS_4K
        for sys in $YCSB_SYSTEMS; do ycsb_system "$sys" "$vs" "$keys" "$run"; done
      done
    done ;;
  chainlen)
    for run in $(seq 1 "$REPEATS"); do
      for len in 1 2 3 4 5; do
        start_chain "$len" "$len" fsync
        "$BIN/chainload" --master "$MASTER" --workload w --keys "$KEYS" --preload --duration 0.1 --warmup 0 --clients 20 >/dev/null 2>&1 || true
        R cl_run "section=chainlen system=chainstore-fsync length=$len workload=w c=1 run=$run" --master "$MASTER" --workload w --clients 1 --keys "$KEYS" | tee -a "$OUT"
        R cl_run "section=chainlen system=chainstore-fsync length=$len workload=w c=$CLIENTS run=$run" --master "$MASTER" --workload w --clients "$CLIENTS" --keys "$KEYS" | tee -a "$OUT"
        stop_system
      done
    done ;;
  chains)
    for run in $(seq 1 "$REPEATS"); do
      for chains in 1 12; do
        start_chain 3 3 memory "$chains"
        "$BIN/chainload" --master "$MASTER" --workload w --keys "$KEYS" --preload --duration 0.1 --warmup 0 --clients 20 >/dev/null 2>&1 || true
        before=$(reads_per_node)
        line=$(R cl_run "section=chains system=chainstore-memory chains=$chains workload=c c=$CLIENTS run=$run" --master "$MASTER" --workload c --clients "$CLIENTS" --keys "$KEYS")
        echo "$line reads_before=$before reads_after=$(reads_per_node)" | tee -a "$OUT"
        stop_system
      done
    done ;;
  kill)
    mkdir -p Docs/img
    for run in $(seq 1 "$REPEATS"); do
      start_chain 4 3 fsync
      "$BIN/chainload" --master "$MASTER" --workload w --keys 10000 --preload --duration 0.1 --warmup 0 --clients 20 >/dev/null 2>&1 || true
      json=$BENCH_WORKDIR/kill-$run.json
      # The picture comes from the last run.
      "$BIN/chainload" --master "$MASTER" --workload b --duration 20 --warmup 0 --clients 20 --keys 10000 \
        --plot Docs/img/bench-kill-b.svg --json "$json" >"$json.out" 2>&1 &
      load=$!
      sleep 8
      kill -KILL "${SRV_PIDS[1]}"
      wait "$load" || true
      python3 - "$json" "$run" <<'PY' | tee -a "$OUT"
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["operations"]
print(f"RESULT section=kill system=chainstore-fsync workload=b c=20 run={sys.argv[2]} ops_per_s={r['ops_per_s']:.0f} errors={r['total_errors']} "
      f"max_ms={max(o['max_ms'] for o in ops.values()):.1f} events={len(r.get('events') or [])}")
PY
      stop_system
    done ;;
  esac
done

if [[ ${UPDATE_DOCS:-1} == 1 ]]; then
  mkdir -p Docs/bench && cp "$OUT" Docs/bench/
  python3 deploy/bench-report.py Docs/bench/*.log --update Docs/BENCHMARKS.md
  log "tables written to Docs/BENCHMARKS.md (between the bench.sh markers)"
else
  python3 deploy/bench-report.py "$OUT"
fi
log "results: $OUT"
