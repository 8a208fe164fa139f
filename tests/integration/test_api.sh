#!/usr/bin/env bash
# The read-only JSON API of `hubcap-receiver serve --pg` (receiver/api/api.h): two agents ship
# generated events (fixed seeds, with late, out-of-order, duplicate and malformed ones); the
# receiver lands and promotes them by itself; then every endpoint is compared with the figures
# computed in Python from the events the agents buffered (tests/lib/lake_expect.py), not from
# SQL. Also: the 400s, 404s and 405, 503 while PostgreSQL is stopped and 200 once it is back, and
# 503 from a receiver without --pg.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"

# api PATH [CURL ARGS...]: the HTTP status; the body in $T/body
api() {
  local path=$1
  shift
  curl -s -o "$T/body" -w '%{http_code}' --max-time 30 "$@" "$RX_URL$path"
}
# expect STATUS PATH [CURL ARGS...]: the status must be STATUS and the body {"error": "..."}
# (for errors) or JSON (for 200)
expect() {
  local want=$1 path=$2 got
  shift 2
  got=$(api "$path" "$@")
  [ "$got" = "$want" ] || fail "$* $path: HTTP $got, expected $want: $(head -c 300 "$T/body")"
  if [ "$want" != 200 ]; then
    "$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert isinstance(e, str) and len(e) > 10' \
      "$T/body" || fail "$path: the $want body is not {\"error\": sentence}: $(cat "$T/body")"
  fi
}

# -- without --pg there is no lake: 503 and a sentence that says to use --pg
rx_start --capture "$T/cap0"
expect 503 /api/v1/sales
grep -q -- '--pg' "$T/body" || fail "the 503 without a lake does not tell to use --pg: $(cat "$T/body")"
rx_stop
ok "a receiver without --pg answers /api/v1/sales with 503 telling to start with --pg"

# -- the lake: PostgreSQL, a receiver with --pg, two devices' events
pg_start
CAP="$T/cap"
rx_start --capture "$CAP" --window 1s --pg '' --lake-interval 500ms
CS=$(grep '^Endpoint=' "$RX_OUT")
GEN=(--start 2026-11-22T00:00:00Z --late 0.05 --duplicate 0.03 --malformed 0.05 --out-of-order 0.05 -q)
for n in 1 2; do
  "$AGENT" generate -b "$T/buf$n" --count 4000 --seed "2$n" --device-id "api-pi-0$n" "${GEN[@]}"
  "$AGENT" ship -b "$T/buf$n" --once -q -s "$CS" --max-batch-events 300 ||
    fail "agent $n did not ship everything"
  "$AGENT" dump -b "$T/buf$n" >> "$T/events.jsonl"
done
nevents=$(wc -l < "$T/events.jsonl")

# wait until bronze holds every event and all of it is promoted, then for one more whole lake
# cycle (gold's whole-history tables are refreshed after promotion)
pipeline() { api /api/v1/pipeline > /dev/null && cat "$T/body"; }
# promoted N: print the lake's cycles when the last /pipeline body shows N events promoted
promoted() {
  "$PY" -c 'import json, sys
p = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
sys.exit(0 if p["bronze_events"] == n and p["promoted_events"] == n
         and p["promoted_files"] == p["bronze_files"] and not print(p["lake"]["cycles"]) else 1)' \
    "$T/body" "$1"
}
cycles=
for _ in $(seq 1 300); do
  [ "$(api /api/v1/pipeline)" = 200 ] && cycles=$(promoted "$nevents") && break
  sleep 0.2
done
[ -n "$cycles" ] || fail "the lake did not promote all $nevents events in 60 s: $(pipeline)"
for _ in $(seq 1 100); do
  api /api/v1/pipeline > /dev/null
  [ "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["lake"]["cycles"])' "$T/body")" -ge $((cycles + 2)) ] && break
  sleep 0.1
done
ok "serve landed and promoted all $nevents buffered events by itself"

# -- every endpoint against the figures computed from the buffered events
"$PY" - "$RX_URL" "$T/events.jsonl" "$HC_SRC/tests/lib" <<'PY' || fail "the API differs from the figures computed from the generated events"
import datetime, json, sys, urllib.request
from decimal import Decimal

sys.path.insert(0, sys.argv[3])
from lake_expect import Lake, ts

URL = sys.argv[1]
lake = Lake.load([sys.argv[2]])
bad = []


def get(path):
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        assert r.status == 200, (path, r.status)
        assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
        return json.loads(r.read(), parse_float=Decimal)


def check(name, want, got):
    if want != got:
        bad.append(f"{name}: expected {want!r}, the API has {got!r}")


def t(v):
    """An API time: RFC 3339 UTC ending in Z, as a datetime (None stays None)."""
    if v is None:
        return None
    assert isinstance(v, str) and v.endswith("Z"), v
    return ts(v)


def close(a, b, eps=Decimal("0.000001")):
    return a is None and b is None or a is not None and b is not None and \
        abs(Decimal(str(a)) - Decimal(str(b))) <= eps


# sales: every grain, the total, and a from/to range
for grain in ("minute", "hour", "day"):
    s = get(f"/api/v1/sales?grain={grain}")
    want = lake.sales_by(grain)
    check(f"{grain} windows", {k: v for k, v in sorted(want.items())},
          {t(w["start"]): [w["sales"], w["lines"], w["invoices"]] for w in s["windows"]})
    check(f"{grain} total sales", lake.total_sales(), s["total_sales"])
    check(f"{grain} echo", [grain, None, None], [s["grain"], s["from"], s["to"]])
    starts = [t(w["start"]) for w in s["windows"]]
    check(f"{grain} windows by start", sorted(starts), starts)
    wm = t(s["watermark"])
    for w in s["windows"]:
        check(f"{grain} window {w['start']} final", t(w["end"]) <= wm, w["final"])
    for w in s["windows"]:
        if not (type(w["revision"]) is int and type(w["late_events"]) is int and w["lines"] > 0):
            bad.append(f"{grain} window {w}: revision, late_events or lines wrong")
check("default grain", "hour", get("/api/v1/sales")["grain"])
hours = sorted(lake.sales_by("hour").items())
assert len(hours) >= 3, hours
lo, hi = hours[1][0], hours[-1][0]
s = get("/api/v1/sales?grain=hour&from=" + lo.strftime("%Y-%m-%dT%H:%M:%SZ") +
        "&to=" + hi.strftime("%Y-%m-%dT%H:%M:%SZ"))
check("hour sales from/to", [(k, v[0]) for k, v in hours[1:-1]],
      [(t(w["start"]), w["sales"]) for w in s["windows"]])
check("from/to echo", [lo, hi], [t(s["from"]), t(s["to"])])
check("total of a range", sum((v[0] for k, v in hours[1:-1]), Decimal(0)), s["total_sales"])

# top products
check("top products", [[i + 1, c, q, r, d] for i, (c, q, r, d) in enumerate(lake.top_products())],
      [[p["rank"], p["stock_code"], p["quantity"], p["revenue"], p["description"]]
       for p in get("/api/v1/top-products")["products"]])

# customers: the one with the most invoices, one with returns, one with a cancellation
cust = lake.customers()
picks = {max(cust, key=lambda c: (cust[c]["orders"], c))}
picks.add(min(c for c in cust if any(e["data"]["quantity"] < 0 and not e["data"]["invoice_no"].startswith("C")
                                     for e in lake.customer_lines(c))))
picks.add(min(c for c in cust if any(e["data"]["invoice_no"].startswith("C") for e in lake.customer_lines(c))))
picks.add(max(c for c in cust if cust[c]["loyal"]) if any(v["loyal"] for v in cust.values()) else min(cust))
for cid in sorted(picks):
    c = get(f"/api/v1/customers/{cid}")
    want = dict(cust[cid])
    got = dict(c, first_order=t(c["first_order"]), last_order=t(c["last_order"]))
    check(f"customer {cid}", want, got)
    o = get(f"/api/v1/customers/{cid}/orders?limit=1000")
    check(f"customer {cid} orders id", cid, o["customer_id"])
    want = {}
    for inv, v in lake.orders(cid).items():
        want[inv] = [v["invoice_date"], v["cancelled"], v["total"],
                     sorted((e["event_id"], e["data"]["stock_code"], e["data"].get("description"),
                             e["data"]["quantity"], e["data"]["unit_price"]) for e in v["lines"])]
    got = {x["invoice_no"]: [t(x["invoice_date"]), x["cancelled"], x["total"],
                             sorted((l["event_id"], l["stock_code"], l["description"], l["quantity"],
                                     l["unit_price"]) for l in x["lines"])] for x in o["orders"]}
    check(f"customer {cid} orders", want, got)
    keys = [(t(x["invoice_date"]), x["invoice_no"]) for x in o["orders"]]
    check(f"customer {cid} orders newest first", sorted(keys, reverse=True), keys)
    if len(keys) > 1:
        page = get(f"/api/v1/customers/{cid}/orders?limit=1&offset=1")["orders"]
        check(f"customer {cid} orders limit/offset", [keys[1][1]], [x["invoice_no"] for x in page])
    r = get(f"/api/v1/customers/{cid}/returns")
    check(f"customer {cid} returns",
          sorted((e["data"]["invoice_no"], ts(e["data"]["invoice_date"]), e["data"]["stock_code"],
                  e["data"]["quantity"], e["data"]["unit_price"],
                  -e["data"]["quantity"] * e["data"]["unit_price"],
                  e["data"]["invoice_no"].startswith("C")) for e in lake.returns(cid)),
          sorted((x["invoice_no"], t(x["invoice_date"]), x["stock_code"], x["quantity"],
                  x["unit_price"], x["value"], x["cancellation"]) for x in r["returns"]))
assert any(lake.returns(c) for c in picks)

# parcels: a few, among them ones with several statuses (the newest status_time wins)
track = lake.tracking()
multi = {}
for e in lake.silver["order_status"]:
    multi[e["data"]["tracking_num"]] = multi.get(e["data"]["tracking_num"], 0) + 1
nums = sorted(track, key=lambda n: (-multi[n], n))[:4] + sorted(track)[:2]
assert multi[nums[0]] > 1, "no parcel has more than one status"
for n in nums:
    d = track[n]
    p = get(f"/api/v1/tracking/{n}")
    check(f"parcel {n}", [n, d["order_id"], d["status"], ts(d["status_time"]),
                          ts(d.get("estimated_delivery")), d.get("carrier")],
          [p["tracking_num"], p["order_id"], p["status"], t(p["status_time"]),
           t(p["estimated_delivery"]), p["carrier"]])
statuses = {}
for d in track.values():
    statuses[d["status"]] = statuses.get(d["status"], 0) + 1
tr = get("/api/v1/tracking")
check("parcels", len(track), tr["parcels"])
check("parcels per status", statuses, {s["status"]: s["parcels"] for s in tr["statuses"]})

# cars
cars = lake.cars()
got = {(m["make"], m["model"]): m for m in get("/api/v1/cars/turnover")["models"]}
check("car models", sorted(cars), sorted(got))
for k, (n, removed, days, price) in cars.items():
    g = got.get(k)
    if g is None or [g["listings"], g["removed"]] != [n, removed] or \
            not close(g["avg_days_listed"], days) or not close(g["avg_price"], price):
        bad.append(f"car turnover {k}: expected {[n, removed, days, price]}, the API has {g}")
assert any(v[1] for v in cars.values()), "no car was sold or removed"

# cancellations and returns
check("cancellations", lake.cancellations(), get("/api/v1/cancellations"))

# pipeline
p = get("/api/v1/pipeline")
check("bronze events", lake.records, p["bronze_events"])
check("silver counts", {k: len(v) for k, v in lake.silver.items()}, p["silver"])
check("quarantine by rule", lake.quarantine, p["quarantine"])
check("quarantined", sum(lake.quarantine.values()), p["quarantined"])
check("max event time", lake.max_event_time, t(p["max_event_time"]))
check("watermark", lake.max_event_time - datetime.timedelta(minutes=5), t(p["watermark"]))
check("promote lag", 0, p["promote_lag_seconds"])
lag = (datetime.datetime.now(datetime.timezone.utc) - lake.max_event_time).total_seconds()
if abs(float(p["lag_seconds"]) - lag) > 60:
    bad.append(f"lag_seconds {p['lag_seconds']}, expected about {lag}")
lk = p["lake"]
check("lake connected", True, lk["connected"])
assert lk["cycles"] >= 1 and t(lk["last_cycle"]) is not None, lk
assert lake.quarantine.get("too_late") and len(lake.quarantine) >= 5, lake.quarantine

if bad:
    print("\n".join(bad[:40]), file=sys.stderr)
    sys.exit(1)
print(f"{lake.records} records: total sales {lake.total_sales()}, customers {sorted(picks)}, "
      f"parcels {nums[:3]}, {len(cars)} car models, quarantine {lake.quarantine}")
PY
ok "every endpoint matches the figures computed independently from the generated events"

# a customer id of the data set
id=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); from lake_expect import Lake
print(min(Lake.load([sys.argv[2]]).customers()))' "$HC_SRC/tests/lib" "$T/events.jsonl")

