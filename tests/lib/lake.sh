# tests/lib/lake.sh - sourced after tests/lib/common.sh, pg.sh and tests/lib/receiver.sh:
# checks of the lake that several tests make.

# Every silver event_id, one a row (an event_id twice here is a duplicate in silver).
LAKE_SILVER_IDS="SELECT event_id FROM silver.order_line UNION ALL SELECT event_id FROM silver.order_status UNION ALL SELECT event_id FROM silver.car_listing"

# lake_gold_snap: the gold tables (and the quarantine by rule) as sorted text.
lake_gold_snap() {
  pg_sql "SELECT 'w', grain, window_start, sales, lines, invoices, revision, late_events FROM gold.sales_by_window ORDER BY 2, 3"
  pg_sql "SELECT 't', * FROM gold.order_tracking ORDER BY tracking_num"
  pg_sql "SELECT 'p', * FROM gold.top_products ORDER BY rank"
  pg_sql "SELECT 'c', * FROM gold.customer_summary ORDER BY customer_id"
  pg_sql "SELECT 'r', * FROM gold.cancellations_returns"
  pg_sql "SELECT 'v', * FROM gold.car_turnover ORDER BY make, model"
  pg_sql "SELECT 'q', rule, count(*) FROM silver.quarantine GROUP BY rule ORDER BY rule"
}

# lake_gold_equals_rebuild WHO: gold as it is now equals gold recomputed from bronze by
# `hubcap-receiver rebuild` (nothing may promote meanwhile). WHO names what kept it, for the
# failure message.
lake_gold_equals_rebuild() {
  lake_gold_snap > "$T/gold1"
  "$RX" rebuild -q || fail "rebuild failed"
  lake_gold_snap > "$T/gold2"
  cmp -s "$T/gold1" "$T/gold2" ||
    fail "gold kept by $1 differs from a rebuild: $(diff "$T/gold1" "$T/gold2" | head -8)"
}

# lake_landed_once CAP: every closed capture file under CAP is once in bronze (a `land` now finds
# nothing new) and every landed file is promoted. Prints the number of files.
lake_landed_once() {
  local nfiles nrows
  nfiles=$(find "$1" -name '*.avro' | wc -l)
  nrows=$(pg_sql 'SELECT count(*) FROM bronze.capture_file')
  [ "$nrows" -eq "$nfiles" ] || fail "bronze.capture_file has $nrows rows for $nfiles capture files"
  "$RX" land --capture "$1" > "$T/land.out" 2>&1 || fail "land failed: $(cat "$T/land.out")"
  grep -q ' 0 landed' "$T/land.out" || fail "serve left files unlanded: $(cat "$T/land.out")"
  [ "$(pg_sql 'SELECT last_file_id = (SELECT max(file_id) FROM bronze.capture_file) FROM lake.checkpoint')" = t ] ||
    fail "serve did not promote every landed file"
  echo "$nfiles"
}
