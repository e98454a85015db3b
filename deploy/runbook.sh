#!/usr/bin/env bash
# Runs a runbook the way an operator would: every ```sh block of the Markdown file, in order, each
# with `bash -e`; when a ```expect block follows, every non-empty line of it must appear in that
# step's output. Stops at the first failing step and says which.
#   usage: deploy/runbook.sh Docs/runbooks/NAME.md
#   env: whatever the runbook's commands use (CHAIN_MASTER, PATH with the binaries, CHAIN_DIR …)
set -uo pipefail
file=${1:?usage: deploy/runbook.sh RUNBOOK.md}
[[ -f $file ]] || { echo "no such runbook: $file" >&2; exit 64; }
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$file" "$work" <<'PY'
import re, sys, os
text = open(sys.argv[1]).read()
steps = []
for m in re.finditer(r"```(sh|expect)\n(.*?)```", text, re.S):
    kind, body = m.group(1), m.group(2)
    if kind == "sh":
        steps.append([body, ""])
    elif steps:
        steps[-1][1] += body
for i, (cmd, exp) in enumerate(steps):
    open(os.path.join(sys.argv[2], f"{i:03d}.sh"), "w").write(cmd)
    open(os.path.join(sys.argv[2], f"{i:03d}.expect"), "w").write(exp)
PY
n=0
for step in "$work"/*.sh; do
  n=$((n + 1))
  echo "== step $n: $(head -n 1 "$step")"
  out=$(timeout 300 bash -e "$step" 2>&1)
  rc=$?
  echo "$out" | sed 's/^/   /'
  if [[ $rc -ne 0 ]]; then echo "runbook $file: step $n failed (exit $rc)" >&2; exit 1; fi
  while IFS= read -r want; do
    [[ -z ${want// } ]] && continue
    if ! grep -qF -- "$want" <<<"$out"; then
      echo "runbook $file: step $n did not print the expected line: $want" >&2; exit 1
    fi
  done <"${step%.sh}.expect"
done
echo "runbook $file: $n steps ok"