# -- many requests at once share the pool
pids=()
for i in $(seq 1 24); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$RX_URL/api/v1/customers/$id/orders" >> "$T/par" &
  pids+=($!)
done
wait "${pids[@]}"
[ "$(grep -c '^200$' "$T/par")" -eq 24 ] || fail "parallel requests failed: $(sort "$T/par" | uniq -c)"
ok "24 requests at once all answered 200"

# -- HEAD, 400s, 404s, 405
[ "$(api /api/v1/top-products -I)" = 200 ] || fail "HEAD /api/v1/top-products is not 200"
expect 400 "/api/v1/sales?grain=week"
grep -q 'grain' "$T/body" || fail "the 400 for grain does not name it: $(cat "$T/body")"
expect 400 "/api/v1/sales?from=yesterday"
grep -q 'from' "$T/body" || fail "the 400 for from does not name it: $(cat "$T/body")"
expect 400 "/api/v1/sales?to=2026-13-01T00:00:00Z"
expect 400 "/api/v1/sales?from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z"
for q in limit=0 limit=1001 limit=x offset=-1 offset=1000001; do
  expect 400 "/api/v1/customers/$id/orders?$q"
  grep -q "${q%%=*}" "$T/body" || fail "the 400 for $q does not name the parameter: $(cat "$T/body")"
