#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds everything (warnings are errors), and runs
# every unit, simulation and process test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /opt/swift/usr/bin/swift ]] && export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh

echo "== build" >&2
swift build --build-tests -Xswiftc -warnings-as-errors 2>&1 | tail -n 20

echo "== test" >&2
log=$(mktemp /tmp/chainstore-test.XXXXXX.log)
set +e
swift test --skip-build >"$log" 2>&1
status=$?
set -e
grep -E "^Test Suite '.*' (passed|failed)|^Test Case .* failed|error:|^\s+Executed" "$log" | grep -v "^Test Suite 'Selected tests'" || true
# One plain closing line with the XCTest totals; swift test's exit status is the verdict.
read -r total failed < <(grep -E "^\s+Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 |
  sed -E 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/')
if [[ -z "${total:-}" ]]; then
  tail -n 40 "$log"
  echo "0 passed, 1 failed"
  exit 1
fi
[[ $status -ne 0 && $failed -eq 0 ]] && { tail -n 40 "$log"; failed=1; }

echo "== runbooks" >&2
rb_status=0
rb_out=$(deploy/runbook-tests.sh 2>&1) || rb_status=$?
echo "$rb_out" | grep -v "^runbooks:"
read -r rb_passed rb_failed < <(echo "$rb_out" | sed -n 's/^runbooks: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
[[ -z ${rb_passed:-} ]] && { rb_passed=0; rb_failed=1; }
[[ $rb_status -ne 0 && $rb_failed -eq 0 ]] && rb_failed=1
echo "== packages" >&2
pkg_status=0
deploy/package-test.sh || pkg_status=$?
pkg_failed=$((pkg_status != 0))
echo "$((total - failed + rb_passed + 1 - pkg_failed)) passed, $((failed + rb_failed + pkg_failed)) failed"
[[ $status -eq 0 && $rb_status -eq 0 && $pkg_status -eq 0 ]]
