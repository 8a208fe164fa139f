#!/usr/bin/env bash
# tools/bench/ship.sh - events/s the agent ships to a local endpoint that answers 201 at once
# (bench-sink), 300-byte events, 1 MB batches; with the agent's CPU seconds per million events
# and its peak RSS. Prints one JSON line.
#   tools/bench/ship.sh [EVENTS]        (default 1000000; HC_BIN=build/bin)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HC_BIN:-$top/build/bin}
n=${1:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench-ship.XXXXXX")
sink=
trap '[ -n "$sink" ] && kill "$sink" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Envelopes of exactly 300 bytes (padding in the data object), enqueued without fsync: the
# filling is not what is measured.
/usr/bin/python3 - "$n" > "$work/events.jsonl" <<'PY'
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
"$bin/hubcap-agent" enqueue -b "$work/buf" --no-sync -q "$work/events.jsonl"

"$bin/bench-sink" --port-file "$work/port" > "$work/sink.json" &
sink=$!
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
cs="Endpoint=sb://127.0.0.1:$port/;SharedAccessKeyName=send;SharedAccessKey=k;EntityPath=events;UseDevelopmentEmulator=true"

/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
  "$bin/hubcap-agent" ship -b "$work/buf" --once -q -s "$cs" --max-batch-bytes 1M
read -r wall user sys rss < "$work/time"
shipped=$("$bin/hubcap-agent" status -b "$work/buf" --json |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["shipped"])')
kill "$sink"; wait "$sink" 2>/dev/null || true; sink=
/usr/bin/python3 - "$n" "$shipped" "$wall" "$user" "$sys" "$rss" <<'PY'
import json, sys
n, shipped = int(sys.argv[1]), int(sys.argv[2])
wall, user, sys_, rss = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(json.dumps({"bench": "ship", "events": n, "shipped": shipped, "event_bytes": 300,
                  "batch_bytes": 1048576, "seconds": wall,
                  "eps": round(shipped / wall) if wall else None,
                  "cpu_s_per_million": round((user + sys_) / (n / 1e6), 3),
                  "peak_rss_kb": rss, "target_eps": 100000, "target_rss_kb": 8192}))
PY
