#!/usr/bin/env bash
# hubcap-fleet end to end: 30 simulated devices (late, duplicate, malformed and out-of-order
# events, offline windows, flapping links, clock skew) ship to a real hubcap-receiver; the fleet
# is killed with kill -9 half-way and continued from its --dir; the capture files are landed and
# promoted into a private PostgreSQL; the fleet's reconciliation (ground truth: the device
# buffers) must find nothing missing, nothing duplicated, and the malformed events quarantined.
#
# Landing: the receiver runs in development mode (no --pg) and the test lands the closed capture
# files itself (`hubcap-receiver land` + `promote`) after the fleet has shipped, then runs
# `hubcap-fleet --reconcile-only`. With HC_FLEET_LAKE=serve the receiver lands and promotes
# continuously (`serve --pg ''`) and the fleet reconciles at the end of its own run, polling
# silver for up to --settle seconds.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
FLEET="$HC_BIN/hubcap-fleet"
[ -x "$FLEET" ] || { echo "no $FLEET: build first"; exit 1; }
pg_start

LAKE=${HC_FLEET_LAKE:-external}
CAP="$T/cap"
D="$T/fleet"
if [ "$LAKE" = serve ]; then
  rx_start --capture "$CAP" --window 1s --pg '' --lake-interval 1s
else
  rx_start --capture "$CAP" --window 1s
fi
CS=$(grep '^Endpoint=' "$RX_OUT")
KNOBS=(--seed 7 --late 0.04 --duplicate 0.03 --malformed 0.05 --out-of-order 0.03
       --offline 0.3 --flap --clock-skew 20s --rate 150 --flat)

# 1. a fleet killed with kill -9 half-way through
"$FLEET" -s "$CS" --devices 30 --duration 60 --dir "$D" --no-reconcile "${KNOBS[@]}" \
  2> "$T/fleet1.err" &
pid=$!
sleep 8
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -f "$D/fleet.state" ] && [ -d "$D/dev-00029" ] || fail "the fleet left no buffers in $D"
ok "fleet of 30 devices killed with kill -9 after 8 s"

# 2. continued from its folder (the buffers hold what was not shipped yet)
"$FLEET" -s "$CS" --duration 10 --dir "$D" --no-reconcile --settle 30 "${KNOBS[@]}" \
  --json > "$T/run2.json" 2> "$T/fleet2.err" || { cat "$T/fleet2.err" >&2; fail "run 2 failed"; }
grep -q 'run 2 of the fleet' "$T/fleet2.err" || fail "run 2 did not continue the fleet: $(head -3 "$T/fleet2.err")"
[ "$(json_get "$(cat "$T/run2.json")" queued)" -eq 0 ] ||
  fail "events still queued after the settle: $(cat "$T/run2.json")"
ok "the fleet continued from $D and shipped everything: $(cat "$T/run2.json")"

# 3. land, promote, reconcile
if [ "$LAKE" = serve ]; then
  out=$("$FLEET" --reconcile-only --dir "$D" --settle 60 --json) || true
else
  rx_stop # closes the last capture files
  "$RX" land --capture "$CAP" -q || fail "land failed"
  "$RX" promote -q || fail "promote failed"
  out=$("$FLEET" --reconcile-only --dir "$D" --settle 5 --json) || true
fi
echo "$out"
"$PY" "$HC_SRC/tests/lib/check_reconcile.py" "$out" 0.05 1000 ||
  fail "the reconciliation is not clean"
ok "reconciliation: 0 missing, 0 duplicated, malformed events quarantined by rule"

# 4. a receiver that lands continuously with its default capture window (5m): right after the
# run the events sit in open capture files; the reconciliation says so instead of calling them
# missing, and once the receiver stops (closing its files, landing them) they are in silver.
[ -n "$RX_PID" ] && rx_stop
rx_start --capture "$T/cap2" --pg '' --lake-interval 1s
CS=$(grep '^Endpoint=' "$RX_OUT")
"$FLEET" -s "$CS" --devices 3 --duration 3 --rate 30 --flat --seed 9 --dir "$T/fleet2" \
  --settle 3 --json > "$T/open.json" 2> "$T/open.err" ||
  { cat "$T/open.err" >&2; fail "a fleet whose events wait in open capture files failed"; }
out=$(cat "$T/open.json")
nl=$(json_get "$out" not_landed)
[ "$nl" -gt 0 ] && [ "$(json_get "$out" missing)" -eq 0 ] ||
  fail "events in open capture files: want not_landed > 0 and missing 0: $out"
grep -q "^  $nl events in capture files not yet closed: window 5m" "$T/open.err" ||
  fail "the reconciliation does not say why: $(cat "$T/open.err")"
rx_stop
out=$("$FLEET" --reconcile-only --dir "$T/fleet2" --settle 30 --json) || fail "after the stop: $out"
[ "$(json_get "$out" missing)" -eq 0 ] && [ "$(json_get "$out" not_landed)" -eq 0 ] &&
  [ "$(json_get "$out" in_silver)" -ge "$nl" ] || fail "after the stop, not all in silver: $out"
ok "$nl events in open capture files reported as such (window 5m), in silver after the stop"
