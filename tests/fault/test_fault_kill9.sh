#!/usr/bin/env bash
# kill -9 loops: 20 simulated devices ship to `hubcap-receiver serve --pg`; at random moments,
# interleaved in a random order, the fleet process is killed with SIGKILL 10 times (and started
# again on the same --dir: it continues from its buffers) and the receiver is killed with
# SIGKILL 10 times (and started again on the same port: in the middle of writing, landing and
# promoting). A final fleet run drains everything. Then: nothing missing or duplicated in
# silver, the malformed events quarantined, every capture file once in bronze, gold equal to a
# rebuild.
source "$(dirname "$0")/../lib/fault.sh"
fault_start
FARGS=(-s "$CS" --devices 20 --rate 300 --seed 62 --offline 0.1 --flap --settle 60
       --no-reconcile --json "${KNOBS[@]}")

fleet_bg "${FARGS[@]}" --duration 120
SEED=${HC_FAULT_SEED:-62} # another schedule: HC_FAULT_SEED=N
RANDOM=$SEED
# 10 fleet kills and 10 receiver kills, shuffled, 0.1 to 4 s apart (some while a process starts)
order=$(printf 'F\nR\n%.0s' $(seq 1 10) | shuf --random-source=<(yes "$SEED"))
say "kill schedule (seed $SEED): $(tr "\n" " " <<< "$order")"
nf=0 nr=0 prev_events=0
for k in $order; do
  sleep "$((RANDOM % 4)).$((RANDOM % 9 + 1))"
  if [ "$k" = F ]; then
    kill -0 "$FLEET_PID" 2> /dev/null ||
      { tail -5 "$T/fleet.$FLEET_RUNS.err" >&2; fail "the fleet (run $FLEET_RUNS) died by itself"; }
    fleet_kill9
    nf=$((nf + 1))
    fleet_bg "${FARGS[@]}" --duration 120
  else
    e=$(rx_metric hubcap_receiver_events_total)
    rx_kill9
    nr=$((nr + 1))
    prev_events=$((prev_events + ${e:-0}))
    rx_restart
  fi
done
say "the fleet was killed with SIGKILL $nf times and the receiver $nr times; the receivers took $prev_events events between kills"
[ "$nf" -eq 10 ] && [ "$nr" -eq 10 ] || fail "the kill schedule did not run ($nf fleet, $nr receiver kills)"
[ "$prev_events" -gt 3000 ] || fail "the receivers took only $prev_events events between the kills"

# the last fleet run is stopped too, then a final run continues the fleet and drains it
kill -0 "$FLEET_PID" 2> /dev/null ||
  { tail -5 "$T/fleet.$FLEET_RUNS.err" >&2; fail "the fleet (run $FLEET_RUNS) died by itself"; }
fleet_kill9
fleet_run "${FARGS[@]}" --duration 5
# (a run killed before it recorded itself in fleet.state, 0.1 s after its start, does not count)
run=$(grep -o 'run [0-9]* of the fleet' "$T/fleet.$FLEET_RUNS.err" | head -1 | grep -o '[0-9]*')
[ "${run:-0}" -ge $((FLEET_RUNS - 3)) ] && [ "$run" -le "$FLEET_RUNS" ] ||
  fail "the final run did not continue the fleet in $D: $(head -3 "$T/fleet.$FLEET_RUNS.err")"
say "the final run is run $run of the fleet ($FLEET_RUNS started)"
fault_finish
