#!/usr/bin/env bash
# Replicated benchmark, one run on this machine: a 3-node chainstore cluster (R=3, --durability
# memory and fsync) against a 3-node etcd cluster and against Redis primary + 2 replicas where
# every SET waits for both replicas (WAIT 2 0), for 100% writes and for 95/5 reads/writes,
# 100-byte values, 100k keys. Then 1 chain versus the interleaved table on a read-only load.
# chainstore and Redis are driven by chainload (the same client for both); etcd by the peer
# harness's etcdload. Uses ../shared/bench (run its setup.sh once for etcd and etcdload).
#   env: DURATION (10), CLIENTS (50), ETCD_CLIENTS (100), BENCH_HARNESS
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
source "$HARNESS/lib/common.sh"
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
WITH_REDIS_SERVER=1 deploy/install-deps.sh
swift build -c release 2>&1 | tail -n 1 >&2
BIN=$ROOT/.build/release
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
ETCD_CLIENTS=${ETCD_CLIENTS:-100}
need_bin redis-server etcd etcdctl "$BENCH_BIN/etcdload"
bench_init cluster
OUT=$BENCH_WORKDIR/results.log
: >"$OUT"

# cl_run LABEL CHAINLOAD-ARGS... -> RESULT line from chainload's JSON report
cl_run() {
  local label=$1; shift
  local json=$BENCH_WORKDIR/cl.$RANDOM.json
  measure_begin "${SRV_PIDS[@]}"
  run_timed "$json.out" $((DURATION + 120)) "$BIN/chainload" --duration "$DURATION" --warmup 2 --clients "$CLIENTS" --json "$json" "$@" || true
  measure_end
  python3 - "$json" "$label srv_cpu_pct=$SRV_CPU cli_cpu_pct=$CLI_CPU" <<'PY' | tee -a "$OUT"
import json, sys
try: r = json.load(open(sys.argv[1]))
except Exception as e: print(f"RESULT {sys.argv[2]} status=fail"); sys.exit()
ops = r["operations"]; allp = lambda k: max(o[k] for o in ops.values())
w = ops.get("set", {}); g = ops.get("get", {})
print(f"RESULT {sys.argv[2]} ops_per_s={r['ops_per_s']:.0f} errors={r['total_errors']} "
      f"set_p50_ms={w.get('p50_ms', 0):.3f} set_p99_ms={w.get('p99_ms', 0):.3f} get_p50_ms={g.get('p50_ms', 0):.3f} get_p99_ms={g.get('p99_ms', 0):.3f}")
PY
}

# ---- Redis primary + 2 replicas, SET then WAIT 2
RP=$((21000 + RANDOM % 1000))
start_bg "$BENCH_WORKDIR/r0.log" redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no; R0=$LAST_PID
start_bg "$BENCH_WORKDIR/r1.log" redis-server --port $((RP + 1)) --bind 127.0.0.1 --save "" --appendonly no --replicaof 127.0.0.1 "$RP"; R1=$LAST_PID
start_bg "$BENCH_WORKDIR/r2.log" redis-server --port $((RP + 2)) --bind 127.0.0.1 --save "" --appendonly no --replicaof 127.0.0.1 "$RP"; R2=$LAST_PID
wait_port "$RP"; wait_port $((RP + 1)); wait_port $((RP + 2))
for _ in $(seq 1 100); do [[ $(redis-cli -p "$RP" info replication | tr -d '\r' | sed -n 's/connected_slaves://p') == 2 ]] && break; sleep 0.1; done
SRV_PIDS=("$R0" "$R1" "$R2")
"$BIN/chainload" --resp "127.0.0.1:$RP" --workload w --ops 100000 --duration 60 --warmup 0 --clients 20 --pipeline 32 >/dev/null 2>&1 || true
cl_run "system=redis-primary+2 persist=none wait=2 workload=w c=$CLIENTS" --resp "127.0.0.1:$RP" --wait-replicas 2 --workload w
cl_run "system=redis-primary+2 persist=none wait=2 workload=b c=$CLIENTS" --resp "127.0.0.1:$RP" --wait-replicas 2 --workload b
stop_pids "$R0" "$R1" "$R2"

# ---- chainstore, 3 nodes, R=3
chain_cluster() { # chain_cluster DURABILITY CHAINS -> starts master + 3 nodes, sets CPIDS
  local dur=$1 chains=$2
  local base=$((22000 + RANDOM % 1000)) d=$BENCH_WORKDIR/chain-$dur-$RANDOM
  mkdir -p "$d"; echo "bench-cluster-secret-0123456789" >"$d/secret"
  MASTER=127.0.0.1:$base
  start_bg "$d/master.log" "$BIN/chainmaster" --listen "$MASTER" --data-dir "$d/m" --replication 3 ${chains:+--chains $chains}
  CPIDS=("$LAST_PID")
  for i in 1 2 3; do
    start_bg "$d/n$i.log" "$BIN/chainserver" --id "n$i" --master "$MASTER" --listen "127.0.0.1:$((base + i))" \
      --peer-listen "127.0.0.1:$((base + 10 + i))" --http-listen "127.0.0.1:$((base + 20 + i))" --data-dir "$d/n$i" \
      --cluster-secret-file "$d/secret" --durability "$dur"
    CPIDS+=("$LAST_PID")
  done
  HTTP_BASE=$((base + 20))
  "$BIN/chainctl" --master "$MASTER" wait --healthy --timeout 30 >&2
  SRV_PIDS=("${CPIDS[@]:1}")
  "$BIN/chainload" --master "$MASTER" --workload w --ops 100000 --duration 120 --warmup 0 --clients 50 >/dev/null 2>&1 || true
}
reads_per_node() { for i in 1 2 3; do curl -s "127.0.0.1:$((HTTP_BASE + i))/metrics" | awk '/^chainstore_reads_served_total/{print $2}'; done | paste -sd' '; }

