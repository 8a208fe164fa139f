#!/usr/bin/env bash
# Consumer groups with Azure's own JavaScript client (@azure/event-hubs, tests/js/consumer.js):
# a hub whose config declares consumer_groups = analytics: $Default and analytics each read every
# event back, independently; a group the hub does not declare is refused with amqp:not-found (the
# client's MessagingEntityNotFoundError, counted in /metrics) and gets nothing; the five-reader
# limit counts per group: five readers in $Default and one in analytics on one partition are all
# served.
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
for p in "${pids[@]}"; do wait "$p" || fail "a reader of the five-reader check failed"; done
n=$(cat "$T"/five-*.jsonl | grep -c QuotaExceededError || true)
[ "$n" = 0 ] || fail "five \$Default readers and one analytics reader: $n refused (want 0)"
for f in "$T"/five-*.jsonl; do
  grep -q '"body"' "$f" || fail "$f: no event read"
done
ok "five readers in \$Default and one in analytics on one partition: all served"
rx_stop
