#!/usr/bin/env bash
# The receiver's AMQP endpoint against peers that misbehave (tests/lib/amqp_raw.py: our own
# AMQP 1.0 peer over a raw socket, a fault injector), one event loop ([amqp] threads = 1) so
# every connection shares it:
# - connection_limit 4: a fifth connection is told amqp:resource-limit-exceeded (naming
#   connection_limit) in an AMQP close, counted as refused in /metrics; once one of the four
#   leaves, a new one is served;
# - idle_timeout 2s: a silent peer is closed with amqp:resource-limit-exceeded, not before 2 s,
#   counted; a peer that sends only empty frames is kept past three times that and still sends;
# - hostile frames (not described, an unknown performative, a list longer than its frame, a
#   list with fewer values than it says, a bad format code, a frame over max-frame-size, a frame
#   size under 8, a bad data offset, an unknown frame type, garbage instead of sasl-init): each
#   closes that connection with amqp:decode-error (the performative) or
#   amqp:connection:framing-error (the frame header) and a description, each counted in
#   hubcap_receiver_amqp_decode_errors_total; a connection opened before them still sends;
# - a slow consumer among fast producers: a consumer with a small receive buffer and credit for
#   all of an 8 MB partition stops reading (the receiver's writes to it back up), another holds a
#   consumer link without credit; two producers then get every one of their 900 deliveries
#   accepted and captured; the slow one, reading again, gets every event of its partition.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
KEY="f-k3y-$RANDOM"
APORT=$(free_port)
cat > "$T/receiver.conf" << EOF
[capture]
dir = $T/cap
window = 1s
[amqp]
listen = 127.0.0.1:$APORT
idle_timeout = 2s
connection_limit = 4
threads = 1
max_frame = 64K
[hub events]
partitions = 2
[rule sender]
key = $KEY
rights = send
[rule reader]
key = $KEY-r
rights = listen
EOF
rx_start -c "$T/receiver.conf"

PYTHONPATH="$HC_SRC/tests/lib" "$PY" - "$APORT" "$KEY" "$RX_URL" "$T" << 'PY' || fail "above"
import fcntl, json, socket, struct, sys, termios, threading, time, urllib.request
from amqp_raw import *
port, key, url, T = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
AUD = f"sb://127.0.0.1:{port}/events"

def metric(name):
    for l in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        if l.split(" ")[0] == name:
            return float(l.split(" ")[1])
    raise SystemExit(f"FAIL: no {name} in /metrics")

def wait_metric(name, want, what):
    for _ in range(200):
        if metric(name) == want:
            return
        time.sleep(0.05)
    raise SystemExit(f"FAIL: {what}: {name} is {metric(name)}, want {want}")

def producer(target="events"):
    p = Peer("127.0.0.1", port)
    return p, p.connect(AUD, "sender", key, target)

def sent_ok(p, h, n, tag):
    out = p.send_many(h, [f"{tag}-{i}".encode() for i in range(n)])
    if out != {0x24: n}:
        raise SystemExit(f"FAIL: {tag}: outcomes {out}, want {n} accepted")

# ---- connection_limit ---------------------------------------------------------------------
kept = []
for i in range(4):
    p = Peer("127.0.0.1", port)
    p.sasl_anonymous()
    p.open()
    kept.append(p)
wait_metric("hubcap_receiver_amqp_connections_open", 4, "four connections")
for p in kept:
    p.heartbeat()
extra = Peer("127.0.0.1", port)
extra.sasl_anonymous()
try:
    extra.send(b"AMQP\x00\x01\x00\x00")
    extra.read_header()
    extra.send(frame(performative(0x10, ["raw-peer", "localhost", 65536])))
    cond = extra.close_reason(10)
except Closed as e:
    raise SystemExit(f"FAIL: the fifth connection was dropped without a close: {e}")
if not cond or cond[0] != "amqp:resource-limit-exceeded" or "connection_limit" not in (cond[1] or ""):
    raise SystemExit(f"FAIL: the fifth connection: close {cond}, want amqp:resource-limit-exceeded naming connection_limit")
