#!/usr/bin/env bash
# The lake end to end: agents ship generated events (fixed seeds, with late, out-of-order,
# duplicate and malformed ones) to a real hubcap-receiver, which writes Capture files with the
# null codec, then (restarted) with deflate; `land` loads them into a private PostgreSQL,
# `promote` fills silver and gold. The expected figures are computed here, in Python, from the
# events the agents buffered (`hubcap-agent dump`), independently of the SQL; then `rebuild`
# must give the same gold, and landing again must land nothing.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
pg_start

START=2026-11-22T00:00:00Z
GEN=(--start "$START" --late 0.05 --duplicate 0.03 --malformed 0.05 --out-of-order 0.05 -q)
CAP="$T/cap"

# ship_device N SEED CODEC: generate into a buffer, ship to a receiver writing CODEC files
ship_device() {
  local n=$1 seed=$2 codec=$3
  rx_start --capture "$CAP" --codec "$codec" --window-bytes 256K
  "$AGENT" generate -b "$T/buf$n" --count 8000 --seed "$seed" --device-id "lake-pi-0$n" "${GEN[@]}"
  local cs
  cs=$(grep '^Endpoint=' "$RX_OUT")
  "$AGENT" ship -b "$T/buf$n" --once -q -s "$cs" --max-batch-events 400 ||
    fail "agent $n did not ship everything"
  rx_stop
  "$AGENT" dump -b "$T/buf$n" >> "$T/events.jsonl"
}

land() { "$RX" land --capture "$CAP" "$@"; }

# The promotions below write silver on a second connection while the first updates gold, as
# large batches do (promote_split_events: 20000 by default); rebuild does both on one, and must
# agree.
split_all() {
  pg_sql "UPDATE lake.config SET value = '1' WHERE key = 'promote_split_events'" > /dev/null
}

ship_device 1 11 null
land > "$T/land1.out" || fail "land failed: $(cat "$T/land1.out")"
split_all
"$RX" promote -q || fail "promote failed"
ship_device 2 12 deflate
land > "$T/land2.out" || fail "land failed: $(cat "$T/land2.out")"
land > "$T/land3.out" || fail "land (again) failed"
grep -q ' 0 landed' "$T/land3.out" || fail "landing again landed files: $(cat "$T/land3.out")"
"$RX" promote -q || fail "promote failed"
ok "two receivers' capture files (null and deflate codecs) landed and promoted in two rounds"

nfiles=$(find "$CAP" -name '*.avro' | wc -l)
[ "$(pg_sql 'SELECT count(*) FROM bronze.capture_file')" -eq "$nfiles" ] ||
  fail "bronze.capture_file has not one row per capture file ($nfiles files)"
[ "$(pg_sql 'SELECT count(*) FROM bronze.event')" -eq "$(wc -l < "$T/events.jsonl")" ] ||
  fail "bronze.event does not hold every shipped event once"
[ "$(pg_sql 'SELECT count(*) FROM (SELECT path FROM bronze.capture_file GROUP BY path HAVING count(*) > 1) d')" -eq 0 ] ||
  fail "a capture file landed twice"
ok "$nfiles capture files, each once in bronze; every shipped event in bronze"

# what gold says, as JSON
gold() {
  pg_sql "SELECT json_build_object(
    'silver', (SELECT json_build_object('order_line', (SELECT count(*) FROM silver.order_line),
               'order_status', (SELECT count(*) FROM silver.order_status),
               'car_listing', (SELECT count(*) FROM silver.car_listing))),
    'silver_ids', (SELECT json_build_array(count(*), count(DISTINCT event_id)) FROM
                   (SELECT event_id FROM silver.order_line UNION ALL SELECT event_id FROM silver.order_status
                    UNION ALL SELECT event_id FROM silver.car_listing) u),
    'quarantine', (SELECT coalesce(json_object_agg(rule, n ORDER BY rule), '{}') FROM
                   (SELECT rule, count(*) n FROM silver.quarantine GROUP BY rule) q),
    'total_sales', (SELECT sum(sales)::text FROM gold.sales_by_window WHERE grain = 'day'),
    'hour_sales', (SELECT json_object_agg(to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), sales::text ORDER BY window_start)
                   FROM gold.sales_by_window WHERE grain = 'hour'),
    'minute_windows', (SELECT count(*) FROM gold.sales_by_window WHERE grain = 'minute'),
    'top', (SELECT json_agg(json_build_array(stock_code, revenue::text) ORDER BY rank) FROM gold.top_products),
    'canc', (SELECT row_to_json(c) FROM (SELECT invoices, cancelled_invoices, cancelled_lines,
             cancelled_value::text, returned_lines, returned_value::text FROM gold.cancellations_returns) c),
    'tracking', (SELECT json_object_agg(tracking_num, status ORDER BY tracking_num) FROM gold.order_tracking),
    'cars', (SELECT json_object_agg(make || '/' || model, json_build_array(listings, removed,
             avg_days_listed, avg_price) ORDER BY make, model) FROM gold.car_turnover),
    'customers', (SELECT json_build_array(count(*), count(*) FILTER (WHERE loyal), sum(spend)::text,
                  sum(orders)) FROM gold.customer_summary))"
}
gold > "$T/gold.json"
windows() { pg_sql "SELECT grain, window_start, sales, lines, invoices, revision, late_events FROM gold.sales_by_window ORDER BY 1, 2"; }
windows > "$T/windows1"

