# tests/lib/mosquitto.sh - sourced after tests/lib/common.sh: a real Mosquitto broker (Debian's
# mosquitto) on a free loopback port, persistence on in a private folder, stopped at exit.
#
#   mq_start [EXTRA_CONF_FILE]  start it (MQ_PORT fixed for the test: restarts keep it); extra
#                         lines (listener options, password_file, acl_file, TLS) are appended
#   mq_stop               SIGTERM (it writes its persistence file) and wait
#   mq_kill9              kill -9 (what it had not saved is lost: the test's business)
#   mq_restart            mq_stop, then mq_start with the same settings
#   MQ_URL                mqtt://127.0.0.1:$MQ_PORT
# The broker keeps every queued QoS 1 message for an offline persistent session
# (max_queued_messages 0) and sends any number in flight (max_inflight_messages 0): Mosquitto's
# defaults (1000 queued, 20 in flight) drop messages for a receiver that is down a while.
command -v mosquitto > /dev/null || skip "no mosquitto (apt-get install mosquitto)"
MQ_PORT=${MQ_PORT:-$(free_port)}
MQ_URL="mqtt://127.0.0.1:$MQ_PORT"
MQ_DIR="$T/mosquitto"
MQ_PID=
MQ_EXTRA=
mkdir -p "$MQ_DIR"

mq_kill_now() { [ -n "$MQ_PID" ] && kill -9 "$MQ_PID" 2> /dev/null; wait "$MQ_PID" 2> /dev/null; MQ_PID=; }
hc_cleanup_hooks+=("mq_kill_now")

mq_start() {
  [ $# -ge 1 ] && MQ_EXTRA=$1
  {
    echo "per_listener_settings false"
    # as root Mosquitto drops to its own user, who cannot reach the private folder under $T
    [ "$(id -u)" -eq 0 ] && echo "user root"
    echo "persistence true"
    echo "persistence_location $MQ_DIR/"
    echo "autosave_interval 1"
    echo "autosave_on_changes false"
    echo "max_queued_messages 0"
    echo "max_queued_bytes 0"
    echo "max_inflight_messages 0"
    echo "log_dest file $MQ_DIR/mosquitto.log"
    echo "log_type error"
    echo "log_type warning"
    echo "log_type notice"
    if [ -n "$MQ_EXTRA" ]; then
      cat "$MQ_EXTRA"
    else
      echo "listener $MQ_PORT 127.0.0.1"
      echo "allow_anonymous true"
    fi
  } > "$MQ_DIR/mosquitto.conf"
  mosquitto -c "$MQ_DIR/mosquitto.conf" >> "$MQ_DIR/stdout" 2>&1 &
  MQ_PID=$!
  local i
  for i in $(seq 1 100); do
    if "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$MQ_PORT" 2> /dev/null; then
      return 0
    fi
    kill -0 "$MQ_PID" 2> /dev/null || { cat "$MQ_DIR/stdout" "$MQ_DIR/mosquitto.log" >&2; fail "mosquitto exited at start"; }
    sleep 0.05
  done
  fail "mosquitto did not listen on $MQ_PORT in 5 s"
}

mq_stop() {
  [ -n "$MQ_PID" ] || return 0
  kill -TERM "$MQ_PID"
  wait "$MQ_PID" 2> /dev/null || true
  MQ_PID=
}

mq_kill9() { mq_kill_now; }

mq_restart() { mq_stop; mq_start; }
