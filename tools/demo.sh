#!/usr/bin/env bash
# tools/demo.sh - hubcap in one command: install what is missing, build, then generate
# realistic events into a durable buffer, enqueue a CSV with a bad row, watch an arrival folder,
# start a local hubcap-receiver (an Event Hubs stand-in), ship everything to it, and show the
# buffer's status, the receiver's metrics and its Capture Avro files. Everything lives in a temp
# folder that is removed at the end (set HUBCAP_DEMO_KEEP=1 to keep it); nothing it started is
# left running.
#   tools/demo.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/deps.sh
build=${HUBCAP_BUILD:-$top/build}
echo "== building into $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
agent="$build/bin/hubcap-agent"
receiver="$build/bin/hubcap-receiver"

work=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-demo.XXXXXX")
watcher=
rx=
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null
  [ -n "$rx" ] && kill "$rx" 2>/dev/null && wait "$rx" 2>/dev/null
  if [ "${HUBCAP_DEMO_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
buf="$work/buffer"

echo
echo "== 1. generate 50,000 events (orders, parcels, cars; 1% late, 0.5% duplicates) into $buf"
"$agent" generate -b "$buf" --seed 7 --count 50000 --late 0.01 --duplicate 0.005 \
  --device-id demo-pi-01

echo
echo "== 2. two of them, as JSON Lines"
"$agent" generate --seed 7 --count 2 --start 2026-11-22T00:00:00Z -q --device-id demo-pi-01

echo
echo "== 3. enqueue a UCI Online Retail CSV with one bad row"
cat > "$work/online_retail.csv" <<'CSV'
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536366,22633,"HAND WARMER UNION JACK, ""RED""",6,12/1/2010 8:28,1.85,,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,lots,12/1/2010 8:34,1.69,13047,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom
CSV
"$agent" enqueue -b "$buf" --device-id demo-pi-01 "$work/online_retail.csv" || true
echo "rejects file:"
sed 's/^/  /' "$work/online_retail.csv.rejects"
echo "enqueue the same file again (it is not stored twice):"
"$agent" enqueue -b "$buf" --device-id demo-pi-01 "$work/online_retail.csv"

echo
echo "== 4. watch an arrival folder; a file dropped in is enqueued, then archived"
mkdir -p "$work/inbox"
"$agent" watch -b "$buf" --device-id demo-pi-01 "$work/inbox" &
watcher=$!
"$agent" generate --seed 8 --count 1000 -q --device-id demo-pi-02 > "$work/drop.jsonl.tmp"
mv "$work/drop.jsonl.tmp" "$work/inbox/drop.jsonl"
for _ in $(seq 1 50); do [ -e "$work/inbox/archive/drop.jsonl" ] && break; sleep 0.1; done
kill "$watcher"; wait "$watcher" 2>/dev/null || true; watcher=
ls "$work/inbox/archive" | sed 's/^/  archived: /'

echo
echo "== 5. status before shipping"
"$agent" status -b "$buf"

echo
echo "== 6. start hubcap-receiver (Event Hubs stand-in, loopback only) and ship everything to it"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$receiver" serve --listen "127.0.0.1:$port" --capture "$work/capture" > "$work/rx.out" 2> "$work/rx.err" &
rx=$!
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$work/rx.out" 2>/dev/null && break; sleep 0.1; done
cs=$(grep '^Endpoint=' "$work/rx.out")
echo "connection string: $cs"
"$agent" ship -b "$buf" --once -s "$cs"

echo
echo "== 7. status after shipping"
"$agent" status -b "$buf" --json
echo
echo "receiver metrics:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^hubcap_receiver_(requests_total\{code="201"\}|events_total|open_capture_files)' | sed 's/^/  /'
kill -TERM "$rx"; wait "$rx" 2>/dev/null || true; rx=
echo "capture files (Event Hubs Capture Avro, closed on SIGTERM):"
(cd "$work/capture" && find . -name '*.avro' | sort | sed 's/^/  /')
echo
echo "Done."
