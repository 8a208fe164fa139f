#!/usr/bin/env bash
# The receiver end to end over HTTP: development mode prints the connection string the agent
# uses; batch sends (the agent's format), single sends, /partitions and /publishers sends get
# 201; every capture file is read by Debian's python3-avro with exactly the Capture schema,
# the Azure folder layout, contiguous per-partition sequence numbers (across a restart) and
# every acknowledged event. Then a config file: two hubs, policies with and without Send, the
# null codec, files rolled by size and by time.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"

cap="$T/capture"

# ---- development mode ----------------------------------------------------------------------
rx_start --capture "$cap"
want="Endpoint=sb://127.0.0.1:$RX_PORT/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=events;UseDevelopmentEmulator=true"
grep -qxF "$want" "$RX_OUT" || fail "connection string: got $(grep Endpoint "$RX_OUT"), want $want"
ok "development mode prints the agent's connection string"

[ "$(curl -s "$RX_URL/healthz")" = ok ] || fail "/healthz"

"${RXTOOL[@]}" send --url "$RX_URL" --count 3000 --batch 50 --threads 4 --ack-log "$T/acked" > "$T/send.json"
[ "$(json_get "$(cat "$T/send.json")" acked)" -eq 3000 ] || fail "batch sends: $(cat "$T/send.json")"
ok "3000 events in batches of 50 from 4 senders: all 201"

tok=$(rx_token events)
# a single send, as the Event Hubs "Send event" page shows it, with properties in headers
printf '{ "DeviceId":"dev-01", "Temperature":"37.0", "marker":"SINGLE-1" }' > "$T/single.json"
st=$(rx_post "/events/messages?timeout=60&api-version=2014-01" "$tok" \
  "application/atom+xml;type=entry;charset=utf-8" "$T/single.json" \
  -H 'BrokerProperties: {"PartitionKey":"dev-01"}' -H "WindAlert: Strong Winds" -H "Level: 3")
[ "$st" = 201 ] || fail "single send: $st $(cat "$T/last_answer")"
# binary bytes with application/octet-stream are an event as they are
printf 'BIN-\x00\xff\xfe' > "$T/bin"
st=$(rx_post /events/messages "$tok" application/octet-stream "$T/bin")
[ "$st" = 201 ] || fail "binary single send: $st"
# a batch to partition 2, and as a publisher
printf '[{"Body":"P2-a"},{"Body":"P2-b","BrokerProperties":{"PartitionKey":"elsewhere"}}]' > "$T/p2.json"
st=$(rx_post /events/partitions/2/messages "$tok" application/vnd.microsoft.servicebus.json "$T/p2.json")
[ "$st" = 201 ] || fail "partition send: $st"
printf '[{"Body":"PUB-a"},{"Body":"PUB-b"}]' > "$T/pub.json"
st=$(rx_post /events/publishers/dev-9/messages "$tok" application/vnd.microsoft.servicebus.json "$T/pub.json")
[ "$st" = 201 ] || fail "publisher send: $st"
# a batch without partition keys stays together in one partition
printf '[{"Body":"RR-a"},{"Body":"RR-b"},{"Body":"RR-c"}]' > "$T/rr.json"
st=$(rx_post /events/messages "$tok" application/vnd.microsoft.servicebus.json "$T/rr.json")
[ "$st" = 201 ] || fail "round-robin send: $st"
ok "single, binary, /partitions/2, /publishers/dev-9 and key-less sends: 201"

m=$(curl -s "$RX_URL/metrics")
for k in 'hubcap_receiver_requests_total{code="201"}' hubcap_receiver_events_total \
         hubcap_receiver_fsync_seconds_count hubcap_receiver_capture_files_open \
         hubcap_receiver_request_bytes_total hubcap_receiver_event_bytes_total; do
  grep -q "^$k " <<<"$m" || fail "/metrics has no $k"
