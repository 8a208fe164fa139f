#!/usr/bin/env bash
# kill -9 the shipping agent 20 times at random moments while it ships 50k events to
# tests/lib/fake_hub.py (`ship` without --once, and every fourth time `run -c` with a [hub]
# section), restarting it each time. After every kill the buffer opens and every event it counts
# as shipped is on the hub (the hub records an event before it answers 201); at the end every
# event generated reached the hub at least once, and the shipped counter is exactly the number of
# events (each acknowledged once) and no more than the hub's accepted lines.
source "$(dirname "$0")/../lib/common.sh"
HUB_PY="$HC_SRC/tests/lib/fake_hub.py"
KEY="kill9-k3y-$RANDOM"
EVENTS=${EVENTS:-50000}
KILLS=${KILLS:-20}
unset HUBCAP_CONNECTION_STRING
buf="$T/buf"

"$AGENT" generate --count "$EVENTS" --seed 31 -q > "$T/events.jsonl"
"$AGENT" enqueue -b "$buf" -q "$T/events.jsonl"
[ "$(json_get "$("$AGENT" status -b "$buf" --json)" queued_events)" -eq "$EVENTS" ] || fail "enqueue"

# A hub on a slow link (10 ms an answer) that sometimes fails, so the kills land mid-way
# through the queue, in back-offs and in resends.
"$PY" "$HUB_PY" --key "$KEY" --hub events --port-file "$T/port" --log "$T/hub.log" \
  --accepted "$T/hub.acc" --latency 0.01 2> "$T/hub.err" &
hub_pid=$!
hc_cleanup_hooks+=("kill $hub_pid 2>/dev/null")
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || fail "fake hub did not start: $(cat "$T/hub.err")"
port=$(cat "$T/port")
cs="Endpoint=sb://127.0.0.1:$port/;SharedAccessKeyName=send;SharedAccessKey=$KEY;EntityPath=events;UseDevelopmentEmulator=true"
"$PY" -c 'import sys, urllib.request, json
urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/_control",
    data=json.dumps({"plan": "201*7,503,201*5,drop,201*9,slow:0.3,201"}).encode(), method="POST"), timeout=5).read()' "$port"

cat > "$T/run.conf" << EOF
[buffer]
path = $buf
[hub]
connection_string = $cs
max_batch_bytes = 32K
linger = 20ms
EOF

# every event the buffer counts as shipped (retained) is among the hub's accepted events
check_shipped() {
  "$AGENT" status -b "$buf" --json > "$T/status.json" || fail "status could not open the buffer after a kill"
  "$AGENT" dump -b "$buf" --retained > "$T/retained.jsonl" || fail "dump could not read the buffer"
  "$PY" - "$T/retained.jsonl" "$T/hub.acc" "$T/status.json" << 'PY' || exit 1
import json, sys
acc = set()
lines = 0
for l in open(sys.argv[2]):
    if l.endswith("\n"):
        acc.add(json.loads(l)["event_id"])
        lines += 1
ret = [json.loads(l)["event_id"] for l in open(sys.argv[1])]
lost = [e for e in ret if e not in acc]
if lost:
    sys.exit(f"FAIL: {len(lost)} events counted as shipped never reached the hub, e.g. {lost[:3]}")
st = json.load(open(sys.argv[3]))
if st["shipped"] > lines:
    sys.exit(f"FAIL: shipped={st['shipped']} but the hub accepted only {lines} events")
if st["shipped"] != len(ret):
    sys.exit(f"FAIL: shipped={st['shipped']}, retained events {len(ret)}")
PY
}

kills=0
mid=0
for i in $(seq 1 "$KILLS"); do
  if [ $((i % 4)) -eq 0 ]; then
    "$AGENT" run -c "$T/run.conf" > "$T/run$i.out" 2> "$T/run$i.err" &
  else
    "$AGENT" ship -b "$buf" -q --connection-string "$cs" --max-batch-bytes 32K --timeout 2 \
      > "$T/run$i.out" 2> "$T/run$i.err" &
  fi
  pid=$!
  sleep "$("$PY" -c 'import random; print(round(random.uniform(0.15, 0.45), 3))')"
  if kill -9 "$pid" 2> /dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2> /dev/null || true
  check_shipped
  q=$(json_get "$(cat "$T/status.json")" queued_events)
  [ "$q" -gt 0 ] && [ "$q" -lt "$EVENTS" ] && mid=$((mid + 1))
done
echo "killed the agent $kills times, $mid times with part of the queue shipped"
[ "$kills" -ge $((KILLS * 3 / 4)) ] || fail "the agent exited by itself before most kills ($kills kills)"
[ "$mid" -ge $((KILLS / 2)) ] || fail "too few kills landed mid-way through the queue ($mid)"

# the last run drains the rest
set +e
timeout -k 5 120 "$AGENT" ship -b "$buf" --once -q --connection-string "$cs" --max-batch-bytes 1M \
  --timeout 5 --give-up-after 60 2> "$T/last.err"
rc=$?
set -e
[ $rc -eq 0 ] || fail "the final ship --once exited $rc: $(cat "$T/last.err")"
check_shipped
for _ in $(seq 1 50); do
  [ "$(json_get "$("$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_stats", timeout=5).read().decode())' "$port")" in_flight)" -eq 0 ] && break
  sleep 0.1
done
"$PY" "$HUB_PY" check --log "$T/hub.log" --accepted "$T/hub.acc" --expect "$T/events.jsonl" \
  --allow-resend > "$T/check.json" || fail "$(cat "$T/check.json")"
shipped=$(json_get "$(cat "$T/status.json")" shipped)
queued=$(json_get "$(cat "$T/status.json")" queued_events)
lines=$(wc -l < "$T/hub.acc")
[ "$queued" -eq 0 ] || fail "$queued events still queued"
[ "$shipped" -eq "$EVENTS" ] || fail "shipped=$shipped, want $EVENTS (each event acknowledged once)"
[ "$shipped" -le "$lines" ] || fail "shipped=$shipped > accepted lines $lines"
ok "after $kills kills: all $EVENTS events reached the hub ($lines accepted lines, $((lines - EVENTS)) resent), shipped=$shipped"
