#!/usr/bin/env bash
# tools/bench/mqtt.sh - events end to end over MQTT: agents -> Mosquitto -> hubcap-receiver
# (its MQTT front end: a PUBACK only after the capture fsync) next to the same agents over HTTPS
# (REST) and AMQP straight to the same receiver, in one run; and the other design of the front
# end, paho subscribers that fsync each message in messageArrived before paho acknowledges it
# (tools/bench/bench_mqtt_paho.c), under the same load. Prints one JSON line.
#
#   tools/bench/mqtt.sh [--events N] [--agents K] [--paho-events M] [--per-message P]
#
# Per transport: K agents (default 4) each drain N/K (N default 200000) 300-byte envelopes with
# `ship --once` at the same time. eps = N / (first start .. the receiver has captured all N:
# for MQTT, its captured counter, which counts events after their fsync); rx_cpu_s_per_million:
# the receiver's user + system CPU over that time per million events; agent_cpu_s_per_million
# (the K agents together) and, for MQTT, broker_cpu_s_per_million. mqtt: one event per PUBLISH
# (IoT Hub's form); mqtt_packed: the same agents with --events-per-message P (default 100: an
# Event Hubs batch per PUBLISH, which the receiver reads). mosquitto_pub: the same
# events published by Mosquitto's own client (K processes), what the front end takes when the
# publisher is not paho. paho: M events (default
# 20000) to 1 and to 4 paho clients (shared subscription), eps and fsyncs. Target: MQTT >= 20000
# events/s (pass.mqtt_eps: one event a message; pass.mqtt_packed_eps). Environment: HC_BIN
# (default build/bin).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HC_BIN:-$top/build/bin}
PY=/usr/bin/python3
n=200000
k=4
paho_n=20000
per_msg=100
while [ $# -gt 0 ]; do
  case $1 in
    --events) n=$2; shift 2 ;;
    --agents) k=$2; shift 2 ;;
    --paho-events) paho_n=$2; shift 2 ;;
    --per-message) per_msg=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "mqtt.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v mosquitto > /dev/null || { echo "mqtt.sh: no mosquitto" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/hubcap-bench-mqtt.XXXXXX")
