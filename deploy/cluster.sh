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
# env: HA=1 with `up`: a highly available cluster: a 3-member etcd on loopback (ports
#      ETCD_BASE+1..3, peers ETCD_PEER_BASE+1..3), three chainmasters on MASTER_PORT..MASTER_PORT+2
#      that elect a leader through etcd, and the nodes given all three; later commands on the same
#      CHAIN_DIR remember it. Then also:
#   stop-master I / kill-master I / start-master I   master mI (SIGTERM / SIGKILL / start)
#   stop-etcd I / kill-etcd I / start-etcd I         etcd member eI
#   replace-etcd I  replace member eI by a fresh one (etcdctl member remove/add, empty data dir)
#   move-to-etcd    (a file-store cluster) start etcd, move the master's state into it, and run
#                   three masters on it instead of the one (the first on the old master's port)
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
ETCD_BASE=${ETCD_BASE:-12379}
ETCD_PEER_BASE=${ETCD_PEER_BASE:-12389}
ETCD_PREFIX=${ETCD_PREFIX:-/chainstore/local}
BIN=${CHAIN_BIN:-$ROOT/.build/release}
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"

SEC=$DIR/secure
secure() { [[ -f $SEC/enabled ]]; }
ha() { [[ -f $DIR/ha ]]; }
[[ ${HA:-0} == 1 && ${1:-} == up ]] && { mkdir -p "$DIR"; touch "$DIR/ha"; }
if ha; then
  MASTER=127.0.0.1:$MASTER_PORT,127.0.0.1:$((MASTER_PORT + 1)),127.0.0.1:$((MASTER_PORT + 2))
else
  MASTER=127.0.0.1:$MASTER_PORT
fi
ETCD_ENDPOINTS=127.0.0.1:$((ETCD_BASE + 1)),127.0.0.1:$((ETCD_BASE + 2)),127.0.0.1:$((ETCD_BASE + 3))

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

start_master() { # start_master [I]: the master (HA: master mI)
  if ha; then
    local i=${1:?start_master I}
    start_proc "m$i" "$BIN/chainmaster" --listen "127.0.0.1:$((MASTER_PORT + i - 1))" --store etcd \
      --etcd-endpoints "$ETCD_ENDPOINTS" --etcd-prefix "$ETCD_PREFIX" --replication "$REPLICATION" \
      --initial-nodes "$NODES" $(master_security) ${CHAIN_MASTER_FLAGS:-}
    return
  fi
  start_proc master "$BIN/chainmaster" --listen "$MASTER" --data-dir "$DIR/master" --replication "$REPLICATION" \
    --initial-nodes "$NODES" $(master_security) ${CHAIN_MASTER_FLAGS:-}
}

start_etcd() { # start_etcd I: etcd member eI of the local 3-member etcd cluster
  local i=$1 cluster="" j
  for j in 1 2 3; do cluster+="${cluster:+,}e$j=http://127.0.0.1:$((ETCD_PEER_BASE + j))"; done
  local state=${ETCD_STATE:-new}
  [[ -d $DIR/etcd$i/member ]] && state=existing
  # Short raft timeouts on loopback: etcd then accepts the masters' 1 s lease TTL.
  start_proc "e$i" etcd --name "e$i" --data-dir "$DIR/etcd$i" \
    --listen-client-urls "http://127.0.0.1:$((ETCD_BASE + i))" --advertise-client-urls "http://127.0.0.1:$((ETCD_BASE + i))" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PEER_BASE + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PEER_BASE + i))" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token chainstore-local \
    --heartbeat-interval 50 --election-timeout 500 --log-level warn
}

etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint health >/dev/null 2>&1; }

start_etcd_cluster() {
  WITH_ETCD=1 deploy/install-deps.sh
  for i in 1 2 3; do start_etcd "$i"; done
  for _ in $(seq 1 100); do etcd_healthy && break; sleep 0.1; done
  etcd_healthy || { echo "etcd did not become healthy; logs:" >&2; logs 20 >&2; exit 1; }
}

