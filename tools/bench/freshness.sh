#!/usr/bin/env bash
# tools/bench/freshness.sh - freshness from agent enqueue to gold: an agent generates events at
# RATE/s (wall-clock times) and ships them as they come to `hubcap-receiver serve --pg` with a
# 1 s capture window; the receiver lands and promotes continuously. A sampler polls the promote
# checkpoint every 50 ms; when it moves, every event of the newly promoted files became visible
# in silver and gold at that moment (promotion commits silver and gold together), and its
# freshness is that moment minus its enqueue time (the millisecond in its UUIDv7 event_id,
# stamped at enqueue). Prints one JSON line with p50/p90/p99/max against the 5 s target.
# With DEVICES, the events come from hubcap-fleet (that many simulated agents, RATE across them,
# flat curve) instead of one agent, and the line adds the receiver's and the fleet's peak RSS.
#   tools/bench/freshness.sh [SECONDS] [RATE] [DEVICES]
#   (default 60 s at 5000 events/s from one agent; HC_BIN=build/bin)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export HC_SRC=$top HC_BIN=${HC_BIN:-$top/build/bin}
secs=${1:-60}
rate=${2:-5000}
devices=${3:-0}
source "$top/tests/lib/common.sh"
source "$top/tests/lib/pg.sh"
source "$top/tests/lib/receiver.sh"
pg_start > /dev/null

rx_start --capture "$T/cap" --window 1s --pg "" --lake-interval 1s
cs=$(grep '^Endpoint=' "$RX_OUT")
if [ "$devices" -gt 0 ]; then
  /usr/bin/time -f %M -o "$T/fleet.rss" "$HC_BIN/hubcap-fleet" --devices "$devices" \
    --duration "$secs" --rate "$rate" --flat --connection-string "$cs" --no-reconcile \
    --dir "$T/fleet" 2> "$T/fleet.log" &
  gen=$!
  ship=
else
  "$AGENT" generate -b "$T/buf" -q --count $((secs * rate)) --rate "$rate" --device-id fresh-01 &
  gen=$!
  "$AGENT" ship -b "$T/buf" -q -s "$cs" &
  ship=$!
fi
hc_cleanup_hooks+=("kill $gen $ship 2>/dev/null; wait $gen $ship 2>/dev/null")

"$PY" - "$secs" "$rate" "$gen" "$devices" "$RX_PID" "$T/fleet.rss" <<'PY'
import json, os, subprocess, sys, time

secs, rate, gen, devices, rx = (int(a) for a in sys.argv[1:6])
rx_rss = 0

def sql(q):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", q],
                          check=True, capture_output=True, text=True).stdout.split()

def alive(pid):
    try:
        os.kill(pid, 0)
        return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                              text=True).stdout.strip()[:1] not in ("Z", "")
    except ProcessLookupError:
        return False

enq_ms = ("(('x' || substr(replace(event_id, '-', ''), 1, 12))::bit(48)::bigint)")
union = " UNION ALL ".join(
    "SELECT %s AS t FROM silver.%s WHERE file_id > %%d AND file_id <= %%d" % (enq_ms, k)
    for k in ("order_line", "order_status", "car_listing"))
last, lat, t_end, done_at = 0, [], None, None
while True:
    time.sleep(0.05)
    try:
        cur = int((sql("SELECT last_file_id FROM lake.checkpoint WHERE name = 'promote'") or ["0"])[0])
    except subprocess.CalledProcessError:
        continue  # the schema is not there yet
    seen = time.time() * 1000
    if cur > last:
        lat += [seen - int(t) for t in sql(union % ((last, cur) * 3))]
        last = cur
    if not alive(gen) and t_end is None:
        t_end = time.time()
    try:
        rx_rss = max(rx_rss, int(open("/proc/%d/status" % rx).read().split("VmHWM:")[1].split()[0]))
    except (OSError, IndexError):
        pass
    if t_end is not None and time.time() - t_end > 8:
        break  # everything generated had 8 s to arrive
lat.sort()
pct = lambda p: round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000, 3) if lat else None
extra = {}
if devices:
    time.sleep(0.5)
    try:
        fl = int(open(sys.argv[6]).read().split()[-1])
        extra = {"devices": devices, "fleet_rss_kb": fl, "per_agent_kb": round(fl / devices, 1)}
    except (OSError, ValueError, IndexError):
        extra = {"devices": devices}
print(json.dumps({"bench": "freshness", **extra, "receiver_rss_kb": rx_rss, "rate": rate,
                  "seconds": secs, "events": len(lat), "eps": round(len(lat) / secs),
                  "capture_window_s": 1, "p50_s": pct(50), "p90_s": pct(90), "p99_s": pct(99),
                  "max_s": round(lat[-1] / 1000, 3) if lat else None,
                  "resolution_ms": 50, "target_p99_s": 5,
                  "ok": bool(lat) and pct(99) <= 5 and len(lat) >= secs * rate * 0.8}))
PY
