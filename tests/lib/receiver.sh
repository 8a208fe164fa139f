# tests/lib/receiver.sh - sourced by tests/integration/test_receiver_*.sh after
# tests/lib/common.sh: start, stop and talk to a real hubcap-receiver on a free loopback port.
RX="$HC_BIN/hubcap-receiver"
RXTOOL=("$PY" "$HC_SRC/tests/lib/rxtool.py")
[ -x "$RX" ] || { echo "no $RX: build first"; exit 1; }
RX_PID=
RX_PORT=${RX_PORT:-0}
RX_OUT="$T/rx.out"
RX_LOG="$T/rx.log"

rx_kill_now() { [ -n "$RX_PID" ] && kill -9 "$RX_PID" 2>/dev/null; wait "$RX_PID" 2>/dev/null; RX_PID=; }
hc_cleanup_hooks+=("rx_kill_now")

# rx_start ARGS...: start `hubcap-receiver serve ARGS` listening on 127.0.0.1:$RX_PORT (0: any
# free port, then RX_PORT is set to it) and wait until it prints its connection string.
rx_start() {
  : > "$RX_OUT"
  "$RX" serve --listen "127.0.0.1:$RX_PORT" "$@" > "$RX_OUT" 2>> "$RX_LOG" &
  RX_PID=$!
  local i
  for i in $(seq 1 200); do
    if grep -q '^Endpoint=' "$RX_OUT" 2>/dev/null; then
      RX_PORT=$(grep -o '^Endpoint=sb://127.0.0.1:[0-9]*' "$RX_OUT" | grep -o '[0-9]*$')
      RX_URL="http://127.0.0.1:$RX_PORT"
      return 0
    fi
    kill -0 "$RX_PID" 2>/dev/null || { cat "$RX_LOG" >&2; fail "the receiver exited at start"; }
    sleep 0.05
  done
  fail "the receiver did not start in 10 s"
}

# rx_stop: SIGTERM, and the receiver must exit 0 (every capture file closed).
rx_stop() {
  kill -TERM "$RX_PID"
  local rc=0
  wait "$RX_PID" || rc=$?
  RX_PID=
  [ "$rc" -eq 0 ] || { tail -20 "$RX_LOG" >&2; fail "the receiver exited $rc on SIGTERM"; }
}

rx_kill9() { kill -9 "$RX_PID"; wait "$RX_PID" 2>/dev/null || true; RX_PID=; }

rx_alive() { kill -0 "$RX_PID" 2>/dev/null && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$RX_URL/healthz")" = 200 ]; }

# rx_token [HUB] [KEY_NAME] [KEY] [EXPIRY]: a SAS token for http://127.0.0.1/HUB.
rx_token() {
  local exp=()
  [ -n "${4:-}" ] && exp=(--expiry "$4")
  "${RXTOOL[@]}" token "http://127.0.0.1/${1:-events}" "${2:-RootManageSharedAccessKey}" \
    "${3:-SAS_KEY_VALUE}" "${exp[@]+"${exp[@]}"}"
}

# rx_post PATH AUTH CONTENT_TYPE BODY_FILE [CURL ARGS...]: the HTTP status of a POST.
rx_post() {
  local path=$1 auth=$2 ctype=$3 body=$4
  shift 4
  curl -s -o "$T/last_answer" -w '%{http_code}' --max-time 30 -X POST \
    -H "Authorization: $auth" -H "Content-Type: $ctype" --data-binary "@$body" "$@" \
    "$RX_URL$path"
}

# rx_metric NAME_WITH_LABELS: a value from /metrics.
rx_metric() { curl -s "$RX_URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
