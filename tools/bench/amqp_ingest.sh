#!/usr/bin/env bash
# tools/bench/amqp_ingest.sh - events/s the receiver acknowledges over AMQP from N parallel
# producers of Azure's own JavaScript client (@azure/event-hubs, tests/js: tests/js/send_loop.js,
# full batches, one in flight each), next to REST ingest (wrk, N connections) of the same events
# (same bodies and properties, batches as large as a 1 MB request holds) in the same run, against
# one `hubcap-receiver serve` (development mode: durable capture, acknowledged only after fsync).
# Prints one JSON line.
#
#   tools/bench/amqp_ingest.sh                         # defaults below
#   PRODUCERS=4 DURATION=30 tools/bench/amqp_ingest.sh
#
# Per protocol: events_per_s (the receiver's hubcap_receiver_events_total over the phase's wall
# time), rx_cpu_s_per_million (the receiver's user + system time, /proc/PID/stat, per million
# acknowledged events), rx_cores (its CPU time / wall time), rx_busiest_thread (the share of one
# core its busiest thread used, /proc/PID/task), client_cores (node's or wrk's CPU time / wall
# time) and client_util (client_cores / the cores the client can use: min(N, CPUs) for N
# single-threaded node processes). saturated: "client" or "receiver", whichever was nearer its
# limit (the receiver's: its busiest thread's share of a core, or its share of the machine) when
# one was at 80% or more, else "neither" (both waited: on fsync, round trips, or CPUs other load
# took; loadavg_1m before and after says how busy the machine was); machine_busy: the two
# together used at least 90% of the machine's CPUs (they competed for them). The producers connect
# and authorize first and start together (send_loop.js --ready-file). Target: AMQP >= REST in events per receiver CPU second (amqp_vs_rest_cpu <= 1).
#
# Environment: HC_BIN (default build/bin), HC_JS_DIR (default tests/js; `npm ci` there when the
# client is missing), PRODUCERS (2), DURATION seconds per phase (20), SIZE of an event body
# (300), EVENTS distinct events (20000, sent round and round), CODEC (deflate). Needs node, npm,
# wrk.
set -euo pipefail
HC_SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$HC_SRC/tools/bench/wrk_post.sh"
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
JS_DIR=${HC_JS_DIR:-$HC_SRC/tests/js}
PY=/usr/bin/python3
PRODUCERS=${PRODUCERS:-2}
DURATION=${DURATION:-20}
SIZE=${SIZE:-300}
EVENTS=${EVENTS:-20000}
CODEC=${CODEC:-deflate}
for c in node npm wrk; do
  command -v "$c" > /dev/null || { echo "amqp_ingest.sh: needs $c" >&2; exit 1; }
done
[ -x "$HC_BIN/hubcap-receiver" ] || { echo "amqp_ingest.sh: no $HC_BIN/hubcap-receiver" >&2; exit 1; }
"$HC_BIN/hubcap-receiver" serve --help 2>&1 | grep -q -- '--amqp ' ||
  { echo "amqp_ingest.sh: this hubcap-receiver has no AMQP endpoint" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench-amqp.XXXXXX")
rx=
pids=()
cleanup() {
  local p
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2> /dev/null || true; done
  [ -n "$rx" ] && kill -9 "$rx" 2> /dev/null
  wait 2> /dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

want=$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$JS_DIR/node_modules/.hubcap-lock.sha256" 2> /dev/null)" != "$want" ]; then
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error) > "$W/npm.log" 2>&1 ||
    { echo "amqp_ingest.sh: npm ci in $JS_DIR failed: $(tail -3 "$W/npm.log")" >&2; exit 1; }
  echo "$want" > "$JS_DIR/node_modules/.hubcap-lock.sha256"
fi

# the events: agent-like envelopes of SIZE bytes; REST bodies: batches of them with the same
# properties as the JavaScript producers give (event_id, device_id, kind, schema), no partition
# key on either side, each batch as many events as fit in 1 MB
"$PY" - "$W" "$EVENTS" "$SIZE" "$HC_SRC/tests/lib" << 'PY'
import json, os, random, sys
W, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
import rxtool
rnd = random.Random(7)
lines = []
for i in range(n):
    _, body = rxtool.envelope(i, "pi-%04d" % rnd.randrange(1000), size, rnd)
    lines.append(body)
