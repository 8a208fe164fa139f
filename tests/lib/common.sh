# tests/lib/common.sh - sourced by integration tests: paths, temp dir, assertions.
set -euo pipefail
export HC_SRC=${HC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HC_BIN=${HC_BIN:-$HC_SRC/build/bin}
PY=/usr/bin/python3
AGENT="$HC_BIN/hubcap-agent"
[ -x "$AGENT" ] || { echo "no $AGENT: build first (tools/test.sh)"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-test.XXXXXX")
hc_cleanup_hooks=()
hc_cleanup() {
  local h
  for h in "${hc_cleanup_hooks[@]+"${hc_cleanup_hooks[@]}"}"; do eval "$h" || true; done
  rm -rf "$T"
}
trap hc_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# skip WHY: the test cannot run here; ctest reports it as skipped (SKIP_RETURN_CODE 77)
skip() { echo "skip: $*"; exit 77; }
ok() { echo "ok: $*"; }
# json FILE_OR_STRING KEY: read a top-level key of a JSON object
json_get() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# free_port: a TCP port on 127.0.0.1 that nothing listens on right now
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
