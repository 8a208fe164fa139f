#!/usr/bin/env bash
# The shipper against a fault-injecting Event Hubs REST endpoint (tests/lib/fake_hub.py, which
# verifies the SAS token and the batch format on its own): 201, 429 with Retry-After, 503, dropped
# and reset connections, answers slower than the client's timeout, 400 for a poison event, 413,
# 401, an unreachable hub, and `run -c` with a [hub] section. Nothing is lost, an event is sent
# again only after a send that was not acknowledged, and the agent's counters match the hub's log.
source "$(dirname "$0")/../lib/common.sh"
KEY="k3y-$RANDOM+/="
source "$HC_SRC/tests/lib/hub.sh"

hub_stats() {
  "$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_stats", timeout=5).read().decode())' "$hub_port"
}
# wait until the hub answered every request it got (a slow answer may still be sleeping)
hub_quiet() {
  local _
  for _ in $(seq 1 150); do
    [ "$(json_get "$(hub_stats)" in_flight)" -eq 0 ] && return 0
    sleep 0.1
  done
  fail "the fake hub still has requests in flight after 15 s"
}
stop_hub() {
  hub_quiet
  kill_hub
}
cs() { # PORT [KEY]
  echo "Endpoint=sb://127.0.0.1:$1/;SharedAccessKeyName=send;SharedAccessKey=${2:-$KEY};EntityPath=events;UseDevelopmentEmulator=true"
}
# q NAME EXPR: evaluate a Python expression over the hub's request log L (sorted by req) and
# accepted events A
q() {
  "$PY" - "$T/$1.log" "$T/$1.acc" "$2" << 'PY'
import json, sys
L = sorted((json.loads(l) for l in open(sys.argv[1]) if l.strip()), key=lambda r: r["req"])
L = [r for r in L if "response" in r]
A = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print(eval(sys.argv[3]))
PY
}
want() { # WHAT GOT EXPECTED
  [ "$2" = "$3" ] || fail "$1: got $2, want $3"
}

# --- 201: every event arrives once, oldest first, in batches under the size limit
events e1 3000 11
start_hub h1
ship "$T/e1.buf" --connection-string "$(cs "$hub_port")" --max-batch-bytes 64K
[ $rc -eq 0 ] || fail "ship --once exited $rc: $(cat "$T/ship.err")"
stop_hub
check h1 --expect "$T/e1.jsonl"
want "events accepted twice" "$(q h1 'len(A) - len({a["event_id"] for a in A})')" 0
"$PY" - "$T/e1.jsonl" "$T/h1.acc" << 'PY' || fail "events did not arrive oldest first"
import json, sys
want = [json.loads(l)["event_id"] for l in open(sys.argv[1])]
got = [json.loads(l)["event_id"] for l in open(sys.argv[2])]
sys.exit(0 if want == got else 1)
PY
want "largest request" "$(q h1 'max(r["bytes"] for r in L) <= 65536')" True
want "requests (64 KiB batches of 3000 events)" "$(q h1 'len(L) >= 15')" True
want "requests with a bad token" "$(q h1 'sum(r["auth"] != "ok" for r in L)')" 0
want "events whose properties disagree with their Body" "$(q h1 'sum(bool(r["props_error"]) for r in L)')" 0
want "shipped" "$(st "$T/e1.buf" shipped)" 3000
want "queued_events" "$(st "$T/e1.buf" queued_events)" 0
want "retried" "$(st "$T/e1.buf" retried)" 0
want "dead" "$(st "$T/e1.buf" dead)" 0
want "paused" "$(st "$T/e1.buf" paused)" False
want "last_error" "$(st "$T/e1.buf" last_error)" None
[ "$(st "$T/e1.buf" last_success)" != None ] || fail "last_success is null after shipping"
ok "201: 3000 events arrive once each, oldest first, in batches <= 64 KiB; counters match"

