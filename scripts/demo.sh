#!/usr/bin/env bash
# `make demo`: start a switch on free loopback ports with a throw-away data directory, provision
# a demo customer through the management API, play scenarios/demo.yaml as an acquirer, print the
# summary, stop the switch with SIGTERM and clean up. Needs only bin/cardswitch (make builds it).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${CARDSWITCH_BIN:-./bin/cardswitch}
SCENARIO=${SCENARIO:-scenarios/demo.yaml}
[ -x "$BIN" ] || { echo "demo: $BIN not found; run 'make demo' (it builds first)" >&2; exit 1; }

DATA=$(mktemp -d "${TMPDIR:-/tmp}/cardswitch-demo.XXXXXX")
LOG="$DATA/switch.log"
PID=""

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then
      echo "demo: switch did not stop in 10s, killing it" >&2
      kill -KILL "$PID" 2>/dev/null || true
    fi
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT (bash's /dev/tcp; no other tool needed).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  echo "demo: no free port found" >&2
  return 1
}

start_switch() {
  ISO_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  while [ "$HTTP_PORT" = "$ISO_PORT" ]; do HTTP_PORT=$(free_port); done
  "$BIN" serve --data-dir "$DATA" --iso-addr "127.0.0.1:$ISO_PORT" --http-addr "127.0.0.1:$HTTP_PORT" >>"$LOG" 2>&1 &
  PID=$!
}

# A port can be taken between the probe and the listen: retry a few times.
for attempt in 1 2 3; do
  start_switch
  sleep 0.3
  if kill -0 "$PID" 2>/dev/null; then break; fi
  wait "$PID" 2>/dev/null || true
  PID=""
  if [ "$attempt" = 3 ]; then
    echo "demo: the switch did not start; its log:" >&2
    cat "$LOG" >&2
    exit 1
  fi
done

echo "demo: switch pid $PID, ISO 127.0.0.1:$ISO_PORT, HTTP 127.0.0.1:$HTTP_PORT, data $DATA"

set +e
"$BIN" sim --addr "127.0.0.1:$ISO_PORT" --http-addr "127.0.0.1:$HTTP_PORT" --data-dir "$DATA" \
  --wait 30s --scenario "$SCENARIO"
rc=$?
if [ $rc -eq 0 ]; then
  # Pay by Account: the bank server and a phone (signing with the development key in $DATA).
  "$BIN" pba-sim --addr "127.0.0.1:$ISO_PORT" --http-addr "127.0.0.1:$HTTP_PORT" --data-dir "$DATA" --wait 30s
  rc=$?
fi
# The token service hub (simulators/tsh): enrolment, token lifecycle over ISO 8583, stand-in,
# encrypting to the development certificate the switch made in the data directory.
if [ $rc -eq 0 ]; then
  "$BIN" sim --tsh --addr "127.0.0.1:$ISO_PORT" --http-addr "127.0.0.1:$HTTP_PORT" --data-dir "$DATA"
  rc=$?
fi
set -e

if [ $rc -ne 0 ]; then
  echo "demo: FAILED (exit $rc); last lines of the switch log:" >&2
  tail -n 20 "$LOG" >&2 || true
else
  echo "demo: all steps answered as expected"
fi

# The rewards host simulator (loyalty, docs/loyalty.md) on its own; the switch above runs it
# in-process (loyalty.rewardsHost is empty in the development profile).
set +e
MRS_PORT=$(free_port)
"$BIN" mrs --addr "127.0.0.1:$MRS_PORT" --key "$DATA/mrs-key.pem" >>"$LOG" 2>&1 &
MRS_PID=$!
for _ in $(seq 1 50); do port_free "$MRS_PORT" || break; sleep 0.1; done
if exec 3<>"/dev/tcp/127.0.0.1/$MRS_PORT" 2>/dev/null && printf 'GET /mrs/public-key HTTP/1.0\r\nHost: demo\r\n\r\n' >&3 &&
  head -1 <&3 | grep -q ' 200 '; then
  echo "demo: rewards host simulator answered on 127.0.0.1:$MRS_PORT"
else
  echo "demo: rewards host simulator did not answer" >&2
  rc=1
fi
exec 3<&- 3>&-
kill -TERM "$MRS_PID" 2>/dev/null
wait "$MRS_PID" 2>/dev/null
set -e

kill -TERM "$PID" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if wait "$PID" 2>/dev/null; then
  echo "demo: switch stopped cleanly"
else
  echo "demo: switch exit status $?" >&2
fi
PID=""
exit $rc
