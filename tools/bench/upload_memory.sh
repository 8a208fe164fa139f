#!/usr/bin/env bash
# tools/bench/upload_memory.sh - the receiver's memory under many concurrent large uploads:
# UPLOADERS connections each POST ROUNDS batches of about BODY bytes at once, with
# max_inflight = MAX_INFLIGHT. Prints one JSON line: the receiver's peak RSS (VmHWM), peak
# private memory and PSS (/proc/PID/smaps_rollup, sampled every 20 ms), its RSS when idle
# before the load, and the statuses; the limit it is compared against is idle RSS plus
# max_inflight ("over_budget_mb" is how far the peak went past it, negative when under).
#
#   tools/bench/upload_memory.sh               300 uploaders, 3 rounds, 1000000-byte bodies, 256M
#   UPLOADERS=100 MAX_INFLIGHT=64M tools/bench/upload_memory.sh
#
# Environment: HC_BIN (folder of hubcap-receiver, default build/bin), UPLOADERS (300), ROUNDS
# (3), BODY (1000000: under the 1 MB max_publication), EVENT (body bytes of each event in the
# batch, 1000), MAX_INFLIGHT (256M), HTTP_THREADS (receiver; default its own), CODEC (null).
set -euo pipefail
HC_SRC=$(cd "$(dirname "$0")/../.." && pwd)
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
PY=/usr/bin/python3
UPLOADERS=${UPLOADERS:-300}
ROUNDS=${ROUNDS:-3}
BODY=${BODY:-1000000}
EVENT=${EVENT:-1000}
MAX_INFLIGHT=${MAX_INFLIGHT:-256M}
CODEC=${CODEC:-null}
[ -x "$HC_BIN/hubcap-receiver" ] || { echo "upload_memory.sh: no $HC_BIN/hubcap-receiver" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench.XXXXXX")
rx=
cleanup() {
  [ -n "$rx" ] && kill -9 "$rx" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

cat > "$W/rx.conf" <<CONF
[receiver]
listen = 127.0.0.1:0
max_publication = 1M
max_inflight = $MAX_INFLIGHT
${HTTP_THREADS:+http_threads = $HTTP_THREADS}
[capture]
dir = $W/capture
codec = $CODEC
[hub events]
partitions = 4
[rule RootManageSharedAccessKey]
key = SAS_KEY_VALUE
rights = manage
CONF
"$HC_BIN/hubcap-receiver" serve -c "$W/rx.conf" > "$W/rx.out" 2> "$W/rx.log" &
rx=$!
for _ in $(seq 1 200); do grep -qs '^rest: ' "$W/rx.out" && break; sleep 0.05; done
port=$(grep -o '^rest: http://127.0.0.1:[0-9]*' "$W/rx.out" | grep -o '[0-9]*$') ||
  { cat "$W/rx.log" >&2; exit 1; }

"$PY" - "$port" "$rx" "$UPLOADERS" "$ROUNDS" "$BODY" "$HC_SRC" "$MAX_INFLIGHT" "$EVENT" <<'PY'
import collections, http.client, json, sys, threading, time
sys.path.insert(0, sys.argv[6] + "/tests/lib")
import rxtool
port, pid, uploaders, rounds, size = map(int, sys.argv[1:6])

def kb(path, keys):
    out = {}
    for line in open(path):
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out

idle = kb(f"/proc/{pid}/status", ("VmRSS",))["VmRSS"]
token = rxtool.sas_token("http://127.0.0.1/events", "RootManageSharedAccessKey", "SAS_KEY_VALUE",
                         int(time.time()) + 3600)
event = json.dumps({"Body": "x" * int(sys.argv[8]), "UserProperties": {"kind": "order_line", "schema": 1},
                    "BrokerProperties": {"PartitionKey": "pi-1"}})
body = ("[" + ",".join([event] * (size // (len(event) + 1))) + "]").encode()
statuses = collections.Counter()
lock = threading.Lock()
start = threading.Barrier(uploaders + 1)

def upload():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start.wait()
    for _ in range(rounds):
        try:
            c.request("POST", "/events/messages", body=body, headers={
                "Authorization": token, "Content-Type": rxtool.BATCH_TYPE})
            r = c.getresponse()
            r.read()
            st = r.status
            if r.getheader("Connection", "").lower() == "close":
                c.close()
        except OSError as e:
            st = type(e).__name__
            c.close()
        with lock:
            statuses[st] += 1

peak = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0, "private": 0}
done = threading.Event()
def sample():
    while not done.is_set():
        try:
            m = kb(f"/proc/{pid}/smaps_rollup", ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
        except OSError:
            break
        m["private"] = m["Private_Clean"] + m["Private_Dirty"]
        for k in peak:
            peak[k] = max(peak[k], m[k])
        time.sleep(0.02)

threads = [threading.Thread(target=upload) for _ in range(uploaders)]
for t in threads:
    t.start()
sampler = threading.Thread(target=sample)
sampler.start()
t0 = time.time()
start.wait()
for t in threads:
    t.join()
secs = time.time() - t0
done.set()
sampler.join()
hwm = kb(f"/proc/{pid}/status", ("VmHWM",))["VmHWM"]
mi = sys.argv[7]
budget_mb = float(mi[:-1]) * {"K": 1 / 1024, "M": 1, "G": 1024}[mi[-1].upper()] if mi[-1].isalpha() \
    else int(mi) / 2**20
print(json.dumps({
    "bench": "upload_memory", "uploaders": uploaders, "rounds": rounds, "body_bytes": len(body),
    "events_per_body": body.count(b'"Body"'),
    "seconds": round(secs, 2), "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
    "idle_rss_mb": round(idle / 1024, 1), "peak_rss_mb": round(hwm / 1024, 1),
    "peak_pss_mb": round(peak["Pss"] / 1024, 1), "peak_private_mb": round(peak["private"] / 1024, 1),
    "max_inflight_mb": budget_mb, "over_budget_mb": round(hwm / 1024 - idle / 1024 - budget_mb, 1),
}))
PY
kill -TERM "$rx"
wait "$rx" || { echo "upload_memory.sh: the receiver failed to stop cleanly" >&2; exit 1; }
rx=
