#!/usr/bin/env bash
# The agent's IoT Hub form against a real Mosquitto made to check it as IoT Hub would: TLS on a
# loopback port with a test CA, a password file holding exactly IoT Hub's username
# "{host}/{device}/?api-version=2021-04-12" and the device SAS token (made here by Microsoft's
# documented Python algorithm, independent of the agent), and an ACL that lets that user publish
# only to devices/{device}/messages/events/#. An agent with the device connection string
# (HostName=localhost:PORT;DeviceId=…;SharedAccessSignature=…) ships everything over MQTT 3.1.1;
# the receiver (its own user, read-only ACL) captures it with the device's properties. A wrong
# token is refused at CONNECT (the agent says so, ships nothing); the CA of another issuer fails
# the TLS check. With the device's key instead of a token, the agent signs its own tokens and
# renews them by reconnecting (token_ttl 3s) while it ships.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/receiver.sh"
bash "$HC_SRC/tests/lib/make_test_ca.sh" "$T/ca" || fail "make_test_ca.sh failed"
TLS_PORT=$(free_port)
DEV=pi-hub-01
USER_NAME="localhost/$DEV/?api-version=2021-04-12"
KEY=$(printf 'a device key of 32 bytes........' | base64)
TOKEN=$("$PY" - "localhost/devices/$DEV" "$KEY" << 'PY'
# IoT Hub's security documentation, "Security token structure" (generate_sas_token, Python)
import base64, hashlib, hmac, sys, time, urllib.parse
uri, key = sys.argv[1], sys.argv[2]
expiry = int(time.time()) + 3600
sign_key = "%s\n%d" % (urllib.parse.quote_plus(uri), expiry)
signature = base64.b64encode(hmac.HMAC(base64.b64decode(key), sign_key.encode("utf-8"),
                                       hashlib.sha256).digest())
print("SharedAccessSignature " + urllib.parse.urlencode({"sr": uri, "sig": signature,
                                                         "se": str(expiry)}))
PY
)
: > "$MQ_DIR/passwd"
mosquitto_passwd -b "$MQ_DIR/passwd" "$USER_NAME" "$TOKEN"
mosquitto_passwd -b "$MQ_DIR/passwd" hubcap-rx rx-secret
cat > "$MQ_DIR/acl" << EOF
user $USER_NAME
topic write devices/$DEV/messages/events/#
user hubcap-rx
topic read devices/+/messages/events/#
EOF
cat > "$T/mq.extra" << EOF
allow_anonymous false
password_file $MQ_DIR/passwd
acl_file $MQ_DIR/acl
listener $MQ_PORT 127.0.0.1
listener $TLS_PORT 127.0.0.1
certfile $T/ca/server.pem
keyfile $T/ca/server.key
tls_version tlsv1.2
EOF
mq_start "$T/mq.extra"

cat > "$T/rx.conf" << EOF
[receiver]
listen = 127.0.0.1:0
[capture]
dir = $T/cap
[hub events]
partitions = 2
[rule send]
key = k
rights = send
[mqtt]
url = $MQ_URL
username = hubcap-rx
password = rx-secret
version = 3.1.1
EOF
rx_start -c "$T/rx.conf"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
[ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not log in: $(tail -3 "$RX_LOG")"

CS="HostName=localhost:$TLS_PORT;DeviceId=$DEV;SharedAccessSignature=$TOKEN"
"$AGENT" generate -b "$T/buf" --count 3000 --seed 7 --device-id "$DEV" -q
"$AGENT" dump -b "$T/buf" > "$T/buffered.jsonl"

# the wrong token: CONNACK refuses, nothing is shipped, the agent names the cause
"$AGENT" ship -b "$T/buf" --once -q --transport mqtt --ca-file "$T/ca/ca.pem" \
  -s "HostName=localhost:$TLS_PORT;DeviceId=$DEV;SharedAccessSignature=${TOKEN%?}x" \
  --give-up-after 3 2> "$T/wrong.err" && fail "a wrong token shipped"
grep -q 'refused the connection: \(bad user name or password\|not authorized\)' "$T/wrong.err" ||
  fail "the agent does not say the token was refused: $(cat "$T/wrong.err" "$MQ_DIR/mosquitto.log")"
[ "$(json_get "$("$AGENT" status -b "$T/buf" --json)" shipped)" = 0 ] || fail "shipped with a wrong token"
# another CA: the TLS check fails
"$AGENT" ship -b "$T/buf" --once -q --transport mqtt --ca-file "$T/ca/other-ca.pem" -s "$CS" \
  --give-up-after 3 2> "$T/ca.err" && fail "shipped to a broker whose certificate the CA did not sign"
[ "$(json_get "$("$AGENT" status -b "$T/buf" --json)" shipped)" = 0 ] || fail "shipped past a failed TLS check"
ok "a wrong SAS token is refused at CONNECT, a certificate of another CA fails TLS: nothing shipped"

"$AGENT" ship -b "$T/buf" --once -q --transport mqtt --ca-file "$T/ca/ca.pem" -s "$CS" \
  2> "$T/ship.err" || fail "shipping in the IoT Hub form failed: $(cat "$T/ship.err")"
s=$("$AGENT" status -b "$T/buf" --json)
"$PY" - "$s" << 'PY' || fail "agent: $s"
import json, sys
s = json.loads(sys.argv[1]); c = s["transport_counters"]
assert s["shipped"] == 3000 and s["queued_events"] == 0 and c["accepted"] == 3000, s
PY
for _ in $(seq 1 200); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge 3000 ] && break
  sleep 0.1
