#!/usr/bin/env bash
# CPU per write: what each write costs the three nodes, the figure to compare two builds by.
# Throughput on a shared 2-core machine swings with the neighbours; CPU time per write moves much
# less, so an A/B of two builds alternates them and compares this. Starts a local 3-node cluster
# (R=3) from the binaries in each directory, runs chainload's write-only workload, and prints
# writes/s, the nodes' CPU time per write (user+system, all three nodes together, from
# /proc/PID/stat), split by thread (event loop, store writer and other workers, RocksDB flush,
# RocksDB compaction), chainload's own CPU per write and latency (p50, p99, p99.9, max), and the
# store entries (memtable entries) each node wrote per write (`chainstore_store_entries_total`).
# The word `redis-wait2` in place of a directory runs the peer instead, in the same alternation:
# a Redis primary and two replicas without persistence, chainload sending SET then WAIT 2 per
# write (as the suite does); its three processes' CPU is counted the same way.
#   usage: deploy/bench-write-cpu.sh [BIN_DIR | redis-wait2 ...]      (default: .build/release)
#   env:   DURATION (12) ROUNDS (3) CLIENTS (50) CHAIN_DURABILITY (memory)
#          WARMUP (0): seconds of the same load before the measured DURATION, not counted. A fresh
#          cluster spends its first minute growing what a running one has grown already (its
#          catch-up backlogs, its request-record table, page faults for both); a warm-up of
#          about 30 s measures the steady state instead. Redis gets the same warm-up.
#          CHAINLOAD_ARGS (extra chainload flags for chainstore runs, e.g. --untagged-writes)
#          CHAIN_NODE_FLAGS, CHAIN_MASTER_FLAGS (extra server flags, passed on by deploy/cluster.sh)
# With more than one round it ends with each build's CPU per write as min / median / max: on a
# shared host single rounds swing by tens of percent, so compare the spreads, not one pair.
# Examples (a build before a change in /tmp/before, the current one; this build against Redis):
#   deploy/bench-write-cpu.sh /tmp/before .build/release
#   deploy/bench-write-cpu.sh .build/release redis-wait2
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIRS=("$@")
[[ ${#DIRS[@]} -eq 0 ]] && DIRS=("$ROOT/.build/release")
DURATION=${DURATION:-12}
WARMUP=${WARMUP:-0}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
export CHAIN_DIR=${CHAIN_DIR:-/tmp/chainstore-write-cpu} NODES=3 MASTER_PORT=12200 CLIENT_BASE=12210 \
  PEER_BASE=12220 HTTP_BASE=12230 CHAIN_DURABILITY=${CHAIN_DURABILITY:-memory}
SUMMARY=$(mktemp)
REDIS_DIR=/tmp/bench-write-cpu-redis
REDIS_PORT=12240
REDIS_PIDS=()
stop_redis() {
  ((${#REDIS_PIDS[@]})) || return 0
  kill "${REDIS_PIDS[@]}" 2>/dev/null || true
  wait "${REDIS_PIDS[@]}" 2>/dev/null || true
  REDIS_PIDS=()
}
start_redis() { # primary + 2 replicas, no persistence; pid files in REDIS_DIR
  rm -rf "$REDIS_DIR"; mkdir -p "$REDIS_DIR"
  for i in 0 1 2; do
    local of=()
    ((i > 0)) && of=(--replicaof 127.0.0.1 "$REDIS_PORT")
    # A directory of its own for each (a replica's sync writes a dump file there).
    mkdir -p "$REDIS_DIR/r$i"
    redis-server --port $((REDIS_PORT + i)) --bind 127.0.0.1 --save "" --appendonly no --dir "$REDIS_DIR/r$i" \
      "${of[@]}" >"$REDIS_DIR/r$i.log" 2>&1 &
    REDIS_PIDS+=($!); echo $! >"$REDIS_DIR/r$i.pid"
  done
  for _ in $(seq 1 100); do
    # connected is not enough: WAIT counts only replicas whose initial sync is done
    [[ $(redis-cli -p "$REDIS_PORT" info replication 2>/dev/null | grep -c 'state=online') == 2 ]] && return 0
    sleep 0.1
  done
  echo "redis replicas did not connect ($REDIS_DIR)" >&2; exit 1
}
trap 'deploy/cluster.sh down >/dev/null 2>&1 || true; stop_redis; rm -f "$SUMMARY"' EXIT
# chainload for the Redis runs: the first chainstore build's, else this tree's release build
LOADER=$ROOT/.build/release/chainload
for d in "${DIRS[@]}"; do [[ $d != redis-wait2 ]] && { LOADER=$(cd "$d" && pwd)/chainload; break; }; done
for ((r = 1; r <= ROUNDS; r++)); do
  for d in "${DIRS[@]}"; do
    if [[ $d == redis-wait2 ]]; then
      command -v redis-server >/dev/null || { echo "redis-server missing (../shared/bench/setup.sh installs it)" >&2; exit 1; }
      [[ -x $LOADER ]] || { echo "$LOADER missing" >&2; exit 1; }
      start_redis
      chainload=$LOADER; target="--resp 127.0.0.1:$REDIS_PORT --wait-replicas 2"; pidfiles=("$REDIS_DIR"/r*.pid)
    else
      bin=$(cd "$d" && pwd)
      for b in chainserver chainmaster chainctl chainload; do [[ -x $bin/$b ]] || { echo "$bin/$b missing" >&2; exit 1; }; done
      rm -rf "$CHAIN_DIR"
      CHAIN_BIN=$bin deploy/cluster.sh up >"/tmp/bench-write-cpu.up.log" 2>&1 || { echo "cluster did not start (/tmp/bench-write-cpu.up.log)" >&2; exit 1; }
      chainload=$bin/chainload; target="--master 127.0.0.1:12200 ${CHAINLOAD_ARGS:-}"; pidfiles=("$CHAIN_DIR"/n*.pid)
    fi
    TARGET_ARGS=$target WARMUP=$WARMUP python3 - "$d" "$chainload" "$CLIENTS" "$DURATION" "$SUMMARY" "${pidfiles[@]}" <<'PY'
import json, os, resource, subprocess, sys
d, chainload, clients, dur, summary, pidfiles = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6:]
hz = os.sysconf("SC_CLK_TCK")
def thread_ticks():
    """CPU ticks of the nodes' threads by role: the event loop (the main thread), RocksDB's
    flush (rocksdb:high) and compaction (rocksdb:low) threads, and the rest (the store writer's
    dispatch queue, transfers)."""
    t = {"loop": 0, "store+other": 0, "flush": 0, "compaction": 0}
    k = {"user": 0, "system": 0, "minor faults": 0, "context switches": 0}
    for f in pidfiles:
        pid = open(f).read().strip()
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            role = ("loop" if tid == pid else "flush" if name == "rocksdb:high"
                    else "compaction" if name == "rocksdb:low" else "store+other")
            t[role] += int(fields[11]) + int(fields[12])  # utime, stime
            k["user"] += int(fields[11])
            k["system"] += int(fields[12])
            k["minor faults"] += int(fields[7])
            try:
                for line in open(f"/proc/{pid}/task/{tid}/status"):
                    if "ctxt_switches:" in line:  # voluntary_ and nonvoluntary_
                        k["context switches"] += int(line.split()[-1])
            except OSError:
                pass
    return t, k
def store_entries():
    """Per node, the entries written to RocksDB so far (memtable entries), from /metrics; None
    for Redis or a build without the counter."""
    if "--master" not in os.environ["TARGET_ARGS"]:
        return None
    import urllib.request
    counts = []
    for i in range(1, len(pidfiles) + 1):
        port = int(os.environ["HTTP_BASE"]) + i
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        lines = [l for l in text.splitlines() if l.startswith("chainstore_store_entries_total")]
        if not lines:
            return None
        counts.append(float(lines[0].split()[-1]))
    return counts
if float(os.environ["WARMUP"]) > 0:
    subprocess.run([chainload, "--workload", "w", "--clients", clients, "--duration", os.environ["WARMUP"],
                    "--warmup", "0"] + os.environ["TARGET_ARGS"].split(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
e0 = store_entries()
ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
r0, k0 = thread_ticks()
t0 = sum(r0.values())
subprocess.run([chainload, "--workload", "w", "--clients", clients,
                "--duration", sys.argv[4], "--warmup", "0", "--json", "/tmp/bench-write-cpu.json"]
               + os.environ["TARGET_ARGS"].split(),
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
r1, k1 = thread_ticks()
t1 = sum(r1.values())
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
r = json.load(open("/tmp/bench-write-cpu.json"))
ops = r["total_ops"]
print(f"{d}: {ops / dur:.0f} writes/s, servers {(t1 - t0) / hz * 1e6 / ops:.0f} us CPU per write, "
      f"chainload {(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e6 / ops:.0f} us per write, errors {r['total_errors']}")
lat = r["operations"].get("set") or next(iter(r["operations"].values()))
# Latency as chainload saw it (a change that saves CPU but stalls the loops shows here).
print(f"   latency: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, p99.9 {lat['p999_ms']:.2f} ms, max {lat['max_ms']:.1f} ms")
e1 = store_entries()
if e0 is not None and e1 is not None:
    # Every node holds every chain (3 nodes, R=3): each applies every write.
    print("   store entries (memtable) per write, per node: " + ", ".join(f"n{i + 1} {(b - a) / ops:.2f}" for i, (a, b) in enumerate(zip(e0, e1))))
print("   servers' CPU per write by thread: " + ", ".join(f"{k} {(r1[k] - r0[k]) / hz * 1e6 / ops:.1f} us" for k in r0))
# Kernel time, page faults (an allocator that hands memory back and faults it in again shows
# here) and context switches (voluntary and not), all threads of the three servers.
print(f"   servers per write: user {(k1['user'] - k0['user']) / hz * 1e6 / ops:.1f} us, "
      f"system {(k1['system'] - k0['system']) / hz * 1e6 / ops:.1f} us, "
      f"minor faults {(k1['minor faults'] - k0['minor faults']) / ops:.3f}, "
      f"context switches {(k1['context switches'] - k0['context switches']) / ops:.2f}")
with open(summary, "a") as f:
    f.write(f"{d}\t{(t1 - t0) / hz * 1e6 / ops:.1f}\n")
PY
    if [[ $d == redis-wait2 ]]; then stop_redis; else deploy/cluster.sh down >/dev/null 2>&1; fi
  done
done
if ((ROUNDS > 1)); then
  python3 - "$SUMMARY" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    d, us = line.rstrip("\n").split("\t")
    runs.setdefault(d, []).append(float(us))
for d, v in runs.items():
    print(f"{d}: servers' CPU per write over {len(v)} rounds: min {min(v):.0f} / median {statistics.median(v):.0f} / max {max(v):.0f} us")
PY
fi
