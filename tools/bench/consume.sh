#!/usr/bin/env bash
# tools/bench/consume.sh - what Azure's own JavaScript consumers (@azure/event-hubs, tests/js;
# tools/bench/consume_js.js) get from the receiver's partition log over AMQP. Prints one JSON
# line.
#
#   tools/bench/consume.sh                 # EVENTS=1000000 RATE=5000 DURATION=15
#
# 1. A backlog of EVENTS agent-like events (~300-byte bodies) in one partition's capture files,
#    written by tools/bench/log_read.sh's program (bench-log-read: the real partition writer),
#    whose plain scan of those files (every record decoded in order, no index, no copy, no
#    network: scan_peer_eps) is the peer in the same run; the receiver (`serve -c`, hub bench,
#    one partition, the same capture folder: it indexes nothing again) then serves them.
# 2. One consumer reads the backlog from the earliest event (one_eps), then four at once, each
#    all of it (four_eps: events delivered per second over the four, from their common start to
#    the last one's end); separate node processes, connected before the clock starts.
# 3. End-to-end latency: a producer sends RATE events/s to the partition for DURATION seconds while a
#    consumer at latest reads them, in one process on one clock: sendBatch resolved
#    (acknowledged, on disk) -> the consumer got the event; p50 and p99 ms. Target p99 <= 50 ms.
#
# Fields: one_eps, four_eps, four_per_consumer_eps, vs_scan_one / vs_scan_four (over the plain
# scan's rate: what the network, AMQP and the client cost), rx_cpu_s_per_million (receiver CPU
# for the four-consumer phase, per million events delivered), latency p50_ms, p99_ms, max_ms,
# sent, received, send_eps, target_p99_ms, ok (p99 within the target and every event sent was
# received), loadavg_1m. Environment: HC_BIN (build/bin), HC_JS_DIR (tests/js).
set -euo pipefail
HC_SRC=$(cd "$(dirname "$0")/../.." && pwd)
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
JS_DIR=${HC_JS_DIR:-$HC_SRC/tests/js}
export HC_JS_DIR=$JS_DIR
PY=/usr/bin/python3
EVENTS=${EVENTS:-1000000}
RATE=${RATE:-5000}
DURATION=${DURATION:-15}
command -v node > /dev/null || { echo "consume.sh: needs node" >&2; exit 1; }
[ -x "$HC_BIN/bench-log-read" ] || { echo "build first: $HC_BIN/bench-log-read" >&2; exit 1; }
[ -d "$JS_DIR/node_modules/@azure/event-hubs" ] ||
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
T=$(mktemp -d "${TMPDIR:-/tmp}/hc_consume.XXXXXX")
RXPID=
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2> /dev/null || true; done
  [ -n "$RXPID" ] && kill "$RXPID" 2> /dev/null && wait "$RXPID" 2> /dev/null
  rm -rf "$T"
}
trap cleanup EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$HC_BIN/bench-log-read" "$T/cap" "$EVENTS" > "$T/scan.json"
AP=$(port)
cat > "$T/rx.conf" << EOF
[capture]
dir = $T/cap
[receiver]
namespace = ns
[amqp]
listen = 127.0.0.1:$AP
[hub bench]
partitions = 1
[rule RootManageSharedAccessKey]
key = SAS_KEY_VALUE
rights = manage
EOF
"$HC_BIN/hubcap-receiver" serve -c "$T/rx.conf" --listen 127.0.0.1:0 > "$T/rx.out" 2> "$T/rx.log" &
RXPID=$!
for _ in $(seq 1 600); do grep -q '^amqp: ' "$T/rx.out" 2> /dev/null && break; sleep 0.1; done
grep -q '^amqp: ' "$T/rx.out" || { cat "$T/rx.log" >&2; exit 1; }
CS="Endpoint=sb://127.0.0.1:$AP/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=bench;UseDevelopmentEmulator=true"
cpu() { awk '{ print $14 + $15 }' "/proc/$RXPID/stat"; }

backlog() { # N OUT_PREFIX: N consumers, connected first, started together
  local i pids=()
  for i in $(seq 1 "$1"); do
    node "$HC_SRC/tools/bench/consume_js.js" backlog --cs "$CS" --partition 0 --count "$EVENTS" \
      --ready-file "$T/$2.$i.ready" > "$T/$2.$i.json" &
    pids+=($!)
  done
  PIDS=("${pids[@]}")
  for i in $(seq 1 "$1"); do
    for _ in $(seq 1 300); do [ -e "$T/$2.$i.ready" ] && break; sleep 0.1; done
  done
  c0=$(cpu)
  t0=$(date +%s.%N)
  kill -USR1 "${pids[@]}"
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  c1=$(cpu)
  PIDS=()
  echo "$t0 $t1 $c0 $c1" > "$T/$2.times"
}
backlog 1 one
backlog 4 four
node "$HC_SRC/tools/bench/consume_js.js" latency --cs "$CS" --partition 0 --rate "$RATE" \
  --seconds "$DURATION" > "$T/latency.json"
kill "$RXPID"
wait "$RXPID" || true
RXPID=

"$PY" - "$T" "$EVENTS" "$(getconf CLK_TCK)" "$RATE" << 'PY'
import glob, json, os, sys
T, events, hz, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
scan = json.load(open(f"{T}/scan.json"))
def phase(name):
    rs = [json.load(open(f)) for f in sorted(glob.glob(f"{T}/{name}.*.json"))]
    t0, t1, c0, c1 = map(float, open(f"{T}/{name}.times").read().split())
    n = sum(r["events"] for r in rs)
    assert all(r["events"] >= events and not r.get("error") for r in rs), rs
    return n, t1 - t0, (c1 - c0) / hz, rs
n1, s1, _, _ = phase("one")
n4, s4, cpu4, rs4 = phase("four")
lat = json.load(open(f"{T}/latency.json"))
one, four = n1 / s1, n4 / s4
out = {
    "bench": "consume", "events": events, "client": "@azure/event-hubs (node), AMQP",
    "one_eps": round(one), "four_eps": round(four), "four_per_consumer_eps": round(four / 4),
    "scan_peer_eps": round(scan["scan_peer_eps"]), "log_read_eps": round(scan["read_eps"]),
    "vs_scan_one": round(one / scan["scan_peer_eps"], 3),
    "vs_scan_four": round(four / scan["scan_peer_eps"], 3),
    "rx_cpu_s_per_million": round(cpu4 / (n4 / 1e6), 2),
    "latency_rate": rate, "send_eps": lat["send_eps"], "sent": lat["sent"],
    "received": lat["received"], "before_ack": lat["before_ack"],
    "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
    "target_p99_ms": 50, "loadavg_1m": os.getloadavg()[0],
}
out["ok"] = bool(lat["p99_ms"] is not None and lat["p99_ms"] <= 50 and lat["received"] == lat["sent"])
print(json.dumps(out))
PY