done
[ "$(rx_metric hubcap_receiver_events_total)" -eq 3009 ] || fail "events_total $(rx_metric hubcap_receiver_events_total)"
[ "$(rx_metric hubcap_receiver_capture_files_open)" -eq 4 ] || fail "files open"
ok "/metrics: requests by status, events and bytes in, fsync latency, open files"

rx_stop
"${RXTOOL[@]}" check "$cap" --ids "$T/acked" --no-tmp > "$T/check.json" || fail "capture check"
[ "$(json_get "$(cat "$T/check.json")" events)" -eq 3009 ] || fail "capture: $(cat "$T/check.json")"
ok "capture after SIGTERM: $(cat "$T/check.json")"

# the special sends landed where they should, with their properties
"$PY" - "$cap" <<'PY' || exit 1
import glob, sys
import avro.datafile, avro.io
recs = {}
for path in sorted(glob.glob(sys.argv[1] + "/hubcap/events/*/*/*/*/*/*/*.avro")):
    pid = int(path.split("/hubcap/events/")[1].split("/")[0])
    for r in avro.datafile.DataFileReader(open(path, "rb"), avro.io.DatumReader()):
        recs.setdefault(r["Body"], []).append((pid, r))
def one(body):
    got = recs.get(body)
    if not got or len(got) != 1:
        sys.exit(f"FAIL: {body!r} captured {len(got or [])} times")
    return got[0]
pid, r = one(b'{ "DeviceId":"dev-01", "Temperature":"37.0", "marker":"SINGLE-1" }')
if r["Properties"].get("WindAlert") != "Strong Winds" or r["Properties"].get("Level") != 3:
    sys.exit(f"FAIL: single send properties {r['Properties']}")
if r["SystemProperties"].get("x-opt-partition-key") != "dev-01":
    sys.exit(f"FAIL: single send partition key {r['SystemProperties']}")
one(b"BIN-\x00\xff\xfe")
for b in (b"P2-a", b"P2-b"):
    if one(b)[0] != 2:
        sys.exit(f"FAIL: {b} not in partition 2")
pa, ra = one(b"PUB-a")
pb, _ = one(b"PUB-b")
if pa != pb or ra["SystemProperties"].get("x-opt-publisher") != "dev-9":
    sys.exit("FAIL: publisher events")
if len({one(b)[0] for b in (b"RR-a", b"RR-b", b"RR-c")}) != 1:
    sys.exit("FAIL: a key-less batch was split over partitions")
PY
ok "each send is in its partition, with its properties"

# restart on the same folder: numbering goes on (check verifies contiguity across files)
rx_start --capture "$cap"
if "$RX" serve --listen 127.0.0.1:0 --capture "$cap" > /dev/null 2> "$T/second.err"; then
  fail "a second receiver ran on the same capture folder"
fi
grep -q "another hubcap-receiver uses the capture folder" "$T/second.err" || fail "second receiver: $(cat "$T/second.err")"
ok "a second receiver on the same capture folder is refused"
"${RXTOOL[@]}" send --url "$RX_URL" --count 500 --batch 25 --threads 2 --seed 2 --ack-log "$T/acked" > /dev/null
rx_stop
"${RXTOOL[@]}" check "$cap" --ids "$T/acked" --no-tmp > "$T/check2.json" || fail "capture check after restart"
[ "$(json_get "$(cat "$T/check2.json")" events)" -eq 3509 ] || fail "after restart: $(cat "$T/check2.json")"
ok "restart: sequence numbers go on contiguously"

# development mode is loopback only
if "$RX" serve --listen 0.0.0.0:0 --capture "$cap" > /dev/null 2>&1; then
  fail "development mode listened on 0.0.0.0"
fi
ok "development mode refuses a non-loopback address"

