#!/usr/bin/env bash
# tools/demo.sh - hubcap in one command. Installs what is missing, builds, starts a private
# PostgreSQL and a hubcap-receiver (the Event Hubs stand-in) that lands what it receives into
# bronze and promotes it to silver and gold as it comes, runs a fleet of 50 simulated devices
# for about a minute (with offline devices, late, duplicate and malformed events), shows one
# agent enqueueing a CSV with a bad row, then prints the gold tables and the dashboard's address.
# On a terminal it keeps the receiver and the dashboard up until Ctrl-C; with --no-wait (or
# without a terminal) it stops by itself after printing. Nothing it started is left running;
# its files live in a temp folder removed at the end (HUBCAP_DEMO_KEEP=1 keeps it).
#   tools/demo.sh [--no-wait] [--devices N] [--duration SECONDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

wait_at_end=1
[ -t 0 ] && [ -t 1 ] || wait_at_end=0
devices=50
duration=60
while [ $# -gt 0 ]; do
  case "$1" in
    --no-wait) wait_at_end=0 ;;
    --devices) devices=$2; shift ;;
    --duration) duration=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

bash tools/deps.sh
build=${HUBCAP_BUILD:-$top/build}
echo "== building into $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j "$(nproc 2> /dev/null || echo 2)" > /dev/null
agent="$build/bin/hubcap-agent"
receiver="$build/bin/hubcap-receiver"
fleet="$build/bin/hubcap-fleet"

