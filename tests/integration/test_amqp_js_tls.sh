#!/usr/bin/env bash
# The receiver's AMQP listener over TLS with Azure's own JavaScript client (@azure/event-hubs,
# unchanged): a config file whose [amqp] section gives listen_tls and the test CA's server
# certificate (tests/lib/make_test_ca.sh); the connection string without UseDevelopmentEmulator
# (so the client speaks TLS, to the Endpoint's host name and port). Trusting the test CA
# (NODE_EXTRA_CA_CERTS, how a Node.js application adds a private CA) the client gets the hub's
# properties and sends, and the events are captured; with the system's CAs alone, or an unrelated
# CA, it refuses the receiver's certificate and nothing of it is captured.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/js.sh"
js_setup
source "$HC_SRC/tests/lib/amqp_tls.sh"
KEY="tls-k3y-$RANDOM"
TPORT=$(free_port)
rx_start_amqp_tls "$TPORT" 2 "$KEY"
TCS="Endpoint=sb://localhost:$TPORT/;SharedAccessKeyName=sender;SharedAccessKey=$KEY;EntityPath=events"

plan() { # FILE TAG: properties, a keyed batch, a single event, each event_id TAG-n
  "$PY" - "$1" "$2" << 'PY'
import json, sys
tag = sys.argv[2]
ev = lambda n: {"body": f"over TLS {tag} {n}", "properties": {"event_id": f"{tag}-{n}", "n": n}}
json.dump([{"op": "hub_props"},
           {"op": "batch", "partitionKey": "tls-key", "events": [ev(n) for n in range(20)]},
           {"op": "array", "events": [ev(20)]}], open(sys.argv[1], "w"))
PY
}
plan "$T/ok.json" tls-ok
plan "$T/sys.json" tls-sys
plan "$T/other.json" tls-other
NODE_EXTRA_CA_CERTS="$T/ca/ca.pem" js_producer --cs "$TCS" --plan "$T/ok.json" > "$T/ok.jsonl" ||
  fail "producer.js failed"
js_producer --cs "$TCS" --plan "$T/sys.json" --retries 0 > "$T/sys.jsonl" || fail "producer.js failed"
NODE_EXTRA_CA_CERTS="$T/ca/other-ca.pem" js_producer --cs "$TCS" --plan "$T/other.json" --retries 0 \
  > "$T/other.jsonl" || fail "producer.js failed"
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T" << 'PY' || exit 1
import collections, json, sys
T = sys.argv[1]
steps = lambda n: [json.loads(l) for l in open(f"{T}/{n}.jsonl")]
ok = steps("ok")
if not all(s["ok"] for s in ok) or len(ok) != 3:
    sys.exit(f"FAIL: with the test CA: {ok}")
if ok[0]["result"]["partitionIds"] != ["0", "1"]:
    sys.exit(f"FAIL: properties over TLS: {ok[0]}")
def text(e):
    return json.dumps(e).upper()
for name in ("sys", "other"):
    for s in steps(name):
        if s["ok"] or "CERT" not in text(s["error"]):
            sys.exit(f"FAIL: {name} CAs: {s['op']} gave {s}, want a certificate error")
cap = collections.Counter(e["event_id"] for e in map(json.loads, open(T + "/captured.jsonl")))
want = {f"tls-ok-{n}" for n in range(21)}
if set(cap) != want or any(n != 1 for n in cap.values()):
    sys.exit(f"FAIL: captured {dict(cap)}, want each of {len(want)} tls-ok events once and nothing else")
print(f"ok: TLS with the test CA: properties and 21 events sent, each captured once; "
      f"the system's CAs and an unrelated CA: refused ({steps('sys')[0]['error'].get('code')}), nothing captured")
PY
