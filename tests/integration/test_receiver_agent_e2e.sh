#!/usr/bin/env bash
# End to end: three agents ship generated events over HTTP to a real hubcap-receiver in its
# development mode; after SIGTERM every capture file is a Capture Avro file (read by Debian's
# python3-avro, not the writer), each event is in exactly one of them, and per-partition
# sequence numbers are contiguous.
source "$(dirname "$0")/../lib/common.sh"
RECEIVER="$HC_BIN/hubcap-receiver"
RXTOOL="$HC_SRC/receiver/tools/rxtool.py"
[ -x "$RECEIVER" ] || fail "no $RECEIVER"
port=$(free_port)

"$RECEIVER" serve --listen "127.0.0.1:$port" --capture "$T/cap" > "$T/rx.out" 2> "$T/rx.err" &
rx=$!
hc_cleanup_hooks+=("kill -9 $rx 2>/dev/null")
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$T/rx.out" 2>/dev/null && break; sleep 0.1; done
cs=$(grep '^Endpoint=' "$T/rx.out") || fail "the receiver printed no connection string: $(cat "$T/rx.err")"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done

: > "$T/ids"
for d in 1 2 3; do
  "$AGENT" generate -b "$T/buf$d" --count $((3000 * d)) --seed $d --device-id "e2e-pi-0$d" -q
  "$AGENT" dump -b "$T/buf$d" | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["event_id"])' >> "$T/ids"
done
pids=()
for d in 1 2 3; do
  "$AGENT" ship -b "$T/buf$d" --once -q -s "$cs" --max-batch-events 700 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "an agent did not ship everything"; done
for d in 1 2 3; do
  s=$("$AGENT" status -b "$T/buf$d" --json)
  [ "$(json_get "$s" queued_events)" -eq 0 ] || fail "agent $d still has events queued: $s"
done
kill -TERM "$rx"; wait "$rx" || fail "the receiver did not exit cleanly on SIGTERM: $(tail -3 "$T/rx.err")"

"$PY" "$RXTOOL" check "$T/cap" --ids "$T/ids" --no-tmp > "$T/check.json" || fail "capture check failed"
"$PY" - "$T/check.json" "$(wc -l < "$T/ids")" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert c["events"] == n and c["unique_ids"] == n and c["duplicates"] == 0, c
assert len(c["partitions"]) >= 1 and c["tmp"] == 0, c
print(f"{n} events from 3 agents in {c['files']} capture files over partitions {c['partitions']}")
PY
ok "agents -> receiver: every event captured exactly once, sequence numbers contiguous"
