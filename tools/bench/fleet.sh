#!/usr/bin/env bash
# tools/bench/fleet.sh - sustained end-to-end events/s of a simulated fleet (hubcap-fleet: real
# agents, each with its own LMDB buffer, generator and shipper) into a dev-mode hubcap-receiver
# writing Capture files (window 1s); with the receiver's peak RSS and the memory per simulated
# agent (the fleet's peak RSS / devices). Prints one JSON line. No PostgreSQL: no reconciliation.
#   tools/bench/fleet.sh [DEVICES [RATE [SECONDS]]]   (default 1000 devices, 20000 events/s
#                                                       offered across the fleet, 30 s;
#                                                       HC_BIN=build/bin)
# "kept_up" is true when the fleet shipped everything it generated within 5 s of the end of the
# run, so eps is sustained, not a burst; lower RATE until it is.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HC_BIN:-$top/build/bin}
devices=${1:-1000}
rate=${2:-20000}
secs=${3:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench-fleet.XXXXXX")
rx=
trap '[ -n "$rx" ] && kill "$rx" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$bin/hubcap-receiver" serve --listen 127.0.0.1:0 --capture "$work/cap" --window 1s \
  > "$work/rx.out" 2> "$work/rx.log" &
rx=$!
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$work/rx.out" 2>/dev/null && break; sleep 0.1; done
cs=$(grep '^Endpoint=' "$work/rx.out") || { cat "$work/rx.log" >&2; exit 1; }

/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
  "$bin/hubcap-fleet" -s "$cs" --devices "$devices" --rate "$rate" --flat --duration "$secs" \
  --settle 120 --no-reconcile --dir "$work/fleet" --json > "$work/fleet.json" 2> "$work/fleet.err" ||
  { tail -5 "$work/fleet.err" >&2; exit 1; }
read -r wall user sys rss < "$work/time"
rx_rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$rx/status")
kill "$rx"; wait "$rx" 2>/dev/null || true; rx=
/usr/bin/python3 - "$work/fleet.json" "$devices" "$rate" "$secs" "$wall" "$user" "$sys" "$rss" \
  "$rx_rss" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
devices, rate, secs = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
wall, user, sys_, rss, rx_rss = (float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]),
                                 int(sys.argv[8]), int(sys.argv[9]))
shipped, seconds = f["shipped"], f["seconds"]
print(json.dumps({"bench": "fleet", "devices": devices, "offered_eps": rate, "run_s": secs,
                  "generated": f["generated_this_run"], "shipped": shipped,
                  "seconds": seconds, "eps": round(shipped / seconds) if seconds else None,
                  "kept_up": f["queued"] == 0 and seconds <= secs + 5,
                  "fleet_cpu_s": round(user + sys_, 1), "fleet_rss_kb": rss,
                  "per_agent_kb": round(rss / devices, 1), "receiver_rss_kb": rx_rss}))
PY
