#!/usr/bin/env bash
# The receiver's capture folder on a 1 MiB tmpfs that fills up (issue 12). Senders keep posting
# (5-event batches to /events/partitions/0/messages, 50-event batches over the 4 partitions)
# while it fills. Every answer is 201 or 503 with Retry-After; every event that got a 201 is read
# back by python3-avro exactly once, with no sequence gap or repeat in any partition; when space
# comes back (a file deleted, the tmpfs made bigger) new sends get 201 with no restart; a restart
# on the same folder sets nothing aside. Three runs: a clean stop, a restart while the disk is
# full, a kill -9 while it fills.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"
FILL=("$PY" "$HC_SRC/tests/lib/capture_fill.py")

[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
mnt="$T/small"
mkdir -p "$mnt"
mount -t tmpfs -o size=1M tmpfs "$mnt" 2> "$T/mount.err" ||
  skip "cannot mount a tmpfs here: $(cat "$T/mount.err")"
hc_cleanup_hooks+=("send_kill" "umount -l '$mnt'")
CAP="$mnt/cap"
RX_ARGS=(--capture "$CAP" --window-bytes 100K)
SENDERS=()
ACKED=()

send_kill() { local p; for p in "${SENDERS[@]+"${SENDERS[@]}"}"; do kill -9 "$p" 2> /dev/null; done; }

# send_start NAME [ARGS...]: two sender processes (2 threads each: partition 0, and spread) in
# the background until send_stop NAME; their acknowledged ids go to $T/NAME.acked.
send_start() {
  local name=$1 mode
  shift
  rm -f "$T/$name.stop"
  ACKED+=("$T/$name.acked")
  SENDERS=()
  for mode in p0 spread; do
    "${FILL[@]}" send --url "$RX_URL" --mode "$mode" --stop-file "$T/$name.stop" \
      --acked "$T/$name.acked" "$@" > "$T/$name.$mode.json" 2> "$T/$name.$mode.err" &
    SENDERS+=($!)
  done
}
send_stop() {
  local p
  [ -n "${2:-}" ] || touch "$T/$1.stop"
  for p in "${SENDERS[@]}"; do wait "$p" || fail "a sender of $1 failed: $(cat "$T/$1".*.err)"; done
  SENDERS=()
}
# statuses NAME ALLOWED_REGEX: every answer of the run matched; prints "201=N 503=M ..."
statuses() {
  local out
  out=$("$PY" - "$T/$1.p0.json" "$T/$1.spread.json" "$2" << 'PY'
import json, re, sys
c = {}
for f in sys.argv[1:3]:
    for k, v in json.load(open(f)).items():
        c[k] = c.get(k, 0) + v
bad = {k: v for k, v in c.items() if not re.fullmatch(sys.argv[3], k)}
if bad:
    sys.exit("answers other than %s: %s" % (sys.argv[3], c))
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
PY
  ) || fail "$1: $out"
  echo "$out"
}
# send_stop NAME [wait]: stop the senders (wait: let them finish their --count) and wait for them
# send_n NAME N: N batches per sender thread, each must get 201
send_n() {
  send_start "$1" --count "$2"
  send_stop "$1" wait
  local s
  s=$(statuses "$1" '201')
  [ -n "$s" ] || fail "$1: nothing sent"
  echo "$s"
}
# wait_errors N: until the receiver counted N failed capture writes (60 s at most)
wait_errors() {
  local i
  for i in $(seq 1 600); do
    [ "$(rx_metric hubcap_receiver_capture_write_errors_total)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "the disk did not fill: $(rx_metric hubcap_receiver_capture_write_errors_total) write errors"
}
# check WHAT [ARGS]: every acknowledged event of the run in the capture once, no gap or repeat
check() {
  "${FILL[@]}" check "$CAP" --acked "${ACKED[@]}" "${@:2}" > "$T/check.json" 2>&1 ||
    fail "$1: $(cat "$T/check.json")"
  cat "$T/check.json"
}
# nothing_set_aside: the last start set no file aside
nothing_set_aside() {
  [ "$(rx_metric hubcap_receiver_capture_files_set_aside_total)" = 0 ] ||
    fail "the restart set files aside: $(grep -i 'set aside' "$RX_LOG")"
  ! grep -qi 'set aside\|corrupt' "$RX_LOG" || fail "the restart says: $(grep -i 'set aside\|corrupt' "$RX_LOG")"
}
# restart: start the receiver again on the same folder and port, with a new log
restart() {
  : > "$RX_LOG"
  rx_start "${RX_ARGS[@]}"
}
# fresh SIZE: an empty tmpfs of SIZE for the next run
fresh() {
  rm -rf "$CAP" "$mnt/ballast"
  mount -o remount,size="$1" "$mnt"
  ACKED=()
  : > "$RX_LOG"
}

# ---- 1: fills; a file deleted gives room back (no restart); a clean stop; a restart -------------
fresh 1M
head -c 300K /dev/urandom > "$mnt/ballast"
rx_start "${RX_ARGS[@]}"
send_start fill1
wait_errors 20
send_stop fill1
s=$(statuses fill1 '201|503')
[[ "$s" == *201=* && "$s" == *503=* ]] || fail "filling gave $s (want both 201 and 503)"
grep -q "No space left on device.*503.*free space under $CAP" "$RX_LOG" ||
  fail "no log line says the disk is full and what to do: $(grep -v '503: the events' "$RX_LOG" | tail -3)"
n503=$(grep -c '503: ' "$RX_LOG" || true)
[ "$n503" -le 30 ] || fail "$n503 log lines for the 503 answers (one a second at most is enough)"
ok "1 MiB tmpfs filled by 4 senders: $s ($n503 log lines for the 503s)"
rm "$mnt/ballast"
s=$(send_n room1 5)
grep -q "writing again after" "$RX_LOG" || fail "no log line says the partition writes again"
ok "a file deleted: the running receiver takes new sends again ($s)"
rx_stop
c=$(check "after a clean stop")
ok "clean stop: $c"
restart
nothing_set_aside
s=$(send_n restart1 3)
rx_stop
c=$(check "after a restart")
ok "a restart sets nothing aside, numbering goes on ($s): $c"

# ---- 2: a restart while the disk is full, then the tmpfs grows ------------------------------
fresh 1M
rx_start "${RX_ARGS[@]}"
send_start fill2
wait_errors 20
send_stop fill2
s=$(statuses fill2 '201|503')
rx_stop
restart
nothing_set_aside
send_start full2
sleep 1
send_stop full2
s2=$(statuses full2 '201|503')
ok "filled ($s), restarted on the full disk: $s2"
mount -o remount,size=2M "$mnt"
s=$(send_n grown2 5)
ok "the tmpfs made bigger: new sends get 201 with no restart ($s)"
rx_stop
c=$(check "restart while full")
ok "restart while full: $c"

# ---- 3: kill -9 while it fills ----------------------------------------------------------------
fresh 1M
rx_start "${RX_ARGS[@]}"
send_start fill3
wait_errors 3
rx_kill9
sleep 0.5
send_stop fill3
s=$(statuses fill3 '201|503|neterr')
restart
nothing_set_aside
grep 'recovery:' "$RX_LOG" | head -3
mount -o remount,size=2M "$mnt"
s2=$(send_n grown3 5)
rx_stop
c=$(check "kill -9 while filling")
ok "kill -9 while it filled ($s), restart and more room ($s2): $c"
