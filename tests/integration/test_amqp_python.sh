#!/usr/bin/env bash
# The receiver's AMQP endpoint over TLS with Debian's Python client (python3-azure: azure-eventhub
# 5.11, pure-Python pyamqp, unchanged). That client always speaks AMQP over TLS on port 5671: it
# ignores UseDevelopmentEmulator and the Endpoint's port (pyamqp's Connection parses it but hands
# the transport its default), and its custom_endpoint_address switches it to AMQP over WebSockets,
# which the receiver does not serve. So the test runs in a network namespace of its own (unshare
# -n: a private loopback, nothing else on the machine sees it or collides with it) where the
# receiver's [amqp] listen_tls is 127.0.0.1:5671, with the test CA's server certificate, and the
# client trusts the test CA through connection_verify. With the right CA:
# get_eventhub_properties, get_partition_properties, batches without a key, with a partition key
# and to partition 1, single events (send_event); the Python consumer (EventHubConsumerClient)
# reads every event sent to partition 1 back with its body, properties, sequence number and
# offset; and every event is captured once with its body, typed application properties and
# partition key. With an unrelated CA the client refuses the receiver's certificate and nothing
# is captured.
if [ -z "${HC_TEST_NETNS:-}" ]; then
  ns=(unshare -n) # as root; else in a user namespace of our own (-r)
  "${ns[@]}" true 2> /dev/null || ns=(unshare -rn)
  "${ns[@]}" true 2> /dev/null ||
    { echo "skip: cannot make a network namespace (unshare -n) to give the client 127.0.0.1:5671"; exit 77; }
  exec "${ns[@]}" env HC_TEST_NETNS=1 bash "$0" "$@"
fi
ip link set lo up || { echo "FAIL: no loopback in the test's network namespace" >&2; exit 1; }
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
"$PY" -c 'import azure.eventhub' 2> /dev/null || skip "no azure-eventhub for $PY (Debian package python3-azure)"
source "$HC_SRC/tests/lib/amqp_tls.sh"
KEY="py-k3y-$RANDOM"
APORT=5671 # the only port the client reaches (see above); free in this namespace
rx_start_amqp_tls "$APORT" 4 "$KEY"

# pyamqp 5.11 reads performatives by position (BeginFrame(*frame), frame[4], frame[13]) as Azure's
# service sends them whole, where proton 0.37 leaves trailing default fields out: the receiver
# pads what proton writes (receiver/amqp/wire.h) behind its own TLS. Should that break, this
# client fails here (IndexError or TypeError in pyamqp), it is not skipped.
"$PY" - "$APORT" "$KEY" "$T/ca" "$T/py" << 'PY' || fail "the Python client (above)"
import json, sys, uuid
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError
port, key, ca, out = sys.argv[1:5]
cs = f"Endpoint=sb://localhost/;SharedAccessKeyName=sender;SharedAccessKey={key};EntityPath=events"
sent = []  # what each event should be in capture

def event(n, key=None, partition=None, extra=True):
    eid = f"py-{n}-{uuid.uuid4()}"
    body = json.dumps({"event_id": eid, "n": n, "text": "z\u00fcrich " * (n % 5)}).encode()
    e = EventData(body)
    props = {"event_id": eid, "kind": "python"}
    if extra:
        props.update({"count": n, "neg": -n - 1, "ratio": n / 4 + 0.5, "bin": b"\x00\xff" + bytes([n % 256])})
    e.properties = props
    sent.append({"event_id": eid, "body": body.decode(), "key": key, "partition": partition,
                 "props": {k: (["bytes", v.hex()] if isinstance(v, bytes) else v) for k, v in props.items()}})
    return e

with EventHubProducerClient.from_connection_string(cs, connection_verify=f"{ca}/ca.pem", retry_total=2) as p:
    h = p.get_eventhub_properties()
    assert h["eventhub_name"] == "events" and h["partition_ids"] == ["0", "1", "2", "3"], h
    pp = p.get_partition_properties("1")
    assert pp["eventhub_name"] == "events" and pp["id"] == "1" and pp["is_empty"] is True, pp
    assert isinstance(pp["last_enqueued_offset"], str), pp
    n = 0
    for opts, count in (({}, 20), ({"partition_key": "py-key-1"}, 30), ({"partition_id": "1"}, 25)):
        b = p.create_batch(**opts)
        for _ in range(count):
            b.add(event(n, opts.get("partition_key"), opts.get("partition_id")))
            n += 1
        p.send_batch(b)
    p.send_event(event(n, extra=False)); n += 1
    p.send_event(event(n, key="py-key-2"), partition_key="py-key-2"); n += 1
    p.send_event(event(n, partition="3"), partition_id="3"); n += 1
    pp = p.get_partition_properties("1")
    assert pp["is_empty"] is False and pp["last_enqueued_sequence_number"] >= 24, pp
json.dump(sent, open(out + ".sent.json", "w"))

# an unrelated CA: the receiver's certificate is refused, nothing is sent
try:
    with EventHubProducerClient.from_connection_string(cs, connection_verify=f"{ca}/other-ca.pem",
                                                       retry_total=0) as p:
        b = p.create_batch()
        b.add(EventData(b"never"))
        p.send_batch(b)
    sys.exit("FAIL: the client sent with an unrelated CA")