print(f"ok: a fifth connection: {cond[0]}: {cond[1]}")
assert metric('hubcap_receiver_amqp_connections_total{result="refused"}') == 1
assert metric("hubcap_receiver_amqp_connections_open") == 4
for p in kept[1:]:
    p.heartbeat()
kept[0].send(frame(performative(0x18, [])))
kept[0].close_reason(10)
kept[0].s.close()
wait_metric("hubcap_receiver_amqp_connections_open", 3, "one of four closed")
p, h = producer()
sent_ok(p, h, 5, "after-limit")
print("ok: once one of the four left, a new connection sends")
for q in kept[1:] + [p]:
    q.s.close()
wait_metric("hubcap_receiver_amqp_connections_open", 0, "all closed")

# ---- idle_timeout -------------------------------------------------------------------------
silent = Peer("127.0.0.1", port)
silent.sasl_anonymous()
silent.open()
t0 = time.monotonic()
live, lh = producer()
stop = threading.Event()
def beat():
    while not stop.wait(0.5):
        live.heartbeat()
beater = threading.Thread(target=beat)
beater.start()
cond = silent.close_reason(15)
took = time.monotonic() - t0
if not cond or cond[0] != "amqp:resource-limit-exceeded" or took < 2.0:
    raise SystemExit(f"FAIL: a silent peer: close {cond} after {took:.1f} s, want amqp:resource-limit-exceeded after 2 s at least")
print(f"ok: a silent peer closed after {took:.1f} s (idle_timeout 2s): {cond[0]}: {cond[1]}")
time.sleep(max(0, 6.5 - (time.monotonic() - t0)))
stop.set()
beater.join()
sent_ok(live, lh, 5, "live")
print("ok: a peer sending only empty frames is kept past 3 x idle_timeout and sends")
assert metric("hubcap_receiver_amqp_idle_closed_total") >= 1

# ---- hostile frames -----------------------------------------------------------------------
bystander, bh = producer()
hostile = [
    ("not described", frame(b"\x70\x00\x00\x00\x01"), "amqp:decode-error"),
    ("unknown performative", frame(performative(0x33, [1, 2])), "amqp:decode-error"),
    ("list past its frame", frame(b"\x00\x53\x11\xc0\x10\x05\x41"), "amqp:decode-error"),
    ("fewer values than counted", frame(b"\x00\x53\x11\xc0\x02\x03\x43"), "amqp:decode-error"),
    ("bad format code", frame(b"\x00\x53\x13\xc0\x02\x01\xff"), "amqp:decode-error"),
    ("over max-frame-size", struct.pack(">IBBH", 70000, 2, 0, 0) + b"\x00" * 64, "amqp:connection:framing-error"),
    ("size under 8", struct.pack(">IBBH", 4, 2, 0, 0), "amqp:connection:framing-error"),
    ("data offset 1", struct.pack(">IBBH", 8, 1, 0, 0), "amqp:connection:framing-error"),
    ("frame type 9", struct.pack(">IBBH", 12, 2, 9, 0) + b"\x00\x53\x10\x45", "amqp:connection:framing-error"),
]
for name, data, want in hostile:
    c = Peer("127.0.0.1", port)
    c.sasl_anonymous()
    c.open()
    c.begin()
    c.send(data)
    try:
        cond = c.close_reason(10)
    except (Closed, socket.timeout) as e:
        raise SystemExit(f"FAIL: {name}: no close ({e})")
    if not cond or cond[0] != want or not cond[1]:
        raise SystemExit(f"FAIL: {name}: close {cond}, want {want} with a description")
    print(f"ok: {name}: {cond[0]}: {cond[1]}")
    c.s.close()
# garbage where sasl-init belongs: no AMQP close can go yet, the socket is closed
c = Peer("127.0.0.1", port)
c.send(b"AMQP\x03\x01\x00\x00")
c.read_header()
c.expect("sasl-mechanisms")
c.send(frame(b"\x00\x53\x41\xd0\xff\xff\xff\xff", ftype=1))
try:
    while True:
        c.read_frame()
except Closed:
    print("ok: garbage instead of sasl-init: the connection closed")
