#!/usr/bin/env bash
# Consumers with Azure's own JavaScript client (@azure/event-hubs, tests/js/consumer.js): events
# sent over REST and over AMQP are read back from the earliest event of every partition, each
# once, with body, properties, partition key and the annotations (sequence numbers contiguous
# per partition, offsets strictly increasing, enqueued times); a subscription from a sequence
# number starts there, as do those from a sequence number exclusive, an offset inclusive and
# exclusive, and an enqueued time; with trackLastEnqueuedEventProperties the partition context's
# lastEnqueuedEventProperties is the partition's newest event; one at latest gets only what is sent after it opened (the
# live-tail latency is printed, not asserted); after a restart with the index deleted the same
# events come back with the same numbers, and every start position answers the same events; a
# higher ownerLevel detaches a lower one, and a sixth reader without one is refused.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/js.sh"
js_setup
CAP="$T/cap"
rx_start --capture "$CAP" "${rx_amqp_args[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
ACS=$(cs_of amqp)
TOK=$(rx_token events)

rest_send() { # rest_send I: one event over REST with a key and a property
  curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $TOK" \
    -H "Content-Type: application/atom+xml;type=entry;charset=utf-8" \
    -H "BrokerProperties: {\"PartitionKey\":\"dev-$(($1 % 5))\"}" -H "n: $1" \
    --data-binary "rest-event-$1" "$RX_URL/events/messages"
}
for i in $(seq 1 40); do
  [ "$(rest_send "$i")" = 201 ] || fail "REST send $i refused"
done
"$PY" - "$T" << 'PY'
import json, sys
ev = lambda i: {"body": "amqp-event-%d" % i, "properties": {"n": i, "via": "amqp"}}
json.dump([{"op": "batch", "partitionKey": "js-1", "events": [ev(i) for i in range(1, 16)]},
           {"op": "batch", "events": [ev(i) for i in range(16, 31)]}], open(sys.argv[1] + "/plan.json", "w"))
PY
js_producer --cs "$ACS" --plan "$T/plan.json" > "$T/send.jsonl" || fail "producer.js failed"
[ "$(grep -c '"ok":true' "$T/send.jsonl")" = 2 ] || fail "AMQP sends: $(cat "$T/send.jsonl")"

consume() { node "$JS_DIR/consumer.js" --cs "$ACS" "$@"; }
consume --from earliest --count 70 --timeout-ms 30000 > "$T/all.jsonl" || fail "consumer.js failed"
"$PY" - "$T/all.jsonl" << 'PY' || fail "earliest: $(tail -3 "$T/all.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
done = rows.pop()
assert done["done"] and not done["errors"], done
bodies = sorted(r["body"] for r in rows)
want = sorted(["rest-event-%d" % i for i in range(1, 41)] + ["amqp-event-%d" % i for i in range(1, 31)])
assert bodies == want, (len(bodies), set(want) ^ set(bodies))
by = {}
for r in rows:
    by.setdefault(r["partition"], []).append(r)
    i = int(r["body"].rsplit("-", 1)[1])
    if r["body"].startswith("rest"):
        assert r["pkey"] == "dev-%d" % (i % 5) and str(r["props"].get("n")) == str(i), r
    else:
        assert r["props"] == {"n": i, "via": "amqp"}, r
        assert r["pkey"] == ("js-1" if i <= 15 else None), r
for p, rs in by.items():
    assert [r["seq"] for r in rs] == list(range(len(rs))), (p, [r["seq"] for r in rs])
    offs = [int(r["offset"]) for r in rs]
    assert offs == sorted(set(offs)) and offs[0] == 0, (p, offs)
    assert all(r["enq"] > 1.7e12 for r in rs)
print("ok: earliest: 70 events over 2 front ends in %d partitions, numbers and properties" % len(by))
PY
ok "earliest: every event sent over REST and AMQP, once, with properties, key and annotations"

# from a sequence number: partition of the first event, its third event
P=$("$PY" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][:-1]; print(max(set(x["partition"] for x in r), key=lambda p: sum(x["partition"]==p for x in r)))' "$T/all.jsonl")
consume --from seq:2 --partition "$P" --idle-ms 2000 > "$T/seq.jsonl"
first=$(head -1 "$T/seq.jsonl" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["seq"])')
[ "$first" = 2 ] || fail "from sequence number 2: first $first"
ok "from a sequence number: partition $P starts at 2"

# every start position the client has, on partition P, against what the earliest read gave
positions() { # OUT: one line per position, "NAME FIRST_SEQ COUNT", the reads in parallel
  local spec=$("$PY" - "$T/all.jsonl" "$P" << 'PY'
import json, sys
rs = [r for r in map(json.loads, open(sys.argv[1])) if r.get("partition") == sys.argv[2]]
e = rs[4]
print(f"seq-excl seq:{e['seq']} 1 off-incl offset:{e['offset']} 0 off-excl offset:{e['offset']} 1 "
      f"time time:{e['enq']} 0")
PY
)
  local pids=() name from excl
  set -- $spec
  while [ $# -gt 0 ]; do
    name=$1 from=$2 excl=$3
    shift 3
    local x=()
    [ "$excl" = 1 ] && x=(--exclusive 1)
    consume --from "$from" "${x[@]+"${x[@]}"}" --partition "$P" --idle-ms 2500 > "$T/pos-$name.jsonl" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "consumer.js (a start position) failed"; done
  for name in seq-excl off-incl off-excl time; do
    "$PY" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; d=r.pop(); assert not d["errors"], d; print(sys.argv[2], r[0]["seq"] if r else "none", len(r))' \
      "$T/pos-$name.jsonl" "$name" || fail "$name: $(tail -1 "$T/pos-$name.jsonl")"
  done
}
positions > "$T/positions.txt"
"$PY" - "$T/all.jsonl" "$P" "$T/positions.txt" << 'PY' || fail "start positions: $(cat "$T/positions.txt")"
import json, sys
rs = [r for r in map(json.loads, open(sys.argv[1])) if r.get("partition") == sys.argv[2]]
got = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[3])}
e = rs[4]
after_time = [r["seq"] for r in rs if r["enq"] > e["enq"]]  # the client asks for enqueued time > t
want = {"seq-excl": e["seq"] + 1, "off-incl": e["seq"], "off-excl": e["seq"] + 1,
        "time": after_time[0]}
