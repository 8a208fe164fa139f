#!/usr/bin/env bash
# The AMQP transport against a real hubcap-receiver (its AMQP endpoint): a wrong key and an
# unknown hub are refused with a sentence that says what to fix and nothing leaves the queue; a
# short --token-ttl is renewed on the live connection (one connection, one link, several
# put-tokens, no link expired); the receiver killed and restarted three times mid-stream loses
# nothing; a TLS listener with the test CA's certificate ships with the right CA and is refused
# with another CA or the system's; status and --metrics show the transport's counters.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || { echo "SKIP: this hubcap-receiver has no AMQP endpoint (receiver issue 13)"; exit 77; }
unset HUBCAP_CONNECTION_STRING
RX_PORT=$(free_port)
rx_start --capture "$T/cap" --window 1s "${rx_amqp_args[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
ACS=$(cs_of amqp)

ship() { # BUF ARGS...: ship --once over amqp, bounded in time; rc, output in $T/ship.err
  local buf=$1
  shift
  set +e
  timeout -k 5 100 "$AGENT" ship -b "$buf" --once --transport amqp "$@" > "$T/ship.out" 2> "$T/ship.err"
  rc=$?
  set -e
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "ship did not finish in 100 s: $(tail -5 "$T/ship.err")"
}
st() { json_get "$("$AGENT" status -b "$1" --json)" "$2"; }
metric() { rx_metric "$1"; }

# --- a wrong key: the put-token is refused, renewed once, then the agent stops and says why
"$AGENT" generate -b "$T/a.buf" --count 300 --seed 41 --device-id amqp-a -q
ship "$T/a.buf" -s "${ACS/SharedAccessKey=SAS_KEY_VALUE/SharedAccessKey=not-the-key}" --give-up-after 10
[ $rc -eq 1 ] || fail "a wrong key: exit $rc, want 1: $(cat "$T/ship.err")"
grep -q "amqp:unauthorized-access" "$T/ship.err" && grep -q "SharedAccessKey" "$T/ship.err" ||
  fail "a wrong key: no clear message: $(cat "$T/ship.err")"
[ "$(st "$T/a.buf" queued_events)" -eq 300 ] || fail "a wrong key: events left the queue"
[ "$(st "$T/a.buf" paused)" = True ] || fail "a wrong key: not paused"
[ "$(tpc "$T/a.buf" auth_refused)" -ge 2 ] || fail "a wrong key: auth_refused $(tpc "$T/a.buf" auth_refused)"
ok "a wrong key: refused ($(tpc "$T/a.buf" auth_refused) put-tokens refused), exit 1 with a clear message, queue unchanged"

# --- an unknown hub: refused as a whole (not dead-lettered), exit 1, queue unchanged
ship "$T/a.buf" -s "${ACS/EntityPath=events/EntityPath=nohub}" --give-up-after 10
[ $rc -eq 1 ] || fail "an unknown hub: exit $rc, want 1: $(cat "$T/ship.err")"
grep -q "no event hub nohub" "$T/ship.err" || fail "an unknown hub: $(cat "$T/ship.err")"
[ "$(st "$T/a.buf" queued_events)" -eq 300 ] || fail "an unknown hub: events left the queue"
[ "$(st "$T/a.buf" dead_letter_events)" -eq 0 ] || fail "an unknown hub: events dead-lettered"
ok "an unknown hub: $(grep -o 'amqp:[a-z-]*' "$T/ship.err" | head -1), exit 1, nothing dead-lettered"

# --- and the right string ships them all
ship "$T/a.buf" -s "$ACS"
[ $rc -eq 0 ] || fail "ship after the refusals exited $rc: $(cat "$T/ship.err")"
[ "$(st "$T/a.buf" shipped)" -eq 300 ] || fail "shipped $(st "$T/a.buf" shipped), want 300"