# --- the connection string from the environment; --max-batch-events caps the events per request
events e1b 1000 12
start_hub h1b
HUBCAP_CONNECTION_STRING="$(cs "$hub_port")" ship "$T/e1b.buf" --max-batch-events 100
[ $rc -eq 0 ] || fail "ship with HUBCAP_CONNECTION_STRING exited $rc: $(cat "$T/ship.err")"
stop_hub
check h1b --expect "$T/e1b.jsonl"
want "most events in one request" "$(q h1b 'max(r["events"] for r in L) <= 100')" True
want "requests" "$(q h1b 'len(L) >= 10')" True
want "shipped" "$(st "$T/e1b.buf" shipped)" 1000
ok "HUBCAP_CONNECTION_STRING is used; --max-batch-events 100 gives requests of <= 100 events"

# --- 429 with Retry-After: the agent waits as long as the hub asked
events e2 1000 13
start_hub h2 --plan "201,429:retry-after=2,201"
ship "$T/e2.buf" --connection-string "$(cs "$hub_port")" --max-batch-bytes 64K
[ $rc -eq 0 ] || fail "ship after a 429 exited $rc: $(cat "$T/ship.err")"
stop_hub
check h2 --expect "$T/e2.jsonl"
gap=$(q h2 'round([L[i+1]["time"] - r["time"] for i, r in enumerate(L) if r["response"] == "429"][0], 2)')
"$PY" -c "import sys; sys.exit(0 if 1.9 <= $gap <= 10 else 1)" ||
  fail "the request after a 429 with Retry-After: 2 came ${gap}s later"
want "retried (one 429)" "$(st "$T/e2.buf" retried)" 1
want "shipped" "$(st "$T/e2.buf" shipped)" 1000
ok "429 with Retry-After: 2 is honoured (next request ${gap}s later), retried=1"

# --- 503, dropped and reset connections, an answer slower than --timeout: all resent
events e3 2000 14
# (drop*2, reset*2: an HTTP client may resend at once on a reused connection that fails; the
# second failure is then on a fresh connection, and the agent must see it)
start_hub h3 --plan "201,503,201,drop*2,201,reset*2,201,slow:4,201"
t0=$(date +%s)
ship "$T/e3.buf" --connection-string "$(cs "$hub_port")" --max-batch-bytes 64K --timeout 2
t1=$(date +%s)
[ $rc -eq 0 ] || fail "ship through 503/drop/reset/slow exited $rc: $(cat "$T/ship.err")"
stop_hub
check h3 --expect "$T/e3.jsonl"
# An event is accepted twice only when the answer to its first acceptance never reached the
# agent: the slow answer (the agent gave up after --timeout 2 and sent the batch again).
want "events accepted twice that were not in the slow request" \
  "$(q h3 'len({a["event_id"] for a in A if sum(b["event_id"] == a["event_id"] for b in A) > 1} - {e for r in L if r["response"].startswith("slow") for e in r["event_ids"]})')" 0
want "slow requests" "$(q h3 'sum(r["response"].startswith("slow") for r in L)')" 1
want "shipped = events answered 201 at once" "$(st "$T/e3.buf" shipped)" "$(q h3 'sum(r["events"] for r in L if r["response"] == "201")')"
want "shipped" "$(st "$T/e3.buf" shipped)" 2000
retried=$(st "$T/e3.buf" retried)
# failures the agent must have seen: 503, the timed-out answer, and drops/resets on a fresh
# connection (the first request on it); a reused connection that failed may have been retried
# inside the HTTP client, counted or not
must=$(q h3 'sum(r["response"] == "503" or r["response"].startswith("slow") or (r["response"] in ("drop", "reset") and r["conn"] not in {p["conn"] for p in L if p["req"] < r["req"]}) for r in L)')
may=$(q h3 'sum(r["response"] != "201" for r in L)')
[ "$retried" -ge "$must" ] && [ "$retried" -le "$may" ] ||
  fail "retried=$retried, the hub failed $must requests for sure and $may at most"
[ $((t1 - t0)) -ge 2 ] || fail "the slow answer did not cost the agent its --timeout"
ok "503, drop, reset and a timed-out answer: all 2000 resent and shipped, duplicates only from the unacknowledged send, retried=$retried (failures: $must sure, $may at most)"

