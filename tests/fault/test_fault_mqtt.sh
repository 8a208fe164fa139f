#!/usr/bin/env bash
# MQTT under faults while events flow (agent -> Mosquitto -> receiver -> capture -> silver):
# the shipping agent killed with SIGKILL 10 times, the receiver killed with SIGKILL 10 times,
# Mosquitto restarted 10 times (it keeps the receiver's persistent session and its queued
# messages in its persistence file), each at a random moment and restarted at once. At the end
# every event the agent buffered is in silver (or quarantined by a rule), none twice, and the
# receiver's front end counted the reconnects.
source "$(dirname "$0")/../lib/common.sh"
"$AGENT" ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 |
  grep -q 'not in this build' && skip "this build has no mqtt transport (HUBCAP_WITH_MQTT=OFF)"
source "$HC_SRC/tests/lib/mosquitto.sh"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/lake.sh"
KILLS=${KILLS:-10}
EVENTS=${EVENTS:-24000}
pg_start
mq_start
CAP="$T/cap"
BUF="$T/buf"
RX_ARGS=(--capture "$CAP" --window 2s --pg "" --lake-interval 500ms --mqtt "$MQ_URL")
rx_start "${RX_ARGS[@]}"
rx_connected() {
  for _ in $(seq 1 100); do
    [ "$(rx_metric hubcap_receiver_mqtt_connected 2> /dev/null)" = 1 ] && return 0
    sleep 0.1
  done
  fail "the receiver did not connect to Mosquitto: $(tail -5 "$RX_LOG")"
}
rx_connected # its session exists before the first event is published

"$AGENT" generate -b "$BUF" --count "$EVENTS" --rate 800 --seed 16 --device-id mq-fault -q &
GEN_PID=$!
SHIP_PID=
ship_start() {
  "$AGENT" ship -b "$BUF" -q --transport mqtt -s "$MQ_URL" --linger 20 2>> "$T/ship.log" &
  SHIP_PID=$!
}
stop_bg() { kill -9 "$GEN_PID" $SHIP_PID 2> /dev/null; wait "$GEN_PID" $SHIP_PID 2> /dev/null; }
hc_cleanup_hooks+=("stop_bg")
ship_start
nap() { sleep "0.$(printf '%03d' $((RANDOM % 500 + 200)))"; }

RANDOM=16
for _ in $(seq 1 "$KILLS"); do
  nap
  kill -9 "$SHIP_PID"
  wait "$SHIP_PID" 2> /dev/null || true
  ship_start
done
ok "the agent killed with SIGKILL $KILLS times while shipping over MQTT"
for _ in $(seq 1 "$KILLS"); do
  nap
  rx_kill9
  rx_start "${RX_ARGS[@]}"
done
ok "the receiver killed with SIGKILL $KILLS times while subscribed"
for _ in $(seq 1 "$KILLS"); do
  nap
  mq_restart
done
ok "Mosquitto restarted $KILLS times"
rx_connected
before=$(rx_metric hubcap_receiver_mqtt_connects_total)
[ "$before" -ge 2 ] || fail "the receiver connected $before times across $KILLS broker restarts"

wait "$GEN_PID" || fail "generate failed"
for _ in $(seq 1 600); do
  [ "$(json_get "$("$AGENT" status -b "$BUF" --json)" queued_events)" = 0 ] && break
  sleep 0.1
done
[ "$(json_get "$("$AGENT" status -b "$BUF" --json)" queued_events)" = 0 ] ||
  fail "the agent did not ship everything: $(tail -3 "$T/ship.log")"
kill "$SHIP_PID"
wait "$SHIP_PID" 2> /dev/null || true
SHIP_PID=
"$AGENT" dump -b "$BUF" > "$T/events.jsonl"
nevents=$(wc -l < "$T/events.jsonl")
[ "$nevents" -eq "$EVENTS" ] || fail "the agent holds $nevents events, generated $EVENTS"

# the receiver has the last PUBACKed messages once its capture counter stops growing
last=-1
for _ in $(seq 1 100); do
  n=$(rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}')
  [ "$n" = "$last" ] && break
  last=$n
  sleep 0.5
done
rx_stop # closes the last files; the lake's last cycle lands and promotes them
nfiles=$(lake_landed_once "$CAP")
[ "$(pg_sql "SELECT count(*) = count(DISTINCT event_id) FROM ($LAKE_SILVER_IDS) u")" = t ] || fail "an event_id twice in silver"
{
  pg_sql "$LAKE_SILVER_IDS"
  pg_sql "SELECT event_id FROM silver.quarantine WHERE event_id IS NOT NULL"
} | sort -u > "$T/accounted"
"$PY" - "$T/events.jsonl" "$T/accounted" << 'PY' || fail "events lost"
import json, sys
want = {json.loads(l)["event_id"] for l in open(sys.argv[1])}
have = set(l.strip() for l in open(sys.argv[2]))
missing = want - have
if missing:
    sys.exit("%d of %d buffered events are neither in silver nor quarantined, e.g. %s"
             % (len(missing), len(want), sorted(missing)[:3]))
PY
ok "all $nevents buffered events in silver ($nfiles capture files), none twice, after $((3 * KILLS)) faults"
mq_stop
