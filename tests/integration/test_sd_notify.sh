#!/usr/bin/env bash
# test_sd_notify: the daemons under a service manager (Type=notify, WatchdogSec=). There is no
# systemd here as PID 1, so tests/lib/notify_listen.py plays its part: it binds the datagram
# socket that $NOTIFY_SOCKET names, holds the daemon inside its first sd_notify() (a full queue)
# and checks then what a client relies on at READY=1 (the receiver's port accepts a connection;
# the agent's buffer exists): a READY=1 sent too early fails whatever the timing.
#   - READY=1 arrives once, only when the port answers / the buffer is open, with a STATUS line;
#   - with WATCHDOG_USEC=2 s, WATCHDOG=1 every second or so: never a gap systemd would kill for;
#   - without WATCHDOG_USEC, no WATCHDOG=1 at all;
#   - on SIGTERM, STOPPING=1, then exit 0.
source "$(dirname "$0")/../lib/common.sh"
RX="$HC_BIN/hubcap-receiver"
[ -x "$RX" ] || skip "no receiver in this build"
grep -q '^HUBCAP_WITH_SYSTEMD:BOOL=ON' "${HC_BUILD:-$HC_SRC/build}/CMakeCache.txt" ||
  skip "built without HUBCAP_WITH_SYSTEMD: the daemons tell no service manager"

