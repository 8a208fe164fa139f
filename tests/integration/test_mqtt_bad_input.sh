#!/usr/bin/env bash
# Bad input to the receiver's MQTT front end, published at QoS 1 to a real Mosquitto between
# good events: payloads over the hub's limit (max_publication; one past the packet limit too), property bags that do not
# decode (a bad %-escape, a name twice, not UTF-8), topics under the filter but not of the
# events form, packed messages that are not an Event Hubs batch or hold a twin of the device
# property. Each is counted in /metrics by reason, acknowledged (a receiver restart does not
# get it again) and kept out of capture; the subscription never drops (one connect), and the
# good events around them are captured, each once.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/receiver.sh"
mq_start
cat > "$T/rx.conf" << EOF
[receiver]
listen = 127.0.0.1:0
max_publication = 64K
[capture]
dir = $T/cap
[hub events]
partitions = 2
[rule send]
key = k
rights = send
[mqtt]
url = $MQ_URL
topic = devices/#
EOF
rx_start -c "$T/rx.conf"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
[ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not connect"
pub() { mosquitto_pub -p "$MQ_PORT" -q 1 -t "$1" "${@:2}" || fail "mosquitto_pub $1 failed"; }
rej() { rx_metric "hubcap_receiver_mqtt_rejected_total{reason=\"$1\"}"; }

"$AGENT" generate -b "$T/a" --count 300 --seed 3 --device-id bad-in-01 -q
"$AGENT" dump -b "$T/a" > "$T/buffered.jsonl"
"$AGENT" ship -b "$T/a" --once -q --transport mqtt -s "$MQ_URL" --max-batch-events 100 \
  2> "$T/a.err" &
SHIP=$!
head -c 70000 /dev/zero | tr '\0' x > "$T/big"
head -c 300000 /dev/zero | tr '\0' y > "$T/huge" # past the packet limit: skipped unread
pub devices/d1/messages/events/a=1 -f "$T/big"
pub devices/d1/messages/events/a=2 -f "$T/huge"
pub 'devices/d1/messages/events/a=%ZZ' -m '{}'
pub 'devices/d1/messages/events/a=1&a=2' -m '{}'
pub 'devices/d1/messages/events/a=%FF' -m '{}'
pub devices/d1/twin/reported -m '{}'
pub devices/d1/messages/eventsX -m '{}'
# the packed form (events_per_message): not an Event Hubs batch; a twin of the device property
PACKED='devices/d1/messages/events/$.ct=application%2Fvnd.microsoft.servicebus.json&$.ce=utf-8'
pub "$PACKED" -m 'not json'
pub "$PACKED" -m '[{"Body":"a"},{"Body":"b","UserProperties":{"iothub-connection-device-id":"d2"}}]'
wait "$SHIP" || fail "the agent did not ship: $(cat "$T/a.err")"
want_total=300
for _ in $(seq 1 100); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge $want_total ] &&
    [ "$(($(rej too_large) + $(rej properties) + $(rej topic) + $(rej batch)))" -ge 9 ] &&
    [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')" -ge $((want_total + 9)) ] && break
  sleep 0.1
done
[ "$(rej too_large)" = 2 ] || fail "too_large: $(rej too_large), want 2"
[ "$(rej properties)" = 3 ] || fail "properties: $(rej properties), want 3"
[ "$(rej topic)" = 2 ] || fail "topic: $(rej topic), want 2"
[ "$(rej batch)" = 2 ] || fail "batch: $(rej batch), want 2"
[ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" = $want_total ] ||
  fail "captured $(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}'), want $want_total"
[ "$(rx_metric hubcap_receiver_mqtt_connects_total)" = 1 ] || fail "the subscription dropped"
acked=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')
[ "$acked" = $((want_total + 9)) ] || fail "acknowledged $acked, want $((want_total + 9)) (the refused too)"
grep -q 'refused a message on devices/d1/messages/events/a=%ZZ (properties)' "$RX_LOG" ||
  fail "the log does not name the refused message: $(grep mqtt "$RX_LOG" | tail -3)"
ok "9 bad messages counted by reason (too_large 2, properties 3, topic 2, batch 2: not JSON, a packed event with a twin of the device property, none of its events kept) and acknowledged; $want_total good ones captured; one connection throughout"

# refused means acknowledged: a restarted receiver does not get them again
rx_stop
rx_start -c "$T/rx.conf"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
sleep 1
[ "$(($(rej too_large) + $(rej properties) + $(rej topic) + $(rej batch)))" = 0 ] || fail "the broker sent refused messages again"
[ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" = 0 ] || fail "the broker sent captured messages again"
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T/buffered.jsonl" "$T/captured.jsonl" << 'PY' || fail "capture holds other than the good events"
import json, sys
want = {json.loads(l)["event_id"] for l in open(sys.argv[1])}
cap = [json.loads(l) for l in open(sys.argv[2])]
got = [e["event_id"] for e in cap]
assert len(got) == len(want) and set(got) == want, (len(got), len(want))
PY
ok "capture holds exactly the $want_total good events; a restart gets nothing again"
mq_stop