# --- 400 for a poison event: the batch is split down to it; it alone is dead-lettered
"$AGENT" generate --count 600 --seed 15 -q > "$T/e4.all"
poison=$("$PY" - "$T/e4.all" "$T/e4.jsonl" << 'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
i = next(i for i, e in enumerate(ev) if i >= 290 and e["kind"] == "order_line")
ev[i]["data"]["description"] = "a POISON-PILL for the hub"
with open(sys.argv[2], "w") as f:
    for e in ev:
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
print(ev[i]["event_id"])
PY
)
echo "$poison" > "$T/e4.dead"
"$AGENT" enqueue -b "$T/e4.buf" -q "$T/e4.jsonl"
start_hub h4 --poison POISON-PILL
ship "$T/e4.buf" --connection-string "$(cs "$hub_port")" --max-batch-bytes 64K
[ $rc -eq 3 ] || fail "ship with a poison event exited $rc, want 3: $(cat "$T/ship.err")"
stop_hub
check h4 --expect "$T/e4.jsonl" --dead "$T/e4.dead"
want "dead" "$(st "$T/e4.buf" dead)" 1
want "dead_letter_events" "$(st "$T/e4.buf" dead_letter_events)" 1
want "shipped" "$(st "$T/e4.buf" shipped)" 599
want "queued_events" "$(st "$T/e4.buf" queued_events)" 0
want "400 answers" "$(q h4 'sum(r["status"] == 400 for r in L) >= 2')" True
want "the last request with the poison event" \
  "$(q h4 '[(r["events"], r["status"]) for r in L if "'"$poison"'" in r["event_ids"]][-1]')" "(1, 400)"
"$AGENT" dump -b "$T/e4.buf" --dead-letter > "$T/e4.dump"
"$PY" - "$T/e4.dump" "$poison" << 'PY' || fail "dump --dead-letter: $(cat "$T/e4.dump")"
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
assert len(d) == 1, d
assert d[0]["event"]["event_id"] == sys.argv[2], d
assert "400" in d[0]["reason"], d[0]["reason"]
assert isinstance(d[0]["seq"], int) and d[0]["enqueued"], d
PY
ok "400 poison: batch split down to the poison event, which alone is dead-lettered (exit 3); 599 shipped"

# --- 413: batches over the hub's limit are split until they fit; an event alone over it is
# dead-lettered with the hub's reason
"$AGENT" generate --count 400 --seed 16 -q > "$T/e5.all"
big=$("$PY" - "$T/e5.all" "$T/e5.jsonl" << 'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
i = next(i for i, e in enumerate(ev) if i >= 200 and e["kind"] == "order_line")
ev[i]["data"]["description"] = "B" * 30000
with open(sys.argv[2], "w") as f:
    for e in ev:
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
print(ev[i]["event_id"])
PY
)
echo "$big" > "$T/e5.dead"
"$AGENT" enqueue -b "$T/e5.buf" -q "$T/e5.jsonl"
start_hub h5 --max-bytes 20000
ship "$T/e5.buf" --connection-string "$(cs "$hub_port")" --max-batch-bytes 64K
[ $rc -eq 3 ] || fail "ship with a too large event exited $rc, want 3: $(cat "$T/ship.err")"
stop_hub
check h5 --expect "$T/e5.jsonl" --dead "$T/e5.dead"
want "dead" "$(st "$T/e5.buf" dead)" 1
want "shipped" "$(st "$T/e5.buf" shipped)" 399
want "413 answers" "$(q h5 'sum(r["status"] == 413 for r in L) >= 2')" True
"$AGENT" dump -b "$T/e5.buf" --dead-letter > "$T/e5.dump"
"$PY" - "$T/e5.dump" "$big" << 'PY' || fail "dump --dead-letter: $(cat "$T/e5.dump")"
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
assert len(d) == 1 and d[0]["event"]["event_id"] == sys.argv[2], d
assert "413" in d[0]["reason"], d[0]["reason"]
PY
ok "413: batches split until they fit; the one event over the hub's limit dead-lettered (exit 3)"