open(W + "/events.jsonl", "w").write("\n".join(lines) + "\n")
os.makedirs(W + "/bodies")
nb, cur, cur_len = 0, [], 2
def flush():
    global nb, cur, cur_len
    open(f"{W}/bodies/body-{nb}.json", "w").write("[" + ",".join(cur) + "]")
    nb, cur, cur_len = nb + 1, [], 2
for l in lines:
    j = json.loads(l)
    it = json.dumps({"Body": l, "UserProperties": {k: j[k] for k in ("event_id", "device_id", "kind", "schema")}},
                    separators=(",", ":"))
    if cur_len + len(it) + 1 > 1000000:
        flush()
    cur.append(it)
    cur_len += len(it) + 1
if cur:
    flush()
open(W + "/bodies/count", "w").write(str(nb))
PY
nbodies=$(cat "$W/bodies/count")
load0=$(cut -d' ' -f1 /proc/loadavg)

aport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$HC_BIN/hubcap-receiver" serve --listen 127.0.0.1:0 --amqp "127.0.0.1:$aport" --capture "$W/capture" \
  --codec "$CODEC" > "$W/rx.out" 2> "$W/rx.log" &
rx=$!
for _ in $(seq 1 200); do grep -qs '^Endpoint=' "$W/rx.out" && break; sleep 0.05; done
cs=$(grep '^Endpoint=' "$W/rx.out") || { cat "$W/rx.log" >&2; exit 1; }
port=$(echo "$cs" | grep -o '^Endpoint=sb://127.0.0.1:[0-9]*' | grep -o '[0-9]*$')
acs=$(echo "$cs" | sed -E "s#^Endpoint=sb://([^/:]+):[0-9]+/#Endpoint=sb://\1:$aport/#")
url="http://127.0.0.1:$port"

metric() { curl -s "$url/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# snap FILE: the receiver's ticks in total and per thread, the events so far, the time
snap() {
  {
    echo "time $(date +%s.%N)"
    echo "events $(metric hubcap_receiver_events_total)"
    awk '{ print "total", $14 + $15 }' "/proc/$rx/stat"
    for t in /proc/"$rx"/task/*; do
      awk -v t="${t##*/}" '{ sub(/^[0-9]+ \([^)]*\) /, ""); print "task", t, $12 + $13 }' "$t/stat" 2> /dev/null || true
    done
  } > "$1"
}

# ---- AMQP: PRODUCERS node processes ------------------------------------------------------------
for i in $(seq 0 $((PRODUCERS - 1))); do
  node "$JS_DIR/send_loop.js" --cs "$acs" --events "$W/events.jsonl" --duration "$DURATION" \
    --key-field none --skip $((i * EVENTS / PRODUCERS)) --retries 3 --ready-file "$W/js.$i.ready" \
    > "$W/js.$i.out" 2> "$W/js.$i.err" &
  pids+=($!)
done
# all connected and authorized, then go together
for _ in $(seq 1 600); do
  [ "$(ls "$W"/js.*.ready 2> /dev/null | wc -l)" -eq "$PRODUCERS" ] && break
  sleep 0.1
done
[ "$(ls "$W"/js.*.ready 2> /dev/null | wc -l)" -eq "$PRODUCERS" ] ||
  { echo "amqp_ingest.sh: the JavaScript producers did not connect: $(cat "$W"/js.*.err)" >&2; exit 1; }
snap "$W/amqp.0"
kill -USR1 "${pids[@]}"
for p in "${pids[@]}"; do
  wait "$p" || { echo "amqp_ingest.sh: a JavaScript producer failed: $(cat "$W"/js.*.err)" >&2; exit 1; }
done
pids=()
snap "$W/amqp.1"
cat "$W"/js.*.out > "$W/js.all"

# ---- REST: wrk, PRODUCERS connections, the same events ---------------------------------------
token=$("$PY" "$HC_SRC/tests/lib/rxtool.py" token http://127.0.0.1/events RootManageSharedAccessKey \
  "${HUBCAP_DEV_KEY:-SAS_KEY_VALUE}")
wrk_post_lua "$W/post.lua" "$W/bodies" "$nbodies" "$token" "$port"
snap "$W/rest.0"
/usr/bin/time -f '%e %U %S' -o "$W/wrk.time" wrk -t1 -c"$PRODUCERS" -d"${DURATION}s" --timeout 30s \
  -s "$W/post.lua" "$url/events/messages?timeout=60&api-version=2014-01" > "$W/wrk.out"
