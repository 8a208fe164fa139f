#!/usr/bin/env bash
# End to end, once per transport (https, amqp, mqtt): three agents ship generated events to a
# real hubcap-receiver in its development mode (REST, plain AMQP, and its MQTT front end
# subscribed to a real Mosquitto); after SIGTERM every capture
# file is a Capture Avro file (read by Debian's python3-avro, not the writer), each event is in
# exactly one of them with the body the agent buffered, its properties and its partition key,
# the same whatever the transport (MQTT: IoT Hub's property bag carries strings, so schema is
# "1", and the receiver adds iothub-connection-device-id as IoT Hub does), per-partition
# sequence numbers are contiguous, and the agents' transport counters match the receiver's.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"

# the mqtt leg when this build's agent has the transport (HC_TRANSPORTS unset)
rx_mqtt_args=()
if [ -z "${HC_TRANSPORTS:-}" ] && ! "$AGENT" ship --transport mqtt -b "$T/probe" --once \
  -s mqtt://127.0.0.1:1 -q 2>&1 | grep -q 'not in this build'; then
  if command -v mosquitto > /dev/null; then
    source "$HC_SRC/tests/lib/mosquitto.sh"
    mq_start
    TRANSPORTS+=(mqtt)
    rx_mqtt_args=(--mqtt "$MQ_URL")
  else
    TP_SKIPPED="mqtt: no mosquitto (apt-get install mosquitto)"
  fi
fi
rx_mqtt_captured() { rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}'; }

rx_start --capture "$T/cap" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}" \
  "${rx_mqtt_args[@]+"${rx_mqtt_args[@]}"}"
