#!/usr/bin/env bash
# A local chainstore cluster for trying it out: one chainmaster and NODES chainservers (default 3,
# replication 3) on 127.0.0.1.
#   up              install dependencies, build release binaries, start everything, show it working
#   down            stop what `up` started (by the PIDs it recorded)
#   status          chainctl status
#   env             the exports clients need for a SECURE=1 cluster (eval "$(deploy/cluster.sh env)")
#   logs [N]        the last N lines of every log
#   start-node I    start node nI (a new node, or one that was stopped) with the standard ports
#   stop-node I     stop node nI gracefully (SIGTERM)
#   kill-node I     kill node nI (SIGKILL), as a crash would
#   restart-master  stop the master and start it again on the same data
#   stop-master, start-master   the two halves (CHAIN_MASTER_FLAGS adds flags, e.g. --recover-nodes;
#                   CHAIN_NODE_FLAGS adds flags to every node)
# env: SECURE=1 with `up`: the cluster runs with authentication and TLS everywhere (a CA and a
#      certificate for 127.0.0.1 made with openssl, an API token, a client password, all in
#      CHAIN_DIR/secure); later commands on the same CHAIN_DIR remember it. `env` prints the
#      exports that point chainctl, chainload and redis-cli at those files.
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

SEC=$DIR/secure
secure() { [[ -f $SEC/enabled ]]; }

# make_secrets: a CA, one certificate for 127.0.0.1 (the master's and every node's), the master's
# API token and the client password; kept if they exist.
make_secrets() {
  mkdir -p "$SEC"; chmod 700 "$SEC"
  if [[ ! -s $SEC/node.pem ]]; then
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$SEC/ca.key" -out "$SEC/ca.pem" -days 365 -subj "/CN=chainstore local CA" 2>/dev/null
    openssl req "${ec[@]}" -keyout "$SEC/node.key" -out "$SEC/node.csr" -subj "/CN=chainstore local node" 2>/dev/null
    echo "subjectAltName=IP:127.0.0.1" >"$SEC/san.ext"
    openssl x509 -req -in "$SEC/node.csr" -CA "$SEC/ca.pem" -CAkey "$SEC/ca.key" -CAcreateserial \
      -out "$SEC/node.pem" -days 365 -extfile "$SEC/san.ext" 2>/dev/null
  fi
  [[ -s $SEC/token ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SEC/token"
  [[ -s $SEC/password ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SEC/password"
  chmod 600 "$SEC"/*.key "$SEC/token" "$SEC/password"
  touch "$SEC/enabled"
}

master_security() { secure && echo --tls-cert-file "$SEC/node.pem" --tls-key-file "$SEC/node.key" --api-token-file "$SEC/token"; true; }
node_security() {
  secure && echo --tls-cert-file "$SEC/node.pem" --tls-key-file "$SEC/node.key" --tls-ca-file "$SEC/ca.pem" \
    --peer-tls --master-tls --http-tls --master-token-file "$SEC/token" --requirepass-file "$SEC/password"
  true
}
# What the clients need to reach a secure cluster (chainctl and chainload read the CHAIN_* files;
# redis-cli reads REDISCLI_AUTH).
client_env() {
  secure || return 0
  echo "export CHAIN_TLS_CA_FILE=$SEC/ca.pem CHAIN_MASTER_TOKEN_FILE=$SEC/token CHAIN_PASSWORD_FILE=$SEC/password"
  echo "export REDISCLI_AUTH=\$(cat $SEC/password)"
}
# redis-cli with the TLS flags of a secure cluster.
rcli() { if secure; then redis-cli --tls --cacert "$SEC/ca.pem" "$@"; else redis-cli "$@"; fi; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

source deploy/spawn.sh

start_proc() { # start_proc NAME CMD...
  local name=$1; shift
  if alive "$DIR/$name.pid"; then echo "$name already running (pid $(cat "$DIR/$name.pid"))"; return; fi
  spawn "$DIR/$name.log" "$DIR/$name.pid" "$@"
}

start_master() {
  start_proc master "$BIN/chainmaster" --listen "$MASTER" --data-dir "$DIR/master" --replication "$REPLICATION" \
    --initial-nodes "$NODES" $(master_security) ${CHAIN_MASTER_FLAGS:-}
}

start_node() { # start_node I
  local i=$1
  start_proc "n$i" "$BIN/chainserver" --id "n$i" --master "$MASTER" \
    --listen "127.0.0.1:$((CLIENT_BASE + i))" --peer-listen "127.0.0.1:$((PEER_BASE + i))" \
    --http-listen "127.0.0.1:$((HTTP_BASE + i))" --data-dir "$DIR/n$i" \
    --cluster-secret-file "$DIR/secret" --durability "$DURABILITY" $(node_security) ${CHAIN_NODE_FLAGS:-}
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
  [[ ${SECURE:-0} == 1 ]] && make_secrets
  eval "$(client_env)"
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
  local tls=""
  secure && tls="--tls --cacert $SEC/ca.pem "
  echo "\$ redis-cli ${tls}-p $p1 set greeting hello"; rcli -p "$p1" set greeting hello
  echo "\$ redis-cli ${tls}-p $p2 get greeting";       rcli -p "$p2" get greeting
  echo "\$ redis-cli ${tls}-p $p3 incr visits";        rcli -p "$p3" incr visits
  echo "\$ chainctl get greeting";                       "$BIN/chainctl" get greeting
  echo
  if secure; then
    echo "Authentication and TLS are on: every link speaks TLS (CA $SEC/ca.pem), the master wants"
    echo "the token in $SEC/token, clients the password in $SEC/password. Without them:"
    echo "\$ redis-cli ${tls}-p $p1 get greeting   (no password)"; (unset REDISCLI_AUTH; rcli -p "$p1" get greeting) || true
    echo
    echo "Binaries: $BIN (chainctl, chainserver, chainmaster, chainload). Try:"
    echo "  eval \"\$(deploy/cluster.sh env)\"; export CHAIN_MASTER=$MASTER PATH=$BIN:\$PATH"
    echo "  chainctl status | redis-cli ${tls}-p $p1 | curl --cacert $SEC/ca.pem https://127.0.0.1:$((HTTP_BASE + 1))/metrics"
    echo "  chainload --master $MASTER --tls-ca-file $SEC/ca.pem --password-file $SEC/password --token-file $SEC/token"
  else
    echo "Binaries: $BIN (chainctl, chainserver, chainmaster, chainload). Try:"
    echo "  export CHAIN_MASTER=$MASTER PATH=$BIN:\$PATH"
    echo "  chainctl status | chainctl chains | redis-cli -p $p1 | curl 127.0.0.1:$((HTTP_BASE + 1))/metrics"
  fi
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
  status) eval "$(client_env)"; "$BIN/chainctl" --master "$MASTER" status ;;
  env) client_env ;;
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
  *) echo "usage: deploy/cluster.sh up|down|status|env|logs [N]|start-node I|stop-node I|kill-node I|restart-master|stop-master|start-master" >&2; exit 64 ;;
esac
