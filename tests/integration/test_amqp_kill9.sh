#!/usr/bin/env bash
# kill -9 of the receiver while Azure's own JavaScript client sends to its AMQP endpoint: two
# producers (tests/js/send_loop.js: one with a partition key, one without; the client's retry
# policy, and a failed send sent again as an application that keeps its events does) send
# agent-made events; the receiver (`serve --amqp --capture --pg`) is killed with SIGKILL 10 times
# at random moments and restarted on the same ports. Then: every event whose sendBatch resolved
# is in capture (an accepted disposition means fsynced), each capture file is once in bronze, and
# no event_id is twice in silver while every acknowledged one is there.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
source "$HC_SRC/tests/lib/transports.sh"
rx_has_amqp || skip "this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
source "$HC_SRC/tests/lib/pg.sh"
source "$HC_SRC/tests/lib/lake.sh"
source "$HC_SRC/tests/lib/js.sh"
js_setup
pg_start
CAP="$T/cap"
RX_PORT=$(free_port)
RX_ARGS=(--capture "$CAP" --window 1s --window-bytes 64K --pg "" --lake-interval 500ms "${rx_amqp_args[@]}")
rx_start "${RX_ARGS[@]}"
CS=$(grep '^Endpoint=' "$RX_OUT")
ACS=$(cs_of amqp)

# more events than the senders get through (they are paced and stopped after the 10th kill)
"$AGENT" generate --count 60000 --seed 21 --device-id k9-keyed -q > "$T/a.jsonl"
"$AGENT" generate --count 60000 --seed 22 --device-id k9-nokey -q > "$T/b.jsonl"

SEND_PIDS=()
stop_senders() { local p; for p in "${SEND_PIDS[@]+"${SEND_PIDS[@]}"}"; do kill "$p" 2> /dev/null; wait "$p" 2> /dev/null; done; }
hc_cleanup_hooks+=("stop_senders")
node "$JS_DIR/send_loop.js" --cs "$ACS" --events "$T/a.jsonl" --ack-log "$T/a.acked" --rate 1500 \
  --max-batch 200 --inflight 2 --retries 20 --give-up-s 120 > "$T/a.out" 2> "$T/a.err" &
SEND_PIDS+=($!)
node "$JS_DIR/send_loop.js" --cs "$ACS" --events "$T/b.jsonl" --ack-log "$T/b.acked" --rate 1500 \
  --max-batch 300 --key-field none --retries 20 --give-up-s 120 > "$T/b.out" 2> "$T/b.err" &
SEND_PIDS+=($!)

acked() { cat "$T/a.acked" "$T/b.acked" 2> /dev/null | wc -l; }
# the first acknowledgements before the first kill, so the senders are connected and sending
for _ in $(seq 1 200); do [ "$(acked)" -gt 1000 ] && break; sleep 0.1; done
[ "$(acked)" -gt 1000 ] || fail "the JavaScript senders got no acknowledgements: $(cat "$T/a.err" "$T/b.err")"

RANDOM=9
for i in $(seq 1 10); do
  sleep "0.$(printf '%03d' $((RANDOM % 800 + 150)))"
  rx_kill9
  before=$(acked)
  rx_start "${RX_ARGS[@]}"
  for p in "${SEND_PIDS[@]}"; do kill -0 "$p" 2> /dev/null || fail "a sender exited: $(cat "$T/a.err" "$T/b.err")"; done
  # the senders go on after the restart before the next kill
  for _ in $(seq 1 300); do [ "$(acked)" -gt "$before" ] && break; sleep 0.1; done
  [ "$(acked)" -gt "$before" ] || fail "no send resolved after restart $i: $(tail -3 "$T/a.err" "$T/b.err")"
done
for p in "${SEND_PIDS[@]}"; do kill -TERM "$p"; done
for p in "${SEND_PIDS[@]}"; do wait "$p" || fail "a sender failed: $(cat "$T/a.err" "$T/b.err")"; done
SEND_PIDS=()
ok "receiver killed 10 times while 2 JavaScript producers sent: $(cat "$T/a.out") $(cat "$T/b.out")"
rx_stop # closes the last files; the lake's last cycle lands and promotes them

"$PY" "$HC_SRC/tests/lib/capture_events.py" "$CAP" > "$T/captured.jsonl"
"$PY" - "$T" << 'PY' || exit 1
import collections, json, sys
T = sys.argv[1]
acked = [l.strip() for f in ("a.acked", "b.acked") for l in open(f"{T}/{f}") if l.strip()]
cap = collections.Counter(json.loads(l)["event_id"] for l in open(T + "/captured.jsonl"))
missing = [e for e in set(acked) if e not in cap]
if missing:
    sys.exit(f"FAIL: {len(missing)} of {len(set(acked))} acknowledged events are not in capture, e.g. {missing[:3]}")
dup = sum(n - 1 for n in cap.values() if n > 1)
print(f"ok: all {len(set(acked))} acknowledged events are in capture ({sum(cap.values())} records, "
      f"{dup} sent again after a lost acknowledgement)")
PY
nfiles=$(lake_landed_once "$CAP")
ok "$nfiles capture files, each once in bronze, all promoted by serve"
pg_sql "$LAKE_SILVER_IDS" > "$T/silver_ids"
"$PY" - "$T" << 'PY' || exit 1
import collections, sys
T = sys.argv[1]
silver = collections.Counter(l.strip() for l in open(T + "/silver_ids") if l.strip())
twice = [k for k, n in silver.items() if n > 1]
if twice:
    sys.exit(f"FAIL: {len(twice)} event_ids twice in silver, e.g. {twice[:3]}")
acked = {l.strip() for f in ("a.acked", "b.acked") for l in open(f"{T}/{f}") if l.strip()}
missing = [e for e in acked if e not in silver]
if missing:
    sys.exit(f"FAIL: {len(missing)} acknowledged events are not in silver, e.g. {missing[:3]}")
print(f"ok: silver holds every acknowledged event once ({len(silver)} rows)")
PY
