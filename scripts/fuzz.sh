#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a bounded time each (default 10s) and prints
# the total number of executions. A target that fails because the fuzzing engine itself timed out
# talking to a worker ("context deadline exceeded", no failing input written) is run once more;
# a real finding (a new file under testdata/fuzz) fails at once.
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "$0")/.."
found=0
total=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    found=$((found+1))
    for attempt in 1 2; do
      echo "fuzz: ./$dir $target ($fuzztime, attempt $attempt)"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" >"$log" 2>&1; then
        tail -n 3 "$log"
        break
      fi
      cat "$log"
      if [ "$attempt" = 1 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written to" "$log"; then
        echo "fuzz: $target: the fuzzing engine timed out without a failing input; running it again"
        continue
      fi
      exit 1
    done
    execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | awk '{print $2}' || true)
    total=$((total + ${execs:-0}))
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sort)
echo "fuzz: $found targets run, about $total executions"
