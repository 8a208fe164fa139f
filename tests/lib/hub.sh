# tests/lib/hub.sh - sourced after common.sh by the shipper tests: a fake Event Hubs endpoint
# (tests/lib/fake_hub.py) and the agent around it. The caller sets KEY (the SAS key).
HUB_PY="$HC_SRC/tests/lib/fake_hub.py"
unset HUBCAP_CONNECTION_STRING
hub_pid=
hub_port=

# start_hub NAME [fake_hub args...]: a hub recording to $T/NAME.log and $T/NAME.acc
start_hub() {
  local name=$1 _
  shift
  rm -f "$T/$name.port"
  "$PY" "$HUB_PY" --key "$KEY" --hub events --port-file "$T/$name.port" --log "$T/$name.log" \
    --accepted "$T/$name.acc" "$@" 2> "$T/$name.hub.err" &
  hub_pid=$!
  hc_cleanup_hooks+=("kill $hub_pid 2>/dev/null")
  for _ in $(seq 1 100); do
    [ -s "$T/$name.port" ] && break
    kill -0 "$hub_pid" 2> /dev/null || break
    sleep 0.1
  done
  [ -s "$T/$name.port" ] || fail "fake hub $name did not start: $(cat "$T/$name.hub.err")"
  hub_port=$(cat "$T/$name.port")
}
kill_hub() {
  kill "$hub_pid" 2> /dev/null || true
  wait "$hub_pid" 2> /dev/null || true
}
# ship BUF [ARGS...]: ship --once, bounded in time; sets rc, output in $T/ship.out and .err
ship() {
  local buf=$1
  shift
  set +e
  timeout -k 5 100 "$AGENT" ship -b "$buf" --once "$@" > "$T/ship.out" 2> "$T/ship.err"
  rc=$?
  set -e
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "ship did not finish in 100 s: $(tail -5 "$T/ship.err")"
}
# st BUF KEY: one field of the buffer's status --json
st() { json_get "$("$AGENT" status -b "$1" --json)" "$2"; }
# events NAME COUNT SEED: generated envelopes in $T/NAME.jsonl, enqueued into $T/NAME.buf
events() {
  "$AGENT" generate --count "$2" --seed "$3" -q > "$T/$1.jsonl"
  "$AGENT" enqueue -b "$T/$1.buf" -q "$T/$1.jsonl"
}
# check NAME [ARGS...]: fake_hub.py check on NAME's records (fails the test on a problem)
check() {
  local name=$1
  shift
  "$PY" "$HUB_PY" check --log "$T/$name.log" --accepted "$T/$name.acc" "$@" > "$T/$name.check" ||
    fail "$name: $(cat "$T/$name.check")"
}