want = len(hostile) + 1
wait_metric("hubcap_receiver_amqp_decode_errors_total", want, "hostile frames counted")
sent_ok(bystander, bh, 20, "bystander")
print(f"ok: {want} hostile connections closed and counted; a connection opened before them still sends")
bystander.s.close()
live.s.close()

# ---- a slow consumer among fast producers ---------------------------------------------------
fill, fh = producer("events/Partitions/0")
N_FILL, BODY = 2000, b"x" * 4000
fill.send_many(fh, [BODY + b"%d" % i for i in range(N_FILL)])
fill.s.close()
SRC = "events/ConsumerGroups/$Default/Partitions/0"
RAUD = f"sb://127.0.0.1:{port}/{SRC}"
slow = Peer("127.0.0.1", port, rcvbuf=4096)
slow.sasl_anonymous()
slow.open()
slow.begin(window=100000)
assert slow.put_token(RAUD, sas_token(RAUD, "reader", key + "-r")) == 200
rh = slow.attach("slow", True, SRC, "slow")
slow.expect("attach")
slow.flow(rh, N_FILL + 10)
nocredit = Peer("127.0.0.1", port)
nocredit.sasl_anonymous()
nocredit.open()
nocredit.begin()
assert nocredit.put_token(RAUD, sas_token(RAUD, "reader", key + "-r")) == 200
nocredit.attach("nocredit", True, SRC, "nocredit")
nocredit.expect("attach")  # and never a flow
time.sleep(1)  # the receiver writes to the slow consumer until its socket is full
unread = struct.unpack("i", fcntl.ioctl(slow.s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
out_before = metric("hubcap_receiver_amqp_consumer_events_total")
if out_before >= N_FILL:
    raise SystemExit(f"FAIL: the slow consumer was sent everything ({out_before}): nothing backed up")
results, errors = {}, []
def fast(i):
    try:
        p, h = producer()
        results[i] = p.send_many(h, [f"fast-{i}-{k}".encode() for k in range(450)], window=50)
        p.s.close()
    except Exception as e:
        errors.append(f"producer {i}: {e!r}")
threads = [threading.Thread(target=fast, args=(i,)) for i in range(2)]  # with the two: the limit
for t in threads:
    t.start()
for t in threads:
    t.join(120)
if errors or any(results.get(i) != {0x24: 450} for i in range(2)):
    raise SystemExit(f"FAIL: producers beside a slow consumer: {results} {errors}")
out_during = metric("hubcap_receiver_amqp_consumer_events_total")
if out_during >= N_FILL:
    raise SystemExit("FAIL: the slow consumer read nothing, yet got everything")
print(f"ok: 2 producers x 450 deliveries all accepted while a consumer stopped reading "
      f"({unread} bytes unread in its socket, {int(out_during)} of {N_FILL} events written to it) "
      f"and another held a link without credit")
slow.s.settimeout(30)
got = 0
while got < N_FILL:
    f = slow.read_frame()
    if f and f[0] == "transfer" and not (len(f[1]) > 5 and f[1][5]):
        got += 1
print(f"ok: the slow consumer, reading again, got all {got} events of its partition")
slow.s.close()
nocredit.s.close()
json.dump({"fast": 900, "fill": N_FILL}, open(T + "/counts.json", "w"))
PY
rx_stop

# every accepted event is in capture once
"$PY" "$HC_SRC/tests/lib/capture_typed.py" "$T/cap" > "$T/captured.jsonl"
"$PY" - "$T" << 'PY' || exit 1
import base64, collections, json, sys
T = sys.argv[1]
bodies = collections.Counter(base64.b64decode(json.loads(l)["body_b64"]) for l in open(T + "/captured.jsonl"))
fast = [b for b in bodies if b.startswith(b"fast-")]
if len(fast) != 900 or any(bodies[b] != 1 for b in fast):
    sys.exit(f"FAIL: {len(fast)} producer events captured (900 sent), {sum(bodies[b] for b in fast)} copies")
fill = [b for b in bodies if b.startswith(b"xxxx")]
if len(fill) != 2000:
    sys.exit(f"FAIL: {len(fill)} of 2000 fill events captured")
print("ok: the 900 events of the fast producers and the 2000 of the fill are in capture, once each")
PY
