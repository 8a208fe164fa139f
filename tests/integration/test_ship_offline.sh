#!/usr/bin/env bash
# Offline and back, once per transport (https, amqp), against a real hubcap-receiver: `run` keeps
# generating into the buffer while the receiver is down; status says why nothing ships; when the
# receiver comes back on the same ports the backlog drains oldest first, no faster than
# catch_up_rate, and every event reaches the capture.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
RATE=300
CATCH_UP=600
RX_PORT=$(free_port) # the same ports after the outage

rx_start --capture "$T/cap" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}"
CS=$(grep '^Endpoint=' "$RX_OUT")

for tp in "${TRANSPORTS[@]}"; do
  buf="$T/$tp.buf"
  queued() { json_get "$("$AGENT" status -b "$buf" --json)" queued_events; }
  cat > "$T/$tp.conf" << CONF
[agent]
device_id = offline-$tp
[buffer]
path = $buf
[hub]
transport = $tp
connection_string = $(cs_of "$tp")
catch_up_rate = $CATCH_UP
linger = 50ms
[source.gen]
type = generator
rate = $RATE
seed = 11
CONF
  "$AGENT" run -c "$T/$tp.conf" 2> "$T/$tp.run.err" &
  agent=$!
  hc_cleanup_hooks+=("kill $agent 2>/dev/null")
  sleep 2
  [ "$(json_get "$("$AGENT" status -b "$buf" --json)" shipped)" -gt 0 ] ||
    fail "$tp: nothing shipped while the receiver was up: $(tail -3 "$T/$tp.run.err")"
  rx_stop
  sleep 5
  q=$(queued)
  [ "$q" -ge $((RATE * 3)) ] || fail "$tp: the buffer holds $q events after 5 s offline at $RATE/s"
  st=$("$AGENT" status -b "$buf" --json)
  echo "$st" | grep -q 'refused' || fail "$tp: status does not report the refused connection: $st"
  ok "$tp offline: generating goes on into the buffer ($q queued), status says why nothing ships"

  rx_start --capture "$T/cap" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}"
  t_up=$(date +%s.%N)
  for _ in $(seq 1 300); do [ "$(queued)" -le $((RATE / 2)) ] && break; sleep 0.1; done
  t_drained=$(date +%s.%N)
  [ "$(queued)" -le $((RATE / 2)) ] || fail "$tp: the backlog did not drain: $(queued) queued"
  kill -TERM "$agent"
  wait "$agent" || fail "$tp: run did not stop cleanly: $(tail -3 "$T/$tp.run.err")"
  "$AGENT" ship -b "$buf" --once -q --transport "$tp" -s "$(cs_of "$tp")" ||
    fail "$tp: the last events did not ship"
  "$AGENT" dump -b "$buf" --retained > "$T/$tp.all"
  echo "$q $t_up $t_drained" > "$T/$tp.times"
  ok "$tp back online: drained"
done
rx_stop

"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
for tp in "${TRANSPORTS[@]}"; do
  read -r q t_up t_drained < "$T/$tp.times"
  "$PY" - "$T/$tp.all" "$T/captured.jsonl" "offline-$tp" "$q" "$CATCH_UP" "$RATE" "$t_up" "$t_drained" << 'PY' || fail "$tp: after the outage"
import json, sys
allev, cap, dev = sys.argv[1], sys.argv[2], sys.argv[3]
backlog, catch_up, rate = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
t_up, t_drained = float(sys.argv[7]), float(sys.argv[8])
ids = [json.loads(l)["event_id"] for l in open(allev)]
got, seen = [], set()
for e in map(json.loads, open(cap)):  # one device: one partition, in sequence order
    if e["pkey"] == dev and e["event_id"] not in seen:
        seen.add(e["event_id"])
        got.append(e["event_id"])
missing = set(ids) - seen
assert not missing, f"{len(missing)} events never reached the capture"
# oldest first, across the outage too: first arrivals in event_id (UUIDv7, time) order
assert got == sorted(got), "the events did not arrive oldest first"
# catch-up: draining backlog + fresh events took at least what the rate allows (1 s burst)
secs = t_drained - t_up
need = (backlog - catch_up) / catch_up
assert secs >= need * 0.8, f"drained {backlog} in {secs:.1f}s, faster than {catch_up}/s allows"
print(f"{dev}: backlog {backlog} drained in {secs:.1f}s (catch-up {catch_up:.0f}/s, fresh "
      f"{rate:.0f}/s); {len(ids)} events all captured, oldest first")
PY
done
ok "back online (${TRANSPORTS[*]}): the backlog drained oldest first within the catch-up rate, nothing lost"
tp_finish
