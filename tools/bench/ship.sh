#!/usr/bin/env bash
# tools/bench/ship.sh - the agent shipping to a real hubcap-receiver (development mode: durable
# capture, every event acknowledged only after its fsync), per transport in one run, next to
# Azure's official JavaScript client sending the same events to the same receiver over AMQP.
# Prints one JSON line.
#
#   tools/bench/ship.sh [--transport https|amqp|all] [--events N] [--js-events N]
#
# Per transport (default all):
#   eps, cpu_s_per_million   `ship --once` draining N (default 300000) 300-byte envelopes from a
#                            buffer (filled without fsync: filling is not what is measured)
#   private_kb, private_dirty_kb, pss_kb, rss_kb
#                            memory as a board pays it, while `ship` sends 1k events/s
#                            (catch_up_rate 1000) with 1M events buffered: Private_Dirty +
#                            Private_Clean (the agent's own pages), Private_Dirty alone, PSS
#                            (shared library pages divided among their users) and RSS beside
#                            them, the highest of 10 samples of /proc/PID/smaps_rollup
# js: @azure/event-hubs (tools/bench/ship_js.js; the client of tests/js, `npm ci` there when
# missing) sending the first --js-events (default 60000) of the same events, full batches, one
# in flight, over AMQP: eps and CPU s per million (node's user + system time).
# Targets: the agent over AMQP at >= 5x the client's rate and <= 1/5 its CPU per event; private
# dirty <= 4 MB. Environment: HC_BIN (default build/bin), HC_JS_DIR (default tests/js).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HC_BIN:-$top/build/bin}
js_dir=${HC_JS_DIR:-$top/tests/js}
PY=/usr/bin/python3
which=all
n=300000
js_n=60000
while [ $# -gt 0 ]; do
  case $1 in
    --transport) which=$2; shift 2 ;;
    --events) n=$2; shift 2 ;;
    --js-events) js_n=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "ship.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $which in
  all) transports=(https amqp) ;;
  https|amqp) transports=("$which") ;;
  *) echo "ship.sh: --transport https, amqp or all" >&2; exit 2 ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench-ship.XXXXXX")
rx=
agent=
trap '[ -n "$agent" ] && kill "$agent" 2>/dev/null; [ -n "$rx" ] && kill "$rx" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Envelopes of exactly 300 bytes (padding in the data object), one device.
/usr/bin/python3 - 1000000 > "$work/events.jsonl" << 'PY'
import json, sys, uuid
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    e = {"event_id": str(uuid.UUID(int=(0x01a2008d7400 << 80) | (7 << 76) | (2 << 62) | i)),
         "device_id": "bench-01", "kind": "order_line", "schema": 1,
         "event_time": "2026-11-22T03:00:00.000Z",
         "data": {"invoice_no": str(536365 + i), "pad": ""}}
    s = json.dumps(e, separators=(",", ":"))
    e["data"]["pad"] = "x" * (300 - len(s))
    out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
head -n "$n" "$work/events.jsonl" > "$work/n.jsonl"

# The receiver: REST on one port, plain AMQP on another (when it has AMQP).
amqp_port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
amqp_args=()
"$bin/hubcap-receiver" serve --help 2>&1 | grep -q -- '--amqp ' && amqp_args=(--amqp "127.0.0.1:$amqp_port")
"$bin/hubcap-receiver" serve --listen 127.0.0.1:0 --capture "$work/cap" "${amqp_args[@]+"${amqp_args[@]}"}" \
  > "$work/rx.out" 2> "$work/rx.log" &
rx=$!
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$work/rx.out" 2> /dev/null && break; sleep 0.1; done
cs_https=$(grep '^Endpoint=' "$work/rx.out") || { cat "$work/rx.log" >&2; exit 1; }
cs_amqp=$(echo "$cs_https" | sed -E "s#^Endpoint=sb://([^/:]+):[0-9]+/#Endpoint=sb://\1:$amqp_port/#")
cs_of() { [ "$1" = amqp ] && echo "$cs_amqp" || echo "$cs_https"; }

# smaps FILE PID: the highest Private (Clean + Dirty), Private_Dirty, Pss, Rss (kB) of 10
# samples, one a second, appended to FILE as "private dirty pss rss"
smaps() {
  local i
  for i in $(seq 1 10); do
    sleep 1
    awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Private_Clean:/{c=$2} /^Private_Dirty:/{d=$2}
         END{print c+d, d, p, r}' "/proc/$2/smaps_rollup" >> "$1"
  done
}

