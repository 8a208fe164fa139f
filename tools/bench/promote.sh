#!/usr/bin/env bash
# tools/bench/promote.sh - silver and gold promotion rate: generated events (a realistic mix with
# late, out-of-order, duplicate and malformed ones) shipped to a development-mode receiver,
# landed, then `hubcap-receiver promote` timed; also a promote with nothing new, some small
# incremental calls, and `rebuild` (which must give the same gold). For scale, the same run times
# PostgreSQL inserting promotion's output alone: the silver rows, already typed, INSERTed into
# copies of the silver tables (same indexes), with nothing checked and no gold: silver_insert_eps
# is a ceiling no promotion on this server can pass. Prints one JSON line; target: 100000
# events/s.
#   tools/bench/promote.sh         EVENTS (default 500000) and the knobs of lake_data.sh;
#                                  PG_SHARED_BUFFERS (the private server's, default 64MB)
source "$(dirname "$0")/lake_data.sh"
EVENTS=${EVENTS:-500000}
pg_start
lake_capture "$EVENTS"
"$RX" land --capture "$CAP" -q > "$T/land.out" || fail "land failed: $(cat "$T/land.out")"
events=$(pg_sql 'SELECT count(*) FROM bronze.event')
files=$(pg_sql 'SELECT count(*) FROM bronze.capture_file')
pg_sql "VACUUM ANALYZE" > /dev/null
pg_sql "CHECKPOINT" > /dev/null # landing's writes are not promotion's

t0=$(now_s)
"$RX" promote -q || fail "promote failed"
t1=$(now_s)
"$RX" promote -q || fail "promote (nothing new) failed"
t2=$(now_s)
snap() {
  pg_sql "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
      SELECT 'w' || s::text AS x FROM gold.sales_by_window s UNION ALL
      SELECT 't' || s::text FROM gold.order_tracking s UNION ALL
      SELECT 'p' || s::text FROM gold.top_products s UNION ALL
      SELECT 'c' || s::text FROM gold.customer_summary s UNION ALL
      SELECT 'r' || s::text FROM gold.cancellations_returns s UNION ALL
      SELECT 'v' || s::text FROM gold.car_turnover s UNION ALL
      SELECT 'q' || rule || count(*) FROM silver.quarantine GROUP BY rule) u"
}
gold1=$(snap)
t3=$(now_s)
"$RX" rebuild -q || fail "rebuild failed"
t4=$(now_s)
gold2=$(snap)
metrics=$(pg_sql "SELECT json_object_agg(name, value) FROM gold.pipeline_metrics")
for k in order_line order_status car_listing; do
  pg_sql "CREATE TABLE public.$k (LIKE silver.$k INCLUDING ALL)" > /dev/null
done
pg_sql "CHECKPOINT" > /dev/null
t5=$(now_s)
pg_sql "INSERT INTO public.order_line SELECT * FROM silver.order_line;
        INSERT INTO public.order_status SELECT * FROM silver.order_status;
        INSERT INTO public.car_listing SELECT * FROM silver.car_listing" > /dev/null
t6=$(now_s)

"$PY" - "$events" "$files" "$t0" "$t1" "$t2" "$t3" "$t4" "$gold1" "$gold2" "$metrics" "$t5" "$t6" <<'PY'
import json, os, sys
events, files = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3, t4 = map(float, sys.argv[3:8])
t5, t6 = map(float, sys.argv[11:13])
m = json.loads(sys.argv[10])
eps = events / (t1 - t0)
print(json.dumps({
    "bench": "promote", "events": events, "files": files,
    "silver": int(m["silver_order_line"] + m["silver_order_status"] + m["silver_car_listing"]),
    "quarantined": int(sum(v for k, v in m.items() if k.startswith("quarantine_"))),
    "promote_s": round(t1 - t0, 2), "promote_eps": round(eps),
    "empty_promote_ms": round((t2 - t1) * 1000, 1),
    "rebuild_s": round(t4 - t3, 2), "rebuild_eps": round(events / (t4 - t3)),
    "rebuild_equal": sys.argv[8] == sys.argv[9],
    "silver_insert_s": round(t6 - t5, 2), "silver_insert_eps": round(events / (t6 - t5)),
    "shared_buffers": os.environ.get("PG_SHARED_BUFFERS", "64MB"), "target_eps": 100000, "ok": eps >= 100000 and sys.argv[8] == sys.argv[9]}))
PY