# replace_etcd I: what an operator does for a dead etcd member: remove it from the etcd cluster,
# add a fresh one with the same name and peer address, start it on an empty data directory.
replace_etcd() {
  local i=$1 peer="http://127.0.0.1:$((ETCD_PEER_BASE + $1))" id others="" j
  for j in 1 2 3; do [[ $j == "$i" ]] || others+="${others:+,}127.0.0.1:$((ETCD_BASE + j))"; done
  stop_pidfile "$DIR/e$i.pid" KILL >/dev/null
  id=$(ETCDCTL_API=3 etcdctl --endpoints "$others" member list | awk -F', ' -v n="e$i" '$3 == n { print $1 }')
  [[ -n $id ]] && ETCDCTL_API=3 etcdctl --endpoints "$others" member remove "$id"
  rm -rf "$DIR/etcd$i"
  # etcd refuses to add a member until the survivors have been connected to each other for 5 s
  # ("unhealthy cluster"), e.g. right after the dead member was their leader: retry, bounded.
  local added="" err
  for _ in $(seq 1 30); do
    if err=$(ETCDCTL_API=3 etcdctl --endpoints "$others" member add "e$i" --peer-urls="$peer" 2>&1 >/dev/null); then added=1; break; fi
    [[ $err == *"unhealthy cluster"* ]] || break
    sleep 0.5
  done
  [[ -n $added ]] || { echo "etcdctl member add e$i failed: $err" >&2; exit 1; }
  ETCD_STATE=existing start_etcd "$i"
  for _ in $(seq 1 100); do etcd_healthy && break; sleep 0.1; done
  etcd_healthy && echo "etcd e$i replaced and healthy"
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
  if ha; then
    start_etcd_cluster
    for i in 1 2 3; do start_master "$i"; done
  else
    start_master
  fi
  for i in $(seq 1 "$NODES"); do start_node "$i"; done
  # A cluster stopped cleanly by `down` resumes once its members are back (they keep their chains).
  local resumed
  if resumed=$("$BIN/chainctl" --master "$MASTER" start-cluster --wait --timeout 60 2>&1); then
    echo "$resumed"
  elif ! grep -q "not stopped" <<<"$resumed"; then
    echo "$resumed" >&2
  fi
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
    echo "  chainctl status"
    echo "  redis-cli ${tls}-p $p1"
    echo "  curl --cacert $SEC/ca.pem https://127.0.0.1:$((HTTP_BASE + 1))/metrics"
    echo "  chainload --master $MASTER --tls-ca-file $SEC/ca.pem --password-file $SEC/password --token-file $SEC/token --workload b --preload --duration 10"
  else
    echo "Binaries: $BIN (chainctl, chainserver, chainmaster, chainload). Try:"
    echo "  export CHAIN_MASTER=$MASTER PATH=$BIN:\$PATH"
    echo "  chainctl status"
    echo "  chainctl chains"
    echo "  redis-cli -p $p1"
    echo "  curl 127.0.0.1:$((HTTP_BASE + 1))/metrics"
    echo "  chainload --master $MASTER --workload b --preload --duration 10"
  fi
  echo "Stop: deploy/cluster.sh down"
}

down() {
  local any=0
  # A clean stop first: writes stop and every chain drains, so that stopping the processes
  # splices nobody and the next `up` copies nothing. Without a master (or a formed table) the
  # processes are simply stopped.
  local master_alive=0 f
  for f in "$DIR"/master.pid "$DIR"/m*.pid; do [[ -f $f ]] && alive "$f" && master_alive=1; done
  if ((master_alive)) && compgen -G "$DIR/n*.pid" >/dev/null; then
    eval "$(client_env)"
    "$BIN/chainctl" --master "$MASTER" stop-cluster --wait --timeout 20 2>&1 | sed 's/^/stop-cluster: /' || true
  fi
  for f in "$DIR"/n*.pid "$DIR"/master.pid "$DIR"/m*.pid "$DIR"/e*.pid; do
    [[ -f $f ]] || continue
    alive "$f" && any=1
    stop_pidfile "$f" TERM
  done
  [[ $any == 1 ]] || echo "nothing running"
}

