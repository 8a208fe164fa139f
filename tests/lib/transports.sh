# tests/lib/transports.sh - sourced (after common.sh and tests/lib/receiver.sh) by the
# shipping tests that run once per transport against the real receiver: its REST port and its
# AMQP port, and the connection string of each.
#
#   TRANSPORTS     the transports to run (HC_TRANSPORTS, default "https amqp"); amqp is left
#                  out when the receiver has no AMQP endpoint, and tp_finish then exits with the
#                  skip code (77): a test that ran only part of its legs does not pass
#   AMQP_PORT      a free loopback port for the receiver's plain AMQP listener, fixed for the
#                  test (restarts keep it)
#   rx_amqp_args   the receiver's arguments for it (--amqp 127.0.0.1:$AMQP_PORT), or none
#   cs_of T        the connection string for transport T, from the one the receiver printed
#                  (UseDevelopmentEmulator=true: plain HTTP / plain AMQP); mqtt: $MQ_URL (the
#                  test starts Mosquitto, tests/lib/mosquitto.sh, and serve --mqtt)
#   tpc BUF KEY    a transport counter of the buffer's last shipper
read -r -a TRANSPORTS <<< "${HC_TRANSPORTS:-https amqp}"
AMQP_PORT=$(free_port)
TP_SKIPPED=
rx_has_amqp() { "$HC_BIN/hubcap-receiver" serve --help 2>&1 | grep -q -- '--amqp '; }
rx_amqp_args=()
if rx_has_amqp; then
  rx_amqp_args=(--amqp "127.0.0.1:$AMQP_PORT")
else
  kept=()
  for t in "${TRANSPORTS[@]}"; do
    if [ "$t" = amqp ]; then
      TP_SKIPPED="amqp: this hubcap-receiver has no AMQP endpoint (receiver issue 13)"
    else
      kept+=("$t")
    fi
  done
  TRANSPORTS=("${kept[@]+"${kept[@]}"}")
fi
# cs_of T [CS]: the connection string for transport T (CS: the receiver's REST one, default $CS)
cs_of() {
  local cs=${2:-$CS}
  case $1 in
    https) echo "$cs" ;;
    amqp) echo "$cs" | sed -E "s#^Endpoint=sb://([^/:]+|\[[^]]+\]):[0-9]+/#Endpoint=sb://\1:$AMQP_PORT/#" ;;
    mqtt) echo "${MQ_URL:?mqtt: the test starts tests/lib/mosquitto.sh}" ;;
    *) fail "cs_of: unknown transport $1" ;;
  esac
}
# tpc BUF KEY: a transport counter of the buffer's last shipper (status --json)
tpc() {
  "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["transport_counters"][sys.argv[2]])' \
    "$("$AGENT" status -b "$1" --json)" "$2"
}
# tp_finish: the end of a per-transport test: exit 77 (skipped) when a leg could not run.
tp_finish() {
  if [ -n "$TP_SKIPPED" ]; then
    echo "SKIP (in part): $TP_SKIPPED"
    exit 77
  fi
}
