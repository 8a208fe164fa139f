#!/usr/bin/env bash
# PostgreSQL restarts under the lake: 20 simulated devices ship for 70 s to `hubcap-receiver
# serve --pg`; meanwhile PostgreSQL is restarted twice and then stopped for 10 s. The receiver
# keeps taking events (its acknowledgement does not depend on PostgreSQL), its lake loop
# reconnects by itself each time and catches up. Then: nothing missing or duplicated in silver,
# the malformed events quarantined, every capture file once in bronze, gold equal to a rebuild.
source "$(dirname "$0")/../lib/fault.sh"
fault_start
RATE=300

promoted() { rx_metric hubcap_lake_events_promoted_total; }

# wait_promoted N SECS: the lake promotes past N within SECS seconds
wait_promoted() {
  local i
  for i in $(seq 1 $(($2 * 5))); do
    [ "$(promoted)" -gt "$1" ] 2> /dev/null && return 0
    sleep 0.2
  done
  return 1
}

fleet_bg -s "$CS" --devices 20 --duration 70 --rate "$RATE" --seed 63 --offline 0.1 --flap \
  --settle 60 --no-reconcile --json "${KNOBS[@]}"
sleep 10
wait_promoted 0 10 || fail "the lake promoted nothing in the first 20 s"

for n in 1 2; do
  p=$(promoted)
  pg_restart
  say "PostgreSQL restarted ($n) with $p events promoted"
  wait_promoted "$p" 20 || fail "the lake promoted nothing in 20 s after PostgreSQL restart $n"
  sleep 8
done

e1=$(rx_metric hubcap_receiver_events_total)
pg_stop
sleep 1
p=$(promoted)
say "PostgreSQL stopped with $p events promoted; it stays down for 10 s"
sleep 9
e2=$(rx_metric hubcap_receiver_events_total)
rx_alive || fail "the receiver is not healthy while PostgreSQL is down"
[ "$e2" -gt $((e1 + RATE * 3)) ] ||
  fail "the receiver took only $((e2 - e1)) events in 10 s while PostgreSQL was down"
[ "$(promoted)" -eq "$p" ] || fail "the lake promoted events while PostgreSQL was down?"
pg_start_again
say "PostgreSQL started again; the receiver took $((e2 - e1)) events while it was down"
# the loop's back-off is at most 30 s (it doubles from 250 ms: ~16 s after a 10 s outage)
wait_promoted "$p" 40 || fail "the lake did not reconnect within 40 s of PostgreSQL's return"
say "the lake reconnected and promotes again"

fleet_wait
r=$(rx_metric hubcap_lake_reconnects_total)
[ "${r:-0}" -ge 3 ] ||
  fail "/metrics hubcap_lake_reconnects_total is ${r:-none} after 3 PostgreSQL outages"
say "/metrics: hubcap_lake_reconnects_total $r"
fault_finish
