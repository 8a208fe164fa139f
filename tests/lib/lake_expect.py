"""lake_expect.py - what silver and gold must hold, computed in Python from the events the agents
buffered (`hubcap-agent dump`, one JSON event a line), independently of the SQL in receiver/sql.

The rules are those of receiver/sql/002_silver.sql and 003_gold.sql with lake.config's defaults:
validation rules in their order, duplicates by event_id keep the first copy, an event older than
max(valid event_time) - allowed_lateness - late_horizon is too_late.

    from lake_expect import Lake
    lake = Lake.load(["events.jsonl"])
    lake.silver, lake.quarantine, lake.total_sales(), lake.customers(), ...
"""
import datetime
import json
import re
from decimal import ROUND_HALF_UP, Decimal

LATENESS = datetime.timedelta(minutes=5)
HORIZON = datetime.timedelta(hours=12)
LOYAL_N, LOYAL_DAYS = 3, datetime.timedelta(days=30)
NON_PRODUCT = {"POST", "DOT", "M", "m", "D", "C2", "S", "B", "BANK CHARGES", "CRUK", "PADS",
               "AMAZONFEE", "ADJUST", "ADJUST2", "TEST001", "TEST002"}
STATUSES = {"created", "approved", "invoiced", "processing", "shipped", "delivered", "canceled",
            "unavailable", "returned"}
ACTIONS = {"listed", "price_changed", "sold", "removed"}
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
UTC = datetime.timezone.utc


def ts(v):
    """An event's ISO 8601 time as an aware datetime, or None when silver would refuse it."""
    if not isinstance(v, str) or not TS.match(v):
        return None
    try:
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None


def _absent(d, k):
    return d.get(k) is None


