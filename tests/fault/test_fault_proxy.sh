#!/usr/bin/env bash
# A bad link and a throttling gateway, once per transport: 20 simulated devices ship to
# `hubcap-receiver serve --pg` through a fault injector, one fleet run of 35 s per transport in
# the same fleet folder:
#  - https through tests/lib/fault_proxy.py, which adds latency with jitter, resets 2 % of the
#    requests, drops the answer of 2 % after the receiver stored the batch (the devices send it
#    again: real duplicates at the hub), answers 3 % with 429 and 3 % with 503, and has a storm of
#    2 s every 10 s (429 and 503 in turn) where every request is refused;
#  - amqp through tests/lib/tcp_fault_proxy.py (AMQP is not HTTP): latency with jitter, 2 % of
#    the chunks from the devices reset both connections, 2 % of the chunks from the receiver
#    (dispositions) are not passed on and both connections are reset (events stored but not
#    acknowledged: sent again), and a storm of 2 s every 10 s cuts every connection and refuses
#    new ones.
# Each fault must have happened; the hub must have received duplicates; and still nothing is
# missing or duplicated in silver, the malformed events are quarantined, every capture file is
# once in bronze, gold equals a rebuild.
source "$(dirname "$0")/../lib/fault.sh"
source "$HC_SRC/tests/lib/transports.sh"
RX_ARGS+=("${rx_amqp_args[@]+"${rx_amqp_args[@]}"}")
fault_start

PX_PORT=$(free_port)
PX_PID=
px_stop() { [ -n "$PX_PID" ] && kill "$PX_PID" 2> /dev/null; wait "$PX_PID" 2> /dev/null || true; PX_PID=; }
hc_cleanup_hooks+=("px_stop")

for tp in "${TRANSPORTS[@]}"; do
  rm -f "$T/proxy.json"
  if [ "$tp" = https ]; then
    "$PY" "$HC_SRC/tests/lib/fault_proxy.py" --listen "$PX_PORT" --upstream "127.0.0.1:$RX_PORT" \
      --latency 20 --jitter 30 --reset 0.02 --drop 0.02 --throttle 0.03 --unavailable 0.03 \
      --storm-every 10 --storm-for 2 --storm-code 429,503 --seed 64 --stats "$T/proxy.json" \
      2> "$T/proxy.err" &
    PX_PID=$!
    for _ in $(seq 1 50); do
      curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PX_PORT/healthz" && break
      sleep 0.1
    done
    PX_CS=${CS/127.0.0.1:$RX_PORT/127.0.0.1:$PX_PORT}
    want='("forwarded", "reset", "dropped", "throttled", "unavailable", "storm_429", "storm_503")'
    base=forwarded
  else
    "$PY" "$HC_SRC/tests/lib/tcp_fault_proxy.py" --listen "$PX_PORT" \
      --upstream "127.0.0.1:$AMQP_PORT" --latency 20 --jitter 30 --reset 0.02 --drop 0.02 \
      --storm-every 10 --storm-for 2 --seed 64 --stats "$T/proxy.json" 2> "$T/proxy.err" &
    PX_PID=$!
    for _ in $(seq 1 50); do
      (exec 3<> "/dev/tcp/127.0.0.1/$PX_PORT") 2> /dev/null && break
      sleep 0.1
    done
    PX_CS=$(cs_of amqp | sed "s#127.0.0.1:$AMQP_PORT#127.0.0.1:$PX_PORT#")
    want='("chunks_up", "reset", "dropped", "storm_cuts")'
    base=chunks_up
  fi
  [ "$PX_CS" != "$CS" ] || fail "cannot point the connection string at the proxy: $CS"
  say "$tp: fault proxy on 127.0.0.1:$PX_PORT in front of the receiver"

  # no --flap: every re-send of a stored batch comes from the proxy's dropped answers
  fleet_run -s "$PX_CS" --transport "$tp" --devices 20 --duration 35 --rate 300 --seed 64 \
    --offline 0.1 --settle 60 --no-reconcile --json "${KNOBS[@]}"
  stats=$(cat "$T/proxy.json")
  say "$tp proxy: $stats"
  "$PY" - "$stats" "$want" "$base" << 'PY' || fail "$tp: a fault of the proxy never happened"
import json, sys
s, want, base = json.loads(sys.argv[1]), eval(sys.argv[2]), sys.argv[3]
for k in want:
    assert s.get(k, 0) > 0, f"proxy counter {k} is {s.get(k, 0)}: {s}"
assert s[base] > 10 * s["dropped"], f"the proxy forwarded too little: {s}"
PY
  px_stop
done
fault_finish

# the dropped answers made the hub store batches twice: bronze holds more records than the
# devices buffered (duplicates of the knob included), and silver dropped them
recs=$(json_get "$(cat "$T/reconcile.json")" generated)
bronze=$(pg_sql "SELECT count(*) FROM bronze.event")
[ "$bronze" -gt "$recs" ] ||
  fail "bronze holds $bronze records for $recs buffered: the dropped answers caused no re-sends"
say "the hub stored $((bronze - recs)) re-sent records; silver holds each event once"
tp_finish
