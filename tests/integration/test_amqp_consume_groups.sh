#!/usr/bin/env bash
# Consumer groups with Azure's own JavaScript client (@azure/event-hubs, tests/js/consumer.js):
# a hub whose config declares consumer_groups = analytics: $Default and analytics each read every
# event back, independently; a group the hub does not declare is refused with amqp:not-found (the
# client's MessagingEntityNotFoundError, counted in /metrics) and gets nothing; the five-reader
# limit counts per group: five readers in $Default and one in analytics on one partition are all
# served. /metrics: readers per partition and group while they read, events and bytes sent per
# partition and group equal to what the clients got, and a slow reader's lag (the client holds it
# to 3 events of credit) between 0 and the partition's events, shown only while a reader is open.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/js.sh"
js_setup
cat > "$T/receiver.conf" << EOF
[capture]
dir = $T/cap
[amqp]
listen = 127.0.0.1:$AMQP_PORT
[hub events]
partitions = 2
consumer_groups = analytics
[rule RootManageSharedAccessKey]
key = SAS_KEY_VALUE
rights = manage
EOF
rx_start -c "$T/receiver.conf"
ACS="Endpoint=sb://127.0.0.1:$AMQP_PORT/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=events;UseDevelopmentEmulator=true"
TOK=$(rx_token events)
for i in $(seq 1 30); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $TOK" \
    -H "Content-Type: application/atom+xml;type=entry;charset=utf-8" \
    --data-binary "group-event-$i" "$RX_URL/events/messages")
  [ "$code" = 201 ] || fail "REST send $i: $code"
done

consume() { node "$JS_DIR/consumer.js" --cs "$ACS" "$@"; }
check_all() { # FILE GROUP: the 30 events, each once, no error
  "$PY" - "$1" "$2" << 'PY' || fail "$2: $(tail -2 "$1")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
done = rows.pop()
assert done["done"] and not done["errors"], done
assert sorted(r["body"] for r in rows) == sorted("group-event-%d" % i for i in range(1, 31)), len(rows)
PY
  ok "group $2: every event read back once"
}
consume --group analytics --from earliest --count 30 --timeout-ms 30000 > "$T/analytics.jsonl" ||
  fail "consumer.js (analytics) failed"
check_all "$T/analytics.jsonl" analytics
consume --group '$Default' --from earliest --count 30 --timeout-ms 30000 > "$T/default.jsonl" ||
  fail "consumer.js (\$Default) failed"
check_all "$T/default.jsonl" '$Default'

before=$(rx_metric 'hubcap_receiver_amqp_links_refused_total{condition="amqp:not-found"}')
consume --group nope --from earliest --partition 0 --idle-ms 3000 --timeout-ms 8000 > "$T/nope.jsonl" ||
  true
grep -q '"done":true' "$T/nope.jsonl" || fail "consumer.js (nope) did not finish: $(cat "$T/nope.jsonl")"
grep -q '"body"' "$T/nope.jsonl" && fail "an undeclared group got events"
grep -q 'MessagingEntityNotFoundError' "$T/nope.jsonl" ||
  fail "an undeclared group: not MessagingEntityNotFoundError: $(tail -1 "$T/nope.jsonl")"
after=$(rx_metric 'hubcap_receiver_amqp_links_refused_total{condition="amqp:not-found"}')
[ "$after" -gt "$before" ] || fail "the refusal is not counted ($before -> $after)"
ok "an undeclared group: amqp:not-found (MessagingEntityNotFoundError), counted ($before -> $after)"

pids=()
for g in '$Default' '$Default' '$Default' '$Default' '$Default' analytics; do
  consume --group "$g" --from earliest --partition 0 --idle-ms 4000 > "$T/five-$((${#pids[@]} + 1)).jsonl" &
  pids+=($!)
done
for _ in $(seq 1 100); do
  [ "$(rx_metric 'hubcap_receiver_consumer_readers{hub="events",partition="0",group="$Default"}')" = 5 ] &&
    [ "$(rx_metric 'hubcap_receiver_consumer_readers{hub="events",partition="0",group="analytics"}')" = 1 ] && break
  sleep 0.1
done
curl -s "$RX_URL/metrics" | grep '^hubcap_receiver_consumer_readers{hub="events",partition="0"' > "$T/readers.txt"
for p in "${pids[@]}"; do wait "$p" || fail "a reader of the five-reader check failed"; done
grep -qx 'hubcap_receiver_consumer_readers{hub="events",partition="0",group="$Default"} 5' "$T/readers.txt" &&
  grep -qx 'hubcap_receiver_consumer_readers{hub="events",partition="0",group="analytics"} 1' "$T/readers.txt" ||
  fail "/metrics readers while 5 + 1 read: $(cat "$T/readers.txt")"
lagline=$(curl -s "$RX_URL/metrics" | grep -c '^hubcap_receiver_consumer_lag{hub="events",partition="0"' || true)
[ "$lagline" = 0 ] || fail "a lag is shown for partition 0 with no reader open"

n=$(cat "$T"/five-*.jsonl | grep -c QuotaExceededError || true)
[ "$n" = 0 ] || fail "five \$Default readers and one analytics reader: $n refused (want 0)"
for f in "$T"/five-*.jsonl; do
  grep -q '"body"' "$f" || fail "$f: no event read"
done
ok "five readers in \$Default and one in analytics on one partition: all served"

# /metrics: what each group was sent, and a slow reader's lag
"$PY" - "$T" "$(curl -s "$RX_URL/metrics")" << 'PY' || fail "/metrics events and bytes per group"
import json, re, sys
T, text = sys.argv[1], sys.argv[2]
m = {}
for l in text.splitlines():
    r = re.match(r'hubcap_receiver_consumer_(events|bytes)_total\{hub="events",partition="(\d)",group="([^"]+)"\} (\d+)$', l)
    if r:
        m[r[1], r[2], r[3]] = int(r[4])
def sent(files):  # events and body bytes the client got, per partition
    out = {}
    for f in files:
        for r in map(json.loads, open(f)):
            if "body" in r:
                e, b = out.get(r["partition"], (0, 0))
                out[r["partition"]] = (e + 1, b + len(r["body"].encode()))
    return out
import glob
want = {"analytics": sent([f"{T}/analytics.jsonl", f"{T}/five-6.jsonl"]),
        "$Default": sent([f"{T}/default.jsonl"] + [f"{T}/five-{i}.jsonl" for i in range(1, 6)])}
for g, per in want.items():
    for p in ("0", "1"):
        e, b = per.get(p, (0, 0))
        assert (m["events", p, g], m["bytes", p, g]) == (e, b), (g, p, m["events", p, g], m["bytes", p, g], e, b)
print("ok: /metrics: events and bytes sent per partition and group match what the clients got")
PY
consume --group analytics --from earliest --partition 0 --max-batch 1 --pause-ms 4000 --count 1000 \
  --timeout-ms 6000 > "$T/slow.jsonl" &
slow=$!
end=$(rx_metric 'hubcap_receiver_partition_next_sequence{hub="events",partition="0"}')
lag=
for _ in $(seq 1 50); do
  lag=$(rx_metric 'hubcap_receiver_consumer_lag{hub="events",partition="0",group="analytics"}')
  [ -n "$lag" ] && [ "$lag" -lt "$end" ] && break
  sleep 0.1
done
wait "$slow" || true
[ -n "$lag" ] && [ "$lag" -gt 0 ] && [ "$lag" -lt "$end" ] ||
  fail "a slow reader's lag: '$lag' (partition 0 holds $end events)"
ok "/metrics: a slow reader (credit for 3 events) shows lag $lag of $end events"
rx_stop