# what tests/lib/pg.sh needs: a folder, python, fail and cleanup hooks
T=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-demo.XXXXXX")
PY=/usr/bin/python3
hc_cleanup_hooks=()
fail() { echo "demo: $*" >&2; exit 1; }
rx=
fleet_pid=
cleanup() {
  trap - EXIT INT TERM
  [ -n "$fleet_pid" ] && kill "$fleet_pid" 2> /dev/null && wait "$fleet_pid" 2> /dev/null
  [ -n "$rx" ] && kill -TERM "$rx" 2> /dev/null && wait "$rx" 2> /dev/null
  local h
  for h in "${hc_cleanup_hooks[@]+"${hc_cleanup_hooks[@]}"}"; do eval "$h" || true; done
  if [ "${HUBCAP_DEMO_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
  echo "demo: stopped (PostgreSQL, receiver and fleet)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
source "$top/tests/lib/pg.sh"

echo
echo "== 1. a private PostgreSQL under $T/pg (Unix socket only)"
pg_start

echo
echo "== 2. hubcap-receiver: Event Hubs REST on loopback, Capture Avro files, the lake"
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$receiver" serve --listen "127.0.0.1:$port" --capture "$T/capture" --window 2s --pg "" \
  > "$T/rx.out" 2> "$T/rx.log" &
rx=$!
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$T/rx.out" 2> /dev/null && break; sleep 0.1; done
grep -q '^Endpoint=' "$T/rx.out" || { cat "$T/rx.log" >&2; fail "the receiver did not start"; }
sed 's/^/  /' "$T/rx.out"
cs=$(grep '^Endpoint=' "$T/rx.out")
url="http://127.0.0.1:$port"

echo
echo "== 3. a fleet of $devices devices for ${duration}s, a whole simulated day of shops, parcel"
echo "      depots and car dealers ending now: some devices go offline, 1% of events late,"
echo "      0.5% duplicated, 0.5% malformed"
"$fleet" --devices "$devices" --duration "$duration" --day-length "$duration" --rate 300 \
  --connection-string "$cs" --pg "" \
  --dir "$T/fleet" --late 0.01 --duplicate 0.005 --malformed 0.005 --offline 0.1 \
  --json > "$T/fleet.json" &
fleet_pid=$!
wait "$fleet_pid" || true
fleet_pid=
"$PY" - "$T/fleet.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  reconciliation against silver by event_id:")
for k in ("generated", "shipped", "missing", "duplicated"):
    if k in r:
        print("    %-11s %s" % (k, r[k]))
print("    quarantined " + (", ".join("%s %d" % kv for kv in sorted(r.get("quarantined", {}).items())) or "0"))
PY

echo
echo "== 4. one more agent enqueues a UCI Online Retail CSV with one bad row, and ships it"
d=$(date -u +%-m/%-d/%Y\ %-H:%M) # the data set's own date format, today
cat > "$T/online_retail.csv" <<CSV
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,$d,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,$d,3.39,17850,United Kingdom
536366,22633,"HAND WARMER UNION JACK, ""RED""",6,$d,1.85,,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,lots,$d,1.69,13047,United Kingdom
C536379,D,Discount,-1,$d,27.5,14527,United Kingdom
CSV
"$agent" enqueue -b "$T/csv-agent" --device-id demo-csv-01 "$T/online_retail.csv" || true
echo "  rejected rows (kept beside the file, the rest is stored):"
sed 's/^/    /' "$T/online_retail.csv.rejects"
"$agent" ship -b "$T/csv-agent" --once -q -s "$cs" && echo "  shipped"
for _ in $(seq 1 50); do
  [ "$(psql -X -A -t -c "SELECT count(*) FROM silver.order_line WHERE device_id = 'demo-csv-01'")" -ge 4 ] && break
  sleep 0.2
done

echo
echo "== 5. gold (PostgreSQL, as the receiver promoted it)"
q() {
  echo
  echo "-- $1"
  psql -X -q -P pager=off -P footer=off -c "$2" | sed 's/^/  /'
}
q "total sales" "SELECT round(sum(sales), 2) AS total_sales, sum(lines) AS lines,
   (SELECT count(*) FROM gold.customer_summary) AS customers FROM gold.sales_by_window WHERE grain = 'day'"
q "sales per hour (the last 8)" "SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS hour_utc,
   round(sales, 2) AS sales, lines, invoices, CASE WHEN window_end <= (SELECT watermark FROM gold.watermark) THEN 'final' ELSE 'open' END AS state
   FROM gold.sales_by_window WHERE grain = 'hour' ORDER BY window_start DESC LIMIT 8"
q "top products" "SELECT rank, stock_code, description, quantity, round(revenue, 2) AS revenue FROM gold.top_products ORDER BY rank"
q "loyal customers (the 10 who spent most)" "SELECT customer_id, round(spend, 2) AS spend, orders, returned_lines,
   to_char(last_order AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS last_order_utc
   FROM gold.customer_summary WHERE loyal ORDER BY spend DESC LIMIT 10"
q "cancellations and returns" "SELECT invoices, cancelled_invoices, round(cancelled_value, 2) AS cancelled_value,
   returned_lines, round(returned_value, 2) AS returned_value, round(cancellation_rate * 100, 2) AS cancel_pct FROM gold.cancellations_returns"
q "parcel statuses" "SELECT status, count(*) AS parcels FROM gold.order_tracking GROUP BY status ORDER BY parcels DESC"
q "used-car turnover (most listed models)" "SELECT make, model, listings, removed, round(avg_days_listed, 1) AS avg_days_listed,
   round(avg_price, 2) AS avg_price FROM gold.car_turnover ORDER BY listings DESC, make, model LIMIT 10"
q "pipeline" "SELECT name, coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',
   CASE WHEN name LIKE '%seconds' THEN round(value, 1)::text ELSE round(value)::text END) AS value
   FROM gold.pipeline_metrics ORDER BY name"
q "freshness: from the hub to gold (the last 5 promoted batches)" "SELECT to_char(at AT TIME ZONE 'UTC', 'HH24:MI:SS') AS promoted_utc,
   events, round(extract(epoch FROM at - first_enqueued)::numeric, 1) AS oldest_s,
   round(extract(epoch FROM at - last_enqueued)::numeric, 1) AS newest_s FROM lake.freshness ORDER BY at DESC LIMIT 5"

echo
echo "== 6. the dashboard: $url/   (JSON API: $url/api/v1/sales?grain=hour, $url/api/v1/pipeline)"
if [ "$wait_at_end" = 1 ]; then
  echo "   the receiver keeps running; press Ctrl-C to stop everything"
  while kill -0 "$rx" 2> /dev/null; do sleep 1; done
  fail "the receiver stopped: $(tail -3 "$T/rx.log")"
fi
echo
echo "Done."