done
[ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" = 3000 ] ||
  fail "the receiver captured $(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}') of 3000"
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T/buffered.jsonl" "$T/captured.jsonl" "$DEV" << 'PY' || fail "capture differs"
import json, sys
buf = {json.loads(l)["event_id"]: l.rstrip("\n") for l in open(sys.argv[1])}
cap = [json.loads(l) for l in open(sys.argv[2])]
assert len(cap) == len(buf) == 3000 and {e["event_id"] for e in cap} == set(buf), len(cap)
for e in cap:
    assert e["body"] == buf[e["event_id"]] and e["pkey"] == sys.argv[3], e
    assert e["props"]["iothub-connection-device-id"] == sys.argv[3], e["props"]
PY
ok "IoT Hub form (username, SAS password, topic under the device's ACL, TLS): 3000 events captured"

# token renewal: with the device's key the agent signs its own tokens (token_ttl 3s: renewed a
# second before expiry, by reconnecting) while it ships continuously; the broker now takes any
# login (a password file cannot hold tokens made at run time)
mq_stop
{
  echo "allow_anonymous true"
  echo "listener $MQ_PORT 127.0.0.1"
  echo "listener $TLS_PORT 127.0.0.1"
  echo "certfile $T/ca/server.pem"
  echo "keyfile $T/ca/server.key"
} > "$T/mq.anon"
mq_start "$T/mq.anon"
sed -i 's/^username = hubcap-rx$//; s/^password = rx-secret$//' "$T/rx.conf"
rx_start -c "$T/rx.conf"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
"$AGENT" generate -b "$T/renew" --count 120 --rate 20 --seed 8 --device-id "$DEV" -q &
GEN=$!
"$AGENT" ship -b "$T/renew" -q --transport mqtt --ca-file "$T/ca/ca.pem" --token-ttl 3s \
  -s "HostName=localhost:$TLS_PORT;DeviceId=$DEV;SharedAccessKey=$KEY" 2> "$T/renew.err" &
SHIP=$!
wait "$GEN"
for _ in $(seq 1 100); do
  [ "$(json_get "$("$AGENT" status -b "$T/renew" --json)" queued_events)" = 0 ] && break
  sleep 0.1
done
s=$("$AGENT" status -b "$T/renew" --json)
kill "$SHIP"
wait "$SHIP" 2> /dev/null || true
"$PY" -c '
import json, sys
s = json.loads(sys.argv[1]); c = s["transport_counters"]
assert s["shipped"] == 120 and s["queued_events"] == 0, s
assert c["tokens"] >= 2 and c["connects"] >= 3 and c["auth_refused"] == 0, c
' "$s" || fail "token renewal: $s $(cat "$T/renew.err")"
for _ in $(seq 1 100); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge 120 ] && break
  sleep 0.1
done
[ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge 120 ] ||
  fail "the receiver did not capture the 120 events"
rx_stop
ok "SAS tokens made from the key and renewed by reconnecting while shipping: $("$PY" -c 'import json,sys; c=json.loads(sys.argv[1])["transport_counters"]; print("tokens", c["tokens"], "connects", c["connects"])' "$s")"
mq_stop