# --- a token of 4 s renewed on the live connection, while `run` ships for 12 s
conns0=$(metric 'hubcap_receiver_amqp_connections_total{result="accepted"}')
expired0=$(metric hubcap_receiver_amqp_links_expired_total)
cat > "$T/ttl.conf" << EOF
[agent]
device_id = amqp-ttl
[buffer]
path = $T/ttl.buf
[hub]
transport = amqp
connection_string = $ACS
token_ttl = 4s
linger = 50ms
[source.gen]
type = generator
rate = 200
EOF
"$AGENT" run -c "$T/ttl.conf" > "$T/ttl.out" 2> "$T/ttl.err" &
rpid=$!
hc_cleanup_hooks+=("kill $rpid 2>/dev/null")
sleep 12
kill -TERM $rpid
wait $rpid || fail "run with a 4 s token exited non-zero: $(tail -5 "$T/ttl.err")"
conns=$(($(metric 'hubcap_receiver_amqp_connections_total{result="accepted"}') - conns0))
renewals=$(tpc "$T/ttl.buf" tokens)
[ "$(tpc "$T/ttl.buf" connects)" -eq 1 ] && [ "$(tpc "$T/ttl.buf" disconnects)" -eq 0 ] &&
  [ "$conns" -eq 1 ] ||
  fail "the token renewal dropped the connection: $("$AGENT" status -b "$T/ttl.buf" | grep transport), the receiver accepted $conns"
[ "$renewals" -ge 3 ] || fail "only $renewals renewals of a 4 s token in 12 s"
[ "$(tpc "$T/ttl.buf" accepted)" -ge 1500 ] || fail "run shipped only $(tpc "$T/ttl.buf" accepted) in 12 s"
[ "$(metric hubcap_receiver_amqp_links_expired_total)" -eq "$expired0" ] ||
  fail "the receiver expired a link: the token was not renewed in time"
ship "$T/ttl.buf" -s "$ACS" # the tail
[ "$(st "$T/ttl.buf" queued_events)" -eq 0 ] || fail "events left after run with a short token"
ok "a 4 s token: $renewals renewals on one live connection (the receiver accepted $conns), no link expired"

# --- the receiver killed and restarted three times mid-stream: nothing lost
cat > "$T/restart.conf" << EOF
[agent]
device_id = amqp-restart
[buffer]
path = $T/r.buf
[hub]
transport = amqp
connection_string = $ACS
linger = 20ms
[source.gen]
type = generator
rate = 500
EOF
"$AGENT" run -c "$T/restart.conf" > "$T/r.out" 2> "$T/r.err" &
rpid=$!
hc_cleanup_hooks+=("kill $rpid 2>/dev/null")
for i in 1 2 3; do
  sleep 2
  rx_kill9
  sleep 1
  rx_start --capture "$T/cap" --window 1s "${rx_amqp_args[@]}"
done
sleep 3
kill -TERM $rpid
wait $rpid || fail "run through receiver restarts exited non-zero: $(tail -5 "$T/r.err")"
lost=$(tpc "$T/r.buf" disconnects)
# a restart while the agent was still backing off from the one before costs no connection
[ "$lost" -ge 1 ] && [ "$(tpc "$T/r.buf" connects)" -ge 2 ] ||
  fail "3 receiver restarts: the agent saw $lost connections lost: $("$AGENT" status -b "$T/r.buf" | grep transport)"
# --- status and metrics show the transport (of run's shipper)
"$AGENT" status -b "$T/r.buf" | grep -q "^transport  amqp: " || fail "status: $("$AGENT" status -b "$T/r.buf")"
"$AGENT" status -b "$T/r.buf" --metrics > "$T/metrics.txt"
grep -q "^hubcap_agent_transport_accepted_total{transport=\"amqp\"} $(tpc "$T/r.buf" accepted)$" "$T/metrics.txt" ||
  fail "status --metrics: $(grep transport_accepted "$T/metrics.txt")"
