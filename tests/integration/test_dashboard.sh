#!/usr/bin/env bash
# The dashboard at / in a real browser: a receiver without --pg must show the API's 503 sentence
# in the error banner; then `serve --pg` lands and promotes a fixed-seed generated data set by
# itself, and headless Chromium (Debian package chromium) must draw exactly what /api/v1 answers:
# one sales bar per window for each grain with the window's value, the total sales, the top
# products in order, the parcel statuses, the car models, the cancellation figures, the
# pipeline counts, the quarantine by rule and the freshness of each promoted batch; at a phone's
# width (390 px) nothing may be wider than the screen. The page must refresh itself (?refresh=1). A screenshot is kept in
# $HC_BUILD/artifacts/dashboard.png.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] ||
  fail "no headless Chromium to load the dashboard: install the Debian package (apt-get install chromium) or set CHROMIUM=/path"
ART="${HC_BUILD:-$T}/artifacts"
mkdir -p "$ART"

# chrome URL ARGS...: run headless Chromium on URL with a private profile, at most 90 s. It runs
# under `timeout` (its own process group, killed whole on timeout and by the cleanup hook).
CHROME_PID=
chrome_kill() { [ -n "$CHROME_PID" ] && kill -KILL -- "-$CHROME_PID" 2> /dev/null; CHROME_PID=; }
hc_cleanup_hooks+=("chrome_kill")
chrome() {
  local url=$1 profile rc=0
  shift
  profile=$(mktemp -d "$T/chrome.XXXXXX")
  HOME="$profile" timeout -k 5 90 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox \
    --user-data-dir="$profile" --no-first-run --disable-extensions --disable-sync \
    --hide-scrollbars --virtual-time-budget=4000 "$@" "$url" 2>> "$T/chrome.err" &
  CHROME_PID=$!
  wait "$CHROME_PID" || rc=$?
  CHROME_PID=
  rm -rf "$profile"
  [ "$rc" -eq 0 ] || { tail -20 "$T/chrome.err" >&2; fail "chromium exited $rc on $url"; }
}
# dom URL FILE [ARGS...]: the page's DOM after its scripts ran
dom() { local url=$1 file=$2; shift 2; chrome "$url" --dump-dom "$@" > "$file"; }

# The checks, in Python: `page DOM APIDIR GRAIN` compares a page drawn with data to the API's
# answers saved in APIDIR; `banner DOM SENTENCE` checks the error state; `refreshes DOM MIN`.
cat > "$T/check.py" << 'PY'
import json, sys
from decimal import Decimal
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids, self.text = tag, dict(attrs), parent, [], ""

    def all(self, pred):
        for k in self.kids:
            if pred(k):
                yield k
            yield from k.all(pred)

    def find(self, **kw):
        return [n for n in self.all(lambda n: all(
            (n.tag == v if k == "tag" else v in (n.attrs.get("class") or "").split() if k == "cls"
             else n.attrs.get(k.replace("_", "-")) == v) for k, v in kw.items()))]

    def one(self, **kw):
        f = self.find(**kw)
        assert len(f) == 1, f"expected one element {kw}, found {len(f)}"
        return f[0]

    def content(self):
        return self.text + "".join(k.content() for k in self.kids)


class Tree(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text += data


bad = []


def close(a, b):
    """equal; numbers (Decimal from the API, from the page's JS doubles) within 1e-12 relative"""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)) and not isinstance(a, bool):
        return abs(Decimal(a) - Decimal(b)) <= Decimal("1e-12") * max(1, abs(Decimal(a)))
    return a == b


def check(what, want, got, exact=False):
    if want == got if exact else close(want, got):
        return
    if isinstance(want, list) and isinstance(got, list):
        i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        want, got = (f"{len(x)} items, [{i}] = {x[i] if i < len(x) else None!r}" for x in (want, got))
    bad.append(f"{what}: the API says {want!r:.400}, the page shows {got!r:.400}")


def dec(v):
    return None if v in (None, "") else Decimal(str(v))


def body_of(root):
    return root.one(tag="body")


def figure(sec, key):
    return sec.one(tag="dd", data_key=key).attrs["data-value"]


def bars(sec):
    return [(b.attrs["data-label"], dec(b.attrs["data-value"])) for b in sec.find(tag="rect", cls="bar")]