snap "$W/rest.1"
kill -TERM "$rx"
wait "$rx" || { echo "amqp_ingest.sh: the receiver failed to stop cleanly" >&2; exit 1; }
rx=

"$PY" - "$W" "$PRODUCERS" "$SIZE" "$CODEC" "$(getconf CLK_TCK)" "$(nproc)" "$JS_DIR" "$(cut -d' ' -f1 /proc/loadavg)" "$load0" << 'PY'
import json, sys
W, producers, size, codec, tck, ncpu, js_dir, load, load0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8], sys.argv[9]

def snap(path):
    s = {"tasks": {}}
    for l in open(path):
        f = l.split()
        if f[0] == "task":
            s["tasks"][f[1]] = int(f[2])
        elif f[0] in ("events", "total"):
            s[f[0]] = int(float(f[1]))
        else:
            s[f[0]] = float(f[1])
    return s

def phase(name, client_cpu, client_cap, extra):
    a, b = snap(f"{W}/{name}.0"), snap(f"{W}/{name}.1")
    wall = b["time"] - a["time"]
    events = b["events"] - a["events"]
    rx_cpu = (b["total"] - a["total"]) / tck
    busiest = max(((v - a["tasks"].get(t, 0)) / tck for t, v in b["tasks"].items()), default=0)
    r = {"events": events, "seconds": round(wall, 2), "events_per_s": round(events / wall),
         "rx_cpu_s_per_million": round(rx_cpu / events * 1e6, 2) if events else None,
         "rx_cores": round(rx_cpu / wall, 2), "rx_busiest_thread": round(busiest / wall, 2),
         "client_cores": round(client_cpu / wall, 2),
         "client_util": round(client_cpu / wall / client_cap, 2)}
    rx_util = max(r["rx_busiest_thread"], r["rx_cores"] / ncpu)
    if max(r["client_util"], rx_util) < 0.8:
        r["saturated"] = "neither (both waited: fsync, round trips, or CPUs taken by other load)"
    else:
        r["saturated"] = "client" if r["client_util"] >= rx_util else "receiver"
    r["machine_busy"] = r["client_cores"] + r["rx_cores"] >= 0.9 * ncpu
    r.update(extra)
    return r

js = [json.loads(l) for l in open(W + "/js.all")]
amqp = phase("amqp", sum(j["cpu_s"] for j in js), min(producers, ncpu), {
    "client_acked": sum(j["events"] for j in js), "events_per_batch": max(j["max_batch"] for j in js),
    "failed_sends": sum(j["failed_sends"] for j in js)})
wall, user, sysc = map(float, open(W + "/wrk.time").read().split())
wrk = open(W + "/wrk.out").read().split("WRK ")[1].split()
requests, bad, neterr = wrk[0], wrk[5], wrk[6]
rest = phase("rest", user + sysc, 1, {"requests": int(requests), "non_2xx": int(bad), "socket_errors": int(neterr)})
lock = json.load(open(js_dir + "/package-lock.json"))
ver = lock["packages"]["node_modules/@azure/event-hubs"]["version"]
out = {"bench": "amqp_ingest", "receiver": "hubcap-receiver serve (dev mode, capture fsync before ack)",
       "client": "@azure/event-hubs " + ver + " (node " + __import__("subprocess").run(["node", "--version"], capture_output=True, text=True).stdout.strip() + ")",
       "producers": producers, "event_bytes": size, "codec": codec, "cpus": ncpu, "loadavg_1m": [float(load0), float(load)],
       "amqp": amqp, "rest": rest}
if amqp["rx_cpu_s_per_million"] and rest["rx_cpu_s_per_million"]:
    out["amqp_vs_rest_rate"] = round(amqp["events_per_s"] / rest["events_per_s"], 2)
    out["amqp_vs_rest_cpu"] = round(amqp["rx_cpu_s_per_million"] / rest["rx_cpu_s_per_million"], 2)
    out["target"] = "amqp_vs_rest_cpu <= 1 (AMQP >= REST events per receiver CPU second)"
    out["pass"] = out["amqp_vs_rest_cpu"] <= 1
print(json.dumps(out))
PY