logs() {
  for f in "$DIR"/master.log "$DIR"/m[0-9]*.log "$DIR"/e[0-9]*.log "$DIR"/n*.log; do
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
  restart-master) if ha; then for i in 1 2 3; do stop_pidfile "$DIR/m$i.pid" TERM; start_master "$i"; done
                  else stop_pidfile "$DIR/master.pid" TERM; start_master; fi
                  echo "master restarted" ;;
  stop-master|kill-master)
    sig=TERM; [[ $1 == kill-master ]] && sig=KILL
    if ha; then [[ ${2:-} =~ ^[1-3]$ ]] || { echo "usage: deploy/cluster.sh $1 I (1-3)" >&2; exit 64; }
                stop_pidfile "$DIR/m$2.pid" "$sig"
    else stop_pidfile "$DIR/master.pid" "$sig"; fi ;;
  start-master) if ha; then [[ ${2:-} =~ ^[1-3]$ ]] || { echo "usage: deploy/cluster.sh start-master I (1-3)" >&2; exit 64; }; fi
                start_master "${2:-}"; echo "master started" ;;
  stop-etcd|kill-etcd|start-etcd)
    ha || { echo "$1: not an HA cluster (HA=1 deploy/cluster.sh up)" >&2; exit 64; }
    [[ ${2:-} =~ ^[1-3]$ ]] || { echo "usage: deploy/cluster.sh $1 I (1-3)" >&2; exit 64; }
    case $1 in
      stop-etcd) stop_pidfile "$DIR/e$2.pid" TERM ;;
      kill-etcd) stop_pidfile "$DIR/e$2.pid" KILL ;;
      start-etcd) start_etcd "$2"; echo "etcd e$2 started" ;;
    esac ;;
  replace-etcd) ha || { echo "$1: not an HA cluster" >&2; exit 64; }
                [[ ${2:-} =~ ^[1-3]$ ]] || { echo "usage: deploy/cluster.sh replace-etcd I (1-3)" >&2; exit 64; }
                replace_etcd "$2" ;;
  move-to-etcd)
    ha && { echo "already on etcd" >&2; exit 64; }
    [[ -f $DIR/master/state.json ]] || { echo "no file-store state in $DIR/master" >&2; exit 64; }
    touch "$DIR/ha"
    MASTER=127.0.0.1:$MASTER_PORT,127.0.0.1:$((MASTER_PORT + 1)),127.0.0.1:$((MASTER_PORT + 2))
    start_etcd_cluster
    stop_pidfile "$DIR/master.pid" TERM
    # The first etcd master seeds etcd with the file store's state (kept if etcd has one).
    CHAIN_MASTER_FLAGS="${CHAIN_MASTER_FLAGS:-} --seed-from-file $DIR/master/state.json" start_master 1
    # The others start once the state is in etcd (they would lead an empty cluster otherwise,
    # until they noticed the seed).
    for _ in $(seq 1 100); do
      ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" get "$ETCD_PREFIX/state" --keys-only 2>/dev/null | grep -q state && break
      sleep 0.1
    done
    for i in 2 3; do start_master "$i"; done
    echo "masters on etcd: $MASTER (prefix $ETCD_PREFIX)" ;;
  *) echo "usage: deploy/cluster.sh up|down|status|env|logs [N]|start-node I|stop-node I|kill-node I|restart-master|stop-master|kill-master|start-master [I]|stop-etcd|kill-etcd|start-etcd|replace-etcd I|move-to-etcd" >&2; exit 64 ;;
esac
