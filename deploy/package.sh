#!/usr/bin/env bash
# Builds chainstore for hosts without a Swift toolchain: release binaries with the Swift runtime
# linked in (--static-swift-stdlib), packaged as a Debian package whose dependencies are the
# Debian libraries the binaries load (libevent, RocksDB, OpenSSL, …), and as a tarball with the
# same files. Both carry the systemd units and the operator docs.
#   usage: deploy/package.sh [OUT_DIR]        (default: dist)
#   writes OUT_DIR/chainstore_VERSION_ARCH.deb and OUT_DIR/chainstore-VERSION-linux-ARCH.tar.gz
#   env: SCRATCH (build directory, default .build-static)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
scratch=${SCRATCH:-.build-static}
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh

echo "package: building release binaries with the Swift runtime linked in" >&2
swift build -c release --static-swift-stdlib --scratch-path "$scratch" 2>&1 | tail -n 3 >&2
bin=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)
binaries=(chainserver chainmaster chainctl chainload)

version=$("$bin/chainctl" --version | awk '{print $2}')
commit=$("$bin/chainctl" --version | sed -n 's/.*(commit \(.*\))$/\1/p')
arch=$(dpkg --print-architecture)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "package: unexpected version '$version'" >&2; exit 1; }

# Nothing of the Swift toolchain may be loaded at run time.
for b in "${binaries[@]}"; do
  if ldd "$bin/$b" | grep -E "libswift|libFoundation|libdispatch|libBlocksRuntime|_FoundationICU|not found"; then
    echo "package: $b still needs the libraries above at run time" >&2; exit 1
  fi
done

# Depends: the Debian package of each shared library the binaries load (merged /usr: a library
# may be registered under /lib or /usr/lib).
owner() {
  local lib=$1 real
  real=$(readlink -f "$lib")
  for p in "$lib" "$real" "${lib#/usr}" "/usr$lib" "${real#/usr}" "/usr$real"; do
    dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
  done
  echo "package: no Debian package owns $lib" >&2; return 1
}
# Only the libraries the binaries name themselves (NEEDED); theirs come with their packages.
needed() { readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'; }
depends=$(for b in "${binaries[@]}"; do
    ldd "$bin/$b" | awk -v want="$(needed "$bin/$b" | paste -sd' ' -)" \
      'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 } $1 in need && $3 ~ /^\// { print $3 }'
  done | sort -u | while read -r lib; do owner "$lib"; done | sort -u | paste -sd, - | sed 's/,/, /g')

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/chainstore_${version}_$arch
install -d "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/chainstore/examples" \
  "$root/usr/share/doc/chainstore/runbooks" "$root/usr/share/bash-completion/completions" "$root/DEBIAN"
for b in "${binaries[@]}"; do install -m 0755 -s "$bin/$b" "$root/usr/bin/$b"; done
# The units name /usr/local/bin for source installs; the package installs into /usr/bin.
for u in chainmaster.service chainserver@.service; do
  sed 's#/usr/local/bin/#/usr/bin/#' "deploy/systemd/$u" >"$root/lib/systemd/system/$u"
  chmod 0644 "$root/lib/systemd/system/$u"
done
install -m 0644 deploy/systemd/*.env "$root/usr/share/doc/chainstore/examples/"
install -m 0644 README.md Docs/OPERATIONS.md Docs/SECURITY.md Docs/PROTOCOL.md deploy/systemd/INSTALL.md "$root/usr/share/doc/chainstore/"
install -m 0644 Docs/runbooks/*.md "$root/usr/share/doc/chainstore/runbooks/"
"$bin/chainctl" --generate-completion-script bash >"$root/usr/share/bash-completion/completions/chainctl"
printf 'chainstore %s (commit %s)\n' "$version" "$commit" >"$root/usr/share/doc/chainstore/VERSION"

cat >"$root/DEBIAN/control" <<EOF
Package: chainstore
Version: $version
Architecture: $arch
Maintainer: chainstore developers <chainstore@localhost>
Depends: $depends, adduser
Section: database
Priority: optional
Description: chain-replicated key-value store speaking the Redis protocol
 chainserver (storage node), chainmaster (configuration master), chainctl (administration)
 and chainload (load generator), built from commit $commit with the Swift runtime linked in.
 systemd units: chainmaster.service and chainserver@ID.service; setup in
 /usr/share/doc/chainstore/INSTALL.md.
EOF
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# The service user and its state directory; units are enabled by the operator (INSTALL.md).
set -e
if [ "$1" = configure ]; then
    getent passwd chainstore >/dev/null || adduser --system --group --home /var/lib/chainstore --no-create-home chainstore
    install -d -o chainstore -g chainstore -m 0750 /var/lib/chainstore
    install -d -m 0755 /etc/chainstore
    if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
EOF
chmod 0755 "$root/DEBIAN/postinst"

mkdir -p "$out"
deb=$out/chainstore_${version}_$arch.deb
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
tarname=chainstore-$version-linux-$arch
mv "$root" "$stage/$tarname"
rm -rf "$stage/$tarname/DEBIAN"
tar -C "$stage" -czf "$out/$tarname.tar.gz" "$tarname"
echo "package: $deb (Depends: $depends)"
echo "package: $out/$tarname.tar.gz"