def page(root, api, grain):
    body = body_of(root)
    load = lambda name: json.load(open(f"{api}/{name}.json"), parse_float=Decimal)
    check("body data-ready (every panel drawn with data)", "1", body.attrs.get("data-ready"))
    check("error banner hidden", True, "hidden" in root.one(id="banner").attrs)
    for n in root.find(tag="svg"):
        assert n.attrs.get("role") == "img" and n.attrs.get("aria-label"), "an SVG without role/aria-label"
    sec = root.one(id="sales")
    s = load(f"sales-{grain}")
    check(f"sales state ({grain})", "ok", sec.attrs.get("data-state"))
    check(f"sales grain selected", grain, s["grain"])
    check(f"number of {grain} sales bars", len(s["windows"]), len(bars(sec)))
    check(f"{grain} sales bars (window start, sales)",
          [(w["start"], w["sales"]) for w in s["windows"]], bars(sec), exact=True)
    check("total sales", s["total_sales"], dec(figure(sec, "total_sales")), exact=True)
    if grain != "hour":
        return
    sec = root.one(id="top")
    p = load("top-products")["products"]
    check("top products drawn (stock code, revenue)", [(x["stock_code"], x["revenue"]) for x in p], bars(sec))
    check("top products table stock codes", [x["stock_code"] for x in p],
          [c.attrs["data-value"] for c in sec.find(tag="td", data_key="stock_code")])
    sec = root.one(id="tracking")
    t = load("tracking")
    check("parcel statuses drawn", [(x["status"], x["parcels"]) for x in t["statuses"]], bars(sec))
    check("parcels", t["parcels"], int(figure(sec, "parcels")))
    sec = root.one(id="cancellations")
    c = load("cancellations")
    for k, v in c.items():
        check(f"cancellations {k}", v, dec(figure(sec, k)))
    sec = root.one(id="cars")
    m = load("cars-turnover")["models"]
    check("car models in the table", [[x["make"], x["model"], x["listings"], x["avg_price"]] for x in m],
          [[r.one(tag="th").attrs["data-value"]] + [dec(d.attrs["data-value"]) if d.attrs["data-key"] in ("listings", "avg_price") else d.attrs["data-value"]
           for d in r.find(tag="td") if d.attrs["data-key"] in ("model", "listings", "avg_price")]
           for r in sec.one(tag="tbody").find(tag="tr")])
    check("average days listed drawn", [(f'{x["make"]} {x["model"]}', x["avg_days_listed"]) for x in m
                                        if x["avg_days_listed"] is not None], bars(sec))
    sec = root.one(id="pipeline")
    pl = load("pipeline")
    for k in ("watermark", "bronze_files", "bronze_events", "promoted_files", "quarantined"):
        check(f"pipeline {k}", str(pl[k]), figure(sec, k))
    for k, v in pl["silver"].items():
        check(f"pipeline silver {k}", str(v), figure(sec, "silver." + k))
    sec = root.one(id="quarantine")
    check("quarantined", str(pl["quarantined"]), figure(sec, "quarantined"))
    check("quarantine by rule", {k: str(v) for k, v in pl["quarantine"].items()},
          {r.one(tag="th").attrs["data-value"]: r.one(tag="td").attrs["data-value"]
           for r in sec.one(tag="tbody").find(tag="tr")} if pl["quarantine"] else {})
    check("quarantine bars (most first)", sorted(pl["quarantine"].items(), key=lambda kv: (-kv[1], kv[0])),
          bars(sec))
    sec = root.one(id="freshness")
    f = [x for x in pl["freshness"] if x["oldest_seconds"] is not None]
    if not f:
        bad.append("no promoted batch with enqueue times in /api/v1/pipeline's freshness")
    for x in f:
        if not (0 <= x["newest_seconds"] <= x["oldest_seconds"] < 600):
            bad.append(f"freshness point out of range (want 0 <= newest <= oldest < 600 s): {x}")
    check("freshness bars (promoted at, oldest event's seconds to gold)",
          [(x["at"], x["oldest_seconds"]) for x in f], bars(sec))
    check("freshness: the last batch", f[-1]["oldest_seconds"] if f else None, dec(figure(sec, "last")))



def banner(root, sentence):
    b = root.one(id="banner")
    check("error banner shown", False, "hidden" in b.attrs)
    check("error banner text", sentence, b.content().strip())
    check("body data-state", "error", body_of(root).attrs.get("data-state"))
    check("body data-ready", "0", body_of(root).attrs.get("data-ready"))
    check("panels in the error state", ["error"] * 8,
          [s.attrs.get("data-state") for s in root.find(tag="section", cls="panel")])


root = Tree(open(sys.argv[2], encoding="utf-8").read()).root
if sys.argv[1] == "page":
    page(root, sys.argv[3], sys.argv[4])
elif sys.argv[1] == "banner":
    banner(root, sys.argv[3])
else:
    n = int(body_of(root).attrs.get("data-refreshes", "0"))
    if n < int(sys.argv[3]):
        bad.append(f"the page refreshed {n} times, expected at least {sys.argv[3]}")
if bad:
    sys.exit("\n".join(bad))
PY
check() { "$PY" "$T/check.py" "$@"; }

# 1. Without --pg the API answers 503, and the page says why.
rx_start --capture "$T/cap0"
code=$(curl -s -o "$T/nolake.json" -w '%{http_code}' "$RX_URL/api/v1/pipeline")
[ "$code" = 503 ] || fail "/api/v1/pipeline without --pg answered $code, expected 503"
sentence=$(json_get "$(cat "$T/nolake.json")" error)
[ "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$RX_URL/")" = "200 text/html; charset=utf-8" ] ||
  fail "/ does not serve the dashboard page"
