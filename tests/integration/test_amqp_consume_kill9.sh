#!/usr/bin/env bash
# A consumer across restarts and kill -9 of the receiver, with Azure's own JavaScript client on
# both sides: a producer (tests/js/send_loop.js, its retry policy, a failed send sent again)
# sends while a consumer (tests/js/consumer.js: EventHubConsumerClient.subscribe from the
# earliest event on every partition, the client's own retry, nothing done by the test to resume
# it) reads through a TCP proxy that keeps the port open while the receiver is down
# (tcp_fault_proxy.py --upstream-wait, as a gateway or load balancer does: @azure/event-hubs
# 6.0.4 leaves a partition's pump hanging for good, without calling processError, when its
# reconnection meets a refused connect); the receiver is stopped and started once, then killed with SIGKILL three times and
# started again on the same ports. Then, per partition, the sequence numbers the consumer
# processed are exactly those the log holds (a fresh subscription from the earliest event after
# the producer stopped): nothing skipped, nothing processed twice (the client resumes after the
# last event it processed, and the receiver answers that position); every event whose send was
# acknowledged was read.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/js.sh"
js_setup
CAP="$T/cap"
RX_PORT=$(free_port)
RX_ARGS=(--capture "$CAP" --window 2s "${rx_amqp_args[@]}")
rx_start "${RX_ARGS[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
ACS=$(cs_of amqp)
"$AGENT" generate --count 30000 --seed 14 --device-id c9 -q > "$T/events.jsonl"

PPORT=$(free_port)
"$PY" "$HC_SRC/tests/lib/tcp_fault_proxy.py" --listen "$PPORT" --upstream "127.0.0.1:$AMQP_PORT" \
  --upstream-wait 20 &
PROXY=$!
PIDS=()
stop_all() { local p; for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2> /dev/null; wait "$p" 2> /dev/null; done; }
hc_cleanup_hooks+=("stop_all" "kill $PROXY")
for _ in $(seq 1 100); do (exec 3<> "/dev/tcp/127.0.0.1/$PPORT") 2> /dev/null && break; sleep 0.05; done
PCS=$(echo "$ACS" | sed "s#:$AMQP_PORT/#:$PPORT/#")
node "$JS_DIR/send_loop.js" --cs "$ACS" --events "$T/events.jsonl" --ack-log "$T/acked" --rate 400 \
  --max-batch 40 --key-field none --retries 20 --give-up-s 120 > "$T/send.out" 2> "$T/send.err" &
SENDER=$!
PIDS+=($SENDER)
# HC_JS_DEBUG_CONSUMER=rhea:frames,azure:event-hubs:verbose: the client's own log in live.err
DEBUG="${HC_JS_DEBUG_CONSUMER:-}" node "$JS_DIR/consumer.js" --cs "$PCS" --from earliest --stop-file "$T/stop" --idle-ms 8000 \
  --timeout-ms 180000 > "$T/live.jsonl" 2> "$T/live.err" &
CONSUMER=$!
PIDS+=($CONSUMER)

got() { grep -c '"body"' "$T/live.jsonl" 2> /dev/null || true; }
grows() { # WHAT: the consumer gets 300 more events within 60 s
  local before i
  before=$(got)
  for i in $(seq 1 600); do [ "$(got)" -gt $((before + 300)) ] && return 0; sleep 0.1; done
  fail "the consumer got no new events after $1 ($(got) in all): $(tail -3 "$T/live.err" "$T/send.err")"
}
grows "its start"
rx_stop
rx_start "${RX_ARGS[@]}"
grows "a restart"
RANDOM=14
for i in 1 2 3; do
  sleep "0.$(printf '%03d' $((RANDOM % 700 + 200)))"
  rx_kill9
  rx_start "${RX_ARGS[@]}"
  kill -0 "$CONSUMER" 2> /dev/null || fail "the consumer exited after kill $i: $(tail -3 "$T/live.err")"
  grows "kill -9 number $i"
done
kill -TERM "$SENDER"
wait "$SENDER" || fail "the producer failed: $(cat "$T/send.err")"
ok "producer: $(cat "$T/send.out")"
touch "$T/stop"
wait "$CONSUMER" || fail "the consumer failed: $(tail -3 "$T/live.jsonl" "$T/live.err")"
PIDS=()
node "$JS_DIR/consumer.js" --cs "$ACS" --from earliest --idle-ms 4000 --timeout-ms 120000 \
  > "$T/truth.jsonl" || fail "consumer.js (the log afterwards) failed"
"$PY" - "$T" << 'PY' || fail "the consumer across restarts"
import collections, json, sys
T = sys.argv[1]
def rows(name):
    rs = [json.loads(l) for l in open(f"{T}/{name}.jsonl")]
    return [r for r in rs if "body" in r], rs[-1]
live, ldone = rows("live")
truth, tdone = rows("truth")
assert tdone["done"] and not tdone["errors"], tdone
seqs = lambda rs: {p: [r["seq"] for r in rs if r["partition"] == p] for p in sorted({r["partition"] for r in rs})}
L, Tr = seqs(live), seqs(truth)
assert L.keys() == Tr.keys(), (L.keys(), Tr.keys())
for p in Tr:
    twice = [s for s, n in collections.Counter(L[p]).items() if n > 1]
    assert not twice, f"partition {p}: processed twice: {twice[:10]}"
    skipped = sorted(set(Tr[p]) - set(L[p]))
    assert not skipped, f"partition {p}: skipped {len(skipped)}: {skipped[:10]}"
    assert L[p] == Tr[p], f"partition {p}: out of order or not in the log"
acked = {l.strip() for l in open(f"{T}/acked") if l.strip()}
ids = {r["props"].get("event_id") for r in live}
missing = acked - ids
assert not missing, f"{len(missing)} acknowledged events not read, e.g. {sorted(missing)[:3]}"
print(f"ok: {len(live)} events in {len(L)} partitions processed once each, in order, none "
      f"skipped; all {len(acked)} acknowledged ones read; the client's errors on the way: "
      f"{ldone['errors']}")
PY
rx_stop