"$PY" - "$T/events.jsonl" "$T/gold.json" <<'PY'
import datetime, json, os, sys
from decimal import Decimal

sys.path.insert(0, os.path.join(os.environ["HC_SRC"], "tests", "lib"))
from lake_expect import LOYAL_DAYS, LOYAL_N, NON_PRODUCT, Lake, ts

lake = Lake(open(sys.argv[1]))
quarantine, silver = lake.quarantine, lake.silver

gold = json.loads(open(sys.argv[2]).read())
bad = []


def check(name, want, got):
    if want != got:
        bad.append(f"{name}: expected {want!r}, gold has {got!r}")


check("silver counts", {k: len(v) for k, v in silver.items()}, gold["silver"])
n = sum(len(v) for v in silver.values())
check("silver event_ids once", [n, n], gold["silver_ids"])
check("quarantine by rule", quarantine, gold["quarantine"])
assert quarantine.get("too_late", 0) > 0 and len(quarantine) >= 6, quarantine

lines = [(e, e["data"]) for e in silver["order_line"]]
val = lambda d: d["quantity"] * d["unit_price"]
check("total sales", sum(val(d) for e, d in lines), Decimal(gold["total_sales"]))
hours = {}
for e, d in lines:
    h = ts(e["event_time"]).astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H")
    hours[h] = hours.get(h, Decimal(0)) + val(d)
check("sales by hour", hours, {k: Decimal(v) for k, v in gold["hour_sales"].items()})

prod = {}
for e, d in lines:
    if d["invoice_no"].startswith("C") or d["stock_code"] in NON_PRODUCT or d["stock_code"].lower().startswith("gift_"):
        continue
    prod[d["stock_code"]] = prod.get(d["stock_code"], Decimal(0)) + val(d)
top = sorted(prod.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
check("top products", top, [(c, Decimal(r)) for c, r in gold["top"]])

canc = [d for e, d in lines if d["invoice_no"].startswith("C")]
rets = [d for e, d in lines if not d["invoice_no"].startswith("C") and d["quantity"] < 0]
check("cancellations and returns", {
    "invoices": len({d["invoice_no"] for e, d in lines if not d["invoice_no"].startswith("C")}),
    "cancelled_invoices": len({d["invoice_no"] for d in canc}), "cancelled_lines": len(canc),
    "cancelled_value": -sum((val(d) for d in canc), Decimal(0)),
    "returned_lines": len(rets), "returned_value": -sum((val(d) for d in rets), Decimal(0))},
    {k: (Decimal(v) if k.endswith("value") else v) for k, v in gold["canc"].items()})
assert canc and rets, "the data set has no cancellations or returns"

track = {}
for e in silver["order_status"]:
    d = e["data"]
    key = (ts(d["status_time"]), e["event_id"])
    if d["tracking_num"] not in track or key > track[d["tracking_num"]][0]:
        track[d["tracking_num"]] = (key, d["status"])
check("order tracking", {k: v[1] for k, v in track.items()}, gold["tracking"])

latest = {}
for e in silver["car_listing"]:
    d = e["data"]
    key = (ts(e["event_time"]), e["event_id"])
    if d["listing_id"] not in latest or key > latest[d["listing_id"]][0]:
        latest[d["listing_id"]] = (key, d)
cars = {}
for key, d in latest.values():
    c = cars.setdefault(d["make"] + "/" + d["model"], [0, 0, [], []])
    c[0] += 1
    c[3].append(d["price"])
    if d["action"] in ("sold", "removed") and d.get("date_removed"):
        c[1] += 1
        c[2].append((ts(d["date_removed"]) - ts(d["date_listed"])).total_seconds() / 86400)
for k, (listings, removed, days, prices) in cars.items():
    g = gold["cars"].get(k)
    if g is None or g[0] != listings or g[1] != removed or \
            abs(Decimal(g[3]) - sum(prices) / len(prices)) > Decimal("0.001") or \
            (days and abs(g[2] - sum(days) / len(days)) > 1e-6) or (not days and g[2] is not None):
        bad.append(f"car turnover {k}: expected {[listings, removed, days and sum(days) / len(days), sum(prices) / len(prices)]}, gold has {g}")
check("car models", len(cars), len(gold["cars"]))
assert any(c[1] for c in cars.values()), "no car was sold or removed"

inv = {}
spend = Decimal(0)
for e, d in lines:
    if d.get("customer_id") is None:
        continue
    spend += val(d)
    if not d["invoice_no"].startswith("C"):
        t = ts(d["invoice_date"])
        per = inv.setdefault(d["customer_id"], {})
        per[d["invoice_no"]] = min(per.get(d["invoice_no"], t), t)
customers = {d["customer_id"] for e, d in lines if d.get("customer_id") is not None}
loyal = 0
for c, per in inv.items():
    t = sorted(per.values())
    loyal += any(t[i + LOYAL_N - 1] - t[i] <= LOYAL_DAYS for i in range(len(t) - LOYAL_N + 1))
check("customers", [len(customers), loyal, spend, sum(len(p) for p in inv.values())],
      [gold["customers"][0], gold["customers"][1], Decimal(gold["customers"][2]), gold["customers"][3]])

if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"{sum(map(len, silver.values())) + sum(quarantine.values())} distinct events: silver {gold['silver']}, quarantine {quarantine}, "
      f"total sales {gold['total_sales']}, {len(track)} parcels, {len(cars)} car models")
