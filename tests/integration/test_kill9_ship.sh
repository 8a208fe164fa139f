#!/usr/bin/env bash
# kill -9 the shipping agent 20 times at random moments while it ships to a real hubcap-receiver,
# once per transport (https, amqp): `ship` without --once (and every fourth time `run -c` with a
# [hub] section), restarted each time, paced by catch_up_rate so the kills land mid-way. After
# every kill the buffer opens and its shipped counter equals its retained events. At the end
# every event reached the receiver's capture, the shipped counter is exactly the number of events
# (each acknowledged once), and every event the capture holds twice was among the events in
# flight at a kill (the head of the queue then, two batches): duplicates only after
# unacknowledged sends. The
# receiver's event counter equals what its capture holds.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
EVENTS=${EVENTS:-30000}
KILLS=${KILLS:-20}
BATCH=500
RATE=6000

rx_start --capture "$T/cap" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}"
CS=$(grep '^Endpoint=' "$RX_OUT")

# every event the buffer counts as shipped is retained; the head of the queue (in flight, maybe:
# up to two batches, the shipper pipelines over AMQP) goes to $T/$tp.window
after_kill() {
  local buf=$1 tp=$2
  "$AGENT" status -b "$buf" --json > "$T/status.json" || fail "status could not open the buffer after a kill"
  "$AGENT" dump -b "$buf" --retained > "$T/retained.jsonl" || fail "dump could not read the buffer"
  "$AGENT" dump -b "$buf" --queued -n $((2 * BATCH)) >> "$T/$tp.window" || fail "dump --queued failed"
  "$PY" - "$T/retained.jsonl" "$T/status.json" << 'PY' || exit 1
import json, sys
ret = sum(1 for l in open(sys.argv[1]) if l.strip())
st = json.load(open(sys.argv[2]))
if st["shipped"] != ret:
    sys.exit(f"FAIL: shipped={st['shipped']}, retained events {ret}")
PY
}

for tp in "${TRANSPORTS[@]}"; do
  buf="$T/$tp.buf"
  cs=$(cs_of "$tp")
  : > "$T/$tp.window"
  "$AGENT" generate --count "$EVENTS" --seed 31 --device-id "kill9-$tp" -q > "$T/$tp.jsonl"
  "$AGENT" enqueue -b "$buf" -q "$T/$tp.jsonl"
  # catch_up_rate paces a backlog only: events enqueued over a second ago (CATCH_UP_BEHIND_MS);
  # younger ones go at full speed, and the first runs would drain the queue before most kills
  sleep 1.2
  cat > "$T/$tp.conf" << EOF
[buffer]
path = $buf
[hub]
transport = $tp
connection_string = $cs
max_batch_events = $BATCH
catch_up_rate = $RATE
linger = 20ms
EOF
  kills=0
  mid=0
  for i in $(seq 1 "$KILLS"); do
    if [ $((i % 4)) -eq 0 ]; then
      "$AGENT" run -c "$T/$tp.conf" > "$T/run$i.out" 2> "$T/run$i.err" &
    else
      "$AGENT" ship -b "$buf" -q --transport "$tp" --connection-string "$cs" \
        --max-batch-events "$BATCH" --catch-up-rate "$RATE" --timeout 5 \
        > "$T/run$i.out" 2> "$T/run$i.err" &
    fi
    pid=$!
    sleep "$("$PY" -c 'import random; print(round(random.uniform(0.15, 0.45), 3))')"
    if kill -9 "$pid" 2> /dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2> /dev/null || true
    after_kill "$buf" "$tp"
    q=$(json_get "$(cat "$T/status.json")" queued_events)
    [ "$q" -gt 0 ] && [ "$q" -lt "$EVENTS" ] && mid=$((mid + 1))
  done
  echo "$tp: killed the agent $kills times, $mid times with part of the queue shipped"
  [ "$kills" -ge $((KILLS * 3 / 4)) ] || fail "$tp: the agent exited by itself before most kills ($kills kills)"
  [ "$mid" -ge $((KILLS / 2)) ] || fail "$tp: too few kills landed mid-way through the queue ($mid)"

  # the last run drains the rest
  set +e
  timeout -k 5 120 "$AGENT" ship -b "$buf" --once -q --transport "$tp" --connection-string "$cs" \
    --timeout 5 --give-up-after 60 2> "$T/last.err"
  rc=$?
  set -e
  [ $rc -eq 0 ] || fail "$tp: the final ship --once exited $rc: $(cat "$T/last.err")"
  after_kill "$buf" "$tp"
  shipped=$(json_get "$(cat "$T/status.json")" shipped)
  queued=$(json_get "$(cat "$T/status.json")" queued_events)
  [ "$queued" -eq 0 ] || fail "$tp: $queued events still queued"
  [ "$shipped" -eq "$EVENTS" ] || fail "$tp: shipped=$shipped, want $EVENTS (each event acknowledged once)"
  ok "$tp: $kills kills, then drained: shipped=$shipped"
done

events_total=$(rx_metric hubcap_receiver_events_total)
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
for tp in "${TRANSPORTS[@]}"; do
  "$PY" - "$T/$tp.jsonl" "$T/captured.jsonl" "$T/$tp.window" "kill9-$tp" << 'PY' || fail "$tp: capture check"
import collections, json, sys
want = [json.loads(l)["event_id"] for l in open(sys.argv[1])]
dev = sys.argv[4]
got = collections.Counter(e["event_id"] for e in map(json.loads, open(sys.argv[2]))
                          if e["pkey"] == dev)
window = {json.loads(l)["event_id"] for l in open(sys.argv[3]) if l.strip()}
missing = [e for e in want if e not in got]
assert not missing, f"{len(missing)} events never reached the capture, e.g. {missing[:3]}"
twice = [e for e, n in got.items() if n > 1]
stray = [e for e in twice if e not in window]
assert not stray, f"{len(stray)} events captured twice that were not in flight at a kill: {stray[:3]}"
print(f"{dev}: all {len(want)} events captured, {len(twice)} twice (all in flight at a kill)")
PY
done
"$PY" - "$T/captured.jsonl" "$events_total" << 'PY' || fail "the receiver's counter disagrees with its capture"
import sys
n = sum(1 for _ in open(sys.argv[1]))
assert n == int(float(sys.argv[2])), f"capture holds {n} events, the receiver counted {sys.argv[2]}"
PY
ok "after $KILLS kills per transport (${TRANSPORTS[*]}): nothing lost, duplicates only after unacknowledged sends, the receiver counted $events_total"
tp_finish