for f in app.js style.css; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$RX_URL/static/$f")" = 200 ] || fail "/static/$f is not served"
done
dom "$RX_URL/?refresh=0" "$T/nolake.html"
check banner "$T/nolake.html" "$sentence" || fail "the page without a lake does not show the 503 sentence"
rx_stop
ok "without --pg the page shows every panel unavailable and the banner: $sentence"

# 2. serve --pg lands and promotes a generated data set by itself.
pg_start
rx_start --capture "$T/cap" --window 1s --pg ''
CS=$(grep '^Endpoint=' "$RX_OUT")
"$AGENT" generate -b "$T/buf" --count 3000 --seed 42 --start 2026-11-22T00:00:00Z --step 2000 \
  --device-id dash-pi-01 --late 0.05 --duplicate 0.03 --malformed 0.05 --out-of-order 0.05 -q ||
  fail "generate failed"
"$AGENT" ship -b "$T/buf" --once -q -s "$CS" --max-batch-events 300 || fail "the agent did not ship everything"
nevents=$("$AGENT" dump -b "$T/buf" | wc -l)

pipeline() { curl -s --max-time 10 "$RX_URL/api/v1/pipeline"; }
done_yet() {
  "$PY" -c 'import json, sys
p = json.loads(sys.argv[1])
sys.exit(0 if p["bronze_events"] == int(sys.argv[2]) and p["promoted_files"] == p["bronze_files"]
         and p["watermark"] else 1)' "$1" "$2" 2> /dev/null
}
for _ in $(seq 1 120); do
  done_yet "$(pipeline)" "$nevents" && break
  sleep 0.5
done
done_yet "$(pipeline)" "$nevents" ||
  fail "/api/v1/pipeline does not show the $nevents events landed and promoted after 60 s: $(pipeline)"
ok "serve --pg landed and promoted $nevents events by itself"

mkdir -p "$T/api"
get() {
  local code
  code=$(curl -s -o "$T/api/$2.json" -w '%{http_code}' --max-time 30 "$RX_URL/api/v1/$1")
  [ "$code" = 200 ] || fail "/api/v1/$1 answered $code: $(cat "$T/api/$2.json")"
}
for g in minute hour day; do get "sales?grain=$g" "sales-$g"; done
get top-products top-products
get tracking tracking
get cars/turnover cars-turnover
get cancellations cancellations
get pipeline pipeline

# 3. The page draws exactly that.
for g in minute day hour; do
  dom "$RX_URL/?grain=$g&refresh=0" "$T/dash-$g.html"
  check page "$T/dash-$g.html" "$T/api" "$g" || fail "the dashboard ($g grain) does not show the API's data"
done
ok "the dashboard draws the API's sales windows (minute, hour, day), total, top products, parcels, cars, cancellations, pipeline, quarantine by rule and freshness"

# A phone's width: one column, nothing wider than the screen (tables scroll in their own box).
# (Chromium's --window-size stops at 500 px: tests/lib/phone_view.js emulates the phone.)
phone=$(HOME="$T" timeout -k 5 90 node "$HC_SRC/tests/lib/phone_view.js" "$CHROMIUM" "$RX_URL/?refresh=0" \
  390 844 "$ART/dashboard-phone.png" "$(mktemp -d "$T/chrome.XXXXXX")") || fail "the phone view failed"
"$PY" -c 'import json, sys
v = json.loads(sys.argv[1])
sys.exit(0 if v["innerWidth"] == 390 and v["scrollWidth"] <= 390 and v["ready"] == "1" else
         "at a phone width of 390 px: %s (want innerWidth 390, scrollWidth <= 390, ready 1)" % v)' "$phone" ||
  fail "the dashboard does not fit a phone's width"
ok "at a phone's 390 px nothing scrolls sideways ($phone); screenshot: $ART/dashboard-phone.png"

dom "$RX_URL/?refresh=1" "$T/dash-refresh.html"
check refreshes "$T/dash-refresh.html" 3 || fail "the dashboard does not refresh itself"
ok "the dashboard refreshes itself"

rm -f "$ART/dashboard.png"
chrome "$RX_URL/?refresh=0" --window-size=1280,2400 --screenshot="$ART/dashboard.png"
size=$(stat -c %s "$ART/dashboard.png" 2> /dev/null || echo 0)
[ "$size" -gt 30000 ] || fail "the screenshot $ART/dashboard.png is $size bytes: nothing drawn?"
ok "screenshot: $ART/dashboard.png ($size bytes)"

# 4. PostgreSQL down: the API answers 503 and the page says why.
pg_stop
code=$(curl -s -o "$T/pgdown.json" -w '%{http_code}' --max-time 30 "$RX_URL/api/v1/pipeline")
[ "$code" = 503 ] || fail "/api/v1/pipeline with PostgreSQL down answered $code, expected 503"
sentence=$(json_get "$(cat "$T/pgdown.json")" error)
dom "$RX_URL/?refresh=0" "$T/pgdown.html"
check banner "$T/pgdown.html" "$sentence" || fail "the page with PostgreSQL down does not show the 503 sentence"
ok "with PostgreSQL down the page shows the banner: $sentence"
rx_stop