for dur in memory fsync; do
  chain_cluster "$dur" ""
  cl_run "system=chainstore persist=$dur chains=12 workload=w c=$CLIENTS" --master "$MASTER" --workload w
  cl_run "system=chainstore persist=$dur chains=12 workload=b c=$CLIENTS" --master "$MASTER" --workload b
  if [[ $dur == memory ]]; then
    before=$(reads_per_node)
    cl_run "system=chainstore persist=$dur chains=12 workload=c c=$CLIENTS" --master "$MASTER" --workload c
    echo "READS chains=12 before=[$before] after=[$(reads_per_node)]" | tee -a "$OUT"
  fi
  stop_pids "${CPIDS[@]}"
done
chain_cluster memory 1
before=$(reads_per_node)
cl_run "system=chainstore persist=memory chains=1 workload=c c=$CLIENTS" --master "$MASTER" --workload c
echo "READS chains=1 before=[$before] after=[$(reads_per_node)]" | tee -a "$OUT"
stop_pids "${CPIDS[@]}"

# ---- etcd, 3 members (fsync), etcdload from the peer harness
EB=$((23000 + RANDOM % 500)); CL=""; EPS=""; EPIDS=()
for i in 1 2 3; do CL+="${CL:+,}e$i=http://127.0.0.1:$((EB + 10 + i))"; EPS+="${EPS:+,}127.0.0.1:$((EB + i))"; done
for i in 1 2 3; do
  start_bg "$BENCH_WORKDIR/etcd$i.log" etcd --name "e$i" --data-dir "$BENCH_WORKDIR/etcd$i" \
    --listen-client-urls "http://127.0.0.1:$((EB + i))" --advertise-client-urls "http://127.0.0.1:$((EB + i))" \
    --listen-peer-urls "http://127.0.0.1:$((EB + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((EB + 10 + i))" \
    --initial-cluster "$CL" --initial-cluster-state new --quota-backend-bytes 8589934592 --logger zap --log-level warn
  EPIDS+=("$LAST_PID")
done
for i in 1 2 3; do wait_port $((EB + i)) 30; done
for _ in $(seq 1 100); do ETCDCTL_API=3 etcdctl --endpoints="$EPS" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
SRV_PIDS=("${EPIDS[@]}")
"$BENCH_BIN/etcdload" -endpoints "$EPS" -op prefill -clients 100 -conns 10 -key-space 100000 -val-size 100 >&2
el() { # el LABEL ARGS...
  local label=$1; shift; local o=$BENCH_WORKDIR/el.$RANDOM
  measure_begin "${SRV_PIDS[@]}"
  run_timed "$o" $((DURATION + 60)) "$BENCH_BIN/etcdload" -endpoints "$EPS" -duration "${DURATION}s" -key-space 100000 "$@" || true
  measure_end
  echo "RESULT $label $(grep '^ETCDLOAD' "$o" | sed 's/^ETCDLOAD //') srv_cpu_pct=$SRV_CPU cli_cpu_pct=$CLI_CPU" | tee -a "$OUT"
}
el "system=etcd persist=fsync workload=w c=$ETCD_CLIENTS" -op put -clients "$ETCD_CLIENTS" -conns 10 -total 10000000 -val-size 100
# 95/5: two loaders at once, 95 reading (linearizable) and 5 writing clients.
measure_begin "${SRV_PIDS[@]}"
"$BENCH_BIN/etcdload" -endpoints "$EPS" -duration "${DURATION}s" -key-space 100000 -op get -consistency l -clients 95 -conns 10 -total 100000000 >"$BENCH_WORKDIR/mix-get" 2>&1 &
g=$!
"$BENCH_BIN/etcdload" -endpoints "$EPS" -duration "${DURATION}s" -key-space 100000 -op put -clients 5 -conns 2 -total 100000000 -val-size 100 >"$BENCH_WORKDIR/mix-put" 2>&1 &
p=$!
wait $g $p || true
measure_end
gl=$(grep '^ETCDLOAD' "$BENCH_WORKDIR/mix-get"); pl=$(grep '^ETCDLOAD' "$BENCH_WORKDIR/mix-put")
go=$(echo "$gl" | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p'); po=$(echo "$pl" | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p')
echo "RESULT system=etcd persist=fsync workload=b(95get+5put clients) ops_per_s=$((go + po)) get_ops_per_s=$go set_ops_per_s=$po get_p50_ms=$(echo "$gl" | sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p') get_p99_ms=$(echo "$gl" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p') set_p50_ms=$(echo "$pl" | sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p') set_p99_ms=$(echo "$pl" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p') srv_cpu_pct=$SRV_CPU" | tee -a "$OUT"
stop_pids "${EPIDS[@]}"
echo "results: $OUT" >&2
