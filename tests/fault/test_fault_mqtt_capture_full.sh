#!/usr/bin/env bash
# The receiver's MQTT front end acknowledges a message only once its capture write is on disk:
# the capture folder is a small tmpfs, filled to the last byte by a filler file before an agent
# ships 3,000 events through a real Mosquitto. Every write fails, so (but for what fits in the
# slack of a page already allocated) no PUBACK goes out: the broker keeps the messages in the
# receiver's session and sends them again after each reconnect. When the filler is removed,
# every event reaches capture (read back by python3-avro). A front end that acknowledged on
# arrival, or a failed write, would acknowledge all 3,000 on the full disk and lose them.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/receiver.sh"
N=3000
mnt="$T/small"
mkdir -p "$mnt"
mount -t tmpfs -o size=4M tmpfs "$mnt" 2> "$T/mount.err" || skip "cannot mount a tmpfs here: $(cat "$T/mount.err")"
hc_cleanup_hooks+=("umount -l '$mnt'")
mq_start
rx_start --capture "$mnt/cap" --codec null --mqtt "$MQ_URL"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
[ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not connect"
dd if=/dev/zero of="$mnt/filler" bs=64k > /dev/null 2>&1 || true
dd if=/dev/zero of="$mnt/filler2" bs=512 > /dev/null 2>&1 || true
[ "$(df --output=avail -B1 "$mnt" | tail -1)" -lt 4096 ] || fail "the tmpfs is not full"

"$AGENT" generate -b "$T/a" --count $N --seed 12 --device-id mq-full -q
"$AGENT" dump -b "$T/a" > "$T/buffered.jsonl"
"$AGENT" ship -b "$T/a" --once -q --transport mqtt -s "$MQ_URL" 2> "$T/a.err" ||
  fail "the agent did not ship to the broker: $(cat "$T/a.err")"
for _ in $(seq 1 300); do
  [ "$(rx_metric hubcap_receiver_capture_write_errors_total)" -ge 1 ] 2> /dev/null && break
  sleep 0.1
done
[ "$(rx_metric hubcap_receiver_capture_write_errors_total)" -ge 1 ] || fail "no capture write failed"
sleep 2
acked=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')
[ "$acked" -lt 200 ] || fail "the receiver acknowledged $acked of $N messages on a full disk"
[ "$(rx_metric hubcap_receiver_mqtt_connects_total)" -ge 2 ] ||
  fail "a failed write did not make the front end reconnect (the broker sends again on a new connection only)"
ok "the capture disk is full: $acked of $N acknowledged (page slack), the rest held by the broker"

rm -f "$mnt/filler" "$mnt/filler2"
for _ in $(seq 1 300); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')" -ge $N ] && break
  sleep 0.1
done
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$mnt/cap" > "$T/captured.jsonl"
"$PY" - "$T/buffered.jsonl" "$T/captured.jsonl" << 'PY' || fail "events lost on the full disk"
import json, sys
want = {json.loads(l)["event_id"] for l in open(sys.argv[1])}
got = {json.loads(l)["event_id"] for l in open(sys.argv[2])}
missing = want - got
assert not missing, f"{len(missing)} of {len(want)} events not in capture, e.g. {sorted(missing)[:3]}"
PY
ok "after space came back every one of the $N events is in capture"
mq_stop
