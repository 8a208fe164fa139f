#!/usr/bin/env bash
# tools/bench/log_read.sh - how fast a partition's log reads back (receiver/log/log.h): EVENTS
# (default 1,000,000) agent-like events written into one partition's capture files by the real
# partition writer, then read from the start by a log reader through the index, from the files
# (a fresh log: nothing in the in-memory tail). The peer in the same run is the capture scanner
# decoding every record of every file in order with no index and no copy (the floor of reading
# those files); the target is read_vs_scan >= 0.5. Also: random positions (sequence number,
# offset, enqueued time: open a reader, read one event; median and p99 in microseconds) and the
# index rebuilt from the files after it is deleted. Prints one JSON line.
#   tools/bench/log_read.sh [EVENTS]
set -euo pipefail
HC_SRC=${HC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
EVENTS=${1:-${EVENTS:-1000000}}
T=$(mktemp -d "${TMPDIR:-/tmp}/hc_log_read.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x "$HC_BIN/bench-log-read" ] || { echo "build first: $HC_BIN/bench-log-read" >&2; exit 1; }
"$HC_BIN/bench-log-read" "$T" "$EVENTS" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r["target_read_vs_scan"] = 0.5
r["ok"] = r["read_vs_scan"] >= 0.5
print(json.dumps(r))'
