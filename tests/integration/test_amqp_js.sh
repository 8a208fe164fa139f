#!/usr/bin/env bash
# The receiver's AMQP endpoint with Azure's own JavaScript client (@azure/event-hubs from npm,
# pinned by tests/js/package-lock.json, unchanged): `serve --amqp --capture --pg` answers
# getEventHubProperties and getPartitionProperties with the right types and the partitions' real
# numbers; batches with and without a partition key, to a chosen partition, single events (the
# array form), a JSON body, a binary body and a batch of 500 events are each captured once, with
# body, typed application properties and partition key exactly as a REST send of the same event
# captures them (a second receiver, same events over REST); with --pg each is in bronze with its
# properties and in silver once. A wrong key fails with UnauthorizedError, an unknown hub or
# partition with the client's not-found error; nothing of theirs is captured. After a restart the
# partitions' properties (last sequence number, offset, enqueued time) are the same, from disk.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/lake.sh"
source "$HC_SRC/tests/lib/js.sh"
js_setup
pg_start
CAP="$T/cap"
t0=$(date +%s)
rx_start --capture "$CAP" --window 1s --pg "" --lake-interval 500ms "${rx_amqp_args[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
ACS=$(cs_of amqp)

# ---- the plans: agent-made events (valid for silver), some with typed extra properties ------
"$AGENT" generate --count 600 --seed 13 --device-id js-dev -q > "$T/events.jsonl"
"$PY" - "$T" << 'PY'
import base64, json, sys
T = sys.argv[1]
lines = [l.rstrip("\n") for l in open(T + "/events.jsonl") if l.strip()]
EXTRA = {"n": 3, "neg": -7, "f": 37.5, "flag": True, "s": "Strong Winds", "big": 5000000000}
BIN = base64.b64encode(b"\x00\x01\xfe\xff").decode()

def ev(line, extra=False):
    j = json.loads(line)
    props = {k: j[k] for k in ("event_id", "device_id", "kind", "schema")}
    if extra:
        props.update(EXTRA)
        props["bin"] = {"$bytes": BIN}
    return {"body": line, "properties": props}

# a line whose JSON JavaScript re-encodes to the same bytes (strings and integers only)
def plain(l):
    return json.dumps(json.loads(l), separators=(",", ":"), ensure_ascii=False) == l
js_line = next(l for l in lines[40:90] if plain(l))
rest_lines = [l for l in lines if l != js_line]
steps = [
    {"op": "batch", "events": [ev(l, i < 2) for i, l in enumerate(rest_lines[0:10])]},
    {"op": "batch", "partitionKey": "js-key-1", "events": [ev(l, i == 0) for i, l in enumerate(rest_lines[10:20])]},
    {"op": "batch", "partitionId": "2", "events": [ev(l, i == 0) for i, l in enumerate(rest_lines[20:30])]},
    {"op": "array", "partitionKey": "js-key-2", "events": [ev(rest_lines[30], True)]},
    {"op": "array", "events": [ev(l) for l in rest_lines[31:34]]},
    {"op": "array", "partitionId": "3", "events": [ev(rest_lines[34], True)]},
    {"op": "batch", "events": [ev(rest_lines[35], True)]},
    {"op": "batch", "partitionKey": "js-key-3", "events": [ev(l) for l in rest_lines[36:536]]},
]
j = json.loads(js_line)
steps.append({"op": "batch", "events": [{"body_json": j, "properties": {k: j[k] for k in ("event_id", "device_id", "kind", "schema")}}]})
steps.append({"op": "batch", "partitionId": "1", "events": [
    {"body_b64": base64.b64encode(b"BIN-\x00\xff\xfe").decode(), "properties": {"event_id": "js-binary-1"}}]})
json.dump(steps, open(T + "/plan_send.json", "w"))
props = [{"op": "hub_props"}] + [{"op": "partition_props", "partition": str(p)} for p in range(4)]
json.dump(props, open(T + "/plan_props.json", "w"))
json.dump(props[1:], open(T + "/plan_props_after.json", "w"))
bad = lambda eid: [{"op": "hub_props"}, {"op": "batch", "events": [{"body": "never " + eid, "properties": {"event_id": eid}}]}]
json.dump(bad("js-wrong-key"), open(T + "/plan_wrongkey.json", "w"))
json.dump(bad("js-no-hub"), open(T + "/plan_nohub.json", "w"))
json.dump([{"op": "partition_props", "partition": "9"},
           {"op": "batch", "partitionId": "9", "events": [{"body": "never", "properties": {"event_id": "js-no-partition"}}]}],
          open(T + "/plan_nopart.json", "w"))
