#!/usr/bin/env bash
# Capture files as Azure writes them (python3-avro, not the receiver's writer): deflate and null
# codecs, EnqueuedTimeUtc text without x-opt-enqueued-time, map values of every union branch,
# bodies that are not JSON, not UTF-8, or null. `land` reads them all (a damaged file is reported
# and the others still land; a ".avro.tmp" is never read); `promote` quarantines what is not a
# valid event with its rule.
source "$(dirname "$0")/../lib/common.sh"
source "$HC_SRC/tests/lib/pg.sh"
RX="$HC_BIN/hubcap-receiver"
pg_start
CAP="$T/azure"

"$PY" - "$CAP" "$HC_SRC/tests/lib" <<'PY'
import json, os, sys
import avro.datafile, avro.io, avro.schema
sys.path.insert(0, sys.argv[2])
from rxtool import CAPTURE_SCHEMA

schema = avro.schema.parse(json.dumps(CAPTURE_SCHEMA))


def event(i, kind="order_status"):
    return json.dumps({"event_id": "az-%04d" % i, "device_id": "azure-dev", "kind": kind, "schema": 1,
                       "event_time": "2026-11-22T10:00:%02d.000Z" % (i % 60),
                       "data": {"tracking_num": "AZ%011d" % (i % 7), "order_id": "o%d" % i,
                                "status": ["created", "approved", "shipped"][i % 3],
                                "status_time": "2026-11-22T10:00:%02d.000Z" % (i % 60)}}).encode()


def write(path, codec, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schema, codec=codec)
        for r in records:
            w.append(r)
        w.close()


def rec(seq, body, sysprops=None, props=None, text="11/22/2026 10:00:00 AM"):
    return {"SequenceNumber": seq, "Offset": str(seq * 1000), "EnqueuedTimeUtc": text,
            "SystemProperties": sysprops if sysprops is not None else {},
            "Properties": props or {}, "Body": body}


base = os.path.join(sys.argv[1], "ns1", "hub1")
write(os.path.join(base, "0/2026/11/22/10/00/00.avro"), "deflate",
      [rec(i, event(i), props={"event_id": "az-%04d" % i, "n": i, "ratio": 0.5, "raw": b"\x00\xff", "nul": "a\x00b"},
           text="11/22/2026 10:%02d:%02d %s" % (i // 60, i % 60, "AM"))
       for i in range(100)])
write(os.path.join(base, "1/2026/11/22/10/05/00.avro"), "null",
      [rec(0, b"\xff\xfe not utf-8", {"x-opt-enqueued-time": 1795341900123, "x-opt-offset": "0"}),
       rec(1, None),
       rec(2, b"{not json"),
       rec(3, json.dumps({"event_id": "az-x", "kind": "weather", "event_time": "2026-11-22T10:00:00Z",
                          "data": {}}).encode()),
       rec(4, event(200), text="11/22/2026 12:05:00 PM")])
# not a capture file, and a file still being written
os.makedirs(os.path.join(base, "1/2026/11/22/10/06"))
os.makedirs(os.path.join(base, "1/2026/11/22/10/07"))
with open(os.path.join(base, "1/2026/11/22/10/06/00.avro"), "wb") as f:
    f.write(b"Obj\x01 this is not an avro file")
with open(os.path.join(base, "1/2026/11/22/10/07/00.avro.tmp"), "wb") as f:
    f.write(b"partial")
PY

rc=0
"$RX" land --capture "$CAP" > "$T/land.out" 2> "$T/land.err" || rc=$?
[ "$rc" -eq 1 ] || fail "land should exit 1 with a damaged file, exited $rc"
grep -q '10/06/00.avro' "$T/land.err" || fail "the damaged file was not named: $(cat "$T/land.err")"
grep -q '2 landed (105 events)' "$T/land.out" || fail "unexpected land summary: $(cat "$T/land.out" "$T/land.err")"
ok "Azure-style files (deflate, null) landed; the damaged one reported: $(head -1 "$T/land.err")"

want() { [ "$(pg_sql "$1")" = "$2" ] || fail "$1: expected '$2', got '$(pg_sql "$1")'"; }
want "SELECT partition_id || ':' || first_seq || '-' || last_seq || ':' || events FROM bronze.capture_file ORDER BY path" $'0:0-99:100\n1:0-4:5'
# EnqueuedTimeUtc text (no x-opt-enqueued-time) and the system property when present
want "SELECT enqueued_time AT TIME ZONE 'UTC' FROM bronze.event e JOIN bronze.capture_file f USING (file_id) WHERE f.partition_id = '0' AND sequence_number = 61" "2026-11-22 10:01:01"
want "SELECT enqueued_time AT TIME ZONE 'UTC' FROM bronze.event e JOIN bronze.capture_file f USING (file_id) WHERE f.partition_id = '1' AND sequence_number = 0" "2026-11-22 10:05:00.123"
want "SELECT enqueued_time AT TIME ZONE 'UTC' FROM bronze.event e JOIN bronze.capture_file f USING (file_id) WHERE f.partition_id = '1' AND sequence_number = 4" "2026-11-22 12:05:00"
want "SELECT properties->>'n' || ' ' || (properties->>'ratio') || ' ' || (properties->'raw'->>'\$bytes') || ' ' || (properties->'nul'->>'\$bytes') FROM bronze.event WHERE sequence_number = 7 AND partition_id = '0'" "7 0.5 AP8= YQBi"
want "SELECT count(*) FROM bronze.event WHERE body IS NULL" 1

"$RX" promote -q || fail "promote failed"
want "SELECT count(*) FROM silver.order_status" 101
want "SELECT rule || '=' || count(*) FROM silver.quarantine GROUP BY rule ORDER BY rule" $'not_json=3\nunknown_kind=1'
want "SELECT count(*) FROM gold.order_tracking" 7
ok "promoted: 101 parcel updates in silver, 3 not_json and 1 unknown_kind quarantined"

# the damaged file removed: everything else is in the manifest, so nothing lands again
rm "$CAP/ns1/hub1/1/2026/11/22/10/06/00.avro"
"$RX" land --capture "$CAP" > "$T/land2.out" || fail "land failed: $(cat "$T/land2.out")"
grep -q '0 landed' "$T/land2.out" || fail "files landed twice: $(cat "$T/land2.out")"
ok "landing again lands nothing"

# PostgreSQL restarted (fast shutdown): what committed is there, and the next run goes on
pg_restart
"$RX" promote -q || fail "promote after a PostgreSQL restart failed"
want "SELECT count(*) FROM silver.order_status" 101
ok "after a PostgreSQL restart: bronze, silver and gold as committed"
