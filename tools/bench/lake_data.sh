# tools/bench/lake_data.sh - sourced by tools/bench/land.sh and promote.sh: a private PostgreSQL
# (tests/lib/pg.sh) and capture files of generated events.
#
# Environment: HC_BIN (default build/bin), EVENTS (total, default given by the script), DEVICES
# (agents, each its own device id and seed: 4), LATE, DUPLICATE, MALFORMED, OUT_OF_ORDER
# (generator knobs: 0.03, 0.02, 0.02, 0.05), WINDOW_BYTES (capture file size: 1M).
HC_SRC=${HC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export HC_SRC
source "$HC_SRC/tests/lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
RX="$HC_BIN/hubcap-receiver"
DEVICES=${DEVICES:-4}
CAP="$T/cap"

# lake_capture N: generate N events over DEVICES agents (--no-sync: filling is not measured),
# ship them to a development-mode receiver writing deflate capture files into $CAP.
lake_capture() {
  local n=$1 i cs rx
  "$RX" serve --listen 127.0.0.1:0 --capture "$CAP" --codec deflate \
    --window-bytes "${WINDOW_BYTES:-1M}" > "$T/rx.out" 2> "$T/rx.log" &
  rx=$!
  for _ in $(seq 1 200); do grep -qs '^Endpoint=' "$T/rx.out" && break; sleep 0.05; done
  cs=$(grep '^Endpoint=' "$T/rx.out") || fail "the receiver did not start: $(cat "$T/rx.log")"
  for i in $(seq 1 "$DEVICES"); do
    "$HC_BIN/hubcap-agent" generate -b "$T/buf$i" --count $((n / DEVICES)) --seed $((100 + i)) \
      --device-id "bench-pi-$i" --start 2026-11-22T00:00:00Z --late "${LATE:-0.03}" \
      --duplicate "${DUPLICATE:-0.02}" --malformed "${MALFORMED:-0.02}" \
      --out-of-order "${OUT_OF_ORDER:-0.05}" --no-sync --max-bytes 4G -q
    "$HC_BIN/hubcap-agent" ship -b "$T/buf$i" --once -q -s "$cs" --max-batch-bytes 1M ||
      fail "agent $i did not ship everything"
  done
  kill -TERM "$rx"
  wait "$rx" || fail "the receiver did not stop cleanly"
}

# now_s: wall clock in seconds (float).
now_s() { date +%s.%N; }
