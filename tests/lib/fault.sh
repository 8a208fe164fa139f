# tests/lib/fault.sh - sourced by tests/fault/test_*.sh: the pieces every fault test shares.
# A private PostgreSQL, a real `hubcap-receiver serve --pg ''` (the lake loop lands and promotes
# continuously) on a fixed loopback port that survives restarts, a `hubcap-fleet` in a folder
# that survives kill -9, and the end of every test: everything shipped, the receiver stopped
# (its loop lands and promotes the last files), the fleet's reconciliation against silver
# (nothing missing, nothing duplicated, the malformed events quarantined by rule), every capture
# file once in bronze, and gold equal to a `rebuild` from bronze.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/lake.sh"
FLEET="$HC_BIN/hubcap-fleet"
[ -x "$FLEET" ] || { echo "no $FLEET: build first"; exit 1; }

CAP="$T/cap"
D="$T/fleet"
RX_ARGS=(--capture "$CAP" --window 1s --pg '' --lake-interval 1s)
# the generator's knobs of every fault test; fault_reconcile checks the malformed share
# against FAULT_MALFORMED
FAULT_MALFORMED=0.05
KNOBS=(--late 0.04 --duplicate 0.03 --malformed "$FAULT_MALFORMED" --out-of-order 0.03
       --clock-skew 20s --flat)
FLEET_PID=
FLEET_RUNS=0
SECONDS=0

# say MSG: a progress line with the seconds since the test began.
say() { echo "[$(printf '%3d' "$SECONDS")s] $*"; }

fleet_kill_now() { [ -n "$FLEET_PID" ] && kill -9 "$FLEET_PID" 2> /dev/null; wait "$FLEET_PID" 2> /dev/null; FLEET_PID=; }
hc_cleanup_hooks+=("fleet_kill_now")

# fault_start: PostgreSQL, then the receiver on a fixed free port (RX_PORT: the fleet's
# connection string CS stays valid across receiver restarts).
fault_start() {
  pg_start
  RX_PORT=$(free_port)
  rx_start "${RX_ARGS[@]}"
  CS=$(grep '^Endpoint=' "$RX_OUT")
  grep -q '^lake: landing and promoting' "$RX_OUT" ||
    fail "serve --pg does not announce the lake: $(cat "$RX_OUT")"
  say "PostgreSQL and the receiver (127.0.0.1:$RX_PORT, lake loop) are up"
}

# rx_restart: start the receiver again, on the same port.
rx_restart() { rx_start "${RX_ARGS[@]}"; }

# fleet_bg ARGS...: start the fleet in the background on folder $D (its stderr in
# $T/fleet.N.err, stdout in $T/fleet.N.out); FLEET_PID.
fleet_bg() {
  FLEET_RUNS=$((FLEET_RUNS + 1))
  "$FLEET" --dir "$D" "$@" > "$T/fleet.$FLEET_RUNS.out" 2> "$T/fleet.$FLEET_RUNS.err" &
  FLEET_PID=$!
}

fleet_kill9() { kill -9 "$FLEET_PID" 2> /dev/null || true; wait "$FLEET_PID" 2> /dev/null || true; FLEET_PID=; }

# fleet_wait: wait for the background fleet; it must exit 0 and have shipped everything
# (its --json: queued 0). Needs --json --no-reconcile among its arguments.
fleet_wait() {
  local rc=0 out="$T/fleet.$FLEET_RUNS.out" err="$T/fleet.$FLEET_RUNS.err"
  wait "$FLEET_PID" || rc=$?
  FLEET_PID=
  [ "$rc" -eq 0 ] || { tail -20 "$err" >&2; fail "the fleet (run $FLEET_RUNS) exited $rc"; }
  [ -s "$out" ] || { tail -20 "$err" >&2; fail "the fleet printed no JSON"; }
  [ "$(json_get "$(cat "$out")" queued)" -eq 0 ] ||
    { tail -5 "$err" >&2; fail "events still queued in the fleet after its settle: $(cat "$out")"; }
  [ "$(json_get "$(cat "$out")" full)" -eq 0 ] ||
    fail "a device buffer was full (puts refused): $(cat "$out")"
  say "fleet run $FLEET_RUNS shipped everything: $(cat "$out")"
}

# fleet_run ARGS...: a fleet run in the foreground (fleet_bg + fleet_wait).
fleet_run() { fleet_bg "$@"; fleet_wait; }

# fault_finish: the end of every fault test. The receiver is stopped with SIGTERM (it must
# exit 0; its lake loop lands and promotes the last files), then the reconciliation, bronze and
# gold are checked.
fault_finish() {
  rx_stop
  say "receiver stopped (last files landed and promoted)"
  fault_reconcile
  fault_bronze_once
  fault_gold_equals_rebuild
}

# fault_reconcile: `hubcap-fleet --reconcile-only`: 0 missing, 0 duplicated, the malformed
# events quarantined by the rule common/rules.h names, their share near the knob. The
# verdict (JSON) stays in $T/reconcile.json.
fault_reconcile() {
  local out rc=0
  out=$("$FLEET" --reconcile-only --dir "$D" --settle 10 --json 2> "$T/reconcile.err") || rc=$?
  cat "$T/reconcile.err" >&2
  echo "$out" | tee "$T/reconcile.json"
  [ -n "$out" ] || fail "the reconciliation printed nothing (exit $rc)"
  "$PY" "$HC_SRC/tests/lib/check_reconcile.py" "$out" "$FAULT_MALFORMED" 5000 ||
    fail "the reconciliation is not clean"
  [ "$rc" -eq 0 ] || fail "hubcap-fleet --reconcile-only exited $rc although the verdict is clean"
  say "reconciliation: 0 missing, 0 duplicated, malformed events quarantined by rule"
}

# fault_bronze_once: every closed capture file is once in bronze (serve landed them all: a
# `land` afterwards finds nothing new) and serve promoted every landed file.
fault_bronze_once() {
  local nfiles
  nfiles=$(lake_landed_once "$CAP")
  say "$nfiles capture files, each once in bronze, all promoted by serve"
}

# fault_gold_equals_rebuild: gold as the lake loop kept it through the faults equals gold
# recomputed from bronze (the receiver is stopped: nothing promotes meanwhile).
fault_gold_equals_rebuild() {
  lake_gold_snap > "$T/gold1"
  for t in "^w" "^t" "^p" "^c"; do
    grep -q "$t|" "$T/gold1" || fail "gold table '${t#^}' is empty: nothing to compare"
  done
  lake_gold_equals_rebuild "serve through the faults"
  say "gold kept by serve through the faults equals a rebuild ($(wc -l < "$T/gold1") rows)"
}