except EventHubError as e:
    msg = f"{e} {getattr(e, 'error', '')} {e.__cause__!r}"
    if "CERTIFICATE" not in msg.upper():
        sys.exit(f"FAIL: an unrelated CA: not a certificate error: {msg}")
    print(f"ok: an unrelated CA: refused ({type(e).__name__}: certificate verify failed)")
PY
ok "azure-eventhub $("$PY" -c 'import azure.eventhub as e; print(e.__version__)') over TLS (test CA): properties, 3 batches, 3 single events sent"

# ---- read back with the Python consumer: every event of partition 1, with its properties ------
"$PY" - "$KEY" "$T/ca" "$T/py" << 'PY' || fail "the Python consumer (above)"
import json, sys, threading
from azure.eventhub import EventHubConsumerClient
key, ca, out = sys.argv[1:4]
cs = f"Endpoint=sb://localhost/;SharedAccessKeyName=sender;SharedAccessKey={key};EntityPath=events"
sent = [s for s in json.load(open(out + ".sent.json")) if s["partition"] == "1"]
got, last, done = [], [], threading.Event()
def on_event(ctx, ev):
    if ev is None:
        return
    got.append(ev)
    last.append(ctx.last_enqueued_event_properties)
    if len(got) >= len(sent):
        done.set()
c = EventHubConsumerClient.from_connection_string(cs, consumer_group="$Default", connection_verify=f"{ca}/ca.pem")
t = threading.Thread(target=lambda: c.receive(on_event=on_event, partition_id="1", starting_position="-1",
                                              max_wait_time=5, track_last_enqueued_event_properties=True))
t.start()
done.wait(60)
c.close()
t.join(30)
ids = [e.properties.get(b"event_id", b"").decode() for e in got]
want = [s["event_id"] for s in sent]
if sorted(set(ids) & set(want)) != sorted(want):
    sys.exit(f"FAIL: the consumer read {len(got)} events of partition 1, {len(set(want) - set(ids))} of the {len(want)} sent there missing")
for e in got:
    s = next((s for s in sent if s["event_id"] == e.properties[b"event_id"].decode()), None)
    if s is None:
        continue  # sent without a partition id, spread here by the receiver
    if e.body_as_str() != s["body"] or e.sequence_number is None or not isinstance(e.offset, str):
        sys.exit(f"FAIL: {s['event_id']}: read back body {e.body_as_str()!r} seq {e.sequence_number} offset {e.offset!r}")
# the runtime metric over TLS: every event says where the partition ends (its newest event)
end = max(e.sequence_number for e in got)
for e, l in zip(got, last):
    if not l or l.get("sequence_number") != end or not l.get("offset") or l.get("enqueued_time") is None \
            or l.get("retrieval_time") is None:
        sys.exit(f"FAIL: event {e.sequence_number}: last_enqueued_event_properties {l!r}, want sequence_number {end}")
print(f"ok: last_enqueued_event_properties on every event: the partition's end, sequence number {end}")
print(f"ok: the Python consumer read back all {len(want)} events of partition 1 (bodies, properties, sequence numbers, offsets)")
PY
rx_stop

"$PY" "$HC_SRC/tests/lib/capture_typed.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T" << 'PY' || exit 1
import base64, collections, json, sys
T = sys.argv[1]
sent = json.load(open(T + "/py.sent.json"))
cap = collections.defaultdict(list)
for l in open(T + "/captured.jsonl"):
    e = json.loads(l)
    cap[e["props"].get("event_id", [None, None])[1]].append(e)
if sum(len(v) for v in cap.values()) != len(sent):
    sys.exit(f"FAIL: {sum(len(v) for v in cap.values())} events captured, {len(sent)} sent")
TYPE = {int: "long", float: "double", str: "string"}
bykey = collections.defaultdict(set)
for s in sent:
    got = cap.get(s["event_id"], [])
    if len(got) != 1:
        sys.exit(f"FAIL: {s['event_id']} captured {len(got)} times")
    c = got[0]
    if base64.b64decode(c["body_b64"]).decode() != s["body"]:
        sys.exit(f"FAIL: {s['event_id']}: body {c['body_b64']}")
    want = {k: (["bytes", base64.b64encode(bytes.fromhex(v[1])).decode()] if isinstance(v, list) else [TYPE[type(v)], v])
            for k, v in s["props"].items()}
    if c["props"] != want:
        sys.exit(f"FAIL: {s['event_id']}: properties {c['props']}, want {want}")
    pk = c["sys"].get("x-opt-partition-key")
    if pk != (["string", s["key"]] if s["key"] else None):
        sys.exit(f"FAIL: {s['event_id']}: partition key {pk}, sent {s['key']}")
    if s["partition"] is not None and c["partition"] != int(s["partition"]):
        sys.exit(f"FAIL: {s['event_id']}: in partition {c['partition']}, sent to {s['partition']}")
    if s["key"]:
        bykey[s["key"]].add(c["partition"])
if any(len(p) != 1 for p in bykey.values()):
    sys.exit(f"FAIL: one partition key in several partitions: {dict(bykey)}")
print(f"ok: all {len(sent)} events captured once with body, typed properties, partition key and partition")
PY
