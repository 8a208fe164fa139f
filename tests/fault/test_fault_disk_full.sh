#!/usr/bin/env bash
# A buffer on a small tmpfs that fills up before the buffer's own cap (issue 6): the commit that
# finds the disk full teaches the buffer a cap for the disk, the full policy applies under it
# (drop-oldest: the oldest are dropped and counted; block: generate waits for the shipper, as at
# the cap), nothing crashes, `status` shows the disk-full state, every event still in the buffer
# reaches a real receiver, and after shipping the same full tmpfs takes new events (LMDB reuses
# the freed pages: the data file does not need to grow).
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"

[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
mnt="$T/small"
mkdir -p "$mnt"
mount -t tmpfs -o size=12M tmpfs "$mnt" 2> "$T/mount.err" ||
  skip "cannot mount a tmpfs here: $(cat "$T/mount.err")"
hc_cleanup_hooks+=("umount -l '$mnt'")
buf="$mnt/buf"
st() { "$AGENT" status -b "$buf" --json; }
field() { json_get "$(cat "$T/st.json")" "$1"; }

# ---- drop-oldest: far more than fits, nobody shipping (the receiver is down) --------------------
set +e
"$AGENT" generate -b "$buf" --max-bytes 64M --full-policy drop-oldest --count 60000 --seed 1 -q \
  2> "$T/gen1.err"
rc=$?
set -e
[ $rc -eq 0 ] || fail "generate on a full disk exited $rc: $(cat "$T/gen1.err")"
grep -q "disk under $buf is full" "$T/gen1.err" || fail "no word of the full disk: $(cat "$T/gen1.err")"
[ "$(grep -c 'is full' "$T/gen1.err")" -eq 1 ] || fail "said more than once: $(cat "$T/gen1.err")"
st > "$T/st.json"
[ "$(field disk_full)" = True ] || fail "status does not show the full disk: $(cat "$T/st.json")"
cap=$(field disk_cap)
[ "$cap" -gt $((1 << 20)) ] && [ "$cap" -lt $((12 << 20)) ] || fail "disk cap $cap for a 12M disk"
[ "$(field max_bytes)" -eq $((64 << 20)) ] || fail "the buffer's own cap is not kept: $(cat "$T/st.json")"
q=$(field queued_events) d=$(field dropped)
[ "$d" -gt 0 ] || fail "nothing dropped: $(cat "$T/st.json")"
[ "$(field enqueued)" -eq 60000 ] && [ $((q + d)) -eq 60000 ] ||
  fail "enqueued $(field enqueued), queued $q + dropped $d != 60000"
[ "$(field queued_bytes)" -le "$cap" ] || fail "queued $(field queued_bytes) B over the disk cap $cap"
"$AGENT" status -b "$buf" | grep -q '^DISK FULL' || fail "human status shows no DISK FULL line"
[ "$("$AGENT" dump -b "$buf" | wc -l)" -eq "$q" ] || fail "dump does not give the $q queued events"
ok "drop-oldest on a full 12M disk: exit 0, $d dropped and counted, $q kept under a disk cap of $cap B"

# a second run goes straight to the learned cap
"$AGENT" generate -b "$buf" --full-policy drop-oldest --count 20000 --seed 2 -q 2> "$T/gen2.err" ||
  fail "second generate: $(cat "$T/gen2.err")"
st > "$T/st.json"
[ "$(field enqueued)" -eq 80000 ] || fail "second run: $(cat "$T/st.json")"
[ "$(field max_bytes)" -eq $((64 << 20)) ] || fail "a run without --max-bytes changed the cap"
ok "the next run keeps to the disk cap and to the buffer's own 64M cap"

# ---- block: waits for the shipper like at the cap, drops nothing, stops cleanly on SIGTERM ------
d0=$(field dropped) q0=$(field queued_events)
"$AGENT" generate -b "$buf" --full-policy block --count 20000 --seed 3 -q 2> "$T/gen3.err" & gpid=$!
hc_cleanup_hooks+=("kill -9 $gpid 2>/dev/null")
# (generate says it once, with the cap: "is full (64.0 MiB, policy block): generate waits until a
# shipper makes room")
full='is full \(([^)]*, )?policy block\): (waiting for the shipper|generate waits until a shipper)'
for _ in $(seq 1 200); do grep -Eq "$full" "$T/gen3.err" && break; sleep 0.1; done
grep -Eq "$full" "$T/gen3.err" ||
  fail "block did not wait for the shipper: $(cat "$T/gen3.err")"
kill -0 $gpid || fail "generate with block exited instead of waiting"
kill -TERM $gpid
rc=0; wait $gpid || rc=$?
[ $rc -eq 0 ] || fail "generate with block exited $rc on SIGTERM: $(cat "$T/gen3.err")"
st > "$T/st.json"
[ "$(field dropped)" -eq "$d0" ] || fail "block dropped events"
[ "$(field full)" -gt 0 ] || fail "refused puts not counted: $(cat "$T/st.json")"
[ "$(field queued_events)" -ge "$q0" ] || fail "block lost events"
ok "block on a full disk: waits for the shipper, drops nothing, exits 0 on SIGTERM"

# ---- ship everything to a real receiver: every event in the buffer arrives ---------------------
"$AGENT" dump -b "$buf" --queued | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["event_id"])' > "$T/ids"
n=$(wc -l < "$T/ids")
rx_start --capture "$T/cap"
cs=$(grep '^Endpoint=' "$RX_OUT")
"$AGENT" ship -b "$buf" --once -q -s "$cs" 2> "$T/ship.err" || fail "ship --once: $(cat "$T/ship.err")"
rx_stop
"${RXTOOL[@]}" check "$T/cap" --ids "$T/ids" --no-tmp > "$T/check.json" || fail "capture check"
[ "$(json_get "$(cat "$T/check.json")" events)" -eq "$n" ] || fail "captured: $(cat "$T/check.json") of $n"
st > "$T/st.json"
[ "$(field queued_events)" -eq 0 ] || fail "still queued after ship --once: $(cat "$T/st.json")"
ok "all $n events left in the buffer reached the receiver"