if [ ${#rx_mqtt_args[@]} -gt 0 ]; then
  for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
  [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not subscribe: $(tail -3 "$RX_LOG")"
fi
CS=$(grep '^Endpoint=' "$RX_OUT")
for _ in $(seq 1 50); do curl -sf "$RX_URL/healthz" > /dev/null && break; sleep 0.1; done

: > "$T/ids"
: > "$T/buffered.jsonl"
for tp in "${TRANSPORTS[@]}"; do
  for d in 1 2 3; do
    b="$T/$tp$d"
    "$AGENT" generate -b "$b" --count $((2000 * d)) --seed "$d$RANDOM" --device-id "e2e-$tp-0$d" -q
    "$AGENT" dump -b "$b" >> "$T/buffered.jsonl"
  done
  pids=()
  for d in 1 2 3; do
    "$AGENT" ship -b "$T/$tp$d" --once -q --transport "$tp" -s "$(cs_of "$tp")" \
      --max-batch-events 700 2> "$T/$tp$d.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "an agent did not ship everything over $tp"; done
  if [ "$tp" = mqtt ]; then # the broker's PUBACK came: wait for the receiver's fsyncs
    for _ in $(seq 1 300); do [ "$(rx_mqtt_captured)" -ge $((2000 * 6)) ] && break; sleep 0.1; done
  fi
  for d in 1 2 3; do
    s=$("$AGENT" status -b "$T/$tp$d" --json)
    "$PY" - "$s" "$tp" $((2000 * d)) << 'PY' || fail "agent $d over $tp: $s"
import json, sys
s, tp, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = s["transport_counters"]
assert s["transport"] == tp, s["transport"]
assert s["queued_events"] == 0 and s["shipped"] == n, (s["queued_events"], s["shipped"])
assert c["accepted"] == n and c["retried"] == 0 and c["rejected"] == 0, c
assert c["connects"] >= 1 and c["bytes"] > 0, c
PY
  done
  ok "$tp: 3 agents shipped $((2000 * 6)) events, their transport counters say so"
done
"$PY" -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["event_id"])' "$T/buffered.jsonl" > "$T/ids"

# the receiver's own counters, before it stops
curl -s "$RX_URL/metrics" > "$T/metrics"
rest_201=$(awk '$1 == "hubcap_receiver_requests_total{code=\"201\"}" {print $2}' "$T/metrics")
amqp_acc=$(awk '$1 == "hubcap_receiver_amqp_deliveries_total{outcome=\"accepted\"}" {print $2}' "$T/metrics")
mqtt_cap=$(awk '$1 == "hubcap_receiver_mqtt_messages_total{outcome=\"captured\"}" {print $2}' "$T/metrics")
mqtt_ack=$(awk '$1 == "hubcap_receiver_mqtt_messages_total{outcome=\"acknowledged\"}" {print $2}' "$T/metrics")
for tp in "${TRANSPORTS[@]}"; do
  sum=0
  for d in 1 2 3; do
    k=requests
    [ "$tp" = https ] || k=accepted
    sum=$((sum + $(tpc "$T/$tp$d" "$k")))
  done
  if [ "$tp" = https ]; then
    [ "$sum" -eq "${rest_201:-0}" ] || fail "agents made $sum requests, the receiver answered ${rest_201:-0} with 201"
  elif [ "$tp" = amqp ]; then
    [ "$sum" -eq "${amqp_acc:-0}" ] || fail "agents heard $sum accepted, the receiver sent ${amqp_acc:-0}"
  else
    # the agents' PUBACKs are the broker's; the receiver's own PUBACKs to the broker, after fsync
    [ "$sum" -eq "${mqtt_cap:-0}" ] && [ "$sum" -eq "${mqtt_ack:-0}" ] ||
      fail "agents had $sum PUBACKs, the receiver captured ${mqtt_cap:-0} and acknowledged ${mqtt_ack:-0}"
  fi
done
ok "agents' counters match the receiver's (REST 201: ${rest_201:-0}, AMQP accepted: ${amqp_acc:-n/a}, MQTT captured: ${mqtt_cap:-n/a})"

rx_stop
"${RXTOOL[@]}" check "$T/cap" --ids "$T/ids" --no-tmp > "$T/check.json" || fail "capture check failed"
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T/check.json" "$T/buffered.jsonl" "$T/captured.jsonl" << 'PY' || fail "capture differs from what the agents buffered"
import json, sys
c = json.load(open(sys.argv[1]))
buf = [json.loads(l) for l in open(sys.argv[2])]
raw = {json.loads(l)["event_id"]: l.rstrip("\n") for l in open(sys.argv[2])}
cap = {e["event_id"]: e for e in map(json.loads, open(sys.argv[3]))}
n = len(buf)
assert c["events"] == n and c["unique_ids"] == n and c["duplicates"] == 0 and c["tmp"] == 0, c
shapes = {}
for b in buf:
    e = cap[b["event_id"]]
    assert e["body"] == raw[b["event_id"]], (e["body"][:80], raw[b["event_id"]][:80])
    p = dict(e["props"])
    tp = b["device_id"].split("-")[1]
    if tp == "mqtt":  # IoT Hub's form: the bag's strings, the device id property
        assert p.pop("iothub-connection-device-id") == b["device_id"], p
        assert p["schema"] == str(b["schema"]), p
        p["schema"] = int(p["schema"])
    assert p["event_id"] == b["event_id"] and p["device_id"] == b["device_id"], p
    assert p["kind"] == b["kind"] and p["schema"] == b["schema"], p
    assert e["pkey"] == b["device_id"], (e["pkey"], b["device_id"])
    shapes.setdefault(tp, set()).add(tuple(sorted((k, type(v).__name__) for k, v in p.items())))
one = {s for v in shapes.values() for s in v}
assert len(one) == 1, f"the properties differ by transport: {shapes}"
print(f"{n} events from {len(shapes)} transports in {c['files']} capture files over partitions "
      f"{c['partitions']}; bodies, properties ({sorted(k for k, _ in next(iter(one)))}) and "
      f"partition keys as buffered, alike for {sorted(shapes)}")
PY
ok "agents -> receiver over ${TRANSPORTS[*]}: every event captured exactly once, as buffered"
[ ${#rx_mqtt_args[@]} -eq 0 ] || mq_stop
tp_finish