rx=
mq=
paho=
trap '[ -n "$paho" ] && kill $paho 2>/dev/null; [ -n "$rx" ] && kill "$rx" 2>/dev/null; [ -n "$mq" ] && kill "$mq" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# K files of 300-byte envelopes, distinct ids (file i: device bench-0i)
$PY - "$n" "$k" "$work" << 'PY'
import json, sys, uuid
n, k, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for a in range(k):
    with open(f"{work}/ev{a}.jsonl", "w") as out:
        for i in range(a * (n // k), (a + 1) * (n // k)):
            e = {"event_id": str(uuid.UUID(int=(0x01a2008d7400 << 80) | (7 << 76) | (2 << 62) | i)),
                 "device_id": f"bench-0{a}", "kind": "order_line", "schema": 1,
                 "event_time": "2026-11-22T03:00:00.000Z",
                 "data": {"invoice_no": str(536365 + i), "pad": ""}}
            s = json.dumps(e, separators=(",", ":"))
            e["data"]["pad"] = "x" * (300 - len(s))
            out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
n=$(( (n / k) * k ))

mq_port=$(port)
{
  [ "$(id -u)" -eq 0 ] && echo "user root"
  echo "listener $mq_port 127.0.0.1"
  echo "allow_anonymous true"
  echo "persistence true"
  echo "persistence_location $work/"
  echo "max_queued_messages 0"
  echo "max_inflight_messages 0"
  echo "log_dest file $work/mosquitto.log"
} > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > /dev/null 2>&1 &
mq=$!
sleep 0.5
mq_url="mqtt://127.0.0.1:$mq_port"

# ship_all TP CS [SHIP ARGS...]: K agents draining their buffers at once; sets agent_cpu (seconds)
ship_all() {
  local tp=$1 cs=$2 i pids=()
  shift 2
  for i in $(seq 0 $((k - 1))); do
    "$bin/hubcap-agent" enqueue -b "$work/$tp$i.buf" --no-sync -q "$work/ev$i.jsonl"
  done
  t0=$(date +%s.%N)
  for i in $(seq 0 $((k - 1))); do
    /usr/bin/time -f '%U %S' -o "$work/$tp$i.time" \
      "$bin/hubcap-agent" ship -b "$work/$tp$i.buf" --once -q --transport "$tp" -s "$cs" "$@" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  agent_cpu=$(cat "$work/$tp"*.time | awk '{s += $1 + $2} END {print s}')
  rm -rf "$work/$tp"*.buf
}

# pub_all: the same events published by K mosquitto_pub -l (QoS 1), one per device topic
pub_all() {
  local i pids=()
  t0=$(date +%s.%N)
  for i in $(seq 0 $((k - 1))); do
    mosquitto_pub -p "$mq_port" -q 1 -t "devices/bench-0$i/messages/events/" -l < "$work/ev$i.jsonl" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  agent_cpu=0
}

# paho: M events to 1, then 4, paho subscribers that fsync each message
paho_json="{"
for conns in 1 4; do
  "$bin/bench-mqtt-paho" "tcp://127.0.0.1:$mq_port" 'devices/+/messages/events/#' \
    "$work/paho.out" "$paho_n" "$conns" > "$work/paho$conns.json" &
  paho=$!
  for _ in $(seq 1 100); do grep -q ready "$work/paho$conns.json" && break; sleep 0.05; done
  for i in $(seq 0 $((k - 1))); do head -n $((paho_n / k)) "$work/ev$i.jsonl" > "$work/p$i.jsonl"; done
  for i in $(seq 0 $((k - 1))); do "$bin/hubcap-agent" enqueue -b "$work/p$conns$i.buf" --no-sync -q "$work/p$i.jsonl"; done
  pids=()
  for i in $(seq 0 $((k - 1))); do
    "$bin/hubcap-agent" ship -b "$work/p$conns$i.buf" --once -q --transport mqtt -s "$mq_url" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  wait "$paho"
  paho=
  rm -rf "$work"/p"$conns"*.buf
  paho_json+="\"conns_$conns\":$(tail -1 "$work/paho$conns.json"),"
done
paho_json="${paho_json%,}}"

# the receiver: REST, AMQP and the MQTT subscription
amqp_port=$(port)
amqp_args=()
"$bin/hubcap-receiver" serve --help 2>&1 | grep -q -- '--amqp ' && amqp_args=(--amqp "127.0.0.1:$amqp_port")
"$bin/hubcap-receiver" serve --listen 127.0.0.1:0 --capture "$work/cap" \
  "${amqp_args[@]+"${amqp_args[@]}"}" --mqtt "$mq_url" > "$work/rx.out" 2> "$work/rx.log" &
rx=$!
for _ in $(seq 1 100); do grep -q '^Endpoint=' "$work/rx.out" 2> /dev/null && break; sleep 0.1; done
cs=$(grep '^Endpoint=' "$work/rx.out") || { cat "$work/rx.log" >&2; exit 1; }
rx_url=$(echo "$cs" | sed -E 's#^Endpoint=sb://([^/]+)/.*#http://\1#')
metric() { curl -s "$rx_url/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
captured() { metric 'hubcap_receiver_mqtt_messages_total{outcome="captured"}'; }
for _ in $(seq 1 100); do [ "$(metric hubcap_receiver_mqtt_connected)" = 1 ] && break; sleep 0.1; done

echo "{" > "$work/result.json"
for tp in https amqp mqtt mqtt_packed mosquitto_pub; do
  if [ "$tp" = amqp ] && [ ${#amqp_args[@]} -eq 0 ]; then
    echo "\"amqp\":null," >> "$work/result.json"
    continue
  fi
  case $tp in
    https) tcs=$cs ;;
    amqp) tcs=$(echo "$cs" | sed -E "s#^Endpoint=sb://([^/:]+):[0-9]+/#Endpoint=sb://\1:$amqp_port/#") ;;
    mqtt | mqtt_packed | mosquitto_pub) tcs=$mq_url ;;
  esac
  base=$(captured)
  c0=$(ticks "$rx")
  m0=$(ticks "$mq")
  if [ "$tp" = mosquitto_pub ]; then
    pub_all
  elif [ "$tp" = mqtt_packed ]; then
    ship_all mqtt "$tcs" --events-per-message "$per_msg"
  else
    ship_all "$tp" "$tcs"
  fi
  if [ "$tp" != https ] && [ "$tp" != amqp ]; then
    for _ in $(seq 1 6000); do [ "$(captured)" -ge $((base + n)) ] && break; sleep 0.02; done
  fi
  t1=$(date +%s.%N)
  c1=$(ticks "$rx")
  m1=$(ticks "$mq")
  got=$n
  [ "$tp" = https ] || [ "$tp" = amqp ] || got=$(( $(captured) - base ))
  $PY - "$tp" "$n" "$got" "$t0" "$t1" "$c0" "$c1" "$m0" "$m1" "$hz" "$agent_cpu" "$per_msg" >> "$work/result.json" << 'PY'
import json, sys
tp, n, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, t1, c0, c1, m0, m1, hz = map(float, sys.argv[4:11])
agent = float(sys.argv[11])
r = {"events": got, "seconds": round(t1 - t0, 2), "eps": round(got / (t1 - t0)),
     "rx_cpu_s_per_million": round((c1 - c0) / hz / (n / 1e6), 2),
     "agent_cpu_s_per_million": round(agent / (n / 1e6), 2)}
if tp == "mosquitto_pub":
    r["publisher"] = "mosquitto_pub -l -q 1 (Mosquitto's client), the same envelopes"
    r.pop("agent_cpu_s_per_million")
if tp == "mqtt_packed":
    r["events_per_message"] = int(sys.argv[12])
if tp in ("mqtt", "mqtt_packed", "mosquitto_pub"):
    r["broker_cpu_s_per_million"] = round((m1 - m0) / hz / (n / 1e6), 2)
print(json.dumps(tp) + ":" + json.dumps(r) + ",")
PY
done
kill "$rx"
wait "$rx" 2> /dev/null || true
rx=
$PY - "$work/result.json" "$paho_json" "$n" "$k" << 'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().rstrip().rstrip(",") + "}")
paho = json.loads(sys.argv[2])
out = {"bench": "mqtt", "event_bytes": 300, "events": int(sys.argv[3]), "agents": int(sys.argv[4]),
       "receiver": "hubcap-receiver serve (dev mode, capture fsync before every ack)"}
out.update(r)
out["paho_fsync_per_message"] = paho
out["targets"] = {"mqtt_eps_min": 20000}
m = r.get("mqtt") or {}
mp = r.get("mosquitto_pub") or {}
pk = r.get("mqtt_packed") or {}
out["pass"] = {"mqtt_eps": m.get("eps", 0) >= 20000, "mqtt_all_captured": m.get("events") == out["events"],
               "mqtt_packed_eps": pk.get("eps", 0) >= 20000,
               "mqtt_packed_all_captured": pk.get("events") == out["events"],
               "mosquitto_pub_eps": mp.get("eps", 0) >= 20000}
if paho.get("conns_1", {}).get("eps"):
    out["own_vs_paho_eps"] = round(m.get("eps", 0) / paho["conns_1"]["eps"], 1)
print(json.dumps(out))
PY
