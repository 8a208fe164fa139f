#!/usr/bin/env bash
# On a 32-bit board (armhf, under qemu-user) the agent refuses a --max-bytes (or a [buffer]
# max_bytes) whose LMDB map (2 x max_bytes + 64 MiB) cannot be mapped, saying the maximum, and
# creates nothing; the maximum itself opens and is the buffer's cap. A 64-bit board takes 1G.
source "$(dirname "$0")/../lib/common.sh"
read -r -a EMU <<< "${HC_EMU:-}"
agent() { "${EMU[@]}" "$AGENT" "$@"; }
agent generate --count 10 --seed 3 -q > "$T/ev.jsonl"
if [ "${HC_ARCH:-}" != armv7l ]; then
  agent enqueue -b "$T/b64" --max-bytes 1G -q "$T/ev.jsonl" || fail "a 64-bit agent refused --max-bytes 1G"
  ok "64-bit ($HC_ARCH): --max-bytes 1G maps"
  exit 0
fi
set +e
agent enqueue -b "$T/big" --max-bytes 1G -q "$T/ev.jsonl" 2> "$T/err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "--max-bytes 1G on armhf exited $rc, want 2 (usage): $(cat "$T/err")"
grep -q "the maximum is 736M" "$T/err" || fail "no maximum in the message: $(cat "$T/err")"
[ ! -e "$T/big" ] || fail "a refused --max-bytes created the buffer"
printf '[buffer]\npath = %s\nmax_bytes = 1G\n' "$T/conf.buf" > "$T/a.conf"
set +e
agent run -c "$T/a.conf" 2> "$T/err2"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "the maximum is 736M" "$T/err2" || fail "max_bytes = 1G in a config: rc $rc: $(cat "$T/err2")"
agent enqueue -b "$T/max" --max-bytes 736M -q "$T/ev.jsonl" || fail "--max-bytes 736M (the maximum) failed"
agent status -b "$T/max" --json > "$T/st.json"
[ "$(json_get "$(cat "$T/st.json")" max_bytes)" = $((736 << 20)) ] || fail "cap: $(cat "$T/st.json")"
[ "$(json_get "$(cat "$T/st.json")" queued_events)" = 10 ] || fail "queued: $(cat "$T/st.json")"
agent enqueue -b "$T/def" -q "$T/ev.jsonl" || fail "the default cap does not map on armhf"
[ "$(json_get "$(agent status -b "$T/def" --json)" max_bytes)" = $((512 << 20)) ] || fail "default cap on armhf is not 512M"
ok "armhf: --max-bytes 1G refused ($(head -1 "$T/err")); 736M maps; the default is 512M"