# --- 401 once: the token is renewed and shipping goes on
events e6 500 17
start_hub h6 --plan "401,201"
ship "$T/e6.buf" --connection-string "$(cs "$hub_port")"
[ $rc -eq 0 ] || fail "ship after one 401 exited $rc: $(cat "$T/ship.err")"
stop_hub
check h6 --expect "$T/e6.jsonl"
want "first answers" "$(q h6 '[r["response"] for r in L][:2]')" "['401', '201']"
want "shipped" "$(st "$T/e6.buf" shipped)" 500
ok "401 once: token renewed, all 500 shipped"

# --- 401 for ever: renewed once, then the agent stops and says why; nothing leaves the queue
events e7 200 18
start_hub h7 --plan "401"
ship "$T/e7.buf" --connection-string "$(cs "$hub_port")" --give-up-after 30
[ $rc -eq 1 ] || fail "ship refused with 401 exited $rc, want 1: $(cat "$T/ship.err")"
stop_hub
grep -q "401" "$T/ship.err" && grep -qi "token\|SharedAccess" "$T/ship.err" ||
  fail "no clear message for 401: $(cat "$T/ship.err")"
n=$(q h7 'len(L)')
[ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "$n requests under 401, want 2 (one, then one after renewing)"
want "queued_events" "$(st "$T/e7.buf" queued_events)" 200
want "shipped" "$(st "$T/e7.buf" shipped)" 0
want "paused" "$(st "$T/e7.buf" paused)" True
st "$T/e7.buf" last_error | grep -q 401 || fail "last_error: $(st "$T/e7.buf" last_error)"
want "accepted" "$(q h7 'len(A)')" 0
ok "401 for ever: $n requests (renewed once), exit 1 with a clear message, paused, queue unchanged"

# --- a wrong key: the hub's own verification refuses it, the same way
start_hub h8
ship "$T/e7.buf" --connection-string "$(cs "$hub_port" "not-the-key")"
[ $rc -eq 1 ] || fail "ship with a wrong key exited $rc, want 1: $(cat "$T/ship.err")"
stop_hub
grep -qi "SharedAccessKey" "$T/ship.err" || fail "wrong key: no hint at the key: $(cat "$T/ship.err")"
want "answers" "$(q h8 'sorted({(r["status"], r["auth"]) for r in L})')" "[(401, 'bad signature')]"
want "queued_events" "$(st "$T/e7.buf" queued_events)" 200
ok "a wrong SharedAccessKey: 401 from the hub's own check, exit 1, queue unchanged"

# --- a prebuilt SharedAccessSignature: a valid one ships; an expired one is refused (no renewal)
tok() { # EXPIRY-OFFSET-SECONDS
  "$PY" -c 'import sys, time; sys.path.insert(0, sys.argv[1]); import fake_hub
print(fake_hub.make_token("http://127.0.0.1/events", "send", sys.argv[2], int(time.time()) + int(sys.argv[3])))' \
    "$HC_SRC/tests/lib" "$KEY" "$1"
}
start_hub h9
sas_cs() { echo "Endpoint=sb://127.0.0.1:$hub_port/;SharedAccessSignature=$(tok "$1");EntityPath=events;UseDevelopmentEmulator=true"; }
ship "$T/e7.buf" --connection-string "$(sas_cs -60)"
[ $rc -eq 1 ] || fail "ship with an expired token exited $rc, want 1: $(cat "$T/ship.err")"
grep -qi "SharedAccessSignature\|expired" "$T/ship.err" || fail "expired token: $(cat "$T/ship.err")"
want "queued_events" "$(st "$T/e7.buf" queued_events)" 200
ship "$T/e7.buf" --connection-string "$(sas_cs 3600)"
[ $rc -eq 0 ] || fail "ship with a valid prebuilt token exited $rc: $(cat "$T/ship.err")"
stop_hub
want "auth results" "$(q h9 'sorted({r["auth"][:13] for r in L})')" "['ok', 'token expired']"
want "shipped" "$(st "$T/e7.buf" shipped)" 200
ok "SharedAccessSignature connection strings: expired refused (exit 1), valid ships"

# --- unreachable, and a hub that is always busy: give up after --give-up-after, lose nothing
events e10 300 19
port=$(free_port)
t0=$(date +%s)
ship "$T/e10.buf" --connection-string "$(cs "$port")" --give-up-after 3
t1=$(date +%s)
[ $rc -eq 1 ] || fail "ship to nowhere exited $rc, want 1: $(cat "$T/ship.err")"
grep -qi "refused\|connect" "$T/ship.err" || fail "unreachable: $(cat "$T/ship.err")"
[ $((t1 - t0)) -ge 3 ] && [ $((t1 - t0)) -le 40 ] || fail "gave up after $((t1 - t0)) s with --give-up-after 3"
want "queued_events" "$(st "$T/e10.buf" queued_events)" 300
[ "$(st "$T/e10.buf" retried)" -ge 1 ] || fail "retried=0 after failed connects"
[ "$(st "$T/e10.buf" last_error)" != None ] || fail "last_error is null after giving up"
"$PY" -c 'import json, sys; b = json.loads(sys.argv[1])["backoff_ms"]; sys.exit(0 if isinstance(b, int) and b >= 0 else 1)' \
  "$("$AGENT" status -b "$T/e10.buf" --json)" || fail "status has no backoff_ms"
start_hub h10 --plan 503
ship "$T/e10.buf" --connection-string "$(cs "$hub_port")" --give-up-after 3
[ $rc -eq 1 ] || fail "ship to a busy hub exited $rc, want 1: $(cat "$T/ship.err")"
stop_hub
grep -qi "503\|busy" "$T/ship.err" || fail "busy hub: $(cat "$T/ship.err")"
want "queued_events" "$(st "$T/e10.buf" queued_events)" 300
before=$(q h10 'len(L)')
[ "$before" -ge 2 ] || fail "only $before requests in 3 s of 503"
# retried counts every failed attempt: the connects to nowhere, then one per 503 here
"$PY" -c 'import sys; sys.exit(0 if int(sys.argv[1]) >= int(sys.argv[2]) + 1 else 1)' \
  "$(st "$T/e10.buf" retried)" "$before" || fail "retried=$(st "$T/e10.buf" retried) < 503 answers ($before) + 1"
ok "unreachable and always-busy hubs: exit 1 after --give-up-after 3, nothing lost"

# --- usage: no connection string
ship "$T/e10.buf"
[ $rc -eq 2 ] || fail "ship without a connection string exited $rc, want 2"
grep -qi "connection" "$T/ship.err" || fail "no connection string: $(cat "$T/ship.err")"
ok "no connection string: exit 2 naming it"

# --- run -c with a [hub] section ships continuously what its sources make
start_hub h11
cat > "$T/run.conf" << EOF
[agent]
device_id = run-test-01
[buffer]
path = $T/e11.buf
[hub]
connection_string = $(cs "$hub_port")
max_batch_bytes = 64K
linger = 50ms
[source.gen]
type = generator
rate = 300
EOF
timeout -k 5 60 "$AGENT" run -c "$T/run.conf" > "$T/run.out" 2> "$T/run.err" &
rpid=$!
hc_cleanup_hooks+=("kill $rpid 2>/dev/null")
sleep 3
kill -TERM $rpid
wait $rpid || fail "run exited non-zero: $(cat "$T/run.err")"
shipped=$(st "$T/e11.buf" shipped)
[ "$shipped" -ge 300 ] || fail "run shipped $shipped events in 3 s at 300/s"
"$AGENT" dump -b "$T/e11.buf" --retained > "$T/e11.retained"
hub_quiet
check h11 --expect "$T/e11.retained"
ship "$T/e11.buf" --connection-string "$(cs "$hub_port")"
[ $rc -eq 0 ] || fail "ship --once after run exited $rc: $(cat "$T/ship.err")"
stop_hub
"$AGENT" dump -b "$T/e11.buf" > "$T/e11.all"
check h11 --expect "$T/e11.all"
want "queued_events" "$(st "$T/e11.buf" queued_events)" 0
ok "run -c with [hub]: $shipped events shipped while generating; all of them reached the hub"