for k, first in want.items():
    assert got[k] == (first, rs[-1]["seq"] - first + 1), (k, got[k], first)
print("ok: partition %s from its 5th event (seq %d, offset %s): sequence number exclusive, offset "
      "inclusive and exclusive, enqueued time: each starts where it should and reads to the end"
      % (sys.argv[2], e["seq"], e["offset"]))
PY

# runtime metric (trackLastEnqueuedEventProperties): the partition's newest event on each batch
t0=$(date +%s%3N)
consume --from earliest --partition "$P" --track-last 1 --idle-ms 2500 > "$T/track.jsonl" ||
  fail "consumer.js --track-last failed"
"$PY" - "$T/all.jsonl" "$P" "$T/track.jsonl" "$t0" "$(date +%s%3N)" << 'PY' || fail "lastEnqueuedEventProperties: $(head -1 "$T/track.jsonl")"
import json, sys
P, t0, t1 = sys.argv[2], int(sys.argv[4]), int(sys.argv[5])
newest = max((r for r in map(json.loads, open(sys.argv[1])) if r.get("partition") == P), key=lambda r: r["seq"])
rows = [r for r in map(json.loads, open(sys.argv[3])) if "body" in r]
assert rows and len(rows) == newest["seq"] + 1, len(rows)
for r in rows:
    l = r["last"]
    assert (l["seq"], l["offset"], l["enq"]) == (newest["seq"], newest["offset"], newest["enq"]), (r["seq"], l, newest)
    assert t0 - 1000 <= l["retrieved"] <= t1 + 1000, (l, t0, t1)
print("ok: runtime metric: on each of %d events lastEnqueuedEventProperties is the partition's newest "
      "(seq %d, offset %s) with a retrieval time of the read" % (len(rows), newest["seq"], newest["offset"]))
