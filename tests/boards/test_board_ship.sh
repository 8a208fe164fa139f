#!/usr/bin/env bash
# The board's agent (cross-built, under qemu-user) against the host's own hubcap-receiver, once
# per transport: HTTPS (REST), AMQP, and MQTT through a real Mosquitto the test starts. Per
# transport the agent generates events into its buffer and is killed with SIGKILL while it does
# (the buffer opens after it, holding a committed part), then generates the rest; ships, killed
# with SIGKILL mid-way three times (after each kill the buffer opens and its shipped counter is
# what it retains), and drains with `ship --once`. At the end every event the buffer held is in
# the receiver's capture, each shipped once by the agent's count, and an event captured twice was
# in flight at a kill: nothing buffered is lost.
source "$(dirname "$0")/../lib/common.sh"
read -r -a EMU <<< "${HC_EMU:-}"
[ ${#EMU[@]} -gt 0 ] || skip "not a board build (no CMAKE_CROSSCOMPILING_EMULATOR)"
command -v "${EMU[0]}" > /dev/null || skip "no ${EMU[0]} (Debian qemu-user)"
HOST_BIN=${HC_HOST_BIN:-$HC_SRC/build/bin}
[ -x "$HOST_BIN/hubcap-receiver" ] || skip "no host receiver in $HOST_BIN (build the host tree first)"
agent() { "${EMU[@]}" "$AGENT" "$@"; } # not for one killed: its $! is the subshell, not qemu
"${EMU[@]}" "$AGENT" --version > /dev/null 2>&1 || fail "$AGENT does not run under ${EMU[*]}"

# the receiver's fixtures, with the host's binaries
board_bin=$HC_BIN
HC_BIN=$HOST_BIN
source "$HC_SRC/tests/lib/receiver.sh"
HC_TRANSPORTS=${HC_TRANSPORTS:-https amqp mqtt}
source "$HC_SRC/tests/lib/transports.sh"
HC_BIN=$board_bin
if [[ " ${TRANSPORTS[*]} " == *" mqtt "* ]]; then
  kept=()
  for t in "${TRANSPORTS[@]}"; do [ "$t" = mqtt ] || kept+=("$t"); done
  probe=$(agent ship --transport mqtt -b "$T/probe" --once -s mqtt://127.0.0.1:1 -q 2>&1 || true)
  if [[ $probe == *"not in this build"* ]]; then
    TP_SKIPPED="${TP_SKIPPED:+$TP_SKIPPED; }mqtt: this board build has no MQTT transport (HUBCAP_WITH_MQTT=OFF)"
    TRANSPORTS=("${kept[@]+"${kept[@]}"}")
  elif ! command -v mosquitto > /dev/null; then
    TP_SKIPPED="${TP_SKIPPED:+$TP_SKIPPED; }mqtt: no mosquitto (apt-get install mosquitto)"
    TRANSPORTS=("${kept[@]+"${kept[@]}"}")
  fi
fi
[ ${#TRANSPORTS[@]} -gt 0 ] || skip "no transport to test: $TP_SKIPPED"
EVENTS=${EVENTS:-6000}
KILLS=3
BATCH=200
GEN_RATE=1000  # events/s while generate runs to its kill
SHIP_RATE=500  # events/s while a ship runs to its kill (the drain is unpaced)

rx_args=(--capture "$T/cap" "${rx_amqp_args[@]+"${rx_amqp_args[@]}"}")
if [[ " ${TRANSPORTS[*]} " == *" mqtt "* ]]; then
  source "$HC_SRC/tests/lib/mosquitto.sh"
  mq_start
  rx_args+=(--mqtt "$MQ_URL")
fi
rx_start "${rx_args[@]}"
CS=$(grep -m1 "^Endpoint=" "$RX_OUT") # cs_of reads it
if [ -n "${MQ_URL:-}" ]; then # its persistent session exists before the first publish
  for _ in $(seq 1 100); do [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done
  [ "$(rx_metric hubcap_receiver_mqtt_connected)" = 1 ] || fail "the receiver did not connect to Mosquitto: $(tail -5 "$RX_LOG")"
fi

BG=
bg_kill() { [ -n "$BG" ] && kill -9 "$BG" 2> /dev/null; wait "$BG" 2> /dev/null; BG=; }
hc_cleanup_hooks+=("bg_kill")
# kill9_after SECS: SIGKILL the background agent after SECS; 0 when it was still running
kill9_after() {
  sleep "$1"
  local rc=1
  kill -9 "$BG" 2> /dev/null && rc=0
  wait "$BG" 2> /dev/null || true
  BG=
  return $rc
}
# after_kill BUF TP: the buffer opens; its shipped counter is what it retains; the head of the
# queue (maybe in flight: up to two batches) goes to $T/$tp.window
after_kill() {
  agent status -b "$1" --json > "$T/status.json" || fail "$2: status could not open the buffer after kill -9"
  agent dump -b "$1" --retained > "$T/retained.jsonl" || fail "$2: dump could not read the buffer"
  agent dump -b "$1" --queued -n $((2 * BATCH)) >> "$T/$2.window" || fail "$2: dump --queued failed"
  "$PY" - "$T/retained.jsonl" "$T/status.json" << 'PY' || fail "$2: shipped counter and retained events disagree"
import json, sys
ret = sum(1 for l in open(sys.argv[1]) if l.strip())
st = json.load(open(sys.argv[2]))
assert st["shipped"] == ret, f"shipped={st['shipped']}, retained events {ret}"
PY
}
queued() { json_get "$(cat "$T/status.json")" queued_events; }

for tp in "${TRANSPORTS[@]}"; do
  buf="$T/$tp.buf"
  dev="board-$HC_ARCH-$tp"
  : > "$T/$tp.window"
  if [ "$tp" = mqtt ]; then
    ship_args=(--transport mqtt -s "$MQ_URL")
  else
    ship_args=(--transport "$tp" -s "$(cs_of "$tp")")
  fi

  # buffering, killed mid-way: what was committed stays, the rest is generated anew
  "${EMU[@]}" "$AGENT" generate -b "$buf" --count "$EVENTS" --rate "$GEN_RATE" --seed 17 --device-id "$dev" -q &
  BG=$!
  # killed at a random moment once it has committed some (qemu starts slowly on a busy machine)
  for _ in $(seq 1 300); do
    agent status -b "$buf" --json > "$T/status.json" 2> /dev/null && [ "$(queued)" -gt 0 ] && break
    kill -0 "$BG" 2> /dev/null || break
    sleep 0.1
  done
  kill9_after "0.$((RANDOM % 500))" || fail "$tp: generate ended before the kill"
  after_kill "$buf" "$tp"
  q=$(queued)
  [ "$q" -gt 0 ] && [ "$q" -lt "$EVENTS" ] || fail "$tp: the kill during generate did not land mid-way ($q of $EVENTS)"
  agent generate -b "$buf" --count $((EVENTS - q)) --seed 18 --device-id "$dev" -q
  agent dump -b "$buf" > "$T/$tp.buffered"
  n=$(wc -l < "$T/$tp.buffered")
  [ "$n" -eq "$EVENTS" ] || fail "$tp: the buffer holds $n events, want $EVENTS"
  echo "$tp: generate killed with $q of $EVENTS events committed; the buffer holds $n"

  # shipping, killed mid-way (catch_up_rate paces a backlog: events over a second old)
  sleep 1.2
  mid=0
  for _ in $(seq 1 $KILLS); do
    agent status -b "$buf" --json > "$T/status.json"
    before=$(queued)
    "${EMU[@]}" "$AGENT" ship -b "$buf" -q "${ship_args[@]}" --max-batch-events $BATCH --catch-up-rate $SHIP_RATE \
      --linger 20 --timeout 5 2>> "$T/$tp.ship.err" &
    BG=$!
    # the kill lands at a random moment once this run has shipped something (qemu starts slowly
    # on a busy machine)
    for _ in $(seq 1 300); do
      agent status -b "$buf" --json > "$T/status.json" || fail "$tp: status failed while shipping"
      [ "$(queued)" -lt "$before" ] && break
      kill -0 "$BG" 2> /dev/null || break
      sleep 0.1
    done
    kill9_after "0.$((RANDOM % 300))" || fail "$tp: ship exited by itself: $(tail -3 "$T/$tp.ship.err")"
    after_kill "$buf" "$tp"
    q=$(queued)
    [ "$q" -gt 0 ] && [ "$q" -lt "$EVENTS" ] && mid=$((mid + 1))
  done
  [ "$mid" -ge 2 ] || fail "$tp: only $mid of $KILLS kills landed with part of the queue shipped"
  set +e
  timeout -k 5 120 "${EMU[@]}" "$AGENT" ship -b "$buf" --once -q "${ship_args[@]}" --timeout 5 \
    --give-up-after 60 2> "$T/$tp.last.err"
  rc=$?
  set -e
  [ $rc -eq 0 ] || fail "$tp: the final ship --once exited $rc: $(cat "$T/$tp.last.err")"
  after_kill "$buf" "$tp"
  shipped=$(json_get "$(cat "$T/status.json")" shipped)
  [ "$(queued)" -eq 0 ] || fail "$tp: $(queued) events still queued"
  [ "$shipped" -eq "$EVENTS" ] || fail "$tp: shipped=$shipped, want $EVENTS (each acknowledged once)"
  ok "$tp: $KILLS kills while shipping ($mid mid-way), then drained: shipped=$shipped"
done

if [ -n "${MQ_URL:-}" ]; then # the receiver takes them from Mosquitto: wait until it has all
  captured() { rx_metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}'; }
  last=-1
  for _ in $(seq 1 300); do
    c=$(captured)
    [ "$c" -ge "$EVENTS" ] 2> /dev/null && [ "$c" = "$last" ] && break
    last=$c
    sleep 0.5
  done
fi
rx_stop
"$PY" "$HC_SRC/tests/lib/capture_events.py" "$T/cap" > "$T/captured.jsonl"
for tp in "${TRANSPORTS[@]}"; do
  "$PY" - "$T/$tp.buffered" "$T/captured.jsonl" "$T/$tp.window" "board-$HC_ARCH-$tp" << 'PY' || fail "$tp: capture check"
import collections, json, sys
want = [json.loads(l)["event_id"] for l in open(sys.argv[1])]
dev = sys.argv[4]
got = collections.Counter(e["event_id"] for e in map(json.loads, open(sys.argv[2]))
                          if e["pkey"] == dev)
window = {json.loads(l)["event_id"] for l in open(sys.argv[3]) if l.strip()}
missing = [e for e in want if e not in got]
assert not missing, f"{len(missing)} of {len(want)} buffered events not captured, e.g. {missing[:3]}"
stray = [e for e in got if e not in set(want)]
assert not stray, f"{len(stray)} captured events the buffer never held: {stray[:3]}"
twice = [e for e, n in got.items() if n > 1]
late = [e for e in twice if e not in window]
assert not late, f"{len(late)} events captured twice that were not in flight at a kill: {late[:3]}"
print(f"{dev}: all {len(want)} buffered events captured, {len(twice)} twice (in flight at a kill)")
PY
done
ok "$HC_ARCH agent under ${EMU[0]} -> host receiver over ${TRANSPORTS[*]}: kill -9 while buffering and shipping, every buffered event captured"
[ -z "${MQ_URL:-}" ] || mq_stop
tp_finish
