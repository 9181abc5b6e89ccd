#!/usr/bin/env bash
# Where an aged store's time goes (docs/benchmarks.md, "Attribution"): one switch on a fresh copy
# of a provisioned store under a saturated closed loop for DURATION, with a CPU profile, a heap
# profile and an execution trace of one window (by default the second minute), the GC's trace
# (GODEBUG=gctrace=1) in serve.log, and /metrics scraped at the window's start and end.
#
#   scripts/profile-aged.sh BASE [DURATION] [AFTER] [FOR]
#
# BASE is a provisioned data directory (cardswitch provision --data-dir BASE --cards N), copied
# first. DURATION defaults to 150s, the window to AFTER=110s after ready FOR=20s (the trace: the
# window's last 5 s). Environment: CARDSWITCH_BIN (default ./bin/cardswitch), CARDS (default
# 200000), CONNS (4), PIPELINE (64), WORK (default a new temporary directory, kept).
set -euo pipefail

BASE=${1:?usage: profile-aged.sh BASE [DURATION] [AFTER] [FOR]}
DUR=${2:-150s}
AFTER=${3:-110s}
FOR=${4:-20s}
BIN=${CARDSWITCH_BIN:-./bin/cardswitch}
CARDS=${CARDS:-200000}
CONNS=${CONNS:-4}
PIPELINE=${PIPELINE:-64}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cardswitch-aged.XXXXXX")}
D="$WORK/data"
ISO=127.0.0.1:18593
HTTP=127.0.0.1:18090
secs() { local v=${1%s}; echo "$v"; }

mkdir -p "$WORK"
rm -rf "$D"
cp -r "$BASE" "$D"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT
TRACE_AFTER=$(( $(secs "$AFTER") + $(secs "$FOR") - 5 ))s
GODEBUG=gctrace=1 \
  CARDSWITCH_CPUPROFILE_WINDOW="$WORK/cpu.pprof" CARDSWITCH_CPUPROFILE_AFTER="$AFTER" CARDSWITCH_CPUPROFILE_FOR="$FOR" \
  CARDSWITCH_TRACE="$WORK/trace.out" CARDSWITCH_TRACE_AFTER="$TRACE_AFTER" CARDSWITCH_TRACE_FOR=5s \
  "$BIN" serve --data-dir "$D" --iso-addr "$ISO" --http-addr "$HTTP" >>"$WORK/serve.log" 2>&1 &
PID=$!
until curl -sf "http://$HTTP/healthz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { echo "serve exited; see $WORK/serve.log" >&2; exit 1; }
  sleep 0.05
done
# /metrics and the store's size at the window's start and end, in the background.
(
  sleep "$(secs "$AFTER")"; curl -sf "http://$HTTP/metrics" >"$WORK/metrics-start.txt"; du -sb "$D" >"$WORK/du-start.txt"
  sleep "$(secs "$FOR")"; curl -sf "http://$HTTP/metrics" >"$WORK/metrics-end.txt"; du -sb "$D" >"$WORK/du-end.txt"
) &
SCRAPER=$!
"$BIN" bench --addr "$ISO" --data-dir "$D" --cards "$CARDS" --duration "$DUR" --connections "$CONNS" \
  --pipeline "$PIPELINE" --serve-pid "$PID" --json "$WORK/bench.json" >"$WORK/bench.txt" 2>&1 || true
wait "$SCRAPER" || true
grep -E "latency|throughput|CPU" "$WORK/bench.txt" || true
kill "$PID"; wait "$PID" || true; PID=""
du -sb "$D"
echo "kept: $WORK (cpu.pprof, cpu.pprof.heap, trace.out, serve.log, metrics-*.txt, bench.json)"
