#!/usr/bin/env bash
# MQTT end to end: three agents ship over `--transport mqtt` (MQTT 5) to a real
# Mosquitto, the third in the packed form (--events-per-message 64: Event Hubs batches); hubcap-receiver serve --mqtt subscribes (persistent session) and captures; the
# lake promotes to silver. Every buffered event is captured exactly once with its body, its
# properties from the topic (event_id, device_id, kind, schema), the device id from the topic as
# partition key and iothub-connection-device-id; every event is in silver (or quarantined by a
# rule), none twice; the receiver's /metrics count what the agents' PUBACKs say.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/lake.sh"
pg_start
mq_start
CAP="$T/cap"
rx_start --capture "$CAP" --window 2s --pg "" --lake-interval 500ms --mqtt "$MQ_URL"
grep -q "^mqtt: subscribed to devices/+/messages/events/# on $MQ_URL" "$RX_OUT" ||
  fail "serve --mqtt does not announce the subscription: $(cat "$RX_OUT")"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
[ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not connect: $(cat "$RX_LOG")"

pids=()
for d in 1 2 3; do
  "$AGENT" generate -b "$T/a$d" --count $((1500 * d)) --seed "$d$RANDOM" --device-id "mq-0$d" -q
  "$AGENT" dump -b "$T/a$d" >> "$T/buffered.jsonl"
done
for d in 1 2 3; do
  extra=()
  [ "$d" = 2 ] && extra=(--max-batch-events 300)
  [ "$d" = 3 ] && extra=(--events-per-message 64) # the packed form
  "$AGENT" ship -b "$T/a$d" --once -q --transport mqtt -s "$MQ_URL" "${extra[@]+"${extra[@]}"}" \
    2> "$T/a$d.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "an agent did not ship everything: $(cat "$T"/a*.err)"; done
total=0
msgs=0
for d in 1 2 3; do
  n=$((1500 * d))
  total=$((total + n))
  s=$("$AGENT" status -b "$T/a$d" --json)
  "$PY" - "$s" "$n" "$d" << 'PY' || fail "agent $d: $s"
import json, sys
s, n = json.loads(sys.argv[1]), int(sys.argv[2])
c = s["transport_counters"]
assert s["transport"] == "mqtt" and s["queued_events"] == 0 and s["shipped"] == n, s
assert c["accepted"] == n and c["rejected"] == 0 and c["connects"] >= 1, c
if sys.argv[3] == "3":  # packed: up to 64 events a message
    assert n // 64 <= c["requests"] < n // 8, c
else:
    assert c["requests"] == n, c
PY
  msgs=$((msgs + $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["transport_counters"]["requests"])' "$s")))
done
ok "3 agents shipped $total events over MQTT in $msgs messages (the third packed), each acknowledged by a PUBACK"

# the receiver acknowledges what it captured; wait until it has all of them
for _ in $(seq 1 300); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge "$total" ] 2> /dev/null && break
  sleep 0.1
done
cap=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')
[ "$cap" -eq "$total" ] || fail "the receiver captured $cap of $total MQTT messages"
acked=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')
[ "$acked" -eq "$msgs" ] || fail "the receiver acknowledged $acked of the $msgs messages the agents published"
for r in too_large topic properties batch; do
  [ "$(rx_metric "hubcap_receiver_mqtt_rejected_total{reason=\"$r\"}")" = 0 ] || fail "rejected for $r"
done
rx_stop
ok "the receiver captured and acknowledged $total messages, refused none"

"$PY" -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["event_id"])' "$T/buffered.jsonl" > "$T/ids"
"${RXTOOL[@]}" check "$CAP" --ids "$T/ids" --no-tmp > "$T/check.json" || fail "capture check failed"
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$CAP" > "$T/captured.jsonl"
"$PY" - "$T/check.json" "$T/buffered.jsonl" "$T/captured.jsonl" << 'PY' || fail "capture differs from what the agents buffered"
import json, sys
c = json.load(open(sys.argv[1]))
raw = {json.loads(l)["event_id"]: l.rstrip("\n") for l in open(sys.argv[2])}
buf = [json.loads(l) for l in open(sys.argv[2])]
cap = {e["event_id"]: e for e in map(json.loads, open(sys.argv[3]))}
n = len(buf)
assert c["events"] == n and c["unique_ids"] == n and c["duplicates"] == 0, c
for b in buf:
    e = cap[b["event_id"]]
    assert e["body"] == raw[b["event_id"]], (e["body"][:80], raw[b["event_id"]][:80])
    p = e["props"]
    want = {"event_id": b["event_id"], "device_id": b["device_id"], "kind": b["kind"],
            "schema": str(b["schema"]), "iothub-connection-device-id": b["device_id"]}
    assert p == want, (p, want)
    assert e["pkey"] == b["device_id"], (e["pkey"], b["device_id"])
print(f"{n} events in {c['files']} capture files over partitions {c['partitions']}")
PY
ok "every event captured once: body as buffered, properties from the topic, device id as key"

nfiles=$(lake_landed_once "$CAP")
[ "$(pg_sql "SELECT count(*) = count(DISTINCT event_id) FROM ($LAKE_SILVER_IDS) u")" = t ] || fail "an event_id twice in silver"
{
  pg_sql "$LAKE_SILVER_IDS"
  pg_sql "SELECT event_id FROM silver.quarantine WHERE event_id IS NOT NULL"
} | sort -u > "$T/accounted"
"$PY" - "$T/ids" "$T/accounted" << 'PY' || fail "events missing from the lake"
import sys
want = set(l.strip() for l in open(sys.argv[1]))
have = set(l.strip() for l in open(sys.argv[2]))
missing = want - have
assert not missing, f"{len(missing)} of {len(want)} not in silver nor quarantined, e.g. {sorted(missing)[:3]}"
PY
ok "agents -> Mosquitto -> receiver -> $nfiles capture files -> silver: every event, none twice"
mq_stop