echo "{" > "$work/result.json"
for tp in "${transports[@]}"; do
  if [ "$tp" = amqp ] && [ ${#amqp_args[@]} -eq 0 ]; then
    echo "\"amqp\":null,\"amqp_skipped\":\"this hubcap-receiver has no AMQP endpoint\"," >> "$work/result.json"
    continue
  fi
  # throughput: drain n events
  "$bin/hubcap-agent" enqueue -b "$work/$tp.buf" --no-sync -q "$work/n.jsonl"
  /usr/bin/time -f '%e %U %S' -o "$work/$tp.time" \
    "$bin/hubcap-agent" ship -b "$work/$tp.buf" --once -q --transport "$tp" -s "$(cs_of "$tp")"
  read -r wall user sys < "$work/$tp.time"
  shipped=$("$bin/hubcap-agent" status -b "$work/$tp.buf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["shipped"])')
  # memory: 1k events/s with 1M buffered
  "$bin/hubcap-agent" enqueue -b "$work/$tp.mem" --no-sync -q "$work/events.jsonl"
  "$bin/hubcap-agent" ship -b "$work/$tp.mem" -q --transport "$tp" -s "$(cs_of "$tp")" \
    --catch-up-rate 1000 2> "$work/$tp.mem.err" &
  agent=$!
  smaps "$work/$tp.smaps" "$agent"
  kill "$agent"
  wait "$agent" 2> /dev/null || true
  agent=
  mem_shipped=$("$bin/hubcap-agent" status -b "$work/$tp.mem" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["shipped"])')
  rm -rf "$work/$tp.buf" "$work/$tp.mem"
  $PY - "$tp" "$n" "$shipped" "$wall" "$user" "$sys" "$work/$tp.smaps" "$mem_shipped" >> "$work/result.json" << 'PY'
import json, sys
tp, n, shipped = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wall, cpu = float(sys.argv[4]), float(sys.argv[5]) + float(sys.argv[6])
samples = [list(map(int, l.split())) for l in open(sys.argv[7]) if l.strip()]
peak = [max(s[i] for s in samples) for i in range(4)]
print(json.dumps(tp) + ":" + json.dumps({
    "shipped": shipped, "seconds": wall, "eps": round(shipped / wall) if wall else None,
    "cpu_s_per_million": round(cpu / (n / 1e6), 2),
    "private_kb": peak[0], "private_dirty_kb": peak[1], "pss_kb": peak[2], "rss_kb": peak[3],
    "memory_while": f"1k events/s with 1M buffered ({sys.argv[8]} shipped in 10 s)"}) + ",")
PY
done

# Azure's JavaScript client, the same events over AMQP to the same receiver
js=null
if [ ${#amqp_args[@]} -eq 0 ]; then
  js_note="this hubcap-receiver has no AMQP endpoint"
elif [ ! -f "$js_dir/package.json" ]; then
  js_note="no $js_dir/package.json (the client's pinned package, from the receiver's AMQP work)"
else
  [ -d "$js_dir/node_modules/@azure/event-hubs" ] ||
    (cd "$js_dir" && npm ci --no-audit --no-fund > "$work/npm.log" 2>&1) ||
    { echo "ship.sh: npm ci in $js_dir failed: $(tail -3 "$work/npm.log")" >&2; exit 1; }
  head -n "$js_n" "$work/events.jsonl" > "$work/js.jsonl"
  HC_JS_DIR=$js_dir /usr/bin/time -f '%e %U %S' -o "$work/js.time" \
    node "$top/tools/bench/ship_js.js" --cs "$cs_amqp" --events "$work/js.jsonl" > "$work/js.out"
  read -r wall user sys < "$work/js.time"
  js=$($PY - "$work/js.out" "$user" "$sys" "$js_dir" << 'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read())
cpu = float(sys.argv[2]) + float(sys.argv[3])
lock = json.load(open(sys.argv[4] + "/package-lock.json"))
ver = lock.get("packages", {}).get("node_modules/@azure/event-hubs", {}).get("version", "?")
print(json.dumps({"client": "@azure/event-hubs " + ver, "events": o["events"], "eps": o["eps"],
                  "seconds": round(o["seconds"], 2),
                  "cpu_s_per_million": round(cpu / (o["events"] / 1e6), 2)}))
PY
)
  js_note=
fi
kill "$rx"
wait "$rx" 2> /dev/null || true
rx=
$PY - "$work/result.json" "$js" "$js_note" "$n" << 'PY'
import json, sys
text = open(sys.argv[1]).read().rstrip().rstrip(",") + "}"
r = json.loads(text.replace("{,", "{"))
js = json.loads(sys.argv[2])
out = {"bench": "ship", "receiver": "hubcap-receiver serve (dev mode, capture fsync before ack)",
       "event_bytes": 300, "events": int(sys.argv[4])}
out.update(r)
out["js"] = js
if sys.argv[3]:
    out["js_skipped"] = sys.argv[3]
targets = {"amqp_vs_js_rate_min": 5, "amqp_vs_js_cpu_max": 0.2, "private_dirty_kb_max": 4096}
out["targets"] = targets
ok = {}
a = r.get("amqp")
if a and js:
    out["amqp_vs_js_rate"] = round(a["eps"] / js["eps"], 2)
    out["amqp_vs_js_cpu"] = round(a["cpu_s_per_million"] / js["cpu_s_per_million"], 3)
    ok["rate"] = out["amqp_vs_js_rate"] >= targets["amqp_vs_js_rate_min"]
    ok["cpu"] = out["amqp_vs_js_cpu"] <= targets["amqp_vs_js_cpu_max"]
for tp in ("https", "amqp"):
    if r.get(tp):
        ok[tp + "_private_dirty"] = r[tp]["private_dirty_kb"] <= targets["private_dirty_kb_max"]
out["pass"] = ok
print(json.dumps(out))
PY