PY

# ---- properties of an empty hub ------------------------------------------------------------
js_producer --cs "$ACS" --plan "$T/plan_props.json" > "$T/props0.jsonl" || fail "producer.js failed"
"$PY" - "$T/props0.jsonl" "$t0" << 'PY' || fail "properties of the empty hub: $(cat "$T/props0.jsonl")"
import json, sys, datetime
L = [json.loads(l) for l in open(sys.argv[1])]
bad = [l for l in L if not l["ok"]]
assert not bad, f"calls failed: {bad}"
h = L[0]
assert h["result"]["name"] == "events" and h["types"]["name"] == "string", h
assert h["result"]["partitionIds"] == ["0", "1", "2", "3"] and h["types"]["partitionIds"] == "array<string>", h
assert h["types"]["createdOn"] == "Date", h
created = datetime.datetime.fromisoformat(h["result"]["createdOn"].replace("Z", "+00:00")).timestamp()
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
assert 0 < created <= now + 60, f"createdOn {h['result']['createdOn']} is in the future"
want_types = {"eventHubName": "string", "partitionId": "string", "beginningSequenceNumber": "number",
              "lastEnqueuedSequenceNumber": "number", "lastEnqueuedOffset": "string",
              "lastEnqueuedOnUtc": "Date", "isEmpty": "boolean"}
for p, l in enumerate(L[1:]):
    r = l["result"]
    for k, t in want_types.items():
        assert l["types"].get(k) == t, f"partition {p}: {k} is {l['types'].get(k)}, want {t}: {l}"
    assert r["eventHubName"] == "events" and r["partitionId"] == str(p), l
    assert r["isEmpty"] is True, f"partition {p} of a new capture folder is not empty: {l}"
PY
ok "getEventHubProperties (name, createdOn Date, partitionIds string[4]) and getPartitionProperties of an empty hub (types, isEmpty)"

# ---- sends -----------------------------------------------------------------------------------
js_producer --cs "$ACS" --plan "$T/plan_send.json" > "$T/send.jsonl" || fail "producer.js failed"
"$PY" - "$T/send.jsonl" << 'PY' || fail "sends: $(cut -c1-400 "$T/send.jsonl")"
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
bad = [l for l in L if not l["ok"]]
assert not bad and len(L) == 10, f"sends failed: {bad}"
big = L[7]["result"]
assert big["count"] == 500, big
assert big["maxSizeInBytes"] >= 256 * 1024, f"the receiver's max-message-size makes batches of {big['maxSizeInBytes']} bytes"
PY
ok "10 sends resolved: batches (no key, partitionKey, partitionId 2, 500 events), arrays (single events by key, by partition, 3 without key), a JSON and a binary body"
js_producer --cs "$ACS" --plan "$T/plan_props_after.json" > "$T/props1.jsonl" || fail "producer.js failed"

# ---- refusals --------------------------------------------------------------------------------
js_producer --cs "${ACS/SharedAccessKey=SAS_KEY_VALUE/SharedAccessKey=not-the-key}" --plan "$T/plan_wrongkey.json" \
  --retries 1 > "$T/wrongkey.jsonl" || fail "producer.js failed"
js_producer --cs "${ACS/EntityPath=events/EntityPath=nohub}" --plan "$T/plan_nohub.json" --retries 1 \
  > "$T/nohub.jsonl" || fail "producer.js failed"
js_producer --cs "$ACS" --plan "$T/plan_nopart.json" --retries 1 > "$T/nopart.jsonl" || fail "producer.js failed"
"$PY" - "$T" << 'PY' || exit 1
import json, sys
T = sys.argv[1]
def steps(name):
    return [json.loads(l) for l in open(f"{T}/{name}.jsonl")]
