#!/usr/bin/env bash
# Checks the installable packages (deploy/package.sh) the way a host without Swift would use them:
# the .deb's metadata and files, binaries that load no Swift library, every binary answering
# --version with the build's version, and a node started from the unpacked package (with an
# environment that knows nothing of the toolchain) serving redis-cli.
# Prints "package: ok" or the first failure; exit status says the same.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/chainstore-package-XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "package: FAILED: $*"; exit 1; }

deploy/package.sh "$work/dist" >"$work/package.out" 2>&1 || { tail -n 30 "$work/package.out"; fail "deploy/package.sh"; }
deb=$(ls "$work"/dist/chainstore_*.deb)
tarball=$(ls "$work"/dist/chainstore-*.tar.gz)

info=$(dpkg-deb --info "$deb")
for dep in libevent librocksdb libssl libmimalloc; do
  grep -q "^ Depends:.*$dep" <<<"$info" || fail "Depends lacks $dep: $(grep Depends <<<"$info")"
done
grep -q "libswift" <<<"$info" && fail "Depends names a Swift library"
contents=$(dpkg-deb --contents "$deb")
for f in usr/bin/chainserver usr/bin/chainmaster usr/bin/chainctl usr/bin/chainload \
         lib/systemd/system/chainserver@.service lib/systemd/system/chainmaster.service \
         usr/share/doc/chainstore/INSTALL.md usr/share/bash-completion/completions/chainctl; do
  grep -q "\./$f\$" <<<"$contents" || fail "the package lacks /$f"
done
dpkg-deb --extract "$deb" "$work/root"
grep -q "ExecStart=/usr/bin/chainserver" "$work/root/lib/systemd/system/chainserver@.service" || fail "unit does not start /usr/bin/chainserver"
listing=$(tar -tzf "$tarball")
grep -q "/usr/bin/chainserver$" <<<"$listing" || fail "the tarball lacks usr/bin/chainserver"

# No toolchain in sight: a bare environment, no LD_LIBRARY_PATH.
bare=(env -i PATH=/usr/bin:/bin HOME="$work")
for b in chainserver chainmaster chainctl chainload; do
  ldd "$work/root/usr/bin/$b" | grep -E "libswift|libFoundation|libdispatch|not found" && fail "$b loads the libraries above"
  line=$("${bare[@]}" "$work/root/usr/bin/$b" --version) || fail "$b --version"
  [[ $line =~ ^$b\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-f]+\)$ || $line =~ \(commit\ unknown\)$ ]] || fail "$b --version said '$line'"
done

port=$((21000 + RANDOM % 2000))
"${bare[@]}" "$work/root/usr/bin/chainserver" --standalone --listen "127.0.0.1:$port" --data-dir "$work/data" \
  --durability memory >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; fail "the packaged chainserver exited"; }
  sleep 0.1
done
[[ $(redis-cli -p "$port" set packaged yes) == OK ]] || fail "SET on the packaged chainserver"
[[ $(redis-cli -p "$port" get packaged) == yes ]] || fail "GET on the packaged chainserver"
redis-cli -p "$port" info server | grep -q "chainstore_commit:" || fail "INFO lacks chainstore_commit"
echo "package: ok ($(basename "$deb"), $(du -h "$deb" | cut -f1))"