[ "$(tpc "$T/r.buf" accepted)" -gt 1000 ] || fail "run shipped only $(tpc "$T/r.buf" accepted)"
grep -q "^hubcap_agent_shipped_total $(st "$T/r.buf" shipped)$" "$T/metrics.txt" || fail "status --metrics: shipped"
ship "$T/r.buf" -s "$ACS" --give-up-after 30
[ $rc -eq 0 ] || fail "ship after the restarts exited $rc: $(cat "$T/ship.err")"
[ "$(st "$T/r.buf" queued_events)" -eq 0 ] || fail "events still queued after the restarts"
"$AGENT" dump -b "$T/r.buf" --retained > "$T/r.all"
ok "the receiver killed and restarted 3 times mid-stream: $(wc -l < "$T/r.all") events shipped, $lost connections lost on the way; status and --metrics show the transport"

rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T/r.all" "$T/captured.jsonl" << 'PY' || fail "events lost through the receiver restarts"
import json, sys
want = {json.loads(l)["event_id"] for l in open(sys.argv[1])}
got = {e["event_id"] for e in map(json.loads, open(sys.argv[2]))}
missing = want - got
assert not missing, f"{len(missing)} shipped events are not in the capture, e.g. {sorted(missing)[:3]}"
PY
ok "every event shipped through the restarts is in the capture"

# --- a TLS listener with the test CA's certificate: the right CA ships, others are refused
bash "$HC_SRC/tests/lib/make_test_ca.sh" "$T/ca" || fail "make_test_ca.sh failed"
TLS_PORT=$(free_port)
cat > "$T/rx-tls.conf" << EOF
[receiver]
namespace = hubcap
listen = 127.0.0.1:0
[capture]
dir = $T/tlscap
window = 1s
[amqp]
listen = off
listen_tls = 127.0.0.1:$TLS_PORT
tls_cert = $T/ca/server.pem
tls_key = $T/ca/server.key
[hub events]
partitions = 2
[rule send]
key = tls-k3y
rights = send
hub = events
EOF
"$RX" serve -c "$T/rx-tls.conf" > "$T/rx-tls.out" 2> "$T/rx-tls.err" &
tls_pid=$!
hc_cleanup_hooks+=("kill $tls_pid 2>/dev/null")
for _ in $(seq 1 100); do (exec 3<> "/dev/tcp/127.0.0.1/$TLS_PORT") 2> /dev/null && break; sleep 0.1; done
TCS="Endpoint=sb://localhost:$TLS_PORT/;SharedAccessKeyName=send;SharedAccessKey=tls-k3y;EntityPath=events"
"$AGENT" generate -b "$T/t.buf" --count 500 --seed 43 --device-id amqp-tls -q
ship "$T/t.buf" -s "$TCS" --ca-file "$T/ca/other-ca.pem" --give-up-after 3
[ $rc -eq 1 ] || fail "TLS with the wrong CA: exit $rc, want 1: $(cat "$T/ship.err")"
grep -qi "certificate verify failed" "$T/ship.err" || fail "wrong CA: $(cat "$T/ship.err")"
ship "$T/t.buf" -s "$TCS" --give-up-after 3
[ $rc -eq 1 ] || fail "TLS with the system's CAs: exit $rc, want 1"
grep -qi "certificate" "$T/ship.err" || fail "system CAs: $(cat "$T/ship.err")"
[ "$(st "$T/t.buf" shipped)" -eq 0 ] || fail "shipped events to an unverified hub"
ship "$T/t.buf" -s "$TCS" --ca-file "$T/ca/ca.pem"
[ $rc -eq 0 ] || fail "TLS with the right CA exited $rc: $(cat "$T/ship.err")"
[ "$(st "$T/t.buf" shipped)" -eq 500 ] || fail "TLS: shipped $(st "$T/t.buf" shipped), want 500"
kill -TERM $tls_pid
wait $tls_pid || fail "the TLS receiver did not stop cleanly"
"$AGENT" dump -b "$T/t.buf" --retained | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["event_id"])' > "$T/t.ids"
"${RXTOOL[@]}" check "$T/tlscap" --ids "$T/t.ids" --no-tmp > /dev/null || fail "TLS: capture check"
ok "AMQP over TLS (5671-style listener, test CA): wrong CA and system CAs refused naming the certificate, right CA shipped all 500"