# the codes of an error the client surfaced: an AggregateError (the client retried, as it
# does UnauthorizedError: credentials may have been rotated) holds one error per attempt
def codes(e):
    return [c for x in e["errors"] for c in codes(x)] if e.get("errors") else [e.get("code")]
for l in steps("wrongkey"):
    if l["ok"] or set(codes(l["error"])) != {"UnauthorizedError"}:
        sys.exit(f"FAIL: a wrong key: {l['op']} gave {l}, want UnauthorizedError")
NOT_FOUND = {"MessagingEntityNotFoundError", "ServiceCommunicationError"}  # amqp:not-found, 404
for name in ("nohub", "nopart"):
    for l in steps(name):
        if l["ok"] or not set(codes(l["error"])) <= NOT_FOUND or l["error"].get("retryable") is not False:
            sys.exit(f"FAIL: {name}: {l['op']} gave {l}, want a non-retryable not-found error {NOT_FOUND}")
PY
ok "a wrong key: UnauthorizedError (management and send; the client retries it); an unknown hub and partition 9: $("$PY" -c 'import json,sys; print(sorted({json.loads(l)["error"]["code"] for f in sys.argv[1:] for l in open(f)}))' "$T/nohub.jsonl" "$T/nopart.jsonl"), not retryable"

# every send and every refusal counted where a user sees it
curl -s "$RX_URL/metrics" > "$T/metrics.txt"
"$PY" - "$T/metrics.txt" "$T/plan_send.json" << 'PY' || fail "/metrics: $(grep '^hubcap_receiver_amqp' "$T/metrics.txt")"
import json, sys
m = {}
for l in open(sys.argv[1]):
    if l.startswith("hubcap_receiver_amqp"):
        k, v = l.rsplit(" ", 1)
        m[k] = float(v)
events = sum(len(s["events"]) for s in json.load(open(sys.argv[2])))
g = lambda k: m.get(k, 0)
assert g("hubcap_receiver_amqp_events_total") == events, f"amqp_events_total {g('hubcap_receiver_amqp_events_total')}, {events} sent"
assert g('hubcap_receiver_amqp_deliveries_total{outcome="accepted"}') >= 10, "accepted deliveries"
assert g('hubcap_receiver_amqp_deliveries_total{outcome="lost"}') == 0, "lost deliveries"
assert g("hubcap_receiver_amqp_decode_errors_total") == 0, "decode errors"
assert g('hubcap_receiver_amqp_cbs_total{status="401"}') >= 2, "the wrong key's put-tokens are not counted as 401"
nf = sum(v for k, v in m.items() if '"404"' in k or '"amqp:not-found"' in k)
assert nf >= 4, f"{nf} not-found refusals counted, 4 made (unknown hub: properties, send; partition 9: properties, send)"
acc = g('hubcap_receiver_amqp_deliveries_total{outcome="accepted"}')
r401 = g('hubcap_receiver_amqp_cbs_total{status="401"}')
print(f"ok: /metrics: {events} AMQP events, {acc:.0f} accepted deliveries, {r401:.0f} put-tokens refused 401, "
      f"{nf:.0f} not-found refusals")
PY
rx_stop # closes the last files; the lake's last cycle lands and promotes them

# ---- a restart: the partitions' properties come from disk (the partition log), unchanged ------
rx_start --capture "$CAP" --window 1s --pg "" --lake-interval 500ms "${rx_amqp_args[@]}"
js_producer --cs "$ACS" --plan "$T/plan_props_after.json" > "$T/props2.jsonl" || fail "producer.js failed"
rx_stop

