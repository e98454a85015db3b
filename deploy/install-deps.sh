#!/usr/bin/env bash
# Installs what chainstore needs to build, run and test, idempotently: Debian's libevent, RocksDB
# and OpenSSL headers, mimalloc (chainserver's allocator), redis-tools (redis-cli, redis-benchmark), and systemd's tools (the tests
# check the unit files in deploy/systemd with systemd-analyze) and redis-py (python3-redis: tests use real clients). Runs apt only for missing
# packages; uses sudo when not root. Never prompts (CI has no standard input).
set -euo pipefail

packages=(libevent-dev librocksdb-dev libssl-dev libmimalloc-dev openssl redis-tools pkg-config systemd python3-redis)
[[ "${WITH_REDIS_SERVER:-0}" == 1 ]] && packages+=(redis-server)
# etcd: the highly available masters (HA=1 deploy/cluster.sh up) and the tests that run them.
packages+=(etcd-server etcd-client)
# promtool (Debian ships it in the prometheus package): the tests check deploy/monitoring's alert rules.
packages+=(prometheus)
# Headless Chromium and a DevTools client: the test of the master's status page in a real browser.
packages+=(chromium python3-websocket)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo -n"
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq </dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

if ! command -v swift >/dev/null; then
  if [[ -x /opt/swift/usr/bin/swift ]]; then
    echo "install-deps: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "install-deps: Swift 6 is required (https://www.swift.org/install/linux/); 'swift' is not on PATH" >&2
  fi
  exit 1
fi
