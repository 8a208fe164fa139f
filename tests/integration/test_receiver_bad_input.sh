#!/usr/bin/env bash
# Bad and hostile input: each gets the right status, the receiver stays up and keeps serving,
# and nothing of a refused request reaches a capture file. Bad JSON, wrong Content-Type, bodies
# over the limit (with Content-Length and chunked), expired / forged / wrong-audience / unknown
# tokens, an unknown hub, invalid UTF-8, oversized headers, a thousand connections opened and
# dropped in hostile ways, and slow clients holding connections.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"

cap="$T/capture"
rx_start --capture "$cap"
BATCH=application/vnd.microsoft.servicebus.json
tok=$(rx_token events)
good=0

# expect STATUS WHAT PATH AUTH CTYPE BODYFILE [CURL ARGS]: the answer, and the receiver alive.
expect() {
  local want=$1 what=$2
  shift 2
  local got
  got=$(rx_post "$@") || true
  [ "$got" = "$want" ] || fail "$what: got $got ($(head -c 300 "$T/last_answer" 2>/dev/null)), want $want"
  rx_alive || fail "$what: the receiver is down"
  ok "$what: $got"
}

# a good send between bad ones: still accepted
good_send() {
  printf '[{"Body":"GOOD-%d","UserProperties":{"event_id":"good-%d"}}]' "$good" "$good" > "$T/good.json"
  local st
  st=$(rx_post /events/messages "$tok" "$BATCH" "$T/good.json")
  [ "$st" = 201 ] || fail "a good send after '$1' got $st"
  good=$((good + 1))
}

j() { printf '%s' "$1" > "$T/b.json"; echo "$T/b.json"; }

# ---- malformed bodies ----------------------------------------------------------------------
for body in 'not json' '[{"Body":"HOSTILE"' '[]' '{"Body":"HOSTILE"}' '[{"UserProperties":{}}]' \
            '[{"Body":"HOSTILE"}] trailing' '[{"Body":"HOSTILE","Body":"twice"}]' \
            $'[{"Body":"HOSTILE\x01 raw control"}]' '[{"Body":"HOSTILE \ud800"}]' \
            '[{"Body":"HOSTILE","BrokerProperties":{"PartitionKey":42}}]' ''; do
  expect 400 "bad JSON '${body:0:40}'" /events/messages "$tok" "$BATCH" "$(j "$body")"
done
printf '[{"Body":"HOSTILE \xff\xfe"}]' > "$T/utf8.json"
expect 400 "invalid UTF-8 in a batch" /events/messages "$tok" "$BATCH" "$T/utf8.json"
printf 'HOSTILE \xc0\xaf overlong' > "$T/utf8.txt"
expect 400 "invalid UTF-8 in a text event" /events/messages "$tok" "text/plain; charset=utf-8" "$T/utf8.txt"
"$PY" -c 'import sys; sys.stdout.write("[" + "[" * 100000)' > "$T/deep.json"
expect 400 "100000 nested brackets" /events/messages "$tok" "$BATCH" "$T/deep.json"
good_send "bad JSON"

# ---- wrong content types -------------------------------------------------------------------
expect 400 "multipart/form-data" /events/messages "$tok" "multipart/form-data; boundary=x" "$(j '[{"Body":"HOSTILE"}]')"
expect 400 "x-www-form-urlencoded" /events/messages "$tok" application/x-www-form-urlencoded "$(j 'Body=HOSTILE')"
expect 400 "a batch in latin1" /events/messages "$tok" "$BATCH; charset=iso-8859-1" "$(j '[{"Body":"HOSTILE"}]')"
expect 400 "a Content-Type without a subtype" /events/messages "$tok" "json" "$(j '[{"Body":"HOSTILE"}]')"
good_send "content types"

# ---- sizes ---------------------------------------------------------------------------------
"$PY" -c 'import sys; sys.stdout.write("[{\"Body\":\"HOSTILE" + "x" * 1048576 + "\"}]")' > "$T/big.json"
expect 413 "a body over 1 MB (Content-Length)" /events/messages "$tok" "$BATCH" "$T/big.json"
expect 413 "a body over 1 MB (chunked)" /events/messages "$tok" "$BATCH" "$T/big.json" -H "Transfer-Encoding: chunked"
"$PY" -c 'import sys; sys.stdout.write("[{\"Body\":\"" + "y" * 1048000 + "\"}]")' > "$T/almost.json"
st=$(rx_post /events/messages "$tok" "$BATCH" "$T/almost.json")
[ "$st" = 201 ] || fail "a body just under 1 MB: $st"
ok "a body just under 1 MB: 201"
"$PY" -c 'print("X-Huge: " + "h" * 200000)' > "$T/big_header"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $tok" -H "Content-Type: $BATCH" \
  -H "@$T/big_header" --data-binary '[{"Body":"HOSTILE"}]' "$RX_URL/events/messages" || true)
case "$st" in 4*|000) ;; *) fail "a 200 KB header: $st" ;; esac
rx_alive || fail "a 200 KB header took the receiver down"
ok "a 200 KB header: $st"
good_send "sizes"