# ---- the same events over REST, to a second receiver -----------------------------------------
RX_PORT=0
rx_start --capture "$T/cap_rest" --amqp off
"$PY" - "$T/plan_send.json" "$RX_URL" "$(rx_token events)" << 'PY' || fail "REST twin sends"
import json, sys, urllib.request
steps, url, tok = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for s in steps:
    items = []
    for e in s["events"]:
        if "body_b64" in e:
            break  # no REST twin: a JSON batch holds text bodies
        body = e["body"] if "body" in e else json.dumps(e["body_json"], separators=(",", ":"), ensure_ascii=False)
        it = {"Body": body, "UserProperties": {k: v for k, v in e["properties"].items() if not isinstance(v, dict)}}
        if "partitionKey" in s:
            it["BrokerProperties"] = {"PartitionKey": s["partitionKey"]}
        items.append(it)
    if not items:
        continue
    path = f"/events/partitions/{s['partitionId']}/messages" if "partitionId" in s else "/events/messages"
    req = urllib.request.Request(url + path, data=json.dumps(items).encode(), method="POST", headers={
        "Authorization": tok, "Content-Type": "application/vnd.microsoft.servicebus.json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
PY
rx_stop

# ---- capture: each event once, as REST captured it -------------------------------------------
"$PY" "$HC_SRC/tests/lib/capture_typed.py" "$CAP" > "$T/amqp.jsonl"
"$PY" "$HC_SRC/tests/lib/capture_typed.py" "$T/cap_rest" > "$T/rest.jsonl"
"$PY" - "$T" "$t0" << 'PY' || exit 1
import base64, collections, datetime, json, sys
T, t0 = sys.argv[1], int(sys.argv[2])
steps = json.load(open(T + "/plan_send.json"))
def by_id(name):
    d = collections.defaultdict(list)
    for l in open(f"{T}/{name}.jsonl"):
        e = json.loads(l)
        d[e["props"].get("event_id", [None, None])[1]].append(e)
    return d
A, R = by_id("amqp"), by_id("rest")
def fail(msg):
    sys.exit("FAIL: " + msg)
for bad in ("js-wrong-key", "js-no-hub", "js-no-partition"):
    if bad in A:
        fail(f"the refused event {bad} was captured")
sent = 0
for i, s in enumerate(steps):
    parts = set()
    for e in s["events"]:
        eid = e["properties"]["event_id"]
        got = A.get(eid, [])
        if len(got) != 1:
            fail(f"step {i} ({s['op']}): {eid} captured {len(got)} times over AMQP")
        a = got[0]
        sent += 1
        parts.add(a["partition"])
        if "body_b64" in e:
            if a["body_b64"] != e["body_b64"]:
                fail(f"{eid}: binary body {a['body_b64']}, sent {e['body_b64']}")
            if "partitionId" in s and a["partition"] != int(s["partitionId"]):
                fail(f"{eid}: in partition {a['partition']}, sent to {s['partitionId']}")
            continue
        r = R.get(eid, [])
        if len(r) != 1:
            fail(f"{eid}: the REST twin captured it {len(r)} times")
        r = r[0]
        if a["body_b64"] != r["body_b64"]:
            fail(f"{eid}: AMQP body {base64.b64decode(a['body_b64'])[:80]!r} != REST body {base64.b64decode(r['body_b64'])[:80]!r}")
        ap = dict(a["props"])
        if "bin" in e["properties"]:
            want = ["bytes", e["properties"]["bin"]["$bytes"]]
            if ap.pop("bin", None) != want:
                fail(f"{eid}: binary property {a['props'].get('bin')}, want {want}")
        if ap != r["props"]:
            fail(f"{eid}: AMQP properties {ap} != REST properties {r['props']}")
        if a["sys"].get("x-opt-partition-key") != r["sys"].get("x-opt-partition-key"):
            fail(f"{eid}: partition key AMQP {a['sys'].get('x-opt-partition-key')} REST {r['sys'].get('x-opt-partition-key')}")
        if "partitionKey" in s and a["sys"].get("x-opt-partition-key") != ["string", s["partitionKey"]]:
            fail(f"{eid}: x-opt-partition-key {a['sys'].get('x-opt-partition-key')}, sent {s['partitionKey']}")
        if ("partitionId" in s or "partitionKey" in s) and a["partition"] != r["partition"]:
            fail(f"{eid}: AMQP put it in partition {a['partition']}, REST in {r['partition']}")
        if "partitionId" in s and a["partition"] != int(s["partitionId"]):
            fail(f"{eid}: in partition {a['partition']}, sent to {s['partitionId']}")
    if s["op"] == "batch" and len(parts) != 1:
        fail(f"step {i}: one batch was split over partitions {parts}")
print(f"ok: {sent} events each captured once over AMQP; bodies, typed properties, partition keys and partitions as REST captured them")

# the partitions' properties after the sends: the capture's real numbers
after = [json.loads(l) for l in open(T + "/props1.jsonl")]
allp = collections.defaultdict(list)
for l in open(T + "/amqp.jsonl"):
    e = json.loads(l)
    allp[e["partition"]].append(e)
for l in after:
    if not l["ok"]:
        fail(f"getPartitionProperties after the sends: {l}")
    r = l["result"]
    evs = allp.get(int(r["partitionId"]), [])
    if not evs:
        if not r["isEmpty"]:
            fail(f"partition {r['partitionId']} has no event but isEmpty is false: {r}")
        continue
    last = evs[-1]
    want = {"isEmpty": False, "beginningSequenceNumber": evs[0]["seq"],
            "lastEnqueuedSequenceNumber": last["seq"], "lastEnqueuedOffset": last["offset"]}
    for k, v in want.items():
        if r[k] != v:
            fail(f"partition {r['partitionId']}: {k} {r[k]!r}, the capture says {v!r}")
    when = datetime.datetime.fromisoformat(r["lastEnqueuedOnUtc"].replace("Z", "+00:00")).timestamp()
    cap = datetime.datetime.strptime(last["enqueued"], "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=datetime.timezone.utc).timestamp()
    if abs(when - cap) > 1.5:
        fail(f"partition {r['partitionId']}: lastEnqueuedOnUtc {r['lastEnqueuedOnUtc']}, the capture's last event {last['enqueued']}")
print("ok: getPartitionProperties after the sends: sequence numbers, offset and enqueued time of each partition's last captured event")
restarted = [json.loads(l) for l in open(T + "/props2.jsonl")]
for a, b in zip(after, restarted):
    if not b["ok"] or a["result"] != b["result"]:
        fail(f"getPartitionProperties after a restart: {b}, before it: {a['result']}")
if len(restarted) != len(after):
    fail(f"{len(restarted)} answers after the restart, {len(after)} before")
print("ok: after a restart, getPartitionProperties answers the same for every partition (from disk)")
PY

# ---- the lake: bronze with the properties, silver once ---------------------------------------
nfiles=$(lake_landed_once "$CAP")
pg_sql "SELECT json_build_object('props', properties, 'sys', system_properties,
  'body', translate(encode(body, 'base64'), E'\\n', '')) FROM bronze.event" > "$T/bronze.jsonl" || fail "reading bronze"
pg_sql "$LAKE_SILVER_IDS" > "$T/silver_ids"
"$PY" - "$T" << 'PY' || exit 1
import collections, json, sys
T = sys.argv[1]
cap = [json.loads(l) for l in open(T + "/amqp.jsonl")]
bronze = collections.defaultdict(list)
for l in open(T + "/bronze.jsonl"):
    b = json.loads(l)
    bronze[b["props"].get("event_id")].append(b)
def as_json(p):  # bronze's jsonb form of a typed capture map
    return {k: ({"$bytes": v} if t == "bytes" else v) for k, (t, v) in p.items()}
for e in cap:
    eid = e["props"]["event_id"][1]
    b = bronze.get(eid, [])
    if len(b) != 1:
        sys.exit(f"FAIL: {eid} is {len(b)} times in bronze.event")
    b = b[0]
    if b["props"] != as_json(e["props"]) or b["sys"] != as_json(e["sys"]) or b["body"] != e["body_b64"]:
        sys.exit(f"FAIL: {eid}: bronze {b} differs from capture {e}")
silver = collections.Counter(l.strip() for l in open(T + "/silver_ids") if l.strip())
twice = [k for k, n in silver.items() if n > 1]
if twice:
    sys.exit(f"FAIL: twice in silver: {twice[:5]}")
missing = [e["props"]["event_id"][1] for e in cap
           if e["props"]["event_id"][1] != "js-binary-1" and e["props"]["event_id"][1] not in silver]
if missing:
    sys.exit(f"FAIL: {len(missing)} events not in silver, e.g. {missing[:3]}")
print(f"ok: bronze holds all {len(cap)} events with their properties, system properties and bodies; "
      f"silver each agent event once ({len(cap) - 1}; the binary body is not an envelope)")
PY
ok "$nfiles capture files, each once in bronze, all promoted by serve"
