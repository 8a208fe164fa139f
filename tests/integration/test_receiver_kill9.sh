#!/usr/bin/env bash
# kill -9 the receiver 20 times while clients send. Clients behave as the agent does: a batch is
# sent again until it gets a 201, and only a 201 counts. After each restart the partial capture
# files are recovered; at the end every event that got a 201 is in a capture file, and every
# partition's sequence numbers are contiguous from 0 across all the files.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/receiver.sh"

KILLS=${KILLS:-20}
cap="$T/capture"
# small windows: files are rolled (by size) while the kills happen, too
args=(--capture "$cap" --window-bytes 256K --window 3s)
rx_start "${args[@]}"

"${RXTOOL[@]}" send --url "$RX_URL" --count 1000000000 --batch 40 --threads 6 --devices 50 \
  --ack-log "$T/acked" --stop-file "$T/stop" --grace 30 > "$T/send.json" 2> "$T/send.err" &
sender=$!
hc_cleanup_hooks+=("kill $sender 2>/dev/null")

kills=0
for i in $(seq 1 "$KILLS"); do
  sleep "$("$PY" -c 'import random; print(round(random.uniform(0.2, 0.7), 3))')"
  before=$(wc -l < "$T/acked" 2>/dev/null || echo 0)
  rx_kill9
  kills=$((kills + 1))
  sleep "$("$PY" -c 'import random; print(round(random.uniform(0, 0.2), 3))')"
  rx_start "${args[@]}"
  echo "kill $i: $before events acknowledged so far"
done
sleep 1
touch "$T/stop"
wait "$sender" || fail "the sender failed: $(cat "$T/send.err")"
rx_stop

acked=$(wc -l < "$T/acked")
[ "$acked" -gt 1000 ] || fail "only $acked events acknowledged: the senders did not get through"
recovered=$(grep -c "recovered to its last complete block" "$RX_LOG" || true)
echo "sender: $(cat "$T/send.json"); files recovered after kills: $recovered"
"${RXTOOL[@]}" check "$cap" --ids "$T/acked" --no-tmp > "$T/check.json" || fail "capture check"
ok "after $kills kill -9: all $acked acknowledged events captured, sequence numbers contiguous: $(cat "$T/check.json")"
