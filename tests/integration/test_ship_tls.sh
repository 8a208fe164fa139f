#!/usr/bin/env bash
# The shipper over TLS, against tests/lib/fake_hub.py serving HTTPS with a certificate from a test
# CA (tests/lib/make_test_ca.sh): with the right CA (--ca-file, or ca_file in [hub]) it ships, by
# host name and by IP address (subjectAltName); with an unrelated CA, or the system's bundle, it
# refuses the certificate with a message that says so, and nothing leaves the queue.
source "$(dirname "$0")/../lib/common.sh"
KEY="tls-k3y-$RANDOM"
source "$HC_SRC/tests/lib/hub.sh"
command -v openssl > /dev/null || fail "openssl is needed (tools/deps.sh installs it)"
bash "$HC_SRC/tests/lib/make_test_ca.sh" "$T/ca" || fail "make_test_ca.sh failed"

# start_tls_hub NAME [fake_hub args...]: a hub serving HTTPS with the test CA's certificate
start_tls_hub() {
  start_hub "$1" --tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" "${@:2}"
}
stop_hub() { kill_hub; }
# TLS: an sb:// Endpoint without UseDevelopmentEmulator (AMQP's by default: --transport https);
# the port is the hub's
cs() { # HOST PORT
  echo "Endpoint=sb://$1:$2/;SharedAccessKeyName=send;SharedAccessKey=$KEY;EntityPath=events"
}
nreq() { cat "$T/$1.log" 2> /dev/null | grep -c '"response"' || true; }

# --- the right CA, by host name: ships; the hub saw the audience https://localhost/events
events a 1500 21
start_tls_hub h1
ship "$T/a.buf" --transport https --connection-string "$(cs localhost "$hub_port")" --ca-file "$T/ca/ca.pem" \
  --max-batch-bytes 128K
[ $rc -eq 0 ] || fail "ship over TLS with the right CA exited $rc: $(cat "$T/ship.err")"
stop_hub
check h1 --expect "$T/a.jsonl"
[ "$(st "$T/a.buf" shipped)" -eq 1500 ] || fail "shipped $(st "$T/a.buf" shipped), want 1500"
[ "$(st "$T/a.buf" queued_events)" -eq 0 ] || fail "events left in the queue"
"$PY" - "$T/h1.log" << 'PY' || fail "requests over TLS were not all authorised"
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if '"response"' in l]
assert L and all(r["auth"] == "ok" and r["status"] == 201 for r in L), L[:2]
conns = {r["conn"] for r in L}
assert len(conns) < len(L), f"no TLS connection was reused: {len(L)} requests, {len(conns)} connections"
PY
ok "TLS with the right CA (localhost): 1500 events shipped once each, connections reused"

# --- by IP address: the certificate's IP subjectAltName matches
events b 300 22
start_tls_hub h2
ship "$T/b.buf" --transport https --connection-string "$(cs 127.0.0.1 "$hub_port")" --ca-file "$T/ca/ca.pem"
[ $rc -eq 0 ] || fail "ship over TLS to 127.0.0.1 exited $rc: $(cat "$T/ship.err")"
stop_hub
check h2 --expect "$T/b.jsonl"
ok "TLS with the right CA (127.0.0.1, IP subjectAltName): shipped"

# --- an unrelated CA: refused with a message about the certificate; nothing lost or sent
events c 400 23
before=$(st "$T/c.buf" queued_events)
start_tls_hub h3
ship "$T/c.buf" --transport https --connection-string "$(cs localhost "$hub_port")" --ca-file "$T/ca/other-ca.pem" \
  --give-up-after 3
[ $rc -eq 1 ] || fail "ship with the wrong CA exited $rc, want 1: $(cat "$T/ship.err")"
grep -qi "certificate" "$T/ship.err" || fail "wrong CA: no word about the certificate: $(cat "$T/ship.err")"
st "$T/c.buf" last_error | grep -qi "certificate" || fail "last_error: $(st "$T/c.buf" last_error)"
[ "$(st "$T/c.buf" queued_events)" -eq "$before" ] || fail "queued $(st "$T/c.buf" queued_events), was $before"
[ "$(st "$T/c.buf" shipped)" -eq 0 ] || fail "shipped events to an unverified hub"
[ "$(nreq h3)" -eq 0 ] || fail "the hub got $(nreq h3) requests over an unverified connection"

# --- the system's CA bundle does not know the test CA either
ship "$T/c.buf" --transport https --connection-string "$(cs localhost "$hub_port")" --give-up-after 3
[ $rc -eq 1 ] || fail "ship with the system CAs exited $rc, want 1: $(cat "$T/ship.err")"
grep -qi "certificate" "$T/ship.err" || fail "system CAs: $(cat "$T/ship.err")"
[ "$(st "$T/c.buf" queued_events)" -eq "$before" ] || fail "events lost after a TLS failure"
[ "$(nreq h3)" -eq 0 ] || fail "the hub got requests over an unverified connection"

# --- a missing CA file is named
ship "$T/c.buf" --transport https --connection-string "$(cs localhost "$hub_port")" --ca-file "$T/ca/nope.pem" --give-up-after 3
[ $rc -ne 0 ] || fail "ship with a missing --ca-file succeeded"
grep -q "nope.pem" "$T/ship.err" || fail "missing CA file not named: $(cat "$T/ship.err")"

# --- and with the right CA the same queue then ships in full
ship "$T/c.buf" --transport https --connection-string "$(cs localhost "$hub_port")" --ca-file "$T/ca/ca.pem"
[ $rc -eq 0 ] || fail "ship after the TLS failures exited $rc: $(cat "$T/ship.err")"
stop_hub
check h3 --expect "$T/c.jsonl"
ok "wrong CA / system CAs: refused naming the certificate, exit 1, $before events still queued; then shipped with the right CA"

# --- run -c with ca_file in [hub]
start_tls_hub h4
cat > "$T/run.conf" << EOF
[agent]
device_id = tls-run-01
[buffer]
path = $T/d.buf
[hub]
transport = https
connection_string = $(cs localhost "$hub_port")
ca_file = $T/ca/ca.pem
linger = 50ms
[source.gen]
type = generator
rate = 200
EOF
timeout -k 5 60 "$AGENT" run -c "$T/run.conf" > "$T/run.out" 2> "$T/run.err" &
rpid=$!
hc_cleanup_hooks+=("kill $rpid 2>/dev/null")
sleep 2.5
kill -TERM $rpid
wait $rpid || fail "run exited non-zero: $(cat "$T/run.err")"
shipped=$(st "$T/d.buf" shipped)
[ "$shipped" -ge 200 ] || fail "run over TLS shipped $shipped events in 2.5 s at 200/s: $(cat "$T/run.err")"
"$AGENT" dump -b "$T/d.buf" --retained > "$T/d.retained"
stop_hub
check h4 --expect "$T/d.retained"
ok "run -c with ca_file in [hub]: $shipped events shipped over TLS"
