#!/usr/bin/env bash
# MQTT over TLS (mqtts://) end to end against a real Mosquitto with a test CA (made here with
# openssl): listener A wants a client certificate signed by that CA (require_certificate true)
# and a username/password; listener B only TLS and the password. The receiver's [mqtt] front end
# (url mqtts://, ca_file, cert_file, key_file, username, password) subscribes on A; agents ship
# over mqtts:// on A (client certificate + password) and on B (password): every event captured
# once with its body. Refused and counted where a user sees them
# (hubcap_receiver_mqtt_connect_errors_total{reason}), logged with the reason: the receiver with
# an unrelated CA (certificate verify failed), without a client certificate on A (the broker's
# alert), with a wrong password (CONNACK); nothing captured then. A TLS file that does not load
# stops serve with its name; ca_file on an mqtt:// url is refused. The agent with an unrelated
# CA ships nothing.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/receiver.sh"
bash "$HC_SRC/tests/lib/make_test_ca.sh" "$T/ca" || fail "make_test_ca.sh failed"
CA=$T/ca

# client certificates from the test CA (clientAuth)
client_cert() { # NAME
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/$1.key" 2> /dev/null
  openssl req -new -key "$CA/$1.key" -subj "/CN=$1" -out "$CA/$1.csr" 2> /dev/null
  printf 'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n' > "$CA/client.ext"
  openssl x509 -req -in "$CA/$1.csr" -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAcreateserial \
    -sha256 -days 2 -extfile "$CA/client.ext" -out "$CA/$1.pem" 2> /dev/null ||
    fail "cannot sign the client certificate $1"
  chmod 600 "$CA/$1.key"
}
client_cert hubcap-rx
client_cert agent-01

B_PORT=$(free_port)
: > "$MQ_DIR/passwd"
mosquitto_passwd -b "$MQ_DIR/passwd" hubcap-rx rx-secret
mosquitto_passwd -b "$MQ_DIR/passwd" agent agent-secret
cat > "$T/mq.extra" << EOF
allow_anonymous false
password_file $MQ_DIR/passwd
listener $MQ_PORT 127.0.0.1
cafile $CA/ca.pem
certfile $CA/server.pem
keyfile $CA/server.key
require_certificate true
listener $B_PORT 127.0.0.1
certfile $CA/server.pem
keyfile $CA/server.key
EOF
mq_start "$T/mq.extra"
A_URL="mqtts://127.0.0.1:$MQ_PORT"
B_URL="mqtts://127.0.0.1:$B_PORT"

rx_conf() { # CA_FILE PASSWORD [with-cert]
  cat << EOF
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
url = $A_URL
ca_file = $1
username = hubcap-rx
password = $2
EOF
  if [ "${3:-}" = with-cert ]; then
    echo "cert_file = $CA/hubcap-rx.pem"
    echo "key_file = $CA/hubcap-rx.key"
  fi
}
cerr() { rx_metric "hubcap_receiver_mqtt_connect_errors_total{reason=\"$1\"}"; }
# refused_by REASON LOG_PATTERN: the receiver counts a REASON connect error, logs the pattern,
# stays disconnected and captures nothing
refused_by() {
  for _ in $(seq 1 100); do [ "$(cerr "$1")" -ge 1 ] 2> /dev/null && break; sleep 0.1; done
  [ "$(cerr "$1")" -ge 1 ] || fail "no $1 connect error counted: $(tail -5 "$RX_LOG")"
  grep -q "$2" "$RX_LOG" || fail "the log does not say '$2': $(tail -5 "$RX_LOG")"
  [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 0 ] || fail "connected although refused ($1)"
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" = 0 ] ||
    fail "captured while refused ($1)"
  rx_stop
}

# events the agents buffer, published while the receiver is refused: the broker keeps none for
# a session it never had, so the first run's agent publishes only after the receiver is in
"$AGENT" generate -b "$T/a" --count 3000 --seed 11 --device-id tls-a -q
"$AGENT" generate -b "$T/b" --count 1000 --seed 12 --device-id tls-b -q
"$AGENT" dump -b "$T/a" > "$T/buffered.jsonl"
"$AGENT" dump -b "$T/b" >> "$T/buffered.jsonl"

# configuration errors: at start, with the file or key named
rx_conf "$T/no-such-ca.pem" rx-secret with-cert > "$T/rx-bad.conf"
"$RX" serve -c "$T/rx-bad.conf" > /dev/null 2> "$T/bad.err" && fail "serve started with a missing ca_file"
grep -q "ca_file $T/no-such-ca.pem: cannot load the CA certificates" "$T/bad.err" ||
  fail "a missing ca_file is not named: $(cat "$T/bad.err")"
rx_conf "$CA/ca.pem" rx-secret > "$T/rx-bad.conf"
echo "cert_file = $CA/hubcap-rx.pem" >> "$T/rx-bad.conf"
echo "key_file = $CA/agent-01.key" >> "$T/rx-bad.conf"
"$RX" serve -c "$T/rx-bad.conf" > /dev/null 2> "$T/bad.err" && fail "serve started with a key of another certificate"
grep -q "key_file $CA/agent-01.key: cannot load it as the key of cert_file (PEM) (key values mismatch)" "$T/bad.err" ||
  fail "a key of another certificate is not named: $(cat "$T/bad.err")"
