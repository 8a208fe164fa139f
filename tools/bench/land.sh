#!/usr/bin/env bash
# tools/bench/land.sh - bronze landing rate: `hubcap-receiver land` (capture files read, one
# transaction per file with its manifest row, COPY) against plain `psql \copy` of the same rows
# into an identical table (same columns and primary key), in the same run on the same private
# PostgreSQL. Prints one JSON line; target: land at least 0.8 of \copy's events/s.
#   tools/bench/land.sh            EVENTS (default 300000) and the knobs of lake_data.sh
source "$(dirname "$0")/lake_data.sh"
EVENTS=${EVENTS:-300000}
pg_start
lake_capture "$EVENTS"
files=$(find "$CAP" -name '*.avro' | wc -l)
cap_bytes=$(du -sb "$CAP" | cut -f1)

t0=$(now_s)
"$RX" land --capture "$CAP" -q > "$T/land.out" || fail "land failed: $(cat "$T/land.out")"
t1=$(now_s)
events=$(pg_sql 'SELECT count(*) FROM bronze.event')

# the same rows as COPY text, then \copy into a table like bronze.event
cols="file_id, record_no, partition_id, sequence_number, event_offset, enqueued_time, system_properties, properties, body"
psql -X -q -c "\\copy (SELECT $cols FROM bronze.event ORDER BY file_id, record_no) TO '$T/rows.copy'"
copy_bytes=$(stat -c %s "$T/rows.copy")
pg_sql "CREATE TABLE bronze.event_copy (LIKE bronze.event INCLUDING ALL)" > /dev/null
pg_sql "CHECKPOINT" > /dev/null
t2=$(now_s)
psql -X -q -c "\\copy bronze.event_copy ($cols) FROM '$T/rows.copy'"
t3=$(now_s)

"$PY" - "$events" "$files" "$cap_bytes" "$copy_bytes" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
events, files, cap_bytes, copy_bytes = map(int, sys.argv[1:5])
t0, t1, t2, t3 = map(float, sys.argv[5:9])
land_s, copy_s = t1 - t0, t3 - t2
land_eps, copy_eps = events / land_s, events / copy_s
print(json.dumps({
    "bench": "land", "events": events, "files": files, "capture_mb": round(cap_bytes / 1e6, 1),
    "copy_text_mb": round(copy_bytes / 1e6, 1),
    "land_s": round(land_s, 2), "land_eps": round(land_eps), "land_mb_s": round(copy_bytes / 1e6 / land_s, 1),
    "psql_copy_s": round(copy_s, 2), "psql_copy_eps": round(copy_eps),
    "psql_copy_mb_s": round(copy_bytes / 1e6 / copy_s, 1),
    "ratio": round(land_eps / copy_eps, 3), "target_ratio": 0.8,
    "ok": land_eps / copy_eps >= 0.8}))
PY