PY

# latest: only what comes after
consume --from latest --count 5 --timeout-ms 30000 > "$T/latest.jsonl" &
cpid=$!
for _ in $(seq 1 200); do grep -q '"ready"' "$T/latest.jsonl" 2> /dev/null && break; sleep 0.05; done
: > "$T/sent_ms"
for i in $(seq 101 105); do
  [ "$(rest_send "$i")" = 201 ] || fail "REST send $i refused"
  echo "rest-event-$i $(date +%s%3N)" >> "$T/sent_ms"
  sleep 0.2
done
wait "$cpid" || fail "consumer.js (latest) failed"
"$PY" - "$T/latest.jsonl" "$T/sent_ms" << 'PY' || fail "latest: $(cat "$T/latest.jsonl")"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"body"' in l]
sent = dict(l.split() for l in open(sys.argv[2]))
assert sorted(r["body"] for r in rows) == sorted(sent), [r["body"] for r in rows]
lat = [r["recv_ms"] - int(sent[r["body"]]) for r in rows]
print("ok: latest: only the 5 new events; live tail latency after the 201: median %d ms (max %d)"
      % (statistics.median(lat), max(lat)))
PY

# restart with the index deleted: the same answers
rx_stop
rm -rf "$CAP/.index"
rx_start --capture "$CAP" "${rx_amqp_args[@]}"
consume --from earliest --count 75 --timeout-ms 30000 > "$T/again.jsonl" || fail "consumer.js failed"
"$PY" - "$T/all.jsonl" "$T/again.jsonl" << 'PY' || fail "after the rebuild the answers differ"
import json, sys
key = lambda f: sorted((r["partition"], r["seq"], r["offset"], r["enq"], r["body"]) for r in map(json.loads, open(f)) if "body" in r)
a, b = key(sys.argv[1]), key(sys.argv[2])
assert len(b) == 75 and set(a) <= set(b), (len(a), len(b))
PY
mkdir "$T/before" && mv "$T"/pos-*.jsonl "$T/before/"
positions > "$T/positions2.txt"
"$PY" - "$T" << 'PY' || fail "start positions after the rebuild: $(cat "$T/positions2.txt") (before: $(cat "$T/positions.txt"))"
import json, sys
T = sys.argv[1]
for name in ("seq-excl", "off-incl", "off-excl", "time"):
    ev = lambda f: [(r["seq"], r["offset"], r["enq"], r["body"]) for r in map(json.loads, open(f)) if "body" in r]
    a, b = ev(f"{T}/before/pos-{name}.jsonl"), ev(f"{T}/pos-{name}.jsonl")
    assert a and b[:len(a)] == a, (name, a[:2], b[:2])  # the same start, then what came since
PY
ok "index deleted + restart: the same events with the same numbers, every start position the same"

# epochs (ownerLevel): a higher one takes the partition; at most five readers without one
consume --from earliest --partition 0 --owner-level 1 --idle-ms 6000 > "$T/epoch1.jsonl" &
e1=$!
sleep 2
consume --from earliest --partition 0 --owner-level 2 --idle-ms 1500 > "$T/epoch2.jsonl"
wait "$e1"
grep -q ReceiverDisconnectedError "$T/epoch1.jsonl" || fail "epoch 1 not detached: $(tail -1 "$T/epoch1.jsonl")"
grep -q '"errors":\[\]' "$T/epoch2.jsonl" || fail "epoch 2: $(tail -1 "$T/epoch2.jsonl")"
ok "epoch: ownerLevel 2 detached ownerLevel 1 (ReceiverDisconnectedError)"
pids=()
for i in 1 2 3 4 5 6; do
  consume --from earliest --partition 1 --idle-ms 4000 > "$T/five$i.jsonl" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
n=$(cat "$T"/five*.jsonl | grep -c QuotaExceededError || true)
[ "$n" = 1 ] || fail "six readers without an epoch: $n refused (want 1)"
ok "six readers without an epoch: the sixth refused (QuotaExceededError)"
rx_stop