sed "s#^url = .*#url = mqtt://127.0.0.1:$MQ_PORT#" "$T/rx-bad.conf" > "$T/rx-plain.conf"
"$RX" serve -c "$T/rx-plain.conf" > /dev/null 2> "$T/bad.err" && fail "serve took ca_file with mqtt://"
grep -q "TLS files need an mqtts:// url" "$T/bad.err" || fail "ca_file with mqtt://: $(cat "$T/bad.err")"
ok "a ca_file that does not load, a key of another certificate, TLS files with mqtt://: serve refuses to start and names them"

rx_conf "$CA/other-ca.pem" rx-secret with-cert > "$T/rx.conf"
: > "$RX_LOG"
rx_start -c "$T/rx.conf"
refused_by tls 'TLS with 127.0.0.1:[0-9]* failed in the handshake: certificate verify failed ('
grep -q 'check \[mqtt\] ca_file' "$RX_LOG" || fail "no hint at ca_file: $(tail -3 "$RX_LOG")"
ok "a broker certificate from another CA: logged (certificate verify failed, check ca_file), counted as a tls connect error, nothing captured"

rx_conf "$CA/ca.pem" rx-secret > "$T/rx.conf"
: > "$RX_LOG"
rx_start -c "$T/rx.conf"
refused_by tls 'TLS with 127.0.0.1:[0-9]* failed .*alert'
ok "no client certificate where the broker requires one: the broker's alert logged, counted as tls"

rx_conf "$CA/ca.pem" wrong-secret with-cert > "$T/rx.conf"
: > "$RX_LOG"
rx_start -c "$T/rx.conf"
refused_by refused 'refused hubcap-receiver-[^ ]*: CONNACK'
ok "a wrong password over TLS: CONNACK refusal logged and counted as refused"

rx_conf "$CA/ca.pem" rx-secret with-cert > "$T/rx.conf"
: > "$RX_LOG"
rx_start -c "$T/rx.conf"
grep -q "^mqtt: subscribed to devices/+/messages/events/# on $A_URL" "$RX_OUT" ||
  fail "the banner does not name the mqtts url: $(cat "$RX_OUT")"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
[ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not connect over TLS: $(tail -5 "$RX_LOG")"

# the agent with an unrelated CA: the TLS check fails, nothing shipped
"$AGENT" ship -b "$T/a" --once -q --transport mqtt -s "mqtts://agent:agent-secret@127.0.0.1:$MQ_PORT" \
  --ca-file "$CA/other-ca.pem" --cert-file "$CA/agent-01.pem" --key-file "$CA/agent-01.key" \
  --give-up-after 3 2> "$T/ca.err" && fail "the agent shipped past a failed TLS check"
[ "$(json_get "$("$AGENT" status -b "$T/a" --json)" shipped)" = 0 ] || fail "shipped past a failed TLS check"
ok "the agent with a CA that did not sign the broker's certificate ships nothing"

"$AGENT" ship -b "$T/a" --once -q --transport mqtt -s "mqtts://agent:agent-secret@127.0.0.1:$MQ_PORT" \
  --ca-file "$CA/ca.pem" --cert-file "$CA/agent-01.pem" --key-file "$CA/agent-01.key" \
  2> "$T/a.err" || fail "the agent over mqtts with a client certificate: $(cat "$T/a.err")"
"$AGENT" ship -b "$T/b" --once -q --transport mqtt -s "mqtts://agent:agent-secret@127.0.0.1:$B_PORT" \
  --ca-file "$CA/ca.pem" 2> "$T/b.err" || fail "the agent over mqtts with a password: $(cat "$T/b.err")"
for d in a b; do
  s=$("$AGENT" status -b "$T/$d" --json)
  [ "$(json_get "$s" queued_events)" = 0 ] || fail "agent $d: $s"
done
for _ in $(seq 1 200); do
  [ "$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')" -ge 4000 ] && break
  sleep 0.1
done
cap=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')
[ "$cap" = 4000 ] || fail "the receiver captured $cap of 4000 over TLS"
acked=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="acknowledged"}')
[ "$acked" = 4000 ] || fail "the receiver acknowledged $acked of 4000"
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T/buffered.jsonl" "$T/captured.jsonl" << 'PY' || fail "capture differs from what the agents buffered"
import json, sys
buf = {json.loads(l)["event_id"]: l.rstrip("\n") for l in open(sys.argv[1])}
cap = [json.loads(l) for l in open(sys.argv[2])]
assert len(cap) == len(buf) == 4000, (len(cap), len(buf))
assert {e["event_id"] for e in cap} == set(buf), "ids differ"
for e in cap:
    assert e["body"] == buf[e["event_id"]], e["event_id"]
    assert e["pkey"] == json.loads(e["body"])["device_id"], e["pkey"]
PY
ok "agents over mqtts:// (client certificate + password; password only) -> Mosquitto -> the receiver over mqtts:// with its client certificate: 4000 events captured once"
mq_stop
