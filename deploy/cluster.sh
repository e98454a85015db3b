#!/usr/bin/env bash
# A local chainstore cluster for trying it out: one chainmaster and NODES chainservers (default 3,
# replication 3) on 127.0.0.1.
#   up              install dependencies, build release binaries, start everything, show it working
#   down            stop what `up` started (by the PIDs it recorded)
#   status          chainctl status
#   logs [N]        the last N lines of every log
#   start-node I    start node nI (a new node, or one that was stopped) with the standard ports
#   stop-node I     stop node nI gracefully (SIGTERM)
#   kill-node I     kill node nI (SIGKILL), as a crash would
#   restart-master  stop the master and start it again on the same data
#   stop-master, start-master   the two halves (CHAIN_MASTER_FLAGS adds flags, e.g. --recover-nodes)
# env: CHAIN_BIN (binaries to use instead of building release ones)
# env: CHAIN_DIR (./.chainstore-local), NODES (3), REPLICATION (3), MASTER_PORT (7000),
#      CLIENT_BASE (6380: node i listens on CLIENT_BASE+i), PEER_BASE (7380), HTTP_BASE (8380),
#      CHAIN_DURABILITY (fsync)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CHAIN_DIR:-$ROOT/.chainstore-local}
NODES=${NODES:-3}
REPLICATION=${REPLICATION:-3}
MASTER_PORT=${MASTER_PORT:-7000}
CLIENT_BASE=${CLIENT_BASE:-6380}
PEER_BASE=${PEER_BASE:-7380}
HTTP_BASE=${HTTP_BASE:-8380}
DURABILITY=${CHAIN_DURABILITY:-fsync}
MASTER=127.0.0.1:$MASTER_PORT
BIN=${CHAIN_BIN:-$ROOT/.build/release}
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_proc() { # start_proc NAME CMD...
  local name=$1; shift
  if alive "$DIR/$name.pid"; then echo "$name already running (pid $(cat "$DIR/$name.pid"))"; return; fi
  "$@" >>"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

start_master() {
  start_proc master "$BIN/chainmaster" --listen "$MASTER" --data-dir "$DIR/master" --replication "$REPLICATION" \
    --initial-nodes "$NODES" ${CHAIN_MASTER_FLAGS:-}
}

start_node() { # start_node I
  local i=$1
  start_proc "n$i" "$BIN/chainserver" --id "n$i" --master "$MASTER" \
    --listen "127.0.0.1:$((CLIENT_BASE + i))" --peer-listen "127.0.0.1:$((PEER_BASE + i))" \
    --http-listen "127.0.0.1:$((HTTP_BASE + i))" --data-dir "$DIR/n$i" \
    --cluster-secret-file "$DIR/secret" --durability "$DURABILITY"
}

stop_pidfile() { # stop_pidfile FILE SIGNAL
  local f=$1 sig=$2 pid
  [[ -f $f ]] || return 0
  if alive "$f"; then
    pid=$(cat "$f"); kill "-$sig" "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped $(basename "$f" .pid) (pid $pid)"
  fi
  rm -f "$f"
}

up() {
  deploy/install-deps.sh
  if [[ -z ${CHAIN_BIN:-} ]]; then
    echo "== building release binaries (the first build takes a few minutes)" >&2
    swift build -c release --product chainserver 2>&1 | tail -n 1 >&2
    swift build -c release --product chainmaster 2>&1 | tail -n 1 >&2
    swift build -c release --product chainctl 2>&1 | tail -n 1 >&2
    swift build -c release --product chainload 2>&1 | tail -n 1 >&2
  fi
  mkdir -p "$DIR"
  [[ -s $DIR/secret ]] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/secret"; chmod 600 "$DIR/secret"; }
  start_master
  for i in $(seq 1 "$NODES"); do start_node "$i"; done
  if ! "$BIN/chainctl" --master "$MASTER" wait --healthy --timeout 30; then
    echo "cluster did not become healthy; logs:" >&2; logs 20 >&2; exit 1
  fi
  export CHAIN_MASTER=$MASTER
  echo
  echo "\$ chainctl status"; "$BIN/chainctl" status
  p1=$((CLIENT_BASE + 1)); p2=$((CLIENT_BASE + 2)); p3=$((CLIENT_BASE + NODES))
  echo
  echo "Any node takes any key (writes go to the key's chain head, reads to its tail):"
  echo "\$ redis-cli -p $p1 set greeting hello"; redis-cli -p "$p1" set greeting hello
  echo "\$ redis-cli -p $p2 get greeting";       redis-cli -p "$p2" get greeting
  echo "\$ redis-cli -p $p3 incr visits";        redis-cli -p "$p3" incr visits
  echo "\$ chainctl get greeting";                "$BIN/chainctl" get greeting
  echo
  echo "Binaries: $BIN (chainctl, chainserver, chainmaster). Try:"
  echo "  export CHAIN_MASTER=$MASTER PATH=$BIN:\$PATH"
  echo "  chainctl status | chainctl chains | redis-cli -p $p1 | curl 127.0.0.1:$((HTTP_BASE + 1))/metrics"
  echo "Stop: deploy/cluster.sh down"
}

down() {
  local any=0
  for f in "$DIR"/n*.pid "$DIR"/master.pid; do
    [[ -f $f ]] || continue
    alive "$f" && any=1
    stop_pidfile "$f" TERM
  done
  [[ $any == 1 ]] || echo "nothing running"
}

logs() {
  for f in "$DIR"/master.log "$DIR"/n*.log; do
    [[ -f $f ]] && { echo "== $f"; tail -n "${1:-30}" "$f"; }
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) "$BIN/chainctl" --master "$MASTER" status ;;
  logs) logs "${2:-30}" ;;
  start-node) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: deploy/cluster.sh start-node I" >&2; exit 64; }
              start_node "$2"; echo "started n$2 on 127.0.0.1:$((CLIENT_BASE + $2))" ;;
  stop-node) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: deploy/cluster.sh stop-node I" >&2; exit 64; }
             stop_pidfile "$DIR/n$2.pid" TERM ;;
  kill-node) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: deploy/cluster.sh kill-node I" >&2; exit 64; }
             stop_pidfile "$DIR/n$2.pid" KILL ;;
  restart-master) stop_pidfile "$DIR/master.pid" TERM; start_master; echo "master restarted" ;;
  stop-master) stop_pidfile "$DIR/master.pid" TERM ;;
  start-master) start_master; echo "master started" ;;
  *) echo "usage: deploy/cluster.sh up|down|status|logs [N]|start-node I|stop-node I|kill-node I|restart-master|stop-master|start-master" >&2; exit 64 ;;
esac
