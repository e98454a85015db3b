#!/usr/bin/env bash
# Local chainstore for trying it out: `up` installs dependencies, builds release binaries and starts
# a node in the background; `down` stops it; `status` and `logs` show what it does.
#   env: CHAIN_DIR (default ./.chainstore-local), CHAIN_PORT (6380), CHAIN_HTTP_PORT (8380),
#        CHAIN_DURABILITY (fsync)
# Only processes this script started are stopped (by the PID it recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CHAIN_DIR:-$ROOT/.chainstore-local}
PORT=${CHAIN_PORT:-6380}
HTTP_PORT=${CHAIN_HTTP_PORT:-8380}
DURABILITY=${CHAIN_DURABILITY:-fsync}
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"

pidfile="$DIR/chainserver.pid"
running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

up() {
  deploy/install-deps.sh
  echo "== building release binaries (first time: a few minutes)" >&2
  swift build -c release --product chainserver 2>&1 | tail -n 3 >&2
  mkdir -p "$DIR"
  if running; then
    echo "already running (pid $(cat "$pidfile"))" >&2
  else
    "$ROOT/.build/release/chainserver" --standalone --id local-1 --data-dir "$DIR/data" \
      --listen "127.0.0.1:$PORT" --http-listen "127.0.0.1:$HTTP_PORT" --durability "$DURABILITY" \
      >>"$DIR/chainserver.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
      running || { echo "chainserver failed to start:" >&2; tail -n 20 "$DIR/chainserver.log" >&2; exit 1; }
      sleep 0.1
    done
  fi
  redis-cli -p "$PORT" ping >/dev/null || { echo "chainserver does not answer on $PORT" >&2; exit 1; }
  echo
  echo "chainstore is running: RESP on 127.0.0.1:$PORT, HTTP on 127.0.0.1:$HTTP_PORT (data in $DIR/data)"
  echo
  echo "\$ redis-cli -p $PORT set greeting hello"; redis-cli -p "$PORT" set greeting hello
  echo "\$ redis-cli -p $PORT get greeting";       redis-cli -p "$PORT" get greeting
  echo "\$ redis-cli -p $PORT incr visits";        redis-cli -p "$PORT" incr visits
  echo "\$ curl -s 127.0.0.1:$HTTP_PORT/healthz";  curl -s "127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null || echo "(curl not installed)"
  echo
  echo "Try: redis-cli -p $PORT    |  curl 127.0.0.1:$HTTP_PORT/status  |  curl 127.0.0.1:$HTTP_PORT/metrics"
  echo "Stop: deploy/cluster.sh down"
}

down() {
  if running; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped chainserver (pid $pid)"
  else
    echo "not running"
  fi
  rm -f "$pidfile"
}

status() {
  if running; then
    echo "chainserver running (pid $(cat "$pidfile")), RESP 127.0.0.1:$PORT"
    curl -s "127.0.0.1:$HTTP_PORT/status" 2>/dev/null || true
  else
    echo "not running"; exit 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) tail -n "${2:-50}" "$DIR/chainserver.log" ;;
  *) echo "usage: deploy/cluster.sh up|down|status|logs [N]" >&2; exit 64 ;;
esac
