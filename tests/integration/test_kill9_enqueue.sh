#!/usr/bin/env bash
# kill -9 the agent 20 times at random moments while it enqueues a large CSV file.
# After each kill the buffer opens, and every event the agent had reported as committed is
# there exactly once; at the end every good row is there exactly once and every bad row is in
# the .rejects file exactly once.
source "$(dirname "$0")/../lib/common.sh"

ROWS=${ROWS:-200000}
BAD_EVERY=9973
csv="$T/orders.csv"
buf="$T/buf"
"$PY" - "$csv" "$ROWS" "$BAD_EVERY" <<'PY'
import sys
path, rows, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w", newline="") as f:
    f.write("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n")
    for i in range(1, rows + 1):
        if i % bad == 0:
            f.write(f"{536365 + i // 5},85123A,ROW {i},not-a-number,12/1/2010 8:26,2.55,17850,United Kingdom\r\n")
        else:
            f.write(f"{536365 + i // 5},85123A,\"ROW {i}, \"\"quoted\"\"\",{i % 12 + 1},12/1/2010 8:26,2.55,17850,United Kingdom\r\n")
PY
nbad=$((ROWS / BAD_EVERY))
ngood=$((ROWS - nbad))

# check_buffer REPORTED: the buffer opens; the committed prefix is there once, nothing twice.
check_buffer() {
  local reported=$1
  "$AGENT" status -b "$buf" --json > "$T/status.json" || fail "status could not open the buffer"
  "$AGENT" dump -b "$buf" > "$T/dump.jsonl" || fail "dump could not read the buffer"
  "$PY" - "$T/dump.jsonl" "$reported" <<'PY' || exit 1
import json, re, sys
rows = []
for line in open(sys.argv[1]):
    d = json.loads(line)["data"]["description"]
    rows.append(int(re.match(r"ROW (\d+)", d).group(1)))
reported = int(sys.argv[2])
dups = len(rows) - len(set(rows))
if dups:
    sys.exit(f"FAIL: {dups} rows stored twice")
if len(rows) < reported:
    sys.exit(f"FAIL: agent reported {reported} committed, buffer holds {len(rows)}")
if rows != sorted(rows):
    sys.exit("FAIL: rows out of file order")
PY
}

kills=0
for i in $(seq 1 20); do
  "$AGENT" enqueue -b "$buf" -P -q --batch 25 "$csv" > "$T/run$i.log" 2>"$T/run$i.err" &
  pid=$!
  sleep "$("$PY" -c 'import random; print(round(random.uniform(0.005, 0.08), 3))')"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  reported=$(grep -o 'events=[0-9]*' "$T/run$i.log" | tail -1 | cut -d= -f2 || true)
  check_buffer "${reported:-0}"
done
echo "killed the agent $kills times"
[ "$kills" -ge 15 ] || fail "the file went in too fast to kill the agent mid-way ($kills kills)"

"$AGENT" enqueue -b "$buf" -q "$csv" || [ $? -eq 3 ] || fail "the final run failed"
check_buffer "$ngood"
"$PY" - "$T/dump.jsonl" "$ngood" "$csv.rejects" "$nbad" "$BAD_EVERY" <<'PY'
import sys
n = sum(1 for _ in open(sys.argv[1]))
if n != int(sys.argv[2]):
    sys.exit(f"FAIL: {n} events in the buffer, {sys.argv[2]} good rows in the file")
lines = [int(l.split("\t")[0]) for l in open(sys.argv[3])]
want = [k + 1 for k in range(int(sys.argv[5]), int(sys.argv[2]) + int(sys.argv[4]) + 1, int(sys.argv[5]))]
# file line = row + 1 (the header is line 1)
if sorted(lines) != want or len(lines) != len(set(lines)):
    sys.exit(f"FAIL: rejects lines {lines[:5]}… != expected {want[:5]}…")
PY
enq=$(json_get "$(cat "$T/status.json")" enqueued)
rej=$(json_get "$(cat "$T/status.json")" rejected)
[ "$enq" -eq "$ngood" ] || fail "status says enqueued=$enq, want $ngood"
[ "$rej" -eq "$nbad" ] || fail "status says rejected=$rej, want $nbad"
ok "after $kills kills: $ngood events exactly once, $nbad rejects exactly once"
