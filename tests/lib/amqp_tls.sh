# tests/lib/amqp_tls.sh - sourced after tests/lib/receiver.sh by the tests of the receiver's AMQP
# listener over TLS with Azure's own clients (test_amqp_js_tls.sh, test_amqp_python.sh).
#
# rx_start_amqp_tls PORT PARTITIONS KEY: make the test CA under $T/ca (make_test_ca.sh), write
# $T/receiver.conf (capture in $T/cap, window 1s; AMQP over TLS only, on 127.0.0.1:PORT with the
# test CA's server certificate; hub "events" with PARTITIONS partitions; rule "sender" with KEY,
# send and listen rights) and start the receiver with it (rx_start).
rx_start_amqp_tls() {
  local port=$1 partitions=$2 key=$3
  bash "$HC_SRC/tests/lib/make_test_ca.sh" "$T/ca" || fail "make_test_ca.sh failed"
  cat > "$T/receiver.conf" << EOF2
[capture]
dir = $T/cap
window = 1s
[amqp]
listen = off
listen_tls = 127.0.0.1:$port
tls_cert = $T/ca/server.pem
tls_key = $T/ca/server.key
[hub events]
partitions = $partitions
[rule sender]
key = $key
rights = send listen
EOF2
  rx_start -c "$T/receiver.conf"
}