LISTEN_PID=
DAEMON_PID=
stop_all() {
  [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2> /dev/null
  [ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2> /dev/null
  wait 2> /dev/null
  DAEMON_PID= LISTEN_PID=
}
hc_cleanup_hooks+=("stop_all")

# listen NAME ARGS...: start the stand-in for systemd's socket, writing $T/NAME.jsonl
listen() {
  local name=$1
  shift
  rm -f "$T/$name.sock" "$T/$name.sock.full" "$T/$name.jsonl" "$T/$name.pid"
  "$PY" "$HC_SRC/tests/lib/notify_listen.py" "$T/$name.sock" "$T/$name.jsonl" \
    --pid-file "$T/$name.pid" "$@" &
  LISTEN_PID=$!
  for _ in $(seq 100); do [ -e "$T/$name.sock.full" ] && return 0; sleep 0.05; done
  fail "notify_listen.py did not bind $T/$name.sock"
}

# wait_msg NAME WORD: wait up to 20 s for a message with the line WORD (READY=1, STOPPING=1)
wait_msg() {
  for _ in $(seq 400); do
    grep -q "\"msg\": \"\\(.*\\\\n\\)\\?$2" "$T/$1.jsonl" 2> /dev/null && return 0
    kill -0 "$DAEMON_PID" 2> /dev/null || fail "$1: the daemon exited before $2"
    sleep 0.05
  done
  fail "$1: no $2 in 20 s: $(cat "$T/$1.jsonl" 2> /dev/null)"
}

# finish NAME: SIGTERM the daemon; STOPPING=1 must come and the daemon exit 0
finish() {
  kill -TERM "$DAEMON_PID"
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=
  [ $rc -eq 0 ] || fail "$1: exit $rc on SIGTERM: $(tail -5 "$T/$1.log")"
  sleep 0.2
  kill "$LISTEN_PID"
  wait "$LISTEN_PID" 2> /dev/null || true
  LISTEN_PID=
}

# check NAME WATCHDOG_SEC(0 = none) READY_KEY: what arrived, in order
check() {
  "$PY" - "$T/$1.jsonl" "$2" "$3" "$1" << 'PYEOF'
import json, sys
path, wd, key, name = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
recs = [json.loads(l) for l in open(path)]
lines = lambda r: r["msg"].split("\n")
def die(why):
    print(f"FAIL: {name}: {why}\n" + "\n".join(json.dumps(r) for r in recs))
    sys.exit(1)
ready = [i for i, r in enumerate(recs) if "READY=1" in lines(r)]
if len(ready) != 1 or ready[0] != 0:
    die(f"READY=1 {len(ready)} times, or not first")
r = recs[ready[0]]
if not r.get("held"):
    die("READY=1 was not checked while its sender was held")
if not r.get(key):
    die(f"READY=1 before it was true: {key} false ({r.get('port_err', '')})")
if not any(l.startswith("STATUS=") and len(l) > 7 for l in lines(r)):
    die("READY=1 without a STATUS line")
if any("WATCHDOG=1" in lines(x) for x in recs[:ready[0]]):
    die("WATCHDOG=1 before READY=1")
stop = [i for i, x in enumerate(recs) if "STOPPING=1" in lines(x)]
if len(stop) != 1 or stop[0] < ready[0]:
    die("no STOPPING=1 after READY=1")
pings = [x["t"] for x in recs if "WATCHDOG=1" in lines(x)]
statuses = [x for x in recs[ready[0] + 1:stop[0]] if any(l.startswith("STATUS=") for l in lines(x))]
span = recs[stop[0]]["t"] - r["t"]
if wd == 0:
    if pings:
        die(f"{len(pings)} WATCHDOG=1 without WATCHDOG_USEC")
    print(f"ok: {name}: READY=1 ({key}), no watchdog pings in {span:.1f} s, STOPPING=1")
    sys.exit(0)
# systemd kills the service when a gap from READY to a ping, or between pings, passes WatchdogSec
gaps = [b - a for a, b in zip([r["t"]] + pings, pings + [recs[stop[0]]["t"]])]
expect = span / (wd / 2)
if not pings or max(gaps) >= wd:
    die(f"a gap of {max(gaps) if pings else span:.2f} s without WATCHDOG=1 (WatchdogSec {wd} s)")
if len(pings) > expect * 1.5 + 2 or len(pings) < expect * 0.5:
    die(f"{len(pings)} pings in {span:.1f} s: not every {wd / 2} s")
if not statuses:
    die("no STATUS line after READY=1")
print(f"ok: {name}: READY=1 ({key}), {len(pings)} pings in {span:.1f} s (gaps "
      f"{min(gaps):.2f}-{max(gaps):.2f} s, WatchdogSec {wd} s), {len(statuses)} status lines "
      f"('{[l for l in lines(statuses[-1]) if l.startswith('STATUS=')][0]}'), STOPPING=1")
PYEOF
}

amqp_off=()
"$RX" serve --help | grep -q -- '--amqp' && amqp_off=(--amqp off)

# the receiver: READY=1 once the port answers; pings every second with WatchdogSec=2s
for wd in 2 0; do
  name=rx$wd
  port=$(free_port)
  listen $name --port "$port"
  env_wd=()
  [ $wd = 0 ] || env_wd=(WATCHDOG_USEC=$((wd * 1000000)))
  env NOTIFY_SOCKET="$T/$name.sock" "${env_wd[@]+"${env_wd[@]}"}" \
    "$RX" serve --listen "127.0.0.1:$port" --capture "$T/cap$wd" "${amqp_off[@]+"${amqp_off[@]}"}" \
    > "$T/$name.out" 2> "$T/$name.log" &
  DAEMON_PID=$!
  echo $DAEMON_PID > "$T/$name.pid"
  wait_msg $name READY=1
  sleep 6
  finish $name
  check $name $wd port_ok
done

# the agent: READY=1 once the buffer is open and the sources run
for wd in 2 0; do
  name=ag$wd
  cat > "$T/$name.conf" << EOF
[buffer]
path = $T/buf$wd
[source.gen]
type = generator
rate = 50
EOF
  listen $name --path "$T/buf$wd/data.mdb"
  env_wd=()
  [ $wd = 0 ] || env_wd=(WATCHDOG_USEC=$((wd * 1000000)))
  env NOTIFY_SOCKET="$T/$name.sock" "${env_wd[@]+"${env_wd[@]}"}" \
    "$AGENT" run -c "$T/$name.conf" > "$T/$name.out" 2> "$T/$name.log" &
  DAEMON_PID=$!
  echo $DAEMON_PID > "$T/$name.pid"
  wait_msg $name READY=1
  sleep 6
  finish $name
  check $name $wd path_ok
done
grep -q 'events queued' "$T/ag2.jsonl" || fail "agent: no status line with the buffer's counts"
ok "sd_notify: readiness, watchdog cadence and stopping for the receiver and the agent"