# ---- the same full tmpfs takes new events: freed pages are reused ------------------------------
size0=$(stat -c %s "$buf/data.mdb")
e0=$(field enqueued)
"$AGENT" generate -b "$buf" --full-policy block --count 5000 --seed 4 -q 2> "$T/gen4.err" ||
  fail "generate after shipping: $(cat "$T/gen4.err")"
"$AGENT" generate -b "$buf" --full-policy drop-oldest --count 30000 --seed 5 -q 2> "$T/gen5.err" ||
  fail "generate drop-oldest after shipping: $(cat "$T/gen5.err")"
st > "$T/st.json"
[ "$(field enqueued)" -eq $((e0 + 35000)) ] || fail "after shipping: $(cat "$T/st.json")"
[ "$(field queued_bytes)" -le "$(field disk_cap)" ] || fail "over the disk cap: $(cat "$T/st.json")"
[ "$(stat -c %s "$buf/data.mdb")" -le $((12 << 20)) ] || fail "data.mdb outgrew the disk"
ok "after shipping, 35000 more events go into the same full disk (data.mdb $size0 B)"

# ---- space comes back: the disk cap relaxes -----------------------------------------------------
mount -o remount,size=64M "$mnt"
"$AGENT" generate -b "$buf" --full-policy drop-oldest --count 20000 --seed 6 -q 2> "$T/gen6.err" ||
  fail "generate after the disk grew: $(cat "$T/gen6.err")"
st > "$T/st.json"
q=$(field queued_bytes)
[ "$q" -gt "$cap" ] || fail "the cap did not relax with 52M free: $(cat "$T/st.json")"
ok "with room again the disk cap relaxes (queued $q B > the old disk cap $cap B)"
