#!/usr/bin/env bash
# The receiver is down for a full minute: 20 simulated devices (late, duplicate, malformed and
# out-of-order events, offline windows, flapping links) ship for 100 s to `hubcap-receiver serve
# --pg`; 20 s in, the receiver is killed with SIGKILL and stays down for 60 s while the devices
# keep generating into their buffers; it is started again on the same port, and the fleet
# catches up while it still generates. Then: everything shipped, nothing missing or duplicated
# in silver, the malformed events quarantined, every capture file once in bronze, gold equal to
# a rebuild.
source "$(dirname "$0")/../lib/fault.sh"
fault_start
RATE=300

# queued: the events all device buffers hold unshipped (read while the fleet runs)
queued() {
  local d n total=0
  for d in "$D"/dev-*; do
    n=$(json_get "$("$AGENT" status -b "$d" --json)" queued_events) || return 1
    total=$((total + n))
  done
  echo "$total"
}

fleet_bg -s "$CS" --devices 20 --duration 100 --rate "$RATE" --seed 61 --offline 0.1 --flap \
  --settle 60 --no-reconcile --json "${KNOBS[@]}"
sleep 20
kill -0 "$FLEET_PID" 2> /dev/null || { cat "$T/fleet.1.err" >&2; fail "the fleet died"; }
before=$(rx_metric hubcap_receiver_events_total)
[ "${before:-0}" -gt $((RATE * 5)) ] || fail "the receiver took only ${before:-0} events in 20 s"
rx_kill9
say "receiver killed with SIGKILL after $before events; it stays down for 60 s"

q1=$(queued)
sleep 58
q2=$(queued)
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RX_PORT/healthz" &&
  fail "something answers on the receiver's port while it is down"
kill -0 "$FLEET_PID" 2> /dev/null || { tail -5 "$T/fleet.1.err" >&2; fail "the fleet died while the receiver was down"; }
[ "$q2" -gt $((q1 + RATE * 30)) ] ||
  fail "the devices' backlog did not grow while the receiver was down: $q1 -> $q2 queued"
say "the fleet kept generating while the receiver was down: $q1 -> $q2 events queued"

rx_restart
say "receiver started again on 127.0.0.1:$RX_PORT"
# the fleet catches up while it still generates (its back-off is at most 10 s)
caught=
for i in $(seq 1 20); do
  sleep 1
  q=$(queued)
  if [ "$q" -lt $((RATE * 3)) ]; then caught=$i; break; fi
done
[ -n "$caught" ] || fail "20 s after the receiver came back the devices still hold $q events queued (were $q2)"
say "the backlog of $q2 events drained within $caught s of the restart ($q left queued)"
kill -0 "$FLEET_PID" 2> /dev/null || fail "the fleet ended before its 100 s"
after=$(rx_metric hubcap_receiver_events_total)
[ "${after:-0}" -ge "$q2" ] || fail "the restarted receiver took only ${after:-0} events, the backlog was $q2"

fleet_wait
fault_finish
