#!/usr/bin/env bash
# Runs every runbook in Docs/runbooks (deploy/runbook.sh) against its own fresh local cluster
# (deploy/cluster.sh, 4 nodes, short leases; HA=1 for runbooks named ha-…) while chainload sends traffic; a runbook that no
# longer works, or during which chainload's smart client saw an error, fails. Uses the binaries in CHAIN_BIN (default: the debug build).
# Prints one line per runbook and a final "N passed, M failed".
#   usage: deploy/runbook-tests.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CHAIN_BIN=${CHAIN_BIN:-$ROOT/.build/debug}
export PATH="$CHAIN_BIN:$PATH"
passed=0; failed=0; n=0
# Arguments: runbook names (e.g. add-node) to run only those.
books=(Docs/runbooks/*.md)
(($#)) && books=("${@/#/Docs/runbooks/}") && books=("${books[@]/%/.md}")
for rb in "${books[@]}"; do
  n=$((n + 1))
  name=$(basename "$rb" .md)
  dir=$(mktemp -d /tmp/chainstore-runbook-XXXXXX)
  # Below the kernel's ephemeral range (32768+ by default), so no client socket can hold them;
  # a block where anything already listens (another program's server) is skipped.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    base=$((20000 + (RANDOM % 120) * 100))
    busy=0
    for p in $(seq "$base" $((base + 59))); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then busy=1; break; fi
    done
    ((busy)) || break
  done
  export CHAIN_DIR=$dir NODES=4 MASTER_PORT=$base CLIENT_BASE=$((base + 10)) PEER_BASE=$((base + 20)) \
         HTTP_BASE=$((base + 30)) ETCD_BASE=$((base + 40)) ETCD_PEER_BASE=$((base + 50)) CHAIN_DURABILITY=memory \
         CHAIN_MASTER_FLAGS="--lease-ms 1000 --heartbeat-ms 100" CHAIN_MASTER=127.0.0.1:$base HA=0
  # Runbooks named ha-… run against a cluster with three masters on etcd (node leases of 3 s, so
  # that they outlast a master handover).
  if [[ $name == ha-* ]]; then
    export HA=1 CHAIN_MASTER_FLAGS="--lease-ms 3000 --heartbeat-ms 100"
    export CHAIN_MASTER=127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))
  fi
  log=$dir/runbook.out
  # A runbook that takes the whole cluster down says so ("runbook-tests: no load"): clients
  # cannot avoid errors there, so it runs without chainload.
  loaded=1
  grep -q "runbook-tests: no load" "$rb" && loaded=0
  if deploy/cluster.sh up >"$dir/up.out" 2>&1; then
    load=""
    if ((loaded)); then
      "$CHAIN_BIN/chainload" --master "$CHAIN_MASTER" --workload b --duration 60 --warmup 0 --clients 4 --keys 1000 \
        --json "$dir/load.json" >/dev/null 2>&1 </dev/null &
      load=$!
    fi
    if timeout 300 deploy/runbook.sh "$rb" >"$log" 2>&1 </dev/null; then
      [[ -n $load ]] && { kill -INT "$load" 2>/dev/null; wait "$load" 2>/dev/null; }
      # The smart client must have seen no error while the runbook ran (it retries through
      # failovers, restarts and membership changes).
      errors=0
      ((loaded)) && errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total_errors"])' "$dir/load.json" 2>/dev/null || echo "no report")
      if [[ $errors == 0 ]]; then
        echo "runbook $name: ok"; passed=$((passed + 1))
      else
        echo "runbook $name: FAILED (chainload client errors: $errors)"; failed=$((failed + 1))
      fi
    else
      [[ -n $load ]] && { kill -INT "$load" 2>/dev/null; wait "$load" 2>/dev/null; }
      echo "runbook $name: FAILED"; sed 's/^/    /' "$log" | tail -n 30; deploy/cluster.sh logs 10 | sed 's/^/    /'
      failed=$((failed + 1))
    fi
  else
    echo "runbook $name: FAILED (cluster did not start)"; tail -n 20 "$dir/up.out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
  deploy/cluster.sh down >/dev/null 2>&1 </dev/null
  [[ -n ${KEEP_RUNBOOK_DIR:-} ]] || rm -rf "$dir"
done
echo "runbooks: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