# ---- a config file -------------------------------------------------------------------------
cap2="$T/capture2"
cat > "$T/receiver.conf" <<EOF
[receiver]
namespace = contoso
max_publication = 64K
[capture]
dir = $cap2
window = 2s
window_bytes = 16K
codec = null
[hub orders]
partitions = 2
[hub cars]
partitions = 3
[rule sender]
key = sender-key
rights = send
[rule reader]
key = reader-key
rights = listen
[rule cars-only]
key = cars-key
rights = send
hub = cars
EOF
RX_PORT=0
rx_start -c "$T/receiver.conf"
grep -q "SharedAccessKey=<key>" "$RX_OUT" || fail "config mode printed a key"
"${RXTOOL[@]}" send --url "$RX_URL" --hub orders --key-name sender --key sender-key --count 600 --batch 20 --ack-log "$T/acked_orders" > /dev/null
"${RXTOOL[@]}" send --url "$RX_URL" --hub cars --key-name cars-only --key cars-key --count 90 --batch 30 --ack-log "$T/acked_cars" > /dev/null
printf '[{"Body":"x"}]' > "$T/x.json"
st=$(rx_post /orders/messages "$(rx_token orders reader reader-key)" application/vnd.microsoft.servicebus.json "$T/x.json")
[ "$st" = 401 ] || fail "a listen-only policy sent: $st"
grep -q "no Send right" "$T/last_answer" || fail "401 without the reason: $(cat "$T/last_answer")"
st=$(rx_post /orders/messages "$(rx_token orders cars-only cars-key)" application/vnd.microsoft.servicebus.json "$T/x.json")
[ "$st" = 401 ] || fail "the cars policy sent to orders: $st"
st=$(rx_post /events/messages "$(rx_token events sender sender-key)" application/vnd.microsoft.servicebus.json "$T/x.json")
[ "$st" = 404 ] || fail "unknown hub: $st"
st=$(rx_post /orders/partitions/2/messages "$(rx_token orders sender sender-key)" application/vnd.microsoft.servicebus.json "$T/x.json")
[ "$st" = 404 ] || fail "unknown partition: $st"
ok "config: policies without Send or for another hub get 401, unknown hub or partition 404"
sleep 3 # the time window closes the open files
[ "$(rx_metric hubcap_receiver_capture_files_open)" -eq 0 ] || fail "files still open after the time window"
ok "the time window closed every file"
rx_stop
"${RXTOOL[@]}" check "$cap2" --ns contoso --hub orders --ids "$T/acked_orders" --no-tmp > "$T/c_orders.json" || fail "orders capture"
"${RXTOOL[@]}" check "$cap2" --ns contoso --hub cars --ids "$T/acked_cars" --no-tmp > "$T/c_cars.json" || fail "cars capture"
files=$(json_get "$(cat "$T/c_orders.json")" files)
[ "$files" -gt 4 ] || fail "16K size window: only $files files for 600 events"
grep -q '"codecs": \["null"\]' "$T/c_orders.json" || fail "codec: $(cat "$T/c_orders.json")"
ok "config: $(cat "$T/c_orders.json")"

# ---- HTTPS ---------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" 2> /dev/null || fail "openssl could not make a certificate"
cat > "$T/tls.conf" <<EOF2
[receiver]
tls_cert = $T/cert.pem
tls_key = $T/key.pem
[capture]
dir = $T/capture3
[hub events]
partitions = 2
[rule s]
key = k
rights = send
EOF2
RX_PORT=0
rx_start -c "$T/tls.conf"
grep -q "UseDevelopmentEmulator" "$RX_OUT" && fail "an HTTPS receiver printed UseDevelopmentEmulator=true"
printf '[{"Body":"over TLS"}]' > "$T/tls.json"
st=$(curl -s --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $(rx_token events s k)" \
  -H "Content-Type: application/vnd.microsoft.servicebus.json" --data-binary "@$T/tls.json" \
  "https://127.0.0.1:$RX_PORT/events/messages")
[ "$st" = 201 ] || fail "HTTPS send: $st"
rx_stop
"${RXTOOL[@]}" check "$T/capture3" --no-tmp > /dev/null || fail "HTTPS capture"
ok "HTTPS (tls_cert, tls_key): 201, captured"
