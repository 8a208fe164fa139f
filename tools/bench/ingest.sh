#!/usr/bin/env bash
# tools/bench/ingest.sh - hubcap-receiver ingest rate with durable capture (a 201 only after
# fsync), many concurrent senders, wrk posting Event Hubs batches of agent-like events.
#
#   tools/bench/ingest.sh            # defaults below; prints one JSON line
#   CONNECTIONS=128 EVENTS=200 CODEC=null DURATION=30 tools/bench/ingest.sh
#
# Environment: HC_BIN (folder of hubcap-receiver, default build/bin), CONNECTIONS (64), EVENTS
# per request (100), SIZE of an event body in bytes (300), BODIES (64 different batches sent in
# turn, so events differ as real ones do), DURATION in seconds (20), CODEC
# (deflate), HTTP_THREADS (receiver, default: CPUs), WRK_THREADS (1), CAPTURE (folder; default a
# temporary one, removed after), VERIFY=1 to read every capture file back with python3-avro
# (slow: about 40k events/s) and check the count, RX_ARGS more arguments for the receiver (e.g.
# --shared-port: AMQP and HTTP on one port, to compare). cpu_us_per_event is the receiver's CPU time
# (user + system) per acknowledged event.
# Needs wrk (Debian package wrk) and python3.
set -euo pipefail
HC_SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$HC_SRC/tools/bench/wrk_post.sh"
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
PY=/usr/bin/python3
CONNECTIONS=${CONNECTIONS:-64}
EVENTS=${EVENTS:-100}
SIZE=${SIZE:-300}
DURATION=${DURATION:-20}
CODEC=${CODEC:-deflate}
WRK_THREADS=${WRK_THREADS:-1}
command -v wrk > /dev/null || { echo "ingest.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$HC_BIN/hubcap-receiver" ] || { echo "ingest.sh: no $HC_BIN/hubcap-receiver" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench.XXXXXX")
CAPTURE=${CAPTURE:-$W/capture}
rx=
cleanup() {
  [ -n "$rx" ] && kill -9 "$rx" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

threads=()
[ -n "${HTTP_THREADS:-}" ] && threads=(--http-threads "$HTTP_THREADS")
"$HC_BIN/hubcap-receiver" serve --listen 127.0.0.1:0 --capture "$CAPTURE" --codec "$CODEC" \
  "${threads[@]+"${threads[@]}"}" ${RX_ARGS:-} > "$W/rx.out" 2> "$W/rx.log" &
rx=$!
for _ in $(seq 1 200); do grep -qs '^Endpoint=' "$W/rx.out" && break; sleep 0.05; done
port=$(grep -o '^Endpoint=sb://127.0.0.1:[0-9]*' "$W/rx.out" | grep -o '[0-9]*$')
url="http://127.0.0.1:$port"

BODIES=${BODIES:-64}
"$PY" "$HC_SRC/tests/lib/rxtool.py" wrk-body "$W/bodies" --bodies "$BODIES" --events "$EVENTS" --size "$SIZE"
token=$("$PY" "$HC_SRC/tests/lib/rxtool.py" token http://127.0.0.1/events \
  RootManageSharedAccessKey "${HUBCAP_DEV_KEY:-SAS_KEY_VALUE}")
wrk_post_lua "$W/post.lua" "$W/bodies" "$BODIES" "$token" "$port"

metric() { curl -s "$url/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# the receiver's CPU time (user + system, clock ticks): per event it is steadier than the rate
# on a shared machine
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$rx/stat"; }
cpu0=$(cpu_ticks)
ev0=$(metric hubcap_receiver_events_total)
fs0=$(metric hubcap_receiver_fsync_seconds_count)
fsum0=$(metric hubcap_receiver_fsync_seconds_sum)
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s -s "$W/post.lua" \
  "$url/events/messages?timeout=60&api-version=2014-01" > "$W/wrk.out"
ev1=$(metric hubcap_receiver_events_total)
cpu1=$(cpu_ticks)
fs1=$(metric hubcap_receiver_fsync_seconds_count)
fsum1=$(metric hubcap_receiver_fsync_seconds_sum)
kill -TERM "$rx"
wait "$rx" || { echo "ingest.sh: the receiver failed to stop cleanly" >&2; exit 1; }
rx=
read -r _ requests duration_us p50_us p99_us max_us bad_status net_errors < <(grep '^WRK ' "$W/wrk.out")

verified=None
if [ "${VERIFY:-0}" = 1 ]; then
  verified=$("$PY" "$HC_SRC/tests/lib/rxtool.py" check "$CAPTURE" --no-tmp |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')
fi
capture_bytes=$(du -sb "$CAPTURE" | cut -f1)

"$PY" - <<PY
import json
secs = $duration_us / 1e6
events = $ev1 - $ev0
fsyncs = $fs1 - $fs0
print(json.dumps({
    "bench": "ingest", "codec": "$CODEC", "connections": $CONNECTIONS,
    "events_per_request": $EVENTS, "event_bytes": $SIZE, "seconds": round(secs, 2),
    "events_per_s": round(events / secs), "requests_per_s": round($requests / secs),
    "p50_ms": round($p50_us / 1000, 2), "p99_ms": round($p99_us / 1000, 2),
    "max_ms": round($max_us / 1000, 2), "fsyncs_per_s": round(fsyncs / secs),
    "fsync_mean_ms": round(($fsum1 - $fsum0) / fsyncs * 1000, 3) if fsyncs else None,
    "events_acked": events, "non_2xx": $bad_status, "socket_errors": $net_errors,
    "cpu_us_per_event": round(($cpu1 - $cpu0) / $(getconf CLK_TCK) * 1e6 / events, 2) if events else None,
    "capture_mb": round($capture_bytes / 1e6, 1), "verified_events": $verified,
}))
PY
