#!/usr/bin/env bash
# A multi-host chainstore cluster on one machine: every node in its own network namespace with its
# own address on a bridge, the master on the bridge's address in the root namespace. For tests
# and rehearsals of network faults. Needs root (ip netns); everything it creates is named cs-*
# and removed by `down` (also when `up` starts, in case an earlier run was interrupted).
#   up N            create the bridge and N namespaces, start the master and N nodes
#   down            stop the processes (by their PIDs) and remove namespaces, veths and the bridge
#   cut A B         drop all traffic between nodes A and B (blackhole routes on both sides)
#   heal A B        undo `cut A B`
#   cut-master A    drop traffic between node A and the master; heal-master A undoes it
#   addr I          print node I's address
# env: CHAIN_BIN (binaries; default .build/debug), NETNS_DIR (state, logs; default /tmp/chainstore-netns),
#      CHAIN_MASTER_FLAGS (extra master flags), SUBNET (default 10.77.0)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CHAIN_BIN:-$PWD/.build/debug}
DIR=${NETNS_DIR:-/tmp/chainstore-netns}
NET=${SUBNET:-10.77.0}
BR=cs-br0
MASTER=$NET.1:7000

node_ip() { echo "$NET.$((10 + $1))"; }

source deploy/spawn.sh

down() {
  for f in "$DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  for ns in $(ip netns list 2>/dev/null | awk '/^cs-n[0-9]+/ {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '/cs-v[0-9]+/ {sub(/@.*/, "", $2); print $2}'); do ip link del "$l" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
}

up() {
  local n=$1
  [[ $(id -u) -eq 0 ]] || { echo "netns-cluster: needs root" >&2; exit 77; }
  down
  # A fresh cluster every time (the secret is kept).
  rm -rf "$DIR"/master "$DIR"/n[0-9]* "$DIR"/*.log
  mkdir -p "$DIR"
  ip link add "$BR" type bridge
  ip addr add "$NET.1/24" dev "$BR"
  ip link set "$BR" up
  for i in $(seq 1 "$n"); do
    ip netns add "cs-n$i"
    ip link add "cs-v$i" type veth peer name eth0 netns "cs-n$i"
    ip link set "cs-v$i" master "$BR" up
    ip -n "cs-n$i" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "cs-n$i" link set eth0 up
    ip -n "cs-n$i" link set lo up
  done
  [[ -f $DIR/secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/secret"
  spawn "$DIR/master.log" "$DIR/master.pid" "$BIN/chainmaster" --listen "$MASTER" --data-dir "$DIR/master" \
    --replication 3 --initial-nodes "$n" --lease-ms 1000 --heartbeat-ms 100 ${CHAIN_MASTER_FLAGS:-}
  for i in $(seq 1 "$n"); do
    spawn "$DIR/n$i.log" "$DIR/n$i.pid" ip netns exec "cs-n$i" "$BIN/chainserver" --id "n$i" --master "$MASTER" \
      --listen "$(node_ip "$i"):6380" --peer-listen "$(node_ip "$i"):7380" --http-listen "$(node_ip "$i"):8380" \
      --data-dir "$DIR/n$i" --cluster-secret-file "$DIR/secret" --durability memory
  done
  "$BIN/chainctl" --master "$MASTER" wait --healthy --timeout 30
  echo "master $MASTER, nodes $(for i in $(seq 1 "$n"); do printf '%s ' "n$i=$(node_ip "$i")"; done)"
}

route() { # route add|del NS ADDR
  ip -n "$2" route "$1" blackhole "$3/32"
}

case ${1:-} in
  up) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: deploy/netns-cluster.sh up N" >&2; exit 64; }; up "$2" ;;
  down) down; echo "removed" ;;
  cut) route add "cs-n$2" "$(node_ip "$3")"; route add "cs-n$3" "$(node_ip "$2")"; echo "cut n$2 <-> n$3" ;;
  heal) route del "cs-n$2" "$(node_ip "$3")"; route del "cs-n$3" "$(node_ip "$2")"; echo "healed n$2 <-> n$3" ;;
  cut-master) route add "cs-n$2" "$NET.1"; echo "cut n$2 <-> master" ;;
  heal-master) route del "cs-n$2" "$NET.1"; echo "healed n$2 <-> master" ;;
  addr) node_ip "$2" ;;
  *) echo "usage: deploy/netns-cluster.sh up N|down|cut A B|heal A B|cut-master A|heal-master A|addr I" >&2; exit 64 ;;
esac
