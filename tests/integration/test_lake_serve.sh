#!/usr/bin/env bash
# The lake inside `hubcap-receiver serve --pg`: while an agent generates and ships, the receiver
# is killed with SIGKILL 20 times at random moments (in the middle of writing, landing and
# promoting) and restarted, and PostgreSQL is restarted once. At the end, with nothing run by
# hand: each capture file is once in bronze, every event the agent buffered is in silver or in
# the quarantine, no event_id is twice in silver, gold equals a `rebuild`, and the receiver's
# /metrics saw the reconnect.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/lake.sh"
pg_start
CAP="$T/cap"
BUF="$T/buf"
RX_ARGS=(--capture "$CAP" --window 1s --window-bytes 64K --pg "" --lake-interval 500ms)

rx_start "${RX_ARGS[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
grep -q '^lake: landing and promoting' "$RX_OUT" || fail "serve --pg does not announce the lake: $(cat "$RX_OUT")"

# background: 30,000 events at 1,500/s, shipped as they come (the shipper retries while the
# receiver is down)
"$AGENT" generate -b "$BUF" --count 30000 --rate 1500 --seed 5 --device-id lake-serve \
  --late 0.05 --duplicate 0.03 --malformed 0.05 --out-of-order 0.05 -q &
GEN_PID=$!
"$AGENT" ship -b "$BUF" -q -s "$CS" --max-batch-events 300 --linger 50 2> "$T/ship.log" &
SHIP_PID=$!
stop_bg() { kill "$GEN_PID" "$SHIP_PID" 2> /dev/null; wait "$GEN_PID" "$SHIP_PID" 2> /dev/null; }
hc_cleanup_hooks+=("stop_bg")

RANDOM=11
for i in $(seq 1 20); do
  sleep "0.$(printf '%03d' $((RANDOM % 700 + 150)))"
  rx_kill9
  if [ "$i" -eq 10 ]; then
    rx_start "${RX_ARGS[@]}"
    sleep 1
    pg_restart # the receiver keeps taking events; the lake reconnects
  else
    rx_start "${RX_ARGS[@]}"
  fi
done
wait "$GEN_PID" || fail "generate failed"
ok "receiver killed 20 times and PostgreSQL restarted while 30,000 events were generated"

# wait for the agent to ship everything, then for the lake to land and promote it
for _ in $(seq 1 240); do
  [ "$(json_get "$("$AGENT" status -b "$BUF" --json)" queued_events)" = 0 ] && break
  sleep 0.5
done
[ "$(json_get "$("$AGENT" status -b "$BUF" --json)" queued_events)" = 0 ] || fail "the agent did not ship everything"
kill "$SHIP_PID"
wait "$SHIP_PID" 2> /dev/null
rx_stop # closes the last files; the loop's last cycle lands and promotes them
"$AGENT" dump -b "$BUF" > "$T/events.jsonl"
nevents=$(wc -l < "$T/events.jsonl")
[ "$nevents" -ge 30000 ] || fail "the agent holds $nevents events, expected at least 30000"

nfiles=$(lake_landed_once "$CAP")
ok "$nfiles capture files, each once in bronze, all promoted by serve"

# every buffered event_id is in silver or the quarantine, none twice in silver
[ "$(pg_sql "SELECT count(*) = count(DISTINCT event_id) FROM ($LAKE_SILVER_IDS) u")" = t ] || fail "an event_id twice in silver"
{
  pg_sql "$LAKE_SILVER_IDS"
  pg_sql "SELECT event_id FROM silver.quarantine WHERE event_id IS NOT NULL"
} | sort -u > "$T/accounted"
"$PY" - "$T/events.jsonl" "$T/accounted" <<'PY' || fail "events lost"
import json, sys
want = {json.loads(l)["event_id"] for l in open(sys.argv[1])}
have = set(l.strip() for l in open(sys.argv[2]))
missing = want - have
if missing:
    sys.exit("%d of %d buffered events are neither in silver nor quarantined, e.g. %s"
             % (len(missing), len(want), sorted(missing)[:3]))
PY
ok "all $nevents buffered events in silver or quarantined; no event_id twice in silver"

lake_gold_equals_rebuild "serve across the kills"
ok "gold kept by serve across the kills equals a rebuild"

# the restart of PostgreSQL was seen and survived: a fresh receiver reports a reconnect after
# another restart, and lands what arrives after it
rx_start "${RX_ARGS[@]}"
for _ in $(seq 1 600); do [ "$(rx_metric hubcap_lake_cycles_total)" -ge 1 ] 2> /dev/null && break; sleep 0.1; done
[ "$(rx_metric hubcap_lake_cycles_total)" -ge 1 ] || fail "the lake ran no cycle in 60 s"
pg_restart
"$AGENT" generate -b "$BUF" --count 500 --seed 6 --device-id lake-serve -q
"$AGENT" ship -b "$BUF" --once -q -s "$CS" || fail "shipping after the restart failed"
for _ in $(seq 1 150); do
  [ "$(pg_sql 'SELECT count(*) FROM bronze.event')" -ge $((nevents + 500)) ] 2> /dev/null && break
  sleep 0.2
done
[ "$(pg_sql 'SELECT count(*) FROM bronze.event')" -ge $((nevents + 500)) ] ||
  fail "events sent after a PostgreSQL restart did not reach bronze"
for _ in $(seq 1 100); do [ "$(rx_metric hubcap_lake_reconnects_total)" -ge 1 ] 2> /dev/null && break; sleep 0.1; done
[ "$(rx_metric hubcap_lake_reconnects_total)" -ge 1 ] ||
  fail "/metrics shows no lake reconnect after a PostgreSQL restart: $(curl -s "$RX_URL/metrics" | grep '^hubcap_lake_')"
rx_stop
ok "after a PostgreSQL restart the receiver reconnects by itself and lands new events"
