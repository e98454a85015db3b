#!/usr/bin/env bash
# Instructions per SET of a standalone node, RocksDB's background threads included: callgrind
# of `chainserver --standalone --durability memory` under `redis-benchmark -t set -P 16`, enough
# SETs that the memtable is flushed several times (64 MiB holds about 450k of these entries), so
# the flush and compaction threads' share of a write shows. Exact and repeatable, unlike CPU
# time on a shared machine; use it to compare builds.
#   usage: deploy/instr-standalone.sh [BUILD_DIR (.build/release)] [SETS (1200000)]
#   env: KEYS (100000, redis-benchmark -r), VALUE_BYTES (100), KEEP=1 keeps the callgrind files
# Prints, per thread, instructions per SET and its role (loop, flush, compaction, other), then
# the total. Takes about three minutes for 1.2M SETs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-.build/release}
SETS=${2:-1200000}
KEYS=${KEYS:-100000}
VALUE_BYTES=${VALUE_BYTES:-100}
for b in valgrind callgrind_annotate redis-benchmark redis-cli objcopy; do
  command -v "$b" >/dev/null || { echo "instr-standalone: $b is needed (apt-get install valgrind redis-tools binutils)" >&2; exit 1; }
done
[[ -x $BUILD/chainserver ]] || { echo "instr-standalone: no chainserver in $BUILD (swift build -c release)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/instr-standalone.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [[ ${KEEP:-0} == 1 ]] && echo "callgrind files kept in $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
# valgrind cannot read the DWARF 5 line tables Swift writes; function names need only symbols.
objcopy --strip-debug "$BUILD/chainserver" "$WORK/chainserver"
PORT=$((30000 + RANDOM % 10000))

valgrind --tool=callgrind --separate-threads=yes --dump-instr=no --callgrind-out-file="$WORK/cg.%p" \
  "$WORK/chainserver" --standalone --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --http-listen "" \
  --durability memory >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 240); do
  redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done
redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG || { echo "instr-standalone: server did not answer" >&2; exit 1; }
redis-benchmark -p "$PORT" -t set -n "$SETS" -P 16 -c 50 -r "$KEYS" -d "$VALUE_BYTES" -q >"$WORK/bench.log" 2>&1
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

total=0
for f in "$WORK"/cg.*-*; do
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
  [[ -z $ir || $ir == 0 ]] && continue
  case $f in
    *-01) role=loop ;;
    *) if grep -q "FlushJob::Run" "$f"; then role=flush
       elif grep -q "CompactionJob::Run" "$f"; then role=compaction
       else role=other; fi ;;
  esac
  total=$((total + ir))
  awk -v ir="$ir" -v n="$SETS" -v r="$role" -v t="${f##*-}" 'BEGIN { if (ir / n >= 1) printf "thread %s %-10s %7.0f instructions/SET\n", t, r, ir / n }'
done
awk -v ir="$total" -v n="$SETS" 'BEGIN { printf "total             %7.0f instructions/SET (%d SETs)\n", ir / n, n }'
