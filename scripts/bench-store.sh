#!/usr/bin/env bash
# Standalone measurements on a provisioned store (docs/benchmarks-log.md, "Round 4"): one switch on a
# fresh copy of a store with CARDS cards, one bench run against it, then the switch's memory
# (RSS, anonymous, file pages), and a restart timed to /healthz 200.
#
#   scripts/bench-store.sh BASE DURATION [RATE]
#
# BASE is a data directory provisioned once (cardswitch provision --data-dir BASE --cards N); it
# is copied for every run so each starts from the same store. RATE 0 (default) is the closed
# loop, otherwise the open loop at RATE/s. Environment: CARDSWITCH_BIN (default ./bin/cardswitch),
# CARDS (default 1000000), PIPELINE (closed loop: requests in flight per connection, default the
# bench's), WORK (default a new temporary directory, kept: it holds the copy and
# serve.log), and anything serve reads (GOMEMLIMIT, GODEBUG=gctrace=1, CARDSWITCH_CPUPROFILE).
set -euo pipefail

BASE=${1:?usage: bench-store.sh BASE DURATION [RATE]}
DUR=${2:?usage: bench-store.sh BASE DURATION [RATE]}
RATE=${3:-0}
BIN=${CARDSWITCH_BIN:-./bin/cardswitch}
CARDS=${CARDS:-1000000}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cardswitch-store.XXXXXX")}
D="$WORK/data"
ISO=127.0.0.1:18583
HTTP=127.0.0.1:18080

mkdir -p "$WORK"
rm -rf "$D"
cp -r "$BASE" "$D"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

mem() { grep -E "VmRSS|RssAnon|RssFile" "/proc/$PID/status" | tr -s ' \n' ' '; echo; }

start() {
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" serve --data-dir "$D" --iso-addr "$ISO" --http-addr "$HTTP" >>"$WORK/serve.log" 2>&1 &
  PID=$!
  until curl -sf "http://$HTTP/healthz" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { echo "serve exited; see $WORK/serve.log" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "ready in %.2f s\n", b - a }'
}

stop() { kill "$PID"; wait "$PID" || true; PID=""; }

start
mem
"$BIN" bench --addr "$ISO" --data-dir "$D" --cards "$CARDS" --duration "$DUR" --connections 32 \
  ${PIPELINE:+--pipeline "$PIPELINE"} --rate "$RATE" --serve-pid "$PID" --json "$WORK/bench.json" 2>&1 |
  grep -E "latency|throughput|CPU"
echo "after the run:"; mem
stop
echo "restart:"; start; mem
stop
grep -E '"(journal loaded|ledger recovered)"' "$WORK/serve.log" | tail -2
echo "kept: $WORK"