PY
[ $? -eq 0 ] || fail "gold differs from the figures computed from the generated events"
ok "silver and gold match the figures computed independently from the generated events"

"$RX" rebuild -q || fail "rebuild failed"
gold > "$T/gold2.json"
"$PY" -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
d = [k for k in a if a[k] != b[k]]
sys.exit("gold after rebuild differs in " + ", ".join(d) if d else 0)' "$T/gold.json" "$T/gold2.json" ||
  fail "rebuild did not reproduce gold"
cmp -s "$T/windows1" <(windows) || fail "rebuild did not reproduce the sales windows and their revisions"
[ "$(pg_sql 'SELECT count(*) FROM gold.sales_by_window WHERE late_events > 0')" -gt 0 ] ||
  fail "no window took a late event"
ok "rebuild recomputes the same gold from bronze"

# Batching must not change a decision: one bronze file per transaction (many small promotions,
# each with its own watermark step) gives the same silver, quarantine, gold and window revisions
# as the large batches above.
pg_sql "UPDATE lake.config SET value = '1' WHERE key = 'promote_batch_events'" > /dev/null
pg_sql "SELECT lake.reset()" > /dev/null
"$RX" promote -q || fail "promote one file at a time failed"
[ "$(pg_sql 'SELECT last_file_id = (SELECT max(file_id) FROM bronze.capture_file) FROM lake.checkpoint')" = t ] ||
  fail "promotion one file at a time did not reach the last file"
gold > "$T/gold3.json"
"$PY" -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
d = [k for k in a if a[k] != b[k]]
sys.exit("gold promoted one file at a time differs in " + ", ".join(d) if d else 0)' "$T/gold.json" "$T/gold3.json" ||
  fail "promoting one file per transaction gave another gold"
cmp -s "$T/windows1" <(windows) || fail "one file per transaction gave other sales windows or revisions"
[ "$(pg_sql 'SELECT count(*) FROM gold.sales_by_window WHERE revision > 0')" -gt 0 ] ||
  fail "no window was revised: the late-event path is not exercised"
"$RX" promote -q || fail "promote with nothing new failed"
cmp -s "$T/windows1" <(windows) || fail "a promote with nothing new changed gold"
ok "one file per transaction ($nfiles promotions) gives the same gold as large batches and rebuild"

# gold.pipeline_metrics as a user reads it: times as times, lag as a number (0: all promoted).
m=$(pg_sql "SELECT string_agg(name || '=' || coalesce(value::text, '') || '@' || coalesce(at::text, ''), ' ' ORDER BY name)
            FROM gold.pipeline_metrics WHERE name IN ('watermark', 'max_event_time', 'promote_lag_seconds')")
[ "$(pg_sql "SELECT (SELECT at FROM gold.pipeline_metrics WHERE name = 'watermark') = watermark FROM gold.watermark")" = t ] ||
  fail "pipeline_metrics: the watermark is not the watermark's time: $m"
[ "$(pg_sql "SELECT value FROM gold.pipeline_metrics WHERE name = 'promote_lag_seconds'")" = 0.000 ] ||
  fail "pipeline_metrics: promote_lag_seconds is not 0 with every file promoted: $m"
ok "pipeline_metrics: $m"

# lake.freshness: a row per promoted batch, its events enqueued before gold had them.
[ "$(pg_sql "SELECT count(*) > 0 AND bool_and(first_enqueued <= last_enqueued AND last_enqueued <= at)
             FROM lake.freshness")" = t ] ||
  fail "lake.freshness: no batch, or enqueue times after the promotion: $(pg_sql 'SELECT * FROM lake.freshness LIMIT 3')"
[ "$(pg_sql "SELECT count(*) FROM bronze.capture_file WHERE events > 0 AND first_enqueued IS NULL")" = 0 ] ||
  fail "bronze.capture_file: a landed file without its enqueue times"
ok "lake.freshness: $(pg_sql 'SELECT count(*) FROM lake.freshness') batches, each enqueued before its gold"