done
long=$(printf 'x%.0s' $(seq 1 65))
expect 400 "/api/v1/customers/$long"
expect 400 "/api/v1/tracking/$long"
expect 400 "/api/v1/customers/a%20b"
expect 404 /api/v1/customers/no-such-customer
expect 404 /api/v1/customers/no-such-customer/orders
expect 404 /api/v1/customers/no-such-customer/returns
expect 404 /api/v1/tracking/BR00000000000
expect 404 /api/v1/nothing
expect 404 /api/v1/customers
expect 404 "/api/v1/customers/$id/other"
expect 405 /api/v1/sales -X POST
expect 405 /api/v1/pipeline -X DELETE
ok "400 for a bad grain, from, to, range, limit, offset or id; 404 for unknown ids and paths; 405 for POST"

# -- PostgreSQL stopped: 503 from every endpoint; back: 200 again (the pool reconnects)
pg_stop
for p in /api/v1/sales /api/v1/top-products "/api/v1/customers/$id" /api/v1/tracking \
  /api/v1/cars/turnover /api/v1/cancellations /api/v1/pipeline; do
  expect 503 "$p"
done
pg_start_again
for p in /api/v1/sales /api/v1/top-products "/api/v1/customers/$id" /api/v1/pipeline; do
  expect 200 "$p"
done
rx_stop
ok "503 while PostgreSQL is stopped, 200 again once it is back"
