#!/usr/bin/env bash
# Coverage-guided fuzzing of the RESP request and reply parsers with libFuzzer, for long runs on
# demand (the seeded fuzzer in Tests/FuzzTests runs in CI). Builds Sources/RESP with the fuzz
# entry point in Tests/LibFuzzer, then runs it; a crash leaves its input in the work dir — add it
# to Tests/FuzzTests as a regression case.
#   usage: deploy/fuzz.sh [SECONDS (60)] [extra libFuzzer flags…]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
secs=${1:-60}; shift || true
work=${FUZZ_DIR:-/tmp/chainstore-fuzz}
mkdir -p "$work/corpus"
printf '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' >"$work/corpus/get"
printf 'SET "a b" c\r\n' >"$work/corpus/inline"
printf '+OK\r\n$5\r\nhello\r\n*2\r\n:1\r\n%%1\r\n+k\r\n+v\r\n' >"$work/corpus/replies"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name RESP \
  Sources/RESP/*.swift Tests/LibFuzzer/resp_requests.swift -o "$work/fuzz-resp"
cd "$work"
./fuzz-resp -max_total_time="$secs" -max_len=4096 "$@" corpus