def _num(v, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        return False
    return isinstance(v, int) or not integer


def _ts_ok(d, k):
    return _absent(d, k) or ts(d[k]) is not None


def rule(e):
    """The quarantine rule a parsed event breaks (too_late aside), or None when it is valid."""
    if not isinstance(e, dict):
        return "not_json"
    if any(_absent(e, k) for k in ("event_id", "kind", "event_time")) or \
            not isinstance(e.get("data"), dict):
        return "missing_field"
    k, d = e["kind"], e["data"]
    if k not in ("order_line", "order_status", "car_listing"):
        return "unknown_kind"
    if k == "order_line":
        if any(_absent(d, f) for f in ("invoice_no", "stock_code", "quantity", "unit_price",
                                      "invoice_date", "country")):
            return "missing_field"
        if not _num(d["quantity"], True) or not _num(d["unit_price"]):
            return "bad_number"
        if not _ts_ok(e, "event_time") or not _ts_ok(d, "invoice_date"):
            return "bad_timestamp"
        if d["unit_price"] < 0:
            return "negative_price"
    elif k == "order_status":
        if any(_absent(d, f) for f in ("tracking_num", "order_id", "status", "status_time")):
            return "missing_field"
        if not _ts_ok(e, "event_time") or not _ts_ok(d, "status_time") or \
                not _ts_ok(d, "estimated_delivery"):
            return "bad_timestamp"
        if d["status"] not in STATUSES:
            return "unknown_status"
    else:
        if any(_absent(d, f) for f in ("listing_id", "vin", "make", "model", "price", "action",
                                      "date_listed")):
            return "missing_field"
        if not _num(d["price"]) or not (_absent(d, "year") or _num(d["year"], True)) or \
                not (_absent(d, "mileage_km") or _num(d["mileage_km"])):
            return "bad_number"
        if not _ts_ok(e, "event_time") or not _ts_ok(d, "date_listed") or \
                not _ts_ok(d, "date_removed"):
            return "bad_timestamp"
        if d["price"] < 0:
            return "negative_price"
        if d["action"] not in ACTIONS:
            return "unknown_action"
        if not re.match(r"^[A-HJ-NPR-Z0-9]{17}$", str(d["vin"])):
            return "bad_vin"
    if not isinstance(e["event_id"], str):
        return "missing_field"
    return None


def _val(d):
    return d["quantity"] * d["unit_price"]


class Lake:
    """Silver and gold as the lake must compute them from the buffered events."""

    def __init__(self, lines):
        self.records = 0
        events, seen = [], set()
        for line in lines:
            self.records += 1
            try:
                e = json.loads(line, parse_float=Decimal)
            except ValueError:
                e = None
            eid = e.get("event_id") if isinstance(e, dict) else None
            if eid is not None:
                if eid in seen:
                    continue  # a duplicate: silver and quarantine keep one
                seen.add(eid)
            events.append((e, rule(e)))
        valid = [ts(e["event_time"]) for e, r in events if r is None]
        limit = max(valid) - LATENESS - HORIZON
        self.quarantine = {}
        self.silver = {"order_line": [], "order_status": [], "car_listing": []}
        for e, r in events:
            if r is None and ts(e["event_time"]) < limit:
                r = "too_late"
            if r:
                self.quarantine[r] = self.quarantine.get(r, 0) + 1
            else:
                self.silver[e["kind"]].append(e)
        self.max_event_time = max(valid)
        self.lines = self.silver["order_line"]

    @classmethod
    def load(cls, paths):
        lines = []
        for p in paths:
            with open(p) as f:
                lines.extend(f)
        return cls(lines)

    # ---- sales ----------------------------------------------------------------------------------
    def total_sales(self):
        return sum((_val(e["data"]) for e in self.lines), Decimal(0))

    def sales_by(self, grain):
        """{window start (aware datetime): [sales, lines, invoices]} for minute, hour or day."""
        cut = {"minute": dict(second=0, microsecond=0),
               "hour": dict(minute=0, second=0, microsecond=0),
               "day": dict(hour=0, minute=0, second=0, microsecond=0)}[grain]
        w = {}
        for e in self.lines:
            start = ts(e["event_time"]).astimezone(UTC).replace(**cut)
            s = w.setdefault(start, [Decimal(0), 0, set()])
            s[0] += _val(e["data"])
            s[1] += 1
            s[2].add(e["data"]["invoice_no"])
        return {k: [v[0], v[1], len(v[2])] for k, v in w.items()}

    def top_products(self):
        """[(stock_code, quantity, revenue, description)] the 10 best, as gold.top_products."""
        prod = {}
        for e in self.lines:
            d = e["data"]
            if d["invoice_no"].startswith("C") or d["stock_code"] in NON_PRODUCT or \
                    d["stock_code"].lower().startswith("gift_"):
                continue
            p = prod.setdefault(d["stock_code"], [0, Decimal(0), None])
            p[0] += d["quantity"]
            p[1] += _val(d)
            if d.get("description") is not None and (p[2] is None or d["description"] > p[2]):
                p[2] = d["description"]
        top = sorted(prod.items(), key=lambda kv: (-kv[1][1], kv[0]))[:10]
        return [(c, q, r, desc) for c, (q, r, desc) in top]

    # ---- customers ------------------------------------------------------------------------------
    def customer_lines(self, cid):
        return [e for e in self.lines if e["data"].get("customer_id") == cid]

    def customers(self):
        """{customer_id: summary as /api/v1/customers/{id} answers it (times as datetimes)}."""
        out = {}
        for e in self.lines:
            cid = e["data"].get("customer_id")
            if cid is None:
                continue
            d = e["data"]
            c = out.setdefault(cid, {"customer_id": cid, "spend": Decimal(0), "inv": {},
                                     "lines": 0, "returned_lines": 0})
            c["spend"] += _val(d)
            c["lines"] += 1
            c["returned_lines"] += d["quantity"] < 0
            if not d["invoice_no"].startswith("C"):
                t = ts(d["invoice_date"])
                c["inv"][d["invoice_no"]] = min(c["inv"].get(d["invoice_no"], t), t)
        for c in out.values():
            inv = c.pop("inv")
            t = sorted(inv.values())
            c["orders"] = len(inv)
            c["first_order"] = t[0] if t else None
            c["last_order"] = t[-1] if t else None
            c["loyal"] = any(t[i + LOYAL_N - 1] - t[i] <= LOYAL_DAYS
                             for i in range(len(t) - LOYAL_N + 1))
        return out

    def orders(self, cid):
        """{invoice_no: {"invoice_date", "cancelled", "total", "lines": sorted event_ids}}."""
        out = {}
        for e in self.customer_lines(cid):
            d = e["data"]
            o = out.setdefault(d["invoice_no"], {"invoice_date": ts(d["invoice_date"]),
                                                 "cancelled": d["invoice_no"].startswith("C"),
                                                 "total": Decimal(0), "lines": []})
            o["invoice_date"] = min(o["invoice_date"], ts(d["invoice_date"]))
            o["total"] += _val(d)
            o["lines"].append(e)
        return out

    def returns(self, cid):
        """The customer's lines with quantity < 0 (event dicts)."""
        return [e for e in self.customer_lines(cid) if e["data"]["quantity"] < 0]

    # ---- parcels, cars, cancellations -----------------------------------------------------------
    def tracking(self):
        """{tracking_num: data of the status with the newest status_time (then event_id)}."""
        best = {}
        for e in self.silver["order_status"]:
            d = e["data"]
            key = (ts(d["status_time"]), e["event_id"])
            if d["tracking_num"] not in best or key > best[d["tracking_num"]][0]:
                best[d["tracking_num"]] = (key, d)
        return {k: v[1] for k, v in best.items()}

    def cars(self):
        """{(make, model): [listings, removed, avg_days_listed or None, avg_price]}."""
        latest = {}
        for e in self.silver["car_listing"]:
            d = e["data"]
            key = (ts(e["event_time"]), e["event_id"])
            if d["listing_id"] not in latest or key > latest[d["listing_id"]][0]:
                latest[d["listing_id"]] = (key, d)
        acc = {}
        for _, d in latest.values():
            c = acc.setdefault((d["make"], d["model"]), [0, 0, [], []])
            c[0] += 1
            c[3].append(Decimal(d["price"]))
            if d["action"] in ("sold", "removed") and d.get("date_removed"):
                c[1] += 1
                c[2].append((ts(d["date_removed"]) - ts(d["date_listed"])).total_seconds() / 86400)
        return {k: [n, r, sum(days) / len(days) if days else None, sum(p) / len(p)]
                for k, (n, r, days, p) in acc.items()}

    def cancellations(self):
        ds = [e["data"] for e in self.lines]
        canc = [d for d in ds if d["invoice_no"].startswith("C")]
        rets = [d for d in ds if not d["invoice_no"].startswith("C") and d["quantity"] < 0]
        invoices = len({d["invoice_no"] for d in ds if not d["invoice_no"].startswith("C")})
        cinv = len({d["invoice_no"] for d in canc})
        return {"invoices": invoices, "cancelled_invoices": cinv, "cancelled_lines": len(canc),
                "cancelled_value": -sum((_val(d) for d in canc), Decimal(0)),
                "returned_lines": len(rets),
                "returned_value": -sum((_val(d) for d in rets), Decimal(0)),
                "cancellation_rate": (Decimal(cinv) / invoices).quantize(Decimal("0.000001"), ROUND_HALF_UP)
                if invoices else Decimal(0)}