# ---- tokens --------------------------------------------------------------------------------
now=$(date +%s)
expect 401 "no token" /events/messages "" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "an expired token" /events/messages "$(rx_token events RootManageSharedAccessKey SAS_KEY_VALUE $((now - 10)))" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "a forged token" /events/messages "$(rx_token events RootManageSharedAccessKey not-the-key)" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "a token for another hub" /events/messages "$(rx_token other)" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "a token of an unknown policy" /events/messages "$(rx_token events Nobody SAS_KEY_VALUE)" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "a bearer token" /events/messages "Bearer eyJhbGciOiJub25lIn0.e30." "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 401 "a mangled token" /events/messages "SharedAccessSignature sr=&sig=%%%&se=x&skn=" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
tampered=$(rx_token events | sed 's/se=\([0-9]*\)/se=9\1/')
expect 401 "a token with its expiry pushed out" /events/messages "$tampered" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
good_send "tokens"

# ---- resources -----------------------------------------------------------------------------
expect 404 "an unknown hub" /nohub/messages "$(rx_token nohub)" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 404 "an unknown partition" /events/partitions/4/messages "$tok" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 404 "an unknown path" /events/messagez "$tok" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')"
expect 404 "a path with dot segments" /events/../events/messages "$tok" "$BATCH" "$(j '[{"Body":"HOSTILE"}]')" --path-as-is
st=$(curl -s -o /dev/null -w '%{http_code}' "$RX_URL/events/messages")
[ "$st" = 405 ] || fail "GET on messages: $st"
ok "GET on messages: 405"
good_send "resources"

# ---- hostile connections -------------------------------------------------------------------
"$PY" - "$RX_PORT" "$tok" <<'PY' || fail "hostile connections"
import random, socket, struct, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(7)
post = ("POST /events/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
        "Content-Type: application/vnd.microsoft.servicebus.json\r\n" % tok)
behaviours = [
    lambda s: None,                                                   # connect, close
    lambda s: s.sendall(b"POST /events/mess"),                        # half a request line
    lambda s: s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000)))),
    lambda s: s.sendall((post + "Content-Length: 100000\r\n\r\n[{\"Body\":\"HOSTILE").encode()),
    lambda s: s.sendall((post + "Expect: 100-continue\r\nContent-Length: 50\r\n\r\n").encode()),
    lambda s: s.sendall((post + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nHOSTILE").encode()),
    lambda s: s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 5000),
    lambda s: s.sendall((post + "Content-Length: -5\r\n\r\n").encode()),
    lambda s: s.sendall((post + "Content-Length: 99999999999999999999999\r\n\r\n").encode()),
    lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),  # RST
]
opened = 0
for wave in range(10):
    socks = []
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
        opened += 1
        try:
            behaviours[(wave * 100 + i) % len(behaviours)](s)
        except OSError:
            pass
    for s in socks:
        s.close()
print("opened and dropped", opened, "connections")
PY
rx_alive || fail "the receiver is down after 1000 hostile connections"
good_send "1000 hostile connections"
ok "1000 connections opened and dropped: still serving"

# slow clients hold 50 connections while a good send goes through
"$PY" - "$RX_PORT" > "$T/slow.log" 2>&1 <<'PY' &
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(50)]
for b in b"POST /events/messages HTTP/1.1\r\nHost: x\r\n":
    for s in socks:
        try:
            s.send(bytes([b]))
        except OSError:
            pass
    time.sleep(0.1)
PY
slow=$!
sleep 0.5
t0=$(date +%s%N)
good_send "slow clients"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 3000 ] || fail "a send took ${ms} ms while slow clients held connections"
kill "$slow" 2>/dev/null || true
wait "$slow" 2>/dev/null || true
ok "slow clients: a good send still took ${ms} ms"

# ---- what was captured ---------------------------------------------------------------------
st4=$(rx_metric 'hubcap_receiver_requests_total{code="400"}')
[ "$st4" -ge 18 ] || fail "400s counted: $st4"
rx_stop
grep -q "AddressSanitizer\|runtime error" "$RX_LOG" && fail "sanitizer report in the receiver log"
"$PY" - "$cap" "$good" <<'PY' || exit 1
import glob, sys
import avro.datafile, avro.io
bodies = []
for path in glob.glob(sys.argv[1] + "/**/*.avro", recursive=True):
    bodies += [r["Body"] or b"" for r in avro.datafile.DataFileReader(open(path, "rb"), avro.io.DatumReader())]
hostile = [b for b in bodies if b"HOSTILE" in b]
if hostile:
    sys.exit(f"FAIL: refused requests reached the capture: {hostile[:2]}")
goods = sorted(b for b in bodies if b.startswith(b"GOOD-"))
want = int(sys.argv[2])
if len(goods) != want:
    sys.exit(f"FAIL: {len(goods)} good events captured, want {want}")
if len(bodies) != want + 1:   # and the 1 MB one
    sys.exit(f"FAIL: {len(bodies)} events captured, want {want + 1}")
PY
ok "only the $good good sends (and the 1 MB one) are in the capture files"
